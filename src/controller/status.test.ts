import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type { SecurityBaselineStatus } from '../api/types.ts';
import { desiredStatus, sameStatus } from './baseline.ts';
import type { BaselineObject } from './context.ts';
import { selects } from './selection.ts';
import { BaselineStatusTracker, countNamespaceStates, type NamespaceState } from './status.ts';

/** A tracker whose live namespaces (selected, not terminating) are `live`, or all when undefined. */
function tracker(live?: Set<string>): { tracker: BaselineStatusTracker; changes: string[] } {
  const changes: string[] = [];
  return { tracker: new BaselineStatusTracker((baseline) => changes.push(baseline), 1_000, (_, namespace) => live?.has(namespace) ?? true), changes };
}

const baseline = (generation: number, status?: SecurityBaselineStatus): BaselineObject => ({
  apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline',
  metadata: { name: 'tenants', generation }, spec: { namespaceSelector: { matchLabels: { tenant: 'true' } } }, status,
});

describe('BaselineStatusTracker.summarize', () => {
  test('counts each selected namespace by the state of its last reconcile at this generation', () => {
    const { tracker: t } = tracker(new Set(['a', 'b', 'c', 'd']));
    t.setOutcome('tenants', 'a', { state: 'compliant', generation: 2 });
    t.setOutcome('tenants', 'b', { state: 'failed', generation: 2, reason: 'ApplyForbidden', message: 'RoleBinding x: forbidden' });
    t.setOutcome('tenants', 'c', { state: 'conflict', generation: 2, reason: 'ForeignObject', message: 'ResourceQuota y already exists' });
    t.setOutcome('tenants', 'd', { state: 'compliant', generation: 1 }); // older generation: still pending
    t.setOutcome('tenants', 'gone', { state: 'compliant', generation: 2 }); // no longer selected: not kept, not counted
    expect(t.outcome('tenants', 'gone')).toBeUndefined();
    const summary = t.summarize('tenants', 4, 2);
    expect(summary.namespaces).toEqual({ selected: 4, compliant: 1, drifted: 0, failed: 1 });
    expect(summary.conflicts).toBe(1);
    expect(summary.upToDate).toBe(false);
    const byType = Object.fromEntries(summary.conditions.map((c) => [c.type, c]));
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'Progressing', message: '1/4 namespaces compliant' });
    expect(byType.Progressing).toMatchObject({ status: 'True', message: '1/4 namespaces not yet reconciled at generation 2' });
    expect(byType.Degraded).toMatchObject({ status: 'True', reason: 'ApplyForbidden', message: '1 namespace: b: RoleBinding x: forbidden' });
    expect(byType.Conflict).toMatchObject({ status: 'True', reason: 'ForeignObject' });
  });

  test('all compliant is Ready; a problem of the baseline itself keeps it from Ready and leads Degraded', () => {
    const { tracker: t } = tracker();
    t.setOutcome('tenants', 'a', { state: 'compliant', generation: 1 });
    expect(t.summarize('tenants', 1, 1).conditions[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'AllNamespacesCompliant' });
    t.setBaselineProblem('tenants', { reason: 'AdmissionPolicyUnavailable', message: 'not served' });
    const summary = t.summarize('tenants', 1, 1);
    expect(summary.conditions[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'AdmissionPolicyUnavailable', message: '1/1 namespaces compliant; not served' });
    expect(summary.conditions[2]).toMatchObject({ type: 'Degraded', status: 'True', reason: 'AdmissionPolicyUnavailable' });
  });

  test('the commonest failure reason leads, and at most three namespaces are named, sorted', () => {
    const { tracker: t } = tracker();
    for (const [ns, reason] of [['d', 'X'], ['c', 'Y'], ['b', 'Y'], ['a', 'Y'], ['e', 'X']] as const) {
      t.setOutcome('tenants', ns, { state: 'failed', generation: 1, reason, message: `${ns} broke` });
    }
    const degraded = t.summarize('tenants', 5, 1).conditions[2];
    expect(degraded).toMatchObject({ reason: 'Y', message: '5 namespaces: a: a broke; b: b broke; c: c broke; …' });
  });

  test('tells the baseline only when an outcome changes, and when a namespace is forgotten', () => {
    const { tracker: t, changes } = tracker();
    t.setOutcome('tenants', 'a', { state: 'compliant', generation: 1 });
    t.setOutcome('tenants', 'a', { state: 'compliant', generation: 1 });
    t.setOutcome('tenants', 'a', { state: 'drifted', generation: 1 });
    t.forgetNamespace('a');
    t.forgetNamespace('a');
    expect(changes).toEqual(['tenants', 'tenants', 'tenants']);
  });

  test('outcomes without a problem are one shared object across namespaces; a problem keeps its own', () => {
    const { tracker: t } = tracker();
    for (const namespace of ['a', 'b']) t.setOutcome('tenants', namespace, { state: 'compliant', generation: 2, revision: 'tenants-1f', exceptions: ['e1'] });
    t.setOutcome('tenants', 'c', { state: 'compliant', generation: 2, revision: 'tenants-1f', exceptions: [] });
    for (const namespace of ['d', 'e']) t.setOutcome('tenants', namespace, { state: 'failed', generation: 2, reason: 'ApplyForbidden', message: `m ${namespace}` });
    expect(t.outcome('tenants', 'b')).toBe(t.outcome('tenants', 'a'));
    expect(t.outcome('tenants', 'a')).toEqual({ state: 'compliant', generation: 2, revision: 'tenants-1f', exceptions: ['e1'] });
    expect(t.outcome('tenants', 'c')).not.toBe(t.outcome('tenants', 'a'));
    expect(t.outcome('tenants', 'c')?.exceptions).toEqual([]);
    expect(t.outcome('tenants', 'e')).toEqual({ state: 'failed', generation: 2, reason: 'ApplyForbidden', message: 'm e' });
  });

  test('the counts kept as outcomes change equal a recount of the live namespaces, through any sequence', () => {
    const state = fc.constantFrom('compliant', 'drifted', 'failed', 'conflict') as fc.Arbitrary<NamespaceState>;
    const namespaceName = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const step = fc.oneof(
      fc.record({ kind: fc.constant('outcome' as const), namespace: namespaceName, state, generation: fc.constantFrom(1, 2), excepted: fc.boolean() }),
      fc.record({ kind: fc.constant('forget' as const), namespace: namespaceName }),
      fc.record({ kind: fc.constant('leave' as const), namespace: namespaceName }),
      fc.record({ kind: fc.constant('join' as const), namespace: namespaceName }),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 40 }), fc.constantFrom(1, 2), (steps, generation) => {
      const live = new Set(['a', 'b', 'c', 'd', 'e']);
      const { tracker: t } = tracker(live);
      for (const s of steps) {
        if (s.kind === 'outcome') {
          t.setOutcome('tenants', s.namespace, {
            state: s.state, generation: s.generation, exceptions: s.excepted ? ['e1'] : [],
            ...(s.state === 'failed' || s.state === 'conflict' ? { reason: 'R', message: `${s.namespace} broke` } : {}),
          });
        } else if (s.kind === 'forget') {
          t.forget('tenants', s.namespace);
        } else if (s.kind === 'leave') {
          live.delete(s.namespace);
          t.forget('tenants', s.namespace); // what the selection index's onLeave does
        } else {
          live.add(s.namespace);
        }
      }
      const recount = { compliant: 0, drifted: 0, failed: 0, conflict: 0, excepted: 0, pending: 0 };
      for (const namespace of live) {
        const outcome = t.outcome('tenants', namespace);
        if (!outcome || outcome.generation !== generation) recount.pending++;
        else {
          recount[outcome.state]++;
          if ((outcome.exceptions ?? []).length > 0) recount.excepted++;
        }
      }
      expect(t.counts('tenants', live.size, generation)).toEqual(recount);
      const summary = t.summarize('tenants', live.size, generation);
      expect(summary.conflicts).toBe(recount.conflict);
      expect(summary.conditions.find((c) => c.type === 'Degraded')?.status).toBe(recount.failed > 0 ? 'True' : 'False');
    }));
  });

  test('after a change, the reconcile waits the interval, or fifty times its pass over the namespaces if longer', () => {
    const t = new BaselineStatusTracker(() => undefined, 1_000);
    expect(t.delayAfterChange('tenants')).toBe(1_000);
    t.passTook('tenants', 8);
    expect(t.delayAfterChange('tenants')).toBe(1_000);
    t.passTook('tenants', 60);
    expect(t.delayAfterChange('tenants')).toBe(3_000);
    t.forgetBaseline('tenants');
    expect(t.delayAfterChange('tenants')).toBe(1_000);
  });

  test('status writes are spaced by the interval', () => {
    const t = new BaselineStatusTracker(() => undefined, 1_000);
    expect(t.untilNextWrite('tenants', 5_000)).toBe(0);
    t.statusWritten('tenants', 5_000);
    expect(t.untilNextWrite('tenants', 5_400)).toBe(600);
    expect(t.untilNextWrite('tenants', 6_000)).toBe(0);
    t.forgetBaseline('tenants');
    expect(t.untilNextWrite('tenants', 5_400)).toBe(0);
  });
});

