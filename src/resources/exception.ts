// BaselineExceptions as pure functions: which exceptions are in effect for a
// baseline in a namespace, whether a relax only loosens what the baseline sets
// (otherwise the exception is Invalid, naming the field), the baseline as
// relaxed (what the namespace reconcile builds), and the per-namespace
// relaxations its admission policies embed. Nothing here reads the clock:
// `now` is an argument, so expiry is tested without waiting.
import { CREATED_BY_ANNOTATION, type BaselineExceptionSpec, type ExceptionCondition, type ExceptionState, type RelaxSpec, type RelaxedControl } from '../api/exception.ts';
import type { SecurityBaseline, SecurityBaselineSpec } from '../api/types.ts';
import { compareNames } from './composition.ts';
import { SpecError } from './errors.ts';
import { normalizePrefix } from './imagepolicy.ts';
import { buildDefaultDenyPolicy, DEFAULT_POLICY_TYPES } from './networkpolicy.ts';
import { comparePodSecurityStrictness } from './podsecurity.ts';
import { compareQuantities, parseQuantity, QuantityError } from './quantity.ts';

/** What these functions read of a BaselineException. */
export interface ExceptionLike {
  readonly metadata: { readonly name: string; readonly annotations?: Record<string, string> };
  readonly spec: BaselineExceptionSpec;
}

/** The controls of a baseline an exception can relax. */
export type RelaxableControls = Pick<SecurityBaselineSpec, RelaxedControl>;

/** Why a relax is refused: it tightens, names a control the baseline does not set, or is malformed. */
export interface RelaxProblem {
  readonly field: string;
  readonly reason: 'RelaxTightens' | 'ControlNotSet' | 'InvalidRelax';
  readonly message: string;
}

/** Milliseconds since the epoch; an unreadable time counts as long past (the CRD refuses one). */
export function expiresAtMs(exception: ExceptionLike): number {
  const at = Date.parse(exception.spec.expiresAt);
  return Number.isNaN(at) ? -Infinity : at;
}

export function hasExpired(exception: ExceptionLike, now: number): boolean {
  return now >= expiresAtMs(exception);
}

/** The exceptions of `baseline` that have not expired at `now`, whatever namespaces they name. */
export function exceptionsOfBaseline<T extends ExceptionLike>(exceptions: readonly T[], baseline: string, now: number): T[] {
  return exceptions.filter((e) => e.spec.baseline === baseline && !hasExpired(e, now));
}

/** The exceptions of `baseline` that name `namespace` and have not expired at `now`, by name. Validity is judged later, against the baseline. */
export function exceptionsFor<T extends ExceptionLike>(exceptions: readonly T[], baseline: string, namespace: string, now: number): T[] {
  return exceptionsOfBaseline(exceptions, baseline, now).filter((e) => e.spec.namespaces.includes(namespace))
    .sort((a, b) => compareNames(a.metadata.name, b.metadata.name));
}

/** The controls a relax names, in a stable order. */
export function relaxedControls(relax: RelaxSpec): RelaxedControl[] {
  const order: RelaxedControl[] = ['podSecurity', 'imagePolicy', 'networkPolicy', 'resourceQuota', 'admissionGate', 'workloadPolicy'];
  return order.filter((control) => relax[control] !== undefined);
}

const RELAX = 'spec.relax';

/**
 * Everything wrong with `relax` against the controls of `baseline` (at one of
 * its revisions); empty when it only loosens controls the baseline sets.
 * Loosening to the baseline's own value is allowed (it changes nothing).
 */
