import { describe, expect, test } from '@jest/globals';
import type { V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';
import type { SecurityBaseline, SecurityBaselineSpec, WorkloadPolicySpec } from '../api/types.ts';
import { SpecError } from './errors.ts';
import {
  buildImagePolicy, imageReferenceVariables, podAndTemplateRules, podSpecVariables,
  type AdmissionObject, type ValidatingAdmissionPolicyBindingObject, type ValidatingAdmissionPolicyObject,
} from './imagepolicy.ts';
import { buildWorkloadPolicy } from './workloadpolicy.ts';

const LABELS = { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' };

function baseline(workloadPolicy: WorkloadPolicySpec | undefined, spec: Partial<SecurityBaselineSpec> = {}, name = 'tenants'): SecurityBaseline {
  return {
    apiVersion: 'security.baseline.dev/v1alpha1',
    kind: 'SecurityBaseline',
    metadata: { name },
    spec: { namespaceSelector: { matchLabels: { tenant: 'true' } }, ...(workloadPolicy ? { workloadPolicy } : {}), ...spec },
  };
}

function build(workloadPolicy: WorkloadPolicySpec, spec: Partial<SecurityBaselineSpec> = {}): AdmissionObject[] {
  return buildWorkloadPolicy(baseline(workloadPolicy, spec), 'sbo-system');
}

function policyNamed(objects: AdmissionObject[], name: string): ValidatingAdmissionPolicyObject {
  const found = objects.find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name === name);
  if (!found) throw new Error(`no policy ${name}`);
  return found as ValidatingAdmissionPolicyObject;
}

function variables(policy: ValidatingAdmissionPolicyObject): Record<string, string> {
  return Object.fromEntries((policy.spec.variables ?? []).map((v) => [v.name, v.expression]));
}

describe('buildWorkloadPolicy', () => {
  test('nothing without spec.workloadPolicy, or when it turns no rule on', () => {
    expect(buildWorkloadPolicy(baseline(undefined, { podSecurity: { enforce: 'restricted' } }), 'sbo-system')).toEqual([]);
    expect(build({ readOnlyRootFilesystem: false, disallowLatestTag: false, exec: { deny: false } })).toEqual([]);
    expect(build({ exec: {} })).toEqual([]);
  });

  test('each policy comes before its binding, which has the same name, is owned by the baseline and selects its namespaces', () => {
    const objects = build({ readOnlyRootFilesystem: true, exec: { deny: true } }, { excludeNamespaces: ['sandbox'] });
    expect(objects.map((o) => [o.kind, o.metadata.name])).toEqual([
      ['ValidatingAdmissionPolicy', 'security-baseline-tenants-workloads'],
      ['ValidatingAdmissionPolicyBinding', 'security-baseline-tenants-workloads'],
      ['ValidatingAdmissionPolicy', 'security-baseline-tenants-exec'],
      ['ValidatingAdmissionPolicyBinding', 'security-baseline-tenants-exec'],
    ]);
    for (const object of objects) expect(object.metadata).toEqual({ name: object.metadata.name, labels: LABELS });
    const binding = objects[1] as ValidatingAdmissionPolicyBindingObject;
    expect(binding.spec).toEqual({
      policyName: 'security-baseline-tenants-workloads',
      validationActions: ['Deny'],
      matchResources: {
        namespaceSelector: {
          matchLabels: { tenant: 'true' },
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'sbo-system', 'sandbox'] }],
        },
      },
    });
    // The client library's types accept them as they are.
    const typedPolicy: V1ValidatingAdmissionPolicy = objects[0] as ValidatingAdmissionPolicyObject;
    const typedBinding: V1ValidatingAdmissionPolicyBinding = binding;
    expect(typedPolicy.spec?.failurePolicy).toBe('Fail');
    expect(typedBinding.spec?.policyName).toBe(typedPolicy.metadata?.name);
  });

  test('in Audit mode every binding warns and records instead of refusing', () => {
    const objects = build({ readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true } }, { mode: 'Audit' });
    const bindings = objects.filter((o): o is ValidatingAdmissionPolicyBindingObject => o.kind === 'ValidatingAdmissionPolicyBinding');
    expect(bindings.map((b) => b.spec.validationActions)).toEqual([['Warn', 'Audit'], ['Warn', 'Audit']]);
    // The policies themselves are the same as in Enforce mode.
    const enforced = build({ readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true } });
    expect(objects.filter((o) => o.kind === 'ValidatingAdmissionPolicy')).toEqual(enforced.filter((o) => o.kind === 'ValidatingAdmissionPolicy'));
  });

  test('the container rules cover what the image policy covers, as one validation listing every problem', () => {
    const policy = policyNamed(build({ readOnlyRootFilesystem: true, disallowLatestTag: true }), 'security-baseline-tenants-workloads');
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.matchConstraints.resourceRules).toEqual(podAndTemplateRules());
    const images = buildImagePolicy(baseline(undefined, { imagePolicy: { allowedRegistries: ['ghcr.io/'] } }), 'sbo-system')[0] as ValidatingAdmissionPolicyObject;
    expect(policy.spec.matchConstraints).toEqual(images.spec.matchConstraints);
    expect(policy.spec.validations).toEqual([{
      expression: 'size(variables.problems) == 0',
      messageExpression: '"SecurityBaseline tenants: " + variables.problems.join("; ")',
      message: 'SecurityBaseline tenants requires securityContext.readOnlyRootFilesystem: true in every container'
        + ' and images with a tag other than latest, or a digest',
      reason: 'Forbidden',
    }]);
    // The image policy's own building blocks read the pod spec and the image references.
    expect(policy.spec.variables?.slice(0, 2)).toEqual(podSpecVariables());
    const vars = variables(policy);
    for (const step of imageReferenceVariables('variables.tagged', 2)) expect(vars[step.name]).toBe(step.expression);
  });

  test('only the rules turned on are checked, each naming the container and the rule', () => {
    const readOnly = variables(policyNamed(build({ readOnlyRootFilesystem: true }), 'security-baseline-tenants-workloads'));
    expect(Object.keys(readOnly)).toEqual(['podSpec', 'oldPodSpec', 'containersChanged', 'initContainersChanged', 'ephemeralContainersChanged', 'writable', 'problems']);
    expect(readOnly.problems).toBe('variables.writable.map(c, c + ": set securityContext.readOnlyRootFilesystem: true (workloadPolicy.readOnlyRootFilesystem)")');
    for (const noun of ['"container "', '"init container "', '"ephemeral container "']) expect(readOnly.writable).toContain(`${noun} + c.name`);
    expect(readOnly.writable).toMatch(/^has\(variables\.podSpec\.os\) && variables\.podSpec\.os\.name == "windows" \? \[\] : /);

    const pinned = variables(policyNamed(build({ disallowLatestTag: true }), 'security-baseline-tenants-workloads'));
    expect(Object.keys(pinned)).toEqual([
      'podSpec', 'oldPodSpec', 'containersChanged', 'initContainersChanged', 'ephemeralContainersChanged', 'tagged', 'parts', 'located', 'refs', 'unpinned', 'problems',
    ]);
    expect(pinned.problems).toContain('r[1] + ": image " + (r[0] == r[2] ? r[0] : r[0] + " (" + r[2] + ")") + " is tagged latest;'
      + ' use a tag other than latest, or a digest (workloadPolicy.disallowLatestTag)"');
    expect(pinned.tagged).toContain('variables.initContainersChanged.filter(c, has(c.image)).map(c, [string(c.image), "init container " + c.name])');
  });

  test('an update is checked only for the containers it adds or changes', () => {
    const vars = variables(policyNamed(build({ readOnlyRootFilesystem: true }), 'security-baseline-tenants-workloads'));
    expect(vars.ephemeralContainersChanged).toBe(
      '(has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])'
      + '.filter(c, !(c in (has(variables.oldPodSpec.ephemeralContainers) ? variables.oldPodSpec.ephemeralContainers : [])))',
    );
  });

  test('exec: CONNECT on exec, attach and port-forward, refused unless the user is in an allowed group', () => {
    const policy = policyNamed(build({ exec: { deny: true, allowGroups: ['sre', 'on "call"', 'sre'] } }), 'security-baseline-tenants-exec');
    expect(policy.spec.matchConstraints).toEqual({
      resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CONNECT'], resources: ['pods/attach', 'pods/exec', 'pods/portforward'] }],
    });
    expect(policy.spec.variables).toEqual([{ name: 'allowedGroups', expression: '["sre", "on \\"call\\""]' }]);
    expect(policy.spec.validations).toEqual([{
      expression: 'has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in variables.allowedGroups)',
      messageExpression: '"SecurityBaseline tenants denies exec, attach and port-forward (workloadPolicy.exec.deny): " + request.userInfo.username'
        + ' + " may not use pods/" + request.subResource + " on pod " + request.name + " in namespace " + request.namespace'
        + ' + "; only members of sre, on \\"call\\" may"',
      message: 'SecurityBaseline tenants denies exec, attach and port-forward (workloadPolicy.exec.deny); only members of sre, on "call" may',
      reason: 'Forbidden',
    }]);
  });

  test('exec without allowGroups refuses everyone', () => {
    const policy = policyNamed(build({ exec: { deny: true } }), 'security-baseline-tenants-exec');
    expect(policy.spec.variables).toEqual([{ name: 'allowedGroups', expression: '[]' }]);
    expect(policy.spec.validations[0]?.message).toBe('SecurityBaseline tenants denies exec, attach and port-forward (workloadPolicy.exec.deny)');
    expect(policy.spec.validations[0]?.messageExpression).toMatch(/" in namespace " \+ request\.namespace$/);
  });

  test('networkPolicies: creating a NetworkPolicy or changing its spec, refused unless the user is in an allowed group or may act as the operator', () => {
    const objects = build({ networkPolicies: { deny: true, allowGroups: ['network-admins', 'network-admins'] } });
    expect(objects.map((o) => [o.kind, o.metadata.name])).toEqual([
      ['ValidatingAdmissionPolicy', 'security-baseline-tenants-networkpolicies'],
      ['ValidatingAdmissionPolicyBinding', 'security-baseline-tenants-networkpolicies'],
    ]);
    const policy = policyNamed(objects, 'security-baseline-tenants-networkpolicies');
    expect(policy.spec.failurePolicy).toBe('Fail');
    // Not DELETE: removing a policy of one's own only takes an allow away.
    expect(policy.spec.matchConstraints).toEqual({
      resourceRules: [{ apiGroups: ['networking.k8s.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['networkpolicies'] }],
    });
    expect(policy.spec.variables).toEqual([{ name: 'allowedGroups', expression: '["network-admins"]' }]);
    expect(policy.spec.validations).toEqual([{
      expression: '(request.operation == "UPDATE" && object.spec == oldObject.spec)'
        + ' || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in variables.allowedGroups))'
        + ' || authorizer.group("security.baseline.dev").resource("securitybaselines").subresource("status").check("patch").allowed()',
      messageExpression: '"SecurityBaseline tenants keeps the NetworkPolicies of this namespace to its own (workloadPolicy.networkPolicies.deny): "'
        + ' + request.userInfo.username + " may not " + (request.operation == "CREATE" ? "create" : "change the spec of") + " NetworkPolicy "'
        + ' + request.name + " in namespace " + request.namespace'
        + ' + "; only members of network-admins may; to allow more traffic, change the baseline or ask for a BaselineException"',
      message: 'SecurityBaseline tenants keeps the NetworkPolicies of this namespace to its own (workloadPolicy.networkPolicies.deny)'
        + '; only members of network-admins may; to allow more traffic, change the baseline or ask for a BaselineException',
      reason: 'Forbidden',
    }]);
    expect(build({ networkPolicies: { deny: false, allowGroups: ['network-admins'] } })).toEqual([]);
  });

  test('an invalid baseline name is a SpecError, not an invalid object', () => {
    expect(() => buildWorkloadPolicy(baseline({ exec: { deny: true } }, {}, 'Tenants'), 'sbo-system')).toThrow(SpecError);
  });

  test('deterministic', () => {
    const spec: WorkloadPolicySpec = { readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true, allowGroups: ['sre'] } };
    expect(build(spec)).toEqual(build(spec));
  });
});
