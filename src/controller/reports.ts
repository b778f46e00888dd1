// The namespace's compliance report (an OpenReports Report, see
// resources/report.ts), kept by the namespace reconcile: it hands over what it
// built and what went wrong per object, this module turns that into one result
// per baseline and control, and writes the Report only when it differs from the
// cached one. No baseline left: the Report goes, per the deletionPolicy of the
// baselines it named. Nothing happens while the cluster does not serve the
// Report kind (its CRD is optional, like the logging Flow's).
import { BASELINE_LABEL, MANAGED_BY_LABEL, OPERATOR_NAME } from '../api/constants.ts';
import type { DeletionPolicy, Mode } from '../api/types.ts';
import { exceptionsFor, relaxedControls, type ExceptionLike } from '../resources/exception.ts';
import type { AdmissionObject } from '../resources/imagepolicy.ts';
import { objectKey, ownObjects, SpecError, type BaselineBuild, type DesiredObject, type DesiredState, type ObjectIdentity } from '../resources/index.ts';
import {
  buildReport, controlOfField, controlOfKind, declaredControls, REPORT_NAME, REPORT_SOURCE,
  type Control, type ControlResult, type ObjectReference, type ReportObject,
} from '../resources/report.ts';
import { POD_SECURITY_LABEL_PREFIX } from '../resources/podsecurity.ts';
import { isRetriable, KubeApiError } from '../runtime/errors.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Priority } from '../runtime/workqueue.ts';
import type { KubeObject } from '../runtime/kube.ts';
import { ADMISSION_CONTROLS, admissionObjectsOf, type AdmissionControl } from './admission.ts';
import { auditDifferences } from './audit.ts';
import type { BaselineObject, ControllerContext, ManagedCache, NamespaceObject, Problem, ReportCache, ReportRecord, Selection } from './context.ts';
import { containsDesired, firstDifference } from './diff.ts';
import { reportFingerprint } from './fingerprint.ts';
import { exceptionsOf } from './exceptions.ts';
import { REPORTS } from './kinds.ts';

/** A BaselineException that relaxes a control of a baseline in a namespace. */
export interface ControlException {
  readonly name: string;
  readonly reason: string;
}

/** What the namespace reconcile knows when it is done. */
export interface ReportInput {
  readonly namespace: NamespaceObject;
  /** The baselines that select the namespace. */
  readonly selecting: readonly BaselineObject[];
  /** Each selecting baseline's build, by name. */
  readonly builds: ReadonlyMap<string, BaselineBuild>;
  /** What the Enforce baselines composed to. */
  readonly desired: DesiredState;
  /**
   * Live managed objects: those of the Audit baselines (Audit compares with
   * them) and those of the objects that failed (their result names the field
   * that differs). The caches keep records, so the reconcile reads these.
   */
  readonly live: ReadonlyMap<string, KubeObject>;
  /** The problem met applying an object (a managed object, or the Namespace for its labels), if any. */
  problemOf(object: ObjectIdentity): Problem | undefined;
}

/** What a result needs besides the reconcile's facts: the cached admission policies, and exceptions. */
export interface ReportFacts {
  readonly operatorNamespace: string;
  /** A cluster-scoped admission object (policy or binding) as cached. */
  admissionObject(kind: string, name: string): KubeObject | undefined;
  /** The exception relaxing this control here, if any: its result is `skip`. */
  exceptionOf(baseline: string, control: Control): ControlException | undefined;
  /** The baseline's exceptions in effect anywhere (not expired): what its admission policies let through. */
  exceptionsOfBaseline(baseline: string): readonly ExceptionLike[];
  /**
   * The names of the NetworkPolicies in the namespace that are not the
   * operator's; watched only while a baseline denies them (workloadPolicy.networkPolicies.deny).
   */
  otherNetworkPolicies(namespace: string): readonly string[];
}

/** No control excepted (for callers that have no exceptions to hand). */
export const NO_EXCEPTIONS = (): ControlException | undefined => undefined;

