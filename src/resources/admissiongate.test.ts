import { describe, expect, test } from '@jest/globals';
import type { V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';
import fc from 'fast-check';
import type { SecurityBaseline, SecurityBaselineSpec } from '../api/types.ts';
import { ADMISSION_GATE_SUFFIX, appliedKeyPattern, buildAdmissionGate } from './admissiongate.ts';
import { SpecError } from './errors.ts';
import { celString, type ValidatingAdmissionPolicyBindingObject, type ValidatingAdmissionPolicyObject } from './imagepolicy.ts';

function baseline(spec: Partial<SecurityBaselineSpec>, name = 'tenants'): SecurityBaseline {
  return {
    apiVersion: 'security.baseline.dev/v1alpha1',
    kind: 'SecurityBaseline',
    metadata: { name },
    spec: { namespaceSelector: {}, ...spec },
  };
}

function build(name = 'tenants', spec: Partial<SecurityBaselineSpec> = {}) {
  const [policy, binding, ...rest] = buildAdmissionGate(baseline({ admissionGate: true, ...spec }, name), 'sbo-system');
  expect(rest).toEqual([]);
  return { policy: policy as ValidatingAdmissionPolicyObject, binding: binding as ValidatingAdmissionPolicyBindingObject };
}

/** The annotation as the operator writes it (see formatApplied in the namespace controller). */
function applied(record: Record<string, number>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b))));
}

/** RE2 and JavaScript agree on this pattern's syntax: a character class, \s, an escaped name. */
function gateOpens(baselineName: string, annotation: string): boolean {
  return new RegExp(appliedKeyPattern(baselineName)).test(annotation);
}

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,10}[a-z0-9])?$/);

describe('buildAdmissionGate', () => {
  test('nothing unless spec.admissionGate is true', () => {
    expect(buildAdmissionGate(baseline({ podSecurity: { enforce: 'restricted' } }), 'sbo-system')).toEqual([]);
    expect(buildAdmissionGate(baseline({ admissionGate: false }), 'sbo-system')).toEqual([]);
  });

  test('nothing in Audit mode: an Audit baseline is never applied, so its gate would never open', () => {
    expect(buildAdmissionGate(baseline({ admissionGate: true, mode: 'Audit' }), 'sbo-system')).toEqual([]);
    expect(buildAdmissionGate(baseline({ admissionGate: true, mode: 'Enforce' }), 'sbo-system')).toHaveLength(2);
  });

  test('a policy refusing pod creation until the annotation names the baseline, and its binding', () => {
    const { policy, binding } = build('tenants', { namespaceSelector: { matchLabels: { tenant: 'true' } }, excludeNamespaces: ['sandbox'] });
    const labels = { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' };
    const refusal = ' is being applied: pods are refused until it has been applied once. This refusal is temporary: retry in a few seconds.';
    expect(policy).toEqual({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: `security-baseline-tenants-${ADMISSION_GATE_SUFFIX}`, labels },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }] },
        validations: [{
          expression: 'has(namespaceObject.metadata.annotations)'
            + ' && "security.baseline.dev/applied" in namespaceObject.metadata.annotations'
            + ' && namespaceObject.metadata.annotations["security.baseline.dev/applied"].matches("[{,]\\\\s*\\"tenants\\"\\\\s*:")',
          messageExpression: `"the security baseline tenants of namespace " + request.namespace + ${JSON.stringify(refusal)}`,
          message: `the security baseline tenants of this namespace${refusal}`,
          reason: 'Forbidden',
        }],
      },
    });
    expect(binding).toEqual({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: 'security-baseline-tenants-gate', labels },
      spec: {
        policyName: 'security-baseline-tenants-gate',
        validationActions: ['Deny'],
        matchResources: {
          namespaceSelector: {
            matchLabels: { tenant: 'true' },
            matchExpressions: [{
              key: 'kubernetes.io/metadata.name', operator: 'NotIn',
              values: ['kube-system', 'kube-public', 'kube-node-lease', 'sbo-system', 'sandbox'],
            }],
          },
        },
      },
    });
    const typedPolicy: V1ValidatingAdmissionPolicy = policy;
    const typedBinding: V1ValidatingAdmissionPolicyBinding = binding;
    expect(typedBinding.spec?.policyName).toBe(typedPolicy.metadata?.name);
  });

  test('the pattern in the expression is the escaped name, as a valid CEL string', () => {
    const { policy } = build('ten.ants');
    expect(appliedKeyPattern('ten.ants')).toBe('[{,]\\s*"ten\\.ants"\\s*:');
    expect(policy.spec.validations[0]?.expression).toContain(`.matches(${celString(appliedKeyPattern('ten.ants'))})`);
  });

  test('an invalid baseline name is a SpecError', () => {
    expect(() => build('Tenants')).toThrow(SpecError);
  });
});

describe('appliedKeyPattern', () => {
  test('finds the baseline exactly among the keys the operator writes', () => {
    expect(gateOpens('tenants', applied({ tenants: 3, other: 1 }))).toBe(true);
    expect(gateOpens('tenants', applied({ other: 1 }))).toBe(false);
    expect(gateOpens('tenants', applied({ 'x-tenants': 1, 'tenants-x': 1, tenantsx: 2 }))).toBe(false);
    expect(gateOpens('ten.ants', applied({ tenXants: 1 }))).toBe(false);
    expect(gateOpens('ten.ants', applied({ 'ten.ants': 1 }))).toBe(true);
    expect(gateOpens('tenants', '{ "other" : 1 , "tenants" : 2 }')).toBe(true);
    expect(gateOpens('tenants', '{"other":"\\"tenants\\":"}')).toBe(false);
    expect(gateOpens('tenants', '')).toBe(false);
  });

  test('opens exactly when the baseline is a key of the annotation', () => {
    fc.assert(fc.property(dnsLabel, fc.dictionary(dnsLabel, fc.nat()), (name, record) => {
      expect(gateOpens(name, applied(record))).toBe(Object.hasOwn(record, name));
    }));
  });
});
