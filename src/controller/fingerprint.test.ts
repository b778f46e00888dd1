import { describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { KubeObject } from '../runtime/kube.ts';
import { canonicalJson, desiredFingerprint, ownedFingerprint, projectFields, reportFingerprint } from './fingerprint.ts';

const labels = { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' };
const desiredQuota = {
  apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'tenants-quota', namespace: 'team-a', labels },
  spec: { hard: { pods: '4', 'requests.cpu': '1' } },
};
const quotaFields = {
  'f:metadata': { 'f:labels': { 'f:app.kubernetes.io/managed-by': {}, 'f:security.baseline.dev/baseline': {} } },
  'f:spec': { 'f:hard': { 'f:pods': {}, 'f:requests.cpu': {} } },
};

/** A quota as the API server returns it after the operator's apply (server fields, status, another manager's key). */
function liveQuota(overrides: { hard?: Record<string, string>; fields?: unknown; others?: KubeObject['metadata']['managedFields'] } = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'ResourceQuota',
    metadata: {
      name: 'tenants-quota', namespace: 'team-a', uid: 'u1', resourceVersion: '42', creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { ...labels, team: 'a' },
      managedFields: [
        { manager: 'security-baseline-operator', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: (overrides.fields ?? quotaFields) as Record<string, unknown> },
        ...(overrides.others ?? []),
      ],
    },
    spec: { hard: overrides.hard ?? { pods: '4', 'requests.cpu': '1', 'limits.cpu': '8' } },
    status: { hard: { pods: '4' }, used: { pods: '0' } },
  } as KubeObject;
}

describe('projectFields', () => {
  test('keeps exactly the named fields; a leaf owns its whole value', () => {
    const value = { a: { b: 1, c: 2 }, d: [1, 2], e: 'x' };
    expect(projectFields(value, { 'f:a': { 'f:b': {} }, 'f:d': {} })).toEqual({ a: { b: 1 }, d: [1, 2] });
    // An owned field the object lacks is an empty list the server stored as none.
    expect(projectFields(value, { 'f:missing': {} })).toEqual({ missing: [] });
    expect(projectFields(value, { 'f:missing': { 'f:x': {} } })).toEqual({});
    expect(projectFields(value, { '.': {}, 'f:e': {} })).toEqual({ e: 'x' });
  });

  test('list items by key (k:), by value (v:) and by index (i:), in live order', () => {
    const ports = [{ port: 53, protocol: 'UDP', name: 'dns' }, { port: 53, protocol: 'TCP', name: 'dns-tcp' }, { port: 80, protocol: 'TCP' }];
    expect(projectFields(ports, {
      'k:{"port":53,"protocol":"TCP"}': { '.': {}, 'f:name': {} },
      'k:{"port":53,"protocol":"UDP"}': { 'f:port': {} },
    })).toEqual([{ port: 53 }, { name: 'dns-tcp' }]);
    expect(projectFields(['a', 'b', 'c'], { 'v:"c"': {}, 'v:"a"': {} })).toEqual(['a', 'c']);
    expect(projectFields(['a', 'b', 'c'], { 'i:1': {} })).toEqual(['b']);
  });
});

describe('canonicalJson', () => {
  test('sorts keys, leaves out null, keeps empty lists and empty objects', () => {
    expect(canonicalJson({ b: 1, a: { d: [], c: null, e: {} } })).toBe('{"a":{"d":[],"e":{}},"b":1}');
    expect(canonicalJson({ from: [{ podSelector: {} }] })).not.toBe(canonicalJson({ from: [{ namespaceSelector: {} }] }));
    // An empty list the operator applies is not an absent field: that one may be someone else's.
    expect(canonicalJson({ egress: [] })).not.toBe(canonicalJson({}));
    expect(canonicalJson({ egress: [{}] })).not.toBe(canonicalJson({}));
  });
});

