// /metrics is HTTPS and asks the API server who is calling (TokenReview) and
// whether they may (SubjectAccessReview); health probes need no token. The
// counters and gauges move when drift happens on the real control plane.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { API_POLICY_NAMES, MUTATING_API_POLICY_NAMES } from '../../src/api/constants.ts';
import { adminKubeConfig, createTestNamespace, eventually } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { managedKind } from '../../src/controller/kinds.ts';
import { createBaseline, deleteBaseline, waitForBaselineGone, writerAs } from '../support/baselines.ts';
import { metricValue, SCRAPER_NAMESPACE, scrape, startOperator, type RunningOperator } from '../support/operator.ts';

const run = randomBytes(3).toString('hex');
const core = adminKubeConfig().makeApiClient(CoreV1Api);
const admission = adminKubeConfig().makeApiClient(AdmissionregistrationV1Api);
let operator: RunningOperator;

beforeAll(async () => {
  await installCrds();
  operator = await startOperator();
});

afterAll(async () => {
  await deleteBaseline(`metrics-${run}`);
  await waitForBaselineGone(`metrics-${run}`).catch(() => undefined);
  await operator.stop();
});

describe('the metrics endpoint', () => {
  test('refuses a scrape without a token (401) and with a bogus one (401)', async () => {
    expect((await scrape(operator.metricsUrl)).status).toBe(401);
    expect((await scrape(operator.metricsUrl, 'not-a-token')).status).toBe(401);
  });

  test('refuses a real ServiceAccount without the metrics permission (403)', async () => {
    await core.createNamespacedServiceAccount({ namespace: SCRAPER_NAMESPACE, body: { metadata: { name: `nosy-${run}` } } });
    const token = (await core.createNamespacedServiceAccountToken({ namespace: SCRAPER_NAMESPACE, name: `nosy-${run}`, body: { spec: { audiences: [] } } })).status?.token;
    expect((await scrape(operator.metricsUrl, token)).status).toBe(403);
  });

  test('serves an authorised scraper; health probes need no token', async () => {
    const body = await operator.metrics();
    expect(body).toContain('security_baseline_build_info{version=');
    expect(body).toContain('workqueue_depth{name="namespaces"}');
    expect((await fetch(`${operator.healthUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${operator.healthUrl}/readyz`)).status).toBe(200);
  });

  test('drift moves the counters and the namespace gauge', async () => {
    const name = `metrics-${run}`;
    await createBaseline(name, { namespaceSelector: { matchLabels: { 'sbo-metrics': run } }, resourceQuota: { hard: { pods: '2' } } });
    const namespace = await createTestNamespace('metrics', { 'sbo-metrics': run });
    await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
    await eventually(async () => metricValue(await operator.metrics(), 'security_baseline_namespaces', { baseline: name, state: 'compliant' }) === 1);
    const before = await operator.metrics();
    expect(metricValue(before, 'security_baseline_drift_corrected_total', { baseline: name })).toBe(0);
    expect(metricValue(before, 'security_baseline_provisioning_duration_seconds_count')).toBeGreaterThanOrEqual(1);

    await writerAs('kubectl-edit').mergePatch(managedKind('v1', 'ResourceQuota')!,
      `${name}-quota`, namespace, { spec: { hard: { pods: '200' } } });
    await eventually(async () => metricValue(await operator.metrics(), 'security_baseline_drift_corrected_total', { baseline: name, kind: 'ResourceQuota' }) === 1);
    const after = await operator.metrics();
    expect(metricValue(after, 'security_baseline_writes_total', { kind: 'ResourceQuota', verb: 'apply' }))
      .toBeGreaterThan(metricValue(before, 'security_baseline_writes_total', { kind: 'ResourceQuota', verb: 'apply' }));
    expect(metricValue(after, 'security_baseline_namespaces', { baseline: name, state: 'compliant' })).toBe(1);
  });

  test('reports each admission policy of the API installed, and one whose binding was deleted as missing until it is back', async () => {
    const names = [...API_POLICY_NAMES, ...MUTATING_API_POLICY_NAMES];
    const installed = async (): Promise<Record<string, number>> => {
      const body = await operator.metrics();
      return Object.fromEntries(names.map((policy) => [policy, metricValue(body, 'security_baseline_api_policy_installed', { policy })]));
    };
    const all = (value: number) => Object.fromEntries(names.map((policy) => [policy, value]));
    await eventually(async () => JSON.stringify(await installed()) === JSON.stringify(all(1)));
    // Test files run one at a time: no other file relies on these policies meanwhile.
    const removals: [string, () => Promise<unknown>][] = [
      ['security-baseline-namespace-annotations', () => admission.deleteValidatingAdmissionPolicyBinding({ name: 'security-baseline-namespace-annotations' })],
      ['security-baseline-exception-creator', () => admission.deleteMutatingAdmissionPolicyBinding({ name: 'security-baseline-exception-creator' })],
    ];
    for (const [policy, remove] of removals) {
      await remove();
      try {
        const missing = await eventually(async () => {
          const now = await installed();
          return now[policy] === 0 ? now : false;
        });
        expect(missing).toEqual({ ...all(1), [policy]: 0 });
      } finally {
        await installCrds();
      }
      await eventually(async () => (await installed())[policy] === 1);
    }
  });
});
