// Wiring only: configuration, logger, metrics and health endpoints, the
// Kubernetes client, the controller, and a clean shutdown on SIGTERM.
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from './controller/controller.ts';
import { RequestAuthorizer } from './runtime/authz.ts';
import { startHealthServer, startMetricsServer } from './runtime/http.ts';
import { KubeClient } from './runtime/kube.ts';
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

const logger = createLogger();
const version = env.OPERATOR_VERSION ?? '0.1.0';
const metrics = new OperatorMetrics(version);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount
const client = new KubeClient(kubeConfig);
client.observe(metrics.requestObserver());
const namespace = operatorNamespace();

const controller = new Controller({
  client, logger, metrics,
  operatorNamespace: namespace,
  namespaceWorkers: env.NAMESPACE_WORKERS ? Number(env.NAMESPACE_WORKERS) : undefined,
});

const metricsAddress = address(env.METRICS_BIND_ADDRESS ?? ':8443');
const healthAddress = address(env.HEALTH_PROBE_BIND_ADDRESS ?? ':8081');
const secure = env.METRICS_SECURE !== 'false';
const servers = await Promise.all([
  startMetricsServer({
    ...metricsAddress, metrics, logger, secure,
    authorizer: secure ? new RequestAuthorizer(client) : undefined,
    certFile: env.METRICS_CERT_FILE, keyFile: env.METRICS_KEY_FILE,
  }),
  startHealthServer(healthAddress.host, healthAddress.port, { ready: () => controller.synced }),
]);
logger.info({
  version, server: kubeConfig.getCurrentCluster()?.server, operatorNamespace: namespace,
  metrics: `${secure ? 'https' : 'http'}://${metricsAddress.host}:${metricsAddress.port}/metrics`,
  health: `http://${healthAddress.host}:${healthAddress.port}/healthz`,
}, 'starting');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: draining in-flight reconciles');
  await controller.stop();
  for (const server of servers) server.close();
  logger.info('stopped');
  logger.flush();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

controller.start().catch((error: unknown) => {
  logger.fatal({ err: error instanceof Error ? error.message : String(error) }, 'could not start');
  process.exit(1);
});
