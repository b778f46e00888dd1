// `diff -f BASELINE`: what applying the baselines in the files would make the
// operator do in the cluster in KUBECONFIG. For each namespace the new or the
// current version of a baseline selects: the objects it would create, change
// (field by field) or delete, the Namespace's Pod Security labels, and
// pre-flight findings: pods a stricter Pod Security level would refuse (the API
// server's own warnings from a dry run of the label change) and pods whose
// images a narrower image policy would refuse (normalised as the policy does).
// Each baseline is taken as the BaselineExceptions in effect relax it, as the
// operator does: what an exception loosens is neither a change nor a finding.
// Exit codes as `kubectl diff`: 0 no differences, 1 differences, >1 an error.
import { parseArgs } from 'node:util';
import { BASELINE_LABEL } from '../api/constants.ts';
import type { SecurityBaseline } from '../api/types.ts';
import { desiredAdmissionObjects } from '../controller/admission.ts';
import { ownedNamespaceKeys } from '../controller/applied.ts';
import type { BaselineObject, ExceptionObject, NamespaceObject } from '../controller/context.ts';
import { containsDesired, differences } from '../controller/diff.ts';
import { ADMISSION_POLICIES, ADMISSION_POLICY_BINDINGS } from '../controller/kinds.ts';
import { isAlwaysExcluded, isDeleting, selects } from '../controller/selection.ts';
import { exceptionsFor, exceptionsOfBaseline, relaxBaseline } from '../resources/exception.ts';
import { allowedPrefixes } from '../resources/imagepolicy.ts';
import { podsRefusedByImagePolicy } from '../resources/preflight.ts';
import { buildBaseline, composeDesired, objectKey, type BaselineBuild } from '../resources/index.ts';
import { POD_SECURITY_LABEL_PREFIX } from '../resources/podsecurity.ts';
import { isForbidden, isNotFound } from '../runtime/errors.ts';
import type { KubeClient, KubeObject } from '../runtime/kube.ts';
import { OPERATOR_NAMESPACE_HELP, OPERATOR_NAMESPACE_OPTION, readValidBaselines } from './baselines.ts';
import type * as Cluster from './cluster.ts';
import type { Command } from './command.ts';
import { formatData, parseFormat, print, Progress, UsageError } from './output.ts';

export interface ObjectChange {
  action: 'create' | 'change' | 'delete' | 'release';
  kind: string;
  name: string;
  /** For `change`: each differing field, live → desired. */
  fields?: { path: string; from: unknown; to: unknown }[];
}

export interface NamespaceDiff {
  namespace: string;
  /** The baselines (after the change) that select it. */
  baselines: string[];
  changes: ObjectChange[];
  findings: string[];
}

export interface DiffResult {
  namespaces: NamespaceDiff[];
  cluster: ObjectChange[];
  totals: { namespaces: number; create: number; change: number; delete: number; release: number; findings: number };
  /** What the diff could not take into account, and so may be wrong about. */
  warnings: string[];
}

export const runDiff: Command = {
  summary: 'show what a baseline change would create, change or delete in the cluster, and what pre-flight would hold',
  usage: `Usage: PROGRAM diff -f FILE [-f FILE…] [-o json|yaml]

Compares the cluster in KUBECONFIG with what the operator would make of it once
the baselines in the files are applied (replacing the baselines of those names):
for every namespace the new or the current version of a baseline selects, the
objects that would be created (+), changed (~, with each field), deleted (-) or
released (deletionPolicy Orphan), the Namespace's Pod Security labels, and
pre-flight findings (!): pods that a stricter Pod Security level or a narrower
image policy would refuse. Then the totals. Nothing is written.

Exit codes, as kubectl diff: 0 no differences, 1 differences, 2 or more an error
(an invalid baseline, an unreachable cluster).

Options:
  -f, --filename         baseline file (YAML or JSON; - for standard input); repeatable
${OPERATOR_NAMESPACE_HELP}
  -o, --output           json or yaml: the result as data
`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        ...OPERATOR_NAMESPACE_OPTION,
        output: { type: 'string', short: 'o' },
      },
    });
    const format = parseFormat(values.output);
    if (!values.filename?.length) throw new UsageError('name the baseline file with -f');
    const operatorNamespace = values['operator-namespace'];
    const { baselines: changed, exceptions, invalid } = await readValidBaselines(values.filename, operatorNamespace);
    if (invalid > 0) return 2;
    for (const exception of exceptions) {
      process.stderr.write(`exception ${exception.metadata.name}: not used; the diff takes the exceptions in the cluster (apply it to see it there)\n`);
    }
    if (changed.length === 0) throw new Error('no SecurityBaseline found in the files');

    const cluster = await import('./cluster.ts');
    const result = await diffCluster(cluster, cluster.kubeClient(), changed, operatorNamespace, new Progress());
    if (format !== 'table') await print(formatData(result, format));
    else await print(describe(result));
    const { create, change, delete: deleted, release } = result.totals;
    return create + change + deleted + release > 0 ? 1 : 0;
  },
};

