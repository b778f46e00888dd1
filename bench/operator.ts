// The operator as the benchmark runs it: as deployed. The image runs the
// compiled JavaScript (dist/main.js, see the Dockerfile) with the runtime
// settings of config/manager/manager.yaml; running src/main.ts would add
// Node.js's TypeScript stripper (about 23 MiB of RSS) to every figure.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { loadYaml } from '@kubernetes/client-node';
import { freePorts } from '../hack/kube/controlplane.ts';

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const BUILD_DIR = path.join(root, '.dev/bench-dist');
/** The operators' logs (warnings and errors unless BENCH_LOG_LEVEL says otherwise), one file per start. */
const LOG_DIR = path.join(root, '.dev/bench-logs');
let starts = 0;

/** The environment variables of the operator's container in config/manager/manager.yaml (NODE_OPTIONS, MALLOC_ARENA_MAX). */
export async function deployedRuntimeSettings(): Promise<Record<string, string>> {
  const manifest = loadYaml(await readFile(path.join(root, 'config/manager/manager.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  };
  const env = manifest.spec.template.spec.containers[0]?.env ?? [];
  return Object.fromEntries(env.filter((e) => ['NODE_OPTIONS', 'MALLOC_ARENA_MAX'].includes(e.name)).map((e) => [e.name, e.value ?? '']));
}

/** Compiles src/ as the image does (tsc, tsconfig.build.json), incrementally; returns the entry point. */
export async function buildOperator(): Promise<string> {
  await promisify(execFile)(process.execPath, [
    path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'),
    '--outDir', BUILD_DIR, '--incremental', '--tsBuildInfoFile', path.join(BUILD_DIR, '.tsbuildinfo'),
  ], { cwd: root });
  return path.join(BUILD_DIR, 'main.js');
}

/** The sum of a metric's samples whose labels include `labels`, in one scrape. */
export type MetricReader = (name: string, labels?: Record<string, string>) => number;

export interface HeapUsage {
  /** The live heap: used after a full garbage collection. */
  readonly usedMiB: number;
  readonly totalMiB: number;
}

export interface Operator {
  readonly process: ChildProcess;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** One scrape, read as many times as needed: a check of several metrics costs the operator one scrape. */
  metrics(): Promise<MetricReader>;
  /** Forces a full garbage collection through the inspector and reads the heap. */
  liveHeap(): Promise<HeapUsage>;
  stop(): Promise<void>;
}

export async function startOperator(main: string, kubeconfig: string, extraEnv: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Operator> {
  const [metricsPort, healthPort, inspectorPort] = await freePorts(3) as [number, number, number];
  const settings = await deployedRuntimeSettings();
  // BENCH_CPU_PROFILE=DIR: each operator writes a V8 CPU profile there when it stops (open it in Chrome's DevTools).
  // BENCH_HEAP_PROFILE=DIR: a V8 sampling profile of where memory was allocated, for the garbage collector's share of CPU.
  const profile = [
    ...process.env.BENCH_CPU_PROFILE ? [`--cpu-prof`, `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROFILE)}`] : [],
    ...process.env.BENCH_HEAP_PROFILE ? [`--import=${path.resolve(path.dirname(new URL(import.meta.url).pathname), 'allocation-profile.ts')}`] : [],
  ];
  const child = spawn(process.execPath, [...profile, ...nodeArgs, main], {
    env: {
      ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', METRICS_SECURE: 'false',
      ...settings,
      ...process.env.BENCH_HEAP_PROFILE ? { BENCH_HEAP_PROFILE: path.resolve(process.env.BENCH_HEAP_PROFILE) } : {},
      // The inspector is only listened on; the benchmark connects once to collect garbage and read the live heap.
      NODE_OPTIONS: `${settings.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:${inspectorPort}`.trim(),
      METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}`, HEALTH_PROBE_BIND_ADDRESS: `127.0.0.1:${healthPort}`,
      OPERATOR_NAMESPACE: 'security-baseline-system',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await mkdir(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `operator-${process.pid}-${++starts}.log`);
  child.stdout?.pipe(createWriteStream(logFile));
  // The inspector announces itself on stderr; pass everything else on.
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8').split('\n').filter((line) => line && !/Debugger (listening|attached|ending)|devtools|For help, see/.test(line)).join('\n');
    if (text) process.stderr.write(`${text}\n`);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Never outlive the benchmark, however it ends.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  void exited.then(() => process.off('exit', killChild));
  const scrape = async (attempt = 1): Promise<string> => {
    try {
      return await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    } catch (error) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the operator exited (${child.exitCode ?? child.signalCode}); its log: ${logFile}`, { cause: error });
      // A kept-alive connection the server closed as it was reused: scrape again.
      if (attempt >= 3) throw error;
      return scrape(attempt + 1);
    }
  };
  const metrics = async (): Promise<MetricReader> => {
    const lines = (await scrape()).split('\n');
    return (name, labels = {}) => {
      let total = 0;
      for (const line of lines) {
        if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
          total += Number(line.split(' ').at(-1));
        }
      }
      return total;
    };
  };
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => (await metrics())(name, labels);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the operator exited with ${child.exitCode}; its log: ${logFile}`);
    try {
      await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      break;
    } catch {
      await sleep(50);
    }
  }
  return {
    process: child, metric, metrics,
    liveHeap: () => liveHeap(inspectorPort),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** HeapProfiler.collectGarbage, then Runtime.getHeapUsage, over the inspector's WebSocket. */
async function liveHeap(port: number): Promise<HeapUsage> {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as { webSocketDebuggerUrl: string }[];
  if (!target) throw new Error('no inspector target');
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let id = 0;
  const call = (method: string) => new Promise<Record<string, unknown>>((resolve, reject) => {
    const mine = ++id;
    socket.onmessage = (message: MessageEvent) => {
      const reply = JSON.parse(String(message.data)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      if (reply.id !== mine) return;
      if (reply.error) reject(new Error(reply.error.message));
      else resolve(reply.result ?? {});
    };
    socket.send(JSON.stringify({ id: mine, method }));
  });
  try {
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage') as { usedSize: number; totalSize: number };
    return { usedMiB: usage.usedSize / 2 ** 20, totalMiB: usage.totalSize / 2 ** 20 };
  } finally {
    socket.close();
  }
}
