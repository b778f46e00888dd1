// Writes crds/managed-object-policy.yaml: a ValidatingAdmissionPolicy that
// refuses to take an object out of the operator's management. `--check` fails
// when the file is out of date (the unit tests run it).
//
// The operator owns an object by its ownership labels, and, when they are
// gone, by its own server-side apply entry in managedFields (foreignOwner in
// src/controller/ensure.ts). Someone who may patch a managed object (the
// built-in `admin` role may patch NetworkPolicies and RoleBindings in its
// namespace) could remove both in one patch: the object would then be no one's
// the operator knows of, a ForeignObject conflict it reports and cannot
// restore. So an update that adds, changes or removes an ownership label of
// a managed object is refused, unless its author may write baselines' status:
// the operator (it releases objects that way, deletionPolicy Orphan) and
// cluster administrators. Every other edit still goes through, and is drift
// the operator puts back.
//
// Creating an object that already carries the baseline label is refused on the
// same terms: it would put an object of someone else's making under a
// baseline's name and labels.
//
// Matched by objectSelector: an update matches when the old or the new object
// carries the baseline label (a create when it does), so the operator's own
// applies (labels unchanged) cost one comparison and no authorization check.
//
// A second policy reserves the names of a baseline's objects. The operator
// never overwrites an object it does not own, so someone who creates an object
// under a managed name first (or deletes the operator's and creates their own
// in its place before the operator restores it) keeps the baseline's control
// out of the namespace: a Conflict, reported, but lasting. In a namespace an
// Enforce baseline selects, the names it gives its objects there
// (`<baseline>-<suffix>`: default-deny, quota, limits, logging, each role
// binding's and pod policy's name), and the compliance Report's name, may be
// created in the managed kinds only by whoever may write baselines' status
// Each baseline is a parameter of the policy, its selector evaluated on the
// namespace's labels. The API server evaluates such a policy once per
// parameter, match conditions included, converting the request's objects for
// each: with 200 baselines, every create it matched cost the API server about
// ten milliseconds more, and a cold start over 2,000 namespaces took six times
// as long. So it matches only objects without the baseline label (its
// objectSelector, checked once per request): the operator's own objects carry
// it, and someone else's create that carries it is refused by the first policy.
//
// The compliance Report's name is the same in every namespace, so a third
// policy, with no parameters, reserves it in all of them: the Report, which
// names several baselines and carries no baseline label, is not evaluated per
// baseline either.
import path from 'node:path';
import { ALWAYS_EXCLUDED_CEL, apiPolicyAndBinding, EVERY_BASELINE, MAY_WRITE_BASELINE_STATUS, PER_BASELINE, selectsCel } from './policy-parts.ts';
import { isMain, writeOrCheck, yamlDocuments } from './generated.ts';
import { BASELINE_LABEL, MANAGED_BY_LABEL } from '../src/api/constants.ts';
import { MANAGED_KINDS, REPORTS } from '../src/controller/kinds.ts';
import { LIMIT_RANGE_SUFFIX } from '../src/resources/limitrange.ts';
import { LOGGING_SUFFIX } from '../src/resources/logging.ts';
import { DEFAULT_DENY_SUFFIX } from '../src/resources/networkpolicy.ts';
import { REPORT_NAME } from '../src/resources/report.ts';
import { RESOURCE_QUOTA_SUFFIX } from '../src/resources/resourcequota.ts';

export const MANAGED_OBJECT_POLICY_NAME = 'security-baseline-managed-objects';
export const MANAGED_NAMES_POLICY_NAME = 'security-baseline-managed-names';
export const REPORT_NAME_POLICY_NAME = 'security-baseline-report-name';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const output = path.join(root, 'crds', 'managed-object-policy.yaml');

/** `rbac.authorization.k8s.io/v1` → `rbac.authorization.k8s.io`; `v1` → the core group. */
const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '');

export function buildManagedObjectPolicy(): Record<string, unknown>[] {
  const ownershipLabels = [BASELINE_LABEL, MANAGED_BY_LABEL];
  const label = (object: string, key: string) => `${object}.metadata.?labels[?'${key}'].orValue('')`;
  return apiPolicyAndBinding(MANAGED_OBJECT_POLICY_NAME, {
    failurePolicy: 'Fail',
    // The API server's defaults spelt out (see hack/exception-policy.ts): matchConstraints is atomic for server-side apply.
    matchConstraints: {
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: { matchExpressions: [{ key: BASELINE_LABEL, operator: 'Exists' }] },
      resourceRules: MANAGED_KINDS.map((type) => ({
        apiGroups: [groupOf(type.apiVersion)], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [type.plural], scope: 'Namespaced',
      })),
    },
    variables: [
      // A create has no old object: its labels are all added.
      { name: 'labelsKept', expression: `oldObject != null && ${ownershipLabels.map((key) => `${label('oldObject', key)} == ${label('object', key)}`).join(' && ')}` },
      {
        name: 'baseline',
        expression: `oldObject != null && ${label('oldObject', BASELINE_LABEL)} != '' ? ${label('oldObject', BASELINE_LABEL)} : ${label('object', BASELINE_LABEL)}`,
      },
    ],
    validations: [{
      expression: `variables.labelsKept || ${MAY_WRITE_BASELINE_STATUS}`,
      messageExpression: `request.kind.kind + ' ' + request.name + ' is managed by the security baseline ' + variables.baseline`
        + ` + ': ' + request.userInfo.username + ' may not add, change or remove its labels ${ownershipLabels.join(' and ')}.`
        + ` Other edits are allowed and put back by the operator; deleting the baseline with deletionPolicy Orphan releases its objects'`,
      message: `the labels ${ownershipLabels.join(' and ')} of an object a security baseline manages may not be added, changed or removed`,
      reason: 'Forbidden',
    }],
  });
}