/** One result per baseline and declared control (pure). */
export function controlResults(input: ReportInput, facts: ReportFacts): ControlResult[] {
  const results: ControlResult[] = [];
  const desiredByKey = new Map(input.desired.objects.map((object) => [objectKey(object), object]));
  for (const baseline of input.selecting) {
    const name = baseline.metadata.name;
    const build = input.builds.get(name);
    if (!build) continue;
    const mode: Mode = baseline.spec.mode ?? 'Enforce';
    const differences = mode === 'Audit' ? auditDifferences(build, input.namespace, input.live) : [];
    for (const control of declaredControls(baseline.spec)) {
      const result = (outcome: Omit<ControlResult, 'baseline' | 'control' | 'mode'>): void => {
        results.push({ baseline: name, control, mode, ...outcome });
      };
      const exception = facts.exceptionOf(name, control);
      if (exception) {
        result({ result: 'skip', message: `excepted by BaselineException ${exception.name}: ${exception.reason}` });
        continue;
      }
      const specError = build.errors.find((error) => [control, undefined].includes(controlOfField(error.field)));
      if (specError) {
        result({ result: 'error', message: `the spec cannot be applied here: ${specError.message}` });
        continue;
      }
      if (isAdmissionControl(control)) {
        const outcome = admissionResult(baseline, control, mode, facts);
        result(control === 'workloadPolicy' ? withOtherNetworkPolicies(outcome, baseline, facts.otherNetworkPolicies(input.namespace.metadata.name)) : outcome);
        continue;
      }
      const objects = controlObjects(build, control, input.namespace.metadata.name);
      const resources = objects.map(reference);
      if (mode === 'Audit') {
        const found = differences.filter((d) => controlOfKind(d.kind) === control).map((d) => d.text);
        result(found.length > 0
          ? { result: 'warn', message: `Audit: ${summarise(found)}`, resources }
          : { result: 'pass', message: `Audit: ${describeObjects(objects)} as the baseline wants`, resources });
        continue;
      }
      const inPlace = control === 'podSecurity'
        ? `Pod Security enforce=${build.podSecurity?.labels[`${POD_SECURITY_LABEL_PREFIX}enforce`]} on Namespace ${input.namespace.metadata.name}`
        : `${describeObjects(objects)} in place`;
      result(enforcedResult(input, desiredByKey, name, control, objects, resources, inPlace));
    }
  }
  return results;
}

/** The objects (or, for podSecurity, the Namespace) a control of one baseline consists of. */
function controlObjects(build: BaselineBuild, control: Control, namespace: string): ObjectIdentity[] {
  if (control === 'podSecurity') return [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }];
  return ownObjects(build).filter((object) => controlOfKind(object.kind) === control);
}

function enforcedResult(
  input: ReportInput, desiredByKey: ReadonlyMap<string, DesiredObject>, baseline: string, control: Control,
  objects: readonly ObjectIdentity[], resources: ObjectReference[], inPlace: string,
): Omit<ControlResult, 'baseline' | 'control' | 'mode'> {
  const conflict = input.desired.conflicts.find((c) => c.baseline === baseline && c.control === control);
  if (conflict) {
    return {
      result: 'warn', resources,
      message: `decided by baseline ${conflict.winner}, which is at least as strict (the strictest wins, then the highest priority)`,
    };
  }
  const failures: string[] = [];
  for (const object of objects) {
    const composed = desiredByKey.get(objectKey(object));
    const owner = composed?.metadata.labels[MANAGED_BY_LABEL] === OPERATOR_NAME ? composed.metadata.labels[BASELINE_LABEL] : undefined;
    if (object.kind !== 'Namespace' && owner !== baseline) {
      const error = input.desired.errors.find((e) => e.baseline === baseline && e.error.message.includes(`"${object.metadata?.name}"`));
      return { result: 'error', resources, message: `the spec cannot be applied here: ${error?.error.message ?? `${object.kind} ${object.metadata?.name} is wanted by another baseline`}` };
    }
    const problem = input.problemOf(object);
    if (problem) failures.push(withDifference(input, object, composed, problem));
  }
  if (failures.length > 0) return { result: 'fail', resources, message: summarise(failures) };
  return { result: 'pass', resources, message: inPlace };
}

/** The problem, prefixed with what differs when the message does not say it already. */
function withDifference(input: ReportInput, object: ObjectIdentity, composed: DesiredObject | undefined, problem: Problem): string {
  if (!composed) return problem.message;
  const live = input.live.get(objectKey(object));
  const difference = live ? `differs at ${firstDifference(composed, live) ?? '.'}` : 'missing';
  const what = `${object.kind} ${object.metadata?.name} ${difference}`;
  return problem.message.includes(what) ? problem.message : `${what}: ${problem.message}`;
}

function isAdmissionControl(control: Control): control is AdmissionControl {
  return (ADMISSION_CONTROLS as readonly Control[]).includes(control);
}

/**
 * An image policy, workload policy or admission gate: cluster-scoped objects the
 * baseline reconcile keeps (in Audit mode they warn instead of refusing; a gate
 * is not made at all).
 */
