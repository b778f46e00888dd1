// A tiny run of `make bench` on the test control plane, so the benchmark
// cannot rot: every scenario runs and reports sane counts. Timings are
// printed, never asserted (these machines are shared).
import { cpus } from 'node:os';
import { afterAll, expect, test } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, NetworkingV1Api } from '@kubernetes/client-node';
import { APPLIED_ANNOTATION } from '../../src/api/constants.ts';
import { formatAttribution, runAttribution } from '../../bench/attribution.ts';
import { formatTable, runBench, type BenchResult } from '../../bench/bench.ts';
import { CONTROLLER_MANAGER_AGENT } from '../../bench/cluster.ts';
import { formatRatio, runRatio } from '../../bench/ratio.ts';
import { formatTransport, measureTransport } from '../../bench/transport.ts';
import { auditEventsSince, auditLogMark } from '../../hack/kube/controlplane.ts';
import { adminKubeConfig, ignoreNotFound, testControlPlane } from '../support/cluster.ts';
import { deleteBaseline, waitForBaselineGone } from '../support/baselines.ts';
import { startOperator } from '../support/operator.ts';

let result: BenchResult | undefined;

afterAll(async () => {
  if (!result) return;
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const operator = await startOperator();
  const baselines = [result.baseline, ...Array.from({ length: result.manyBaselines?.baselines ?? 0 }, (_, i) => `many-${result?.manyBaselines?.run}-${i}`)];
  await Promise.all(baselines.map((name) => deleteBaseline(name)));
  await Promise.all(baselines.map((name) => waitForBaselineGone(name).catch(() => undefined)));
  await operator.stop();
  const run = result.baseline.replace(/^bench-/, '');
  const names = (await Promise.all([`bench=${run}`, `bench-limit=${run}`, 'bench-many'].map((labelSelector) => core.listNamespace({ labelSelector }))))
    .flatMap((list) => list.items.map((n) => n.metadata?.name ?? ''));
  await Promise.all(names.map((name) => core.deleteNamespace({ name }).catch(ignoreNotFound)));
}, 120_000);

