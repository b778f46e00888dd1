// core/v1 ResourceList (resource name → quantity) as written into quotas and
// limit ranges: every quantity checked and put in the API server's canonical form.

import { SpecError } from './errors.ts';
import { parseQuantity, QuantityError } from './quantity.ts';
import type { Quantity } from './quantity.ts';

/** `field[key]`, the way Kubernetes writes the path of a map entry. */
export function entryPath(field: string, key: string): string {
  return `${field}[${key}]`;
}

/** Parses one entry, turning a bad quantity into a SpecError at its path. */
export function parseEntry(field: string, key: string, text: string): Quantity {
  try {
    return parseQuantity(text);
  } catch (error) {
    if (error instanceof QuantityError) throw new SpecError(entryPath(field, key), error.message);
    throw error;
  }
}

/**
 * A copy of `list` with keys sorted and quantities canonical. Throws a SpecError
 * (at e.g. `spec.resourceQuota.hard[requests.cpu]`) for an unparsable or
 * negative quantity, both of which the API server refuses.
 */
export function canonicalResourceList(list: Readonly<Record<string, string>>, field: string): Record<string, string> {
  const entries = Object.keys(list).sort().map((key): [string, string] => {
    const quantity = parseEntry(field, key, list[key] as string);
    if (quantity.nanos < 0n) throw new SpecError(entryPath(field, key), `must not be negative (got "${list[key]}")`);
    return [key, quantity.text];
  });
  return Object.fromEntries(entries);
}
