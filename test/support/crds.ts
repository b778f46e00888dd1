// Installs the project's CustomResourceDefinitions into the test control plane,
// exactly as `make install` does. Safe to call from every test file: applying
// the same CRD twice is a no-op.
import { applyCrds } from '../../hack/apply-crds.ts';
import { EXCEPTION_KIND } from '../../src/api/exception.ts';
import { API_VERSION } from '../../src/api/types.ts';
import { EXCEPTIONS } from '../../src/controller/kinds.ts';
import { KubeApiError } from '../../src/runtime/errors.ts';
import { KubeClient } from '../../src/runtime/kube.ts';
import { adminKubeConfig, eventually } from './cluster.ts';

export async function installCrds(): Promise<void> {
  await applyCrds(adminKubeConfig(), 'security-baseline-operator-tests');
  await untilExceptionsAdmitted();
}

/**
 * A CRD is Established before the mutating admission policy that stamps an
 * exception's creator can resolve its type: until then the API server answers
 * a create with 503 ("There can be a delay between when CustomResourceDefinitions
 * are created and when they are available"). A test that creates an exception
 * first thing on a fresh control plane met it. A server-side dry run tells when
 * admission is ready; any answer but 503 (here a 422 or 403 is fine) will do.
 */
async function untilExceptionsAdmitted(): Promise<void> {
  const client = new KubeClient(adminKubeConfig());
  const probe = { apiVersion: API_VERSION, kind: EXCEPTION_KIND, metadata: { name: 'admission-probe' }, spec: {} };
  await eventually(async () => {
    try {
      await client.dryRunApply(EXCEPTIONS, probe);
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 503) return false;
      if (error instanceof KubeApiError) return true;
      throw error;
    }
  }, { timeoutMs: 30_000, intervalMs: 100 });
}
