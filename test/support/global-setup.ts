// One real control plane per jest run, shared by every test of the `cluster`
// project. Workers find it through SBO_TEST_CONTROLPLANE (they inherit the env).
import { startControlPlane, type ControlPlane } from '../../hack/kube/controlplane.ts';
import type { TestControlPlane } from './cluster.ts';

declare global {
  var sboControlPlane: ControlPlane | undefined;
}

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const controlPlane = await startControlPlane();
  globalThis.sboControlPlane = controlPlane;
  const shared: TestControlPlane = {
    dir: controlPlane.dir,
    binDir: controlPlane.binDir,
    server: controlPlane.server,
    kubeconfigPath: controlPlane.kubeconfigPath,
    versions: controlPlane.versions,
  };
  process.env.SBO_TEST_CONTROLPLANE = JSON.stringify(shared);
  process.stderr.write(`\ncontrol plane: Kubernetes ${controlPlane.versions.kubernetes}, etcd ${controlPlane.versions.etcd}, `
    + `ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${controlPlane.server}\n`);
}
