// Clients that act as someone other than the admin: a user with groups (a
// client certificate signed by the cluster CA, exactly as a real cluster
// authenticates people) or a ServiceAccount (a real token from the TokenRequest
// API, exactly what a pod would get).
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { mintIdentityIn, renderKubeconfig } from '../../hack/kube/controlplane.ts';
import { adminKubeConfig, testControlPlane } from './cluster.ts';

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
