// `make bench`: provisioning speed, write economy and memory of the operator
// against a real local control plane, next to the limit of a raw client-go
// writer; and many baselines over many namespaces. Prints a table and writes
// JSON under bench/results/ (bench/plot.ts turns those into the scaling table
// and plot of docs/performance.md). The method is in docs/performance.md.
//
//   node bench/bench.ts [--namespaces N] [--rates R1,R2] [--seconds S] [--drift-rate R]
//                       [--many-baselines B --many-namespaces M]
import { cpus, totalmem } from 'node:os';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { APPLIED_ANNOTATION } from '../src/api/constants.ts';
import type { RolloutSpec, SecurityBaseline, SecurityBaselineSpec } from '../src/api/types.ts';
import { BASELINES, NAMESPACES, REPORTS, managedKind } from '../src/controller/kinds.ts';
import { desiredObjects } from '../src/resources/index.ts';
import { REPORT_NAME } from '../src/resources/report.ts';
import { revisionName } from '../src/resources/revision.ts';
import { KubeApiError } from '../src/runtime/errors.ts';
import { HttpMethod, type KubeObject, type KubeObjectBody } from '../src/runtime/kube.ts';
import { applyCrds } from '../hack/apply-crds.ts';
import { startControlPlane } from '../hack/kube/controlplane.ts';
import { auditedWrites, auditMark, bindOperatorRole, cpuMark, createNamespaces, currentResourceVersion, loadSince, openCluster, percentile, provisioningRun, resumingWatch, until, untilControllerManagerIdle, type BenchCluster, type BenchControlPlane, type ProvisioningLoad, type ProvisioningRun } from './cluster.ts';
import { timeColdStart } from './coldstart.ts';
import { clientNodeLimit, goLimit, goProvisioningLimit, goSweep, type LimitRun } from './limit.ts';
import { runManyBaselines, type ManyBaselinesResult } from './many.ts';
import { buildOperator, deployedRuntimeSettings, startOperator, type Operator } from './operator.ts';
import { writeResult } from './results.ts';
import { installReports, REPORT_RESOURCE, reportRow } from './reports.ts';

const QUOTAS = managedKind('v1', 'ResourceQuota')!;
/** The resources of the objects a namespace gets from the bench baseline. */
const OBJECT_RESOURCES = ['networkpolicies', 'resourcequotas', 'limitranges', 'roles', 'rolebindings'];
/** The Progressive rollout's steps: cumulative percentages of the namespaces, with no pauses, so the time is the steps' own cost. */
const PROGRESSIVE_STEPS = [10, 50, 100];
const OPERATOR_USER = 'bench-operator';
const LIMIT_USER = 'bench-limit';
/**
 * kube-controller-manager writes a ServiceAccount into every new namespace and
 * a status into every new or changed quota. At its default 20 requests a
 * second, the thousands of namespaces a run creates in a minute left it
 * writing for a quarter of an hour, into whatever was measured next; at 200 it
 * catches up in about a minute per 10,000, and every timed scenario starts
 * once it has (untilControllerManagerIdle).
 */
export const BENCH_CONTROL_PLANE = { controllerManagerArgs: ['--kube-api-qps=200', '--kube-api-burst=400'] };
/** Namespaces each limit sweep writes: enough for steady rates at every concurrency level. */
export const LIMIT_SWEEP_NAMESPACES_MAX = 3_000;
/** Namespaces the timed limit run writes: all N up to this, so that at 1,000 it writes what the cold start does. */
const LIMIT_NAMESPACES_MAX = 5_000;

/** A baseline with every namespaced control: 6 objects and one namespace write per namespace. */
export const benchSpec: Omit<SecurityBaselineSpec, 'namespaceSelector'> = {
  networkPolicy: { defaultDeny: ['Ingress', 'Egress'], allowDNS: true, allowSameNamespace: true },
  resourceQuota: { hard: { pods: '4', 'requests.cpu': '1', 'limits.cpu': '2', 'requests.memory': '1Gi', 'limits.memory': '2Gi' } },
  limitRange: { defaultRequest: { cpu: '100m', memory: '128Mi' }, default: { cpu: '500m', memory: '512Mi' } },
  roleBindings: [
    { name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: '${namespace}-readers' }] },
    { name: 'pod-readers', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }], subjects: [{ kind: 'User', name: 'alice' }] },
  ],
  podSecurity: { enforce: 'restricted' },
};

export const SKIPPABLE_SCENARIOS = ['limit', 'drift', 'rollout'] as const;
export type SkippableScenario = (typeof SKIPPABLE_SCENARIOS)[number];

