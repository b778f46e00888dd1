// The ResourceQuota `<baseline>-quota`: caps what the namespace may consume in
// total. Several baselines' quotas all apply; Kubernetes enforces each of them,
// so the strictest limit wins without any merging here.

import type { ResourceQuotaSpec } from '../api/types.ts';
import { managedMetadata } from './metadata.ts';
import type { DesiredObject } from './object.ts';
import { canonicalResourceList } from './resourcelist.ts';

export const RESOURCE_QUOTA_SUFFIX = 'quota';

export interface ResourceQuotaObject extends DesiredObject {
  apiVersion: 'v1';
  kind: 'ResourceQuota';
  spec: { hard?: Record<string, string> };
}

export function buildResourceQuota(baseline: string, namespace: string, spec: ResourceQuotaSpec): ResourceQuotaObject {
  const hard = canonicalResourceList(spec.hard, 'spec.resourceQuota.hard');
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: managedMetadata(baseline, namespace, RESOURCE_QUOTA_SUFFIX),
    // An empty hard list is omitted on the wire; the spec itself is always present.
    spec: Object.keys(hard).length > 0 ? { hard } : {},
  };
}
