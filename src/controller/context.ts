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

/** A managed object as the caches keep it (records.ts). */
export interface ManagedRecord extends KubeObject {
  /** ownedFingerprint of the cached version; undefined when the operator's apply owns none of its fields. */
  readonly owned: string | undefined;
  /**
   * A desired fingerprint that a full read of this very version found it to
   * hold, although `owned` differs (ensure.ts): e.g. a field the baseline no
   * longer sets is still the operator's. Spares the next reconcile the read.
   */
  holds: string | undefined;
}

/** A cache of managed objects: records (records.ts) of what the API server sends. */
export type ManagedCache = Informer<ManagedRecord, KubeObject>;

/** The informers of the managed kinds; undefined for a kind the cluster does not serve (a missing CRD). */
export interface ManagedCaches<C = ManagedCache> {
  informer(type: ResourceType): C | undefined;
  all(): C[];
}

/**
 * A namespace's compliance report as its cache keeps it (records.ts): the
 * report's identity and labels, a fingerprint of what it says, and the
 * baselines it names (the release of the report follows their deletionPolicy).
 */
export interface ReportRecord extends KubeObject {
  /** reportContentFingerprint (reports.ts) of the cached version. */
  readonly content: string;
  /** The baselines (`policy`) its results name. */
  readonly policies: readonly string[];
}

/** The cache of the namespaces' reports: records (records.ts) of what the API server sends. */
export type ReportCache = Informer<ReportRecord, KubeObject>;

/** Which baselines select which namespaces, as the caches say now (selectionindex.ts). */
export interface Selection {
  /** The cached baselines (deleting ones too) that select the namespace. */
  baselinesSelecting(namespace: NamespaceObject): BaselineObject[];
  /** The names of the cached namespaces (terminating ones too) that the baseline selects. */
  namespacesSelectedBy(baseline: BaselineObject): ReadonlySet<string>;
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
  /** Which baselines select which namespaces (from the namespace and baseline caches). */
  readonly selection: Selection;
  /** The baselines' ControllerRevisions, in the operator's namespace. */
  readonly revisions: Informer<KubeObject>;
  readonly rollouts: Rollouts;
  readonly managed: ManagedCaches;
  /** The cluster-scoped managed kinds (admission policies and bindings). */
  readonly clusterManaged: ManagedCaches;
  /** The namespaces' compliance reports (controller/reports.ts); no informer while the cluster does not serve them. */
  readonly reports: ManagedCaches<ReportCache>;
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
  /**
   * The names of the NetworkPolicies in a namespace that are not the
   * operator's, for the report where a baseline denies them; watched only
   * while one does (manager.ts), empty before.
   */
  otherNetworkPolicies(namespace: string): readonly string[];
}

/** Where Events about a namespace go (`kubectl describe namespace` shows them). */
export function namespaceRef(namespace: KubeObject): InvolvedObject {
  return { apiVersion: 'v1', kind: 'Namespace', name: namespace.metadata.name, uid: namespace.metadata.uid };
}

/** Where Events about a baseline go (`kubectl describe sbl` shows them). */
export function baselineRef(baseline: KubeObject): InvolvedObject {
  return { apiVersion: API_VERSION, kind: KIND, name: baseline.metadata.name, uid: baseline.metadata.uid };
}
