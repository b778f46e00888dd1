// Network segmentation. `<baseline>-default-deny` selects every pod of the
// namespace and isolates it for the policy types in defaultDeny, then opens the
// holes the baseline allows (DNS, the same namespace, the declared rules).
// Each podPolicies entry adds `<baseline>-<name>` for a subset of pods, such as
// "backend pods only reachable from frontend pods on TCP 80". NetworkPolicies
// add up: a pod may receive what any policy selecting it allows.

import type {
  LabelSelector,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NetworkPolicySpec,
  PodNetworkPolicy,
  PolicyType,
} from '../api/types.ts';
import { canonicalSelector, validateSelector } from '../api/labelselector.ts';
import { SpecError } from './errors.ts';
import { managedMetadata } from './metadata.ts';
import type { DesiredObject } from './object.ts';

export const DEFAULT_DENY_SUFFIX = 'default-deny';
/** Isolate for both directions when the networkPolicy section is present but defaultDeny is not. */
export const DEFAULT_POLICY_TYPES: readonly PolicyType[] = ['Ingress', 'Egress'];
const POLICY_TYPE_ORDER: readonly PolicyType[] = ['Ingress', 'Egress'];

export interface NetworkPolicyObjectSpec {
  podSelector: LabelSelector;
  ingress: NetworkPolicyIngressRule[];
  egress: NetworkPolicyEgressRule[];
  policyTypes: PolicyType[];
}

export interface NetworkPolicyObject extends DesiredObject {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  spec: NetworkPolicyObjectSpec;
}

/** kube-dns (CoreDNS keeps the label) in kube-system, on UDP and TCP 53. */
const DNS_EGRESS_RULE: NetworkPolicyEgressRule = {
  ports: [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ],
  to: [
    {
      podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
    },
  ],
};
/** A bare podSelector peer is every pod of the policy's own namespace. */
const SAME_NAMESPACE_INGRESS_RULE: NetworkPolicyIngressRule = { from: [{ podSelector: {} }] };
const SAME_NAMESPACE_EGRESS_RULE: NetworkPolicyEgressRule = { to: [{ podSelector: {} }] };

function checkedSelector(selector: LabelSelector, field: string): LabelSelector {
  const [problem] = validateSelector(selector, field);
  if (problem) throw new SpecError(problem.field, problem.message);
  return canonicalSelector(selector);
}

function canonicalPeer(peer: NetworkPolicyPeer, field: string): NetworkPolicyPeer {
  const hasSelector = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
  if (hasSelector === (peer.ipBlock !== undefined)) {
    throw new SpecError(field, 'a peer sets podSelector and/or namespaceSelector, or ipBlock alone');
  }
  return {
    ...(peer.podSelector ? { podSelector: checkedSelector(peer.podSelector, `${field}.podSelector`) } : {}),
    ...(peer.namespaceSelector ? { namespaceSelector: checkedSelector(peer.namespaceSelector, `${field}.namespaceSelector`) } : {}),
    ...(peer.ipBlock
      ? {
          ipBlock: {
            cidr: peer.ipBlock.cidr,
            ...(peer.ipBlock.except && peer.ipBlock.except.length > 0 ? { except: [...peer.ipBlock.except] } : {}),
          },
        }
      : {}),
  };
}

/** The protocol defaults to TCP on the server; writing it keeps desired and stored equal. */
function canonicalPort(port: NetworkPolicyPort): NetworkPolicyPort {
  return {
    protocol: port.protocol ?? 'TCP',
    ...(port.port !== undefined ? { port: port.port } : {}),
    ...(port.endPort !== undefined ? { endPort: port.endPort } : {}),
  };
}

function canonicalPorts(ports: readonly NetworkPolicyPort[] | undefined): { ports?: NetworkPolicyPort[] } {
  return ports && ports.length > 0 ? { ports: ports.map(canonicalPort) } : {};
}

function canonicalPeers(peers: readonly NetworkPolicyPeer[] | undefined, field: string): NetworkPolicyPeer[] | undefined {
  return peers && peers.length > 0 ? peers.map((peer, index) => canonicalPeer(peer, `${field}[${index}]`)) : undefined;
}

// An empty `from`/`to` (or none) means every source or destination; both are
// stored as an absent field.
function canonicalIngressRule(rule: NetworkPolicyIngressRule, field: string): NetworkPolicyIngressRule {
  const from = canonicalPeers(rule.from, `${field}.from`);
  return { ...canonicalPorts(rule.ports), ...(from ? { from } : {}) };
}

function canonicalEgressRule(rule: NetworkPolicyEgressRule, field: string): NetworkPolicyEgressRule {
  const to = canonicalPeers(rule.to, `${field}.to`);
  return { ...canonicalPorts(rule.ports), ...(to ? { to } : {}) };
}

