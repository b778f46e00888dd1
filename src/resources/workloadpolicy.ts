// Security context beyond Pod Security: `spec.workloadPolicy`, enforced by the
// API server through up to two ValidatingAdmissionPolicies per baseline, each
// with its binding, like the image policy:
//
//   security-baseline-<baseline>-workloads   readOnlyRootFilesystem and disallowLatestTag, for
//                                            pods and the pod templates of workloads (the image
//                                            policy's coverage, see podAndTemplateRules)
//   security-baseline-<baseline>-exec        exec.deny: CONNECT on pods/exec, pods/attach and
//                                            pods/portforward, except for members of allowGroups
//   security-baseline-<baseline>-networkpolicies
//                                            networkPolicies.deny: NetworkPolicies created or
//                                            changed by anyone but the operator (and whoever may
//                                            act as it), except for members of allowGroups
//
// Both rules about containers are one validation over one list of problems, so
// that a refusal names every container and every rule at once ("container app:
// set securityContext.readOnlyRootFilesystem: true (workloadPolicy.…)"): the
// API server reports only the first failing validation of a request.
//
// An UPDATE is checked for the containers it adds or changes: an object admitted
// before the policy existed can still have its labels, finalizers or replicas
// changed, and `kubectl debug` can add a compliant ephemeral container to it,
// but an edited container must comply, so a Deployment is refused when applied
// rather than leaving its new ReplicaSet refused.
//
// The exec policy decides by who asks, not by what the pod is: a
// ValidatingAdmissionPolicy sees only the CONNECT request (the pod's name and the
// exec options), not the pod, so unlike DenyEscalatingExec it cannot tell a
// privileged pod from any other. It therefore refuses exec into every pod of the
// selected namespaces.
//
// NetworkPolicies add up: what any of them allows is allowed. The built-in
// `admin` and `edit` roles may write them, so without the third policy a
// namespace admin opens what the baseline's default deny closes with one
// allow-all policy of their own. Only a spec is checked: labels, annotations,
// finalizers and owner references (what garbage collection and GitOps tools
// write) change no traffic, and deleting a policy of one's own only takes an
// allow away (the baseline's own are put back by the operator).

import { GROUP, PLURAL, type ExecPolicySpec, type NetworkPoliciesPolicySpec, type SecurityBaseline, type WorkloadPolicySpec } from '../api/types.ts';
import {
  CONTAINER_LISTS, admissionObjectName, celString, celStringList, containerList, exceptIn,
  imageReferenceVariables, podAndTemplateRules, podSpecVariables, policyAndBinding,
  type AdmissionObject, type CelVariable,
} from './imagepolicy.ts';

export const WORKLOAD_POLICY_SUFFIX = 'workloads';
export const EXEC_POLICY_SUFFIX = 'exec';
export const NETWORK_POLICIES_POLICY_SUFFIX = 'networkpolicies';
/** The subresources of a pod that open a session into its containers. */
export const EXEC_SUBRESOURCES = ['pods/attach', 'pods/exec', 'pods/portforward'] as const;

const READ_ONLY_FIX = 'set securityContext.readOnlyRootFilesystem: true (workloadPolicy.readOnlyRootFilesystem)';
const PINNED_FIX = 'use a tag other than latest, or a digest (workloadPolicy.disallowLatestTag)';

/**
 * The policies and bindings for `spec.workloadPolicy`, or nothing when the
 * baseline has none: a policy only for the rules it turns on. `execOpen`: the
 * namespaces where BaselineExceptions switch exec.deny off (see
 * resources/exception.ts); they are written into the exec policy.
 */
export function buildWorkloadPolicy(baseline: SecurityBaseline, operatorNamespace: string, execOpen: readonly string[] = []): AdmissionObject[] {
  const spec = baseline.spec.workloadPolicy;
  if (!spec) return [];
  return [
    ...buildContainerPolicy(baseline, spec, operatorNamespace), ...buildExecPolicy(baseline, spec.exec, operatorNamespace, execOpen),
    ...buildNetworkPoliciesPolicy(baseline, spec.networkPolicies, operatorNamespace),
  ];
}

