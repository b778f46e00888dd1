// The reconcile of one SecurityBaseline: its finalizer, and its status —
// namespace counts and conditions aggregated from the namespace reconciles.
// The namespaces themselves are reconciled by namespace.ts; this never writes
// to a namespace.
import { APPLIED_ANNOTATION, BASELINE_LABEL, FINALIZER } from '../api/constants.ts';
import { API_VERSION, KIND, type Condition, type SecurityBaselineStatus } from '../api/types.ts';
import { isNotFound, isRetriable, KubeApiError } from '../runtime/errors.ts';
import type { ReconcileResult } from '../runtime/workqueue.ts';
import { planRollout, type RolloutPlan } from '../resources/rollout.ts';
import { revisionName } from '../resources/revision.ts';
import { reconcileAdmission, releaseAdmission } from './admission.ts';
import { deleteRevisions, ensureRevision, pruneRevisions, revisionContent } from './revisions.ts';
import { ownedNamespaceKeys, parseApplied } from './applied.ts';
import { baselineRef, type BaselineObject, type ControllerContext, type Problem } from './context.ts';
import { BASELINES } from './kinds.ts';
import type { StatusSummary } from './status.ts';
import { isDeleting } from './selection.ts';

export interface BaselineReport {
  readonly baseline: string;
  readonly action: 'gone' | 'waiting-for-cleanup' | 'finalizer-removed' | 'status-written' | 'unchanged';
  readonly remaining?: number;
}

