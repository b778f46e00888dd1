// BaselineExceptions in the operator. The relaxation itself happens where a
// baseline becomes objects (namespace.ts, admission.ts), from the exceptions
// cache and the clock; this module keeps each exception's status, records the
// Events, and wakes what an exception relaxed when it ends. Expiry is the one
// change no informer event announces: each exception's key is queued again
// for the moment it expires (a timer per exception, never a poll of all).
//
//   exception added/changed/deleted ─► eventkeys.ts: its namespaces, its baseline, its key
//   its key ─► reconcileException: state (pure), status, Event; at a change of state
//              (expiry included) its namespaces and baseline; requeue at expiresAt
import { CREATED_BY_ANNOTATION, EXCEPTION_KIND, type BaselineExceptionStatus, type ExceptionCondition, type ExceptionState } from '../api/exception.ts';
import { API_VERSION } from '../api/types.ts';
import type { InvolvedObject } from '../runtime/events.ts';
import type { OperatorMetrics } from '../runtime/metrics.ts';
import type { ReconcileResult } from '../runtime/workqueue.ts';
import { evaluateException, exceptionsOfBaseline, expiresAtMs, hasExpired, relaxedControls, relaxProblems, type ExceptionEvaluation } from '../resources/exception.ts';
import { namespaceRef, type BaselineObject, type ControllerContext, type ExceptionObject, type NamespaceObject } from './context.ts';
import { EXCEPTIONS } from './kinds.ts';
import { isDeleting, selects } from './selection.ts';

/**
 * Node's timers hold at most 2^31-1 ms (about 24.8 days; a longer delay fires
 * at once): an exception of up to 90 days is looked at again daily until the
 * last day, then at its expiry.
 */
const MAX_TIMER_MS = 24 * 60 * 60 * 1000;

export interface ExceptionReport {
  readonly exception: string;
  readonly state?: ExceptionState;
  readonly action: 'gone' | 'status-written' | 'unchanged';
}

/** What an exception's change of state wakes. */
export interface ExceptionQueues {
  namespace(name: string): void;
  baseline(name: string): void;
}

/** The exceptions of `baseline` that have not expired at `now`, whatever namespaces they name. */
export function exceptionsOf(ctx: ControllerContext, baseline: string, now: number): ExceptionObject[] {
  return exceptionsOfBaseline(ctx.exceptions.list(), baseline, now);
}

function liveBaseline(ctx: ControllerContext, name: string): BaselineObject | undefined {
  const baseline = ctx.baselines.get(name);
  return baseline && !isDeleting(baseline) ? baseline : undefined;
}

/** The namespaces the exception names that exist and the baseline selects. */
function selectedNamespaces(ctx: ControllerContext, exception: ExceptionObject, baseline: BaselineObject | undefined): string[] {
  if (!baseline) return [];
  return exception.spec.namespaces.filter((name) => {
    const namespace = ctx.namespaces.get(name);
    return namespace !== undefined && !isDeleting(namespace) && selects(baseline, namespace, ctx.operatorNamespace);
  });
}

/** The exception's state at `now`, from the caches. */
export function evaluate(ctx: ControllerContext, exception: ExceptionObject, now: number): ExceptionEvaluation {
  const baseline = liveBaseline(ctx, exception.spec.baseline);
  return evaluateException(exception, baseline, selectedNamespaces(ctx, exception, baseline), now);
}

export async function reconcileException(ctx: ControllerContext, name: string, queues: ExceptionQueues): Promise<ExceptionReport & ReconcileResult> {
  const exception = ctx.exceptions.get(name);
  if (!exception) return { exception: name, action: 'gone' };
  const evaluation = evaluate(ctx, exception, Date.now());
  const { state } = evaluation;
  const requeueAfterMs = evaluation.expiresInMs === undefined ? undefined : Math.min(evaluation.expiresInMs, MAX_TIMER_MS);

  const before = exception.status?.state;
  if (before !== state) {
    // Informer events wake the namespaces for every change but expiry (and a
    // restart reconciles everything): waking them again costs a no-op reconcile.
    for (const namespace of exception.spec.namespaces) queues.namespace(namespace);
    queues.baseline(exception.spec.baseline);
    recordStateEvent(ctx, exception, evaluation);
  }
  const status = exceptionStatus(exception, evaluation);
  if (sameExceptionStatus(exception.status, status)) return { exception: name, state, action: 'unchanged', requeueAfterMs };
  await ctx.writer.apply(EXCEPTIONS, { apiVersion: API_VERSION, kind: EXCEPTION_KIND, metadata: { name }, status }, ctx.exceptions, { subresource: 'status' });
  return { exception: name, state, action: 'status-written', requeueAfterMs };
}

