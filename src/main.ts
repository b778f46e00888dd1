// Wiring only: configuration, logger, metrics and health endpoints, the
// Kubernetes client, the controller, and a clean shutdown on SIGTERM.
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from './controller/controller.ts';
import { startHttpServer } from './runtime/http.ts';
import { KubeClient } from './runtime/kube.ts';
import { createLogger } from './runtime/logger.ts';
import { OperatorMetrics } from './runtime/metrics.ts';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function operatorNamespace(): string {
  if (process.env.OPERATOR_NAMESPACE) return process.env.OPERATOR_NAMESPACE;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  } catch {
    return 'security-baseline-system';
  }
}

const logger = createLogger();
const version = process.env.OPERATOR_VERSION ?? '0.1.0';
const metrics = new OperatorMetrics(version);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount
const client = new KubeClient(kubeConfig);
client.observe(metrics.requestObserver());

const controller = new Controller({
  client, logger, metrics,
  operatorNamespace: operatorNamespace(),
  namespaceWorkers: process.env.NAMESPACE_WORKERS ? Number(process.env.NAMESPACE_WORKERS) : undefined,
});
const server = await startHttpServer(Number(process.env.METRICS_PORT ?? 8080), process.env.METRICS_HOST ?? '0.0.0.0', metrics, {
  ready: () => controller.synced,
});
logger.info({ version, server: kubeConfig.getCurrentCluster()?.server, operatorNamespace: operatorNamespace() }, 'starting');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: draining in-flight reconciles');
  await controller.stop();
  server.close();
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
