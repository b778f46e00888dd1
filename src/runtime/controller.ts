// A controller in controller-runtime's sense: one workqueue of keys and one
// reconcile function, run with the same metrics and logs whatever the keys
// are. A reconcile that fails is logged once, here, and retried with backoff.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { OperatorMetrics } from './metrics.ts';
import { WorkQueue, type Priority } from './workqueue.ts';

/** What a reconcile tells its controller. */
export interface ReconcileSummary {
  /** Run the key again after this many milliseconds. */
  readonly requeueAfterMs?: number;
  /** Part of the work was refused (a 403, a 422): run the key again after the queue's refusal backoff. */
  readonly refused?: boolean;
  /** A log line: at info when something `changed`, at debug otherwise; none when absent. */
  readonly log?: { readonly changed: boolean; readonly message: string; readonly fields: Record<string, unknown> };
}

export interface ControllerOptions {
  /** The `controller` label of the reconcile metrics, such as `namespace`. */
  readonly name: string;
  /** The workqueue's name in its metrics, such as `namespaces`. */
  readonly queueName: string;
  /** The log field that names the key, such as `namespace`. */
  readonly keyField: string;
  readonly concurrency: number;
  readonly reconcile: (key: string) => Promise<ReconcileSummary>;
  readonly logger: Logger;
  readonly metrics: OperatorMetrics;
}

export class Controller {
  readonly #options: ControllerOptions;
  readonly #queue: WorkQueue;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#queue = new WorkQueue((key) => this.#run(key), {
      name: options.queueName, concurrency: options.concurrency, metrics: options.metrics.workQueue(options.queueName),
    });
  }

  add(key: string, priority: Priority = 'normal'): void {
    this.#queue.add(key, priority);
  }

  addAfter(key: string, delayMs: number): void {
    this.#queue.addAfter(key, delayMs);
  }

  /** Stops intake and waits for the reconciles under way. */
  shutdown(): Promise<void> {
    return this.#queue.shutdown();
  }

  async #run(key: string): Promise<{ requeueAfterMs?: number; refused?: boolean }> {
    const { name, keyField, logger, metrics } = this.#options;
    const started = performance.now();
    const reconcileId = randomBytes(6).toString('hex');
    const observe = (result: 'success' | 'error') => {
      metrics.reconcileSeconds.observe({ controller: name, result }, (performance.now() - started) / 1000);
      metrics.reconcileTotal.inc({ controller: name, result });
      return Math.round(performance.now() - started);
    };
    try {
      const summary = await this.#options.reconcile(key);
      const durationMs = observe('success');
      if (summary.log) logger[summary.log.changed ? 'info' : 'debug']({ reconcileId, [keyField]: key, ...summary.log.fields, durationMs }, summary.log.message);
      return { requeueAfterMs: summary.requeueAfterMs, refused: summary.refused };
    } catch (error) {
      const durationMs = observe('error');
      logger.warn({
        reconcileId, [keyField]: key, err: error instanceof Error ? error.message : String(error), retries: this.#queue.numRequeues(key), durationMs,
      }, `${name} reconcile failed; retrying with backoff`);
      throw error;
    }
  }
}
