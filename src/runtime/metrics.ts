// Prometheus metrics. Labels stay bounded: baseline and kind (a handful each),
// verb, resource, code and queue name — never a namespace, so ten thousand
// namespaces do not make ten thousand series. Workqueue metrics keep
// client-go's names, so existing dashboards and alerts for Go controllers fit.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkQueueMetrics, WorkQueueProbes } from './workqueue.ts';
import type { InformerMetrics } from './informer.ts';
import type { RequestObserver } from './kube.ts';

export class OperatorMetrics {
  readonly registry = new Registry();

  readonly driftCorrected = new Counter({
    name: 'security_baseline_drift_corrected_total',
    help: 'Managed objects found edited or deleted by someone else and put back, by baseline and kind.',
    labelNames: ['baseline', 'kind'] as const,
    registers: [this.registry],
  });

  readonly driftDetected = new Counter({
    name: 'security_baseline_drift_detected_total',
    help: 'Differences found by baselines in Audit mode (not corrected), by baseline and kind.',
    labelNames: ['baseline', 'kind'] as const,
    registers: [this.registry],
  });

  readonly namespaces = new Gauge({
    name: 'security_baseline_namespaces',
    help: 'Namespaces selected by each baseline, by state of their last reconcile (compliant, drifted, failed, conflict, pending).',
    labelNames: ['baseline', 'state'] as const,
    registers: [this.registry],
  });

  readonly rolloutNamespaces = new Gauge({
    name: 'security_baseline_rollout_namespaces',
    help: 'Namespaces selected by each baseline by where they stand in the rollout of its current revision: updated, pending, or held by pre-flight.',
    labelNames: ['baseline', 'state'] as const,
    registers: [this.registry],
  });

  readonly rolloutHalted = new Gauge({
    name: 'security_baseline_rollout_halted',
    help: '1 while the Progressive rollout of a baseline\'s current revision is halted (maxFailures reached), 0 otherwise.',
    labelNames: ['baseline'] as const,
    registers: [this.registry],
  });

