// types.ts and crds/securitybaseline.yaml describe one API twice; this test
// keeps them from drifting. exampleSpec and exampleStatus must set every field
// of types.ts (the compiler sees to that through DeepRequired), and their field
// paths and value kinds must be exactly the schema's.
import { readFile } from 'node:fs/promises';
import { describe, expect, test } from '@jest/globals';
import { loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import {
  GROUP, KIND, PLURAL, VERSION,
  type Condition, type ConditionType, type DeletionPolicy, type LabelSelector, type LabelSelectorRequirement, type Mode,
  type NetworkPolicyPeer, type NetworkPolicyPort, type PodSecurityLevel, type PodSecuritySpec, type PolicyType,
  type RolloutStrategy, type SecurityBaseline, type SecurityBaselineSpec, type SecurityBaselineStatus, type Subject,
} from './types.ts';

/** Every property required, at every depth; every array holds at least one element, so item fields are covered too. */
type DeepRequired<T> =
  T extends readonly (infer U)[] ? [DeepRequired<U>, ...DeepRequired<U>[]]
    : T extends object ? { [K in keyof T]-?: DeepRequired<T[K]> }
      : T;

/** The members of the union T, every one of them: the compiler rejects a list that misses one. */
function everyMember<T extends string>() {
  return <const A extends readonly T[]>(values: A & ([T] extends [A[number]] ? unknown : { missing: Exclude<T, A[number]> })): A => values;
}

const MODES = everyMember<Mode>()(['Enforce', 'Audit']);
const DELETION_POLICIES = everyMember<DeletionPolicy>()(['Delete', 'Orphan']);
const POLICY_TYPES = everyMember<PolicyType>()(['Ingress', 'Egress']);
const POD_SECURITY_LEVELS = everyMember<PodSecurityLevel>()(['privileged', 'baseline', 'restricted']);
const OPERATORS = everyMember<LabelSelectorRequirement['operator']>()(['In', 'NotIn', 'Exists', 'DoesNotExist']);
const PROTOCOLS = everyMember<NonNullable<NetworkPolicyPort['protocol']>>()(['TCP', 'UDP', 'SCTP']);
const SUBJECT_KINDS = everyMember<Subject['kind']>()(['User', 'Group', 'ServiceAccount']);
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
    subjects: [{ kind: 'ServiceAccount', name: 'ci', namespace: '${namespace}' }],
  }],
  podSecurity: { enforce: 'restricted', audit: 'restricted', warn: 'restricted', version: 'latest' },
  imagePolicy: { allowedRegistries: ['registry.example.com/'] },
  workloadPolicy: { readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true, allowGroups: ['sre'] } },
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
  namespaces: { selected: 1, compliant: 1, drifted: 0, failed: 0 },
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

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'map' | 'array' | 'int-or-string';

