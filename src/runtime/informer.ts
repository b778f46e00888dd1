// A list+watch cache of one kind, in the manner of client-go's reflector and
// shared informer: list, then watch from the list's resourceVersion, keep a
// local store, and tell handlers what changed.
//
// It survives what real clusters do to watches:
//  - any watch error restarts the watch after an exponential backoff;
//  - 410 Gone (the resourceVersion is too old) relists, and lists once more a
//    little later (see FOLLOW_UP_RELIST_MS);
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

/** `T` is what the store keeps; `Raw` what the API server sends (the same unless `transform` shrinks it). */
export interface InformerOptions<T extends KubeObject, Raw extends KubeObject = T> {
  readonly client: KubeClient;
  readonly type: ResourceType;
  readonly labelSelector?: string;
  /** Only this namespace's objects, for a namespaced kind. */
  readonly namespace?: string;
  /** Such as `metadata.name=x`, to watch one object. */
  readonly fieldSelector?: string;
  /** Shrinks objects before they are stored (drop what no reader needs). */
  readonly transform?: (object: Raw) => T;
  readonly logger: Logger;
  readonly metrics?: InformerMetrics;
  /** What its logs and metrics call it: the kind's plural, unless two informers watch one kind. */
  readonly resource?: string;
  /** Relist when a watch was silent this long; the API server sends bookmarks about once a minute. */
  readonly watchdogMs?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How long after a relist for 410 Gone the informer lists once more; default FOLLOW_UP_RELIST_MS. */
  readonly followUpRelistMs?: number;
}

/**
 * A 410 Gone most often means the API server's watch cache was just rebuilt:
 * an API server or etcd restart, or a compaction. A watch begun while the cache
 * is being rebuilt can miss events and still receive bookmarks, so no watchdog
 * notices (kubernetes#116172 fixed one such race; the fault suite's API server
 * and etcd restart met another: a baseline's deletion unseen for three minutes
 * with the watch alive). Only a list shows what was missed, so one more follows
 * this long after the first: an extra list per informer per expiry.
 */
export const FOLLOW_UP_RELIST_MS = 30_000;

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function cacheKey(object: KubeObject): string {
  return object.metadata.namespace ? `${object.metadata.namespace}/${object.metadata.name}` : object.metadata.name;
}

/**
 * Told of every change to the store, including the writes and deletions this
 * process observes itself (which wake no handler): for indexes that must
 * always agree with the store.
 */
export type StoreListener<T> = (previous: T | undefined, current: T | undefined) => void;

/**
 * The objects of one namespace: the object itself while it is the only one (a
 * label-filtered kind mostly holds one per namespace, and ten thousand
 * namespaces would make ten thousand one-element arrays, 56 bytes each), an
 * array while there are a handful, a map beyond that.
 */
type Bucket<T> = T | T[] | Map<string, T>;
const BUCKET_ARRAY_MAX = 16;

/**
 * A key this process is writing, and what the watch said about it meanwhile.
 *
 * The watch often delivers a write's own event before the write's answer
 * arrives (one object in five during a cold start); until the answer, it
 * cannot tell that event from someone else's change, and each one queued a
 * reconcile that found nothing to do. Events for the key therefore update the
 * store at once but wake the handlers only when the last write ends, and then
 * only if one of them was not the answer to a write (client-go's controllers
 * keep such expectations for what they create).
 *
 * The answer also goes into the store at once (observeWrite), often before the
 * watch has delivered the events before it. Someone else's change that landed
 * just before the write is in the answer, but the writer decided on the object
 * as it was before: the record stays, as a lookout, until the watch has caught
 * up with the last answer, and such an event then wakes the handlers as a
 * change from what the writer saw, though it is older than the store.
 */
interface WritesInFlight<T, Raw> {
  /** Writes not yet answered; 0 for a lookout. */
  writes: number;
  /** What the store held when the writes began (null: nothing): what the writer decided on. */
  before: T | null;
  /** The resourceVersions of events held back while writes were in flight. */
  held: string[];
  /** The resourceVersions the writes' answers carried. */
  readonly answered: Set<string>;
  lastAnswer?: Raw;
  /** When the record became a lookout (Date.now()). */
  lookoutSince?: number;
  /** The resourceVersion of a deletion the watch delivered while writes were in flight. */
  deletedAt?: string;
}

/**
 * Lookouts are dropped once the watch delivers the last answer's own event, or
 * the object's deletion. One whose event never comes (an object this informer
 * does not select) is dropped after this long, checked whenever the records
 * are many.
 */
