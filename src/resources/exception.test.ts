import { describe, expect, test } from '@jest/globals';
import type { BaselineExceptionSpec, RelaxSpec } from '../api/exception.ts';
import type { SecurityBaseline, SecurityBaselineSpec } from '../api/types.ts';
import { buildAdmissionGate } from './admissiongate.ts';
import {
  admissionRelaxations, evaluateException, exceptionsFor, exceptionsInEffect, relaxBaseline, relaxProblems, type ExceptionLike,
} from './exception.ts';
import { buildImagePolicy, type ValidatingAdmissionPolicyObject } from './imagepolicy.ts';
import { buildBaseline } from './index.ts';
import { buildWorkloadPolicy } from './workloadpolicy.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const LATER = '2026-06-15T00:00:00Z';

const TENANTS: SecurityBaselineSpec = {
  namespaceSelector: { matchLabels: { tenant: 'true' } },
  networkPolicy: { defaultDeny: ['Ingress', 'Egress'], allowDNS: true },
  resourceQuota: { hard: { pods: '4', 'requests.memory': '1Gi' } },
  podSecurity: { enforce: 'restricted' },
  imagePolicy: { allowedRegistries: ['registry.example.com/'] },
  admissionGate: true,
};

function baseline(spec: Partial<SecurityBaselineSpec> = {}, name = 'tenants'): SecurityBaseline {
  return { apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name }, spec: { ...TENANTS, ...spec } };
}

function exception(name: string, relax: RelaxSpec, spec: Partial<BaselineExceptionSpec> = {}): ExceptionLike {
  return {
    metadata: { name, annotations: { 'security.baseline.dev/created-by': 'alice' } },
    spec: { baseline: 'tenants', namespaces: ['team-a'], reason: 'CHG-1', expiresAt: LATER, relax, ...spec },
  };
}

const EGRESS = { to: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ port: 443, protocol: 'TCP' as const }] };

describe('exceptionsFor', () => {
  test('keeps the exceptions of the baseline that name the namespace and have not expired, by name', () => {
    const all = [
      exception('b', { resourceQuota: { hard: { pods: '8' } } }),
      exception('a', { resourceQuota: { hard: { pods: '8' } } }),
      exception('other-baseline', { resourceQuota: { hard: { pods: '8' } } }, { baseline: 'other' }),
      exception('other-namespace', { resourceQuota: { hard: { pods: '8' } } }, { namespaces: ['team-b'] }),
      exception('expired', { resourceQuota: { hard: { pods: '8' } } }, { expiresAt: '2026-05-31T23:59:59Z' }),
    ];
    expect(exceptionsFor(all, 'tenants', 'team-a', NOW).map((e) => e.metadata.name)).toEqual(['a', 'b']);
  });

  test('an exception ends at expiresAt exactly, not a moment later', () => {
    const ending = exception('x', { resourceQuota: { hard: { pods: '8' } } }, { expiresAt: '2026-06-01T00:00:00Z' });
    expect(exceptionsFor([ending], 'tenants', 'team-a', NOW - 1)).toHaveLength(1);
    expect(exceptionsFor([ending], 'tenants', 'team-a', NOW)).toHaveLength(0);
  });
});

