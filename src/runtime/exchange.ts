// One HTTP request and its whole answer, through undici's Dispatcher.dispatch
// with a handler that gathers the answer's bytes. undici's own
// Dispatcher.request wraps every answer in a Readable stream, makes each
// request an AsyncResource and, to honour an AbortSignal, registers a listener
// on it; with AbortSignal.timeout that is also a signal, a weak reference and a
// timer per request. The operator reads every answer whole and needs none of
// it: a plain timer bounds the exchange, answer included, and the handler
// keeps the chunks until the end. About 0.1 ms of CPU per request less on a
// 2-core machine, where a cold start makes nine requests per namespace
// (docs/performance.md).
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from './dispatcher.ts';

/** What came back: the status, the headers and the body as text. */
export interface Exchanged {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** A request that had no complete answer in time (a network blackhole, an overloaded server): abandoned, its stream reset; retriable. */
export class RequestTimeoutError extends Error {
  constructor(method: string, path: string, timeoutMs: number) {
    super(`${method} ${path}: no complete answer within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

export interface ExchangeRequest {
  readonly origin: string;
  /** The path with its query. */
  readonly path: string;
  readonly method: Dispatcher.HttpMethod;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/**
 * Sends `request` and resolves with its whole answer, or rejects: with
 * RequestTimeoutError once `timeoutMs` is up, or with undici's error.
 * `spentMs` is the part of the timeout an earlier attempt of the same request
 * already used: a request sent again keeps the deadline it started with.
 */
export function exchange(dispatcher: Dispatcher, request: ExchangeRequest, timeoutMs: number, spentMs = 0): Promise<Exchanged> {
  const { promise, resolve, reject } = Promise.withResolvers<Exchanged>();
  // The message names the path without its query, as the API server's own errors do.
  const timeout = () => new RequestTimeoutError(request.method, request.path.split('?')[0] ?? request.path, timeoutMs);
  const handler = new GatheringHandler(resolve, reject, Math.max(0, timeoutMs - spentMs), timeout);
  try {
    dispatcher.dispatch({ origin: request.origin, path: request.path, method: request.method, headers: request.headers, body: request.body }, handler);
  } catch (error) {
    handler.onResponseError(undefined, error as Error);
  }
  return promise;
}

/** undici's handler interface (DispatchHandler) for one exchange: whatever comes after it settled is ignored. */
class GatheringHandler implements Dispatcher.DispatchHandler {
  readonly #resolve: (answer: Exchanged) => void;
  readonly #reject: (error: Error) => void;
  readonly #timer: NodeJS.Timeout;
  #controller: Dispatcher.DispatchController | undefined;
  #reason: Error | undefined;
  #done = false;
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  readonly #chunks: Buffer[] = [];

  constructor(resolve: (answer: Exchanged) => void, reject: (error: Error) => void, timeoutMs: number, timeout: () => Error) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#timer = setTimeout(() => this.abandon(timeout()), timeoutMs);
    // A request in flight must not keep the process alive on its own.
    this.#timer.unref();
  }

  /** Gives up: the caller gets `reason` now; the stream is reset once it has started (or as it starts). */
  abandon(reason: Error): void {
    if (!this.#settle()) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#reject(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#reason) controller.abort(this.#reason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx answers are informational: the real one follows.
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#headers = headers;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#done) this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (!this.#settle()) return;
    const chunks = this.#chunks;
    const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
    this.#resolve({ status: this.#status, headers: this.#headers, text });
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.#settle()) this.#reject(error);
  }

  /** Marks the exchange over; false if it already was. */
  #settle(): boolean {
    if (this.#done) return false;
    this.#done = true;
    clearTimeout(this.#timer);
    return true;
  }
}
