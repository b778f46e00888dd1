// Only authorized images: a ValidatingAdmissionPolicy and its binding, both
// `security-baseline-<baseline>-images`, with which the API server itself refuses
// pods (and the pod templates of workloads, so that people learn it at apply
// time rather than from a ReplicaSet's events) whose images do not come from one
// of the baseline's allowed prefixes.
//
// The allowed prefixes are written into the policy as a CEL list literal rather
// than read from a parameter object (paramKind): one self-contained policy per
// baseline has no parameter resource to create, watch, keep in step and grant
// access to, and changing the prefixes is an ordinary server-side apply of the
// policy. The policy's CEL normalises every image reference the way the
// container runtime (distribution/reference) reads it before comparing:
//   nginx                     → docker.io/library/nginx
//   acme/app:1                → docker.io/acme/app:1
//   index.docker.io/nginx     → docker.io/library/nginx
//   Registry.Example.com/app  → registry.example.com/app  (hosts are case-insensitive)
//   localhost:5000/app        → localhost:5000/app
// The prefixes are normalised the same way here, and each ends in `/`, so that
// `registry.example.com/` never admits `registry.example.com.evil.io/x`.

import { ALWAYS_EXCLUDED_NAMESPACES } from '../api/constants.ts';
import type { LabelSelector, LabelSelectorRequirement, SecurityBaseline } from '../api/types.ts';
import { sortedRecord } from './canonical.ts';
import { SpecError } from './errors.ts';
import { isDnsSubdomain, ownershipLabels, validateBaselineName } from './metadata.ts';

export const ADMISSION_API_VERSION = 'admissionregistration.k8s.io/v1';
export const IMAGE_POLICY_SUFFIX = 'images';
/** Where Docker Hub images live once normalised; `index.docker.io` is its legacy name. */
export const DOCKER_HUB = 'docker.io';
const LEGACY_DOCKER_HUB = 'index.docker.io';
/** The namespace of Docker Hub's official images, which may be written without it. */
const OFFICIAL_REPOSITORIES = 'library/';
/** The label the API server puts on every namespace: the binding excludes namespaces by name with it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * The metadata of a cluster-scoped managed object: like ManagedMetadata, without
 * a namespace, which the API server refuses on a cluster-scoped kind.
 */
export interface ClusterScopedMetadata {
  name: string;
  labels: Record<string, string>;
  /** The BaselineExceptions a policy lets through (see controller/admission.ts). */
  annotations?: Record<string, string>;
}

export interface ResourceRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: ('CREATE' | 'UPDATE' | 'CONNECT')[];
  resources: string[];
}

export interface CelVariable {
  name: string;
  expression: string;
}

export interface Validation {
  expression: string;
  message: string;
  messageExpression: string;
  reason: 'Forbidden';
}

export interface ValidatingAdmissionPolicyObject {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'ValidatingAdmissionPolicy';
  metadata: ClusterScopedMetadata;
  spec: {
    failurePolicy: 'Fail';
    matchConstraints: { resourceRules: ResourceRule[] };
    variables?: CelVariable[];
    validations: Validation[];
  };
  [field: string]: unknown;
}

/**
 * What the API server does with a request a policy fails: Enforce refuses it;
 * Audit lets it through with a warning to the client and an annotation in the
 * API server's audit log.
 */
export type ValidationActions = ['Deny'] | ['Warn', 'Audit'];

export interface ValidatingAdmissionPolicyBindingObject {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'ValidatingAdmissionPolicyBinding';
  metadata: ClusterScopedMetadata;
  spec: {
    policyName: string;
    validationActions: ValidationActions;
    matchResources: { namespaceSelector: LabelSelector };
  };
  [field: string]: unknown;
}

export type AdmissionObject = ValidatingAdmissionPolicyObject | ValidatingAdmissionPolicyBindingObject;

/**
 * The policy and binding for `spec.imagePolicy`, or nothing when the baseline
 * has none. `operatorNamespace` is excluded from the binding like kube-system.
 * `excepted` maps namespaces to the extra prefixes BaselineExceptions allow
 * there (see resources/exception.ts); they are written into the policy, so that
 * one policy per baseline holds everywhere and no parameter object that people
 * in a namespace might edit decides what it admits.
 * Throws a SpecError for a prefix that could match more than it says.
 */
