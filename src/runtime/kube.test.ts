// The client's behaviour on a bad network and under throttling, against a local
// HTTP server that misbehaves on purpose (the real API server under the same
// faults is test/chaos/network.test.ts and throttling.test.ts).
import { afterEach, describe, expect, test } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HttpMethod, KubeConfig } from '@kubernetes/client-node';
import { KubeApiError } from './errors.ts';
import { KubeClient, RequestTimeoutError, retryAfterMs, WatchStalledError, type KubeObject, type WatchEvent } from './kube.ts';

let server: Server | undefined;
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A client of a local server answering with `handler`; records the status of every attempt. */
async function clientOf(handler: (req: IncomingMessage, res: ServerResponse) => void, requestTimeoutMs = 300) {
  server = createServer(handler);
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'local', user: 'u' }],
    currentContext: 'c',
  });
  const client = new KubeClient(kc, { requestTimeoutMs });
  const statuses: number[] = [];
  client.observe((_verb, _resource, status) => statuses.push(status));
  const get = () => client.request('get', HttpMethod.GET, '/api/v1/namespaces/x', { resource: 'namespaces' });
  const request = client.request.bind(client);
  const watch = (options: { resourceVersion: string; timeoutSeconds: number; inactivityMs: number }, onEvent: (event: WatchEvent<KubeObject>) => void, onDone: (error: unknown) => void) =>
    client.watch<KubeObject>({ apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false }, options, onEvent, onDone);
  return { get, request, watch, statuses };
}

