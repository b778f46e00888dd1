// `make bench-attribution`: what the operator's cold start costs more than the
// client-go limit, taken apart on one control plane, each over N fresh
// namespaces, kube-controller-manager quiet before each:
//
//   operator    the operator's cold start (as in `make bench`)
//   limit       client-go: the same objects, and a Report like the operator's
//   limit+cpu   the same, next to a process that burns as much CPU a second as
//               the operator did: what the operator's own CPU alone costs
//   no-report   client-go without the Report: what the Report costs
//
// The client-go writers take turns, `rounds` times (this machine's runs vary by
// a fifth from one to the next). For each run: the time, and the API server's,
// etcd's and kube-controller-manager's CPU per namespace until the controller
// manager is quiet again. The burner
// stands in for nothing but CPU: if limit+cpu takes as long as the operator, the
// operator's excess is its CPU, not what it asks of the API server.
//
//   node bench/attribution.ts [--namespaces N] [--rounds R]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { SecurityBaseline } from '../src/api/types.ts';
import { BASELINES, REPORTS } from '../src/controller/kinds.ts';
import { REPORT_NAME } from '../src/resources/report.ts';
import type { KubeObject, KubeObjectBody } from '../src/runtime/kube.ts';
import { startControlPlane } from '../hack/kube/controlplane.ts';
import { BENCH_CONTROL_PLANE, benchSpec, prepareApi } from './bench.ts';
import { createNamespaces, openCluster, percentile, until, untilControllerManagerIdle, type BenchControlPlane } from './cluster.ts';
import { goWrites } from './limit.ts';
import { buildOperator, startOperator } from './operator.ts';
import { writeResult } from './results.ts';

const CONCURRENCY = 128;

export interface AttributionRun {
  readonly writer: 'operator' | 'limit' | 'limit+cpu' | 'no-report';
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

/** A process busy `share` of every 100 ms, as the operator was over its cold start. */
function burner(share: number): { stop: () => Promise<number> } {
  const busyMs = Math.round(Math.min(1, share) * 100);
  const child = spawn(process.execPath, ['-e', `const pause = new Int32Array(new SharedArrayBuffer(4));
    for (;;) { const t = Date.now(); while (Date.now() - t < ${busyMs}); Atomics.wait(pause, 0, 0, ${100 - busyMs}); }`], { stdio: 'ignore' });
  const began = performance.now();
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      return (performance.now() - began) / 1000 * Math.min(1, share);
    },
  };
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
    const clientGo = ['limit', 'limit+cpu', 'no-report'] as const;
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
        const burning = writer === 'limit+cpu' ? burner(operatorCpuShare) : undefined;
        const input = path.join(cluster.controlPlane.dir, `${run}-${turn}.jsonl`);
        const go = await goWrites(limitKubeconfig, input, baseline, names[turn]!, run, [CONCURRENCY], writer === 'no-report' ? undefined : report);
        writerSeconds = burning ? await burning.stop() : go.cpuSeconds;
      }
      const seconds = (performance.now() - began) / 1000;
      if (writer === 'operator') operatorCpuShare = writerSeconds / seconds;
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

function median(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  return known.length === 0 ? undefined : percentile(known, 50);
}

/** Each run in order, then the median of each writer's runs; ÷ limit against the limit's median. */
export function formatAttribution(result: AttributionResult): string {
  const f = (value: number | undefined, digits = 1) => (value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits));
  const writers = [...new Set(result.runs.map((r) => r.writer))];
  const medians = writers.map((writer): AttributionRun => {
    const runs = result.runs.filter((r) => r.writer === writer);
    const of = (field: keyof Omit<AttributionRun, 'writer'>) => median(runs.map((r) => r[field]));
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
