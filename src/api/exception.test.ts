// exception.ts and crds/baselineexception.yaml describe one API twice; this
// test keeps them from drifting, as types.test.ts does for SecurityBaseline.
// The parts an exception shares with a baseline (NetworkPolicy rules, registry
// prefixes, quota values) must be the baseline's own schema, so that the same
// input is refused the same way in both.
import { describe, expect, test } from '@jest/globals';
import {
  EXCEPTION_KIND, EXCEPTION_PLURAL, MAX_EXCEPTION_NAMESPACES,
  type BaselineException, type BaselineExceptionSpec, type BaselineExceptionStatus, type ExceptionConditionType, type ExceptionState,
} from './exception.ts';
import { GROUP, VERSION, type Condition, type LabelSelector, type NetworkPolicyPeer, type NetworkPolicyPort, type PodSecurityLevel } from './types.ts';
import { agreementTests, everyMember, exampleKinds, loadCrd, type DeepRequired, type Schema } from '../../test/support/crd-schema.ts';

const selector: DeepRequired<LabelSelector> = { matchLabels: { team: 'a' }, matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] };
const peer: DeepRequired<NetworkPolicyPeer> = { podSelector: selector, namespaceSelector: selector, ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } };
const ports: DeepRequired<NetworkPolicyPort[]> = [{ protocol: 'TCP', port: 443, endPort: 444 }, { protocol: 'UDP', port: 'dns', endPort: 53 }];

/** Covers every field; not a valid exception (it needs a baseline that sets each control). */
const exampleSpec: DeepRequired<BaselineExceptionSpec> = {
  baseline: 'tenants',
  namespaces: ['team-a'],
  reason: 'CHG-1234: vendor agent',
  expiresAt: '2027-01-31T00:00:00Z',
  relax: {
    podSecurity: { enforce: 'baseline' },
    imagePolicy: { allowedRegistries: ['quay.io/vendor/'] },
    networkPolicy: { ingress: [{ from: [peer], ports }], egress: [{ to: [peer], ports }] },
    resourceQuota: { hard: { pods: '20' } },
    admissionGate: false,
    workloadPolicy: { exec: { deny: false } },
  },
};

const exampleStatus: DeepRequired<BaselineExceptionStatus> = {
  state: 'Active',
  observedGeneration: 1,
  namespaces: ['team-a'],
  conditions: [{ type: 'Active', status: 'True', reason: 'InEffect', message: 'relaxes podSecurity in team-a', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 }],
};

const STATES = everyMember<ExceptionState>()(['Pending', 'Active', 'Expired', 'Invalid']);
const CONDITION_TYPES = everyMember<ExceptionConditionType>()(['Valid', 'Active']);
const CONDITION_STATUSES = everyMember<Condition['status']>()(['True', 'False', 'Unknown']);
const LEVELS = everyMember<PodSecurityLevel>()(['privileged', 'baseline', 'restricted']);

const RULES = ['spec.relax.networkPolicy.ingress[]', 'spec.relax.networkPolicy.egress[]'];
const PEERS = RULES.map((rule) => `${rule}.${rule.endsWith('ingress[]') ? 'from' : 'to'}[]`);
const SELECTORS = PEERS.flatMap((peerPath) => [`${peerPath}.podSelector`, `${peerPath}.namespaceSelector`]);
const MAP_PATHS = [...SELECTORS.map((path) => `${path}.matchLabels`), 'spec.relax.resourceQuota.hard'];
const ENUMS: Record<string, readonly string[]> = {
  'spec.relax.podSecurity.enforce': LEVELS,
  'status.state': STATES,
  'status.conditions[].type': CONDITION_TYPES,
  'status.conditions[].status': CONDITION_STATUSES,
  ...Object.fromEntries(SELECTORS.map((path) => [`${path}.matchExpressions[].operator`, ['In', 'NotIn', 'Exists', 'DoesNotExist']])),
  ...Object.fromEntries(RULES.map((rule) => [`${rule}.ports[].protocol`, ['TCP', 'UDP', 'SCTP']])),
};
const TOP_LEVEL = { apiVersion: true, kind: true, metadata: true, spec: true, status: true } satisfies Record<keyof BaselineException, true>;

const { crd, version, root, nodes } = await loadCrd('baselineexception.yaml', VERSION);
const baseline = await loadCrd('securitybaseline.yaml', VERSION);
const example = new Map([...exampleKinds(exampleSpec, 'spec', MAP_PATHS), ...exampleKinds(exampleStatus, 'status', MAP_PATHS)]);

/** A schema node without its own description (which says what the field means here), for comparing shared parts. */
const shape = (node: Schema | undefined): Omit<Schema, 'description'> | undefined => {
  if (!node) return undefined;
  const { description: _, ...rest } = node;
  return rest;
};

describe('crds/baselineexception.yaml', () => {
  test('defines the API exception.ts names: cluster-scoped, one served and stored version, a status subresource', () => {
    expect(crd.metadata?.name).toBe(`${EXCEPTION_PLURAL}.${GROUP}`);
    expect(crd.spec.group).toBe(GROUP);
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.names).toMatchObject({ kind: EXCEPTION_KIND, plural: EXCEPTION_PLURAL, singular: 'baselineexception', shortNames: ['sblx'], categories: ['security'] });
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([[VERSION, true, true]]);
    expect(version?.subresources?.status).toEqual({});
    expect(version?.additionalPrinterColumns?.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Baseline', '.spec.baseline'],
      ['Namespaces', '.spec.namespaces'],
      ['Expires', '.spec.expiresAt'],
      ['State', '.status.state'],
      ['Reason', '.spec.reason'],
      ['Age', '.metadata.creationTimestamp'],
    ]);
  });

  test('has the top-level fields of BaselineException, and requires spec', () => {
    expect(Object.keys(root.properties ?? {}).sort()).toEqual(Object.keys(TOP_LEVEL).sort());
    expect(version?.schema?.openAPIV3Schema?.required).toEqual(['spec']);
  });

  test('names at most MAX_EXCEPTION_NAMESPACES namespaces, the number the admission policy can check', () => {
    expect(nodes.get('spec.namespaces')?.maxItems).toBe(MAX_EXCEPTION_NAMESPACES);
    expect(nodes.get('status.namespaces')?.maxItems).toBe(MAX_EXCEPTION_NAMESPACES);
  });

  test('reads rules, registry prefixes and quota values exactly as a SecurityBaseline does', () => {
    const shared: [string, string][] = [
      ['spec.relax.networkPolicy.ingress[]', 'spec.networkPolicy.ingress[]'],
      ['spec.relax.networkPolicy.egress[]', 'spec.networkPolicy.egress[]'],
      ['spec.relax.imagePolicy.allowedRegistries[]', 'spec.imagePolicy.allowedRegistries[]'],
      ['spec.relax.resourceQuota.hard{}', 'spec.resourceQuota.hard{}'],
    ];
    for (const [mine, theirs] of shared) expect({ [mine]: nodes.get(mine) }).toEqual({ [mine]: baseline.nodes.get(theirs) });
    expect(shape(nodes.get('spec.relax.networkPolicy.ingress'))).toEqual(shape(baseline.nodes.get('spec.networkPolicy.ingress')));
    expect(shape(nodes.get('spec.relax.imagePolicy.allowedRegistries'))).toEqual(shape(baseline.nodes.get('spec.imagePolicy.allowedRegistries')));
  });

  agreementTests({ nodes, example, mapPaths: MAP_PATHS, enums: ENUMS, defaults: {}, source: 'exception.ts' });
});
