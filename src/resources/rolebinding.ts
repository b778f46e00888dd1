// RoleBindings `<baseline>-<name>`: the administrative boundary between tenants.
// Each entry binds its subjects either to an existing ClusterRole (view, edit,
// admin…) or to a Role of the same name built in the namespace from `rules`.
// Subject names and namespaces are templated per namespace (see template.ts).

import type { PolicyRule, RoleBindingSpec, Subject } from '../api/types.ts';
import { SpecError } from './errors.ts';
import { isDnsSubdomain, managedMetadata } from './metadata.ts';
import type { DesiredObject } from './object.ts';
import { expandTemplate } from './template.ts';
import type { NamespaceInfo } from './template.ts';

export const RBAC_API_GROUP = 'rbac.authorization.k8s.io';
export const RBAC_API_VERSION = `${RBAC_API_GROUP}/v1`;

/** rbac/v1 Subject in the API server's field order; apiGroup is omitted for ServiceAccounts (it is ""). */
export interface SubjectObject {
  kind: Subject['kind'];
  apiGroup?: typeof RBAC_API_GROUP;
  name: string;
  namespace?: string;
}

export interface PolicyRuleObject {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

export interface RoleObject extends DesiredObject {
  apiVersion: typeof RBAC_API_VERSION;
  kind: 'Role';
  rules: PolicyRuleObject[];
}

export interface RoleBindingObject extends DesiredObject {
  apiVersion: typeof RBAC_API_VERSION;
  kind: 'RoleBinding';
  subjects?: SubjectObject[];
  roleRef: { apiGroup: typeof RBAC_API_GROUP; kind: 'ClusterRole' | 'Role'; name: string };
}

function buildSubject(subject: Subject, namespace: NamespaceInfo, field: string): SubjectObject {
  const name = expandTemplate(subject.name, namespace, `${field}.name`);
  if (name.length === 0) throw new SpecError(`${field}.name`, `"${subject.name}" expands to an empty name in namespace "${namespace.name}"`);
  if (subject.kind !== 'ServiceAccount') {
    // A namespace means nothing for a User or Group; it is dropped rather than stored.
    return { kind: subject.kind, apiGroup: RBAC_API_GROUP, name };
  }
  if (!isDnsSubdomain(name)) {
    throw new SpecError(`${field}.name`, `"${name}" is not a valid ServiceAccount name (lower-case alphanumerics, '-' and '.')`);
  }
  const subjectNamespace =
    subject.namespace === undefined ? namespace.name : expandTemplate(subject.namespace, namespace, `${field}.namespace`);
  if (subjectNamespace.length === 0) {
    throw new SpecError(`${field}.namespace`, `"${subject.namespace}" expands to an empty namespace in namespace "${namespace.name}"`);
  }
  return { kind: 'ServiceAccount', name, namespace: subjectNamespace };
}

/** A copy of `rule` with empty lists dropped, refusing what RBAC validation refuses for a Role. */
function buildRule(rule: PolicyRule, field: string): PolicyRuleObject {
  if (rule.verbs.length === 0) throw new SpecError(`${field}.verbs`, 'must list at least one verb');
  if ((rule.apiGroups ?? []).length === 0) throw new SpecError(`${field}.apiGroups`, 'must list at least one API group ("" is the core group)');
  if ((rule.resources ?? []).length === 0) throw new SpecError(`${field}.resources`, 'must list at least one resource');
  return {
    verbs: [...rule.verbs],
    apiGroups: [...(rule.apiGroups ?? [])],
    resources: [...(rule.resources ?? [])],
    ...(rule.resourceNames && rule.resourceNames.length > 0 ? { resourceNames: [...rule.resourceNames] } : {}),
  };
}

/**
 * The Role (when the entry has rules) and the RoleBinding of one roleBindings
 * entry. `index` locates the entry in the spec for error messages.
 */
function buildEntry(baseline: string, namespace: NamespaceInfo, entry: RoleBindingSpec, index: number): (RoleObject | RoleBindingObject)[] {
  const field = `spec.roleBindings[${index}]`;
  const hasClusterRole = entry.clusterRole !== undefined && entry.clusterRole !== '';
  if (hasClusterRole === (entry.rules !== undefined)) {
    throw new SpecError(field, 'set exactly one of clusterRole (bind an existing ClusterRole) or rules (build a Role)');
  }
  const metadata = managedMetadata(baseline, namespace.name, entry.name, `${field}.name`);
  const subjects = entry.subjects.map((subject, subjectIndex) => buildSubject(subject, namespace, `${field}.subjects[${subjectIndex}]`));
  const binding: RoleBindingObject = {
    apiVersion: RBAC_API_VERSION,
    kind: 'RoleBinding',
    metadata,
    ...(subjects.length > 0 ? { subjects } : {}),
    roleRef: { apiGroup: RBAC_API_GROUP, kind: hasClusterRole ? 'ClusterRole' : 'Role', name: hasClusterRole ? (entry.clusterRole as string) : metadata.name },
  };
  if (hasClusterRole) return [binding];
  const rules = entry.rules ?? [];
  // Role.rules is not omitempty: an empty list would come back as null, and a Role granting nothing is a mistake.
  if (rules.length === 0) throw new SpecError(`${field}.rules`, 'must list at least one rule');
  const role: RoleObject = {
    apiVersion: RBAC_API_VERSION,
    kind: 'Role',
    metadata: managedMetadata(baseline, namespace.name, entry.name, `${field}.name`),
    rules: rules.map((rule, ruleIndex) => buildRule(rule, `${field}.rules[${ruleIndex}]`)),
  };
  return [role, binding];
}

/**
 * Every Role and RoleBinding of `roleBindings` for `namespace`. All or nothing:
 * the first SpecError (an unexpandable subject, a duplicate name…) is thrown.
 *
 * A RoleBinding's roleRef cannot be changed once created; when an entry moves
 * from one role to another, the object has to be deleted and created again.
 */
export function buildRoleBindings(baseline: string, namespace: NamespaceInfo, roleBindings: readonly RoleBindingSpec[]): (RoleObject | RoleBindingObject)[] {
  const seen = new Set<string>();
  return roleBindings.flatMap((entry, index) => {
    if (seen.has(entry.name)) throw new SpecError(`spec.roleBindings[${index}].name`, `duplicate name "${entry.name}"`);
    seen.add(entry.name);
    return buildEntry(baseline, namespace, entry, index);
  });
}
