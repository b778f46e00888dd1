import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type { SecurityBaselineSpec } from '../api/types.ts';
import type { ExceptionLike } from '../resources/exception.ts';
import { buildImagePolicy } from '../resources/imagepolicy.ts';
import { buildBaseline, composeDesired, objectKey, type BaselineBuild, type ObjectIdentity } from '../resources/index.ts';
import { buildReport, CONTROLS, declaredControls, type ControlResult } from '../resources/report.ts';
import type { KubeObject } from '../runtime/kube.ts';
import { admissionObjectsOf } from './admission.ts';
import { canonicalJson } from './fingerprint.ts';
import type { BaselineObject, NamespaceObject, Problem } from './context.ts';
import { RecordMaker } from './records.ts';
import { controlResults, NO_EXCEPTIONS, reportHolds, sameReport, type ReportFacts, type ReportInput } from './reports.ts';

const namespace: NamespaceObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', uid: 'u-1', labels: { tenant: 'true' } } };

function baseline(name: string, spec: Partial<SecurityBaselineSpec>): BaselineObject {
  return { apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name, generation: 1 }, spec: { namespaceSelector: {}, ...spec } };
}

const tenants = baseline('tenants', {
  networkPolicy: { defaultDeny: ['Ingress'] },
  resourceQuota: { hard: { pods: '4' } },
  roleBindings: [{ name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: 'r' }] }],
  podSecurity: { enforce: 'restricted' },
  imagePolicy: { allowedRegistries: ['registry.example.com/'] },
});

/** The input of a reconcile in which `problems` (by objectKey) went wrong and nothing else did. */
function input(selecting: BaselineObject[], options: { problems?: Map<string, Problem>; live?: Map<string, KubeObject> } = {}): ReportInput {
  const builds = new Map<string, BaselineBuild>(selecting.map((b) => [b.metadata.name, buildBaseline(b, { name: 'team-a', labels: namespace.metadata.labels ?? {} })]));
  const enforcing = selecting.filter((b) => b.spec.mode !== 'Audit').map((b) => builds.get(b.metadata.name) as BaselineBuild);
  return {
    namespace, selecting, builds, desired: composeDesired(enforcing), live: options.live ?? new Map(),
    problemOf: (object: ObjectIdentity) => options.problems?.get(objectKey(object)),
  };
}

const admissionPresent: ReportFacts = {
  operatorNamespace: 'sbo-system',
  admissionObject: (kind, name) => (buildImagePolicy(tenants, 'sbo-system') as KubeObject[]).find((o) => o.kind === kind && o.metadata.name === name),
  exceptionOf: NO_EXCEPTIONS,
  exceptionsOfBaseline: () => [],
  otherNetworkPolicies: () => [],
};

const byControl = (results: ControlResult[]) => Object.fromEntries(results.map((r) => [`${r.baseline}/${r.control}`, r]));

