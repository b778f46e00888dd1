// Writes crds/namespace-label-policy.yaml: a ValidatingAdmissionPolicy that
// keeps the labels a baseline reads of a namespace the baseline's. `--check`
// fails when the file is out of date (the unit tests run it).
//
// A baseline reads two things of a namespace's labels: whether its selector
// selects the namespace, and the subjects its RoleBindings name by
// `${label:KEY}`. Whoever may patch a namespace (a tenant given `patch` on its
// own namespace, a self-service portal, a multi-tenancy tool's tenant owner)
// could otherwise
// - take the namespace out of the baseline, by removing the label it selects
//   by or adding one it excludes: the operator would remove the baseline's
//   default deny, quota, image policy and Pod Security level from it;
// - choose who the baseline grants access to there, by setting a label a
//   subject names (or by bringing a namespace whose label they set earlier
//   under the baseline): the operator would bind the baseline's ClusterRole to
//   whichever group they name, themselves included, a grant they could not
//   make directly;
// - and lower the Pod Security level a baseline sets: the operator would put
//   it back within a second, but a pod created in that second stays.
// All three are changes to what the baseline does, so they need the right to
// change the baseline: `patch` on that SecurityBaseline (its editors and
// authors, GitOps controllers, cluster administrators, and the operator, which
// writes the Pod Security labels). Every other label change goes through, and
// so does joining a baseline that names no subject by label (it only adds
// controls).
//
// A second policy keeps the operator's own annotations on namespaces
// (`security.baseline.dev/applied` and `/exceptions`) the operator's: the
// admission gate opens, and each admission policy of an older revision
// applies, by what `applied` says, so whoever could write it could open the
// gate early or put a namespace under a revision with a looser image policy.
// Only those who may write baselines' status (the operator, cluster
// administrators) may add, change or remove them, at creation too.
//
// Each baseline is a parameter of the policy (paramKind SecurityBaseline, every
// baseline by selector): the API server evaluates the selector in CEL against
// the old and the new labels, as src/api/labelselector.ts does, and asks its
// authorizer only when a change concerns that baseline. Updates that change no
// label, and those of whoever may write baselines' status (the operator,
// cluster administrators), are let through by matchConditions before the
// validations; but the API server evaluates those conditions once per
// baseline too, so every namespace update, the operator's included, costs one
// evaluation per baseline (docs/performance.md, *An eleventh session*).
import path from 'node:path';
import { ALWAYS_EXCLUDED_CEL, apiPolicyAndBinding, EVERY_BASELINE, MAY_WRITE_BASELINE_STATUS, PER_BASELINE, selectsCel } from './policy-parts.ts';
import { isMain, writeOrCheck, yamlDocuments } from './generated.ts';
import { APPLIED_ANNOTATION, EXCEPTIONS_ANNOTATION } from '../src/api/constants.ts';
import { GROUP, PLURAL } from '../src/api/types.ts';
import { POD_SECURITY_LABEL_PREFIX } from '../src/resources/podsecurity.ts';

export const NAMESPACE_LABEL_POLICY_NAME = 'security-baseline-namespace-labels';
export const NAMESPACE_ANNOTATION_POLICY_NAME = 'security-baseline-namespace-annotations';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const output = path.join(root, 'crds', 'namespace-label-policy.yaml');

/** CEL: whether the label map named `labels` satisfies the baseline's selector. */
const selects = (labels: string): string => selectsCel('params.spec.namespaceSelector', labels);

/** CEL: whether a subject of the baseline's RoleBindings names the label `key` (src/resources/template.ts). */
function namesLabel(key: string): string {
  const placeholder = `'\${label:' + ${key} + '}'`;
  return `params.spec.?roleBindings.orValue([]).exists(rb, rb.?subjects.orValue([]).exists(s,`
    + ` s.name.contains(${placeholder}) || s.?namespace.orValue('').contains(${placeholder})))`;
}

const mayChangeBaseline = `authorizer.group('${GROUP}').resource('${PLURAL}').name(params.metadata.name).check('patch').allowed()`;
const toTakeOut = `' (to take a namespace out, list it in the baseline\\'s excludeNamespaces)'`;

