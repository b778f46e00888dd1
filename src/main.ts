// Wiring only: configuration, logger, metrics and health endpoints, the
// Kubernetes client, leader election, the manager of the controllers, and a
// clean shutdown on SIGTERM.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { OPERATOR_NAME } from './api/constants.ts';
import { Manager } from './controller/manager.ts';
import { RequestAuthorizer } from './runtime/authz.ts';
import { startHealthServer, startMetricsServer } from './runtime/http.ts';
import { KubeClient } from './runtime/kube.ts';
import { loadDefaultKubeConfig } from './runtime/kubeconfig.ts';
import { LeaderElector } from './runtime/leader.ts';
import { createLogger } from './runtime/logger.ts';
import { OperatorMetrics } from './runtime/metrics.ts';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const env = process.env;

function operatorNamespace(): string {
  if (env.OPERATOR_NAMESPACE) return env.OPERATOR_NAMESPACE;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  } catch {
    return 'security-baseline-system';
  }
}

/** `host:port` or `:port` (all interfaces). */
function address(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`not a host:port address: ${value}`);
  return { host: value.slice(0, colon) || '0.0.0.0', port };
}

/** A duration in milliseconds from the environment: a positive integer, or the operator does not start. */
function positiveMs(name: string, value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0) fatal(`${name} must be a positive number of milliseconds, not ${JSON.stringify(value)}`);
  return ms;
}

function fatal(message: string, error?: unknown): never {
  logger.fatal({ err: error instanceof Error ? error.message : error === undefined ? undefined : String(error) }, message);
  logger.flush();
  process.exit(1);
}

const logger = createLogger();
const version = env.OPERATOR_VERSION ?? '0.1.0';
const metrics = new OperatorMetrics(version);
const kubeConfig = await loadDefaultKubeConfig(); // $KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount
const client = new KubeClient(kubeConfig);
client.observe(metrics.requestObserver());
metrics.beforeScrape(() => metrics.apiInFlightLimit.set(client.inFlightLimit));
const namespace = operatorNamespace();

const manager = new Manager({
  client, logger, metrics,
  operatorNamespace: namespace,
  namespaceWorkers: env.NAMESPACE_WORKERS ? Number(env.NAMESPACE_WORKERS) : undefined,
  foreignRecheckMs: env.FOREIGN_RECHECK_MS ? positiveMs('FOREIGN_RECHECK_MS', env.FOREIGN_RECHECK_MS) : undefined,
});

// With LEADER_ELECT=true (as deployed, 2 replicas) only the holder of the Lease
// reconciles; the standby keeps warm caches. Off by default for local runs.
const elector = env.LEADER_ELECT === 'true' ? new LeaderElector({
  // Its own client: the write guard below must not stop the election itself.
  client: new KubeClient(kubeConfig), logger, namespace,
  name: env.LEADER_ELECTION_ID ?? OPERATOR_NAME,
  identity: `${env.POD_NAME ?? hostname()}_${randomUUID()}`,
  leaseDurationMs: env.LEADER_LEASE_DURATION_MS ? Number(env.LEADER_LEASE_DURATION_MS) : undefined,
  renewDeadlineMs: env.LEADER_RENEW_DEADLINE_MS ? Number(env.LEADER_RENEW_DEADLINE_MS) : undefined,
  retryPeriodMs: env.LEADER_RETRY_PERIOD_MS ? Number(env.LEADER_RETRY_PERIOD_MS) : undefined,
  onStartedLeading: () => {
    logger.info('became the leader');
    caches.then(() => manager.startWorkers(), () => undefined);
  },
  // As controller-runtime does: exit at once, so this replica never writes without the lease.
  onStoppedLeading: () => fatal('leader lease lost: exiting'),
}) : undefined;
client.setWriteGuard(() => !elector || elector.isLeader());
metrics.beforeScrape(() => metrics.leader.set(!elector || elector.isLeader() ? 1 : 0));

const metricsAddress = address(env.METRICS_BIND_ADDRESS ?? ':8443');
const healthAddress = address(env.HEALTH_PROBE_BIND_ADDRESS ?? ':8081');
const secure = env.METRICS_SECURE !== 'false';
const servers = await Promise.all([
  startMetricsServer({
    ...metricsAddress, metrics, logger, secure,
    authorizer: secure ? new RequestAuthorizer(client) : undefined,
    certFile: env.METRICS_CERT_FILE, keyFile: env.METRICS_KEY_FILE,
  }),
  // A standby is ready once its caches are: it could take over at once.
  startHealthServer(healthAddress.host, healthAddress.port, { ready: () => manager.synced }),
]);
logger.info({
  version, server: kubeConfig.getCurrentCluster()?.server, operatorNamespace: namespace, leaderElection: elector !== undefined,
  metrics: `${secure ? 'https' : 'http'}://${metricsAddress.host}:${metricsAddress.port}/metrics`,
  health: `http://${healthAddress.host}:${healthAddress.port}/healthz`,
}, 'starting');

const caches = manager.startInformers();
caches.catch((error: unknown) => fatal('could not start', error));
if (elector) {
  elector.run().catch((error: unknown) => fatal('leader election failed', error));
} else {
  caches.then(() => manager.startWorkers(), () => undefined);
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: draining in-flight reconciles');
  await manager.stop(); // no write in flight after this…
  await elector?.stop({ release: true }); // …then hand the lease over at once
  for (const server of servers) server.close();
  logger.info('stopped');
  logger.flush();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
