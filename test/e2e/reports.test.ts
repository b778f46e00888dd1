// Compliance reports against the real OpenReports CRD (from the Go module
// proxy, hack/openreports): one Report per selected namespace with a result per
// baseline and control, kept like a managed object, and removed when the
// namespace leaves selection or the baseline goes, per its deletionPolicy.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, NetworkingV1Api, RbacAuthorizationV1Api, type V1NetworkPolicy } from '@kubernetes/client-node';
import { NAMESPACES } from '../../src/controller/kinds.ts';
import type { SecurityBaselineSpec } from '../../src/api/types.ts';
import type { ReportObject } from '../../src/resources/report.ts';
import { adminKubeConfig, createTestNamespace, eventually, messageOf, statusOf } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { condition, createBaseline, deleteBaseline, waitForBaselineGone, waitForStatus, writerAs } from '../support/baselines.ts';
import { kubeConfigAsUser } from '../support/identities.ts';
import { metricValue, startOperator, type RunningOperator } from '../support/operator.ts';
import { installReportsCrd, readReport } from '../support/reports.ts';

const run = randomBytes(3).toString('hex');
const kc = adminKubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const reports = { group: 'openreports.io', version: 'v1alpha1', plural: 'reports' };
const created: string[] = [];
let operator: RunningOperator;

async function baseline(prefix: string, label: string, spec: Omit<SecurityBaselineSpec, 'namespaceSelector'>): Promise<string> {
  const name = `${prefix}-${run}`;
  await createBaseline(name, { namespaceSelector: { matchLabels: { [label]: 'true' } }, ...spec });
  created.push(name);
  return name;
}

/** `baseline/control: result` of each result, in report order. */
const outcomes = (report: ReportObject | undefined) => report?.results.map((r) => `${r.policy}/${r.rule}: ${r.result}`);

async function waitForReport(namespace: string, check: (report: ReportObject) => boolean, timeoutMs = 20_000): Promise<ReportObject> {
  let last: ReportObject | undefined;
  return eventually(async () => {
    last = await readReport(namespace);
    return last && check(last) ? last : false;
  }, { timeoutMs, intervalMs: 100 }).catch((error: unknown) => {
    const seen = last ? last.results.map((r) => `${r.policy}/${r.rule}: ${r.result}: ${r.message}`).join('; ') : 'no report';
    throw new Error(`the report of ${namespace} did not become as expected within ${timeoutMs} ms; last seen: ${seen}`, { cause: error });
  });
}

beforeAll(async () => {
  await installCrds();
  await installReportsCrd();
  operator = await startOperator();
}, 120_000);

afterAll(async () => {
  await Promise.all(created.map((name) => deleteBaseline(name)));
  await Promise.all(created.map((name) => waitForBaselineGone(name).catch(() => undefined)));
  expect(await operator.stop()).toBe(0);
}, 60_000);

