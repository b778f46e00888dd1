import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type { LimitRangeSpec } from '../api/types.ts';
import { SpecError } from './errors.ts';
import { buildLimitRange, compareLimitRangeStrictness, resolveLimitRange, withServerDefaults } from './limitrange.ts';

describe('buildLimitRange', () => {
  test('the design example: one Container item, with the API server defaults written out', () => {
    expect(
      buildLimitRange('tenants', 'team-a', { defaultRequest: { cpu: '100m', memory: '128Mi' }, default: { cpu: '500m', memory: '512Mi' } }),
    ).toEqual({
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: {
        name: 'tenants-limits',
        namespace: 'team-a',
        labels: { 'app.kubernetes.io/managed-by': 'security-baseline-operator', 'security.baseline.dev/baseline': 'tenants' },
      },
      spec: {
        limits: [{ type: 'Container', default: { cpu: '500m', memory: '512Mi' }, defaultRequest: { cpu: '100m', memory: '128Mi' } }],
      },
    });
  });

  test('max becomes the default limit, the default limit the default request, else min', () => {
    expect(buildLimitRange('tenants', 'team-a', { max: { cpu: '2', memory: '1Gi' }, min: { cpu: '10m', 'ephemeral-storage': '1Mi' } }).spec.limits[0]).toEqual({
      type: 'Container',
      max: { cpu: '2', memory: '1Gi' },
      min: { cpu: '10m', 'ephemeral-storage': '1Mi' },
      default: { cpu: '2', memory: '1Gi' },
      defaultRequest: { cpu: '2', 'ephemeral-storage': '1Mi', memory: '1Gi' },
    });
    expect(withServerDefaults({})).toEqual({});
    expect(buildLimitRange('tenants', 'team-a', {}).spec.limits).toEqual([{ type: 'Container' }]);
  });

  test('quantities are canonical', () => {
    expect(buildLimitRange('tenants', 'team-a', { default: { memory: '1024Mi', cpu: '0.5' } }).spec.limits[0].default).toEqual({ cpu: '500m', memory: '1Gi' });
  });

  test('the orderings the API server requires are checked where they were written', () => {
    const build = (spec: LimitRangeSpec) => () => buildLimitRange('tenants', 'team-a', spec);
    expect(build({ min: { cpu: '2' }, max: { cpu: '1' } })).toThrow(new SpecError('spec.limitRange.min[cpu]', 'min is greater than max for cpu (2 > 1)'));
    expect(build({ defaultRequest: { memory: '1Gi' }, default: { memory: '512Mi' } })).toThrow(
      expect.objectContaining({ field: 'spec.limitRange.defaultRequest[memory]' }),
    );
    expect(build({ defaultRequest: { cpu: '3' }, max: { cpu: '2' } })).toThrow(expect.objectContaining({ field: 'spec.limitRange.defaultRequest[cpu]' }));
    expect(build({ default: { cpu: 'lots' } })).toThrow(expect.objectContaining({ field: 'spec.limitRange.default[cpu]' }));
    expect(build({ min: { cpu: '1' }, max: { cpu: '1000m' }, default: { cpu: '1' }, defaultRequest: { cpu: '1' } })).not.toThrow();
  });

  test('one spec is built once for every namespace, and a new spec is built anew', () => {
    const spec: LimitRangeSpec = { default: { cpu: '500m' } };
    const a = buildLimitRange('tenants', 'team-a', spec);
    const b = buildLimitRange('tenants', 'team-b', spec);
    expect(b.metadata.namespace).toBe('team-b');
    expect(b.spec.limits[0]).toBe(a.spec.limits[0]);
    // Shared, so frozen: a caller that changed one namespace's item would change them all.
    expect(() => { (a.spec.limits[0].default as Record<string, string>).cpu = '1'; }).toThrow(TypeError);
    expect(buildLimitRange('tenants', 'team-a', { default: { cpu: '1' } }).spec.limits[0].default).toEqual({ cpu: '1' });

    const invalid: LimitRangeSpec = { min: { cpu: '2' }, max: { cpu: '1' } };
    for (const namespace of ['team-a', 'team-b']) {
      expect(() => buildLimitRange('tenants', namespace, invalid)).toThrow(expect.objectContaining({ field: 'spec.limitRange.min[cpu]' }));
    }
  });
});

describe('resolveLimitRange', () => {
  const candidate = (baseline: string, priority: number, spec: LimitRangeSpec) => ({ baseline, priority, spec });

  test('the smaller default CPU limit wins, then memory', () => {
    const small = candidate('small', 0, { default: { cpu: '500m', memory: '1Gi' } });
    const large = candidate('large', 10, { default: { cpu: '1', memory: '256Mi' } });
    const noCpu = candidate('no-cpu', 10, { default: { memory: '64Mi' } });
    const resolution = resolveLimitRange([large, noCpu, small]);
    expect(resolution?.winner.baseline).toBe('small');
    expect(resolution?.losers.map((loser) => loser.baseline)).toEqual(['large', 'no-cpu']);
    expect(compareLimitRangeStrictness({ default: { cpu: '1', memory: '1Gi' } }, { default: { cpu: '1000m', memory: '2Gi' } })).toBeLessThan(0);
  });

  test('max counts as the default limit when no default is given', () => {
    expect(compareLimitRangeStrictness({ max: { cpu: '200m' } }, { default: { cpu: '300m' } })).toBeLessThan(0);
  });

  test('equally strict: the highest priority, then the smallest name', () => {
    const spec = { default: { cpu: '1' } };
    expect(resolveLimitRange([candidate('b', 0, spec), candidate('a', 0, spec), candidate('c', 5, spec)])?.winner.baseline).toBe('c');
    expect(resolveLimitRange([candidate('b', 0, spec), candidate('a', 0, spec)])?.losers.map((loser) => loser.baseline)).toEqual(['b']);
    expect(resolveLimitRange([])).toBeUndefined();
  });

  test('the winner does not depend on the input order', () => {
    const spec = fc.record(
      { default: fc.record({ cpu: fc.constantFrom('100m', '0.1', '1', '2'), memory: fc.constantFrom('1Gi', '1024Mi', '512Mi') }, { requiredKeys: [] }) },
      { requiredKeys: [] },
    );
    const candidates = fc.uniqueArray(fc.record({ baseline: fc.stringMatching(/^[a-z]{1,4}$/), priority: fc.integer({ min: -2, max: 2 }), spec }), {
      selector: (c) => c.baseline,
      minLength: 1,
      maxLength: 6,
    });
    fc.assert(
      fc.property(candidates, fc.func(fc.integer()), (list, shuffleKey) => {
        const shuffled = [...list].sort((a, b) => shuffleKey(a.baseline) - shuffleKey(b.baseline));
        expect(resolveLimitRange(shuffled)).toEqual(resolveLimitRange(list));
      }),
    );
  });
});