export function relaxProblems(baseline: string, controls: RelaxableControls, relax: RelaxSpec): RelaxProblem[] {
  const problems: RelaxProblem[] = [];
  const notSet = (control: RelaxedControl, what: string = control) => problems.push({
    field: `${RELAX}.${control}`, reason: 'ControlNotSet',
    message: `${RELAX}.${control}: baseline ${baseline} sets no ${what}, so there is nothing to relax`,
  });
  const invalid = (error: SpecError) => problems.push({ field: error.field, reason: 'InvalidRelax', message: error.message });

  if (relaxedControls(relax).length === 0) {
    problems.push({ field: RELAX, reason: 'InvalidRelax', message: `${RELAX}: relaxes nothing; name at least one control` });
  }
  if (relax.podSecurity) {
    const base = controls.podSecurity;
    if (!base) notSet('podSecurity');
    else if (comparePodSecurityStrictness(relax.podSecurity, base) < 0) {
      problems.push({
        field: `${RELAX}.podSecurity.enforce`, reason: 'RelaxTightens',
        message: `${RELAX}.podSecurity.enforce: ${relax.podSecurity.enforce} is stricter than the ${base.enforce} of baseline ${baseline}; a relax only loosens`,
      });
    }
  }
  if (relax.imagePolicy) {
    if (!controls.imagePolicy) notSet('imagePolicy');
    relax.imagePolicy.allowedRegistries.forEach((prefix, i) => {
      try {
        normalizePrefix(prefix, `${RELAX}.imagePolicy.allowedRegistries[${i}]`);
      } catch (error) {
        if (!(error instanceof SpecError)) throw error;
        invalid(error);
      }
    });
  }
  if (relax.networkPolicy) problems.push(...networkProblems(baseline, controls, relax.networkPolicy));
  if (relax.resourceQuota) problems.push(...quotaProblems(baseline, controls, relax.resourceQuota.hard));
  if (relax.admissionGate !== undefined) {
    if (controls.admissionGate !== true) notSet('admissionGate', 'admission gate');
    if (relax.admissionGate) {
      problems.push({
        field: `${RELAX}.admissionGate`, reason: 'RelaxTightens',
        message: `${RELAX}.admissionGate: true would add a gate; a relax can only switch it off (false)`,
      });
    }
  }
  if (relax.workloadPolicy) {
    if (controls.workloadPolicy?.exec?.deny !== true) notSet('workloadPolicy', 'workloadPolicy.exec.deny');
    if (relax.workloadPolicy.exec.deny) {
      problems.push({
        field: `${RELAX}.workloadPolicy.exec.deny`, reason: 'RelaxTightens',
        message: `${RELAX}.workloadPolicy.exec.deny: true would add a rule; a relax can only switch it off (false)`,
      });
    }
  }
  return problems;
}

function networkProblems(baseline: string, controls: RelaxableControls, relax: NonNullable<RelaxSpec['networkPolicy']>): RelaxProblem[] {
  const base = controls.networkPolicy;
  const field = `${RELAX}.networkPolicy`;
  if (!base) return [{ field, reason: 'ControlNotSet', message: `${field}: baseline ${baseline} sets no networkPolicy, so there is nothing to relax` }];
  const denied = new Set(base.defaultDeny ?? DEFAULT_POLICY_TYPES);
  const problems: RelaxProblem[] = [];
  for (const [direction, rules] of [['Ingress', relax.ingress], ['Egress', relax.egress]] as const) {
    if (rules && rules.length > 0 && !denied.has(direction)) {
      problems.push({
        field: `${field}.${direction.toLowerCase()}`, reason: 'ControlNotSet',
        message: `${field}.${direction.toLowerCase()}: baseline ${baseline} does not deny ${direction}, so there is nothing to allow`,
      });
    }
  }
  if ((relax.ingress ?? []).length + (relax.egress ?? []).length === 0) {
    problems.push({ field, reason: 'InvalidRelax', message: `${field}: adds no ingress or egress rule` });
  }
  try {
    // The rules are read exactly as the baseline's own: the same peers and ports are refused.
    buildDefaultDenyPolicy(baseline, 'namespace', { defaultDeny: ['Ingress', 'Egress'], ingress: relax.ingress, egress: relax.egress });
  } catch (error) {
    if (!(error instanceof SpecError)) throw error;
    const at = error.field.replace(/^spec\.networkPolicy/, field);
    problems.push({ field: at, reason: 'InvalidRelax', message: `${at}: ${error.reason}` });
  }
  return problems;
}

