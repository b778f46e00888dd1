// `make bench`: provisioning speed, write economy and memory of the operator
// against a real local control plane. Prints a table and writes JSON under
// bench/results/. The method is in docs/performance.md.
//
//   node bench/bench.ts [--namespaces N] [--rate PER_SECOND] [--seconds S] [--drift-rate PER_SECOND]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { APPLIED_ANNOTATION } from '../src/api/constants.ts';
import type { SecurityBaseline, SecurityBaselineSpec } from '../src/api/types.ts';
import { BASELINES, NAMESPACES, managedKind } from '../src/controller/kinds.ts';
import { desiredObjects } from '../src/resources/index.ts';
import { KubeApiError } from '../src/runtime/errors.ts';
import { KubeClient, type KubeObject } from '../src/runtime/kube.ts';
import { applyCrds } from '../hack/apply-crds.ts';
import { installReports, REPORT_RESOURCE, reportRow } from './reports.ts';
import { freePorts, mintIdentityIn, renderKubeconfig, startControlPlane, type ControlPlane } from '../hack/kube/controlplane.ts';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const QUOTAS = managedKind('v1', 'ResourceQuota')!;
const OPERATOR_USER = 'bench-operator';
const LIMIT_USER = 'bench-limit';

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

export interface BenchOptions {
  readonly namespaces: number;
  /** New namespaces per second during the provisioning scenario, and for how long. */
  readonly rate: number;
  readonly seconds: number;
  /** Managed objects edited per second during the drift scenario (for `seconds`). */
  readonly driftRate: number;
  readonly log?: (line: string) => void;
  /** Use this control plane instead of starting one (the smoke test passes the test cluster's). */
  readonly controlPlane?: Pick<ControlPlane, 'dir' | 'server' | 'kubeconfigPath' | 'versions'>;
}

export interface BenchResult {
  /** The baseline the run created (the smoke test deletes it). */
  readonly baseline: string;
  readonly newNamespaces: string[];
  readonly machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; kubernetes: string };
  readonly namespaces: number;
  readonly desiredObjectsPerNamespace: number;
  readonly coldStart: { seconds: number; writes: number; writesPerNamespace: number; objectWrites: number; namespaceWrites: number; baselineWrites: number; reportWrites: number; otherWrites: number };
  readonly limit: { seconds: number; bestConcurrency: number; ratesPerConcurrency: Record<string, number> };
  readonly ratio: number;
  readonly steadyState: { writes: number; secondsUntilReady: number };
  readonly provisioning: { rate: number; count: number; p50: number; p95: number; p99: number; max: number };
  readonly drift: { rate: number; count: number; p50: number; p99: number; max: number };
  readonly memory: { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** Writes by a user since a byte offset of the audit log, by resource. */
async function auditedWrites(dir: string, mark: number, user: string): Promise<{ resource: string; subresource?: string }[]> {
  const text = (await readFile(path.join(dir, 'audit.log'))).subarray(mark).toString('utf8');
  const writes: { resource: string; subresource?: string }[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(`"username":"${user}"`)) continue;
    const event = JSON.parse(line) as { stage: string; user: { username: string }; objectRef?: { resource?: string; subresource?: string } };
    if (event.stage === 'ResponseComplete' && event.user.username === user) {
      writes.push({ resource: event.objectRef?.resource ?? '', subresource: event.objectRef?.subresource });
    }
  }
  return writes;
}

const auditMark = async (dir: string) => (await stat(path.join(dir, 'audit.log'))).size;

