// Writes crds/namespace-selection-policy.yaml: a ValidatingAdmissionPolicy that
// refuses to take a namespace out of a baseline by changing its labels, unless
// the author may change that baseline. `--check` fails when the file is out of
// date (the unit tests run it).
//
// A baseline selects namespaces by label. Whoever may patch a namespace (a
// tenant given `patch` on its own namespace, a self-service portal, a Capsule
// tenant owner) could remove the label a baseline selects by, and the operator
// would then remove the baseline's controls from it: its default deny, quota,
// image policy and Pod Security level, everything the baseline put there to
// hold that tenant. Which namespaces a baseline covers is part of the
// baseline, so taking one out needs the right to change the baseline: `patch`
// on that SecurityBaseline (its editors and authors, GitOps controllers,
// cluster administrators, and the operator, which writes namespace labels for
// Pod Security). Joining a baseline (it only adds controls), and every label
// change that leaves each baseline's selection as it was, go through.
//
// Each baseline is a parameter of the policy (paramKind SecurityBaseline, every
// baseline by selector): the API server evaluates the selector in CEL against
// the old and the new labels, as src/api/labelselector.ts does, and asks its
// authorizer only when the namespace would leave that baseline. Updates that
// change no label are not evaluated at all (matchConditions).
import path from 'node:path';
import { isMain, writeOrCheck, yamlDocuments } from './generated.ts';
import { ALWAYS_EXCLUDED_NAMESPACES, OPERATOR_NAME } from '../src/api/constants.ts';
import { API_VERSION, GROUP, KIND, PLURAL } from '../src/api/types.ts';

export const NAMESPACE_SELECTION_POLICY_NAME = 'security-baseline-namespace-selection';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const output = path.join(root, 'crds', 'namespace-selection-policy.yaml');
const labels = { 'app.kubernetes.io/name': OPERATOR_NAME, 'app.kubernetes.io/part-of': OPERATOR_NAME };

/** CEL: whether the label map named `labels` satisfies the baseline's selector (matchesSelector in src/api/labelselector.ts). */
function selects(labels: string): string {
  const selector = 'params.spec.namespaceSelector';
  const valueIn = `(r.key in ${labels} && ${labels}[r.key] in r.?values.orValue([]))`;
  return `(${selector}.?matchLabels.orValue({}).all(k, k in ${labels} && ${labels}[k] == ${selector}.matchLabels[k])`
    + ` && ${selector}.?matchExpressions.orValue([]).all(r,`
    + ` r.operator == 'In' ? ${valueIn} : r.operator == 'NotIn' ? !${valueIn}`
    + ` : r.operator == 'Exists' ? r.key in ${labels} : r.operator == 'DoesNotExist' ? !(r.key in ${labels}) : false))`;
}

export function buildNamespaceSelectionPolicy(): Record<string, unknown>[] {
  const excluded = JSON.stringify([...ALWAYS_EXCLUDED_NAMESPACES]).replaceAll('"', "'");
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: NAMESPACE_SELECTION_POLICY_NAME, labels },
      spec: {
        failurePolicy: 'Fail',
        paramKind: { apiVersion: API_VERSION, kind: KIND },
        // The API server's defaults spelt out (see hack/exception-policy.ts): matchConstraints is atomic for server-side apply.
        matchConstraints: {
          matchPolicy: 'Equivalent',
          namespaceSelector: {},
          objectSelector: {},
          resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces'], scope: '*' }],
        },
        matchConditions: [
          { name: 'labels-changed', expression: 'oldObject.metadata.?labels.orValue({}) != object.metadata.?labels.orValue({})' },
          { name: 'not-always-excluded', expression: `!(object.metadata.name in ${excluded})` },
        ],
        variables: [
          { name: 'oldLabels', expression: 'oldObject.metadata.?labels.orValue({})' },
          { name: 'newLabels', expression: 'object.metadata.?labels.orValue({})' },
          {
            name: 'leaves',
            expression: `!has(params.metadata.deletionTimestamp)`
              + ` && !(object.metadata.name in params.spec.?excludeNamespaces.orValue([]))`
              + ` && ${selects('variables.oldLabels')} && !${selects('variables.newLabels')}`,
          },
        ],
        validations: [{
          expression: `!variables.leaves || authorizer.group('${GROUP}').resource('${PLURAL}').name(params.metadata.name).check('patch').allowed()`,
          messageExpression: `'namespace ' + object.metadata.name + ' is selected by the security baseline ' + params.metadata.name`
            + ` + ': ' + request.userInfo.username + ' may not change its labels so that the baseline no longer selects it.`
            + ` Which namespaces a baseline covers is part of the baseline, so this needs patch on securitybaselines/'`
            + ` + params.metadata.name + ' (to take a namespace out, list it in the baseline\\'s excludeNamespaces)'`,
          message: 'a namespace may not be relabelled out of a security baseline by someone who may not change that baseline',
          reason: 'Forbidden',
        }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: NAMESPACE_SELECTION_POLICY_NAME, labels },
      spec: {
        policyName: NAMESPACE_SELECTION_POLICY_NAME,
        // Every baseline is a parameter; with none, there is nothing to leave.
        paramRef: { selector: {}, parameterNotFoundAction: 'Allow' },
        validationActions: ['Deny'],
      },
    },
  ];
}

export function renderNamespaceSelectionPolicy(): string {
  const header = [
    '# Generated by hack/namespace-selection-policy.ts (node hack/namespace-selection-policy.ts); do not edit.',
    '# Refuses a change of a namespace\'s labels that takes it out of a security baseline, unless',
    '# its author may patch that baseline: which namespaces a baseline covers is part of the',
    '# baseline. Installed with the CRD.',
  ];
  return yamlDocuments(header, buildNamespaceSelectionPolicy());
}

if (isMain(import.meta.url)) await writeOrCheck(output, renderNamespaceSelectionPolicy(), 'hack/namespace-selection-policy.ts');
