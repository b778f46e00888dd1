import { describe, expect, test } from '@jest/globals';
import { imagePolicyNarrowed, podSecurityTightened, podSecurityViolations, podsRefusedByImagePolicy } from './preflight.ts';

describe('what tightens', () => {
  test('Pod Security: a stricter level, a level where there was none, or another version', () => {
    expect(podSecurityTightened({ enforce: 'baseline' }, { enforce: 'restricted' })).toBe(true);
    expect(podSecurityTightened(undefined, { enforce: 'baseline' })).toBe(true);
    expect(podSecurityTightened({ enforce: 'restricted' }, { enforce: 'restricted', version: 'v1.30' })).toBe(true);
    expect(podSecurityTightened({ enforce: 'restricted' }, { enforce: 'baseline' })).toBe(false);
    expect(podSecurityTightened({ enforce: 'restricted' }, { enforce: 'restricted', version: 'latest' })).toBe(false);
    expect(podSecurityTightened(undefined, { enforce: 'privileged' })).toBe(false);
    expect(podSecurityTightened({ enforce: 'baseline' }, undefined)).toBe(false);
  });

  test('image policy: a policy where there was none, or a prefix the new one does not cover', () => {
    expect(imagePolicyNarrowed(undefined, { allowedRegistries: ['a.io/'] })).toBe(true);
    expect(imagePolicyNarrowed({ allowedRegistries: ['a.io/', 'b.io/'] }, { allowedRegistries: ['a.io/'] })).toBe(true);
    expect(imagePolicyNarrowed({ allowedRegistries: ['a.io/team/'] }, { allowedRegistries: ['a.io/'] })).toBe(false);
    expect(imagePolicyNarrowed({ allowedRegistries: ['a.io/'] }, { allowedRegistries: ['A.io/', 'b.io/'] })).toBe(false);
    expect(imagePolicyNarrowed({ allowedRegistries: ['a.io/'] }, undefined)).toBe(false);
  });
});

test('pods whose images the new policy refuses, with those images', () => {
  const pods = [{ name: 'web-0', images: ['a.io/web:1', 'nginx'] }, { name: 'db-0', images: ['a.io/db:2'] }, { name: 'tool', images: ['busybox'] }];
  expect(podsRefusedByImagePolicy(pods, { allowedRegistries: ['a.io/'] })).toEqual([
    { pod: 'web-0', images: ['nginx'] }, { pod: 'tool', images: ['busybox'] },
  ]);
});

test('Pod Security warnings name pods, counting the others each line stands for', () => {
  expect(podSecurityViolations([
    'existing pods in namespace "team-a" violate the new PodSecurity enforce level "restricted:latest"',
    'web-0 (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities',
    'worker-7: runAsNonRoot != true',
    'new PodSecurity enforce level only checked against the first 3000 of 3500 existing pods',
  ])).toEqual({
    pods: 4,
    lines: ['web-0 (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities', 'worker-7: runAsNonRoot != true'],
  });
  expect(podSecurityViolations(['db (and 1 other pod): privileged'])).toEqual({ pods: 2, lines: ['db (and 1 other pod): privileged'] });
  expect(podSecurityViolations([])).toEqual({ pods: 0, lines: [] });
});
