// What the CLI reads from (and dry-runs against) the cluster in KUBECONFIG,
// with the operator's own JSON client: baselines, exceptions, namespaces, the managed
// objects of a namespace (the operator's label, as its informers select them),
// pods, Events, and server-side dry runs.
import { HttpMethod, KubeConfig } from '@kubernetes/client-node';
import { NOT_A_BASELINES_SELECTOR, OWNED_SELECTOR } from '../api/constants.ts';
import type { BaselineObject, ExceptionObject, NamespaceObject } from '../controller/context.ts';
import { BASELINES, EXCEPTIONS, MANAGED_KINDS, NAMESPACES, NETWORK_POLICIES, REPORTS } from '../controller/kinds.ts';
import { isForbidden, isNotFound, KubeApiError } from '../runtime/errors.ts';
import { KubeClient, resourcePath, type KubeObject, type ResourceType } from '../runtime/kube.ts';

export const PODS: ResourceType = { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
export const EVENTS: ResourceType = { apiVersion: 'v1', kind: 'Event', plural: 'events', namespaced: true };

export function kubeClient(): KubeClient {
  const config = new KubeConfig();
  config.loadFromDefault();
  if (!config.getCurrentCluster()) throw new Error('no cluster in the kubeconfig: set KUBECONFIG or a current context');
  return new KubeClient(config);
}

export async function listBaselines(client: KubeClient): Promise<BaselineObject[]> {
  try {
    return (await client.list<BaselineObject>(BASELINES)).items;
  } catch (error) {
    if (isNotFound(error)) throw new Error('the cluster does not serve SecurityBaselines: install the CRD (make install)', { cause: error });
    throw error;
  }
}

/** The BaselineExceptions; none when the cluster does not serve them (an older install). */
export async function listExceptions(client: KubeClient): Promise<ExceptionObject[]> {
  try {
    return (await client.list<ExceptionObject>(EXCEPTIONS)).items;
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

export async function listNamespaces(client: KubeClient): Promise<NamespaceObject[]> {
  return (await client.list<NamespaceObject>(NAMESPACES)).items;
}

export async function getNamespace(client: KubeClient, name: string): Promise<NamespaceObject | undefined> {
  try {
    return await client.get<NamespaceObject>(NAMESPACES, name);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The operator's objects in a namespace, of every managed kind the cluster serves. */
export async function managedObjects(client: KubeClient, namespace: string): Promise<KubeObject[]> {
  const lists = await Promise.all(MANAGED_KINDS.map(async (type) => {
    try {
      return (await client.list<KubeObject>(type, { namespace, labelSelector: OWNED_SELECTOR })).items;
    } catch (error) {
      if (isNotFound(error)) return []; // an optional kind whose CRD is not installed
      throw error;
    }
  }));
  return lists.flat();
}

/**
 * The names of the NetworkPolicies in a namespace that are not the operator's
 * (someone else's, or another tool's), or `forbidden` when the caller may not
 * list them. NetworkPolicies add up, so each of these allows traffic besides
 * what the baselines allow.
 */
export async function otherNetworkPolicies(client: KubeClient, namespace: string): Promise<string[] | 'forbidden'> {
  try {
    const { items } = await client.list<KubeObject>(NETWORK_POLICIES, { namespace, labelSelector: NOT_A_BASELINES_SELECTOR });
    return items.map((item) => item.metadata.name).sort();
  } catch (error) {
    if (isForbidden(error)) return 'forbidden';
    throw error;
  }
}

export async function listPods(client: KubeClient, namespace: string): Promise<KubeObject[]> {
  return (await client.list<KubeObject>(PODS, { namespace })).items;
}

/** The namespace's compliance report, when the OpenReports CRD is installed and the operator wrote one. */
export async function getReport(client: KubeClient, namespace: string): Promise<KubeObject | undefined> {
  try {
    return await client.get(REPORTS, 'security-baseline', namespace);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Events about a namespace (they live in `default`, as for every cluster-scoped object), newest first. */
export async function namespaceEvents(client: KubeClient, namespace: string): Promise<KubeObject[]> {
  const items = (await client.list<KubeObject & { lastTimestamp?: string; eventTime?: string }>(EVENTS, {
    namespace: 'default', fieldSelector: `involvedObject.kind=Namespace,involvedObject.name=${namespace}`,
  })).items;
  const when = (e: { lastTimestamp?: string; eventTime?: string; metadata: { creationTimestamp?: string } }) => e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? '';
  return items.sort((a, b) => when(b).localeCompare(when(a)));
}

/** A server-side dry run of creating `object`; the API server's refusal, or undefined when it would be accepted. */
export async function dryRunCreate(client: KubeClient, object: unknown): Promise<string | undefined> {
  const body = object as KubeObject;
  try {
    await client.request('create', HttpMethod.POST, resourcePath(BASELINES), {
      query: { dryRun: 'All', fieldValidation: 'Strict', fieldManager: 'security-baseline-cli' },
      body: { ...body, metadata: { ...body.metadata, resourceVersion: undefined } },
    });
    return undefined;
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 409) return dryRunUpdate(client, body);
    if (error instanceof KubeApiError) return error.apiMessage;
    throw error;
  }
}

/** The baseline exists: a dry run of applying it (an update), which the authoring policy checks as such. */
async function dryRunUpdate(client: KubeClient, object: KubeObject): Promise<string | undefined> {
  try {
    await client.request('apply', HttpMethod.PATCH, resourcePath(BASELINES, undefined, object.metadata.name), {
      query: { dryRun: 'All', fieldValidation: 'Strict', fieldManager: 'security-baseline-cli', force: 'true' },
      body: object, contentType: 'application/apply-patch+yaml',
    });
    return undefined;
  } catch (error) {
    if (error instanceof KubeApiError) return error.apiMessage;
    throw error;
  }
}

/**
 * What the API server would warn about if the namespace got these Pod Security
 * labels: a dry run of the label change, whose warnings name the existing pods
 * that would violate the new enforce level.
 */
export async function podSecurityWarnings(client: KubeClient, namespace: string, labels: Record<string, string>): Promise<string[]> {
  const warnings: string[] = [];
  await client.request('patch', HttpMethod.PATCH, resourcePath(NAMESPACES, undefined, namespace), {
    query: { dryRun: 'All', fieldManager: 'security-baseline-cli' },
    body: { metadata: { labels } }, contentType: 'application/merge-patch+json', onWarnings: (received) => warnings.push(...received),
  });
  return warnings;
}
