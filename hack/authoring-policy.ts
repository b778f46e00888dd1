// Writes crds/authoring-policy.yaml: the ValidatingAdmissionPolicy (and its
// binding) that refuses a SecurityBaseline whose author could not make its
// grants directly. `--check` fails when the file is out of date (the unit tests
// run it). See README, "Permissions", for what it checks and why.
//
// The policy is generated rather than written by hand because of how the API
// server bounds CEL: an authorization check costs 350,000 and one expression
// may spend 1,000,000, so each expression can make at most two checks (and one
// policy evaluation at most ~28). Checking a list of ClusterRoles or
// permissions one by one therefore takes one validation per item: "slots",
// written out here, each with a message naming its item (a messageExpression
// has no authorizer, so it cannot say which item of a list failed a check).
// Fast paths (bind on every ClusterRole, escalate on Roles, holding `*`) make
// one check do for the whole list, so people with broad rights never reach
// the slots.
import path from 'node:path';
import { isMain, writeOrCheck, yamlDocuments } from './generated.ts';
import { AUTHORING_POLICY_NAME, OPERATOR_NAME } from '../src/api/constants.ts';
import { GROUP, PLURAL } from '../src/api/types.ts';

/** Distinct ClusterRoles checked one by one when the author may not bind every ClusterRole. */
export const CLUSTER_ROLE_SLOTS = 12;
/** Permissions (group, resource, verb, name) of new Roles checked one by one when the author may not escalate. */
export const PERMISSION_SLOTS = 8;

const RBAC = `'rbac.authorization.k8s.io'`;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const output = path.join(root, 'crds', 'authoring-policy.yaml');

const range = (n: number): number[] => [...Array(n).keys()];

/** A list of the old spec's entries, or [] when the old spec does not cover the new scope. */
const oldList = (field: string) => `variables.narrowerScope && has(oldObject.spec.${field}) ? oldObject.spec.${field} : []`;

/** Whether Role rule `r` of the new spec is covered by one of the old entry `o`'s rules (wildcards count). */
const ruleCovered = `r.apiGroups.all(g, r.resources.all(res, r.verbs.all(v, o.rules.exists(p,
  (g in p.apiGroups || '*' in p.apiGroups) && (res in p.resources || '*' in p.resources) && (v in p.verbs || '*' in p.verbs)
  && (!has(p.resourceNames) || size(p.resourceNames) == 0
      || (has(r.resourceNames) && size(r.resourceNames) > 0 && r.resourceNames.all(n, n in p.resourceNames)))))))`;

/** `[group, resource, subresource, verb, name]` of permission tuple `t` as an authorizer check. */
const checkTuple = (t: string) => `authorizer.group(${t}[0]).resource(${t}[1]).subresource(${t}[2]).name(${t}[4]).check(${t}[3]).allowed()`;

const levels = `{'privileged': 0, 'baseline': 1, 'restricted': 2}`;

