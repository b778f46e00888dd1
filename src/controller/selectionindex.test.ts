import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { pino } from 'pino';
import type { LabelSelector } from '../api/types.ts';
import { Informer } from '../runtime/informer.ts';
import type { KubeClient } from '../runtime/kube.ts';
import type { BaselineObject, NamespaceObject } from './context.ts';
import { BASELINES, NAMESPACES } from './kinds.ts';
import { isDeleting, selects } from './selection.ts';
import { anchorChoices, SelectionIndex } from './selectionindex.ts';

// The caches are never started: objects go in as the operator's own writes do (observeWrite).
const logger = pino({ level: 'silent' });
const client = {} as KubeClient;

let version = 0;
const namespace = (name: string, labels: Record<string, string>): NamespaceObject => ({
  apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, resourceVersion: String(++version) },
});
const baseline = (name: string, namespaceSelector: LabelSelector, excludeNamespaces?: string[]): BaselineObject => ({
  apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline',
  metadata: { name, resourceVersion: String(++version), generation: 1 }, spec: { namespaceSelector, excludeNamespaces },
});

function setup() {
  const namespaces = new Informer<NamespaceObject>({ client, logger, type: NAMESPACES });
  const baselines = new Informer<BaselineObject>({ client, logger, type: BASELINES });
  const index = new SelectionIndex(namespaces, baselines, 'operator');
  const names = (list: BaselineObject[]) => list.map((b) => b.metadata.name).sort();
  return { namespaces, baselines, index, names };
}

describe('anchorChoices', () => {
  test('each matchLabels pair, and the values of each In expression; nothing for the others', () => {
    expect(anchorChoices(baseline('b', {
      matchLabels: { tier: 'web', team: 'a' },
      matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['x'] }, { key: 'zone', operator: 'In', values: ['1', '2'] }],
    }))).toEqual([['tier=web'], ['team=a'], ['zone=1', 'zone=2']]);
    expect(anchorChoices(baseline('b', {}))).toEqual([]);
    expect(anchorChoices(baseline('b', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }))).toEqual([]);
  });
});

