// `make bench-ratio`: the operator's cold start ÷ the client-go limit, measured
// in pairs. `make bench` runs the two minutes apart, and on these shared
// machines the same client-go run over the same namespaces took from 9.6 to
// 15.9 s from one run to the next: its ratio moved with the machine (0.86–1.57
// over eight runs). Here a pair runs both back to back, each on a fresh
// control plane of its own holding only its N namespaces (created before the
// timed run; kube-controller-manager quiet before it and after), and the order
// alternates (the operator first in even pairs, client-go first in odd ones).
// Not both on one control plane: an operator starting after client-go finds
// client-go's namespaces there too and reconciles each of them (2,024
// reconciles instead of 1,101 over 1,000 namespaces), which `make bench`'s
// cold start, run first, never does. The figure is the median of the pairs'
// ratios.
//
// The limit is as in `make bench`: client-go (hack/limit) writing the
// operator's objects, the namespace's labels and annotation and a Report like
// the operator's, at the best concurrency of a sweep (on a control plane of its
// own, first; no operator has written a Report there, so the sweep writes
// none), timed from its first request to its last response. The
// operator's cold start is timed as in `make bench` (coldstart.ts). For each
// run, the writer's own CPU and the API server's and etcd's, per namespace,
// from its start until kube-controller-manager is quiet again.
//
//   node bench/ratio.ts [--namespaces N] [--pairs P] [--concurrency C]
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { SecurityBaseline } from '../src/api/types.ts';
import { BASELINES, REPORTS } from '../src/controller/kinds.ts';
import { REPORT_NAME } from '../src/resources/report.ts';
import { KubeApiError } from '../src/runtime/errors.ts';
import type { KubeObject, KubeObjectBody } from '../src/runtime/kube.ts';
import { startControlPlane } from '../hack/kube/controlplane.ts';
import { BENCH_CONTROL_PLANE, benchSpec, controlPlaneCpu, controlPlaneCpuSince, LIMIT_SWEEP_NAMESPACES_MAX, machine, prepareApi, type Machine } from './bench.ts';
import { timeColdStart } from './coldstart.ts';
import { createNamespaces, median, openCluster, untilControllerManagerIdle, type BenchCluster, type BenchControlPlane } from './cluster.ts';
import { goSweep, goWrites } from './limit.ts';
import { buildOperator } from './operator.ts';
import { writeResult } from './results.ts';

const OPERATOR_USER = 'bench-operator';
const LIMIT_USER = 'bench-limit';

export interface RatioRun {
  readonly seconds: number;
  /** The writer's own CPU per namespace, ms. */
  readonly writerMs: number;
  /** Per namespace, ms, from the run's start until kube-controller-manager was quiet again (absent on a borrowed control plane). */
  readonly apiServerMs?: number;
  readonly etcdMs?: number;
}

export interface RatioPair {
  readonly order: readonly ('operator' | 'limit')[];
  readonly operator: RatioRun & { readonly firstWriteSeconds: number; readonly writesPerNamespace: number };
  readonly limit: RatioRun;
  /** operator.seconds ÷ limit.seconds */
  readonly ratio: number;
}

export interface RatioResult {
  /** Names the run's baselines (`<run>-<pair>`) and namespaces (`<run>-<pair>-op-<i>`, `<run>-<pair>-go-<i>`). */
  readonly run: string;
  readonly machine: Machine;
  readonly namespaces: number;
  /** The client-go writer's concurrency in every pair: the sweep's best, or as given. */
  readonly concurrency: number;
  /** Namespaces per second at each concurrency of the sweep, when there was one. */
  readonly sweep?: Record<string, number>;
  readonly pairs: RatioPair[];
  /** The median of the pairs' ratios (with an even number of pairs, the mean of the middle two). */
  readonly medianRatio: number;
}

export interface RatioOptions {
  readonly namespaces: number;
  readonly pairs: number;
  /** Skips the sweep. */
  readonly concurrency?: number;
  /** Every run (and the sweep) on this control plane, not on fresh ones: the smoke test's. */
  readonly controlPlane?: BenchControlPlane;
  readonly log?: (line: string) => void;
}

/** A control plane for one step: a fresh one (stopped after), or the one given. */
async function withControlPlane<T>(given: BenchControlPlane | undefined, step: (cluster: BenchCluster) => Promise<T>): Promise<T> {
  const started = given ? undefined : await startControlPlane(BENCH_CONTROL_PLANE);
  try {
    const cluster = openCluster(given ?? started!);
    await prepareApi(cluster);
    return await step(cluster);
  } finally {
    await started?.stop();
  }
}

function baselineFor(name: string): SecurityBaseline {
  return {
    apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name },
    spec: { ...benchSpec, namespaceSelector: { matchLabels: { 'bench-ratio': name } } },
  };
}

