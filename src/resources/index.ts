// The desired state of one namespace: every object the baselines that select it
// want there, the namespace labels they set, which baseline won each control
// that cannot be merged, and what could not be built. A pure function of its
// inputs; the reconcile compares the result against the caches and applies the
// difference.

import { BASELINE_LABEL } from '../api/constants.ts';
import type { LimitRangeSpec, PodSecuritySpec, SecurityBaseline } from '../api/types.ts';
import { compareNames } from './composition.ts';
import type { Candidate, Resolution } from './composition.ts';
import { SpecError } from './errors.ts';
import { buildLimitRange, resolveLimitRange } from './limitrange.ts';
import type { LimitRangeObject } from './limitrange.ts';
import { buildLoggingFlow } from './logging.ts';
import { validateBaselineName } from './metadata.ts';
import { buildNetworkPolicies } from './networkpolicy.ts';
import { objectKey } from './object.ts';
import type { DesiredObject } from './object.ts';
import { podSecurityLabels, resolvePodSecurity } from './podsecurity.ts';
import { buildResourceQuota } from './resourcequota.ts';
import { buildRoleBindings } from './rolebinding.ts';
import type { NamespaceInfo } from './template.ts';

export type { DesiredObject, ObjectIdentity } from './object.ts';
export { objectKey } from './object.ts';
export type { ManagedMetadata } from './metadata.ts';
export type { NamespaceInfo } from './template.ts';
export { SpecError } from './errors.ts';

export type Control = 'podSecurity' | 'limitRange';

/** A baseline that lost a control to another one; it reports a Conflict condition. */
export interface Conflict {
  baseline: string;
  control: Control;
  winner: string;
}

export interface BaselineError {
  baseline: string;
  error: SpecError;
}

export interface DesiredState {
  /** Sorted by objectKey. */
  objects: DesiredObject[];
  /** The Pod Security labels of the winning baseline; `{}` when no baseline sets them. */
  namespaceLabels: Record<string, string>;
  conflicts: Conflict[];
  errors: BaselineError[];
}

/**
 * What one baseline wants in a namespace, built once: its objects apart from the
 * LimitRange (which composition decides), its LimitRange and Pod Security
 * labels as candidates, and the SpecErrors of the sections that could not be
 * built. Audit mode compares exactly this; Enforce composes it with the others.
 */
export interface BaselineBuild {
  readonly baseline: string;
  readonly priority: number;
  readonly objects: readonly DesiredObject[];
  readonly limitRange?: { readonly spec: LimitRangeSpec; readonly object: LimitRangeObject };
  readonly podSecurity?: { readonly spec: PodSecuritySpec; readonly labels: Record<string, string> };
  readonly errors: readonly SpecError[];
}

/**
 * Builds each section of the baseline for the namespace. A SpecError affects
 * one section: that section contributes nothing and is reported in `errors`,
 * while the other sections are built as usual.
 */
export function buildBaseline(baseline: SecurityBaseline, namespace: NamespaceInfo): BaselineBuild {
  const name = baseline.metadata.name;
  const { networkPolicy, resourceQuota, roleBindings, logging, limitRange, podSecurity } = baseline.spec;
  const errors: SpecError[] = [];
  const attempt = <T>(build: () => T): T | undefined => {
    try {
      return build();
    } catch (error) {
      if (!(error instanceof SpecError)) throw error;
      errors.push(error);
      return undefined;
    }
  };
  const build = { baseline: name, priority: baseline.spec.priority ?? 0, errors };
  if (!attempt(() => (validateBaselineName(name), true))) return { ...build, objects: [] };
  const objects: DesiredObject[] = [];
  if (networkPolicy) objects.push(...(attempt(() => buildNetworkPolicies(name, namespace.name, networkPolicy)) ?? []));
  if (resourceQuota) objects.push(...(attempt(() => [buildResourceQuota(name, namespace.name, resourceQuota)]) ?? []));
  if (roleBindings) objects.push(...(attempt(() => buildRoleBindings(name, namespace, roleBindings)) ?? []));
  if (logging) objects.push(...(attempt(() => [buildLoggingFlow(name, namespace.name, logging)]) ?? []));
  const limitRangeObject = limitRange && attempt(() => buildLimitRange(name, namespace.name, limitRange));
  const labels = podSecurity && attempt(() => podSecurityLabels(podSecurity));
  return {
    ...build,
    objects,
    ...(limitRange && limitRangeObject ? { limitRange: { spec: limitRange, object: limitRangeObject } } : {}),
    ...(podSecurity && labels ? { podSecurity: { spec: podSecurity, labels } } : {}),
  };
}

