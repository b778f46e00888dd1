// Wires the caches, the two workqueues and the reconcilers together:
//
//   namespaces, baselines, managed objects, ClusterRoles (informers)
//        └─ event → keys ─► namespace queue ─► reconcileNamespace
//                       └─► baseline queue  ─► reconcileBaseline (finalizer, status)
//
// One informer per kind, never one per baseline or namespace. Workers start
// only after every informer has synced, so no reconcile ever decides on a
// half-filled cache (which could prune what it merely has not seen yet).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AUTHORING_POLICY_NAME, BASELINE_LABEL, MANAGED_SELECTOR } from '../api/constants.ts';
import { EventRecorder } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import { isNotFound } from '../runtime/errors.ts';
import type { KubeClient, KubeObject, ResourceType } from '../runtime/kube.ts';
import type { OperatorMetrics } from '../runtime/metrics.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import { reconcileBaseline } from './baseline.ts';
import {
  ADMISSION_POLICIES, ADMISSION_POLICY_BINDINGS, BASELINES, CLUSTER_MANAGED_KINDS, MANAGED_KINDS, NAMESPACES, OPTIONAL_KINDS, kindKey,
} from './kinds.ts';
import {
  reconcileNamespace, type BaselineObject, type ControllerContext, type ManagedCaches, type NamespaceObject,
} from './namespace.ts';
import { isDeleting, selects } from './selection.ts';
import { BaselineStatusTracker, type NamespaceState } from './status.ts';

const CLUSTER_ROLES: ResourceType = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false };

export interface ControllerOptions {
  readonly client: KubeClient;
  readonly logger: Logger;
  readonly metrics: OperatorMetrics;
  readonly operatorNamespace: string;
  readonly namespaceWorkers?: number;
  /** Status writes per baseline are at most this often. */
  readonly statusDebounceMs?: number;
  readonly watchdogMs?: number;
}

/**
 * Managed objects keep everything but the field sets of managedFields (the
 * largest part of most objects): the reconcile compares the object's own
 * fields, and a drift Event needs only who wrote to it, and when.
 */
function slimManaged(object: KubeObject): KubeObject {
  if (!object.metadata.managedFields) return object;
  return {
    ...object,
    metadata: {
      ...object.metadata,
      managedFields: object.metadata.managedFields.map(({ manager, operation, time, subresource }) => ({ manager, operation, time, subresource })),
    },
  };
}

/** Keeps only what the reconcile reads from a namespace: the cache holds thousands. */
function slimNamespace(namespace: NamespaceObject): NamespaceObject {
  const { name, uid, resourceVersion, creationTimestamp, deletionTimestamp, labels, annotations, managedFields } = namespace.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name, uid, resourceVersion, creationTimestamp, deletionTimestamp, labels, annotations,
      // Only the operator's own entry: it tells which labels and annotations the operator owns.
      managedFields: managedFields?.filter((entry) => entry.manager === 'security-baseline-operator' && entry.operation === 'Apply'),
    },
    status: { phase: namespace.status?.phase },
  };
}

export class Controller {
  readonly #options: ControllerOptions;
  readonly #logger: Logger;
  readonly #namespaces: Informer<NamespaceObject>;
  readonly #baselines: Informer<BaselineObject>;
  readonly #clusterRoles: Informer<KubeObject>;
  /** The authoring policy and its binding (one object each): RoleBindings wait for both. */
  readonly #authoring: Informer<KubeObject>[];
  readonly #managed = new Map<string, Informer<KubeObject>>();
  readonly #clusterManaged = new Map<string, Informer<KubeObject>>();
  readonly #namespaceQueue: WorkQueue;
  readonly #baselineQueue: WorkQueue;
  readonly #tracker: BaselineStatusTracker;
  readonly #context: ControllerContext;
  #running = false;

