// A list+watch cache of one kind, in the manner of client-go's reflector and
// shared informer: list, then watch from the list's resourceVersion, keep a
// local store, and tell handlers what changed.
//
// It survives what real clusters do to watches:
//  - any watch error restarts the watch after an exponential backoff;
//  - 410 Gone (the resourceVersion is too old) relists;
//  - a watchdog relists when a watch has been silent (no event, no bookmark)
//    for longer than the server's bookmark interval can explain;
//  - a relist diffs the new list against the store, so handlers see deletions
//    that happened while the watch was down.
// `synced` resolves after the first complete list: start workers after it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { KubeApiError } from './errors.ts';
import { WatchStalledError, type KubeClient, type KubeObject, type ResourceType, type WatchEvent } from './kube.ts';

export interface InformerHandlers<T> {
  onAdd?(object: T): void;
  onUpdate?(previous: T, current: T): void;
  onDelete?(object: T): void;
}

export interface InformerMetrics {
  relist?(resource: string, reason: string): void;
  restart?(resource: string): void;
  /** A list completed or a watch delivered something (a bookmark counts): the informer is alive. */
  heartbeat?(resource: string): void;
}

export interface InformerOptions<T extends KubeObject> {
  readonly client: KubeClient;
  readonly type: ResourceType;
  readonly labelSelector?: string;
  /** Only this namespace's objects, for a namespaced kind. */
  readonly namespace?: string;
  /** Such as `metadata.name=x`, to watch one object. */
  readonly fieldSelector?: string;
  /** Shrinks objects before they are stored (drop what no reader needs). */
  readonly transform?: (object: T) => T;
  readonly logger: Logger;
  readonly metrics?: InformerMetrics;
  /** Relist when a watch was silent this long; the API server sends bookmarks about once a minute. */
  readonly watchdogMs?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function cacheKey(object: KubeObject): string {
  return object.metadata.namespace ? `${object.metadata.namespace}/${object.metadata.name}` : object.metadata.name;
}

export class Informer<T extends KubeObject> {
  readonly type: ResourceType;
  readonly synced: Promise<void>;
  readonly #options: InformerOptions<T>;
  readonly #store = new Map<string, T>();
  /** namespace → keys, so a reconcile of one namespace reads only its objects. */
  readonly #byNamespace = new Map<string, Set<string>>();
  readonly #handlers: InformerHandlers<T>[] = [];
  #markSynced: () => void = () => undefined;
  #hasSynced = false;
  #stopped = false;
  #stopWatch: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.type = options.type;
    this.synced = new Promise((resolve) => { this.#markSynced = resolve; });
  }

  addHandlers(handlers: InformerHandlers<T>): void {
    this.#handlers.push(handlers);
  }

  get hasSynced(): boolean {
    return this.#hasSynced;
  }

  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  list(): T[] {
    return [...this.#store.values()];
  }

  listInNamespace(namespace: string): T[] {
    const keys = this.#byNamespace.get(namespace);
    if (!keys) return [];
    const objects: T[] = [];
    for (const key of keys) {
      const object = this.#store.get(key);
      if (object) objects.push(object);
    }
    return objects;
  }

  get size(): number {
    return this.#store.size;
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopWatch?.();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { logger, metrics, type } = this.#options;
    const initialBackoff = this.#options.initialBackoffMs ?? 500;
    const maxBackoff = this.#options.maxBackoffMs ?? 30_000;
    let backoff = initialBackoff;
    let resourceVersion: string | undefined;
    while (!this.#stopped) {
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.#relist();
        }
        const outcome = await this.#watch(resourceVersion);
        resourceVersion = outcome.resourceVersion;
        if (outcome.error === null) {
          backoff = initialBackoff; // the server ended a healthy watch: resume at once
          continue;
        }
        throw outcome.error;
      } catch (error) {
        if (this.#stopped) break;
        if (error instanceof KubeApiError && error.status === 410) {
          logger.info({ resource: type.plural }, 'watch expired (410 Gone): relisting');
          metrics?.relist?.(type.plural, 'expired');
          resourceVersion = undefined;
          continue;
        }
        if (error instanceof WatchStalledError) {
          logger.warn({ resource: type.plural, err: error.message }, 'watch went silent: relisting');
          metrics?.relist?.(type.plural, 'stalled');
          resourceVersion = undefined;
          continue;
        }
        metrics?.restart?.(type.plural);
        logger.warn({ resource: type.plural, err: errorMessage(error), retryInMs: backoff }, 'list/watch failed: retrying');
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  /** Lists everything, replaces the store, tells handlers the difference; returns the list's resourceVersion. */
  async #relist(): Promise<string> {
    const { client, type, namespace, labelSelector, fieldSelector, transform } = this.#options;
    const listed = await client.list<T>(type, { namespace, labelSelector, fieldSelector });
    const seen = new Set<string>();
    for (const raw of listed.items) {
      const object = transform ? transform(raw) : raw;
      const key = cacheKey(object);
      seen.add(key);
      this.#upsert(key, object);
    }
    for (const [key, object] of this.#store) {
      if (!seen.has(key)) this.#remove(key, object);
    }
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      this.#markSynced();
    }
    this.#options.metrics?.heartbeat?.(type.plural);
    return listed.resourceVersion;
  }

  /** Runs one watch until it ends; returns the last resourceVersion seen and how it ended. */
  #watch(fromVersion: string): Promise<{ resourceVersion: string; error: unknown }> {
    const { client, type, namespace, labelSelector, fieldSelector, transform } = this.#options;
    let resourceVersion = fromVersion;
    return new Promise((resolve) => {
      const onEvent = (event: WatchEvent<T>): void => {
        if (event.type === 'ERROR') {
          const status = event.object as unknown as { code?: number; reason?: string; message?: string };
          this.#stopWatch?.();
          resolve({ resourceVersion, error: new KubeApiError(status.code ?? 500, status.reason ?? 'Unknown', status.message ?? '', 'WATCH', type.plural) });
          return;
        }
        this.#options.metrics?.heartbeat?.(type.plural);
        const objectVersion = event.object.metadata.resourceVersion;
        if (objectVersion) resourceVersion = objectVersion;
        if (event.type === 'BOOKMARK') return;
        const object = transform ? transform(event.object) : event.object;
        const key = cacheKey(object);
        if (event.type === 'DELETED') {
          const previous = this.#store.get(key);
          if (previous) this.#remove(key, previous);
        } else {
          this.#upsert(key, object);
        }
      };
      this.#stopWatch = client.watch<T>(type, {
        resourceVersion: fromVersion,
        namespace,
        labelSelector,
        fieldSelector,
        // Like client-go: end each watch after a random 5–10 minutes, spreading reconnects.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        inactivityMs: this.#options.watchdogMs ?? 150_000,
      }, onEvent, (error) => resolve({ resourceVersion, error }));
      if (this.#stopped) this.#stopWatch();
      this.#wake = () => resolve({ resourceVersion, error: null });
    });
  }