interface Operator {
  readonly process: ChildProcess;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

async function startOperator(kubeconfig: string): Promise<Operator> {
  const [metricsPort, healthPort] = await freePorts(2) as [number, number];
  const child = spawn(process.execPath, [path.join(root, 'src/main.ts')], {
    env: {
      ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', METRICS_SECURE: 'false',
      // The runtime settings of config/manager/manager.yaml, so memory is measured as deployed.
      NODE_OPTIONS: '--max-semi-space-size=2 --max-old-space-size=192', MALLOC_ARENA_MAX: '2',
      METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}`, HEALTH_PROBE_BIND_ADDRESS: `127.0.0.1:${healthPort}`,
      OPERATOR_NAMESPACE: 'security-baseline-system',
    },
    stdio: ['ignore', process.env.BENCH_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
        total += Number(line.split(' ').at(-1));
      }
    }
    return total;
  };
  for (;;) {
    if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}`);
    try {
      await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      break;
    } catch {
      await sleep(50);
    }
  }
  return {
    process: child, metric,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function kubeconfigFor(dir: string, server: string, caPem: string, user: string): Promise<string> {
  const file = path.join(dir, `${user}.kubeconfig`);
  await writeFile(file, renderKubeconfig(server, caPem, await mintIdentityIn(dir, user, ['system:masters'])), { mode: 0o600 });
  return file;
}

async function createNamespaces(client: KubeClient, names: string[], labels: Record<string, string>): Promise<void> {
  const queue = new PQueue({ concurrency: 32 });
  await Promise.all(names.map((name) => queue.add(() => client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }))));
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = options.controlPlane ? undefined : await startControlPlane();
  const controlPlane = options.controlPlane ?? started!;
  try {
    const admin = new KubeConfig();
    admin.loadFromFile(controlPlane.kubeconfigPath);
    const caPem = Buffer.from(admin.getCurrentCluster()?.caData ?? '', 'base64').toString('utf8');
    const client = new KubeClient(admin);
    const { dir, server } = controlPlane;
    const run = Date.now().toString(36);
    const BASELINE = `bench-${run}`;
    const selector = { bench: run };
    const operatorKubeconfig = await kubeconfigFor(dir, server, caPem, OPERATOR_USER);
    const limitKubeconfig = await kubeconfigFor(dir, server, caPem, LIMIT_USER);

    // The API, the operator's namespace (its revisions live there), the baseline, and N namespaces for the operator plus N for the limit program.
    await applyCrds(admin, 'bench');
    await client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'security-baseline-system' } })
      .catch((error: unknown) => { if (!(error instanceof KubeApiError && error.status === 409)) throw error; });
    await installReports(admin);
    const N = options.namespaces;
    const operatorNamespaces = Array.from({ length: N }, (_, i) => `bench-${run}-${i}`);
    const limitNamespaces = Array.from({ length: N }, (_, i) => `limit-${run}-${i}`);
    log(`creating ${2 * N} namespaces…`);
    await createNamespaces(client, operatorNamespaces, selector);
    await createNamespaces(client, limitNamespaces, { 'bench-limit': run });
    const baseline: SecurityBaseline = {
      apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name: BASELINE },
      spec: { ...benchSpec, namespaceSelector: { matchLabels: selector } },
    };
    await client.create(BASELINES, baseline as unknown as KubeObject & Record<string, unknown>);
    const perNamespace = desiredObjects([baseline], { name: 'x', labels: {} }).objects.length;

    // 1. Cold start: the operator over N namespaces, until all are compliant.
    log(`cold start over ${N} namespaces…`);
    let mark = await auditMark(dir);
    let begin = performance.now();
    let operator = await startOperator(operatorKubeconfig);
    while (await operator.metric('security_baseline_namespaces', { baseline: BASELINE, state: 'compliant' }) < N) await sleep(100);
    const coldSeconds = (performance.now() - begin) / 1000;
    await sleep(2_500); // debounced status writes land
    const coldWrites = await auditedWrites(dir, mark, OPERATOR_USER);
    const memory = {
      rssMiB: (await operator.metric('process_resident_memory_bytes')) / 2 ** 20,
      heapUsedMiB: (await operator.metric('nodejs_heap_size_used_bytes')) / 2 ** 20,
      heapTotalMiB: (await operator.metric('nodejs_heap_size_total_bytes')) / 2 ** 20,
      externalMiB: (await operator.metric('nodejs_external_memory_bytes')) / 2 ** 20,
    };
    const count = (predicate: (w: { resource: string; subresource?: string }) => boolean) => coldWrites.filter(predicate).length;
    const objectResources = ['networkpolicies', 'resourcequotas', 'limitranges', 'roles', 'rolebindings'];
    const coldStart = {
      seconds: coldSeconds,
      writes: coldWrites.length,
      writesPerNamespace: coldWrites.length / N,
      objectWrites: count((w) => objectResources.includes(w.resource)),
      namespaceWrites: count((w) => w.resource === 'namespaces'),
      baselineWrites: count((w) => w.resource === 'securitybaselines'),
      reportWrites: count((w) => w.resource === REPORT_RESOURCE),
      otherWrites: count((w) => ![...objectResources, 'namespaces', 'securitybaselines', REPORT_RESOURCE].includes(w.resource)),
    };

    // 2. The limit: the same objects, server-side applied by a plain client-node program.
    const limitConfig = new KubeConfig();
    limitConfig.loadFromFile(limitKubeconfig);
    const limitApi = KubernetesObjectApi.makeApiClient(limitConfig);
    const concurrencies = [8, 16, 32, 64];
    const slice = Math.ceil(N / concurrencies.length);
    const ratesPerConcurrency: Record<string, number> = {};
    for (const [i, concurrency] of concurrencies.entries()) {
      const names = limitNamespaces.slice(i * slice, (i + 1) * slice);
      if (names.length === 0) continue;
      const queue = new PQueue({ concurrency });
      const t0 = performance.now();
      await Promise.all(names.map((name) => queue.add(async () => {
        const desired = desiredObjects([baseline], { name, labels: {} });
        for (const object of desired.objects) {
          // The same objects, but not labelled as the operator's: it would rightly prune them.
          const unowned = { ...object, metadata: { ...object.metadata, labels: { 'bench-limit': run } } };
          await limitApi.patch(unowned as never, undefined, undefined, 'bench-limit', true, PatchStrategy.ServerSideApply);
        }
        // An annotation of the same size, naming no real baseline: the operator must not wait for it.
        await limitApi.patch({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: desired.namespaceLabels, annotations: { [APPLIED_ANNOTATION]: `{"limit-${run}":1}` } } },
          undefined, undefined, 'bench-limit', true, PatchStrategy.ServerSideApply);
      })));
      ratesPerConcurrency[String(concurrency)] = names.length / ((performance.now() - t0) / 1000);
    }
    const [bestConcurrency, bestRate] = Object.entries(ratesPerConcurrency).sort((a, b) => b[1] - a[1])[0] ?? ['0', 1];
    const limit = { seconds: N / bestRate, bestConcurrency: Number(bestConcurrency), ratesPerConcurrency };

    // 3. Steady state: restart over the compliant cluster.
    log('restart over the compliant cluster…');
    await operator.stop();
    mark = await auditMark(dir);
    begin = performance.now();
    operator = await startOperator(operatorKubeconfig);
    const totalNamespaces = (await client.list(NAMESPACES)).items.length;
    while (await operator.metric('security_baseline_reconcile_total', { controller: 'namespace' }) < totalNamespaces
      || await operator.metric('workqueue_depth', { name: 'namespaces' }) > 0) await sleep(100);
    const secondsUntilReady = (performance.now() - begin) / 1000;
    await sleep(2_500);
    const steadyState = { writes: (await auditedWrites(dir, mark, OPERATOR_USER)).length, secondsUntilReady };

    // 4. New namespaces at a steady rate: creation request → applied annotation seen on the watch.
    log(`${options.rate} new namespaces per second for ${options.seconds} s…`);
    const sentAt = new Map<string, number>();
    const provisioned = new Map<string, number>();
    const { resourceVersion } = await client.list(NAMESPACES, { labelSelector: `bench=${run}`, limit: 1 });
    const stopWatch = client.watch<KubeObject>(NAMESPACES, { resourceVersion, labelSelector: `bench=${run}`, timeoutSeconds: 600, inactivityMs: 600_000 }, (event) => {
      const name = event.object.metadata?.name;
      const sent = name ? sentAt.get(name) : undefined;
      if (sent !== undefined && !provisioned.has(name!) && event.object.metadata.annotations?.[APPLIED_ANNOTATION]?.includes(`"${BASELINE}"`)) {
        provisioned.set(name!, performance.now() - sent);
      }
    }, () => undefined);
    const total = Math.round(options.rate * options.seconds);
    const creations: Promise<unknown>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / options.rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const name = `new-${run}-${i}`;
      sentAt.set(name, performance.now());
      creations.push(client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: selector } }));
    }
    await Promise.all(creations);
    const deadline = performance.now() + 60_000;
    while (provisioned.size < total && performance.now() < deadline) await sleep(50);
    stopWatch();
    const latencies = [...provisioned.values()].map((ms) => ms / 1000);
    const provisioning = {
      rate: options.rate, count: provisioned.size,
      p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: Math.max(...latencies),
    };

    // 5. Drift: quotas edited at a steady rate; edit request → restored value seen on the watch.
    log(`${options.driftRate} managed objects edited per second for ${options.seconds} s…`);
    const editedAt = new Map<string, number>();
    const restored: number[] = [];
    const quotaList = await client.list(QUOTAS, { labelSelector: 'app.kubernetes.io/managed-by=security-baseline-operator', limit: 1 });
    const stopQuotaWatch = client.watch<KubeObject & { spec?: { hard?: Record<string, string> } }>(QUOTAS, {
      resourceVersion: quotaList.resourceVersion, labelSelector: 'app.kubernetes.io/managed-by=security-baseline-operator', timeoutSeconds: 600, inactivityMs: 600_000,
    }, (event) => {
      const key = `${event.object.metadata?.namespace}`;
      const edited = editedAt.get(key);
      if (edited !== undefined && event.object.spec?.hard?.pods === '4') {
        restored.push((performance.now() - edited) / 1000);
        editedAt.delete(key);
      }
    }, () => undefined);
    const edits = Math.round(options.driftRate * options.seconds);
    const t1 = performance.now();
    for (let i = 0; i < edits; i++) {
      const due = t1 + (i * 1000) / options.driftRate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const namespace = operatorNamespaces[(i * 7919) % N]!;
      editedAt.set(namespace, performance.now());
      await client.request('patch', (await import('@kubernetes/client-node')).HttpMethod.PATCH,
        `/api/v1/namespaces/${namespace}/resourcequotas/${BASELINE}-quota`, {
          query: { fieldManager: 'kubectl-edit' }, body: { spec: { hard: { pods: '999' } } }, contentType: 'application/merge-patch+json',
        });
    }
    const driftDeadline = performance.now() + 30_000;
    while (editedAt.size > 0 && performance.now() < driftDeadline) await sleep(50);
    stopQuotaWatch();
    const drift = { rate: options.driftRate, count: restored.length, p50: percentile(restored, 50), p99: percentile(restored, 99), max: Math.max(...restored) };

    await operator.stop();
    const cpu = cpus();
    return {
      machine: {
        cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.versions.node, kubernetes: controlPlane.versions.kubernetes,
      },
      baseline: BASELINE,
      newNamespaces: [...sentAt.keys()],
      namespaces: N,
      desiredObjectsPerNamespace: perNamespace,
      coldStart, limit, ratio: coldStart.seconds / limit.seconds, steadyState, provisioning, drift, memory,
    };
  } finally {
    await started?.stop();
  }
}

