// `make bench-attribution`: what the operator's cold start costs more than the
// client-go limit, taken apart on one control plane, each over N fresh
// namespaces, kube-controller-manager quiet before each:
//
//   operator    the operator's cold start (as in `make bench`)
//   limit       client-go: the same objects, and a Report like the operator's
//   limit+cpu   the same, next to a process that burns as much CPU a second as
//               the operator did: what the operator's own CPU alone costs
//   limit+gc    the same, next to a Node.js process that uses as much CPU and
//               allocates as much a second as the operator did, keeping a few
//               thousand recent objects alive as its requests in flight do:
//               whether a neighbour with a garbage collector costs the API server
//               more than a busy loop of the same CPU (docs/performance.md: not measurably)
//   no-report   client-go without the Report: what the Report costs
//
// The client-go writers take turns, `rounds` times (this machine's runs vary by
// a fifth from one to the next). For each run: the time, and the API server's,
// etcd's and kube-controller-manager's CPU per namespace until the controller
// manager is quiet again. The burner
// stands in for nothing but CPU: if limit+cpu takes as long as the operator, the
// operator's excess is its CPU, not what it asks of the API server. A burner
// keeps its share for as long as client-go runs, so the more it slows client-go
// the more CPU per namespace it uses: compare the API server's CPU too.
//
//   node bench/attribution.ts [--namespaces N] [--rounds R]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { SecurityBaseline } from '../src/api/types.ts';
import { BASELINES, REPORTS } from '../src/controller/kinds.ts';
import { REPORT_NAME } from '../src/resources/report.ts';
import type { KubeObject, KubeObjectBody } from '../src/runtime/kube.ts';
import { processCpuSeconds, startControlPlane } from '../hack/kube/controlplane.ts';
import { BENCH_CONTROL_PLANE, benchSpec, prepareApi } from './bench.ts';
import { createNamespaces, median, openCluster, until, untilControllerManagerIdle, type BenchControlPlane } from './cluster.ts';
import { goWrites } from './limit.ts';
import { buildOperator, deployedRuntimeSettings, startOperator } from './operator.ts';
import { writeResult } from './results.ts';

const CONCURRENCY = 128;
/**
 * What the operator allocates per namespace of a cold start, the collector's garbage
 * included: 643 MiB over 1,000 namespaces in a sampling allocation profile of one
 * (`BENCH_HEAP_PROFILE`, 2026-12-01). limit+gc allocates at this rate.
 */
const OPERATOR_ALLOCATED_BYTES_PER_NAMESPACE = 0.64 * 1024 * 1024;

export interface AttributionRun {
  readonly writer: 'operator' | 'limit' | 'limit+cpu' | 'limit+gc' | 'no-report';
  readonly seconds: number;
  /** CPU per namespace, ms, until kube-controller-manager was quiet again (absent where the control plane is not this run's). */
  readonly apiServerMs?: number;
  readonly etcdMs?: number;
  readonly controllerManagerMs?: number;
  /** The writer's own CPU per namespace, ms (the burner's for limit+cpu). */
  readonly writerMs?: number;
}

export interface AttributionResult {
  readonly namespaces: number;
  readonly rounds: number;
  readonly runs: AttributionRun[];
}

/** Stops a burner; resolves with the CPU seconds it used. */
interface Burner {
  stop(): Promise<number>;
}

function startBurner(script: string, nodeOptions = ''): Burner {
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: nodeOptions } });
  return {
    stop: async () => {
      // Read while it runs: a burner that died early shows as the little CPU it used.
      if (child.exitCode !== null || child.signalCode !== null) return 0;
      const used = await processCpuSeconds(child.pid!);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      return used;
    },
  };
}

/**
 * The script of a burner: in every 100 ms, `work()` until the process has used
 * `share` of them in CPU (all its threads, the collector's included, by
 * process.cpuUsage, not by the clock: a process the scheduler holds back would
 * otherwise count the time it waited as burnt), then idle for the rest.
 */
