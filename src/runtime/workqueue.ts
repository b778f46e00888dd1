/**
 * The controller's work queue: client-go's `util/workqueue` rate-limiting queue,
 * rebuilt on p-queue.
 *
 * Keys (namespace names, in this operator) go in; a handler reconciles them.
 * - Stingy: a key added again before it starts runs once.
 * - Serial per key: a key is never handled by two workers at once. A key added
 *   while it is being handled is marked dirty and runs once more afterwards.
 * - Fair: distinct keys start in the order they were queued (p-queue is FIFO),
 *   within two priorities: keys queued by bulk work (the first look at every
 *   key after a start, a change that fans out to thousands) are `low` and wait
 *   behind keys queued for a change of their own, as in controller-runtime's
 *   priority queue. A key waiting at `low` and queued again at `normal` moves up.
 *   Low keys are not starved: while any wait, after `lowTurnEvery` (10) normal
 *   keys in a row the oldest of them goes next, however many normal keys come.
 * - Failures back off per key, exponentially (client-go's
 *   ItemExponentialFailureRateLimiter); a success forgets the failures. All
 *   failure retries together also draw from one token bucket (client-go's
 *   BucketRateLimiter, 10 a second, burst 100): a key waits for the larger of
 *   the two delays, as under client-go's default controller rate limiter. So an
 *   operator whose API server is gone does not retry thousands of keys at once.
 * - Refusals are looked at again slowly: a handler that finished but was
 *   refused part of its work (`refused`: a 403, a 422, which retrying soon
 *   cannot fix but which may lift without any event, as when an admission
 *   policy failed closed for a moment) has its key run again after a backoff of
 *   its own (5 s doubling to 10 min by default), drawing on the same bucket.
 * - Delayed adds keep the earliest deadline per key; their timers are unref'd.
 * - Shutdown stops intake, drops what has not started and drains what has.
 *
 * Metrics are plain hooks (`WorkQueueMetrics`), so this module does not depend
 * on a metrics library.
 */
import PQueue from 'p-queue';

/** What a handler may return: ask for the key to run again after a delay. */
export interface ReconcileResult {
  /** Run the key again after this many milliseconds (0 or less: at once). */
  requeueAfterMs?: number;
  /**
   * The handler did what it could, but some of it was refused in a way
   * retrying soon cannot fix: run the key again after its refusal backoff,
   * which grows while its runs keep ending refused and is forgotten by the
   * first that does not.
   */
  refused?: boolean;
}

export type ReconcileHandler = (key: string) => Promise<ReconcileResult | void>;

/**
 * `normal`: something about this key changed (an event, a retry, a requeue).
 * `low`: the key is one of many queued by bulk work; it yields to `normal` keys.
 */
export type Priority = 'normal' | 'low';

/** p-queue runs higher numbers first. */
const PQUEUE_PRIORITY: Record<Priority, number> = { normal: 0, low: -1 };
/** A low key whose turn has come (see `lowTurnEvery`) runs before the normal keys. */
const PQUEUE_TURN = 1;

/** Values a metrics adapter polls, like client-go's unfinished-work gauges. */
export interface WorkQueueProbes {
  readonly name: string;
  /** Seconds the keys being handled right now have been running, summed. */
  unfinishedWorkSeconds(): number;
  /** Seconds the longest-running key being handled has been running. */
  longestRunningProcessorSeconds(): number;
  /** Keys waiting for a delayed or rate-limited add to fire. */
  readonly delayed: number;
}

/**
 * Hooks mirroring client-go's workqueue metrics. All are optional. Hooks are
 * called synchronously; an exception thrown by one is ignored.
 */
export interface WorkQueueMetrics {
  /** Called once, from the queue's constructor, with the values to poll. */
  attach?(probes: WorkQueueProbes): void;
  /** The number of keys waiting to run changed (client-go `depth`). */
  depth?(depth: number): void;
  /** A key was queued; deduplicated adds do not count (client-go `adds_total`). */
  add?(): void;
  /** A delayed or rate-limited add was requested (client-go `retries_total`). */
  retry?(): void;
  /** A key started; seconds it waited since it was queued (client-go `queue_duration_seconds`). */
  queueLatency?(seconds: number): void;
  /** A key finished; seconds its handler ran (client-go `work_duration_seconds`). */
  workDuration?(seconds: number): void;
}

