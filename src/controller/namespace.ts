// The reconcile of one namespace. Level-based: it reads the caches, computes
// what every baseline that selects the namespace wants there, and makes the
// namespace so, whatever event woke it:
//
//   select ─► build each baseline once ─► compose (Enforce) ─► ensure each object
//          ─► prune what no baseline wants ─► the namespace's labels and annotation
//          ─► compare (Audit) ─► report outcomes to the status tracker
//
// Objects that already hold the desired fields cost no request; objects the
// operator does not manage are never touched; objects no longer wanted are
// pruned per the baseline's deletionPolicy.
import { APPLIED_ANNOTATION, BASELINE_LABEL, EXCEPTIONS_ANNOTATION } from '../api/constants.ts';
import { buildBaseline, composeDesired, objectKey, type BaselineBuild, type DesiredObject, type ObjectIdentity } from '../resources/index.ts';
import { atRevision, revisionContent as revisionContentOf } from '../resources/revision.ts';
import { exceptionsFor, relaxBaseline } from '../resources/exception.ts';
import { POD_SECURITY_LABEL_PREFIX } from '../resources/podsecurity.ts';
import { isRetriable, KubeApiError } from '../runtime/errors.ts';
import type { KubeObject } from '../runtime/kube.ts';
import { formatApplied, formatExceptions, ownedNamespaceKeys, parseApplied, parseExceptions } from './applied.ts';
import { auditedObjects, liveObjects, reportAudit } from './audit.ts';
import { namespaceRef, type BaselineObject, type ControllerContext, type ExceptionObject, type ManagedRecord, type NamespaceObject, type Problem } from './context.ts';
import { ensureObject } from './ensure.ts';
import { recordExceptionChanges } from './exceptions.ts';
import { preflight } from './preflight.ts';
import { revisionContent } from './revisions.ts';
import { managedKind, NAMESPACES, REPORTS } from './kinds.ts';
import { reconcileReport } from './reports.ts';
import { isAlwaysExcluded, isDeleting } from './selection.ts';

export interface NamespaceReport {
  readonly namespace: string;
  readonly baselines: string[];
  readonly writes: number;
  readonly skipped?: 'not-found' | 'terminating' | 'excluded';
  readonly drift: number;
  readonly problems: number;
  /**
   * An object or the Report of a managed name belongs to someone else. The
   * caches watch only the operator's own objects, so that one's deletion wakes
   * no reconcile: the caller looks again later (ManagerOptions.foreignRecheckMs).
   */
  readonly foreignConflict?: boolean;
  /**
   * The API server refused a write (a 403 from RBAC or an admission policy, a
   * 422). Retrying soon cannot help, but what refused may change without any
   * event the operator watches (a policy that failed closed for a moment, RBAC
   * caught up after a restart, another tool's policy fixed): the caller looks
   * again after a backoff (src/runtime/workqueue.ts, `refused`).
   */
  readonly refused?: boolean;
}

/** A conflict with someone else's object or Report of a managed name, which the caches do not watch. */
function isForeign(problem: Problem): boolean {
  return problem.reason === 'ForeignObject' || problem.reason === 'ForeignReport';
}

/** The first problem of each baseline; a failure says more than a conflict. */
class Problems {
  readonly #byBaseline = new Map<string, Problem>();
  /** Every object's problem, for the report. */
  readonly #byObject = new Map<string, Problem>();
  /** The first error retrying may fix: the reconcile fails with it, after doing all it can. */
  retriable: unknown;
  /** An object or the Report of a managed name belongs to someone else (a ForeignObject or ForeignReport conflict). */
  foreign = false;
  /** A write was refused: an API error retrying soon cannot fix. */
  refused = false;

  note(baseline: string, problem: Problem, object?: ObjectIdentity): void {
    if (object) this.#byObject.set(objectKey(object), problem);
    this.foreign ||= isForeign(problem);
    const existing = this.#byBaseline.get(baseline);
    if (!existing || (existing.state === 'conflict' && problem.state === 'failed')) this.#byBaseline.set(baseline, problem);
  }

  /** An API error while writing `object` for `baseline`. */
  fail(baseline: string, object: { kind?: string; metadata: { name: string } }, error: unknown): void {
    if (isRetriable(error)) this.retriable ??= error;
    else this.refused = true;
    const message = `${object.kind} ${object.metadata.name}: ${error instanceof KubeApiError ? error.apiMessage : String(error)}`;
    this.note(baseline, { state: 'failed', reason: error instanceof KubeApiError ? `Apply${error.reason}` : 'ApplyFailed', message }, object);
  }

