import { describe, expect, test } from '@jest/globals';
import { SpecError } from './errors.ts';
import { managedMetadata, managedName, validateBaselineName } from './metadata.ts';
import { objectKey } from './object.ts';

describe('metadata', () => {
  test('name, namespace and the two ownership labels', () => {
    expect(managedMetadata('tenants', 'team-a', 'quota')).toEqual({
      name: 'tenants-quota',
      namespace: 'team-a',
      labels: { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' },
    });
  });

  test('names are valid and at most 253 characters, reported at the field that made them', () => {
    expect(managedName('b', 'x'.repeat(251))).toHaveLength(253);
    expect(() => managedName('b', 'x'.repeat(252), 'spec.roleBindings[0].name')).toThrow(
      expect.objectContaining({ field: 'spec.roleBindings[0].name' }),
    );
    expect(() => managedName('b', 'UPPER')).toThrow(SpecError);
    expect(() => managedName('b', 'ends-with-')).toThrow(SpecError);
  });

  test('baseline names fit in a label value and prefix object names', () => {
    expect(() => validateBaselineName('a'.repeat(63))).not.toThrow();
    expect(() => validateBaselineName('a'.repeat(64))).toThrow(new SpecError('metadata.name', 'must be at most 63 characters (it names objects and is a label value)'));
    expect(() => validateBaselineName('Tenants')).toThrow(SpecError);
  });

  test('objectKey', () => {
    expect(objectKey({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'team-a', name: 'tenants-default-deny' } })).toBe(
      'networking.k8s.io/v1/NetworkPolicy/team-a/tenants-default-deny',
    );
    expect(objectKey({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } })).toBe('v1/Namespace//team-a');
  });
});
