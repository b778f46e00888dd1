// Installs the OpenReports Report CRD pinned in go.mod (fetched by crd.sh) into
// a cluster, waiting until it is served: for the tests and the benchmark, which
// prove the reports against the real CRD.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadAllYaml, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { applyManifests } from '../apply-crds.ts';

const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'crd.sh');

/** The path of the cached CRD (downloaded on first use). */
export async function reportsCrdPath(): Promise<string> {
  const { stdout } = await promisify(execFile)(script, { timeout: 300_000 });
  return stdout.trim();
}

export async function installReportsCrd(kc: KubeConfig, fieldManager: string): Promise<void> {
  const manifests = (loadAllYaml(await readFile(await reportsCrdPath(), 'utf8')) as KubernetesObject[]).filter((doc) => doc?.kind);
  await applyManifests(kc, manifests, fieldManager);
}