  of(baseline: string): Problem | undefined {
    return this.#byBaseline.get(baseline);
  }

  ofObject(object: ObjectIdentity): Problem | undefined {
    return this.#byObject.get(objectKey(object));
  }

  get size(): number {
    return this.#byBaseline.size;
  }
}

export async function reconcileNamespace(ctx: ControllerContext, name: string): Promise<NamespaceReport> {
  const report = (extra: Partial<NamespaceReport>): NamespaceReport => ({ namespace: name, baselines: [], writes: 0, drift: 0, problems: 0, ...extra });
  const namespace = ctx.namespaces.get(name);
  if (!namespace || isDeleting(namespace)) {
    // Gone, or terminating: its objects go with it.
    ctx.tracker.forgetNamespace(name);
    return report({ skipped: namespace ? 'terminating' : 'not-found' });
  }
  if (isAlwaysExcluded(name, ctx.operatorNamespace)) return report({ skipped: 'excluded' });

  const baselines = ctx.baselines.list();
  const selecting = ctx.selection.baselinesSelecting(namespace).filter((b) => !isDeleting(b));
  const selectingNames = new Set(selecting.map((b) => b.metadata.name));
  const enforcing = selecting.filter((b) => (b.spec.mode ?? 'Enforce') === 'Enforce');
  const appliedBefore = parseApplied(namespace.metadata.annotations?.[APPLIED_ANNOTATION]);
  // The BaselineExceptions in effect here, by baseline.
  const now = Date.now();
  const allExceptions = ctx.exceptions.list();
  const inEffect = new Map(selecting.map((b) => [b.metadata.name, exceptionsFor(allExceptions, b.metadata.name, name, now)]));
  const exceptionsHere = (b: BaselineObject): ExceptionObject[] => inEffect.get(b.metadata.name) ?? [];
  // The revision of each Enforce baseline this namespace is to be at: it moves only as the rollout permits and pre-flight allows.
  const placements = new Map(await Promise.all(enforcing.map(async (b) => [b.metadata.name, await place(ctx, namespace, b, appliedBefore[b.metadata.name], exceptionsHere(b))] as const)));
  const placed = (b: BaselineObject): Placement => placements.get(b.metadata.name) as Placement;
  const info = { name, labels: namespace.metadata.labels ?? {} };
  // BaselineExceptions loosen a baseline's controls here, each judged against the revision the namespace is at.
  const exceptionsBefore = parseExceptions(namespace.metadata.annotations?.[EXCEPTIONS_ANNOTATION]);
  const relaxed = new Map(selecting.map((b) => [b.metadata.name, relaxBaseline(placements.get(b.metadata.name)?.baseline ?? b, exceptionsHere(b))]));
  const excepted = (b: BaselineObject): string[] => relaxed.get(b.metadata.name)?.applied ?? [];
  const builds = new Map(selecting.map((b) => [b.metadata.name, buildBaseline(relaxed.get(b.metadata.name)?.baseline ?? b, info)]));
  // A baseline whose revision is not stored contributes nothing and loses nothing: its objects stay as they are.
  const frozen = new Set(enforcing.filter((b) => placed(b).frozen).map((b) => b.metadata.name));
  const desired = composeDesired(enforcing.filter((b) => !frozen.has(b.metadata.name)).map((b) => builds.get(b.metadata.name) as BaselineBuild));

  const problems = new Problems();
  for (const b of enforcing) {
    const { frozen: problem } = placed(b);
    if (problem) problems.note(b.metadata.name, problem);
  }
  for (const { baseline, error } of desired.errors) problems.note(baseline, { state: 'failed', reason: 'InvalidSpec', message: error.message });
  for (const conflict of desired.conflicts) {
    problems.note(conflict.baseline, {
      state: 'conflict',
      reason: conflict.control === 'podSecurity' ? 'PodSecurityOverridden' : 'LimitRangeOverridden',
      message: `its ${conflict.control} is overridden by baseline ${conflict.winner}`,
    });
  }

  const live = liveManagedObjects(ctx, name);
  // Already at the revision it is to be at, with the same exceptions (known from the annotations, or from an
  // earlier reconcile of this process): only then is a difference drift, not an update or an exception's start or end.
  const atThisRevision = (baseline: BaselineObject): boolean => {
    const { target } = placed(baseline);
    const same = (exceptions: readonly string[] | undefined) => (exceptions ?? []).join() === excepted(baseline).join();
    const outcome = ctx.tracker.outcome(baseline.metadata.name, name);
    return (appliedBefore[baseline.metadata.name] === target && same(exceptionsBefore[baseline.metadata.name]))
      || (outcome?.revision === target && same(outcome.exceptions));
  };
  const enforcingByName = new Map(enforcing.map((b) => [b.metadata.name, b]));
  let writes = 0;
  let drift = 0;

  // The objects are independent: send their requests together, so a namespace
  // costs the latency of its slowest object, not the sum of all of them.
  await Promise.all(desired.objects.map(async (object) => {
    const baseline = object.metadata.labels[BASELINE_LABEL] ?? '';
    const type = managedKind(object.apiVersion, object.kind);
    if (!type) return;
    try {
      const result = await ensureObject(ctx, {
        object, baseline, type,
        cache: ctx.managed.informer(type),
        cached: live.get(objectKey(object)),
        about: namespaceRef(namespace),
        eventPrefix: `baseline ${baseline}: `,
        appliedBefore: atThisRevision(enforcingByName.get(baseline) as BaselineObject),
      });
      if (result.outcome === 'refused') problems.note(baseline, result.problem, object);
      if (result.outcome === 'applied') {
        writes += result.writes;
        if (result.drift) drift++;
      }
    } catch (error) {
      problems.fail(baseline, object, error);
    }
  }));

  writes += await prune(ctx, live, desired.objects, new Set([...desired.errors.map((e) => e.baseline), ...frozen]), selecting, problems);

  // The namespace itself: Pod Security labels, the applied annotation (the revision of each baseline) and
  // the exceptions annotation (the exceptions in effect, per baseline), in one apply.
  const applied: Record<string, string> = {};
  const exceptions: Record<string, string[]> = {};
  for (const baseline of enforcing) {
    const problem = problems.of(baseline.metadata.name);
    if (!problem || problem.state === 'conflict') {
      applied[baseline.metadata.name] = placed(baseline).target;
      exceptions[baseline.metadata.name] = excepted(baseline);
    } else if (appliedBefore[baseline.metadata.name] !== undefined) {
      // Applied once, then broken (or not movable): stays as it was, and open for the admission gate.
      applied[baseline.metadata.name] = appliedBefore[baseline.metadata.name] as string;
      exceptions[baseline.metadata.name] = exceptionsBefore[baseline.metadata.name] ?? [];
    } else {
      // Never applied, so nothing here can count as drift: record the exceptions in effect (a gate switched off, say).
      exceptions[baseline.metadata.name] = excepted(baseline);
    }
  }
  try {
    const leaving = Object.keys(appliedBefore).filter((baseline) => !enforcingByName.has(baseline)).map((baseline) => ctx.baselines.get(baseline));
    const namespaceWrites = await applyNamespace(ctx, namespace, desired.namespaceLabels, { applied, exceptions }, leaving);
    writes += namespaceWrites;
    for (const baseline of new Set([...Object.keys(exceptionsBefore), ...Object.keys(exceptions)])) {
      recordExceptionChanges(ctx, namespace, baseline, exceptionsBefore[baseline] ?? [], exceptions[baseline] ?? [], now);
    }
    if (namespaceWrites > 0 && Object.keys(appliedBefore).length === 0 && Object.keys(applied).length > 0) {
      ctx.metrics.provisioned(namespace, enforcing);
    }
  } catch (error) {
    for (const baseline of enforcing) problems.fail(baseline.metadata.name, namespace, error);
  }

  // The caches keep records, not objects: what Audit compares is read when its fingerprint differs.
  const auditing = selecting.filter((b) => b.spec.mode === 'Audit').map((b) => ({ baseline: b, build: builds.get(b.metadata.name) as BaselineBuild }));
  const audited = auditing.length > 0 ? await liveObjects(ctx, auditedObjects(auditing), live) : new Map<string, KubeObject>();
  drift += reportAudit(ctx, namespace, auditing, audited);

  const compliance = await reconcileReport(ctx, {
    namespace, selecting, builds, desired, live: await reportedLive(ctx, audited, live, desired.objects, problems), problemOf: (object) => problems.ofObject(object),
  });
  writes += compliance.writes;
  problems.retriable ??= compliance.retry;
  if (compliance.conflict) {
    problems.foreign ||= isForeign(compliance.conflict); // noted below only for Enforce baselines
    for (const baseline of enforcing) problems.note(baseline.metadata.name, compliance.conflict);
    void ctx.recorder.event(namespaceRef(namespace), 'Warning', compliance.conflict.reason, compliance.conflict.message);
  }

  for (const baseline of enforcing) {
    const problem = problems.of(baseline.metadata.name);
    const placement = placed(baseline);
    ctx.tracker.setOutcome(baseline.metadata.name, name, {
      state: problem?.state ?? 'compliant', generation: baseline.metadata.generation ?? 0, revision: placement.target,
      exceptions: exceptions[baseline.metadata.name] ?? [], reason: problem?.reason, message: problem?.message,
    });
    reportPlacement(ctx, baseline, name, placement, problem);
    if (problem?.state === 'failed') {
      void ctx.recorder.event(namespaceRef(namespace), 'Warning', problem.reason, `baseline ${baseline.metadata.name}: ${problem.message}`);
    }
  }
  for (const baseline of baselines) {
    if (!selectingNames.has(baseline.metadata.name)) ctx.tracker.forget(baseline.metadata.name, name);
  }

  if (problems.retriable !== undefined) throw problems.retriable;
  return report({ baselines: [...selectingNames], writes, drift, problems: problems.size, foreignConflict: problems.foreign, refused: problems.refused });
}