function buildContainerPolicy(baseline: SecurityBaseline, spec: WorkloadPolicySpec, operatorNamespace: string): AdmissionObject[] {
  const readOnly = spec.readOnlyRootFilesystem === true;
  const pinned = spec.disallowLatestTag === true;
  if (!readOnly && !pinned) return [];
  const baselineName = baseline.metadata.name;
  const name = admissionObjectName(baselineName, WORKLOAD_POLICY_SUFFIX);
  const problems = [
    ...(readOnly ? [`variables.writable.map(c, c + ${celString(`: ${READ_ONLY_FIX}`)})`] : []),
    ...(pinned ? [`variables.unpinned.map(r, r[1] + ": image " + (r[0] == r[2] ? r[0] : r[0] + " (" + r[2] + ")") + ${celString(` is tagged latest; ${PINNED_FIX}`)})`] : []),
  ];
  const rules = [
    ...(readOnly ? ['securityContext.readOnlyRootFilesystem: true in every container'] : []),
    ...(pinned ? ['images with a tag other than latest, or a digest'] : []),
  ];

  return policyAndBinding(baseline, name, operatorNamespace, {
    matchConstraints: { resourceRules: podAndTemplateRules() },
    variables: [
      ...podSpecVariables(),
      ...changedContainerVariables(),
      ...(readOnly ? [writableVariable()] : []),
      ...(pinned ? unpinnedVariables() : []),
      { name: 'problems', expression: problems.join(' + ') },
    ],
    validations: [{
      expression: 'size(variables.problems) == 0',
      messageExpression: `${celString(`SecurityBaseline ${baselineName}: `)} + variables.problems.join("; ")`,
      message: `SecurityBaseline ${baselineName} requires ${rules.join(' and ')}`,
      reason: 'Forbidden',
    }],
  });
}

/**
 * `containersChanged`, `initContainersChanged`, `ephemeralContainersChanged`:
 * the containers of each list that the old object does not have exactly so
 * (on CREATE, all of them).
 */
function changedContainerVariables(): CelVariable[] {
  return CONTAINER_LISTS.map(({ field }) => ({
    name: `${field}Changed`,
    expression: `${containerList('variables.podSpec', field)}.filter(c, !(c in ${containerList('variables.oldPodSpec', field)}))`,
  }));
}

/** Every container, by each list's `Changed` variable, as `map(c)` gives it (a CEL list). */
function acrossChanged(filter: string, map: (noun: string) => string): string {
  return CONTAINER_LISTS.map(({ field, noun }) => `variables.${field}Changed.filter(c, ${filter}).map(c, ${map(noun)})`).join(' + ');
}

/**
 * `writable`: the changed containers, named ("container app"), without a
 * read-only root filesystem. Windows pods are exempt: Kubernetes refuses the
 * field on them, as Pod Security does for its Linux-only checks.
 */
function writableVariable(): CelVariable {
  const readOnly = 'has(c.securityContext) && has(c.securityContext.readOnlyRootFilesystem) && c.securityContext.readOnlyRootFilesystem';
  return {
    name: 'writable',
    expression: 'has(variables.podSpec.os) && variables.podSpec.os.name == "windows" ? []'
      + ` : ${acrossChanged(`!(${readOnly})`, (noun) => `${celString(`${noun} `)} + c.name`)}`,
  };
}

/**
 * `tagged` ([image, container]) of the changed containers, normalised by the
 * image policy's steps into `refs` ([image, container, normalised]). `unpinned`
 * holds those with neither a digest nor a tag other than latest, as [image,
 * container, normalised with its tag], judged by the last path component
 * (name[:tag][@digest]): without an `@`, a `:` there is a tag's, since the
 * host, the only other place for a `:`, comes before the first `/` of a
 * normalised reference.
 */
function unpinnedVariables(): CelVariable[] {
  return [
    { name: 'tagged', expression: acrossChanged('has(c.image)', (noun) => `[string(c.image), ${celString(`${noun} `)} + c.name]`) },
    ...imageReferenceVariables('variables.tagged', 2),
    {
      name: 'unpinned',
      expression: 'variables.refs.map(r, r + [r[2].substring(r[2].lastIndexOf("/") + 1)])'
        + '.filter(r, !r[3].contains("@") && (!r[3].contains(":") || r[3].substring(r[3].indexOf(":") + 1) == "latest"))'
        + '.map(r, [r[0], r[1], r[3].contains(":") ? r[2] : r[2] + ":latest"])',
    },
  ];
}

