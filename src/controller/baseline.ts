// The reconcile of one SecurityBaseline: its finalizer, and its status —
// namespace counts and conditions aggregated from the namespace reconciles.
// The namespaces themselves are reconciled by namespace.ts; this never writes
// to a namespace.
import { APPLIED_ANNOTATION, BASELINE_LABEL, FINALIZER } from '../api/constants.ts';
import { API_VERSION, KIND, type Condition, type SecurityBaselineStatus } from '../api/types.ts';
import { isNotFound } from '../runtime/errors.ts';
import type { ReconcileResult } from '../runtime/workqueue.ts';
import { reconcileAdmission, releaseAdmission } from './admission.ts';
import { ownedNamespaceKeys, parseApplied } from './applied.ts';
import type { BaselineObject, ControllerContext } from './context.ts';
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
    ctx.tracker.forgetBaseline(name);
    return { baseline: name, action: 'finalizer-removed' };
  }

  if (!finalizers.includes(FINALIZER)) {
    baseline = await ctx.writer.apply(BASELINES, { apiVersion: API_VERSION, kind: KIND, metadata: { name, finalizers: [FINALIZER] } }, ctx.baselines);
  }

  ctx.tracker.setBaselineProblem(name, await reconcileAdmission(ctx, baseline));

  const selected = new Set<string>();
  for (const selectedName of ctx.selection.namespacesSelectedBy(baseline)) {
    const namespace = ctx.namespaces.get(selectedName);
    if (namespace && !isDeleting(namespace)) selected.add(selectedName);
  }
  const summary = ctx.tracker.summarize(name, selected, baseline.metadata.generation ?? 0);
  const status = desiredStatus(baseline, summary);
  if (sameStatus(baseline.status, status)) return { baseline: name, action: 'unchanged' };
  // Mid-way through a generation the status already describes (after a restart,
  // say), partial counts would only churn: wait for the namespaces to report.
  if (!summary.upToDate && baseline.status?.observedGeneration === baseline.metadata.generation) {
    return { baseline: name, action: 'unchanged' };
  }
  // At most one status write per interval, however many namespaces report in it.
  const wait = ctx.tracker.untilNextWrite(name);
  if (wait > 0) return { baseline: name, action: 'unchanged', requeueAfterMs: wait };
  ctx.tracker.statusWritten(name);
  await ctx.writer.apply(BASELINES, { apiVersion: API_VERSION, kind: KIND, metadata: { name }, status }, ctx.baselines, { subresource: 'status' });
  return { baseline: name, action: 'status-written' };
}

/** The status to write for a summary of the baseline's namespaces (conditions keep their transition times). */
export function desiredStatus(baseline: BaselineObject, summary: StatusSummary): SecurityBaselineStatus {
  const generation = baseline.metadata.generation ?? 0;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const previous = new Map((baseline.status?.conditions ?? []).map((c) => [c.type, c]));
  const conditions: Condition[] = summary.conditions.map((condition) => {
    const before = previous.get(condition.type);
    return { ...condition, lastTransitionTime: before && before.status === condition.status ? before.lastTransitionTime : now };
  });
  return {
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
