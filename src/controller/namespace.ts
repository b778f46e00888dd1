// The reconcile of one namespace. Level-based: it reads the caches, computes
// what every baseline that selects the namespace wants there, and makes the
// namespace so — whatever event woke it. Objects that already hold the desired
// fields cost no request; objects the operator does not manage are never
// touched; objects no longer wanted are pruned per the baseline's
// deletionPolicy.
import type { Logger } from 'pino';
import { APPLIED_ANNOTATION, AUTHORING_POLICY_NAME, BASELINE_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, OPERATOR_NAME } from '../api/constants.ts';
import type { SecurityBaseline } from '../api/types.ts';
import { desiredObjects, objectKey, type DesiredObject } from '../resources/index.ts';
import { isRetriable, KubeApiError } from '../runtime/errors.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import type { KubeClient, KubeObject, ResourceType } from '../runtime/kube.ts';
import { containsDesired, firstDifference, otherManagers } from './diff.ts';
import { getIfExists, releaseObject } from './objects.ts';
import { managedKind, NAMESPACES } from './kinds.ts';
import { isAlwaysExcluded, isDeleting, selects } from './selection.ts';
import type { BaselineStatusTracker, NamespaceState } from './status.ts';

export type BaselineObject = SecurityBaseline & KubeObject;

export interface NamespaceObject extends KubeObject {
  status?: { phase?: string };
}

/** The informers of the managed kinds; undefined for a kind the cluster does not serve (a missing CRD). */
export interface ManagedCaches {
  informer(type: ResourceType): Informer<KubeObject> | undefined;
  all(): Informer<KubeObject>[];
}

export interface ReconcileMetrics {
  driftCorrected(baseline: string, kind: string): void;
  driftDetected(baseline: string, kind: string): void;
  write(kind: string, verb: 'apply' | 'delete' | 'orphan'): void;
  /** The namespace was provisioned completely for the first time, by these baselines. */
  provisioned(namespace: NamespaceObject, baselines: BaselineObject[]): void;
}

export interface ControllerContext {
  readonly client: KubeClient;
  readonly namespaces: Informer<NamespaceObject>;
  readonly baselines: Informer<BaselineObject>;
  readonly clusterRoles: Informer<KubeObject>;
  readonly managed: ManagedCaches;
  /** The cluster-scoped managed kinds (admission policies and bindings). */
  readonly clusterManaged: ManagedCaches;
  readonly operatorNamespace: string;
  /** The shortest time between two status writes of one baseline. */
  readonly statusIntervalMs: number;
  readonly recorder: EventRecorder;
  readonly tracker: BaselineStatusTracker;
  readonly metrics: ReconcileMetrics;
  readonly logger: Logger;
  /**
   * Whether the authoring policy (crds/authoring-policy.yaml) is installed: the
   * admission check that a baseline's author could make its grants directly.
   * Without it, anyone who can write a baseline could grant themselves access
   * through the operator, so no Role or RoleBinding is applied.
   */
  authoringPolicyInstalled(): boolean;
}

export interface NamespaceReport {
  readonly namespace: string;
  readonly baselines: string[];
  readonly writes: number;
  readonly skipped?: 'not-found' | 'terminating' | 'excluded';
  readonly drift: number;
  readonly problems: number;
}

interface Problem {
  readonly state: Extract<NamespaceState, 'failed' | 'conflict'>;
  readonly reason: string;
  readonly message: string;
}

/** `{baseline: generation}` from the namespace annotation; a damaged value reads as empty. */
export function parseApplied(value: string | undefined): Record<string, number> {
  if (!value) return {};
  try {
    const parsed: unknown = JSON.parse(value);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
  } catch {
    return {};
  }
}

export function formatApplied(applied: Record<string, number>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(applied).sort(([a], [b]) => a.localeCompare(b))));
}

