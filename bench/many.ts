// Many baselines with overlapping selectors: B baselines over M namespaces,
// each namespace selected by several (Pod Security levels that compose, one
// RoleBinding each). What it shows: selection is indexed, so the cost per
// namespace does not grow with the number of baselines, and no single event
// (a namespace relabelled, a baseline changed, a metrics scrape) costs
// baselines × namespaces.
import { APPLIED_ANNOTATION } from '../src/api/constants.ts';
import type { LabelSelector, PodSecurityLevel, SecurityBaseline } from '../src/api/types.ts';
import { BASELINES, NAMESPACES } from '../src/controller/kinds.ts';
import { selects } from '../src/controller/selection.ts';
import type { KubeObject } from '../src/runtime/kube.ts';
import { auditedWrites, auditMark, createNamespaces, lastNamespaceWriteAt, percentile, until, type BenchCluster } from './cluster.ts';
import { startOperator } from './operator.ts';

const TEAMS = 50;
const TIERS = ['web', 'api', 'db', 'batch'];
const ENVS = ['dev', 'stage', 'prod'];
const LEVELS: PodSecurityLevel[] = ['baseline', 'restricted', 'privileged'];
const USER = 'bench-operator';

export interface ManyBaselinesResult {
  /** The baselines are named `many-<run>-<index>`. */
  readonly run: string;
  readonly baselines: number;
  readonly namespaces: number;
  /** (baseline, namespace) pairs selected: managed objects, one RoleBinding each. */
  readonly pairs: number;
  readonly coldStart: {
    readonly seconds: number; readonly writes: number; readonly cpuSeconds: number;
    /** Mean duration of a namespace reconcile (selection, build, compose, compare, writes). */
    readonly reconcileMeanMs: number;
  };
  readonly restart: { readonly seconds: number; readonly writes: number; readonly cpuSeconds: number; readonly reconcileMeanMs: number };
  /** A namespace moved to another team: creation of the label change → applied annotation naming its new baselines. */
  readonly relabel: { readonly count: number; readonly p50: number; readonly max: number };
  /** One baseline's spec changed: the patch → its status observing the new generation (all its namespaces reconciled). */
  readonly baselineChange: { readonly namespaces: number; readonly seconds: number };
  /** One scrape of /metrics, whose namespaces gauge counts every (baseline, namespace) pair. */
  readonly scrapeMs: number;
  readonly memory: { readonly rssMiB: number; readonly liveHeapMiB: number };
}

function namespaceLabels(run: string, index: number): Record<string, string> {
  return {
    'bench-many': run,
    team: `t${index % TEAMS}`,
    tier: TIERS[index % TIERS.length] as string,
    env: ENVS[Math.floor(index / TEAMS) % ENVS.length] as string,
  };
}

/** Four kinds of selector, each narrowed to this run's namespaces; each namespace is selected by several baselines. */
function selectorOf(run: string, index: number): LabelSelector {
  const team = `t${index % TEAMS}`;
  switch (index % 4) {
    case 0: return { matchLabels: { 'bench-many': run, team } };
    case 1: return { matchLabels: { 'bench-many': run }, matchExpressions: [{ key: 'team', operator: 'In', values: [team, `t${(index + 1) % TEAMS}`] }] };
    case 2: return { matchLabels: { 'bench-many': run, team }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] };
    default: return { matchLabels: { 'bench-many': run, team, env: ENVS[index % ENVS.length] as string } };
  }
}

function baselineOf(run: string, index: number): SecurityBaseline {
  return {
    apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name: `many-${run}-${index}` },
    spec: {
      namespaceSelector: selectorOf(run, index),
      priority: index % 7,
      podSecurity: { enforce: LEVELS[index % LEVELS.length] as PodSecurityLevel },
      roleBindings: [{ name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: `\${namespace}-readers-${index}` }] }],
    },
  };
}

