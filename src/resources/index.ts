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
 * Everything `baselines` want in `namespace`. The caller has already decided
 * that each baseline selects the namespace; absent sections manage nothing.
 *
 * A SpecError affects one section of one baseline: that section contributes
 * nothing and is reported in `errors`, while the baseline's other sections and
 * the other baselines are built as usual. The caller should therefore not prune
 * the existing objects of a baseline that has errors — they stay as last applied
 * until the spec (or the namespace's labels) is fixed.
 */
export function desiredObjects(baselines: readonly SecurityBaseline[], namespace: NamespaceInfo): DesiredState {
  const objects: DesiredObject[] = [];
  const errors: BaselineError[] = [];
  const podSecurity: Candidate<PodSecuritySpec>[] = [];
  const podSecurityLabelsOf = new Map<string, Record<string, string>>();
  const limitRanges: Candidate<LimitRangeSpec>[] = [];
  const limitRangeOf = new Map<string, LimitRangeObject>();

  // Name order, so that which of two colliding objects is kept does not depend on the input order.
  for (const baseline of [...baselines].sort((a, b) => compareNames(a.metadata.name, b.metadata.name))) {
    const name = baseline.metadata.name;
    const { networkPolicy, resourceQuota, roleBindings, logging, limitRange, podSecurity: podSecuritySpec } = baseline.spec;
    const priority = baseline.spec.priority ?? 0;
    const attempt = <T>(build: () => T): T | undefined => {
      try {
        return build();
      } catch (error) {
        if (!(error instanceof SpecError)) throw error;
        errors.push({ baseline: name, error });
        return undefined;
      }
    };

    if (!attempt(() => (validateBaselineName(name), true))) continue;
    if (networkPolicy) objects.push(...(attempt(() => buildNetworkPolicies(name, namespace.name, networkPolicy)) ?? []));
    if (resourceQuota) objects.push(...(attempt(() => [buildResourceQuota(name, namespace.name, resourceQuota)]) ?? []));
    if (roleBindings) objects.push(...(attempt(() => buildRoleBindings(name, namespace, roleBindings)) ?? []));
    if (logging) objects.push(...(attempt(() => [buildLoggingFlow(name, namespace.name, logging)]) ?? []));
    if (limitRange) {
      const object = attempt(() => buildLimitRange(name, namespace.name, limitRange));
      if (object) {
        limitRanges.push({ baseline: name, priority, spec: limitRange });
        limitRangeOf.set(name, object);
      }
    }
    if (podSecuritySpec) {
      const labels = attempt(() => podSecurityLabels(podSecuritySpec));
      if (labels) {
        podSecurity.push({ baseline: name, priority, spec: podSecuritySpec });
        podSecurityLabelsOf.set(name, labels);
      }
    }
  }

  const conflicts: Conflict[] = [];
  const limits = resolveLimitRange(limitRanges);
  if (limits) {
    objects.push(limitRangeOf.get(limits.winner.baseline) as LimitRangeObject);
    conflicts.push(...conflictsOf('limitRange', limits));
  }
  const pods = resolvePodSecurity(podSecurity);
  if (pods) conflicts.push(...conflictsOf('podSecurity', pods));

  return {
    objects: withoutCollisions(objects, errors).sort((a, b) => compareNames(objectKey(a), objectKey(b))),
    namespaceLabels: pods ? { ...(podSecurityLabelsOf.get(pods.winner.baseline) as Record<string, string>) } : {},
    conflicts: conflicts.sort((a, b) => compareNames(a.control, b.control) || compareNames(a.baseline, b.baseline)),
    errors,
  };
}

function conflictsOf<Spec>(control: Control, resolution: Resolution<Spec>): Conflict[] {
  return resolution.losers.map((loser) => ({ baseline: loser.baseline, control, winner: resolution.winner.baseline }));
}

/**
 * Names are `<baseline>-<suffix>`, so baseline `a` with a role binding `b-readers`
 * and baseline `a-b` with `readers` both want `a-b-readers`. The first one
 * (baselines are built in name order) keeps it; the other gets an error.
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
  return [...byKey.values()];
}

function baselineOf(object: DesiredObject): string {
  return object.metadata.labels[BASELINE_LABEL] ?? '';
}
