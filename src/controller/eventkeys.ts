// Which keys an informer event puts on which queue. The reconciles are
// level-based, so an event only says *who* needs a look, never what to do:
//
//   Namespace added, or its labels, annotations or deletion changed ─► that namespace
//   Baseline added, deleted, or its spec (generation) or deletion changed ─► the baseline,
//                                     and every namespace it selected before or selects now
//   Baseline status or finalizer changed ─► the baseline only
//   Managed object changed or gone ─► its namespace (and its baseline while that is being deleted)
//   Admission policy or binding changed or gone ─► its baseline
//   ClusterRole added or removed ─► namespaces of the baselines that bind it
//   Authoring policy or binding added or removed ─► namespaces of the baselines with roleBindings
import { BASELINE_LABEL } from '../api/constants.ts';
import type { Informer } from '../runtime/informer.ts';
import type { KubeObject } from '../runtime/kube.ts';
import type { BaselineObject, ManagedCache, NamespaceObject, Selection } from './context.ts';
import { isDeleting } from './selection.ts';

export interface Caches {
  readonly namespaces: Informer<NamespaceObject>;
  readonly baselines: Informer<BaselineObject>;
  readonly clusterRoles: Informer<KubeObject>;
  readonly authoring: readonly Informer<KubeObject>[];
  readonly managed: readonly ManagedCache[];
  readonly clusterManaged: readonly ManagedCache[];
}

export interface Queues {
  namespace(name: string): void;
  baseline(name: string): void;
}

/** A namespace needs a look when what selection and the reconcile read changed. */
export function namespaceChangeMatters(previous: NamespaceObject, current: NamespaceObject): boolean {
  return JSON.stringify(previous.metadata.labels) !== JSON.stringify(current.metadata.labels)
    || JSON.stringify(previous.metadata.annotations) !== JSON.stringify(current.metadata.annotations)
    || previous.metadata.deletionTimestamp !== current.metadata.deletionTimestamp;
}

/** Status writes and finalizer changes leave the generation alone: no namespace needs a look. */
export function baselineSpecChanged(previous: BaselineObject, current: BaselineObject): boolean {
  return previous.metadata.generation !== current.metadata.generation || isDeleting(previous) !== isDeleting(current);
}

export function registerEventHandlers(caches: Caches, selection: Selection, queues: Queues): void {
  const namespacesSelectedBy = (baseline: BaselineObject): void => {
    for (const namespace of selection.namespacesSelectedBy(baseline)) queues.namespace(namespace);
  };

  caches.namespaces.addHandlers({
    onAdd: (namespace) => queues.namespace(namespace.metadata.name),
    onUpdate: (previous, current) => {
      if (namespaceChangeMatters(previous, current)) queues.namespace(current.metadata.name);
    },
    // A deleted namespace needs no reconcile; its key tells the reconcile to forget it.
    onDelete: (namespace) => queues.namespace(namespace.metadata.name),
  });

  caches.baselines.addHandlers({
    onAdd: (baseline) => {
      queues.baseline(baseline.metadata.name);
      namespacesSelectedBy(baseline);
    },
    onUpdate: (previous, current) => {
      queues.baseline(current.metadata.name);
      if (baselineSpecChanged(previous, current)) {
        namespacesSelectedBy(previous);
        namespacesSelectedBy(current);
      }
    },
    onDelete: (baseline) => {
      queues.baseline(baseline.metadata.name);
      namespacesSelectedBy(baseline);
    },
  });

  const onManaged = (object: KubeObject): void => {
    if (object.metadata.namespace) queues.namespace(object.metadata.namespace);
    const baseline = caches.baselines.get(object.metadata.labels?.[BASELINE_LABEL] ?? '');
    if (baseline && isDeleting(baseline)) queues.baseline(baseline.metadata.name);
  };
  for (const informer of caches.managed) {
    informer.addHandlers({ onAdd: onManaged, onUpdate: (_, current) => onManaged(current), onDelete: onManaged });
  }

  const onClusterManaged = (object: KubeObject): void => queues.baseline(object.metadata.labels?.[BASELINE_LABEL] ?? '');
  for (const informer of caches.clusterManaged) {
    informer.addHandlers({ onAdd: onClusterManaged, onUpdate: (_, current) => onClusterManaged(current), onDelete: onClusterManaged });
  }

  const onClusterRole = (role: KubeObject): void => {
    for (const baseline of caches.baselines.list()) {
      if (baseline.spec.roleBindings?.some((binding) => binding.clusterRole === role.metadata.name)) namespacesSelectedBy(baseline);
    }
  };
  caches.clusterRoles.addHandlers({ onAdd: onClusterRole, onDelete: onClusterRole });

  const onAuthoringPolicy = (): void => {
    for (const baseline of caches.baselines.list()) {
      if (baseline.spec.roleBindings?.length) namespacesSelectedBy(baseline);
    }
  };
  for (const informer of caches.authoring) informer.addHandlers({ onAdd: onAuthoringPolicy, onDelete: onAuthoringPolicy });
}