describe('SelectionIndex', () => {
  test('agrees with selects() for every pair, whichever cache fills first', () => {
    const selectors: LabelSelector[] = [
      { matchLabels: { team: 'a' } }, { matchLabels: { team: 'b', tier: 'web' } }, {},
      { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'c'] }] },
      { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] },
    ];
    const allBaselines = selectors.map((selector, i) => baseline(`b${i}`, selector, i === 0 ? ['ns-3'] : undefined));
    const allNamespaces = Array.from({ length: 12 }, (_, i) => namespace(`ns-${i}`, {
      team: ['a', 'b', 'c'][i % 3] as string, ...(i % 2 ? { tier: 'web' } : {}),
    }));
    allNamespaces.push(namespace('kube-system', { team: 'a' }), namespace('operator', { team: 'a' }));
    for (const baselinesFirst of [true, false]) {
      const { namespaces, baselines, index, names } = setup();
      const fill = [() => allBaselines.forEach((b) => baselines.observeWrite(b)), () => allNamespaces.forEach((n) => namespaces.observeWrite(n))];
      for (const step of baselinesFirst ? fill : fill.reverse()) step();
      for (const ns of allNamespaces) {
        expect([ns.metadata.name, names(index.baselinesSelecting(ns))])
          .toEqual([ns.metadata.name, allBaselines.filter((b) => selects(b, ns, 'operator')).map((b) => b.metadata.name).sort()]);
      }
      for (const b of allBaselines) {
        expect([b.metadata.name, [...index.namespacesSelectedBy(b)].sort()])
          .toEqual([b.metadata.name, allNamespaces.filter((ns) => selects(b, ns, 'operator')).map((ns) => ns.metadata.name).sort()]);
      }
    }
  });

  test('a baseline is anchored at its rarest label: a namespace event evaluates only the baselines that could select it', () => {
    const { namespaces, baselines, index } = setup();
    for (let i = 0; i < 40; i++) namespaces.observeWrite(namespace(`ns-${i}`, { tenant: 'true', team: `t${i % 20}` }));
    for (let i = 0; i < 20; i++) baselines.observeWrite(baseline(`b${i}`, { matchLabels: { tenant: 'true', team: `t${i}` } }));
    const evaluated: string[] = [];
    const spied = namespace('ns-new', { tenant: 'true', team: 't7' });
    // Count selector evaluations through the labels the index reads.
    spied.metadata.labels = new Proxy(spied.metadata.labels as Record<string, string>, {
      get: (target, key) => { if (key === 'team') evaluated.push('team'); return target[key as string]; },
    });
    expect(index.baselinesSelecting(spied).map((b) => b.metadata.name)).toEqual(['b7']);
    expect(evaluated.length).toBeLessThan(5);
  });

  test('follows label changes, selector changes and deletions', () => {
    const { namespaces, baselines, index, names } = setup();
    baselines.observeWrite(baseline('web', { matchLabels: { tier: 'web' } }));
    namespaces.observeWrite(namespace('a', { tier: 'web' }));
    namespaces.observeWrite(namespace('b', { tier: 'db' }));
    const web = baselines.get('web') as BaselineObject;
    expect([...index.namespacesSelectedBy(web)]).toEqual(['a']);

    namespaces.observeWrite(namespace('a', { tier: 'db' }));
    namespaces.observeWrite(namespace('b', { tier: 'web' }));
    expect([...index.namespacesSelectedBy(web)]).toEqual(['b']);
    expect(names(index.baselinesSelecting(namespaces.get('b') as NamespaceObject))).toEqual(['web']);

    // A status write keeps the set; a new selector rebuilds it. The old version is still answered (for what it selected before).
    baselines.observeWrite({ ...web, metadata: { ...web.metadata, resourceVersion: String(++version) }, status: { observedGeneration: 1 } });
    expect(index.namespacesSelectedBy(web)).toBe(index.namespacesSelectedBy(baselines.get('web') as BaselineObject));
    const db = baseline('web', { matchLabels: { tier: 'db' } });
    baselines.observeWrite(db);
    expect([...index.namespacesSelectedBy(db)]).toEqual(['a']);
    expect([...index.namespacesSelectedBy(web)]).toEqual(['b']);

    namespaces.observeDeletion(namespaces.get('a') as NamespaceObject);
    expect([...index.namespacesSelectedBy(db)]).toEqual([]);
    baselines.observeDeletion(db);
    expect(index.baselinesSelecting(namespace('c', { tier: 'db' }))).toEqual([]);
  });

  test('tells when a namespace stops being live for a baseline, and counts the live ones, through any sequence of changes', () => {
    // Live: selected and not terminating. The status tracker's counts are exact only if every way out is told.
    const change = fc.oneof(
      fc.record({ kind: fc.constant('namespace' as const), name: fc.constantFrom('a', 'b', 'c', 'd'), tier: fc.constantFrom('web', 'db'), terminating: fc.boolean() }),
      fc.record({ kind: fc.constant('delete-namespace' as const), name: fc.constantFrom('a', 'b', 'c', 'd') }),
      fc.record({ kind: fc.constant('baseline' as const), tier: fc.constantFrom('web', 'db') }),
    );
    fc.assert(fc.property(fc.array(change, { maxLength: 30 }), (changes) => {
      const { namespaces, baselines, index } = setup();
      const left: string[] = [];
      index.onLeave((b, ns) => left.push(`${b}/${ns}`));
      baselines.observeWrite(baseline('web', { matchLabels: { tier: 'web' } }));
      const live = () => {
        const current = baselines.get('web') as BaselineObject;
        return new Set(namespaces.list().filter((ns) => !isDeleting(ns) && selects(current, ns, 'operator')).map((ns) => ns.metadata.name));
      };
      for (const step of changes) {
        const before = live();
        left.length = 0;
        if (step.kind === 'namespace') {
          const ns = namespace(step.name, { tier: step.tier });
          if (step.terminating) ns.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
          namespaces.observeWrite(ns);
        } else if (step.kind === 'delete-namespace') {
          const ns = namespaces.get(step.name);
          if (ns) namespaces.observeDeletion(ns);
        } else {
          baselines.observeWrite(baseline('web', { matchLabels: { tier: step.tier } }));
        }
        const after = live();
        expect(left.sort()).toEqual([...before].filter((name) => !after.has(name)).map((name) => `web/${name}`).sort());
        expect(index.liveCount(baselines.get('web') as BaselineObject)).toBe(after.size);
        for (const name of ['a', 'b', 'c', 'd']) expect(index.isLive('web', name)).toBe(after.has(name));
      }
    }));
  });
});
