import { describe, expect, test } from '@jest/globals';
import type { DesiredObject } from '../resources/index.ts';
import type { KubeObject, ManagedFieldsEntry } from '../runtime/kube.ts';
import { FIELD_MANAGER, MANAGED_BY_LABEL, OPERATOR_NAME, RELEASED_FIELD_MANAGER } from '../api/constants.ts';
import {
  PRECONDITIONS, authoringPolicyInstalled, clusterRoleExists, firstProblem, foreignOwner, kindServed, planWrite, recordHolds, type Facts,
} from './ensure.ts';
import type { ManagedRecord } from './context.ts';

const labels = (baseline: string) => ({ 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': baseline });

const quota: DesiredObject = {
  apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'tenants-quota', namespace: 'team-a', labels: labels('tenants') }, spec: { hard: { pods: '4' } },
};
const binding = (roleRef: { kind: string; name: string }): DesiredObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'tenants-readers', namespace: 'team-a', labels: labels('tenants') },
  subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'readers' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
});
const flow: DesiredObject = { apiVersion: 'logging.banzaicloud.io/v1beta1', kind: 'Flow', metadata: { name: 'tenants-logging', namespace: 'team-a', labels: labels('tenants') } };

const facts = (object: DesiredObject, overrides: Partial<Facts> = {}): Facts => ({
  object, kindServed: true, authoringPolicyInstalled: true, clusterRoleExists: () => true, ...overrides,
});

describe('preconditions', () => {
  test('kindServed: a kind the cluster does not serve, with the reason people look for', () => {
    expect(kindServed(facts(quota))).toBeUndefined();
    expect(kindServed(facts(flow, { kindServed: false }))).toEqual({
      state: 'failed', reason: 'LoggingUnavailable',
      message: 'Flow (logging.banzaicloud.io/v1beta1) is not served by this cluster; install its CustomResourceDefinition',
    });
    const policy = { ...quota, apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy' };
    expect(kindServed(facts(policy, { kindServed: false }))?.reason).toBe('AdmissionPolicyUnavailable');
    expect(kindServed(facts({ ...quota, kind: 'Widget' }, { kindServed: false }))?.reason).toBe('KindUnavailable');
  });

  test('authoringPolicyInstalled: only grants wait for the authoring policy', () => {
    expect(authoringPolicyInstalled(facts(quota, { authoringPolicyInstalled: false }))).toBeUndefined();
    expect(authoringPolicyInstalled(facts(binding({ kind: 'ClusterRole', name: 'view' })))).toBeUndefined();
    const problem = authoringPolicyInstalled(facts(binding({ kind: 'ClusterRole', name: 'view' }), { authoringPolicyInstalled: false }));
    expect(problem?.reason).toBe('AuthoringPolicyMissing');
    expect(problem?.message).toMatch(/^RoleBinding tenants-readers not applied: the ValidatingAdmissionPolicy security-baseline-authoring/);
    const role = { ...quota, apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' };
    expect(authoringPolicyInstalled(facts(role, { authoringPolicyInstalled: false }))?.reason).toBe('AuthoringPolicyMissing');
  });

  test('clusterRoleExists: a binding to a missing ClusterRole waits; a binding to a Role does not ask', () => {
    const missing = (name: string) => name !== 'auditor';
    expect(clusterRoleExists(facts(binding({ kind: 'ClusterRole', name: 'view' }), { clusterRoleExists: missing }))).toBeUndefined();
    expect(clusterRoleExists(facts(binding({ kind: 'ClusterRole', name: 'auditor' }), { clusterRoleExists: missing }))).toEqual({
      state: 'failed', reason: 'ClusterRoleNotFound',
      message: 'RoleBinding tenants-readers refers to ClusterRole auditor, which does not exist; it is created once the ClusterRole exists',
    });
    expect(clusterRoleExists(facts(binding({ kind: 'Role', name: 'auditor' }), { clusterRoleExists: () => false }))).toBeUndefined();
    expect(clusterRoleExists(facts(quota, { clusterRoleExists: () => false }))).toBeUndefined();
  });

  test('the chain stops at the first problem, in order', () => {
    const broken = facts(binding({ kind: 'ClusterRole', name: 'gone' }), { kindServed: false, authoringPolicyInstalled: false, clusterRoleExists: () => false });
    expect(firstProblem(PRECONDITIONS, broken)?.reason).toBe('KindUnavailable');
    expect(firstProblem(PRECONDITIONS, { ...broken, kindServed: true })?.reason).toBe('AuthoringPolicyMissing');
    expect(firstProblem(PRECONDITIONS, { ...broken, kindServed: true, authoringPolicyInstalled: true })?.reason).toBe('ClusterRoleNotFound');
    expect(firstProblem(PRECONDITIONS, facts(quota))).toBeUndefined();
  });
});

describe('foreignOwner', () => {
  const live = (objectLabels?: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'tenants-quota', namespace: 'team-a', labels: objectLabels } });

  test('an absent object or one of this baseline is ours to write', () => {
    expect(foreignOwner(quota, 'tenants', undefined)).toBeUndefined();
    expect(foreignOwner(quota, 'tenants', live(labels('tenants')))).toBeUndefined();
  });

  test('someone else\'s object of that name is a conflict that names the owner', () => {
    expect(foreignOwner(quota, 'tenants', live())).toEqual({
      state: 'conflict', reason: 'ForeignObject', message: 'ResourceQuota tenants-quota already exists and belongs to another owner; it was left untouched',
    });
    expect(foreignOwner(quota, 'tenants', live(labels('other')))?.message).toContain('belongs to baseline other');
  });

  describe('an object detached from the operator', () => {
    const entry = (manager: string, operation: 'Apply' | 'Update', subresource?: string): ManagedFieldsEntry => ({
      manager, operation, apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:hard': { 'f:pods': {} } } }, ...(subresource ? { subresource } : {}),
    });
    const withFields = (object: KubeObject, ...entries: ManagedFieldsEntry[]): KubeObject => ({ ...object, metadata: { ...object.metadata, managedFields: entries } });
    const exists = (name: string) => name === 'other';

    test('whose labels were removed, while the operator\'s apply still holds its fields, is still the operator\'s', () => {
      // `kubectl label` removing the baseline label, or a forced apply under the operator's own manager name.
      expect(foreignOwner(quota, 'tenants', withFields(live(), entry(FIELD_MANAGER, 'Apply'), entry('kubectl-label', 'Update')), exists)).toBeUndefined();
      expect(foreignOwner(quota, 'tenants', withFields(live({ [MANAGED_BY_LABEL]: OPERATOR_NAME }), entry(FIELD_MANAGER, 'Apply')), exists)).toBeUndefined();
    });

    test('whose baseline label names no baseline is the operator\'s; one naming a baseline that exists stays that baseline\'s', () => {
      expect(foreignOwner(quota, 'tenants', withFields(live(labels('nonexistent')), entry(FIELD_MANAGER, 'Apply')), exists)).toBeUndefined();
      expect(foreignOwner(quota, 'tenants', withFields(live(labels('other')), entry(FIELD_MANAGER, 'Apply')), exists)?.message).toContain('belongs to baseline other');
    });

    test('with no apply of the operator holding fields (never applied, released, or only a status or update entry) is foreign', () => {
      expect(foreignOwner(quota, 'tenants', withFields(live(), entry('kubectl-client-side-apply', 'Update')), exists)?.reason).toBe('ForeignObject');
      expect(foreignOwner(quota, 'tenants', withFields(live(), entry(RELEASED_FIELD_MANAGER, 'Apply'), entry(FIELD_MANAGER, 'Update')), exists)?.reason).toBe('ForeignObject');
      expect(foreignOwner(quota, 'tenants', withFields(live(), entry(FIELD_MANAGER, 'Apply', 'status')), exists)?.reason).toBe('ForeignObject');
    });
  });
});

