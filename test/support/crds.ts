// Installs the project's CustomResourceDefinitions (crds/*.yaml) into the test
// control plane with server-side apply, and waits until they are served.
// Safe to call from every test file: applying the same CRD twice is a no-op.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ApiextensionsV1Api, KubernetesObjectApi, PatchStrategy, loadAllYaml, type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { adminKubeConfig, eventually } from './cluster.ts';

const crdDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../crds');

export async function loadCrds(): Promise<V1CustomResourceDefinition[]> {
  const files = (await readdir(crdDir)).filter((file) => file.endsWith('.yaml')).sort();
  const docs = await Promise.all(files.map(async (file) => loadAllYaml(await readFile(path.join(crdDir, file), 'utf8'))));
  return docs.flat().filter((doc): doc is V1CustomResourceDefinition => (doc as KubernetesObject | null)?.kind === 'CustomResourceDefinition');
}

export async function installCrds(): Promise<void> {
  const kc = adminKubeConfig();
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  for (const crd of await loadCrds()) {
    await objects.patch(crd, undefined, undefined, 'security-baseline-operator-tests', true, PatchStrategy.ServerSideApply);
    const name = crd.metadata?.name ?? '';
    await eventually(async () => {
      const current = await extensions.readCustomResourceDefinition({ name });
      return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    }, { timeoutMs: 30_000 });
  }
}
