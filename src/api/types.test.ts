// types.ts and crds/securitybaseline.yaml describe one API twice; this test
// keeps them from drifting. exampleSpec and exampleStatus must set every field
// of types.ts (the compiler sees to that through DeepRequired), and their field
// paths and value kinds must be exactly the schema's.
import { describe, expect, test } from '@jest/globals';
import {
  GROUP, KIND, PLURAL, VERSION,
  type Condition, type ConditionType, type DeletionPolicy, type LabelSelector, type LabelSelectorRequirement, type Mode,
  type NetworkPolicyPeer, type NetworkPolicyPort, type PodSecurityLevel, type PodSecuritySpec, type PolicyType,
  type RolloutStrategy, type SecurityBaseline, type SecurityBaselineSpec, type SecurityBaselineStatus, type Subject,
} from './types.ts';
import { agreementTests, everyMember, exampleKinds, loadCrd, type DeepRequired } from '../../test/support/crd-schema.ts';

const MODES = everyMember<Mode>()(['Enforce', 'Audit']);
const DELETION_POLICIES = everyMember<DeletionPolicy>()(['Delete', 'Orphan']);
const POLICY_TYPES = everyMember<PolicyType>()(['Ingress', 'Egress']);
const POD_SECURITY_LEVELS = everyMember<PodSecurityLevel>()(['privileged', 'baseline', 'restricted']);
const OPERATORS = everyMember<LabelSelectorRequirement['operator']>()(['In', 'NotIn', 'Exists', 'DoesNotExist']);
const PROTOCOLS = everyMember<NonNullable<NetworkPolicyPort['protocol']>>()(['TCP', 'UDP', 'SCTP']);
const SUBJECT_KINDS = everyMember<Subject['kind']>()(['User', 'Group', 'ServiceAccount']);
const SUBJECT_API_GROUPS = everyMember<NonNullable<Subject['apiGroup']>>()(['', 'rbac.authorization.k8s.io']);
const CONDITION_TYPES = everyMember<ConditionType>()(['Ready', 'Progressing', 'Degraded', 'Conflict', 'RolloutHalted']);
const STRATEGIES = everyMember<RolloutStrategy>()(['Immediate', 'Progressive']);
const CONDITION_STATUSES = everyMember<Condition['status']>()(['True', 'False', 'Unknown']);

const selector: DeepRequired<LabelSelector> = {
  matchLabels: { tenant: 'true' },
  matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }],
};
const peer: DeepRequired<NetworkPolicyPeer> = {
  podSelector: selector, namespaceSelector: selector, ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] },
};
// Both forms of an int-or-string port, so that both are checked against the schema.
const ports: DeepRequired<NetworkPolicyPort[]> = [{ protocol: 'TCP', port: 8080, endPort: 8090 }, { protocol: 'UDP', port: 'dns', endPort: 53 }];

/** Covers every field; not a valid baseline (a roleBinding cannot set both clusterRole and rules). */
const exampleSpec: DeepRequired<SecurityBaselineSpec> = {
  namespaceSelector: selector,
  excludeNamespaces: ['sandbox'],
  mode: 'Enforce',
  priority: 0,
  deletionPolicy: 'Delete',
  paused: false,
  revisionHistoryLimit: 10,
  // Not a valid rollout: a step sets one of namespaces and percent.
  rollout: { strategy: 'Progressive', canarySelector: selector, steps: [{ namespaces: 1, percent: 100, pauseSeconds: 60 }], maxFailures: 1 },
  networkPolicy: {
    defaultDeny: ['Ingress', 'Egress'],
    allowDNS: true,
    allowSameNamespace: true,
    ingress: [{ from: [peer], ports }],
    egress: [{ to: [peer], ports }],
    podPolicies: [{ name: 'backend', podSelector: selector, ingress: [{ from: [peer], ports }], egress: [{ to: [peer], ports }] }],
  },
  resourceQuota: { hard: { pods: '4' } },
  limitRange: { defaultRequest: { cpu: '100m' }, default: { cpu: '500m' }, max: { cpu: '1' }, min: { cpu: '10m' } },
  roleBindings: [{
    name: 'readers',
    clusterRole: 'view',
    rules: [{ apiGroups: [''], resources: ['pods'], resourceNames: ['web'], verbs: ['get'] }],
    subjects: [{ apiGroup: '', kind: 'ServiceAccount', name: 'ci', namespace: '${namespace}' }],
  }],
  podSecurity: { enforce: 'restricted', audit: 'restricted', warn: 'restricted', version: 'latest' },
  imagePolicy: { allowedRegistries: ['registry.example.com/'] },
  workloadPolicy: {
    readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true, allowGroups: ['sre'] },
    networkPolicies: { deny: true, allowGroups: ['network-admins'] },
  },
  admissionGate: true,
  logging: { flow: { globalOutputRefs: ['central'], localOutputRefs: ['local'] } },
};

const exampleStatus: DeepRequired<SecurityBaselineStatus> = {
  currentRevision: 'tenants-0123456789',
  updateRevision: 'tenants-abcdef0123',
  rollout: { revision: 'tenants-abcdef0123', step: 0, stepCompletedAt: '2026-01-01T00:00:00Z', updated: 1, pending: 0, held: 0 },
  observedGeneration: 1,
  conditions: [{
    type: 'Ready', status: 'True', reason: 'AllNamespacesCompliant', message: '1/1 namespaces compliant',
    lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1,
  }],
  namespaces: { selected: 1, compliant: 1, drifted: 0, failed: 0, excepted: 0 },
};