describe('KubeClient', () => {
  test('gives up on a request that gets no answer (a blackhole) after the request timeout', async () => {
    const { get, statuses } = await clientOf(() => undefined); // accepts, never answers
    const started = performance.now();
    const error = await get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect((error as Error).message).toBe('GET /api/v1/namespaces/x: no complete answer within 300 ms');
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(statuses).toEqual([0]);
  });

  test('gives up on an answer whose body stops arriving', async () => {
    const { get } = await clientOf((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"kind":'); // and nothing more
    });
    await expect(get()).rejects.toBeInstanceOf(RequestTimeoutError);
  });

  test('a query value reaches the server as the one parameter it is: no text in it adds or changes another', async () => {
    const seen: URL[] = [];
    const { request } = await clientOf((req, res) => {
      seen.push(new URL(req.url ?? '', 'http://x'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"metadata":{"name":"x"}}');
    });
    const selector = 'team in (a,b),tier!=x&dryRun=All#?fieldManager=evil ü+%';
    await request('list', HttpMethod.GET, '/api/v1/namespaces', { query: { labelSelector: selector, limit: '500', continue: undefined } });
    expect(seen).toHaveLength(1);
    const url = seen[0] as URL;
    expect(url.pathname).toBe('/api/v1/namespaces');
    expect([...url.searchParams]).toEqual([['labelSelector', selector], ['limit', '500']]);
  });

  test('an answer in many chunks comes back whole, a character split between two of them included', async () => {
    const name = 'ü'.repeat(5_000); // two bytes each in UTF-8
    const bytes = Buffer.from(JSON.stringify({ kind: 'Namespace', metadata: { name } }), 'utf8');
    const { get } = await clientOf((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // Odd-sized pieces: some end in the middle of a character.
      let at = 0;
      const next = (): void => {
        if (at >= bytes.length) {
          res.end();
          return;
        }
        res.write(bytes.subarray(at, at += 1_001));
        setImmediate(next);
      };
      next();
    }, 5_000);
    await expect(get()).resolves.toEqual({ kind: 'Namespace', metadata: { name } });
  });

  test('an abandoned request\'s stream is reset: the server sees its request closed', async () => {
    const closed = Promise.withResolvers<void>();
    const { get } = await clientOf((req) => {
      req.socket.once('close', () => closed.resolve());
    });
    await expect(get()).rejects.toBeInstanceOf(RequestTimeoutError);
    await closed.promise; // the test's timeout fails it if the connection were left open
  }, 10_000);

  test('a read sent again after a reset keeps the deadline it started with: a late reset does not double the request timeout', async () => {
    let calls = 0;
    const { get, statuses } = await clientOf((req) => {
      calls++;
      // The first attempt is reset late in its timeout; the second gets no answer at all.
      if (calls === 1) setTimeout(() => req.socket.destroy(), 1_500);
    }, 2_000);
    const started = performance.now();
    const error = await get().catch((e: unknown) => e);
    const elapsedMs = performance.now() - started;
    expect(calls).toBe(2);
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect((error as Error).message).toBe('GET /api/v1/namespaces/x: no complete answer within 2000 ms');
    // A fresh timeout for the second attempt would end it at 3.5 s.
    expect(elapsedMs).toBeGreaterThanOrEqual(1_950);
    expect(elapsedMs).toBeLessThan(3_000);
    expect(statuses).toEqual([0]);
  }, 10_000);

  test('sends a request turned away with 429 again after Retry-After, and returns its answer', async () => {
    let calls = 0;
    const { get, statuses } = await clientOf((_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
        res.end('{"kind":"Status","code":429,"reason":"TooManyRequests","message":"Too many requests"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"kind":"Namespace","metadata":{"name":"x"}}');
    }, 5_000);
    const started = performance.now();
    await expect(get()).resolves.toEqual({ kind: 'Namespace', metadata: { name: 'x' } });
    expect(statuses).toEqual([429, 200]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  test('does not retry other errors', async () => {
    const { get, statuses } = await clientOf((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","code":500,"reason":"InternalError","message":"boom"}');
    });
    const error = await get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).status).toBe(500);
    expect(statuses).toEqual([500]);
  });

  test('reuses the credential headers for a second, then asks the kubeconfig again; no request\'s headers leak into the next', async () => {
    const seen: { authorization?: string; contentType?: string }[] = [];
    server = createServer((req, res) => {
      seen.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'] });
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"metadata":{"name":"x"}}');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'local', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'first' }],
      contexts: [{ name: 'c', cluster: 'local', user: 'u' }],
      currentContext: 'c',
    });
    const client = new KubeClient(kc);
    await client.mergePatch({ apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false }, 'x', undefined, { metadata: {} });
    // The credential changes (a rotated token): requests within the second still carry the first.
    (kc.users[0] as { token: string }).token = 'second';
    await client.request('get', HttpMethod.GET, '/api/v1/namespaces/x');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await client.request('get', HttpMethod.GET, '/api/v1/namespaces/x');
    expect(seen).toEqual([
      { authorization: 'Bearer first', contentType: 'application/merge-patch+json' },
      { authorization: 'Bearer first', contentType: undefined },
      { authorization: 'Bearer second', contentType: undefined },
    ]);
  });

  test('a watch hands over every event whole, however the stream cuts its lines and characters', async () => {
    const names = ['ä'.repeat(700), 'plain', '€'.repeat(300), '', 'last'];
    const stream = Buffer.from(names.map((name, i) => `${JSON.stringify({ type: 'ADDED', object: { metadata: { name, resourceVersion: String(i + 1) } } })}\n`).join('\n'), 'utf8');
    const { watch } = await clientOf((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // Pieces of 7, 300 and 1,001 bytes in turn: lines end mid-piece, pieces end mid-line and mid-character.
      const sizes = [7, 300, 1_001];
      let at = 0;
      const next = (step: number): void => {
        if (at >= stream.length) {
          res.end();
          return;
        }
        res.write(stream.subarray(at, at += sizes[step % sizes.length] as number));
        setTimeout(() => next(step + 1), 1);
      };
      next(0);
    });
    const events: string[] = [];
    const error = await new Promise((resolve) => {
      watch({ resourceVersion: '0', timeoutSeconds: 60, inactivityMs: 5_000 }, (event) => events.push(event.object.metadata.name), resolve);
    });
    expect(error).toBeNull();
    expect(events).toEqual(names);
  });

  test('a watch stays open while events keep arriving, and ends as stalled once they stop', async () => {
    const { watch } = await clientOf((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let sent = 0;
      // An event every 100 ms for 1.2 s, well past the 500 ms of inactivity allowed; then silence.
      const timer = setInterval(() => {
        res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: `n${sent}`, resourceVersion: String(sent + 1) } } })}\n`);
        if (++sent === 12) clearInterval(timer);
      }, 100);
      res.on('close', () => clearInterval(timer));
    });
    const events: string[] = [];
    const error = await new Promise((resolve) => {
      watch({ resourceVersion: '0', timeoutSeconds: 60, inactivityMs: 500 }, (event) => events.push(event.object.metadata.name), resolve);
    });
    expect(events).toEqual(Array.from({ length: 12 }, (_, i) => `n${i}`));
    expect(error).toBeInstanceOf(WatchStalledError);
  });

  test.each([
    [undefined, 1000], ['', 1000], ['0', 1000], ['1', 1000], ['3', 3000], ['120', 10_000], ['Wed, 21 Oct 2015 07:28:00 GMT', 1000],
  ])('waits %p → %p ms after a 429', (header, ms) => {
    expect(retryAfterMs(header)).toBe(ms);
  });
});
