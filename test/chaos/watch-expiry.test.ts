// 410 Gone: etcd compacts the history the informers' watches would resume
// from. This test starts its own control plane with the API server's watch
// cache off (watches then read etcd directly, as they do on clusters that
// disable it, and meet its compaction), and puts the operator behind a fault
// proxy, so that its watches can be broken at a chosen moment. Then:
//   connections cut → unrelated writes → etcd compacted to the newest revision
//   → drift made right after the compaction → connections allowed again.
// Every informer resumes from a compacted revision, gets 410 Gone, relists
// (counted as security_baseline_informer_relists_total{reason="expired"}),
// finds the drift in the new list and the reconcile puts it back.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { applyCrdsAsAdmin, compactEtcd } from './controlplanes.ts';
import { startControlPlane, type ControlPlane } from '../../hack/kube/controlplane.ts';
import { startFaultProxy, type FaultProxy } from '../../hack/toxiproxy/toxiproxy.ts';
import {
  clusterFrom, createBaseline, createNamespaces, createOperatorNamespace, deleteBaselineCleanly, makeDrift, metricValue, operatorKubeconfig, record,
  secondsUntil, setting, startOperatorProcess, waitForConvergence, type Cluster, type OperatorProcess,
} from './harness.ts';
import { NAMESPACES } from '../../src/controller/kinds.ts';

const run = randomBytes(3).toString('hex');
const baseline = `chaos-410-${run}`;
const selector = { 'sbo-chaos-410': run };
const NAMESPACE_COUNT = setting('SBO_CHAOS_410_NAMESPACES', 10, 500);

let controlPlane: ControlPlane;
let cluster: Cluster;
let proxy: FaultProxy;
let operator: OperatorProcess;
const namespaces = Array.from({ length: NAMESPACE_COUNT }, (_, i) => `chaos-410-${run}-${i}`);

beforeAll(async () => {
  controlPlane = await startControlPlane({ apiServerArgs: ['--watch-cache=false'] });
  cluster = clusterFrom(controlPlane);
  await applyCrdsAsAdmin(controlPlane);
  // As a real install has it: the revisions live there (without it they answer 404).
  await createOperatorNamespace(cluster.admin);
  proxy = await startFaultProxy(new URL(cluster.server).host);
  await createNamespaces(cluster.admin, namespaces, selector);
  await createBaseline(cluster.admin, baseline, selector);
  operator = await startOperatorProcess(await operatorKubeconfig(cluster, 'chaos-410-operator', `https://${proxy.listen}`));
  await waitForConvergence(cluster.admin, baseline, namespaces, 120_000);
}, 240_000);

afterAll(async () => {
  await operator?.stop();
  await proxy?.stop();
  await controlPlane?.stop();
}, 120_000);

test('after etcd compaction the informers get 410 Gone, relist, and the drift made right after it is put back', async () => {
  const before = await operator.metrics();
  // One per informer (namespaces, baselines, clusterroles, the managed kinds…); flows and reports have
  // none here: their CRDs (Logging operator, OpenReports) are not installed on this control plane.
  const resources = [...before.matchAll(/^security_baseline_informer_relists_total\{resource="([^"]+)",reason="expired"\}/gm)]
    .map((m) => m[1]!).filter((resource) => resource !== 'flows' && resource !== 'reports');
  expect(resources.length).toBeGreaterThanOrEqual(10);

  await proxy.setEnabled(false); // every watch of the operator ends; new connections are refused
  // Two writes the operator does not watch, so that every informer's last revision is behind the compaction.
  for (const name of [`unwatched-${run}-a`, `unwatched-${run}-b`]) {
    await cluster.admin.create({ apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true }, {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' },
    });
  }
  const compactedAt = await compactEtcd(controlPlane.etcdUrl);
  const restored = await makeDrift(cluster.admin, baseline, namespaces[0]!, namespaces[1]!);
  const newcomer = `chaos-410-${run}-new`;
  await createNamespaces(cluster.admin, [newcomer], selector);
  namespaces.push(newcomer);
  // The API server itself answers 410 to a watch from before the compaction (watch cache off).
  const staleWatch = await fetchWatchStatus(cluster, String(compactedAt - 2));
  const healed = performance.now();
  await proxy.setEnabled(true);

  const restoreSeconds = await secondsUntil(restored, 120_000);
  await waitForConvergence(cluster.admin, baseline, namespaces, 120_000);
  const convergeSeconds = (performance.now() - healed) / 1000;
  const after = await operator.metrics();
  const expired = (resource: string) => metricValue(after, 'security_baseline_informer_relists_total', { resource, reason: 'expired' })
    - metricValue(before, 'security_baseline_informer_relists_total', { resource, reason: 'expired' });
  const relisted = resources.filter((resource) => expired(resource) >= 1);
  await record({
    test: 'watch-expiry', fault: 'etcd compaction (410 Gone)',
    outcome: `${relisted.length}/${resources.length} informers relisted on 410; drift restored; every namespace exact`,
    measured: {
      compactedRevision: compactedAt, staleWatchStatus: staleWatch, informers: resources.length,
      expiredRelists: resources.reduce((sum, resource) => sum + expired(resource), 0),
      restoredSeconds: restoreSeconds, convergedSeconds: convergeSeconds, namespaces: namespaces.length,
    },
  });
  expect(staleWatch).toBe(410);
  expect(relisted).toEqual(resources);
  expect(operator.running).toBe(true);

  const deleteSeconds = await deleteBaselineCleanly(cluster.admin, baseline, 120_000);
  process.stderr.write(`baseline deleted cleanly in ${deleteSeconds.toFixed(2)} s\n`);
}, 300_000);

/** The status a watch from `resourceVersion` gets: in the HTTP answer or as the first ERROR event. */
async function fetchWatchStatus(target: Cluster, resourceVersion: string): Promise<number> {
  return new Promise((resolve) => {
    const stop = target.admin.watch(NAMESPACES, { resourceVersion, timeoutSeconds: 5, inactivityMs: 10_000 }, (event) => {
      if (event.type === 'ERROR') {
        stop();
        resolve((event.object as unknown as { code?: number }).code ?? 0);
      }
    }, (error) => resolve((error as { status?: number } | null)?.status ?? 200));
  });
}
