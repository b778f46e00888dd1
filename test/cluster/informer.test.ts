// The informer against the real API server: label filtering, events, restart
// with backoff while an API is missing, and the watchdog that relists a
// silent watch. (410 Gone is not provoked here: a fresh API server's watch
// cache still holds every resourceVersion of a short test run.)
import { afterAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { ApiextensionsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer } from '../../src/runtime/informer.ts';
import { KubeClient, type KubeObject, type KubeObjectBody, type ResourceType } from '../../src/runtime/kube.ts';
import { adminKubeConfig, createTestNamespace, eventually, ignoreNotFound } from '../support/cluster.ts';

const logger = pino({ level: 'silent' });
const client = new KubeClient(adminKubeConfig());
const core = adminKubeConfig().makeApiClient(CoreV1Api);
const CONFIG_MAPS: ResourceType = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const informers: Informer<KubeObject>[] = [];

function track(informer: Informer<KubeObject>): { events: string[]; informer: Informer<KubeObject> } {
  const events: string[] = [];
  informer.addHandlers({
    onAdd: (o) => events.push(`add ${o.metadata.name}`),
    onUpdate: (_, o) => events.push(`update ${o.metadata.name}`),
    onDelete: (o) => events.push(`delete ${o.metadata.name}`),
  });
  informers.push(informer);
  return { events, informer };
}

afterAll(async () => {
  await Promise.all(informers.map((informer) => informer.stop()));
});

describe('KubeClient.listPages', () => {
  test('hands each page over as it arrives, every object once, with the kind put back', async () => {
    const namespace = await createTestNamespace('pages');
    const labels = { paged: 'yes' };
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels } } })));
    const pages: string[][] = [];
    const resourceVersion = await client.listPages(CONFIG_MAPS, { namespace, labelSelector: 'paged=yes', limit: 2 }, (items) => {
      pages.push(items.filter((item) => item.kind === 'ConfigMap').map((item) => item.metadata.name));
    });
    expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
    expect(pages.flat().sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(Number(resourceVersion)).toBeGreaterThan(0);
    expect((await client.list(CONFIG_MAPS, { namespace, labelSelector: 'paged=yes', limit: 4 })).items).toHaveLength(5);
  });
});