function burnerScript(share: number, setup: string, work: string): string {
  const busyMs = Math.min(1, share) * 100;
  return `const pause = new Int32Array(new SharedArrayBuffer(4));
    const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
    ${setup}
    for (;;) {
      const t = Date.now(), c = cpuMs();
      while (cpuMs() - c < ${busyMs} && Date.now() - t < 100) { ${work} }
      const rest = 100 - (Date.now() - t);
      if (rest > 0) Atomics.wait(pause, 0, 0, rest);
    }`;
}

/** A process using `share` of a CPU, as the operator did over its cold start, in a loop that allocates nothing. */
function burner(share: number): Burner {
  return startBurner(burnerScript(share, '', ''));
}

/**
 * The same CPU as `burner`, spent allocating `bytesPerSecond` (the operator's rate
 * over its cold start) as parsed JSON objects the size of a managed object, each
 * kept in a ring of 4,096 until its place comes round again (young garbage and old
 * alike), under the operator's own heap settings; once a cycle's bytes are
 * allocated, the rest of its CPU in a loop.
 */
function allocatingBurner(share: number, bytesPerSecond: number, nodeOptions: string): Burner {
  return startBurner(burnerScript(share, `
    const text = JSON.stringify({ metadata: { name: 'x', namespace: 'y', labels: { a: 'b' }, managedFields: Array.from({ length: 8 }, (_, i) => ({ manager: 'm' + i, fieldsV1: { ['f:spec']: { ['f:rules']: { ['k:' + i]: {} } } } })) },
      spec: { rules: Array.from({ length: 12 }, (_, i) => ({ from: [{ namespaceSelector: { matchLabels: { ['k' + i]: 'v' } } }], ports: [{ port: i, protocol: 'TCP' }] })) } });
    const ring = new Array(4096); let next = 0, made = 0, cycle = 0;
    const perCycle = Math.max(1, Math.round(${bytesPerSecond} / 10 / (text.length * 2)));`, `
      const now = Math.floor(Date.now() / 100);
      if (now !== cycle) { cycle = now; made = 0; }
      if (made < perCycle) { ring[next] = JSON.parse(text); next = (next + 1) % ring.length; made++; }`), nodeOptions);
}

export async function runAttribution(namespaces: number, rounds: number, controlPlane?: BenchControlPlane): Promise<AttributionResult> {
  const started = controlPlane ? undefined : await startControlPlane(BENCH_CONTROL_PLANE);
  try {
    const cluster = openCluster(controlPlane ?? started!);
    const { cpuSeconds } = cluster.controlPlane;
    await prepareApi(cluster);
    const run = `attr-${Date.now().toString(36)}`;
    const baseline = {
      apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name: run },
      spec: { ...benchSpec, namespaceSelector: { matchLabels: { 'bench-attribution': run } } },
    } as SecurityBaseline;
    await cluster.client.create(BASELINES, baseline as unknown as KubeObject & Record<string, unknown>);
    const clientGo = ['limit', 'limit+cpu', 'limit+gc', 'no-report'] as const;
    const writers = ['operator' as const, ...Array.from({ length: rounds }, () => clientGo).flat()];
    // Namespaces `<run>-<turn>-<i>`: the operator's are turn 0.
    const names = writers.map((_, turn) => Array.from({ length: namespaces }, (_, i) => `${run}-${turn}-${i}`));
    await createNamespaces(cluster.client, names[0]!, () => ({ 'bench-attribution': run }));
    await createNamespaces(cluster.client, names.slice(1).flat(), () => ({ 'bench-limit': run }));
    const main = await buildOperator();
    const limitKubeconfig = await cluster.kubeconfigFor('bench-limit');
    const cpu = async () => cpuSeconds && {
      api: await cpuSeconds('kube-apiserver'), etcd: await cpuSeconds('etcd'), kcm: await cpuSeconds('kube-controller-manager'),
    };
    const runs: AttributionRun[] = [];
    let report: KubeObjectBody | undefined;
    let operatorCpuShare = 0;
    let operatorSeconds = 0;
    const { NODE_OPTIONS: operatorNodeOptions = '' } = await deployedRuntimeSettings();
    for (const [turn, writer] of writers.entries()) {
      await untilControllerManagerIdle(cluster);
      const before = await cpu();
      const began = performance.now();
      let writerSeconds: number;
      if (writer === 'operator') {
        const operator = await startOperator(main, await cluster.kubeconfigFor('bench-operator'));
        await until('the cold start', async () => await operator.metric('security_baseline_namespaces', { baseline: run, state: 'compliant' }) >= namespaces, 3_600_000, 250);
        writerSeconds = await operator.metric('process_cpu_seconds_total');
        await operator.stop();
        report = await cluster.client.get<KubeObjectBody>(REPORTS, REPORT_NAME, names[0]![0]!);
      } else {
        const burning = writer === 'limit+cpu' ? burner(operatorCpuShare)
          : writer === 'limit+gc' ? allocatingBurner(operatorCpuShare, OPERATOR_ALLOCATED_BYTES_PER_NAMESPACE * namespaces / operatorSeconds, operatorNodeOptions)
            : undefined;
        const input = path.join(cluster.controlPlane.dir, `${run}-${turn}.jsonl`);
        const go = await goWrites(limitKubeconfig, input, baseline, names[turn]!, run, [CONCURRENCY], writer === 'no-report' ? undefined : report);
        writerSeconds = burning ? await burning.stop() : go.cpuSeconds;
      }
      const seconds = (performance.now() - began) / 1000;
      if (writer === 'operator') {
        operatorCpuShare = writerSeconds / seconds;
        operatorSeconds = seconds;
      }
      await untilControllerManagerIdle(cluster);
      const after = await cpu();
      const perNamespace = (from?: number, to?: number) => (from === undefined || to === undefined ? undefined : ((to - from) * 1000) / namespaces);
      runs.push({
        writer, seconds, writerMs: (writerSeconds * 1000) / namespaces,
        apiServerMs: perNamespace(before?.api, after?.api), etcdMs: perNamespace(before?.etcd, after?.etcd), controllerManagerMs: perNamespace(before?.kcm, after?.kcm),
      });
    }
    return { namespaces, rounds, runs };
  } finally {
    await started?.stop();
  }
}