const LOOKOUT_MAX_AGE_MS = 60_000;
const LOOKOUT_SWEEP_SIZE = 4_096;

function bucketObjects<T>(bucket: Bucket<T>): Iterable<T> {
  if (bucket instanceof Map) return bucket.values();
  return Array.isArray(bucket) ? bucket : [bucket];
}

export class Informer<T extends KubeObject, Raw extends KubeObject = T> {
  readonly type: ResourceType;
  readonly synced: Promise<void>;
  readonly #options: InformerOptions<T, Raw>;
  /** Cluster-scoped objects by name. */
  readonly #cluster = new Map<string, T>();
  /** Namespaced objects by namespace, so a reconcile of one namespace reads only its objects. */
  readonly #namespaced = new Map<string, Bucket<T>>();
  #size = 0;
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #storeListeners: StoreListener<T>[] = [];
  readonly #writesInFlight = new Map<string, WritesInFlight<T, Raw>>();
  #markSynced: () => void = () => undefined;
  #hasSynced = false;
  #stopped = false;
  #stopWatch: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: InformerOptions<T, Raw>) {
    this.#options = options;
    this.type = options.type;
    this.synced = new Promise((resolve) => { this.#markSynced = resolve; });
  }

  addHandlers(handlers: InformerHandlers<T>): void {
    this.#handlers.push(handlers);
  }

  addStoreListener(listener: StoreListener<T>): void {
    this.#storeListeners.push(listener);
  }

  get hasSynced(): boolean {
    return this.#hasSynced;
  }

  /** By cacheKey: `namespace/name`, or `name` for cluster-scoped objects. */
  get(key: string): T | undefined {
    const slash = key.indexOf('/');
    if (slash < 0) return this.#cluster.get(key);
    return this.#find(key.slice(0, slash), key.slice(slash + 1));
  }

  list(): T[] {
    const objects = [...this.#cluster.values()];
    for (const bucket of this.#namespaced.values()) for (const object of bucketObjects(bucket)) objects.push(object);
    return objects;
  }

  listInNamespace(namespace: string): T[] {
    const bucket = this.#namespaced.get(namespace);
    return bucket ? [...bucketObjects(bucket)] : [];
  }

  get size(): number {
    return this.#size;
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

  /** What logs and metrics call this informer. */
  get #resource(): string {
    return this.#options.resource ?? this.type.plural;
  }

  async #run(): Promise<void> {
    const { logger, metrics } = this.#options;
    const resource = this.#resource;
    const initialBackoff = this.#options.initialBackoffMs ?? 500;
    const maxBackoff = this.#options.maxBackoffMs ?? 30_000;
    let backoff = initialBackoff;
    let resourceVersion: string | undefined;
    /** A 410 asked for a list once more, counted from the end of the list it caused. */
    let followUpWanted = false;
    /** When to list once more (Date.now()); undefined when none is due. */
    let followUpAt: number | undefined;
    while (!this.#stopped) {
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.#relist();
          // stop() during the list had no watch to end: starting one now would never end.
          if (this.#stopped) break;
          if (followUpWanted) followUpAt = Date.now() + (this.#options.followUpRelistMs ?? FOLLOW_UP_RELIST_MS);
          followUpWanted = false;
        }
        let followUpDue = false;
        const followUp = followUpAt === undefined ? undefined : setTimeout(() => {
          followUpDue = true;
          this.#stopWatch?.();
          this.#wake?.();
        }, Math.max(0, followUpAt - Date.now()));
        const outcome = await this.#watch(resourceVersion).finally(() => clearTimeout(followUp));
        resourceVersion = outcome.resourceVersion;
        if (followUpDue && !this.#stopped) {
          followUpAt = undefined;
          logger.info({ resource }, 'relisting once more after a watch expiry, for events a rebuilt watch cache may have missed');
          metrics?.relist?.(resource, 'follow-up');
          resourceVersion = undefined;
          continue;
        }
        if (outcome.error === null) {
          backoff = initialBackoff; // the server ended a healthy watch: resume at once
          continue;
        }
        throw outcome.error;
      } catch (error) {
        if (this.#stopped) break;
        if (error instanceof KubeApiError && error.status === 410) {
          logger.info({ resource }, 'watch expired (410 Gone): relisting');
          metrics?.relist?.(resource, 'expired');
          resourceVersion = undefined;
          followUpWanted = true;
          continue;
        }
        if (error instanceof WatchStalledError) {
          logger.warn({ resource, err: error.message }, 'watch went silent: relisting');
          metrics?.relist?.(resource, 'stalled');
          resourceVersion = undefined;
          continue;
        }
        metrics?.restart?.(resource);
        logger.warn({ resource, err: errorMessage(error), retryInMs: backoff }, 'list/watch failed: retrying');
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  /** Lists everything, replaces the store, tells handlers the difference; returns the list's resourceVersion. */
  async #relist(): Promise<string> {
    const { client, type, namespace, labelSelector, fieldSelector } = this.#options;
    // Each page goes into the store (transformed: records, not objects) as it arrives, so at most one page of objects is held.
    const seen = new Set<string>();
    const resourceVersion = await client.listPages<Raw>(type, { namespace, labelSelector, fieldSelector }, (page) => {
      for (const raw of page) {
        seen.add(cacheKey(raw));
        this.#upsert(raw);
      }
    });
    for (const object of this.list()) {
      if (!seen.has(cacheKey(object))) this.#remove(object);
    }
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      this.#markSynced();
    }
    this.#options.metrics?.heartbeat?.(this.#resource);
    return resourceVersion;
  }

  /** Runs one watch until it ends; returns the last resourceVersion seen and how it ended. */
  #watch(fromVersion: string): Promise<{ resourceVersion: string; error: unknown }> {
    const { client, type, namespace, labelSelector, fieldSelector } = this.#options;
    let resourceVersion = fromVersion;
    return new Promise((resolve) => {
      const onEvent = (event: WatchEvent<Raw>): void => {
        if (event.type === 'ERROR') {
          const status = event.object as unknown as { code?: number; reason?: string; message?: string };
          this.#stopWatch?.();
          resolve({ resourceVersion, error: new KubeApiError(status.code ?? 500, status.reason ?? 'Unknown', status.message ?? '', 'WATCH', type.plural) });
          return;
        }
        this.#options.metrics?.heartbeat?.(this.#resource);
        const objectVersion = event.object.metadata.resourceVersion;
        if (objectVersion) resourceVersion = objectVersion;
        if (event.type === 'BOOKMARK') return;
        if (event.type === 'DELETED') {
          this.#deleted(event.object);
        } else {
          this.#upsert(event.object);
        }
      };
      this.#stopWatch = client.watch<Raw>(type, {
        resourceVersion: fromVersion,
        namespace,
        labelSelector,
        fieldSelector,
        // Like client-go: end each watch after a random 5–10 minutes, spreading reconnects.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        inactivityMs: this.#options.watchdogMs ?? 150_000,
      }, onEvent, (error) => resolve({ resourceVersion, error }));
      this.#wake = () => resolve({ resourceVersion, error: null });
      // Stopped meanwhile: the stop function just returned never calls onDone, so end here.
      if (this.#stopped) {
        this.#stopWatch();
        this.#wake();
      }
    });
  }

  /**
   * This process is about to write `object`: until observeWrite or writeFailed
   * ends the write, the watch's events for it update the store but wake no
   * handler (WritesInFlight). Every beginWrite must be ended by one of the two.
   */
  beginWrite(object: KubeObject): void {
    if (this.#writesInFlight.size > LOOKOUT_SWEEP_SIZE) this.#sweepLookouts(Date.now() - LOOKOUT_MAX_AGE_MS);
    const key = cacheKey(object);
    const record = this.#writesInFlight.get(key);
    if (!record) this.#writesInFlight.set(key, { writes: 1, before: this.get(key) ?? null, held: [], answered: new Set() });
    // A lookout of an earlier write: the new write decides on the store as it is now.
    else if (record.writes++ === 0) record.before = this.get(key) ?? null;
  }

  /**
   * Records an object this process just wrote (the API server's response), so
   * that the next reconcile sees it before the watch delivers it; the watch
   * event then changes nothing and wakes no one. client-go's MutationCache does
   * the same. Handlers are not called for the write itself; it ends a write
   * begun with beginWrite.
   */
  observeWrite(raw: Raw): void {
    const key = cacheKey(raw);
    const previous = this.get(key);
    const deletedAt = this.#writesInFlight.get(key)?.deletedAt;
    const deletedSince = deletedAt !== undefined && previous === undefined && isOlderVersion(raw.metadata.resourceVersion ?? '', deletedAt);
    if (!deletedSince && (!previous || isNewer(raw, previous))) this.#put(previous, this.#transform(raw));
    this.#endWrite(key, raw);
  }

  /** A write begun with beginWrite got no answer: what the watch said meanwhile wakes the handlers now. */
  writeFailed(object: KubeObject): void {
    this.#endWrite(cacheKey(object), undefined);
  }

  #endWrite(key: string, answer: Raw | undefined): void {
    const record = this.#writesInFlight.get(key);
    if (!record || record.writes === 0) return;
    if (answer) {
      record.answered.add(answer.metadata.resourceVersion ?? '');
      if (!record.lastAnswer || isNewer(answer, record.lastAnswer)) record.lastAnswer = answer;
    }
    if (--record.writes > 0) return;
    const { held, answered, lastAnswer } = record;
    record.held = [];
    // A lookout while the watch has not yet delivered the last answer's own event (see WritesInFlight).
    const caughtUp = lastAnswer === undefined || record.deletedAt !== undefined || held.some((version) => !isOlderVersion(version, lastAnswer));
    if (caughtUp) this.#writesInFlight.delete(key);
    else record.lookoutSince = Date.now();
    const foreign = held.filter((version) => !answered.has(version));
    if (foreign.length > 0) this.#notifyForeign(key, record, foreign);
  }

  /**
   * Someone else changed the object (`foreign`: the resourceVersions no write
   * answered) while this process wrote it. A change from before the last answer
   * is in the answer, which the writer did not see: the handlers hear of it as
   * a change from what the writer decided on. A change after the answer: as a
   * change from the answer (what the writer now believes the object is), so
   * that one putting the object back as it was before the write still counts.
   * With no answer, from what the writer decided on.
   */
  #notifyForeign(key: string, record: WritesInFlight<T, Raw>, foreign: readonly string[]): void {
    const current = this.get(key);
    if (current === undefined) return; // deleted since: that woke the handlers already
    const { before, lastAnswer } = record;
    if (!lastAnswer || foreign.some((version) => isOlderVersion(version, lastAnswer))) this.#notifyHandlers(before ?? undefined, current);
    if (lastAnswer && current.metadata.resourceVersion !== lastAnswer.metadata.resourceVersion) this.#notifyHandlers(this.#transform(lastAnswer), current);
  }