describe('a namespace report', () => {
  test('holds one result per baseline and control: pass, fail with why, warn for Audit, and the counts', async () => {
    const label = `sbo-report-${run}`;
    const enforce = await baseline('rep-enforce', label, {
      networkPolicy: { allowDNS: true },
      resourceQuota: { hard: { pods: '4' } },
      roleBindings: [{ name: 'readers', clusterRole: `absent-${run}`, subjects: [{ kind: 'Group', name: 'readers' }] }],
      podSecurity: { enforce: 'restricted' },
      imagePolicy: { allowedRegistries: ['registry.example.com/'] },
    });
    const audit = await baseline('rep-audit', label, { mode: 'Audit', resourceQuota: { hard: { pods: '2' } } });
    const namespace = await createTestNamespace('report', { [label]: 'true' });

    const report = await waitForReport(namespace, (r) => r.results.length === 6 && r.results.find((x) => x.rule === 'imagePolicy')?.result === 'pass');
    expect(outcomes(report)).toEqual([
      `${audit}/resourceQuota: warn`,
      `${enforce}/networkPolicy: pass`,
      `${enforce}/resourceQuota: pass`,
      `${enforce}/roleBindings: fail`,
      `${enforce}/podSecurity: pass`,
      `${enforce}/imagePolicy: pass`,
    ]);
    expect(report.summary).toEqual({ pass: 4, fail: 1, warn: 1, error: 0, skip: 0 });
    expect(report.source).toBe('security-baseline-operator');
    expect(report.scope).toMatchObject({ apiVersion: 'v1', kind: 'Namespace', name: namespace });
    expect(report.results.find((r) => r.rule === 'roleBindings')?.message)
      .toContain(`RoleBinding ${enforce}-readers missing: RoleBinding ${enforce}-readers refers to ClusterRole absent-${run}, which does not exist`);
    expect(report.results[0]?.message).toBe(`Audit: ResourceQuota ${audit}-quota missing`);
    expect(report.metadata).not.toHaveProperty('annotations');
    process.stderr.write(`\nreport of ${namespace}:\n${report.results.map((r) => `  ${r.policy} ${r.rule} ${r.result}: ${r.message}`).join('\n')}\n`);

    // Deleted by someone: put back. Then the namespace leaves selection: gone.
    await custom.deleteNamespacedCustomObject({ ...reports, namespace, name: 'security-baseline' });
    await waitForReport(namespace, (r) => r.results.length === 6);
    await writerAs('kubectl-label').mergePatch(NAMESPACES, namespace, undefined, { metadata: { labels: { [label]: null } } });
    await eventually(async () => (await readReport(namespace)) === undefined, { timeoutMs: 20_000 });
  }, 60_000);

  test('goes with the baseline: deleted with Delete, left unmanaged with Orphan', async () => {
    const deleting = await baseline('rep-delete', `sbo-report-del-${run}`, { resourceQuota: { hard: { pods: '4' } } });
    const orphaning = await baseline('rep-orphan', `sbo-report-orph-${run}`, { resourceQuota: { hard: { pods: '4' } }, deletionPolicy: 'Orphan' });
    const a = await createTestNamespace('report-del', { [`sbo-report-del-${run}`]: 'true' });
    const b = await createTestNamespace('report-orph', { [`sbo-report-orph-${run}`]: 'true' });
    await waitForReport(a, (r) => r.summary.pass === 1);
    await waitForReport(b, (r) => r.summary.pass === 1);

    await deleteBaseline(deleting);
    await deleteBaseline(orphaning);
    await waitForBaselineGone(deleting);
    await waitForBaselineGone(orphaning);
    await eventually(async () => (await readReport(a)) === undefined, { timeoutMs: 20_000 });
    const orphan = await waitForReport(b, (r) => r.metadata.labels?.['app.kubernetes.io/managed-by'] === undefined);
    expect(outcomes(orphan)).toEqual([`${orphaning}/resourceQuota: pass`]);
  }, 60_000);

  test('a Report of that name from another source is left untouched, and the namespace is a Conflict, not compliant; a tenant cannot make one', async () => {
    // Kubernetes' admin role does not grant reports; a cluster that aggregates them into it
    // (or a Role like this one) lets a tenant write Reports, but not under the compliance
    // Report's name (security-baseline-report-name). One a cluster administrator's tool made,
    // or that was there before that policy, is still someone else's.
    const label = `sbo-report-foreign-${run}`;
    const namespace = await createTestNamespace('report-foreign', { [label]: 'true' });
    const tenant = `report-tenant-${run}`;
    await rbac.createNamespacedRole({ namespace, body: {
      metadata: { name: 'reports-writer' }, rules: [{ apiGroups: ['openreports.io'], resources: ['reports'], verbs: ['create', 'get', 'update'] }],
    } });
    await rbac.createNamespacedRoleBinding({ namespace, body: {
      metadata: { name: 'reports-writer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reports-writer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: tenant }],
    } });
    const asTenant = (await kubeConfigAsUser(tenant)).makeApiClient(CustomObjectsApi);
    const foreign = {
      apiVersion: 'openreports.io/v1alpha1', kind: 'Report', metadata: { name: 'security-baseline' }, source: 'someone-else',
      summary: { pass: 6, fail: 0, warn: 0, error: 0, skip: 0 }, results: [],
    };
    // Refused, once the tenant's role is in effect: 403 from the policy, not from RBAC.
    const refusal = await eventually(async () => {
      const body = await asTenant.createNamespacedCustomObject({ ...reports, namespace, body: foreign })
        .then(() => undefined, (error: { body?: unknown }) => error.body);
      return typeof body === 'string' && body.includes('security-baseline-report-name') ? body : false;
    });
    expect(refusal).toContain('may not create one under it');
    await custom.createNamespacedCustomObject({ ...reports, namespace, body: foreign });
    const name = await baseline('rep-foreign', label, { resourceQuota: { hard: { pods: '4' } } });
    const status = await waitForStatus(name, (b) => condition(b, 'Conflict')?.status === 'True');
    expect(condition(status, 'Conflict')?.reason).toBe('ForeignReport');
    expect(condition(status, 'Conflict')?.message).toContain('Report security-baseline already exists with source "someone-else"');
    expect(status.status?.namespaces?.compliant).toBe(0);
    const events = await eventually(async () => {
      // A cluster-scoped object's Events are in default, as client-go records them: out of the tenant's reach.
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=Namespace,involvedObject.name=${namespace},reason=ForeignReport` });
      const found = list.items.filter((e) => e.reason === 'ForeignReport');
      return found.length > 0 ? found : false;
    });
    expect(events[0]?.type).toBe('Warning');
    const report = await readReport(namespace);
    expect(report?.source).toBe('someone-else');
    expect(report?.results).toEqual([]);
    expect((report?.metadata as { managedFields?: Array<{ manager?: string }> } | undefined)?.managedFields?.some((entry) => entry.manager === 'security-baseline-operator')).toBe(false);
    // The baseline's own controls still apply.
    await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
  }, 60_000);

  test('where a baseline denies NetworkPolicies, those there anyway are named in a warning until they go, a disguised one too', async () => {
    const label = `sbo-report-np-${run}`;
    const namespace = await createTestNamespace('report-np', { [label]: 'true' });
    const allowAll = (name: string, labels: Record<string, string> = {}): V1NetworkPolicy => ({
      metadata: { name, labels }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] },
    });
    // Before the guard: a namespace admin's allow-all, wearing the operator's managed-by label to pass for one of its own.
    const tenant = `report-np-tenant-${run}`;
    await rbac.createNamespacedRoleBinding({ namespace, body: {
      metadata: { name: 'tenant-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: tenant }],
    } });
    const asTenant = (await kubeConfigAsUser(tenant)).makeApiClient(NetworkingV1Api);
    await eventually(() => asTenant.createNamespacedNetworkPolicy({ namespace, body: allowAll('disguised', { 'app.kubernetes.io/managed-by': 'security-baseline-operator' }) }));
    await networking.createNamespacedNetworkPolicy({ namespace, body: allowAll('allow-all') });

    const name = await baseline('rep-np', label, { networkPolicy: { defaultDeny: ['Ingress'] }, workloadPolicy: { networkPolicies: { deny: true } } });
    const result = (report: ReportObject) => report.results.find((r) => r.rule === 'workloadPolicy');
    const named = await waitForReport(namespace, (r) => result(r)?.result === 'warn');
    expect(result(named)?.message).toContain(`ValidatingAdmissionPolicy security-baseline-${name}-networkpolicies`);
    expect(result(named)?.message).toContain('NetworkPolicy allow-all, disguised are not the baseline\'s and allow traffic besides its default deny');
    expect(result(named)?.message).not.toContain(`${name}-default-deny`);
    expect(named.results.find((r) => r.rule === 'networkPolicy')?.result).toBe('pass');
    const gauge = async () => {
      const exposition = await operator.metrics();
      const series = `security_baseline_other_network_policies{baseline="${name}"}`;
      return exposition.includes(series) ? metricValue(exposition, 'security_baseline_other_network_policies', { baseline: name }) : undefined;
    };
    expect(await gauge()).toBe(2);

    // The tenant cannot add one now (a dry run: the policy reaches admission a moment after it is created);
    // a cluster administrator (or a member of allowGroups) can, and it is named as it comes.
    const refusal = await eventually(async () => {
      const outcome = await asTenant.createNamespacedNetworkPolicy({ namespace, body: allowAll('another'), dryRun: 'All' })
        .then(() => 'created', (error: unknown) => `${statusOf(error)} ${messageOf(error)}`);
      return outcome.includes(`security-baseline-${name}-networkpolicies`) ? outcome : false;
    });
    expect(refusal).toMatch(/^403 /);
    await networking.createNamespacedNetworkPolicy({ namespace, body: allowAll('db-operator') });
    await waitForReport(namespace, (r) => result(r)?.message.includes('NetworkPolicy allow-all, db-operator, disguised are not') === true);
    expect(await gauge()).toBe(3);

    for (const policy of ['allow-all', 'db-operator', 'disguised']) await networking.deleteNamespacedNetworkPolicy({ namespace, name: policy });
    const clean = await waitForReport(namespace, (r) => result(r)?.result === 'pass');
    expect(result(clean)?.message).not.toContain('not the baseline');
    expect(await gauge()).toBe(0);
  }, 60_000);
});
