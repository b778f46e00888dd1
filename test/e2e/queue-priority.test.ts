// A new namespace does not wait behind a change to many: the namespaces a
// baseline change fans out to (and the first look at every namespace after a
// start) are queued at low priority, one created meanwhile at normal priority
// (src/runtime/workqueue.ts). Against the real API server, with one namespace
// worker so that the fan-out takes long enough to be overtaken.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { APPLIED_ANNOTATION } from '../../src/api/constants.ts';
import type { SecurityBaselineSpec } from '../../src/api/types.ts';
import { createBaseline, deleteBaseline, getBaseline, replaceBaseline, waitForBaselineGone, waitForStatus } from '../support/baselines.ts';
import { adminKubeConfig, createTestNamespace, eventually } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';

const core = adminKubeConfig().makeApiClient(CoreV1Api);
const run = randomBytes(3).toString('hex');
const name = `priority-${run}`;
const label = { 'sbo-priority': name };
const SELECTED = 100;
let operator: RunningOperator;

const revisionOf = (annotations: Record<string, string> | undefined): string | undefined =>
  (JSON.parse(annotations?.[APPLIED_ANNOTATION] ?? '{}') as Record<string, string>)[name];

beforeAll(async () => {
  await installCrds();
  operator = await startOperator({ env: { NAMESPACE_WORKERS: '1' } });
}, 60_000);

afterAll(async () => {
  await deleteBaseline(name);
  await waitForBaselineGone(name, 60_000).catch(() => undefined);
  await operator.stop();
}, 90_000);

test('a namespace created during a baseline change over many is provisioned before the change has reached most of them', async () => {
  const spec: SecurityBaselineSpec = { namespaceSelector: { matchLabels: label }, resourceQuota: { hard: { pods: '4' } }, networkPolicy: { allowDNS: true } };
  for (let i = 0; i < SELECTED; i += 20) await Promise.all(Array.from({ length: 20 }, () => createTestNamespace('prio', label)));
  await createBaseline(name, spec);
  const before = await waitForStatus(name, (b) => b.status?.namespaces?.compliant === SELECTED, 90_000);

  // The change reaches all of them (Immediate), one at a time; once it has started, a namespace is created.
  await replaceBaseline(name, { ...spec, resourceQuota: { hard: { pods: '5' } } });
  const selected = async () => (await core.listNamespace({ labelSelector: `sbo-priority=${name}` })).items;
  await eventually(async () => (await selected()).some((ns) => revisionOf(ns.metadata?.annotations) !== before.status?.updateRevision), { timeoutMs: 30_000, intervalMs: 20 });
  const created = await createTestNamespace('prio-new', label);
  await eventually(async () => revisionOf((await core.readNamespace({ name: created })).metadata?.annotations) !== undefined, { timeoutMs: 30_000, intervalMs: 20 });

  const stillOld = (await selected()).filter((ns) => ns.metadata?.name !== created && revisionOf(ns.metadata?.annotations) === before.status?.updateRevision);
  process.stderr.write(`\npriority: the new namespace was provisioned while ${stillOld.length} of ${SELECTED} namespaces had not yet moved to the new revision\n`);
  // First in, first out, it would have waited for all of them.
  expect(stillOld.length).toBeGreaterThanOrEqual(SELECTED / 2);
  expect((await core.readNamespacedResourceQuota({ namespace: created, name: `${name}-quota` })).spec?.hard?.pods).toBe('5');

  const after = await waitForStatus(name, (b) => b.status?.namespaces?.compliant === SELECTED + 1, 90_000);
  expect(after.status?.updateRevision).not.toBe(before.status?.updateRevision);
  expect(await getBaseline(name)).toBeDefined();
}, 240_000);
