// The LimitRange `<baseline>-limits`: one item of type Container that gives
// containers without requests or limits a default (so they still fit a quota)
// and bounds the others. A namespace gets at most one: two LimitRanges would
// each default the same containers, so the baselines' ranges are not merged but
// ranked (see resolveLimitRange).

import type { LimitRangeSpec } from '../api/types.ts';
import { compareQuantities } from './quantity.ts';
import type { Quantity } from './quantity.ts';
import { resolveCandidates } from './composition.ts';
import type { Candidate, Resolution } from './composition.ts';
import { SpecError } from './errors.ts';
import { sortedRecord } from './canonical.ts';
import { managedMetadata } from './metadata.ts';
import type { DesiredObject } from './object.ts';
import { canonicalResourceList, entryPath, parseEntry } from './resourcelist.ts';

export const LIMIT_RANGE_SUFFIX = 'limits';

/** core/v1 LimitRangeItem, in the field order the API server writes it. */
export interface LimitRangeItem {
  type: 'Container';
  max?: Record<string, string>;
  min?: Record<string, string>;
  default?: Record<string, string>;
  defaultRequest?: Record<string, string>;
}

export interface LimitRangeObject extends DesiredObject {
  apiVersion: 'v1';
  kind: 'LimitRange';
  spec: { limits: [Readonly<LimitRangeItem>] };
}

type Bound = 'max' | 'min' | 'default' | 'defaultRequest';
const FIELD = 'spec.limitRange';

/**
 * The API server's defaulting of a Container item (SetDefaults_LimitRangeItem):
 * a missing default limit is the max, a missing default request is the default
 * limit, else the min. Applying it here makes the desired object equal to the
 * stored one; the effect on pods is the same either way.
 */
export function withServerDefaults(spec: LimitRangeSpec): LimitRangeSpec {
  const defaults = { ...spec.max, ...spec.default };
  const defaultRequest = { ...spec.min, ...defaults, ...spec.defaultRequest };
  return {
    ...(spec.max ? { max: { ...spec.max } } : {}),
    ...(spec.min ? { min: { ...spec.min } } : {}),
    ...(Object.keys(defaults).length > 0 ? { default: defaults } : {}),
    ...(Object.keys(defaultRequest).length > 0 ? { defaultRequest } : {}),
  };
}

/** The orderings the API server requires between the bounds of one resource. */
const ORDERINGS: readonly [lower: Bound, upper: Bound, what: string][] = [
  ['min', 'max', 'min is greater than max'],
  ['min', 'defaultRequest', 'min is greater than the default request'],
  ['defaultRequest', 'max', 'the default request is greater than max'],
  ['defaultRequest', 'default', 'the default request is greater than the default limit'],
  ['min', 'default', 'min is greater than the default limit'],
  ['default', 'max', 'the default limit is greater than max'],
];

/**
 * Refuses what the API server's LimitRange validation would. Checking the
 * values as written is enough: every defaulted value is a copy of one of them.
 */
function validateOrderings(spec: LimitRangeSpec): void {
  const parsed = new Map<Bound, Map<string, Quantity>>();
  for (const bound of ['max', 'min', 'default', 'defaultRequest'] as const) {
    const list = spec[bound] ?? {};
    parsed.set(bound, new Map(Object.keys(list).sort().map((key) => [key, parseEntry(`${FIELD}.${bound}`, key, list[key] as string)])));
  }
  for (const [lower, upper, what] of ORDERINGS) {
    for (const [resource, low] of parsed.get(lower) ?? []) {
      const high = parsed.get(upper)?.get(resource);
      if (high && compareQuantities(low, high) > 0) {
        throw new SpecError(entryPath(`${FIELD}.${lower}`, resource), `${what} for ${resource} (${spec[lower]?.[resource]} > ${spec[upper]?.[resource]})`);
      }
    }
  }
}

/**
 * The item of each spec (or why it cannot be built), the same in every
 * namespace: parsing and ordering the quantities was a sixth of what building a
 * namespace's objects allocated. Keyed by the spec object, which a baseline
 * update replaces (the caches never change an object in place).
 */
const itemsBySpec = new WeakMap<LimitRangeSpec, Readonly<LimitRangeItem> | SpecError>();

export function buildLimitRange(baseline: string, namespace: string, spec: LimitRangeSpec): LimitRangeObject {
  let item = itemsBySpec.get(spec);
  if (item === undefined) {
    try {
      item = limitRangeItem(spec);
    } catch (error) {
      if (!(error instanceof SpecError)) throw error;
      item = error;
    }
    itemsBySpec.set(spec, item);
  }
  if (item instanceof SpecError) throw item;
  return {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: managedMetadata(baseline, namespace, LIMIT_RANGE_SUFFIX),
    spec: { limits: [item] },
  };
}

/** The Container item, frozen: namespaces share it. */
function limitRangeItem(spec: LimitRangeSpec): Readonly<LimitRangeItem> {
  const item: LimitRangeItem = { type: 'Container' };
  // Canonicalise (and so validate) the values as written before defaulting copies them around.
  const written: LimitRangeSpec = {};
  for (const bound of ['max', 'min', 'default', 'defaultRequest'] as const) {
    const list = spec[bound];
    if (list) written[bound] = canonicalResourceList(list, `${FIELD}.${bound}`);
  }
  validateOrderings(written);
  const defaulted = withServerDefaults(written);
  for (const bound of ['max', 'min', 'default', 'defaultRequest'] as const) {
    const list = defaulted[bound];
    if (list && Object.keys(list).length > 0) item[bound] = Object.freeze(sortedRecord(list));
  }
  return Object.freeze(item);
}

/** The resources whose default limits decide which LimitRange is stricter, in this order. */
export const LIMIT_RANGE_STRICTNESS_RESOURCES = ['cpu', 'memory'] as const;

/**
 * The limit a container without one gets for `resource` (the default limit, or
 * max when no default is given), or undefined for none (unbounded). Unparsable
 * values count as unbounded: buildLimitRange refuses them anyway.
 */
function effectiveDefaultLimit(spec: LimitRangeSpec, resource: string): Quantity | undefined {
  const text = spec.default?.[resource] ?? spec.max?.[resource];
  if (text === undefined) return undefined;
  try {
    return parseEntry('', resource, text);
  } catch {
    return undefined;
  }
}

/**
 * The stricter LimitRange is the one that gives a container without limits the
 * smaller CPU limit; equal (or both unbounded) CPU, the smaller memory limit. A
 * bounded limit is stricter than none. Anything else is a tie, which the
 * priority and then the name break.
 */
export function compareLimitRangeStrictness(a: LimitRangeSpec, b: LimitRangeSpec): number {
  for (const resource of LIMIT_RANGE_STRICTNESS_RESOURCES) {
    const limitA = effectiveDefaultLimit(a, resource);
    const limitB = effectiveDefaultLimit(b, resource);
    if (limitA && limitB) {
      const order = compareQuantities(limitA, limitB);
      if (order !== 0) return order;
    } else if (limitA || limitB) {
      return limitA ? -1 : 1;
    }
  }
  return 0;
}

/** Which baseline's LimitRange the namespace gets; the others report a Conflict. */
export function resolveLimitRange(candidates: readonly Candidate<LimitRangeSpec>[]): Resolution<LimitRangeSpec> | undefined {
  return resolveCandidates(candidates, compareLimitRangeStrictness);
}