describe('Informer', () => {
  test('syncs, then reports adds, updates and deletes of labelled objects only', async () => {
    const label = `informer-${randomBytes(3).toString('hex')}`;
    const namespace = await createTestNamespace('informer');
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'before', labels: { test: label } } } });
    const { events, informer } = track(new Informer<KubeObject>({ client, logger, type: CONFIG_MAPS, labelSelector: `test=${label}` }));
    informer.start();
    await informer.synced;
    expect(informer.listInNamespace(namespace).map((o) => o.metadata.name)).toEqual(['before']);

    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after', labels: { test: label } } } });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'unlabelled' } } });
    await core.patchNamespacedConfigMap({ namespace, name: 'after', body: [{ op: 'add', path: '/data', value: { a: 'b' } }] });
    await core.deleteNamespacedConfigMap({ namespace, name: 'before' });
    await eventually(() => events.includes('delete before'));
    expect(events).toEqual(['add before', 'add after', 'update after', 'delete before']);
    expect(informer.get(`${namespace}/after`)?.metadata.name).toBe('after');
    expect(informer.get(`${namespace}/unlabelled`)).toBeUndefined();
  });

  test('an API that is not served yet: retries with backoff, syncs once it appears', async () => {
    const group = `informer-${randomBytes(3).toString('hex')}.example.com`;
    const type: ResourceType = { apiVersion: `${group}/v1`, kind: 'Widget', plural: 'widgets', namespaced: false };
    const restarts: string[] = [];
    const { informer } = track(new Informer<KubeObject>({
      client, logger, type, initialBackoffMs: 100, maxBackoffMs: 400, metrics: { restart: (resource) => restarts.push(resource) },
    }));
    informer.start();
    await eventually(() => restarts.length >= 2);
    expect(informer.hasSynced).toBe(false);

    const extensions = adminKubeConfig().makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group, scope: 'Cluster', names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }],
        },
      },
    });
    try {
      await informer.synced;
      expect(informer.size).toBe(0);
      expect(restarts.every((r) => r === 'widgets')).toBe(true);
    } finally {
      await extensions.deleteCustomResourceDefinition({ name: `widgets.${group}` }).catch(ignoreNotFound);
    }
  });

  test('the watchdog relists a watch that has gone silent, and the cache stays right', async () => {
    const label = `silent-${randomBytes(3).toString('hex')}`;
    const namespace = await createTestNamespace('silent');
    const relists: string[] = [];
    const { events, informer } = track(new Informer<KubeObject>({
      client, logger, type: CONFIG_MAPS, labelSelector: `test=${label}`, watchdogMs: 1_000,
      metrics: { relist: (_resource, reason) => relists.push(reason) },
    }));
    informer.start();
    await informer.synced;
    // Nothing matches the selector, so nothing (not even a bookmark, about once a minute) arrives.
    await eventually(() => relists.includes('stalled'), { timeoutMs: 10_000 });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'later', labels: { test: label } } } });
    await eventually(() => events.includes('add later'), { timeoutMs: 10_000 });
    expect(events.filter((e) => e === 'add later')).toHaveLength(1);
  });

  describe('a write in flight (beginWrite … observeWrite or writeFailed)', () => {
    const configMap = (namespace: string, label: string, data: Record<string, string>): KubeObjectBody => ({
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'written', namespace, labels: { test: label } }, data,
    });
    async function started(prefix: string): Promise<{ namespace: string; label: string; key: string; events: string[]; previous: (string | undefined)[]; informer: Informer<KubeObject> }> {
      const label = `${prefix}-${randomBytes(3).toString('hex')}`;
      const namespace = await createTestNamespace(prefix);
      const tracked = track(new Informer<KubeObject>({ client, logger, type: CONFIG_MAPS, labelSelector: `test=${label}` }));
      const previous: (string | undefined)[] = [];
      tracked.informer.addHandlers({ onUpdate: (before) => previous.push(before.metadata.resourceVersion) });
      tracked.informer.start();
      await tracked.informer.synced;
      return { namespace, label, key: `${namespace}/written`, previous, ...tracked };
    }

    test('its own event, arriving before its answer, wakes no handler', async () => {
      const { namespace, label, key, events, informer } = await started('own-write');
      const body = configMap(namespace, label, { a: '1' });
      informer.beginWrite(body);
      const answer = await client.apply<KubeObject>(CONFIG_MAPS, body);
      // The answer is held back from the cache until the watch has delivered the write's own event: the order a busy operator sees.
      await eventually(() => informer.get(key)?.metadata.resourceVersion === answer.metadata.resourceVersion);
      informer.observeWrite(answer);
      await core.patchNamespacedConfigMap({ namespace, name: 'written', body: [{ op: 'add', path: '/data/b', value: '2' }] });
      await eventually(() => events.length > 0);
      // Only the change after the write woke the handlers.
      expect(events).toEqual(['update written']);
    });

    test('someone else\'s change while it is in flight wakes the handlers when it ends, as a change from the answer', async () => {
      const { namespace, label, key, events, previous, informer } = await started('foreign-write');
      const body = configMap(namespace, label, { a: '1' });
      informer.beginWrite(body);
      const answer = await client.apply<KubeObject>(CONFIG_MAPS, body);
      const edited = await core.patchNamespacedConfigMap({ namespace, name: 'written', body: [{ op: 'replace', path: '/data/a', value: 'changed' }] });
      await eventually(() => informer.get(key)?.metadata.resourceVersion === edited.metadata?.resourceVersion);
      expect(events).toEqual([]);
      informer.observeWrite(answer);
      expect(events).toEqual(['update written']);
      expect(previous).toEqual([answer.metadata.resourceVersion]);
      expect(informer.get(key)?.metadata.resourceVersion).toBe(edited.metadata?.resourceVersion);
    });

    test('a write that fails lets what arrived meanwhile wake the handlers', async () => {
      const { namespace, label, key, events, informer } = await started('failed-write');
      const body = configMap(namespace, label, { a: '1' });
      informer.beginWrite(body);
      // Someone else creates the object the write was about to create.
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'written', labels: { test: label } }, data: { theirs: 'x' } } });
      const changed = await core.patchNamespacedConfigMap({ namespace, name: 'written', body: [{ op: 'add', path: '/data/more', value: 'y' }] });
      await eventually(() => informer.get(key)?.metadata.resourceVersion === changed.metadata?.resourceVersion);
      expect(events).toEqual([]);
      informer.writeFailed(body);
      // An object that was not there before the write: an add, whatever happened to it since.
      expect(events).toEqual(['add written']);
    });

    test('a deletion is never held back', async () => {
      const { namespace, label, key, events, informer } = await started('deleted-write');
      const answer = await client.apply<KubeObject>(CONFIG_MAPS, configMap(namespace, label, { a: '1' }));
      await eventually(() => events.includes('add written'));
      informer.beginWrite(answer);
      await core.deleteNamespacedConfigMap({ namespace, name: 'written' });
      await eventually(() => events.includes('delete written'));
      expect(informer.get(key)).toBeUndefined();
      informer.writeFailed(answer);
      expect(events).toEqual(['add written', 'delete written']);
    });
  });
});
