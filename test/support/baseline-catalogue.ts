// The catalogue of SecurityBaselines the API refuses (with what a person reads
// in the refusal) and one that sets every field validly. The CRD test sends them
// to the real API server; the CLI's `validate` must refuse the same offline.
import { randomBytes } from 'node:crypto';
import { API_VERSION, KIND, type SecurityBaselineSpec } from '../../src/api/types.ts';

/** A DNS-1123 name unique to this run (as cluster.ts's, without its cluster). */
function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Invalid input cannot be typed as a SecurityBaseline: the table spells it as plain JSON. */
export type Json = Record<string, unknown>;

/** A valid baseline: one control, every namespace. Cases change one thing in it. */
export function minimal(name: string, spec: Json = {}): Json {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name },
    spec: { namespaceSelector: {}, podSecurity: { enforce: 'restricted' }, ...spec },
  };
}

const subject = { kind: 'Group', name: 'tenants' };
const readers = { name: 'readers', clusterRole: 'view', subjects: [subject] };
const podRule = { apiGroups: [''], resources: ['pods'], verbs: ['get'] };

export interface InvalidCase {
  readonly name: string;
  /** The object sent, given a unique name. */
  readonly body: (name: string) => Json;
  /** What a person reads in the refusal. */
  readonly message: RegExp;
}

