// The Helm chart (charts/security-baseline-operator) has no version of its own
// of what config/ installs: with default values `helm template` gives exactly
// the objects of `kubectl kustomize config/default` (but the Namespace: Helm's
// convention is that the release namespace exists before the release), and
// with the ServiceMonitor, the PrometheusRule and the dashboard switched on,
// exactly config/default + config/prometheus + config/grafana. The verbatim
// parts (CRD, authoring policy, rules, dashboard) are copies that
// hack/helm/sync.ts keeps; each value people expect lands where it should.
// Rendering only: test/e2e/helm-install.test.ts installs the chart.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from '@jest/globals';
import { loadAllYaml, type KubernetesObject, type V1Container, type V1Deployment } from '@kubernetes/client-node';
import { CHART, helm, runHelm, valueArgs } from '../../hack/helm/helm.ts';
import { chartDrift } from '../../hack/helm/sync.ts';
import { testControlPlane } from '../support/cluster.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const NAMESPACE = 'security-baseline-system';

type Manifest = KubernetesObject & Record<string, unknown>;

function parse(text: string): Manifest[] {
  return (loadAllYaml(text) as (Manifest | null)[]).filter((o): o is Manifest => Boolean(o?.kind));
}

function key(object: KubernetesObject): string {
  return `${object.kind}/${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name}`;
}

/** Objects by kind/namespace/name; a duplicate key would hide an object, so it fails. */
function byKey(objects: Manifest[]): Record<string, Manifest> {
  const map: Record<string, Manifest> = {};
  for (const object of objects) {
    if (map[key(object)]) throw new Error(`${key(object)} rendered twice`);
    map[key(object)] = object;
  }
  return map;
}

async function kustomize(...dirs: string[]): Promise<Manifest[]> {
  const kubectl = path.join(testControlPlane().binDir, 'kubectl');
  const outputs = await Promise.all(dirs.map((dir) => run(kubectl, ['kustomize', path.join(root, dir)], { maxBuffer: 16 * 1024 * 1024 })));
  return outputs.flatMap(({ stdout }) => parse(stdout));
}

/** `helm template` of the chart into `namespace`, CRDs included, with values given as JSON. */
async function render(values: Readonly<Record<string, unknown>> = {}, namespace = NAMESPACE): Promise<Manifest[]> {
  return parse(await helm(['template', 'sbo', CHART, '--namespace', namespace, '--include-crds', ...valueArgs(values)]));
}

async function deploymentOf(values: Readonly<Record<string, unknown>>, namespace = NAMESPACE): Promise<{ deployment: V1Deployment; container: V1Container; env: Record<string, string | undefined> }> {
  const deployment = (await render(values, namespace)).find((o) => o.kind === 'Deployment') as V1Deployment | undefined;
  const container = deployment?.spec?.template.spec?.containers[0];
  if (!deployment || !container) throw new Error('no Deployment with a container rendered');
  return { deployment, container, env: Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value])) };
}

const MONITORING_ON = { 'serviceMonitor.enabled': true, 'prometheusRule.enabled': true, 'grafanaDashboard.enabled': true };