describe('controlResults', () => {
  test('one pass per declared control when everything was applied', () => {
    const results = controlResults(input([tenants]), admissionPresent);
    expect(results.map((r) => `${r.control}:${r.result}`)).toEqual([
      'networkPolicy:pass', 'resourceQuota:pass', 'roleBindings:pass', 'podSecurity:pass', 'imagePolicy:pass',
    ]);
    expect(byControl(results)['tenants/roleBindings']?.resources).toEqual([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', name: 'tenants-readers', namespace: 'team-a' },
    ]);
  });

  test('a problem applying an object fails its control, with what differs and why', () => {
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'tenants-readers', namespace: 'team-a' } };
    const problems = new Map([[objectKey(binding), { state: 'failed', reason: 'ClusterRoleNotFound', message: 'ClusterRole view does not exist' } as Problem]]);
    const namespaceKey = objectKey({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    problems.set(namespaceKey, { state: 'failed', reason: 'ApplyForbidden', message: 'Namespace team-a: forbidden' });
    const results = byControl(controlResults(input([tenants], { problems }), admissionPresent));
    expect(results['tenants/roleBindings']).toMatchObject({ result: 'fail', message: 'RoleBinding tenants-readers missing: ClusterRole view does not exist' });
    expect(results['tenants/podSecurity']).toMatchObject({ result: 'fail', message: 'Namespace team-a: forbidden' });
    expect(results['tenants/resourceQuota']?.result).toBe('pass');
  });

  test('a missing admission policy fails imagePolicy (warns in Audit mode); Audit warns about each difference', () => {
    const absent: ReportFacts = { ...admissionPresent, admissionObject: () => undefined };
    expect(byControl(controlResults(input([tenants]), absent))['tenants/imagePolicy']).toMatchObject({
      result: 'fail', message: expect.stringContaining('ValidatingAdmissionPolicy security-baseline-tenants-images missing'),
    });
    const audit = baseline('audit', { mode: 'Audit', resourceQuota: { hard: { pods: '4' } }, imagePolicy: { allowedRegistries: ['r.example.com/'] } });
    const results = byControl(controlResults(input([audit]), absent));
    expect(results['audit/resourceQuota']).toMatchObject({ result: 'warn', message: 'Audit: ResourceQuota audit-quota missing', mode: 'Audit' });
    expect(results['audit/imagePolicy']).toMatchObject({ result: 'warn', message: expect.stringContaining('security-baseline-audit-images missing') });
    const gate = baseline('gated', { mode: 'Audit', admissionGate: true });
    expect(byControl(controlResults(input([gate]), absent))['gated/admissionGate']).toMatchObject({ result: 'skip', message: 'not evaluated: an Audit baseline has no admissionGate' });
  });

  test('a control another, stricter baseline decides warns; a spec error is an error of its control only', () => {
    const strict = baseline('strict', { podSecurity: { enforce: 'restricted' } });
    const lax = baseline('lax', { podSecurity: { enforce: 'baseline' }, roleBindings: [{ name: 'x', clusterRole: 'view', subjects: [{ kind: 'Group', name: '${label:missing}' }] }] });
    const results = byControl(controlResults(input([strict, lax]), admissionPresent));
    expect(results['lax/podSecurity']).toMatchObject({ result: 'warn', message: expect.stringContaining('decided by baseline strict') });
    expect(results['lax/roleBindings']).toMatchObject({ result: 'error', message: expect.stringContaining('spec.roleBindings[0].subjects[0].name') });
    expect(results['strict/podSecurity']?.result).toBe('pass');
  });

  test('admission policies are expected as the baseline\'s exceptions elsewhere shape them', () => {
    // An exception for team-b writes its registries into the baseline's one image policy.
    const vendor: ExceptionLike = {
      metadata: { name: 'vendor' },
      spec: { baseline: 'tenants', namespaces: ['team-b'], reason: 'CHG-2', expiresAt: '2999-01-01T00:00:00Z', relax: { imagePolicy: { allowedRegistries: ['quay.io/vendor/'] } } },
    };
    const live = admissionObjectsOf('imagePolicy', tenants, 'sbo-system', [vendor]) as KubeObject[];
    const facts: ReportFacts = {
      ...admissionPresent, admissionObject: (kind, name) => live.find((o) => o.kind === kind && o.metadata.name === name), exceptionsOfBaseline: () => [vendor],
    };
    expect(byControl(controlResults(input([tenants]), facts))['tenants/imagePolicy']).toMatchObject({ result: 'pass' });
    // Expected without the exception, the same policy differs: team-a would report a failure that is none.
    expect(byControl(controlResults(input([tenants]), { ...facts, exceptionsOfBaseline: () => [] }))['tenants/imagePolicy']).toMatchObject({
      result: 'fail', message: expect.stringContaining('security-baseline-tenants-images differs at .spec.variables'),
    });
  });

  test('where a baseline denies NetworkPolicies, those that are not its own warn by name; elsewhere they are none of its business', () => {
    const guard = baseline('guard', { workloadPolicy: { networkPolicies: { deny: true } } });
    const live = admissionObjectsOf('workloadPolicy', guard, 'sbo-system', []) as KubeObject[];
    const facts: ReportFacts = { ...admissionPresent, admissionObject: (kind, name) => live.find((o) => o.kind === kind && o.metadata.name === name) };
    expect(byControl(controlResults(input([guard]), facts))['guard/workloadPolicy']?.result).toBe('pass');
    const others = ['b', 'allow-all', 'c', 'd', 'e', 'f', 'g'];
    const found = byControl(controlResults(input([guard]), { ...facts, otherNetworkPolicies: (n) => (n === 'team-a' ? others : []) }))['guard/workloadPolicy'];
    expect(found?.result).toBe('warn');
    expect(found?.message).toContain('in place; NetworkPolicy allow-all, b, c, d, e and 2 more are not the baseline\'s and allow traffic besides its default deny');
    expect(byControl(controlResults(input([guard]), { ...facts, otherNetworkPolicies: () => ['x'] }))['guard/workloadPolicy']?.message).toContain('NetworkPolicy x is not the baseline\'s and allows');
    // The policy missing stays a failure, with the policies named too.
    const missing = byControl(controlResults(input([guard]), { ...facts, admissionObject: () => undefined, otherNetworkPolicies: () => ['x'] }))['guard/workloadPolicy'];
    expect(missing).toMatchObject({ result: 'fail', message: expect.stringContaining('NetworkPolicy x is not') });
    // A workload policy without deny, and a baseline without a workload policy, say nothing of them.
    const exec = baseline('exec', { workloadPolicy: { exec: { deny: true } } });
    const execLive = admissionObjectsOf('workloadPolicy', exec, 'sbo-system', []) as KubeObject[];
    const execFacts: ReportFacts = { ...facts, admissionObject: (kind, name) => execLive.find((o) => o.kind === kind && o.metadata.name === name), otherNetworkPolicies: () => ['x'] };
    expect(byControl(controlResults(input([exec]), execFacts))['exec/workloadPolicy']).toMatchObject({ result: 'pass', message: expect.not.stringContaining('NetworkPolicy x') });
    expect(controlResults(input([tenants]), { ...admissionPresent, otherNetworkPolicies: () => ['x'] }).every((r) => r.result === 'pass')).toBe(true);
  });

  test('an excepted control is skipped, naming the exception (the seam for BaselineExceptions)', () => {
    const facts: ReportFacts = { ...admissionPresent, exceptionOf: (b, c) => (b === 'tenants' && c === 'podSecurity' ? { name: 'vendor', reason: 'CHG-1' } : undefined) };
    expect(byControl(controlResults(input([tenants]), facts))['tenants/podSecurity']).toMatchObject({ result: 'skip', message: 'excepted by BaselineException vendor: CHG-1' });
  });
});