function policy(
  baseline: string,
  namespace: string,
  suffix: string,
  suffixField: string | undefined,
  spec: NetworkPolicyObjectSpec,
): NetworkPolicyObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: managedMetadata(baseline, namespace, suffix, suffixField),
    // Both rule lists are applied even when empty, so the operator owns them: a
    // rule someone adds to a policy that allows nothing (`ingress: [{}]` opens
    // it to all) then moves the list to its writer, and shows as drift. An
    // omitted list would be no one's, and a rule added there unseen.
    spec: {
      podSelector: spec.podSelector,
      ingress: spec.ingress,
      egress: spec.egress,
      policyTypes: spec.policyTypes,
    },
  };
}

/**
 * `<baseline>-default-deny`, or undefined when defaultDeny is an empty list
 * (nothing isolated, so allow rules would have no effect).
 *
 * policyTypes is exactly defaultDeny. A rule of a direction that is not listed
 * would be stored but ignored by Kubernetes, so it is left out: the object shows
 * what is enforced. (allowDNS without Egress in defaultDeny, for instance, adds
 * nothing.)
 */
export function buildDefaultDenyPolicy(baseline: string, namespace: string, spec: NetworkPolicySpec): NetworkPolicyObject | undefined {
  const denied = new Set(spec.defaultDeny ?? DEFAULT_POLICY_TYPES);
  const policyTypes = POLICY_TYPE_ORDER.filter((type) => denied.has(type));
  if (policyTypes.length === 0) return undefined;
  const ingress: NetworkPolicyIngressRule[] = [];
  const egress: NetworkPolicyEgressRule[] = [];
  if (denied.has('Ingress')) {
    if (spec.allowSameNamespace) ingress.push(canonicalIngressRule(SAME_NAMESPACE_INGRESS_RULE, 'spec.networkPolicy.allowSameNamespace'));
    (spec.ingress ?? []).forEach((rule, index) => ingress.push(canonicalIngressRule(rule, `spec.networkPolicy.ingress[${index}]`)));
  }
  if (denied.has('Egress')) {
    if (spec.allowDNS) egress.push(canonicalEgressRule(DNS_EGRESS_RULE, 'spec.networkPolicy.allowDNS'));
    if (spec.allowSameNamespace) egress.push(canonicalEgressRule(SAME_NAMESPACE_EGRESS_RULE, 'spec.networkPolicy.allowSameNamespace'));
    (spec.egress ?? []).forEach((rule, index) => egress.push(canonicalEgressRule(rule, `spec.networkPolicy.egress[${index}]`)));
  }
  return policy(baseline, namespace, DEFAULT_DENY_SUFFIX, undefined, { podSelector: {}, ingress, egress, policyTypes });
}

/**
 * `<baseline>-<name>` for one podPolicies entry. Its policyTypes are the
 * directions it lists: `ingress: []` isolates the selected pods for ingress and
 * allows nothing in. With neither listed it isolates for Ingress, which is what
 * Kubernetes defaults an empty policyTypes to.
 */
export function buildPodPolicy(baseline: string, namespace: string, podPolicy: PodNetworkPolicy, index: number): NetworkPolicyObject {
  const field = `spec.networkPolicy.podPolicies[${index}]`;
  const policyTypes: PolicyType[] = [];
  if (podPolicy.ingress !== undefined || podPolicy.egress === undefined) policyTypes.push('Ingress');
  if (podPolicy.egress !== undefined) policyTypes.push('Egress');
  return policy(baseline, namespace, podPolicy.name, `${field}.name`, {
    podSelector: checkedSelector(podPolicy.podSelector, `${field}.podSelector`),
    ingress: (podPolicy.ingress ?? []).map((rule, ruleIndex) => canonicalIngressRule(rule, `${field}.ingress[${ruleIndex}]`)),
    egress: (podPolicy.egress ?? []).map((rule, ruleIndex) => canonicalEgressRule(rule, `${field}.egress[${ruleIndex}]`)),
    policyTypes,
  });
}

/** Every NetworkPolicy of a baseline's networkPolicy section, default-deny first. */
export function buildNetworkPolicies(baseline: string, namespace: string, spec: NetworkPolicySpec): NetworkPolicyObject[] {
  const policies: NetworkPolicyObject[] = [];
  const defaultDeny = buildDefaultDenyPolicy(baseline, namespace, spec);
  if (defaultDeny) policies.push(defaultDeny);
  const seen = new Set<string>([DEFAULT_DENY_SUFFIX]);
  (spec.podPolicies ?? []).forEach((podPolicy, index) => {
    if (seen.has(podPolicy.name)) {
      const why = podPolicy.name === DEFAULT_DENY_SUFFIX ? `"${DEFAULT_DENY_SUFFIX}" is reserved` : `duplicate name "${podPolicy.name}"`;
      throw new SpecError(`spec.networkPolicy.podPolicies[${index}].name`, why);
    }
    seen.add(podPolicy.name);
    policies.push(buildPodPolicy(baseline, namespace, podPolicy, index));
  });
  return policies;
}
