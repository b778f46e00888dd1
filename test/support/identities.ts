// Clients that act as someone other than the admin: a user with groups (a
// client certificate signed by the cluster CA, exactly as a real cluster
// authenticates people) or a ServiceAccount (a real token from the TokenRequest
// API, exactly what a pod would get).
import { AuthorizationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { mintIdentityIn, renderKubeconfig } from '../../hack/kube/controlplane.ts';
import { OPERATOR_NAME } from '../../src/api/constants.ts';
import { GROUP, PLURAL } from '../../src/api/types.ts';
import { adminKubeConfig, eventually, testControlPlane, uniqueName } from './cluster.ts';
import { applyObjects, renderKustomization } from './manifests.ts';

export async function kubeConfigAsUser(user: string, groups: readonly string[] = []): Promise<KubeConfig> {
  const { dir, server } = testControlPlane();
  const identity = await mintIdentityIn(dir, user, groups);
  const ca = adminKubeConfig().getCurrentCluster()?.caData ?? '';
  const kc = new KubeConfig();
  kc.loadFromString(renderKubeconfig(server, Buffer.from(ca, 'base64').toString('utf8'), identity));
  return kc;
}

export async function kubeConfigAsServiceAccount(namespace: string, name: string, expirationSeconds = 3600): Promise<KubeConfig> {
  const admin = adminKubeConfig();
  const core = admin.makeApiClient(CoreV1Api);
  const tokenRequest = await core.createNamespacedServiceAccountToken({
    namespace, name, body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = tokenRequest.status?.token;
  if (!token) throw new Error(`no token issued for ServiceAccount ${namespace}/${name}`);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('admin kubeconfig has no cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: `system:serviceaccount:${namespace}:${name}`, token }],
    contexts: [{ name: 'sa', cluster: cluster.name, user: `system:serviceaccount:${namespace}:${name}` }],
    currentContext: 'sa',
  });
  return kc;
}

/**
 * A user of its own bound to the operator's ClusterRole as shipped (config/rbac):
 * the operator's rights, where the test control plane has no operator
 * ServiceAccount. Waits until RBAC has the binding in effect; `unbind` undoes it.
 */
export async function kubeConfigWithOperatorRole(): Promise<{ user: string; kubeConfig: KubeConfig; unbind: () => Promise<unknown> }> {
  const admin = adminKubeConfig();
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const user = uniqueName('operator');
  await applyObjects((await renderKustomization('config/rbac')).filter((o) => o.kind === 'ClusterRole' && o.metadata?.name === OPERATOR_NAME));
  await rbac.createClusterRoleBinding({ body: {
    metadata: { name: user }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  } });
  // RBAC reaches the authorizer through an informer: the role's own status write is the probe.
  await eventually(async () => (await admin.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({ body: { spec: {
    user, resourceAttributes: { group: GROUP, resource: PLURAL, subresource: 'status', verb: 'patch' },
  } } })).status?.allowed === true);
  return { user, kubeConfig: await kubeConfigAsUser(user), unbind: () => rbac.deleteClusterRoleBinding({ name: user }) };
}
