// The limit the operator's cold start is measured against: the same writes
// (each namespace's objects and its namespace apply, from the operator's own
// builders, and its compliance Report when the operator writes one) made by
// raw writers with no operator logic.
//
//  - client-go (hack/limit): the client Go operators use; HTTP/2 over one
//    connection pool, no client rate limit, pre-encoded bodies. A concurrency
//    sweep finds its best concurrency; then one run at that concurrency over
//    fresh namespaces is timed, start to last response. This is the limit.
//  - client-node as shipped, through p-queue: a second row (it makes a new
//    connection, and TLS handshake, per request).
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { APPLIED_ANNOTATION } from '../src/api/constants.ts';
import type { SecurityBaseline } from '../src/api/types.ts';
import { managedKind, NAMESPACES, REPORTS } from '../src/controller/kinds.ts';
import { desiredObjects } from '../src/resources/index.ts';
import { resourcePath, type KubeObjectBody } from '../src/runtime/kube.ts';
import { processCpuSeconds } from '../hack/kube/controlplane.ts';
import { provisioningRun, type ProvisioningRun } from './cluster.ts';
import { root } from './operator.ts';

export interface LimitRun {
  /** Namespaces the timed run wrote (client-node: the sweep's, split among its concurrency levels). */
  readonly namespaces: number;
  /** N namespaces at the timed run's rate (client-node: at the sweep's best rate). */
  readonly seconds: number;
  readonly bestConcurrency: number;
  /** Namespaces per second at each concurrency level of the sweep. */
  readonly ratesPerConcurrency: Record<string, number>;
  /**
   * client-go: namespaces the sweep wrote, and N at its best slice's rate (how
   * the limit was timed before the timed run; kept to compare). A slice's
   * writes leave work behind them (kube-controller-manager's quota statuses)
   * that lands in the next slice's window, or after the last slice in none:
   * the fastest slice, most often the last, runs faster than a whole run can.
   */
  readonly sweepNamespaces?: number;
  readonly sweepSeconds?: number;
  /** Writes per namespace: its objects, the namespace, and its Report when the operator wrote one. */
  readonly writesPerNamespace: number;
  /** The writer's own CPU over the timed run (client-go: the Go program's; not measured for client-node, which runs in the benchmark's process). */
  readonly clientCpuSeconds?: number;
  /** The API server's and etcd's CPU during the timed run (where the benchmark started the control plane). */
  readonly apiServerCpuSeconds?: number;
  readonly etcdCpuSeconds?: number;
}

interface Write {
  readonly path: string;
  readonly body: KubeObjectBody;
  /** `create`: a POST to `path` (a collection), as the operator creates a Report; otherwise a server-side apply to `path`. */
  readonly method?: 'create';
}

/** One namespace's writes, in the order the operator makes them. */
interface NamespacePlan {
  /** The baseline's objects: written together. */
  readonly objects: Write[];
  /** The namespace's labels and annotation: after the objects, the moment it counts as provisioned. */
  readonly settle: Write;
  /** Its Report, when the operator wrote one. */
  readonly after: Write[];
}

/**
 * One namespace's writes: the baseline's objects, labelled as the limit's (the
 * operator would rightly prune objects that say they are its own in a
 * namespace its baseline does not select), then the namespace's Pod Security
 * labels and an `applied` annotation of the same size naming `limit-<run>`, a
 * baseline that does not exist (naming the real one would hold its deletion
 * back: the operator waits for namespaces whose annotation names it), then,
 * given a Report the operator wrote, one with the same content in this
 * namespace, created (not applied) as the operator creates one per namespace.
 */
function namespacePlan(baseline: SecurityBaseline, namespace: string, run: string, report?: KubeObjectBody): NamespacePlan {
  const desired = desiredObjects([baseline], { name: namespace, labels: {} });
  const objects: Write[] = [];
  for (const object of desired.objects) {
    const type = managedKind(object.apiVersion, object.kind);
    if (!type) continue;
    objects.push({
      path: resourcePath(type, namespace, object.metadata.name),
      body: { ...object, metadata: { ...object.metadata, labels: { 'bench-limit': run } } },
    });
  }
  const settle = {
    path: resourcePath(NAMESPACES, undefined, namespace),
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: desired.namespaceLabels, annotations: { [APPLIED_ANNOTATION]: `{"limit-${run}":1}` } } },
  };
  const after: Write[] = [];
  if (report) {
    const { metadata, scope, ...content } = report;
    after.push({
      path: resourcePath(REPORTS, namespace), method: 'create',
      body: { ...content, metadata: { name: metadata.name, namespace, labels: { 'bench-limit': run } }, scope: { ...scope as object, name: namespace, uid: undefined } },
    });
  }
  return { objects, settle, after };
}

/** One namespace's writes as one list, in order (see namespacePlan). */
export function limitWrites(baseline: SecurityBaseline, namespace: string, run: string, report?: KubeObjectBody): Write[] {
  const { objects, settle, after } = namespacePlan(baseline, namespace, run, report);
  return [...objects, settle, ...after];
}

function best(namespaces: number, ratesPerConcurrency: Record<string, number>, total: number, writesPerNamespace: number): LimitRun {
  const [bestConcurrency, bestRate] = Object.entries(ratesPerConcurrency).sort((a, b) => b[1] - a[1])[0] ?? ['0', 1];
  return { namespaces, seconds: total / bestRate, bestConcurrency: Number(bestConcurrency), ratesPerConcurrency, writesPerNamespace };
}

