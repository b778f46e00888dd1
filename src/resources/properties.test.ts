// Properties every builder keeps, checked through desiredObjects on generated
// baselines: pure and deterministic, ownership always marked, names valid,
// output canonical and independent of the order the baselines come in.

import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type {
  LabelSelector,
  NetworkPolicyPeer,
  NetworkPolicySpec,
  PodSecurityLevel,
  RoleBindingSpec,
  SecurityBaseline,
  Subject,
} from '../api/types.ts';
import { desiredObjects } from './index.ts';

const labelKey = fc.constantFrom('app', 'tier', 'team', 'example.com/owner');
const labelValue = fc.constantFrom('a', 'b', 'frontend', 'backend', '');
const selector: fc.Arbitrary<LabelSelector> = fc.record(
  {
    matchLabels: fc.dictionary(labelKey, labelValue, { maxKeys: 2 }),
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key: labelKey, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.array(labelValue, { minLength: 1, maxLength: 2 }) }),
        fc.record({ key: labelKey, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);
const peer: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  fc.record({ podSelector: selector, namespaceSelector: selector }, { requiredKeys: [] }),
  fc.record({ ipBlock: fc.record({ cidr: fc.constant('10.0.0.0/8'), except: fc.array(fc.constant('10.1.0.0/16'), { maxLength: 1 }) }, { requiredKeys: ['cidr'] }) }),
);
const ports = fc.array(
  fc.record({ protocol: fc.constantFrom('TCP' as const, 'UDP' as const), port: fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constant('http')) }, { requiredKeys: [] }),
  { maxLength: 2 },
);
const ingress = fc.array(fc.record({ from: fc.array(peer, { maxLength: 2 }), ports }, { requiredKeys: [] }), { maxLength: 2 });
const egress = fc.array(fc.record({ to: fc.array(peer, { maxLength: 2 }), ports }, { requiredKeys: [] }), { maxLength: 2 });
const suffix = fc.oneof(fc.constantFrom('readers', 'backend', 'default-deny', 'b-readers', 'quota'), fc.stringMatching(/^[a-z]{1,3}$/), fc.constant('x'.repeat(240)));
const networkPolicy: fc.Arbitrary<NetworkPolicySpec> = fc.record(
  {
    defaultDeny: fc.subarray(['Ingress', 'Egress'] as const).map((types) => [...types]),
    allowDNS: fc.boolean(),
    allowSameNamespace: fc.boolean(),
    ingress,
    egress,
    podPolicies: fc.array(fc.record({ name: suffix, podSelector: selector, ingress, egress }, { requiredKeys: ['name', 'podSelector'] }), { maxLength: 2 }),
  },
  { requiredKeys: [] },
);
const quantity = fc.constantFrom('1', '500m', '0.5', '1Gi', '1024Mi', '2', '100m', 'oops');
const resources = fc.dictionary(fc.constantFrom('cpu', 'memory'), quantity, { maxKeys: 2 });
const template = fc.constantFrom('alice', '${namespace}-admins', 'team-${label:team}', '${label:missing}', '${bad}', 'ci');
const subject: fc.Arbitrary<Subject> = fc.record(
  { kind: fc.constantFrom('User' as const, 'Group' as const, 'ServiceAccount' as const), name: template, namespace: template },
  { requiredKeys: ['kind', 'name'] },
);
const roleBinding: fc.Arbitrary<RoleBindingSpec> = fc.oneof(
  fc.record({ name: suffix, clusterRole: fc.constantFrom('view', 'edit'), subjects: fc.array(subject, { maxLength: 3 }) }),
  fc.record({
    name: suffix,
    rules: fc.array(fc.record({ apiGroups: fc.constant<string[]>(['']), resources: fc.constant<string[]>(['pods']), verbs: fc.constant<string[]>(['get', 'list']) }), { minLength: 1, maxLength: 2 }),
    subjects: fc.array(subject, { maxLength: 3 }),
  }),
);
const level = fc.constantFrom<PodSecurityLevel>('privileged', 'baseline', 'restricted');
const baselineName = fc.constantFrom('a', 'a-b', 'tenants', 'platform', 'z'.repeat(63), 'Invalid');

const baseline: fc.Arbitrary<SecurityBaseline> = fc
  .record({
    name: baselineName,
    spec: fc.record(
      {
        priority: fc.integer({ min: -5, max: 5 }),
        networkPolicy,
        resourceQuota: fc.record({ hard: fc.dictionary(fc.constantFrom('pods', 'requests.cpu', 'limits.memory'), quantity, { maxKeys: 3 }) }),
        limitRange: fc.record({ default: resources, defaultRequest: resources, max: resources, min: resources }, { requiredKeys: [] }),
        roleBindings: fc.array(roleBinding, { maxLength: 3 }),
        podSecurity: fc.record({ enforce: level, audit: level, warn: level, version: fc.constantFrom('latest', 'v1.33', 'bad') }, { requiredKeys: ['enforce'] }),
        logging: fc.record({ flow: fc.record({ globalOutputRefs: fc.array(fc.constant('central'), { maxLength: 1 }), localOutputRefs: fc.array(fc.constant('loki'), { maxLength: 1 }) }, { requiredKeys: [] }) }),
      },
      { requiredKeys: [] },
    ),
  })
  .map(({ name, spec }) => ({
    apiVersion: 'security.baseline.dev/v1alpha1' as const,
    kind: 'SecurityBaseline' as const,
    metadata: { name },
    spec: { namespaceSelector: {}, ...spec },
  }));
