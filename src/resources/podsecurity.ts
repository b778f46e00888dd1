// Pod Security Admission labels on the namespace: the API server itself then
// refuses (enforce), records (audit) or warns about (warn) pods that break the
// chosen Pod Security Standard. A namespace has one set of these labels, so
// when several baselines set them the strictest enforce level wins.

import type { PodSecurityLevel, PodSecuritySpec } from '../api/types.ts';
import { sortedRecord } from './canonical.ts';
import { resolveCandidates } from './composition.ts';
import type { Candidate, Resolution } from './composition.ts';
import { SpecError } from './errors.ts';

export const POD_SECURITY_LABEL_PREFIX = 'pod-security.kubernetes.io/';
export const DEFAULT_POD_SECURITY_VERSION = 'latest';
const MODES = ['enforce', 'audit', 'warn'] as const;

/** Higher is stricter. */
const STRICTNESS: Record<PodSecurityLevel, number> = { privileged: 0, baseline: 1, restricted: 2 };

/** What Pod Security Admission accepts as a version label: `latest` or `v1.<minor>`. */
const VERSION = /^(latest|v1\.(0|[1-9][0-9]*))$/;

/**
 * The six namespace labels `pod-security.kubernetes.io/{enforce,audit,warn}` and
 * `…-version`. Audit and warn default to the enforce level, so a violation is
 * also recorded and shown to the user; every mode uses the one version, `latest`
 * unless given. Throws a SpecError for a version Pod Security Admission refuses.
 */
export function podSecurityLabels(spec: PodSecuritySpec): Record<string, string> {
  const version = spec.version ?? DEFAULT_POD_SECURITY_VERSION;
  if (!VERSION.test(version)) {
    throw new SpecError('spec.podSecurity.version', `must be "latest" or a Kubernetes minor version such as v1.33 (got "${version}")`);
  }
  const levels: Record<(typeof MODES)[number], PodSecurityLevel> = {
    enforce: spec.enforce,
    audit: spec.audit ?? spec.enforce,
    warn: spec.warn ?? spec.enforce,
  };
  const labels: Record<string, string> = {};
  for (const mode of MODES) {
    labels[`${POD_SECURITY_LABEL_PREFIX}${mode}`] = levels[mode];
    labels[`${POD_SECURITY_LABEL_PREFIX}${mode}-version`] = version;
  }
  return sortedRecord(labels);
}

/** Negative when `a` enforces a stricter level than `b` (restricted > baseline > privileged). */
export function comparePodSecurityStrictness(a: PodSecuritySpec, b: PodSecuritySpec): number {
  return STRICTNESS[b.enforce] - STRICTNESS[a.enforce];
}

/**
 * Which baseline's Pod Security labels the namespace gets: the strictest enforce
 * level, then the highest priority, then the lexicographically smallest baseline
 * name. Audit, warn and version do not take part in the ranking; they come with
 * the winner. The losers report a Conflict.
 */
export function resolvePodSecurity(candidates: readonly Candidate<PodSecuritySpec>[]): Resolution<PodSecuritySpec> | undefined {
  return resolveCandidates(candidates, comparePodSecurityStrictness);
}
