// Network faults between the operator and the API server, through a real TCP
// fault proxy (Toxiproxy): 2 s of latency, connections reset mid-stream, a
// blackhole, a slow drip of bytes. The operator talks to the API server only
// through the proxy; the test watches and writes directly. After each fault the
// same process (never restarted) has put back the drift made during the fault,
// provisioned the namespaces created during it, and holds exactly one object of
// each kind per namespace.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { startFaultProxy, type FaultProxy, type Toxic } from '../../hack/toxiproxy/toxiproxy.ts';
import { testControlPlane } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import {
  clusterFrom, createBaseline, createNamespaces, deleteBaselineCleanly, deleteNamespaces, makeDrift, metricValue,
  operatorKubeconfig, record, secondsUntil, setting, startOperatorProcess, waitForConvergence, type Cluster, type OperatorProcess,
} from './harness.ts';

const run = randomBytes(3).toString('hex');
const baseline = `chaos-net-${run}`;
const selector = { 'sbo-chaos-net': run };
const BLACKHOLE_SECONDS = setting('SBO_CHAOS_BLACKHOLE_SECONDS', 15, 30);
const FAULT_SECONDS = setting('SBO_CHAOS_FAULT_SECONDS', 8, 30);
const NAMESPACES = setting('SBO_CHAOS_NET_NAMESPACES', 10, 200);

let cluster: Cluster;
let proxy: FaultProxy;
let operator: OperatorProcess;
const namespaces: string[] = [];

beforeAll(async () => {
  await installCrds();
  cluster = clusterFrom(testControlPlane());
  proxy = await startFaultProxy(new URL(cluster.server).host);
  namespaces.push(...Array.from({ length: NAMESPACES }, (_, i) => `chaos-net-${run}-${i}`));
  await createNamespaces(cluster.admin, namespaces, selector);
  await createBaseline(cluster.admin, baseline, selector);
  const kubeconfig = await operatorKubeconfig(cluster, `chaos-net-${run}`, `https://${proxy.listen}`);
  operator = await startOperatorProcess(kubeconfig);
  await waitForConvergence(cluster.admin, baseline, namespaces, 60_000);
}, 180_000);

afterAll(async () => {
  if (!cluster) return;
  await proxy?.setEnabled(true).catch(() => undefined);
  if (operator) await deleteBaselineCleanly(cluster.admin, baseline, 60_000).catch(() => undefined);
  await operator?.stop();
  await proxy?.stop();
  await deleteNamespaces(cluster.admin, namespaces);
}, 120_000);

/**
 * Puts `toxics` on the proxy for `seconds`; meanwhile makes drift and creates a
 * namespace. Afterwards: the drift is put back, the new namespace provisioned,
 * every namespace exact, by the same process. Records the figures. With
 * `inFlight`, the operator's requests are caught mid-way, and the fault ends by
 * healing the same connections rather than closing them.
 */
async function underFault(fault: string, toxics: Toxic[], seconds: number, { inFlight = false } = {}): Promise<void> {
  const before = await operator.metrics();
  const [edited, deleted] = [namespaces[0]!, namespaces[1]!];
  const newcomer = `chaos-net-${run}-${namespaces.length}`;
  let restored: () => Promise<boolean>;
  if (inFlight) {
    // Catch the operator's requests in the middle: hold what it sends for 2 s, make it act, then drop everything.
    await proxy.addToxic({ name: 'hold', type: 'latency', stream: 'upstream', attributes: { latency: 2000, jitter: 0 } });
    restored = await makeDrift(cluster.admin, baseline, edited, deleted);
    await createNamespaces(cluster.admin, [newcomer], selector);
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const toxic of toxics) await proxy.addToxic(toxic);
    await proxy.removeToxic('hold');
  } else {
    for (const toxic of toxics) await proxy.addToxic(toxic);
    restored = await makeDrift(cluster.admin, baseline, edited, deleted);
    await createNamespaces(cluster.admin, [newcomer], selector);
  }
  const faultStarted = performance.now();
  namespaces.push(newcomer);
  // Did the operator manage anyway, under the fault? (Not asserted: a blackhole forbids it.)
  const duringFault = await secondsUntil(restored, seconds * 1000).catch(() => undefined);
  const remaining = seconds * 1000 - (performance.now() - faultStarted);
  if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining));
  for (const toxic of toxics) await (inFlight ? proxy.healToxic(toxic.name) : proxy.removeToxic(toxic.name));
  const healed = performance.now();
  const restoreSeconds = await secondsUntil(restored, 180_000);
  await waitForConvergence(cluster.admin, baseline, namespaces, 180_000);
  const convergedAfterFaultSeconds = (performance.now() - healed) / 1000;
  if (inFlight) for (const toxic of toxics) await proxy.removeToxic(toxic.name);
  const after = await operator.metrics();
  const delta = (name: string, labels: Record<string, string> = {}) => metricValue(after, name, labels) - metricValue(before, name, labels);
  const measured = {
    faultSeconds: seconds,
    restoredUnderFaultSeconds: duringFault ?? 'no',
    restoredAfterFaultSeconds: duringFault === undefined ? restoreSeconds : 0,
    convergedAfterFaultSeconds,
    requestsFailed: delta('security_baseline_api_requests_total', { code: '0' }),
    informerRestarts: delta('security_baseline_informer_restarts_total'),
    informerRelists: delta('security_baseline_informer_relists_total'),
    reconcileErrors: delta('security_baseline_reconcile_total', { result: 'error' }),
    namespaces: namespaces.length,
  };
  await record({ test: 'network', fault, outcome: 'recovered without restart; drift restored; every namespace exact', measured });
  expect(operator.running).toBe(true);
}

test('2 s latency on every answer: still converges, drift restored', async () => {
  await underFault('2 s latency', [{ name: 'latency', type: 'latency', attributes: { latency: 2000, jitter: 0 } }], FAULT_SECONDS);
}, 300_000);

test('connections reset mid-stream (every connection 1 s after it opens): recovers', async () => {
  await underFault('connections reset', [{ name: 'reset', type: 'reset_peer', attributes: { timeout: 1000 } }], FAULT_SECONDS);
}, 300_000);

const blackhole: Toxic[] = [
  { name: 'blackhole-down', type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } },
  { name: 'blackhole-up', type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } },
];

test(`a ${BLACKHOLE_SECONDS} s blackhole (connections stay open, every byte is dropped): recovers`, async () => {
  await underFault(`${BLACKHOLE_SECONDS} s blackhole`, blackhole, BLACKHOLE_SECONDS);
}, 400_000);

// The requests sent just before the blackhole lose their bytes; when it ends the same connections carry
// bytes again (a healed partition) but nothing will ever answer those requests. Only the request timeout
// ends them: without it, their reconciles, and so their namespaces, waited forever.
test(`a ${BLACKHOLE_SECONDS} s blackhole that swallows requests in flight, then heals: the request timeout brings it back`, async () => {
  await underFault(`${BLACKHOLE_SECONDS} s blackhole, requests in flight`, blackhole, BLACKHOLE_SECONDS, { inFlight: true });
}, 400_000);

test('a slow drip (1 KB/s from the API server): recovers', async () => {
  await underFault('slow drip 1 KB/s', [{ name: 'drip', type: 'bandwidth', attributes: { rate: 1 } }], FAULT_SECONDS);
}, 300_000);
