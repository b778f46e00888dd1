// What the fault, load and soak tests (test/chaos/) share: the operator as its
// own process (killable, restartable, talking to any server — the API server
// or a fault proxy in front of it), a cluster to point it at (the shared test
// control plane or one a test starts with its own flags), the exact census of
// managed objects, and the record of measured outcomes that make chaos / make
// soak print as a table and keep as JSON (see reporter.js).
//
// SBO_CHAOS=long selects the long versions (make chaos, make soak); anything
// else the short ones that make test runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HttpMethod, KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { APPLIED_ANNOTATION, BASELINE_LABEL, MANAGED_SELECTOR } from '../../src/api/constants.ts';
import type { SecurityBaseline, SecurityBaselineSpec } from '../../src/api/types.ts';
import { BASELINES, MANAGED_KINDS, NAMESPACES } from '../../src/controller/kinds.ts';
import { parseApplied } from '../../src/controller/applied.ts';
import { revisionName } from '../../src/resources/revision.ts';
import { KubeApiError } from '../../src/runtime/errors.ts';
import { KubeClient, resourcePath, type KubeObject, type KubeObjectBody } from '../../src/runtime/kube.ts';
import { freePorts, mintIdentityIn, renderKubeconfig } from '../../hack/kube/controlplane.ts';
import { eventually } from '../support/cluster.ts';
import { OPERATOR_NAMESPACE, waitUntilReady } from '../support/operator.ts';
import { benchSpec } from '../../bench/bench.ts';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export const LONG = process.env.SBO_CHAOS === 'long';

/** A number from the environment (make chaos / make soak pass them), else the default of the profile. */
export function setting(name: string, short: number, long: number): number {
  const value = process.env[name];
  return value !== undefined && value !== '' ? Number(value) : LONG ? long : short;
}

/** What the fault tests need of a control plane, shared or their own. */
export interface Cluster {
  readonly dir: string;
  /** https://127.0.0.1:PORT of the API server itself. */
  readonly server: string;
  readonly caPem: string;
  /** system:masters, straight to the API server. */
  readonly admin: KubeClient;
}

export function clusterFrom(controlPlane: { dir: string; server: string; kubeconfigPath: string }): Cluster {
  const kc = new KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  const caPem = Buffer.from(kc.getCurrentCluster()?.caData ?? '', 'base64').toString('utf8');
  return { dir: controlPlane.dir, server: controlPlane.server, caPem, admin: new KubeClient(kc) };
}

/** A kubeconfig file for `user` (in system:masters) that talks to `server` (the API server or a proxy in front of it). */
export async function operatorKubeconfig(cluster: Cluster, user: string, server = cluster.server): Promise<string> {
  const file = path.join(cluster.dir, `${user}-${Date.now()}.kubeconfig`);
  await writeFile(file, renderKubeconfig(server, cluster.caPem, await mintIdentityIn(cluster.dir, user, ['system:masters'])), { mode: 0o600 });
  return file;
}

export interface OperatorProcess {
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  /** Whether the process is still alive (never exited, never killed). */
  readonly running: boolean;
  /** Plain-HTTP /metrics (METRICS_SECURE=false: the scrape must not depend on the API server under fault). */
  metrics(): Promise<string>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM and wait. */
  stop(): Promise<number | null>;
}

/** Starts `node src/main.ts` as people run it; resolves once /readyz says the caches synced. */
export async function startOperatorProcess(kubeconfig: string, options: { env?: Record<string, string>; readyTimeoutMs?: number } = {}): Promise<OperatorProcess> {
  const [metricsPort, healthPort] = await freePorts(2) as [number, number];
  const logDir = path.join(repoRoot, '.dev', 'test-logs');
  await mkdir(logDir, { recursive: true });
  const logFile = path.join(logDir, `chaos-operator-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts')], {
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      METRICS_SECURE: 'false',
      METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}`,
      HEALTH_PROBE_BIND_ADDRESS: `127.0.0.1:${healthPort}`,
      OPERATOR_NAMESPACE,
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const metrics = async (): Promise<string> => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
    return response.text();
  };
  await waitUntilReady(child, exited, healthPort, logFile, options.readyTimeoutMs ?? 120_000);
  return {
    pid: child.pid!,
    logFile,
    exited,
    get running() { return child.exitCode === null && child.signalCode === null; },
    metrics,
    metric: async (name, labels = {}) => metricValue(await metrics(), name, labels),
    kill: (signal) => { child.kill(signal); },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const code = await exited;
      log.end();
      return code;
    },
  };
}

