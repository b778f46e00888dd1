// Reads the API server's audit log (writes only; see hack/kube/controlplane.ts)
// to count what a given user wrote: an independent witness of the operator's
// write economy.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
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

const auditLog = () => path.join(testControlPlane().dir, 'audit.log');

/** A position in the audit log; writes are counted from a mark onwards. */
export async function auditMark(): Promise<number> {
  return (await stat(auditLog())).size;
}

/** What `user` wrote since the mark. A dry run (dryRun=All) writes nothing and is not counted. */
export async function writesSince(mark: number, user: string): Promise<AuditedWrite[]> {
  const text = (await readFile(auditLog())).subarray(mark).toString('utf8');
  const writes: AuditedWrite[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as {
      stage: string; verb: string; user: { username: string }; requestURI?: string;
      objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
      responseStatus?: { code?: number };
      stageTimestamp?: string;
    };
    if (event.stage !== 'ResponseComplete' || event.user.username !== user) continue;
    if (/[?&]dryRun=All(&|$)/.test(event.requestURI ?? '')) continue;
    writes.push({
      verb: event.verb,
      resource: event.objectRef?.resource ?? '',
      namespace: event.objectRef?.namespace,
      name: event.objectRef?.name,
      subresource: event.objectRef?.subresource,
      code: event.responseStatus?.code ?? 0,
      time: event.stageTimestamp ?? '',
    });
  }
  return writes;
}