function admissionResult(baseline: BaselineObject, control: AdmissionControl, mode: Mode, facts: ReportFacts): Omit<ControlResult, 'baseline' | 'control' | 'mode'> {
  let objects: AdmissionObject[];
  try {
    // As the baseline reconcile applies them: with what its exceptions let through
    // anywhere, or every other namespace would see its policy differ.
    objects = admissionObjectsOf(control, baseline, facts.operatorNamespace, facts.exceptionsOfBaseline(baseline.metadata.name));
  } catch (error) {
    if (!(error instanceof SpecError)) throw error;
    return { result: 'error', message: `the spec cannot be applied: ${error.message}` };
  }
  if (objects.length === 0) return { result: 'skip', message: `not evaluated: an ${mode} baseline has no ${control}` };
  const resources = objects.map(reference);
  const missing = objects.flatMap((object) => {
    const live = facts.admissionObject(object.kind, object.metadata.name);
    if (!live) return [`${object.kind} ${object.metadata.name} missing`];
    return containsDesired(object, live) ? [] : [`${object.kind} ${object.metadata.name} differs at ${firstDifference(object, live)}`];
  });
  if (missing.length > 0) {
    return { result: mode === 'Audit' ? 'warn' : 'fail', resources, message: `${summarise(missing)} (see the baseline's Degraded condition)` };
  }
  return { result: 'pass', resources, message: `${describeObjects(objects)} in place${mode === 'Audit' ? ' (Audit: it warns, it refuses nothing)' : ''}` };
}

/**
 * Where a baseline denies NetworkPolicies besides its own, those that are there
 * anyway: made before the guard was on, by members of its allowGroups, or by a
 * cluster administrator. The guard only refuses new ones, and each of them
 * allows traffic besides the default deny, so they are named: a warning, not a
 * failure, as the operator cannot tell an exempt controller's from a forgotten
 * allow-all.
 */
function withOtherNetworkPolicies(
  outcome: Omit<ControlResult, 'baseline' | 'control' | 'mode'>, baseline: BaselineObject, others: readonly string[],
): Omit<ControlResult, 'baseline' | 'control' | 'mode'> {
  if (!baseline.spec.workloadPolicy?.networkPolicies?.deny || others.length === 0) return outcome;
  const names = [...others].sort();
  const listed = names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
  const found = `NetworkPolicy ${listed} ${names.length === 1 ? 'is' : 'are'} not the baseline's and allow${names.length === 1 ? 's' : ''} traffic besides its default deny: `
    + 'workloadPolicy.networkPolicies.deny refuses new ones, not those made before it or by members of its allowGroups; '
    + 'delete them, or open that traffic in the baseline';
  return { ...outcome, result: outcome.result === 'pass' ? 'warn' : outcome.result, message: `${outcome.message}; ${found}` };
}

function reference(object: ObjectIdentity): ObjectReference {
  return {
    apiVersion: object.apiVersion ?? '', kind: object.kind ?? '', name: object.metadata?.name ?? '',
    ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}),
  };
}

function describeObjects(objects: readonly ObjectIdentity[]): string {
  return objects.map((o) => `${o.kind} ${o.metadata?.name}`).join(', ');
}

/** The first few lines, so one report stays small whatever goes wrong. */
function summarise(lines: readonly string[]): string {
  return lines.slice(0, 5).join('; ') + (lines.length > 5 ? `; and ${lines.length - 5} more` : '');
}

/**
 * Keeps the namespace's Report: writes it when its content differs from the
 * cached one, removes it when no baseline selects the namespace. Returns the
 * writes made, an error worth retrying the reconcile for, and the conflict
 * when a Report of that name from another source holds the place.
 */