export interface BenchOptions {
  readonly namespaces: number;
  /** New namespaces per second in each provisioning scenario, each run for `seconds`. */
  readonly rates: readonly number[];
  readonly seconds: number;
  /** Managed objects edited per second during the drift scenario (for `seconds`). */
  readonly driftRate: number;
  /** The many-baselines scenario: this many baselines over this many namespaces (0: skipped). */
  readonly manyBaselines: number;
  readonly manyNamespaces: number;
  /**
   * Scenarios left out, for runs too large to do them all in reasonable time
   * (N = 30,000 for the scaling curve): the cold start, the restart, the new
   * namespaces and memory always run.
   */
  readonly skip?: ReadonlySet<SkippableScenario>;
  readonly log?: (line: string) => void;
  /** Use this control plane instead of starting one (the smoke test passes the test cluster's). */
  readonly controlPlane?: BenchControlPlane;
  /** How long each timed scenario waits at most for kube-controller-manager to go quiet (default 300 s). */
  readonly quietTimeoutMs?: number;
  /**
   * `masters` (default): the operator runs as a user of system:masters, as the
   * limit does, so neither pays for authorization. `rbac`: bound to the
   * operator's roles of config/rbac instead, as its ServiceAccount is in a
   * cluster (the many-baselines scenario keeps system:masters).
   */
  readonly operatorIdentity?: 'masters' | 'rbac';
}

export interface MemorySample {
  /** process_resident_memory_bytes, as the operator exports it. */
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
  /** The heap still used after a full garbage collection: what the operator really holds. */
  readonly liveHeapMiB: number;
}

export type { ProvisioningRun } from './cluster.ts';

export interface BenchResult {
  /** 2: this layout (the limit in client-go, memory as deployed); files without it were measured before. */
  readonly format: 2;
  /** The baseline the run created (the smoke test deletes it). */
  readonly baseline: string;
  readonly newNamespaces: string[];
  readonly machine: Machine;
  /** How the operator ran: compiled as the image does, with the Deployment's runtime settings. */
  readonly runtime: Record<string, string>;
  readonly namespaces: number;
  readonly desiredObjectsPerNamespace: number;
  readonly coldStart: {
    /** From the operator's start to its last write to a namespace, its objects or its Report (audit log). */
    seconds: number;
    /** When the benchmark saw every namespace compliant (a poll once a second); absent in runs before it was kept. */
    detectedSeconds?: number;
    /** From the operator's start to its first write: process start, caches listed, leader elected; absent in runs before it was kept. */
    firstWriteSeconds?: number;
    /** The operator's writes in each second from its start (audit log): its ramp, its pace and its tail; absent in runs before it was kept. */
    writesPerSecond?: number[];
    writes: number; writesPerNamespace: number; objectWrites: number; namespaceWrites: number; baselineWrites: number; reportWrites: number; otherWrites: number;
    /** GETs: objects the label-filtered caches do not hold that turn out to exist when created (someone else's, say) are read. */
    reads: number; cpuSeconds: number;
    /** Namespace reconciles (each namespace's first, and any a watch event queued again); absent in runs before it was kept. */
    reconciles?: number;
    /** The API server's and etcd's CPU over the cold start (where the benchmark started the control plane). */
    apiServerCpuSeconds?: number; etcdCpuSeconds?: number;
  };
  /** The limit: client-go, and client-node as a second row (absent when skipped, as are the other optional scenarios). */
  readonly limit?: {
    go: LimitRun;
    clientNode: LimitRun;
    /** New namespaces provisioned by client-go at each of the provisioning scenario's rates, right after the operator's run at that rate. */
    provisioning?: ProvisioningRun[];
  };
  /** Cold start ÷ the client-go limit. */
  readonly ratio?: number;
  readonly ratioClientNode?: number;
  readonly memory: {
    /** Caches synced over a cluster without the benchmark's namespaces. */
    idle: MemorySample;
    coldStart: MemorySample;
    /** After the restart over the compliant cluster (the limit's namespaces exist too by then). */
    restart: MemorySample;
    /** (cold start − idle) ÷ N. */
    liveHeapPerNamespaceKiB: number;
    rssPerNamespaceKiB: number;
    /** The most RSS the operator held during the cold start (VmHWM): what a memory limit must allow. */
    peakRssMiB?: number;
    /**
     * RSS `settleSeconds` after the cold start, the operator idle: what it holds while it keeps
     * the namespaces. The benchmark's one full collection (reading the live heap) is in between,
     * as V8's memory reducer would run one by itself once the operator is idle.
     */
    settledRssMiB?: number;
    settleSeconds?: number;
  };
  readonly steadyState: { writes: number; reads: number; secondsUntilReady: number; namespaces: number; cpuSeconds: number };
  readonly provisioning: ProvisioningRun[];
  readonly drift?: { rate: number; count: number; p50: number; p99: number; max: number };
  readonly manyBaselines?: ManyBaselinesResult;
  /** A quota change over every selected namespace, at once and then progressively. */
  readonly rollout?: { readonly immediate: RolloutRun; readonly progressive: RolloutRun };
}

/** One change of the baseline's quota rolled out over every namespace it selects. */
export interface RolloutRun {
  readonly strategy: 'Immediate' | 'Progressive';
  /** The steps of a Progressive rollout, as cumulative percentages (no pauses). */
  readonly steps: number[];
  /** The quota's `pods` before → after. */
  readonly change: string;
  readonly namespaces: number;
  /** The patch of the baseline → every namespace at the new revision (its applied annotation, seen on a watch). */
  readonly seconds: number;
  /** The patch → the first namespace, and half of them, at the new revision. */
  readonly firstSeconds: number;
  readonly halfSeconds: number;
  /** The operator's writes from the patch until the debounced status writes landed. */
  readonly writes: number;
  readonly writesPerNamespace: number;
  readonly objectWrites: number;
  readonly namespaceWrites: number;
  readonly reportWrites: number;
  readonly otherWrites: number;
}

