// The informer without a cluster: its store, with objects put in as the
// operator's own writes do (observeWrite), and which handlers hear of watch
// events that arrive around a write, in orders a scripted watch chooses.
// Listing and watching are tested against the real API server in
// test/cluster/informer.test.ts.
import { expect, test } from '@jest/globals';
import fc from 'fast-check';
import { pino } from 'pino';
import { KubeApiError } from './errors.ts';
import { Informer } from './informer.ts';
import type { KubeClient, KubeObject, ResourceType, WatchEvent } from './kube.ts';

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

/**
 * An informer over a scripted list and watch (our KubeClient's two calls, not
 * the API server): the test decides in which order the watch's events and the
 * write's answers arrive, which against a real API server it cannot.
 */
async function watchedInformer() {
  let deliver: ((event: WatchEvent<KubeObject>) => void) | undefined;
  const client = {
    listPages: async () => '1',
    watch: (_type: ResourceType, _options: unknown, onEvent: (event: WatchEvent<KubeObject>) => void) => {
      deliver = onEvent;
      return () => undefined;
    },
  } as unknown as KubeClient;
  const cache = new Informer<KubeObject>({ client, logger: pino({ level: 'silent' }), type: CONFIG_MAPS });
  const heard: string[] = [];
  const version = (o: KubeObject | undefined) => o?.metadata.resourceVersion ?? '-';
  cache.addHandlers({
    onAdd: (current) => heard.push(`add ${version(current)}`),
    onUpdate: (previous, current) => heard.push(`update ${version(previous)}→${version(current)}`),
    onDelete: (previous) => heard.push(`delete ${version(previous)}`),
  });
  cache.start();
  await cache.synced;
  while (!deliver) await new Promise((resolve) => setImmediate(resolve));
  const watch = (type: WatchEvent<KubeObject>['type'], resourceVersion: string) => deliver?.({ type, object: object('a', 'x', resourceVersion) });
  return { cache, heard, watch, stop: () => cache.stop() };
}

test('stop() while a list is in flight ends the informer once the list returns, without starting a watch', async () => {
  let listed: (() => void) | undefined;
  let watches = 0;
  const client = {
    listPages: () => new Promise<string>((resolve) => { listed = () => resolve('1'); }),
    watch: () => {
      watches++;
      return () => undefined;
    },
  } as unknown as KubeClient;
  const cache = new Informer<KubeObject>({ client, logger: pino({ level: 'silent' }), type: CONFIG_MAPS });
  cache.start();
  while (!listed) await new Promise((resolve) => setImmediate(resolve));
  const stopped = cache.stop();
  listed();
  await stopped;
  expect(watches).toBe(0);
});

test('a write\'s own event, arriving before or after its answer, wakes no handler', async () => {
  const { cache, heard, watch, stop } = await watchedInformer();
  watch('ADDED', '2');
  cache.beginWrite(object('a', 'x', ''));
  watch('MODIFIED', '3'); // its own event first
  cache.observeWrite(object('a', 'x', '3'));
  cache.beginWrite(object('a', 'x', ''));
  cache.observeWrite(object('a', 'x', '4')); // its answer first
  watch('MODIFIED', '4');
  expect(heard).toEqual(['add 2']);
  expect(cache.get('a/x')?.metadata.resourceVersion).toBe('4');
  await stop();
});

test('someone else\'s change that landed just before the write is in its answer: heard as a change from what the writer saw, in either order', async () => {
  // Held while the write is in flight.
  const held = await watchedInformer();
  held.watch('ADDED', '2');
  held.cache.beginWrite(object('a', 'x', ''));
  held.watch('MODIFIED', '3'); // someone else's
  held.watch('MODIFIED', '4'); // the write's own
  held.cache.observeWrite(object('a', 'x', '4'));
  expect(held.heard).toEqual(['add 2', 'update 2→4']);
  await held.stop();

  // The answer first: the older event arrives after the store holds the answer, and is not dropped as old.
  const late = await watchedInformer();
  late.watch('ADDED', '2');
  late.cache.beginWrite(object('a', 'x', ''));
  late.cache.observeWrite(object('a', 'x', '4'));
  late.watch('MODIFIED', '3'); // someone else's, older than the store
  late.watch('MODIFIED', '4'); // the write's own: the watch has caught up
  late.watch('MODIFIED', '5'); // anyone's, later: as usual
  expect(late.heard).toEqual(['add 2', 'update 2→4', 'update 4→5']);
  expect(late.cache.get('a/x')?.metadata.resourceVersion).toBe('5');
  await late.stop();
});

test('someone else\'s change after the write\'s answer is heard as a change from the answer, even before the answer arrives', async () => {
  const { cache, heard, watch, stop } = await watchedInformer();
  watch('ADDED', '2');
  cache.beginWrite(object('a', 'x', ''));
  watch('MODIFIED', '3'); // the write's own
  watch('MODIFIED', '4'); // someone else's, after it (it may put back what the write changed)
  cache.observeWrite(object('a', 'x', '3'));
  expect(heard).toEqual(['add 2', 'update 3→4']);
  await stop();
});

