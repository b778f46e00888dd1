// The `security.baseline.dev/applied` annotation on a namespace (which
// baselines were applied there, at which generation) and which of the
// namespace's labels and annotations the operator's apply owns.
import { FIELD_MANAGER } from '../api/constants.ts';
import type { KubeObject } from '../runtime/kube.ts';

/** `{baseline: generation}` from the namespace annotation; a damaged value reads as empty. */
export function parseApplied(value: string | undefined): Record<string, number> {
  if (!value) return {};
  try {
    const parsed: unknown = JSON.parse(value);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
  } catch {
    return {};
  }
}

/** The annotation value: keys sorted, so equal content is equal text. */
export function formatApplied(applied: Record<string, number>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(applied).sort(([a], [b]) => a.localeCompare(b))));
}

/** The labels and annotations of a namespace that the operator's apply owns (from managedFields). */
export function ownedNamespaceKeys(namespace: KubeObject): { labels: Set<string>; annotations: Set<string> } {
  const entry = namespace.metadata.managedFields?.find((e) => e.manager === FIELD_MANAGER && e.operation === 'Apply' && !e.subresource);
  const metadata = (entry?.fieldsV1?.['f:metadata'] ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const keys = (field: string) => new Set(Object.keys(metadata[field] ?? {}).filter((k) => k.startsWith('f:')).map((k) => k.slice(2)));
  return { labels: keys('f:labels'), annotations: keys('f:annotations') };
}