/** The API the operator serves (its CRDs, the OpenReports Report CRD) and its namespace, where its revisions live. */
export async function prepareApi(cluster: BenchCluster): Promise<void> {
  await applyCrds(cluster.admin, 'bench');
  await cluster.client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'security-baseline-system' } })
    .catch((error: unknown) => { if (!(error instanceof KubeApiError && error.status === 409)) throw error; });
  await installReports(cluster.admin);
}

/** How many of `writes` fell in each second from `since`. */
function writesPerSecond(writes: readonly { at: number }[], since: number): number[] {
  const counts: number[] = [];
  for (const { at } of writes) {
    const second = Math.max(0, Math.floor((at - since) / 1000));
    while (counts.length <= second) counts.push(0);
    counts[second] = (counts[second] ?? 0) + 1;
  }
  return counts;
}

/** How long the operator idles after the cold start before its settled RSS is read. */
const SETTLE_SECONDS = 30;

export interface ControlPlaneCpu { readonly apiServer: number; readonly etcd: number }

/** What a result was measured on. */
export interface Machine { cpus: number; cpuModel: string; memoryGiB: number; node: string; kubernetes: string }

export function machine(kubernetes: string): Machine {
  const cpu = cpus();
  return { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.versions.node, kubernetes };
}

/** The API server's and etcd's CPU seconds so far; undefined where the control plane is not the benchmark's own. */
export async function controlPlaneCpu(cluster: BenchCluster): Promise<ControlPlaneCpu | undefined> {
  const { cpuSeconds } = cluster.controlPlane;
  return cpuSeconds && { apiServer: await cpuSeconds('kube-apiserver'), etcd: await cpuSeconds('etcd') };
}

export async function controlPlaneCpuSince(cluster: BenchCluster, before: ControlPlaneCpu | undefined): Promise<{ apiServerCpuSeconds?: number; etcdCpuSeconds?: number }> {
  const now = await controlPlaneCpu(cluster);
  return before && now ? { apiServerCpuSeconds: now.apiServer - before.apiServer, etcdCpuSeconds: now.etcd - before.etcd } : {};
}

/** The operator's peak RSS so far, from the kernel (VmHWM): no metric exports it. */
async function peakRss(operator: Operator): Promise<number> {
  const status = await readFile(`/proc/${operator.process.pid}/status`, 'utf8');
  const kib = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kib)) throw new Error(`no VmHWM in /proc/${operator.process.pid}/status`);
  return kib / 1024;
}

async function memorySample(operator: Operator): Promise<MemorySample> {
  const mib = async (name: string) => (await operator.metric(name)) / 2 ** 20;
  const sample = {
    rssMiB: await mib('process_resident_memory_bytes'),
    heapUsedMiB: await mib('nodejs_heap_size_used_bytes'),
    heapTotalMiB: await mib('nodejs_heap_size_total_bytes'),
    externalMiB: await mib('nodejs_external_memory_bytes'),
  };
  return { ...sample, liveHeapMiB: (await operator.liveHeap()).usedMiB };
}

/** New namespaces at a steady rate: creation request → the `applied` annotation seen on a watch. */
async function provision(cluster: BenchCluster, baseline: string, selector: Record<string, string>, run: string, rate: number, seconds: number): Promise<ProvisioningRun & { names: string[] }> {
  const { client } = cluster;
  const sentAt = new Map<string, number>();
  const provisioned = new Map<string, number>();
  const resourceVersion = await currentResourceVersion(client, NAMESPACES, `bench=${run}`);
  const stopWatch = resumingWatch<KubeObject>(client, NAMESPACES, { resourceVersion, labelSelector: `bench=${run}` }, (namespace) => {
    const name = namespace.metadata.name;
    const sent = sentAt.get(name);
    if (sent !== undefined && !provisioned.has(name) && namespace.metadata.annotations?.[APPLIED_ANNOTATION]?.includes(`"${baseline}"`)) {
      provisioned.set(name, performance.now() - sent);
    }
  });
  const total = Math.round(rate * seconds);
  const creations: Promise<unknown>[] = [];
  const createSeconds: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const name = `new-${run}-${rate}-${i}`;
    const sent = performance.now();
    sentAt.set(name, sent);
    creations.push(client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: selector } })
      .then(() => createSeconds.push((performance.now() - sent) / 1000)));
  }
  await Promise.all(creations);
  const deadline = performance.now() + 60_000;
  while (provisioned.size < total && performance.now() < deadline) await sleep(50);
  stopWatch();
  const latencies = [...provisioned.values()].map((ms) => ms / 1000);
  return { names: [...sentAt.keys()], ...provisioningRun(rate, latencies), createP99: percentile(createSeconds, 99) };
}

