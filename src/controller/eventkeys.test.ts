import { describe, expect, test } from '@jest/globals';
import type { KubeObject, ManagedFieldsEntry } from '../runtime/kube.ts';
import { managedChangeMatters } from './eventkeys.ts';
import { RecordMaker } from './records.ts';

const labels = { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' };
const operatorFields = {
  'f:metadata': { 'f:labels': { 'f:app.kubernetes.io/managed-by': {}, 'f:security.baseline.dev/baseline': {} } },
  'f:spec': { 'f:hard': { 'f:pods': {}, 'f:requests.cpu': {} } },
};
const operatorEntry: ManagedFieldsEntry = { manager: 'security-baseline-operator', operation: 'Apply', fieldsV1: operatorFields };

/** The quota as the operator's apply left it, version 10. */
const applied = {
  apiVersion: 'v1', kind: 'ResourceQuota',
  metadata: { name: 'tenants-quota', namespace: 'team-a', uid: 'u1', resourceVersion: '10', labels, managedFields: [operatorEntry] },
  spec: { hard: { pods: '4', 'requests.cpu': '1' } },
} as KubeObject;

/** The next version of `object`, as the API server would send it: `change` applied, a new resourceVersion. */
function next(object: KubeObject, change: (copy: KubeObject & Record<string, unknown>) => void): KubeObject {
  const copy = structuredClone(object) as KubeObject & Record<string, unknown>;
  change(copy);
  copy.metadata.resourceVersion = String(Number(object.metadata.resourceVersion) + 1);
  return copy;
}

function matters(before: KubeObject, after: KubeObject): boolean {
  const records = new RecordMaker();
  return managedChangeMatters(records.managed(before), records.managed(after));
}

describe('managedChangeMatters: which updates of a managed object queue its namespace', () => {
  test('kube-controller-manager writing the quota\'s usage into its status: no', () => {
    const withStatus = next(applied, (quota) => {
      quota.status = { hard: { pods: '4', 'requests.cpu': '1' }, used: { pods: '0', 'requests.cpu': '0' } };
      quota.metadata.managedFields = [operatorEntry, {
        manager: 'kube-controller-manager', operation: 'Update', subresource: 'status',
        fieldsV1: { 'f:status': { 'f:hard': { '.': {}, 'f:pods': {} }, 'f:used': { '.': {}, 'f:pods': {} } } },
      }];
    });
    expect(matters(applied, withStatus)).toBe(false);
    // And the next usage change after it.
    expect(matters(withStatus, next(withStatus, (quota) => { quota.status = { used: { pods: '3' } }; }))).toBe(false);
  });

  test('someone else adding a field or annotation the operator does not own: no', () => {
    expect(matters(applied, next(applied, (quota) => {
      quota.metadata.annotations = { note: 'reviewed' };
      (quota.spec as { hard: Record<string, string> }).hard['limits.cpu'] = '8';
      quota.metadata.managedFields = [operatorEntry, {
        manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:note': {} } }, 'f:spec': { 'f:hard': { 'f:limits.cpu': {} } } },
      }];
    }))).toBe(false);
  });

  test('an owned field edited by someone else (kubectl edit takes the field): yes', () => {
    expect(matters(applied, next(applied, (quota) => {
      (quota.spec as { hard: Record<string, string> }).hard.pods = '400';
      quota.metadata.managedFields = [
        { ...operatorEntry, fieldsV1: { ...operatorFields, 'f:spec': { 'f:hard': { 'f:requests.cpu': {} } } } },
        { manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:spec': { 'f:hard': { 'f:pods': {} } } } },
      ];
    }))).toBe(true);
  });

  test('an owned field changed under the operator\'s own manager name (a forced apply posing as it): yes', () => {
    expect(matters(applied, next(applied, (quota) => { (quota.spec as { hard: Record<string, string> }).hard.pods = '400'; }))).toBe(true);
  });

  test('an owned field taken over at the same value (a forced apply by another manager): yes, the operator no longer owns it', () => {
    expect(matters(applied, next(applied, (quota) => {
      quota.metadata.managedFields = [
        { ...operatorEntry, fieldsV1: { ...operatorFields, 'f:spec': { 'f:hard': { 'f:requests.cpu': {} } } } },
        { manager: 'someone', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:hard': { 'f:pods': {} } } } },
      ];
    }))).toBe(true);
  });

  test('the labels that say whose object it is changed: yes', () => {
    expect(matters(applied, next(applied, (quota) => { quota.metadata.labels = { ...labels, 'security.baseline.dev/baseline': 'other' }; }))).toBe(true);
    expect(matters(applied, next(applied, (quota) => { quota.metadata.labels = { ...labels, extra: 'x' }; }))).toBe(true);
  });
});