describe('desiredStatus and sameStatus', () => {
  const summary = (upToDate: boolean, compliant: number) => {
    const t = new BaselineStatusTracker(() => undefined);
    for (let i = 0; i < compliant; i++) t.setOutcome('tenants', `ns${i}`, { state: 'compliant', generation: 3 });
    return t.summarize('tenants', upToDate ? compliant : compliant + 1, 3);
  };

  test('observedGeneration moves only when every namespace was reconciled at the generation', () => {
    expect(desiredStatus(baseline(3, { observedGeneration: 2 }), summary(false, 1)).observedGeneration).toBe(2);
    expect(desiredStatus(baseline(3, { observedGeneration: 2 }), summary(true, 1)).observedGeneration).toBe(3);
  });

  test('a condition keeps its transition time while its status holds, and gets a new one when it flips', () => {
    const earlier = '2026-01-01T00:00:00Z';
    const before = baseline(3, {
      observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'True', reason: 'AllNamespacesCompliant', message: '1/1 namespaces compliant', lastTransitionTime: earlier }],
    });
    expect(desiredStatus(before, summary(true, 1)).conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(earlier);
    const flipped = desiredStatus(before, summary(false, 1)).conditions?.find((c) => c.type === 'Ready');
    expect(flipped?.status).toBe('False');
    expect(flipped?.lastTransitionTime).not.toBe(earlier);
    expect(flipped?.lastTransitionTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test('sameStatus ignores transition times and key order, and sees every other change', () => {
    const next = desiredStatus(baseline(3), summary(true, 2));
    expect(sameStatus(undefined, next)).toBe(false);
    const reordered = JSON.parse(JSON.stringify({ namespaces: next.namespaces, conditions: next.conditions?.map((c) => ({ ...c, lastTransitionTime: 'x' })), observedGeneration: next.observedGeneration })) as SecurityBaselineStatus;
    expect(sameStatus(reordered, next)).toBe(true);
    expect(sameStatus({ ...reordered, namespaces: { ...next.namespaces!, compliant: 1 } }, next)).toBe(false);
  });
});

test('countNamespaceStates counts what the gauge exports, pending for namespaces not yet reconciled at the generation', () => {
  const { tracker: t } = tracker();
  t.setOutcome('tenants', 'a', { state: 'compliant', generation: 2 });
  t.setOutcome('tenants', 'b', { state: 'failed', generation: 1 });
  const ns = (name: string, tenant: boolean) => ({ metadata: { name, labels: tenant ? { tenant: 'true' } : ({} as Record<string, string>) } });
  const namespaces = [ns('a', true), ns('b', true), ns('c', false), ns('kube-system', true)];
  const counts = countNamespaceStates(t, [baseline(2)], (b) => namespaces.filter((namespace) => selects(b, namespace, 'operator')).length);
  expect(counts.get('tenants')).toEqual({ compliant: 1, drifted: 0, failed: 0, conflict: 0, pending: 1 });
});
