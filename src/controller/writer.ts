// Every write the reconciles make, in one place: the request, the cache that
// must learn of it at once (so the next reconcile does not write again while
// the watch catches up, as client-go's MutationCache), and the write metric.
import { BASELINE_LABEL, MANAGED_BY_LABEL, RELEASED_FIELD_MANAGER } from '../api/constants.ts';
import type { DeletionPolicy } from '../api/types.ts';
import { KubeApiError, isNotFound } from '../runtime/errors.ts';
import type { KubeClient, KubeObject, KubeObjectBody, ResourceType } from '../runtime/kube.ts';

/** The cache a write lands in (an Informer): told of what the API server answered, or of a deletion. */
export interface WriteTarget<T extends KubeObject = KubeObject> {
  /** A write of `object` is about to be sent; observeWrite or writeFailed ends it. */
  beginWrite(object: KubeObject): void;
  observeWrite(object: T): void;
  writeFailed(object: KubeObject): void;
  observeDeletion(object: KubeObject): void;
}

/** Counts a write (security_baseline_writes_total). */
export type WriteCounter = (kind: string, verb: 'apply' | 'create' | 'delete' | 'orphan') => void;

/**
 * A resourceVersion no object has (the largest etcd revision). An apply that
 * carries it creates the object when none of its name exists (there is no
 * version to compare), and is refused with 409 Conflict when one does.
 */
export const NO_OBJECT_VERSION = '18446744073709551615';

export class CachedWriter {
  readonly #client: KubeClient;
  readonly #count: WriteCounter;

  constructor(client: KubeClient, count: WriteCounter) {
    this.#client = client;
    this.#count = count;
  }

  /**
   * The live object, or undefined when it does not exist: a read for what a
   * label-filtered cache cannot see, or for the fields a cached record does not
   * keep. It does not go into a cache: it may be someone else's object.
   */
  async get(type: ResourceType, name: string, namespace?: string): Promise<KubeObject | undefined> {
    try {
      return await this.#client.get(type, name, namespace);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Server-side apply; the answer goes into `cache` when given. */
  async apply<T extends KubeObject>(type: ResourceType, object: KubeObjectBody, cache?: WriteTarget<T>, options: { subresource?: string } = {}): Promise<T> {
    const applied = await this.#applyInto(type, object, cache, options);
    this.#count(type.kind, 'apply');
    return applied;
  }

  /** The apply, with `cache` told it is in flight, then of its answer (or that there is none). */
  #applyInto<T extends KubeObject>(type: ResourceType, object: KubeObjectBody, cache: WriteTarget<T> | undefined, options: { subresource?: string; fieldManager?: string }): Promise<T> {
    return this.#writeInto(object, cache, () => this.#client.apply<T>(type, object, options));
  }

  /** A write of `object`, with `cache` told it is in flight, then of its answer (or that there is none). */
  async #writeInto<T extends KubeObject>(object: KubeObjectBody, cache: WriteTarget<T> | undefined, send: () => Promise<T>): Promise<T> {
    cache?.beginWrite(object);
    let written: T;
    try {
      written = await send();
    } catch (error) {
      cache?.writeFailed(object);
      throw error;
    }
    cache?.observeWrite(written);
    return written;
  }

  /**
   * Creates the object by server-side apply only when no object of its name
   * exists, without reading first: the apply carries a resourceVersion as a
   * precondition (NO_OBJECT_VERSION), which the API server checks against an
   * existing object only. Returns undefined, having written nothing, when an
   * object of that name exists (409 Conflict), and when the API server
   * refuses the request as invalid: the caller then reads and decides as it
   * would have without this, and an invalid object gets its usual error.
   * The created object has the operator's Apply entry in its managedFields,
   * exactly as an ordinary apply would have given it.
   */
  async createByApply<T extends KubeObject>(type: ResourceType, object: KubeObjectBody, cache?: WriteTarget<T>): Promise<T | undefined> {
    return absentIfRefused(this.apply(type, { ...object, metadata: { ...object.metadata, resourceVersion: NO_OBJECT_VERSION } }, cache));
  }

  /**
   * Creates the object (a plain create, not an apply) only when no object of
   * its name exists; undefined as createByApply. For objects the operator
   * recognises as its own by their content, not by managedFields (the
   * compliance Report: by its source): a custom resource's create cost the
   * API server less CPU than its server-side apply in every round measured
   * (8.0–9.2 against 9.3–11.0 ms a Report; docs/performance.md), and the later
   * applies, forced, take the fields over from the create's entry.
   */
  async createIfAbsent<T extends KubeObject>(type: ResourceType, object: KubeObjectBody, cache?: WriteTarget<T>): Promise<T | undefined> {
    const created = await absentIfRefused(this.#writeInto(object, cache, () => this.#client.create<T>(type, object)));
    if (created) this.#count(type.kind, 'create');
    return created;
  }

  /**
   * Deletes the object (only the version seen: its resourceVersion, and its
   * uid when known; cached records keep no uid), or with `Orphan` strips the
   * ownership labels and leaves it. Either way it leaves the label-filtered
   * cache. An object already gone is fine. Returns whether it wrote.
   */
  async release(type: ResourceType, object: KubeObject, cache: WriteTarget | undefined, policy: DeletionPolicy): Promise<boolean> {
    const { name, namespace, uid, resourceVersion } = object.metadata;
    try {
      if (policy === 'Orphan') {
        await this.#client.mergePatch(type, name, namespace, { metadata: { labels: { [MANAGED_BY_LABEL]: null, [BASELINE_LABEL]: null } } });
      } else {
        await this.#client.delete(type, name, namespace, { uid, resourceVersion });
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
      cache?.observeDeletion(object);
      return false;
    }
    cache?.observeDeletion(object);
    this.#count(type.kind, policy === 'Orphan' ? 'orphan' : 'delete');
    return true;
  }

  /**
   * Applies `object` as RELEASED_FIELD_MANAGER, which then co-owns its fields: the
   * operator's own apply can drop them afterwards and the values stay.
   */
  async handOver<T extends KubeObject>(type: ResourceType, object: KubeObjectBody, cache?: WriteTarget<T>): Promise<T> {
    const applied = await this.#applyInto(type, object, cache, { fieldManager: RELEASED_FIELD_MANAGER });
    this.#count(type.kind, 'orphan');
    return applied;
  }
}

/** undefined when the API server refused the write as invalid (400, 422) or because an object of its name exists (409). */
async function absentIfRefused<T>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof KubeApiError && [400, 409, 422].includes(error.status)) return undefined;
    throw error;
  }
}