test('make bench runs every scenario end to end (smoke: 12 namespaces)', async () => {
  const { dir, server, kubeconfigPath, versions } = testControlPlane();
  const mark = await auditLogMark(dir);
  const logged: string[] = [];
  result = await runBench({
    namespaces: 12, rates: [5, 10], seconds: 2, driftRate: 5, manyBaselines: 4, manyNamespaces: 12,
    controlPlane: { dir, server, kubeconfigPath, versions }, log: (line) => logged.push(line), quietTimeoutMs: 20_000,
    // Bound by RBAC, as in a cluster (`make bench` runs it as system:masters by default): the binding works, and the role suffices.
    operatorIdentity: 'rbac',
  });
  expect(result.runtime.identity).toBe('a user bound to the roles of config/rbac');
  process.stderr.write(`\n${formatTable(result)}\n`);
  expect(result.desiredObjectsPerNamespace).toBe(6);
  // The end is the operator's last namespace write in the audit log: after its start, no later than the poll that saw it.
  expect(result.coldStart.seconds).toBeGreaterThan(0);
  expect(result.coldStart.seconds).toBeLessThanOrEqual(result.coldStart.detectedSeconds ?? 0);
  expect(result.coldStart.objectWrites).toBe(12 * 6);
  expect(result.coldStart.namespaceWrites).toBe(12);
  expect(result.coldStart.reportWrites).toBe(12);
  // Every namespace reconciled at least once. (More is expected at this size: the baseline's first reconcile queues
  // every namespace its rollout plan lets move, and with 12 most were already done; at 1,000 most are still queued.)
  expect(result.coldStart.reconciles).toBeGreaterThanOrEqual(12);
  expect(result.steadyState.writes).toBe(0);
  expect(result.provisioning.map((p) => p.count)).toEqual([10, 20]);
  // The create request is part of each namespace's time: never longer than the whole.
  for (const p of result.provisioning) expect(p.createP99).toBeGreaterThan(0);
  for (const p of result.provisioning) expect(p.createP99).toBeLessThanOrEqual(p.max);
  // Each provisioning run says how busy the machine was: some of its cores, the operator's share among them
  // (the control plane's shares only where the benchmark started it: not here).
  for (const { load } of [...result.provisioning, ...result.limit?.provisioning ?? []]) {
    expect(load?.cores).toBe(cpus().length);
    expect(load?.busy).toBeGreaterThan(0);
    expect(load?.busy).toBeLessThanOrEqual(cpus().length + 0.05);
    expect(load?.operator).toBeLessThanOrEqual((load?.busy ?? 0) + 0.05);
    expect(load?.apiServer).toBeUndefined();
  }
  for (const { load } of result.provisioning) expect(load?.operator).toBeGreaterThan(0);
  // The cold start, the limit's sweep and its timed run, and each provisioning run (the operator's and the limit's) waited for
  // kube-controller-manager to go quiet, whose writes the audit log tells by their user agent (it wrote
  // a ServiceAccount into each new namespace).
  expect(logged.filter((line) => /kube-controller-manager (idle|still writing) after/.test(line)).length).toBe(7);
  expect((await auditEventsSince(dir, mark, CONTROLLER_MANAGER_AGENT)).length).toBeGreaterThan(0);
  expect(result.drift?.count).toBe(10);
  // Both limit writers wrote: one rate per concurrency level that had namespaces to write,
  // and each namespace's objects, the namespace and a Report like the operator's.
  const limit = result.limit!;
  expect(Object.keys(limit.go.ratesPerConcurrency).length).toBe(6);
  expect(Object.keys(limit.clientNode.ratesPerConcurrency).length).toBe(4);
  expect(limit.go.writesPerNamespace).toBe(6 + 1 + 1);
  // The limit is one timed run, at the sweep's best concurrency, over namespaces of its own.
  expect(limit.go.namespaces).toBe(12);
  expect(limit.go.sweepNamespaces).toBe(12);
  expect(limit.go.ratesPerConcurrency[String(limit.go.bestConcurrency)]).toBe(Math.max(...Object.values(limit.go.ratesPerConcurrency)));
  expect(limit.go.seconds).toBeGreaterThan(0);
  expect(limit.go.sweepSeconds).toBeGreaterThan(0);
  // The provisioning limit made its namespaces at each rate, each with its objects and then its annotation.
  expect(limit.provisioning?.map((p) => p.count)).toEqual([10, 20]);
  for (const p of limit.provisioning ?? []) expect(p.max).toBeGreaterThanOrEqual(p.p99);
  const run = result.baseline.replace(/^bench-/, '');
  const kubeConfig = adminKubeConfig();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  for (const name of [`limit-new-${run}-5-9`, `limit-new-${run}-10-19`, `limit-go-${run}-11`]) {
    const namespace = await core.readNamespace({ name });
    expect(namespace.metadata?.annotations?.[APPLIED_ANNOTATION]).toBe(`{"limit-${run}":1}`);
    expect(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const policies = await kubeConfig.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace: name });
    expect(policies.items.length).toBeGreaterThan(0);
  }
  expect(result.memory.coldStart.rssMiB).toBeGreaterThan(0);
  expect(result.memory.coldStart.liveHeapMiB).toBeGreaterThan(0);
  // The peak is the kernel's high-water mark: never below any RSS read during the cold start.
  expect(result.memory.peakRssMiB).toBeGreaterThanOrEqual(result.memory.coldStart.rssMiB);
  expect(result.memory.settledRssMiB).toBeGreaterThan(0);
  // The quota change reaches every selected namespace, the first 12 and the provisioned ones, at once and in steps alike:
  // one quota write and one namespace write (its applied annotation) each.
  const { immediate, progressive } = result.rollout!;
  for (const rollout of [immediate, progressive]) {
    expect(rollout.namespaces).toBe(12 + result.newNamespaces.length);
    expect(rollout.objectWrites).toBe(rollout.namespaces);
    expect(rollout.namespaceWrites).toBe(rollout.namespaces);
    expect(rollout.seconds).toBeGreaterThan(0);
  }
  const many = result.manyBaselines!;
  expect(many.pairs).toBeGreaterThan(0);
  expect(many.restart.writes).toBe(0);
  expect(many.relabel.count).toBe(12);
  expect(many.coldStart.writes).toBeGreaterThanOrEqual(many.pairs);
  // A run that skipped the optional scenarios (--skip limit,drift,rollout) still gets its table.
  const table = formatTable({ ...result, limit: undefined, ratio: undefined, ratioClientNode: undefined, drift: undefined, rollout: undefined });
  expect(table).toContain('cold start: all compliant');
  expect(table).toContain('restart: all reconciled');
  expect(table).not.toMatch(/limit|drift|rollout/);
}, 300_000);

test('make bench-attribution runs each writer over namespaces of its own (smoke: 12 namespaces)', async () => {
  const { dir, server, kubeconfigPath, versions } = testControlPlane();
  const attribution = await runAttribution(12, 1, { dir, server, kubeconfigPath, versions });
  process.stderr.write(`\n${formatAttribution(attribution)}\n`);
  expect(attribution.runs.map((r) => r.writer)).toEqual(['operator', 'limit', 'limit+cpu', 'limit+gc', 'no-report']);
  for (const r of attribution.runs) expect(r.seconds).toBeGreaterThan(0);
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const namespaces = (await core.listNamespace({ labelSelector: 'bench-limit' })).items.map((n) => n.metadata?.name ?? '');
  const run = namespaces.find((name) => name.startsWith('attr-'))?.replace(/-\d+-\d+$/, '');
  expect(run).toBeDefined();
  // The operator provisioned its namespaces; each client-go writer wrote its own, with a Report where it should.
  const reports = async (name: string) => (await adminKubeConfig().makeApiClient(CustomObjectsApi).listNamespacedCustomObject({ group: 'openreports.io', version: 'v1alpha1', namespace: name, plural: 'reports' }) as { items: unknown[] }).items.length;
  expect(await reports(`${run}-0-11`)).toBe(1);
  for (const writer of [1, 2, 3]) expect(await reports(`${run}-${writer}-11`)).toBe(1);
  expect(await reports(`${run}-4-11`)).toBe(0);
  // Each burner ran and used CPU of its own: one that died at once would read 0.
  for (const burner of attribution.runs.filter((r) => r.writer === 'limit+cpu' || r.writer === 'limit+gc')) expect(burner.writerMs).toBeGreaterThan(0);
  for (const writer of [0, 1, 2, 3, 4]) {
    const policies = await adminKubeConfig().makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace: `${run}-${writer}-11` });
    expect(policies.items.length).toBeGreaterThan(0);
  }
  const operator = await startOperator();
  try {
    await deleteBaseline(run!);
    await waitForBaselineGone(run!).catch(() => undefined);
  } finally {
    await operator.stop();
  }
  await Promise.all([...namespaces.filter((name) => name.startsWith(`${run}-`)), ...Array.from({ length: 12 }, (_, i) => `${run}-0-${i}`)]
    .map((name) => core.deleteNamespace({ name }).catch(ignoreNotFound)));
}, 300_000);

