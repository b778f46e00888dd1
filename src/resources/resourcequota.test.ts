import { describe, expect, test } from '@jest/globals';
import type { V1ResourceQuota } from '@kubernetes/client-node';
import { SpecError } from './errors.ts';
import { buildResourceQuota } from './resourcequota.ts';

describe('buildResourceQuota', () => {
  test('4 pods, 1–2 CPU, 1–2 GiB', () => {
    const quota = buildResourceQuota('tenants', 'team-a', {
      hard: { pods: '4', 'requests.cpu': '1', 'requests.memory': '1Gi', 'limits.cpu': '2', 'limits.memory': '2Gi' },
    });
    expect(quota).toEqual({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: {
        name: 'tenants-quota',
        namespace: 'team-a',
        labels: { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' },
      },
      spec: { hard: { 'limits.cpu': '2', 'limits.memory': '2Gi', pods: '4', 'requests.cpu': '1', 'requests.memory': '1Gi' } },
    });
    expect(Object.keys(quota.spec.hard ?? {})).toEqual(['limits.cpu', 'limits.memory', 'pods', 'requests.cpu', 'requests.memory']);
    const typed: V1ResourceQuota = quota;
    expect(typed.kind).toBe('ResourceQuota');
  });

  test('quantities are written the way the API server stores them', () => {
    expect(buildResourceQuota('tenants', 'team-a', { hard: { 'requests.memory': '1024Mi', 'requests.cpu': '0.5' } }).spec.hard).toEqual({
      'requests.cpu': '500m',
      'requests.memory': '1Gi',
    });
  });

  test('bad and negative quantities are refused at their path', () => {
    expect(() => buildResourceQuota('tenants', 'team-a', { hard: { 'requests.cpu': 'one' } })).toThrow(
      expect.objectContaining({ field: 'spec.resourceQuota.hard[requests.cpu]' }),
    );
    expect(() => buildResourceQuota('tenants', 'team-a', { hard: { pods: '-1' } })).toThrow(
      new SpecError('spec.resourceQuota.hard[pods]', 'must not be negative (got "-1")'),
    );
  });

  test('an empty hard list leaves an empty spec', () => {
    expect(buildResourceQuota('tenants', 'team-a', { hard: {} }).spec).toEqual({});
  });
});
