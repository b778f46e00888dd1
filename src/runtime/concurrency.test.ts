import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { AdaptiveLimit, type RequestOutcome } from './concurrency.ts';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Starts `count` acquires and returns how many have been let through after the microtasks ran. */
async function acquireMany(limit: AdaptiveLimit, count: number): Promise<{ through: () => number }> {
  let through = 0;
  for (let i = 0; i < count; i++) void limit.acquire().then(() => through++);
  await settle();
  return { through: () => through };
}

describe('AdaptiveLimit', () => {
  test('lets up to max requests through and holds the rest until one is released', async () => {
    const limit = new AdaptiveLimit({ max: 3 });
    const started = await acquireMany(limit, 5);
    expect(started.through()).toBe(3);
    expect(limit.waiting).toBe(2);
    limit.release('admitted');
    await settle();
    expect(started.through()).toBe(4);
    expect(limit.inFlight).toBe(3);
  });

  test('tryAcquire takes a free place at once and none at the bound; a released place goes to a waiter first', async () => {
    const limit = new AdaptiveLimit({ max: 2 });
    expect(limit.tryAcquire()).toBe(true);
    expect(limit.tryAcquire()).toBe(true);
    expect(limit.tryAcquire()).toBe(false);
    expect(limit.inFlight).toBe(2);
    const waiter = await acquireMany(limit, 1);
    limit.release('admitted'); // the place goes to the waiter
    await settle();
    expect(waiter.through()).toBe(1);
    expect(limit.tryAcquire()).toBe(false);
    limit.release('admitted');
    expect(limit.tryAcquire()).toBe(true);
    expect(limit.inFlight).toBe(2);
  });

  test('a 429 halves the bound from what was in flight, once per interval', async () => {
    let now = 0;
    const limit = new AdaptiveLimit({ max: 64, now: () => now });
    await acquireMany(limit, 20);
    limit.release('throttled'); // 20 in flight → 10
    expect(limit.limit).toBe(10);
    limit.release('throttled'); // the same episode: no second halving
    expect(limit.limit).toBe(10);
    now = 1000;
    limit.release('throttled'); // 18 in flight, but the bound was 10 → 5
    expect(limit.limit).toBe(5);
  });

  test('while over the lowered bound, no waiter is let through until enough have finished', async () => {
    const limit = new AdaptiveLimit({ max: 8, now: () => 0 });
    const started = await acquireMany(limit, 12);
    expect(started.through()).toBe(8);
    limit.release('throttled'); // 8 → 4; 7 still in flight
    for (let i = 0; i < 3; i++) limit.release('admitted');
    await settle();
    expect(started.through()).toBe(8);
    expect(limit.inFlight).toBe(4);
    limit.release('admitted'); // 3 in flight, bound 4: one waiter
    await settle();
    expect(started.through()).toBe(9);
    expect(limit.limit).toBe(4);
  });

  test('grows back only after the interval, only while requests wait, by one per bound of admitted answers', async () => {
    let now = 0;
    const limit = new AdaptiveLimit({ max: 4, now: () => now });
    await acquireMany(limit, 1);
    limit.release('throttled'); // 1 in flight → the floor, 1
    expect(limit.limit).toBe(1);
    // Nobody waits: admitted answers say nothing about what the API server would take.
    now = 5000;
    for (let i = 0; i < 5; i++) {
      await limit.acquire();
      limit.release('admitted');
    }
    expect(limit.limit).toBe(1);
    // 20 requests queued behind a bound of 1.
    const grown: number[] = [];
    let through = 0;
    for (let i = 0; i < 20; i++) void limit.acquire().then(() => through++);
    await settle();
    while (limit.inFlight > 0) {
      limit.release('admitted');
      grown.push(limit.limit);
      await settle();
    }
    expect(through).toBe(20);
    // 1 admitted → 2; 2 more → 3; 3 more → 4; then max.
    expect(grown.slice(0, 8)).toEqual([2, 2, 3, 3, 3, 4, 4, 4]);
    expect(Math.max(...grown)).toBe(4);
  });

  test('a request that got no answer (a transport error, a timeout) gives its place back and moves the bound neither way', async () => {
    let now = 0;
    const limit = new AdaptiveLimit({ max: 8, now: () => now });
    const started = await acquireMany(limit, 40);
    limit.release('throttled'); // 8 → 4
    now = 5000;
    // As many failures as would have grown it several times had they been admitted.
    for (let i = 0; i < 20; i++) {
      limit.release('failed');
      await settle();
    }
    expect(limit.limit).toBe(4);
    expect(limit.inFlight).toBe(4);
    // 7 in flight after the 429: three failures bring it to the bound, each of the other 17 lets one waiter through.
    expect(started.through()).toBe(8 + 17);
    // Admitted answers still grow it: one step for a bound's worth (4).
    for (let i = 0; i < 4; i++) limit.release('admitted');
    expect(limit.limit).toBe(5);
  });

  test('holds the bound for the interval after a decrease, even with requests waiting', async () => {
    let now = 0;
    const limit = new AdaptiveLimit({ max: 8, now: () => now });
    await acquireMany(limit, 40);
    limit.release('throttled'); // 8 → 4
    for (let i = 0; i < 10; i++) {
      limit.release('admitted');
      await settle();
    }
    expect(limit.limit).toBe(4);
    now = 1000;
    for (let i = 0; i < 4; i++) {
      limit.release('admitted');
      await settle();
    }
    expect(limit.limit).toBe(5);
  });

  test('refuses a release without an acquire, and a max below 1', () => {
    expect(() => new AdaptiveLimit({ max: 4 }).release('admitted')).toThrow('release without acquire');
    expect(() => new AdaptiveLimit({ max: 0 })).toThrow(RangeError);
  });

  test('property: any mix of outcomes lets every request through, never more than max at once', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 16 }),
      fc.array(fc.constantFrom<RequestOutcome>('admitted', 'throttled', 'failed'), { minLength: 1, maxLength: 80 }),
      async (max, outcomes) => {
        let now = 0;
        const limit = new AdaptiveLimit({ max, now: () => now });
        let inFlight = 0;
        let peak = 0;
        let done = 0;
        const run = async (outcome: RequestOutcome): Promise<void> => {
          await limit.acquire();
          inFlight++;
          peak = Math.max(peak, inFlight);
          await settle();
          inFlight--;
          now += 100;
          limit.release(outcome);
          done++;
        };
        await Promise.all(outcomes.map(run));
        expect(done).toBe(outcomes.length);
        expect(peak).toBeLessThanOrEqual(max);
        expect(limit.inFlight).toBe(0);
        expect(limit.waiting).toBe(0);
        expect(limit.limit).toBeGreaterThanOrEqual(1);
      },
    ), { numRuns: 200 });
  });
});
