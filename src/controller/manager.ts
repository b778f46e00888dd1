// The manager (controller-runtime's word): the shared caches, and the two
// controllers that read them.
//
//   namespaces, baselines, managed objects, ClusterRoles, authoring policy (informers)
//        └─ eventkeys.ts ─► namespace controller ─► reconcileNamespace (namespace.ts)
//                      ├──► baseline controller  ─► reconcileBaseline (baseline.ts: finalizer, admission policies, status)
//                      └──► exception controller ─► reconcileException (exceptions.ts: status, expiry)
//
// One informer per kind, never one per baseline or namespace (NetworkPolicies
// have a second, of those that are not a baseline's, once a baseline denies
// them: the report names them). Workers start
// only after every informer has synced, so no reconcile ever decides on a
// half-filled cache (which could prune what it merely has not seen yet).
import type { Logger } from 'pino';
import { API_POLICY_NAMES, AUTHORING_POLICY_NAME, MANAGED_SELECTOR, MUTATING_API_POLICY_NAMES, NOT_A_BASELINES_SELECTOR, OWNED_SELECTOR } from '../api/constants.ts';
import { Controller } from '../runtime/controller.ts';
import { isNotFound } from '../runtime/errors.ts';
import { EventRecorder } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import type { KubeClient, KubeObject, ResourceType } from '../runtime/kube.ts';
import type { OperatorMetrics } from '../runtime/metrics.ts';
import type { Priority } from '../runtime/workqueue.ts';
import { reconcileBaseline } from './baseline.ts';
import type { BaselineObject, ControllerContext, ExceptionObject, ManagedCache, ManagedCaches, NamespaceObject, ReportCache } from './context.ts';
import { registerEventHandlers } from './eventkeys.ts';
import { observeExceptions, reconcileException } from './exceptions.ts';
import {
  ADMISSION_POLICIES, ADMISSION_POLICY_BINDINGS, BASELINES, CLUSTER_MANAGED_KINDS, CLUSTER_ROLES, CONTROLLER_REVISIONS, EXCEPTIONS, MANAGED_KINDS, MUTATING_ADMISSION_POLICY_KINDS, NAMESPACES,
  NETWORK_POLICIES, OPTIONAL_KINDS, REPORTS, kindKey,
} from './kinds.ts';
import { registerReportHandlers } from './reports.ts';
import { reconcileNamespace } from './namespace.ts';
import { nameOnly, RecordMaker } from './records.ts';
import { Rollouts } from './rollouts.ts';
import { SelectionIndex } from './selectionindex.ts';
import { countNamespaceStates, BaselineStatusTracker } from './status.ts';
import { CachedWriter } from './writer.ts';

export const DEFAULT_FOREIGN_RECHECK_MS = 60_000;

/** The informer metrics' `resource` for the NetworkPolicies that are not a baseline's, apart from the operator's own. */
const OTHER_NETWORK_POLICIES = 'networkpolicies-others';

/** Whether a baseline keeps the NetworkPolicies of its namespaces to its own. */
function deniesNetworkPolicies(baseline: BaselineObject): boolean {
  return baseline.spec.workloadPolicy?.networkPolicies?.deny === true;
}

export interface ManagerOptions {
  readonly client: KubeClient;
  readonly logger: Logger;
  readonly metrics: OperatorMetrics;
  readonly operatorNamespace: string;
  readonly namespaceWorkers?: number;
  /**
   * How often a namespace is looked at again while an object (or the Report)
   * of a managed name there belongs to someone else, so that the operator's
   * own follows soon after that one is deleted; default 60 s. Each look costs a
   * refused create and a read per foreign object.
   */
  readonly foreignRecheckMs?: number;
  /** Status writes per baseline are at most this often. */
  readonly statusIntervalMs?: number;
  readonly watchdogMs?: number;
}