describe('the JSON the fingerprints hash says what a plain sort-and-stringify says', () => {
  // JSON with what the API server and the builders produce, and what they leave out: undefined, null, empty lists.
  const jsonWithKeys = (key: fc.Arbitrary<string>) => fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 4 }),
    object: fc.dictionary(key, tie('value'), { maxKeys: 40 }),
  })).object;
  const json = jsonWithKeys(fc.string({ maxLength: 6 }));

  /** canonicalJson as first written (less its dropping of empty lists): sort the keys, filter, map, join. */
  function referenceCanonical(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map((item) => referenceCanonical(item ?? null)).join(',')}]`;
    if (value !== null && typeof value === 'object') {
      return `{${Object.keys(value).sort()
        .filter((key) => {
          const field = (value as Record<string, unknown>)[key];
          return field !== undefined && field !== null;
        })
        .map((key) => `${JSON.stringify(key)}:${referenceCanonical((value as Record<string, unknown>)[key])}`).join(',')}}`;
    }
    return JSON.stringify(value ?? null);
  }

  /** The report fingerprint as first written: JSON.stringify with a replacer that sorts each object's entries. */
  function referenceReportFingerprint(report: Record<string, unknown>): string {
    const text = JSON.stringify({ scope: report.scope, source: report.source, summary: report.summary, results: report.results }, (_key, v: unknown) => (
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
    return createHash('sha256').update(text).digest().toString('base64url', 0, 16);
  }

  /** The same value with every object's keys in code-unit order, as the API server writes a custom resource. */
  function sortedCopy(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(sortedCopy);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortedCopy((value as Record<string, unknown>)[key])]));
  }

  test('canonicalJson', () => {
    fc.assert(fc.property(json, (value) => canonicalJson(value) === referenceCanonical(value)), { numRuns: 500 });
  });

  test('canonicalJson of values whose keys are already in order (written in one pass by JSON.stringify)', () => {
    fc.assert(fc.property(json, (value) => {
      const sorted = sortedCopy(value);
      return canonicalJson(sorted) === referenceCanonical(value) && canonicalJson(sorted) === canonicalJson(value);
    }), { numRuns: 500 });
    // Integer-like keys come first in an object whatever its order of creation; the sort puts "10" before "9".
    expect(canonicalJson({ 9: 'a', 10: 'b' })).toBe('{"10":"b","9":"a"}');
    expect(canonicalJson({ a: 1, b: null, c: [null, { d: null }] })).toBe('{"a":1,"c":[null,{}]}');
  });

  test('reportFingerprint', () => {
    // Keys that are not array indices: an object rebuilt from sorted entries (the reference) lists those first whatever the order.
    const named = jsonWithKeys(fc.string({ maxLength: 6 }).filter((key) => !/^(0|[1-9][0-9]*)$/.test(key)));
    const report = fc.record({ scope: named, source: fc.string(), summary: named, results: fc.array(named, { maxLength: 5 }) }, { requiredKeys: [] });
    fc.assert(fc.property(report, (value) => reportFingerprint(value) === referenceReportFingerprint(value)), { numRuns: 500 });
    fc.assert(fc.property(report, (value) => reportFingerprint(sortedCopy(value) as typeof value) === referenceReportFingerprint(value)), { numRuns: 500 });
  });
});

describe('fingerprints', () => {
  test('a live object holding what the operator applied matches the desired one, whatever others added', () => {
    expect(ownedFingerprint(liveQuota())).toBe(desiredFingerprint(desiredQuota));
  });

  test('a changed owned value, or an owned field another manager took over, does not match', () => {
    expect(ownedFingerprint(liveQuota({ hard: { pods: '40', 'requests.cpu': '1' } }))).not.toBe(desiredFingerprint(desiredQuota));
    // kubectl edit (an Update) took spec.hard.pods: it is no longer among the operator's fields.
    const taken = { ...quotaFields, 'f:spec': { 'f:hard': { 'f:requests.cpu': {} } } };
    const edited = liveQuota({ fields: taken, others: [{ manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:spec': { 'f:hard': { 'f:pods': {} } } } }] });
    expect(ownedFingerprint(edited)).not.toBe(desiredFingerprint(desiredQuota));
  });

  test('a change of the desired object changes its fingerprint; name and namespace are identity, not fields', () => {
    expect(desiredFingerprint({ ...desiredQuota, spec: { hard: { pods: '5', 'requests.cpu': '1' } } })).not.toBe(desiredFingerprint(desiredQuota));
    expect(desiredFingerprint({ ...desiredQuota, metadata: { ...desiredQuota.metadata, namespace: 'team-b' } })).toBe(desiredFingerprint(desiredQuota));
    expect(desiredFingerprint({ ...desiredQuota, metadata: { ...desiredQuota.metadata, labels: { ...labels, extra: 'x' } } }))
      .not.toBe(desiredFingerprint(desiredQuota));
  });

  test('an object the operator never applied has no fingerprint', () => {
    const foreign = liveQuota();
    foreign.metadata.managedFields = [{ manager: 'kubectl-create', operation: 'Update', fieldsV1: quotaFields }];
    expect(ownedFingerprint(foreign)).toBeUndefined();
    expect(ownedFingerprint({ ...foreign, metadata: { ...foreign.metadata, managedFields: undefined } })).toBeUndefined();
  });

  test('atomic lists (owned whole) compare by their whole value', () => {
    const desired = {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'tenants-readers', namespace: 'team-a', labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'team-a-readers' }],
    };
    const fields = { 'f:metadata': quotaFields['f:metadata'], 'f:roleRef': {}, 'f:subjects': {} };
    const live = (subjects: unknown[]): KubeObject => ({
      ...desired, subjects, metadata: { ...desired.metadata, managedFields: [{ manager: 'security-baseline-operator', operation: 'Apply', fieldsV1: fields }] },
    } as KubeObject);
    expect(ownedFingerprint(live(desired.subjects))).toBe(desiredFingerprint(desired));
    expect(ownedFingerprint(live([...desired.subjects, { kind: 'User', name: 'mallory' }]))).not.toBe(desiredFingerprint(desired));
  });

  test('an empty list the operator applied matches while it is the operator\'s, and not once another writer holds it', () => {
    const desired = {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'tenants-default-deny', namespace: 'team-a', labels },
      spec: { podSelector: {}, ingress: [], egress: [], policyTypes: ['Ingress', 'Egress'] },
    };
    const operatorFields = { 'f:metadata': quotaFields['f:metadata'], 'f:spec': { 'f:podSelector': {}, 'f:ingress': {}, 'f:egress': {}, 'f:policyTypes': {} } };
    const live = (spec: Record<string, unknown>, fields: unknown, others: unknown[] = []): KubeObject => ({
      ...desired, spec, metadata: { ...desired.metadata, managedFields: [{ manager: 'security-baseline-operator', operation: 'Apply', fieldsV1: fields }, ...others] },
    } as KubeObject);
    // The server stores an empty list as no field.
    expect(ownedFingerprint(live({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] }, operatorFields))).toBe(desiredFingerprint(desired));
    // kubectl edit added `ingress: [{}]` (allow all): the list is now the editor's alone.
    const taken = { 'f:metadata': quotaFields['f:metadata'], 'f:spec': { 'f:podSelector': {}, 'f:egress': {}, 'f:policyTypes': {} } };
    const opened = live({ podSelector: {}, ingress: [{}], policyTypes: ['Ingress', 'Egress'] }, taken,
      [{ manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:spec': { 'f:ingress': {} } } }]);
    expect(ownedFingerprint(opened)).not.toBe(desiredFingerprint(desired));
  });
});