export async function runManyBaselines(
  cluster: BenchCluster, main: string, options: { baselines: number; namespaces: number; log: (line: string) => void },
): Promise<ManyBaselinesResult> {
  const { client } = cluster;
  const run = Date.now().toString(36);
  const kubeconfig = await cluster.kubeconfigFor(USER);
  const baselines = Array.from({ length: options.baselines }, (_, i) => baselineOf(run, i));
  const names = Array.from({ length: options.namespaces }, (_, i) => `many-${run}-${i}`);
  const labelsOf = new Map(names.map((name, i) => [name, namespaceLabels(run, i)]));
  const selectedBy = (name: string) => baselines.filter((b) => selects(b, { metadata: { name, labels: labelsOf.get(name) } }, 'security-baseline-system'));
  const pairs = names.reduce((sum, name) => sum + selectedBy(name).length, 0);

  options.log(`many baselines: ${options.baselines} baselines over ${options.namespaces} namespaces (${pairs} pairs)…`);
  await createNamespaces(client, names, (name) => labelsOf.get(name) ?? {});
  for (const baseline of baselines) await client.create(BASELINES, baseline as unknown as KubeObject & Record<string, unknown>);

  const reconcileMean = async (operator: Awaited<ReturnType<typeof startOperator>>) =>
    1000 * (await operator.metric('security_baseline_reconcile_duration_seconds_sum', { controller: 'namespace' }))
    / Math.max(1, await operator.metric('security_baseline_reconcile_duration_seconds_count', { controller: 'namespace' }));
  // Each check reads one scrape.
  const settled = async (operator: Awaited<ReturnType<typeof startOperator>>) => {
    const metric = await operator.metrics();
    const selected = ['compliant', 'drifted', 'failed', 'conflict'].reduce((sum, state) => sum + metric('security_baseline_namespaces', { state }), 0);
    return selected >= pairs && metric('security_baseline_namespaces', { state: 'pending' }) === 0 && metric('workqueue_depth', { name: 'namespaces' }) === 0;
  };

  // No baseline waits for a debounced status write, none is queued, none is being reconciled.
  const baselinesIdle = async (operator: Awaited<ReturnType<typeof startOperator>>) => {
    const metric = await operator.metrics();
    return metric('security_baseline_workqueue_delayed_keys', { name: 'baselines' }) === 0
      && metric('workqueue_depth', { name: 'baselines' }) === 0
      && metric('workqueue_unfinished_work_seconds', { name: 'baselines' }) === 0;
  };

  // Cold start: every pair reconciled (compliant, or in conflict where a stricter baseline wins).
  // Polled once a second; the end is the last namespace write in the audit log, as for the main cold start.
  let mark = await auditMark(cluster);
  const beganAt = Date.now();
  let operator = await startOperator(main, kubeconfig);
  await until('the many-baselines cold start', () => settled(operator), 3_600_000, 1_000);
  // The baselines' debounced status writes land before the stop: else the restart would make them, and count them.
  await until('the baselines\' status writes', () => baselinesIdle(operator), 120_000, 200);
  const coldStart = {
    seconds: 0,
    writes: 0,
    cpuSeconds: await operator.metric('process_cpu_seconds_total'),
    reconcileMeanMs: await reconcileMean(operator),
  };
  await operator.stop();
  const coldWrites = await auditedWrites(cluster, mark, USER);
  coldStart.writes = coldWrites.length;
  coldStart.seconds = (lastNamespaceWriteAt(coldWrites) - beganAt) / 1000;

  // Restart over the compliant cluster.
  mark = await auditMark(cluster);
  const begin = performance.now();
  operator = await startOperator(main, kubeconfig);
  const total = (await client.list(NAMESPACES)).items.length;
  await until('the many-baselines restart', async () => await operator.metric('security_baseline_reconcile_total', { controller: 'namespace' }) >= total
    && await operator.metric('workqueue_depth', { name: 'namespaces' }) === 0);
  const restart = {
    seconds: (performance.now() - begin) / 1000,
    writes: (await auditedWrites(cluster, mark, USER)).length,
    cpuSeconds: await operator.metric('process_cpu_seconds_total'),
    reconcileMeanMs: await reconcileMean(operator),
  };

  // Namespaces moved to another team: their baselines change.
  const relabelled: number[] = [];
  for (let i = 0; i < Math.min(20, names.length); i++) {
    const name = names[(i * 7919) % names.length] as string;
    const before = labelsOf.get(name) ?? {};
    const labels = { ...before, team: `t${(Number(before.team?.slice(1)) + 1 + i) % TEAMS}` };
    labelsOf.set(name, labels);
    const wanted = selectedBy(name).map((b) => b.metadata.name).sort();
    const sent = performance.now();
    await client.mergePatch(NAMESPACES, name, undefined, { metadata: { labels } });
    await until(`namespace ${name} relabelled`, async () => {
      const annotation = (await client.get(NAMESPACES, name)).metadata.annotations?.[APPLIED_ANNOTATION] ?? '{}';
      return JSON.stringify(Object.keys(JSON.parse(annotation) as object).sort()) === JSON.stringify(wanted);
    }, 60_000, 20);
    relabelled.push((performance.now() - sent) / 1000);
  }

  // One baseline's spec changed: every namespace it selects gets the new RoleBinding subject.
  const changed = baselines[0] as SecurityBaseline;
  const changedNamespaces = names.filter((name) => selectedBy(name).includes(changed)).length;
  const sent = performance.now();
  const patched = await client.mergePatch<KubeObject>(BASELINES, changed.metadata.name, undefined, {
    spec: { roleBindings: [{ name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: '${namespace}-readers-changed' }] }] },
  });
  await until('the changed baseline observed', async () => {
    const current = await client.get<KubeObject & { status?: { observedGeneration?: number } }>(BASELINES, changed.metadata.name);
    return current.status?.observedGeneration === patched.metadata.generation;
  }, 600_000, 50);
  const baselineChange = { namespaces: changedNamespaces, seconds: (performance.now() - sent) / 1000 };

  const scrapeStart = performance.now();
  await operator.metric('security_baseline_namespaces');
  const scrapeMs = performance.now() - scrapeStart;
  const rssMiB = (await operator.metric('process_resident_memory_bytes')) / 2 ** 20;
  const liveHeapMiB = (await operator.liveHeap()).usedMiB;
  await operator.stop();

  return {
    run, baselines: options.baselines, namespaces: options.namespaces, pairs, coldStart, restart,
    relabel: { count: relabelled.length, p50: percentile(relabelled, 50), max: Math.max(...relabelled) },
    baselineChange, scrapeMs, memory: { rssMiB, liveHeapMiB },
  };
}
