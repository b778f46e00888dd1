// Sharing equal values by a key, bounded: the caches' records (records.ts),
// parsed annotations (applied.ts) and status outcomes (status.ts) hold the same
// few values in thousands of namespaces, and each would otherwise keep a copy.

/**
 * Shares equal values by a key. Bounded: past `max` distinct keys it starts
 * afresh, so odd input (values unique to each namespace, say) can neither
 * grow it without end nor keep the values that repeat from being shared.
 */
export class Interner<V> {
  readonly #values = new Map<string, V>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get(key: string, make: () => V): V {
    const known = this.#values.get(key);
    if (known !== undefined) return known;
    const value = make();
    if (this.#values.size >= this.#max) this.#values.clear();
    this.#values.set(key, value);
    return value;
  }

  /** A string: the copy already held, if any. */
  string<S extends string | undefined>(this: Interner<string>, text: S): S {
    return (text === undefined ? text : this.get(text, () => text)) as S;
  }
}