describe('relaxProblems', () => {
  const problems = (relax: RelaxSpec, spec: Partial<SecurityBaselineSpec> = {}) =>
    relaxProblems('tenants', baseline(spec).spec, relax).map(({ field, reason }) => `${reason} ${field}`);

  test('accepts a relax that only loosens controls the baseline sets', () => {
    expect(problems({
      podSecurity: { enforce: 'privileged' }, imagePolicy: { allowedRegistries: ['quay.io/vendor/'] }, networkPolicy: { egress: [EGRESS] },
      resourceQuota: { hard: { pods: '20', 'requests.memory': '1024Mi' } }, admissionGate: false,
    })).toEqual([]);
    expect(problems({ workloadPolicy: { exec: { deny: false } } }, { workloadPolicy: { exec: { deny: true } } })).toEqual([]);
  });

  test('a tightening relax names the field', () => {
    expect(problems({ podSecurity: { enforce: 'restricted' } }, { podSecurity: { enforce: 'baseline' } })).toEqual(['RelaxTightens spec.relax.podSecurity.enforce']);
    expect(problems({ resourceQuota: { hard: { pods: '2', 'requests.memory': '2Gi' } } })).toEqual(['RelaxTightens spec.relax.resourceQuota.hard[pods]']);
    expect(problems({ admissionGate: true })).toEqual(['RelaxTightens spec.relax.admissionGate']);
    expect(problems({ workloadPolicy: { exec: { deny: true } } }, { workloadPolicy: { exec: { deny: true } } })).toEqual(['RelaxTightens spec.relax.workloadPolicy.exec.deny']);
    const [message] = relaxProblems('tenants', baseline().spec, { resourceQuota: { hard: { pods: '2' } } }).map((p) => p.message);
    expect(message).toBe('spec.relax.resourceQuota.hard[pods]: 2 is lower than the 4 of baseline tenants; a relax only loosens');
  });

  test('a control the baseline does not set names the field', () => {
    const none = { networkPolicy: undefined, resourceQuota: undefined, podSecurity: undefined, imagePolicy: undefined, admissionGate: undefined };
    expect(problems({
      podSecurity: { enforce: 'baseline' }, imagePolicy: { allowedRegistries: ['quay.io/'] }, networkPolicy: { egress: [EGRESS] },
      resourceQuota: { hard: { pods: '8' } }, admissionGate: false,
    }, none)).toEqual([
      'ControlNotSet spec.relax.podSecurity', 'ControlNotSet spec.relax.imagePolicy', 'ControlNotSet spec.relax.networkPolicy',
      'ControlNotSet spec.relax.resourceQuota', 'ControlNotSet spec.relax.admissionGate',
    ]);
    expect(problems({ resourceQuota: { hard: { 'limits.cpu': '8' } } })).toEqual(['ControlNotSet spec.relax.resourceQuota.hard[limits.cpu]']);
    // exec.deny off where the baseline does not deny exec (no workloadPolicy, another rule only, or deny false).
    for (const workloadPolicy of [undefined, { readOnlyRootFilesystem: true }, { exec: { deny: false, allowGroups: ['sre'] } }]) {
      expect(problems({ workloadPolicy: { exec: { deny: false } } }, { workloadPolicy })).toEqual(['ControlNotSet spec.relax.workloadPolicy']);
    }
    const [execMessage] = relaxProblems('tenants', baseline().spec, { workloadPolicy: { exec: { deny: false } } }).map((p) => p.message);
    expect(execMessage).toBe('spec.relax.workloadPolicy: baseline tenants sets no workloadPolicy.exec.deny, so there is nothing to relax');
    expect(problems({ networkPolicy: { ingress: [{}] } }, { networkPolicy: { defaultDeny: ['Egress'] } })).toEqual(['ControlNotSet spec.relax.networkPolicy.ingress']);
  });

  test('malformed values are refused as the baseline\'s own would be', () => {
    expect(problems({ imagePolicy: { allowedRegistries: ['quay.io'] } })).toEqual(['InvalidRelax spec.relax.imagePolicy.allowedRegistries[0]']);
    expect(problems({ networkPolicy: { egress: [{ to: [{}] }] } })).toEqual(['InvalidRelax spec.relax.networkPolicy.egress[0].to[0]']);
    expect(problems({ resourceQuota: { hard: { pods: 'many' } } })).toEqual(['InvalidRelax spec.relax.resourceQuota.hard[pods]']);
    expect(problems({})).toEqual(['InvalidRelax spec.relax']);
  });
});

