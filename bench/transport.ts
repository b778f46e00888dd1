// `make bench-transport`: the client's CPU per request, three ways, against one
// real API server: the operator's KubeClient (src/runtime/kube.ts: undici's
// Dispatcher.dispatch over HTTP/2 with a handler of its own, the adaptive bound,
// a timeout and the observers' hook), undici's Dispatcher.request alone on the
// same connection pool, and node:http2 with one session and nothing else. Each sends
// the same requests (a GET of a small ConfigMap, or with APPLY=1 a server-side
// apply of one) at the same concurrency, three rounds after a warm-up; CPU is
// this process's user + system time (process.cpuUsage). It tells how much of
// the operator's CPU per request is the HTTP stack rather than the API server's
// answer: the size of the lever a thinner client would be (docs/performance.md).
import http2 from 'node:http2';
import type { SecureClientSessionOptions } from 'node:http2';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { isMain } from '../hack/generated.ts';
import { startControlPlane } from '../hack/kube/controlplane.ts';
import type { Dispatcher } from '../src/runtime/dispatcher.ts';
import { HttpMethod, KubeClient } from '../src/runtime/kube.ts';
import { requestContextClass } from '../src/runtime/kubeconfig.ts';

export interface TransportOptions {
  readonly requests: number;
  readonly concurrency: number;
  /** Server-side applies instead of GETs. */
  readonly apply: boolean;
  readonly rounds: number;
  /** A namespace of its own, created here. */
  readonly namespace: string;
}

/** One client's round: its CPU per request and its rate. */
export interface TransportRound {
  readonly client: 'KubeClient' | 'undici' | 'node:http2';
  readonly round: number;
  readonly cpuMicrosPerRequest: number;
  readonly requestsPerSecond: number;
}

const OBJECTS = 64;
const FIELD_MANAGER = 'bench-transport';

/** Sends the requests through each client in turn, a warm-up round first (not returned), against the kubeconfig's API server. */
export async function measureTransport(kubeconfigPath: string, options: TransportOptions): Promise<TransportRound[]> {
  const { requests, concurrency, apply, rounds, namespace } = options;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${kubeconfigPath} has no cluster`);
  const origin = new URL(server).origin;
  const client = new KubeClient(kc);

  await client.request('create', HttpMethod.POST, '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  const configMap = (i: number) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i % OBJECTS}`, namespace }, data: { a: 'x'.repeat(200) } });
  for (let i = 0; i < OBJECTS; i++) await client.request('create', HttpMethod.POST, `/api/v1/namespaces/${namespace}/configmaps`, { body: configMap(i) });
  const path = (i: number) => `/api/v1/namespaces/${namespace}/configmaps/cm-${i % OBJECTS}`;
  const applyQuery = `fieldManager=${FIELD_MANAGER}&force=true`;

  // The dispatcher and credentials client-node makes from the kubeconfig, as KubeClient uses them.
  const context = new (await requestContextClass())(server, 'GET');
  await kc.applySecurityAuthentication(context);
  const dispatcher = context.getDispatcher() as Dispatcher;
  const credentials = context.getHeaders();
  const tls: SecureClientSessionOptions = {};
  await kc.applyToHTTPSOptions(tls as Parameters<KubeConfig['applyToHTTPSOptions']>[0]);
  const session = http2.connect(server, { ca: tls.ca, cert: tls.cert, key: tls.key });

  /** Each answer must be the ConfigMap: a client that got errors back would look cheap. */
  const checked = (answer: unknown): void => {
    if ((answer as { kind?: string }).kind !== 'ConfigMap') throw new Error(`not a ConfigMap: ${JSON.stringify(answer).slice(0, 200)}`);
  };
  const clients: Record<TransportRound['client'], (i: number) => Promise<unknown>> = {
    KubeClient: (i) => (apply
      ? client.request('apply', HttpMethod.PATCH, path(i), {
        body: configMap(i), contentType: 'application/apply-patch+yaml', query: { fieldManager: FIELD_MANAGER, force: 'true' },
      })
      : client.request('get', HttpMethod.GET, path(i))),
    undici: async (i) => {
      const response = await dispatcher.request(apply
        ? {
          origin, path: `${path(i)}?${applyQuery}`, method: 'PATCH', body: JSON.stringify(configMap(i)),
          headers: { ...credentials, Accept: 'application/json', 'Content-Type': 'application/apply-patch+yaml' },
        }
        : { origin, path: path(i), method: 'GET', headers: { ...credentials, Accept: 'application/json' } });
      return JSON.parse(await response.body.text()) as unknown;
    },
    'node:http2': (i) => new Promise((resolve, reject) => {
      const stream = session.request(apply
        ? { ':method': 'PATCH', ':path': `${path(i)}?${applyQuery}`, accept: 'application/json', 'content-type': 'application/apply-patch+yaml' }
        : { ':method': 'GET', ':path': path(i), accept: 'application/json' });
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown));
      stream.on('error', reject);
      stream.end(apply ? JSON.stringify(configMap(i)) : undefined);
    }),
  };

  const run = async (name: TransportRound['client'], round: number): Promise<TransportRound> => {
    const send = clients[name];
    let next = 0;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < requests) checked(await send(next++));
    }));
    const cpu = process.cpuUsage(cpuBefore);
    const seconds = (performance.now() - started) / 1000;
    return { client: name, round, cpuMicrosPerRequest: (cpu.user + cpu.system) / requests, requestsPerSecond: requests / seconds };
  };

  const names = Object.keys(clients) as TransportRound['client'][];
  const results: TransportRound[] = [];
  try {
    for (const name of names) await run(name, 0);
    for (let round = 1; round <= rounds; round++) {
      for (const name of names) results.push(await run(name, round));
    }
  } finally {
    session.close();
    await client.request('delete', HttpMethod.DELETE, `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  }
  return results;
}

export function formatTransport(results: readonly TransportRound[]): string {
  return results.map((r) => `round ${r.round}  ${r.client.padEnd(12)} ${r.cpuMicrosPerRequest.toFixed(0).padStart(5)} µs of CPU per request`
    + `   ${r.requestsPerSecond.toFixed(0).padStart(5)} requests/s`).join('\n');
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: { requests: { type: 'string', default: '3000' }, concurrency: { type: 'string', default: '32' }, apply: { type: 'boolean', default: false } },
  });
  const options: TransportOptions = {
    requests: Number(values.requests), concurrency: Number(values.concurrency), apply: values.apply, rounds: 3, namespace: 'transport',
  };
  const controlPlane = await startControlPlane();
  try {
    console.log(`${options.requests} ${options.apply ? 'server-side applies' : 'GETs'} of a ConfigMap at concurrency ${options.concurrency},`
      + ` after a warm-up round; Node ${process.versions.node}`);
    console.log(formatTransport(await measureTransport(controlPlane.kubeconfigPath, options)));
  } finally {
    await controlPlane.stop();
  }
}