/** Quotas edited (as `kubectl edit` would) at a steady rate: the patch → the restored value seen on a watch. */
async function drift(cluster: BenchCluster, baseline: string, namespaces: string[], rate: number, seconds: number): Promise<BenchResult['drift']> {
  const { client } = cluster;
  const editedAt = new Map<string, number>();
  const restored: number[] = [];
  const selector = 'app.kubernetes.io/managed-by=security-baseline-operator';
  const resourceVersion = await currentResourceVersion(client, QUOTAS, selector);
  const stopWatch = resumingWatch<KubeObject & { spec?: { hard?: Record<string, string> } }>(client, QUOTAS, { resourceVersion, labelSelector: selector }, (quota) => {
    const key = `${quota.metadata.namespace}`;
    const edited = editedAt.get(key);
    if (edited !== undefined && quota.spec?.hard?.pods === '4') {
      restored.push((performance.now() - edited) / 1000);
      editedAt.delete(key);
    }
  });
  const edits = Math.round(rate * seconds);
  const t0 = performance.now();
  for (let i = 0; i < edits; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const namespace = namespaces[(i * 7919) % namespaces.length]!;
    editedAt.set(namespace, performance.now());
    await client.request('patch', HttpMethod.PATCH, `/api/v1/namespaces/${namespace}/resourcequotas/${baseline}-quota`, {
      query: { fieldManager: 'kubectl-edit' }, body: { spec: { hard: { pods: '999' } } }, contentType: 'application/merge-patch+json',
    });
  }
  const deadline = performance.now() + 30_000;
  while (editedAt.size > 0 && performance.now() < deadline) await sleep(50);
  stopWatch();
  return { rate, count: restored.length, p50: percentile(restored, 50), p99: percentile(restored, 99), max: Math.max(...restored) };
}

/**
 * Changes the baseline's quota with the given rollout, and waits until every
 * namespace it selects is at the new revision: the patch → each namespace's
 * applied annotation naming that revision, seen on a watch. Then counts the
 * operator's writes, once its debounced status writes have landed.
 */
