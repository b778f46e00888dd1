// Desired objects are kept in the form the API server returns them. Go's
// encoding/json writes map keys in sorted order, so string maps are built sorted
// too: a desired object then serialises exactly like the live one.

/** A copy of a string map with its keys in sorted order. */
export function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  // fromEntries defines own properties, so even a key such as `__proto__` stays data.
  return Object.fromEntries(Object.keys(record).sort().map((key) => [key, record[key] as string]));
}
