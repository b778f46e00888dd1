// metav1.LabelSelector, evaluated and written exactly as Kubernetes does: the
// requirements of matchLabels and matchExpressions are ANDed; `{}` selects
// everything; NotIn and DoesNotExist hold for an object without the key.

import type { LabelSelector, LabelSelectorRequirement } from './types.ts';

export interface SelectorProblem {
  /** Path of the offending field, below the path passed to validateSelector. */
  field: string;
  message: string;
}

type Operator = LabelSelectorRequirement['operator'];
const OPERATORS: readonly string[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'] satisfies Operator[];

function hasLabel(labels: Readonly<Record<string, string>>, key: string): boolean {
  // Own properties only: a label named `constructor` must not be found on Object.prototype.
  return Object.hasOwn(labels, key);
}

function requirementHolds(requirement: LabelSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const present = hasLabel(labels, requirement.key);
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case 'In':
      return present && values.includes(labels[requirement.key] as string);
    case 'NotIn':
      return !present || !values.includes(labels[requirement.key] as string);
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
    default:
      // An operator Kubernetes does not know selects nothing (the API server refuses it anyway).
      return false;
  }
}

/**
 * Whether `labels` satisfy `selector`. Assumes a selector that validateSelector
 * accepts; for an invalid one the answer follows set logic (In with no values
 * matches nothing, NotIn with no values matches everything).
 */
export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!hasLabel(labels, key) || labels[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((requirement) => requirementHolds(requirement, labels));
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a valid label key (`[prefix/]name`), or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'a label key has at most one "/"';
  const name = parts.length === 2 ? (parts[1] as string) : key;
  const prefix = parts.length === 2 ? (parts[0] as string) : undefined;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `the prefix "${prefix}" must be a lower-case DNS subdomain of at most 253 characters`;
  }
  if (name.length === 0 || name.length > 63) return 'the name part must be 1 to 63 characters';
  if (!LABEL_NAME.test(name)) return 'the name part must be alphanumerics, "-", "_" or ".", starting and ending with an alphanumeric';
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return 'a label value must be at most 63 characters';
  if (value.length > 0 && !LABEL_NAME.test(value)) {
    return 'a label value must be empty or alphanumerics, "-", "_" or ".", starting and ending with an alphanumeric';
  }
  return undefined;
}

/**
 * Everything Kubernetes would refuse in `selector`, each with the path of the
 * field (below `path`) and a sentence a person can act on. Empty when valid.
 */
export function validateSelector(selector: LabelSelector, path = 'selector'): SelectorProblem[] {
  const problems: SelectorProblem[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) problems.push({ field: `${path}.matchLabels`, message: `invalid key "${key}": ${keyProblem}` });
    const valueProblem = labelValueProblem(value);
    if (valueProblem) problems.push({ field: `${path}.matchLabels.${key}`, message: `invalid value "${value}": ${valueProblem}` });
  }
  (selector.matchExpressions ?? []).forEach((requirement, index) => {
    const at = `${path}.matchExpressions[${index}]`;
    const keyProblem = labelKeyProblem(requirement.key);
    if (keyProblem) problems.push({ field: `${at}.key`, message: `invalid key "${requirement.key}": ${keyProblem}` });
    const values = requirement.values ?? [];
    if (!OPERATORS.includes(requirement.operator)) {
      problems.push({ field: `${at}.operator`, message: `unknown operator "${String(requirement.operator)}"; use In, NotIn, Exists or DoesNotExist` });
    } else if ((requirement.operator === 'In' || requirement.operator === 'NotIn') && values.length === 0) {
      problems.push({ field: `${at}.values`, message: `operator ${requirement.operator} needs at least one value` });
    } else if ((requirement.operator === 'Exists' || requirement.operator === 'DoesNotExist') && values.length > 0) {
      problems.push({ field: `${at}.values`, message: `operator ${requirement.operator} takes no values` });
    }
    values.forEach((value, valueIndex) => {
      const valueProblem = labelValueProblem(value);
      if (valueProblem) problems.push({ field: `${at}.values[${valueIndex}]`, message: `invalid value "${value}": ${valueProblem}` });
    });
  });
  return problems;
}

function requirementToString(requirement: LabelSelectorRequirement): string {
  const values = [...new Set(requirement.values ?? [])].sort().join(',');
  switch (requirement.operator) {
    case 'In':
      return `${requirement.key} in (${values})`;
    case 'NotIn':
      return `${requirement.key} notin (${values})`;
    case 'Exists':
      return requirement.key;
    case 'DoesNotExist':
      return `!${requirement.key}`;
  }
}

/**
 * The selector as a `labelSelector` query parameter for list and watch calls,
 * e.g. `tenant=true,tier in (a,b),!legacy`; `''` for the empty selector, which
 * selects everything. Undefined when the selector is invalid and therefore has
 * no string form. Requirements are sorted by key, as Kubernetes prints them.
 */
export function selectorToString(selector: LabelSelector): string | undefined {
  if (validateSelector(selector).length > 0) return undefined;
  const parts: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    parts.push({ key, text: `${key}=${value}` });
  }
  for (const requirement of selector.matchExpressions ?? []) {
    parts.push({ key: requirement.key, text: requirementToString(requirement) });
  }
  parts.sort((a, b) => compareStrings(a.key, b.key) || compareStrings(a.text, b.text));
  return parts.map((part) => part.text).join(',');
}

/**
 * The selector as the API server stores it: empty matchLabels / matchExpressions
 * and empty value lists dropped, matchLabels keys sorted. A fresh copy.
 */
export function canonicalSelector(selector: LabelSelector): LabelSelector {
  const canonical: LabelSelector = {};
  const matchLabels = selector.matchLabels ?? {};
  if (Object.keys(matchLabels).length > 0) {
    canonical.matchLabels = Object.fromEntries(Object.keys(matchLabels).sort().map((key) => [key, matchLabels[key] as string]));
  }
  const expressions = selector.matchExpressions ?? [];
  if (expressions.length > 0) {
    canonical.matchExpressions = expressions.map((requirement) => ({
      key: requirement.key,
      operator: requirement.operator,
      ...(requirement.values && requirement.values.length > 0 ? { values: [...requirement.values] } : {}),
    }));
  }
  return canonical;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
