import { describe, expect, test } from '@jest/globals';
import { buildLoggingFlow } from './logging.ts';

describe('buildLoggingFlow', () => {
  test('a Flow routing every container log of the namespace to the global outputs', () => {
    expect(buildLoggingFlow('tenants', 'team-a', { flow: { globalOutputRefs: ['central-elasticsearch'] } })).toEqual({
      apiVersion: 'logging.banzaicloud.io/v1beta1',
      kind: 'Flow',
      metadata: {
        name: 'tenants-logging',
        namespace: 'team-a',
        labels: { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' },
      },
      spec: { match: [{ select: {} }], globalOutputRefs: ['central-elasticsearch'] },
    });
  });

  test('local outputs too; empty lists are left out', () => {
    expect(buildLoggingFlow('tenants', 'team-a', { flow: { globalOutputRefs: [], localOutputRefs: ['loki'] } }).spec).toEqual({
      match: [{ select: {} }],
      localOutputRefs: ['loki'],
    });
  });
});
