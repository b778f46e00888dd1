// Pieces the generated admission policies share: CEL, and what makes a policy
// take every SecurityBaseline as a parameter.
import { ALWAYS_EXCLUDED_NAMESPACES, OPERATOR_NAME } from '../src/api/constants.ts';
import { API_VERSION, GROUP, KIND, PLURAL } from '../src/api/types.ts';

/** CEL: the namespaces no baseline ever manages, as a list literal. */
export const ALWAYS_EXCLUDED_CEL = JSON.stringify([...ALWAYS_EXCLUDED_NAMESPACES]).replaceAll('"', "'");

/**
 * The spec fields of a policy evaluated once per SecurityBaseline (`params`).
 * Ignore, not Fail: right after an API server starts, a policy whose paramKind
 * is a custom resource fails to configure ("failed to find resource referenced
 * by paramKind") until the CRD is mapped, and with Fail it refused every request
 * it matches, the operator's own writes and other tools' alike, across the
 * cluster. The price: a request whose evaluation fails (such a window, or a CEL
 * cost limit) goes through unchecked. See README, Permissions.
 */
export const PER_BASELINE = { failurePolicy: 'Ignore', paramKind: { apiVersion: API_VERSION, kind: KIND } } as const;

/** The binding's paramRef for PER_BASELINE: every baseline; with none, nothing to check. */
export const EVERY_BASELINE = { selector: {}, parameterNotFoundAction: 'Allow' } as const;

/**
 * CEL: whether the label map `labels` satisfies the label selector `selector`
 * (both CEL expressions), exactly as matchesSelector in src/api/labelselector.ts:
 * matchLabels and matchExpressions ANDed, NotIn and DoesNotExist holding for a
 * missing key. test/cluster/namespace-label-policy.test.ts proves them equal.
 */
export function selectsCel(selector: string, labels: string): string {
  const valueIn = `(r.key in ${labels} && ${labels}[r.key] in r.?values.orValue([]))`;
  return `(${selector}.?matchLabels.orValue({}).all(k, k in ${labels} && ${labels}[k] == ${selector}.matchLabels[k])`
    + ` && ${selector}.?matchExpressions.orValue([]).all(r,`
    + ` r.operator == 'In' ? ${valueIn} : r.operator == 'NotIn' ? !${valueIn}`
    + ` : r.operator == 'Exists' ? r.key in ${labels} : r.operator == 'DoesNotExist' ? !(r.key in ${labels}) : false))`;
}

/**
 * CEL: whether the request's author may write baselines' status: the operator,
 * and cluster administrators. Policies that give them a free hand test it in a
 * matchCondition. In a policy with parameters that condition is evaluated once
 * per baseline too (the authorizer's answer is cached within the request, the
 * evaluation is not): keep the operator's frequent writes out of such policies
 * by their matchConstraints instead (hack/managed-object-policy.ts).
 */
export const MAY_WRITE_BASELINE_STATUS = `authorizer.group('${GROUP}').resource('${PLURAL}').subresource('status').check('patch').allowed()`;

/** The labels every object of the API's policies carries. */
export const API_POLICY_LABELS = { 'app.kubernetes.io/name': OPERATOR_NAME, 'app.kubernetes.io/part-of': OPERATOR_NAME };

/**
 * A ValidatingAdmissionPolicy of the API and its binding of the same name,
 * which denies what the policy refuses; `binding` adds to the binding's spec
 * (a paramRef).
 */
export function apiPolicyAndBinding(name: string, spec: Record<string, unknown>, binding: Record<string, unknown> = {}): Record<string, unknown>[] {
  return [
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name, labels: API_POLICY_LABELS }, spec },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name, labels: API_POLICY_LABELS },
      spec: { policyName: name, ...binding, validationActions: ['Deny'] },
    },
  ];
}
