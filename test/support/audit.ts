// Reads the API server's audit log (writes only; see hack/kube/controlplane.ts)
// to count what a given user wrote, an independent witness of the operator's
// write economy, and to see what admission recorded about a request.
import { auditEventsSince, auditLogMark } from '../../hack/kube/controlplane.ts';
import { testControlPlane } from './cluster.ts';

export interface AuditedWrite {
  readonly verb: string;
  readonly resource: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
  readonly code: number;
  /** When the API server completed the request (microseconds). */
  readonly time: string;
}

/** A position in the audit log; writes are counted from a mark onwards. */
export async function auditMark(): Promise<number> {
  return auditLogMark(testControlPlane().dir);
}

export interface AuditedRequest extends AuditedWrite {
  readonly user: string;
  /** What admission and authorization noted, such as a ValidatingAdmissionPolicy's validation failures. */
  readonly annotations: Readonly<Record<string, string>>;
}

/** What `user` wrote since the mark. */
export async function writesSince(mark: number, user: string): Promise<AuditedWrite[]> {
  return (await requestsSince(mark)).filter((request) => request.user === user)
    .map(({ verb, resource, namespace, name, subresource, code, time }) => ({ verb, resource, namespace, name, subresource, code, time }));
}

/** Every completed write (exec, attach and port-forward are creates; dry runs are not writes) since the mark, by anyone. */
export async function requestsSince(mark: number): Promise<AuditedRequest[]> {
  const requests: AuditedRequest[] = [];
  for (const line of await auditEventsSince(testControlPlane().dir, mark)) {
    const event = line as {
      stage: string; verb: string; user: { username: string }; requestURI?: string;
      objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
      responseStatus?: { code?: number };
      stageTimestamp?: string;
      annotations?: Record<string, string>;
    };
    if (event.stage !== 'ResponseComplete') continue;
    // A dry run (dryRun=All, as pre-flight makes) writes nothing.
    if (/[?&]dryRun=All(&|$)/.test(event.requestURI ?? '')) continue;
    requests.push({
      user: event.user.username,
      verb: event.verb,
      resource: event.objectRef?.resource ?? '',
      namespace: event.objectRef?.namespace,
      name: event.objectRef?.name,
      subresource: event.objectRef?.subresource,
      code: event.responseStatus?.code ?? 0,
      time: event.stageTimestamp ?? '',
      annotations: event.annotations ?? {},
    });
  }
  return requests;
}