export async function reconcileBaseline(
  ctx: ControllerContext, name: string, enqueueNamespace: (namespace: string) => void,
): Promise<BaselineReport & ReconcileResult> {
  let baseline = ctx.baselines.get(name);
  if (!baseline) {
    ctx.tracker.forgetBaseline(name);
    return { baseline: name, action: 'gone' };
  }
  const finalizers = baseline.metadata.finalizers ?? [];

  if (isDeleting(baseline)) {
    if (!finalizers.includes(FINALIZER)) return { baseline: name, action: 'gone' };
    // Admission policies first: a gate must never outlive its baseline.
    await releaseAdmission(ctx, baseline);
    const remaining = namespacesHolding(ctx, name);
    if (remaining.size > 0) {
      // The namespace reconciles prune per deletionPolicy; object deletions bring us back here.
      for (const namespace of remaining) enqueueNamespace(namespace);
      return { baseline: name, action: 'waiting-for-cleanup', remaining: remaining.size, requeueAfterMs: 5_000 };
    }
    try {
      // Applying without the finalizer gives up the one item this field manager owns.
      await ctx.writer.apply(BASELINES, { apiVersion: API_VERSION, kind: KIND, metadata: { name, finalizers: [] } }, ctx.baselines);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    await deleteRevisions(ctx, name);
    ctx.tracker.forgetBaseline(name);
    ctx.rollouts.forgetBaseline(name);
    return { baseline: name, action: 'finalizer-removed' };
  }

  if (!finalizers.includes(FINALIZER)) {
    baseline = await ctx.writer.apply(BASELINES, { apiVersion: API_VERSION, kind: KIND, metadata: { name, finalizers: [FINALIZER] } }, ctx.baselines);
  }

  let updateRevision = revisionName(name, baseline.spec);
  let revisionProblem: Problem | undefined;
  try {
    updateRevision = await ensureRevision(ctx, baseline);
  } catch (error) {
    // Retrying cannot help a missing namespace or permission: say so, and go on without a stored revision.
    if (isRetriable(error)) throw error;
    revisionProblem = {
      state: 'failed', reason: 'RevisionsUnavailable',
      message: `cannot store revision ${updateRevision} in namespace ${ctx.operatorNamespace}: ${error instanceof KubeApiError ? error.apiMessage : String(error)}`,
    };
  }
  // The one pass over the namespaces the baseline selects (the rest of the status is kept as outcomes change).
  const passStarted = performance.now();
  const selected: { name: string; labels: Readonly<Record<string, string>>; revision: string | undefined }[] = [];
  for (const selectedName of ctx.selection.namespacesSelectedBy(baseline)) {
    const namespace = ctx.namespaces.get(selectedName);
    if (!namespace || isDeleting(namespace)) continue;
    const revision = parseApplied(namespace.metadata.annotations?.[APPLIED_ANNOTATION])[name];
    selected.push({ name: namespace.metadata.name, labels: namespace.metadata.labels ?? {}, revision });
  }
  const plan = planRollout({
    spec: baseline.spec.rollout, paused: baseline.spec.paused === true, updateRevision, namespaces: selected,
    held: ctx.rollouts.held(name), failed: ctx.rollouts.failed(name), previous: baseline.status?.rollout, now: Date.now(),
  });
  // Namespaces the plan now lets move, and (now and then) the held ones, whose pre-flight may pass by now.
  const newlyPermitted = ctx.rollouts.setPlan(name, plan);
  const revisions = new Set<string>();
  for (const namespace of selected) {
    if (namespace.revision !== undefined) revisions.add(namespace.revision);
    if (namespace.revision !== updateRevision && (newlyPermitted === 'all' || newlyPermitted.has(namespace.name))) enqueueNamespace(namespace.name);
  }
  ctx.tracker.passTook(name, performance.now() - passStarted);
  const held = ctx.rollouts.held(name);
  if (held.size > 0 && ctx.tracker.dueForRecheck(name)) for (const namespace of held.keys()) enqueueNamespace(namespace);

  // Namespaces still at older revisions keep those revisions' admission rules.
  const older = [...revisions].filter((revision) => revision !== updateRevision)
    .flatMap((revision) => {
      const content = revisionContent(ctx, revision);
      return content ? [{ name: revision, content }] : [];
    });
  const admission = await reconcileAdmission(ctx, baseline, older);
  ctx.tracker.setBaselineProblem(name, admission.problem ?? revisionProblem);
  // The operator's own writes wake no handler, and a namespace reconciled just
  // before them reported the policies as missing: report again. The selection is
  // read again, not taken from `selected`: a namespace created while the policies
  // were being written is not in it, and its first reconcile may have read the
  // admission caches before them (its report then said `missing` for good).
  if (admission.changed && ctx.reports.all().length > 0) {
    for (const namespace of ctx.selection.namespacesSelectedBy(baseline)) enqueueNamespace(namespace);
  }

  const currentRevision = plan.complete ? updateRevision
    : baseline.status?.currentRevision ?? (baseline.status?.updateRevision !== updateRevision ? baseline.status?.updateRevision : undefined) ?? older[0]?.name;
  const keep = new Set([updateRevision, ...(currentRevision ? [currentRevision] : []), ...revisions]);
  await pruneRevisions(ctx, name, keep, baseline.spec.revisionHistoryLimit ?? 10);

  recordRolloutEvents(ctx, baseline, plan, currentRevision);
  const summary = ctx.tracker.summarize(name, selected.length, baseline.metadata.generation ?? 0);
  const status = desiredStatus(baseline, summary, { plan, updateRevision, currentRevision, progressive: baseline.spec.rollout?.strategy === 'Progressive' });
  const requeues = [plan.requeueAfterMs, held.size > 0 ? HELD_RECHECK_MS : undefined].filter((ms): ms is number => ms !== undefined);
  const requeueAfterMs = requeues.length > 0 ? Math.min(...requeues) : undefined;
  // A revision the API server refused to store is tried again on the queue's slow backoff.
  const refused = revisionProblem !== undefined;
  if (sameStatus(baseline.status, status)) return { baseline: name, action: 'unchanged', requeueAfterMs, refused };
  // Mid-way through a generation the status already describes (after a restart,
  // say), partial counts would only churn: wait for the namespaces to report.
  const written = baseline.status;
  if (written && !summary.upToDate && written.observedGeneration === baseline.metadata.generation
    && sameStatus(written, { ...status, namespaces: written.namespaces, conditions: written.conditions })) {
    return { baseline: name, action: 'unchanged', requeueAfterMs, refused };
  }
  // At most one status write per interval, however many namespaces report in it.
  const wait = ctx.tracker.untilNextWrite(name);
  if (wait > 0) return { baseline: name, action: 'unchanged', requeueAfterMs: Math.min(wait, requeueAfterMs ?? wait), refused };
  ctx.tracker.statusWritten(name);
  await ctx.writer.apply(BASELINES, { apiVersion: API_VERSION, kind: KIND, metadata: { name }, status }, ctx.baselines, { subresource: 'status' });
  return { baseline: name, action: 'status-written', requeueAfterMs, refused };
}

/** How often namespaces held by pre-flight are checked again. */
const HELD_RECHECK_MS = 30_000;

/**
 * Events on the baseline as a rollout (a move from one revision to another:
 * not a new baseline's first provisioning) starts, reaches a step, halts and
 * completes; each once.
 */
function recordRolloutEvents(ctx: ControllerContext, baseline: BaselineObject, plan: RolloutPlan, currentRevision: string | undefined): void {
  const { revision, step, updated, pending, held } = plan.status;
  const from = baseline.status?.currentRevision;
  if (from === undefined || from === revision) return;
  const once = (what: string, type: 'Normal' | 'Warning', reason: string, message: string) => {
    if (ctx.rollouts.firstTime(baseline.metadata.name, `${revision}/${what}`)) void ctx.recorder.event(baselineRef(baseline), type, reason, message);
  };
  const total = updated + pending + held;
  const progressive = baseline.spec.rollout?.strategy === 'Progressive';
  once('started', 'Normal', 'RolloutStarted', `rolling out revision ${revision} (from ${from}) to ${total} namespaces${progressive ? ` in ${plan.steps} steps` : ''}`);
  if (progressive && step > 0) once(`step-${step}`, 'Normal', 'RolloutStep', `revision ${revision}: step ${step + 1} of ${plan.steps} (${updated}/${total} namespaces updated)`);
  if (plan.halted) once(`halted-${step}-${held}`, 'Warning', 'RolloutHalted', `revision ${revision}: ${plan.halted.message}`);
  if (plan.complete && currentRevision === revision) once('complete', 'Normal', 'RolloutComplete', `revision ${revision} is in all ${total} namespaces`);
}

/** Where the baseline's rollout stands, for its status. */
export interface RolloutState {
  readonly plan: RolloutPlan;
  readonly updateRevision: string;
  readonly currentRevision: string | undefined;
  readonly progressive: boolean;
}

/**
 * The status to write for a summary of the baseline's namespaces and its
 * rollout (conditions keep their transition times).
 */
export function desiredStatus(baseline: BaselineObject, summary: StatusSummary, rollout?: RolloutState): SecurityBaselineStatus {
  const generation = baseline.metadata.generation ?? 0;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const previous = new Map((baseline.status?.conditions ?? []).map((c) => [c.type, c]));
  const wanted: Omit<Condition, 'lastTransitionTime'>[] = summary.conditions.map((condition) => {
    if (condition.type !== 'Progressing' || !rollout || rollout.plan.complete || condition.status === 'True') return condition;
    const { updated, pending, held, step } = rollout.plan.status;
    const where = rollout.progressive ? `; step ${step + 1} of ${rollout.plan.steps}` : '';
    const reason = baseline.spec.paused ? 'Paused' : rollout.plan.halted ? 'RolloutHalted' : 'RollingOut';
    return {
      ...condition, status: 'True', reason,
      message: `${updated}/${updated + pending + held} namespaces at revision ${rollout.updateRevision}${held > 0 ? `, ${held} held by pre-flight` : ''}${where}`
        + (baseline.spec.paused ? '; paused' : ''),
    };
  });
  if (rollout?.progressive) {
    const halted = rollout.plan.halted;
    wanted.push({
      type: 'RolloutHalted', status: halted ? 'True' : 'False', observedGeneration: generation,
      reason: halted?.reason ?? (rollout.plan.complete ? 'RolloutComplete' : 'NotHalted'),
      message: halted?.message ?? (rollout.plan.complete ? `revision ${rollout.updateRevision} is in every selected namespace` : 'no namespace failed pre-flight or apply'),
    });
  }
  const conditions: Condition[] = wanted.map((condition) => {
    const before = previous.get(condition.type);
    return { ...condition, lastTransitionTime: before && before.status === condition.status ? before.lastTransitionTime : now };
  });
  return {
    ...(rollout ? {
      ...(rollout.currentRevision ? { currentRevision: rollout.currentRevision } : {}),
      updateRevision: rollout.updateRevision,
      rollout: rollout.plan.status,
    } : {}),
    observedGeneration: summary.upToDate ? generation : baseline.status?.observedGeneration,
    conditions,
    namespaces: summary.namespaces,
  };
}

/** Whether a status write would change anything (the server returns keys in its own order). */
export function sameStatus(current: SecurityBaselineStatus | undefined, next: SecurityBaselineStatus): boolean {
  if (!current) return false;
  const strip = (status: SecurityBaselineStatus) => ({
    ...status, conditions: (status.conditions ?? []).map(({ lastTransitionTime: _, ...rest }) => rest),
  });
  return canonicalJson(strip(current)) === canonicalJson(strip(next));
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
    : v));
}

/**
 * Namespaces that still hold anything of the baseline: managed objects, or an
 * entry in the applied annotation the operator wrote (one someone else wrote is
 * theirs, and not the operator's to remove). A terminating namespace holds
 * nothing: what is in it goes with it.
 */
export function namespacesHolding(ctx: ControllerContext, baseline: string): Set<string> {
  const namespaces = new Set<string>();
  const live = (name: string) => {
    const namespace = ctx.namespaces.get(name);
    return namespace !== undefined && !isDeleting(namespace);
  };
  for (const informer of ctx.managed.all()) {
    for (const object of informer.list()) {
      const namespace = object.metadata.namespace;
      if (namespace && object.metadata.labels?.[BASELINE_LABEL] === baseline && live(namespace)) namespaces.add(namespace);
    }
  }
  for (const namespace of ctx.namespaces.list()) {
    if (!isDeleting(namespace) && ownedNamespaceKeys(namespace).annotations.has(APPLIED_ANNOTATION)
      && baseline in parseApplied(namespace.metadata.annotations?.[APPLIED_ANNOTATION])) {
      namespaces.add(namespace.metadata.name);
    }
  }
  return namespaces;
}