test('a failed write lets what arrived meanwhile through, as a change from what the writer saw; a deletion is never held', async () => {
  const { cache, heard, watch, stop } = await watchedInformer();
  cache.beginWrite(object('a', 'x', ''));
  watch('ADDED', '2'); // someone else created it
  cache.writeFailed(object('a', 'x', ''));
  expect(heard).toEqual(['add 2']);
  cache.beginWrite(object('a', 'x', ''));
  watch('DELETED', '3');
  expect(heard).toEqual(['add 2', 'delete 2']);
  cache.writeFailed(object('a', 'x', ''));
  expect(heard).toEqual(['add 2', 'delete 2']);
  await stop();
});

test('a deletion the watch delivers before the write\'s answer: the answer does not put the object back', async () => {
  const { cache, heard, watch, stop } = await watchedInformer();
  watch('ADDED', '2');
  cache.beginWrite(object('a', 'x', ''));
  watch('DELETED', '4'); // someone deleted it after the write landed (at 3)
  cache.observeWrite(object('a', 'x', '3'));
  expect(cache.get('a/x')).toBeUndefined();
  expect(heard).toEqual(['add 2', 'delete 2']);
  // Written again (recreated): that answer is newer than the deletion, and goes in.
  cache.beginWrite(object('a', 'x', ''));
  cache.observeWrite(object('a', 'x', '5'));
  expect(cache.get('a/x')?.metadata.resourceVersion).toBe('5');
  watch('ADDED', '5');
  expect(heard).toEqual(['add 2', 'delete 2']);
  await stop();
});

test('after a 410 it lists once more a little later: an event a rebuilt watch cache dropped is heard then', async () => {
  // The server's side, scripted: the first watch expires; the object is deleted while the second watch
  // (begun as the cache was rebuilt) hears nothing of it; only a list shows it gone.
  const lists: KubeObject[][] = [[object('a', 'x', '1')], [object('a', 'x', '1')], []];
  const watchEnds: Array<(onDone: (error: unknown) => void) => void> = [
    (onDone) => onDone(new KubeApiError(410, 'Expired', 'too old resource version', 'WATCH', 'configmaps')),
    () => undefined, // open and silent until stopped
    () => undefined,
  ];
  let listed = 0;
  let watched = 0;
  const client = {
    listPages: async (_type: ResourceType, _options: object, onPage: (items: KubeObject[]) => void) => {
      onPage(lists[Math.min(listed, lists.length - 1)] ?? []);
      return String(++listed);
    },
    watch: (_type: ResourceType, _options: object, _onEvent: unknown, onDone: (error: unknown) => void) => {
      const end = watchEnds[Math.min(watched++, watchEnds.length - 1)];
      setImmediate(() => end?.(onDone));
      return () => undefined;
    },
  } as unknown as KubeClient;
  const relists: string[] = [];
  const cache = new Informer<KubeObject>({
    client, logger: pino({ level: 'silent' }), type: CONFIG_MAPS, followUpRelistMs: 50, metrics: { relist: (_resource, reason) => relists.push(reason) },
  });
  const heard: string[] = [];
  cache.addHandlers({ onAdd: (o) => heard.push(`add ${o.metadata.name}`), onDelete: (o) => heard.push(`delete ${o.metadata.name}`) });
  cache.start();
  const started = Date.now();
  while (!heard.includes('delete x') && Date.now() - started < 5_000) await new Promise((resolve) => setTimeout(resolve, 10));
  await cache.stop();
  expect(heard).toEqual(['add x', 'delete x']);
  expect(relists).toEqual(['expired', 'follow-up']);
  expect(listed).toBe(3);
  expect(cache.get('a/x')).toBeUndefined();
});

test('without a 410 there is no follow-up list: a healthy watch ended by the server resumes from where it was', async () => {
  let listed = 0;
  let watched = 0;
  const client = {
    listPages: async (_type: ResourceType, _options: object, onPage: (items: KubeObject[]) => void) => {
      onPage([object('a', 'x', '1')]);
      return String(++listed);
    },
    watch: (_type: ResourceType, _options: object, _onEvent: unknown, onDone: (error: unknown) => void) => {
      if (watched++ === 0) setImmediate(() => onDone(null));
      return () => undefined;
    },
  } as unknown as KubeClient;
  const cache = new Informer<KubeObject>({ client, logger: pino({ level: 'silent' }), type: CONFIG_MAPS, followUpRelistMs: 20 });
  cache.start();
  await cache.synced;
  while (watched < 2) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 100));
  await cache.stop();
  expect(listed).toBe(1);
  expect(watched).toBe(2);
});
