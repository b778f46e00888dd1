import { expect, test } from '@jest/globals';
import type { KubeObject } from '../runtime/kube.ts';
import type { NamespaceObject } from './context.ts';
import { desiredFingerprint } from './fingerprint.ts';
import { RecordMaker } from './records.ts';

const labels = { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' };
const fieldsV1 = { 'f:metadata': { 'f:labels': { 'f:app.kubernetes.io/managed-by': {}, 'f:security.baseline.dev/baseline': {} } }, 'f:spec': { 'f:hard': { 'f:pods': {} } } };
const quota = (namespace: string): KubeObject => JSON.parse(JSON.stringify({
  apiVersion: 'v1', kind: 'ResourceQuota',
  metadata: {
    name: 'tenants-quota', namespace, uid: `uid-${namespace}`, resourceVersion: '7', creationTimestamp: '2026-01-01T00:00:00Z', labels,
    managedFields: [{ manager: 'security-baseline-operator', operation: 'Apply', fieldsV1 }],
  },
  spec: { hard: { pods: '4' } }, status: { used: { pods: '1' } },
})) as KubeObject;

test('a managed record keeps name, namespace, version, labels and the owned fingerprint; repeated values are shared', () => {
  const canonical = new Map([['team-a', 'team-a'], ['team-b', 'team-b']]);
  const records = new RecordMaker((name) => canonical.get(name));
  const a = records.managed(quota('team-a'));
  const b = records.managed(quota('team-b'));
  expect(a).toEqual({
    apiVersion: 'v1', kind: 'ResourceQuota',
    metadata: { name: 'tenants-quota', namespace: 'team-a', resourceVersion: '7', labels },
    owned: desiredFingerprint({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'tenants-quota', namespace: 'team-a', labels }, spec: { hard: { pods: '4' } } }),
    holds: undefined,
  });
  expect(b.metadata.labels).toBe(a.metadata.labels);
  expect(Object.isFrozen(a.metadata.labels)).toBe(true);
  expect(b.owned).toBe(a.owned);
});

test('a namespace keeps its labels, the operator\'s annotations and which of them the operator owns', () => {
  const records = new RecordMaker();
  const namespace = (name: string): NamespaceObject => ({
    apiVersion: 'v1', kind: 'Namespace',
    metadata: {
      name, uid: `uid-${name}`, resourceVersion: '3', creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { tenant: 'true', 'pod-security.kubernetes.io/enforce': 'restricted' },
      annotations: { 'security.baseline.dev/applied': '{"tenants":1}', 'openshift.io/sa.scc.uid-range': '1000/10000' },
      managedFields: [
        { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:tenant': {} } } } },
        {
          manager: 'security-baseline-operator', operation: 'Apply', time: '2026-01-01T00:00:00Z',
          fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:security.baseline.dev/applied': {} }, 'f:labels': { 'f:pod-security.kubernetes.io/enforce': {} } } },
        },
      ],
    },
    status: { phase: 'Active' },
  });
  const a = records.namespace(namespace('a'));
  expect(a.metadata.labels).toEqual({ tenant: 'true', 'pod-security.kubernetes.io/enforce': 'restricted' });
  expect(a.metadata.annotations).toEqual({ 'security.baseline.dev/applied': '{"tenants":1}' });
  expect(a.metadata.managedFields).toEqual([{
    manager: 'security-baseline-operator', operation: 'Apply',
    fieldsV1: { 'f:metadata': { 'f:labels': { 'f:pod-security.kubernetes.io/enforce': {} }, 'f:annotations': { 'f:security.baseline.dev/applied': {} } } },
  }]);
  expect(a.status).toBeUndefined();
  expect(records.namespace(namespace('b')).metadata.managedFields).toBe(a.metadata.managedFields);
});

test('a cluster-scoped managed record keeps the body and the owned fingerprint, but not the field sets', () => {
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy',
    metadata: {
      name: 'tenants-images', resourceVersion: '9', labels, annotations: { 'security.baseline.dev/exceptions': '["legacy"]' },
      managedFields: [{ manager: 'security-baseline-operator', operation: 'Apply', time: '2026-01-01T00:00:00Z', fieldsV1: { 'f:spec': { 'f:failurePolicy': {} } } }],
    },
    spec: { failurePolicy: 'Fail', validations: [{ expression: 'true' }] },
  } as KubeObject;
  const record = new RecordMaker().clusterManaged(policy);
  expect(record.owned).toBeDefined();
  expect((record as unknown as { spec: unknown }).spec).toEqual({ failurePolicy: 'Fail', validations: [{ expression: 'true' }] });
  expect(record.metadata.annotations).toEqual({ 'security.baseline.dev/exceptions': '["legacy"]' });
  expect(record.metadata.managedFields).toEqual([{ manager: 'security-baseline-operator', operation: 'Apply', time: '2026-01-01T00:00:00Z', subresource: undefined }]);
});

test('values unique to each object neither grow the sharing without end nor stop what repeats from being shared', () => {
  const records = new RecordMaker();
  const withLabels = (namespace: string, team: string): KubeObject => {
    const object = quota(namespace);
    object.metadata.labels = { ...labels, team };
    return object;
  };
  // More distinct label sets than are remembered: sharing starts afresh rather than stopping.
  for (let i = 0; i <= 20_000; i++) records.managed(withLabels(`ns-${i}`, `team-${i}`));
  const a = records.managed(withLabels('x', 'shared'));
  const b = records.managed(withLabels('y', 'shared'));
  expect(b.metadata.labels).toBe(a.metadata.labels);
});
