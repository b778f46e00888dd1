// Ensuring one managed object is as a baseline wants it: the one sequence that
// the namespace reconcile (each namespaced object) and the baseline reconcile
// (its admission policies) share.
//
//   preconditions (pure, in order) ─► cached fingerprint ─► create if absent ─► read ─► owner check (pure) ─► plan (pure) ─► write ─► drift Event
//
// The caches keep a fingerprint of each managed object, not the object
// (records.ts): when it matches the desired object's, nothing is read or
// written. An object not in the cache is most often absent: it is created by
// an apply the API server refuses when an object of that name exists
// (writer.ts, createByApply), so a new namespace costs one write per object
// and no read. Otherwise the live object is read, which the owner check, the
// plan and the drift Event (the changed field, and who changed it) need anyway.
//
// Like cert-manager's policy chain, each check is a small pure function that
// returns a Problem (a reason and a message) or nothing; the first Problem
// stops the sequence and nothing is written. Every check has its own unit tests.
import { BASELINE_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, OPERATOR_NAME, AUTHORING_POLICY_NAME } from '../api/constants.ts';
import type { DesiredObject } from '../resources/index.ts';
import type { InvolvedObject } from '../runtime/events.ts';
import { cacheKey } from '../runtime/informer.ts';
import type { KubeObject, ResourceType } from '../runtime/kube.ts';
import type { ControllerContext, ManagedCache, ManagedRecord, Problem } from './context.ts';
import { containsDesired, firstDifference, otherManagers } from './diff.ts';
import { desiredFingerprint, ownsEmptyLists } from './fingerprint.ts';

/** What the preconditions decide on: facts from the caches, no request. */
export interface Facts {
  readonly object: DesiredObject;
  /** The cluster serves the object's kind (an optional CRD may be missing). */
  readonly kindServed: boolean;
  readonly authoringPolicyInstalled: boolean;
  clusterRoleExists(name: string): boolean;
}

export type Precondition = (facts: Facts) => Problem | undefined;

/** What to say when a kind is not served, by kind. */
const UNSERVED: Record<string, { reason: string; hint: string }> = {
  Flow: { reason: 'LoggingUnavailable', hint: 'install its CustomResourceDefinition' },
  ValidatingAdmissionPolicy: { reason: 'AdmissionPolicyUnavailable', hint: 'Kubernetes 1.30 or later has it' },
  ValidatingAdmissionPolicyBinding: { reason: 'AdmissionPolicyUnavailable', hint: 'Kubernetes 1.30 or later has it' },
};

export const kindServed: Precondition = ({ object, kindServed: served }) => {
  if (served) return undefined;
  const { reason, hint } = UNSERVED[object.kind] ?? { reason: 'KindUnavailable', hint: 'install its CustomResourceDefinition' };
  return { state: 'failed', reason, message: `${object.kind} (${object.apiVersion}) is not served by this cluster; ${hint}` };
};

/** Grants wait for the admission check on their authors (see ControllerContext.authoringPolicyInstalled). */
export const authoringPolicyInstalled: Precondition = ({ object, authoringPolicyInstalled: installed }) => {
  if (installed || (object.kind !== 'Role' && object.kind !== 'RoleBinding')) return undefined;
  return {
    state: 'failed',
    reason: 'AuthoringPolicyMissing',
    message: `${object.kind} ${object.metadata.name} not applied: the ValidatingAdmissionPolicy ${AUTHORING_POLICY_NAME} or its binding is not installed,`
      + ' and without it anyone who can write a SecurityBaseline could grant themselves access; install crds/ (make install)',
  };
};

/** A RoleBinding to a ClusterRole that does not exist yet waits for it. */
export const clusterRoleExists: Precondition = ({ object, clusterRoleExists: exists }) => {
  if (object.kind !== 'RoleBinding') return undefined;
  const roleRef = object.roleRef as { kind?: string; name?: string } | undefined;
  if (roleRef?.kind !== 'ClusterRole' || !roleRef.name || exists(roleRef.name)) return undefined;
  return {
    state: 'failed',
    reason: 'ClusterRoleNotFound',
    message: `RoleBinding ${object.metadata.name} refers to ClusterRole ${roleRef.name}, which does not exist; it is created once the ClusterRole exists`,
  };
};

