import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type { PodSecurityLevel, PodSecuritySpec } from '../api/types.ts';
import { SpecError } from './errors.ts';
import { podSecurityLabels, resolvePodSecurity } from './podsecurity.ts';

describe('podSecurityLabels', () => {
  test('audit and warn default to enforce, the version to latest', () => {
    expect(podSecurityLabels({ enforce: 'restricted' })).toEqual({
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/audit-version': 'latest',
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/warn-version': 'latest',
    });
  });

  test('each mode as given, one version for all', () => {
    expect(podSecurityLabels({ enforce: 'baseline', audit: 'restricted', warn: 'restricted', version: 'v1.33' })).toEqual({
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/audit-version': 'v1.33',
      'pod-security.kubernetes.io/enforce': 'baseline',
      'pod-security.kubernetes.io/enforce-version': 'v1.33',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/warn-version': 'v1.33',
    });
  });

  test('a version Pod Security Admission refuses is a SpecError', () => {
    expect(() => podSecurityLabels({ enforce: 'restricted', version: '1.33' })).toThrow(SpecError);
    expect(() => podSecurityLabels({ enforce: 'restricted', version: 'v1.033' })).toThrow(
      expect.objectContaining({ field: 'spec.podSecurity.version' }),
    );
  });
});

describe('resolvePodSecurity', () => {
  const candidate = (baseline: string, priority: number, enforce: PodSecurityLevel) => ({ baseline, priority, spec: { enforce } });

  test('the strictest enforce level wins whatever the priority', () => {
    const resolution = resolvePodSecurity([candidate('open', 100, 'privileged'), candidate('strict', 0, 'restricted'), candidate('mid', 50, 'baseline')]);
    expect(resolution?.winner.baseline).toBe('strict');
    expect(resolution?.losers.map((loser) => loser.baseline)).toEqual(['mid', 'open']);
  });

  test('equal level: the highest priority, then the lexicographically smallest name', () => {
    expect(resolvePodSecurity([candidate('a', 0, 'restricted'), candidate('b', 1, 'restricted')])?.winner.baseline).toBe('b');
    expect(resolvePodSecurity([candidate('b', 1, 'restricted'), candidate('a', 1, 'restricted')])?.winner.baseline).toBe('a');
    expect(resolvePodSecurity([candidate('B', 0, 'baseline'), candidate('a', 0, 'baseline')])?.winner.baseline).toBe('B');
  });

  test('nothing to resolve', () => {
    expect(resolvePodSecurity([])).toBeUndefined();
    expect(resolvePodSecurity([candidate('only', 0, 'baseline')])).toEqual({ winner: candidate('only', 0, 'baseline'), losers: [] });
  });

  test('the winner and the ranking do not depend on the input order', () => {
    const level = fc.constantFrom<PodSecurityLevel>('privileged', 'baseline', 'restricted');
    const spec: fc.Arbitrary<PodSecuritySpec> = fc.record({ enforce: level, audit: level }, { requiredKeys: ['enforce'] });
    const candidates = fc.uniqueArray(fc.record({ baseline: fc.stringMatching(/^[a-z][a-z0-9-]{0,5}$/), priority: fc.integer({ min: -3, max: 3 }), spec }), {
      selector: (c) => c.baseline,
      maxLength: 8,
    });
    fc.assert(
      fc.property(candidates, fc.func(fc.integer()), (list, shuffleKey) => {
        const shuffled = [...list].sort((a, b) => shuffleKey(a.baseline) - shuffleKey(b.baseline));
        const resolution = resolvePodSecurity(shuffled);
        expect(resolution).toEqual(resolvePodSecurity([...list].reverse()));
        if (resolution) {
          for (const loser of resolution.losers) {
            const rank = { privileged: 0, baseline: 1, restricted: 2 };
            expect(rank[loser.spec.enforce]).toBeLessThanOrEqual(rank[resolution.winner.spec.enforce]);
          }
        }
      }),
    );
  });
});
