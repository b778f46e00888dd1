// The BaselineException API (security.baseline.dev/v1alpha1): a time-boxed,
// reasoned relaxation of one baseline's controls in named namespaces.
// crds/baselineexception.yaml is the same API as an OpenAPI schema (generated
// by hack/exception-crd.ts); exception.test.ts proves every field here is in
// the schema and vice versa.
import type { Condition, NetworkPolicyEgressRule, NetworkPolicyIngressRule, ObjectMeta, PodSecurityLevel } from './types.ts';
import { API_VERSION } from './types.ts';

export const EXCEPTION_KIND = 'BaselineException';
export const EXCEPTION_PLURAL = 'baselineexceptions';

/** An exception lasts at most this long after its creation (the admission policy refuses more). */
export const MAX_EXCEPTION_DAYS = 90;
/**
 * An exception names at most this many namespaces: the admission policy asks
 * the API server's authorizer about each one, and one policy evaluation can
 * afford only so many checks (see hack/exception-policy.ts).
 */
export const MAX_EXCEPTION_NAMESPACES = 8;
/** Who created the exception: stamped at admission (crds/exception-policy.yaml); nobody can set another name. */
export const CREATED_BY_ANNOTATION = 'security.baseline.dev/created-by';

export type ExceptionState = 'Pending' | 'Active' | 'Expired' | 'Invalid';
export type ExceptionConditionType = 'Valid' | 'Active';

/** What an exception loosens; each section only loosens the same control of the baseline. */
export interface RelaxSpec {
  /** A lower Pod Security enforce level than the baseline's; audit and warn stay at the baseline's. */
  podSecurity?: { enforce: PodSecurityLevel };
  /** More allowed image prefixes, on top of the baseline's. */
  imagePolicy?: { allowedRegistries: string[] };
  /** Extra allow rules in the baseline's default-deny NetworkPolicy; the default deny stays. */
  networkPolicy?: { ingress?: NetworkPolicyIngressRule[]; egress?: NetworkPolicyEgressRule[] };
  /** Higher values for resources the baseline's quota limits. */
  resourceQuota?: { hard: Record<string, string> };
  /** `false`: the baseline's admission gate lets pods in before the baseline is applied. */
  admissionGate?: boolean;
  /** Rules of the baseline's workload policy switched off in the named namespaces. */
  workloadPolicy?: RelaxWorkloadPolicy;
}

/**
 * `exec.deny: false` lets people exec, attach and port-forward in the named
 * namespaces (RBAC still decides who): a break-glass for an incident that ends
 * by itself. Only exec: a NetworkPolicy written while the guard is lifted would
 * outlive the exception, so traffic is opened by `networkPolicy`, whose rules
 * end with it.
 */
export interface RelaxWorkloadPolicy {
  exec: { deny: boolean };
}

export type RelaxedControl = keyof RelaxSpec;

export interface BaselineExceptionSpec {
  /** The SecurityBaseline whose controls are relaxed. */
  baseline: string;
  /** Namespace names (never a selector). */
  namespaces: string[];
  /** Why, for the people who read the Events and review the exception. */
  reason: string;
  /** RFC 3339; at most MAX_EXCEPTION_DAYS after creation. */
  expiresAt: string;
  relax: RelaxSpec;
}

export interface ExceptionCondition extends Omit<Condition, 'type'> {
  type: ExceptionConditionType;
}

export interface BaselineExceptionStatus {
  state?: ExceptionState;
  observedGeneration?: number;
  /** The named namespaces the baseline selects: where the exception is in effect while Active. */
  namespaces?: string[];
  conditions?: ExceptionCondition[];
}

export interface BaselineException {
  apiVersion: typeof API_VERSION;
  kind: typeof EXCEPTION_KIND;
  metadata: ObjectMeta;
  spec: BaselineExceptionSpec;
  status?: BaselineExceptionStatus;
}
