// Safe change, end to end against the real control plane: revisions as
// ControllerRevisions, a Progressive rollout in steps with pauses, `paused`,
// pre-flight holding namespaces whose pods the new revision would refuse (and
// halting at maxFailures), drift at an old revision, a restart mid-rollout,
// a revert, and what each of these writes, from the API server's audit log.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { AppsV1Api, CoreV1Api, type CoreV1Event, type V1Pod } from '@kubernetes/client-node';
import { APPLIED_ANNOTATION } from '../../src/api/constants.ts';
import type { SecurityBaselineSpec } from '../../src/api/types.ts';
import { NAMESPACES, managedKind } from '../../src/controller/kinds.ts';
import { revisionName } from '../../src/resources/revision.ts';
import { auditMark, writesSince } from '../support/audit.ts';
import {
  condition, createBaseline, deleteBaseline, getBaseline, replaceBaseline, waitForBaselineGone, waitForStatus, writerAs,
} from '../support/baselines.ts';
import { adminKubeConfig, createTestNamespace, eventually, messageOf, statusOf, waitForDefaultServiceAccount } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { createException, deleteException, inFuture } from '../support/exceptions.ts';
import { OPERATOR_NAMESPACE, metricValue, startOperator, type RunningOperator } from '../support/operator.ts';

const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const run = randomBytes(3).toString('hex');
const created: string[] = [];
const exceptions: string[] = [];
let operator: RunningOperator;

async function baseline(prefix: string, spec: Omit<SecurityBaselineSpec, 'namespaceSelector'>): Promise<{ name: string; label: Record<string, string> }> {
  const name = `${prefix}-${run}`;
  const label = { 'sbo-rollout': name };
  await createBaseline(name, { namespaceSelector: { matchLabels: label }, ...spec });
  created.push(name);
  return { name, label };
}

/** Replaces the baseline's spec, keeping its selector. */
async function change(name: string, edit: (spec: SecurityBaselineSpec) => SecurityBaselineSpec): Promise<void> {
  await replaceBaseline(name, edit((await getBaseline(name)).spec));
}

const revisionOf = async (namespace: string, name: string) =>
  (JSON.parse((await core.readNamespace({ name: namespace })).metadata?.annotations?.[APPLIED_ANNOTATION] ?? '{}') as Record<string, string>)[name];
const podsQuota = async (namespace: string, name: string) => (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec?.hard?.pods;

async function namespaceEvents(namespace: string, reason: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=Namespace,involvedObject.name=${namespace},reason=${reason}` })).items;
}

async function baselineEvents(name: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=SecurityBaseline,involvedObject.name=${name}` })).items;
}

/** A pod Pod Security `baseline` admits and `restricted` refuses (no kubelet runs: it only exists in the API). */
function laxPod(name: string, image = 'registry.example.com/app:1'): V1Pod {
  return { metadata: { name }, spec: { containers: [{ name: 'app', image }] } };
}

beforeAll(async () => {
  await installCrds();
  operator = await startOperator();
}, 60_000);

afterAll(async () => {
  await Promise.all(exceptions.map((name) => deleteException(name)));
  await Promise.all(created.map((name) => deleteBaseline(name)));
  await Promise.all(created.map((name) => waitForBaselineGone(name, 60_000).catch(() => undefined)));
  await operator.stop();
}, 120_000);