function quotaProblems(baseline: string, controls: RelaxableControls, hard: Record<string, string>): RelaxProblem[] {
  const base = controls.resourceQuota?.hard;
  const field = `${RELAX}.resourceQuota`;
  if (!base) return [{ field, reason: 'ControlNotSet', message: `${field}: baseline ${baseline} sets no resourceQuota, so there is nothing to relax` }];
  const problems: RelaxProblem[] = [];
  if (Object.keys(hard).length === 0) problems.push({ field: `${field}.hard`, reason: 'InvalidRelax', message: `${field}.hard: names no resource` });
  for (const [resource, value] of Object.entries(hard)) {
    const at = `${field}.hard[${resource}]`;
    const limit = base[resource];
    if (limit === undefined) {
      problems.push({ field: at, reason: 'ControlNotSet', message: `${at}: the quota of baseline ${baseline} does not limit ${resource}, so there is nothing to raise` });
      continue;
    }
    try {
      if (compareQuantities(parseQuantity(value), parseQuantity(limit)) < 0) {
        problems.push({ field: at, reason: 'RelaxTightens', message: `${at}: ${value} is lower than the ${limit} of baseline ${baseline}; a relax only loosens` });
      }
    } catch (error) {
      if (!(error instanceof QuantityError)) throw error;
      problems.push({ field: at, reason: 'InvalidRelax', message: `${at}: ${error.message}` });
    }
  }
  return problems;
}

/** The baseline with its controls loosened by the exceptions that are valid against it, and the names of those. */
export interface Relaxation<T> {
  readonly baseline: T;
  readonly applied: string[];
}

/**
 * The baseline as the exceptions (in effect for one namespace: see
 * exceptionsFor) relax it: the lowest Pod Security enforce level (audit and
 * warn stay at the baseline's, so people still see what the exception lets
 * in), the union of allowed registries, the baseline's allow rules plus the
 * exceptions', the highest quota per resource, the gate off, exec allowed. An exception that
 * is not valid against this baseline (this revision of it) is skipped. With no
 * exception the baseline is returned as it is.
 */
export function relaxBaseline<T extends SecurityBaseline>(baseline: T, exceptions: readonly ExceptionLike[]): Relaxation<T> {
  const valid = exceptions.filter((e) => relaxProblems(baseline.metadata.name, baseline.spec, e.spec.relax).length === 0);
  if (valid.length === 0) return { baseline, applied: [] };
  const spec: SecurityBaselineSpec = { ...baseline.spec };
  for (const { spec: { relax } } of valid) {
    if (relax.podSecurity && spec.podSecurity && comparePodSecurityStrictness(relax.podSecurity, spec.podSecurity) > 0) {
      const base = baseline.spec.podSecurity as NonNullable<SecurityBaselineSpec['podSecurity']>;
      spec.podSecurity = { ...base, enforce: relax.podSecurity.enforce, audit: base.audit ?? base.enforce, warn: base.warn ?? base.enforce };
    }
    if (relax.imagePolicy && spec.imagePolicy) {
      spec.imagePolicy = { allowedRegistries: [...new Set([...spec.imagePolicy.allowedRegistries, ...relax.imagePolicy.allowedRegistries])] };
    }
    if (relax.networkPolicy && spec.networkPolicy) {
      const { ingress = [], egress = [] } = relax.networkPolicy;
      spec.networkPolicy = {
        ...spec.networkPolicy,
        ...(ingress.length > 0 ? { ingress: [...(spec.networkPolicy.ingress ?? []), ...ingress] } : {}),
        ...(egress.length > 0 ? { egress: [...(spec.networkPolicy.egress ?? []), ...egress] } : {}),
      };
    }
    if (relax.resourceQuota && spec.resourceQuota) {
      const hard = { ...spec.resourceQuota.hard };
      for (const [resource, value] of Object.entries(relax.resourceQuota.hard)) {
        if (compareQuantities(parseQuantity(value), parseQuantity(hard[resource] as string)) > 0) hard[resource] = value;
      }
      spec.resourceQuota = { hard };
    }
    if (relax.admissionGate === false) spec.admissionGate = false;
    if (relax.workloadPolicy?.exec.deny === false && spec.workloadPolicy?.exec) {
      spec.workloadPolicy = { ...spec.workloadPolicy, exec: { ...spec.workloadPolicy.exec, deny: false } };
    }
  }
  return { baseline: { ...baseline, spec }, applied: valid.map((e) => e.metadata.name) };
}

