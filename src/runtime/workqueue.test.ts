import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import fc from 'fast-check';
import { BucketRateLimiter, ItemExponentialFailureRateLimiter, WorkQueue } from './workqueue.ts';
import type { Priority, ReconcileResult, WorkQueueProbes } from './workqueue.ts';

// Lets every pending promise callback and p-queue's microtask bookkeeping run.
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Records runs and fails the test if a key is ever handled twice at once.
class Recorder {
  runs: string[] = [];
  inFlight = new Set<string>();
  maxInFlight = 0;
  overlaps: string[] = [];

  enter(key: string): void {
    if (this.inFlight.has(key)) this.overlaps.push(key);
    this.inFlight.add(key);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight.size);
    this.runs.push(key);
  }

  leave(key: string): void {
    this.inFlight.delete(key);
  }

  count(key: string): number {
    return this.runs.filter((k) => k === key).length;
  }
}

// A handler whose runs finish only when the test releases them.
function gatedHandler(recorder: Recorder) {
  const gates = new Map<string, Array<() => void>>();
  const handler = async (key: string): Promise<void> => {
    recorder.enter(key);
    const { promise, resolve } = Promise.withResolvers<void>();
    gates.set(key, [...(gates.get(key) ?? []), resolve]);
    await promise;
    recorder.leave(key);
  };
  const release = async (key: string): Promise<void> => {
    const pending = gates.get(key) ?? [];
    const next = pending.shift();
    if (next === undefined) throw new Error(`no run of ${key} to release`);
    next();
    await settle();
  };
  return { handler, release };
}

/** A queue with one worker, busy with the key 'busy' until the test releases it. */
async function oneBusyWorker(track: (queue: WorkQueue) => WorkQueue) {
  const recorder = new Recorder();
  const { handler, release } = gatedHandler(recorder);
  const queue = track(new WorkQueue(handler, { name: 't', concurrency: 1 }));
  queue.add('busy');
  await settle();
  return { recorder, release, queue };
}

