// Creating, changing and reading SecurityBaselines in tests, and writing to
// objects as another field manager (to cause drift the way people do).
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type SecurityBaseline, type SecurityBaselineSpec } from '../../src/api/types.ts';
import { HttpMethod } from '@kubernetes/client-node';
import { KubeClient, resourcePath, type KubeObject, type ResourceType } from '../../src/runtime/kube.ts';
import { adminKubeConfig, eventually, ignoreNotFound } from './cluster.ts';

const custom = () => adminKubeConfig().makeApiClient(CustomObjectsApi);

export async function createBaseline(name: string, spec: SecurityBaselineSpec): Promise<SecurityBaseline> {
  return await custom().createClusterCustomObject({
    group: GROUP, version: VERSION, plural: PLURAL,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'SecurityBaseline', metadata: { name }, spec },
  }) as SecurityBaseline;
}

/** Replaces the baseline's spec (an update, as `kubectl replace` makes), again if a status write came in between. */
export async function replaceBaseline(name: string, spec: SecurityBaselineSpec): Promise<SecurityBaseline> {
  for (let attempt = 1; ; attempt++) {
    const current = await getBaseline(name);
    try {
      return await custom().replaceClusterCustomObject({
        group: GROUP, version: VERSION, plural: PLURAL, name, body: { ...current, spec },
      }) as SecurityBaseline;
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 409) || attempt >= 10) throw error;
    }
  }
}

export async function getBaseline(name: string): Promise<SecurityBaseline> {
  return await custom().getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name }) as SecurityBaseline;
}

export async function deleteBaseline(name: string): Promise<void> {
  await custom().deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name }).catch(ignoreNotFound);
}

export async function waitForBaselineGone(name: string, timeoutMs = 30_000): Promise<void> {
  await eventually(async () => {
    const gone = await getBaseline(name).then(() => false, (e: unknown) => { ignoreNotFound(e); return true; });
    return gone || false;
  }, { timeoutMs, intervalMs: 200 });
}

/** Waits until the baseline's status satisfies `check` (which may also throw to keep waiting). */
export async function waitForStatus(name: string, check: (baseline: SecurityBaseline) => boolean, timeoutMs = 30_000): Promise<SecurityBaseline> {
  return eventually(async () => {
    const baseline = await getBaseline(name);
    return check(baseline) ? baseline : false;
  }, { timeoutMs, intervalMs: 200 });
}

export function condition(baseline: SecurityBaseline, type: string) {
  return baseline.status?.conditions?.find((c) => c.type === type);
}

/** An admin client that writes as a field manager of the test's choosing (e.g. kubectl-edit). */
export function writerAs(fieldManager: string, kubeConfig: KubeConfig = adminKubeConfig()) {
  const client = new KubeClient(kubeConfig);
  return {
    client,
    mergePatch: (type: ResourceType, name: string, namespace: string | undefined, patch: unknown) =>
      client.request<KubeObject>('patch', HttpMethod.PATCH, resourcePath(type, namespace, name), {
        query: { fieldManager }, body: patch, contentType: 'application/merge-patch+json',
      }),
    /** A server-side apply under this manager name, forced: it takes every field it names, and drops the ones the manager owned and leaves out. */
    forceApply: (type: ResourceType, object: KubeObject & Record<string, unknown>) =>
      client.request<KubeObject>('apply', HttpMethod.PATCH, resourcePath(type, object.metadata.namespace, object.metadata.name), {
        query: { fieldManager, force: 'true' }, body: object, contentType: 'application/apply-patch+yaml',
      }),
    create: (type: ResourceType, object: KubeObject & Record<string, unknown>) =>
      client.request<KubeObject>('create', HttpMethod.POST, resourcePath(type, object.metadata.namespace), {
        query: { fieldManager }, body: object,
      }),
  };
}