export interface WorkQueueOptions {
  /** Names the queue, for metrics and logs. */
  name: string;
  /** How many distinct keys may be handled at once. */
  concurrency: number;
  /** Delay after the first failure of a key, in ms. Default 5. */
  baseDelayMs?: number;
  /** Longest delay between retries of a failing key, in ms. Default 300 000. */
  maxDelayMs?: number;
  /** Delay after the first refused run of a key (see `ReconcileResult.refused`), in ms. Default 5 000. */
  refusedBaseDelayMs?: number;
  /** Longest delay between runs of a key whose runs keep ending refused, in ms. Default 600 000. */
  refusedMaxDelayMs?: number;
  /** Failure (and refusal) retries of all keys together, per second, once the burst is spent. Default 10. */
  retriesPerSecond?: number;
  /** Failure retries of all keys that may start without waiting for the bucket. Default 100. */
  retryBurst?: number;
  /**
   * While low keys wait, after this many normal keys in a row the oldest low key
   * goes next, so a steady stream of normal keys cannot hold bulk work back for
   * ever. Default 10.
   */
  lowTurnEvery?: number;
  /**
   * Called when the handler fails (rejects or throws), before the key is
   * re-added with backoff. `retries` is how many times the key had already been
   * retried for failures in a row (0 on the first failure).
   */
  onError?: (key: string, error: unknown, retries: number) => void;
  metrics?: WorkQueueMetrics;
  /** Clock in milliseconds, for deadlines and metrics. Default `performance.now()`. */
  now?: () => number;
}

/**
 * Per-key exponential backoff, like client-go's ItemExponentialFailureRateLimiter:
 * the n-th failure in a row waits `base * 2^(n-1)`, at most `max`.
 */
export class ItemExponentialFailureRateLimiter {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  #failures = new Map<string, number>();

  constructor(baseDelayMs: number, maxDelayMs: number) {
    if (!(baseDelayMs >= 0) || !(maxDelayMs >= 0)) {
      throw new RangeError(`backoff delays must be non-negative, got base ${baseDelayMs} and max ${maxDelayMs}`);
    }
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
  }

  /** Counts a failure of `key` and returns how long to wait before retrying it. */
  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2 ** failures grows to Infinity rather than overflowing, so min() still caps it.
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }

  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }
}

/**
 * One token bucket for the failure retries of all keys, like client-go's
 * BucketRateLimiter (golang.org/x/time/rate's Reserve): each retry takes a
 * token, and waits until the token would have been there.
 */
export class BucketRateLimiter {
  readonly perSecond: number;
  readonly burst: number;
  #now: () => number;
  // Tokens at #updatedAt; negative when retries already wait for tokens to come.
  #tokens: number;
  #updatedAt: number;

  constructor(perSecond: number, burst: number, now: () => number) {
    if (!(perSecond > 0) || !(burst >= 1)) {
      throw new RangeError(`retry bucket needs a positive rate and a burst of at least 1, got ${perSecond}/s and ${burst}`);
    }
    this.perSecond = perSecond;
    this.burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#updatedAt = now();
  }

  /** Takes a token and returns how long, in ms, to wait before using it. */
  when(): number {
    const now = this.#now();
    const refilled = this.#tokens + ((now - this.#updatedAt) / 1000) * this.perSecond;
    this.#tokens = Math.min(this.burst, refilled) - 1;
    this.#updatedAt = now;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.perSecond) * 1000;
  }
}

interface DelayedAdd {
  readyAt: number;
  timer: NodeJS.Timeout;
}

export class WorkQueue {
  readonly name: string;

  #handler: ReconcileHandler;
  #onError: ((key: string, error: unknown, retries: number) => void) | undefined;
  #metrics: WorkQueueMetrics;
  #now: () => number;
  #limiter: ItemExponentialFailureRateLimiter;
  #refusals: ItemExponentialFailureRateLimiter;
  #bucket: BucketRateLimiter;
  #workers: PQueue;
  #lowTurnEvery: number;
  // Normal keys started in a row while low keys waited.
  #normalStartsInARow = 0;
  // The low key given its turn last, which left #low to run at the front.
  #turn: string | undefined;