/** Which revision of `baseline` the namespace is to be at, and the baseline as at that revision. */
interface Placement {
  readonly baseline: BaselineObject;
  readonly target: string;
  /** Why pre-flight kept the namespace at its revision. */
  readonly held?: string;
  /** The revision is not stored: the baseline's objects here are left as they are. */
  readonly frozen?: Problem;
}

/**
 * A namespace with no revision of the baseline yet gets the update revision (the
 * current one while the baseline is paused); one at another revision moves to
 * the update revision when the rollout permits it and pre-flight finds nothing
 * it would refuse, or (Immediate) in any case, with the findings reported.
 * Pre-flight compares the two revisions as the namespace's `exceptions` relax
 * them: what they let in stays let in, and is no reason to hold the namespace.
 */
async function place(
  ctx: ControllerContext, namespace: NamespaceObject, baseline: BaselineObject, at: string | undefined, exceptions: readonly ExceptionObject[],
): Promise<Placement> {
  const plan = ctx.rollouts.planFor(baseline);
  const update = plan.updateRevision;
  const stayAt = (revision: string, held?: string): Placement => {
    const content = revisionContent(ctx, revision);
    if (content) return { baseline: atRevision(baseline, content), target: revision, ...(held ? { held } : {}) };
    return {
      baseline, target: revision, ...(held ? { held } : {}),
      frozen: {
        state: 'failed', reason: 'RevisionUnavailable',
        message: `this namespace is at revision ${revision}, which is not stored (ControllerRevision ${ctx.operatorNamespace}/${revision}); its objects are left as they are until it moves to ${update}`,
      },
    };
  };
  const known = at !== undefined && !at.startsWith('generation-');
  if (!known) {
    const current = plan.paused ? plan.currentRevision : undefined;
    return current && current !== update && revisionContent(ctx, current) ? stayAt(current) : { baseline, target: update };
  }
  if (at === update) return { baseline, target: update };
  if (!plan.permits(namespace.metadata.name)) return stayAt(at);

  const asRelaxed = (spec: BaselineObject['spec']) => revisionContentOf(relaxBaseline({ ...baseline, spec }, exceptions).baseline.spec);
  const from = revisionContent(ctx, at);
  const findings = await preflight(ctx, namespace.metadata.name, from && asRelaxed(atRevision(baseline, from).spec), asRelaxed(baseline.spec));
  if (findings.length === 0) return { baseline, target: update };
  const why = findings.map((finding) => finding.message).join('; ');
  void ctx.recorder.event(namespaceRef(namespace), 'Warning', 'PreflightFailed', `baseline ${baseline.metadata.name}: `
    + `${plan.holdOnFindings ? 'held at' : 'moved anyway from'} revision ${at}, not ${update}: ${why}`);
  return plan.holdOnFindings ? stayAt(at, why) : { baseline, target: update };
}

