// The SecurityBaseline API (security.baseline.dev/v1alpha1), as TypeScript.
// crds/securitybaseline.yaml is the same API as an OpenAPI schema; a unit test
// (types.test.ts) proves every field here is in the schema and vice versa.

export const GROUP = 'security.baseline.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'SecurityBaseline';
export const PLURAL = 'securitybaselines';

export type Mode = 'Enforce' | 'Audit';
export type DeletionPolicy = 'Delete' | 'Orphan';
export type PolicyType = 'Ingress' | 'Egress';
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';
export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'Conflict' | 'RolloutHalted';
export type RolloutStrategy = 'Immediate' | 'Progressive';

/** metav1.LabelSelector; `{}` selects every namespace that is not excluded. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** networking.k8s.io/v1 NetworkPolicyPeer. */
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

/** networking.k8s.io/v1 NetworkPolicyPort. */
export interface NetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicySpec {
  /** Policy types denied by default; the allow rules below open holes in them. */
  defaultDeny?: PolicyType[];
  /** Egress to kube-dns in kube-system on UDP and TCP 53. */
  allowDNS?: boolean;
  /** Ingress from, and egress to, every pod of the same namespace. */
  allowSameNamespace?: boolean;
  /** Extra ingress rules, applied to every pod of the namespace unless podSelector narrows them. */
  ingress?: NetworkPolicyIngressRule[];
  egress?: NetworkPolicyEgressRule[];
  /** Extra policies for a subset of pods (the classic "backend only from frontend"). */
  podPolicies?: PodNetworkPolicy[];
}

/** An additional NetworkPolicy, named `<baseline>-<name>`, for the pods podSelector selects. */
export interface PodNetworkPolicy {
  name: string;
  podSelector: LabelSelector;
  ingress?: NetworkPolicyIngressRule[];
  egress?: NetworkPolicyEgressRule[];
}

export interface ResourceQuotaSpec {
  /** core/v1 ResourceQuotaSpec.hard: resource name to quantity. */
  hard: Record<string, string>;
}

/** A LimitRange item of type Container. */
export interface LimitRangeSpec {
  defaultRequest?: Record<string, string>;
  default?: Record<string, string>;
  max?: Record<string, string>;
  min?: Record<string, string>;
}

/** rbac.authorization.k8s.io/v1 PolicyRule. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

export interface Subject {
  /**
   * Optional, as written in any RoleBinding: `rbac.authorization.k8s.io` for
   * User and Group, `""` for ServiceAccount. The operator writes the right one either way.
   */
  apiGroup?: '' | 'rbac.authorization.k8s.io';
  kind: 'User' | 'Group' | 'ServiceAccount';
  /** May contain ${namespace} and ${label:KEY}, expanded per namespace. */
  name: string;
  /** ServiceAccounts only; defaults to the namespace being provisioned. May be templated. */
  namespace?: string;
}

/** A RoleBinding `<baseline>-<name>` to a ClusterRole, or to a Role of the same name built from `rules`. */
export interface RoleBindingSpec {
  name: string;
  clusterRole?: string;
  rules?: PolicyRule[];
  subjects: Subject[];
}

export interface PodSecuritySpec {
  enforce: PodSecurityLevel;
  /** Default to enforce. */
  audit?: PodSecurityLevel;
  warn?: PodSecurityLevel;
  /** A Kubernetes minor version such as v1.37, or latest. */
  version?: string;
}

export interface ImagePolicySpec {
  /** Image reference prefixes, each ending in `/`, such as `registry.example.com/` or `ghcr.io/acme/`. */
  allowedRegistries: string[];
}

/** Security context beyond Pod Security, enforced by admission policies like the image policy. */
export interface WorkloadPolicySpec {
  /** Every container, init and ephemeral container must set securityContext.readOnlyRootFilesystem: true. */
  readOnlyRootFilesystem?: boolean;
  /** Every image must carry a tag other than `latest`, or a digest (no tag means `latest`). */
  disallowLatestTag?: boolean;
  exec?: ExecPolicySpec;
  networkPolicies?: NetworkPoliciesPolicySpec;
}

/**
 * NetworkPolicies other than the baselines' own. They add up, so one a
 * namespace admin writes (the built-in `admin` and `edit` roles may) opens
 * what the baseline's default deny closes.
 */
export interface NetworkPoliciesPolicySpec {
  /** Refuses creating them, or changing their spec, in the selected namespaces, except for members of allowGroups. */
  deny?: boolean;
  /** Members of any of these groups are exempt from deny. */
  allowGroups?: string[];
}

/** CONNECT on pods/exec, pods/attach and pods/portforward. */
export interface ExecPolicySpec {
  /** Refuses them in the selected namespaces, except for members of allowGroups. */
  deny?: boolean;
  /** Members of any of these groups are exempt from deny. */
  allowGroups?: string[];
}

/** logging.banzaicloud.io/v1beta1 Flow spec (the part a baseline sets). */
export interface LoggingFlowSpec {
  globalOutputRefs?: string[];
  localOutputRefs?: string[];
}

export interface LoggingSpec {
  flow: LoggingFlowSpec;
}

/** One step of a Progressive rollout: how many namespaces have moved by its end (exactly one of the two). */
export interface RolloutStep {
  namespaces?: number;
  percent?: number;
  /** Wait after the step's namespaces have moved. */
  pauseSeconds?: number;
}

export interface RolloutSpec {
  strategy?: RolloutStrategy;
  /** These namespaces move first. */
  canarySelector?: LabelSelector;
  steps?: RolloutStep[];
  /** Halt once this many namespaces fail pre-flight or fail to apply. */
  maxFailures?: number;
}

export interface SecurityBaselineSpec {
  namespaceSelector: LabelSelector;
  excludeNamespaces?: string[];
  mode?: Mode;
  priority?: number;
  deletionPolicy?: DeletionPolicy;
  /** No namespace moves to a new revision while true; drift correction goes on. */
  paused?: boolean;
  revisionHistoryLimit?: number;
  rollout?: RolloutSpec;
  networkPolicy?: NetworkPolicySpec;
  resourceQuota?: ResourceQuotaSpec;
  limitRange?: LimitRangeSpec;
  roleBindings?: RoleBindingSpec[];
  podSecurity?: PodSecuritySpec;
  imagePolicy?: ImagePolicySpec;
  workloadPolicy?: WorkloadPolicySpec;
  admissionGate?: boolean;
  logging?: LoggingSpec;
}

/** metav1.Condition. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface NamespaceCounts {
  selected: number;
  compliant: number;
  drifted: number;
  failed: number;
  /** Selected namespaces where a BaselineException of this baseline is in effect. */
  excepted?: number;
}

export interface RolloutStatus {
  /** The updateRevision this progress is about. */
  revision?: string;
  step?: number;
  /** When the current step's namespaces had all moved (its pause counts from here). */
  stepCompletedAt?: string;
  updated?: number;
  pending?: number;
  held?: number;
}

export interface SecurityBaselineStatus {
  currentRevision?: string;
  updateRevision?: string;
  rollout?: RolloutStatus;
  observedGeneration?: number;
  conditions?: Condition[];
  namespaces?: NamespaceCounts;
}

export interface ObjectMeta {
  name: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface SecurityBaseline {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: SecurityBaselineSpec;
  status?: SecurityBaselineStatus;
}