describe('planWrite', () => {
  const live = (spec: unknown, extra: Record<string, unknown> = {}): KubeObject => ({ ...quota, metadata: { ...quota.metadata, uid: 'u1' }, spec, ...extra } as KubeObject);

  test('applies what is missing or differs, and nothing when every desired field is there', () => {
    expect(planWrite(quota, undefined)).toBe('apply');
    expect(planWrite(quota, live({ hard: { pods: '4' } }, { status: { used: { pods: '1' } } }))).toBe('none');
    expect(planWrite(quota, live({ hard: { pods: '40' } }))).toBe('apply');
  });

  test('a changed roleRef replaces the binding (it cannot change in place); other changes apply', () => {
    const desired = binding({ kind: 'ClusterRole', name: 'edit' });
    const current = (name: string, subject = 'readers'): KubeObject => ({
      ...binding({ kind: 'ClusterRole', name }), subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: subject }],
    } as KubeObject);
    expect(planWrite(desired, current('view'))).toBe('replace');
    expect(planWrite(desired, current('edit', 'others'))).toBe('apply');
    expect(planWrite(desired, current('edit'))).toBe('none');
  });

  test('an empty rule list that is no one\'s (a policy an earlier version applied without it) is claimed by the same apply', () => {
    const desired = {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'tenants-default-deny', namespace: 'team-a', labels: labels('tenants') },
      spec: { podSelector: {}, ingress: [], egress: [{ to: [{ podSelector: {} }] }], policyTypes: ['Ingress', 'Egress'] },
    };
    // The server stores the empty list as no field; only managedFields say whose it is.
    const current = (fields: Record<string, unknown>): KubeObject => ({
      ...desired, spec: { podSelector: {}, egress: [{ to: [{ podSelector: {} }] }], policyTypes: ['Ingress', 'Egress'] },
      metadata: { ...desired.metadata, managedFields: [{ manager: FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:spec': fields } }] },
    } as KubeObject);
    expect(planWrite(desired, current({ 'f:podSelector': {}, 'f:ingress': {}, 'f:egress': {}, 'f:policyTypes': {} }))).toBe('none');
    expect(planWrite(desired, current({ 'f:podSelector': {}, 'f:egress': {}, 'f:policyTypes': {} }))).toBe('claim');
  });
});

describe('recordHolds', () => {
  const record = (owned: string | undefined, holds?: string): ManagedRecord => ({ metadata: { name: 'tenants-quota', namespace: 'team-a' }, owned, holds });

  test('a record holds the desired object when its owned fingerprint matches, or a full read found it did', () => {
    expect(recordHolds(record('f1'), 'f1')).toBe(true);
    expect(recordHolds(record('f0', 'f1'), 'f1')).toBe(true);
    expect(recordHolds(record('f0', 'f1'), 'f2')).toBe(false);
    expect(recordHolds(record(undefined), 'f1')).toBe(false);
    expect(recordHolds(undefined, 'f1')).toBe(false);
  });
});
