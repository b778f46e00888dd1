// What the fault tests do to a control plane of their own (hack/kube's
// startControlPlane): install the API, and compact etcd through its gRPC
// gateway (the same call etcdctl compact makes).
import { KubeConfig } from '@kubernetes/client-node';
import { applyCrds } from '../../hack/apply-crds.ts';
import type { ControlPlane } from '../../hack/kube/controlplane.ts';

export async function applyCrdsAsAdmin(controlPlane: Pick<ControlPlane, 'kubeconfigPath'>): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  await applyCrds(kc, 'chaos-tests');
}

async function etcdCall<T>(etcdUrl: string, route: string, body: unknown): Promise<T> {
  const response = await fetch(`${etcdUrl}${route}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new Error(`etcd ${route}: ${response.status} ${await response.text()}`);
  return await response.json() as T;
}

/** Compacts etcd's history up to its newest revision (physically, waiting for it); returns that revision. */
export async function compactEtcd(etcdUrl: string): Promise<number> {
  const { header } = await etcdCall<{ header: { revision: string } }>(etcdUrl, '/v3/kv/range', { key: Buffer.from('/').toString('base64') });
  const revision = Number(header.revision);
  await etcdCall(etcdUrl, '/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}
