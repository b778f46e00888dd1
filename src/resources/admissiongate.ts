// The admission gate `security-baseline-<baseline>-gate`: a ValidatingAdmissionPolicy
// and its binding with which the API server refuses to create pods in a selected
// namespace until the operator has applied the baseline there once, so that no
// workload starts before its NetworkPolicies, quota and RoleBindings exist.
//
// The operator records what it applied in the namespace annotation
// `security.baseline.dev/applied`, JSON such as {"tenants":3,"other":1}; the
// policy reads the namespace through `namespaceObject`. CEL in the API server
// cannot parse JSON, so the policy looks for the key as text: `"<baseline>"` then
// `:`, right after `{` or `,` (whitespace allowed). Baseline names are DNS
// subdomains (no quotes, colons or braces) and the values are numbers, so the
// text is there exactly when the baseline is a key: `"tenants":` is not found in
// `{"x-tenants":1}`, and the anchoring also ignores it inside a string value,
// should the annotation ever hold one.

import { APPLIED_ANNOTATION } from '../api/constants.ts';
import type { SecurityBaseline } from '../api/types.ts';
import { admissionObjectName, celString, exceptIn, policyAndBinding } from './imagepolicy.ts';
import type { AdmissionObject } from './imagepolicy.ts';

export const ADMISSION_GATE_SUFFIX = 'gate';

/**
 * The policy and binding for `spec.admissionGate: true` in Enforce mode, or
 * nothing otherwise: an Audit baseline is never applied, so its gate would never
 * open, and a warning on every pod would say nothing about the pod.
 * `operatorNamespace` is excluded from the binding like kube-system (the
 * operator's own pods must start for the gate ever to open); `openIn` are the
 * namespaces where a BaselineException switches the gate off.
 */
export function buildAdmissionGate(baseline: SecurityBaseline, operatorNamespace: string, openIn: readonly string[] = []): AdmissionObject[] {
  if (baseline.spec.admissionGate !== true || baseline.spec.mode === 'Audit') return [];
  const baselineName = baseline.metadata.name;
  const name = admissionObjectName(baselineName, ADMISSION_GATE_SUFFIX);
  const annotations = 'namespaceObject.metadata.annotations';
  const annotation = celString(APPLIED_ANNOTATION);
  const refusal = ' is being applied: pods are refused until it has been applied once. This refusal is temporary: retry in a few seconds.';

  return policyAndBinding(baseline, name, operatorNamespace, {
    matchConstraints: {
      resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
    },
    validations: [{
      // Open where a BaselineException switches the gate off (see resources/exception.ts).
      expression: exceptIn(openIn, `has(${annotations}) && ${annotation} in ${annotations}`
        + ` && ${annotations}[${annotation}].matches(${celString(appliedKeyPattern(baselineName))})`),
      messageExpression: `${celString(`the security baseline ${baselineName} of namespace `)} + request.namespace + ${celString(refusal)}`,
      message: `the security baseline ${baselineName} of this namespace${refusal}`,
      reason: 'Forbidden',
    }],
  });
}

/** An RE2 pattern that finds `"<baseline>":` as a key of the applied annotation's JSON object. */
export function appliedKeyPattern(baseline: string): string {
  return `[{,]\\s*"${baseline.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}"\\s*:`;
}