describe('one source of truth', () => {
  test('the chart\'s copies of crds/, the rules and the dashboard are up to date (make chart)', async () => {
    expect(await chartDrift()).toEqual({ write: [], remove: [] });
  });

  test('default values render exactly config/default, but the Namespace', async () => {
    const [chart, kustomized] = await Promise.all([render(), kustomize('config/default')]);
    const expected = byKey(kustomized);
    // Helm's convention: the release namespace exists before the release (the
    // README creates it with these labels); a release owning its namespace
    // would delete everything in it on uninstall.
    const namespace = expected[`Namespace/${NAMESPACE}`];
    expect(namespace?.metadata?.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    delete expected[`Namespace/${NAMESPACE}`];
    expect(byKey(chart)).toEqual(expected);
    // Not vacuous: the install's working parts are there.
    expect(Object.keys(expected)).toEqual(expect.arrayContaining([
      'CustomResourceDefinition/securitybaselines.security.baseline.dev',
      'ValidatingAdmissionPolicy/security-baseline-authoring',
      'ValidatingAdmissionPolicyBinding/security-baseline-authoring',
      `Deployment/${NAMESPACE}/security-baseline-operator`,
      'ClusterRole/security-baseline-operator',
    ]));
  });

  test('monitoring switched on renders config/default + config/prometheus + config/grafana', async () => {
    const [chart, kustomized] = await Promise.all([render(MONITORING_ON), kustomize('config/default', 'config/prometheus', 'config/grafana')]);
    const expected = byKey(kustomized);
    delete expected[`Namespace/${NAMESPACE}`];
    expect(byKey(chart)).toEqual(expected);
    expect(Object.keys(expected)).toEqual(expect.arrayContaining([
      `ServiceMonitor/${NAMESPACE}/security-baseline-operator`, `PrometheusRule/${NAMESPACE}/security-baseline-operator`,
      'ClusterRoleBinding/security-baseline-metrics-reader', `ConfigMap/${NAMESPACE}/security-baseline-operator-dashboard`,
    ]));
  });

  test('by default nothing needs prometheus-operator or Grafana', async () => {
    const kinds = new Set((await render()).map((o) => o.kind));
    expect([...kinds].filter((kind) => ['ServiceMonitor', 'PrometheusRule', 'ConfigMap'].includes(kind ?? ''))).toEqual([]);
  });
});

describe('helm lint', () => {
  test('is clean with default values and with monitoring on (--strict: warnings fail)', async () => {
    for (const values of [{}, MONITORING_ON]) {
      const result = await runHelm(['lint', '--strict', CHART, ...valueArgs(values)]);
      expect({ ok: result.ok, problems: `${result.stdout}${result.stderr}`.split('\n').filter((l) => /\[(WARNING|ERROR)\]/.test(l)) }).toEqual({ ok: true, problems: [] });
    }
  });
});

describe('values', () => {
  test('image, replicas, log, workers, resources and scheduling reach the Deployment', async () => {
    const resources = { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '512Mi' } };
    const tolerations = [{ key: 'infra', operator: 'Exists', effect: 'NoSchedule' }];
    const affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'role', operator: 'In', values: ['infra'] }] }] } } };
    const { deployment, container, env } = await deploymentOf({
      'image.repository': 'registry.example.com/sbo', 'image.tag': '1.2.3', 'image.pullPolicy': 'Always',
      imagePullSecrets: [{ name: 'pull' }], replicas: 3, 'log.level': 'debug', 'log.format': 'json', namespaceWorkers: 32,
      resources, nodeSelector: { role: 'infra' }, tolerations, affinity, priorityClassName: 'system-cluster-critical',
    });
    const pod = deployment.spec?.template.spec;
    expect(deployment.spec?.replicas).toBe(3);
    expect(container).toMatchObject({ image: 'registry.example.com/sbo:1.2.3', imagePullPolicy: 'Always', resources });
    expect(env).toMatchObject({ LOG_LEVEL: 'debug', LOG_FORMAT: 'json', NAMESPACE_WORKERS: '32', LEADER_ELECT: 'true' });
    expect(pod).toMatchObject({ imagePullSecrets: [{ name: 'pull' }], nodeSelector: { role: 'infra' }, tolerations, affinity, priorityClassName: 'system-cluster-critical' });
  });

  test('an image digest wins over the tag', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const { container } = await deploymentOf({ 'image.digest': digest, 'image.tag': 'ignored' });
    expect(container.image).toBe(`security-baseline-operator@${digest}`);
  });

  test('leader election off: one replica, no Lease permissions, LEADER_ELECT=false', async () => {
    const objects = await render({ 'leaderElection.enabled': false, replicas: 1 });
    const { env } = await deploymentOf({ 'leaderElection.enabled': false, replicas: 1 });
    expect(env.LEADER_ELECT).toBe('false');
    expect(objects.filter((o) => o.metadata?.name === 'security-baseline-operator-leader-election')).toEqual([]);
  });

  test('the metrics port moves the container, the Service, the NetworkPolicy, and the scrape follows the Service', async () => {
    const objects = byKey(await render({ 'metrics.port': 9443, 'serviceMonitor.enabled': true }));
    const { container, env } = await deploymentOf({ 'metrics.port': 9443 });
    expect(env.METRICS_BIND_ADDRESS).toBe(':9443');
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: 9443 });
    expect(objects[`Service/${NAMESPACE}/security-baseline-operator-metrics`]?.spec).toMatchObject({ ports: [{ name: 'metrics', port: 9443, targetPort: 'metrics' }] });
    expect(objects[`NetworkPolicy/${NAMESPACE}/security-baseline-operator-metrics`]?.spec).toMatchObject({ ingress: [{ ports: [{ protocol: 'TCP', port: 9443 }] }] });
    expect(objects[`ServiceMonitor/${NAMESPACE}/security-baseline-operator`]?.spec).toMatchObject({ endpoints: [{ port: 'metrics', scheme: 'https' }] });
  });

  test('a certificate from a Secret is mounted read-only and named to the operator', async () => {
    const { deployment, container, env } = await deploymentOf({ 'metrics.certSecret': 'metrics-tls' });
    const mount = container.volumeMounts?.find((m) => m.name === 'metrics-cert');
    expect(mount?.readOnly).toBe(true);
    expect(deployment.spec?.template.spec?.volumes).toEqual([{ name: 'metrics-cert', secret: { secretName: 'metrics-tls' } }]);
    expect(env).toMatchObject({ METRICS_CERT_FILE: `${mount?.mountPath}/tls.crt`, METRICS_KEY_FILE: `${mount?.mountPath}/tls.key` });
  });

  test('insecure metrics: plain HTTP, and the ServiceMonitor scrapes without TLS nor token', async () => {
    const objects = await render({ 'metrics.secure': false, 'serviceMonitor.enabled': true });
    const { env } = await deploymentOf({ 'metrics.secure': false });
    expect(env.METRICS_SECURE).toBe('false');
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor') as Manifest & { spec: { endpoints: Record<string, unknown>[] } };
    expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s', scheme: 'http' }]);
  });

  test('ServiceMonitor and PrometheusRule labels (for Prometheus\'s selectors), the scraper\'s ServiceAccount, the dashboard\'s namespace', async () => {
    const objects = await render({
      ...MONITORING_ON, 'serviceMonitor.labels': { release: 'kps' }, 'prometheusRule.labels': { release: 'kps' },
      'serviceMonitor.prometheusServiceAccount': { name: 'kps-prometheus', namespace: 'observability' }, 'grafanaDashboard.namespace': 'grafana',
    });
    expect(objects.find((o) => o.kind === 'ServiceMonitor')?.metadata?.labels?.release).toBe('kps');
    expect(objects.find((o) => o.kind === 'PrometheusRule')?.metadata?.labels?.release).toBe('kps');
    expect(objects.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata?.name === 'security-baseline-metrics-reader')?.subjects)
      .toEqual([{ kind: 'ServiceAccount', name: 'kps-prometheus', namespace: 'observability' }]);
    expect(objects.find((o) => o.kind === 'ConfigMap')?.metadata?.namespace).toBe('grafana');
  });

  test('a runbook base URL makes every alert\'s runbook_url a link', async () => {
    const base = 'https://git.example.com/platform/sbo/blob/v0.1.0/docs/runbook.md';
    const rule = (await render({ 'prometheusRule.enabled': true, 'prometheusRule.runbookBaseURL': base })).find((o) => o.kind === 'PrometheusRule') as Manifest & { spec: { groups: { rules: { alert?: string; annotations?: Record<string, string> }[] }[] } };
    const alerts = rule.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.filter((r) => r.annotations?.runbook_url !== `${base}#${r.alert?.toLowerCase()}`).map((r) => r.alert)).toEqual([]);
  });

  test('extra labels and annotations reach every templated object and the pods, never a selector', async () => {
    const objects = await render({ ...MONITORING_ON, commonLabels: { team: 'platform' }, commonAnnotations: { owner: 'sre' }, podLabels: { tier: 'ops' }, podAnnotations: { scrape: 'no' } });
    const templated = objects.filter((o) => o.kind !== 'CustomResourceDefinition');
    expect(templated.filter((o) => o.metadata?.labels?.team !== 'platform' || o.metadata.annotations?.owner !== 'sre').map(key)).toEqual([]);
    const deployment = objects.find((o) => o.kind === 'Deployment') as V1Deployment;
    expect(deployment.spec?.template.metadata).toEqual({
      labels: { 'app.kubernetes.io/name': 'security-baseline-operator', 'app.kubernetes.io/component': 'manager', team: 'platform', tier: 'ops' },
      annotations: { scrape: 'no' },
    });
    expect(deployment.spec?.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'security-baseline-operator', 'app.kubernetes.io/component': 'manager' } });
  });

  test('the ClusterRoles baselines may bind extend the operator\'s and the author\'s bind rule together', async () => {
    const objects = await render({ 'rbac.bindableClusterRoles': ['view', 'tenant-admin'] });
    for (const name of ['security-baseline-operator', 'securitybaseline-author']) {
      const role = objects.find((o) => o.kind === 'ClusterRole' && o.metadata?.name === name) as Manifest & { rules: { verbs: string[]; resources: string[]; resourceNames?: string[] }[] };
      expect({ name, rule: role.rules.find((r) => r.verbs.includes('bind') && r.resources.includes('clusterroles')) })
        .toEqual({ name, rule: expect.objectContaining({ resourceNames: ['view', 'tenant-admin'] }) });
    }
  });

  test('objects follow the release namespace', async () => {
    const objects = await render({}, 'platform-ops');
    const namespaced = objects.filter((o) => o.metadata?.namespace);
    expect(namespaced.length).toBeGreaterThan(5);
    expect(namespaced.filter((o) => o.metadata?.namespace !== 'platform-ops').map(key)).toEqual([]);
    const binding = objects.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata?.name === 'security-baseline-operator');
    expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'security-baseline-operator', namespace: 'platform-ops' }]);
    // The FlowSchema names the release's ServiceAccount: one of that name in the default namespace
    // (anyone's, on a cluster where the release lives elsewhere) gets no priority from it.
    const flowSchema = objects.find((o) => o.kind === 'FlowSchema') as Manifest & { spec: { rules: { subjects: unknown[] }[] } } | undefined;
    expect(flowSchema?.spec.rules.flatMap((rule) => rule.subjects))
      .toEqual([{ kind: 'ServiceAccount', serviceAccount: { name: 'security-baseline-operator', namespace: 'platform-ops' } }]);
  });

  test('the FlowSchema: workload-high by default, another priority level when set, none when off', async () => {
    const levelOf = async (values: Readonly<Record<string, unknown>>) => ((await render(values)).find((o) => o.kind === 'FlowSchema') as
      Manifest & { spec: { priorityLevelConfiguration: { name: string } } } | undefined)?.spec.priorityLevelConfiguration.name;
    expect(await levelOf({})).toBe('workload-high');
    expect(await levelOf({ 'flowSchema.priorityLevel': 'platform-controllers' })).toBe('platform-controllers');
    expect(await levelOf({ 'flowSchema.enabled': false })).toBeUndefined();
  });
});

describe('refusals, with a message saying why', () => {
  test.each([
    [{ 'leaderElection.enabled': false }, /replicas=2 needs leaderElection.enabled=true/],
    [{ 'rbac.bindableClusterRoles': [] }, /bindableClusterRoles.*minItems/],
    [{ 'flowSchema.priorityLevel': '' }, /priorityLevel.*minLength/],
    [{ 'log.level': 'verbose' }, /\/log\/level.*must be one of/],
    [{ replica: 3 }, /additional properties 'replica' not allowed/],
    [{ 'metrics.secure': false, 'metrics.certSecret': 'tls' }, /certSecret is set but metrics.secure=false/],
  ])('%j', async (values, message) => {
    const result = await runHelm(['template', 'sbo', CHART, ...valueArgs(values)]);
    expect({ ok: result.ok, stderr: result.stderr }).toEqual({ ok: false, stderr: expect.stringMatching(message) });
  });
});