  /**
   * Records an object this process just wrote (the API server's response), so
   * that the next reconcile sees it before the watch delivers it; the watch
   * event then changes nothing and wakes no one. client-go's MutationCache does
   * the same. Handlers are not called.
   */
  observeWrite(raw: T): void {
    const object = this.#options.transform ? this.#options.transform(raw) : raw;
    const key = cacheKey(object);
    const previous = this.#store.get(key);
    if (previous && !isNewer(object, previous)) return;
    this.#store.set(key, object);
    this.#index(key, object);
  }

  /** Records that this process just deleted an object; its watch event then wakes no one. */
  observeDeletion(object: KubeObject): void {
    const key = cacheKey(object);
    const previous = this.#store.get(key);
    if (!previous) return;
    this.#store.delete(key);
    this.#unindex(key, previous);
  }

  #upsert(key: string, object: T): void {
    const previous = this.#store.get(key);
    // Not newer than what we hold (our own write, observed above): nothing changed.
    if (previous !== undefined && !isNewer(object, previous)) return;
    this.#store.set(key, object);
    this.#index(key, object);
    for (const handlers of this.#handlers) {
      this.#dispatch(() => (previous ? handlers.onUpdate?.(previous, object) : handlers.onAdd?.(object)));
    }
  }

  #index(key: string, object: KubeObject): void {
    const namespace = object.metadata.namespace;
    if (!namespace) return;
    let keys = this.#byNamespace.get(namespace);
    if (!keys) this.#byNamespace.set(namespace, keys = new Set());
    keys.add(key);
  }

  #unindex(key: string, object: KubeObject): void {
    const namespace = object.metadata.namespace;
    if (!namespace) return;
    const keys = this.#byNamespace.get(namespace);
    keys?.delete(key);
    if (keys?.size === 0) this.#byNamespace.delete(namespace);
  }

  #remove(key: string, object: T): void {
    this.#store.delete(key);
    this.#unindex(key, object);
    for (const handlers of this.#handlers) this.#dispatch(() => handlers.onDelete?.(object));
  }

  /** A failing handler is logged; it must not end the watch or skip the other handlers. */
  #dispatch(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#options.logger.error({ resource: this.type.plural, err: errorMessage(error) }, 'informer event handler failed');
    }
  }

  async #sleep(ms: number): Promise<void> {
    const ac = new AbortController();
    this.#wake = () => ac.abort();
    await sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined);
  }
}

/**
 * Whether `a` is a later version than `b`. Resource versions are opaque, but
 * every API server in practice uses etcd revisions, as client-go's
 * MutationCache assumes; anything else counts as newer.
 */
export function isNewer(a: KubeObject, b: KubeObject): boolean {
  const av = a.metadata.resourceVersion;
  const bv = b.metadata.resourceVersion;
  if (av === bv) return false;
  if (!av || !bv || !/^\d+$/.test(av) || !/^\d+$/.test(bv)) return true;
  return BigInt(av) > BigInt(bv);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
