// Pre-flight of one namespace before it moves to a revision: what the new
// revision's Pod Security level and image policy would refuse among the pods
// already there. Pod Security is asked of the API server itself (a server-side
// dry run of the label change: its warnings name the pods); images are checked
// with the image policy's own normalisation.
import type { ImagePolicySpec, PodSecuritySpec } from '../api/types.ts';
import { SpecError } from '../resources/errors.ts';
import { podSecurityLabels } from '../resources/podsecurity.ts';
import { imagePolicyNarrowed, podSecurityTightened, podSecurityViolations, podsRefusedByImagePolicy, type PodImages } from '../resources/preflight.ts';
import type { RevisionContent } from '../resources/revision.ts';
import type { KubeObject } from '../runtime/kube.ts';
import type { ControllerContext } from './context.ts';
import { NAMESPACES, PODS } from './kinds.ts';

/** How many pods a finding names, at most. */
const NAMED_PODS = 10;

export interface PreflightFinding {
  readonly reason: 'PodSecurityViolations' | 'ImagePolicyViolations';
  /** For people: how many pods, and which (up to ten). */
  readonly message: string;
}

interface PodObject extends KubeObject {
  spec?: { containers?: { image?: string }[]; initContainers?: { image?: string }[]; ephemeralContainers?: { image?: string }[] };
}

function imagesOf(pod: PodObject): PodImages {
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []), ...(pod.spec?.ephemeralContainers ?? [])];
  return { name: pod.metadata.name, images: containers.flatMap((container) => (container.image ? [container.image] : [])) };
}

async function podSecurityFinding(ctx: ControllerContext, namespace: string, to: PodSecuritySpec): Promise<PreflightFinding | undefined> {
  let labels: Record<string, string>;
  try {
    labels = podSecurityLabels(to);
  } catch (error) {
    if (error instanceof SpecError) return undefined; // the build reports it
    throw error;
  }
  const { warnings } = await ctx.client.dryRunApply(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels } });
  const { pods, lines } = podSecurityViolations(warnings);
  if (pods === 0) return undefined;
  return {
    reason: 'PodSecurityViolations',
    message: `${pods} pod${pods === 1 ? '' : 's'} would violate Pod Security ${to.enforce}:${to.version ?? 'latest'} (${lines.slice(0, NAMED_PODS).join('; ')})`,
  };
}

async function imageFinding(ctx: ControllerContext, namespace: string, to: ImagePolicySpec): Promise<PreflightFinding | undefined> {
  const pods = await ctx.client.list<PodObject>(PODS, { namespace });
  const refused = podsRefusedByImagePolicy(pods.items.map(imagesOf), to);
  if (refused.length === 0) return undefined;
  const named = refused.slice(0, NAMED_PODS).map(({ pod, images }) => `${pod}: ${images.join(', ')}`);
  return {
    reason: 'ImagePolicyViolations',
    message: `${refused.length} pod${refused.length === 1 ? ' runs' : 's run'} images the image policy would refuse (${named.join('; ')}${refused.length > NAMED_PODS ? '; …' : ''})`,
  };
}

/** What moving `namespace` from revision content `from` (undefined: unknown or none) to `to` would break. */
export async function preflight(ctx: ControllerContext, namespace: string, from: RevisionContent | undefined, to: RevisionContent): Promise<PreflightFinding[]> {
  const findings: PreflightFinding[] = [];
  if (to.podSecurity && podSecurityTightened(from?.podSecurity, to.podSecurity)) {
    const finding = await podSecurityFinding(ctx, namespace, to.podSecurity);
    if (finding) findings.push(finding);
  }
  if (to.imagePolicy && imagePolicyNarrowed(from?.imagePolicy, to.imagePolicy)) {
    let finding: PreflightFinding | undefined;
    try {
      finding = await imageFinding(ctx, namespace, to.imagePolicy);
    } catch (error) {
      if (!(error instanceof SpecError)) throw error; // an invalid prefix: the build reports it
    }
    if (finding) findings.push(finding);
  }
  return findings;
}
