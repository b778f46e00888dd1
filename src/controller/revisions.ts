// The ControllerRevisions of the baselines, in the operator's namespace: one
// per distinct set of controls, so that a namespace not yet moved to a new
// revision keeps being repaired at its own, and a revert finds its revision.
import { BASELINE_LABEL } from '../api/constants.ts';
import { buildControllerRevision, revisionName, type RevisionContent } from '../resources/revision.ts';
import type { KubeObject } from '../runtime/kube.ts';
import type { BaselineObject, ControllerContext } from './context.ts';
import { CONTROLLER_REVISIONS } from './kinds.ts';

interface StoredRevision extends KubeObject {
  data?: { spec?: RevisionContent };
  revision?: number;
}

function revisionsOf(ctx: ControllerContext, baseline: string): StoredRevision[] {
  return (ctx.revisions.list() as StoredRevision[]).filter((revision) => revision.metadata.labels?.[BASELINE_LABEL] === baseline);
}

/** The controls of a revision, from the cache; undefined when it is not stored. */
export function revisionContent(ctx: ControllerContext, name: string): RevisionContent | undefined {
  return (ctx.revisions.get(`${ctx.operatorNamespace}/${name}`) as StoredRevision | undefined)?.data?.spec;
}

/**
 * Stores the revision of the baseline's current spec, as the newest: a new one
 * gets the next number, an earlier one (a revert) is given it. Returns its name.
 */
export async function ensureRevision(ctx: ControllerContext, baseline: BaselineObject): Promise<string> {
  const name = revisionName(baseline.metadata.name, baseline.spec);
  const stored = revisionsOf(ctx, baseline.metadata.name);
  const newest = Math.max(0, ...stored.map((revision) => revision.revision ?? 0));
  const current = stored.find((revision) => revision.metadata.name === name);
  if (current && (current.revision ?? 0) === newest) return name;
  await ctx.writer.apply(CONTROLLER_REVISIONS, buildControllerRevision(baseline, ctx.operatorNamespace, newest + 1), ctx.revisions);
  return name;
}

/**
 * Deletes the baseline's oldest revisions beyond `limit`, never one in `keep`
 * (the update and current revisions, and every revision a namespace is at).
 */
export async function pruneRevisions(ctx: ControllerContext, baseline: string, keep: ReadonlySet<string>, limit: number): Promise<void> {
  const spare = revisionsOf(ctx, baseline).filter((revision) => !keep.has(revision.metadata.name))
    .sort((a, b) => (b.revision ?? 0) - (a.revision ?? 0));
  for (const revision of spare.slice(limit)) await ctx.writer.release(CONTROLLER_REVISIONS, revision, ctx.revisions, 'Delete');
}

/** On deletion of the baseline: its revisions go with it. */
export async function deleteRevisions(ctx: ControllerContext, baseline: string): Promise<void> {
  for (const revision of revisionsOf(ctx, baseline)) await ctx.writer.release(CONTROLLER_REVISIONS, revision, ctx.revisions, 'Delete');
}
