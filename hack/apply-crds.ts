// `make install`: server-side applies crds/*.yaml to the cluster in $KUBECONFIG
// and waits until they are served. No kubectl needed.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiextensionsV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';

const crdDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../crds');
const kc = new KubeConfig();
kc.loadFromDefault();
const objects = KubernetesObjectApi.makeApiClient(kc);
const extensions = kc.makeApiClient(ApiextensionsV1Api);

for (const file of (await readdir(crdDir)).filter((f) => f.endsWith('.yaml')).sort()) {
  const documents = loadAllYaml(await readFile(path.join(crdDir, file), 'utf8')) as V1CustomResourceDefinition[];
  for (const crd of documents.filter((doc) => doc?.kind === 'CustomResourceDefinition')) {
    await objects.patch(crd, undefined, undefined, 'security-baseline-operator-install', true, PatchStrategy.ServerSideApply);
    const name = crd.metadata?.name ?? '';
    for (let i = 0; i < 100; i++) {
      const current = await extensions.readCustomResourceDefinition({ name });
      if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      await sleep(100);
    }
    console.log(`customresourcedefinition/${name} applied (${kc.getCurrentCluster()?.server})`);
  }
}