/** Every object of one baseline's build, its LimitRange included (what it would apply on its own). */
export function ownObjects(build: BaselineBuild): DesiredObject[] {
  return build.limitRange ? [...build.objects, build.limitRange.object] : [...build.objects];
}

/**
 * Composes the builds of the baselines that select a namespace (the caller has
 * decided that they do) into what the namespace gets: objects add up, and the
 * LimitRange and Pod Security labels go to the strictest baseline.
 *
 * The caller should not prune the existing objects of a baseline that has
 * errors: they stay as last applied until the spec (or the namespace's labels)
 * is fixed.
 */
export function composeDesired(builds: readonly BaselineBuild[]): DesiredState {
  const errors: BaselineError[] = [];
  const objects: DesiredObject[] = [];
  // Name order, so that which of two colliding objects is kept does not depend on the input order.
  const ordered = [...builds].sort((a, b) => compareNames(a.baseline, b.baseline));
  for (const build of ordered) {
    errors.push(...build.errors.map((error) => ({ baseline: build.baseline, error })));
    objects.push(...build.objects);
  }
  const candidate = <Spec>(build: BaselineBuild, spec: Spec): Candidate<Spec> => ({ baseline: build.baseline, priority: build.priority, spec });
  const byName = new Map(ordered.map((build) => [build.baseline, build]));

  const conflicts: Conflict[] = [];
  const limits = resolveLimitRange(ordered.flatMap((build) => (build.limitRange ? [candidate(build, build.limitRange.spec)] : [])));
  if (limits) {
    objects.push((byName.get(limits.winner.baseline)?.limitRange as { object: LimitRangeObject }).object);
    conflicts.push(...conflictsOf('limitRange', limits));
  }
  const pods = resolvePodSecurity(ordered.flatMap((build) => (build.podSecurity ? [candidate(build, build.podSecurity.spec)] : [])));
  if (pods) conflicts.push(...conflictsOf('podSecurity', pods));

  return {
    objects: withoutCollisions(objects, errors),
    namespaceLabels: pods ? { ...byName.get(pods.winner.baseline)?.podSecurity?.labels } : {},
    conflicts: conflicts.sort((a, b) => compareNames(a.control, b.control) || compareNames(a.baseline, b.baseline)),
    errors,
  };
}

/** Everything `baselines` want in `namespace`: composeDesired of each one's build. */
export function desiredObjects(baselines: readonly SecurityBaseline[], namespace: NamespaceInfo): DesiredState {
  return composeDesired(baselines.map((baseline) => buildBaseline(baseline, namespace)));
}

function conflictsOf<Spec>(control: Control, resolution: Resolution<Spec>): Conflict[] {
  return resolution.losers.map((loser) => ({ baseline: loser.baseline, control, winner: resolution.winner.baseline }));
}

/**
 * Names are `<baseline>-<suffix>`, so baseline `a` with a role binding `b-readers`
 * and baseline `a-b` with `readers` both want `a-b-readers`. The first one
 * (baselines are built in name order) keeps it; the other gets an error.
 * Returns the objects kept, sorted by objectKey (each key made once, not once per comparison).
 */
function withoutCollisions(objects: readonly DesiredObject[], errors: BaselineError[]): DesiredObject[] {
  const byKey = new Map<string, DesiredObject>();
  for (const object of objects) {
    const key = objectKey(object);
    const kept = byKey.get(key);
    if (!kept) {
      byKey.set(key, object);
      continue;
    }
    errors.push({
      baseline: baselineOf(object),
      error: new SpecError(
        'metadata.name',
        `${object.kind} "${object.metadata.name}" is also wanted by baseline "${baselineOf(kept)}"; rename one of them`,
      ),
    });
  }
  return [...byKey].sort(([a], [b]) => compareNames(a, b)).map(([, object]) => object);
}

function baselineOf(object: DesiredObject): string {
  return object.metadata.labels[BASELINE_LABEL] ?? '';
}