describe('Progressive rollout', () => {
  const COUNT = 50;
  let name: string;
  let label: Record<string, string>;
  let namespaces: string[];
  let rev1: string;
  let rev2: string;

  beforeAll(async () => {
    ({ name, label } = await baseline('steps', {
      resourceQuota: { hard: { pods: '4' } },
      rollout: { strategy: 'Progressive', steps: [{ namespaces: 5, pauseSeconds: 4 }, { percent: 50, pauseSeconds: 4 }, { percent: 100 }] },
    }));
    namespaces = await Promise.all(Array.from({ length: COUNT }, () => createTestNamespace('steps', label)));
    // New namespaces get the update revision at once, whatever the strategy.
    await waitForStatus(name, (b) => b.status?.namespaces?.compliant === COUNT && b.status.rollout?.updated === COUNT, 60_000);
    rev1 = (await getBaseline(name)).status?.updateRevision ?? '';
  }, 120_000);

  test('every distinct spec is a revision; status and each namespace name it', async () => {
    const b = await getBaseline(name);
    expect(rev1).toBe(revisionName(name, b.spec));
    expect(b.status?.currentRevision).toBe(rev1);
    const stored = await apps.readNamespacedControllerRevision({ namespace: OPERATOR_NAMESPACE, name: rev1 });
    expect(stored.metadata?.labels?.['security.baseline.dev/baseline']).toBe(name);
    expect((stored.data as { spec: SecurityBaselineSpec }).spec.resourceQuota).toEqual({ hard: { pods: '4' } });
    expect(await revisionOf(namespaces[0]!, name)).toBe(rev1);
  });

  test('a change moves exactly each step\'s namespaces, pauses between steps, keeps the others repaired at their revision, and completes', async () => {
    const mark = await auditMark();
    await change(name, (spec) => ({ ...spec, resourceQuota: { hard: { pods: '8' } } }));
    rev2 = revisionName(name, { ...(await getBaseline(name)).spec });
    expect(rev2).not.toBe(rev1);

    // Step 1: five namespaces, then its pause.
    const first = await waitForStatus(name, (b) => b.status?.rollout?.revision === rev2 && b.status.rollout.stepCompletedAt !== undefined, 30_000);
    expect(first.status?.rollout).toMatchObject({ step: 0, updated: 5, pending: COUNT - 5 });
    const moved = (await Promise.all(namespaces.map(async (ns) => (await podsQuota(ns, name)) === '8'))).filter(Boolean).length;
    expect(moved).toBe(5);
    expect(first.status?.updateRevision).toBe(rev2);
    expect(first.status?.currentRevision).toBe(rev1);
    expect(condition(first, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });

    // A namespace created mid-rollout gets the update revision at once.
    const late = await createTestNamespace('steps-late', label);
    // Its annotation is written after its objects, in the same reconcile: wait for both.
    await eventually(async () => (await podsQuota(late, name)) === '8' && (await revisionOf(late, name)) !== undefined);
    expect(await revisionOf(late, name)).toBe(rev2);

    // Drift in a namespace not yet moved is put back at its own revision.
    const waiting = (await Promise.all(namespaces.map(async (ns) => [ns, await revisionOf(ns, name)] as const))).find(([, revision]) => revision === rev1)?.[0] as string;
    await writerAs('kubectl-edit').mergePatch(managedKind('v1', 'ResourceQuota')!, `${name}-quota`, waiting, { spec: { hard: { pods: '99' } } });
    await eventually(async () => (await podsQuota(waiting, name)) === '4');

    // During the pause nothing more moves; then the next step (half), its pause, and the rest.
    const pausedUntil = Date.parse(first.status?.rollout?.stepCompletedAt ?? '') + 4_000;
    const observed: { at: number; updated: number }[] = [];
    const done = await waitForStatus(name, (b) => {
      observed.push({ at: Date.now(), updated: b.status?.rollout?.revision === rev2 ? b.status.rollout.updated ?? 0 : 0 });
      return b.status?.currentRevision === rev2;
    }, 60_000);
    // Seconds in the status are whole: allow one for rounding.
    expect(observed.filter((o) => o.at < pausedUntil - 1_000).every((o) => o.updated <= 6)).toBe(true);
    expect(observed.some((o) => o.updated >= 26 && o.updated < COUNT + 1)).toBe(true);
    expect(done.status?.rollout).toMatchObject({ revision: rev2, step: 2, updated: COUNT + 1, pending: 0, held: 0 });
    for (const ns of namespaces) expect(await podsQuota(ns, name)).toBe('8');
    const reasons = (await baselineEvents(name)).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['RolloutStarted', 'RolloutStep', 'RolloutComplete']));

    // Write economy: one quota write and one annotation write per namespace that moved, the revision, a few status writes.
    const writes = await writesSince(mark, operator.user);
    const inNamespaces = writes.filter((w) => namespaces.includes(w.namespace ?? '') && w.resource === 'resourcequotas');
    const annotations = writes.filter((w) => w.resource === 'namespaces' && namespaces.includes(w.name ?? ''));
    process.stderr.write(`\nrollout of a quota change over ${COUNT} namespaces in 3 steps: ${inNamespaces.length} quota writes (1 a drift repair), `
      + `${annotations.length} namespace writes, ${writes.filter((w) => w.resource === 'controllerrevisions').length} revision writes, `
      + `${writes.filter((w) => w.subresource === 'status').length} status writes\n`);
    expect(inNamespaces.length).toBe(COUNT + 1); // each once, plus the repaired drift
    expect(annotations.length).toBe(COUNT);
    expect(writes.filter((w) => w.resource === 'controllerrevisions').length).toBe(1);
    for (const ns of namespaces) expect(await revisionOf(ns, name)).toBe(rev2);
  }, 120_000);

  test('paused: nothing moves to a new revision and no namespace is written; unpaused, the rollout goes on', async () => {
    await change(name, (spec) => ({ ...spec, paused: true, resourceQuota: { hard: { pods: '12' } } }));
    const rev3 = revisionName(name, (await getBaseline(name)).spec);
    await waitForStatus(name, (b) => b.status?.updateRevision === rev3 && condition(b, 'Progressing')?.reason === 'Paused', 30_000);
    const mark = await auditMark();
    const before = await metricValue(await operator.metrics(), 'security_baseline_rollout_namespaces', { baseline: name, state: 'updated' });
    // Give a running rollout every chance to move something: several reconciles of every namespace.
    await writerAs('kubectl-label').mergePatch(NAMESPACES, namespaces[0]!, undefined, { metadata: { labels: { poke: '1' } } });
    await eventually(async () => metricValue(await operator.metrics(), 'workqueue_depth') === 0);
    expect(before).toBe(0);
    expect((await writesSince(mark, operator.user)).filter((w) => w.resource === 'namespaces' || namespaces.includes(w.namespace ?? ''))).toEqual([]);
    for (const ns of namespaces.slice(0, 5)) expect(await podsQuota(ns, name)).toBe('8');

    await change(name, (spec) => ({ ...spec, paused: false }));
    await waitForStatus(name, (b) => (b.status?.rollout?.updated ?? 0) >= 5 && b.status?.rollout?.revision === rev3, 30_000);
  }, 60_000);

  test('the operator killed mid-rollout resumes at the same step without moving any namespace twice', async () => {
    // Let the unpaused rollout finish, then start a new one and kill the operator once its first step has moved.
    await waitForStatus(name, (b) => b.status?.currentRevision === b.status?.updateRevision, 60_000);
    const mark = await auditMark();
    await change(name, (spec) => ({ ...spec, resourceQuota: { hard: { pods: '16' } } }));
    const rev4 = revisionName(name, (await getBaseline(name)).spec);
    await waitForStatus(name, (b) => b.status?.rollout?.revision === rev4 && b.status.rollout.step === 0 && b.status.rollout.stepCompletedAt !== undefined, 30_000);
    operator.kill('SIGKILL');
    await operator.stop();
    operator = await startOperator();
    const done = await waitForStatus(name, (b) => b.status?.currentRevision === rev4, 60_000);
    expect(done.status?.rollout?.step).toBe(2);
    // Both operators (one identity): each namespace's quota was written once for this revision, before or after the kill.
    const quotaWrites = (await writesSince(mark, operator.user)).filter((w) => w.resource === 'resourcequotas' && namespaces.includes(w.namespace ?? ''));
    const perNamespace = new Map<string, number>();
    for (const w of quotaWrites) perNamespace.set(w.namespace ?? '', (perNamespace.get(w.namespace ?? '') ?? 0) + 1);
    expect(perNamespace.size).toBe(COUNT);
    expect([...perNamespace.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    for (const ns of namespaces) expect(await podsQuota(ns, name)).toBe('16');
  }, 180_000);

  test('a revert reuses the earlier revision', async () => {
    await change(name, (spec) => ({ ...spec, resourceQuota: { hard: { pods: '8' } } }));
    const reverted = await waitForStatus(name, (b) => b.status?.updateRevision === rev2, 30_000);
    expect(reverted.status?.updateRevision).toBe(rev2);
    const revisions = await apps.listNamespacedControllerRevision({ namespace: OPERATOR_NAMESPACE, labelSelector: `security.baseline.dev/baseline=${name}` });
    const numbers = Object.fromEntries(revisions.items.map((r) => [r.metadata?.name, r.revision]));
    const withPods = (pods: string) => revisionName(name, { ...reverted.spec, resourceQuota: { hard: { pods } } });
    expect(Object.keys(numbers).sort()).toEqual([rev1, rev2, withPods('12'), withPods('16')].sort());
    expect(numbers[rev2]).toBe(Math.max(...Object.values(numbers) as number[]));
  }, 60_000);
});

