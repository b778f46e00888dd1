// The compliance report of one namespace, as an OpenReports `Report`
// (openreports.io/v1alpha1), the format Policy Reporter and other report
// consumers read from Kyverno, Kubewarden, Falco and Trivy: one result per
// baseline that selects the namespace and control it sets, and the counts.
//
// The report holds no timestamp and nothing else that moves on its own: equal
// outcomes build an equal object, so the operator writes it only when an
// outcome changes.
import { MANAGED_BY_LABEL, OPERATOR_NAME } from '../api/constants.ts';
import type { Mode, SecurityBaselineSpec } from '../api/types.ts';
import { compareNames } from './composition.ts';

export const REPORT_API_VERSION = 'openreports.io/v1alpha1';
/** One report per namespace, whatever baselines select it. */
export const REPORT_NAME = 'security-baseline';
/** Who wrote the report, for consumers (and how the operator recognises a report it wrote). */
export const REPORT_SOURCE = OPERATOR_NAME;
export const REPORT_CATEGORY = 'SecurityBaseline';

/** The controls of a baseline, in the order results are listed. */
export const CONTROLS = [
  'networkPolicy', 'resourceQuota', 'limitRange', 'roleBindings', 'podSecurity', 'imagePolicy', 'workloadPolicy', 'admissionGate', 'logging',
] as const;
export type Control = (typeof CONTROLS)[number];

/**
 * `pass`: in place as the baseline says; `fail`: not in place (the message says
 * what differs and why); `warn`: an Audit baseline's difference, a control
 * another, at least as strict baseline decides, or NetworkPolicies that are
 * not a baseline's where its workload policy denies them; `error`: the spec cannot be
 * turned into objects here; `skip`: not evaluated (excepted, or an admission
 * gate of an Audit baseline, which has none).
 */
export type ResultState = 'pass' | 'fail' | 'warn' | 'error' | 'skip';

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** What the reconcile concluded about one control of one baseline in the namespace. */
export interface ControlResult {
  readonly baseline: string;
  readonly control: Control;
  readonly result: ResultState;
  readonly message: string;
  readonly mode: Mode;
  /** The objects the control consists of (or would). */
  readonly resources?: readonly ObjectReference[];
}

export interface ReportResult {
  source: string;
  policy: string;
  rule: string;
  category: string;
  result: ResultState;
  message: string;
  scored: boolean;
  properties: Record<string, string>;
  resources?: ObjectReference[];
}

export type ReportSummary = Record<ResultState, number>;

export interface ReportObject {
  apiVersion: typeof REPORT_API_VERSION;
  kind: 'Report';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  scope: ObjectReference & { uid?: string };
  source: string;
  summary: ReportSummary;
  results: ReportResult[];
  [field: string]: unknown;
}

/** Which controls a baseline sets, in result order. */
export function declaredControls(spec: SecurityBaselineSpec): Control[] {
  const declared: Record<Control, boolean> = {
    networkPolicy: spec.networkPolicy !== undefined,
    resourceQuota: spec.resourceQuota !== undefined,
    limitRange: spec.limitRange !== undefined,
    roleBindings: (spec.roleBindings?.length ?? 0) > 0,
    podSecurity: spec.podSecurity !== undefined,
    imagePolicy: spec.imagePolicy !== undefined,
    workloadPolicy: spec.workloadPolicy !== undefined,
    admissionGate: spec.admissionGate === true,
    logging: spec.logging !== undefined,
  };
  return CONTROLS.filter((control) => declared[control]);
}

/** The control a managed kind belongs to (`Namespace`: its Pod Security labels). */
export function controlOfKind(kind: string): Control | undefined {
  const controls: Record<string, Control> = {
    NetworkPolicy: 'networkPolicy', ResourceQuota: 'resourceQuota', LimitRange: 'limitRange',
    Role: 'roleBindings', RoleBinding: 'roleBindings', Namespace: 'podSecurity', Flow: 'logging',
  };
  return controls[kind];
}

/** The control a SpecError's field belongs to (`spec.roleBindings[0].name` → roleBindings); undefined for the whole baseline. */
export function controlOfField(field: string): Control | undefined {
  const match = /^spec\.([A-Za-z]+)/.exec(field);
  return CONTROLS.find((control) => control === match?.[1]);
}

/**
 * The Report for `namespace` holding `results` (sorted by baseline, then
 * control). Every object is built with its keys in order, as the API server
 * returns a custom resource: its fingerprint (fingerprint.ts) then goes to
 * JSON.stringify in one pass instead of being sorted piece by piece, once per
 * namespace reconcile.
 */
export function buildReport(namespace: { name: string; uid?: string }, results: readonly ControlResult[]): ReportObject {
  const order = (control: Control) => CONTROLS.indexOf(control);
  const sorted = [...results].sort((a, b) => compareNames(a.baseline, b.baseline) || order(a.control) - order(b.control));
  const summary: ReportSummary = { error: 0, fail: 0, pass: 0, skip: 0, warn: 0 };
  for (const result of sorted) summary[result.result]++;
  return {
    apiVersion: REPORT_API_VERSION,
    kind: 'Report',
    metadata: { labels: { [MANAGED_BY_LABEL]: OPERATOR_NAME }, name: REPORT_NAME, namespace: namespace.name },
    results: sorted.map((result) => ({
      category: REPORT_CATEGORY,
      message: result.message,
      policy: result.baseline,
      // Where the revision (issue 12) will be shown, next to the mode.
      properties: { mode: result.mode },
      ...(result.resources && result.resources.length > 0 ? { resources: sortedReferences(result.resources) } : {}),
      result: result.result,
      rule: result.control,
      // Audit baselines enforce nothing: their results inform, they do not score.
      scored: result.mode === 'Enforce',
      source: REPORT_SOURCE,
    })),
    scope: { apiVersion: 'v1', kind: 'Namespace', name: namespace.name, ...(namespace.uid ? { uid: namespace.uid } : {}) },
    source: REPORT_SOURCE,
    summary,
  };
}

function sortedReferences(references: readonly ObjectReference[]): ObjectReference[] {
  const keyed = references.map((r): [string, ObjectReference] => [`${r.kind}/${r.namespace ?? ''}/${r.name}`, r]);
  // Copied field by field, in key order (a reference may come with its keys in any order).
  return keyed.sort(([a], [b]) => compareNames(a, b)).map(([, r]) => ({
    apiVersion: r.apiVersion, kind: r.kind, name: r.name, ...(r.namespace === undefined ? {} : { namespace: r.namespace }),
  }));
}
