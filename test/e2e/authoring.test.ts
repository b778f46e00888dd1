// The operator fails closed on grants: while the authoring policy (the
// admission check that a baseline's author could make its grants directly) is
// not installed, it applies no Role or RoleBinding, says why in the baseline's
// status and in an Event, and keeps applying the controls that only protect.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { AdmissionregistrationV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { AUTHORING_POLICY_NAME } from '../../src/api/constants.ts';
import { adminKubeConfig, createTestNamespace, eventually, statusOf } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { condition, createBaseline, deleteBaseline, waitForBaselineGone, waitForStatus } from '../support/baselines.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';

const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const name = `authoring-${randomBytes(3).toString('hex')}`;
let operator: RunningOperator;

beforeAll(async () => {
  await installCrds();
  operator = await startOperator();
});

afterAll(async () => {
  await installCrds(); // the policy is back whatever happened
  await deleteBaseline(name);
  await waitForBaselineGone(name).catch(() => undefined);
  await operator.stop();
});

test('without the authoring policy no RoleBinding is applied; once it is back, it is', async () => {
  await admission.deleteValidatingAdmissionPolicyBinding({ name: AUTHORING_POLICY_NAME });
  const namespace = await createTestNamespace('authoring', { 'sbo-authoring': name });
  await createBaseline(name, {
    namespaceSelector: { matchLabels: { 'sbo-authoring': name } },
    resourceQuota: { hard: { pods: '4' } },
    roleBindings: [{ name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: 'readers' }] }],
  });

  const degraded = await waitForStatus(name, (b) => condition(b, 'Degraded')?.reason === 'AuthoringPolicyMissing');
  expect(condition(degraded, 'Degraded')?.message).toMatch(
    /RoleBinding authoring-[0-9a-f]+-readers not applied: the ValidatingAdmissionPolicy security-baseline-authoring or its binding is not installed/,
  );
  // What only protects is still applied; the grant is not.
  await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
  const binding = await rbac.readNamespacedRoleBinding({ namespace, name: `${name}-readers` }).then(() => 'present', (e: unknown) => statusOf(e));
  expect(binding).toBe(404);
  const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${namespace},reason=AuthoringPolicyMissing` });
  expect(events.items.length).toBeGreaterThan(0);

  await installCrds();
  await eventually(() => rbac.readNamespacedRoleBinding({ namespace, name: `${name}-readers` }));
  await waitForStatus(name, (b) => condition(b, 'Ready')?.status === 'True');
}, 60_000);