async function rollOut(
  cluster: BenchCluster, baseline: string, selector: Record<string, string>, rollout: RolloutSpec, pods: { from: string; to: string },
): Promise<RolloutRun> {
  const { client } = cluster;
  const labelSelector = Object.entries(selector).map(([key, value]) => `${key}=${value}`).join(',');
  const namespaces = new Set((await client.list(NAMESPACES, { labelSelector })).items.map((namespace) => namespace.metadata.name));
  const movedAt = new Map<string, number>();
  /** The revision the patch makes: known once the API server answered it. */
  const target: { revision?: string } = {};
  const seen = new Map<string, string | undefined>();
  const moved = (name: string, at: string | undefined) => {
    if (target.revision !== undefined && at === target.revision && namespaces.has(name) && !movedAt.has(name)) movedAt.set(name, performance.now());
  };
  const resourceVersion = await currentResourceVersion(client, NAMESPACES, labelSelector);
  const stopWatch = resumingWatch<KubeObject>(client, NAMESPACES, { resourceVersion, labelSelector }, (namespace) => {
    const { name } = namespace.metadata;
    const at = (JSON.parse(namespace.metadata.annotations?.[APPLIED_ANNOTATION] ?? '{}') as Record<string, string>)[baseline];
    seen.set(name, at);
    moved(name, at);
  });
  const mark = await auditMark(cluster);
  const sent = performance.now();
  const patched = await client.mergePatch<KubeObject & { spec: SecurityBaselineSpec }>(BASELINES, baseline, undefined, {
    spec: { rollout, resourceQuota: { hard: { pods: pods.to } } },
  });
  target.revision = revisionName(baseline, patched.spec);
  // Events that arrived before the answer to the patch: none can name a revision that did not exist yet, but be exact.
  for (const [name, at] of seen) moved(name, at);
  await until(`the ${rollout.strategy} rollout`, async () => movedAt.size >= namespaces.size, 1_800_000, 50);
  stopWatch();
  const times = [...movedAt.values()].map((at) => (at - sent) / 1000).sort((a, b) => a - b);
  await sleep(2_500); // debounced status writes land
  const writes = await auditedWrites(cluster, mark, OPERATOR_USER);
  const count = (predicate: (w: { resource: string }) => boolean) => writes.filter(predicate).length;
  return {
    strategy: rollout.strategy ?? 'Immediate',
    steps: rollout.strategy === 'Progressive' ? PROGRESSIVE_STEPS : [100],
    change: `${pods.from}→${pods.to}`,
    namespaces: namespaces.size,
    seconds: times.at(-1) ?? NaN,
    firstSeconds: times[0] ?? NaN,
    halfSeconds: percentile(times, 50),
    writes: writes.length,
    writesPerNamespace: writes.length / namespaces.size,
    objectWrites: count((w) => OBJECT_RESOURCES.includes(w.resource)),
    namespaceWrites: count((w) => w.resource === 'namespaces'),
    reportWrites: count((w) => w.resource === REPORT_RESOURCE),
    otherWrites: count((w) => ![...OBJECT_RESOURCES, 'namespaces', REPORT_RESOURCE].includes(w.resource)),
  };
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let started = options.controlPlane ? undefined : await startControlPlane(BENCH_CONTROL_PLANE);
  try {
    const cluster = openCluster(options.controlPlane ?? started!);
    const { client } = cluster;
    /** Waits for kube-controller-manager to catch up before a timed scenario (BENCH_CONTROL_PLANE). */
    const quiet = async (): Promise<void> => {
      const { seconds, idle } = await untilControllerManagerIdle(cluster, options.quietTimeoutMs);
      log(idle ? `  kube-controller-manager idle after ${seconds.toFixed(0)} s` : `  kube-controller-manager still writing after ${seconds.toFixed(0)} s; measuring anyway`);
    };
    log('building the operator as the image does…');
    const main = await buildOperator();
    const run = Date.now().toString(36);
    const BASELINE = `bench-${run}`;
    const selector = { bench: run };
    const limitKubeconfig = await cluster.kubeconfigFor(LIMIT_USER);
    await prepareApi(cluster);
    const operatorIdentity = options.operatorIdentity ?? 'masters';
    if (operatorIdentity === 'rbac') await bindOperatorRole(cluster, OPERATOR_USER);
    const operatorKubeconfig = await cluster.kubeconfigFor(OPERATOR_USER, operatorIdentity === 'rbac' ? [] : undefined);
    const baseline: SecurityBaseline = {
      apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name: BASELINE },
      spec: { ...benchSpec, namespaceSelector: { matchLabels: selector } },
    };
    await client.create(BASELINES, baseline as unknown as KubeObject & Record<string, unknown>);
    const perNamespace = desiredObjects([baseline], { name: 'x', labels: {} }).objects.length;
    const N = options.namespaces;

    // 0. Idle: caches synced, the baseline reconciled, none of the benchmark's namespaces yet.
    let operator = await startOperator(main, operatorKubeconfig);
    await until('the idle operator', async () => await operator.metric('security_baseline_reconcile_total', { controller: 'baseline' }) >= 1);
    await sleep(2_000);
    const idle = await memorySample(operator);
    await operator.stop();

    // 1. Cold start: the operator over N namespaces, until all are compliant.
    const operatorNamespaces = Array.from({ length: N }, (_, i) => `bench-${run}-${i}`);
    log(`creating ${N} namespaces…`);
    await createNamespaces(client, operatorNamespaces, () => selector);
    await quiet();
    log(`cold start over ${N} namespaces…`);
    const coldControlPlaneCpu = await controlPlaneCpu(cluster);
    const cold = await timeColdStart(cluster, main, operatorKubeconfig, OPERATOR_USER, BASELINE, N);
    operator = cold.operator;
    const coldWrites = cold.writes;
    const coldMemory = await memorySample(operator);
    const peakRssMiB = await peakRss(operator);
    await sleep(SETTLE_SECONDS * 1000);
    const settledRssMiB = await operator.metric('process_resident_memory_bytes') / 2 ** 20;
    const count = (predicate: (w: { resource: string }) => boolean) => coldWrites.filter(predicate).length;
    const objectResources = OBJECT_RESOURCES;
    const coldStart = {
      seconds: cold.seconds,
      detectedSeconds: cold.detectedSeconds,
      firstWriteSeconds: cold.firstWriteSeconds,
      writesPerSecond: writesPerSecond(coldWrites, cold.beganAt),
      writes: coldWrites.length,
      writesPerNamespace: coldWrites.length / N,
      objectWrites: count((w) => objectResources.includes(w.resource)),
      namespaceWrites: count((w) => w.resource === 'namespaces'),
      baselineWrites: count((w) => w.resource === 'securitybaselines'),
      reportWrites: count((w) => w.resource === REPORT_RESOURCE),
      otherWrites: count((w) => ![...objectResources, 'namespaces', 'securitybaselines', REPORT_RESOURCE].includes(w.resource)),
      reads: await operator.metric('security_baseline_api_requests_total', { verb: 'get' }),
      cpuSeconds: await operator.metric('process_cpu_seconds_total'),
      reconciles: await operator.metric('security_baseline_reconcile_total', { controller: 'namespace' }),
      ...await controlPlaneCpuSince(cluster, coldControlPlaneCpu),
    };
    await operator.stop();

    // 2. The limit, with the operator stopped: the same writes by client-go, then by client-node.
    const skipped = options.skip ?? new Set<SkippableScenario>();
    let limit: BenchResult['limit'];
    let report: KubeObjectBody | undefined;
    if (!skipped.has('limit')) {
      const sweepSize = Math.min(N, LIMIT_SWEEP_NAMESPACES_MAX);
      const limitSize = Math.min(N, LIMIT_NAMESPACES_MAX);
      const sweepNamespaces = Array.from({ length: sweepSize }, (_, i) => `limit-sweep-${run}-${i}`);
      const goNamespaces = Array.from({ length: limitSize }, (_, i) => `limit-go-${run}-${i}`);
      const nodeNamespaces = Array.from({ length: sweepSize }, (_, i) => `limit-node-${run}-${i}`);
      log(`the limit: a sweep over ${sweepSize} namespaces, then ${limitSize} at its best concurrency; client-node over ${sweepSize}…`);
      await createNamespaces(client, [...sweepNamespaces, ...goNamespaces, ...nodeNamespaces], () => ({ 'bench-limit': run }));
      await quiet();
      // The Report the operator wrote in its first namespace: the limit writes one like it in each of its own.
      report = await client.get<KubeObjectBody>(REPORTS, REPORT_NAME, operatorNamespaces[0]).catch(() => undefined);
      const sweep = await goSweep(limitKubeconfig, cluster.controlPlane.dir, baseline, sweepNamespaces, run, N, report);
      // The timed run starts as the cold start did: with kube-controller-manager caught up.
      await quiet();
      const goControlPlaneCpu = await controlPlaneCpu(cluster);
      const go = await goLimit(limitKubeconfig, cluster.controlPlane.dir, baseline, goNamespaces, run, N, sweep, report);
      limit = {
        go: { ...go, ...await controlPlaneCpuSince(cluster, goControlPlaneCpu) },
        clientNode: await clientNodeLimit(limitKubeconfig, baseline, nodeNamespaces, run, N, report),
      };
    }

    // 3. Steady state: restart over the compliant cluster.
    log('restart over the compliant cluster…');
    const mark = await auditMark(cluster);
    const begin = performance.now();
    operator = await startOperator(main, operatorKubeconfig);
    const totalNamespaces = (await client.list(NAMESPACES)).items.length;
    await until('the restart', async () => await operator.metric('security_baseline_reconcile_total', { controller: 'namespace' }) >= totalNamespaces
      && await operator.metric('workqueue_depth', { name: 'namespaces' }) === 0);
    const secondsUntilReady = (performance.now() - begin) / 1000;
    await sleep(2_500);
    const steadyState = {
      writes: (await auditedWrites(cluster, mark, OPERATOR_USER)).length,
      reads: await operator.metric('security_baseline_api_requests_total', { verb: 'get' }),
      secondsUntilReady, namespaces: totalNamespaces,
      cpuSeconds: await operator.metric('process_cpu_seconds_total'),
    };
    const restartMemory = await memorySample(operator);

    // 4. New namespaces at each rate: creation request → applied annotation seen on the watch. Then
    //    the limit at the same rate, at the same point: client-go provisions namespaces the operator
    //    does not select, so it sees them and writes nothing. Each run starts once kube-controller-manager
    //    has caught up with the one before it.
    const provisioning: ProvisioningRun[] = [];
    const provisioningLimit: ProvisioningRun[] = [];
    const newNamespaces: string[] = [];
    const operatorCpu = () => operator.metric('process_cpu_seconds_total');
    for (const rate of options.rates) {
      await quiet();
      log(`${rate} new namespaces per second for ${options.seconds} s…`);
      const before = await cpuMark(cluster, operatorCpu);
      const { names, ...result } = await provision(cluster, BASELINE, selector, run, rate, options.seconds);
      provisioning.push({ ...result, load: await loadSince(cluster, operatorCpu, before) });
      newNamespaces.push(...names);
      if (limit) {
        await quiet();
        log(`the limit: ${rate} new namespaces per second for ${options.seconds} s, provisioned by client-go…`);
        const beforeLimit = await cpuMark(cluster, operatorCpu);
        const limitRun = await goProvisioningLimit(limitKubeconfig, cluster.controlPlane.dir, baseline, run, rate, options.seconds, report);
        provisioningLimit.push({ ...limitRun, load: await loadSince(cluster, operatorCpu, beforeLimit) });
      }
    }
    if (limit) limit = { ...limit, provisioning: provisioningLimit };

    // 5. Drift: quotas edited at a steady rate; edit request → restored value seen on the watch.
    let driftResult: BenchResult['drift'];
    if (!skipped.has('drift')) {
      log(`${options.driftRate} managed objects edited per second for ${options.seconds} s…`);
      driftResult = await drift(cluster, BASELINE, operatorNamespaces, options.driftRate, options.seconds);
    }

    // 6. A quota change over every selected namespace: at once, then progressively.
    let rollout: BenchResult['rollout'];
    if (!skipped.has('rollout')) {
      log('a quota change rolled out at once…');
      const immediate = await rollOut(cluster, BASELINE, selector, { strategy: 'Immediate' }, { from: '4', to: '5' });
      log(`a quota change rolled out progressively (${PROGRESSIVE_STEPS.join('%, ')}%)…`);
      const progressive = await rollOut(cluster, BASELINE, selector, {
        strategy: 'Progressive', steps: PROGRESSIVE_STEPS.map((percent) => ({ percent })),
      }, { from: '5', to: '6' });
      rollout = { immediate, progressive };
    }
    await operator.stop();

    // 7. Many baselines, on a fresh control plane when this run started its own.
    let manyBaselines: ManyBaselinesResult | undefined;
    if (options.manyBaselines > 0 && options.manyNamespaces > 0) {
      let manyCluster = cluster;
      if (started) {
        await started.stop();
        started = await startControlPlane(BENCH_CONTROL_PLANE);
        manyCluster = openCluster(started);
        await prepareApi(manyCluster);
      }
      manyBaselines = await runManyBaselines(manyCluster, main, { baselines: options.manyBaselines, namespaces: options.manyNamespaces, log });
    }

    return {
      format: 2,
      machine: machine(cluster.controlPlane.versions.kubernetes),
      runtime: {
        build: 'tsc -p tsconfig.build.json (as the image)', ...await deployedRuntimeSettings(),
        identity: operatorIdentity === 'rbac' ? 'a user bound to the roles of config/rbac' : 'a user of system:masters',
      },
      baseline: BASELINE,
      newNamespaces,
      namespaces: N,
      desiredObjectsPerNamespace: perNamespace,
      coldStart,
      limit,
      ratio: limit && coldStart.seconds / limit.go.seconds,
      ratioClientNode: limit && coldStart.seconds / limit.clientNode.seconds,
      memory: {
        idle, coldStart: coldMemory, restart: restartMemory,
        liveHeapPerNamespaceKiB: ((coldMemory.liveHeapMiB - idle.liveHeapMiB) * 1024) / N,
        rssPerNamespaceKiB: ((coldMemory.rssMiB - idle.rssMiB) * 1024) / N,
        peakRssMiB, settledRssMiB, settleSeconds: SETTLE_SECONDS,
      },
      steadyState, provisioning, drift: driftResult, manyBaselines, rollout,
    };
  } finally {
    await started?.stop();
  }
}