export function buildImagePolicy(
  baseline: SecurityBaseline, operatorNamespace: string, excepted: Readonly<Record<string, readonly string[]>> = {},
): AdmissionObject[] {
  const spec = baseline.spec.imagePolicy;
  if (!spec) return [];
  const name = admissionObjectName(baseline.metadata.name, IMAGE_POLICY_SUFFIX);
  const allowed = allowedPrefixes(spec);
  if (allowed.length === 0) throw new SpecError('spec.imagePolicy.allowedRegistries', 'must name at least one prefix');
  const extra = Object.entries(excepted).flatMap(([namespace, prefixes]) => {
    const more = [...new Set(prefixes.map((prefix) => normalizePrefix(prefix, 'spec.relax.imagePolicy.allowedRegistries')))].filter((p) => !allowed.includes(p));
    return more.length > 0 ? [[namespace, more] as const] : [];
  });

  return policyAndBinding(baseline, name, operatorNamespace, {
    matchConstraints: { resourceRules: podAndTemplateRules() },
    variables: imageVariables(allowed, Object.fromEntries(extra)),
    validations: [{
      expression: 'size(variables.denied) == 0',
      messageExpression: `${celString(`SecurityBaseline ${baseline.metadata.name} allows images only from `)} + variables.allowed.join(", ")`
        + ` + "; refused: " + variables.denied.map(r, r[0] == r[1] ? r[0] : r[0] + " (" + r[1] + ")").join(", ")`,
      message: `SecurityBaseline ${baseline.metadata.name} allows images only from ${allowed.join(', ')}`,
      reason: 'Forbidden',
    }],
  });
}

/**
 * The CEL variables, each a small step over the list of images so that no
 * expression repeats another (a policy cannot declare functions, and `cel.bind`
 * is not in the API server's CEL environment). Every step is linear in the
 * number of containers, which keeps the runtime cost far below the per-call limit.
 * Each normalised reference travels as `[as written, normalised]`.
 */
function imageVariables(allowed: readonly string[], excepted: Readonly<Record<string, readonly string[]>>): CelVariable[] {
  const exceptions = Object.entries(excepted).map(([namespace, prefixes]) => `${celString(namespace)}: ${celStringList(prefixes)}`).join(', ');
  return [
    // A BaselineException adds prefixes in the namespaces it names, and only there.
    ...(exceptions === '' ? [{ name: 'allowed', expression: celStringList(allowed) }] : [
      { name: 'exceptedRegistries', expression: `{${exceptions}}` },
      {
        name: 'allowed',
        expression: `${celStringList(allowed)} + (request.namespace in variables.exceptedRegistries ? variables.exceptedRegistries[request.namespace] : [])`,
      },
    ]),
    ...podSpecVariables(),
    { name: 'images', expression: imagesOf('variables.podSpec') },
    { name: 'oldImages', expression: imagesOf('variables.oldPodSpec') },
    // An UPDATE is refused only for images it introduces: a workload admitted before
    // the policy existed can still have its labels changed or its finalizers removed.
    { name: 'introduced', expression: 'variables.images.filter(i, !(i in variables.oldImages))' },
    ...imageReferenceVariables('variables.introduced.map(i, [i])', 1),
    { name: 'denied', expression: 'variables.refs.filter(r, !variables.allowed.exists(p, r[1].startsWith(p)))' },
  ];
}

// The building blocks below are shared by every policy about pods and their
// templates (this one and the workload policy), so that they cover the same
// objects and read image references the same way.

/**
 * What a policy about pods matches: pods, and the pod templates of workloads,
 * so that people learn of a refusal when they apply a Deployment rather than
 * from a ReplicaSet's events.
 */
