// A tiny run of `make bench` on the test control plane, so the benchmark
// cannot rot: every scenario runs and reports sane counts. Timings are
// printed, never asserted (these machines are shared).
import { afterAll, expect, test } from '@jest/globals';
import { CoreV1Api } from '@kubernetes/client-node';
import { formatTable, runBench, type BenchResult } from '../../bench/bench.ts';
import { adminKubeConfig, ignoreNotFound, testControlPlane } from '../support/cluster.ts';
import { deleteBaseline, waitForBaselineGone } from '../support/baselines.ts';
import { startOperator } from '../support/operator.ts';

let result: BenchResult | undefined;

afterAll(async () => {
  if (!result) return;
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const operator = await startOperator();
  await deleteBaseline(result.baseline);
  await waitForBaselineGone(result.baseline).catch(() => undefined);
  await operator.stop();
  const run = result.baseline.replace(/^bench-/, '');
  const names = (await Promise.all([`bench=${run}`, `bench-limit=${run}`].map((labelSelector) => core.listNamespace({ labelSelector }))))
    .flatMap((list) => list.items.map((n) => n.metadata?.name ?? ''));
  await Promise.all(names.map((name) => core.deleteNamespace({ name }).catch(ignoreNotFound)));
}, 120_000);

test('make bench runs every scenario end to end (smoke: 12 namespaces)', async () => {
  const { dir, server, kubeconfigPath, versions } = testControlPlane();
  result = await runBench({ namespaces: 12, rate: 5, seconds: 2, driftRate: 5, controlPlane: { dir, server, kubeconfigPath, versions }, log: () => undefined });
  process.stderr.write(`\n${formatTable(result)}\n`);
  expect(result.desiredObjectsPerNamespace).toBe(6);
  expect(result.coldStart.objectWrites).toBe(12 * 6);
  expect(result.coldStart.namespaceWrites).toBe(12);
  expect(result.coldStart.reportWrites).toBe(12);
  expect(result.steadyState.writes).toBe(0);
  expect(result.provisioning.count).toBe(10);
  expect(result.drift.count).toBe(10);
  expect(Object.keys(result.limit.ratesPerConcurrency).length).toBeGreaterThan(0);
  expect(result.memory.rssMiB).toBeGreaterThan(0);
}, 180_000);
