// Audit mode: compare what a baseline would apply with what the namespace
// holds, report the differences (status, an Event when they change, a metric),
// and write nothing.
import type { KubeObject } from '../runtime/kube.ts';
import { objectKey, ownObjects, type BaselineBuild, type DesiredObject } from '../resources/index.ts';
import { namespaceRef, type BaselineObject, type ControllerContext, type ManagedRecord, type NamespaceObject } from './context.ts';
import { containsDesired, firstDifference } from './diff.ts';
import { recordHolds } from './ensure.ts';
import { desiredFingerprint } from './fingerprint.ts';
import { managedKind } from './kinds.ts';
import type { NamespaceState } from './status.ts';

/** What a baseline would change in a namespace, one line each (pure). */
export function auditDifferences(build: BaselineBuild, namespace: NamespaceObject, live: ReadonlyMap<string, KubeObject>): { kind: string; text: string }[] {
  const differences: { kind: string; text: string }[] = [];
  for (const object of ownObjects(build)) {
    const current = live.get(objectKey(object));
    if (!current) differences.push({ kind: object.kind, text: `${object.kind} ${object.metadata.name} missing` });
    else if (!containsDesired(object, current)) differences.push({ kind: object.kind, text: `${object.kind} ${object.metadata.name} differs at ${firstDifference(object, current)}` });
  }
  for (const [key, value] of Object.entries(build.podSecurity?.labels ?? {})) {
    const current = namespace.metadata.labels?.[key];
    if (current !== value) differences.push({ kind: 'Namespace', text: `label ${key} is ${current ?? 'unset'}, want ${value}` });
  }
  return differences;
}

/**
 * The live objects to compare `objects` with: the caches keep fingerprints, not
 * objects (records.ts). A record whose fingerprint matches holds every desired
 * field, so the desired object stands for it; any other is read in full. An
 * object without a record is not there (the caches hold every managed object).
 */
export async function liveObjects(
  ctx: ControllerContext, objects: readonly DesiredObject[], records: ReadonlyMap<string, ManagedRecord>,
): Promise<Map<string, KubeObject>> {
  const live = new Map<string, KubeObject>();
  await Promise.all(objects.map(async (object) => {
    const key = objectKey(object);
    const record = records.get(key);
    const type = managedKind(object.apiVersion, object.kind);
    if (!record || !type) return;
    const current = recordHolds(record, desiredFingerprint(object))
      ? object
      : await ctx.writer.get(type, object.metadata.name, object.metadata.namespace);
    if (current) live.set(key, current);
  }));
  return live;
}

/** The objects the Audit baselines would apply: compared with their live versions (liveObjects). */
export function auditedObjects(auditing: readonly { build: BaselineBuild }[]): DesiredObject[] {
  return auditing.flatMap(({ build }) => ownObjects(build));
}

/** Reports every Audit baseline's differences from the live objects (liveObjects); returns how many there are in all. */
export function reportAudit(
  ctx: ControllerContext, namespace: NamespaceObject, auditing: readonly { baseline: BaselineObject; build: BaselineBuild }[],
  live: ReadonlyMap<string, KubeObject>,
): number {
  let total = 0;
  for (const { baseline, build } of auditing) {
    const name = baseline.metadata.name;
    const differences = auditDifferences(build, namespace, live);
    for (const { kind } of differences) if (kind !== 'Namespace') ctx.metrics.driftDetected(name, kind);
    total += differences.length;
    const state: NamespaceState = differences.length > 0 ? 'drifted' : 'compliant';
    const previous = ctx.tracker.outcome(name, namespace.metadata.name);
    const lines = differences.map((d) => d.text);
    const message = lines.slice(0, 5).join('; ') + (lines.length > 5 ? `; and ${lines.length - 5} more` : '');
    ctx.tracker.setOutcome(name, namespace.metadata.name, {
      state, generation: baseline.metadata.generation ?? 0, reason: state === 'drifted' ? 'AuditDrift' : undefined, message: lines.length > 0 ? message : undefined,
    });
    if (lines.length > 0 && previous?.message !== message) {
      void ctx.recorder.event(namespaceRef(namespace), 'Warning', 'AuditDrift', `baseline ${name} (Audit): ${message}`);
    }
  }
  return total;
}