function variables(): { name: string; expression: string }[] {
  return [
    { name: 'enforcing', expression: `!has(object.spec.mode) || object.spec.mode == 'Enforce'` },
    {
      // The old spec already granted in every namespace the new one can reach: it was
      // enforced, and the new selector and exclusions are the same or narrower (more
      // labels and expressions to match, more names excluded).
      name: 'narrowerScope',
      expression: `request.operation == 'UPDATE' && (!has(oldObject.spec.mode) || oldObject.spec.mode == 'Enforce')
  && (!has(oldObject.spec.namespaceSelector.matchLabels) || oldObject.spec.namespaceSelector.matchLabels.all(k,
      has(object.spec.namespaceSelector.matchLabels) && k in object.spec.namespaceSelector.matchLabels
      && object.spec.namespaceSelector.matchLabels[k] == oldObject.spec.namespaceSelector.matchLabels[k]))
  && (!has(oldObject.spec.namespaceSelector.matchExpressions) || oldObject.spec.namespaceSelector.matchExpressions.all(e,
      has(object.spec.namespaceSelector.matchExpressions) && e in object.spec.namespaceSelector.matchExpressions))
  && (!has(oldObject.spec.excludeNamespaces) || oldObject.spec.excludeNamespaces.all(n,
      has(object.spec.excludeNamespaces) && n in object.spec.excludeNamespaces))`,
    },
    { name: 'bindings', expression: `variables.enforcing && has(object.spec.roleBindings) ? object.spec.roleBindings : []` },
    { name: 'oldBindings', expression: oldList('roleBindings') },
    {
      // Bindings to a ClusterRole that the old spec did not already grant to the same subjects.
      name: 'newClusterRoleBindings',
      expression: `variables.bindings.filter(b, has(b.clusterRole) && !variables.oldBindings.exists(o,
  has(o.clusterRole) && o.clusterRole == b.clusterRole && b.subjects.all(s, s in o.subjects)))`,
    },
    { name: 'clusterRoles', expression: 'variables.newClusterRoleBindings.map(b, b.clusterRole).distinct()' },
    {
      // Roles from rules that grant a subject something the old spec did not grant it.
      name: 'newRoleBindings',
      expression: `variables.bindings.filter(b, has(b.rules) && !variables.oldBindings.exists(o,
  has(o.rules) && b.subjects.all(s, s in o.subjects) && b.rules.all(r, ${ruleCovered})))`,
    },
    {
      name: 'permissions',
      expression: `variables.newRoleBindings.map(b, b.rules.map(r, r.apiGroups.map(g, r.resources.map(res, r.verbs.map(v,
  (has(r.resourceNames) && size(r.resourceNames) > 0 ? r.resourceNames : ['']).map(n, [string(g), string(res).split('/')[0],
    string(res).contains('/') ? string(res).substring(string(res).indexOf('/') + 1) : '', string(v), string(n)])))))).flatten(5).distinct()`,
    },
    // NetworkPolicy allow rules open traffic (policies add up, so they open holes in a namespace's own
    // policies too): new unless the old spec allowed at least as much. A default deny alone only restricts.
    {
      name: 'opensNetwork',
      expression: `variables.enforcing && has(object.spec.networkPolicy)
  && ((has(object.spec.networkPolicy.allowDNS) && object.spec.networkPolicy.allowDNS)
      || (has(object.spec.networkPolicy.allowSameNamespace) && object.spec.networkPolicy.allowSameNamespace)
      || (has(object.spec.networkPolicy.ingress) && size(object.spec.networkPolicy.ingress) > 0)
      || (has(object.spec.networkPolicy.egress) && size(object.spec.networkPolicy.egress) > 0)
      || (has(object.spec.networkPolicy.podPolicies) && size(object.spec.networkPolicy.podPolicies) > 0))
  && !(variables.narrowerScope && has(oldObject.spec.networkPolicy)
  && (!has(object.spec.networkPolicy.allowDNS) || !object.spec.networkPolicy.allowDNS
      || (has(oldObject.spec.networkPolicy.allowDNS) && oldObject.spec.networkPolicy.allowDNS))
  && (!has(object.spec.networkPolicy.allowSameNamespace) || !object.spec.networkPolicy.allowSameNamespace
      || (has(oldObject.spec.networkPolicy.allowSameNamespace) && oldObject.spec.networkPolicy.allowSameNamespace))
  && (!has(object.spec.networkPolicy.ingress) || object.spec.networkPolicy.ingress.all(r,
      has(oldObject.spec.networkPolicy.ingress) && r in oldObject.spec.networkPolicy.ingress))
  && (!has(object.spec.networkPolicy.egress) || object.spec.networkPolicy.egress.all(r,
      has(oldObject.spec.networkPolicy.egress) && r in oldObject.spec.networkPolicy.egress))
  && (!has(object.spec.networkPolicy.podPolicies) || object.spec.networkPolicy.podPolicies.all(p,
      has(oldObject.spec.networkPolicy.podPolicies) && p in oldObject.spec.networkPolicy.podPolicies)))`,
    },
    // Pod Security labels can loosen what a namespace admits: new unless as strict as before, at the same version.
    {
      name: 'setsPodSecurity',
      expression: `variables.enforcing && has(object.spec.podSecurity) && !(variables.narrowerScope && has(oldObject.spec.podSecurity)
  && ${levels}[object.spec.podSecurity.enforce] >= ${levels}[oldObject.spec.podSecurity.enforce]
  && (has(object.spec.podSecurity.version) ? object.spec.podSecurity.version : 'latest')
     == (has(oldObject.spec.podSecurity.version) ? oldObject.spec.podSecurity.version : 'latest'))`,
    },
    // A Flow routes every selected namespace's logs to the outputs it names.
    {
      name: 'routesLogs',
      expression: `variables.enforcing && has(object.spec.logging) && !(variables.narrowerScope && has(oldObject.spec.logging)
  && object.spec.logging == oldObject.spec.logging)`,
    },

    // Fast paths: one authorization check each, standing in for a whole list (see the top of this file).
    {
      name: 'mayBindAnyClusterRole',
      expression: `size(variables.clusterRoles) == 0 || authorizer.group(${RBAC}).resource('clusterroles').check('bind').allowed()`,
    },
    {
      // Kubernetes lets whoever may escalate and bind Roles create and bind any Role.
      name: 'mayEscalateRoles',
      expression: `size(variables.newRoleBindings) == 0 || (authorizer.group(${RBAC}).resource('roles').check('escalate').allowed()
  && authorizer.group(${RBAC}).resource('roles').check('bind').allowed())`,
    },
    {
      name: 'holdsEverything',
      expression: `variables.mayEscalateRoles || authorizer.group('*').resource('*').check('*').allowed()`,
    },
  ];
}

