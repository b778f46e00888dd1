// `helm install` of charts/security-baseline-operator into the real control
// plane creates every object the chart renders (the ServiceMonitor and
// PrometheusRule against prometheus-operator's real CRDs), and the operator
// then works as the chart's ServiceAccount with the chart's RBAC and the
// Deployment's environment. No kubelet runs here, so the operator runs as a
// process with that ServiceAccount's token, as least-privilege.test.ts does.
// Then `helm upgrade` carries a change to the authoring policy (a template,
// not crds/), and `helm uninstall` removes everything but the CRD.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  CoordinationV1Api, CoreV1Api, KubernetesObjectApi, NetworkingV1Api, PatchStrategy, RbacAuthorizationV1Api, loadAllYaml,
  type KubernetesObject, type V1Deployment,
} from '@kubernetes/client-node';
import { CHART, helm, valueArgs } from '../../hack/helm/helm.ts';
import { managedKind } from '../../src/controller/kinds.ts';
import { adminKubeConfig, createTestNamespace, eventually, statusOf, testControlPlane, uniqueName } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { kubeConfigAsServiceAccount } from '../support/identities.ts';
import { condition, createBaseline, deleteBaseline, getBaseline, waitForBaselineGone, writerAs } from '../support/baselines.ts';
import { metricValue, scrape, startOperator, type RunningOperator } from '../support/operator.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const kc = adminKubeConfig();
const objects = KubernetesObjectApi.makeApiClient(kc);
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const coordination = kc.makeApiClient(CoordinationV1Api);
const tag = randomBytes(3).toString('hex');
const RELEASE = 'sbo';
const SERVICE_ACCOUNT = 'security-baseline-operator';
const SCRAPER = 'prometheus';

// A namespace of its own: no Lease or ServiceAccount of another test in the way,
// and proof that nothing in the chart assumes security-baseline-system.
const releaseNamespace = uniqueName('sbo-helm');
const kubeconfigArgs = () => ['--kubeconfig', testControlPlane().kubeconfigPath, '--namespace', releaseNamespace];
const values = {
  'serviceMonitor.enabled': true, 'prometheusRule.enabled': true, 'grafanaDashboard.enabled': true,
  'serviceMonitor.prometheusServiceAccount': { name: SCRAPER, namespace: releaseNamespace },
};
let rendered: KubernetesObject[] = [];
let installed = false;
const baselines: string[] = [];

async function installPrometheusOperatorCrds(): Promise<void> {
  const { stdout } = await run(path.join(root, 'hack/prometheus/crds.sh'), { cwd: root });
  for (const file of ['monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_prometheusrules.yaml']) {
    const [crd] = loadAllYaml(await readFile(path.join(stdout.trim(), file), 'utf8')) as KubernetesObject[];
    if (!crd) throw new Error(`${file}: no CustomResourceDefinition`);
    await objects.patch(crd, undefined, undefined, 'sbo-tests', true, PatchStrategy.ServerSideApply);
  }
  await eventually(() => objects.list('monitoring.coreos.com/v1', 'PrometheusRule', 'default'), { timeoutMs: 30_000 });
}

async function read(object: KubernetesObject): Promise<KubernetesObject | undefined> {
  return objects.read({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.metadata?.name ?? '', namespace: object.metadata?.namespace } })
    .then((found) => found as KubernetesObject, (error: unknown) => { if (statusOf(error) === 404) return undefined; throw error; });
}

async function uninstall(): Promise<void> {
  if (!installed) return;
  await helm(['uninstall', RELEASE, ...kubeconfigArgs(), '--wait', '--timeout', '60s']);
  installed = false;
}