describe('relaxBaseline', () => {
  test('without exceptions the baseline is returned as it is', () => {
    const tenants = baseline();
    expect(relaxBaseline(tenants, [])).toEqual({ baseline: tenants, applied: [] });
  });

  test('loosens each control, keeping Pod Security audit and warn at the baseline\'s level and the default deny', () => {
    const { baseline: relaxed, applied } = relaxBaseline(baseline(), [
      exception('psa', { podSecurity: { enforce: 'baseline' } }),
      exception('more', { podSecurity: { enforce: 'privileged' }, resourceQuota: { hard: { pods: '20' } }, networkPolicy: { egress: [EGRESS] } }),
      exception('less', { resourceQuota: { hard: { pods: '10' } }, imagePolicy: { allowedRegistries: ['quay.io/vendor/'] }, admissionGate: false }),
    ]);
    expect(applied).toEqual(['psa', 'more', 'less']);
    expect(relaxed.spec.podSecurity).toEqual({ enforce: 'privileged', audit: 'restricted', warn: 'restricted' });
    expect(relaxed.spec.resourceQuota).toEqual({ hard: { pods: '20', 'requests.memory': '1Gi' } });
    expect(relaxed.spec.networkPolicy).toEqual({ defaultDeny: ['Ingress', 'Egress'], allowDNS: true, egress: [EGRESS] });
    expect(relaxed.spec.imagePolicy?.allowedRegistries).toEqual(['registry.example.com/', 'quay.io/vendor/']);
    expect(relaxed.spec.admissionGate).toBe(false);
    const exec = relaxBaseline(baseline({ workloadPolicy: { exec: { deny: true, allowGroups: ['sre'] }, readOnlyRootFilesystem: true } }), [
      exception('incident', { workloadPolicy: { exec: { deny: false } } }),
    ]);
    expect(exec.baseline.spec.workloadPolicy).toEqual({ exec: { deny: false, allowGroups: ['sre'] }, readOnlyRootFilesystem: true });

    const build = buildBaseline(relaxed, { name: 'team-a', labels: {} });
    expect(build.podSecurity?.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'restricted' });
    const deny = build.objects.find((o) => o.kind === 'NetworkPolicy') as unknown as { spec: { policyTypes: string[]; egress: unknown[] } };
    expect(deny.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(deny.spec.egress).toHaveLength(2);
  });

  test('skips an exception that is invalid against this revision of the baseline, and applies the others', () => {
    const { baseline: relaxed, applied } = relaxBaseline(baseline({ podSecurity: { enforce: 'baseline' } }), [
      exception('tightens', { podSecurity: { enforce: 'restricted' } }),
      exception('quota', { resourceQuota: { hard: { pods: '6' } } }),
    ]);
    expect(applied).toEqual(['quota']);
    expect(relaxed.spec.podSecurity).toEqual({ enforce: 'baseline' });
  });

  test('does not touch the baseline it was given', () => {
    const tenants = baseline();
    const before = JSON.stringify(tenants);
    relaxBaseline(tenants, [exception('quota', { resourceQuota: { hard: { pods: '6' } }, networkPolicy: { egress: [EGRESS] } })]);
    expect(JSON.stringify(tenants)).toBe(before);
  });
});

