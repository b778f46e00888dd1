// Revisions of a baseline: what a namespace gets from it (its controls), kept
// as apps/v1 ControllerRevisions `<baseline>-<hash>` in the operator's
// namespace, as DaemonSets and StatefulSets keep theirs. The hash is of the
// controls only: selecting other namespaces, pausing, or changing how a change
// rolls out is not a new revision, and a revert to an earlier spec finds the
// revision it had.
import { createHash } from 'node:crypto';
import { APPLIED_ANNOTATION } from '../api/constants.ts';
import type { SecurityBaseline, SecurityBaselineSpec } from '../api/types.ts';
import { celString, type AdmissionObject } from './imagepolicy.ts';
import { ownershipLabels } from './metadata.ts';

/** Spec fields that say which namespaces and how, not what they get: not part of a revision. */
const NOT_CONTROLS = [
  'namespaceSelector', 'excludeNamespaces', 'mode', 'priority', 'deletionPolicy', 'paused', 'revisionHistoryLimit', 'rollout',
] as const satisfies readonly (keyof SecurityBaselineSpec)[];

export type RevisionContent = Omit<SecurityBaselineSpec, (typeof NOT_CONTROLS)[number]>;

/** The controls of a spec: what one revision of the baseline gives a namespace. */
export function revisionContent(spec: SecurityBaselineSpec): RevisionContent {
  const content: Record<string, unknown> = { ...spec };
  for (const field of NOT_CONTROLS) delete content[field];
  return content as RevisionContent;
}

/** JSON with object keys sorted at every depth, so equal content hashes equally. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

/**
 * `<baseline>-<10 hex digits of the SHA-256 of the controls>`. Each namespace
 * reconcile asks it of its baselines' specs, which the caches hold unchanged
 * until the next update replaces them: the name is kept per spec object.
 */
export function revisionName(baseline: string, spec: SecurityBaselineSpec): string {
  const known = revisionNames.get(spec);
  if (known?.baseline === baseline) return known.name;
  const hash = createHash('sha256').update(canonicalJson(revisionContent(spec))).digest('hex').slice(0, 10);
  const name = `${baseline}-${hash}`;
  revisionNames.set(spec, { baseline, name });
  return name;
}

const revisionNames = new WeakMap<SecurityBaselineSpec, { baseline: string; name: string }>();

/** The baseline as it was at a revision: today's selection and settings, that revision's controls. */
export function atRevision<T extends SecurityBaseline>(baseline: T, content: RevisionContent): T {
  const settings = Object.fromEntries(NOT_CONTROLS.filter((field) => field in baseline.spec).map((field) => [field, baseline.spec[field]]));
  return { ...baseline, spec: { ...settings, ...content } as SecurityBaselineSpec };
}

export interface ControllerRevisionObject {
  apiVersion: 'apps/v1';
  kind: 'ControllerRevision';
  metadata: {
    name: string; namespace: string; labels: Record<string, string>;
    /** The baseline, so that `kubectl get controllerrevisions` names it and garbage collection follows it. */
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller: true }[];
  };
  data: { spec: RevisionContent };
  /** Orders the revisions of one baseline; a revert gives the revision it reuses the next number. */
  revision: number;
  [field: string]: unknown;
}

export function buildControllerRevision(baseline: SecurityBaseline, operatorNamespace: string, revision: number): ControllerRevisionObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: revisionName(baseline.metadata.name, baseline.spec), namespace: operatorNamespace, labels: ownershipLabels(baseline.metadata.name),
      ...(baseline.metadata.uid ? {
        ownerReferences: [{ apiVersion: baseline.apiVersion, kind: baseline.kind, name: baseline.metadata.name, uid: baseline.metadata.uid, controller: true as const }],
      } : {}),
    },
    data: { spec: revisionContent(baseline.spec) },
    revision,
  };
}

/**
 * Admission policies of several revisions side by side: while a rollout is under
 * way, namespaces still at an older revision keep its admission rules. Each older
 * revision whose policies differ gets its own, suffixed with its hash, applying
 * only in namespaces whose applied annotation names that revision; the update
 * revision's apply everywhere else. (A policy can tell a namespace's revision only
 * from its validations: matchConditions do not see the namespace.)
 */
export function admissionByRevision(
  baseline: SecurityBaseline, build: (baseline: SecurityBaseline) => AdmissionObject[], older: readonly { name: string; content: RevisionContent }[],
): AdmissionObject[] {
  const current = build(baseline);
  const policySpecs = (objects: AdmissionObject[]) => JSON.stringify(objects.filter((o) => o.kind === 'ValidatingAdmissionPolicy').map((o) => o.spec));
  const differing = older.map((revision) => ({ revision: revision.name, objects: build(atRevision(baseline, revision.content)) }))
    .filter(({ objects }) => policySpecs(objects) !== policySpecs(current));
  const at = (revision: string) => `(has(namespaceObject.metadata.annotations) && ${celString(APPLIED_ANNOTATION)} in namespaceObject.metadata.annotations`
    + ` && namespaceObject.metadata.annotations[${celString(APPLIED_ANNOTATION)}].contains(${celString(`"${baseline.metadata.name}":"${revision}"`)}))`;
  const elsewhere = differing.length === 0 ? undefined : differing.map(({ revision }) => at(revision)).join(' || ');
  return [
    ...(elsewhere ? current.map((object) => guarded(object, elsewhere, '')) : current),
    ...differing.flatMap(({ revision, objects }) => objects.map((object) => guarded(object, `!${at(revision)}`, `-${revision.slice(-10)}`))),
  ];
}

/** The object renamed with `suffix`; a policy's validations pass wherever `skip` holds. */
function guarded(object: AdmissionObject, skip: string, suffix: string): AdmissionObject {
  const name = `${object.metadata.name}${suffix}`;
  if (object.kind === 'ValidatingAdmissionPolicyBinding') {
    return { ...object, metadata: { ...object.metadata, name }, spec: { ...object.spec, policyName: `${object.spec.policyName}${suffix}` } };
  }
  return {
    ...object,
    metadata: { ...object.metadata, name },
    spec: {
      ...object.spec,
      variables: [{ name: 'otherRevision', expression: skip }, ...(object.spec.variables ?? [])],
      validations: object.spec.validations.map((validation) => ({ ...validation, expression: `variables.otherRevision || (${validation.expression})` })),
    },
  };
}