  // Keys that will run and have not started this run; each has exactly one
  // task in #workers, unless it is also processing (then it is re-queued when
  // the current run finishes). The order lives in #workers.
  #dirty = new Set<string>();
  // The dirty keys waiting at low priority (all others are normal).
  #low = new Set<string>();
  // When each dirty key was first queued, for the queue-latency metric.
  #queuedAt = new Map<string, number>();
  // Keys being handled, with the time their run started.
  #processing = new Map<string, number>();
  #delayed = new Map<string, DelayedAdd>();
  #idleWaiters: Array<() => void> = [];
  #shuttingDown = false;
  #drained: Promise<void> | undefined;

  constructor(handler: ReconcileHandler, options: WorkQueueOptions) {
    this.name = options.name;
    this.#handler = handler;
    this.#onError = options.onError;
    this.#metrics = options.metrics ?? {};
    this.#now = options.now ?? (() => performance.now());
    this.#limiter = new ItemExponentialFailureRateLimiter(options.baseDelayMs ?? 5, options.maxDelayMs ?? 300_000);
    this.#refusals = new ItemExponentialFailureRateLimiter(options.refusedBaseDelayMs ?? 5_000, options.refusedMaxDelayMs ?? 600_000);
    this.#bucket = new BucketRateLimiter(options.retriesPerSecond ?? 10, options.retryBurst ?? 100, this.#now);
    this.#workers = new PQueue({ concurrency: options.concurrency });
    this.#lowTurnEvery = options.lowTurnEvery ?? 10;
    if (!(this.#lowTurnEvery >= 1)) throw new RangeError(`lowTurnEvery must be at least 1, got ${this.#lowTurnEvery}`);
    // The queue itself is the probe: its getters are read at scrape time.
    this.#hook(() => this.#metrics.attach?.(this));
  }

  /**
   * Keys waiting to run. A key added again while it is being handled counts
   * here as well as in `processing`, since it will run once more.
   */
  get length(): number {
    return this.#dirty.size;
  }

  /** Keys being handled right now. */
  get processing(): number {
    return this.#processing.size;
  }

  /** Keys waiting for a delayed or rate-limited add to fire. */
  get delayed(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Queues `key`. Does nothing after shutdown, or if the key is already
   * waiting, but for moving a key that waits at `low` up to `normal`.
   */
  add(key: string, priority: Priority = 'normal'): void {
    if (this.#shuttingDown) return;
    if (this.#dirty.has(key)) {
      if (priority === 'normal' && this.#low.delete(key)) this.#raise(key);
      return;
    }
    this.#dirty.add(key);
    if (priority === 'low') this.#low.add(key);
    if (!this.#queuedAt.has(key)) this.#queuedAt.set(key, this.#now());
    this.#hook(() => this.#metrics.add?.());
    this.#reportDepth();
    // A key being handled is re-queued when its run finishes, never run beside it.
    if (this.#processing.has(key)) return;
    this.#schedule(key);
  }

  /**
   * Queues `key` after `delayMs`. If the key is already waiting for a delayed
   * add that fires sooner, that one stands; a sooner deadline replaces a later
   * one. A delayed add does not stop an immediate `add` from running the key now.
   */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    this.#hook(() => this.#metrics.retry?.());
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.#now() + delayMs;
    const existing = this.#delayed.get(key);
    if (existing !== undefined) {
      if (existing.readyAt <= readyAt) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    // A pending retry is no reason for the process to stay up.
    timer.unref();
    this.#delayed.set(key, { readyAt, timer });
  }

  /**
   * Queues `key` after its backoff delay or its turn in the retry bucket,
   * whichever is later, and counts a failure for it.
   */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    // Both are asked, as client-go's MaxOfRateLimiter does: the bucket counts every retry.
    this.addAfter(key, Math.max(this.#limiter.when(key), this.#bucket.when()));
  }

  /** Forgets the failures of `key`, so its next backoff starts from the base delay. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  /** How many times `key` has been retried for failures in a row. */
  numRequeues(key: string): number {
    return this.#limiter.numRequeues(key);
  }

  /** How many runs of `key` in a row have ended refused. */
  numRefusals(key: string): number {
    return this.#refusals.numRequeues(key);
  }

  unfinishedWorkSeconds(): number {
    const now = this.#now();
    let total = 0;
    for (const startedAt of this.#processing.values()) total += now - startedAt;
    return total / 1000;
  }

  longestRunningProcessorSeconds(): number {
    const now = this.#now();
    let longest = 0;
    for (const startedAt of this.#processing.values()) longest = Math.max(longest, now - startedAt);
    return longest / 1000;
  }

  /**
   * Resolves once no key is waiting or being handled. Keys waiting for a
   * delayed or rate-limited add are ignored (see `delayed`): a key that keeps
   * failing, or asks to be requeued, would otherwise never let the queue be idle.
   * Resolves at once if the queue is idle already.
   */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops the queue: later adds are ignored, delayed adds are cancelled, keys
   * that have not started are dropped. Resolves when the handlers already
   * running have finished. Calling it again returns the same promise.
   */
  shutdown(): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#workers.clear();
    this.#dirty.clear();
    this.#low.clear();
    this.#queuedAt.clear();
    this.#reportDepth();
    this.#drained = this.idle();
    this.#notifyIfIdle();
    return this.#drained;
  }

  #schedule(key: string): void {
    const priority = PQUEUE_PRIORITY[this.#low.has(key) ? 'low' : 'normal'];
    // clear() rejects the promises of dropped tasks; #process itself never rejects.
    this.#workers.add(() => this.#process(key), { id: key, priority }).catch(() => {});
  }

  /** Moves the waiting task of `key` to `priority`; a key being handled is re-queued at normal when its run ends. */
  #raise(key: string, priority = PQUEUE_PRIORITY.normal): void {
    if (this.#processing.has(key)) return;
    try {
      this.#workers.setPriority(key, priority);
    } catch (error) {
      // Its task has just started (#process has not taken it off #dirty yet): nothing to move.
      if (!(error instanceof ReferenceError)) throw error;
    }
  }

  async #process(key: string): Promise<void> {
    // Start on a later microtask, so adds made in the same synchronous stretch
    // as the one that queued the key fold into this run instead of a second one.
    await Promise.resolve();
    // Dropped by shutdown after its task was taken by a worker.
    if (!this.#dirty.has(key)) return;
    this.#dirty.delete(key);
    this.#countStart(key, this.#low.delete(key));
    const startedAt = this.#now();
    const queuedAt = this.#queuedAt.get(key) ?? startedAt;
    this.#queuedAt.delete(key);
    this.#processing.set(key, startedAt);
    this.#reportDepth();
    this.#hook(() => this.#metrics.queueLatency?.((startedAt - queuedAt) / 1000));
    try {
      // Inside the try, so a handler that throws synchronously counts as a failure too.
      const result = (await this.#handler(key)) as ReconcileResult | undefined;
      this.forget(key);
      if (result?.refused) this.addAfter(key, Math.max(this.#refusals.when(key), this.#bucket.when()));
      else this.#refusals.forget(key);
      const requeueAfterMs = result?.requeueAfterMs;
      if (typeof requeueAfterMs === 'number' && !Number.isNaN(requeueAfterMs)) this.addAfter(key, requeueAfterMs);
    } catch (error) {
      const retries = this.numRequeues(key);
      this.#hook(() => this.#onError?.(key, error, retries));
      this.addRateLimited(key);
    } finally {
      this.#finish(key, startedAt);
    }
  }

  /**
   * Gives the oldest low key its turn once `lowTurnEvery` normal keys in a row
   * have started while low keys waited. The oldest is the first in `#low`: a
   * key enters it when queued and leaves it when it starts or moves up.
   */
  #countStart(key: string, wasLow: boolean): void {
    if (wasLow || key === this.#turn || this.#low.size === 0) {
      this.#normalStartsInARow = 0;
      if (key === this.#turn) this.#turn = undefined;
      return;
    }
    if (++this.#normalStartsInARow < this.#lowTurnEvery) return;
    this.#normalStartsInARow = 0;
    const oldest = this.#low.values().next().value as string;
    this.#low.delete(oldest);
    this.#turn = oldest;
    this.#raise(oldest, PQUEUE_TURN);
  }

  #finish(key: string, startedAt: number): void {
    this.#processing.delete(key);
    this.#hook(() => this.#metrics.workDuration?.((this.#now() - startedAt) / 1000));
    if (this.#dirty.has(key)) this.#schedule(key);
    this.#notifyIfIdle();
  }

  #isIdle(): boolean {
    return this.#dirty.size === 0 && this.#processing.size === 0;
  }

  #notifyIfIdle(): void {
    if (!this.#isIdle() || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #reportDepth(): void {
    this.#hook(() => this.#metrics.depth?.(this.#dirty.size));
  }

  // Hooks are observers: one that throws must not wedge a key or the queue.
  #hook(call: () => void): void {
    try {
      call();
    } catch {
      // ignored on purpose
    }
  }
}