/** The labels and annotations of a namespace that the operator's apply owns (from managedFields). */
export function ownedNamespaceKeys(namespace: KubeObject): { labels: Set<string>; annotations: Set<string> } {
  const entry = namespace.metadata.managedFields?.find((e) => e.manager === FIELD_MANAGER && e.operation === 'Apply' && !e.subresource);
  const metadata = (entry?.fieldsV1?.['f:metadata'] ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const keys = (field: string) => new Set(Object.keys(metadata[field] ?? {}).filter((k) => k.startsWith('f:')).map((k) => k.slice(2)));
  return { labels: keys('f:labels'), annotations: keys('f:annotations') };
}

export async function reconcileNamespace(ctx: ControllerContext, name: string): Promise<NamespaceReport> {
  const namespace = ctx.namespaces.get(name);
  const report = (extra: Partial<NamespaceReport>): NamespaceReport => ({ namespace: name, baselines: [], writes: 0, drift: 0, problems: 0, ...extra });
  if (!namespace) {
    ctx.tracker.forgetNamespace(name);
    return report({ skipped: 'not-found' });
  }
  if (isDeleting(namespace)) {
    // A terminating namespace is left alone: its objects go with it.
    ctx.tracker.forgetNamespace(name);
    return report({ skipped: 'terminating' });
  }
  if (isAlwaysExcluded(name, ctx.operatorNamespace)) return report({ skipped: 'excluded' });

  const baselines = ctx.baselines.list();
  const selecting = baselines.filter((b) => !isDeleting(b) && selects(b, namespace, ctx.operatorNamespace));
  const enforcing = selecting.filter((b) => (b.spec.mode ?? 'Enforce') === 'Enforce');
  const auditing = selecting.filter((b) => b.spec.mode === 'Audit');
  const info = { name, labels: namespace.metadata.labels ?? {} };
  const desired = desiredObjects(enforcing, info);

  const problems = new Map<string, Problem>();
  const note = (baseline: string, problem: Problem): void => {
    // A failure says more than a conflict; the first of each kind wins.
    const existing = problems.get(baseline);
    if (!existing || (existing.state === 'conflict' && problem.state === 'failed')) problems.set(baseline, problem);
  };
  for (const { baseline, error } of desired.errors) note(baseline, { state: 'failed', reason: 'InvalidSpec', message: error.message });
  for (const conflict of desired.conflicts) {
    note(conflict.baseline, {
      state: 'conflict',
      reason: conflict.control === 'podSecurity' ? 'PodSecurityOverridden' : 'LimitRangeOverridden',
      message: `its ${conflict.control} is overridden by baseline ${conflict.winner}`,
    });
  }

  const live = liveManagedObjects(ctx, name);
  const appliedBefore = parseApplied(namespace.metadata.annotations?.[APPLIED_ANNOTATION]);
  const generationOf = new Map(baselines.map((b) => [b.metadata.name, b.metadata.generation ?? 0]));
  let writes = 0;
  let drift = 0;
  let retriable: unknown;

  const fail = (baseline: string, object: DesiredObject | KubeObject, error: unknown): void => {
    const message = `${object.kind} ${object.metadata.name}: ${error instanceof KubeApiError ? error.apiMessage : String(error)}`;
    if (isRetriable(error)) retriable ??= error;
    note(baseline, { state: 'failed', reason: error instanceof KubeApiError ? `Apply${error.reason}` : 'ApplyFailed', message });
  };

  // The objects are independent: send their requests together, so a namespace
  // costs the latency of its slowest object, not the sum of all of them.
  await Promise.all(desired.objects.map(async (object) => {
    const baseline = object.metadata.labels[BASELINE_LABEL] ?? '';
    const type = managedKind(object.apiVersion, object.kind);
    if (!type) return;
    if (!ctx.managed.informer(type)) {
      note(baseline, {
        state: 'failed',
        reason: object.kind === 'Flow' ? 'LoggingUnavailable' : 'KindUnavailable',
        message: `${object.kind} (${object.apiVersion}) is not served by this cluster; install its CustomResourceDefinition`,
      });
      return;
    }
    if ((object.kind === 'Role' || object.kind === 'RoleBinding') && !ctx.authoringPolicyInstalled()) {
      note(baseline, {
        state: 'failed',
        reason: 'AuthoringPolicyMissing',
        message: `${object.kind} ${object.metadata.name} not applied: the ValidatingAdmissionPolicy ${AUTHORING_POLICY_NAME} or its binding is not installed,`
          + ' and without it anyone who can write a SecurityBaseline could grant themselves access; install crds/ (make install)',
      });
      return;
    }
    const missingRole = missingClusterRole(ctx, object);
    if (missingRole) {
      note(baseline, { state: 'failed', reason: 'ClusterRoleNotFound', message: `RoleBinding ${object.metadata.name} refers to ClusterRole ${missingRole}, which does not exist; it is created once the ClusterRole exists` });
      return;
    }
    try {
      let current = live.get(objectKey(object));
      if (!current) {
        // Not in the label-filtered cache: absent, just created, or someone else's object of that name.
        current = await getIfExists(ctx.client, type, object.metadata.name, object.metadata.namespace);
        if (current && current.metadata.labels?.[BASELINE_LABEL] !== baseline) {
          const owner = current.metadata.labels?.[MANAGED_BY_LABEL] === OPERATOR_NAME
            ? `baseline ${current.metadata.labels?.[BASELINE_LABEL] ?? '?'}` : 'another owner';
          const message = `${object.kind} ${object.metadata.name} already exists and belongs to ${owner}; it was left untouched`;
          note(baseline, { state: 'conflict', reason: 'ForeignObject', message });
          void ctx.recorder.record(namespaceRef(namespace), 'Warning', 'ForeignObject', `baseline ${baseline}: ${message}`);
          return;
        }
      }
      if (current && containsDesired(object, current)) return;
      if (current && object.kind === 'RoleBinding' && firstDifference(object.roleRef, (current as KubeObject & { roleRef?: unknown }).roleRef) !== undefined) {
        // roleRef cannot change in place: replace the binding.
        await ctx.client.delete(type, object.metadata.name, name, current.metadata.uid);
        ctx.managed.informer(type)?.observeDeletion(current);
        writes++;
        ctx.metrics.write(object.kind, 'delete');
      }
      ctx.managed.informer(type)?.observeWrite(await ctx.client.apply(type, object));
      writes++;
      ctx.metrics.write(object.kind, 'apply');
      if (current) {
        drift++;
        const managers = otherManagers(current);
        ctx.metrics.driftCorrected(baseline, object.kind);
        void ctx.recorder.record(namespaceRef(namespace), 'Warning', 'DriftCorrected',
          `baseline ${baseline}: ${object.kind} ${object.metadata.name} had ${firstDifference(object, current)} changed`
          + ` by ${managers.length > 0 ? managers.join(', ') : 'an unknown field manager'}; restored`);
      } else if (appliedBefore[baseline] === generationOf.get(baseline)) {
        // Applied at this very generation before, and now gone: someone deleted it.
        drift++;
        ctx.metrics.driftCorrected(baseline, object.kind);
        void ctx.recorder.record(namespaceRef(namespace), 'Warning', 'DriftCorrected',
          `baseline ${baseline}: ${object.kind} ${object.metadata.name} was deleted; recreated`);
      }
    } catch (error) {
      fail(baseline, object, error);
    }
  }));

  // Prune what no baseline wants here any more.
  const desiredKeys = new Set(desired.objects.map(objectKey));
  const withSpecErrors = new Set(desired.errors.map((e) => e.baseline));
  for (const [key, object] of live) {
    if (desiredKeys.has(key)) continue;
    const owner = object.metadata.labels?.[BASELINE_LABEL] ?? '';
    const baseline = ctx.baselines.get(owner);
    const stillSelects = baseline !== undefined && !isDeleting(baseline) && selects(baseline, namespace, ctx.operatorNamespace);
    // Keep a broken baseline's objects as last applied; Audit changes nothing.
    if (withSpecErrors.has(owner) || (stillSelects && baseline.spec.mode === 'Audit')) continue;
    // Dropping a section deletes its objects; deselection or deletion of the baseline follows its deletionPolicy.
    const policy = stillSelects ? 'Delete' : (baseline?.spec.deletionPolicy ?? 'Delete');
    const type = managedKind(object.apiVersion ?? '', object.kind ?? '');
    if (!type) continue;
    try {
      if (await releaseObject(ctx.client, ctx.metrics, ctx.managed.informer(type), type, object, policy)) writes++;
    } catch (error) {
      fail(owner, object, error);
    }
  }

  // The namespace itself: Pod Security labels and the applied annotation, in one apply.
  const applied: Record<string, number> = {};
  for (const baseline of enforcing) {
    const name_ = baseline.metadata.name;
    const problem = problems.get(name_);
    if (!problem || problem.state === 'conflict') applied[name_] = baseline.metadata.generation ?? 0;
    else if (appliedBefore[name_] !== undefined) applied[name_] = appliedBefore[name_]; // stays open for the admission gate
  }
  try {
    if (await applyNamespace(ctx, namespace, desired.namespaceLabels, applied)) {
      writes++;
      ctx.metrics.write('Namespace', 'apply');
      if (Object.keys(appliedBefore).length === 0 && Object.keys(applied).length > 0 && namespace.metadata.creationTimestamp) {
        ctx.metrics.provisioned(namespace, enforcing);
      }
    }
  } catch (error) {
    for (const baseline of enforcing) fail(baseline.metadata.name, namespace, error);
  }

  drift += reportAudit(ctx, namespace, auditing, live);

  for (const baseline of enforcing) {
    const problem = problems.get(baseline.metadata.name);
    ctx.tracker.record(baseline.metadata.name, name, {
      state: problem?.state ?? 'compliant', generation: baseline.metadata.generation ?? 0, reason: problem?.reason, message: problem?.message,
    });
    if (problem?.state === 'failed') {
      void ctx.recorder.record(namespaceRef(namespace), 'Warning', problem.reason, `baseline ${baseline.metadata.name}: ${problem.message}`);
    }
  }
  for (const baseline of baselines) {
    if (!selecting.includes(baseline)) ctx.tracker.forget(baseline.metadata.name, name);
  }

  if (retriable !== undefined) throw retriable;
  return report({ baselines: selecting.map((b) => b.metadata.name), writes, drift, problems: problems.size });
}

function liveManagedObjects(ctx: ControllerContext, namespace: string): Map<string, KubeObject> {
  const live = new Map<string, KubeObject>();
  for (const informer of ctx.managed.all()) {
    for (const object of informer.listInNamespace(namespace)) live.set(objectKey(object), object);
  }
  return live;
}

function missingClusterRole(ctx: ControllerContext, object: DesiredObject): string | undefined {
  if (object.kind !== 'RoleBinding') return undefined;
  const roleRef = object.roleRef as { kind?: string; name?: string } | undefined;
  if (roleRef?.kind !== 'ClusterRole' || !roleRef.name) return undefined;
  return ctx.clusterRoles.get(roleRef.name) ? undefined : roleRef.name;
}

/** Applies the namespace's labels and annotation when they differ from what the operator owns; returns whether it wrote. */
async function applyNamespace(ctx: ControllerContext, namespace: NamespaceObject, labels: Record<string, string>, applied: Record<string, number>): Promise<boolean> {
  const annotations: Record<string, string> = Object.keys(applied).length > 0 ? { [APPLIED_ANNOTATION]: formatApplied(applied) } : {};
  const owned = ownedNamespaceKeys(namespace);
  const currentLabels = namespace.metadata.labels ?? {};
  const currentAnnotations = namespace.metadata.annotations ?? {};
  const differs = Object.entries(labels).some(([k, v]) => currentLabels[k] !== v)
    || [...owned.labels].some((k) => !(k in labels))
    || Object.entries(annotations).some(([k, v]) => currentAnnotations[k] !== v)
    || [...owned.annotations].some((k) => !(k in annotations));
  if (!differs) return false;
  ctx.namespaces.observeWrite(await ctx.client.apply<NamespaceObject>(NAMESPACES, {
    apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace.metadata.name, labels, annotations },
  }));
  return true;
}

