// Reading and letting go of one managed object, the same for namespaced
// objects (namespace.ts) and a baseline's cluster-scoped ones (admission.ts).
import { BASELINE_LABEL, MANAGED_BY_LABEL } from '../api/constants.ts';
import type { DeletionPolicy } from '../api/types.ts';
import { isNotFound } from '../runtime/errors.ts';
import type { Informer } from '../runtime/informer.ts';
import type { KubeClient, KubeObject, ResourceType } from '../runtime/kube.ts';
import type { ReconcileMetrics } from './namespace.ts';

/** The object, or undefined when it does not exist (a read for what the label-filtered cache cannot see). */
export async function getIfExists(client: KubeClient, type: ResourceType, name: string, namespace?: string): Promise<KubeObject | undefined> {
  try {
    return await client.get(type, name, namespace);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Deletes the object (only this uid), or with `Orphan` strips the ownership
 * labels and leaves it. Either way it leaves the label-filtered cache, which
 * is told at once. An object already gone is fine. Returns whether it wrote.
 */
export async function releaseObject(
  client: KubeClient, metrics: Pick<ReconcileMetrics, 'write'>, informer: Informer<KubeObject> | undefined,
  type: ResourceType, object: KubeObject, policy: DeletionPolicy,
): Promise<boolean> {
  const { name, namespace, uid } = object.metadata;
  try {
    if (policy === 'Orphan') {
      await client.mergePatch(type, name, namespace, { metadata: { labels: { [MANAGED_BY_LABEL]: null, [BASELINE_LABEL]: null } } });
      metrics.write(type.kind, 'orphan');
    } else {
      await client.delete(type, name, namespace, uid);
      metrics.write(type.kind, 'delete');
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
    informer?.observeDeletion(object);
    return false;
  }
  informer?.observeDeletion(object);
  return true;
}
