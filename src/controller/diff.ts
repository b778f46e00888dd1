// Decides whether a live object already holds what the operator would apply,
// so that a reconcile of a compliant namespace sends no request at all.
//
// The desired object holds only the fields the operator owns; the live one has
// those plus whatever the server and other managers added. So the question is
// "does live contain desired", not "are they equal": extra live fields are not
// drift. Quantities are compared by value, because the API server rewrites
// them into canonical form ("1024Mi" comes back as "1Gi").
import { FIELD_MANAGER } from '../api/constants.ts';
import type { KubeObject, ManagedFieldsEntry } from '../runtime/kube.ts';
import { parseQuantity, compareQuantities } from '../resources/quantity.ts';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Whether `live` contains every field of `desired` with an equal value. */
export function containsDesired(desired: unknown, live: unknown): boolean {
  return firstDifference(desired, live, '') === undefined;
}

/**
 * The path of the first field of `desired` that `live` lacks or holds with
 * another value (e.g. `.spec.hard.pods`), or undefined when there is none.
 * Used for readable drift Events and Audit reports.
 */
export function firstDifference(desired: unknown, live: unknown, path = ''): string | undefined {
  for (const difference of differences(desired, live, path)) return difference.path;
  return undefined;
}

/**
 * Every field of `desired` that `live` lacks or holds with another value, in
 * order, with both values (a list of another length counts as one difference):
 * the field diff the CLI prints.
 */
export function* differences(desired: unknown, live: unknown, path = ''): Generator<{ path: string; desired: unknown; live: unknown }> {
  if (desired === undefined) return;
  if (Array.isArray(desired)) {
    const liveArray = live === undefined || live === null ? [] : live;
    if (!Array.isArray(liveArray) || liveArray.length !== desired.length) {
      yield { path: path || '.', desired, live };
      return;
    }
    for (let i = 0; i < desired.length; i++) yield* differences(desired[i], liveArray[i], `${path}[${i}]`);
    return;
  }
  if (desired !== null && typeof desired === 'object') {
    const liveObject = live === undefined || live === null ? {} : live;
    if (typeof liveObject !== 'object' || Array.isArray(liveObject)) {
      yield { path: path || '.', desired, live };
      return;
    }
    for (const [key, value] of Object.entries(desired as Record<string, Json>)) {
      yield* differences(value, (liveObject as Record<string, unknown>)[key], `${path}.${key}`);
    }
    return;
  }
  if (desired === live) return;
  if (typeof desired === 'string' && typeof live === 'string' && sameQuantity(desired, live)) return;
  yield { path: path || '.', desired, live };
}

function sameQuantity(a: string, b: string): boolean {
  try {
    return compareQuantities(parseQuantity(a), parseQuantity(b)) === 0;
  } catch {
    return false;
  }
}

/**
 * The field managers other than the operator that have written to the object,
 * most recent first: who to name in a drift Event. Server-internal managers
 * (the API server's own defaulting, e.g. `before-first-apply`) are left out.
 */
export function otherManagers(object: KubeObject): string[] {
  const entries = (object.metadata.managedFields ?? [])
    .filter((entry: ManagedFieldsEntry) => entry.manager && entry.manager !== FIELD_MANAGER && entry.manager !== 'before-first-apply')
    .filter((entry) => !entry.subresource)
    .sort((a, b) => (b.time ?? '').localeCompare(a.time ?? ''));
  return [...new Set(entries.map((entry) => entry.manager as string))];
}
