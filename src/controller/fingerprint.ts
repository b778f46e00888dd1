// What the managed-object caches keep of an object instead of the object: a
// fingerprint (a hash) of the fields the operator's apply owns, with the
// values the API server holds. The reconcile compares it with the fingerprint
// of the desired object; equal means the server already holds every field the
// operator would apply, so a compliant namespace costs no request and the
// caches hold a few hundred bytes per object instead of the object.
//
// Which fields the operator owns comes from the object's managedFields (the
// operator's Apply entry): a field another manager changed is no longer the
// operator's, so its change shows as a different fingerprint. Fields others
// added stay out of it. A fingerprint that differs is not yet a write: the
// reconcile then reads the live object and compares field by field (diff.ts),
// which also names the changed field and its manager for the drift Event.
import { hash as cryptoHash } from 'node:crypto';
import { FIELD_MANAGER } from '../api/constants.ts';
import type { KubeObject } from '../runtime/kube.ts';

/** managedFields' FieldsV1: `f:<field>`, `k:<keys>` and `v:<value>` for list items, `i:<index>`, `.` for the node itself. */
type FieldSet = { [key: string]: FieldSet };

/**
 * The fields of `value` that `fields` names, with their values; a leaf owns its
 * whole value. A field owned but absent is an empty list the operator applied
 * (the API server stores `[]` of a built-in kind as no field): it projects as
 * `[]`, so that the list passing to another writer changes the fingerprint.
 */
export function projectFields(value: unknown, fields: FieldSet): unknown {
  const keys = Object.keys(fields).filter((key) => key !== '.');
  if (keys.length === 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const owned: unknown[] = [];
    value.forEach((item, index) => {
      const key = keys.find((k) => itemMatches(k, item, index));
      if (key !== undefined) owned.push(key.startsWith('v:') ? item : projectFields(item, fields[key] as FieldSet));
    });
    return owned;
  }
  const owned: Record<string, unknown> = {};
  for (const key of keys) {
    if (!key.startsWith('f:')) continue;
    const name = key.slice(2);
    if (name in value) owned[name] = projectFields((value as Record<string, unknown>)[name], fields[key] as FieldSet);
    else if (isLeaf(fields[key])) owned[name] = [];
  }
  return owned;
}

function isLeaf(fields: FieldSet | undefined): boolean {
  return fields === undefined || Object.keys(fields).every((key) => key === '.');
}

/** Whether a list item is the one a `k:`, `v:` or `i:` key of a field set names. */
function itemMatches(key: string, item: unknown, index: number): boolean {
  if (key.startsWith('i:')) return Number(key.slice(2)) === index;
  if (key.startsWith('v:')) return canonicalJson(JSON.parse(key.slice(2))) === canonicalJson(item);
  if (!key.startsWith('k:') || item === null || typeof item !== 'object') return false;
  const identity = JSON.parse(key.slice(2)) as Record<string, unknown>;
  return Object.entries(identity).every(([field, wanted]) => canonicalJson((item as Record<string, unknown>)[field]) === canonicalJson(wanted));
}

/**
 * JSON with sorted keys, leaving out null. Empty lists stay: a desired `[]`
 * must match the `[]` projectFields makes of an owned empty list, and not an
 * absent field that is no longer the operator's (someone else's rules may be
 * there). Empty objects stay too: `podSelector: {}` (every pod) and
 * `namespaceSelector: {}` (every namespace) differ.
 */
export function canonicalJson(value: unknown): string {
  return stableJson(value, true);
}

/**
 * JSON with sorted keys; `dropNull` also leaves out null fields. Built as one string, without the arrays of entries a sort-and-join
 * makes: it runs a dozen times for each namespace a cold start provisions, and
 * those arrays were a fifth of all the operator allocated. A value already in
 * that form is left to JSON.stringify, which writes it in one native pass: what
 * the API server sends of a custom resource (a Report) has its keys sorted, and
 * so has what projectFields keeps of any object (managedFields name the fields
 * in order); building those strings piece by piece was 7 % of the allocations
 * of a cold start.
 */
