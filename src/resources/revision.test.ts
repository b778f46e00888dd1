import { describe, expect, test } from '@jest/globals';
import type { SecurityBaseline, SecurityBaselineSpec } from '../api/types.ts';
import { buildImagePolicy } from './imagepolicy.ts';
import { admissionByRevision, atRevision, buildControllerRevision, revisionContent, revisionName } from './revision.ts';

const baseline = (spec: Partial<SecurityBaselineSpec>): SecurityBaseline => ({
  apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name: 'tenants' },
  spec: { namespaceSelector: { matchLabels: { tenant: 'true' } }, resourceQuota: { hard: { pods: '4' } }, ...spec },
});

describe('revisions', () => {
  test('named after the baseline and a hash of its controls only', () => {
    const name = revisionName('tenants', baseline({}).spec);
    expect(name).toMatch(/^tenants-[0-9a-f]{10}$/);
    // Selection, mode, pausing and rollout settings are not controls: the same revision.
    expect(revisionName('tenants', baseline({ namespaceSelector: {}, paused: true, priority: 3, rollout: { strategy: 'Progressive' } }).spec)).toBe(name);
    expect(revisionName('tenants', baseline({ resourceQuota: { hard: { pods: '8' } } }).spec)).not.toBe(name);
  });

  test('key order does not change the hash; a revert finds the earlier name', () => {
    const a = baseline({ limitRange: { default: { cpu: '1', memory: '1Gi' } } }).spec;
    const b = baseline({ limitRange: { default: { memory: '1Gi', cpu: '1' } } }).spec;
    expect(revisionName('tenants', a)).toBe(revisionName('tenants', b));
  });

  test('a ControllerRevision holds the controls; atRevision puts them back under the settings of today', () => {
    const old = baseline({ podSecurity: { enforce: 'baseline' } });
    old.metadata.uid = 'b0bdb4c2';
    const stored = buildControllerRevision(old, 'security-baseline-system', 3);
    expect(stored.metadata.ownerReferences).toEqual([{ apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', name: 'tenants', uid: 'b0bdb4c2', controller: true }]);
    expect(stored).toMatchObject({
      apiVersion: 'apps/v1', kind: 'ControllerRevision', revision: 3,
      metadata: { name: revisionName('tenants', old.spec), namespace: 'security-baseline-system', labels: { 'security.baseline.dev/baseline': 'tenants' } },
    });
    expect(stored.data.spec).toEqual({ resourceQuota: { hard: { pods: '4' } }, podSecurity: { enforce: 'baseline' } });
    const today = baseline({ podSecurity: { enforce: 'restricted' }, excludeNamespaces: ['sandbox'], priority: 7 });
    expect(atRevision(today, revisionContent(old.spec)).spec).toEqual({
      namespaceSelector: { matchLabels: { tenant: 'true' } }, excludeNamespaces: ['sandbox'], priority: 7,
      resourceQuota: { hard: { pods: '4' } }, podSecurity: { enforce: 'baseline' },
    });
  });
});

describe('admissionByRevision', () => {
  const build = (b: SecurityBaseline) => buildImagePolicy(b, 'security-baseline-system');
  const today = baseline({ imagePolicy: { allowedRegistries: ['registry.example.com/'] } });

  test('with no older revision, or older ones with the same policies, the policies are as built', () => {
    expect(admissionByRevision(today, build, [])).toEqual(build(today));
    const sameImages = revisionContent(baseline({ imagePolicy: { allowedRegistries: ['registry.example.com/'] }, resourceQuota: { hard: { pods: '9' } } }).spec);
    expect(admissionByRevision(today, build, [{ name: 'tenants-0123456789', content: sameImages }])).toEqual(build(today));
  });

  test('an older revision with another policy keeps it where namespaces are at that revision, and only there', () => {
    const older = revisionContent(baseline({ imagePolicy: { allowedRegistries: ['registry.example.com/', 'docker.io/library/'] } }).spec);
    const objects = admissionByRevision(today, build, [{ name: 'tenants-0123456789', content: older }]);
    expect(objects.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([
      'ValidatingAdmissionPolicy security-baseline-tenants-images',
      'ValidatingAdmissionPolicyBinding security-baseline-tenants-images',
      'ValidatingAdmissionPolicy security-baseline-tenants-images-0123456789',
      'ValidatingAdmissionPolicyBinding security-baseline-tenants-images-0123456789',
    ]);
    const [current, , old, oldBinding] = objects as [{ spec: { variables: { expression: string }[]; validations: { expression: string }[] } }, unknown, typeof objects[0], { spec: { policyName: string } }];
    const at = 'namespaceObject.metadata.annotations["security.baseline.dev/applied"].contains("\\"tenants\\":\\"tenants-0123456789\\"")';
    expect(current.spec.variables[0]?.expression).toContain(at);
    expect(current.spec.validations.every((v) => v.expression.startsWith('variables.otherRevision || ('))).toBe(true);
    expect(JSON.stringify(old)).toContain(`!(has(namespaceObject.metadata.annotations)`);
    expect(JSON.stringify(old)).toContain('docker.io/library/');
    expect(oldBinding.spec.policyName).toBe('security-baseline-tenants-images-0123456789');
  });
});
