// `make install`: server-side applies crds/*.yaml to the cluster in $KUBECONFIG
// and waits until they are served. No kubectl needed. The tests and the
// benchmark install the API with the same function.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiextensionsV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';

const crdDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../crds');

export async function loadCrds(): Promise<V1CustomResourceDefinition[]> {
  const files = (await readdir(crdDir)).filter((file) => file.endsWith('.yaml')).sort();
  const documents = await Promise.all(files.map(async (file) => loadAllYaml(await readFile(path.join(crdDir, file), 'utf8')) as V1CustomResourceDefinition[]));
  return documents.flat().filter((doc) => doc?.kind === 'CustomResourceDefinition');
}

/** Applies every CRD (a no-op when it is already as written) and waits until each is Established; returns their names. */
export async function applyCrds(kc: KubeConfig, fieldManager: string, timeoutMs = 30_000): Promise<string[]> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  for (const crd of await loadCrds()) {
    await objects.patch(crd, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
    const name = crd.metadata?.name ?? '';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await extensions.readCustomResourceDefinition({ name });
      if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`customresourcedefinition/${name} not established within ${timeoutMs} ms`);
      await sleep(100);
    }
    names.push(name);
  }
  return names;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  for (const name of await applyCrds(kc, 'security-baseline-operator-install')) {
    console.log(`customresourcedefinition/${name} applied (${kc.getCurrentCluster()?.server})`);
  }
}