export async function diffCluster(cluster: typeof Cluster, client: KubeClient, changed: readonly SecurityBaseline[], operatorNamespace: string, progress: Progress): Promise<DiffResult> {
  // A read-only identity (a CI job diffing a pull request) may lack a right the diff uses: it says what it could not check and goes on.
  const warnings = new Set<string>();
  const forbidden = (error: unknown, warning: string): void => {
    if (!isForbidden(error)) throw error;
    warnings.add(warning);
  };
  const readExceptions = cluster.listExceptions(client).catch((error: unknown) => {
    forbidden(error, 'not allowed to list BaselineExceptions: the diff takes none into account, so a namespace with one shows what it relaxes as changes'
      + ' (the baselineexception-viewer ClusterRole grants the read)');
    return [];
  });
  const [current, namespaces, exceptions] = await Promise.all([cluster.listBaselines(client), cluster.listNamespaces(client), readExceptions]);
  const changedNames = new Set(changed.map((b) => b.metadata.name));
  const before = new Map(current.map((b) => [b.metadata.name, b]));
  // The cluster's baselines after the change: same-named ones replaced, new ones added.
  const after: BaselineObject[] = [
    ...current.filter((b) => !changedNames.has(b.metadata.name)),
    ...changed.map((b) => ({ ...b, metadata: { ...before.get(b.metadata.name)?.metadata, ...b.metadata } }) as BaselineObject),
  ];
  const affected = namespaces.filter((ns) => !isDeleting(ns) && !isAlwaysExcluded(ns.metadata.name, operatorNamespace)
    && [...changed, ...changed.map((b) => before.get(b.metadata.name)).filter((b) => b !== undefined)]
      .some((b) => selects(b, ns, operatorNamespace)));

  const results: NamespaceDiff[] = [];
  let done = 0;
  const queue = [...affected];
  const worker = async () => {
    for (let ns = queue.shift(); ns; ns = queue.shift()) {
      results.push(await diffNamespace(cluster, client, ns, after, changed, exceptions, operatorNamespace, forbidden));
      progress.update(`diff: ${++done}/${affected.length} namespaces`, done === affected.length);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  progress.done();
  results.sort((a, b) => (a.namespace < b.namespace ? -1 : 1));

  const clusterScoped = await diffAdmission(client, changed, before, exceptions, operatorNamespace);
  const all = [...results.flatMap((r) => r.changes), ...clusterScoped];
  const count = (action: ObjectChange['action']) => all.filter((c) => c.action === action).length;
  return {
    namespaces: results.filter((r) => r.changes.length > 0 || r.findings.length > 0),
    cluster: clusterScoped,
    totals: {
      namespaces: affected.length, create: count('create'), change: count('change'), delete: count('delete'), release: count('release'),
      findings: results.reduce((n, r) => n + r.findings.length, 0),
    },
    warnings: [...warnings],
  };
}

/** One namespace, as the operator's reconcile would treat it after the change. */
async function diffNamespace(
  cluster: typeof Cluster, client: KubeClient, namespace: NamespaceObject, after: readonly BaselineObject[], changed: readonly SecurityBaseline[],
  exceptions: readonly ExceptionObject[], operatorNamespace: string, forbidden: (error: unknown, warning: string) => void,
): Promise<NamespaceDiff> {
  const name = namespace.metadata.name;
  const now = Date.now();
  const selecting = after.filter((b) => !isDeleting(b) && selects(b, namespace, operatorNamespace))
    .map((b) => relaxBaseline(b, exceptionsFor(exceptions, b.metadata.name, name, now)).baseline);
  const info = { name, labels: namespace.metadata.labels ?? {} };
  const builds = new Map(selecting.map((b) => [b.metadata.name, buildBaseline(b, info)]));
  const enforcing = selecting.filter((b) => (b.spec.mode ?? 'Enforce') === 'Enforce');
  const desired = composeDesired(enforcing.map((b) => builds.get(b.metadata.name) as BaselineBuild));
  const findings = desired.errors.map(({ baseline, error }) => `baseline ${baseline} cannot be applied here: ${error.message}`);
  const live = new Map((await cluster.managedObjects(client, name)).map((o) => [objectKey(o), o]));
  const changes: ObjectChange[] = [];

  for (const object of desired.objects) {
    const current = live.get(objectKey(object));
    if (!current) changes.push({ action: 'create', kind: object.kind, name: object.metadata.name });
    else if (!containsDesired(object, current)) {
      changes.push({ action: 'change', kind: object.kind, name: object.metadata.name, fields: fieldChanges(object, current) });
    }
  }
  // What prune would do: objects no Enforce baseline wants here any more.
  const wanted = new Set(desired.objects.map(objectKey));
  const withErrors = new Set(desired.errors.map((e) => e.baseline));
  const byName = new Map(after.map((b) => [b.metadata.name, b]));
  for (const [key, object] of live) {
    if (wanted.has(key)) continue;
    const owner = object.metadata.labels?.[BASELINE_LABEL] ?? '';
    const still = selecting.find((b) => b.metadata.name === owner);
    if (withErrors.has(owner) || still?.spec.mode === 'Audit') continue;
    const policy = still ? 'Delete' : (byName.get(owner)?.spec.deletionPolicy ?? 'Delete');
    changes.push({ action: policy === 'Orphan' ? 'release' : 'delete', kind: object.kind ?? '', name: object.metadata.name });
  }

  // The Namespace: Pod Security labels the operator sets or would stop setting.
  const labels = namespace.metadata.labels ?? {};
  const owned = ownedNamespaceKeys(namespace).labels;
  const labelFields = [
    ...Object.entries(desired.namespaceLabels).filter(([k, v]) => labels[k] !== v).map(([k, v]) => ({ path: `.metadata.labels.${k}`, from: labels[k], to: v })),
    ...[...owned].filter((k) => k.startsWith(POD_SECURITY_LABEL_PREFIX) && !(k in desired.namespaceLabels) && labels[k] !== undefined)
      .map((k) => ({ path: `.metadata.labels.${k}`, from: labels[k], to: undefined })),
  ];
  if (labelFields.length > 0) changes.push({ action: 'change', kind: 'Namespace', name, fields: labelFields });

  // Pre-flight: a new enforce level is asked of the API server, whose warnings name the pods.
  const enforce = `${POD_SECURITY_LABEL_PREFIX}enforce`;
  if (desired.namespaceLabels[enforce] && desired.namespaceLabels[enforce] !== labels[enforce]) {
    try {
      const warnings = await cluster.podSecurityWarnings(client, name, desired.namespaceLabels);
      findings.push(...warnings.map((w) => `Pod Security ${desired.namespaceLabels[enforce]}: ${w}`));
    } catch (error) {
      forbidden(error, 'not allowed to patch namespaces: the Pod Security pre-flight (a server-side dry run of the label change) was not made,'
        + ' so pods a new enforce level would refuse are not listed');
    }
  }
  findings.push(...await imageFindings(cluster, client, name, enforcing.filter((b) => changed.some((c) => c.metadata.name === b.metadata.name))));
  return { namespace: name, baselines: selecting.map((b) => b.metadata.name), changes, findings };
}

function fieldChanges(desired: unknown, live: unknown): { path: string; from: unknown; to: unknown }[] {
  return [...differences(desired, live)].map((d) => ({ path: d.path, from: d.live, to: d.desired }));
}

/** Running pods whose images a changed baseline's image policy would refuse, were they created now (the operator's own pre-flight check). */
async function imageFindings(cluster: typeof Cluster, client: KubeClient, namespace: string, baselines: readonly SecurityBaseline[]): Promise<string[]> {
  const policies = baselines.filter((b) => b.spec.imagePolicy);
  if (policies.length === 0) return [];
  const pods = (await cluster.listPods(client, namespace) as (KubeObject & { spec?: { containers?: { image?: string }[]; initContainers?: { image?: string }[]; ephemeralContainers?: { image?: string }[] } })[])
    .map((pod) => ({
      name: pod.metadata.name,
      images: [...pod.spec?.containers ?? [], ...pod.spec?.initContainers ?? [], ...pod.spec?.ephemeralContainers ?? []].flatMap((c) => (c.image ? [c.image] : [])),
    }));
  return policies.flatMap((baseline) => {
    const policy = baseline.spec.imagePolicy ?? { allowedRegistries: [] };
    return podsRefusedByImagePolicy(pods, policy).map(({ pod, images }) => `image policy of ${baseline.metadata.name}: pod ${pod} runs `
      + `${[...new Set(images)].join(', ')}, which it would refuse (allowed: ${allowedPrefixes(policy).join(', ')})`);
  });
}

/** The changed baselines' cluster-scoped admission policies and bindings. */
async function diffAdmission(
  client: KubeClient, changed: readonly SecurityBaseline[], before: ReadonlyMap<string, BaselineObject>, exceptions: readonly ExceptionObject[], operatorNamespace: string,
): Promise<ObjectChange[]> {
  const changes: ObjectChange[] = [];
  const now = Date.now();
  for (const baseline of changed) {
    // The policies let in what the baseline's exceptions relax, namespace by namespace.
    const relaxing = exceptionsOfBaseline(exceptions, baseline.metadata.name, now);
    const wanted = desiredAdmissionObjects(baseline as BaselineObject, operatorNamespace, [], relaxing);
    const previous = before.get(baseline.metadata.name);
    const had = previous ? desiredAdmissionObjects(previous, operatorNamespace, [], relaxing) : [];
    for (const object of wanted) {
      const type = object.kind === 'ValidatingAdmissionPolicy' ? ADMISSION_POLICIES : ADMISSION_POLICY_BINDINGS;
      const current = await client.get(type, object.metadata.name).catch((error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw error;
      });
      if (!current) changes.push({ action: 'create', kind: object.kind, name: object.metadata.name });
      else if (!containsDesired(object, current)) changes.push({ action: 'change', kind: object.kind, name: object.metadata.name, fields: fieldChanges(object, current) });
    }
    for (const object of had) {
      if (!wanted.some((w) => w.kind === object.kind && w.metadata.name === object.metadata.name)) {
        changes.push({ action: 'delete', kind: object.kind, name: object.metadata.name });
      }
    }
  }
  return changes;
}

const SIGN: Record<ObjectChange['action'], string> = { create: '+', change: '~', delete: '-', release: '-' };

function describeChange(change: ObjectChange, indent: string): string {
  const suffix = change.action === 'release' ? ' (released: deletionPolicy Orphan keeps it, unmanaged)' : '';
  const head = `${indent}${SIGN[change.action]} ${change.kind} ${change.name}${change.kind === 'Namespace' ? ' labels' : ''}${suffix}\n`;
  const value = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  return head + (change.fields ?? []).map((f) => `${indent}    ${f.path}: ${value(f.from)} → ${value(f.to)}\n`).join('');
}

/** The diff for people. */
export function describe(result: DiffResult): string {
  let out = result.warnings.map((warning) => `warning: ${warning}\n`).join('');
  for (const ns of result.namespaces) {
    out += `namespace ${ns.namespace} (${ns.baselines.length > 0 ? `selected by ${ns.baselines.join(', ')}` : 'no longer selected'})\n`;
    for (const change of ns.changes) out += describeChange(change, '  ');
    for (const finding of ns.findings) out += `  ! ${finding}\n`;
  }
  if (result.cluster.length > 0) {
    out += 'cluster-scoped\n';
    for (const change of result.cluster) out += describeChange(change, '  ');
  }
  const t = result.totals;
  out += `${out ? '\n' : ''}${t.namespaces} namespace${t.namespaces === 1 ? '' : 's'} affected: ${t.create} to create, ${t.change} to change, `
    + `${t.delete} to delete${t.release > 0 ? `, ${t.release} to release` : ''}; ${t.findings} pre-flight finding${t.findings === 1 ? '' : 's'}\n`;
  return out;
}
