// `make cluster-up` runs this in the background: it starts the control plane,
// leaves the admin kubeconfig at .dev/kubeconfig and the binaries under
// .dev/bin/, and stops everything on SIGTERM or SIGINT (`make cluster-down`).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { exposeInDevDir, startControlPlane } from './controlplane.ts';

const devDir = path.resolve(process.argv[2] ?? '.dev');

const controlPlane = await startControlPlane();
const { kubeconfig, kubectl } = await exposeInDevDir(controlPlane, devDir);
console.log(`control plane ready: Kubernetes ${controlPlane.versions.kubernetes}, etcd ${controlPlane.versions.etcd}, ${controlPlane.server}`);
console.log(`  export KUBECONFIG=${kubeconfig}; ${kubectl} get ns`);
console.log(`  component logs: ${controlPlane.dir}`);

let stopping = false;
const shutdown = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await controlPlane.stop();
  await rm(kubeconfig, { force: true });
  console.log('control plane stopped');
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