describe('pre-flight', () => {
  test('a stricter Pod Security level holds namespaces whose pods it would refuse, and halts at maxFailures', async () => {
    const { name, label } = await baseline('psa', {
      podSecurity: { enforce: 'baseline' },
      rollout: { strategy: 'Progressive', steps: [{ percent: 100 }], maxFailures: 2 },
    });
    const namespaces = await Promise.all(Array.from({ length: 5 }, () => createTestNamespace('psa', label)));
    await waitForStatus(name, (b) => b.status?.namespaces?.compliant === 5, 30_000);
    const violating = namespaces.slice(0, 3);
    for (const ns of violating) {
      await waitForDefaultServiceAccount(ns);
      await core.createNamespacedPod({ namespace: ns, body: laxPod('web-0') });
      await core.createNamespacedPod({ namespace: ns, body: laxPod('web-1') });
    }
    await change(name, (spec) => ({ ...spec, podSecurity: { enforce: 'restricted' } }));

    // Halted once two namespaces are held: the third may be held too, or not tried at all (a halt stops
    // namespaces of the step that had not moved yet), and so may the clean ones.
    const halted = await waitForStatus(name, (b) => condition(b, 'RolloutHalted')?.status === 'True' && (b.status?.rollout?.held ?? 0) >= 2, 30_000);
    const message = condition(halted, 'RolloutHalted')?.message ?? '';
    process.stderr.write(`\nRolloutHalted: ${message}\n`);
    expect(condition(halted, 'RolloutHalted')?.reason).toBe('PreflightFailed');
    expect(message).toMatch(/halted at step 1 of 1 after [23] failures \(maxFailures 2\): psa-[0-9a-f]+: 2 pods would violate Pod Security restricted:latest \(web-0 \(and 1 other pod\): /);
    const held = halted.status?.rollout?.held ?? 0;
    expect(halted.status?.rollout).toMatchObject({ pending: 5 - held - (halted.status?.rollout?.updated ?? 0) });
    for (const ns of violating) {
      expect((await core.readNamespace({ name: ns })).metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('baseline');
    }
    const heldEvents = (await Promise.all(violating.map((ns) => namespaceEvents(ns, 'PreflightFailed')))).filter((events) => events.length > 0);
    expect(heldEvents.length).toBe(held);
    for (const events of heldEvents) {
      expect(events[0]?.message).toContain(`baseline ${name}: held at revision`);
      expect(events[0]?.message).toContain('web-0 (and 1 other pod)');
    }
    expect(metricValue(await operator.metrics(), 'security_baseline_rollout_namespaces', { baseline: name, state: 'held' })).toBe(held);
    expect(metricValue(await operator.metrics(), 'security_baseline_rollout_halted', { baseline: name })).toBe(1);
    expect((await baselineEvents(name)).some((e) => e.reason === 'RolloutHalted' && e.type === 'Warning')).toBe(true);

    // Fixed: the pods go; the namespaces move on their next look, and the halt lifts.
    for (const ns of violating) {
      await core.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 });
      await writerAs('kubectl-label').mergePatch(NAMESPACES, ns, undefined, { metadata: { labels: { fixed: 'true' } } });
    }
    const resumed = await waitForStatus(name, (b) => condition(b, 'RolloutHalted')?.status === 'False' && b.status?.rollout?.updated === 5, 60_000);
    expect(condition(resumed, 'RolloutHalted')?.reason).toBe('RolloutComplete');
  }, 120_000);

  test('a narrower image policy holds a namespace running a refused image; until it moves, its old policy still admits it there', async () => {
    const { name, label } = await baseline('images', {
      imagePolicy: { allowedRegistries: ['registry.example.com/', 'docker.io/library/'] },
      rollout: { strategy: 'Progressive', steps: [{ percent: 100 }], maxFailures: 5 },
    });
    const [running, clean] = await Promise.all([createTestNamespace('images', label), createTestNamespace('images', label)]);
    await waitForStatus(name, (b) => b.status?.namespaces?.compliant === 2, 30_000);
    await waitForDefaultServiceAccount(running!);
    await eventually(() => core.createNamespacedPod({ namespace: running!, body: laxPod('nginx', 'nginx:1.27') }));
    await change(name, (spec) => ({ ...spec, imagePolicy: { allowedRegistries: ['registry.example.com/'] } }));
    const held = await waitForStatus(name, (b) => b.status?.rollout?.held === 1 && b.status.rollout.updated === 1, 30_000);
    expect(condition(held, 'RolloutHalted')?.status).toBe('False');
    const events = await namespaceEvents(running!, 'PreflightFailed');
    expect(events[0]?.message).toContain('1 pod runs images the image policy would refuse (nginx: nginx:1.27)');

    await waitForDefaultServiceAccount(clean!);
    const attempt = (namespace: string) => core.createNamespacedPod({ namespace, body: laxPod(`p-${randomBytes(3).toString('hex')}`, 'nginx:1.27'), dryRun: 'All' })
      .then(() => 'admitted', (error: unknown) => `${statusOf(error)} ${messageOf(error)}`);
    await eventually(async () => (await attempt(clean!)).startsWith('403'));
    expect(await attempt(running!)).toBe('admitted');
  }, 60_000);

  test('a namespace whose exception lets its pods in is not held for them: pre-flight compares the revisions as the exception relaxes them', async () => {
    const { name, label } = await baseline('relaxed', {
      podSecurity: { enforce: 'baseline' },
      rollout: { strategy: 'Progressive', steps: [{ percent: 100 }], maxFailures: 5 },
    });
    const [excepted, plain] = await Promise.all([createTestNamespace('relaxed', label), createTestNamespace('relaxed', label)]) as [string, string];
    await waitForStatus(name, (b) => b.status?.namespaces?.compliant === 2, 30_000);
    const exception = `relaxed-${run}`;
    await createException(exception, {
      baseline: name, namespaces: [excepted], reason: 'legacy pods until their migration', expiresAt: inFuture(3_600_000),
      relax: { podSecurity: { enforce: 'privileged' } },
    });
    exceptions.push(exception);
    const enforceOf = async (namespace: string) => (await core.readNamespace({ name: namespace })).metadata?.labels?.['pod-security.kubernetes.io/enforce'];
    await eventually(async () => (await enforceOf(excepted)) === 'privileged');
    for (const ns of [excepted, plain]) {
      await waitForDefaultServiceAccount(ns);
      await core.createNamespacedPod({ namespace: ns, body: laxPod('legacy-0') });
    }
    await change(name, (spec) => ({ ...spec, podSecurity: { enforce: 'restricted' } }));

    // Restricted would refuse both pods, but in the excepted namespace the exception still lowers it to privileged:
    // that namespace moves, and only the other is held.
    const settled = await waitForStatus(name, (b) => b.status?.rollout?.held === 1 && b.status.rollout.updated === 1, 30_000);
    expect(await revisionOf(excepted, name)).toBe(settled.status?.updateRevision);
    expect(await revisionOf(plain, name)).not.toBe(settled.status?.updateRevision);
    expect(await namespaceEvents(excepted, 'PreflightFailed')).toEqual([]);
    expect((await namespaceEvents(plain, 'PreflightFailed'))[0]?.message).toContain('1 pod would violate Pod Security restricted:latest (legacy-0: ');
    expect(await enforceOf(excepted)).toBe('privileged');
    expect(await enforceOf(plain)).toBe('baseline');
  }, 60_000);

  test('Immediate applies at once and reports what pre-flight found', async () => {
    const { name, label } = await baseline('now', { podSecurity: { enforce: 'baseline' } });
    const ns = await createTestNamespace('now', label);
    await waitForStatus(name, (b) => b.status?.namespaces?.compliant === 1, 30_000);
    await waitForDefaultServiceAccount(ns);
    await core.createNamespacedPod({ namespace: ns, body: laxPod('legacy-0') });
    await change(name, (spec) => ({ ...spec, podSecurity: { enforce: 'restricted' } }));
    await eventually(async () => (await core.readNamespace({ name: ns })).metadata?.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted');
    const events = await eventually(async () => {
      const found = await namespaceEvents(ns, 'PreflightFailed');
      return found.length > 0 ? found : false;
    });
    expect(events[0]?.message).toMatch(/moved anyway from revision now-[0-9a-f]+-[0-9a-f]{10}, not now-[0-9a-f]+-[0-9a-f]{10}: 1 pod would violate Pod Security restricted:latest \(legacy-0: /);
  }, 60_000);
});