export function buildNamespaceLabelPolicy(): Record<string, unknown>[] {
  return apiPolicyAndBinding(NAMESPACE_LABEL_POLICY_NAME, {
    ...PER_BASELINE,
    // The API server's defaults spelt out (see hack/exception-policy.ts): matchConstraints is atomic for server-side apply.
    matchConstraints: {
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: {},
      resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces'], scope: '*' }],
    },
    matchConditions: [
      { name: 'labels-changed', expression: 'oldObject.metadata.?labels.orValue({}) != object.metadata.?labels.orValue({})' },
      { name: 'not-always-excluded', expression: `!(object.metadata.name in ${ALWAYS_EXCLUDED_CEL})` },
      // The operator (and cluster administrators) may patch every baseline anyway: its own namespace writes cost one check.
      { name: 'not-the-operator', expression: `!${MAY_WRITE_BASELINE_STATUS}` },
    ],
    variables: [
      { name: 'oldLabels', expression: 'oldObject.metadata.?labels.orValue({})' },
      { name: 'newLabels', expression: 'object.metadata.?labels.orValue({})' },
      {
        name: 'changedKeys',
        expression: 'variables.oldLabels.filter(k, !(k in variables.newLabels) || variables.newLabels[k] != variables.oldLabels[k])'
          + ' + variables.newLabels.filter(k, !(k in variables.oldLabels))',
      },
      {
        name: 'applies',
        expression: '!has(params.metadata.deletionTimestamp) && !(object.metadata.name in params.spec.?excludeNamespaces.orValue([]))',
      },
      { name: 'selectedBefore', expression: `variables.applies && ${selects('variables.oldLabels')}` },
      { name: 'selectedAfter', expression: `variables.applies && ${selects('variables.newLabels')}` },
      { name: 'leaves', expression: 'variables.selectedBefore && !variables.selectedAfter' },
      // Audit baselines create nothing, so they grant nothing and set no Pod Security level.
      { name: 'enforcing', expression: `params.spec.?mode.orValue('Enforce') == 'Enforce'` },
      {
        name: 'choosesSubjects',
        expression: 'variables.selectedAfter && variables.enforcing'
          + ` && (variables.selectedBefore ? variables.changedKeys.exists(k, ${namesLabel('k')})`
          + ` : variables.newLabels.exists(k, ${namesLabel('k')}))`,
      },
      {
        name: 'changesPodSecurity',
        expression: `variables.selectedBefore && variables.selectedAfter && variables.enforcing && has(params.spec.podSecurity)`
          + ` && variables.changedKeys.exists(k, k.startsWith('${POD_SECURITY_LABEL_PREFIX}'))`,
      },
    ],
    validations: [
      {
        expression: `!variables.leaves || ${mayChangeBaseline}`,
        messageExpression: `'namespace ' + object.metadata.name + ' is selected by the security baseline ' + params.metadata.name`
          + ` + ': ' + request.userInfo.username + ' may not change its labels so that the baseline no longer selects it.`
          + ` Which namespaces a baseline covers is part of the baseline, so this needs patch on securitybaselines/'`
          + ` + params.metadata.name + ${toTakeOut}`,
        message: 'a namespace may not be relabelled out of a security baseline by someone who may not change that baseline',
        reason: 'Forbidden',
      },
      {
        expression: `!variables.choosesSubjects || ${mayChangeBaseline}`,
        messageExpression: `'namespace ' + object.metadata.name + ': the security baseline ' + params.metadata.name`
          + ` + ' binds roles there to subjects its labels name (\${label:KEY}); ' + request.userInfo.username`
          + ` + ' may not change those labels, or bring the namespace under the baseline with them set.`
          + ` Who a baseline grants access to is part of the baseline, so this needs patch on securitybaselines/'`
          + ` + params.metadata.name`,
        message: 'the labels a security baseline names subjects by may not be changed by someone who may not change that baseline',
        reason: 'Forbidden',
      },
      {
        expression: `!variables.changesPodSecurity || ${mayChangeBaseline}`,
        messageExpression: `'namespace ' + object.metadata.name + ': the security baseline ' + params.metadata.name`
          + ` + ' sets its Pod Security labels (${POD_SECURITY_LABEL_PREFIX}*); ' + request.userInfo.username`
          + ` + ' may not change them. The baseline\\'s podSecurity decides them, so this needs patch on securitybaselines/'`
          + ` + params.metadata.name`,
        message: 'the Pod Security labels a security baseline sets may not be changed by someone who may not change that baseline',
        reason: 'Forbidden',
      },
    ],
  }, { paramRef: EVERY_BASELINE });
}

/** The second policy: the operator's annotations on namespaces. */
function buildNamespaceAnnotationPolicy(): Record<string, unknown>[] {
  const annotationKeys = [APPLIED_ANNOTATION, EXCEPTIONS_ANNOTATION];
  const value = (annotations: string, key: string) => `${annotations}[?'${key}'].orValue('')`;
  const kept = annotationKeys.map((key) => `${value('variables.oldAnnotations', key)} == ${value('variables.newAnnotations', key)}`).join(' && ');
  return apiPolicyAndBinding(NAMESPACE_ANNOTATION_POLICY_NAME, {
    failurePolicy: 'Fail',
    matchConstraints: {
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: {},
      resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['namespaces'], scope: '*' }],
    },
    variables: [
      { name: 'oldAnnotations', expression: `oldObject == null ? {} : oldObject.metadata.?annotations.orValue({})` },
      { name: 'newAnnotations', expression: 'object.metadata.?annotations.orValue({})' },
    ],
    validations: [{
      expression: `(${kept}) || ${MAY_WRITE_BASELINE_STATUS}`,
      messageExpression: `'namespace ' + object.metadata.name + ': ' + request.userInfo.username`
        + ` + ' may not add, change or remove the annotations ${annotationKeys.join(' and ')}: the security baseline operator`
        + ` writes them, and the admission gate and the policies of each baseline revision read them'`,
      message: `the annotations ${annotationKeys.join(' and ')} of a namespace are written by the security baseline operator only`,
      reason: 'Forbidden',
    }],
  });
}

export function renderNamespaceLabelPolicy(): string {
  const header = [
    '# Generated by hack/namespace-label-policy.ts (node hack/namespace-label-policy.ts); do not edit.',
    '# Refuses a change of a namespace\'s labels that takes it out of a security baseline, or',
    '# changes whom the baseline grants access to there (subjects named by ${label:KEY}) or the',
    '# Pod Security level it sets, unless its author may patch that baseline; and any change of',
    '# the operator\'s annotations on namespaces but by the operator and cluster administrators.',
    '# Installed with the CRD.',
  ];
  return yamlDocuments(header, [...buildNamespaceLabelPolicy(), ...buildNamespaceAnnotationPolicy()]);
}

if (isMain(import.meta.url)) await writeOrCheck(output, renderNamespaceLabelPolicy(), 'hack/namespace-label-policy.ts');