  #sweepLookouts(before: number): void {
    for (const [key, record] of this.#writesInFlight) {
      if (record.writes === 0 && (record.lookoutSince ?? 0) < before) this.#writesInFlight.delete(key);
    }
  }

  /** Records that this process just deleted an object; its watch event then wakes no one. */
  observeDeletion(object: KubeObject): void {
    const previous = this.get(cacheKey(object));
    if (previous) this.#take(previous);
  }

  #transform(raw: Raw): T {
    return this.#options.transform ? this.#options.transform(raw) : raw as unknown as T;
  }

  /** Stores what the server sent unless it is not newer than what we hold (our own write, observed above): then nothing changed. */
  #upsert(raw: Raw): void {
    const key = cacheKey(raw);
    const record = this.#writesInFlight.get(key);
    if (record) {
      const version = raw.metadata.resourceVersion ?? '';
      if (record.writes > 0) {
        record.held.push(version);
      } else if (record.lastAnswer && isOlderVersion(version, record.lastAnswer)) {
        // A lookout: an event from before the last answer. If no write answered it, it is someone else's change,
        // which the answer in the store already holds but the writer did not see.
        if (!record.answered.has(version)) this.#notifyForeign(key, record, [version]);
        return;
      } else {
        this.#writesInFlight.delete(key); // the watch has caught up with the last answer
      }
    }
    const previous = this.get(key);
    if (previous !== undefined && !isNewer(raw, previous)) return;
    // Transformed only now: most watch events of a busy operator are its own writes, already held.
    const object = this.#transform(raw);
    this.#put(previous, object);
    if (record && record.writes > 0) return;
    this.#notifyHandlers(previous, object);
  }

  /** An add (nothing before) or an update, to every handler. */
  #notifyHandlers(previous: T | undefined, current: T): void {
    for (const handlers of this.#handlers) {
      this.#dispatch(() => (previous ? handlers.onUpdate?.(previous, current) : handlers.onAdd?.(current)));
    }
  }

  /**
   * The watch says the object is gone. A write of it still in flight keeps the
   * deletion's resourceVersion: an answer older than it must not put the object
   * back into the store (a deleted managed object would look present, and its
   * deletion would never be repaired).
   */
  #deleted(raw: Raw): void {
    const key = cacheKey(raw);
    const record = this.#writesInFlight.get(key);
    if (record && record.writes > 0) record.deletedAt = raw.metadata.resourceVersion ?? '';
    const previous = this.get(key);
    if (previous) this.#remove(previous);
  }

  #remove(object: T): void {
    this.#take(object);
    const key = cacheKey(object);
    if (!(this.#writesInFlight.get(key)?.writes)) this.#writesInFlight.delete(key);
    for (const handlers of this.#handlers) this.#dispatch(() => handlers.onDelete?.(object));
  }

  #find(namespace: string, name: string): T | undefined {
    const bucket = this.#namespaced.get(namespace);
    if (bucket === undefined) return undefined;
    if (bucket instanceof Map) return bucket.get(name);
    if (Array.isArray(bucket)) return bucket.find((object) => object.metadata.name === name);
    return bucket.metadata.name === name ? bucket : undefined;
  }

  /**
   * Stores `object` in place of `previous` (same key), and tells the store
   * listeners. Arrays are replaced, not grown, so each holds exactly its
   * objects: V8 gives a pushed-to (or spread) array room for sixteen more,
   * ten thousand times over; concat allocates exactly.
   */
  #put(previous: T | undefined, object: T): void {
    const { name, namespace } = object.metadata;
    if (!namespace) {
      this.#cluster.set(name, object);
    } else {
      const bucket = this.#namespaced.get(namespace);
      if (bucket === undefined) this.#namespaced.set(namespace, object);
      else if (bucket instanceof Map) bucket.set(name, object);
      else if (!Array.isArray(bucket)) this.#namespaced.set(namespace, previous ? object : [bucket, object]);
      else if (previous) bucket[bucket.indexOf(previous)] = object;
      else if (bucket.length < BUCKET_ARRAY_MAX) this.#namespaced.set(namespace, bucket.concat([object]));
      else this.#namespaced.set(namespace, new Map([...bucket, object].map((o) => [o.metadata.name, o])));
    }
    if (!previous) this.#size++;
    this.#notifyStore(previous, object);
  }

  /** Takes a stored object out, and tells the store listeners. */
  #take(object: T): void {
    const { name, namespace } = object.metadata;
    if (!namespace) {
      this.#cluster.delete(name);
    } else {
      const bucket = this.#namespaced.get(namespace);
      if (bucket instanceof Map) {
        bucket.delete(name);
        if (bucket.size === 0) this.#namespaced.delete(namespace);
      } else if (Array.isArray(bucket)) {
        const index = bucket.indexOf(object);
        const rest = index < 0 ? bucket : bucket.slice(0, index).concat(bucket.slice(index + 1));
        if (rest.length > 1) this.#namespaced.set(namespace, rest);
        else if (rest.length === 1) this.#namespaced.set(namespace, rest[0] as T);
        else this.#namespaced.delete(namespace);
      } else if (bucket?.metadata.name === name) {
        this.#namespaced.delete(namespace);
      }
    }
    this.#size--;
    this.#notifyStore(object, undefined);
  }

  #notifyStore(previous: T | undefined, current: T | undefined): void {
    for (const listener of this.#storeListeners) this.#dispatch(() => listener(previous, current));
  }

  /** A failing handler is logged; it must not end the watch or skip the other handlers. */
  #dispatch(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#options.logger.error({ resource: this.#resource, err: errorMessage(error) }, 'informer event handler failed');
    }
  }

  async #sleep(ms: number): Promise<void> {
    const ac = new AbortController();
    this.#wake = () => ac.abort();
    await sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined);
  }
}

/**
 * `a` against `b` as etcd revisions: negative, 0 or positive; undefined when
 * either is missing or not a decimal number. Resource versions are opaque, but
 * every API server in practice uses etcd revisions, as client-go's
 * MutationCache assumes.
 */
function compareVersions(a: string | undefined, b: string | undefined): number | undefined {
  if (a === undefined || b === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  const difference = BigInt(a) - BigInt(b);
  return difference === 0n ? 0 : difference < 0n ? -1 : 1;
}

/** Whether `version` is older than `than` (a resourceVersion, or an object's); opaque versions never are. */
function isOlderVersion(version: string, than: KubeObject | string): boolean {
  return (compareVersions(version, typeof than === 'string' ? than : than.metadata.resourceVersion) ?? 0) < 0;
}

/** Whether `a` is a later version than `b`; an opaque version that differs counts as newer. */
export function isNewer(a: KubeObject, b: KubeObject): boolean {
  const av = a.metadata.resourceVersion;
  const bv = b.metadata.resourceVersion;
  if (av === bv) return false;
  return (compareVersions(av, bv) ?? 1) > 0;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