describe('admission relaxations', () => {
  const exceptions = [
    exception('images', { imagePolicy: { allowedRegistries: ['quay.io/vendor/', 'ghcr.io/vendor/'] } }, { namespaces: ['team-a', 'team-b'] }),
    exception('gate', { admissionGate: false }, { namespaces: ['team-c'] }),
    exception('incident', { workloadPolicy: { exec: { deny: false } } }, { namespaces: ['team-b', 'team-e'] }),
    exception('other', { imagePolicy: { allowedRegistries: ['evil.example/'] } }, { baseline: 'other' }),
    exception('invalid', { imagePolicy: { allowedRegistries: ['quay.io/x/'] }, podSecurity: { enforce: 'restricted' } }, { namespaces: ['team-d'] }),
  ];

  test('per namespace, from the valid exceptions of this baseline only', () => {
    expect(admissionRelaxations(baseline({ podSecurity: { enforce: 'baseline' }, workloadPolicy: { exec: { deny: true } } }), exceptions)).toEqual({
      registries: { 'team-a': ['ghcr.io/vendor/', 'quay.io/vendor/'], 'team-b': ['ghcr.io/vendor/', 'quay.io/vendor/'] },
      gateOpen: ['team-c'],
      execOpen: ['team-b', 'team-e'],
      imageExceptions: ['images'],
      gateExceptions: ['gate'],
      execExceptions: ['incident'],
    });
    // Not valid against a baseline that does not deny exec: nothing opens.
    expect(admissionRelaxations(baseline({ podSecurity: { enforce: 'baseline' } }), exceptions)).toMatchObject({ execOpen: [], execExceptions: [] });
  });

  test('reach the image policy and the gate only where they apply; without them the policies are as before', () => {
    const tenants = baseline({ podSecurity: { enforce: 'baseline' } });
    const plain = buildImagePolicy(tenants, 'sbo-system')[0] as ValidatingAdmissionPolicyObject;
    const { registries, gateOpen } = admissionRelaxations(tenants, exceptions);
    const relaxed = buildImagePolicy(tenants, 'sbo-system', registries)[0] as ValidatingAdmissionPolicyObject;
    expect(relaxed.spec.variables?.slice(0, 2)).toEqual([
      { name: 'exceptedRegistries', expression: '{"team-a": ["ghcr.io/vendor/", "quay.io/vendor/"], "team-b": ["ghcr.io/vendor/", "quay.io/vendor/"]}' },
      {
        name: 'allowed',
        expression: '["registry.example.com/"] + (request.namespace in variables.exceptedRegistries ? variables.exceptedRegistries[request.namespace] : [])',
      },
    ]);
    expect(relaxed.spec.variables?.slice(2)).toEqual(plain.spec.variables?.slice(1));
    expect(buildImagePolicy(tenants, 'sbo-system', {})).toEqual(buildImagePolicy(tenants, 'sbo-system'));
    // A prefix the baseline already allows adds nothing.
    expect(buildImagePolicy(tenants, 'sbo-system', { 'team-a': ['registry.example.com/'] })).toEqual(buildImagePolicy(tenants, 'sbo-system'));

    const gate = buildAdmissionGate(tenants, 'sbo-system', gateOpen)[0] as ValidatingAdmissionPolicyObject;
    expect(gate.spec.validations[0]?.expression).toMatch(/^request\.namespace in \["team-c"\] \|\| has\(namespaceObject/);
    expect(buildAdmissionGate(tenants, 'sbo-system', [])).toEqual(buildAdmissionGate(tenants, 'sbo-system'));

    const denying = baseline({ podSecurity: { enforce: 'baseline' }, workloadPolicy: { exec: { deny: true, allowGroups: ['sre'] } } });
    const plainExec = buildWorkloadPolicy(denying, 'sbo-system')[0] as ValidatingAdmissionPolicyObject;
    const openExec = buildWorkloadPolicy(denying, 'sbo-system', admissionRelaxations(denying, exceptions).execOpen)[0] as ValidatingAdmissionPolicyObject;
    expect(openExec.spec.validations[0]?.expression).toBe(`request.namespace in ["team-b", "team-e"] || ${plainExec.spec.validations[0]?.expression}`);
    expect({ ...openExec.spec, validations: [] }).toEqual({ ...plainExec.spec, validations: [] });
    expect(buildWorkloadPolicy(denying, 'sbo-system', [])).toEqual(buildWorkloadPolicy(denying, 'sbo-system'));
  });
});

describe('evaluateException', () => {
  const quota = exception('quota', { resourceQuota: { hard: { pods: '8' } } }, { namespaces: ['team-a', 'team-b'] });

  test('Active in the named namespaces the baseline selects, until expiresAt', () => {
    const evaluation = evaluateException(quota, baseline(), ['team-a'], NOW);
    expect(evaluation.state).toBe('Active');
    expect(evaluation.namespaces).toEqual(['team-a']);
    expect(evaluation.expiresInMs).toBe(Date.parse(LATER) - NOW);
    expect(evaluation.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([['Valid', 'True', 'OnlyLoosens'], ['Active', 'True', 'InEffect']]);
  });

  test('Pending without its baseline, or while the baseline selects none of the namespaces', () => {
    expect(evaluateException(quota, undefined, [], NOW)).toMatchObject({ state: 'Pending', conditions: [{ type: 'Valid', status: 'Unknown' }, { reason: 'BaselineNotFound' }] });
    expect(evaluateException(quota, baseline(), [], NOW)).toMatchObject({ state: 'Pending', conditions: [{ status: 'True' }, { reason: 'NoNamespaceSelected' }] });
  });

  test('Invalid, with the field in the Valid condition', () => {
    const tightening = exception('tight', { resourceQuota: { hard: { pods: '2' } } });
    const evaluation = evaluateException(tightening, baseline(), ['team-a'], NOW);
    expect(evaluation.state).toBe('Invalid');
    expect(evaluation.conditions[0]).toMatchObject({ type: 'Valid', status: 'False', reason: 'RelaxTightens' });
    expect(evaluation.conditions[0]?.message).toContain('spec.relax.resourceQuota.hard[pods]');
  });

  test('Expired from expiresAt on, whatever else holds, with nothing left to wait for', () => {
    const evaluation = evaluateException(quota, baseline(), ['team-a'], Date.parse(LATER));
    expect(evaluation).toMatchObject({ state: 'Expired', namespaces: [] });
    expect(evaluation.expiresInMs).toBeUndefined();
  });
});

test('exceptionsInEffect tells reports and the CLI which exceptions relax which controls, and who granted them', () => {
  const all = [
    exception('vendor', { podSecurity: { enforce: 'baseline' }, resourceQuota: { hard: { pods: '8' } } }),
    exception('tight', { resourceQuota: { hard: { pods: '2' } } }),
  ];
  expect(exceptionsInEffect(all, baseline(), 'team-a', NOW)).toEqual([
    { name: 'vendor', controls: ['podSecurity', 'resourceQuota'], reason: 'CHG-1', expiresAt: LATER, createdBy: 'alice' },
  ]);
  expect(exceptionsInEffect(all, baseline(), 'team-b', NOW)).toEqual([]);
});
