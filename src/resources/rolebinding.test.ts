import { describe, expect, test } from '@jest/globals';
import type { V1Role, V1RoleBinding } from '@kubernetes/client-node';
import type { RoleBindingSpec } from '../api/types.ts';
import { SpecError } from './errors.ts';
import { buildRoleBindings } from './rolebinding.ts';

const namespace = { name: 'team-a', labels: { team: 'alpha', empty: '' } };
const labels = { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' };
const build = (...entries: RoleBindingSpec[]) => buildRoleBindings('tenants', namespace, entries);

describe('buildRoleBindings', () => {
  test('alice may read pods: a Role with the rules and a RoleBinding to it', () => {
    const objects = build({
      name: 'pod-readers',
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      subjects: [{ kind: 'User', name: 'alice' }],
    });
    expect(objects).toEqual([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'tenants-pod-readers', namespace: 'team-a', labels },
        rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'tenants-pod-readers', namespace: 'team-a', labels },
        subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice' }],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tenants-pod-readers' },
      },
    ]);
    const [role, binding] = objects;
    const typedRole: V1Role | undefined = role?.kind === 'Role' ? role : undefined;
    const typedBinding: V1RoleBinding | undefined = binding?.kind === 'RoleBinding' ? binding : undefined;
    expect(typedRole && typedBinding).toBeDefined();
  });

  test('a ClusterRole binding with templated subjects', () => {
    expect(
      build({
        name: 'readers',
        clusterRole: 'view',
        subjects: [
          { kind: 'Group', name: '${namespace}-admins' },
          { kind: 'Group', name: 'team-${label:team}', namespace: 'ignored' },
          { kind: 'ServiceAccount', name: 'ci' },
          { kind: 'ServiceAccount', name: 'deployer', namespace: 'ci-${label:team}' },
        ],
      }),
    ).toEqual([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'tenants-readers', namespace: 'team-a', labels },
        subjects: [
          { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'team-a-admins' },
          { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'team-alpha' },
          { kind: 'ServiceAccount', name: 'ci', namespace: 'team-a' },
          { kind: 'ServiceAccount', name: 'deployer', namespace: 'ci-alpha' },
        ],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      },
    ]);
  });

  test('subjects copied with their apiGroup make the same RoleBinding as without it', () => {
    const plain = build({ name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: 'g' }, { kind: 'ServiceAccount', name: 'ci' }] });
    const copied = build({
      name: 'readers', clusterRole: 'view',
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'g' }, { apiGroup: '', kind: 'ServiceAccount', name: 'ci' }],
    });
    expect(copied).toEqual(plain);
  });

  test('no subjects: the binding is kept without the field', () => {
    expect(build({ name: 'nobody', clusterRole: 'view', subjects: [] })[0]).not.toHaveProperty('subjects');
  });

  test('template errors carry the path of the subject field', () => {
    expect(() =>
      build(
        { name: 'ok', clusterRole: 'view', subjects: [] },
        { name: 'owners', clusterRole: 'admin', subjects: [{ kind: 'User', name: 'bob' }, { kind: 'Group', name: '${label:owner}' }] },
      ),
    ).toThrow(new SpecError('spec.roleBindings[1].subjects[1].name', '${label:owner}: namespace "team-a" has no label "owner"'));
    expect(() => build({ name: 'x', clusterRole: 'view', subjects: [{ kind: 'ServiceAccount', name: 'sa', namespace: '${nope}' }] })).toThrow(
      expect.objectContaining({ field: 'spec.roleBindings[0].subjects[0].namespace' }),
    );
  });

  test('invalid entries are refused with their path', () => {
    const fieldOf = (...entries: RoleBindingSpec[]): string | undefined => {
      try {
        build(...entries);
        return undefined;
      } catch (error) {
        return error instanceof SpecError ? error.field : 'not a SpecError';
      }
    };
    expect(fieldOf({ name: 'both', clusterRole: 'view', rules: [], subjects: [] })).toBe('spec.roleBindings[0]');
    expect(fieldOf({ name: 'neither', subjects: [] })).toBe('spec.roleBindings[0]');
    expect(fieldOf({ name: 'empty', rules: [], subjects: [] })).toBe('spec.roleBindings[0].rules');
    expect(fieldOf({ name: 'r', rules: [{ resources: ['pods'], verbs: ['get'] }], subjects: [] })).toBe('spec.roleBindings[0].rules[0].apiGroups');
    expect(fieldOf({ name: 'r', rules: [{ apiGroups: [''], resources: ['pods'], verbs: [] }], subjects: [] })).toBe('spec.roleBindings[0].rules[0].verbs');
    expect(fieldOf({ name: 'a', clusterRole: 'view', subjects: [] }, { name: 'a', clusterRole: 'edit', subjects: [] })).toBe('spec.roleBindings[1].name');
    expect(fieldOf({ name: 'Bad Name', clusterRole: 'view', subjects: [] })).toBe('spec.roleBindings[0].name');
    expect(fieldOf({ name: 'sa', clusterRole: 'view', subjects: [{ kind: 'ServiceAccount', name: 'Not_Valid' }] })).toBe('spec.roleBindings[0].subjects[0].name');
    expect(() => build({ name: 'e', clusterRole: 'view', subjects: [{ kind: 'User', name: '${label:empty}' }] })).toThrow(/expands to an empty name/);
  });

  test('resourceNames are kept, empty lists dropped', () => {
    const [role] = build({
      name: 'one-secret',
      rules: [
        { apiGroups: [''], resources: ['secrets'], resourceNames: ['tls'], verbs: ['get'] },
        { apiGroups: [''], resources: ['configmaps'], resourceNames: [], verbs: ['get'] },
      ],
      subjects: [],
    });
    expect(role).toMatchObject({
      rules: [
        { verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['tls'] },
        { verbs: ['get'], apiGroups: [''], resources: ['configmaps'] },
      ],
    });
    expect(role?.kind === 'Role' ? role.rules[1] : undefined).not.toHaveProperty('resourceNames');
  });
});