/** What the baseline's cluster-scoped admission policies let through per namespace. */
export interface AdmissionRelaxations {
  /** Namespace → extra allowed image prefixes, as written in the exceptions. */
  readonly registries: Record<string, string[]>;
  /** Namespaces whose pods the admission gate lets in. */
  readonly gateOpen: string[];
  /** Namespaces where the exec policy lets people exec, attach and port-forward. */
  readonly execOpen: string[];
  /** The exceptions each policy's relaxations come from, by name. */
  readonly imageExceptions: string[];
  readonly gateExceptions: string[];
  readonly execExceptions: string[];
}

/**
 * The image, gate and exec relaxations of the exceptions (not expired, of this
 * baseline) that are valid against `baseline` (one revision of it), per named
 * namespace. The policy's binding decides where it applies at all, so a
 * namespace the baseline does not select gains nothing from being listed.
 */
export function admissionRelaxations(baseline: SecurityBaseline, exceptions: readonly ExceptionLike[]): AdmissionRelaxations {
  const registries = new Map<string, Set<string>>();
  const gateOpen = new Set<string>();
  const execOpen = new Set<string>();
  const imageExceptions: string[] = [];
  const gateExceptions: string[] = [];
  const execExceptions: string[] = [];
  for (const exception of exceptions) {
    if (exception.spec.baseline !== baseline.metadata.name) continue;
    const { relax, namespaces } = exception.spec;
    if (relaxProblems(baseline.metadata.name, baseline.spec, relax).length > 0) continue;
    if (relax.imagePolicy) imageExceptions.push(exception.metadata.name);
    if (relax.admissionGate === false) gateExceptions.push(exception.metadata.name);
    const execOff = relax.workloadPolicy?.exec.deny === false;
    if (execOff) execExceptions.push(exception.metadata.name);
    for (const namespace of namespaces) {
      for (const prefix of relax.imagePolicy?.allowedRegistries ?? []) {
        if (!registries.has(namespace)) registries.set(namespace, new Set());
        registries.get(namespace)?.add(prefix);
      }
      if (relax.admissionGate === false) gateOpen.add(namespace);
      if (execOff) execOpen.add(namespace);
    }
  }
  return {
    registries: Object.fromEntries([...registries].sort(([a], [b]) => compareNames(a, b)).map(([namespace, prefixes]) => [namespace, [...prefixes].sort(compareNames)])),
    gateOpen: [...gateOpen].sort(compareNames),
    execOpen: [...execOpen].sort(compareNames),
    imageExceptions: imageExceptions.sort(compareNames),
    gateExceptions: gateExceptions.sort(compareNames),
    execExceptions: execExceptions.sort(compareNames),
  };
}

/** Where an exception stands, for its status and metrics. */
export interface ExceptionEvaluation {
  readonly state: ExceptionState;
  /** The named namespaces the baseline selects (where it is in effect while Active). */
  readonly namespaces: string[];
  readonly conditions: Omit<ExceptionCondition, 'lastTransitionTime'>[];
  /** When to look again: at expiry. Undefined once expired. */
  readonly expiresInMs?: number;
}