  readonly exceptions = new Gauge({
    name: 'security_baseline_exceptions',
    help: 'BaselineExceptions by state: Pending, Active, Expired, Invalid.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  // One series per exception that is Pending or Active: exceptions are few
  // deliberate objects, and an expired one drops its series.
  readonly exceptionExpiry = new Gauge({
    name: 'security_baseline_exception_expiry_timestamp_seconds',
    help: 'When each Pending or Active BaselineException expires (Unix time), by exception and baseline.',
    labelNames: ['exception', 'baseline'] as const,
    registers: [this.registry],
  });

  readonly provisioningSeconds = new Histogram({
    name: 'security_baseline_provisioning_duration_seconds',
    help: 'From a namespace\'s creation to the first time all its baselines were applied.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly reconcileSeconds = new Histogram({
    name: 'security_baseline_reconcile_duration_seconds',
    help: 'Duration of reconciles, by controller (namespace, baseline) and result (success, error).',
    labelNames: ['controller', 'result'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly reconcileTotal = new Counter({
    name: 'security_baseline_reconcile_total',
    help: 'Reconciles by controller and result (success, error).',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });

  readonly writes = new Counter({
    name: 'security_baseline_writes_total',
    help: 'Writes the reconciles made to managed objects, by kind and verb (apply, create, delete, orphan).',
    labelNames: ['kind', 'verb'] as const,
    registers: [this.registry],
  });

  readonly apiRequests = new Counter({
    name: 'security_baseline_api_requests_total',
    help: 'Requests to the Kubernetes API by verb, resource and HTTP code (0 when no response arrived).',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });

  readonly apiInFlightLimit = new Gauge({
    name: 'security_baseline_api_inflight_limit',
    help: 'The bound on the operator\'s requests in flight to the Kubernetes API: its maximum unless the API server is throttling the operator (429).',
    registers: [this.registry],
  });

  readonly informerRelists = new Counter({
    name: 'security_baseline_informer_relists_total',
    help: 'Informer relists by resource and reason (expired: 410 Gone; follow-up: the list after an expiry, for what a rebuilt watch cache missed; stalled: the watchdog found the watch silent).',
    labelNames: ['resource', 'reason'] as const,
    registers: [this.registry],
  });

  readonly informerRestarts = new Counter({
    name: 'security_baseline_informer_restarts_total',
    help: 'Informer list/watch failures that were retried after a backoff, by resource.',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });

  readonly informerLastEvent = new Gauge({
    name: 'security_baseline_informer_last_sync_timestamp_seconds',
    help: 'When each informer last completed a list or received a watch event or bookmark (about once a minute on a quiet watch).',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });

  readonly otherNetworkPolicies = new Gauge({
    name: 'security_baseline_other_network_policies',
    help: 'NetworkPolicies that are not a baseline\'s, in the namespaces each baseline that denies them (workloadPolicy.networkPolicies.deny) selects; each allows traffic besides its default deny.',
    labelNames: ['baseline'] as const,
    registers: [this.registry],
  });

  readonly apiPolicyInstalled = new Gauge({
    name: 'security_baseline_api_policy_installed',
    help: '1 while the admission policy of the API (crds/) and its binding are both installed, by policy name; 0 when either is missing.',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });

  readonly leader = new Gauge({
    name: 'security_baseline_leader',
    help: '1 while this replica holds the leader lease and writes, 0 otherwise.',
    registers: [this.registry],
  });

  readonly buildInfo = new Gauge({
    name: 'security_baseline_build_info',
    help: 'Version of the running operator; always 1.',
    labelNames: ['version', 'node_version'] as const,
    registers: [this.registry],
  });

  readonly #queueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue.', labelNames: ['name'] as const, registers: [this.registry] });
  readonly #queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue.', labelNames: ['name'] as const, registers: [this.registry] });
  readonly #queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue.', labelNames: ['name'] as const, registers: [this.registry] });
  readonly #queueLatency = new Histogram({
    name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested.',
    labelNames: ['name'] as const, buckets: [1e-4, 1e-3, 0.01, 0.1, 1, 10, 100], registers: [this.registry],
  });
  readonly #workDuration = new Histogram({
    name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes.',
    labelNames: ['name'] as const, buckets: [1e-4, 1e-3, 0.01, 0.1, 1, 10, 100], registers: [this.registry],
  });
  readonly #queueProbes: WorkQueueProbes[] = [];

  readonly #unfinishedWork = new Gauge({
    name: 'workqueue_unfinished_work_seconds',
    help: 'How many seconds of work has been done that is in progress and hasn\'t been observed by work_duration.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly #longestRunning = new Gauge({
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly #delayedKeys = new Gauge({
    name: 'security_baseline_workqueue_delayed_keys',
    help: 'Keys waiting for a delayed add (a debounced status write, a requeue, a retry after backoff) to fire, by queue.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly #collectHooks: (() => void)[] = [];

  constructor(version: string) {
    collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version, node_version: process.versions.node }, 1);
    // Series exist from the start at 0, so increase() sees their first increment.
    for (const controller of ['namespace', 'baseline', 'exception']) {
      for (const result of ['success', 'error']) this.reconcileTotal.inc({ controller, result }, 0);
    }
    // Polled at scrape time rather than pushed on a timer.
    this.#collectHooks.push(() => {
      for (const probe of this.#queueProbes) {
        this.#unfinishedWork.set({ name: probe.name }, probe.unfinishedWorkSeconds());
        this.#longestRunning.set({ name: probe.name }, probe.longestRunningProcessorSeconds());
        this.#delayedKeys.set({ name: probe.name }, probe.delayed);
      }
    });
  }

  /** Adds a hook run before each scrape (for values read from live state). */
  beforeScrape(hook: () => void): void {
    this.#collectHooks.push(hook);
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    for (const hook of this.#collectHooks) hook();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  workQueue(name: string): WorkQueueMetrics {
    return {
      attach: (probes) => { this.#queueProbes.push(probes); },
      depth: (depth) => this.#queueDepth.set({ name }, depth),
      add: () => this.#queueAdds.inc({ name }),
      retry: () => this.#queueRetries.inc({ name }),
      queueLatency: (seconds) => this.#queueLatency.observe({ name }, seconds),
      workDuration: (seconds) => this.#workDuration.observe({ name }, seconds),
    };
  }

  informer(resource?: string): InformerMetrics {
    if (resource) {
      for (const reason of ['expired', 'follow-up', 'stalled']) this.informerRelists.inc({ resource, reason }, 0);
      this.informerRestarts.inc({ resource }, 0);
      this.informerLastEvent.set({ resource }, Date.now() / 1000);
    }
    return {
      relist: (resource, reason) => this.informerRelists.inc({ resource, reason }),
      restart: (resource) => this.informerRestarts.inc({ resource }),
      heartbeat: (resource) => this.informerLastEvent.set({ resource }, Date.now() / 1000),
    };
  }

  requestObserver(): RequestObserver {
    return (verb, resource, status) => this.apiRequests.inc({ verb, resource, code: String(status) });
  }
}
