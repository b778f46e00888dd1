// Which baselines select which namespaces: the label selector, the
// operator-wide exclusions and each baseline's excludeNamespaces.
import { ALWAYS_EXCLUDED_NAMESPACES } from '../api/constants.ts';
import type { SecurityBaseline } from '../api/types.ts';
import { matchesSelector } from '../api/labelselector.ts';

export interface NamespaceLike {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
}

/** Namespaces no baseline ever manages: the system ones and the operator's own. */
export function isAlwaysExcluded(namespace: string, operatorNamespace: string): boolean {
  return namespace === operatorNamespace || (ALWAYS_EXCLUDED_NAMESPACES as readonly string[]).includes(namespace);
}

/** Whether the baseline wants its controls in the namespace (ignoring whether either is being deleted). */
export function selects(baseline: SecurityBaseline, namespace: NamespaceLike, operatorNamespace: string): boolean {
  const name = namespace.metadata.name;
  if (isAlwaysExcluded(name, operatorNamespace)) return false;
  if (baseline.spec.excludeNamespaces?.includes(name)) return false;
  return matchesSelector(baseline.spec.namespaceSelector ?? {}, namespace.metadata.labels ?? {});
}

export function isDeleting(object: { metadata: { deletionTimestamp?: string } }): boolean {
  return object.metadata.deletionTimestamp !== undefined;
}
