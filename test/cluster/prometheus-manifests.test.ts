// config/prometheus and config/grafana against prometheus-operator's real
// CustomResourceDefinitions in the real API server: rendered by kustomize,
// server-side dry-run (dryRun=All, through every admission step, storing
// nothing), accepted without a field dropped; and the schemas do refuse a
// broken PrometheusRule and ServiceMonitor, so the acceptance means something.
// The CRDs come from the prometheus-operator Go module (hack/prometheus/crds.sh).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from '@jest/globals';
import {
  ApiextensionsV1Api, KubernetesObjectApi, PatchStrategy, loadAllYaml, type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import {
  adminKubeConfig, createTestNamespace, eventually, messageOf, statusOf, testControlPlane, uniqueName,
} from '../support/cluster.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const FIELD_MANAGER = 'security-baseline-operator-tests';
const CRD_FILES = ['monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_prometheusrules.yaml'];

const kc = adminKubeConfig();
const objects = KubernetesObjectApi.makeApiClient(kc);

/** An object as YAML gives it: anything under its metadata. */
type Manifest = KubernetesObject & Record<string, unknown>;

/** `kubectl kustomize DIR`, with the control plane's own kubectl. */
async function kustomize(dir: string): Promise<Manifest[]> {
  const { stdout } = await run(path.join(testControlPlane().binDir, 'kubectl'), ['kustomize', path.join(root, dir)]);
  return (loadAllYaml(stdout) as (Manifest | null)[]).filter((doc): doc is Manifest => doc !== null);
}

/** Server-side apply, dry run: strict about fields the schema does not know, and nothing stored. */
async function dryRunApply(object: Manifest): Promise<Manifest> {
  return await objects.patch(object, undefined, 'All', FIELD_MANAGER, true, PatchStrategy.ServerSideApply) as Manifest;
}

async function refusal(attempt: Promise<unknown>): Promise<{ status: number | undefined; message: string }> {
  const error = await attempt.then(() => undefined, (e: unknown) => e);
  expect(error).toBeDefined();
  return { status: statusOf(error), message: messageOf(error) };
}

let namespace = '';
let crdVersion = '';

beforeAll(async () => {
  const { stdout } = await run(path.join(root, 'hack/prometheus/crds.sh'), { cwd: root });
  const crdDir = stdout.trim();
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  for (const file of CRD_FILES) {
    const crd = (loadAllYaml(await readFile(path.join(crdDir, file), 'utf8')) as V1CustomResourceDefinition[])[0];
    if (!crd?.metadata?.name) throw new Error(`${crdDir}/${file} holds no CustomResourceDefinition`);
    crdVersion = crd.metadata.annotations?.['operator.prometheus.io/version'] ?? '';
    await objects.patch(crd, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    const name = crd.metadata.name;
    await eventually(async () => {
      const current = await extensions.readCustomResourceDefinition({ name });
      return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    }, { timeoutMs: 30_000 });
  }
  // The manifests name the operator's namespace; the dry runs happen in a
  // namespace of this test's own (the API server refuses writes, even dry
  // ones, into a namespace that does not exist).
  namespace = await createTestNamespace('prom');
}, 180_000);

/** The manifest as it would be created here: namespaced objects move to the test namespace. */
function inTestNamespace(object: Manifest): Manifest {
  if (!object.metadata?.namespace) return object;
  return { ...object, metadata: { ...object.metadata, namespace } };
}

describe('config/prometheus', () => {
  test('renders to the ServiceMonitor, the PrometheusRule and the metrics-reader ClusterRole and binding', async () => {
    const rendered = await kustomize('config/prometheus');
    expect(rendered.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual([
      'ClusterRole/security-baseline-metrics-reader',
      'ClusterRoleBinding/security-baseline-metrics-reader',
      'PrometheusRule/security-baseline-operator',
      'ServiceMonitor/security-baseline-operator',
    ]);
    const role = rendered.find((o) => o.kind === 'ClusterRole');
    expect(role?.rules).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
  });

  test(`every object passes a server-side dry run against prometheus-operator's CRDs, nothing dropped`, async () => {
    expect(crdVersion).toMatch(/^\d+\.\d+\.\d+$/);
    for (const object of (await kustomize('config/prometheus')).map(inTestNamespace)) {
      const accepted = await dryRunApply(object);
      expect({ kind: accepted.kind, name: accepted.metadata?.name }).toEqual({ kind: object.kind, name: object.metadata?.name });
      // A field the schema did not know would be gone from the answer.
      for (const field of ['spec', 'rules', 'roleRef', 'subjects'] as const) {
        if (object[field] !== undefined) expect({ kind: object.kind, [field]: accepted[field] }).toMatchObject({ kind: object.kind, [field]: object[field] });
      }
    }
    // The dry run stored nothing.
    const rule = (await kustomize('config/prometheus')).find((o) => o.kind === 'PrometheusRule');
    const name = rule?.metadata?.name ?? '';
    const stored = await objects.read({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name, namespace } }).catch((e: unknown) => e);
    expect(statusOf(stored)).toBe(404);
  });

  test('the PrometheusRule schema refuses a rule group without a name and a malformed `for`', async () => {
    const broken = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: uniqueName('broken'), namespace },
      spec: { groups: [{ rules: [{ alert: 'Broken', expr: 'up == 0', for: '5 minutes' }] }] },
    };
    const { status, message } = await refusal(objects.create(broken, undefined, 'All'));
    expect(status).toBe(422);
    expect(message).toMatch(/spec\.groups\[0\]\.name: Required value/);
    expect(message).toMatch(/spec\.groups\[0\]\.rules\[0\]\.for: Invalid value: "5 minutes"/);
  });

  test('the ServiceMonitor schema refuses an unknown scheme', async () => {
    const [monitor] = (await kustomize('config/prometheus')).filter((o) => o.kind === 'ServiceMonitor').map(inTestNamespace);
    expect(monitor).toBeDefined();
    if (!monitor) return;
    const spec = monitor.spec as { endpoints: Record<string, unknown>[] };
    const broken = { ...monitor, spec: { ...spec, endpoints: spec.endpoints.map((e) => ({ ...e, scheme: 'ftp' })) } };
    const { status, message } = await refusal(objects.create(broken, undefined, 'All'));
    expect(status).toBe(422);
    expect(message).toMatch(/spec\.endpoints\[0\]\.scheme: Unsupported value: "ftp"/);
  });
  test('a field the schema does not know is refused, not dropped (server-side apply is strict)', async () => {
    const [monitor] = (await kustomize('config/prometheus')).filter((o) => o.kind === 'ServiceMonitor').map(inTestNamespace);
    expect(monitor).toBeDefined();
    if (!monitor) return;
    const spec = monitor.spec as { endpoints: Record<string, unknown>[] };
    const misspelt = { ...monitor, spec: { ...spec, endpoints: spec.endpoints.map((e) => ({ ...e, bearerTokenFil: e.bearerTokenFile })) } };
    const { message } = await refusal(dryRunApply(misspelt));
    expect(message).toMatch(/bearerTokenFil: field not declared in schema/);
  });
});

describe('config/grafana', () => {
  test('renders to one ConfigMap for the Grafana sidecar, which passes a server-side dry run', async () => {
    const rendered = await kustomize('config/grafana');
    expect(rendered.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual(['ConfigMap/security-baseline-operator-dashboard']);
    const [configMap] = rendered.map(inTestNamespace);
    if (!configMap) return;
    expect(configMap.metadata?.labels?.grafana_dashboard).toBe('1');
    const data = configMap.data as Record<string, string>;
    expect(JSON.parse(data['security-baseline-operator.json'] ?? '{}')).toMatchObject({ uid: 'security-baseline-operator' });
    const accepted = await dryRunApply(configMap);
    expect(accepted.data).toEqual(data);
  });
});
