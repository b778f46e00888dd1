// Installs the project's CustomResourceDefinitions into the test control plane,
// exactly as `make install` does. Safe to call from every test file: applying
// the same CRD twice is a no-op.
import { applyCrds } from '../../hack/apply-crds.ts';
import { adminKubeConfig } from './cluster.ts';

export async function installCrds(): Promise<void> {
  await applyCrds(adminKubeConfig(), 'security-baseline-operator-tests');
}
