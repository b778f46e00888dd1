// Renders the project's kustomize directories with the control plane's own
// kubectl and applies the result, as `kubectl apply -k` would.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubernetesObjectApi, PatchStrategy, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { adminKubeConfig, testControlPlane } from './cluster.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export async function renderKustomization(directory: string): Promise<KubernetesObject[]> {
  const kubectl = path.join(testControlPlane().binDir, 'kubectl');
  const { stdout } = await run(kubectl, ['kustomize', path.join(repoRoot, directory)], { maxBuffer: 16 * 1024 * 1024 });
  return (loadAllYaml(stdout) as KubernetesObject[]).filter(Boolean);
}

export async function applyObjects(objects: KubernetesObject[], fieldManager = 'sbo-tests'): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(adminKubeConfig());
  for (const object of objects) {
    await client.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
  }
}
