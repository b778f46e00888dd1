// What a builder produces: a plain, JSON-ready object holding exactly the fields
// the operator owns (it is sent with server-side apply), and its identity.

import type { ManagedMetadata } from './metadata.ts';

export interface DesiredObject {
  apiVersion: string;
  kind: string;
  metadata: ManagedMetadata;
  /** The body: spec, rules, subjects, roleRef… depending on the kind. */
  [field: string]: unknown;
}

/** Anything with Kubernetes identity: a desired object or one read from a cache. */
export interface ObjectIdentity {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}

/**
 * `apiVersion/kind/namespace/name`, e.g. `networking.k8s.io/v1/NetworkPolicy/team-a/tenants-default-deny`.
 * Unique per object, so desired and live objects can be matched by it.
 */
export function objectKey(obj: ObjectIdentity): string {
  return `${obj.apiVersion ?? ''}/${obj.kind ?? ''}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}