/** The sum of the samples of `name` whose labels include `labels`; 0 when there is none. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').at(-1));
  }
  return total;
}

/** The baseline the fault tests provision: the benchmark's, every namespaced control but logging, 6 objects and one label set per namespace. */
export const chaosSpec: Omit<SecurityBaselineSpec, 'namespaceSelector'> = benchSpec;

/** `kind/name` of every object chaosSpec makes in a namespace, for baseline `name`. */
export function expectedObjects(baseline: string): string[] {
  return [
    `LimitRange/${baseline}-limits`,
    `NetworkPolicy/${baseline}-default-deny`,
    `ResourceQuota/${baseline}-quota`,
    `Role/${baseline}-pod-readers`,
    `RoleBinding/${baseline}-pod-readers`,
    `RoleBinding/${baseline}-readers`,
  ];
}

export async function createBaseline(client: KubeClient, name: string, selector: Record<string, string>, spec = chaosSpec): Promise<void> {
  const body: SecurityBaseline = {
    apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name },
    spec: { ...spec, namespaceSelector: { matchLabels: selector } },
  };
  await client.create(BASELINES, body as unknown as KubeObjectBody);
}

export async function createNamespaces(client: KubeClient, names: readonly string[], labels: Record<string, string>, concurrency = 16): Promise<void> {
  const queue = new PQueue({ concurrency });
  await Promise.all(names.map((name) => queue.add(() => client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }))));
}

/** The namespace the operator keeps its revisions in, as a real install has it (config/manager/namespace.yaml). */
export async function createOperatorNamespace(admin: KubeClient): Promise<void> {
  await admin.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE } })
    .catch((error: unknown) => { if (!(error instanceof KubeApiError && error.status === 409)) throw error; });
}

export async function deleteNamespaces(client: KubeClient, names: readonly string[], concurrency = 16): Promise<void> {
  const queue = new PQueue({ concurrency });
  await Promise.all(names.map((name) => queue.add(() => client.delete(NAMESPACES, name, undefined).catch(() => undefined))));
}

/**
 * Every managed object of `baseline`, read from the API server (not from any
 * cache): namespace → sorted `kind/name` list, duplicates kept.
 */
export async function census(client: KubeClient, baseline: string): Promise<Map<string, string[]>> {
  const byNamespace = new Map<string, string[]>();
  for (const type of MANAGED_KINDS) {
    let objects: KubeObject[];
    try {
      objects = (await client.list<KubeObject>(type, { labelSelector: `${MANAGED_SELECTOR},${BASELINE_LABEL}=${baseline}` })).items;
    } catch {
      continue; // a kind the cluster does not serve (the Flow CRD is not installed)
    }
    for (const object of objects) {
      const namespace = object.metadata.namespace ?? '';
      const list = byNamespace.get(namespace) ?? [];
      list.push(`${type.kind}/${object.metadata.name}`);
      byNamespace.set(namespace, list);
    }
  }
  for (const list of byNamespace.values()) list.sort();
  return byNamespace;
}

/** Namespaces (of `names`) whose census differs from exactly the expected objects; empty when all are exact. */
export async function inexactNamespaces(client: KubeClient, baseline: string, names: readonly string[]): Promise<string[]> {
  const found = await census(client, baseline);
  const expected = expectedObjects(baseline).join(',');
  const wrong = names.filter((name) => (found.get(name) ?? []).join(',') !== expected);
  const strays = [...found.keys()].filter((name) => !names.includes(name));
  return [...wrong, ...strays];
}

/** Namespaces (of `names`) whose applied annotation does not name `baseline` at the revision of its current spec. */
export async function unappliedNamespaces(client: KubeClient, baseline: string, names: readonly string[]): Promise<string[]> {
  const revision = revisionName(baseline, (await client.get<SecurityBaseline>(BASELINES, baseline)).spec);
  const wanted = new Set(names);
  const namespaces = (await client.list<KubeObject>(NAMESPACES)).items.filter((ns) => wanted.has(ns.metadata.name));
  const applied = new Set(namespaces
    .filter((ns) => parseApplied(ns.metadata.annotations?.[APPLIED_ANNOTATION])[baseline] === revision)
    .map((ns) => ns.metadata.name));
  return names.filter((name) => !applied.has(name));
}