test('make bench-ratio times the operator and client-go in pairs, the order alternating (smoke: 12 namespaces, 2 pairs)', async () => {
  const { dir, server, kubeconfigPath, versions } = testControlPlane();
  const ratio = await runRatio({ namespaces: 12, pairs: 2, controlPlane: { dir, server, kubeconfigPath, versions }, log: () => undefined });
  process.stderr.write(`\n${formatRatio(ratio)}\n`);
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const baselines = [`${ratio.run}-0`, `${ratio.run}-1`];
  try {
    expect(ratio.pairs.map((p) => p.order)).toEqual([['operator', 'limit'], ['limit', 'operator']]);
    // The client-go sweep ran (one rate per concurrency level) and set the concurrency of every pair.
    expect(Object.keys(ratio.sweep ?? {}).length).toBe(6);
    expect(ratio.sweep?.[String(ratio.concurrency)]).toBe(Math.max(...Object.values(ratio.sweep ?? {})));
    for (const pair of ratio.pairs) {
      expect(pair.operator.seconds).toBeGreaterThan(0);
      expect(pair.limit.seconds).toBeGreaterThan(0);
      expect(pair.ratio).toBeCloseTo(pair.operator.seconds / pair.limit.seconds, 10);
      // Each cold start provisioned its own namespaces: six objects, the namespace and a Report each (and the baseline's status).
      expect(pair.operator.writesPerNamespace).toBeGreaterThanOrEqual(8);
      expect(pair.operator.firstWriteSeconds).toBeLessThan(pair.operator.seconds);
    }
    // Two pairs: the median is the mean of the two.
    expect(ratio.medianRatio).toBeCloseTo(((ratio.pairs[0]?.ratio ?? NaN) + (ratio.pairs[1]?.ratio ?? NaN)) / 2, 10);
    // client-go wrote its own namespaces, the objects and a Report like the operator's, in both pairs
    // (the second pair's limit ran before its operator: the Report came from the first pair's).
    for (const pair of [0, 1]) {
      const namespace = `${ratio.run}-${pair}-go-11`;
      const policies = await adminKubeConfig().makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace });
      expect(policies.items.length).toBeGreaterThan(0);
      const reports = await adminKubeConfig().makeApiClient(CustomObjectsApi).listNamespacedCustomObject({ group: 'openreports.io', version: 'v1alpha1', namespace, plural: 'reports' }) as { items: unknown[] };
      expect(reports.items.length).toBe(1);
      // The operator provisioned its own namespaces with the pair's baseline (the annotation names it and its revision).
      const applied = (await core.readNamespace({ name: `${ratio.run}-${pair}-op-11` })).metadata?.annotations?.[APPLIED_ANNOTATION];
      expect(Object.keys(JSON.parse(applied ?? '{}') as object)).toEqual([`${ratio.run}-${pair}`]);
    }
  } finally {
    const operator = await startOperator();
    try {
      await Promise.all(baselines.map((name) => deleteBaseline(name)));
      await Promise.all(baselines.map((name) => waitForBaselineGone(name).catch(() => undefined)));
    } finally {
      await operator.stop();
    }
    const names = (await core.listNamespace()).items.map((n) => n.metadata?.name ?? '').filter((name) => name.startsWith(`${ratio.run}-`));
    await Promise.all(names.map((name) => core.deleteNamespace({ name }).catch(ignoreNotFound)));
  }
}, 300_000);

test('make bench-transport measures each client on the same requests, every answer the object (smoke: 40 requests)', async () => {
  for (const apply of [false, true]) {
    const rounds = await measureTransport(testControlPlane().kubeconfigPath, {
      requests: 40, concurrency: 4, apply, rounds: 1, namespace: `transport-${apply ? 'apply' : 'get'}-${Date.now().toString(36)}`,
    });
    process.stderr.write(`\n${formatTransport(rounds)}\n`);
    expect(rounds.map((r) => r.client)).toEqual(['KubeClient', 'undici', 'node:http2']);
    for (const r of rounds) {
      expect(r.cpuMicrosPerRequest).toBeGreaterThan(0);
      expect(r.requestsPerSecond).toBeGreaterThan(0);
    }
  }
}, 120_000);