/** The names of a baseline's objects that do not come from its spec: `<baseline>-<suffix>`. */
const FIXED_SUFFIXES = [DEFAULT_DENY_SUFFIX, RESOURCE_QUOTA_SUFFIX, LIMIT_RANGE_SUFFIX, LOGGING_SUFFIX];

/** The second policy: names of a baseline's objects are its own in the namespaces it selects. */
export function buildManagedNamesPolicy(): Record<string, unknown>[] {
  return apiPolicyAndBinding(MANAGED_NAMES_POLICY_NAME, {
    ...PER_BASELINE,
    matchConstraints: {
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: { matchExpressions: [{ key: BASELINE_LABEL, operator: 'DoesNotExist' }] },
      resourceRules: MANAGED_KINDS.map((type) => ({
        apiGroups: [groupOf(type.apiVersion)], apiVersions: ['*'], operations: ['CREATE'], resources: [type.plural], scope: 'Namespaced',
      })),
    },
    matchConditions: [
      { name: 'not-always-excluded', expression: `!(request.namespace in ${ALWAYS_EXCLUDED_CEL})` },
      { name: 'not-the-operator', expression: `!${MAY_WRITE_BASELINE_STATUS}` },
    ],
    variables: [
      { name: 'name', expression: "object.metadata.?name.orValue('')" },
      {
        name: 'suffix',
        expression: `variables.name.startsWith(params.metadata.name + '-') ? variables.name.substring(size(params.metadata.name) + 1) : ''`,
      },
      // The exact names the baseline gives its objects (src/resources/): a tenant's own `<baseline>-api` stays theirs.
      {
        name: 'reserved',
        expression: `variables.suffix != '' && (variables.suffix in ${JSON.stringify(FIXED_SUFFIXES).replaceAll('"', "'")}`
          + ` || params.spec.?roleBindings.orValue([]).exists(rb, rb.name == variables.suffix)`
          + ` || params.spec.?networkPolicy.?podPolicies.orValue([]).exists(p, p.name == variables.suffix))`,
      },
      {
        name: 'selected',
        expression: `!has(params.metadata.deletionTimestamp) && params.spec.?mode.orValue('Enforce') == 'Enforce'`
          + ` && !(request.namespace in params.spec.?excludeNamespaces.orValue([]))`
          + ` && ${selectsCel('params.spec.namespaceSelector', "namespaceObject.metadata.?labels.orValue({})")}`,
      },
    ],
    validations: [{
      expression: '!variables.reserved || !variables.selected',
      messageExpression: `request.kind.kind + ' ' + variables.name + ' in namespace ' + request.namespace + ': the security baseline '`
        + ` + params.metadata.name + ' selects this namespace and gives one of its objects there this name; '`
        + ` + request.userInfo.username + ' may not create one under it (the operator would leave it alone, and the baseline\\'s`
        + ` control would stay out of the namespace). Choose another name'`,
      message: 'a name a security baseline uses for its objects in this namespace may be created by the operator only',
      reason: 'Forbidden',
    }],
  }, { paramRef: EVERY_BASELINE });
}

/** The third policy: the compliance Report's name is the operator's in every namespace. */
export function buildReportNamePolicy(): Record<string, unknown>[] {
  return apiPolicyAndBinding(REPORT_NAME_POLICY_NAME, {
    failurePolicy: 'Fail',
    matchConstraints: {
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: {},
      resourceRules: [{
        apiGroups: [groupOf(REPORTS.apiVersion)], apiVersions: ['*'], operations: ['CREATE'], resources: [REPORTS.plural], scope: 'Namespaced',
      }],
    },
    matchConditions: [{ name: 'the-report-name', expression: `object.metadata.?name.orValue('') == '${REPORT_NAME}'` }],
    validations: [{
      expression: MAY_WRITE_BASELINE_STATUS,
      messageExpression: `'Report ${REPORT_NAME} in namespace ' + request.namespace + ': the security baseline operator keeps its compliance Report`
        + ` under this name; ' + request.userInfo.username + ' may not create one under it (the operator would leave it alone). Choose another name'`,
      message: `the name ${REPORT_NAME} is the compliance Report's, which the operator alone may create`,
      reason: 'Forbidden',
    }],
  });
}

export function renderManagedObjectPolicy(): string {
  const header = [
    '# Generated by hack/managed-object-policy.ts (node hack/managed-object-policy.ts); do not edit.',
    '# Refuses to add, change or remove the ownership labels of an object a security baseline',
    '# manages, except to the operator and cluster administrators (who may write baselines\'',
    '# status): removing them with managedFields would detach the object. And reserves the names',
    '# of a baseline\'s objects in the namespaces it selects, and the compliance Report\'s in all,',
    '# for the operator. Installed with the CRD.',
  ];
  return yamlDocuments(header, [...buildManagedObjectPolicy(), ...buildManagedNamesPolicy(), ...buildReportNamePolicy()]);
}

if (isMain(import.meta.url)) await writeOrCheck(output, renderManagedObjectPolicy(), 'hack/managed-object-policy.ts');