describe('buildReport', () => {
  const results = controlResults(input([tenants]), admissionPresent);

  test('is an OpenReports Report of the namespace with counts, sorted, and nothing that changes by itself', () => {
    const report = buildReport({ name: 'team-a', uid: 'u-1' }, [...results].reverse());
    expect(report).toMatchObject({
      apiVersion: 'openreports.io/v1alpha1', kind: 'Report',
      metadata: { name: 'security-baseline', namespace: 'team-a', labels: { 'app.kubernetes.io/managed-by': 'security-baseline-operator' } },
      scope: { apiVersion: 'v1', kind: 'Namespace', name: 'team-a', uid: 'u-1' },
      source: 'security-baseline-operator',
      summary: { pass: 5, fail: 0, warn: 0, error: 0, skip: 0 },
    });
    expect(report.results.map((r) => r.rule)).toEqual(declaredControls(tenants.spec));
    expect(report.results[0]).toMatchObject({ policy: 'tenants', rule: 'networkPolicy', result: 'pass', scored: true, properties: { mode: 'Enforce' } });
    expect(JSON.stringify(report)).not.toMatch(/time/i);
    expect(buildReport({ name: 'team-a', uid: 'u-1' }, results)).toEqual(report);
  });

  test('is built with every key in order, so its fingerprint is JSON.stringify\'s own output', () => {
    const reference = fc.record({ apiVersion: fc.string(), kind: fc.string(), name: fc.string(), namespace: fc.option(fc.string(), { nil: undefined }) }, { requiredKeys: ['apiVersion', 'kind', 'name'] });
    const result = fc.record({
      baseline: fc.string(),
      control: fc.constantFrom(...CONTROLS),
      result: fc.constantFrom('pass', 'fail', 'warn', 'error', 'skip'),
      message: fc.string(),
      mode: fc.constantFrom('Enforce', 'Audit'),
      resources: fc.option(fc.array(reference, { maxLength: 4 }), { nil: undefined }),
    }, { requiredKeys: ['baseline', 'control', 'result', 'message', 'mode'] });
    const namespace = fc.record({ name: fc.string(), uid: fc.option(fc.string(), { nil: undefined }) }, { requiredKeys: ['name'] });
    fc.assert(fc.property(namespace, fc.array(result, { maxLength: 12 }), (ns, results) => {
      const report = buildReport(ns, results);
      return JSON.stringify(report) === canonicalJson(report);
    }), { numRuns: 300 });
  });

  test('sameReport ignores key order and server fields, and sees any change of a result', () => {
    const report = buildReport({ name: 'team-a' }, results);
    const live = JSON.parse(JSON.stringify({ ...report, metadata: { ...report.metadata, uid: 'x', resourceVersion: '7' } }, (_k, v: unknown) =>
      (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v))) as KubeObject;
    expect(sameReport(report, live)).toBe(true);
    const changed = buildReport({ name: 'team-a' }, results.map((r, i) => (i === 0 ? { ...r, result: 'fail' as const } : r)));
    expect(sameReport(changed, live)).toBe(false);
  });

  test('the cached record of a report holds what sameReport finds in the report itself', () => {
    const report = buildReport({ name: 'team-a' }, results);
    const live = JSON.parse(JSON.stringify({ ...report, metadata: { ...report.metadata, uid: 'x', resourceVersion: '7' } }, (_k, v: unknown) =>
      (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v))) as KubeObject;
    const record = new RecordMaker().report(live);
    expect(record.policies).toEqual(['tenants']);
    expect(reportHolds(report, record)).toBe(true);
    const changed = buildReport({ name: 'team-a' }, results.map((r, i) => (i === 0 ? { ...r, result: 'fail' as const } : r)));
    expect(reportHolds(changed, record)).toBe(false);
    const relabelled = new RecordMaker().report({ ...live, metadata: { ...live.metadata, labels: {} } });
    expect(reportHolds(report, relabelled)).toBe(false);
  });
});
