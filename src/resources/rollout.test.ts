import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type { RolloutSpec } from '../api/types.ts';
import { planRollout, rolloutOrder, stepTargets, type RolloutInputs, type RolloutNamespace } from './rollout.ts';

const UPDATE = 'tenants-new';
const OLD = 'tenants-old';
const T0 = Date.parse('2026-11-29T12:00:00Z');

function namespaces(count: number, at: (i: number) => string | undefined = () => OLD, labels: (i: number) => Record<string, string> = () => ({})): RolloutNamespace[] {
  return Array.from({ length: count }, (_, i) => ({ name: `ns-${i}`, labels: labels(i), revision: at(i) }));
}

function inputs(overrides: Partial<RolloutInputs>): RolloutInputs {
  return {
    spec: { strategy: 'Progressive', steps: [{ namespaces: 1, pauseSeconds: 60 }, { percent: 50, pauseSeconds: 60 }, { percent: 100 }] },
    paused: false, updateRevision: UPDATE, namespaces: namespaces(10), held: new Map(), failed: new Map(), previous: undefined, now: T0,
    ...overrides,
  };
}

const permittedOf = (plan: ReturnType<typeof planRollout>) => (plan.permitted === 'all' ? 'all' : [...plan.permitted].sort());

describe('stepTargets', () => {
  test('counts and percentages become cumulative counts, rounded up, never above the total', () => {
    expect(stepTargets([{ namespaces: 1 }, { percent: 25 }, { percent: 100 }], 10)).toEqual([1, 3, 10]);
    expect(stepTargets([{ namespaces: 50 }, { percent: 10 }, { percent: 100 }], 10)).toEqual([10, 10, 10]);
    expect(stepTargets([{ percent: 1 }, { percent: 100 }], 0)).toEqual([0, 0]);
  });
});

describe('rolloutOrder', () => {
  test('canaries first, then a stable order that does not depend on the input order', () => {
    const list = namespaces(20, () => OLD, (i): Record<string, string> => (i % 7 === 3 ? { stage: 'canary' } : {}));
    const order = rolloutOrder(list, { matchLabels: { stage: 'canary' } });
    expect(order.slice(0, 3).sort()).toEqual(['ns-10', 'ns-17', 'ns-3']);
    expect(rolloutOrder([...list].reverse(), { matchLabels: { stage: 'canary' } })).toEqual(order);
    expect(new Set(order).size).toBe(20);
  });

  test('adding a namespace does not reorder the others', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z]{1,8}$/), { minLength: 2, maxLength: 30 }), (names) => {
      const all = names.map((name) => ({ name, labels: {}, revision: OLD }));
      const without = rolloutOrder(all.slice(1), undefined);
      expect(rolloutOrder(all, undefined).filter((name) => name !== names[0])).toEqual(without);
    }));
  });
});