export function podAndTemplateRules(): ResourceRule[] {
  return [
    // pods/ephemeralcontainers is how `kubectl debug` adds a container to a running pod.
    { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods', 'pods/ephemeralcontainers', 'replicationcontrollers'] },
    { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['daemonsets', 'deployments', 'replicasets', 'statefulsets'] },
    { apiGroups: ['batch'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['cronjobs', 'jobs'] },
  ];
}

/** `podSpec` and `oldPodSpec` (`{}` on CREATE): the pod spec of the object, whichever kind podAndTemplateRules matched. */
export function podSpecVariables(): CelVariable[] {
  return [
    { name: 'podSpec', expression: podSpecOf('object') },
    { name: 'oldPodSpec', expression: `oldObject == null ? {} : ${podSpecOf('oldObject')}` },
  ];
}

/** The pod spec of a Pod, of a workload's template, or of a CronJob's job template. */
function podSpecOf(root: string): string {
  return `has(${root}.spec.jobTemplate) ? ${root}.spec.jobTemplate.spec.template.spec`
    + ` : has(${root}.spec.template) ? ${root}.spec.template.spec : ${root}.spec`;
}

/** The three container lists of a pod spec, and how a message names a container of each. */
export const CONTAINER_LISTS = [
  { field: 'containers', noun: 'container' },
  { field: 'initContainers', noun: 'init container' },
  { field: 'ephemeralContainers', noun: 'ephemeral container' },
] as const;

/** The list `field` of the pod spec `spec` (a CEL expression), or `[]` when it is absent. */
export function containerList(spec: string, field: string): string {
  return `(has(${spec}.${field}) ? ${spec}.${field} : [])`;
}

/** The images of every container, init container and ephemeral container of a pod spec. */
function imagesOf(spec: string): string {
  const all = CONTAINER_LISTS.map(({ field }) => containerList(spec, field)).join(' + ');
  return `(${all}).map(c, has(c.image), string(c.image))`;
}

/**
 * The CEL variables `parts`, `located` and `refs` that read image references the
 * way the container runtime (distribution/reference) does. `source` is a CEL list
 * of string lists, each `width` long with an image reference first; every element
 * of `refs` is that list with the normalised reference appended, at index `width`.
 */
export function imageReferenceVariables(source: string, width: number): CelVariable[] {
  const hub = celString(DOCKER_HUB);
  const carried = (list: string) => Array.from({ length: width }, (_, i) => `${list}[${i}]`).join(', ');
  const [first, rest] = [width, width + 1];
  return [
    // [...carried, first path component, rest] or, without a `/`, [...carried, image].
    { name: 'parts', expression: `${source}.map(e, e + e[0].split("/", 2))` },
    // [...carried, registry host as written, repository path and tag/digest]. The first
    // component is a host when it has a `.` or `:`, is `localhost`, or has upper case
    // (a repository path never does); otherwise the image is on Docker Hub.
    {
      name: 'located',
      expression: `variables.parts.map(p, size(p) == ${rest + 1} && (p[${first}].contains(".") || p[${first}].contains(":")`
        + ` || p[${first}] == "localhost" || p[${first}].lowerAscii() != p[${first}])`
        + ` ? [${carried('p')}, p[${first}], p[${rest}]] : [${carried('p')}, ${hub}, size(p) == ${rest + 1} ? p[${first}] + "/" + p[${rest}] : p[${first}]])`,
    },
    // [...carried, normalised]: Docker Hub's single-component names are official images
    // (library/); other hosts compare in lower case, as DNS and TLS do.
    {
      name: 'refs',
      expression: `variables.located.map(q, [${carried('q')}, q[${first}] == ${hub} || q[${first}] == ${celString(LEGACY_DOCKER_HUB)}`
        + ` ? ${celString(`${DOCKER_HUB}/`)} + (q[${rest}].contains("/") ? q[${rest}] : ${celString(OFFICIAL_REPOSITORIES)} + q[${rest}])`
        + ` : q[${first}].lowerAscii() + "/" + q[${rest}]])`,
    },
  ];
}

/**
 * An allowed prefix in the form the policy compares against normalised image
 * references: Docker Hub paths get their host (`acme/` → `docker.io/acme/`),
 * `index.docker.io/` becomes `docker.io/`, and the host is lower case. The CRD
 * already requires the trailing `/`; it is checked again because without it
 * `registry.example.com` would also allow `registry.example.com.evil.io/…`.
 */
export function normalizePrefix(prefix: string, field = 'spec.imagePolicy.allowedRegistries'): string {
  if (!prefix.endsWith('/')) {
    throw new SpecError(field, `"${prefix}" must end with / so that it cannot also match a longer host or repository`);
  }
  if (prefix.startsWith('/')) throw new SpecError(field, `"${prefix}" must start with a registry host or a repository path`);
  const slash = prefix.indexOf('/');
  const first = prefix.slice(0, slash);
  const rest = prefix.slice(slash + 1);
  const isHost = first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first;
  if (!isHost) return `${DOCKER_HUB}/${prefix}`;
  const host = first === LEGACY_DOCKER_HUB ? DOCKER_HUB : first.toLowerCase();
  return `${host}/${rest}`;
}

/**
 * An image reference as the policy's CEL normalises it (see imageVariables):
 * the same steps in TypeScript, for checks made before a policy changes (the
 * pre-flight of a rollout), so that they and the API server always agree.
 */
export function normalizeImage(image: string): string {
  const slash = image.indexOf('/');
  const first = slash < 0 ? image : image.slice(0, slash);
  const rest = slash < 0 ? undefined : image.slice(slash + 1);
  const isHost = rest !== undefined && (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first);
  const [host, path] = isHost ? [first, rest] : [DOCKER_HUB, image];
  if (host === DOCKER_HUB || host === LEGACY_DOCKER_HUB) return `${DOCKER_HUB}/${path.includes('/') ? path : OFFICIAL_REPOSITORIES + path}`;
  return `${host.toLowerCase()}/${path}`;
}

/** Whether the image policy's normalised prefixes admit `image`. */
export function imageAllowed(image: string, normalizedPrefixes: readonly string[]): boolean {
  const normalized = normalizeImage(image);
  return normalizedPrefixes.some((prefix) => normalized.startsWith(prefix));
}

/** The normalised allowed prefixes of an image policy spec (what the policy compares against). */
export function allowedPrefixes(spec: { allowedRegistries: readonly string[] }): string[] {
  return [...new Set(spec.allowedRegistries.map((prefix, i) => normalizePrefix(prefix, `spec.imagePolicy.allowedRegistries[${i}]`)))];
}

/** `security-baseline-<baseline>-<suffix>`, the name of a cluster-scoped admission object. */
export function admissionObjectName(baseline: string, suffix: string): string {
  validateBaselineName(baseline);
  const name = `security-baseline-${baseline}-${suffix}`;
  if (!isDnsSubdomain(name)) throw new SpecError('metadata.name', `makes "${name}", which is not a valid object name`);
  return name;
}

/**
 * The binding of policy `name` to the namespaces the baseline selects: its
 * namespaceSelector as given, narrowed by a NotIn on the namespace name for
 * the namespaces never managed, the operator's own and excludeNamespaces.
 * In Audit mode the binding warns and records instead of refusing.
 */
/**
 * A baseline's policy `name`, which fails closed (a request the API server
 * cannot evaluate it on is refused), owned by the baseline, and its binding of
 * the same name: what every admission builder returns.
 */
export function policyAndBinding(
  baseline: SecurityBaseline, name: string, operatorNamespace: string, spec: Omit<ValidatingAdmissionPolicyObject['spec'], 'failurePolicy'>,
): AdmissionObject[] {
  const policy: ValidatingAdmissionPolicyObject = {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name, labels: ownershipLabels(baseline.metadata.name) },
    spec: { failurePolicy: 'Fail', ...spec },
  };
  return [policy, buildBinding(baseline, name, operatorNamespace)];
}

export function buildBinding(baseline: SecurityBaseline, name: string, operatorNamespace: string): ValidatingAdmissionPolicyBindingObject {
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name, labels: ownershipLabels(baseline.metadata.name) },
    spec: {
      policyName: name,
      validationActions: validationActions(baseline),
      matchResources: { namespaceSelector: bindingNamespaceSelector(baseline, operatorNamespace) },
    },
  };
}

