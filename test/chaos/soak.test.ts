// Soak: the operator under continuous churn — namespaces created and deleted,
// the baseline edited, managed objects edited and deleted — for SBO_SOAK_SECONDS
// (make soak: 30 minutes; make test: about a minute). Every sample of its own
// metrics is printed: RSS, heap, open handles and file descriptors, event-loop
// lag, reconcile errors. At the end the memory, handles and lag are flat (the
// last third of the run is no higher than the first, within a margin), no
// error is still being made, and every live namespace holds exactly the
// baseline as it is now.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpMethod } from '@kubernetes/client-node';
import { BASELINES, MANAGED_KINDS } from '../../src/controller/kinds.ts';
import { resourcePath, type KubeObject } from '../../src/runtime/kube.ts';
import { eventually, testControlPlane } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import {
  clusterFrom, createBaseline, createNamespaces, deleteBaselineCleanly, deleteNamespaces, metricValue, operatorKubeconfig,
  record, setting, startOperatorProcess, waitForConvergence, type Cluster, type OperatorProcess,
} from './harness.ts';

const run = randomBytes(3).toString('hex');
const baseline = `soak-${run}`;
const selector = { 'sbo-soak': run };
const SECONDS = setting('SBO_SOAK_SECONDS', 45, 1800);
const SAMPLE_SECONDS = setting('SBO_SOAK_SAMPLE_SECONDS', 5, 60);
const POOL = setting('SBO_SOAK_NAMESPACES', 20, 200);
/** Churn per second: namespaces replaced (one created, one deleted), objects drifted. */
const NAMESPACE_RATE = setting('SBO_SOAK_NAMESPACE_RATE', 1, 1);
const DRIFT_RATE = setting('SBO_SOAK_DRIFT_RATE', 2, 2);
const BASELINE_EDIT_SECONDS = setting('SBO_SOAK_EDIT_SECONDS', 15, 60);

const QUOTAS = MANAGED_KINDS.find((type) => type.kind === 'ResourceQuota')!;

let cluster: Cluster;
let operator: OperatorProcess;
let created = 0;
const live: string[] = [];
const deleted: string[] = [];

interface Sample {
  readonly t: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
  readonly handles: number;
  readonly fds: number;
  readonly lagP99Ms: number;
  readonly reconcileErrors: number;
  readonly reconciles: number;
  readonly namespaces: number;
}

beforeAll(async () => {
  await installCrds();
  cluster = clusterFrom(testControlPlane());
  const names = Array.from({ length: POOL }, () => `soak-${run}-${created++}`);
  await createNamespaces(cluster.admin, names, selector);
  live.push(...names);
  await createBaseline(cluster.admin, baseline, selector);
  // The runtime settings of config/manager/manager.yaml, so that memory is measured as deployed.
  operator = await startOperatorProcess(await operatorKubeconfig(cluster, `soak-${run}`), {
    env: { NODE_OPTIONS: '--max-semi-space-size=4 --max-old-space-size=192', MALLOC_ARENA_MAX: '2' },
  });
  // A second a namespace is generous on a quiet machine, and needed on a busy one.
  await waitForConvergence(cluster.admin, baseline, live, Math.max(60_000, POOL * 1000));
}, 180_000 + POOL * 1000);

afterAll(async () => {
  if (!cluster) return;
  if (operator) await deleteBaselineCleanly(cluster.admin, baseline, 120_000).catch(() => undefined);
  await operator?.stop();
  await deleteNamespaces(cluster.admin, live);
}, 180_000);

async function sample(startedAt: number): Promise<Sample> {
  const text = await operator.metrics();
  const value = (name: string, labels?: Record<string, string>) => metricValue(text, name, labels);
  return {
    t: Math.round((performance.now() - startedAt) / 1000),
    rssMiB: value('process_resident_memory_bytes') / 2 ** 20,
    heapMiB: value('nodejs_heap_size_used_bytes') / 2 ** 20,
    handles: value('nodejs_active_handles_total'),
    fds: value('process_open_fds'),
    lagP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000,
    reconcileErrors: value('security_baseline_reconcile_total', { result: 'error' }),
    reconciles: value('security_baseline_reconcile_total'),
    namespaces: live.length,
  };
}