/** The median of the rounds that measured a value (the mean of the middle two for an even count). */
function medianOfKnown(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : median(known);
}

/** Each run in order, then the median of each writer's runs; ÷ limit against the limit's median. */
export function formatAttribution(result: AttributionResult): string {
  const f = (value: number | undefined, digits = 1) => (value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits));
  const writers = [...new Set(result.runs.map((r) => r.writer))];
  const medians = writers.map((writer): AttributionRun => {
    const runs = result.runs.filter((r) => r.writer === writer);
    const of = (field: keyof Omit<AttributionRun, 'writer'>) => medianOfKnown(runs.map((r) => r[field]));
    return { writer, seconds: of('seconds') ?? NaN, writerMs: of('writerMs'), apiServerMs: of('apiServerMs'), etcdMs: of('etcdMs'), controllerManagerMs: of('controllerManagerMs') };
  });
  const limitSeconds = medians.find((r) => r.writer === 'limit')?.seconds;
  const row = (label: string, r: AttributionRun) => `${label.padEnd(17)} ${f(r.seconds, 2).padStart(8)} ${f(limitSeconds ? r.seconds / limitSeconds : undefined, 2).padStart(8)} `
    + `${f(r.writerMs).padStart(7)} ${f(r.apiServerMs).padStart(6)} ${f(r.etcdMs).padStart(6)} ${f(r.controllerManagerMs).padStart(6)}`;
  return [
    `over ${result.namespaces} namespaces each, client-go writers ${result.rounds} times in turn; CPU in ms per namespace`,
    `${'writer'.padEnd(17)} ${'seconds'.padStart(8)} ${'÷ limit'.padStart(8)} ${'writer'.padStart(7)} ${'API'.padStart(6)} ${'etcd'.padStart(6)} ${'KCM'.padStart(6)}`,
    ...result.runs.map((r) => row(r.writer, r)),
    ...medians.map((r) => row(`median ${r.writer}`, r)),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const { values } = parseArgs({ options: { namespaces: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '3' } } });
  const result = await runAttribution(Number(values.namespaces), Number(values.rounds));
  console.log(formatAttribution(result));
  await writeResult(`attribution-n${result.namespaces}`, result);
  process.exit(0);
}
