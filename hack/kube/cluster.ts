// `make cluster-up` runs this in the background: it starts the control plane,
// leaves the admin kubeconfig at .dev/kubeconfig and the binaries under
// .dev/bin/, and stops everything on SIGTERM or SIGINT (`make cluster-down`).
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startControlPlane } from './controlplane.ts';

const devDir = path.resolve(process.argv[2] ?? '.dev');
const binaries = ['kube-apiserver', 'kube-controller-manager', 'kubectl', 'etcd'];

const controlPlane = await startControlPlane();
await mkdir(path.join(devDir, 'bin'), { recursive: true });
for (const name of binaries) {
  const link = path.join(devDir, 'bin', name);
  await rm(link, { force: true });
  await symlink(path.join(controlPlane.binDir, name), link);
}
const kubeconfig = path.join(devDir, 'kubeconfig');
await writeFile(kubeconfig, controlPlane.kubeconfigFor(controlPlane.admin), { mode: 0o600 });
console.log(`control plane ready: Kubernetes ${controlPlane.versions.kubernetes}, etcd ${controlPlane.versions.etcd}, ${controlPlane.server}`);
console.log(`  export KUBECONFIG=${kubeconfig}; ${path.join(devDir, 'bin', 'kubectl')} get ns`);
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