const RULES = ['spec.networkPolicy.ingress[]', 'spec.networkPolicy.egress[]', 'spec.networkPolicy.podPolicies[].ingress[]', 'spec.networkPolicy.podPolicies[].egress[]'];
const PEERS = RULES.map((rule) => `${rule}.${rule.endsWith('ingress[]') ? 'from' : 'to'}[]`);
const SELECTORS = [
  'spec.namespaceSelector',
  'spec.rollout.canarySelector',
  'spec.networkPolicy.podPolicies[].podSelector',
  ...PEERS.flatMap((peerPath) => [`${peerPath}.podSelector`, `${peerPath}.namespaceSelector`]),
];

/** The Record<string, string> fields: their keys are data, not field names. */
const MAP_PATHS = [
  ...SELECTORS.map((selectorPath) => `${selectorPath}.matchLabels`),
  'spec.resourceQuota.hard',
  'spec.limitRange.defaultRequest',
  'spec.limitRange.default',
  'spec.limitRange.max',
  'spec.limitRange.min',
];

/** Where the schema lists exactly the members of a TypeScript union. */
const ENUMS: Record<string, readonly string[]> = {
  'spec.mode': MODES,
  'spec.rollout.strategy': STRATEGIES,
  'spec.deletionPolicy': DELETION_POLICIES,
  'spec.networkPolicy.defaultDeny[]': POLICY_TYPES,
  'spec.podSecurity.enforce': POD_SECURITY_LEVELS,
  'spec.podSecurity.audit': POD_SECURITY_LEVELS,
  'spec.podSecurity.warn': POD_SECURITY_LEVELS,
  'spec.roleBindings[].subjects[].kind': SUBJECT_KINDS,
  'spec.roleBindings[].subjects[].apiGroup': SUBJECT_API_GROUPS,
  'status.conditions[].type': CONDITION_TYPES,
  'status.conditions[].status': CONDITION_STATUSES,
  ...Object.fromEntries(SELECTORS.map((selectorPath) => [`${selectorPath}.matchExpressions[].operator`, OPERATORS])),
  ...Object.fromEntries(RULES.map((rule) => [`${rule}.ports[].protocol`, PROTOCOLS])),
};

/** The defaults types.ts documents. */
const DEFAULTS: Record<string, unknown> = {
  'spec.mode': 'Enforce' satisfies Mode,
  'spec.priority': 0 satisfies SecurityBaselineSpec['priority'],
  'spec.deletionPolicy': 'Delete' satisfies DeletionPolicy,
  'spec.paused': false satisfies SecurityBaselineSpec['paused'],
  'spec.revisionHistoryLimit': 10 satisfies SecurityBaselineSpec['revisionHistoryLimit'],
  'spec.rollout.strategy': 'Immediate' satisfies RolloutStrategy,
  'spec.rollout.maxFailures': 1 satisfies NonNullable<SecurityBaselineSpec['rollout']>['maxFailures'],
  'spec.podSecurity.version': 'latest' satisfies PodSecuritySpec['version'],
};

/** The top-level fields of the object, each once. */
const TOP_LEVEL = { apiVersion: true, kind: true, metadata: true, spec: true, status: true } satisfies Record<keyof SecurityBaseline, true>;

const { crd, version, root, nodes } = await loadCrd('securitybaseline.yaml', VERSION);
const example = new Map([...exampleKinds(exampleSpec, 'spec', MAP_PATHS), ...exampleKinds(exampleStatus, 'status', MAP_PATHS)]);

describe('crds/securitybaseline.yaml', () => {
  test('defines the API types.ts names: cluster-scoped, one served and stored version, a status subresource', () => {
    expect(crd.metadata?.name).toBe(`${PLURAL}.${GROUP}`);
    expect(crd.spec.group).toBe(GROUP);
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.names).toMatchObject({ kind: KIND, plural: PLURAL, singular: 'securitybaseline', shortNames: ['sbl'], categories: ['security'] });
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([[VERSION, true, true]]);
    expect(version?.subresources?.status).toEqual({});
    expect(version?.additionalPrinterColumns?.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Mode', '.spec.mode'],
      ['Revision', '.status.updateRevision'],
      ['Selected', '.status.namespaces.selected'],
      ['Updated', '.status.rollout.updated'],
      ['Halted', '.status.conditions[?(@.type=="RolloutHalted")].status'],
      ['Compliant', '.status.namespaces.compliant'],
      ['Ready', '.status.conditions[?(@.type=="Ready")].status'],
      ['Excepted', '.status.namespaces.excepted'],
      ['Age', '.metadata.creationTimestamp'],
    ]);
  });

  test('has the top-level fields of SecurityBaseline, and requires spec', () => {
    expect(Object.keys(root.properties ?? {}).sort()).toEqual(Object.keys(TOP_LEVEL).sort());
    expect(version?.schema?.openAPIV3Schema?.required).toEqual(['spec']);
  });

  agreementTests({ nodes, example, mapPaths: MAP_PATHS, enums: ENUMS, defaults: DEFAULTS, source: 'types.ts' });
});
