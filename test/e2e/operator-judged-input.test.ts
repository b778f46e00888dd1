// Bad input that admission cannot judge, because it depends on the namespace
// (a label a template reads) or on what the API server accepts for the objects
// the baseline makes. The CRD accepts these baselines; the operator must
// report each as a Degraded condition whose message names the field, keep
// running, and keep serving the other baselines. The run prints the catalogue.
// (What admission refuses is test/cluster/crd-validation.test.ts.)
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import type { SecurityBaselineSpec } from '../../src/api/types.ts';
import { adminKubeConfig, createTestNamespace, eventually } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { condition, createBaseline, deleteBaseline, waitForBaselineGone, waitForStatus } from '../support/baselines.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';

const run = randomBytes(3).toString('hex');
const core = adminKubeConfig().makeApiClient(CoreV1Api);
const selector = { 'sbo-judged': run };
let operator: RunningOperator;
const baselines: string[] = [];
const catalogue: { name: string; reason: string; message: string }[] = [];

interface JudgedCase {
  readonly name: string;
  readonly spec: Omit<SecurityBaselineSpec, 'namespaceSelector'>;
  readonly reason: RegExp;
  /** What a person reads in the Degraded condition: the field, and what is wrong. */
  readonly message: RegExp;
}

const cases: readonly JudgedCase[] = [
  {
    name: 'a subject template naming a label the namespace does not carry',
    spec: { roleBindings: [{ name: 'owners', clusterRole: 'view', subjects: [{ kind: 'Group', name: '${label:owner}-admins' }] }] },
    reason: /InvalidSpec/,
    message: /spec\.roleBindings\[0\]\.subjects\[0\]\.name/,
  },
  {
    name: 'a ServiceAccount name that a label value makes invalid',
    spec: { roleBindings: [{ name: 'ci', clusterRole: 'view', subjects: [{ kind: 'ServiceAccount', name: '${label:team}' }] }] },
    reason: /InvalidSpec/,
    message: /spec\.roleBindings\[0\]\.subjects\[0\]\.name: "Team_A" is not a valid ServiceAccount name/,
  },
  {
    name: 'a ClusterRole that does not exist',
    spec: { roleBindings: [{ name: 'ghosts', clusterRole: `no-such-role-${run}`, subjects: [{ kind: 'Group', name: 'g' }] }] },
    reason: /ClusterRoleNotFound/,
    message: new RegExp(`no-such-role-${run}`),
  },
  {
    name: 'a quota on an extended resource name the API server refuses',
    spec: { resourceQuota: { hard: { 'example.com/bad name': '1' } } },
    reason: /Apply/,
    message: /spec\.hard\[example\.com\/bad name\]/,
  },
  {
    // Label keys are map keys, which the CRD's validation rules cannot afford to check (their length is unbounded).
    name: 'a pod selector whose label key is not a label key',
    spec: { networkPolicy: { podPolicies: [{ name: 'web', podSelector: { matchLabels: { 'app name': 'web' } }, ingress: [{}] }] } },
    reason: /InvalidSpec|Apply/,
    message: /podSelector\.matchLabels/,
  },
];

beforeAll(async () => {
  await installCrds();
  operator = await startOperator();
  // Carries the label `team` with a value no ServiceAccount name can have, and no label `owner`.
  await createTestNamespace('judged', { ...selector, team: 'Team_A' });
}, 90_000);

afterAll(async () => {
  if (catalogue.length > 0) {
    process.stderr.write(`\nbad input the operator reports (Degraded), ${catalogue.length} cases:\n${
      catalogue.map((c) => `- ${c.name}\n    ${c.reason}: ${c.message}`).join('\n')}\n`);
  }
  for (const name of baselines) await deleteBaseline(name);
  for (const name of baselines) await waitForBaselineGone(name).catch(() => undefined);
  await operator?.stop();
}, 120_000);

test.each(cases)('reports $name as Degraded, naming the field', async ({ spec, reason, message }) => {
  const name = `judged-${run}-${baselines.length}`;
  baselines.push(name);
  await createBaseline(name, { ...spec, namespaceSelector: { matchLabels: selector } });
  const baseline = await waitForStatus(name, (b) => condition(b, 'Degraded')?.status === 'True', 30_000);
  const degraded = condition(baseline, 'Degraded')!;
  catalogue.push({ name: expect.getState().currentTestName ?? name, reason: degraded.reason, message: degraded.message });
  expect(degraded.reason).toMatch(reason);
  expect(degraded.message).toMatch(message);
  expect(condition(baseline, 'Ready')?.status).toBe('False');
});

test('the operator kept running and still provisions a good baseline next to the bad ones', async () => {
  const name = `judged-${run}-good`;
  baselines.push(name);
  const namespace = await createTestNamespace('judged-good', { [`sbo-judged-good`]: run });
  await createBaseline(name, { namespaceSelector: { matchLabels: { 'sbo-judged-good': run } }, resourceQuota: { hard: { pods: '3' } } });
  await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }), { timeoutMs: 30_000 });
  const ready = await waitForStatus(name, (b) => condition(b, 'Ready')?.status === 'True', 30_000);
  expect(condition(ready, 'Degraded')?.status).toBe('False');
  expect(await operator.metrics()).toContain('security_baseline_build_info');
});