export async function runRatio(options: RatioOptions): Promise<RatioResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const N = options.namespaces;
  const run = `ratio-${Date.now().toString(36)}`;
  const main = await buildOperator();
  let kubernetes = options.controlPlane?.versions.kubernetes ?? 'unknown';
  const perNamespace = (seconds: number | undefined) => (seconds === undefined ? undefined : (seconds * 1000) / N);
  let concurrency = options.concurrency;
  let sweep: Record<string, number> | undefined;
  if (concurrency === undefined) {
    const size = Math.min(N, LIMIT_SWEEP_NAMESPACES_MAX);
    log(`the client-go sweep over ${size} namespaces…`);
    const found = await withControlPlane(options.controlPlane, async (cluster) => {
      const names = Array.from({ length: size }, (_, i) => `${run}-sweep-${i}`);
      await createNamespaces(cluster.client, names, () => ({ 'bench-limit': run }));
      await untilControllerManagerIdle(cluster);
      return goSweep(await cluster.kubeconfigFor(LIMIT_USER), cluster.controlPlane.dir, baselineFor(run), names, run, N);
    });
    concurrency = found.bestConcurrency;
    sweep = found.ratesPerConcurrency;
  }
  const pairs: RatioPair[] = [];
  let report: KubeObjectBody | undefined;
  for (let index = 0; index < options.pairs; index++) {
    // The operator first in the first pair: the limit writes a Report like the one it wrote.
    const order = index % 2 === 0 ? ['operator', 'limit'] as const : ['limit', 'operator'] as const;
    log(`pair ${index + 1} of ${options.pairs} (${order.join(', then ')}) over ${N} namespaces each…`);
    const name = `${run}-${index}`;
    const baseline = baselineFor(name);
    const runs: { operator?: RatioRun; limit?: RatioRun } = {};
    let firstWrite = { firstWriteSeconds: NaN, writesPerNamespace: NaN };
    for (const writer of order) {
      await withControlPlane(options.controlPlane, async (cluster) => {
        kubernetes = cluster.controlPlane.versions.kubernetes;
        const names = Array.from({ length: N }, (_, i) => `${name}-${writer === 'operator' ? 'op' : 'go'}-${i}`);
        const labels: Record<string, string> = writer === 'operator' ? { 'bench-ratio': name } : { 'bench-limit': run };
        await createNamespaces(cluster.client, names, () => labels);
        // On client-go's control plane too, selecting none of its namespaces: the admission policies installed
        // with the CRDs take the baselines as parameters and judge nothing while there are none, which made
        // client-go's writes cost the API server less (32–34 ms of CPU per namespace, against a median of 38 with it).
        await cluster.client.create(BASELINES, baseline as unknown as KubeObject & Record<string, unknown>)
          .catch((error: unknown) => { if (!(options.controlPlane && error instanceof KubeApiError && error.status === 409)) throw error; }); // a borrowed control plane has it from the pair's first run
        const kubeconfig = await cluster.kubeconfigFor(writer === 'operator' ? OPERATOR_USER : LIMIT_USER);
        await untilControllerManagerIdle(cluster);
        const before = await controlPlaneCpu(cluster);
        let timed: { seconds: number; writerCpuSeconds: number };
        if (writer === 'operator') {
          const cold = await timeColdStart(cluster, main, kubeconfig, OPERATOR_USER, name, N);
          timed = { seconds: cold.seconds, writerCpuSeconds: await cold.operator.metric('process_cpu_seconds_total') };
          report ??= await cluster.client.get<KubeObjectBody>(REPORTS, REPORT_NAME, names[0]);
          await cold.operator.stop();
          firstWrite = { firstWriteSeconds: cold.firstWriteSeconds, writesPerNamespace: cold.writes.length / N };
        } else {
          const go = await goWrites(kubeconfig, path.join(cluster.controlPlane.dir, `${name}-limit.jsonl`), baseline, names, run, [concurrency], report);
          timed = { seconds: N / (go.rates[String(concurrency)] ?? NaN), writerCpuSeconds: go.cpuSeconds };
        }
        await untilControllerManagerIdle(cluster);
        const { apiServerCpuSeconds, etcdCpuSeconds } = await controlPlaneCpuSince(cluster, before);
        runs[writer] = {
          seconds: timed.seconds, writerMs: (timed.writerCpuSeconds * 1000) / N,
          apiServerMs: perNamespace(apiServerCpuSeconds), etcdMs: perNamespace(etcdCpuSeconds),
        };
      });
    }
    const operator = { ...runs.operator as RatioRun, ...firstWrite };
    const limit = runs.limit as RatioRun;
    const pair = { order, operator, limit, ratio: operator.seconds / limit.seconds };
    log(`  ${formatPair(pair)}`);
    pairs.push(pair);
  }
  return {
    machine: machine(kubernetes),
    run, namespaces: N, concurrency, sweep, pairs,
    medianRatio: median(pairs.map((p) => p.ratio)),
  };
}

const f = (value: number | undefined, digits = 1) => (value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits));

function formatPair({ operator, limit, ratio }: RatioPair): string {
  return `operator ${f(operator.seconds, 2)} s (first write ${f(operator.firstWriteSeconds, 2)} s; CPU ms/namespace: own ${f(operator.writerMs)}, API server ${f(operator.apiServerMs)}, etcd ${f(operator.etcdMs)}), `
    + `client-go ${f(limit.seconds, 2)} s (own ${f(limit.writerMs)}, API server ${f(limit.apiServerMs)}, etcd ${f(limit.etcdMs)}): ratio ${f(ratio, 2)}`;
}

export function formatRatio(result: RatioResult): string {
  const ratios = result.pairs.map((p) => p.ratio);
  return [
    `operator cold start ÷ client-go limit, ${result.pairs.length} pairs over ${result.namespaces} namespaces each, client-go at concurrency ${result.concurrency}`,
    ...result.pairs.map((pair, i) => `  pair ${i + 1} (${pair.order.join(' first, then ')}): ${formatPair(pair)}`),
    `  median ratio ${f(result.medianRatio, 2)} (${f(Math.min(...ratios), 2)}–${f(Math.max(...ratios), 2)}); target ≤ 1.25`,
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const { values } = parseArgs({ options: { namespaces: { type: 'string', default: '1000' }, pairs: { type: 'string', default: '4' }, concurrency: { type: 'string' } } });
  const result = await runRatio({
    namespaces: Number(values.namespaces), pairs: Number(values.pairs),
    concurrency: values.concurrency === undefined ? undefined : Number(values.concurrency),
  });
  console.log(formatRatio(result));
  await writeResult(`ratio-n${result.namespaces}`, result);
  process.exit(0);
}