export const GO_CONCURRENCY = [8, 16, 32, 64, 128, 256];
export const CLIENT_NODE_CONCURRENCY = [8, 16, 32, 64];

/** Builds hack/limit when missing, runs it with `args`, and returns what it printed and the CPU it used (not the build's). */
async function runLimitProgram(args: string[]): Promise<{ stdout: string; cpuSeconds: number }> {
  const { stdout: built } = await promisify(execFile)(path.join(root, 'hack/limit/build.sh'));
  // The program is this process's only child while it runs: the children's CPU /proc counts is its CPU.
  const childrenCpuBefore = await processCpuSeconds('self', { children: true });
  const { stdout } = await promisify(execFile)(built.trim(), [...args, '-field-manager', 'bench-limit'], { maxBuffer: 16 << 20 });
  return { stdout, cpuSeconds: await processCpuSeconds('self', { children: true }) - childrenCpuBefore };
}

/** Runs the client-go writer over `names` at each of `concurrency`, one slice each; returns the namespaces per second of each. */
export async function goWrites(kubeconfig: string, input: string, baseline: SecurityBaseline, names: string[], run: string, concurrency: number[], report?: KubeObjectBody): Promise<{ rates: Record<string, number>; cpuSeconds: number }> {
  await writeFile(input, names.map((namespace) => JSON.stringify({ namespace, writes: limitWrites(baseline, namespace, run, report) })).join('\n'));
  const { stdout, cpuSeconds } = await runLimitProgram(['-kubeconfig', kubeconfig, '-input', input, '-concurrency', concurrency.join(',')]);
  return { rates: (JSON.parse(stdout) as { rates: Record<string, number> }).rates, cpuSeconds };
}

/** The client-go sweep over `names`: the rate of each concurrency level, and the best. */
export async function goSweep(kubeconfig: string, dir: string, baseline: SecurityBaseline, names: string[], run: string, total: number, report?: KubeObjectBody): Promise<LimitRun> {
  const { rates } = await goWrites(kubeconfig, path.join(dir, `limit-sweep-${run}.jsonl`), baseline, names, run, GO_CONCURRENCY, report);
  return best(names.length, rates, total, limitWrites(baseline, 'x', run, report).length);
}

/**
 * The limit: the client-go writer over `names` at the sweep's best
 * concurrency, one run timed from its first request to its last response;
 * `total` namespaces take total ÷ its rate.
 */
export async function goLimit(kubeconfig: string, dir: string, baseline: SecurityBaseline, names: string[], run: string, total: number, sweep: LimitRun, report?: KubeObjectBody): Promise<LimitRun> {
  const { rates, cpuSeconds } = await goWrites(kubeconfig, path.join(dir, `limit-${run}.jsonl`), baseline, names, run, [sweep.bestConcurrency], report);
  const rate = rates[String(sweep.bestConcurrency)] ?? NaN;
  return {
    ...sweep, namespaces: names.length, seconds: total / rate, clientCpuSeconds: cpuSeconds,
    sweepNamespaces: sweep.namespaces, sweepSeconds: sweep.seconds,
  };
}

/**
 * The limit of provisioning latency: client-go creates `rate` namespaces a
 * second for `seconds` and provisions each as the operator does, with no watch
 * and no controller between the steps (hack/limit, -provision-rate). Latency:
 * from the create request to the response of the namespace's labels and
 * annotation, written after its objects.
 */
export async function goProvisioningLimit(kubeconfig: string, dir: string, baseline: SecurityBaseline, run: string, rate: number, seconds: number, report?: KubeObjectBody): Promise<ProvisioningRun> {
  const names = Array.from({ length: Math.round(rate * seconds) }, (_, i) => `limit-new-${run}-${rate}-${i}`);
  const input = path.join(dir, `limit-provision-${run}-${rate}.jsonl`);
  await writeFile(input, names.map((namespace) => JSON.stringify({
    namespace,
    create: { path: resourcePath(NAMESPACES), body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'bench-limit': run } } } },
    ...namespacePlan(baseline, namespace, run, report),
  })).join('\n'));
  const { stdout } = await runLimitProgram(['-kubeconfig', kubeconfig, '-input', input, '-provision-rate', String(rate)]);
  const { latencies } = JSON.parse(stdout) as { latencies: number[] };
  return provisioningRun(rate, latencies);
}

/** The client-node writer over `names`, one slice per concurrency level; namespaces are written one request at a time each. */
export async function clientNodeLimit(kubeconfig: string, baseline: SecurityBaseline, names: string[], run: string, total: number, report?: KubeObjectBody): Promise<LimitRun> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  const api = KubernetesObjectApi.makeApiClient(config);
  const slice = Math.ceil(names.length / CLIENT_NODE_CONCURRENCY.length);
  const rates: Record<string, number> = {};
  for (const [i, concurrency] of CLIENT_NODE_CONCURRENCY.entries()) {
    const part = names.slice(i * slice, (i + 1) * slice);
    if (part.length === 0) continue;
    const queue = new PQueue({ concurrency });
    const t0 = performance.now();
    await Promise.all(part.map((namespace) => queue.add(async () => {
      for (const { body, method } of limitWrites(baseline, namespace, run, report)) {
        if (method === 'create') await api.create(body as never, undefined, undefined, 'bench-limit');
        else await api.patch(body as never, undefined, undefined, 'bench-limit', true, PatchStrategy.ServerSideApply);
      }
    })));
    rates[String(concurrency)] = part.length / ((performance.now() - t0) / 1000);
  }
  return best(names.length, rates, total, limitWrites(baseline, 'x', run, report).length);
}
