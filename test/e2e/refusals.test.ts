// A write the API server refuses (a 403 or 422 from an admission policy or
// RBAC, a 404 for a missing namespace) cannot be fixed by retrying soon, but
// what refused it may lift without any event the operator watches: another
// tool's policy that failed closed for a moment, RBAC catching up after an API
// server start. The namespace (or baseline) is looked at again after a backoff
// (5 s doubling to 10 min), so it converges once the refusal lifts. Against
// the real API server: a test policy refuses the baseline's ResourceQuota while
// a ConfigMap (which the operator does not watch) says so, and switching it off
// wakes nothing in the operator; and the operator's own namespace, where it
// stores revisions, is missing until the baseline has reported it.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { condition, createBaseline, deleteBaseline, waitForBaselineGone, waitForStatus } from '../support/baselines.ts';
import { adminKubeConfig, createTestNamespace, eventually, ignoreNotFound, messageOf, statusOf } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';

const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const run = randomBytes(3).toString('hex');
const name = `refused-${run}`;
const label = { 'sbo-refusals': run };
const policy = `sbo-test-refuse-quotas-${run}`;
const switchName = `refuse-quotas-${run}`;
let switchNamespace: string;

const setSwitch = (refuse: boolean) => core.replaceNamespacedConfigMap({
  namespace: switchNamespace, name: switchName, body: { metadata: { name: switchName }, data: { refuse: String(refuse) } },
});

beforeAll(async () => {
  await installCrds();
  switchNamespace = await createTestNamespace('refusal-switch');
  await core.createNamespacedConfigMap({ namespace: switchNamespace, body: { metadata: { name: switchName }, data: { refuse: 'true' } } });
  await admission.createValidatingAdmissionPolicy({
    body: {
      metadata: { name: policy },
      spec: {
        failurePolicy: 'Fail',
        paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['resourcequotas'] }] },
        validations: [{ expression: "params.data.refuse != 'true'", message: 'resource quotas are refused here for now', reason: 'Forbidden' }],
      },
    },
  });
  await admission.createValidatingAdmissionPolicyBinding({
    body: {
      metadata: { name: policy },
      spec: {
        policyName: policy, validationActions: ['Deny'],
        paramRef: { name: switchName, namespace: switchNamespace, parameterNotFoundAction: 'Deny' },
        matchResources: { namespaceSelector: { matchLabels: label } },
      },
    },
  });
}, 60_000);

/** Runs `body` with an operator of its own, and deletes `baseline` (with the operator still running, for its finalizer) after. */
async function withOperator(baseline: string, env: Record<string, string>, body: (operator: RunningOperator) => Promise<void>): Promise<void> {
  const operator = await startOperator({ env });
  try {
    await body(operator);
  } finally {
    await deleteBaseline(baseline).catch(() => undefined);
    await waitForBaselineGone(baseline, 60_000).catch(() => undefined);
    await operator.stop();
  }
}

afterAll(async () => {
  await admission.deleteValidatingAdmissionPolicyBinding({ name: policy }).catch(ignoreNotFound);
  await admission.deleteValidatingAdmissionPolicy({ name: policy }).catch(ignoreNotFound);
}, 90_000);

test('a namespace whose write was refused converges once the refusal lifts, with no event to wake it', () => withOperator(name, {}, async (operator) => {
  const namespace = await createTestNamespace('refused', label);
  // The policy is in force once it refuses a quota there (policies are loaded a moment after they are created).
  const probe = { metadata: { name: 'probe' }, spec: { hard: { pods: '1' } } };
  const refusal = await eventually(async () => {
    try {
      await core.createNamespacedResourceQuota({ namespace, body: probe, dryRun: 'All' });
      return false;
    } catch (error) {
      return statusOf(error) === 403 ? messageOf(error) : false;
    }
  }, { timeoutMs: 30_000, intervalMs: 200 });
  expect(refusal).toContain('resource quotas are refused here for now');

  await createBaseline(name, { namespaceSelector: { matchLabels: label }, resourceQuota: { hard: { pods: '4' } }, networkPolicy: { allowDNS: true } });
  const failed = await waitForStatus(name, (b) => b.status?.namespaces?.failed === 1, 60_000);
  expect(failed.status?.namespaces?.compliant).toBe(0);
  // The rest of the baseline is in place; the quota is not.
  await core.readNamespace({ name: namespace });
  expect(statusOf(await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }).catch((error: unknown) => error))).toBe(404);
  const warning = await eventually(async () => {
    const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=Namespace,involvedObject.name=${namespace}` });
    return events.items.find((event) => event.type === 'Warning' && event.message?.includes('resource quotas are refused here for now')) ?? false;
  });
  expect(warning.message).toContain(`baseline ${name}: ResourceQuota ${name}-quota`);

  // Still refused when looked at again: the backoff keeps looking, and each look is refused.
  const lookedAt = async () => (await readFile(operator.logFile, 'utf8')).split('\n').filter((line) => line.includes(`"namespace":"${namespace}"`) && line.includes('"refused":true')).length;
  const looksSoFar = await lookedAt();
  expect(looksSoFar).toBeGreaterThanOrEqual(1);
  await eventually(async () => await lookedAt() > looksSoFar, { timeoutMs: 30_000, intervalMs: 500 });

  await setSwitch(false);
  const compliant = await waitForStatus(name, (b) => b.status?.namespaces?.compliant === 1, 120_000);
  expect(compliant.status?.namespaces?.failed).toBe(0);
  expect((await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec?.hard?.pods).toBe('4');
}), 240_000);

test('a baseline whose revision could not be stored stores it once the operator\'s namespace exists, with no event to wake it', async () => {
  const operatorNamespace = `sbo-revisions-${run}`;
  const baseline = `revisions-${run}`;
  try {
    await withOperator(baseline, { OPERATOR_NAMESPACE: operatorNamespace }, async () => {
      await createBaseline(baseline, { namespaceSelector: { matchLabels: { 'sbo-refusals-nothing': run } }, networkPolicy: { allowDNS: true } });
      const degraded = await waitForStatus(baseline, (b) => condition(b, 'Degraded')?.reason === 'RevisionsUnavailable', 60_000);
      expect(condition(degraded, 'Degraded')?.message).toContain(`in namespace ${operatorNamespace}`);

      // Once the status writes (a second apart) have settled, nothing queues the baseline: creating a
      // namespace queues that namespace, not the baseline, so only its backoff brings it back.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await core.createNamespace({ body: { metadata: { name: operatorNamespace } } });
      const stored = await eventually(async () => {
        const revisions = (await apps.listNamespacedControllerRevision({ namespace: operatorNamespace })).items;
        return revisions.length > 0 ? revisions : false;
      }, { timeoutMs: 90_000, intervalMs: 500 });
      expect(stored.map((revision) => revision.metadata?.name)).toContain(degraded.status?.updateRevision);
      await waitForStatus(baseline, (b) => condition(b, 'Degraded')?.status === 'False', 30_000);
    });
  } finally {
    await core.deleteNamespace({ name: operatorNamespace }).catch(ignoreNotFound);
  }
}, 240_000);
