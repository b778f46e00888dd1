// Starts toxiproxy-server (built by build.sh) and drives it through its HTTP
// API: one TCP proxy in front of the API server, and the faults ("toxics") the
// fault tests put on it. The operator talks to the proxy; everyone else talks
// to the API server directly.
//
// Toxics used by the tests (https://github.com/Shopify/toxiproxy#toxics):
//   latency     {latency, jitter} ms added to the data in one direction
//   reset_peer  {timeout} ms, then the connection is reset (TCP RST)
//   timeout     {timeout: 0} every byte dropped, connections left open: a blackhole
//   bandwidth   {rate} KB/s: a slow drip
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePorts } from '../kube/controlplane.ts';

const run = promisify(execFile);
const here = path.dirname(new URL(import.meta.url).pathname);

export type ToxicType = 'latency' | 'reset_peer' | 'timeout' | 'bandwidth' | 'slicer' | 'limit_data' | 'slow_close';

export interface Toxic {
  readonly name: string;
  readonly type: ToxicType;
  /** downstream: API server → operator; upstream: operator → API server. */
  readonly stream?: 'upstream' | 'downstream';
  readonly attributes: Record<string, number>;
}

export interface FaultProxy {
  /** Where clients connect: 127.0.0.1:PORT, forwarded to the upstream. */
  readonly listen: string;
  addToxic(toxic: Toxic): Promise<void>;
  /**
   * Removing a toxic closes every connection it was on (Toxiproxy's cleanup), which
   * clients notice at once. Setting its toxicity to 0 instead lets bytes flow again on
   * the same connections, as after a healed partition: what was dropped stays lost,
   * and a request whose bytes were dropped is never answered.
   */
  healToxic(name: string): Promise<void>;
  removeToxic(name: string): Promise<void>;
  /** Disabling closes every connection and refuses new ones; enabling accepts again. */
  setEnabled(enabled: boolean): Promise<void>;
  stop(): Promise<void>;
}

/** Builds toxiproxy-server when missing and returns its path. */
export async function ensureToxiproxy(): Promise<string> {
  if (process.env.SBO_TOXIPROXY_BIN) return process.env.SBO_TOXIPROXY_BIN;
  const { stdout } = await run(path.join(here, 'build.sh'), [], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim().split('\n').at(-1) ?? '';
}

/** Starts a toxiproxy-server with one proxy to `upstream` (host:port). */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const binary = await ensureToxiproxy();
  const [apiPort, listenPort] = await freePorts(2) as [number, number];
  const child: ChildProcess = spawn(binary, ['-host', '127.0.0.1', '-port', String(apiPort)], { stdio: ['ignore', 'ignore', 'pipe'] });
  // If this process dies without stop() (a killed test run), the proxy goes with it.
  const reaper = spawn('sh', ['-c', 'while kill -0 "$0" 2>/dev/null; do sleep 1; done; kill "$1" 2>/dev/null', String(process.pid), String(child.pid)], {
    detached: true, stdio: 'ignore',
  });
  reaper.unref();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
  const api = `http://127.0.0.1:${apiPort}`;
  const call = async (method: string, route: string, body?: unknown): Promise<void> => {
    const response = await fetch(`${api}${route}`, {
      method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`toxiproxy ${method} ${route}: ${response.status} ${await response.text()}`);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`toxiproxy-server exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${api}/version`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`toxiproxy-server not ready after 30 s: ${stderr}`);
    await sleep(50);
  }
  const listen = `127.0.0.1:${listenPort}`;
  await call('POST', '/proxies', { name: 'apiserver', listen, upstream, enabled: true });
  return {
    listen,
    addToxic: (toxic) => call('POST', '/proxies/apiserver/toxics', { stream: 'downstream', toxicity: 1, ...toxic }),
    healToxic: (name) => call('POST', `/proxies/apiserver/toxics/${name}`, { toxicity: 0 }),
    removeToxic: (name) => call('DELETE', `/proxies/apiserver/toxics/${name}`),
    setEnabled: (enabled) => call('POST', '/proxies/apiserver', { enabled }),
    stop: async () => {
      reaper.kill('SIGKILL');
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