/** Tells the rollout where this namespace stands for the baseline. */
function reportPlacement(ctx: ControllerContext, baseline: BaselineObject, namespace: string, placement: Placement, problem: Problem | undefined): void {
  const name = baseline.metadata.name;
  if (placement.held) ctx.rollouts.hold(name, namespace, placement.held);
  else if (placement.target === ctx.rollouts.planFor(baseline).updateRevision && problem?.state === 'failed') ctx.rollouts.fail(name, namespace, problem.message);
  else ctx.rollouts.settle(name, namespace);
}

/**
 * The live objects the report compares with: the Audit baselines' (already
 * read), and those of the objects that could not be put in place, whose
 * report names the field that differs. None while the cluster serves no
 * reports. A read that fails leaves the object out, and the reconcile is
 * retried when retrying may help.
 */
async function reportedLive(
  ctx: ControllerContext, audited: ReadonlyMap<string, KubeObject>, records: ReadonlyMap<string, ManagedRecord>,
  desired: readonly DesiredObject[], problems: Problems,
): Promise<Map<string, KubeObject>> {
  const live = new Map(audited);
  if (!ctx.reports.informer(REPORTS)) return live;
  const failing = desired.filter((object) => problems.ofObject(object) && !live.has(objectKey(object)));
  if (failing.length === 0) return live;
  try {
    for (const [key, object] of await liveObjects(ctx, failing, records)) live.set(key, object);
  } catch (error) {
    if (isRetriable(error)) problems.retriable ??= error;
  }
  return live;
}

