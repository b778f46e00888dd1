// Every write the reconciles make, in one place: the request, the cache that
// must learn of it at once (so the next reconcile does not write again while
// the watch catches up, as client-go's MutationCache), and the write metric.
import { BASELINE_LABEL, MANAGED_BY_LABEL, RELEASED_FIELD_MANAGER } from '../api/constants.ts';
import type { DeletionPolicy } from '../api/types.ts';
import { isNotFound } from '../runtime/errors.ts';
import type { KubeClient, KubeObject, KubeObjectBody, ResourceType } from '../runtime/kube.ts';

/** The cache a write lands in (an Informer): told of what the API server answered, or of a deletion. */
export interface WriteTarget<T extends KubeObject = KubeObject> {
  observeWrite(object: T): void;
  observeDeletion(object: KubeObject): void;
}

/** Counts a write (security_baseline_writes_total). */
export type WriteCounter = (kind: string, verb: 'apply' | 'delete' | 'orphan') => void;

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
    const applied = await this.#client.apply<T>(type, object, options);
    cache?.observeWrite(applied);
    this.#count(type.kind, 'apply');
    return applied;
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
    const applied = await this.#client.apply<T>(type, object, { fieldManager: RELEASED_FIELD_MANAGER });
    cache?.observeWrite(applied);
    this.#count(type.kind, 'orphan');
    return applied;
  }
}