describe('planRollout', () => {
  test('Immediate lets every namespace move; paused lets none', () => {
    expect(planRollout(inputs({ spec: undefined })).permitted).toBe('all');
    expect(planRollout(inputs({ spec: { strategy: 'Immediate' } })).permitted).toBe('all');
    expect(permittedOf(planRollout(inputs({ spec: undefined, paused: true })))).toEqual([]);
  });

  test('Progressive: the first step permits exactly its count, in the stable order', () => {
    const plan = planRollout(inputs({}));
    const order = rolloutOrder(namespaces(10), undefined);
    expect(permittedOf(plan)).toEqual([order[0]]);
    expect(plan.status).toEqual({ revision: UPDATE, step: 0, updated: 0, pending: 10, held: 0 });
    expect(plan.complete).toBe(false);
  });

  test('a step whose namespaces have moved waits for its pause, then the next step permits more', () => {
    const order = rolloutOrder(namespaces(10), undefined);
    const moved = (count: number) => namespaces(10, (i) => (order.indexOf(`ns-${i}`) < count ? UPDATE : OLD));
    const settled = planRollout(inputs({ namespaces: moved(1), previous: { revision: UPDATE, step: 0 } }));
    expect(settled.status).toMatchObject({ step: 0, stepCompletedAt: '2026-11-29T12:00:00Z', updated: 1 });
    expect(settled.requeueAfterMs).toBe(60_000);
    expect(permittedOf(settled)).toEqual([order[0]]);

    const later = planRollout(inputs({ namespaces: moved(1), previous: settled.status, now: T0 + 61_000 }));
    expect(later.status.step).toBe(1);
    expect(later.status.stepCompletedAt).toBeUndefined();
    expect(permittedOf(later)).toEqual(order.slice(0, 5).sort());
  });

  test('a completed rollout permits everyone and says so; a step of pause 0 does not wait', () => {
    const plan = planRollout(inputs({
      spec: { strategy: 'Progressive', steps: [{ percent: 50 }, { percent: 100 }] },
      namespaces: namespaces(4, () => UPDATE), previous: { revision: UPDATE, step: 0 },
    }));
    expect(plan.complete).toBe(true);
    expect(plan.status).toMatchObject({ step: 1, updated: 4, pending: 0 });
    expect(permittedOf(plan)).toHaveLength(4);
  });

  test('a new revision starts again at the first step; namespaces already there count as moved', () => {
    const plan = planRollout(inputs({ previous: { revision: 'tenants-older', step: 2, stepCompletedAt: '2026-11-29T11:00:00Z' } }));
    expect(plan.status.step).toBe(0);
    expect(plan.status.stepCompletedAt).toBeUndefined();
  });

  test('held namespaces settle their step; at maxFailures the rollout halts and permits only the failing ones', () => {
    const order = rolloutOrder(namespaces(10), undefined);
    const spec: RolloutSpec = { strategy: 'Progressive', steps: [{ namespaces: 3 }, { percent: 100 }], maxFailures: 2 };
    const oneHeld = planRollout(inputs({ spec, namespaces: namespaces(10, (i) => (order.indexOf(`ns-${i}`) < 2 ? UPDATE : OLD)), held: new Map([[order[2] as string, '3 pods would violate']]) }));
    expect(oneHeld.halted).toBeUndefined();
    expect(oneHeld.status).toMatchObject({ step: 1, held: 1, updated: 2, pending: 7 });

    const halted = planRollout(inputs({ spec, held: new Map([['ns-1', '3 pods would violate Pod Security restricted:latest (web-0: …)']]), failed: new Map([['ns-2', 'forbidden']]) }));
    expect(halted.halted).toEqual({
      reason: 'PreflightFailed',
      message: 'halted at step 1 of 2 after 2 failures (maxFailures 2): ns-1: 3 pods would violate Pod Security restricted:latest (web-0: …); ns-2: forbidden',
    });
    expect(permittedOf(halted)).toEqual(['ns-1', 'ns-2']);
  });

  test('paused Progressive keeps its step and permits nothing', () => {
    const plan = planRollout(inputs({ paused: true, previous: { revision: UPDATE, step: 1 } }));
    expect(plan.status.step).toBe(1);
    expect(permittedOf(plan)).toEqual([]);
  });

  test('whatever the inputs, the permitted namespaces are a prefix of the order and never fewer than before', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 200_000 }), (count, step, elapsed) => {
      const list = namespaces(count);
      const order = rolloutOrder(list, undefined);
      const plan = planRollout(inputs({ namespaces: list, previous: { revision: UPDATE, step, stepCompletedAt: '2026-11-29T12:00:00Z' }, now: T0 + elapsed }));
      const permitted = permittedOf(plan);
      expect(permitted).toEqual(order.slice(0, (permitted as string[]).length).sort());
      expect(plan.status.step).toBeGreaterThanOrEqual(Math.min(step, 2));
    }));
  });
});