/** Waits until every namespace holds exactly the expected objects and says the baseline is applied. */
export async function waitForConvergence(client: KubeClient, baseline: string, names: readonly string[], timeoutMs: number): Promise<number> {
  const started = performance.now();
  let last: { inexact: string[]; unapplied: string[] } = { inexact: [], unapplied: [] };
  await eventually(async () => {
    last = { inexact: await inexactNamespaces(client, baseline, names), unapplied: await unappliedNamespaces(client, baseline, names) };
    return last.inexact.length === 0 && last.unapplied.length === 0;
  }, { timeoutMs, intervalMs: 1_000 }).catch(() => {
    throw new Error(`baseline ${baseline} did not converge within ${timeoutMs} ms: ${last.inexact.length} namespaces with other objects `
      + `than expected (${last.inexact.slice(0, 5).join(', ')}), ${last.unapplied.length} not applied (${last.unapplied.slice(0, 5).join(', ')})`);
  });
  return (performance.now() - started) / 1000;
}

/** Deletes the baseline and waits until it and every object it managed are gone. */
export async function deleteBaselineCleanly(client: KubeClient, baseline: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  await client.delete(BASELINES, baseline, undefined);
  await eventually(async () => {
    const gone = await client.get(BASELINES, baseline).then(() => false, () => true);
    return gone && (await census(client, baseline)).size === 0;
  }, { timeoutMs, intervalMs: 500 });
  return (performance.now() - started) / 1000;
}

const QUOTAS = MANAGED_KINDS.find((type) => type.kind === 'ResourceQuota')!;
const NETWORK_POLICIES = MANAGED_KINDS.find((type) => type.kind === 'NetworkPolicy')!;

/**
 * Drift as people make it, in two namespaces: the quota of the first edited
 * (pods 4 → 999, by kubectl-edit), the default-deny policy of the second
 * deleted. Returns a check that both were put back.
 */
export async function makeDrift(client: KubeClient, baseline: string, edited: string, deleted: string): Promise<() => Promise<boolean>> {
  await client.request('patch', HttpMethod.PATCH, resourcePath(QUOTAS, edited, `${baseline}-quota`), {
    query: { fieldManager: 'kubectl-edit' }, body: { spec: { hard: { pods: '999' } } }, contentType: 'application/merge-patch+json',
  });
  await client.delete(NETWORK_POLICIES, `${baseline}-default-deny`, deleted);
  return async () => {
    const quota = await client.get<KubeObject & { spec?: { hard?: Record<string, string> } }>(QUOTAS, `${baseline}-quota`, edited).catch(() => undefined);
    const policy = await client.get(NETWORK_POLICIES, `${baseline}-default-deny`, deleted).catch(() => undefined);
    return quota?.spec?.hard?.pods === '4' && policy !== undefined;
  };
}

/** Seconds until `check` holds (it is polled every 100 ms). */
export async function secondsUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  await eventually(async () => (await check()) || false, { timeoutMs, intervalMs: 100 });
  return (performance.now() - started) / 1000;
}

/** One measured outcome of a fault or load test, kept for the run's summary table and JSON. */
export interface Outcome {
  readonly test: string;
  readonly fault: string;
  /** The verdict in a few words, such as `converged, 0 lost, 0 duplicated`. */
  readonly outcome: string;
  /** The figures behind it. */
  readonly measured: Record<string, number | string>;
  /** Samples over time (the soak's), kept in the JSON only. */
  readonly series?: readonly object[];
}

/** Prints an outcome now and appends it for reporter.js (SBO_CHAOS_RECORD, set by the reporter). */
export async function record(outcome: Outcome): Promise<void> {
  const figures = Object.entries(outcome.measured).map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`).join(' ');
  process.stderr.write(`\n[${outcome.test}] ${outcome.fault}: ${outcome.outcome} (${figures})\n`);
  const file = process.env.SBO_CHAOS_RECORD;
  if (file) {
    await mkdir(path.dirname(file), { recursive: true });
    await appendFile(file, `${JSON.stringify({ ...outcome, profile: LONG ? 'long' : 'short', at: new Date().toISOString() })}\n`);
  }
}

export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Requests per second by verb from two scrapes of security_baseline_api_requests_total. */
export function requestsPerSecond(before: string, after: string, seconds: number, labels: Record<string, string> = {}): number {
  return (metricValue(after, 'security_baseline_api_requests_total', labels) - metricValue(before, 'security_baseline_api_requests_total', labels)) / seconds;
}

/** Requests between two scrapes by `verb resource code`, most first: where the traffic went. */
export function requestBreakdown(before: string, after: string, top = 8): string {
  const samples = (text: string) => new Map([...text.matchAll(/^security_baseline_api_requests_total\{([^}]*)\} (\S+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
  const [from, to] = [samples(before), samples(after)];
  return [...to.entries()]
    .map(([labels, value]) => [labels.replace(/[a-z]+="([^"]*)",?/g, '$1 ').trim(), value - (from.get(labels) ?? 0)] as const)
    .filter(([, delta]) => delta > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([labels, delta]) => `${labels}: ${delta}`)
    .join(', ');
}