/** `; machine 1.9 of 2 cores busy (API server 1.3, operator 0.3, …)`: how much of the machine a provisioning run had. */
function loadText(load: ProvisioningLoad | undefined): string {
  if (!load) return '';
  const shares: [string, number | undefined][] = [['API server', load.apiServer], ['etcd', load.etcd], ['kube-controller-manager', load.controllerManager], ['operator', load.operator]];
  const parts = shares.flatMap(([name, cores]) => (cores === undefined ? [] : [`${name} ${cores.toFixed(2)}`]));
  return `; machine ${load.busy.toFixed(2)} of ${load.cores} cores busy${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

export function formatTable(result: BenchResult): string {
  const f = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
  const { coldStart, limit, memory } = result;
  const rows: [string, string, string][] = [
    ['cold start: all compliant', `${f(coldStart.seconds)} s`, `${result.namespaces} namespaces, ${result.desiredObjectsPerNamespace} objects each; ${f(coldStart.cpuSeconds, 1)} s of operator CPU; ${coldStart.reconciles ?? '?'} namespace reconciles; first write after ${coldStart.firstWriteSeconds === undefined ? '?' : f(coldStart.firstWriteSeconds)} s`],
    ['cold start: writes', `${coldStart.writes}`, `${f(coldStart.writesPerNamespace)}/namespace: ${coldStart.objectWrites} objects, ${coldStart.namespaceWrites} namespaces, ${coldStart.baselineWrites} baseline, ${coldStart.otherWrites} other; ${coldStart.reads} reads`],
    reportRow(coldStart.reportWrites, result.namespaces),
  ];
  if (limit) {
    rows.push(
      ['limit: client-go', `${f(limit.go.seconds)} s`, `one run at concurrency ${limit.go.bestConcurrency} (best of ${Object.keys(limit.go.ratesPerConcurrency).join('/')}) over ${limit.go.namespaces} namespaces, ${limit.go.writesPerNamespace} writes each; the sweep's best slice alone: ${f(limit.go.sweepSeconds ?? NaN)} s`],
      ['limit: client-node', `${f(limit.clientNode.seconds)} s`, `best concurrency ${limit.clientNode.bestConcurrency}`],
      ['operator ÷ limit', f(result.ratio ?? NaN), `target ≤ 1.25 (÷ client-node: ${f(result.ratioClientNode ?? NaN)})`],
    );
  }
  if (coldStart.apiServerCpuSeconds !== undefined) {
    // CPU per namespace: on a machine the API server saturates, what the writer costs besides its writes is time.
    const ms = (seconds: number | undefined, namespaces: number) => (seconds === undefined ? 'n/a' : f(1000 * seconds / namespaces, 1));
    const go = limit?.go;
    rows.push(['CPU per namespace, ms', `${ms(coldStart.cpuSeconds, result.namespaces)}`,
      `operator; API server ${ms(coldStart.apiServerCpuSeconds, result.namespaces)}, etcd ${ms(coldStart.etcdCpuSeconds, result.namespaces)}`
      + (go ? `; limit: client-go ${ms(go.clientCpuSeconds, go.namespaces)}, API server ${ms(go.apiServerCpuSeconds, go.namespaces)}, etcd ${ms(go.etcdCpuSeconds, go.namespaces)}` : '')]);
  }
  rows.push(
    ['restart: writes', `${result.steadyState.writes}`, `target 0; ${result.steadyState.reads} reads`],
    ['restart: all reconciled', `${f(result.steadyState.secondsUntilReady)} s`, `${result.steadyState.namespaces} namespaces in the cluster`],
    ...result.provisioning.map((p): [string, string, string] => [
      `new namespaces at ${p.rate}/s p50/p95/p99`, `${f(p.p50, 3)}/${f(p.p95, 3)}/${f(p.p99, 3)} s`,
      `${p.count}; target p99 ≤ ${p.rate > 20 ? '0.5' : '1'} s${p.createP99 === undefined ? '' : `; the create request alone: p99 ${f(p.createP99, 3)} s`}${loadText(p.load)}`,
    ]),
    ...(limit?.provisioning ?? []).map((p): [string, string, string] => [
      `limit: new namespaces at ${p.rate}/s`, `${f(p.p50, 3)}/${f(p.p95, 3)}/${f(p.p99, 3)} s`, `${p.count}, by client-go with no watch between the steps${loadText(p.load)}`,
    ]),
  );
  if (result.drift) rows.push(['drift restore p50/p99', `${f(result.drift.p50, 3)}/${f(result.drift.p99, 3)} s`, `${result.drift.count} edits at ${result.drift.rate}/s; target p99 ≤ 1 s`]);
  rows.push(
    ['memory: RSS after cold start', `${f(memory.coldStart.rssMiB, 1)} MiB`, `target ≤ 128 MiB at 10,000; idle ${f(memory.idle.rssMiB, 1)} MiB, after the restart ${f(memory.restart.rssMiB, 1)} MiB`],
    ...(memory.settledRssMiB === undefined ? [] : [[
      'memory: RSS settled / peak', `${f(memory.settledRssMiB, 1)} / ${f(memory.peakRssMiB ?? NaN, 1)} MiB`,
      `${memory.settleSeconds ?? '?'} s after the cold start, idle / the most during it (VmHWM)`,
    ] as [string, string, string]]),
    ['memory: live heap', `${f(memory.coldStart.liveHeapMiB, 1)} MiB`, `idle ${f(memory.idle.liveHeapMiB, 1)} MiB; ${f(memory.liveHeapPerNamespaceKiB)} KiB and ${f(memory.rssPerNamespaceKiB)} KiB RSS per namespace`],
  );
  const many = result.manyBaselines;
  if (many) {
    rows.push(
      ['many baselines: cold start', `${f(many.coldStart.seconds)} s`, `${many.baselines} baselines over ${many.namespaces} namespaces, ${many.pairs} pairs; ${many.coldStart.writes} writes`],
      ['many baselines: reconcile', `${f(many.coldStart.reconcileMeanMs, 2)} ms`, `mean per namespace at the cold start; ${f(many.restart.reconcileMeanMs, 3)} ms at the restart (${many.restart.writes} writes)`],
      ['many baselines: relabel p50/max', `${f(many.relabel.p50, 3)}/${f(many.relabel.max, 3)} s`, `${many.relabel.count} namespaces moved to another team`],
      ['many baselines: one changed', `${f(many.baselineChange.seconds)} s`, `its ${many.baselineChange.namespaces} namespaces rewritten, status observed`],
      ['many baselines: one scrape', `${f(many.scrapeMs, 1)} ms`, `RSS ${f(many.memory.rssMiB, 1)} MiB, live heap ${f(many.memory.liveHeapMiB, 1)} MiB`],
    );
  }
  if (result.rollout) {
    for (const run of [result.rollout.immediate, result.rollout.progressive]) {
      const how = run.strategy === 'Immediate' ? 'at once' : `in steps of ${run.steps.join('/')}%, no pauses`;
      rows.push([
        `rollout ${run.strategy}: converged`, `${f(run.seconds)} s`,
        `quota pods ${run.change} over ${run.namespaces} namespaces ${how}; first ${f(run.firstSeconds)} s, half ${f(run.halfSeconds)} s`,
      ], [
        `rollout ${run.strategy}: writes`, `${run.writes}`,
        `${f(run.writesPerNamespace)}/namespace: ${run.objectWrites} objects, ${run.namespaceWrites} namespaces, ${run.reportWrites} reports, ${run.otherWrites} other`,
      ]);
    }
    const { immediate, progressive } = result.rollout;
    rows.push(['rollout Progressive ÷ Immediate', f(progressive.seconds / immediate.seconds), 'time to converge']);
  }
  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  const m = result.machine;
  return [
    `security-baseline-operator benchmark — ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, Kubernetes ${m.kubernetes}`
      + (result.runtime.identity ? `; the operator as ${result.runtime.identity}` : ''),
    ...rows.map(([a, b, c]) => `  ${a.padEnd(widths[0]!)}  ${b.padStart(widths[1]!)}  ${c}`),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  // Interrupted, the run exits as it does on an error, so that the 'exit' handlers stop the operator it
  // started: one left behind, its API server gone, retried its reconciles at 75 % of a core into later runs.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const { values } = parseArgs({
    options: {
      namespaces: { type: 'string', default: '200' },
      rates: { type: 'string', default: '20,50' },
      seconds: { type: 'string', default: '10' },
      'drift-rate': { type: 'string', default: '10' },
      'many-baselines': { type: 'string', default: '20' },
      'many-namespaces': { type: 'string', default: '500' },
      skip: { type: 'string', default: '' },
      'operator-identity': { type: 'string', default: 'masters' },
    },
  });
  const identity = values['operator-identity'];
  if (identity !== 'masters' && identity !== 'rbac') throw new Error(`--operator-identity: ${identity}: use masters or rbac`);
  const skip = values.skip.split(',').filter(Boolean);
  const unknown = skip.filter((scenario) => !(SKIPPABLE_SCENARIOS as readonly string[]).includes(scenario));
  if (unknown.length > 0) throw new Error(`--skip: unknown scenario ${unknown.join(', ')}; the ones that can be skipped: ${SKIPPABLE_SCENARIOS.join(', ')}`);
  const result = await runBench({
    namespaces: Number(values.namespaces), rates: values.rates.split(',').map(Number), seconds: Number(values.seconds),
    driftRate: Number(values['drift-rate']), manyBaselines: Number(values['many-baselines']), manyNamespaces: Number(values['many-namespaces']),
    skip: new Set(skip as SkippableScenario[]), operatorIdentity: identity,
  });
  console.log(formatTable(result));
  const { newNamespaces: _, ...recorded } = result;
  await writeResult(`n${result.namespaces}`, recorded);
  process.exit(0);
}