interface Schema {
  readonly kind: Kind;
  readonly description?: string;
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly listType?: string;
  readonly maxItems?: number;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
  readonly values?: Schema;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * client-node's typed model renames `enum`, `default` and the x-kubernetes-*
 * extensions (to `_enum`, `_default`, `x_kubernetes_*`) down to the first
 * `items` or `additionalProperties`, below which the YAML's own names remain:
 * read either spelling.
 */
function field(node: Record<string, unknown>, name: string): unknown {
  const renamed = name.startsWith('x-kubernetes-') ? name.replaceAll('-', '_') : `_${name}`;
  return node[name] ?? node[renamed];
}

function toSchema(raw: unknown, path: string): Schema {
  if (!isRecord(raw)) throw new Error(`${path}: not a schema`);
  const type = raw.type;
  const properties = isRecord(raw.properties)
    ? Object.fromEntries(Object.entries(raw.properties).map(([key, value]) => [key, toSchema(value, `${path}.${key}`)]))
    : undefined;
  const values = isRecord(raw.additionalProperties) ? toSchema(raw.additionalProperties, `${path}{}`) : undefined;
  const items = raw.items === undefined ? undefined : toSchema(raw.items, `${path}[]`);
  let kind: Kind;
  if (field(raw, 'x-kubernetes-int-or-string') === true) kind = 'int-or-string';
  else if (type === 'integer' || type === 'number') kind = 'number';
  else if (type === 'object') kind = values ? 'map' : 'object';
  else if (type === 'string' || type === 'boolean' || type === 'array') kind = type;
  else throw new Error(`${path}: unexpected type ${String(type)}`);
  const enumValues = field(raw, 'enum');
  const listType = field(raw, 'x-kubernetes-list-type');
  return {
    kind,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    ...(Array.isArray(enumValues) ? { enum: enumValues } : {}),
    ...(field(raw, 'default') !== undefined ? { default: field(raw, 'default') } : {}),
    ...(typeof listType === 'string' ? { listType } : {}),
    ...(typeof raw.maxItems === 'number' ? { maxItems: raw.maxItems } : {}),
    ...(properties ? { properties } : {}),
    ...(items ? { items } : {}),
    ...(values ? { values } : {}),
  };
}

/** Every node of the schema under `path`: object fields as `a.b`, list items as `a[]`, map values as `a{}`. */
function schemaNodes(schema: Schema, path: string, into = new Map<string, Schema>()): Map<string, Schema> {
  into.set(path, schema);
  for (const [key, child] of Object.entries(schema.properties ?? {})) schemaNodes(child, `${path}.${key}`, into);
  if (schema.items) schemaNodes(schema.items, `${path}[]`, into);
  if (schema.values) schemaNodes(schema.values, `${path}{}`, into);
  return into;
}

/** The kinds of value the example holds at every path, named as schemaNodes names them. */
function exampleKinds(value: unknown, path: string, into = new Map<string, Set<Kind>>()): Map<string, Set<Kind>> {
  const add = (kind: Kind): void => {
    into.set(path, (into.get(path) ?? new Set<Kind>()).add(kind));
  };
  if (Array.isArray(value)) {
    add('array');
    for (const item of value) exampleKinds(item, `${path}[]`, into);
  } else if (isRecord(value)) {
    const map = MAP_PATHS.includes(path);
    add(map ? 'map' : 'object');
    for (const [key, child] of Object.entries(value)) exampleKinds(child, map ? `${path}{}` : `${path}.${key}`, into);
  } else if (typeof value === 'string') {
    add('string');
  } else if (typeof value === 'number') {
    add('number');
  } else if (typeof value === 'boolean') {
    add('boolean');
  } else {
    throw new Error(`${path}: unexpected ${typeof value}`);
  }
  return into;
}

const accepts: Record<Kind, readonly Kind[]> = {
  'string': ['string'], 'number': ['number'], 'boolean': ['boolean'], 'object': ['object'], 'map': ['map'], 'array': ['array'],
  'int-or-string': ['number', 'string'],
};

const docs = loadAllYaml(await readFile(new URL('../../crds/securitybaseline.yaml', import.meta.url), 'utf8')) as V1CustomResourceDefinition[];
const [crd] = docs;
if (!crd || docs.length !== 1) throw new Error('crds/securitybaseline.yaml must hold exactly one CustomResourceDefinition');
const version = crd.spec.versions.find((v) => v.name === VERSION);
const root = toSchema(version?.schema?.openAPIV3Schema, '');
const nodes = new Map([...schemaNodes(root, '')].map(([path, node]) => [path.replace(/^\./, ''), node]));
const specAndStatus = [...nodes].filter(([path]) => /^(spec|status)([.[{]|$)/.test(path));
const example = new Map([...exampleKinds(exampleSpec, 'spec'), ...exampleKinds(exampleStatus, 'status')]);

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
      ['Age', '.metadata.creationTimestamp'],
    ]);
  });

  test('has the top-level fields of SecurityBaseline, and requires spec', () => {
    expect(Object.keys(root.properties ?? {}).sort()).toEqual(Object.keys(TOP_LEVEL).sort());
    expect(version?.schema?.openAPIV3Schema?.required).toEqual(['spec']);
  });

  test('has every field of types.ts, under the same name', () => {
    const missing = [...example.keys()].filter((path) => !nodes.has(path));
    expect(missing).toEqual([]);
  });

  test('has no field that types.ts lacks', () => {
    const extra = specAndStatus.map(([path]) => path).filter((path) => !example.has(path));
    expect(extra).toEqual([]);
  });

  test('gives every field the kind of value types.ts gives it', () => {
    const mismatched = [...example].flatMap(([path, kinds]) => {
      const node = nodes.get(path);
      if (!node) return [];
      return [...kinds].filter((kind) => !accepts[node.kind].includes(kind)).map((kind) => `${path}: schema ${node.kind}, types.ts ${kind}`);
    });
    expect(mismatched).toEqual([]);
  });

  test('keeps the Record<string, string> fields as maps of strings', () => {
    const maps = [...nodes].filter(([, node]) => node.kind === 'map').map(([path]) => path);
    expect(maps.sort()).toEqual([...MAP_PATHS].sort());
    for (const path of MAP_PATHS) expect(nodes.get(`${path}{}`)?.kind).toBe('string');
  });

  test('describes every field, for kubectl explain', () => {
    // The API server forbids anything but name and generateName under metadata, a description included.
    const undescribed = [...nodes]
      .filter(([path]) => path !== '' && path !== 'metadata' && !path.endsWith('[]') && !path.endsWith('{}'))
      .filter(([, node]) => !node.description?.trim())
      .map(([path]) => path);
    expect(undescribed).toEqual([]);
  });

  test('lists exactly the members of the TypeScript unions as enums', () => {
    const enums = Object.fromEntries([...nodes].filter(([, node]) => node.enum).map(([path, node]) => [path, [...(node.enum ?? [])].sort()]));
    const expected = Object.fromEntries(Object.entries(ENUMS).map(([path, values]) => [path, [...values].sort()]));
    expect(enums).toEqual(expected);
  });

  test('defaults what types.ts documents as defaulted, and nothing else', () => {
    const defaults = Object.fromEntries([...nodes].filter(([, node]) => node.default !== undefined).map(([path, node]) => [path, node.default]));
    expect(defaults).toEqual(DEFAULTS);
  });

  test('bounds every list and gives it a list type, so CEL rules have a cost the API server accepts', () => {
    const unbounded = [...nodes]
      .filter(([path, node]) => node.kind === 'array' && path.startsWith('spec'))
      .filter(([, node]) => node.maxItems === undefined || node.listType === undefined)
      .map(([path]) => path);
    expect(unbounded).toEqual([]);
  });
});
