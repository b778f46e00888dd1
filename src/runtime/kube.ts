// A small JSON client over client-node's configuration and HTTP stack. It
// speaks raw JSON (no model classes), so list, watch and apply all hand back the
// same plain shapes, and it reports every request so metrics and tests can
// count API writes.
//
// Nothing of client-node is imported statically: its package root loads the
// whole generated API surface, which the operator never uses, and the hooks
// that keep its modules small apply only to modules loaded after them
// (kubeconfig.ts). RequestContext is loaded on the first request.
//
// Requests go straight to undici's Dispatcher.dispatch, on the connection pool
// client-node makes from the kubeconfig (TLS, proxies), with a handler that
// gathers the answer's bytes (src/runtime/exchange.ts). Not through fetch:
// fetch's WHATWG layers (Request and Headers objects, web streams) cost about
// 0.3 ms of CPU per request, half of all the client's cost, and as much again
// in garbage; nor through Dispatcher.request, whose stream, async resource and
// abort listener per request cost about 0.1 ms more (docs/performance.md).
import type { KubeConfig } from '@kubernetes/client-node';
import type { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher } from './dispatcher.ts';
import { FIELD_MANAGER } from '../api/constants.ts';
import { AdaptiveLimit } from './concurrency.ts';
import { KubeApiError, NotLeaderError } from './errors.ts';
import { exchange, type Exchanged } from './exchange.ts';
import { requestContextClass } from './kubeconfig.ts';

// Callers catch a request's timeout as the client's.
export { RequestTimeoutError } from './exchange.ts';

/** The methods the client sends, by client-node's names (dist/gen/http/http.js). */
export const HttpMethod = { GET: 'GET', POST: 'POST', PUT: 'PUT', PATCH: 'PATCH', DELETE: 'DELETE' } as const;
export type HttpMethod = (typeof HttpMethod)[keyof typeof HttpMethod];

/** The fields every Kubernetes object has that the operator reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    managedFields?: ManagedFieldsEntry[];
  };
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
}

/** Enough to build a URL for a kind. */
export interface ResourceType {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

/** An object to send: the identity fields plus whatever body the kind has. */
export type KubeObjectBody = KubeObject & { [field: string]: unknown };

export interface ListResult<T> {
  readonly items: T[];
  readonly resourceVersion: string;
}

export interface ListOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Objects per page (default 500). */
  readonly limit?: number;
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'apply' | 'patch' | 'update' | 'delete';

export interface RequestObserver {
  (verb: Verb, resource: string, status: number, durationMs: number): void;
}

export interface WatchEvent<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T;
}