/** A CEL string concatenation: plain strings are literals, `expr(...)` parts are CEL. */
export interface Expr { readonly cel: string }
export const expr = (cel: string): Expr => ({ cel });
export const concat = (...parts: (string | Expr)[]): string => parts.map((part) => (typeof part === 'string' ? JSON.stringify(part) : `(${part.cel})`)).join(' + ');

const who = expr('request.userInfo.username');
const baseline = expr(`'SecurityBaseline ' + object.metadata.name + ': '`);
const SCOPE = 'cluster-wide, because a baseline can select any namespace, including ones created later';
/** "verb resource[/sub][.group][ named n]" for a permission tuple `t`. */
const describeTuple = (t: string) => `${t}[3] + ' ' + ${t}[1] + (${t}[2] != '' ? '/' + ${t}[2] : '') + (${t}[0] != '' ? '.' + ${t}[0] : '') + (${t}[4] != '' ? ' named ' + ${t}[4] : '')`;

function validations(): { expression: string; messageExpression: string; message: string; reason: 'Forbidden' }[] {
  const validation = (expression: string, message: string, messageExpression: string) => ({ expression, message, messageExpression, reason: 'Forbidden' as const });
  const newRoleNames = expr(`variables.newRoleBindings.map(b, b.name).join(', ')`);
  return [
    validation(
      `variables.mayBindAnyClusterRole || size(variables.clusterRoles) <= ${CLUSTER_ROLE_SLOTS}`,
      `a SecurityBaseline may bind at most ${CLUSTER_ROLE_SLOTS} ClusterRoles that its author may not bind all of`,
      concat(baseline, 'it binds ', expr('string(size(variables.clusterRoles))'),
        ` ClusterRoles and the API server can check at most ${CLUSTER_ROLE_SLOTS} one by one at admission. To write it, `, who,
        ` needs the bind verb on all clusterroles (${SCOPE}), or split the baseline`),
    ),
    ...range(CLUSTER_ROLE_SLOTS).map((i) => validation(
      `variables.mayBindAnyClusterRole || size(variables.clusterRoles) <= ${i}
  || authorizer.group(${RBAC}).resource('clusterroles').name(variables.clusterRoles[${i}]).check('bind').allowed()`,
      'the author may not bind a ClusterRole this SecurityBaseline binds',
      concat(baseline, who, ' may not bind ClusterRole ', expr(`variables.clusterRoles[${i}]`), ' (roleBindings ',
        expr(`variables.newClusterRoleBindings.filter(b, b.clusterRole == variables.clusterRoles[${i}]).map(b, b.name).join(', ')`),
        '). A baseline grants what it binds in every namespace it selects, so writing it needs the bind verb on clusterroles/',
        expr(`variables.clusterRoles[${i}]`), ` ${SCOPE}`),
    )),
    validation(
      `variables.holdsEverything || size(variables.permissions) <= ${PERMISSION_SLOTS}`,
      'the Roles of this SecurityBaseline list more permissions than can be checked at admission',
      concat(baseline, 'its Roles (roleBindings ', newRoleNames, ') list ', expr('string(size(variables.permissions))'),
        ` permissions and the API server can check at most ${PERMISSION_SLOTS} one by one at admission. To write it, `, who,
        ` needs the escalate and bind verbs on roles ${SCOPE}`),
    ),
    ...range(PERMISSION_SLOTS).map((i) => validation(
      `variables.holdsEverything || size(variables.permissions) <= ${i} || ${checkTuple(`variables.permissions[${i}]`)}`,
      'the author does not hold every permission of a Role this SecurityBaseline builds',
      concat(baseline, 'roleBindings ', newRoleNames, ' build Roles that grant ', expr(describeTuple(`variables.permissions[${i}]`)),
        ', which ', who, ` does not hold ${SCOPE}. Granting what you do not hold needs the escalate and bind verbs on roles`),
    )),
    validation(
      `!variables.opensNetwork || authorizer.group('networking.k8s.io').resource('networkpolicies').check('create').allowed()`,
      'the author may not create NetworkPolicies in every namespace this SecurityBaseline can select',
      concat(baseline, 'its networkPolicy allow rules open traffic in every namespace it selects, so writing them needs the create verb on networkpolicies ',
        `${SCOPE}, which `, who, ' does not have'),
    ),
    validation(
      `!variables.setsPodSecurity || authorizer.group('').resource('namespaces').check('patch').allowed()`,
      'the author may not set Pod Security labels on every namespace this SecurityBaseline can select',
      concat(baseline, 'its podSecurity sets the Pod Security labels (which decide what pods are admitted) of every namespace it selects, ',
        `so writing it needs the patch verb on namespaces ${SCOPE}, which `, who, ' does not have'),
    ),
    validation(
      `!variables.routesLogs || authorizer.group('logging.banzaicloud.io').resource('flows').check('create').allowed()`,
      'the author may not create Flows in every namespace this SecurityBaseline can select',
      concat(baseline, 'its logging routes the logs of every namespace it selects, so writing it needs the create verb on flows.logging.banzaicloud.io ',
        `${SCOPE}, which `, who, ' does not have'),
    ),
  ];
}

