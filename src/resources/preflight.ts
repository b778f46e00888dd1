// Pre-flight: before a namespace moves to a revision that tightens what it
// admits, what the new revision would refuse among the pods already there.
// The decisions are pure; the reads (a server-side dry run of the Pod Security
// labels, the namespace's pods) are the controller's.
import type { ImagePolicySpec, PodSecurityLevel, PodSecuritySpec } from '../api/types.ts';
import { allowedPrefixes, imageAllowed } from './imagepolicy.ts';

const STRICTNESS: Record<PodSecurityLevel, number> = { privileged: 0, baseline: 1, restricted: 2 };

/** A stricter enforce level, or another version (what a level checks changes with it). */
export function podSecurityTightened(from: PodSecuritySpec | undefined, to: PodSecuritySpec | undefined): boolean {
  if (!to || to.enforce === 'privileged') return false;
  if (!from) return true;
  return STRICTNESS[to.enforce] > STRICTNESS[from.enforce] || (to.version ?? 'latest') !== (from.version ?? 'latest');
}

/** An image policy where there was none, or one that no longer admits everything the old one did. */
export function imagePolicyNarrowed(from: ImagePolicySpec | undefined, to: ImagePolicySpec | undefined): boolean {
  if (!to) return false;
  if (!from) return true;
  const next = allowedPrefixes(to);
  return allowedPrefixes(from).some((prefix) => !next.some((allowed) => prefix.startsWith(allowed)));
}

export interface PodImages {
  readonly name: string;
  readonly images: readonly string[];
}

/** The pods with an image the policy would refuse, and the images. */
export function podsRefusedByImagePolicy(pods: readonly PodImages[], to: ImagePolicySpec): { pod: string; images: string[] }[] {
  const prefixes = allowedPrefixes(to);
  return pods.map((pod) => ({ pod: pod.name, images: pod.images.filter((image) => !imageAllowed(image, prefixes)) }))
    .filter((refused) => refused.images.length > 0);
}

/**
 * What Pod Security's warnings on a namespace label change say about existing
 * pods: `web-0 (and 2 other pods): allowPrivilegeEscalation != false, …`, one
 * line per distinct violation. Returns the number of pods and the lines.
 */
export function podSecurityViolations(warnings: readonly string[]): { pods: number; lines: string[] } {
  let pods = 0;
  const lines: string[] = [];
  for (const warning of warnings) {
    const match = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?: \(and (\d+) other pods?\))?: (.+)$/.exec(warning);
    if (!match) continue;
    pods += 1 + Number(match[3] ?? 0);
    lines.push(warning);
  }
  return { pods, lines };
}
