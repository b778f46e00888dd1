// The informer's store, without a cluster: objects go in as the operator's own
// writes do (observeWrite). Listing and watching are tested against the real
// API server in test/cluster/informer.test.ts.
import { expect, test } from '@jest/globals';
import fc from 'fast-check';
import { pino } from 'pino';
import { Informer } from './informer.ts';
import type { KubeClient, KubeObject, ResourceType } from './kube.ts';

const CONFIG_MAPS: ResourceType = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const object = (namespace: string | undefined, name: string, resourceVersion: string): KubeObject => ({ metadata: { namespace, name, resourceVersion } });

function informer() {
  const cache = new Informer<KubeObject>({ client: {} as KubeClient, logger: pino({ level: 'silent' }), type: CONFIG_MAPS });
  const changes: string[] = [];
  cache.addStoreListener((previous, current) => changes.push(`${previous?.metadata.resourceVersion ?? '-'}→${current?.metadata.resourceVersion ?? '-'}`));
  return { cache, changes };
}

test('keeps objects by namespace and name, only newer versions, and tells store listeners of each change', () => {
  const { cache, changes } = informer();
  cache.observeWrite(object('a', 'x', '1'));
  cache.observeWrite(object('a', 'y', '2'));
  cache.observeWrite(object(undefined, 'cluster-wide', '3'));
  cache.observeWrite(object('a', 'x', '1')); // not newer: ignored
  cache.observeWrite(object('a', 'x', '4'));
  expect(cache.size).toBe(3);
  expect(cache.get('a/x')?.metadata.resourceVersion).toBe('4');
  expect(cache.get('cluster-wide')?.metadata.resourceVersion).toBe('3');
  expect(cache.listInNamespace('a').map((o) => o.metadata.name)).toEqual(['x', 'y']);
  expect(cache.list().map((o) => o.metadata.name).sort()).toEqual(['cluster-wide', 'x', 'y']);

  cache.observeDeletion(object('a', 'x', '4'));
  cache.observeDeletion(object('a', 'y', '2'));
  cache.observeDeletion(object('a', 'gone', '9'));
  expect(cache.size).toBe(1);
  expect(cache.listInNamespace('a')).toEqual([]);
  expect(cache.get('a/x')).toBeUndefined();
  expect(changes).toEqual(['-→1', '-→2', '-→3', '1→4', '4→-', '2→-']);
});

test('a namespace with many objects is kept in a map, and still read the same', () => {
  const { cache } = informer();
  const names = Array.from({ length: 40 }, (_, i) => `cm-${i}`);
  names.forEach((name, i) => cache.observeWrite(object('busy', name, String(i + 1))));
  expect(cache.size).toBe(40);
  expect(cache.listInNamespace('busy').map((o) => o.metadata.name)).toEqual(names);
  expect(cache.get('busy/cm-33')?.metadata.resourceVersion).toBe('34');
  cache.observeDeletion(object('busy', 'cm-33', '34'));
  expect(cache.get('busy/cm-33')).toBeUndefined();
  expect(cache.size).toBe(39);
});

test('reads the same as a plain map through any sequence of writes and deletions (one object, a few, many)', () => {
  // A namespace's bucket is the object itself, an array, or a map, by how many it holds: each shape, and each move between them.
  const step = fc.record({
    delete: fc.boolean(), namespace: fc.constantFrom('a', 'b'), name: fc.integer({ min: 0, max: 19 }).map((i) => `o${i}`),
  });
  fc.assert(fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
    const { cache } = informer();
    const reference = new Map<string, KubeObject>();
    let version = 0;
    for (const s of steps) {
      const key = `${s.namespace}/${s.name}`;
      if (s.delete) {
        const held = reference.get(key);
        if (held) cache.observeDeletion(held);
        reference.delete(key);
      } else {
        const written = object(s.namespace, s.name, String(++version));
        cache.observeWrite(written);
        reference.set(key, written);
      }
      expect(cache.size).toBe(reference.size);
      expect(cache.get(key)).toBe(reference.get(key));
    }
    for (const namespace of ['a', 'b']) {
      const names = (objects: KubeObject[]) => objects.map((o) => o.metadata.name).sort();
      expect(names(cache.listInNamespace(namespace))).toEqual(names([...reference.values()].filter((o) => o.metadata.namespace === namespace)));
    }
    expect(cache.list().length).toBe(reference.size);
    for (const [key, held] of reference) expect(cache.get(key)).toBe(held);
  }));
});
