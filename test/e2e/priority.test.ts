// API Priority and Fairness (config/manager/flowschema.yaml): the API server
// classifies the operator's requests into the priority level of the cluster's
// own controllers, not into workload-low, which every ServiceAccount shares and
// which a tenant can flood. Read from the API server's own answer: APF names
// the FlowSchema and priority level that handled each request in its headers.
// The abuse case: a tenant's ServiceAccount named like the operator's, in the
// tenant's namespace, gets no such treatment.
import { beforeAll, expect, test } from '@jest/globals';
import { request } from 'node:https';
import { CoreV1Api, KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { adminKubeConfig, createTestNamespace, eventually } from '../support/cluster.ts';
import { kubeConfigAsServiceAccount } from '../support/identities.ts';
import { applyObjects, renderKustomization } from '../support/manifests.ts';

const OPERATOR_NAMESPACE = 'security-baseline-system';
const SERVICE_ACCOUNT = 'security-baseline-operator';
const admin = adminKubeConfig();
const objects = KubernetesObjectApi.makeApiClient(admin);

/** The FlowSchema and priority level APF classified one request of `kc`'s identity into (by uid). */
async function classification(kc: KubeConfig): Promise<{ flowSchema: string | undefined; priorityLevel: string | undefined }> {
  const cluster = kc.getCurrentCluster();
  const token = kc.getCurrentUser()?.token;
  if (!cluster || !token) throw new Error('kubeconfig without cluster or token');
  const url = new URL('/api/v1/namespaces?limit=1', cluster.server);
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: Buffer.from(cluster.caData ?? '', 'base64'), headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      const header = (name: string) => res.headers[name] as string | undefined;
      res.on('end', () => resolve({ flowSchema: header('x-kubernetes-pf-flowschema-uid'), priorityLevel: header('x-kubernetes-pf-prioritylevel-uid') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const uidOf = async (apiVersion: string, kind: string, name: string) =>
  (await objects.read({ apiVersion, kind, metadata: { name } } as KubernetesObject & { metadata: { name: string } })).metadata?.uid;

let flowSchemaUid: string | undefined;
let workloadHighUid: string | undefined;

beforeAll(async () => {
  const manager = await renderKustomization('config/manager');
  const rbac = await renderKustomization('config/rbac');
  await applyObjects([
    ...manager.filter((o) => o.kind === 'Namespace' || o.kind === 'FlowSchema'),
    ...rbac.filter((o) => o.kind === 'ServiceAccount'),
  ]);
  flowSchemaUid = await uidOf('flowcontrol.apiserver.k8s.io/v1', 'FlowSchema', 'security-baseline-operator');
  workloadHighUid = await uidOf('flowcontrol.apiserver.k8s.io/v1', 'PriorityLevelConfiguration', 'workload-high');
}, 60_000);

test('the operator\'s requests are classified by its FlowSchema into workload-high', async () => {
  expect(flowSchemaUid).toBeDefined();
  expect(workloadHighUid).toBeDefined();
  const operator = await kubeConfigAsServiceAccount(OPERATOR_NAMESPACE, SERVICE_ACCOUNT);
  // The API server's APF configuration follows its FlowSchemas within moments, not at once.
  const seen = await eventually(async () => {
    const classified = await classification(operator);
    return classified.flowSchema === flowSchemaUid ? classified : false;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  expect(seen).toEqual({ flowSchema: flowSchemaUid, priorityLevel: workloadHighUid });
}, 60_000);

test('a tenant\'s ServiceAccount of the same name, in the tenant\'s namespace, stays in the shared level', async () => {
  const tenant = await createTestNamespace('apf-tenant');
  await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccount({ namespace: tenant, body: { metadata: { name: SERVICE_ACCOUNT } } });
  const impostor = await kubeConfigAsServiceAccount(tenant, SERVICE_ACCOUNT);
  const workloadLowUid = await uidOf('flowcontrol.apiserver.k8s.io/v1', 'PriorityLevelConfiguration', 'workload-low');
  const classified = await classification(impostor);
  expect(classified.flowSchema).toBeDefined();
  expect(classified.flowSchema).not.toBe(flowSchemaUid);
  expect(classified.priorityLevel).toBe(workloadLowUid);
}, 60_000);
