// `make install`: server-side applies everything in crds/ to the cluster in
// $KUBECONFIG — the CustomResourceDefinitions, waiting until each is served,
// then the authoring policy that guards who may write baselines (it must never
// be missing where baselines can be written). No kubectl needed. The tests and
// the benchmark install the API with the same function.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, ApiextensionsV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

const crdDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../crds');

/** Every object in crds/*.yaml, CustomResourceDefinitions first. */
export async function loadApiManifests(): Promise<KubernetesObject[]> {
  const files = (await readdir(crdDir)).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml').sort();
  const documents = await Promise.all(files.map(async (file) => loadAllYaml(await readFile(path.join(crdDir, file), 'utf8')) as KubernetesObject[]));
  const objects = documents.flat().filter((doc) => doc?.kind);
  const isCrd = (object: KubernetesObject) => object.kind === 'CustomResourceDefinition';
  return [...objects.filter(isCrd), ...objects.filter((object) => !isCrd(object))];
}

/**
 * Applies crds/ (a no-op when it is already as written), waiting until each CRD
 * is Established before the objects that use it; returns `kind/name` of each.
 */
export async function applyCrds(kc: KubeConfig, fieldManager: string, timeoutMs = 30_000): Promise<string[]> {
  return applyManifests(kc, await loadApiManifests(), fieldManager, timeoutMs);
}

/** Applies `manifests` in order, waiting until each CRD among them is Established; returns `kind/name` of each. */
export async function applyManifests(kc: KubeConfig, manifests: readonly KubernetesObject[], fieldManager: string, timeoutMs = 30_000): Promise<string[]> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  const applied: string[] = [];
  for (const object of manifests) {
    await objects.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
    const name = object.metadata?.name ?? '';
    if (object.kind === 'CustomResourceDefinition') {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const current = await extensions.readCustomResourceDefinition({ name });
        if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (Date.now() > deadline) throw new Error(`customresourcedefinition/${name} not established within ${timeoutMs} ms`);
        await sleep(100);
      }
    }
    applied.push(`${(object.kind ?? '').toLowerCase()}/${name}`);
  }
  await untilMutationsAdmit(objects, await loadApiManifests(), timeoutMs);
  return applied;
}

/**
 * A MutatingAdmissionPolicy admits nothing of a new CRD's kind until the API
 * server has read the CRD's OpenAPI schema (it polls every 5 seconds; until
 * then it answers 503): wait until a server-side dry run of an empty object
 * of each such kind gets past it (to the schema's own refusal, a 422).
 */
async function untilMutationsAdmit(objects: KubernetesObjectApi, manifests: KubernetesObject[], timeoutMs: number): Promise<void> {
  type Crd = KubernetesObject & { spec: { group: string; scope: string; names: { kind: string; plural: string }; versions: { name: string; storage: boolean }[] } };
  type Rules = { spec?: { matchConstraints?: { resourceRules?: { apiGroups?: string[]; resources?: string[] }[] } } };
  const crds = manifests.filter((o): o is Crd => o.kind === 'CustomResourceDefinition');
  const mutated = manifests.filter((o) => o.kind === 'MutatingAdmissionPolicy')
    .flatMap((policy) => (policy as Rules).spec?.matchConstraints?.resourceRules ?? [])
    .flatMap((rule) => crds.filter((crd) => rule.apiGroups?.includes(crd.spec.group) && rule.resources?.includes(crd.spec.names.plural)));
  for (const crd of new Set(mutated)) {
    const version = crd.spec.versions.find((v) => v.storage)?.name ?? '';
    const probe = {
      apiVersion: `${crd.spec.group}/${version}`, kind: crd.spec.names.kind,
      metadata: { name: 'install-probe', ...(crd.spec.scope === 'Namespaced' ? { namespace: 'default' } : {}) },
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await objects.create(probe, undefined, 'All').then(() => 200, (error: unknown) => (error instanceof ApiException ? error.code : 0));
      if (status !== 503) break;
      if (Date.now() > deadline) throw new Error(`${crd.spec.names.kind} not admitted by its MutatingAdmissionPolicy within ${timeoutMs} ms`);
      await sleep(250);
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  for (const name of await applyCrds(kc, 'security-baseline-operator-install')) {
    console.log(`${name} applied (${kc.getCurrentCluster()?.server})`);
  }
}
