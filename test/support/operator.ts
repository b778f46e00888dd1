// Runs the operator as people run it — `node src/main.ts`, its own process,
// its own identity, a kubeconfig — against the test control plane.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { mintIdentityIn, renderKubeconfig } from '../../hack/kube/controlplane.ts';
import { adminKubeConfig, eventually, testControlPlane } from './cluster.ts';

export const OPERATOR_USER = 'security-baseline-operator-e2e';
const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export interface RunningOperator {
  readonly metricsUrl: string;
  readonly logFile: string;
  readonly user: string;
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  metrics(): Promise<string>;
}

export interface OperatorOptions {
  /** A kubeconfig to run with; default: a client certificate for OPERATOR_USER in system:masters. */
  readonly kubeconfig?: string;
  readonly user?: string;
  readonly env?: Record<string, string>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startOperator(options: OperatorOptions = {}): Promise<RunningOperator> {
  const { dir, server } = testControlPlane();
  const workDir = await mkdtemp(path.join(dir, 'operator-'));
  const user = options.user ?? OPERATOR_USER;
  let kubeconfig = options.kubeconfig;
  if (!kubeconfig) {
    const identity = await mintIdentityIn(dir, user, ['system:masters']);
    const ca = Buffer.from(adminKubeConfig().getCurrentCluster()?.caData ?? '', 'base64').toString('utf8');
    kubeconfig = path.join(workDir, 'kubeconfig');
    await writeFile(kubeconfig, renderKubeconfig(server, ca, identity), { mode: 0o600 });
  }
  const port = await freePort();
  // Outside the control plane's temp dir, so the log survives the run for whoever reads a failure.
  const logDir = path.join(repoRoot, '.dev', 'test-logs');
  await mkdir(logDir, { recursive: true });
  const logFile = path.join(logDir, `operator-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts')], {
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      METRICS_PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      OPERATOR_NAMESPACE: 'security-baseline-system',
      LOG_LEVEL: 'debug',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}; see ${logFile}`);
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  return {
    metricsUrl,
    logFile,
    user,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      log.end();
      return code;
    },
    metrics: async () => (await fetch(metricsUrl)).text(),
  };
}

/** The value of one sample in a Prometheus text exposition, 0 when absent. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').at(-1));
  }
  return total;
}
