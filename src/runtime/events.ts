// Records Kubernetes Events (core/v1), where `kubectl describe` and
// `kubectl get events` show them. Repeats of the same event for the same object
// within a window update the count of the first instead of piling up, like
// client-go's event correlator; and a failure to record is logged, never thrown:
// an Event is never worth failing a reconcile for.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { OPERATOR_NAME } from '../api/constants.ts';
import type { KubeClient, ResourceType } from './kube.ts';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

const EVENTS: ResourceType = { apiVersion: 'v1', kind: 'Event', plural: 'events', namespaced: true };

interface Recent {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  lastSent: number;
}

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #recent = new Map<string, Recent>();
  /** Writes under way, so that shutdown can wait for them. */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(client: KubeClient, logger: Logger, windowMs = 10 * 60_000) {
    this.#client = client;
    this.#logger = logger;
    this.#windowMs = windowMs;
  }

  /** Fire and forget: the returned promise never rejects; flush() waits for it. */
  event(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const write = this.#write(object, type, reason, message);
    this.#inFlight.add(write);
    void write.finally(() => this.#inFlight.delete(write));
    return write;
  }

  /** Resolves when every Event write started so far has finished. */
  async flush(): Promise<void> {
    await Promise.all([...this.#inFlight]);
  }

  async #write(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = Date.now();
    const key = `${object.kind}/${object.namespace ?? ''}/${object.name}/${object.uid ?? ''}/${reason}/${message}`;
    this.#forgetOlderThan(now - this.#windowMs);
    // Events about cluster-scoped objects (a Namespace, a SecurityBaseline) live in `default`:
    // the API server requires it, and `kubectl describe` looks for them there.
    const namespace = object.namespace ?? 'default';
    const timestamp = new Date(now).toISOString();
    const recent = this.#recent.get(key);
    try {
      if (recent) {
        recent.count += 1;
        recent.lastSent = now;
        await this.#client.mergePatch(EVENTS, recent.name, recent.namespace, { count: recent.count, lastTimestamp: timestamp });
        return;
      }
      const name = `${object.name}.${randomBytes(8).toString('hex')}`;
      await this.#client.create(EVENTS, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: object,
        type,
        reason,
        message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
        count: 1,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        source: { component: OPERATOR_NAME },
        reportingComponent: OPERATOR_NAME,
        reportingInstance: process.env.HOSTNAME ?? OPERATOR_NAME,
      });
      this.#recent.set(key, { name, namespace, count: 1, firstTimestamp: timestamp, lastSent: now });
    } catch (error) {
      this.#logger.warn({ err: error instanceof Error ? error.message : String(error), reason, object: `${object.kind}/${object.name}` }, 'could not record event');
    }
  }

  #forgetOlderThan(cutoff: number): void {
    for (const [key, recent] of this.#recent) {
      if (recent.lastSent < cutoff) this.#recent.delete(key);
    }
  }
}