export async function reconcileReport(ctx: ControllerContext, input: ReportInput): Promise<{ writes: number; retry?: unknown; conflict?: Problem }> {
  const cache = ctx.reports.informer(REPORTS);
  if (!cache) return { writes: 0 };
  const namespace = input.namespace.metadata.name;
  const current = cache.get(`${namespace}/${REPORT_NAME}`);
  try {
    if (input.selecting.length === 0) {
      if (!current) return { writes: 0 };
      return { writes: await ctx.writer.release(REPORTS, current, cache, releasePolicy(ctx, current)) ? 1 : 0 };
    }
    const desired = buildReport({ name: namespace, uid: input.namespace.metadata.uid }, controlResults(input, {
      operatorNamespace: ctx.operatorNamespace,
      admissionObject: (kind, name) => ctx.clusterManaged.all().find((informer) => informer.type.kind === kind)?.get(name),
      // The exceptions the reconcile relaxed the baseline with: the controls they relax are skipped.
      exceptionOf: (baseline, control) => {
        const exception = exceptionsFor(ctx.exceptions.list(), baseline, namespace, Date.now())
          .find((e) => (relaxedControls(e.spec.relax) as string[]).includes(control));
        return exception ? { name: exception.metadata.name, reason: exception.spec.reason } : undefined;
      },
      exceptionsOfBaseline: (baseline) => exceptionsOf(ctx, baseline, Date.now()),
      otherNetworkPolicies: ctx.otherNetworkPolicies,
    }));
    if (current && reportHolds(desired, current)) return { writes: 0 };
    if (!current) {
      // Not in the label-filtered cache: most often absent, and then created without a read
      // (created, not applied: cheaper for the API server, and a Report is the operator's by its source).
      if (await ctx.writer.createIfAbsent(REPORTS, desired, cache)) return { writes: 1 };
      // Someone else's of that name (left alone), or the operator's not cached yet.
      const existing = await ctx.writer.get(REPORTS, REPORT_NAME, namespace) as (KubeObject & { source?: string }) | undefined;
      if (existing && existing.source !== REPORT_SOURCE) {
        // Left untouched, as any object someone else owns. It may be a tenant's way to
        // show a report of their choosing where the namespace's compliance should be:
        // the namespace is a Conflict, never compliant, until it is gone.
        ctx.logger.warn({ namespace, report: REPORT_NAME, source: existing.source }, 'a Report of that name from another source exists; left untouched');
        return { writes: 0, conflict: foreignReport(existing.source) };
      }
    }
    await ctx.writer.apply(REPORTS, desired, cache);
    return { writes: 1 };
  } catch (error) {
    if (isRetriable(error)) return { writes: 0, retry: error };
    ctx.logger.warn({ namespace, err: error instanceof KubeApiError ? error.apiMessage : String(error) }, 'report not written');
    return { writes: 0 };
  }
}

function foreignReport(source: string | undefined): Problem {
  return {
    state: 'conflict', reason: 'ForeignReport',
    message: `Report ${REPORT_NAME} already exists with source ${JSON.stringify(source ?? '')}, not ${REPORT_SOURCE}; it was left untouched and this namespace has no compliance report`,
  };
}

/** Orphan when any baseline the report named says so (a baseline being deleted is still cached), else Delete. */
function releasePolicy(ctx: ControllerContext, report: ReportRecord): DeletionPolicy {
  return report.policies.some((name) => ctx.baselines.get(name)?.spec.deletionPolicy === 'Orphan') ? 'Orphan' : 'Delete';
}

/**
 * Whether the cached report (a record: records.ts) already says exactly what
 * `desired` says: the labels the operator sets, and the content by fingerprint.
 */
export function reportHolds(desired: ReportObject, cached: ReportRecord): boolean {
  return Object.entries(desired.metadata.labels).every(([key, value]) => cached.metadata.labels?.[key] === value)
    && reportFingerprint(desired) === cached.content;
}

/** Whether the live report already says exactly what `desired` says (the server returns JSON keys in its own order). */
export function sameReport(desired: ReportObject, live: KubeObject): boolean {
  const content = (report: Partial<ReportObject>) => canonicalJson({
    labels: Object.fromEntries(Object.keys(desired.metadata.labels).map((key) => [key, report.metadata?.labels?.[key]])),
    scope: report.scope, source: report.source, summary: report.summary, results: report.results,
  });
  return content(desired) === content(live as Partial<ReportObject>);
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

/** The caches the report handlers read. */
export interface ReportCaches {
  readonly reports: ReportCache;
  /** The informers of the admission policies and bindings. */
  readonly admission: readonly ManagedCache[];
  readonly baselines: Informer<BaselineObject>;
}

/**
 * Which namespaces need a look when a report or an admission object changes:
 * a report edited or deleted by someone else is put back; when one of a
 * baseline's admission policies or bindings appears or goes, the namespaces it
 * selects are reconciled again (the namespace reconcile does not otherwise run
 * then, and a reconcile already under way may have read the cache before), so
 * their image policy, workload policy and gate results follow. Most of those
 * reconciles write nothing.
 */
export function registerReportHandlers(caches: ReportCaches, selection: Selection, enqueueNamespace: (name: string, priority?: Priority) => void): void {
  const onReport = (report: ReportRecord): void => {
    if (report.metadata.namespace) enqueueNamespace(report.metadata.namespace);
  };
  caches.reports.addHandlers({ onUpdate: (_, current) => onReport(current), onDelete: onReport });
  const onAdmission = (object: KubeObject): void => {
    const baseline = caches.baselines.get(object.metadata.labels?.[BASELINE_LABEL] ?? '');
    if (!baseline || !caches.reports.hasSynced) return;
    for (const namespace of selection.namespacesSelectedBy(baseline)) enqueueNamespace(namespace, 'low');
  };
  for (const informer of caches.admission) informer.addHandlers({ onAdd: onAdmission, onDelete: onAdmission });
}
