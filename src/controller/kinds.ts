// The kinds the operator reads and writes, as REST resources.
import { API_VERSION, KIND, PLURAL } from '../api/types.ts';
import { EXCEPTION_KIND, EXCEPTION_PLURAL } from '../api/exception.ts';
import { RBAC_API_VERSION } from '../resources/rolebinding.ts';
import { ADMISSION_API_VERSION } from '../resources/imagepolicy.ts';
import { REPORT_API_VERSION } from '../resources/report.ts';
import type { ResourceType } from '../runtime/kube.ts';

export const NAMESPACES: ResourceType = { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };
export const BASELINES: ResourceType = { apiVersion: API_VERSION, kind: KIND, plural: PLURAL, namespaced: false };
export const EXCEPTIONS: ResourceType = { apiVersion: API_VERSION, kind: EXCEPTION_KIND, plural: EXCEPTION_PLURAL, namespaced: false };
/** The revisions of the baselines, in the operator's namespace. */
export const CONTROLLER_REVISIONS: ResourceType = { apiVersion: 'apps/v1', kind: 'ControllerRevision', plural: 'controllerrevisions', namespaced: true };
/** Read by pre-flight: the images of a namespace's pods. */
export const PODS: ResourceType = { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
export const CLUSTER_ROLES: ResourceType = { apiVersion: RBAC_API_VERSION, kind: 'ClusterRole', plural: 'clusterroles', namespaced: false };

export const NETWORK_POLICIES: ResourceType = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true };

/** The namespaced kinds a baseline creates; each gets one label-filtered informer. */
export const MANAGED_KINDS: readonly ResourceType[] = [
  NETWORK_POLICIES,
  { apiVersion: 'v1', kind: 'ResourceQuota', plural: 'resourcequotas', namespaced: true },
  { apiVersion: 'v1', kind: 'LimitRange', plural: 'limitranges', namespaced: true },
  { apiVersion: RBAC_API_VERSION, kind: 'Role', plural: 'roles', namespaced: true },
  { apiVersion: RBAC_API_VERSION, kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  { apiVersion: 'logging.banzaicloud.io/v1beta1', kind: 'Flow', plural: 'flows', namespaced: true },
];

/** The cluster-scoped kinds a baseline creates (its admission policies); one informer each. */
export const CLUSTER_MANAGED_KINDS: readonly ResourceType[] = [
  { apiVersion: ADMISSION_API_VERSION, kind: 'ValidatingAdmissionPolicy', plural: 'validatingadmissionpolicies', namespaced: false },
  { apiVersion: ADMISSION_API_VERSION, kind: 'ValidatingAdmissionPolicyBinding', plural: 'validatingadmissionpolicybindings', namespaced: false },
];

export const [ADMISSION_POLICIES, ADMISSION_POLICY_BINDINGS] = CLUSTER_MANAGED_KINDS as [ResourceType, ResourceType];

export function clusterManagedKind(kind: string): ResourceType | undefined {
  return CLUSTER_MANAGED_KINDS.find((type) => type.kind === kind);
}

/**
 * The API's MutatingAdmissionPolicy and its binding (crds/exception-policy.yaml),
 * watched by name only: the operator never writes that kind. Optional: a
 * cluster that does not serve it cannot have the policy, which is reported.
 */
export const MUTATING_ADMISSION_POLICY_KINDS: readonly ResourceType[] = [
  { apiVersion: ADMISSION_API_VERSION, kind: 'MutatingAdmissionPolicy', plural: 'mutatingadmissionpolicies', namespaced: false },
  { apiVersion: ADMISSION_API_VERSION, kind: 'MutatingAdmissionPolicyBinding', plural: 'mutatingadmissionpolicybindings', namespaced: false },
];

/** The namespace's compliance report (resources/report.ts); not a managed kind: no baseline owns it. */
export const REPORTS: ResourceType = { apiVersion: REPORT_API_VERSION, kind: 'Report', plural: 'reports', namespaced: true };

/** Kinds from CRDs that may not be installed: the operator works without them and says so. */
export const OPTIONAL_KINDS = new Set(['logging.banzaicloud.io/v1beta1/Flow', kindKey(REPORTS)]);

/** `apiVersion/kind`, which names a kind across groups. */
export function kindKey(type: { apiVersion: string; kind: string }): string {
  return `${type.apiVersion}/${type.kind}`;
}

export function managedKind(apiVersion: string, kind: string): ResourceType | undefined {
  return MANAGED_KINDS.find((type) => type.apiVersion === apiVersion && type.kind === kind);
}