/** Audit mode: compare and report, write nothing. Returns the number of differing objects. */
function reportAudit(ctx: ControllerContext, namespace: NamespaceObject, auditing: BaselineObject[], live: Map<string, KubeObject>): number {
  let total = 0;
  for (const baseline of auditing) {
    const name = baseline.metadata.name;
    const desired = desiredObjects([baseline], { name: namespace.metadata.name, labels: namespace.metadata.labels ?? {} });
    const differences: string[] = [];
    for (const object of desired.objects) {
      const current = live.get(objectKey(object));
      if (!current) differences.push(`${object.kind} ${object.metadata.name} missing`);
      else if (!containsDesired(object, current)) differences.push(`${object.kind} ${object.metadata.name} differs at ${firstDifference(object, current)}`);
      else continue;
      ctx.metrics.driftDetected(name, object.kind);
    }
    for (const [key, value] of Object.entries(desired.namespaceLabels)) {
      if (namespace.metadata.labels?.[key] !== value) differences.push(`label ${key} is ${namespace.metadata.labels?.[key] ?? 'unset'}, want ${value}`);
    }
    total += differences.length;
    const state: NamespaceState = differences.length > 0 ? 'drifted' : 'compliant';
    const previous = ctx.tracker.outcome(name, namespace.metadata.name);
    const message = differences.slice(0, 5).join('; ') + (differences.length > 5 ? `; and ${differences.length - 5} more` : '');
    ctx.tracker.record(name, namespace.metadata.name, { state, generation: baseline.metadata.generation ?? 0, reason: state === 'drifted' ? 'AuditDrift' : undefined, message: differences.length > 0 ? message : undefined });
    if (differences.length > 0 && previous?.message !== message) {
      void ctx.recorder.record(namespaceRef(namespace), 'Warning', 'AuditDrift', `baseline ${name} (Audit): ${message}`);
    }
  }
  return total;
}

export function namespaceRef(namespace: KubeObject): { apiVersion: string; kind: string; name: string; uid?: string } {
  return { apiVersion: 'v1', kind: 'Namespace', name: namespace.metadata.name, uid: namespace.metadata.uid };
}
