// Creating, reading and deleting BaselineExceptions in tests, as an admin or
// as another identity.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { EXCEPTION_KIND, EXCEPTION_PLURAL, type BaselineException, type BaselineExceptionSpec } from '../../src/api/exception.ts';
import { API_VERSION, GROUP, VERSION } from '../../src/api/types.ts';
import { EXCEPTIONS } from '../../src/controller/kinds.ts';
import { KubeClient } from '../../src/runtime/kube.ts';
import { adminKubeConfig, eventually, ignoreNotFound } from './cluster.ts';

const resource = { group: GROUP, version: VERSION, plural: EXCEPTION_PLURAL };
const custom = (kc: KubeConfig = adminKubeConfig()) => kc.makeApiClient(CustomObjectsApi);

/** An RFC 3339 time `ms` from now, to the second (rounded up, so it is never earlier than asked). */
export function inFuture(ms: number, now = Date.now()): string {
  return new Date(Math.ceil((now + ms) / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

export function exceptionBody(name: string, spec: BaselineExceptionSpec, annotations?: Record<string, string>): BaselineException {
  return { apiVersion: API_VERSION, kind: EXCEPTION_KIND, metadata: { name, ...(annotations ? { annotations } : {}) }, spec };
}

export async function createException(name: string, spec: BaselineExceptionSpec, kc?: KubeConfig, annotations?: Record<string, string>): Promise<BaselineException> {
  return await custom(kc).createClusterCustomObject({ ...resource, body: exceptionBody(name, spec, annotations) }) as BaselineException;
}

export async function getException(name: string): Promise<BaselineException> {
  return await custom().getClusterCustomObject({ ...resource, name }) as BaselineException;
}

/** Merge-patches the exception's spec (as `kc`). */
export async function patchException(name: string, spec: Partial<BaselineExceptionSpec>, kc: KubeConfig = adminKubeConfig()): Promise<unknown> {
  return await new KubeClient(kc).mergePatch(EXCEPTIONS, name, undefined, { spec });
}

export async function deleteException(name: string): Promise<void> {
  await custom().deleteClusterCustomObject({ ...resource, name }).catch(ignoreNotFound);
}

/** Waits until the exception's status satisfies `check`. */
export async function waitForException(name: string, check: (exception: BaselineException) => boolean, timeoutMs = 30_000): Promise<BaselineException> {
  return eventually(async () => {
    const exception = await getException(name);
    return check(exception) ? exception : false;
  }, { timeoutMs, intervalMs: 100 });
}