/**
 * `allowGroups` once each, as the `allowedGroups` variable the validation reads,
 * and what a refusal says of them.
 */
function allowedGroups(allowGroups: readonly string[] | undefined): { variable: CelVariable; exempt: string } {
  const groups = [...new Set(allowGroups ?? [])];
  return {
    variable: { name: 'allowedGroups', expression: celStringList(groups) },
    exempt: groups.length > 0 ? `; only members of ${groups.join(', ')} may` : '',
  };
}

/** The requesting user is in an allowed group. userInfo.groups is absent, not empty, for a user in no group. */
const IN_ALLOWED_GROUP = 'has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in variables.allowedGroups)';

/** The policy and binding for `exec.deny: true`, or nothing otherwise; not in the `open` namespaces. */
function buildExecPolicy(baseline: SecurityBaseline, exec: ExecPolicySpec | undefined, operatorNamespace: string, open: readonly string[]): AdmissionObject[] {
  if (exec?.deny !== true) return [];
  const baselineName = baseline.metadata.name;
  const name = admissionObjectName(baselineName, EXEC_POLICY_SUFFIX);
  const { variable, exempt } = allowedGroups(exec.allowGroups);
  const refusal = `SecurityBaseline ${baselineName} denies exec, attach and port-forward (workloadPolicy.exec.deny)`;
  return policyAndBinding(baseline, name, operatorNamespace, {
    matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CONNECT'], resources: [...EXEC_SUBRESOURCES] }] },
    variables: [variable],
    validations: [{
      // A BaselineException's namespaces are in the validation, as in the admission
      // gate's, rather than out of the binding's selector: where the rule applies stays
      // the baseline's, and the exception ending takes them out again.
      expression: exceptIn(open, IN_ALLOWED_GROUP),
      messageExpression: `${celString(`${refusal}: `)} + request.userInfo.username + " may not use pods/" + request.subResource`
        + ` + " on pod " + request.name + " in namespace " + request.namespace${exempt ? ` + ${celString(exempt)}` : ''}`,
      message: `${refusal}${exempt}`,
      reason: 'Forbidden',
    }],
  });
}

/**
 * Who may write any NetworkPolicy: whoever may patch baselines' status, which
 * is the operator (it writes the baselines' own policies and puts them back)
 * and cluster administrators; as crds/managed-object-policy.yaml decides who
 * may take an object out of management.
 */
const MAY_ACT_AS_OPERATOR = `authorizer.group(${celString(GROUP)}).resource(${celString(PLURAL)}).subresource("status").check("patch").allowed()`;

/** The policy and binding for `networkPolicies.deny: true`, or nothing otherwise. */
function buildNetworkPoliciesPolicy(baseline: SecurityBaseline, spec: NetworkPoliciesPolicySpec | undefined, operatorNamespace: string): AdmissionObject[] {
  if (spec?.deny !== true) return [];
  const baselineName = baseline.metadata.name;
  const name = admissionObjectName(baselineName, NETWORK_POLICIES_POLICY_SUFFIX);
  const { variable, exempt } = allowedGroups(spec.allowGroups);
  const refusal = `SecurityBaseline ${baselineName} keeps the NetworkPolicies of this namespace to its own (workloadPolicy.networkPolicies.deny)`;
  const remedy = '; to allow more traffic, change the baseline or ask for a BaselineException';
  return policyAndBinding(baseline, name, operatorNamespace, {
    matchConstraints: {
      resourceRules: [{ apiGroups: ['networking.k8s.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['networkpolicies'] }],
    },
    variables: [variable],
    validations: [{
      // Cheapest first: an authorization check costs a third of an expression's CEL budget.
      expression: `(request.operation == "UPDATE" && object.spec == oldObject.spec) || (${IN_ALLOWED_GROUP}) || ${MAY_ACT_AS_OPERATOR}`,
      messageExpression: `${celString(`${refusal}: `)} + request.userInfo.username + " may not "`
        + ` + (request.operation == "CREATE" ? "create" : "change the spec of") + " NetworkPolicy " + request.name`
        + ` + " in namespace " + request.namespace + ${celString(`${exempt}${remedy}`)}`,
      message: `${refusal}${exempt}${remedy}`,
      reason: 'Forbidden',
    }],
  });
}
