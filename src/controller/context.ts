// What the reconciles share: the shapes of the objects they read, the caches
// the manager keeps for them, and the context it hands to every reconcile.
import type { Logger } from 'pino';
import { API_VERSION, KIND, type SecurityBaseline } from '../api/types.ts';
import type { BaselineException } from '../api/exception.ts';
import type { EventRecorder, InvolvedObject } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import type { KubeClient, KubeObject, ResourceType } from '../runtime/kube.ts';
import type { Rollouts } from './rollouts.ts';
import type { BaselineStatusTracker } from './status.ts';
import type { CachedWriter } from './writer.ts';

export type BaselineObject = SecurityBaseline & KubeObject;
export type ExceptionObject = BaselineException & KubeObject;

export interface NamespaceObject extends KubeObject {
  status?: { phase?: string };
}

/** The informers of the managed kinds; undefined for a kind the cluster does not serve (a missing CRD). */
export interface ManagedCaches {
  informer(type: ResourceType): Informer<KubeObject> | undefined;
  all(): Informer<KubeObject>[];
}

/** Why a baseline is not (fully) in place in a namespace, for its status and an Event. */
export interface Problem {
  /** `failed`: something could not be applied; `conflict`: something else wins. */
  readonly state: 'failed' | 'conflict';
  readonly reason: string;
  readonly message: string;
}

export interface ReconcileMetrics {
  driftCorrected(baseline: string, kind: string): void;
  driftDetected(baseline: string, kind: string): void;
  /** The namespace was provisioned completely for the first time, by these baselines. */
  provisioned(namespace: NamespaceObject, baselines: BaselineObject[]): void;
}

export interface ControllerContext {
  readonly client: KubeClient;
  /** Every write goes through it, so the caches learn of it at once. */
  readonly writer: CachedWriter;
  readonly namespaces: Informer<NamespaceObject>;
  readonly baselines: Informer<BaselineObject>;
  readonly exceptions: Informer<ExceptionObject>;
  readonly clusterRoles: Informer<KubeObject>;
  /** The baselines' ControllerRevisions, in the operator's namespace. */
  readonly revisions: Informer<KubeObject>;
  readonly rollouts: Rollouts;
  readonly managed: ManagedCaches;
  /** The cluster-scoped managed kinds (admission policies and bindings). */
  readonly clusterManaged: ManagedCaches;
  /** The namespaces' compliance reports (controller/reports.ts); no informer while the cluster does not serve them. */
  readonly reports: ManagedCaches;
  readonly operatorNamespace: string;
  readonly recorder: EventRecorder;
  readonly tracker: BaselineStatusTracker;
  readonly metrics: ReconcileMetrics;
  readonly logger: Logger;
  /**
   * Whether the authoring policy (crds/authoring-policy.yaml) is installed: the
   * admission check that a baseline's author could make its grants directly.
   * Without it, anyone who can write a baseline could grant themselves access
   * through the operator, so no Role or RoleBinding is applied.
   */
  authoringPolicyInstalled(): boolean;
}

/** Where Events about a namespace go (`kubectl describe namespace` shows them). */
export function namespaceRef(namespace: KubeObject): InvolvedObject {
  return { apiVersion: 'v1', kind: 'Namespace', name: namespace.metadata.name, uid: namespace.metadata.uid };
}

/** Where Events about a baseline go (`kubectl describe sbl` shows them). */
export function baselineRef(baseline: KubeObject): InvolvedObject {
  return { apiVersion: API_VERSION, kind: KIND, name: baseline.metadata.name, uid: baseline.metadata.uid };
}