const baselines = fc.uniqueArray(baseline, { selector: (b) => b.metadata.name, maxLength: 4 });
const namespace = fc.record({ name: fc.constantFrom('team-a', 'default'), labels: fc.dictionary(fc.constantFrom('team', 'tenant'), fc.constantFrom('alpha', 'true')) });

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function objectsIn(value: unknown, found = new Set<object>()): Set<object> {
  if (value !== null && typeof value === 'object') {
    found.add(value);
    for (const child of Object.values(value)) objectsIn(child, found);
  }
  return found;
}

/**
 * Paths of undefined values, empty lists and empty maps, except where `{}` is
 * meaningful (a selector or Flow select matching everything, a rule allowing
 * everything, and a spec with nothing optional set) and where `[]` is (a
 * NetworkPolicy's rule lists, applied empty so the operator owns them).
 */
function nonCanonicalPaths(value: unknown, path = ''): string[] {
  if (value === undefined) return [path];
  if (Array.isArray(value)) {
    if (value.length === 0) return /^\.spec\.(ingress|egress)$/.test(path) ? [] : [path];
    return value.flatMap((item, index) => nonCanonicalPaths(item, `${path}[${index}]`));
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    const everything = /\.(podSelector|namespaceSelector|select)$|\.(ingress|egress)\[\d+\]$|^\.spec$/.test(path);
    if (entries.length === 0 && !everything) return [path];
    return entries.flatMap(([key, child]) => nonCanonicalPaths(child, `${path}.${key}`));
  }
  return [];
}

describe('desiredObjects, for any baselines', () => {
  const run = { numRuns: 300 };

  test('is pure and deterministic: the same input gives an equal result, the input is untouched and not shared', () => {
    fc.assert(
      fc.property(baselines, namespace, (list, ns) => {
        const snapshot = structuredClone({ list, ns });
        deepFreeze(list);
        deepFreeze(ns);
        const first = desiredObjects(list, ns);
        const second = desiredObjects(list, ns);
        expect(second).toEqual(first);
        expect({ list, ns }).toEqual(snapshot);
        const inputObjects = objectsIn({ list, ns });
        for (const output of objectsIn({ ...first, errors: [] })) expect(inputObjects.has(output)).toBe(false);
      }),
      run,
    );
  });

  test('every object is marked as managed by its baseline and named after it, within 253 characters', () => {
    fc.assert(
      fc.property(baselines, namespace, (list, ns) => {
        for (const object of desiredObjects(list, ns).objects) {
          const owner = object.metadata.labels['security.baseline.dev/baseline'] as string;
          expect(object.metadata.labels['app.kubernetes.io/managed-by']).toBe('security-baseline-operator');
          expect(list.map((b) => b.metadata.name)).toContain(owner);
          expect(object.metadata.name.startsWith(`${owner}-`)).toBe(true);
          expect(object.metadata.name.length).toBeLessThanOrEqual(253);
          expect(object.metadata.namespace).toBe(ns.name);
        }
      }),
      run,
    );
  });

  test('objects are canonical JSON: no undefined, no empty lists or maps but where they mean something, unique keys', () => {
    fc.assert(
      fc.property(baselines, namespace, (list, ns) => {
        const { objects } = desiredObjects(list, ns);
        for (const object of objects) {
          expect(nonCanonicalPaths(object)).toEqual([]);
          expect(JSON.parse(JSON.stringify(object))).toEqual(object);
        }
        expect(new Set(objects.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.name}`)).size).toBe(objects.length);
      }),
      run,
    );
  });

  test('does not depend on the order of the baselines', () => {
    fc.assert(
      fc.property(baselines, namespace, (list, ns) => {
        expect(desiredObjects([...list].reverse(), ns)).toEqual(desiredObjects(list, ns));
      }),
      run,
    );
  });

  test('every baseline with a conflict lost to a baseline that exists, and at most one LimitRange is desired', () => {
    fc.assert(
      fc.property(baselines, namespace, (list, ns) => {
        const state = desiredObjects(list, ns);
        const names = list.map((b) => b.metadata.name);
        for (const conflict of state.conflicts) {
          expect(names).toContain(conflict.winner);
          expect(conflict.winner).not.toBe(conflict.baseline);
        }
        expect(state.objects.filter((o) => o.kind === 'LimitRange').length).toBeLessThanOrEqual(1);
      }),
      run,
    );
  });
});