export function formatTable(result: BenchResult): string {
  const f = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
  const rows: [string, string, string][] = [
    ['cold start: all compliant', `${f(result.coldStart.seconds)} s`, `${result.namespaces} namespaces, ${result.desiredObjectsPerNamespace} objects each`],
    ['cold start: writes', `${result.coldStart.writes}`, `${f(result.coldStart.writesPerNamespace)}/namespace: ${result.coldStart.objectWrites} objects, ${result.coldStart.namespaceWrites} namespaces, ${result.coldStart.baselineWrites} baseline, ${result.coldStart.otherWrites} other`],
    reportRow(result.coldStart.reportWrites, result.namespaces),
    ['limit (plain client-node)', `${f(result.limit.seconds)} s`, `best concurrency ${result.limit.bestConcurrency}`],
    ['operator ÷ limit', f(result.ratio), 'target ≤ 1.25'],
    ['restart: writes', `${result.steadyState.writes}`, 'target 0'],
    ['restart: all reconciled', `${f(result.steadyState.secondsUntilReady)} s`, ''],
    ['new namespaces p50/p95/p99', `${f(result.provisioning.p50, 3)}/${f(result.provisioning.p95, 3)}/${f(result.provisioning.p99, 3)} s`, `${result.provisioning.count} at ${result.provisioning.rate}/s; target p99 ≤ 1 s`],
    ['drift restore p50/p99', `${f(result.drift.p50, 3)}/${f(result.drift.p99, 3)} s`, `${result.drift.count} edits at ${result.drift.rate}/s; target p99 ≤ 1 s`],
    ['memory: RSS / heap used', `${f(result.memory.rssMiB, 0)} / ${f(result.memory.heapUsedMiB, 0)} MiB`,
      `at ${result.namespaces} namespaces (heap total ${f(result.memory.heapTotalMiB, 0)}, external ${f(result.memory.externalMiB, 0)} MiB); target RSS ≤ 150 MiB at 10,000`],
  ];
  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  const m = result.machine;
  return [
    `security-baseline-operator benchmark — ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, Kubernetes ${m.kubernetes}`,
    ...rows.map(([a, b, c]) => `  ${a.padEnd(widths[0]!)}  ${b.padStart(widths[1]!)}  ${c}`),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const { values } = parseArgs({
    options: {
      namespaces: { type: 'string', default: '200' },
      rate: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '10' },
      'drift-rate': { type: 'string', default: '10' },
    },
  });
  const result = await runBench({
    namespaces: Number(values.namespaces), rate: Number(values.rate), seconds: Number(values.seconds), driftRate: Number(values['drift-rate']),
  });
  console.log(formatTable(result));
  const dir = path.join(root, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-n${result.namespaces}.json`);
  const { newNamespaces: _, ...recorded } = result;
  await writeFile(file, `${JSON.stringify(recorded, null, 2)}\n`);
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
  process.exit(0);
}