function stableJson(value: unknown, dropNull: boolean): string {
  if (isStable(value, dropNull)) return JSON.stringify(value ?? null);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + stableJson(value[i] ?? null, dropNull);
    return `${out}]`;
  }
  if (value !== null && typeof value === 'object') {
    let out = '{';
    let first = true;
    for (const key of sortedKeys(value)) {
      const field = (value as Record<string, unknown>)[key];
      if (field === undefined || (dropNull && field === null)) continue;
      out += `${first ? '' : ','}${JSON.stringify(key)}:${stableJson(field, dropNull)}`;
      first = false;
    }
    return `${out}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Whether JSON.stringify writes `value` as stableJson would: every object's
 * keys in code-unit order and, with `dropNull`, no null field. Walked with
 * for-in, which allocates no array of keys. Integer-like keys come first in any
 * object whatever their place in code-unit order ("10" before "9"): the order
 * check then fails and the slow path sorts them.
 */
function isStable(value: unknown, dropNull: boolean): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!isStable(item, dropNull)) return false;
    return true;
  }
  let previous: string | undefined;
  for (const key in value) {
    if (previous !== undefined && key < previous) return false;
    previous = key;
    const field = (value as Record<string, unknown>)[key];
    if ((dropNull && field === null) || !isStable(field, dropNull)) return false;
  }
  return true;
}

/** An object's keys in code-unit order, as Array.prototype.sort orders strings. */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  if (keys.length > 32) return keys.sort();
  // Insertion sort in place: objects have a handful of keys, and sort() allocates a work array on every call.
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}

function hash(text: string): string {
  // 128 bits of SHA-256, as 22 characters: collisions are out of reach, and the string is small.
  // The one-shot hash(): no Hash object per call.
  return cryptoHash('sha256', text, 'buffer').toString('base64url', 0, 16);
}

/** The operator's Apply entry in managedFields, if it has one (the main resource, not a subresource). */
function operatorFieldSet(object: KubeObject): FieldSet | undefined {
  const entry = object.metadata.managedFields?.find((e) => e.manager === FIELD_MANAGER && e.operation === 'Apply' && !e.subresource);
  return entry?.fieldsV1 as FieldSet | undefined;
}

/**
 * Whether the operator's apply owns every empty list `desired` sets. The API
 * server stores an empty list of a built-in kind as no field, so only
 * managedFields tell whether it is the operator's: one applied by an earlier
 * version that left the list out is not, and a rule added there would move no
 * field away from the operator (see projectFields).
 */
export function ownsEmptyLists(desired: KubeObject & Record<string, unknown>, live: KubeObject): boolean {
  const { apiVersion: _apiVersion, kind: _kind, metadata: _metadata, ...body } = desired;
  return everyEmptyListOwned(body, operatorFieldSet(live) ?? {});
}

function everyEmptyListOwned(value: unknown, fields: FieldSet | undefined): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return true;
  return Object.entries(value).every(([name, child]) => {
    const owned = fields?.[`f:${name}`];
    if (Array.isArray(child) && child.length === 0) return owned !== undefined;
    // A leaf owns its whole value (an atomic struct or list): nothing under it to look for.
    return (owned !== undefined && isLeaf(owned)) || everyEmptyListOwned(child, owned);
  });
}

/** The fingerprint of the fields the operator owns in a live object; undefined when it owns none. */
export function ownedFingerprint(object: KubeObject): string | undefined {
  const fields = operatorFieldSet(object);
  if (!fields) return undefined;
  const { apiVersion: _apiVersion, kind: _kind, ...body } = object;
  return hash(canonicalJson(projectFields(body, fields)));
}

/**
 * The fingerprint of a desired object, comparable with ownedFingerprint: its
 * labels and annotations and its body (name and namespace are the object's
 * identity, not fields of it).
 */
export function desiredFingerprint(object: KubeObject & Record<string, unknown>): string {
  const { apiVersion: _apiVersion, kind: _kind, metadata, ...body } = object;
  return hash(canonicalJson({ ...body, metadata: { annotations: metadata.annotations, labels: metadata.labels } }));
}

/** JSON with sorted keys and nothing else changed: reports.ts's comparison of reports, as text. */
function sortedJson(value: unknown): string {
  return stableJson(value, false);
}

/**
 * The fingerprint of what a compliance report says (its scope, source, summary
 * and results), for the cached report and the desired one alike: equal when
 * reports.ts's sameReport finds their content equal.
 */
export function reportFingerprint(report: { scope?: unknown; source?: unknown; summary?: unknown; results?: unknown }): string {
  // In key order: with the report's own fields in order too (the API server's, and buildReport's), one JSON.stringify.
  return hash(sortedJson({ results: report.results, scope: report.scope, source: report.source, summary: report.summary }));
}