export class Manager {
  readonly #options: ManagerOptions;
  readonly #logger: Logger;
  readonly #namespaces: Informer<NamespaceObject>;
  readonly #baselines: Informer<BaselineObject>;
  readonly #exceptions: Informer<ExceptionObject>;
  readonly #clusterRoles: Informer<KubeObject>;
  readonly #revisions: Informer<KubeObject>;
  readonly #rollouts: Rollouts;
  readonly #selection: SelectionIndex;
  /**
   * Every admission policy and binding in the cluster, names only: are the API's
   * own (crds/) installed? RoleBindings wait for the authoring policy's two.
   */
  readonly #apiPolicies: Informer<KubeObject>[];
  /** The API's MutatingAdmissionPolicies and bindings, names only; started when the cluster serves the kind. */
  readonly #mutatingPolicies: Informer<KubeObject>[];
  #mutatingPoliciesServed = false;
  /**
   * The NetworkPolicies that are not the operator's, names only: where a
   * baseline denies them, the report names those there anyway (reports.ts).
   * Started when the first such baseline is seen, so that a cluster with none
   * keeps no cache of its tenants' policies.
   */
  readonly #otherNetworkPolicies: Informer<KubeObject>;
  #otherNetworkPoliciesWatched = false;
  readonly #managed = new Map<string, ManagedCache>();
  readonly #clusterManaged = new Map<string, ManagedCache>();
  readonly #reports: ReportCache;
  /** Kinds whose API the cluster serves (an optional CRD may be missing). */
  readonly #available = new Set<string>();
  readonly #recorder: EventRecorder;
  readonly #namespaceController: Controller;
  readonly #baselineController: Controller;
  readonly #exceptionController: Controller;
  readonly #tracker: BaselineStatusTracker;
  readonly #context: ControllerContext;
  #running = false;
  #startedAt = Date.now();

  constructor(options: ManagerOptions) {
    this.#options = options;
    const { client, metrics } = options;
    const logger = this.#logger = options.logger;
    const informer = <T extends KubeObject, Raw extends KubeObject = T>(
      type: ResourceType, extra: { namespace?: string; labelSelector?: string; fieldSelector?: string; transform?: (o: Raw) => T } = {},
    ) => new Informer<T, Raw>({ client, logger, type, metrics: metrics.informer(type.plural), watchdogMs: options.watchdogMs, ...extra });
    const records = new RecordMaker((name) => this.#namespaces.get(name)?.metadata.name);
    this.#namespaces = informer<NamespaceObject>(NAMESPACES, { transform: (namespace) => records.namespace(namespace) });
    this.#baselines = informer<BaselineObject>(BASELINES);
    this.#exceptions = informer<ExceptionObject>(EXCEPTIONS);
    this.#clusterRoles = informer(CLUSTER_ROLES, { transform: nameOnly });
    this.#revisions = informer(CONTROLLER_REVISIONS, { namespace: options.operatorNamespace, labelSelector: MANAGED_SELECTOR });
    this.#apiPolicies = [ADMISSION_POLICIES, ADMISSION_POLICY_BINDINGS].map((type) => informer(type, { transform: nameOnly }));
    this.#mutatingPolicies = MUTATING_ADMISSION_POLICY_KINDS.map((type) => informer(type, { transform: nameOnly }));
    for (const type of MANAGED_KINDS) {
      this.#managed.set(kindKey(type), informer(type, { labelSelector: OWNED_SELECTOR, transform: (object: KubeObject) => records.managed(object) }));
    }
    for (const type of CLUSTER_MANAGED_KINDS) {
      this.#clusterManaged.set(kindKey(type), informer(type, { labelSelector: OWNED_SELECTOR, transform: (object: KubeObject) => records.clusterManaged(object) }));
    }
    this.#reports = informer(REPORTS, { labelSelector: MANAGED_SELECTOR, transform: (object: KubeObject) => records.report(object) });
    this.#otherNetworkPolicies = new Informer({
      client, logger, type: NETWORK_POLICIES, labelSelector: NOT_A_BASELINES_SELECTOR, transform: nameOnly, watchdogMs: options.watchdogMs,
      // Its series appear with its first list: one never started must not look stale to SecurityBaselineInformerStalled.
      resource: OTHER_NETWORK_POLICIES, metrics: metrics.informer(),
    });
    this.#selection = new SelectionIndex(this.#namespaces, this.#baselines, options.operatorNamespace);

