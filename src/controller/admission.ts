// The cluster-scoped part of a baseline: the ValidatingAdmissionPolicies (and
// their bindings) of its image policy, workload policy and admission gate. One set per
// baseline, reconciled with the baseline rather than with each namespace.
import { BASELINE_LABEL, EXCEPTIONS_ANNOTATION } from '../api/constants.ts';
import { buildAdmissionGate } from '../resources/admissiongate.ts';
import { admissionObjectName, buildImagePolicy } from '../resources/imagepolicy.ts';
import { buildWorkloadPolicy, EXEC_POLICY_SUFFIX } from '../resources/workloadpolicy.ts';
import { SpecError, type DesiredObject } from '../resources/index.ts';
import type { AdmissionObject } from '../resources/imagepolicy.ts';
import { admissionByRevision, type RevisionContent } from '../resources/revision.ts';
import { admissionRelaxations, type ExceptionLike } from '../resources/exception.ts';
import type { SecurityBaseline } from '../api/types.ts';
import type { KubeObject } from '../runtime/kube.ts';
import { baselineRef, type BaselineObject, type ControllerContext, type Problem } from './context.ts';
import { ensureObject } from './ensure.ts';
import { exceptionsOf } from './exceptions.ts';
import { clusterManagedKind } from './kinds.ts';

/**
 * The policies and bindings the baseline wants (in Audit mode they warn instead
 * of refusing: see validationActions); while namespaces are still at `older`
 * revisions, theirs too. Each revision's image, exec and gate policies let through what
 * the `exceptions` (of this baseline, not expired) valid against it relax.
 */
export function desiredAdmissionObjects(
  baseline: BaselineObject, operatorNamespace: string, older: readonly { name: string; content: RevisionContent }[] = [],
  exceptions: readonly ExceptionLike[] = [],
): DesiredObject[] {
  const build = (at: SecurityBaseline) => ADMISSION_CONTROLS.flatMap((control) => admissionObjectsOf(control, at, operatorNamespace, exceptions));
  // Policies before bindings, so a binding never waits for its policy.
  const objects = admissionByRevision(baseline, build, older);
  return [...objects.filter((o) => o.kind === 'ValidatingAdmissionPolicy'), ...objects.filter((o) => o.kind !== 'ValidatingAdmissionPolicy')] as unknown as DesiredObject[];
}

/** The controls kept as cluster-scoped admission policies, in the order they are applied. */
export const ADMISSION_CONTROLS = ['imagePolicy', 'workloadPolicy', 'admissionGate'] as const;
export type AdmissionControl = (typeof ADMISSION_CONTROLS)[number];

/**
 * One control's policies and bindings at one revision, letting through what
 * the `exceptions` valid against it relax: what the baseline reconcile applies
 * and what a namespace's report expects to find.
 */
export function admissionObjectsOf(
  control: AdmissionControl, at: SecurityBaseline, operatorNamespace: string, exceptions: readonly ExceptionLike[],
): AdmissionObject[] {
  const relaxed = admissionRelaxations(at, exceptions);
  switch (control) {
    case 'imagePolicy':
      return naming(buildImagePolicy(at, operatorNamespace, relaxed.registries), relaxed.imageExceptions);
    case 'workloadPolicy':
      return naming(buildWorkloadPolicy(at, operatorNamespace, relaxed.execOpen), relaxed.execExceptions, admissionObjectName(at.metadata.name, EXEC_POLICY_SUFFIX));
    case 'admissionGate':
      return naming(buildAdmissionGate(at, operatorNamespace, relaxed.gateOpen), relaxed.gateExceptions);
  }
}

/**
 * The policies (all of `objects`, or only the one named `onlyPolicy`) annotated
 * with the exceptions they let through: people see them in `kubectl describe`,
 * and an exception starting or ending changes the annotation with the policy,
 * so that the write is not taken for drift.
 */
function naming(objects: AdmissionObject[], exceptions: readonly string[], onlyPolicy?: string): AdmissionObject[] {
  if (exceptions.length === 0) return objects;
  return objects.map((object) => (object.kind !== 'ValidatingAdmissionPolicy' || (onlyPolicy !== undefined && object.metadata.name !== onlyPolicy) ? object
    : { ...object, metadata: { ...object.metadata, annotations: { [EXCEPTIONS_ANNOTATION]: JSON.stringify(exceptions) } } }));
}

function liveAdmissionObjects(ctx: ControllerContext, baseline: string): KubeObject[] {
  return ctx.clusterManaged.all().flatMap((informer) => informer.list())
    .filter((object) => object.metadata.labels?.[BASELINE_LABEL] === baseline);
}

/**
 * Applies what differs and deletes what is no longer wanted. Returns the
 * first problem, for the baseline's Degraded condition, or undefined.
 */
export interface AdmissionOutcome {
  readonly problem: Problem | undefined;
  /** Whether an admission object was written or removed: what the namespaces' reports say of it changed. */
  readonly changed: boolean;
}

export async function reconcileAdmission(
  ctx: ControllerContext, baseline: BaselineObject, older: readonly { name: string; content: RevisionContent }[],
): Promise<AdmissionOutcome> {
  const name = baseline.metadata.name;
  let desired: DesiredObject[];
  try {
    desired = desiredAdmissionObjects(baseline, ctx.operatorNamespace, older, exceptionsOf(ctx, name, Date.now()));
  } catch (error) {
    if (error instanceof SpecError) return { problem: { state: 'failed', reason: 'InvalidSpec', message: error.message }, changed: false };
    throw error;
  }
  let problem: Problem | undefined;
  let changed = false;
  const wanted = new Set<string>();
  for (const object of desired) {
    const type = clusterManagedKind(object.kind);
    if (!type) continue;
    wanted.add(`${object.kind}/${object.metadata.name}`);
    const cache = ctx.clusterManaged.informer(type);
    const cached = cache?.get(object.metadata.name);
    const result = await ensureObject(ctx, {
      object, baseline: name, type, cache, cached,
      about: baselineRef(baseline),
      eventPrefix: '',
      // Drift only at the same generation, letting through the same exceptions.
      appliedBefore: baseline.status?.observedGeneration === baseline.metadata.generation
        && cached?.metadata.annotations?.[EXCEPTIONS_ANNOTATION] === object.metadata.annotations?.[EXCEPTIONS_ANNOTATION],
    });
    if (result.outcome === 'refused') problem ??= result.problem;
    if (result.outcome === 'applied') changed = true;
  }
  for (const object of liveAdmissionObjects(ctx, name)) {
    if (wanted.has(`${object.kind}/${object.metadata.name}`)) continue;
    await removeAdmissionObject(ctx, object, 'Delete');
    changed = true;
  }
  return { problem, changed };
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
  if (type) await ctx.writer.release(type, object, ctx.clusterManaged.informer(type), policy);
}