function table(samples: readonly Sample[]): string {
  const header = '     t  RSS MiB  heap MiB  handles  fds  lag p99 ms  reconciles  errors  namespaces';
  const rows = samples.map((s) => [
    `${s.t}s`.padStart(6), s.rssMiB.toFixed(1).padStart(8), s.heapMiB.toFixed(1).padStart(9), String(s.handles).padStart(8),
    String(s.fds).padStart(4), s.lagP99Ms.toFixed(1).padStart(10), String(s.reconciles).padStart(11), String(s.reconcileErrors).padStart(7),
    String(s.namespaces).padStart(11),
  ].join(' '));
  return [header, ...rows].join('\n');
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** One step of churn, chosen by the clock: replace namespaces, drift objects, edit the baseline. */
async function churn(pods: { value: number }): Promise<{ namespaces: number; drifts: number; edits: number }> {
  const counts = { namespaces: 0, drifts: 0, edits: 0 };
  const tickMs = 250;
  const ticks = Math.round((SECONDS * 1000) / tickMs);
  const editEvery = Math.max(1, Math.round((BASELINE_EDIT_SECONDS * 1000) / tickMs));
  for (let tick = 1; tick <= ticks; tick++) {
    // Stop at once, saying so, if the operator died (or something on the machine killed it).
    if (!operator.running) throw new Error(`the operator exited during the soak, ${Math.round((tick * tickMs) / 1000)} s in; see ${operator.logFile}`);
    const due = performance.now() + tickMs;
    if (Math.random() < (NAMESPACE_RATE * tickMs) / 1000) {
      const name = `soak-${run}-${created++}`;
      await createNamespaces(cluster.admin, [name], selector);
      live.push(name);
      const [gone] = live.splice(randomInt(0, live.length - 1), 1);
      await deleteNamespaces(cluster.admin, [gone!]);
      deleted.push(gone!);
      counts.namespaces++;
    }
    if (Math.random() < (DRIFT_RATE * tickMs) / 1000) {
      const namespace = live[randomInt(0, live.length)]!;
      const kind = MANAGED_KINDS[randomInt(0, 5)]!; // NetworkPolicy, ResourceQuota, LimitRange, Role, RoleBinding
      const objects = await cluster.admin.list<KubeObject>(kind, { namespace, labelSelector: `security.baseline.dev/baseline=${baseline}` }).catch(() => undefined);
      const target = objects?.items[0];
      if (target) {
        if (kind === QUOTAS && Math.random() < 0.5) {
          await cluster.admin.request('patch', HttpMethod.PATCH, resourcePath(QUOTAS, namespace, target.metadata.name), {
            query: { fieldManager: 'kubectl-edit' }, body: { spec: { hard: { pods: '999' } } }, contentType: 'application/merge-patch+json',
          }).catch(() => undefined);
        } else {
          await cluster.admin.delete(kind, target.metadata.name, namespace).catch(() => undefined);
        }
        counts.drifts++;
      }
    }
    if (tick % editEvery === 0) {
      pods.value = pods.value === 4 ? 5 : 4;
      await cluster.admin.request('patch', HttpMethod.PATCH, resourcePath(BASELINES, undefined, baseline), {
        body: { spec: { resourceQuota: { hard: { pods: String(pods.value) } } } }, contentType: 'application/merge-patch+json',
      });
      counts.edits++;
    }
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return counts;
}

test('under continuous churn memory, handles and event-loop lag stay flat, no error accumulates, every namespace ends compliant', async () => {
  const startedAt = performance.now();
  const samples: Sample[] = [await sample(startedAt)];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sleep(SAMPLE_SECONDS * 1000);
      if (sampling) samples.push(await sample(startedAt));
    }
  })();
  const pods = { value: 4 };
  const counts = await churn(pods);
  sampling = false;
  await sampler;

  // The churn stops; the operator catches up; then nothing may still fail.
  const converged = performance.now();
  await waitForConvergence(cluster.admin, baseline, live, 120_000);
  const quotasRight = async () => (await cluster.admin.list<KubeObject & { spec?: { hard?: Record<string, string> } }>(QUOTAS, {
    labelSelector: `security.baseline.dev/baseline=${baseline}`,
  })).items.filter((q) => live.includes(q.metadata.namespace ?? '')).every((q) => q.spec?.hard?.pods === String(pods.value));
  await eventually(async () => (await quotasRight()) || false, { timeoutMs: 60_000, intervalMs: 500 });
  const catchUpSeconds = (performance.now() - converged) / 1000;
  const settled = await sample(startedAt);
  await sleep(5_000);
  const final = await sample(startedAt);
  samples.push(settled, final);
  const failedNamespaces = metricValue(await operator.metrics(), 'security_baseline_namespaces', { baseline, state: 'failed' });

  process.stderr.write(`\nsoak: ${SECONDS} s, ${counts.namespaces} namespaces replaced, ${counts.drifts} objects drifted, ${counts.edits} baseline edits\n${table(samples)}\n`);
  const churnSamples = samples.slice(0, -2);
  const third = Math.max(1, Math.floor(churnSamples.length / 3));
  // The first sample precedes any churn: the first third starts after it (warm-up).
  const early = churnSamples.slice(1, 1 + third);
  const late = churnSamples.slice(-third);
  const summary = {
    seconds: SECONDS, namespacesReplaced: counts.namespaces, objectsDrifted: counts.drifts, baselineEdits: counts.edits,
    rssEarlyMiB: mean(early.map((s) => s.rssMiB)), rssLateMiB: mean(late.map((s) => s.rssMiB)),
    // The heap's low points: what survives garbage collection, whatever the sawtooth above it.
    heapEarlyMiB: Math.min(...early.map((s) => s.heapMiB)), heapLateMiB: Math.min(...late.map((s) => s.heapMiB)),
    handlesEarly: mean(early.map((s) => s.handles)), handlesLate: mean(late.map((s) => s.handles)),
    fdsEarly: mean(early.map((s) => s.fds)), fdsLate: mean(late.map((s) => s.fds)),
    // Medians: one busy moment of the (shared) machine is not a trend.
    lagP99EarlyMs: median(early.map((s) => s.lagP99Ms)), lagP99LateMs: median(late.map((s) => s.lagP99Ms)),
    reconcileErrors: final.reconcileErrors, errorsAfterSettling: final.reconcileErrors - settled.reconcileErrors,
    failedNamespaces, catchUpSeconds,
  };
  await record({
    test: 'soak', fault: `${SECONDS} s of churn`, outcome: 'flat memory, handles and lag; every namespace compliant',
    measured: summary, series: samples,
  });

  // Flat: the last third no higher than the first, within a margin for the allocator and garbage collection.
  expect(summary.rssLateMiB).toBeLessThanOrEqual(summary.rssEarlyMiB * 1.25 + 16);
  expect(summary.heapLateMiB).toBeLessThanOrEqual(summary.heapEarlyMiB * 1.25 + 8);
  expect(summary.handlesLate).toBeLessThanOrEqual(summary.handlesEarly + 10);
  expect(summary.fdsLate).toBeLessThanOrEqual(summary.fdsEarly + 10);
  expect(summary.lagP99LateMs).toBeLessThanOrEqual(Math.max(summary.lagP99EarlyMs * 2, 250));
  // No error accumulates: none once the churn is over, no namespace left failed.
  expect(summary.errorsAfterSettling).toBe(0);
  expect(failedNamespaces).toBe(0);
  expect(operator.running).toBe(true);
}, SECONDS * 1000 + 600_000);
