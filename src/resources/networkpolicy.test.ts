import { describe, expect, test } from '@jest/globals';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import type { NetworkPolicySpec } from '../api/types.ts';
import { SpecError } from './errors.ts';
import { buildDefaultDenyPolicy, buildNetworkPolicies } from './networkpolicy.ts';

const labels = {
  'app.kubernetes.io/managed-by': 'security-baseline-operator',
  'security.baseline.dev/baseline': 'tenants',
};

const dnsEgress = {
  ports: [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ],
  to: [
    {
      podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
    },
  ],
};

describe('default-deny', () => {
  test('an empty section denies both directions and allows nothing', () => {
    expect(buildNetworkPolicies('tenants', 'team-a', {})).toEqual([
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'tenants-default-deny', namespace: 'team-a', labels },
        spec: { podSelector: {}, ingress: [], egress: [], policyTypes: ['Ingress', 'Egress'] },
      },
    ]);
  });

  test('the design example: DNS, same namespace, ingress from ingress-nginx on 8080', () => {
    const spec: NetworkPolicySpec = {
      defaultDeny: ['Ingress', 'Egress'],
      allowDNS: true,
      allowSameNamespace: true,
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
          ports: [{ port: 8080, protocol: 'TCP' }],
        },
      ],
      egress: [],
    };
    const policy = buildDefaultDenyPolicy('tenants', 'team-a', spec);
    expect(policy).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'tenants-default-deny', namespace: 'team-a', labels },
      spec: {
        podSelector: {},
        ingress: [
          { from: [{ podSelector: {} }] },
          {
            ports: [{ protocol: 'TCP', port: 8080 }],
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
          },
        ],
        egress: [dnsEgress, { to: [{ podSelector: {} }] }],
        policyTypes: ['Ingress', 'Egress'],
      },
    });
    // The shape is a networking.k8s.io/v1 NetworkPolicy as the client library types it.
    const typed: V1NetworkPolicy | undefined = policy;
    expect(typed).toBeDefined();
  });

  test('only the listed directions are isolated; rules of the other direction are left out', () => {
    const policy = buildDefaultDenyPolicy('tenants', 'team-a', {
      defaultDeny: ['Ingress'],
      allowDNS: true,
      allowSameNamespace: true,
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
    });
    expect(policy?.spec).toEqual({
      podSelector: {},
      ingress: [{ from: [{ podSelector: {} }] }],
      egress: [],
      policyTypes: ['Ingress'],
    });
  });

  test('egress only: DNS comes first', () => {
    expect(buildDefaultDenyPolicy('tenants', 'team-a', { defaultDeny: ['Egress'], allowDNS: true })?.spec).toEqual({
      podSelector: {},
      ingress: [],
      egress: [dnsEgress],
      policyTypes: ['Egress'],
    });
  });

  test('an empty defaultDeny isolates nothing, so there is no default-deny policy', () => {
    expect(buildNetworkPolicies('tenants', 'team-a', { defaultDeny: [], allowDNS: true })).toEqual([]);
  });

  test('rules are stored canonically: TCP made explicit, empty lists and selector parts dropped', () => {
    const policy = buildDefaultDenyPolicy('tenants', 'team-a', {
      defaultDeny: ['Ingress'],
      ingress: [
        { from: [], ports: [{ port: 'http' }] },
        { from: [{ podSelector: { matchLabels: {}, matchExpressions: [] }, namespaceSelector: { matchLabels: { b: '2', a: '1' } } }] },
        { from: [{ ipBlock: { cidr: '10.0.0.0/8', except: [] } }], ports: [] },
      ],
    });
    expect(policy?.spec.ingress).toEqual([
      { ports: [{ protocol: 'TCP', port: 'http' }] },
      { from: [{ podSelector: {}, namespaceSelector: { matchLabels: { a: '1', b: '2' } } }] },
      { from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] },
    ]);
  });

  test('invalid peers are reported with their field path', () => {
    const build = (spec: NetworkPolicySpec) => () => buildNetworkPolicies('tenants', 'team-a', spec);
    expect(build({ ingress: [{ from: [{}] }] })).toThrow(new SpecError('spec.networkPolicy.ingress[0].from[0]', 'a peer sets podSelector and/or namespaceSelector, or ipBlock alone'));
    expect(build({ egress: [{}, { to: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: [] }] } }] }] })).toThrow(
      expect.objectContaining({ field: 'spec.networkPolicy.egress[1].to[0].podSelector.matchExpressions[0].values' }),
    );
  });
});

describe('podPolicies', () => {
  test('backend pods only reachable from frontend pods on TCP 80', () => {
    const policies = buildNetworkPolicies('tenants', 'team-a', {
      allowDNS: true,
      podPolicies: [
        {
          name: 'backend',
          podSelector: { matchLabels: { app: 'backend' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: 'frontend' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
        },
      ],
    });
    expect(policies.map((policy) => policy.metadata.name)).toEqual(['tenants-default-deny', 'tenants-backend']);
    expect(policies[1]).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'tenants-backend', namespace: 'team-a', labels },
      spec: {
        podSelector: { matchLabels: { app: 'backend' } },
        ingress: [{ ports: [{ protocol: 'TCP', port: 80 }], from: [{ podSelector: { matchLabels: { app: 'frontend' } } }] }],
        egress: [],
        policyTypes: ['Ingress'],
      },
    });
  });

  test('policyTypes follow the directions given; an empty list still isolates', () => {
    const [, both, egressOnly, none] = buildNetworkPolicies('tenants', 'team-a', {
      podPolicies: [
        { name: 'both', podSelector: {}, ingress: [], egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }] },
        { name: 'egress-only', podSelector: { matchLabels: { app: 'batch' } }, egress: [] },
        { name: 'none', podSelector: { matchLabels: { app: 'quiet' } } },
      ],
    });
    expect(both?.spec).toEqual({ podSelector: {}, ingress: [], egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }], policyTypes: ['Ingress', 'Egress'] });
    expect(egressOnly?.spec).toEqual({ podSelector: { matchLabels: { app: 'batch' } }, ingress: [], egress: [], policyTypes: ['Egress'] });
    expect(none?.spec).toEqual({ podSelector: { matchLabels: { app: 'quiet' } }, ingress: [], egress: [], policyTypes: ['Ingress'] });
  });

  test('names must be unique and may not take the default-deny name', () => {
    const build = (names: string[]) => () =>
      buildNetworkPolicies('tenants', 'team-a', { podPolicies: names.map((name) => ({ name, podSelector: {} })) });
    expect(build(['a', 'a'])).toThrow(new SpecError('spec.networkPolicy.podPolicies[1].name', 'duplicate name "a"'));
    expect(build(['default-deny'])).toThrow(new SpecError('spec.networkPolicy.podPolicies[0].name', '"default-deny" is reserved'));
    expect(build(['Not_Valid'])).toThrow(expect.objectContaining({ field: 'spec.networkPolicy.podPolicies[0].name' }));
  });

  test('an invalid pod selector is reported at its path', () => {
    expect(() =>
      buildNetworkPolicies('tenants', 'team-a', {
        podPolicies: [{ name: 'x', podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['a'] }] } }],
      }),
    ).toThrow(new SpecError('spec.networkPolicy.podPolicies[0].podSelector.matchExpressions[0].values', 'operator Exists takes no values'));
  });
});
