// The `security.baseline.dev/applied` annotation on a namespace (which
// baselines were applied there, at which generation) and which of the
// namespace's labels and annotations the operator's apply owns.
import { FIELD_MANAGER } from '../api/constants.ts';
import { Interner } from '../runtime/interner.ts';
import type { KubeObject } from '../runtime/kube.ts';

/**
 * `{baseline: revision}` from the namespace annotation: the revision of each
 * baseline the namespace is at. A damaged value reads as empty. Before
 * revisions the values were generations: one reads as `generation-<n>`, a
 * revision no baseline has, so the namespace moves to its baseline's current one.
 *
 * Most namespaces carry the same few values, and each reconcile of a namespace
 * and of a baseline (over all its namespaces) reads them: the parsed values are
 * kept (frozen, so no caller can change what another reads), up to a bound.
 */
export function parseApplied(value: string | undefined): Readonly<Record<string, string>> {
  if (!value) return NOTHING_APPLIED;
  return parsedApplied.get(value, () => Object.freeze(parseAppliedText(value)));
}

const NOTHING_APPLIED: Readonly<Record<string, string>> = Object.freeze({});
const parsedApplied = new Interner<Readonly<Record<string, string>>>(1_000);

function parseAppliedText(value: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(value);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).flatMap(([baseline, entry]: [string, unknown]) => {
      if (typeof entry === 'string') return [[baseline, entry]];
      if (typeof entry === 'number') return [[baseline, `generation-${entry}`]];
      return [];
    }));
  } catch {
    return {};
  }
}

/** The annotation value: keys sorted, so equal content is equal text. */
export function formatApplied(applied: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(applied).sort(([a], [b]) => a.localeCompare(b))));
}

/** `{baseline: [exception, …]}` from the exceptions annotation; a damaged value reads as empty. */
export function parseExceptions(value: string | undefined): Record<string, string[]> {
  if (!value) return {};
  try {
    const parsed: unknown = JSON.parse(value);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).flatMap(([baseline, names]: [string, unknown]) =>
      (Array.isArray(names) && names.every((n) => typeof n === 'string') ? [[baseline, names as string[]]] : [])));
  } catch {
    return {};
  }
}

/** The annotation value, or undefined when no exception is in effect: keys sorted, so equal content is equal text. */
export function formatExceptions(exceptions: Record<string, readonly string[]>): string | undefined {
  const entries = Object.entries(exceptions).filter(([, names]) => names.length > 0).sort(([a], [b]) => a.localeCompare(b));
  return entries.length > 0 ? JSON.stringify(Object.fromEntries(entries)) : undefined;
}

/** The labels and annotations of a namespace that the operator's apply owns (from managedFields). */
export function ownedNamespaceKeys(namespace: KubeObject): { labels: Set<string>; annotations: Set<string> } {
  const entry = namespace.metadata.managedFields?.find((e) => e.manager === FIELD_MANAGER && e.operation === 'Apply' && !e.subresource);
  const metadata = (entry?.fieldsV1?.['f:metadata'] ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const keys = (field: string) => new Set(Object.keys(metadata[field] ?? {}).filter((k) => k.startsWith('f:')).map((k) => k.slice(2)));
  return { labels: keys('f:labels'), annotations: keys('f:annotations') };
}