export const invalid: readonly InvalidCase[] = [
  {
    name: 'a name longer than 63 characters',
    body: () => minimal(`${uniqueName('too-long')}-${'x'.repeat(60)}`),
    message: /"too-long-[0-9a-f]{8}-x{60}" is invalid: metadata\.name: Invalid value: a SecurityBaseline name is at most 63 characters, because it prefixes the name of every managed object/,
  },
  {
    name: 'a name with a dot (a DNS subdomain, not a label)',
    body: (name) => minimal(`${name}.example`),
    message: /"sbl-[0-9a-f]{8}\.example" is invalid: metadata\.name: Invalid value: a SecurityBaseline name must be a DNS label: lowercase letters, digits and -/,
  },
  {
    name: 'no control at all',
    body: (name) => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: { namespaceSelector: {} } }),
    message: /spec: Required value: a SecurityBaseline must set at least one control: networkPolicy, resourceQuota, limitRange, roleBindings, podSecurity, imagePolicy, workloadPolicy, admissionGate: true or logging/,
  },
  {
    name: 'admissionGate: false as the only control',
    body: (name) => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: { namespaceSelector: {}, admissionGate: false } }),
    message: /spec: Required value: a SecurityBaseline must set at least one control/,
  },
  {
    name: 'no namespaceSelector',
    body: (name) => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: { podSecurity: { enforce: 'restricted' } } }),
    message: /spec\.namespaceSelector: Required value/,
  },
  {
    name: 'an unknown mode',
    body: (name) => minimal(name, { mode: 'Warn' }),
    message: /spec\.mode: Unsupported value: "Warn": supported values: "Enforce", "Audit"/,
  },
  {
    name: 'rollout steps without strategy Progressive',
    body: (name) => minimal(name, { rollout: { steps: [{ percent: 100 }] } }),
    message: /spec\.rollout\.steps: Invalid value: steps are for strategy Progressive/,
  },
  {
    name: 'a rollout whose last step does not reach 100 percent',
    body: (name) => minimal(name, { rollout: { strategy: 'Progressive', steps: [{ namespaces: 1 }, { percent: 50 }] } }),
    message: /spec\.rollout\.steps: Invalid value: the last step must be \{percent: 100\}, so that a rollout always completes/,
  },
  {
    name: 'a rollout step with both a count and a percentage',
    body: (name) => minimal(name, { rollout: { strategy: 'Progressive', steps: [{ namespaces: 1, percent: 10 }, { percent: 100 }] } }),
    message: /spec\.rollout\.steps\[0\]: Invalid value: a step sets exactly one of namespaces \(a count\) or percent/,
  },
  {
    name: 'maxFailures of 0',
    body: (name) => minimal(name, { rollout: { strategy: 'Progressive', maxFailures: 0 } }),
    message: /spec\.rollout\.maxFailures: Invalid value: 0: spec\.rollout\.maxFailures in body should be greater than or equal to 1/,
  },
  {
    name: 'an unknown deletionPolicy',
    body: (name) => minimal(name, { deletionPolicy: 'Retain' }),
    message: /spec\.deletionPolicy: Unsupported value: "Retain": supported values: "Delete", "Orphan"/,
  },
  {
    name: 'a matchExpression In without values',
    body: (name) => minimal(name, { namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'In' }] } }),
    message: /spec\.namespaceSelector\.matchExpressions\[0\]\.values: Invalid value: operator In needs at least one entry in values/,
  },
  {
    name: 'a matchExpression Exists with values',
    body: (name) => minimal(name, { namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'Exists', values: ['a'] }] } }),
    message: /spec\.namespaceSelector\.matchExpressions\[0\]\.values: Invalid value: operator Exists takes no values: remove them/,
  },
  {
    name: 'a namespaceSelector label value that is no label value',
    body: (name) => minimal(name, { namespaceSelector: { matchLabels: { tenant: 'team a' } } }),
    message: /spec\.namespaceSelector\.matchLabels\[tenant\]: Invalid value: "team a": not a label value: empty, or at most 63 letters/,
  },
  {
    name: 'a matchExpression value that is no label value',
    body: (name) => minimal(name, { namespaceSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold', '-silver'] }] } }),
    message: /spec\.namespaceSelector\.matchExpressions\[0\]\.values\[1\]: Invalid value: "-silver": not a label value/,
  },
  {
    name: 'a pod selector label value with a space (in podPolicies)',
    body: (name) => minimal(name, { networkPolicy: { podPolicies: [{ name: 'web', podSelector: { matchLabels: { app: 'has space' } } }] } }),
    message: /spec\.networkPolicy\.podPolicies\[0\]\.podSelector\.matchLabels\[app\]: Invalid value: "has space": not a label value/,
  },
  {
    name: 'an excludeNamespaces entry that is not a namespace name',
    body: (name) => minimal(name, { excludeNamespaces: ['Team_A'] }),
    message: /spec\.excludeNamespaces\[0\]: Invalid value: "Team_A": not a namespace name: use lowercase letters, digits and -/,
  },
  {
    name: 'the same namespace twice in excludeNamespaces',
    body: (name) => minimal(name, { excludeNamespaces: ['sandbox', 'sandbox'] }),
    message: /spec\.excludeNamespaces\[1\]: Duplicate value: "sandbox"/,
  },
  {
    name: 'a roleBinding with both clusterRole and rules',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, rules: [podRule] }] }),
    message: /spec\.roleBindings\[0\]: Invalid value: roleBinding readers sets both clusterRole and rules: set exactly one/,
  },
  {
    name: 'a roleBinding with neither clusterRole nor rules',
    body: (name) => minimal(name, { roleBindings: [{ name: 'readers', subjects: [subject] }] }),
    message: /spec\.roleBindings\[0\]: Invalid value: roleBinding readers sets neither clusterRole nor rules: set exactly one/,
  },
  {
    name: 'two roleBindings with the same name',
    body: (name) => minimal(name, { roleBindings: [readers, { ...readers, clusterRole: 'edit' }] }),
    message: /spec\.roleBindings\[1\]: Duplicate value: \{"name":"readers"\}, spec\.roleBindings: Invalid value: roleBindings names must be unique/,
  },
  {
    name: 'a roleBinding name that is not a DNS label',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, name: 'Readers' }] }),
    message: /spec\.roleBindings\[0\]\.name: Invalid value: "Readers": a roleBindings name must be a DNS label/,
  },
  {
    name: 'a roleBinding without subjects',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, subjects: [] }] }),
    message: /spec\.roleBindings\[0\]\.subjects: Invalid value: 0: spec\.roleBindings\[0\]\.subjects in body should have at least 1 items/,
  },
  {
    name: 'a namespace on a User subject',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, subjects: [{ kind: 'User', name: 'alice', namespace: 'team-a' }] }] }),
    message: /spec\.roleBindings\[0\]\.subjects\[0\]\.namespace: Forbidden: namespace is for ServiceAccount subjects only: remove it from the User alice/,
  },
  {
    name: 'an unknown subject kind',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, subjects: [{ kind: 'Team', name: 'a' }] }] }),
    message: /spec\.roleBindings\[0\]\.subjects\[0\]\.kind: Unsupported value: "Team": supported values: "User", "Group", "ServiceAccount"/,
  },
  {
    name: 'an unknown placeholder in a subject name',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, subjects: [{ kind: 'Group', name: '${ns}-admins' }] }] }),
    message: /spec\.roleBindings\[0\]\.subjects\[0\]\.name: Invalid value: "\$\{ns\}-admins": unknown placeholder: only \$\{namespace\} and \$\{label:KEY\} are expanded/,
  },
  {
    name: 'a Role rule without verbs',
    body: (name) => minimal(name, { roleBindings: [{ name: 'pods', rules: [{ apiGroups: [''], resources: ['pods'], verbs: [] }], subjects: [subject] }] }),
    message: /spec\.roleBindings\[0\]\.rules\[0\]\.verbs: Invalid value: 0: spec\.roleBindings\[0\]\.rules\[0\]\.verbs in body should have at least 1 items/,
  },
  {
    name: 'a Role rule without apiGroups',
    body: (name) => minimal(name, { roleBindings: [{ name: 'pods', rules: [{ resources: ['pods'], verbs: ['get'] }], subjects: [subject] }] }),
    message: /spec\.roleBindings\[0\]\.rules\[0\]: Required value: a Role rule needs apiGroups \(use "" for the core group\) and resources/,
  },
  {
    name: 'an image registry prefix with a scheme',
    body: (name) => minimal(name, { imagePolicy: { allowedRegistries: ['https://registry.example.com/'] } }),
    message: /spec\.imagePolicy\.allowedRegistries\[0\]: Invalid value: "https:\/\/registry\.example\.com\/": image references have no scheme/,
  },
  {
    name: 'an image registry prefix without the trailing /',
    body: (name) => minimal(name, { imagePolicy: { allowedRegistries: ['registry.example.com'] } }),
    message: /spec\.imagePolicy\.allowedRegistries\[0\]: Invalid value: "registry\.example\.com": a registry prefix ends with \//,
  },
  {
    name: 'an image registry prefix with a tag',
    body: (name) => minimal(name, { imagePolicy: { allowedRegistries: ['ghcr.io/acme/app:1.0/'] } }),
    message: /spec\.imagePolicy\.allowedRegistries\[0\]: Invalid value: "ghcr\.io\/acme\/app:1\.0\/": not a registry prefix: write a host, an optional :port/,
  },
  {
    name: 'an image registry prefix with whitespace',
    body: (name) => minimal(name, { imagePolicy: { allowedRegistries: ['registry.example.com /'] } }),
    message: /spec\.imagePolicy\.allowedRegistries\[0\]: Invalid value: "registry\.example\.com \/": not a registry prefix/,
  },
  {
    name: 'an image policy that allows no registry',
    body: (name) => minimal(name, { imagePolicy: { allowedRegistries: [] } }),
    message: /spec\.imagePolicy\.allowedRegistries: Invalid value: 0: spec\.imagePolicy\.allowedRegistries in body should have at least 1 items/,
  },
  {
    name: 'a workloadPolicy that turns no rule on',
    body: (name) => minimal(name, { workloadPolicy: { readOnlyRootFilesystem: false, exec: {} } }),
    message: /spec\.workloadPolicy: Required value: workloadPolicy sets nothing: declare readOnlyRootFilesystem: true, disallowLatestTag: true, exec\.deny: true or networkPolicies\.deny: true \(or remove workloadPolicy\)/,
  },
  {
    name: 'exec.allowGroups without deny',
    body: (name) => minimal(name, { workloadPolicy: { readOnlyRootFilesystem: true, exec: { allowGroups: ['sre'] } } }),
    message: /spec\.workloadPolicy\.exec\.allowGroups: Forbidden: allowGroups exempts groups from deny: set deny: true, or remove allowGroups/,
  },
  {
    name: 'networkPolicies.allowGroups without deny',
    body: (name) => minimal(name, { workloadPolicy: { readOnlyRootFilesystem: true, networkPolicies: { allowGroups: ['network-admins'] } } }),
    message: /spec\.workloadPolicy\.networkPolicies\.allowGroups: Forbidden: allowGroups exempts groups from deny: set deny: true, or remove allowGroups/,
  },
  {
    name: 'a placeholder in networkPolicies.allowGroups',
    body: (name) => minimal(name, { workloadPolicy: { networkPolicies: { deny: true, allowGroups: ['${namespace}-admins'] } } }),
    message: /placeholders such as \$\{namespace\} are not expanded in allowGroups/,
  },
  {
    name: 'exec.allowGroups with deny: false',
    body: (name) => minimal(name, { workloadPolicy: { readOnlyRootFilesystem: true, exec: { deny: false, allowGroups: ['sre'] } } }),
    message: /spec\.workloadPolicy\.exec\.allowGroups: Forbidden: allowGroups exempts groups from deny/,
  },
  {
    name: 'an empty group name in exec.allowGroups',
    body: (name) => minimal(name, { workloadPolicy: { exec: { deny: true, allowGroups: ['sre', ''] } } }),
    message: /spec\.workloadPolicy\.exec\.allowGroups\[1\]: Invalid value: "": spec\.workloadPolicy\.exec\.allowGroups\[1\] in body should be at least 1 chars long/,
  },
  {
    name: 'a group name with surrounding whitespace',
    body: (name) => minimal(name, { workloadPolicy: { exec: { deny: true, allowGroups: ['sre '] } } }),
    message: /spec\.workloadPolicy\.exec\.allowGroups\[0\]: Invalid value: "sre ": a group name has no leading or trailing whitespace/,
  },
  {
    name: 'a placeholder in a group name, which would be taken literally',
    body: (name) => minimal(name, { workloadPolicy: { exec: { deny: true, allowGroups: ['${namespace}-admins'] } } }),
    message: /spec\.workloadPolicy\.exec\.allowGroups\[0\]: Invalid value: "\$\{namespace\}-admins": placeholders such as \$\{namespace\} are not expanded in allowGroups: name the group itself/,
  },
  {
    name: 'a group listed twice',
    body: (name) => minimal(name, { workloadPolicy: { exec: { deny: true, allowGroups: ['sre', 'sre'] } } }),
    message: /spec\.workloadPolicy\.exec\.allowGroups\[1\]: Duplicate value: "sre"/,
  },
  {
    name: 'a workloadPolicy rule that is not a boolean',
    body: (name) => minimal(name, { workloadPolicy: { readOnlyRootFilesystem: 'yes' } }),
    message: /spec\.workloadPolicy\.readOnlyRootFilesystem: Invalid value: "string": spec\.workloadPolicy\.readOnlyRootFilesystem in body must be of type boolean: "string"/,
  },
  {
    name: 'an unknown Pod Security level',
    body: (name) => minimal(name, { podSecurity: { enforce: 'strict' } }),
    message: /spec\.podSecurity\.enforce: Unsupported value: "strict": supported values: "privileged", "baseline", "restricted"/,
  },
  {
    name: 'a Pod Security version that is not a Kubernetes minor version',
    body: (name) => minimal(name, { podSecurity: { enforce: 'restricted', version: '1.37' } }),
    message: /spec\.podSecurity\.version: Invalid value: "1\.37": must be latest or a Kubernetes minor version such as v1\.37/,
  },
  {
    name: 'a quota value that is not a quantity',
    body: (name) => minimal(name, { resourceQuota: { hard: { pods: 'ten' } } }),
    message: /spec\.resourceQuota\.hard\[pods\]: Invalid value: "ten": not a quantity: write an amount such as "4", 500m or 1Gi/,
  },
  {
    name: 'a negative quota (cpu: "-1")',
    body: (name) => minimal(name, { resourceQuota: { hard: { cpu: '-1' } } }),
    message: /spec\.resourceQuota\.hard\[cpu\]: Invalid value: "-1": a quantity cannot be negative: write 0 or more/,
  },
  {
    name: 'a negative LimitRange minimum',
    body: (name) => minimal(name, { limitRange: { min: { memory: '-64Mi' } } }),
    message: /spec\.limitRange\.min\[memory\]: Invalid value: "-64Mi": a quantity cannot be negative/,
  },
  {
    name: 'a negative default limit',
    body: (name) => minimal(name, { limitRange: { default: { cpu: '-500m' } } }),
    message: /spec\.limitRange\.default\[cpu\]: Invalid value: "-500m": a quantity cannot be negative/,
  },
  {
    name: 'half a pod in a quota',
    body: (name) => minimal(name, { resourceQuota: { hard: { pods: '1.5', 'requests.cpu': '1.5' } } }),
    message: /spec\.resourceQuota\.hard: Invalid value: objects are counted in whole numbers: pods, services, secrets/,
  },
  {
    name: 'a quota on a resource quotas do not know',
    body: (name) => minimal(name, { resourceQuota: { hard: { gpus: '2', pods: '4' } } }),
    message: /spec\.resourceQuota\.hard: Invalid value: not a resource a ResourceQuota knows: use a standard resource such as pods, requests\.cpu or limits\.memory, or a name with a \/ such as count\/deployments\.apps/,
  },
  {
    name: 'a LimitRange default for something containers do not request (pods)',
    body: (name) => minimal(name, { limitRange: { default: { pods: '2' } } }),
    message: /spec\.limitRange\.default: Invalid value: not a container resource: a LimitRange for containers takes cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource/,
  },
  {
    name: 'a ServiceAccount subject copied with apiGroup rbac.authorization.k8s.io',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'ServiceAccount', name: 'ci' }] }] }),
    message: /spec\.roleBindings\[0\]\.subjects\[0\]\.apiGroup: Invalid value: a ServiceAccount subject has apiGroup "" \(the core group\)/,
  },
  {
    name: 'a Group subject with the core apiGroup ""',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, subjects: [{ apiGroup: '', kind: 'Group', name: 'tenants' }] }] }),
    message: /spec\.roleBindings\[0\]\.subjects\[0\]\.apiGroup: Invalid value: a Group subject has apiGroup rbac\.authorization\.k8s\.io/,
  },
  {
    name: 'a subject apiGroup that is no RBAC group',
    body: (name) => minimal(name, { roleBindings: [{ ...readers, subjects: [{ apiGroup: 'rbac.authorization.k8s.io/v1', kind: 'User', name: 'alice' }] }] }),
    message: /spec\.roleBindings\[0\]\.subjects\[0\]\.apiGroup: Unsupported value: "rbac\.authorization\.k8s\.io\/v1": supported values: "", "rbac\.authorization\.k8s\.io"/,
  },
  {
    name: 'a quota without any resource',
    body: (name) => minimal(name, { resourceQuota: { hard: {} } }),
    message: /spec\.resourceQuota\.hard: Required value: resourceQuota\.hard needs at least one resource/,
  },
  {
    name: 'a LimitRange default that is not a quantity',
    body: (name) => minimal(name, { limitRange: { default: { memory: '512 MB' } } }),
    message: /spec\.limitRange\.default\[memory\]: Invalid value: "512 MB": not a quantity/,
  },
  {
    name: 'a default request above the default limit',
    body: (name) => minimal(name, { limitRange: { defaultRequest: { cpu: '1' }, default: { cpu: '500m' } } }),
    message: /spec\.limitRange: Invalid value: limitRange must satisfy min <= defaultRequest <= default <= max/,
  },
  {
    name: 'an empty limitRange',
    body: (name) => minimal(name, { limitRange: {} }),
    message: /spec\.limitRange: Required value: limitRange needs at least one of defaultRequest, default, max or min/,
  },
  {
    name: 'a networkPolicy that sets nothing',
    body: (name) => minimal(name, { networkPolicy: { allowDNS: false } }),
    message: /spec\.networkPolicy: Required value: networkPolicy sets nothing: declare defaultDeny, allowDNS: true, allowSameNamespace: true, ingress, egress or podPolicies/,
  },
  {
    name: 'an unknown default-deny direction',
    body: (name) => minimal(name, { networkPolicy: { defaultDeny: ['All'] } }),
    message: /spec\.networkPolicy\.defaultDeny\[0\]: Unsupported value: "All": supported values: "Ingress", "Egress"/,
  },
  {
    name: 'a port out of range',
    body: (name) => minimal(name, { networkPolicy: { ingress: [{ ports: [{ port: 70000 }] }] } }),
    message: /spec\.networkPolicy\.ingress\[0\]\.ports\[0\]\.port: Invalid value: 70000: port must be from 1 to 65535/,
  },
  {
    name: 'a named port that is not a port name',
    body: (name) => minimal(name, { networkPolicy: { ingress: [{ ports: [{ port: 'HTTP_PORT' }] }] } }),
    message: /spec\.networkPolicy\.ingress\[0\]\.ports\[0\]\.port: Invalid value: "HTTP_PORT": spec\.networkPolicy\.ingress\[0\]\.ports\[0\]\.port in body should match/,
  },
  {
    name: 'an endPort with a named port',
    body: (name) => minimal(name, { networkPolicy: { egress: [{ ports: [{ port: 'http', endPort: 8080 }] }] } }),
    message: /spec\.networkPolicy\.egress\[0\]\.ports\[0\]\.endPort: Invalid value: endPort needs a numeric port to start the range from/,
  },
  {
    name: 'an endPort below port',
    body: (name) => minimal(name, { networkPolicy: { egress: [{ ports: [{ port: 9000, endPort: 8000 }] }] } }),
    message: /spec\.networkPolicy\.egress\[0\]\.ports\[0\]\.endPort: Invalid value: endPort must be at least port: the range is port\.\.endPort/,
  },
  {
    name: 'an empty network peer',
    body: (name) => minimal(name, { networkPolicy: { ingress: [{ from: [{}] }] } }),
    message: /spec\.networkPolicy\.ingress\[0\]\.from\[0\]: Required value: an empty peer matches nothing: set podSelector, namespaceSelector or ipBlock/,
  },
  {
    name: 'an ipBlock together with a podSelector in one peer',
    body: (name) => minimal(name, {
      networkPolicy: { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] },
    }),
    message: /spec\.networkPolicy\.egress\[0\]\.to\[0\]: Invalid value: ipBlock cannot be combined with podSelector or namespaceSelector in one peer/,
  },
  {
    name: 'an ipBlock that is not a CIDR',
    body: (name) => minimal(name, { networkPolicy: { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.300/8' } }] }] } }),
    message: /spec\.networkPolicy\.egress\[0\]\.to\[0\]\.ipBlock\.cidr: Invalid value: "10\.0\.0\.300\/8": not a CIDR/,
  },
  {
    name: 'an ipBlock exception outside its CIDR',
    body: (name) => minimal(name, { networkPolicy: { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['192.168.0.0/24'] } }] }] } }),
    message: /spec\.networkPolicy\.egress\[0\]\.to\[0\]\.ipBlock\.except: Invalid value: every ipBlock\.except range must lie inside ipBlock\.cidr 10\.0\.0\.0\/16/,
  },
  {
    name: 'an ipBlock exception that is not a CIDR',
    body: (name) => minimal(name, { networkPolicy: { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.1.0'] } }] }] } }),
    message: /spec\.networkPolicy\.egress\[0\]\.to\[0\]\.ipBlock\.except\[0\]: Invalid value: "10\.0\.1\.0": not a CIDR/,
  },
  {
    name: 'two podPolicies with the same name',
    body: (name) => minimal(name, {
      networkPolicy: { podPolicies: [{ name: 'backend', podSelector: {} }, { name: 'backend', podSelector: { matchLabels: { a: 'b' } } }] },
    }),
    message: /spec\.networkPolicy\.podPolicies\[1\]: Duplicate value: \{"name":"backend"\}, spec\.networkPolicy\.podPolicies: Invalid value: podPolicies names must be unique/,
  },
  {
    name: 'a podPolicies name that is not a DNS label',
    body: (name) => minimal(name, { networkPolicy: { podPolicies: [{ name: 'Backend.Only', podSelector: {} }] } }),
    message: /spec\.networkPolicy\.podPolicies\[0\]\.name: Invalid value: "Backend\.Only": a podPolicies name must be a DNS label/,
  },
  {
    name: 'a podPolicy without podSelector',
    body: (name) => minimal(name, { networkPolicy: { podPolicies: [{ name: 'backend' }] } }),
    message: /spec\.networkPolicy\.podPolicies\[0\]\.podSelector: Required value/,
  },
  {
    name: 'a log Flow without outputs',
    body: (name) => minimal(name, { logging: { flow: {} } }),
    message: /spec\.logging\.flow: Required value: logging\.flow needs at least one output in globalOutputRefs or localOutputRefs/,
  },
];

/** Every field set, and valid: nothing may be pruned or refused. */
export const full: SecurityBaselineSpec = {
  namespaceSelector: {
    matchLabels: { tenant: 'true' },
    matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }, { key: 'legacy', operator: 'DoesNotExist' }],
  },
  excludeNamespaces: ['sandbox'],
  mode: 'Audit',
  priority: 10,
  deletionPolicy: 'Orphan',
  paused: true,
  revisionHistoryLimit: 3,
  rollout: {
    strategy: 'Progressive',
    canarySelector: { matchLabels: { stage: 'canary' } },
    steps: [{ namespaces: 1, pauseSeconds: 600 }, { percent: 25, pauseSeconds: 300 }, { percent: 100 }],
    maxFailures: 2,
  },
  networkPolicy: {
    defaultDeny: ['Ingress', 'Egress'],
    allowDNS: true,
    allowSameNamespace: true,
    ingress: [{
      from: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } }, podSelector: { matchLabels: { app: 'nginx' } } },
        { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
      ],
      ports: [{ port: 8080, protocol: 'TCP' }, { port: 'http' }, { port: 9000, endPort: 9100, protocol: 'UDP' }],
    }],
    egress: [{ to: [{ ipBlock: { cidr: '2001:db8::/32' } }], ports: [{ port: 443, protocol: 'SCTP' }] }],
    podPolicies: [{
      name: 'backend',
      podSelector: { matchLabels: { tier: 'backend' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'frontend' } } }], ports: [{ port: 80, protocol: 'TCP' }] }],
      egress: [{ to: [{ podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] } }] }],
    }],
  },
  resourceQuota: {
    hard: {
      pods: '4', 'requests.cpu': '1', 'requests.memory': '1Gi', 'limits.cpu': '2', 'limits.memory': '2Gi',
      'count/deployments.apps': '10', 'requests.nvidia.com/gpu': '0', 'requests.hugepages-2Mi': '1Gi',
    },
  },
  limitRange: {
    min: { cpu: '10m' },
    defaultRequest: { cpu: '100m', memory: '128Mi' },
    default: { cpu: '500m', memory: '512Mi' },
    max: { cpu: '2', memory: '1Gi' },
  },
  roleBindings: [
    {
      name: 'readers',
      clusterRole: 'view',
      subjects: [
        { kind: 'Group', name: '${namespace}-admins' },
        { kind: 'ServiceAccount', name: 'ci', namespace: '${label:team}-ci' },
        // As people copy them from any RoleBinding.
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' },
        { apiGroup: '', kind: 'ServiceAccount', name: 'deployer' },
      ],
    },
    {
      name: 'pod-readers',
      rules: [{ apiGroups: [''], resources: ['pods'], resourceNames: ['web'], verbs: ['get', 'list', 'watch'] }],
      subjects: [{ kind: 'User', name: 'alice' }],
    },
  ],
  podSecurity: { enforce: 'restricted', audit: 'restricted', warn: 'baseline', version: 'v1.37' },
  imagePolicy: { allowedRegistries: ['registry.example.com/', 'ghcr.io/acme/', 'localhost:5000/'] },
  workloadPolicy: {
    readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true, allowGroups: ['sre', 'system:masters'] },
    networkPolicies: { deny: true, allowGroups: ['network-admins'] },
  },
  admissionGate: true,
  logging: { flow: { globalOutputRefs: ['central-elasticsearch'], localOutputRefs: ['team-output'] } },
};