export const PRECONDITIONS: readonly Precondition[] = [kindServed, authoringPolicyInstalled, clusterRoleExists];

/** The first Problem of the chain, or undefined when every check passes. */
export function firstProblem(checks: readonly Precondition[], facts: Facts): Problem | undefined {
  for (const check of checks) {
    const problem = check(facts);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * An object of that name exists and belongs to someone else (another owner, or
 * another baseline that exists): never touched.
 *
 * An object whose ownership labels were taken off (or name no baseline), but
 * whose fields the operator's own apply still holds, is the operator's: it
 * applied the object and has not let go of it (a release moves the fields to
 * another manager, writer.ts). Anyone allowed to patch it could otherwise
 * detach a managed object by removing one label, and then change it at will.
 */
export function foreignOwner(
  object: DesiredObject, baseline: string, current: KubeObject | undefined, baselineExists: (name: string) => boolean = () => true,
): Problem | undefined {
  if (!current) return undefined;
  const labelled = current.metadata.labels?.[BASELINE_LABEL];
  if (labelled === baseline) return undefined;
  if ((labelled === undefined || !baselineExists(labelled)) && appliedByOperator(current)) return undefined;
  const owner = current.metadata.labels?.[MANAGED_BY_LABEL] === OPERATOR_NAME
    ? `baseline ${current.metadata.labels?.[BASELINE_LABEL] ?? '?'}` : 'another owner';
  return { state: 'conflict', reason: 'ForeignObject', message: `${object.kind} ${object.metadata.name} already exists and belongs to ${owner}; it was left untouched` };
}

/** The operator's own server-side apply holds fields of the object (the managedFields say so). */
function appliedByOperator(object: KubeObject): boolean {
  return object.metadata.managedFields?.some((entry) => entry.manager === FIELD_MANAGER && entry.operation === 'Apply' && entry.subresource === undefined) ?? false;
}

/**
 * The live object holds every desired field though its fingerprint differs
 * (a field the baseline stopped setting is still the operator's, say): its
 * record says so until the object changes, so the next reconcile reads nothing.
 */
function rememberHolds(cache: ManagedCache | undefined, current: KubeObject | undefined, fingerprint: string): void {
  if (!current || !cache) return;
  const record = cache.get(cacheKey(current));
  if (record && record.metadata.resourceVersion === current.metadata.resourceVersion) record.holds = fingerprint;
}

/**
 * `none`: the live object already holds every desired field, as the
 * operator's; `claim`: it holds them, but an empty list among them is no one's
 * (written by an earlier version), so the same apply takes it; `replace`: a
 * RoleBinding's roleRef, which cannot change in place.
 */
export type WritePlan = 'none' | 'claim' | 'apply' | 'replace';

/** Whether a cached record shows, by fingerprint alone, that the server holds every desired field. */
export function recordHolds(record: ManagedRecord | undefined, fingerprint: string): boolean {
  return record !== undefined && (record.owned === fingerprint || record.holds === fingerprint);
}

export function planWrite(object: DesiredObject, current: KubeObject | undefined): WritePlan {
  if (!current) return 'apply';
  if (containsDesired(object, current)) return ownsEmptyLists(object, current) ? 'none' : 'claim';
  if (object.kind === 'RoleBinding' && firstDifference(object.roleRef, (current as KubeObject & { roleRef?: unknown }).roleRef) !== undefined) return 'replace';
  return 'apply';
}

export interface EnsureRequest {
  readonly object: DesiredObject;
  readonly baseline: string;
  readonly type: ResourceType;
  /** The kind's cache; undefined when the cluster does not serve the kind. */
  readonly cache: ManagedCache | undefined;
  /** The object's record from the cache, if it is there (the caches hold only managed objects). */
  readonly cached: ManagedRecord | undefined;
  /** Where drift and conflict Events go (the namespace, or the baseline for its cluster-scoped objects). */
  readonly about: InvolvedObject;
  /** Prefixes Event messages: `baseline <name>: ` on a namespace, nothing on the baseline itself. */
  readonly eventPrefix: string;
  /**
   * The baseline was applied here at its current spec before: a difference is
   * drift (someone changed or deleted the object), not this spec's update.
   */
  readonly appliedBefore: boolean;
}

export type EnsureResult =
  | { readonly outcome: 'unchanged' }
  | { readonly outcome: 'applied'; readonly writes: number; readonly drift: boolean }
  | { readonly outcome: 'refused'; readonly problem: Problem };

/**
 * Makes one managed object as desired, writing only when it differs. API
 * errors are thrown; the caller decides whether they fail the reconcile.
 */
export async function ensureObject(ctx: ControllerContext, request: EnsureRequest): Promise<EnsureResult> {
  const { object, baseline, type, cache, about, eventPrefix } = request;
  const blocked = firstProblem(PRECONDITIONS, {
    object,
    kindServed: cache !== undefined,
    authoringPolicyInstalled: ctx.authoringPolicyInstalled(),
    clusterRoleExists: (name) => ctx.clusterRoles.get(name) !== undefined,
  });
  if (blocked) return { outcome: 'refused', problem: blocked };

  // Hashed only against a record: a namespace being provisioned has none, and its objects are created without it.
  if (request.cached && recordHolds(request.cached, desiredFingerprint(object)) && !foreignOwner(object, baseline, request.cached)) {
    return { outcome: 'unchanged' };
  }

  // Not in the label-filtered cache: most often absent. Created without a read, unless an object
  // of that name exists (just created, or someone else's), which the read below then looks at.
  if (!request.cached && await ctx.writer.createByApply(type, object, cache)) {
    return created(ctx, request);
  }

  // Someone else's object of that name, or its fields differ by fingerprint: read the live object.
  const current = await ctx.writer.get(type, object.metadata.name, object.metadata.namespace);
  const foreign = foreignOwner(object, baseline, current, (name) => ctx.baselines.get(name) !== undefined);
  if (foreign) {
    void ctx.recorder.event(about, 'Warning', foreign.reason, eventPrefix + foreign.message);
    return { outcome: 'refused', problem: foreign };
  }

  const plan = planWrite(object, current);
  if (plan === 'none') {
    rememberHolds(cache, current, desiredFingerprint(object));
    return { outcome: 'unchanged' };
  }
  if (plan === 'claim') {
    await ctx.writer.apply(type, object, cache);
    return { outcome: 'applied', writes: 1, drift: false };
  }
  let writes = 0;
  if (plan === 'replace' && current && await ctx.writer.release(type, current, cache, 'Delete')) writes++;
  await ctx.writer.apply(type, object, cache);
  writes++;

  if (!current) return created(ctx, request);
  // Only an object that was already right at this spec can have drifted; otherwise this write is the update.
  if (!request.appliedBefore) return { outcome: 'applied', writes, drift: false };
  ctx.metrics.driftCorrected(baseline, object.kind);
  const managers = otherManagers(current);
  void ctx.recorder.event(about, 'Warning', 'DriftCorrected', `${eventPrefix}${object.kind} ${object.metadata.name} `
    + `had ${firstDifference(object, current)} changed by ${managers.length > 0 ? managers.join(', ') : 'an unknown field manager'}; restored`);
  return { outcome: 'applied', writes, drift: true };
}

/** The object did not exist and was created: drift when the baseline had been applied here at this spec (someone deleted it). */
function created(ctx: ControllerContext, { object, baseline, about, eventPrefix, appliedBefore }: EnsureRequest): EnsureResult {
  if (!appliedBefore) return { outcome: 'applied', writes: 1, drift: false };
  ctx.metrics.driftCorrected(baseline, object.kind);
  void ctx.recorder.event(about, 'Warning', 'DriftCorrected', `${eventPrefix}${object.kind} ${object.metadata.name} was deleted; recreated`);
  return { outcome: 'applied', writes: 1, drift: true };
}
