// A bound on the requests one client has in flight, which the API server's
// throttling moves: additive increase, multiplicative decrease, as TCP moves its
// congestion window. The API server says it is overloaded with a 429 (API
// Priority and Fairness, or max-requests-inflight); each worker retrying after
// the Retry-After still sends one request a second that it refuses, so the rate
// of refused requests grew with the number of workers (49–68 a second with 48
// workers, against 25 with 16, in test/chaos/throttling.test.ts). With the
// bound, it follows what the API server admits instead.

export interface AdaptiveLimitOptions {
  /** The bound while nothing is throttled, and the most it grows back to. */
  readonly max: number;
  /** Never below this many requests in flight; default 1. */
  readonly min?: number;
  /**
   * One decrease for one episode of throttling: 429s answered within this long
   * of a decrease are the same overload seen by requests already in flight, as
   * TCP halves its window once per round trip. Default 1 s, the shortest
   * Retry-After.
   */
  readonly decreaseIntervalMs?: number;
  readonly now?: () => number;
}

/**
 * What the API server said of a request: admitted (any answer but 429),
 * throttled (429), or nothing at all (`failed`: a transport error or a
 * timeout), which says nothing about its load and leaves the bound as it is.
 */
export type RequestOutcome = 'admitted' | 'throttled' | 'failed';

export class AdaptiveLimit {
  readonly #max: number;
  readonly #min: number;
  readonly #decreaseIntervalMs: number;
  readonly #now: () => number;
  #limit: number;
  #inFlight = 0;
  #admittedSinceIncrease = 0;
  #lastDecrease = Number.NEGATIVE_INFINITY;
  readonly #waiting: Array<() => void> = [];

  constructor(options: AdaptiveLimitOptions) {
    if (!(options.max >= 1)) throw new RangeError(`max must be at least 1, not ${options.max}`);
    this.#max = Math.floor(options.max);
    this.#min = Math.min(this.#max, Math.max(1, Math.floor(options.min ?? 1)));
    this.#decreaseIntervalMs = options.decreaseIntervalMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
    this.#limit = this.#max;
  }

  get limit(): number {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Takes a place at once if one is free and nobody waits for one (then it must
   * be released like an acquired one); false otherwise. A caller that gets a
   * place this way pays no promise and no turn of the event loop, which is
   * every request while the API server throttles nothing.
   */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.#limit || this.#waiting.length > 0) return false;
    this.#inFlight++;
    return true;
  }

  /** Waits for a place within the bound; every acquire must be followed by one release. */
  async acquire(): Promise<void> {
    if (this.tryAcquire()) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting.push(resolve);
    await promise; // the releaser counted this request in flight before waking it
  }

  /**
   * Gives the place back. A throttled answer halves the bound (from what was in
   * flight, not from the bound: a bound far above what the workers use would
   * otherwise take several halvings to bite). An admitted one grows it by one
   * for every bound's worth of admitted answers, one step per round trip, but
   * only while requests wait for a place (a bound nobody reaches says nothing
   * about the API server) and not within the interval after a decrease: the
   * API server asked for a pause with its Retry-After. Growing at once sent
   * about 20 requests a second that it refused; holding, under 1.
   */
  release(outcome: RequestOutcome): void {
    if (this.#inFlight === 0) throw new Error('release without acquire');
    if (outcome === 'throttled') {
      const now = this.#now();
      if (now - this.#lastDecrease >= this.#decreaseIntervalMs) {
        this.#limit = Math.max(this.#min, Math.floor(Math.min(this.#limit, this.#inFlight) / 2));
        this.#lastDecrease = now;
        this.#admittedSinceIncrease = 0;
      }
    } else if (outcome === 'admitted' && this.#limit < this.#max && this.#waiting.length > 0 && this.#now() - this.#lastDecrease >= this.#decreaseIntervalMs
      && ++this.#admittedSinceIncrease >= this.#limit) {
      this.#limit++;
      this.#admittedSinceIncrease = 0;
    }
    this.#inFlight--;
    while (this.#inFlight < this.#limit) {
      const next = this.#waiting.shift();
      if (!next) break;
      this.#inFlight++;
      next();
    }
  }
}
