// Which keys an informer event puts on which queue. The reconciles are
// level-based, so an event only says *who* needs a look, never what to do:
//
//   Namespace added, or its labels, annotations or deletion changed ─► that namespace
//   Baseline added, deleted, or its spec (generation) or deletion changed ─► the baseline,
//                                     and every namespace it selected before or selects now
//   Baseline status or finalizer changed ─► the baseline only
//   Managed object added or gone, or its owned fields or labels changed ─► its namespace
//                                     (and its baseline while that is being deleted)
//   Managed object's other fields or status changed (a quota's usage) ─► nothing
//   Admission policy or binding changed or gone ─► its baseline
//   ClusterRole added or removed ─► namespaces of the baselines that bind it
//   Authoring policy or binding added or removed ─► namespaces of the baselines with roleBindings
//   Exception added, deleted or its spec changed ─► the exception, the namespaces it names, its baseline
//                                     (before and after); a status write ─► the exception only
//   Namespace or baseline changed as above ─► also the exceptions that name it (their state may change)
//
// A key queued because of a change of its own is `normal`; the namespaces a
// baseline, a ClusterRole or the authoring policy fans out to are `low`, so that
// a new namespace or a drift repair never waits behind a change to thousands.
import { AUTHORING_POLICY_NAME, BASELINE_LABEL } from '../api/constants.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Priority } from '../runtime/workqueue.ts';
import type { KubeObject } from '../runtime/kube.ts';
import type { BaselineObject, ExceptionObject, ManagedCache, ManagedRecord, NamespaceObject, Selection } from './context.ts';
import { isDeleting } from './selection.ts';

export interface Caches {
  readonly namespaces: Informer<NamespaceObject>;
  readonly baselines: Informer<BaselineObject>;
  readonly exceptions: Informer<ExceptionObject>;
  readonly clusterRoles: Informer<KubeObject>;
  /** Every admission policy and binding, names only (the authoring policy among them). */
  readonly apiPolicies: readonly Informer<KubeObject>[];
  readonly managed: readonly ManagedCache[];
  readonly clusterManaged: readonly ManagedCache[];
}

export interface Queues {
  namespace(name: string, priority?: Priority): void;
  baseline(name: string): void;
  exception(name: string): void;
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

/**
 * A managed object needs its namespace looked at when what the reconcile
 * compares changed: the fingerprint of the fields the operator owns (their
 * values, and which of them it still owns) or the labels (whose object it is).
 * Anything else, such as kube-controller-manager writing a new quota's usage
 * into its status, leaves the reconcile's outcome as it was: queued, each cost
 * a reconcile that wrote nothing (about one in eight of a cold start's).
 */
export function managedChangeMatters(previous: ManagedRecord, current: ManagedRecord): boolean {
  return previous.owned !== current.owned
    || (previous.metadata.labels !== current.metadata.labels
      && JSON.stringify(previous.metadata.labels) !== JSON.stringify(current.metadata.labels));
}

export function registerEventHandlers(caches: Caches, selection: Selection, queues: Queues): void {
  const namespacesSelectedBy = (baseline: BaselineObject): void => {
    for (const namespace of selection.namespacesSelectedBy(baseline)) queues.namespace(namespace, 'low');
  };

  const exceptionsNaming = (match: (exception: ExceptionObject) => boolean): void => {
    for (const exception of caches.exceptions.list()) if (match(exception)) queues.exception(exception.metadata.name);
  };
  const onNamespace = (namespace: NamespaceObject): void => {
    queues.namespace(namespace.metadata.name);
    exceptionsNaming((e) => e.spec.namespaces.includes(namespace.metadata.name));
  };
  caches.namespaces.addHandlers({
    onAdd: onNamespace,
    onUpdate: (previous, current) => {
      if (namespaceChangeMatters(previous, current)) onNamespace(current);
    },
    // A deleted namespace needs no reconcile; its key tells the reconcile to forget it.
    onDelete: onNamespace,
  });

  caches.baselines.addHandlers({
    onAdd: (baseline) => {
      queues.baseline(baseline.metadata.name);
      namespacesSelectedBy(baseline);
      exceptionsNaming((e) => e.spec.baseline === baseline.metadata.name);
    },
    onUpdate: (previous, current) => {
      queues.baseline(current.metadata.name);
      if (baselineSpecChanged(previous, current)) {
        namespacesSelectedBy(previous);
        namespacesSelectedBy(current);
        exceptionsNaming((e) => e.spec.baseline === current.metadata.name);
      }
    },
    onDelete: (baseline) => {
      queues.baseline(baseline.metadata.name);
      namespacesSelectedBy(baseline);
      exceptionsNaming((e) => e.spec.baseline === baseline.metadata.name);
    },
  });

  // An exception relaxes its baseline in the namespaces it names: those, and the baseline's admission policies.
  const relaxedBy = (exception: ExceptionObject): void => {
    for (const namespace of exception.spec.namespaces) queues.namespace(namespace);
    queues.baseline(exception.spec.baseline);
  };
  caches.exceptions.addHandlers({
    onAdd: (exception) => {
      queues.exception(exception.metadata.name);
      relaxedBy(exception);
    },
    onUpdate: (previous, current) => {
      queues.exception(current.metadata.name);
      if (previous.metadata.generation !== current.metadata.generation || isDeleting(previous) !== isDeleting(current)) {
        relaxedBy(previous);
        relaxedBy(current);
      }
    },
    onDelete: (exception) => {
      queues.exception(exception.metadata.name);
      relaxedBy(exception);
    },
  });

  const onManaged = (object: ManagedRecord): void => {
    if (object.metadata.namespace) queues.namespace(object.metadata.namespace);
    const baseline = caches.baselines.get(object.metadata.labels?.[BASELINE_LABEL] ?? '');
    if (baseline && isDeleting(baseline)) queues.baseline(baseline.metadata.name);
  };
  for (const informer of caches.managed) {
    informer.addHandlers({
      onAdd: onManaged,
      onUpdate: (previous, current) => {
        if (managedChangeMatters(previous, current)) onManaged(current);
      },
      onDelete: onManaged,
    });
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

  const onAuthoringPolicy = (policy: KubeObject): void => {
    if (policy.metadata.name !== AUTHORING_POLICY_NAME) return;
    for (const baseline of caches.baselines.list()) {
      if (baseline.spec.roleBindings?.length) namespacesSelectedBy(baseline);
    }
  };
  for (const informer of caches.apiPolicies) informer.addHandlers({ onAdd: onAuthoringPolicy, onDelete: onAuthoringPolicy });
}
