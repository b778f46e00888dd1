// Runs the operator as people run it — `node src/main.ts`, its own process,
// its own identity, a kubeconfig — against the test control plane.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePorts, mintIdentityIn, renderKubeconfig } from '../../hack/kube/controlplane.ts';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { request as httpsRequest } from 'node:https';
import { adminKubeConfig, eventually, statusOf, testControlPlane } from './cluster.ts';

export const OPERATOR_USER = 'security-baseline-operator-e2e';
export const OPERATOR_NAMESPACE = 'security-baseline-system';
const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export interface RunningOperator {
  readonly metricsUrl: string;
  readonly healthUrl: string;
  readonly logFile: string;
  readonly user: string;
  /** SIGTERM, then wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Sends a signal without waiting (SIGKILL for failover tests). */
  kill(signal: NodeJS.Signals): void;
  metrics(): Promise<string>;
}

export interface OperatorOptions {
  /** A kubeconfig to run with; default: a client certificate for OPERATOR_USER in system:masters. */
  readonly kubeconfig?: string;
  readonly user?: string;
  readonly env?: Record<string, string>;
  /** How long to wait for /readyz (caches synced); default 60 s. */
  readonly readyTimeoutMs?: number;
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
  const [port, healthPort] = await freePorts(2) as [number, number];
  const scraperToken = await metricsScraperToken();
  // Where the operator keeps its revisions, as a real install has it (config/manager/namespace.yaml).
  await adminKubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } })
    .catch((error: unknown) => { if (statusOf(error) !== 409) throw error; });
  // Outside the control plane's temp dir, so the log survives the run for whoever reads a failure.
  const logDir = path.join(repoRoot, '.dev', 'test-logs');
  await mkdir(logDir, { recursive: true });
  const logFile = path.join(logDir, `operator-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts')], {
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
      HEALTH_PROBE_BIND_ADDRESS: `127.0.0.1:${healthPort}`,
      OPERATOR_NAMESPACE,
      LOG_LEVEL: 'debug',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const metricsUrl = `https://127.0.0.1:${port}/metrics`;
  await waitUntilReady(child, exited, healthPort, logFile, options.readyTimeoutMs ?? 60_000);
  return {
    metricsUrl,
    healthUrl: `http://127.0.0.1:${healthPort}`,
    logFile,
    user,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      log.end();
      return code;
    },
    kill: (signal) => { child.kill(signal); },
    metrics: async () => {
      const response = await scrape(metricsUrl, scraperToken);
      if (response.status !== 200) throw new Error(`scrape of ${metricsUrl} answered ${response.status}`);
      return response.body;
    },
  };
}

/**
 * GETs an HTTPS URL with a bearer token, accepting the operator's self-signed
 * certificate (as a ServiceMonitor with insecureSkipVerify does).
 */
export function scrape(url: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      rejectUnauthorized: false,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export const SCRAPER_NAMESPACE = 'sbo-test-monitoring';
export const METRICS_READER_ROLE = 'sbo-test-metrics-reader';

/** A real ServiceAccount token allowed to GET /metrics, as Prometheus would hold. */
export async function metricsScraperToken(): Promise<string> {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const ignoreExists = (e: unknown) => { if (statusOf(e) !== 409) throw e; };
  await core.createNamespace({ body: { metadata: { name: SCRAPER_NAMESPACE } } }).catch(ignoreExists);
  await core.createNamespacedServiceAccount({ namespace: SCRAPER_NAMESPACE, body: { metadata: { name: 'prometheus' } } }).catch(ignoreExists);
  await rbac.createClusterRole({ body: { metadata: { name: METRICS_READER_ROLE }, rules: [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }] } }).catch(ignoreExists);
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: METRICS_READER_ROLE },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: METRICS_READER_ROLE },
      subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: SCRAPER_NAMESPACE }],
    },
  }).catch(ignoreExists);
  const token = await core.createNamespacedServiceAccountToken({ namespace: SCRAPER_NAMESPACE, name: 'prometheus', body: { spec: { audiences: [] } } });
  return token.status?.token ?? '';
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

/** Waits for the operator process's /readyz; kills it and throws if it exits or is not ready in time. */
export async function waitUntilReady(child: ChildProcess, exited: Promise<unknown>, healthPort: number, logFile: string, timeoutMs: number): Promise<void> {
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}; see ${logFile}`);
    return (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200;
  }, { timeoutMs, intervalMs: 100 }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw error;
  });
}