beforeAll(async () => {
  await installPrometheusOperatorCrds();
  rendered = (loadAllYaml(await helm(['template', RELEASE, CHART, '--namespace', releaseNamespace, ...valueArgs(values)])) as KubernetesObject[]).filter((o) => o?.kind);
  // Other tests leave the cluster-wide objects of config/ behind (the
  // ClusterRoles, the authoring policy); Helm would rightly refuse to take
  // over objects it did not create. They come back in afterAll.
  for (const object of rendered.filter((o) => !o.metadata?.namespace)) {
    if (await read(object)) await objects.delete(object);
  }
  // The release namespace, created first with the labels config/default gives it (README, "Helm").
  await core.createNamespace({ body: { metadata: { name: releaseNamespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } } });
  await core.createNamespacedServiceAccount({ namespace: releaseNamespace, body: { metadata: { name: SCRAPER } } });
}, 120_000);

afterAll(async () => {
  await uninstall().catch((error: unknown) => process.stderr.write(`helm uninstall: ${String(error)}\n`));
  await core.deleteNamespace({ name: releaseNamespace }).catch(() => undefined);
  // Put back the API as every other test expects it (the authoring policy among it).
  await installCrds();
}, 120_000);

describe('helm install', () => {
  test('creates every object the chart renders, owned by the release', async () => {
    const started = Date.now();
    await helm(['install', RELEASE, CHART, ...kubeconfigArgs(), ...valueArgs(values)]);
    installed = true;
    process.stderr.write(`helm install: ${Date.now() - started} ms\n`);
    const missing: string[] = [];
    for (const object of rendered) {
      const found = await read(object);
      if (!found) missing.push(`${object.kind}/${object.metadata?.name}`);
      else expect({ object: `${object.kind}/${object.metadata?.name}`, release: found.metadata?.annotations?.['meta.helm.sh/release-name'] })
        .toEqual({ object: `${object.kind}/${object.metadata?.name}`, release: RELEASE });
    }
    expect(missing).toEqual([]);
    expect(rendered.map((o) => o.kind)).toEqual(expect.arrayContaining([
      'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'Service', 'PodDisruptionBudget',
      'NetworkPolicy', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'ServiceMonitor', 'PrometheusRule', 'ConfigMap',
    ]));
    // The CRD comes from the chart's crds/ (Helm skips it when it exists already).
    expect(await read({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'securitybaselines.security.baseline.dev' } })).toBeDefined();
    expect(await helm(['status', RELEASE, ...kubeconfigArgs()])).toMatch(/STATUS: deployed/);
  }, 120_000);

  test('the operator works as the chart\'s ServiceAccount, with the chart\'s RBAC and the Deployment\'s environment', async () => {
    expect(installed).toBe(true);
    const deployment = (await read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'security-baseline-operator', namespace: releaseNamespace } })) as V1Deployment;
    const container = deployment.spec?.template.spec?.containers[0];
    expect(deployment.spec?.template.spec?.serviceAccountName).toBe(SERVICE_ACCOUNT);
    // The Deployment's environment, as the kubelet would resolve it; the
    // listen addresses stay the test's loopback ports.
    const fieldRefs: Record<string, string> = { 'metadata.namespace': releaseNamespace, 'metadata.name': `security-baseline-operator-${tag}` };
    const env = Object.fromEntries((container?.env ?? [])
      .filter((e) => !['METRICS_BIND_ADDRESS', 'HEALTH_PROBE_BIND_ADDRESS'].includes(e.name))
      .map((e) => [e.name, e.value ?? fieldRefs[e.valueFrom?.fieldRef?.fieldPath ?? ''] ?? '']));
    expect(env).toMatchObject({ OPERATOR_NAMESPACE: releaseNamespace, LEADER_ELECT: 'true', LOG_LEVEL: 'info' });

    const kubeconfig = path.join(testControlPlane().dir, `helm-sa-${tag}.kubeconfig`);
    await writeFile(kubeconfig, (await kubeConfigAsServiceAccount(releaseNamespace, SERVICE_ACCOUNT)).exportConfig(), { mode: 0o600 });
    let operator: RunningOperator | undefined;
    try {
      operator = await startOperator({ kubeconfig, user: `system:serviceaccount:${releaseNamespace}:${SERVICE_ACCOUNT}`, env });
      // Leader election through the chart's Role, in the release namespace.
      await eventually(async () => (await coordination.readNamespacedLease({ namespace: releaseNamespace, name: 'security-baseline-operator' })).spec?.holderIdentity?.startsWith(env.POD_NAME ?? '') || false, { timeoutMs: 30_000 });

      const name = `helm-${tag}`;
      baselines.push(name);
      await createBaseline(name, {
        namespaceSelector: { matchLabels: { 'sbo-helm': tag } },
        networkPolicy: { allowDNS: true },
        resourceQuota: { hard: { pods: '4' } },
        limitRange: { default: { cpu: '500m' } },
        roleBindings: [
          { name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: 'readers' }] },
          { name: 'pod-readers', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }], subjects: [{ kind: 'User', name: 'alice' }] },
        ],
        podSecurity: { enforce: 'restricted' },
        imagePolicy: { allowedRegistries: ['registry.example.com/'] },
      });
      const namespace = await createTestNamespace('helm', { 'sbo-helm': tag });
      await eventually(async () => {
        await networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` });
        await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` });
        await core.readNamespacedLimitRange({ namespace, name: `${name}-limits` });
        await rbac.readNamespacedRoleBinding({ namespace, name: `${name}-readers` });
        await rbac.readNamespacedRoleBinding({ namespace, name: `${name}-pod-readers` });
        return (await core.readNamespace({ name: namespace })).metadata?.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted';
      }, { timeoutMs: 30_000 });
      await eventually(async () => {
        const baseline = await getBaseline(name);
        return condition(baseline, 'Ready')?.status === 'True' && baseline.status?.namespaces?.compliant === 1;
      }, { timeoutMs: 30_000 });
      await writerAs('kubectl-edit').mergePatch(managedKind('v1', 'ResourceQuota')!, `${name}-quota`, namespace, { spec: { hard: { pods: '40' } } });
      await eventually(async () => (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec?.hard?.pods === '4', { timeoutMs: 30_000 });

      // Prometheus's ServiceAccount reads /metrics through the chart's metrics-reader binding.
      const token = (await core.createNamespacedServiceAccountToken({ namespace: releaseNamespace, name: SCRAPER, body: { spec: { audiences: [] } } })).status?.token;
      const scraped = await scrape(operator.metricsUrl, token);
      expect(scraped.status).toBe(200);
      expect(metricValue(scraped.body, 'security_baseline_leader')).toBe(1);
      expect(metricValue(scraped.body, 'security_baseline_drift_corrected_total', { baseline: name, kind: 'ResourceQuota' })).toBe(1);
      // The operator's own token may not read it: the binding is what allows.
      expect((await scrape(operator.metricsUrl, (await kubeConfigAsServiceAccount(releaseNamespace, SERVICE_ACCOUNT)).getCurrentUser()?.token)).status).toBe(403);

      await deleteBaseline(name);
      await waitForBaselineGone(name, 30_000);
      expect(await rbac.readNamespacedRoleBinding({ namespace, name: `${name}-readers` }).then(() => 'present', () => 'gone')).toBe('gone');
    } finally {
      await operator?.stop();
      for (const name of baselines) await deleteBaseline(name);
    }
  }, 180_000);

  test('helm upgrade carries the authoring policy along; helm uninstall removes everything but the CRD', async () => {
    expect(installed).toBe(true);
    await helm(['upgrade', RELEASE, CHART, ...kubeconfigArgs(), ...valueArgs({ ...values, commonLabels: { upgraded: tag } })]);
    const policy = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: 'security-baseline-authoring' } };
    expect((await read(policy))?.metadata?.labels?.upgraded).toBe(tag);
    await uninstall();
    const left = [];
    for (const object of rendered) if (await read(object)) left.push(`${object.kind}/${object.metadata?.name}`);
    expect(left).toEqual([]);
    expect(await read({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'securitybaselines.security.baseline.dev' } })).toBeDefined();
  }, 120_000);
});