function liveManagedObjects(ctx: ControllerContext, namespace: string): Map<string, ManagedRecord> {
  const live = new Map<string, ManagedRecord>();
  for (const informer of ctx.managed.all()) {
    for (const object of informer.listInNamespace(namespace)) live.set(objectKey(object), object);
  }
  return live;
}

/**
 * Deletes (or releases) the managed objects no baseline wants here any more;
 * returns the number of writes. Dropping a section deletes its objects;
 * deselection or deletion of the baseline follows its deletionPolicy. A broken
 * baseline's objects stay as last applied, and Audit changes nothing.
 */
async function prune(
  ctx: ControllerContext, live: Map<string, ManagedRecord>, desired: readonly DesiredObject[],
  withSpecErrors: ReadonlySet<string>, selecting: readonly BaselineObject[], problems: Problems,
): Promise<number> {
  const desiredKeys = new Set(desired.map(objectKey));
  const selectingByName = new Map(selecting.map((b) => [b.metadata.name, b]));
  let writes = 0;
  for (const [key, object] of live) {
    if (desiredKeys.has(key)) continue;
    const owner = object.metadata.labels?.[BASELINE_LABEL] ?? '';
    const stillSelecting = selectingByName.get(owner);
    if (withSpecErrors.has(owner) || stillSelecting?.spec.mode === 'Audit') continue;
    const policy = stillSelecting ? 'Delete' : (ctx.baselines.get(owner)?.spec.deletionPolicy ?? 'Delete');
    const type = managedKind(object.apiVersion ?? '', object.kind ?? '');
    if (!type) continue;
    try {
      if (await ctx.writer.release(type, object, ctx.managed.informer(type), policy)) writes++;
    } catch (error) {
      problems.fail(owner, object, error);
    }
  }
  return writes;
}

/**
 * Applies the namespace's Pod Security labels and its applied and exceptions
 * annotations when they differ from what the operator owns; returns the number
 * of writes. Labels of a baseline leaving with deletionPolicy Orphan are
 * handed over first, so that dropping them from the operator's apply leaves
 * them in place.
 */
async function applyNamespace(
  ctx: ControllerContext, namespace: NamespaceObject, labels: Record<string, string>,
  { applied, exceptions }: { applied: Record<string, string>; exceptions: Record<string, string[]> },
  leaving: readonly (BaselineObject | undefined)[],
): Promise<number> {
  const owned = ownedNamespaceKeys(namespace);
  const currentLabels = namespace.metadata.labels ?? {};
  const currentAnnotations = namespace.metadata.annotations ?? {};
  const exceptionsValue = formatExceptions(exceptions);
  const annotations: Record<string, string> = {
    ...(Object.keys(applied).length > 0 ? { [APPLIED_ANNOTATION]: formatApplied(applied) } : {}),
    ...(exceptionsValue ? { [EXCEPTIONS_ANNOTATION]: exceptionsValue } : {}),
  };
  const dropped = [...owned.labels].filter((key) => !(key in labels));
  const differs = Object.entries(labels).some(([k, v]) => currentLabels[k] !== v) || dropped.length > 0
    || Object.entries(annotations).some(([k, v]) => currentAnnotations[k] !== v)
    || [...owned.annotations].some((k) => !(k in annotations));
  if (!differs) return 0;
  let writes = 0;
  const orphaning = leaving.some((baseline) => baseline?.spec.deletionPolicy === 'Orphan' && baseline.spec.podSecurity);
  const released = Object.fromEntries(dropped.filter((key) => key.startsWith(POD_SECURITY_LABEL_PREFIX) && currentLabels[key] !== undefined)
    .map((key) => [key, currentLabels[key] as string]));
  if (orphaning && Object.keys(released).length > 0) {
    await ctx.writer.handOver(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace.metadata.name, labels: released } }, ctx.namespaces);
    writes++;
  }
  await ctx.writer.apply(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace.metadata.name, labels, annotations } }, ctx.namespaces);
  return writes + 1;
}
