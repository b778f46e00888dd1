// The cluster-scoped part of a baseline: the ValidatingAdmissionPolicies (and
// their bindings) of its image policy, workload policy and admission gate. One set per
// baseline, reconciled with the baseline rather than with each namespace.
import { BASELINE_LABEL } from '../api/constants.ts';
import { buildAdmissionGate } from '../resources/admissiongate.ts';
import { buildImagePolicy } from '../resources/imagepolicy.ts';
import { buildWorkloadPolicy } from '../resources/workloadpolicy.ts';
import { SpecError, type DesiredObject } from '../resources/index.ts';
import type { KubeObject } from '../runtime/kube.ts';
import { containsDesired, firstDifference, otherManagers } from './diff.ts';
import { clusterManagedKind } from './kinds.ts';
import { getIfExists, releaseObject } from './objects.ts';
import type { BaselineObject, ControllerContext } from './namespace.ts';

export interface AdmissionProblem {
  readonly reason: string;
  readonly message: string;
}

/** The policies and bindings the baseline wants; in Audit mode they warn instead of refusing (see validationActions). */
export function desiredAdmissionObjects(baseline: BaselineObject, operatorNamespace: string): DesiredObject[] {
  // Policies before bindings, so a binding never waits for its policy.
  return [...buildImagePolicy(baseline, operatorNamespace), ...buildWorkloadPolicy(baseline, operatorNamespace),
    ...buildAdmissionGate(baseline, operatorNamespace)] as unknown as DesiredObject[];
}

function liveAdmissionObjects(ctx: ControllerContext, baseline: string): KubeObject[] {
  return ctx.clusterManaged.all().flatMap((informer) => informer.list())
    .filter((object) => object.metadata.labels?.[BASELINE_LABEL] === baseline);
}

/**
 * Applies what differs and deletes what is no longer wanted. Returns the
 * first problem, for the baseline's Degraded condition, or undefined.
 */
export async function reconcileAdmission(ctx: ControllerContext, baseline: BaselineObject): Promise<AdmissionProblem | undefined> {
  const name = baseline.metadata.name;
  let desired: DesiredObject[];
  try {
    desired = desiredAdmissionObjects(baseline, ctx.operatorNamespace);
  } catch (error) {
    if (error instanceof SpecError) return { reason: 'InvalidSpec', message: error.message };
    throw error;
  }
  let problem: AdmissionProblem | undefined;
  const wanted = new Set<string>();
  for (const object of desired) {
    const type = clusterManagedKind(object.kind);
    const informer = type && ctx.clusterManaged.informer(type);
    if (!type || !informer) {
      problem ??= { reason: 'AdmissionPolicyUnavailable', message: `${object.kind} is not served by this cluster (Kubernetes 1.30 or later has it)` };
      continue;
    }
    wanted.add(`${object.kind}/${object.metadata.name}`);
    let current = informer.get(object.metadata.name);
    if (!current) {
      current = await getIfExists(ctx.client, type, object.metadata.name);
      if (current && current.metadata.labels?.[BASELINE_LABEL] !== name) {
        problem ??= { reason: 'ForeignObject', message: `${object.kind} ${object.metadata.name} already exists and belongs to another owner; it was left untouched` };
        continue;
      }
    }
    if (current && containsDesired(object, current)) continue;
    informer.observeWrite(await ctx.client.apply(type, object));
    ctx.metrics.write(object.kind, 'apply');
    if (current) {
      ctx.metrics.driftCorrected(name, object.kind);
      const managers = otherManagers(current);
      void ctx.recorder.record(baselineRef(baseline), 'Warning', 'DriftCorrected',
        `${object.kind} ${object.metadata.name} had ${firstDifference(object, current)} changed by ${managers.join(', ') || 'an unknown field manager'}; restored`);
    }
  }
  for (const object of liveAdmissionObjects(ctx, name)) {
    if (!wanted.has(`${object.kind}/${object.metadata.name}`)) await removeAdmissionObject(ctx, object, 'Delete');
  }
  return problem;
}

/**
 * On deletion of the baseline. A gate is always deleted, whatever the
 * deletionPolicy: left behind, it would refuse every pod in every namespace
 * it selects, forever. An image policy follows the deletionPolicy.
 */
export async function releaseAdmission(ctx: ControllerContext, baseline: BaselineObject): Promise<void> {
  for (const object of liveAdmissionObjects(ctx, baseline.metadata.name)) {
    const isGate = object.metadata.name.endsWith('-gate');
    await removeAdmissionObject(ctx, object, isGate ? 'Delete' : (baseline.spec.deletionPolicy ?? 'Delete'));
  }
}

async function removeAdmissionObject(ctx: ControllerContext, object: KubeObject, policy: 'Delete' | 'Orphan'): Promise<void> {
  const type = clusterManagedKind(object.kind ?? '');
  if (type) await releaseObject(ctx.client, ctx.metrics, ctx.clusterManaged.informer(type), type, object, policy);
}

export function baselineRef(baseline: KubeObject): { apiVersion: string; kind: string; name: string; uid?: string } {
  return { apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', name: baseline.metadata.name, uid: baseline.metadata.uid };
}

