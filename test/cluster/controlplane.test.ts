// Proves the test control plane is a real one: the namespace controller,
// PodSecurity admission, quota, ValidatingAdmissionPolicy and RBAC all act.
import { describe, expect, test } from '@jest/globals';
import {
  AdmissionregistrationV1Api, CoreV1Api, RbacAuthorizationV1Api, VersionApi, type V1Pod,
} from '@kubernetes/client-node';
import {
  adminKubeConfig, createTestNamespace, eventually, ignoreNotFound, messageOf, statusOf, uniqueName,
  waitForDefaultServiceAccount,
} from '../support/cluster.ts';
import { kubeConfigAsUser } from '../support/identities.ts';

const core = adminKubeConfig().makeApiClient(CoreV1Api);

function pod(name: string, overrides: Partial<V1Pod['spec']> = {}, image = 'registry.example.com/app:1.0'): V1Pod {
  return {
    metadata: { name },
    spec: {
      containers: [{
        name: 'app',
        image,
        securityContext: {
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        },
      }],
      ...overrides,
    },
  };
}

async function expectRefused(create: Promise<unknown>, status: number, message: RegExp): Promise<void> {
  const error = await create.then(() => undefined, (e: unknown) => e);
  expect(error).toBeDefined();
  expect(statusOf(error)).toBe(status);
  expect(messageOf(error)).toMatch(message);
}

describe('the test control plane', () => {
  test('reports the pinned Kubernetes version', async () => {
    const version = await adminKubeConfig().makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.37\.\d+$/);
    expect(version.major).toBe('1');
    expect(version.minor).toBe('37');
  });

  test('deletes a namespace to completion (the namespace controller runs)', async () => {
    const name = uniqueName('delete-me');
    await core.createNamespace({ body: { metadata: { name } } });
    await core.createNamespacedConfigMap({ namespace: name, body: { metadata: { name: 'content' }, data: { a: 'b' } } });
    await core.deleteNamespace({ name });
    await eventually(async () => {
      const gone = await core.readNamespace({ name }).then(() => false, (e: unknown) => statusOf(e) === 404);
      return gone || false;
    }, { timeoutMs: 60_000, intervalMs: 250 });
  });

  test('PodSecurity admission refuses a privileged pod under restricted and admits a compliant one', async () => {
    const namespace = await createTestNamespace('psa', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    await waitForDefaultServiceAccount(namespace);
    const privileged = pod('privileged');
    privileged.spec!.containers[0]!.securityContext = { privileged: true };
    await expectRefused(core.createNamespacedPod({ namespace, body: privileged }), 403,
      /violates PodSecurity "restricted:latest".*privileged/);
    const admitted = await core.createNamespacedPod({ namespace, body: pod('compliant') });
    expect(admitted.metadata?.uid).toBeTruthy();
  });

  test('a quota of one pod gets its status from the resourcequota controller and refuses a second pod', async () => {
    const namespace = await createTestNamespace('quota');
    await waitForDefaultServiceAccount(namespace);
    await core.createNamespacedResourceQuota({ namespace, body: { metadata: { name: 'one-pod' }, spec: { hard: { pods: '1' } } } });
    await eventually(async () => {
      const quota = await core.readNamespacedResourceQuota({ namespace, name: 'one-pod' });
      return quota.status?.hard?.pods === '1' && quota.status.used?.pods === '0';
    });
    await core.createNamespacedPod({ namespace, body: pod('first') });
    await expectRefused(core.createNamespacedPod({ namespace, body: pod('second') }), 403,
      /exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1/);
  });

  test('a ValidatingAdmissionPolicy refuses a pod whose image has a forbidden prefix', async () => {
    const namespace = await createTestNamespace('vap', { 'vap-test': 'true' });
    await waitForDefaultServiceAccount(namespace);
    const admission = adminKubeConfig().makeApiClient(AdmissionregistrationV1Api);
    const name = uniqueName('no-forbidden-registry');
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }] },
          validations: [{
            expression: "object.spec.containers.all(c, !c.image.startsWith('forbidden.example.com/'))",
            message: 'images from forbidden.example.com are not allowed',
          }],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name },
        spec: {
          policyName: name,
          validationActions: ['Deny'],
          matchResources: { namespaceSelector: { matchLabels: { 'vap-test': 'true', 'kubernetes.io/metadata.name': namespace } } },
        },
      },
    });
    try {
      // Policies reach the admission plugin through an informer: retry until it denies.
      await eventually(async () => {
        const probe = uniqueName('probe');
        const result = await core.createNamespacedPod({ namespace, body: pod(probe, {}, 'forbidden.example.com/app:1') })
          .then(() => 'admitted', (e: unknown) => e);
        if (result === 'admitted') {
          await core.deleteNamespacedPod({ namespace, name: probe });
          return false;
        }
        expect(statusOf(result)).toBe(422);
        expect(messageOf(result)).toMatch(/images from forbidden\.example\.com are not allowed/);
        return true;
      }, { timeoutMs: 30_000, intervalMs: 250 });
      await core.createNamespacedPod({ namespace, body: pod('allowed') });
    } finally {
      await admission.deleteValidatingAdmissionPolicyBinding({ name }).catch(ignoreNotFound);
      await admission.deleteValidatingAdmissionPolicy({ name }).catch(ignoreNotFound);
    }
  });

  test('RBAC: a user gets 403 listing pods until a RoleBinding to view lets them', async () => {
    const namespace = await createTestNamespace('rbac');
    const user = uniqueName('tenant');
    const tenant = (await kubeConfigAsUser(user, ['tenants'])).makeApiClient(CoreV1Api);
    await expectRefused(tenant.listNamespacedPod({ namespace }), 403,
      new RegExp(`User "${user}" cannot list resource "pods" in API group "" in the namespace "${namespace}"`));
    await adminKubeConfig().makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'tenant-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    });
    const pods = await eventually(() => tenant.listNamespacedPod({ namespace }));
    expect(pods.items).toEqual([]);
  });
});
