import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { containsDesired, firstDifference, otherManagers } from './diff.ts';

const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.boolean(), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), tie('value'), { maxKeys: 4 }),
})).object;

describe('containsDesired', () => {
  test('extra live fields are not drift', () => {
    expect(containsDesired(
      { spec: { hard: { pods: '4' } } },
      { spec: { hard: { pods: '4' }, scopes: [] }, status: { used: { pods: '1' } } },
    )).toBe(true);
  });

  test('a changed or missing field is drift, and the path names it', () => {
    expect(firstDifference({ spec: { hard: { pods: '4' } } }, { spec: { hard: { pods: '5' } } })).toBe('.spec.hard.pods');
    expect(firstDifference({ spec: { hard: { pods: '4' } } }, { spec: { hard: {} } })).toBe('.spec.hard.pods');
    expect(firstDifference({ subjects: [{ name: 'a' }] }, { subjects: [{ name: 'a' }, { name: 'b' }] })).toBe('.subjects');
    expect(firstDifference({ rules: [{ verbs: ['get'] }] }, { rules: [{ verbs: ['list'] }] })).toBe('.rules[0].verbs[0]');
  });

  test('quantities compare by value, as the API server canonicalises them', () => {
    expect(containsDesired({ hard: { memory: '1024Mi', cpu: '0.5' } }, { hard: { memory: '1Gi', cpu: '500m' } })).toBe(true);
    expect(containsDesired({ hard: { memory: '1024Mi' } }, { hard: { memory: '1G' } })).toBe(false);
    expect(containsDesired({ name: 'TCP' }, { name: 'UDP' })).toBe(false);
  });

  test('empty desired objects and lists match absent live ones', () => {
    expect(containsDesired({ spec: { podSelector: {} } }, { spec: {} })).toBe(true);
    expect(containsDesired({ spec: { ingress: [] } }, { spec: {} })).toBe(true);
    expect(containsDesired({ spec: { ingress: [{}] } }, { spec: {} })).toBe(false);
  });

  test('property: every object contains itself and any superset of itself', () => {
    fc.assert(fc.property(json, json, (desired, extra) => {
      expect(containsDesired(desired, desired)).toBe(true);
      expect(containsDesired(desired, { ...extra, ...desired })).toBe(true);
    }));
  });

  test('property: changing any leaf of desired is detected', () => {
    fc.assert(fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.integer(), { minKeys: 1 }), (desired) => {
      const [key, value] = Object.entries(desired)[0]!;
      expect(firstDifference(desired, { ...desired, [key]: value + 1 })).toBe(`.${key}`);
    }));
  });
});

describe('otherManagers', () => {
  test('names the other managers, most recent first, without the operator itself', () => {
    expect(otherManagers({
      metadata: {
        name: 'x',
        managedFields: [
          { manager: 'security-baseline-operator', operation: 'Apply', time: '2026-01-01T00:00:03Z' },
          { manager: 'kubectl-edit', operation: 'Update', time: '2026-01-01T00:00:02Z' },
          { manager: 'argocd-controller', operation: 'Apply', time: '2026-01-01T00:00:05Z' },
          { manager: 'kube-controller-manager', operation: 'Update', time: '2026-01-01T00:00:09Z', subresource: 'status' },
        ],
      },
    })).toEqual(['argocd-controller', 'kubectl-edit']);
  });
});