const labels = { 'app.kubernetes.io/name': OPERATOR_NAME, 'app.kubernetes.io/part-of': OPERATOR_NAME };

export function buildAuthoringPolicy(): [Record<string, unknown>, Record<string, unknown>] {
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: AUTHORING_POLICY_NAME, labels },
    spec: {
      failurePolicy: 'Fail',
      // With the API server's defaults spelt out: matchConstraints is atomic for
      // server-side apply, so a value without them differs from the stored one,
      // and a second field manager (`kubectl apply --server-side -k config/default`
      // after `make install`) would conflict with the first over it.
      matchConstraints: {
        matchPolicy: 'Equivalent', namespaceSelector: {}, objectSelector: {},
        resourceRules: [{ apiGroups: [GROUP], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [PLURAL], scope: '*' }],
      },
      // Writes that leave the spec alone (the operator's finalizer, labels) cannot grant anything.
      matchConditions: [{ name: 'spec-changes', expression: `request.operation == 'CREATE' || object.spec != oldObject.spec` }],
      variables: variables(),
      validations: validations(),
    },
  };
  const binding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: AUTHORING_POLICY_NAME, labels },
    spec: { policyName: AUTHORING_POLICY_NAME, validationActions: ['Deny'] },
  };
  return [policy, binding];
}

export function renderAuthoringPolicy(): string {
  const header = [
    '# Generated by hack/authoring-policy.ts (node hack/authoring-policy.ts); do not edit.',
    '# Refuses a SecurityBaseline whose author could not make its grants directly:',
    '# bind each ClusterRole it binds, hold (or escalate past) every permission of the',
    '# Roles it builds, create NetworkPolicies (for allow rules), patch namespaces (Pod Security)',
    '# and create Flows, cluster-wide. A change that only narrows what the old spec',
    '# granted needs none of it. Installed with the CRD, it holds while the operator is down.',
  ];
  return yamlDocuments(header, buildAuthoringPolicy());
}

if (isMain(import.meta.url)) await writeOrCheck(output, renderAuthoringPolicy(), 'hack/authoring-policy.ts');