    this.#recorder = new EventRecorder(client, logger);
    // 96 workers: a namespace's requests go in three rounds (its objects together, then the namespace,
    // then its report), so 96 keep the client's bound of 128 requests in flight about full at a cold
    // start, where the API server's throughput peaks (over 2,000 namespaces: 36–38 s with 48 workers,
    // 30–36 s with 96, 32–33 s with 128 and 160; docs/performance.md). Under throttling the client's
    // adaptive bound on requests in flight, not the number of workers, decides how many are sent.
    this.#namespaceController = new Controller({
      name: 'namespace', queueName: 'namespaces', keyField: 'namespace', concurrency: options.namespaceWorkers ?? 96, logger, metrics,
      reconcile: async (name) => {
        const report = await reconcileNamespace(this.#context, name);
        if (report.skipped) return {};
        return {
          requeueAfterMs: report.foreignConflict ? options.foreignRecheckMs ?? DEFAULT_FOREIGN_RECHECK_MS : undefined,
          refused: report.refused,
          log: {
            changed: report.writes > 0 || report.problems > 0,
            message: 'namespace reconciled',
            fields: { baselines: report.baselines, writes: report.writes, drift: report.drift, problems: report.problems, ...(report.refused ? { refused: true } : {}) },
          },
        };
      },
    });
    this.#baselineController = new Controller({
      name: 'baseline', queueName: 'baselines', keyField: 'baseline', concurrency: 2, logger, metrics,
      reconcile: async (name) => {
        // Every namespace a baseline queues is one of many (a rollout step, a deletion, a recheck of those held): low priority.
        const report = await reconcileBaseline(this.#context, name, (namespace) => this.#enqueueNamespace(namespace, 'low'));
        return {
          requeueAfterMs: report.requeueAfterMs,
          refused: report.refused,
          log: { changed: report.action !== 'unchanged', message: 'baseline reconciled', fields: { action: report.action, remaining: report.remaining } },
        };
      },
    });
    this.#exceptionController = new Controller({
      name: 'exception', queueName: 'exceptions', keyField: 'exception', concurrency: 2, logger, metrics,
      reconcile: async (name) => {
        const report = await reconcileException(this.#context, name, { namespace: (n) => this.#enqueueNamespace(n), baseline: (n) => this.#enqueueBaseline(n) });
        return { requeueAfterMs: report.requeueAfterMs, log: { changed: report.action === 'status-written', message: 'exception reconciled', fields: { state: report.state } } };
      },
    });
    const statusIntervalMs = options.statusIntervalMs ?? 1_000;
    this.#tracker = new BaselineStatusTracker((baseline) => this.#enqueueBaseline(baseline, this.#tracker.delayAfterChange(baseline)), statusIntervalMs,
      (baseline, namespace) => this.#selection.isLive(baseline, namespace));
    this.#selection.onLeave((baseline, namespace) => this.#tracker.forget(baseline, namespace));
    this.#rollouts = new Rollouts((baseline) => this.#enqueueBaseline(baseline, statusIntervalMs));

    registerEventHandlers({
      namespaces: this.#namespaces, baselines: this.#baselines, exceptions: this.#exceptions, clusterRoles: this.#clusterRoles, apiPolicies: this.#apiPolicies,
      managed: [...this.#managed.values()], clusterManaged: [...this.#clusterManaged.values()],
    }, this.#selection, {
      namespace: (name, priority) => this.#enqueueNamespace(name, priority),
      baseline: (name) => this.#enqueueBaseline(name),
      exception: (name) => { if (this.#running) this.#exceptionController.add(name); },
    });
    registerReportHandlers({
      reports: this.#reports, admission: [...this.#clusterManaged.values()], baselines: this.#baselines,
    }, this.#selection, (name, priority) => this.#enqueueNamespace(name, priority));
    this.#baselines.addHandlers({ onAdd: (b) => this.#watchOtherNetworkPoliciesFor(b), onUpdate: (_, b) => this.#watchOtherNetworkPoliciesFor(b) });
    const onOtherNetworkPolicy = (policy: KubeObject): void => {
      const namespace = this.#namespaces.get(policy.metadata.namespace ?? '');
      if (namespace && this.#selection.baselinesSelecting(namespace).some(deniesNetworkPolicies)) this.#enqueueNamespace(namespace.metadata.name, 'low');
    };
    this.#otherNetworkPolicies.addHandlers({ onAdd: onOtherNetworkPolicy, onDelete: onOtherNetworkPolicy });
    this.#context = this.#buildContext();
    metrics.beforeScrape(() => observeExceptions(this.#context, metrics));
    metrics.beforeScrape(() => {
      for (const policy of API_POLICY_NAMES) metrics.apiPolicyInstalled.set({ policy }, this.#apiPolicyInstalled(policy) ? 1 : 0);
      for (const policy of MUTATING_API_POLICY_NAMES) {
        metrics.apiPolicyInstalled.set({ policy }, this.#mutatingPoliciesServed && this.#apiPolicyInstalled(policy, this.#mutatingPolicies) ? 1 : 0);
      }
    });
    metrics.beforeScrape(() => this.#countOtherNetworkPolicies());
    metrics.beforeScrape(() => {
      metrics.rolloutNamespaces.reset();
      metrics.rolloutHalted.reset();
      for (const baseline of this.#baselines.list()) {
        const plan = this.#rollouts.lastPlan(baseline.metadata.name);
        if (!plan) continue;
        for (const state of ['updated', 'pending', 'held'] as const) metrics.rolloutNamespaces.set({ baseline: baseline.metadata.name, state }, plan.status[state]);
        metrics.rolloutHalted.set({ baseline: baseline.metadata.name }, plan.halted ? 1 : 0);
      }
      metrics.namespaces.reset();
      for (const [baseline, counts] of countNamespaceStates(this.#tracker, this.#baselines.list(), (b) => this.#selection.liveCount(b))) {
        for (const [state, value] of Object.entries(counts)) metrics.namespaces.set({ baseline, state }, value);
      }
    });
  }

  /** The policy and its binding of the same name are both in the cluster (validating, unless the mutating caches are given). */
  #apiPolicyInstalled(name: string, caches: readonly Informer<KubeObject>[] = this.#apiPolicies): boolean {
    return caches.every((informer) => informer.get(name) !== undefined);
  }

  #buildContext(): ControllerContext {
    const { client, logger, metrics, operatorNamespace } = this.#options;
    const managed: ManagedCaches = {
      informer: (type) => (this.#available.has(kindKey(type)) ? this.#managed.get(kindKey(type)) : undefined),
      all: () => this.#activeManaged(),
    };
    const clusterManaged: ManagedCaches = {
      informer: (type) => this.#clusterManaged.get(kindKey(type)),
      all: () => [...this.#clusterManaged.values()],
    };
    const reports: ManagedCaches<ReportCache> = {
      informer: () => (this.#available.has(kindKey(REPORTS)) ? this.#reports : undefined),
      all: () => (this.#available.has(kindKey(REPORTS)) ? [this.#reports] : []),
    };
    return {
      client, logger, managed, clusterManaged, reports, operatorNamespace,
      writer: new CachedWriter(client, (kind, verb) => metrics.writes.inc({ kind, verb })),
      namespaces: this.#namespaces, baselines: this.#baselines, exceptions: this.#exceptions, clusterRoles: this.#clusterRoles, revisions: this.#revisions,
      selection: this.#selection, rollouts: this.#rollouts,
      recorder: this.#recorder,
      tracker: this.#tracker,
      authoringPolicyInstalled: () => this.#apiPolicyInstalled(AUTHORING_POLICY_NAME),
      otherNetworkPolicies: (namespace) => (this.#otherNetworkPoliciesWatched
        ? this.#otherNetworkPolicies.listInNamespace(namespace).map((policy) => policy.metadata.name)
        : []),
      metrics: {
        driftCorrected: (baseline, kind) => metrics.driftCorrected.inc({ baseline, kind }),
        driftDetected: (baseline, kind) => metrics.driftDetected.inc({ baseline, kind }),
        // Only namespaces born while the operator was running and after the baselines selecting them:
        // a namespace that predates either says nothing about how fast a new one is provisioned.
        provisioned: (namespace, baselines) => {
          const created = Date.parse(namespace.metadata.creationTimestamp ?? '');
          const newest = Math.max(this.#startedAt, ...baselines.map((b) => Date.parse(b.metadata.creationTimestamp ?? '') || 0));
          if (created >= newest - 1_000) metrics.provisioningSeconds.observe((Date.now() - created) / 1000);
        },
      },
    };
  }

  get synced(): boolean {
    return this.#informers().every((informer) => informer.hasSynced);
  }

  /**
   * Starts the informers and waits for their caches. A standby replica stops
   * here, so that it takes over with warm caches when it becomes the leader.
   */
  async startInformers(): Promise<void> {
    for (const type of [...MANAGED_KINDS, REPORTS]) {
      if (!OPTIONAL_KINDS.has(kindKey(type)) || await this.#served(type)) this.#available.add(kindKey(type));
      else this.#logger.warn({ kind: type.kind, apiVersion: type.apiVersion }, 'kind not served by this cluster; baselines that need it report it in their conditions');
    }
    this.#mutatingPoliciesServed = (await Promise.all(MUTATING_ADMISSION_POLICY_KINDS.map((type) => this.#served(type)))).every(Boolean);
    if (!this.#mutatingPoliciesServed) {
      this.#logger.warn({ kind: 'MutatingAdmissionPolicy' }, 'kind not served by this cluster: BaselineExceptions are not stamped with their creator');
    }
    const informers = this.#informers();
    for (const informer of informers) informer.start();
    await Promise.all(informers.map((informer) => informer.synced));
    // Started by a baseline in the first list, if one denies NetworkPolicies: the first reports name them.
    if (this.#otherNetworkPoliciesWatched) await this.#otherNetworkPolicies.synced;
    this.#logger.info({ namespaces: this.#namespaces.size, baselines: this.#baselines.size }, 'caches synced');
  }

  /** Starts reconciling: every namespace and baseline once, then whatever changes. Call after startInformers(). */
  startWorkers(): void {
    if (this.#running) return;
    this.#running = true;
    this.#startedAt = Date.now();
    this.#logger.info('starting workers');
    // The first look at every namespace is low priority: one created or changed meanwhile goes first.
    for (const namespace of this.#namespaces.list()) this.#namespaceController.add(namespace.metadata.name, 'low');
    for (const baseline of this.#baselines.list()) this.#baselineController.add(baseline.metadata.name);
    for (const exception of this.#exceptions.list()) this.#exceptionController.add(exception.metadata.name);
  }

  /** Stops intake, lets in-flight reconciles and Event writes finish, stops the informers: no write is in flight after it. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all([this.#namespaceController.shutdown(), this.#baselineController.shutdown(), this.#exceptionController.shutdown()]);
    await this.#recorder.flush();
    await Promise.all([...this.#informers(), ...this.#managed.values(), this.#otherNetworkPolicies].map((informer) => informer.stop()));
  }

  /**
   * For each baseline that denies NetworkPolicies, how many that are not a
   * baseline's its namespaces hold (0 when none: an alert can test it). The
   * leader's only, like the namespace counts; one selection lookup per
   * namespace that holds any, not per policy.
   */
  #countOtherNetworkPolicies(): void {
    const gauge = this.#options.metrics.otherNetworkPolicies;
    gauge.reset();
    if (!this.#running || !this.#otherNetworkPoliciesWatched) return;
    for (const baseline of this.#baselines.list()) if (deniesNetworkPolicies(baseline)) gauge.set({ baseline: baseline.metadata.name }, 0);
    const perNamespace = new Map<string, number>();
    for (const policy of this.#otherNetworkPolicies.list()) {
      const namespace = policy.metadata.namespace ?? '';
      perNamespace.set(namespace, (perNamespace.get(namespace) ?? 0) + 1);
    }
    for (const [name, count] of perNamespace) {
      const namespace = this.#namespaces.get(name);
      if (!namespace) continue;
      for (const baseline of this.#selection.baselinesSelecting(namespace)) {
        if (deniesNetworkPolicies(baseline)) gauge.inc({ baseline: baseline.metadata.name }, count);
      }
    }
  }

  /** Never stopped once started: baselines that deny NetworkPolicies come and go, a relist of them all each time would cost more. */
  #watchOtherNetworkPoliciesFor(baseline: BaselineObject): void {
    if (this.#otherNetworkPoliciesWatched || !deniesNetworkPolicies(baseline)) return;
    this.#otherNetworkPoliciesWatched = true;
    this.#logger.info({ baseline: baseline.metadata.name }, 'a baseline denies NetworkPolicies besides its own: watching the others, to report them');
    this.#otherNetworkPolicies.start();
  }

  #enqueueNamespace(name: string, priority: Priority = 'normal'): void {
    if (this.#running) this.#namespaceController.add(name, priority);
  }

  #enqueueBaseline(name: string, afterMs = 0): void {
    if (!this.#running) return;
    if (afterMs > 0) this.#baselineController.addAfter(name, afterMs);
    else this.#baselineController.add(name);
  }

  /** Every informer the manager runs (of the optional kinds, the ones the cluster serves). */
  #informers(): { readonly hasSynced: boolean; readonly synced: Promise<void>; start(): void; stop(): Promise<void> }[] {
    return [
      this.#namespaces, this.#baselines, this.#exceptions, this.#clusterRoles, this.#revisions, ...this.#apiPolicies,
      ...(this.#mutatingPoliciesServed ? this.#mutatingPolicies : []), ...this.#activeManaged(),
      ...this.#clusterManaged.values(), ...this.#context.reports.all(),
    ];
  }

  #activeManaged(): ManagedCache[] {
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
}