/**
 * The state of an exception at `now`: Expired from expiresAt on; Invalid when
 * its relax tightens or names a control the baseline does not set; Pending
 * while the baseline does not exist or selects none of the named namespaces
 * (`selected`: those it does); Active otherwise.
 */
export function evaluateException(exception: ExceptionLike, baseline: SecurityBaseline | undefined, selected: readonly string[], now: number): ExceptionEvaluation {
  const { spec } = exception;
  const expiresInMs = expiresAtMs(exception) - now;
  const problems = baseline ? relaxProblems(baseline.metadata.name, baseline.spec, spec.relax) : [];
  const controls = relaxedControls(spec.relax).join(', ');
  const valid: Omit<ExceptionCondition, 'lastTransitionTime'> = !baseline
    ? { type: 'Valid', status: 'Unknown', reason: 'BaselineNotFound', message: `SecurityBaseline ${spec.baseline} does not exist` }
    : problems.length > 0
      ? { type: 'Valid', status: 'False', reason: problems[0]?.reason ?? 'InvalidRelax', message: problems.map((p) => p.message).join('; ') }
      : { type: 'Valid', status: 'True', reason: 'OnlyLoosens', message: `relaxes ${controls} of baseline ${spec.baseline}, which sets them` };
  const active = (state: ExceptionState, status: 'True' | 'False', reason: string, message: string): ExceptionEvaluation => ({
    state, namespaces: state === 'Expired' ? [] : [...selected],
    conditions: [valid, { type: 'Active', status, reason, message }],
    ...(expiresInMs > 0 ? { expiresInMs } : {}),
  });
  if (expiresInMs <= 0) return active('Expired', 'False', 'Expired', `expired at ${spec.expiresAt}; baseline ${spec.baseline} applies in full again`);
  if (!baseline) return active('Pending', 'False', 'BaselineNotFound', `waiting for SecurityBaseline ${spec.baseline}`);
  if (problems.length > 0) return active('Invalid', 'False', 'Invalid', 'not applied anywhere: see the Valid condition');
  if (selected.length === 0) {
    return active('Pending', 'False', 'NoNamespaceSelected', `baseline ${spec.baseline} selects none of ${spec.namespaces.join(', ')} (yet)`);
  }
  return active('Active', 'True', 'InEffect', `relaxes ${controls} in ${selected.join(', ')} until ${spec.expiresAt}`);
}


/** One exception in effect in a namespace, as reports and the CLI show it. */
export interface ExceptionInEffect {
  readonly name: string;
  readonly controls: RelaxedControl[];
  readonly reason: string;
  readonly expiresAt: string;
  /** Who created it, when the API server stamped it (crds/exception-policy.yaml). */
  readonly createdBy?: string;
}

/**
 * The exceptions in effect for `baseline` (as at the revision the namespace
 * is at) in `namespace` at `now`, with the controls each relaxes: for a report
 * (a `skip` result for each excepted control) or `explain NAMESPACE`. The same
 * choice the namespace reconcile makes.
 */
export function exceptionsInEffect(exceptions: readonly ExceptionLike[], baseline: SecurityBaseline, namespace: string, now: number): ExceptionInEffect[] {
  const candidates = exceptionsFor(exceptions, baseline.metadata.name, namespace, now);
  const applied = new Set(relaxBaseline(baseline, candidates).applied);
  return candidates.filter((e) => applied.has(e.metadata.name)).map((e) => ({
    name: e.metadata.name, controls: relaxedControls(e.spec.relax), reason: e.spec.reason, expiresAt: e.spec.expiresAt,
    ...(e.metadata.annotations?.[CREATED_BY_ANNOTATION] ? { createdBy: e.metadata.annotations[CREATED_BY_ANNOTATION] } : {}),
  }));
}