export function resourcePath(type: ResourceType, namespace?: string, name?: string): string {
  const base = type.apiVersion.includes('/') ? `/apis/${type.apiVersion}` : `/api/${type.apiVersion}`;
  const ns = type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${type.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export interface KubeClientOptions {
  /**
   * How long a request (not a watch) may take, answer body included, before it
   * is abandoned; default 30 s. Without a bound, a request sent into a network
   * blackhole waits forever, and with it the reconcile and the worker that sent
   * it: the operator would stop without crashing.
   */
  readonly requestTimeoutMs?: number;
  /**
   * The most requests (not watches) in flight at once while the API server
   * throttles nothing; default 128, above the about 100 that 48
   * namespace workers keep in flight at a cold start. A 429 lowers
   * the bound, admitted requests raise it back (src/runtime/concurrency.ts).
   */
  readonly maxInFlight?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_IN_FLIGHT = 128;
/** How long the kubeconfig's credential headers are reused before client-node is asked again. */
const CREDENTIALS_TTL_MS = 1_000;
/** How often a request turned away with 429 is sent again before its caller sees the error. */
export const THROTTLE_RETRIES = 5;

interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  resource?: string;
  /** Receives the API server's warnings (Warning headers), such as Pod Security's about existing pods. */
  onWarnings?: (warnings: string[]) => void;
}

/** A request's body, serialised once for all its attempts. */
interface Body {
  readonly text: string;
  readonly contentType: string;
}

/** Where one request goes: `path` with its query, for the dispatcher; `pathname` without, for messages; `url` whole, for credentials. */
interface Target {
  readonly origin: string;
  readonly path: string;
  readonly pathname: string;
  readonly url: string;
}

interface Authenticated {
  readonly headers: Record<string, string>;
  readonly dispatcher: Dispatcher;
}

/** What one HTTP exchange answered: its status, parsed body and Retry-After header. */
interface Answer {
  status: number;
  body: unknown;
  retryAfter?: string;
}

/** Retry-After in seconds (what the API server sends), from 1 to 10 s; 1 s when absent or a date. */
export function retryAfterMs(header: string | undefined): number {
  const seconds = Number(header);
  return (Number.isInteger(seconds) ? Math.min(Math.max(seconds, 1), 10) : 1) * 1000;
}

export class KubeClient {
  readonly config: KubeConfig;
  readonly #observers: RequestObserver[] = [];
  readonly #requestTimeoutMs: number;
  readonly #inFlight: AdaptiveLimit;

  constructor(config: KubeConfig, options: KubeClientOptions = {}) {
    this.config = config;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#inFlight = new AdaptiveLimit({ max: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT });
  }

  /** The current bound on requests in flight: below its maximum while the API server throttles this client. */
  get inFlightLimit(): number {
    return this.#inFlight.limit;
  }

  /**
   * Writes (apply, merge patch, create, delete) are refused while the guard
   * says no: a replica that is not the leader must never write, even by a bug.
   */
  setWriteGuard(guard: () => boolean): void {
    this.#writeGuard = guard;
  }

  #writeGuard: () => boolean = () => true;

  #checkWrite(verb: Verb, path: string): void {
    if (!this.#writeGuard()) throw new NotLeaderError(`${verb} ${path} refused: this replica does not hold the leader lease`);
  }

  /**
   * The kubeconfig's credentials for one request (headers: tokens and exec
   * plugins are asked each time), and the one long-lived connection pool all
   * requests share. client-node makes a new undici Agent for every request, so
   * no connection would ever be reused: each request paid a TLS handshake
   * (with the client certificate), and under load the operator spent its CPU
   * and hundreds of MiB of native memory on them. The TLS settings are fixed
   * for the life of the process.
   *
   * The headers are asked for at most once a second: client-node builds TLS
   * options and an Agent each time (about 0.2 ms of CPU a request, under load),
   * and a token file or exec plugin changes its credential far less often. A
   * rotated token is used within a second.
   */
  #authenticated(url: string, method: HttpMethod): Authenticated | Promise<Authenticated> {
    const now = performance.now();
    if (this.#dispatcher === undefined || this.#credentials === undefined || now - this.#credentials.at >= CREDENTIALS_TTL_MS) {
      return this.#authenticate(url, method, now);
    }
    // A copy: the caller adds its own headers.
    return { headers: { ...this.#credentials.headers }, dispatcher: this.#dispatcher };
  }

  async #authenticate(url: string, method: HttpMethod, now: number): Promise<Authenticated> {
    this.#requestContext ??= requestContextClass();
    const ctx = new (await this.#requestContext)(url, method);
    await this.config.applySecurityAuthentication(ctx);
    // A plain-HTTP server (kubectl proxy) gets no dispatcher from client-node.
    const dispatcher = this.#dispatcher ??= (ctx.getDispatcher() as Dispatcher | undefined) ?? new Agent();
    const headers = ctx.getHeaders();
    this.#credentials = { headers, at: now };
    return { headers: { ...headers }, dispatcher };
  }

  #credentials: { readonly headers: Readonly<Record<string, string>>; readonly at: number } | undefined;
  #dispatcher: Dispatcher | undefined;
  #requestContext: Promise<typeof RequestContext> | undefined;

  /**
   * One HTTP exchange with the kubeconfig's credentials, JSON accepted, its
   * answer gathered whole within the request timeout, less the `spentMs` an
   * earlier attempt of the same request used.
   */
  #send(target: Target, method: HttpMethod, body: Body | undefined, spentMs = 0): Promise<Exchanged> {
    const credentials = this.#authenticated(target.url, method);
    if (credentials instanceof Promise) return credentials.then((ready) => this.#sendWith(ready, target, method, body, spentMs));
    return this.#sendWith(credentials, target, method, body, spentMs);
  }

  #sendWith({ headers, dispatcher }: Authenticated, target: Target, method: HttpMethod, body: Body | undefined, spentMs: number): Promise<Exchanged> {
    headers['Accept'] = 'application/json';
    if (body) headers['Content-Type'] = body.contentType;
    return exchange(dispatcher, { origin: target.origin, path: target.path, method, headers, body: body?.text }, this.#requestTimeoutMs, spentMs);
  }

  /** Where a path of the API goes: the kubeconfig's server (with any path prefix it has) and the query. */
  #target(path: string, query: RequestOptions['query']): Target {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    if (this.#server?.url !== cluster.server) {
      const url = new URL(cluster.server);
      this.#server = { url: cluster.server, origin: url.origin, prefix: url.pathname.replace(/\/$/, '') };
    }
    const { origin, prefix } = this.#server;
    let search = '';
    for (const key in query) {
      const value = query[key];
      if (value !== undefined) search += `${search ? '&' : '?'}${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
    }
    return { origin, pathname: prefix + path, path: prefix + path + search, url: origin + prefix + path + search };
  }

  #server: { readonly url: string; readonly origin: string; readonly prefix: string } | undefined;

  /** Called after every request with its verb, resource plural and HTTP status. */
  observe(observer: RequestObserver): void {
    this.#observers.push(observer);
  }

  /**
   * One API request. A 429 (API Priority and Fairness, or max-requests-inflight,
   * turning it away) is retried here after the Retry-After the API server sends,
   * up to THROTTLE_RETRIES times, as client-go does: without it a throttled
   * request failed at once, its reconcile failed, and the workqueue retried it
   * within milliseconds, so the operator answered throttling with more requests
   * (about 300 a second with 3 seats, in test/chaos/throttling.test.ts). Every
   * attempt waits for a place within the adaptive bound on requests in flight,
   * and gives it back while it sleeps.
   */
  async request<T>(verb: Verb, method: HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    const target = this.#target(path, options.query);
    const resource = options.resource ?? path.split('?')[0]?.split('/').filter(Boolean).at(-1) ?? '';
    const body = options.body === undefined ? undefined : { text: JSON.stringify(options.body), contentType: options.contentType ?? 'application/json' };
    for (let retries = 0; ; retries++) {
      if (!this.#inFlight.tryAcquire()) await this.#inFlight.acquire();
      let answer: Answer | undefined;
      try {
        answer = await this.#attempt(verb, method, target, resource, body, options.onWarnings);
      } finally {
        this.#inFlight.release(answer === undefined ? 'failed' : answer.status === 429 ? 'throttled' : 'admitted');
      }
      if (answer.status === 429 && retries < THROTTLE_RETRIES) {
        await sleep(retryAfterMs(answer.retryAfter));
        continue;
      }
      if (answer.status >= 400) throw apiError(answer.status, answer.body, method, target.pathname);
      return answer.body as T;
    }
  }

  /** One HTTP exchange, reported to the observers, bounded by the request timeout. */
  async #attempt(verb: Verb, method: HttpMethod, target: Target, resource: string, body: Body | undefined, onWarnings: RequestOptions['onWarnings']): Promise<Answer> {
    const started = performance.now();
    let status = 0;
    try {
      let exchanged: Exchanged;
      try {
        exchanged = await this.#send(target, method, body);
      } catch (error) {
        // A kept-alive connection the server closed as it was reused: as client-go does, a read is sent again, once,
        // within what is left of the request timeout (a reset late in a stalled exchange does not double it).
        if (method !== HttpMethod.GET || !isConnectionReset(error)) throw error;
        exchanged = await this.#send(target, method, body, performance.now() - started);
      }
      status = exchanged.status;
      onWarnings?.(parseWarnings(exchanged.headers['warning']));
      // Errors outside the API machinery (a 404 for an unknown group) come back as plain text.
      return { status, body: parseJson(exchanged.text), retryAfter: headerText(exchanged.headers['retry-after']) };
    } finally {
      for (const observer of this.#observers) observer(verb, resource, status, performance.now() - started);
    }
  }

  async list<T extends KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    const resourceVersion = await this.listPages<T>(type, options, (page) => {
      for (const item of page) items.push(item);
    });
    return { items, resourceVersion };
  }

  /**
   * Lists page by page (`limit` objects a page), handing each page to `onPage`
   * as it arrives, and returns the list's resourceVersion. A caller that keeps
   * less than the objects (an informer keeping records) then never holds more
   * than one page of them: over 30,000 namespaces, whole lists of objects with
   * their managedFields outgrew the operator's heap at a restart.
   */
  async listPages<T extends KubeObject>(type: ResourceType, options: ListOptions, onPage: (items: T[]) => void): Promise<string> {
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.request<{ items: T[]; metadata: { resourceVersion: string; continue?: string } }>(
        'list', HttpMethod.GET, resourcePath(type, options.namespace), {
          resource: type.plural,
          query: {
            labelSelector: options.labelSelector,
            fieldSelector: options.fieldSelector,
            limit: String(options.limit ?? 500),
            continue: continueToken,
          },
        });
      for (const item of page.items) {
        // Items of a list carry no apiVersion/kind; put them back so cached objects look like watched ones.
        item.apiVersion = type.apiVersion;
        item.kind = type.kind;
      }
      onPage(page.items);
      resourceVersion = page.metadata.resourceVersion;
      continueToken = page.metadata.continue || undefined;
    } while (continueToken);
    return resourceVersion;
  }

  get<T extends KubeObject>(type: ResourceType, name: string, namespace?: string): Promise<T> {
    return this.request<T>('get', HttpMethod.GET, resourcePath(type, namespace, name), { resource: type.plural });
  }

  /**
   * Server-side apply with the operator's field manager (or another one of its
   * own, to hand fields over); `force` takes over fields other managers changed.
   */
  apply<T extends KubeObject>(type: ResourceType, object: KubeObjectBody, options: { force?: boolean; subresource?: string; fieldManager?: string } = {}): Promise<T> {
    const path = resourcePath(type, object.metadata.namespace, object.metadata.name) + (options.subresource ? `/${options.subresource}` : '');
    this.#checkWrite('apply', path);
    return this.request<T>('apply', HttpMethod.PATCH, path, {
      resource: type.plural,
      query: { fieldManager: options.fieldManager ?? FIELD_MANAGER, force: options.force === false ? undefined : 'true' },
      body: object,
      contentType: 'application/apply-patch+yaml',
    });
  }

  /**
   * What a server-side apply would do, without doing it (dryRun=All): the
   * object the API server would store and the warnings its admission gives.
   * Nothing is written, so it is allowed on a replica that does not lead.
   */
  async dryRunApply<T extends KubeObject>(type: ResourceType, object: KubeObjectBody): Promise<{ object: T; warnings: string[] }> {
    const warnings: string[] = [];
    const result = await this.request<T>('apply', HttpMethod.PATCH, resourcePath(type, object.metadata.namespace, object.metadata.name), {
      resource: type.plural,
      query: { fieldManager: FIELD_MANAGER, force: 'true', dryRun: 'All' },
      body: object,
      contentType: 'application/apply-patch+yaml',
      onWarnings: (received) => warnings.push(...received),
    });
    return { object: result, warnings };
  }

  /** A JSON merge patch (status writes, label removal). */
  mergePatch<T extends KubeObject>(type: ResourceType, name: string, namespace: string | undefined, patch: unknown, subresource?: string): Promise<T> {
    this.#checkWrite('patch', resourcePath(type, namespace, name));
    return this.request<T>('patch', HttpMethod.PATCH, resourcePath(type, namespace, name) + (subresource ? `/${subresource}` : ''), {
      resource: type.plural,
      query: { fieldManager: FIELD_MANAGER },
      body: patch,
      contentType: 'application/merge-patch+json',
    });
  }

  create<T extends KubeObject>(type: ResourceType, object: KubeObjectBody): Promise<T> {
    this.#checkWrite('create', resourcePath(type, object.metadata.namespace));
    return this.request<T>('create', HttpMethod.POST, resourcePath(type, object.metadata.namespace), {
      resource: type.plural, query: { fieldManager: FIELD_MANAGER }, body: object,
    });
  }

  /**
   * Deletes only the object seen: the one with this uid, at this
   * resourceVersion, whichever are given (never a same-named successor someone
   * else created, nor a version changed since).
   */
  async delete(type: ResourceType, name: string, namespace: string | undefined, seen: { uid?: string; resourceVersion?: string } = {}): Promise<void> {
    this.#checkWrite('delete', resourcePath(type, namespace, name));
    const preconditions = Object.fromEntries(Object.entries(seen).filter(([, value]) => value !== undefined));
    await this.request('delete', HttpMethod.DELETE, resourcePath(type, namespace, name), {
      resource: type.plural,
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', ...(Object.keys(preconditions).length > 0 ? { preconditions } : {}) },
    });
  }

  /**
   * Starts a watch; `onEvent` gets every event, `onDone` is called once when it
   * ends: with null when the server closed it, with an error otherwise, and
   * with a WatchStalledError when nothing (not even a bookmark) arrived for
   * `inactivityMs`. Returns a function that stops it (onDone is then not called).
   */
  watch<T>(type: ResourceType, options: {
    resourceVersion: string;
    /** Only this namespace's objects (a namespaced kind); every namespace when absent. */
    namespace?: string;
    labelSelector?: string;
    fieldSelector?: string;
    timeoutSeconds: number;
    inactivityMs: number;
  }, onEvent: (event: WatchEvent<T>) => void, onDone: (error: unknown) => void): () => void {
    const abort = new AbortController();
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (error: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      abort.abort();
      for (const observer of this.#observers) observer('watch', type.plural, error ? 0 : 200, 0);
      onDone(error);
    };
    // Restarted on every chunk: refresh() moves the one timer instead of making a new one each time.
    const resetTimer = (): void => {
      if (timer) {
        timer.refresh();
        return;
      }
      timer = setTimeout(() => finish(new WatchStalledError(type.plural, options.inactivityMs)), options.inactivityMs);
      timer.unref();
    };
    const run = async (): Promise<void> => {
      const target = this.#target(resourcePath(type, options.namespace), {
        watch: 'true',
        allowWatchBookmarks: 'true',
        resourceVersion: options.resourceVersion,
        timeoutSeconds: String(options.timeoutSeconds),
        labelSelector: options.labelSelector || undefined,
        fieldSelector: options.fieldSelector || undefined,
      });
      resetTimer();
      const { headers, dispatcher } = await this.#authenticated(target.url, HttpMethod.GET);
      headers['Accept'] = 'application/json';
      // A stream read as it comes, for as long as the watch lasts: Dispatcher.request and its Readable suit it.
      const response = await dispatcher.request({ origin: target.origin, path: target.path, method: HttpMethod.GET, headers, signal: abort.signal });
      if (response.statusCode !== 200) {
        const text = await response.body.text();
        throw apiError(response.statusCode, parseJson(text), 'GET', target.pathname);
      }
      // One event per line. Lines are cut from the bytes and only whole ones decoded: a newline byte is never
      // part of a UTF-8 character, and decoding each chunk into one growing string made the collector copy it
      // again at every search for the next newline (4 % of a cold start's allocations).
      let pending: Buffer[] = []; // a line begun in earlier chunks
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (finished) return;
        resetTimer();
        let start = 0;
        let newline: number;
        while ((newline = chunk.indexOf(NEWLINE, start)) >= 0) {
          const line = pending.length === 0
            ? chunk.toString('utf8', start, newline)
            : Buffer.concat([...pending, chunk.subarray(start, newline)]).toString('utf8');
          pending = [];
          start = newline + 1;
          if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
        }
        if (start < chunk.length) pending.push(chunk.subarray(start));
      }
    };
    run().then(() => finish(null), (error: unknown) => finish(error));
    return () => {
      finished = true;
      clearTimeout(timer);
      abort.abort();
    };
  }
}

const NEWLINE = 0x0a;

/** A watch on which nothing arrived for too long: the informer relists. */
export class WatchStalledError extends Error {
  constructor(resource: string, inactivityMs: number) {
    super(`watch on ${resource} silent for ${inactivityMs} ms`);
    this.name = 'WatchStalledError';
  }
}

/** undici's error when the connection was reset or closed under a request (its own code, or the socket's in `cause`). */
function isConnectionReset(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const codes = [(error as { code?: string }).code, (error.cause as { code?: string } | undefined)?.code];
  return codes.some((code) => code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE');
}

/** A response header as one string (a repeated header comes as a list). */
function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text.trim();
  }
}

function apiError(status: number, body: unknown, method: string, path: string): KubeApiError {
  const statusBody = (body && typeof body === 'object' ? body : {}) as { reason?: string; message?: string };
  return new KubeApiError(status, statusBody.reason ?? 'Unknown', statusBody.message ?? String(body ?? ''), method, path);
}

/**
 * The texts of a response's Warning headers (RFC 7234: `299 - "text"`): one
 * per header, or several in one joined with ", " (a text may contain commas).
 */
export function parseWarnings(header: string | string[] | undefined): string[] {
  if (Array.isArray(header)) return header.flatMap((one) => parseWarnings(one));
  if (!header) return [];
  return [...header.matchAll(/\d{3} [^ ]+ "((?:[^"\\]|\\.)*)"/g)].map((match) => (match[1] as string).replace(/\\(.)/g, '$1'));
}
