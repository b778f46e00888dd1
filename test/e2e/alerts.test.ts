// "Prometheus alerts on drift", the whole path: a real Prometheus scrapes the
// running operator's HTTPS /metrics the way the shipped ServiceMonitor
// (config/prometheus/servicemonitor.yaml) describes it — TLS as it says, the
// bearer token of a ServiceAccount bound to the shipped metrics-reader
// ClusterRole — evaluates the shipped rules (config/prometheus/
// prometheusrule.yaml, its `for:` and intervals shortened by a transformation,
// nothing rewritten by hand), and a real Alertmanager delivers to a webhook
// this test runs. Drift the operator keeps correcting, a namespace it cannot
// make compliant and an operator gone each arrive as the alert the rules
// promise, with its labels and runbook URL. Everything listens on loopback
// and stops after the test.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import path from 'node:path';
import { CoreV1Api, NetworkingV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { loadPrometheusRule, hastenedRuleGroups, type PrometheusRule, type Rule } from '../../hack/prometheus/rules.ts';
import { ensureServers, query, startAlertmanager, startPrometheus, type Server } from '../../hack/prometheus/servers.ts';
import { scrapeConfigs, type Service, type ServiceMonitor } from '../../hack/prometheus/servicemonitor.ts';
import { managedKind } from '../../src/controller/kinds.ts';
import { adminKubeConfig, createTestNamespace, eventually, testControlPlane, uniqueName } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { applyObjects, renderKustomization } from '../support/manifests.ts';
import { createBaseline, deleteBaseline, waitForBaselineGone, writerAs } from '../support/baselines.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';

const JOB = 'security-baseline-operator';
const SCRAPER = 'prometheus';
const started = Date.now();
const core = adminKubeConfig().makeApiClient(CoreV1Api);
const networking = adminKubeConfig().makeApiClient(NetworkingV1Api);

interface Notification {
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** Alertmanager's webhook receiver: every alert of every notification, in order of arrival. */
const received: Notification[] = [];
let webhook: HttpServer;
let webhookUrl = '';
let workDir = '';
let operator: RunningOperator | undefined;
let alertmanager: Server | undefined;
let prometheus: Server | undefined;
let shipped: PrometheusRule;
const baselines: string[] = [];

function startWebhook(): Promise<void> {
  webhook = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      const payload = JSON.parse(body) as { alerts?: Notification[] };
      received.push(...(payload.alerts ?? []));
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) => webhook.listen(0, '127.0.0.1', () => {
    const address = webhook.address();
    webhookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/alerts`;
    resolve();
  }));
}

function shippedAlert(name: string): Rule & { alert: string } {
  const rule = shipped.spec.groups.flatMap((g) => g.rules).find((r) => r.alert === name);
  if (!rule?.alert) throw new Error(`the shipped rules have no alert ${name}`);
  return rule as Rule & { alert: string };
}

/** Waits until the webhook has received `alert` firing with these labels; returns it. */
async function arrival(alert: string, labels: Readonly<Record<string, string>>, timeoutMs = 60_000): Promise<Notification> {
  const begin = Date.now();
  const notification = await eventually(() => received.find((n) => n.status === 'firing' && n.labels.alertname === alert
    && Object.entries(labels).every(([k, v]) => n.labels[k] === v)) ?? false, { timeoutMs, intervalMs: 200 });
  process.stderr.write(`${alert} arrived at the webhook ${Date.now() - begin} ms after the wait began\n`);
  return notification;
}

/** What the shipped rule promises: its labels, alertname, the given ones, and its runbook URL. */
function expectAsPromised(notification: Notification, alert: string, labels: Readonly<Record<string, string>>): void {
  const rule = shippedAlert(alert);
  expect(notification.labels).toMatchObject({ ...rule.labels, ...labels, alertname: alert });
  expect(notification.annotations.runbook_url).toBe(rule.annotations?.runbook_url);
  expect(notification.annotations.runbook_url).toMatch(new RegExp(`#${alert.toLowerCase()}$`));
  expect(notification.annotations.summary).toBeTruthy();
  expect(notification.annotations.summary).not.toMatch(/\{\{|<no value>/);
}

async function deleteBaselines(): Promise<void> {
  for (const name of baselines) await deleteBaseline(name);
  for (const name of baselines.splice(0)) await waitForBaselineGone(name, 30_000);
}

beforeAll(async () => {
  const binaries = await ensureServers();
  await installCrds();
  await startWebhook();
  workDir = await mkdtemp(path.join(testControlPlane().dir, 'alerts-'));
  // The control plane's reaper kills what this file lists if the test process dies.
  const reaperPids = path.join(testControlPlane().dir, 'pids');
  const pidFile = existsSync(reaperPids) ? reaperPids : undefined;

  // Prometheus's identity: a ServiceAccount bound to the shipped metrics-reader ClusterRole.
  const monitoring = await createTestNamespace('alerts-mon');
  await core.createNamespacedServiceAccount({ namespace: monitoring, body: { metadata: { name: SCRAPER } } });
  const prometheusManifests = await renderKustomization('config/prometheus');
  const reader = prometheusManifests.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')
    .map((o) => (o.kind === 'ClusterRoleBinding' ? { ...o, subjects: [{ kind: 'ServiceAccount', name: SCRAPER, namespace: monitoring }] } : o));
  expect(reader.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding']);
  await applyObjects(reader as KubernetesObject[]);
  const token = (await core.createNamespacedServiceAccountToken({ namespace: monitoring, name: SCRAPER, body: { spec: { audiences: [], expirationSeconds: 3600 } } })).status?.token;
  if (!token) throw new Error('no token for Prometheus\'s ServiceAccount');
  const tokenFile = path.join(workDir, 'token');
  await writeFile(tokenFile, token, { mode: 0o600 });

  operator = await startOperator();

  // The shipped ServiceMonitor, scraping every 2 seconds instead of every 30
  // (a timeout as long, so that a slow scrape on a busy machine is no `up == 0`).
  const monitor = prometheusManifests.find((o) => o.kind === 'ServiceMonitor') as unknown as ServiceMonitor;
  const hastened: ServiceMonitor = { ...monitor, spec: { ...monitor.spec, endpoints: monitor.spec.endpoints.map((e) => ({ ...e, interval: '2s', scrapeTimeout: '2s' })) } };
  const service = (await renderKustomization('config/manager')).find((o) => o.kind === 'Service') as unknown as Service;
  const scrape = scrapeConfigs(hastened, service, { address: new URL(operator.metricsUrl).host, pod: 'security-baseline-operator-0', tokenFile });
  expect(scrape).toEqual([expect.objectContaining({ scheme: 'https', authorization: { type: 'Bearer', credentials_file: tokenFile } })]);

  shipped = await loadPrometheusRule();
  alertmanager = await startAlertmanager(binaries.alertmanager, path.join(workDir, 'alertmanager'), { webhookUrl, pidFile });
  prometheus = await startPrometheus(binaries.prometheus, path.join(workDir, 'prometheus'), {
    scrapeConfigs: scrape,
    ruleGroups: hastenedRuleGroups(shipped.spec.groups, { interval: '1s', forDuration: '2s' }),
    alertmanagerUrl: alertmanager.url, evaluationInterval: '1s', pidFile,
  });
  process.stderr.write(`alerts: operator, Alertmanager and Prometheus ready in ${Date.now() - started} ms\n`);
}, 120_000);

afterAll(async () => {
  if (baselines.length > 0) {
    // Their finalizers need an operator.
    operator ??= await startOperator();
    await deleteBaselines().catch((error: unknown) => process.stderr.write(`baselines left: ${String(error)}\n`));
  }
  await operator?.stop();
  await prometheus?.stop();
  await alertmanager?.stop();
  await new Promise((resolve) => webhook?.close(resolve));
  if (workDir) await rm(workDir, { recursive: true, force: true });
  process.stderr.write(`alerts: the whole file took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}, 120_000);

describe('alerts through a real Prometheus and Alertmanager', () => {
  test('Prometheus scrapes the operator as the ServiceMonitor says: HTTPS, a ServiceAccount token, the job label the rules select', async () => {
    const [up] = await eventually(async () => {
      const samples = await query(prometheus!.url, `up{job="${JOB}"} == 1`);
      return samples.length === 1 ? samples : false;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    expect(up?.metric).toMatchObject({ job: JOB, pod: 'security-baseline-operator-0', service: 'security-baseline-operator-metrics', endpoint: 'metrics' });
    await eventually(async () => (await query(prometheus!.url, `security_baseline_leader{job="${JOB}"} == 1`)).length === 1, { timeoutMs: 30_000 });
  }, 60_000);

  test('drift that keeps coming back arrives as SecurityBaselineDriftDetected', async () => {
    const name = uniqueName('alerts-drift');
    baselines.push(name);
    await createBaseline(name, { namespaceSelector: { matchLabels: { 'sbo-alerts': name } }, resourceQuota: { hard: { pods: '4' } } });
    const namespace = await createTestNamespace('alerts-drift', { 'sbo-alerts': name });
    const quota = managedKind('v1', 'ResourceQuota')!;
    const drift = async (pods: string) => {
      await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }), { timeoutMs: 30_000 });
      await writerAs('kubectl-edit').mergePatch(quota, `${name}-quota`, namespace, { spec: { hard: { pods } } });
      await eventually(async () => (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec?.hard?.pods === '4', { timeoutMs: 30_000 });
    };
    // A counter's first correction creates its series (at 1), which increase()
    // cannot see; the rule means corrections that recur, so: one, Prometheus
    // sees it, another.
    await drift('40');
    const series = `security_baseline_drift_corrected_total{job="${JOB}", baseline="${name}", kind="ResourceQuota"}`;
    await eventually(async () => (await query(prometheus!.url, `${series} == 1`)).length === 1, { timeoutMs: 30_000 });
    await drift('400');
    const notification = await arrival('SecurityBaselineDriftDetected', { baseline: name });
    expectAsPromised(notification, 'SecurityBaselineDriftDetected', { baseline: name, kind: 'ResourceQuota', severity: 'warning' });
    expect(notification.annotations.summary).toContain(name);
  }, 120_000);

  test('a namespace the operator cannot make compliant arrives as SecurityBaselineNamespacesNonCompliant', async () => {
    const name = uniqueName('alerts-conflict');
    const namespace = await createTestNamespace('alerts-conflict', { 'sbo-alerts': name });
    // Someone else's NetworkPolicy under the name the baseline's would have: the operator leaves it alone and reports a conflict.
    await networking.createNamespacedNetworkPolicy({ namespace, body: { metadata: { name: `${name}-default-deny` }, spec: { podSelector: {}, policyTypes: ['Ingress'] } } });
    baselines.push(name);
    await createBaseline(name, { namespaceSelector: { matchLabels: { 'sbo-alerts': name } }, networkPolicy: { allowDNS: true } });
    const notification = await arrival('SecurityBaselineNamespacesNonCompliant', { baseline: name });
    expectAsPromised(notification, 'SecurityBaselineNamespacesNonCompliant', { baseline: name, state: 'conflict', severity: 'warning' });
    // The operator did leave it alone.
    expect((await networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` })).metadata?.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
  }, 120_000);

  test('an operator gone arrives as SecurityBaselineOperatorAbsent, critical', async () => {
    await deleteBaselines(); // while an operator still removes their finalizers
    await operator?.stop();
    operator = undefined;
    const notification = await arrival('SecurityBaselineOperatorAbsent', {});
    const rule = shippedAlert('SecurityBaselineOperatorAbsent');
    expect(notification.labels).toMatchObject({ ...rule.labels, alertname: 'SecurityBaselineOperatorAbsent', severity: 'critical', job: JOB });
    expect(notification.annotations.runbook_url).toBe(rule.annotations?.runbook_url);
  }, 120_000);
});
