// Write economy, counted by the API server's own audit log (not by anything the
// operator reports about itself): a cold start writes each desired object
// once, plus one namespace write, one compliance report (the OpenReports CRD is
// installed) and a bounded number of baseline writes; a restart over a
// compliant cluster writes nothing, reports included.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { adminKubeConfig, createTestNamespace, eventually } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { auditMark, writesSince, type AuditedWrite } from '../support/audit.ts';
import { condition, createBaseline, deleteBaseline, waitForBaselineGone, waitForStatus } from '../support/baselines.ts';
import { metricValue, startOperator, type RunningOperator } from '../support/operator.ts';
import { benchSpec } from '../../bench/bench.ts';
import { installReportsCrd, readReport } from '../support/reports.ts';

const NAMESPACES = 100;
const run = randomBytes(3).toString('hex');
const baseline = `economy-${run}`;
/** Writes per namespace by resource: the objects by server-side apply (an audited patch), the Report by a create. */
const WRITES_PER_NAMESPACE: Record<string, { verb: 'patch' | 'create'; count: number }> = {
  networkpolicies: { verb: 'patch', count: 1 }, resourcequotas: { verb: 'patch', count: 1 }, limitranges: { verb: 'patch', count: 1 },
  roles: { verb: 'patch', count: 1 }, rolebindings: { verb: 'patch', count: 2 }, reports: { verb: 'create', count: 1 },
};
let namespaces: string[] = [];
const REVIEWS = ['tokenreviews', 'subjectaccessreviews'];

/**
 * Waits until the operator has reconciled every namespace at least `times`
 * times and has nothing left to do: no key queued or being handled, and none
 * waiting for a delayed add (the debounced status write). Stopping it earlier
 * could drop a late write instead of counting it.
 */
async function settle(operator: RunningOperator, times: number): Promise<void> {
  await eventually(async () => {
    const metrics = await operator.metrics();
    return metricValue(metrics, 'security_baseline_reconcile_total', { controller: 'namespace' }) >= times
      && metricValue(metrics, 'security_baseline_reconcile_total', { controller: 'baseline' }) >= 1
      && metricValue(metrics, 'workqueue_depth') === 0
      && metricValue(metrics, 'workqueue_unfinished_work_seconds') === 0
      && metricValue(metrics, 'security_baseline_workqueue_delayed_keys') === 0;
  }, { timeoutMs: 120_000, intervalMs: 250 });
}

function ours(write: AuditedWrite): boolean {
  return (write.namespace !== undefined && namespaces.includes(write.namespace))
    || (write.resource === 'namespaces' && namespaces.includes(write.name ?? ''))
    || (write.resource === 'securitybaselines' && write.name === baseline)
    || (write.resource === 'controllerrevisions' && (write.name ?? '').startsWith(`${baseline}-`));
}

function table(writes: AuditedWrite[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const write of writes) {
    const key = `${write.verb} ${write.resource}${write.subresource ? `/${write.subresource}` : ''}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

beforeAll(async () => {
  await installCrds();
  await installReportsCrd();
  namespaces = await Promise.all(Array.from({ length: NAMESPACES }, () => createTestNamespace('economy', { 'sbo-economy': run })));
  await createBaseline(baseline, { namespaceSelector: { matchLabels: { 'sbo-economy': run } }, ...benchSpec });
}, 120_000);

afterAll(async () => {
  const operator = await startOperator();
  await deleteBaseline(baseline);
  await waitForBaselineGone(baseline, 60_000).catch(() => undefined);
  await operator.stop();
}, 120_000);

test(`cold start over ${NAMESPACES} namespaces writes each desired object once; a restart writes nothing`, async () => {
  const coldMark = await auditMark();
  const started = performance.now();
  const cold = await startOperator();
  await waitForStatus(baseline, (b) => b.status?.namespaces?.compliant === NAMESPACES && condition(b, 'Ready')?.status === 'True', 120_000);
  await settle(cold, NAMESPACES);
  const convergedSeconds = (performance.now() - started) / 1000;
  expect(await cold.stop()).toBe(0);
  const everything = await writesSince(coldMark, cold.user);
  const coldWrites = everything.filter(ours);
  // Nothing else was written (scrape authorisations are questions, not writes: nothing is stored).
  expect(everything.filter((w) => !ours(w) && !REVIEWS.includes(w.resource))).toEqual([]);

  for (const namespace of namespaces) {
    // The audit log gives a Namespace its own name as namespace: count it apart.
    const inNamespace = coldWrites.filter((w) => w.namespace === namespace && w.resource !== 'namespaces');
    for (const [resource, { verb, count }] of Object.entries(WRITES_PER_NAMESPACE)) {
      expect([namespace, resource, verb, inNamespace.filter((w) => w.resource === resource && w.verb === verb).length])
        .toEqual([namespace, resource, verb, count]);
    }
    expect(inNamespace.length).toBe(7);
    // Pod Security labels and the applied annotation: one apply of the namespace.
    expect(coldWrites.filter((w) => w.resource === 'namespaces' && w.name === namespace).length).toBe(1);
  }
  const baselineWrites = coldWrites.filter((w) => w.resource === 'securitybaselines');
  const statusWrites = baselineWrites.filter((w) => w.subresource === 'status').length;
  expect(baselineWrites.filter((w) => !w.subresource).length).toBe(1); // the finalizer
  expect(coldWrites.filter((w) => w.resource === 'controllerrevisions').length).toBe(1); // the baseline's first revision
  expect(statusWrites).toBeGreaterThanOrEqual(1);
  // Debounced: at most one a second while converging (plus the first and the last), however loaded the machine.
  expect(statusWrites).toBeLessThanOrEqual(Math.ceil(convergedSeconds) + 2);
  expect(coldWrites.filter((w) => w.resource === 'events')).toEqual([]);
  expect(coldWrites.every((w) => w.code >= 200 && w.code < 300)).toBe(true);

  const restartMark = await auditMark();
  const warm = await startOperator();
  await settle(warm, NAMESPACES);
  expect(await warm.stop()).toBe(0);
  const allRestartWrites = (await writesSince(restartMark, warm.user)).filter((w) => !REVIEWS.includes(w.resource));

  process.stderr.write(`\nwrite economy, ${NAMESPACES} namespaces, 6 desired objects and a report each:\n`
    + `  cold start: ${coldWrites.length} writes in ${convergedSeconds.toFixed(1)} s (${(coldWrites.length / NAMESPACES).toFixed(2)} per namespace): ${JSON.stringify(table(coldWrites))}\n`
    + `  restart over the compliant cluster: ${allRestartWrites.length} writes\n`);
  expect(allRestartWrites).toEqual([]);

  // Still compliant, as seen from outside.
  const namespace = await adminKubeConfig().makeApiClient(CoreV1Api).readNamespace({ name: namespaces[0]! });
  expect(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  expect((await readReport(namespaces[0]!))?.summary).toEqual({ pass: 5, fail: 0, warn: 0, error: 0, skip: 0 });
}, 300_000);
