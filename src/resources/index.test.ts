import { describe, expect, test } from '@jest/globals';
import type { SecurityBaseline, SecurityBaselineSpec } from '../api/types.ts';
import { desiredObjects, objectKey, SpecError } from './index.ts';

function baseline(name: string, spec: Partial<SecurityBaselineSpec>): SecurityBaseline {
  return {
    apiVersion: 'security.baseline.dev/v1alpha1',
    kind: 'SecurityBaseline',
    metadata: { name },
    spec: { namespaceSelector: {}, ...spec },
  };
}

const namespace = { name: 'team-a', labels: { tenant: 'true', team: 'alpha' } };

/** The design document's example baseline. */
const tenants = baseline('tenants', {
  networkPolicy: {
    defaultDeny: ['Ingress', 'Egress'],
    allowDNS: true,
    allowSameNamespace: true,
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }], ports: [{ port: 8080, protocol: 'TCP' }] }],
    egress: [],
  },
  resourceQuota: { hard: { pods: '4', 'requests.cpu': '1', 'requests.memory': '1Gi', 'limits.cpu': '2', 'limits.memory': '2Gi' } },
  limitRange: { defaultRequest: { cpu: '100m', memory: '128Mi' }, default: { cpu: '500m', memory: '512Mi' } },
  roleBindings: [
    { name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: '${namespace}-admins' }] },
    { name: 'pod-readers', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }], subjects: [{ kind: 'User', name: 'alice' }] },
  ],
  podSecurity: { enforce: 'restricted', version: 'latest' },
  imagePolicy: { allowedRegistries: ['registry.example.com/'] },
  admissionGate: true,
  logging: { flow: { globalOutputRefs: ['central-elasticsearch'] } },
});

describe('desiredObjects', () => {
  test('the design example: every object, sorted by key, and the Pod Security labels', () => {
    const state = desiredObjects([tenants], namespace);
    expect(state.objects.map(objectKey)).toEqual([
      'logging.banzaicloud.io/v1beta1/Flow/team-a/tenants-logging',
      'networking.k8s.io/v1/NetworkPolicy/team-a/tenants-default-deny',
      'rbac.authorization.k8s.io/v1/Role/team-a/tenants-pod-readers',
      'rbac.authorization.k8s.io/v1/RoleBinding/team-a/tenants-pod-readers',
      'rbac.authorization.k8s.io/v1/RoleBinding/team-a/tenants-readers',
      'v1/LimitRange/team-a/tenants-limits',
      'v1/ResourceQuota/team-a/tenants-quota',
    ]);
    expect(state.namespaceLabels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    expect(Object.keys(state.namespaceLabels)).toHaveLength(6);
    expect(state.conflicts).toEqual([]);
    expect(state.errors).toEqual([]);
  });

  test('absent sections manage nothing', () => {
    expect(desiredObjects([baseline('empty', {})], namespace)).toEqual({ objects: [], namespaceLabels: {}, conflicts: [], errors: [] });
    expect(desiredObjects([], namespace)).toEqual({ objects: [], namespaceLabels: {}, conflicts: [], errors: [] });
  });

  test('what can be merged adds up; what cannot goes to the strictest, and the losers are named', () => {
    const strict = baseline('strict', {
      podSecurity: { enforce: 'restricted' },
      limitRange: { default: { cpu: '1' } },
      resourceQuota: { hard: { pods: '10' } },
    });
    const lax = baseline('lax', {
      priority: 100,
      podSecurity: { enforce: 'baseline' },
      limitRange: { default: { cpu: '250m' } },
      resourceQuota: { hard: { pods: '4' } },
    });
    const state = desiredObjects([strict, lax], namespace);
    expect(state.objects.map(objectKey)).toEqual([
      'v1/LimitRange/team-a/lax-limits',
      'v1/ResourceQuota/team-a/lax-quota',
      'v1/ResourceQuota/team-a/strict-quota',
    ]);
    expect(state.namespaceLabels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(state.conflicts).toEqual([
      { baseline: 'strict', control: 'limitRange', winner: 'lax' },
      { baseline: 'lax', control: 'podSecurity', winner: 'strict' },
    ]);
  });

  test('a SpecError stops one section of one baseline, not the rest', () => {
    const broken = baseline('broken', {
      roleBindings: [{ name: 'owners', clusterRole: 'admin', subjects: [{ kind: 'Group', name: '${label:owner}' }] }],
      resourceQuota: { hard: { pods: '4' } },
      podSecurity: { enforce: 'restricted', version: 'nope' },
    });
    const fine = baseline('fine', { podSecurity: { enforce: 'baseline' }, logging: { flow: { localOutputRefs: ['loki'] } } });
    const state = desiredObjects([broken, fine], namespace);
    expect(state.objects.map(objectKey)).toEqual([
      'logging.banzaicloud.io/v1beta1/Flow/team-a/fine-logging',
      'v1/ResourceQuota/team-a/broken-quota',
    ]);
    expect(state.errors.map(({ baseline, error }) => [baseline, error.field])).toEqual([
      ['broken', 'spec.roleBindings[0].subjects[0].name'],
      ['broken', 'spec.podSecurity.version'],
    ]);
    expect(state.errors[0]?.error).toBeInstanceOf(SpecError);
    // The broken baseline's Pod Security spec is not a candidate, so nothing conflicts.
    expect(state.namespaceLabels['pod-security.kubernetes.io/enforce']).toBe('baseline');
    expect(state.conflicts).toEqual([]);
  });

  test('an invalid baseline name is one error and no objects', () => {
    const state = desiredObjects([baseline('Not-Valid', { resourceQuota: { hard: { pods: '1' } }, logging: { flow: {} } })], namespace);
    expect(state.objects).toEqual([]);
    expect(state.errors).toHaveLength(1);
    expect(state.errors[0]?.error.field).toBe('metadata.name');
  });

  test('two baselines wanting the same object: the first name keeps it, the other is told', () => {
    const a = baseline('a', { roleBindings: [{ name: 'b-readers', clusterRole: 'view', subjects: [] }] });
    const ab = baseline('a-b', { roleBindings: [{ name: 'readers', clusterRole: 'edit', subjects: [] }] });
    const state = desiredObjects([ab, a], namespace);
    expect(state.objects).toHaveLength(1);
    expect(state.objects[0]?.metadata.labels['security.baseline.dev/baseline']).toBe('a');
    expect(state.errors.map(({ baseline, error }) => [baseline, error.message])).toEqual([
      ['a-b', 'metadata.name: RoleBinding "a-b-readers" is also wanted by baseline "a"; rename one of them'],
    ]);
  });
});