/**
 * Deny for a baseline in Enforce mode. In Audit mode, Warn (the client sees a
 * warning, as kubectl prints it) and Audit (the API server's audit log records
 * the violation): the request goes through, and nothing in the namespaces changes.
 */
export function validationActions(baseline: SecurityBaseline): ValidationActions {
  return baseline.spec.mode === 'Audit' ? ['Warn', 'Audit'] : ['Deny'];
}

export function bindingNamespaceSelector(baseline: SecurityBaseline, operatorNamespace: string): LabelSelector {
  const { namespaceSelector, excludeNamespaces = [] } = baseline.spec;
  const excluded = [...new Set([...ALWAYS_EXCLUDED_NAMESPACES, operatorNamespace, ...excludeNamespaces].filter((n) => n !== ''))];
  const exclusion: LabelSelectorRequirement = { key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: excluded };
  const matchLabels = namespaceSelector.matchLabels ?? {};
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels: sortedRecord(matchLabels) } : {}),
    matchExpressions: [
      ...(namespaceSelector.matchExpressions ?? []).map((requirement) => ({
        key: requirement.key,
        operator: requirement.operator,
        ...(requirement.values ? { values: [...requirement.values] } : {}),
      })),
      exclusion,
    ],
  };
}

/**
 * A CEL string literal holding exactly `value`. Printable ASCII stays as is
 * (with `"` and `\` escaped, which makes it the same text as JSON.stringify);
 * everything else is a \u or \U escape of its code point, so the literal is
 * plain ASCII whatever the input. A lone UTF-16 surrogate, which no UTF-8
 * string can hold, becomes U+FFFD as it would on its way through JSON to Go.
 */
export function celString(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0) as number;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (code >= 0x20 && code <= 0x7e) out += char;
    else if (code >= 0xd800 && code <= 0xdfff) out += '\\uFFFD';
    else if (code <= 0xffff) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += `\\U${code.toString(16).toUpperCase().padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** A CEL list literal of string literals. */
export function celStringList(values: readonly string[]): string {
  return `[${values.map(celString).join(', ')}]`;
}

/**
 * `condition`, let through first in the namespaces BaselineExceptions name
 * (see resources/exception.ts); `condition` alone when there are none.
 */
export function exceptIn(namespaces: readonly string[], condition: string): string {
  return namespaces.length > 0 ? `request.namespace in ${celStringList(namespaces)} || ${condition}` : condition;
}
