// A log everywhere: a kube-logging (logging-operator) Flow `<baseline>-logging`
// in the namespace, routing all of its container logs to the outputs the
// baseline names. A Flow only sees its own namespace, so one match-everything
// selection covers exactly this namespace.

import type { LoggingSpec } from '../api/types.ts';
import { managedMetadata } from './metadata.ts';
import type { DesiredObject } from './object.ts';

export const LOGGING_SUFFIX = 'logging';
export const FLOW_API_VERSION = 'logging.banzaicloud.io/v1beta1';

export interface FlowObject extends DesiredObject {
  apiVersion: typeof FLOW_API_VERSION;
  kind: 'Flow';
  spec: {
    /** An empty select matches every container of the namespace. */
    match: [{ select: Record<string, never> }];
    globalOutputRefs?: string[];
    localOutputRefs?: string[];
  };
}

export function buildLoggingFlow(baseline: string, namespace: string, spec: LoggingSpec): FlowObject {
  const { globalOutputRefs = [], localOutputRefs = [] } = spec.flow;
  return {
    apiVersion: FLOW_API_VERSION,
    kind: 'Flow',
    metadata: managedMetadata(baseline, namespace, LOGGING_SUFFIX),
    spec: {
      match: [{ select: {} }],
      ...(globalOutputRefs.length > 0 ? { globalOutputRefs: [...globalOutputRefs] } : {}),
      ...(localOutputRefs.length > 0 ? { localOutputRefs: [...localOutputRefs] } : {}),
    },
  };
}
