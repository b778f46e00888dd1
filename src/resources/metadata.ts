// Names and labels of managed objects. Every object a baseline manages is named
// `<baseline>-<suffix>` and carries the two ownership labels the informers
// select on, so the operator recognises its own objects and nobody else's.

import { BASELINE_LABEL, MANAGED_BY_LABEL, MAX_BASELINE_NAME_LENGTH, OPERATOR_NAME } from '../api/constants.ts';
import { SpecError } from './errors.ts';

/** Object names of every managed kind are DNS subdomains (RFC 1123): at most 253 characters. */
export const MAX_OBJECT_NAME_LENGTH = 253;

export interface ManagedMetadata {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** An RFC 1123 subdomain: lower-case alphanumerics, `-` and `.`, at most 253 characters. */
export function isDnsSubdomain(name: string): boolean {
  return name.length <= MAX_OBJECT_NAME_LENGTH && DNS_SUBDOMAIN.test(name);
}

/**
 * Throws a SpecError at `metadata.name` unless the baseline name can prefix object
 * names and be a label value. The CRD enforces the same at admission; checking
 * here keeps a baseline that slipped through from producing invalid objects.
 */
export function validateBaselineName(baseline: string): void {
  if (baseline.length > MAX_BASELINE_NAME_LENGTH) {
    throw new SpecError('metadata.name', `must be at most ${MAX_BASELINE_NAME_LENGTH} characters (it names objects and is a label value)`);
  }
  if (!isDnsSubdomain(baseline)) {
    throw new SpecError('metadata.name', 'must be a lower-case RFC 1123 subdomain');
  }
}

/** The labels that mark an object as managed by this operator on behalf of `baseline`. */
export function ownershipLabels(baseline: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: OPERATOR_NAME, [BASELINE_LABEL]: baseline };
}

/**
 * `<baseline>-<suffix>`, checked to be a valid object name. `field` is where the
 * suffix comes from in the spec (a role binding's or pod policy's name), so an
 * invalid result is reported against what the user wrote.
 */
export function managedName(baseline: string, suffix: string, field = 'metadata.name'): string {
  const name = `${baseline}-${suffix}`;
  if (name.length > MAX_OBJECT_NAME_LENGTH) {
    throw new SpecError(field, `makes the object name "${name}" longer than ${MAX_OBJECT_NAME_LENGTH} characters`);
  }
  if (!DNS_SUBDOMAIN.test(name)) {
    throw new SpecError(field, `makes "${name}", which is not a valid object name (lower-case alphanumerics, '-' and '.')`);
  }
  return name;
}

/** The metadata of the object `<baseline>-<suffix>` in `namespace`. */
export function managedMetadata(baseline: string, namespace: string, suffix: string, field?: string): ManagedMetadata {
  return {
    name: managedName(baseline, suffix, field),
    namespace,
    labels: ownershipLabels(baseline),
  };
}
