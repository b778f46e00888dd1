// Restarts in the middle of provisioning, on a control plane of the test's own:
//  - etcd (once 10 % of the namespaces are done), then at once the API server,
//    SIGKILLed and restarted while a new baseline is rolled out over N namespaces;
//  - the operator SIGKILLed 5 times at random moments of a cold start over N
//    other namespaces.
// Each ends with exactly one object of each kind per namespace, every
// namespace marked applied, and the baseline then deleted cleanly.
// N is 2,000 in the long version (make chaos), fewer in make test.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane, type ControlPlane } from '../../hack/kube/controlplane.ts';
import { applyCrdsAsAdmin } from './controlplanes.ts';
import {
  clusterFrom, createBaseline, createNamespaces, createOperatorNamespace, deleteBaselineCleanly, operatorKubeconfig, record, setting,
  startOperatorProcess, unappliedNamespaces, waitForConvergence, type Cluster, type OperatorProcess,
} from './harness.ts';

const run = randomBytes(3).toString('hex');
const N = setting('SBO_CHAOS_RESTART_NAMESPACES', 100, 2000);
const OPERATOR_KILLS = 5;
const CONVERGE_MS = setting('SBO_CHAOS_CONVERGE_MS', 180_000, 900_000);

let controlPlane: ControlPlane;
let cluster: Cluster;
let kubeconfig: string;
const running: OperatorProcess[] = [];

beforeAll(async () => {
  controlPlane = await startControlPlane();
  cluster = clusterFrom(controlPlane);
  await applyCrdsAsAdmin(controlPlane);
  // As a real install has it: the revisions live there (without it they answer 404).
  await createOperatorNamespace(cluster.admin);
  kubeconfig = await operatorKubeconfig(cluster, 'chaos-restarts-operator');
}, 240_000);

afterAll(async () => {
  for (const operator of running) await operator.stop();
  await controlPlane?.stop();
}, 120_000);

async function start(): Promise<OperatorProcess> {
  // Two namespace workers, not the default 96: the faults must land while the work is in progress, and
  // with 96 the whole rollout over 100 namespaces is done within a second. What is tested is what a
  // kill leaves behind, which the number of workers does not change.
  const operator = await startOperatorProcess(kubeconfig, { readyTimeoutMs: 300_000, env: { NAMESPACE_WORKERS: '2' } });
  running.push(operator);
  return operator;
}

/** How many of `names` carry the applied annotation for the revision of the baseline's current spec. */
async function appliedCount(baseline: string, names: readonly string[]): Promise<number> {
  return names.length - (await unappliedNamespaces(cluster.admin, baseline, names)).length;
}

async function waitForApplied(baseline: string, names: readonly string[], atLeast: number): Promise<number> {
  for (;;) {
    const count = await appliedCount(baseline, names).catch(() => 0);
    if (count >= atLeast) return count;
    await sleep(100);
  }
}

test(`API server and etcd SIGKILLed and restarted while a baseline is rolled out over ${N} namespaces`, async () => {
  const baseline = `rollout-${run}`;
  const selector = { 'sbo-chaos-rollout': run };
  const names = Array.from({ length: N }, (_, i) => `rollout-${run}-${i}`);
  await createNamespaces(cluster.admin, names, selector, 32);
  const operator = await start();
  const started = performance.now();
  await createBaseline(cluster.admin, baseline, selector);

  // etcd first (back in about a second; nothing can be written meanwhile), then at once the API server:
  // waiting for progress in between lets a fast rollout finish first (the new API server serves
  // writes well before its /readyz says so).
  const atEtcdKill = await waitForApplied(baseline, names, Math.ceil(N * 0.1));
  let restartStarted = performance.now();
  await controlPlane.restart('etcd', { kill: true });
  const etcdDownSeconds = (performance.now() - restartStarted) / 1000;
  const atApiServerKill = await appliedCount(baseline, names);
  restartStarted = performance.now();
  await controlPlane.restart('kube-apiserver', { kill: true });
  const apiServerDownSeconds = (performance.now() - restartStarted) / 1000;

  await waitForConvergence(cluster.admin, baseline, names, CONVERGE_MS);
  const convergedSeconds = (performance.now() - started) / 1000;
  const deleteSeconds = await deleteBaselineCleanly(cluster.admin, baseline, CONVERGE_MS);
  await record({
    test: 'restarts', fault: `kube-apiserver and etcd SIGKILLed during a rollout over ${N} namespaces`,
    outcome: 'exactly one object of each kind per namespace; baseline deleted cleanly',
    measured: {
      namespaces: N, appliedAtApiServerKill: atApiServerKill, apiServerRestartSeconds: apiServerDownSeconds,
      appliedAtEtcdKill: atEtcdKill, etcdRestartSeconds: etcdDownSeconds, convergedSeconds, deleteSeconds,
      operatorRestarts: 0,
    },
  });
  // Both restarts fell inside the rollout, not after it.
  expect(atApiServerKill).toBeLessThan(N);
  expect(atEtcdKill).toBeLessThan(N);
  expect(operator.running).toBe(true);
  await operator.stop();
}, 1_800_000);

test(`the operator SIGKILLed ${OPERATOR_KILLS} times at random moments of a cold start over ${N} namespaces`, async () => {
  const baseline = `cold-${run}`;
  const selector = { 'sbo-chaos-cold': run };
  const names = Array.from({ length: N }, (_, i) => `cold-${run}-${i}`);
  await createNamespaces(cluster.admin, names, selector, 32);
  await createBaseline(cluster.admin, baseline, selector);
  const kills: { afterMs: number; applied: number }[] = [];
  const started = performance.now();
  // With two workers the whole cold start takes a few seconds here; each kill lands within its first second.
  for (let i = 0; i < OPERATOR_KILLS; i++) {
    const operator = await start();
    const afterMs = randomInt(50, Math.max(100, N * 10));
    await sleep(afterMs);
    operator.kill('SIGKILL');
    await operator.exited;
    kills.push({ afterMs, applied: await appliedCount(baseline, names) });
  }
  const last = await start();
  await waitForConvergence(cluster.admin, baseline, names, CONVERGE_MS);
  const convergedSeconds = (performance.now() - started) / 1000;
  const deleteSeconds = await deleteBaselineCleanly(cluster.admin, baseline, CONVERGE_MS);
  await record({
    test: 'restarts', fault: `operator SIGKILLed ${OPERATOR_KILLS} times during a cold start over ${N} namespaces`,
    outcome: 'exactly one object of each kind per namespace; baseline deleted cleanly',
    measured: {
      namespaces: N, killedAfterMs: kills.map((k) => k.afterMs).join('/'), appliedAtKills: kills.map((k) => k.applied).join('/'),
      convergedSeconds, deleteSeconds,
    },
  });
  // At least one kill interrupted the cold start (the first lands before much can be done).
  expect(kills[0]!.applied).toBeLessThan(N);
  await last.stop();
}, 1_800_000);