function exceptionRef(exception: ExceptionObject): InvolvedObject {
  return { apiVersion: API_VERSION, kind: EXCEPTION_KIND, name: exception.metadata.name, uid: exception.metadata.uid };
}

function recordStateEvent(ctx: ControllerContext, exception: ExceptionObject, evaluation: ExceptionEvaluation): void {
  const message = evaluation.conditions.find((c) => c.type === (evaluation.state === 'Invalid' ? 'Valid' : 'Active'))?.message ?? '';
  void ctx.recorder.event(exceptionRef(exception), evaluation.state === 'Invalid' ? 'Warning' : 'Normal', evaluation.state, message);
}

/** The status for an evaluation; conditions keep their transition times. */
export function exceptionStatus(exception: ExceptionObject, evaluation: ExceptionEvaluation, now = new Date()): BaselineExceptionStatus {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z');
  const previous = new Map((exception.status?.conditions ?? []).map((c) => [c.type, c]));
  const generation = exception.metadata.generation ?? 0;
  const conditions: ExceptionCondition[] = evaluation.conditions.map((condition) => {
    const before = previous.get(condition.type);
    return { ...condition, observedGeneration: generation, lastTransitionTime: before && before.status === condition.status ? before.lastTransitionTime : stamp };
  });
  return { state: evaluation.state, observedGeneration: generation, namespaces: evaluation.namespaces, conditions };
}

function sameExceptionStatus(current: BaselineExceptionStatus | undefined, next: BaselineExceptionStatus): boolean {
  if (!current) return false;
  const strip = (status: BaselineExceptionStatus) => JSON.stringify([
    status.state, status.observedGeneration, status.namespaces ?? [],
    (status.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration]),
  ]);
  return strip(current) === strip(next);
}

/** Who created the exception, as the API server stamped it. */
function creator(exception: ExceptionObject): string {
  return exception.metadata.annotations?.[CREATED_BY_ANNOTATION] ?? 'an unknown user';
}

/**
 * Events on the namespace for each exception of `baseline` that started or
 * ended there: `before` as the namespace's exceptions annotation recorded it,
 * `after` as just applied.
 */
export function recordExceptionChanges(
  ctx: ControllerContext, namespace: NamespaceObject, baseline: string, before: readonly string[], after: readonly string[], now: number,
): void {
  const about = namespaceRef(namespace);
  for (const name of after.filter((n) => !before.includes(n))) {
    const exception = ctx.exceptions.get(name);
    if (!exception) continue;
    void ctx.recorder.event(about, 'Normal', 'ExceptionStarted', `BaselineException ${name} relaxes ${relaxedControls(exception.spec.relax).join(', ')}`
      + ` of baseline ${baseline} here until ${exception.spec.expiresAt}; created by ${creator(exception)}; reason: ${exception.spec.reason}`);
  }
  for (const name of before.filter((n) => !after.includes(n))) {
    const exception = ctx.exceptions.get(name);
    void ctx.recorder.event(about, 'Normal', 'ExceptionEnded', `BaselineException ${name} ${whyEnded(ctx, exception, baseline, namespace.metadata.name, now)};`
      + ` the controls of baseline ${baseline} are restored here${exception ? ` (it was created by ${creator(exception)}; reason: ${exception.spec.reason})` : ''}`);
  }
}

function whyEnded(ctx: ControllerContext, exception: ExceptionObject | undefined, baseline: string, namespace: string, now: number): string {
  if (!exception || isDeleting(exception)) return 'was deleted';
  if (hasExpired(exception, now)) return `expired at ${exception.spec.expiresAt}`;
  if (exception.spec.baseline !== baseline) return `no longer names baseline ${baseline}`;
  if (!exception.spec.namespaces.includes(namespace)) return 'no longer names this namespace';
  const current = liveBaseline(ctx, baseline);
  const problems = current ? relaxProblems(baseline, current.spec, exception.spec.relax) : [];
  return problems.length > 0 ? `is no longer valid (${problems.map((p) => p.message).join('; ')})` : 'no longer applies';
}

/** security_baseline_exceptions{state} and the expiry time of each exception not yet expired or invalid, from the caches. */
export function observeExceptions(ctx: ControllerContext, metrics: OperatorMetrics, now = Date.now()): void {
  const counts: Record<ExceptionState, number> = { Pending: 0, Active: 0, Expired: 0, Invalid: 0 };
  metrics.exceptionExpiry.reset();
  for (const exception of ctx.exceptions.list()) {
    const { state } = evaluate(ctx, exception, now);
    counts[state]++;
    if (state === 'Active' || state === 'Pending') {
      metrics.exceptionExpiry.set({ exception: exception.metadata.name, baseline: exception.spec.baseline }, expiresAtMs(exception) / 1000);
    }
  }
  for (const [state, count] of Object.entries(counts)) metrics.exceptions.set({ state }, count);
}