  constructor(options: ControllerOptions) {
    this.#options = options;
    const { client, metrics } = options;
    const logger = this.#logger = options.logger;
    const informerOptions = (type: ResourceType) => ({ client, logger, type, metrics: metrics.informer(type.plural), watchdogMs: options.watchdogMs });
    this.#namespaces = new Informer<NamespaceObject>({ ...informerOptions(NAMESPACES), transform: slimNamespace });
    this.#baselines = new Informer<BaselineObject>(informerOptions(BASELINES));
    this.#clusterRoles = new Informer<KubeObject>({
      ...informerOptions(CLUSTER_ROLES),
      transform: (role) => ({ apiVersion: role.apiVersion, kind: role.kind, metadata: { name: role.metadata.name, resourceVersion: role.metadata.resourceVersion } }),
    });
    const authoring = (type: ResourceType) => new Informer<KubeObject>({
      ...informerOptions(type), fieldSelector: `metadata.name=${AUTHORING_POLICY_NAME}`,
      transform: (object) => ({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.metadata.name, resourceVersion: object.metadata.resourceVersion } }),
    });
    this.#authoring = [authoring(ADMISSION_POLICIES), authoring(ADMISSION_POLICY_BINDINGS)];
    for (const type of MANAGED_KINDS) {
      this.#managed.set(kindKey(type.apiVersion, type.kind), new Informer<KubeObject>({ ...informerOptions(type), labelSelector: MANAGED_SELECTOR, transform: slimManaged }));
    }
    for (const type of CLUSTER_MANAGED_KINDS) {
      this.#clusterManaged.set(type.kind, new Informer<KubeObject>({ ...informerOptions(type), labelSelector: MANAGED_SELECTOR }));
    }

    this.#namespaceQueue = new WorkQueue((key) => this.#reconcileNamespace(key), {
      name: 'namespaces',
      concurrency: options.namespaceWorkers ?? 16,
      metrics: metrics.workQueue('namespaces'),
      onError: (key, error, retries) => logger.warn({ namespace: key, err: errorMessage(error), retries }, 'reconcile failed; retrying with backoff'),
    });
    this.#baselineQueue = new WorkQueue((key) => this.#reconcileBaseline(key), {
      name: 'baselines',
      concurrency: 2,
      metrics: metrics.workQueue('baselines'),
      onError: (key, error, retries) => logger.warn({ baseline: key, err: errorMessage(error), retries }, 'baseline reconcile failed; retrying with backoff'),
    });
    const debounce = options.statusDebounceMs ?? 1_000;
    this.#tracker = new BaselineStatusTracker((baseline) => this.#baselineQueue.addAfter(baseline, debounce));

    const managed: ManagedCaches = {
      informer: (type) => {
        const informer = this.#managed.get(kindKey(type.apiVersion, type.kind));
        return informer && this.#available.has(kindKey(type.apiVersion, type.kind)) ? informer : undefined;
      },
      all: () => [...this.#managed.entries()].filter(([key]) => this.#available.has(key)).map(([, informer]) => informer),
    };
    const clusterManaged: ManagedCaches = {
      informer: (type) => this.#clusterManaged.get(type.kind),
      all: () => [...this.#clusterManaged.values()],
    };
    this.#context = {
      client, logger, managed, clusterManaged, operatorNamespace: options.operatorNamespace, statusIntervalMs: debounce,
      namespaces: this.#namespaces, baselines: this.#baselines, clusterRoles: this.#clusterRoles,
      recorder: new EventRecorder(client, logger),
      tracker: this.#tracker,
      authoringPolicyInstalled: () => this.#authoring.every((informer) => informer.get(AUTHORING_POLICY_NAME) !== undefined),
      metrics: {
        driftCorrected: (baseline, kind) => metrics.driftCorrected.inc({ baseline, kind }),
        driftDetected: (baseline, kind) => metrics.driftDetected.inc({ baseline, kind }),
        write: (kind, verb) => metrics.writes.inc({ kind, verb }),
        // Only namespaces born while the operator was running and after the baselines selecting them:
        // a namespace that predates either says nothing about how fast a new one is provisioned.
        provisioned: (namespace, baselines) => {
          const created = Date.parse(namespace.metadata.creationTimestamp ?? '');
          const newest = Math.max(this.#startedAt, ...baselines.map((b) => Date.parse(b.metadata.creationTimestamp ?? '') || 0));
          if (created >= newest - 1_000) metrics.provisioningSeconds.observe((Date.now() - created) / 1000);
        },
      },
    };
    this.#registerHandlers();
    metrics.beforeScrape(() => this.#exportNamespaceStates());
  }

  /** Kinds whose API the cluster serves (an optional CRD may be missing). */
  readonly #available = new Set<string>();

  get synced(): boolean {
    return this.#informers().every((informer) => informer.hasSynced);
  }

  /** Starts the informers, waits for their caches, then starts the workers. */
  async start(): Promise<void> {
    await this.startInformers();
    this.startWorkers();
  }

  /**
   * Starts the informers and waits for their caches. A standby replica stops
   * here, so that it takes over with warm caches when it becomes the leader.
   */
  async startInformers(): Promise<void> {
    for (const type of MANAGED_KINDS) {
      const key = kindKey(type.apiVersion, type.kind);
      if (!OPTIONAL_KINDS.has(key) || await this.#served(type)) this.#available.add(key);
      else this.#logger.warn({ kind: type.kind, apiVersion: type.apiVersion }, 'kind not served by this cluster; baselines that need it report it in their conditions');
    }
    const informers = this.#informers();
    for (const informer of informers) informer.start();
    await Promise.all(informers.map((informer) => informer.synced));
    this.#logger.info({ namespaces: this.#namespaces.size, baselines: this.#baselines.size }, 'caches synced');
  }

  /** Starts reconciling: every namespace and baseline once, then whatever changes. Call after startInformers(). */
  startWorkers(): void {
    if (this.#running) return;
    this.#running = true;
    this.#startedAt = Date.now();
    this.#logger.info('starting workers');
    for (const namespace of this.#namespaces.list()) this.#namespaceQueue.add(namespace.metadata.name);
    for (const baseline of this.#baselines.list()) this.#baselineQueue.add(baseline.metadata.name);
  }

  #startedAt = Date.now();

  /** Stops intake, lets in-flight reconciles finish, stops the informers. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all([this.#namespaceQueue.shutdown(), this.#baselineQueue.shutdown()]);
    await Promise.all([...this.#informers(), ...this.#managed.values()].map((informer) => informer.stop()));
  }

  /** Resolves when both queues are idle (tests and benchmarks). */
  async idle(): Promise<void> {
    await Promise.all([this.#namespaceQueue.idle(), this.#baselineQueue.idle()]);
  }

  /** Every informer this controller runs (the managed kinds the cluster serves). */
  #informers(): { readonly hasSynced: boolean; start(): void; stop(): Promise<void>; readonly synced: Promise<void> }[] {
    return [this.#namespaces, this.#baselines, this.#clusterRoles, ...this.#authoring, ...this.#activeManaged(), ...this.#clusterManaged.values()];
  }

  #activeManaged(): Informer<KubeObject>[] {
    return [...this.#managed.entries()].filter(([key]) => this.#available.has(key)).map(([, informer]) => informer);
  }

  async #served(type: ResourceType): Promise<boolean> {
    try {
      await this.#options.client.list(type, { limit: 1 });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  #registerHandlers(): void {
    const enqueueNamespace = (name: string): void => {
      if (this.#running) this.#namespaceQueue.add(name);
    };
    const enqueueBaseline = (name: string): void => {
      if (this.#running) this.#baselineQueue.add(name);
    };
    const enqueueSelectedBy = (baseline: BaselineObject): void => {
      for (const namespace of this.#namespaces.list()) {
        if (selects(baseline, namespace, this.#options.operatorNamespace)) enqueueNamespace(namespace.metadata.name);
      }
    };

    this.#namespaces.addHandlers({
      onAdd: (namespace) => enqueueNamespace(namespace.metadata.name),
      onUpdate: (previous, current) => {
        if (JSON.stringify(previous.metadata.labels) !== JSON.stringify(current.metadata.labels)
          || JSON.stringify(previous.metadata.annotations) !== JSON.stringify(current.metadata.annotations)
          || previous.metadata.deletionTimestamp !== current.metadata.deletionTimestamp) {
          enqueueNamespace(current.metadata.name);
        }
      },
      onDelete: (namespace) => this.#tracker.forgetNamespace(namespace.metadata.name),
    });

    this.#baselines.addHandlers({
      onAdd: (baseline) => {
        enqueueBaseline(baseline.metadata.name);
        enqueueSelectedBy(baseline);
      },
      onUpdate: (previous, current) => {
        enqueueBaseline(current.metadata.name);
        // Status writes and finalizer changes leave the generation alone: no namespace needs a look.
        if (previous.metadata.generation !== current.metadata.generation || isDeleting(previous) !== isDeleting(current)) {
          enqueueSelectedBy(previous);
          enqueueSelectedBy(current);
        }
      },
      onDelete: (baseline) => {
        enqueueBaseline(baseline.metadata.name);
        enqueueSelectedBy(baseline);
      },
    });

    const onManagedChange = (object: KubeObject): void => {
      if (object.metadata.namespace) enqueueNamespace(object.metadata.namespace);
      const baseline = this.#baselines.get(object.metadata.labels?.[BASELINE_LABEL] ?? '');
      if (baseline && isDeleting(baseline)) enqueueBaseline(baseline.metadata.name);
    };
    for (const informer of this.#managed.values()) {
      informer.addHandlers({ onAdd: onManagedChange, onUpdate: (_, current) => onManagedChange(current), onDelete: onManagedChange });
    }

    // An admission policy or binding changed (or went): its baseline puts it right.
    const onClusterManagedChange = (object: KubeObject): void => enqueueBaseline(object.metadata.labels?.[BASELINE_LABEL] ?? '');
    for (const informer of this.#clusterManaged.values()) {
      informer.addHandlers({ onAdd: onClusterManagedChange, onUpdate: (_, current) => onClusterManagedChange(current), onDelete: onClusterManagedChange });
    }

    // A RoleBinding waits for its ClusterRole: when one appears or goes, revisit the baselines naming it.
    const onClusterRole = (role: KubeObject): void => {
      for (const baseline of this.#baselines.list()) {
        if (baseline.spec.roleBindings?.some((binding) => binding.clusterRole === role.metadata.name)) enqueueSelectedBy(baseline);
      }
    };
    this.#clusterRoles.addHandlers({ onAdd: onClusterRole, onDelete: onClusterRole });

    // The authoring policy came or went: RoleBindings are applied again, or held.
    const onAuthoringPolicy = (): void => {
      for (const baseline of this.#baselines.list()) {
        if (baseline.spec.roleBindings?.length) enqueueSelectedBy(baseline);
      }
    };
    for (const informer of this.#authoring) informer.addHandlers({ onAdd: onAuthoringPolicy, onDelete: onAuthoringPolicy });
  }

  async #reconcileNamespace(name: string): Promise<void> {
    const started = performance.now();
    const reconcileId = randomBytes(6).toString('hex');
    const { metrics } = this.#options;
    try {
      const report = await reconcileNamespace(this.#context, name);
      const seconds = (performance.now() - started) / 1000;
      metrics.reconcileSeconds.observe({ controller: 'namespace', result: 'success' }, seconds);
      metrics.reconcileTotal.inc({ controller: 'namespace', result: 'success' });
      if (!report.skipped) {
        this.#logger[report.writes > 0 || report.problems > 0 ? 'info' : 'debug']({
          reconcileId, namespace: name, baselines: report.baselines, writes: report.writes, drift: report.drift,
          problems: report.problems, durationMs: Math.round(seconds * 1000),
        }, 'namespace reconciled');
      }
    } catch (error) {
      const seconds = (performance.now() - started) / 1000;
      metrics.reconcileSeconds.observe({ controller: 'namespace', result: 'error' }, seconds);
      metrics.reconcileTotal.inc({ controller: 'namespace', result: 'error' });
      this.#logger.warn({ reconcileId, namespace: name, err: errorMessage(error), durationMs: Math.round(seconds * 1000) }, 'namespace reconcile failed');
      throw error;
    }
  }

  async #reconcileBaseline(name: string): Promise<{ requeueAfterMs?: number } | void> {
    const started = performance.now();
    const { metrics } = this.#options;
    try {
      const report = await reconcileBaseline(this.#context, name, (namespace) => this.#namespaceQueue.add(namespace));
      metrics.reconcileSeconds.observe({ controller: 'baseline', result: 'success' }, (performance.now() - started) / 1000);
      metrics.reconcileTotal.inc({ controller: 'baseline', result: 'success' });
      if (report.action !== 'unchanged') this.#logger.info({ baseline: name, action: report.action, remaining: report.remaining }, 'baseline reconciled');
      return report.requeueAfterMs === undefined ? undefined : { requeueAfterMs: report.requeueAfterMs };
    } catch (error) {
      metrics.reconcileSeconds.observe({ controller: 'baseline', result: 'error' }, (performance.now() - started) / 1000);
      metrics.reconcileTotal.inc({ controller: 'baseline', result: 'error' });
      throw error;
    }
  }

  /** Sets security_baseline_namespaces from the tracker at scrape time. */
  #exportNamespaceStates(): void {
    const gauge = this.#options.metrics.namespaces;
    gauge.reset();
    for (const baseline of this.#baselines.list()) {
      if (isDeleting(baseline)) continue;
      const counts: Record<NamespaceState | 'pending', number> = { compliant: 0, drifted: 0, failed: 0, conflict: 0, pending: 0 };
      for (const namespace of this.#namespaces.list()) {
        if (isDeleting(namespace) || !selects(baseline, namespace, this.#options.operatorNamespace)) continue;
        const outcome = this.#tracker.outcome(baseline.metadata.name, namespace.metadata.name);
        counts[outcome && outcome.generation === baseline.metadata.generation ? outcome.state : 'pending']++;
      }
      for (const [state, value] of Object.entries(counts)) gauge.set({ baseline: baseline.metadata.name, state }, value);
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