describe('WorkQueue', () => {
  const queues: WorkQueue[] = [];
  const track = (queue: WorkQueue): WorkQueue => {
    queues.push(queue);
    return queue;
  };
  afterEach(async () => {
    jest.useRealTimers();
    // Pending gated runs would hold shutdown forever, so do not wait for the drain.
    for (const queue of queues.splice(0)) void queue.shutdown();
  });

  test('a key queued twice before it starts runs once', async () => {
    const recorder = new Recorder();
    const queue = track(new WorkQueue(async (key) => recorder.enter(key), { name: 't', concurrency: 2 }));
    queue.add('a');
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.length).toBe(2);
    await queue.idle();
    expect(recorder.runs.sort()).toEqual(['a', 'b']);
  });

  test('distinct keys start in the order they were queued', async () => {
    const recorder = new Recorder();
    const queue = track(new WorkQueue(async (key) => recorder.enter(key), { name: 't', concurrency: 1 }));
    for (const key of ['c', 'a', 'b', 'a', 'd', 'c']) queue.add(key);
    await queue.idle();
    expect(recorder.runs).toEqual(['c', 'a', 'b', 'd']);
  });

  test('keys queued at low priority wait behind normal ones queued later; each priority keeps its order', async () => {
    const { recorder, release, queue } = await oneBusyWorker(track);
    queue.add('l1', 'low');
    queue.add('l2', 'low');
    queue.add('n1');
    queue.add('l3', 'low');
    queue.add('n2', 'normal');
    for (const key of ['busy', 'n1', 'n2', 'l1', 'l2', 'l3']) await release(key);
    await queue.idle();
    expect(recorder.runs).toEqual(['busy', 'n1', 'n2', 'l1', 'l2', 'l3']);
  });

  test('a key waiting at low priority moves up when queued at normal; never down', async () => {
    const { recorder, release, queue } = await oneBusyWorker(track);
    for (const key of ['l1', 'l2', 'l3']) queue.add(key, 'low');
    queue.add('n1');
    queue.add('l3');
    queue.add('n1', 'low');
    expect(queue.length).toBe(4);
    for (const key of ['busy', 'n1', 'l3', 'l1', 'l2']) await release(key);
    await queue.idle();
    expect(recorder.runs).toEqual(['busy', 'n1', 'l3', 'l1', 'l2']);
  });

  test('a key queued at low and then normal while it runs runs again at normal', async () => {
    const { recorder, release, queue } = await oneBusyWorker(track);
    queue.add('x', 'low');
    queue.add('busy', 'low');
    queue.add('busy');
    for (const key of ['busy', 'busy', 'x']) await release(key);
    await queue.idle();
    expect(recorder.runs).toEqual(['busy', 'busy', 'x']);
    expect(recorder.overlaps).toEqual([]);
  });

  test('a stream of normal keys cannot starve low ones: after lowTurnEvery normal starts the oldest low key goes next', async () => {
    const recorder = new Recorder();
    let normals = 0;
    // Every normal run queues the next normal key, as a tenant's steady edits would: the stream never pauses.
    const handler = async (key: string): Promise<void> => {
      recorder.enter(key);
      if (key.startsWith('n') && normals < 20) queue.add(`n${++normals}`);
      recorder.leave(key);
    };
    const queue = track(new WorkQueue(handler, { name: 't', concurrency: 1, lowTurnEvery: 4 }));
    queue.add('n0');
    for (const key of ['l1', 'l2', 'l3']) queue.add(key, 'low');
    await queue.idle();
    expect(recorder.runs).toEqual([
      ...['n0', 'n1', 'n2', 'n3', 'l1'],
      ...['n4', 'n5', 'n6', 'n7', 'l2'],
      ...['n8', 'n9', 'n10', 'n11', 'l3'],
      ...Array.from({ length: 9 }, (_, i) => `n${12 + i}`),
    ]);
  });

  test('property: while low keys wait, no more than lowTurnEvery normal keys start in a row, at any concurrency', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 15 }), fc.boolean()), { minLength: 1, maxLength: 60 }),
        async (concurrency, lowTurnEvery, adds) => {
          const starts: Array<{ key: string; lowWaiting: number }> = [];
          const lowKeys = new Set<string>();
          const started = new Set<string>();
          const handler = async (key: string): Promise<void> => {
            started.add(key);
            const lowWaiting = [...lowKeys].filter((low) => !started.has(low)).length;
            starts.push({ key, lowWaiting });
            await settle();
          };
          const queue = track(new WorkQueue(handler, { name: 't', concurrency, lowTurnEvery }));
          for (const [index, [key, low]] of adds.entries()) {
            const name = low ? `l${index}` : `n${key}`;
            if (low) lowKeys.add(name);
            queue.add(name, low ? 'low' : 'normal');
            if (index % 3 === 0) await settle();
          }
          await queue.idle();
          // Every low key ran once; count normal starts in a row while some low key still waited.
          expect([...lowKeys].every((key) => started.has(key))).toBe(true);
          let inARow = 0;
          for (const { key, lowWaiting } of starts) {
            inARow = key.startsWith('n') && lowWaiting > 0 ? inARow + 1 : 0;
            // Starts already handed to workers when the turn was given may run first: one per worker.
            expect(inARow).toBeLessThanOrEqual(lowTurnEvery + concurrency - 1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('never handles one key twice at once, while distinct keys run up to the limit', async () => {
    const recorder = new Recorder();
    const { handler, release } = gatedHandler(recorder);
    const queue = track(new WorkQueue(handler, { name: 't', concurrency: 3 }));
    for (const key of ['a', 'b', 'c', 'd']) queue.add(key);
    await settle();
    expect([...recorder.inFlight].sort()).toEqual(['a', 'b', 'c']);
    expect(queue.processing).toBe(3);
    expect(queue.length).toBe(1);

    // 'a' is busy: it waits, although nothing else would stop it running now.
    queue.add('a');
    await settle();
    expect(queue.length).toBe(2);
    expect(recorder.count('a')).toBe(1);

    // Its slot goes to 'd', queued first; the second run of 'a' queues behind it.
    await release('a');
    expect([...recorder.inFlight].sort()).toEqual(['b', 'c', 'd']);
    await release('b');
    expect([...recorder.inFlight].sort()).toEqual(['a', 'c', 'd']);
    for (const key of ['a', 'c', 'd']) await release(key);
    await queue.idle();

    expect(recorder.runs).toEqual(['a', 'b', 'c', 'd', 'a']);
    expect(recorder.maxInFlight).toBe(3);
    expect(recorder.overlaps).toEqual([]);
  });

  test('a key added while it runs runs exactly once more, after the current run', async () => {
    const recorder = new Recorder();
    const { handler, release } = gatedHandler(recorder);
    const queue = track(new WorkQueue(handler, { name: 't', concurrency: 4 }));
    queue.add('a');
    await settle();
    queue.add('a');
    queue.add('a');
    queue.add('a');
    await settle();
    expect(recorder.count('a')).toBe(1);
    expect(queue.processing).toBe(1);
    expect(queue.length).toBe(1);

    await release('a');
    expect(recorder.count('a')).toBe(2);
    await release('a');
    await queue.idle();
    expect(recorder.count('a')).toBe(2);
    expect(recorder.overlaps).toEqual([]);
  });

  test('the rate limiter backs off exponentially per key, caps, and forgets', () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 100);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => limiter.when('a'))).toEqual([5, 10, 20, 40, 80, 100, 100]);
    expect(limiter.numRequeues('a')).toBe(7);
    expect(limiter.when('b')).toBe(5);
    limiter.forget('a');
    expect(limiter.numRequeues('a')).toBe(0);
    expect(limiter.when('a')).toBe(5);
    expect(limiter.numRequeues('b')).toBe(1);

    // Many failures must not overflow into a zero or NaN delay.
    const patient = new ItemExponentialFailureRateLimiter(5, 300_000);
    let last = 0;
    for (let i = 0; i < 2000; i++) last = patient.when('x');
    expect(last).toBe(300_000);
  });

  test('the retry bucket lets a burst through, then spaces retries at its rate, and refills', () => {
    let now = 0;
    const bucket = new BucketRateLimiter(10, 3, () => now);
    expect([bucket.when(), bucket.when(), bucket.when()]).toEqual([0, 0, 0]);
    // Spent: each further retry waits one more tenth of a second than the one before.
    expect(bucket.when()).toBeCloseTo(100);
    expect(bucket.when()).toBeCloseTo(200);
    // 450 ms later the two reservations are paid and 2.5 tokens came back: two go at once.
    now = 450;
    expect(bucket.when()).toBe(0);
    expect(bucket.when()).toBe(0);
    expect(bucket.when()).toBeCloseTo(50);
    // A long quiet refills to the burst and no further.
    now = 60_000;
    expect([bucket.when(), bucket.when(), bucket.when()]).toEqual([0, 0, 0]);
    expect(bucket.when()).toBeCloseTo(100);
    expect(() => new BucketRateLimiter(0, 1, () => 0)).toThrow(RangeError);
    expect(() => new BucketRateLimiter(1, 0, () => 0)).toThrow(RangeError);
  });

  test('property: the bucket never lets more retries start in a window than its burst plus its rate allows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 200 }),
        (perSecond, burst, gaps) => {
          let now = 0;
          const bucket = new BucketRateLimiter(perSecond, burst, () => now);
          const starts: number[] = [];
          for (const gap of gaps) {
            now += gap;
            starts.push(now + bucket.when());
          }
          starts.sort((a, b) => a - b);
          // Any window of w ms holds at most burst + perSecond * w / 1000 starts (1e-6 for float error).
          for (let i = 0; i < starts.length; i++) {
            for (let j = i; j < starts.length; j++) {
              const window = (starts[j] ?? 0) - (starts[i] ?? 0);
              expect(j - i + 1).toBeLessThanOrEqual(burst + (perSecond * window) / 1000 + 1e-6);
            }
          }
        },
      ),
    );
  });

  test('many failing keys retry together no faster than the bucket, each still backing off (fake clock)', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    const recorder = new Recorder();
    const queue = track(
      new WorkQueue(
        async (key) => {
          recorder.enter(key);
          throw new Error('API server gone');
        },
        { name: 't', concurrency: 50, baseDelayMs: 5, now: () => Date.now(), retriesPerSecond: 10, retryBurst: 20 },
      ),
    );
    const keys = Array.from({ length: 200 }, (_, i) => `ns-${i}`);
    for (const key of keys) queue.add(key);
    await queue.idle();
    expect(recorder.runs).toHaveLength(200);
    expect(queue.delayed).toBe(200);
    // The per-key backoff alone would retry all 200 after 5 ms. The bucket lets 20
    // through at once, then 10 a second: after 1 s, 20 + 10 have retried.
    await jest.advanceTimersByTimeAsync(1000);
    await queue.idle();
    expect(recorder.runs.length - 200).toBe(30);
    // After 18 s every key has been retried once; the retries keep being spaced out.
    await jest.advanceTimersByTimeAsync(17_000);
    await queue.idle();
    expect(new Set(recorder.runs.slice(200, 400))).toEqual(new Set(keys));
    expect(recorder.runs.length).toBeLessThanOrEqual(200 + 20 + 10 * 18);
  });

  test('a failing key is retried after delays that double up to the cap (fake clock)', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    const recorder = new Recorder();
    const retries: number[] = [];
    const queue = track(
      new WorkQueue(
        async (key) => {
          recorder.enter(key);
          if (recorder.count(key) <= 5) throw new Error('not yet');
        },
        {
          name: 't',
          concurrency: 1,
          baseDelayMs: 10,
          maxDelayMs: 40,
          now: () => Date.now(),
          onError: (_key, _error, n) => retries.push(n),
        },
      ),
    );
    queue.add('a');
    await queue.idle();
    expect(recorder.count('a')).toBe(1);

    for (const [i, delay] of [10, 20, 40, 40, 40].entries()) {
      expect(queue.numRequeues('a')).toBe(i + 1);
      expect(queue.delayed).toBe(1);
      await jest.advanceTimersByTimeAsync(delay - 1);
      expect(recorder.count('a')).toBe(i + 1);
      await jest.advanceTimersByTimeAsync(1);
      await queue.idle();
      expect(recorder.count('a')).toBe(i + 2);
    }
    expect(retries).toEqual([0, 1, 2, 3, 4]);
    // The sixth run succeeded: the failures are forgotten and nothing is pending.
    expect(queue.numRequeues('a')).toBe(0);
    expect(queue.delayed).toBe(0);
  });

  test('retry delays grow on the real clock too (generous lower bounds)', async () => {
    const startedAt: number[] = [];
    const queue = track(
      new WorkQueue(
        async () => {
          startedAt.push(performance.now());
          if (startedAt.length <= 4) throw new Error('not yet');
        },
        { name: 't', concurrency: 1, baseDelayMs: 4, maxDelayMs: 1000 },
      ),
    );
    queue.add('a');
    while (startedAt.length < 5) await sleep(5);
    await queue.idle();
    const gaps = startedAt.slice(1).map((t, i) => t - (startedAt[i] ?? 0));
    // Timers may fire a little early against performance.now(); allow 2 ms.
    [4, 8, 16, 32].forEach((delay, i) => expect(gaps[i]).toBeGreaterThanOrEqual(delay - 2));
    expect(queue.numRequeues('a')).toBe(0);
  });

  test('forget resets the backoff of a key', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    const recorder = new Recorder();
    const queue = track(
      new WorkQueue(
        async (key) => {
          recorder.enter(key);
          throw new Error('always');
        },
        { name: 't', concurrency: 1, baseDelayMs: 10, maxDelayMs: 1000, now: () => Date.now() },
      ),
    );
    queue.add('a');
    await queue.idle();
    await jest.advanceTimersByTimeAsync(10);
    await queue.idle();
    expect(queue.numRequeues('a')).toBe(2);

    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
    // Back to the base delay: a new rate-limited add fires after 10 ms, before the pending 20 ms one.
    queue.addRateLimited('a');
    await jest.advanceTimersByTimeAsync(9);
    expect(recorder.count('a')).toBe(2);
    await jest.advanceTimersByTimeAsync(1);
    await queue.idle();
    expect(recorder.count('a')).toBe(3);
  });

  test('addAfter keeps the earliest deadline of a key', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    const recorder = new Recorder();
    const queue = track(new WorkQueue(async (key) => recorder.enter(key), { name: 't', concurrency: 2, now: () => Date.now() }));
    queue.addAfter('sooner-second', 100);
    queue.addAfter('sooner-second', 50);
    queue.addAfter('sooner-first', 50);
    queue.addAfter('sooner-first', 100);
    expect(queue.delayed).toBe(2);
    expect(queue.length).toBe(0);

    await jest.advanceTimersByTimeAsync(49);
    expect(recorder.runs).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    await queue.idle();
    expect(recorder.runs.sort()).toEqual(['sooner-first', 'sooner-second']);
    expect(queue.delayed).toBe(0);

    // The later deadlines were dropped, not kept as extra runs.
    await jest.advanceTimersByTimeAsync(200);
    await queue.idle();
    expect(recorder.runs).toHaveLength(2);
  });

  test('addAfter with no delay adds at once, and idle() ignores delayed keys', async () => {
    const recorder = new Recorder();
    const queue = track(new WorkQueue(async (key) => recorder.enter(key), { name: 't', concurrency: 1 }));
    queue.addAfter('now', 0);
    queue.addAfter('also-now', -5);
    queue.addAfter('later', 60_000);
    expect(queue.length).toBe(2);
    await queue.idle();
    expect(recorder.runs).toEqual(['now', 'also-now']);
    expect(queue.delayed).toBe(1);
  });

  test('a delayed add does not keep the process alive', async () => {
    const module = fileURLToPath(new URL('./workqueue.ts', import.meta.url));
    const script = [
      `const { WorkQueue } = await import(${JSON.stringify(module)});`,
      `const queue = new WorkQueue(async () => {}, { name: 't', concurrency: 1 });`,
      `queue.addAfter('a', 600_000);`,
      `queue.addRateLimited('b');`,
    ].join('\n');
    const exit = await new Promise<{ code: number | null; killed: boolean }>((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (error) => {
        resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : null), killed: error?.killed ?? false });
      });
    });
    expect(exit).toEqual({ code: 0, killed: false });
  });

  test('requeueAfterMs runs the key again after that delay, with its failures forgotten', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    const recorder = new Recorder();
    const queue = track(
      new WorkQueue(
        async (key): Promise<ReconcileResult | void> => {
          recorder.enter(key);
          const run = recorder.count(key);
          if (run === 1) throw new Error('first run fails');
          if (run === 2) return { requeueAfterMs: 30 };
        },
        { name: 't', concurrency: 1, baseDelayMs: 5, now: () => Date.now() },
      ),
    );
    queue.add('a');
    await queue.idle();
    expect(queue.numRequeues('a')).toBe(1);
    await jest.advanceTimersByTimeAsync(5);
    await queue.idle();
    expect(recorder.count('a')).toBe(2);
    expect(queue.numRequeues('a')).toBe(0);
    expect(queue.delayed).toBe(1);

    await jest.advanceTimersByTimeAsync(29);
    expect(recorder.count('a')).toBe(2);
    await jest.advanceTimersByTimeAsync(1);
    await queue.idle();
    expect(recorder.count('a')).toBe(3);
    expect(queue.delayed).toBe(0);
  });

  test('a refused run is run again after the refusal backoff, which doubles up to its cap and is forgotten by a run not refused', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    const recorder = new Recorder();
    let refusing = true;
    const queue = track(
      new WorkQueue(
        async (key): Promise<ReconcileResult> => {
          recorder.enter(key);
          return { refused: refusing };
        },
        { name: 't', concurrency: 1, baseDelayMs: 1, refusedBaseDelayMs: 100, refusedMaxDelayMs: 400, now: () => Date.now() },
      ),
    );
    queue.add('a');
    await queue.idle();
    expect(recorder.count('a')).toBe(1);
    expect(queue.numRefusals('a')).toBe(1);
    // Not a failure: the fast failure backoff is untouched.
    expect(queue.numRequeues('a')).toBe(0);
    // Waits 100, 200, 400 and 400 ms.
    for (const [wait, runs] of [[100, 2], [200, 3], [400, 4], [400, 5]] as const) {
      await jest.advanceTimersByTimeAsync(wait - 1);
      expect(recorder.count('a')).toBe(runs - 1);
      await jest.advanceTimersByTimeAsync(1);
      await queue.idle();
      expect(recorder.count('a')).toBe(runs);
    }

    refusing = false;
    await jest.advanceTimersByTimeAsync(400);
    await queue.idle();
    expect(recorder.count('a')).toBe(6);
    expect(queue.numRefusals('a')).toBe(0);
    expect(queue.delayed).toBe(0);
    // Nothing more: a run not refused asks for no other.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(recorder.count('a')).toBe(6);

    // Refused again later: back to the base delay.
    refusing = true;
    queue.add('a');
    await queue.idle();
    await jest.advanceTimersByTimeAsync(100);
    await queue.idle();
    expect(recorder.count('a')).toBe(8);
  });

  test('refusals of many keys draw on the retry bucket with failures', async () => {
    jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
    const starts: number[] = [];
    const queue = track(
      new WorkQueue(
        async (): Promise<ReconcileResult> => {
          starts.push(Date.now());
          return { refused: true };
        },
        { name: 't', concurrency: 50, refusedBaseDelayMs: 10, refusedMaxDelayMs: 10, retriesPerSecond: 10, retryBurst: 5, now: () => Date.now() },
      ),
    );
    const begin = Date.now();
    for (let i = 0; i < 25; i++) queue.add(`k${i}`);
    await queue.idle();
    expect(starts).toHaveLength(25);
    // 25 rechecks: 5 from the burst after the 10 ms backoff, then 10 a second.
    await jest.advanceTimersByTimeAsync(2_000);
    await queue.idle();
    const rechecks = starts.slice(25).filter((at) => at - begin <= 2_000);
    expect(rechecks).toHaveLength(25);
    expect(rechecks.filter((at) => at - begin <= 10)).toHaveLength(5);
    expect(rechecks.filter((at) => at - begin <= 1_010)).toHaveLength(15);
  });

  test('a handler that throws synchronously is a failure, and a throwing onError does not stall the key', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const boom = new Error('sync boom');
    const queue = track(
      new WorkQueue(
        (): Promise<void> => {
          calls++;
          if (calls === 1) throw boom;
          return Promise.resolve();
        },
        {
          name: 't',
          concurrency: 1,
          baseDelayMs: 1,
          onError: (key, error, retries) => {
            errors.push({ key, error, retries });
            throw new Error('reporter broke');
          },
        },
      ),
    );
    queue.add('a');
    await queue.idle();
    expect(errors).toEqual([{ key: 'a', error: boom, retries: 0 }]);
    expect(queue.numRequeues('a')).toBe(1);
    while (calls < 2) await sleep(2);
    await queue.idle();
    expect(queue.numRequeues('a')).toBe(0);
  });

  test('shutdown drains running handlers, drops the rest, and ignores later adds', async () => {
    const recorder = new Recorder();
    const { handler, release } = gatedHandler(recorder);
    const queue = track(new WorkQueue(handler, { name: 't', concurrency: 2 }));
    for (const key of ['a', 'b', 'c', 'd']) queue.add(key);
    queue.addAfter('e', 10);
    await settle();
    queue.add('a'); // dirty while running: dropped too
    expect(recorder.runs).toEqual(['a', 'b']);

    let drained = false;
    const first = queue.shutdown().then(() => {
      drained = true;
    });
    const second = queue.shutdown();
    expect(queue.shuttingDown).toBe(true);
    expect(queue.length).toBe(0);
    expect(queue.delayed).toBe(0);
    expect(queue.processing).toBe(2);

    queue.add('f');
    queue.addAfter('g', 0);
    queue.addRateLimited('h');
    expect(queue.length).toBe(0);

    await release('a');
    expect(drained).toBe(false);
    await release('b');
    await Promise.all([first, second]);
    expect(drained).toBe(true);

    await sleep(20);
    expect(recorder.runs).toEqual(['a', 'b']);
    expect(queue.processing).toBe(0);
    await queue.shutdown();
  });

  test('shutdown of an idle queue resolves at once', async () => {
    const queue = new WorkQueue(async () => {}, { name: 't', concurrency: 1 });
    await queue.shutdown();
    await queue.shutdown();
    await queue.idle();
  });

  test('reports metrics through the hooks', async () => {
    let clock = 1_000;
    const depths: number[] = [];
    const latencies: number[] = [];
    const durations: number[] = [];
    let adds = 0;
    let retries = 0;
    let probes: WorkQueueProbes | undefined;
    const recorder = new Recorder();
    const { handler, release } = gatedHandler(recorder);
    const queue = track(
      new WorkQueue(handler, {
        name: 'namespaces',
        concurrency: 2,
        now: () => clock,
        metrics: {
          attach: (p) => (probes = p),
          depth: (d) => depths.push(d),
          add: () => adds++,
          retry: () => retries++,
          queueLatency: (s) => latencies.push(s),
          workDuration: (s) => durations.push(s),
        },
      }),
    );
    expect(probes?.name).toBe('namespaces');

    queue.add('a');
    queue.add('a');
    clock = 1_500;
    queue.add('b');
    clock = 2_000;
    await settle();
    expect(adds).toBe(2);
    expect(depths).toEqual([1, 2, 1, 0]);
    expect(latencies).toEqual([1, 0.5]);

    clock = 2_500;
    expect(probes?.unfinishedWorkSeconds()).toBe(1);
    expect(probes?.longestRunningProcessorSeconds()).toBe(0.5);
    clock = 3_000;
    await release('a');
    expect(durations).toEqual([1]);
    expect(probes?.longestRunningProcessorSeconds()).toBe(1);

    queue.addAfter('c', 50);
    queue.addRateLimited('c');
    expect(retries).toBe(2);
    await release('b');
    expect(probes?.unfinishedWorkSeconds()).toBe(0);
  });

  test('property: every key runs after its last add, never beside itself, and not more often than added or retried, at either priority', async () => {
    const keys = ['a', 'b', 'c', 'd'] as const;
    const gap = fc.constantFrom('none', 'microtask', 'macrotask', 'timer');
    const scenario = fc.record({
      concurrency: fc.integer({ min: 1, max: 4 }),
      adds: fc.array(fc.record({ key: fc.constantFrom(...keys), gap, priority: fc.constantFrom<Priority>('normal', 'low') }), { minLength: 1, maxLength: 25 }),
      outcomes: fc.array(fc.record({ wait: gap, fail: fc.boolean(), sync: fc.boolean() }), { minLength: 1, maxLength: 10 }),
    });
    const pause = async (kind: 'none' | 'microtask' | 'macrotask' | 'timer'): Promise<void> => {
      if (kind === 'microtask') await Promise.resolve();
      else if (kind === 'macrotask') await settle();
      else if (kind === 'timer') await sleep(0);
    };

    await fc.assert(
      fc.asyncProperty(scenario, async ({ concurrency, adds, outcomes }) => {
        // A shared sequence orders adds against run starts, whatever the clock says.
        let seq = 0;
        const lastAdd = new Map<string, number>();
        const addCount = new Map<string, number>();
        const failures = new Map<string, number>();
        const succeededAfter = new Map<string, number>();
        const recorder = new Recorder();
        let outcomeIndex = 0;

        const handler = (key: string): Promise<void> => {
          const start = ++seq;
          recorder.enter(key);
          const outcome = outcomes[outcomeIndex++ % outcomes.length] ?? { wait: 'none', fail: false, sync: false };
          // At most two failures per key, so every key ends in a success.
          const fail = outcome.fail && (failures.get(key) ?? 0) < 2;
          if (fail) failures.set(key, (failures.get(key) ?? 0) + 1);
          if (fail && outcome.sync) {
            recorder.leave(key);
            throw new Error('sync failure');
          }
          return (async () => {
            await pause(outcome.wait);
            recorder.leave(key);
            if (fail) throw new Error('async failure');
            succeededAfter.set(key, Math.max(succeededAfter.get(key) ?? 0, start));
          })();
        };

        const queue = new WorkQueue(handler, { name: 'prop', concurrency, baseDelayMs: 1, maxDelayMs: 2 });
        for (const { key, gap: wait, priority } of adds) {
          lastAdd.set(key, ++seq);
          addCount.set(key, (addCount.get(key) ?? 0) + 1);
          queue.add(key, priority);
          await pause(wait);
        }
        // idle() ignores retries waiting on their backoff timer, so wait for those as well.
        for (let i = 0; i < 500; i++) {
          await queue.idle();
          if (queue.delayed === 0 && queue.length === 0) break;
          await sleep(1);
        }
        await queue.shutdown();

        expect(recorder.overlaps).toEqual([]);
        expect(recorder.maxInFlight).toBeLessThanOrEqual(concurrency);
        for (const [key, added] of lastAdd) {
          expect(succeededAfter.get(key) ?? 0).toBeGreaterThan(added);
          expect(recorder.count(key)).toBeLessThanOrEqual((addCount.get(key) ?? 0) + (failures.get(key) ?? 0));
        }
      }),
      { numRuns: 60 },
    );
  });
});
