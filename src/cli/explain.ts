// `explain NAMESPACE`: one screen on one namespace — which baselines select it
// (and which do not, and why), the revision of each the namespace is at, the
// exceptions in effect, the NetworkPolicies there that are not the operator's,
// and why it is not compliant: its compliance report's failing results, the
// baselines' conditions, and the namespace's recent Warning Events.
import { parseArgs } from 'node:util';
import { APPLIED_ANNOTATION, EXCEPTIONS_ANNOTATION } from '../api/constants.ts';
import { matchesSelector } from '../api/labelselector.ts';
import { parseApplied, parseExceptions } from '../controller/applied.ts';
import type { BaselineObject, NamespaceObject } from '../controller/context.ts';
import { isAlwaysExcluded, isDeleting, selects } from '../controller/selection.ts';
import { POD_SECURITY_LABEL_PREFIX } from '../resources/podsecurity.ts';
import type { ReportObject } from '../resources/report.ts';
import { OPERATOR_NAMESPACE_HELP, OPERATOR_NAMESPACE_OPTION } from './baselines.ts';
import type { Command } from './command.ts';
import { formatData, parseFormat, print, UsageError } from './output.ts';
import { NOT_YET, whyNotReady } from './status.ts';

interface BaselineView {
  name: string;
  mode: string;
  /** The baseline's update revision, which every namespace moves to. */
  updateRevision: string;
  applied: string | null;
  revision: string;
  exceptions: string;
  state: string;
}

/** Why a baseline does not select the namespace, or undefined when it does. */
export function whyNotSelected(baseline: BaselineObject, namespace: NamespaceObject, operatorNamespace: string): string | undefined {
  if (selects(baseline, namespace, operatorNamespace)) return undefined;
  const name = namespace.metadata.name;
  if (isAlwaysExcluded(name, operatorNamespace)) return 'the namespace is never managed';
  if (baseline.spec.excludeNamespaces?.includes(name)) return 'excluded by excludeNamespaces';
  if (!matchesSelector(baseline.spec.namespaceSelector ?? {}, namespace.metadata.labels ?? {})) return 'its namespaceSelector does not match the labels';
  return 'not selected';
}

export const runExplain: Command = {
  summary: 'explain one namespace: which baselines, at which revision, and why it is not compliant',
  usage: `Usage: PROGRAM explain NAMESPACE [-o json|yaml]

For the namespace in the cluster in KUBECONFIG: the baselines that select it
(mode, the revision the namespace is at and the baseline's update revision,
the BaselineExceptions in effect) and those that do not, with why; its Pod Security
labels; where a baseline keeps a NetworkPolicy there, the NetworkPolicies that are
not the operator's (they add up: each allows traffic the baselines may not); why
it is not compliant, from its compliance report (when the
OpenReports CRD is installed), the baselines' conditions and its recent
Warning Events.

Options:
${OPERATOR_NAMESPACE_HELP}
  -o, --output           json or yaml: the same as data
`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args, allowPositionals: true,
      options: { output: { type: 'string', short: 'o' }, ...OPERATOR_NAMESPACE_OPTION },
    });
    const format = parseFormat(values.output);
    if (positionals.length !== 1) throw new UsageError('name one namespace');
    const name = positionals[0] as string;
    const operatorNamespace = values['operator-namespace'];
    const { getNamespace, getReport, kubeClient, listBaselines, namespaceEvents, otherNetworkPolicies } = await import('./cluster.ts');
    const client = kubeClient();
    const namespace = await getNamespace(client, name);
    if (!namespace) throw new Error(`namespace "${name}" not found`);
    const [baselines, report, events] = await Promise.all([
      listBaselines(client), getReport(client, name) as Promise<ReportObject | undefined>, namespaceEvents(client, name),
    ]);
    const applied = parseApplied(namespace.metadata.annotations?.[APPLIED_ANNOTATION]);
    const excepted = parseExceptions(namespace.metadata.annotations?.[EXCEPTIONS_ANNOTATION]);
    const selecting = baselines.filter((b) => !isDeleting(b) && selects(b, namespace, operatorNamespace));
    const views: BaselineView[] = selecting.map((b) => {
      const update = b.status?.updateRevision ?? NOT_YET;
      const at = applied[b.metadata.name];
      const mode = b.spec.mode ?? 'Enforce';
      const state = mode === 'Audit' ? 'Audit: reports only, applies nothing'
        : at === undefined ? 'never applied here' : at === update ? 'at its update revision' : `at revision ${at}, not yet at ${update} (rolling out, paused or held)`;
      return { name: b.metadata.name, mode, updateRevision: update, applied: at ?? null, revision: at ?? NOT_YET, exceptions: excepted[b.metadata.name]?.join(',') || NOT_YET, state };
    });
    const notSelecting = baselines.filter((b) => !selecting.includes(b))
      .map((b) => ({ name: b.metadata.name, why: isDeleting(b) ? 'being deleted' : whyNotSelected(b, namespace, operatorNamespace) ?? '' }));
    // `skip` is a control not evaluated here on purpose (a BaselineException in effect relaxes it, or an Audit
    // baseline has no such control): the operator counts such a namespace compliant, and so does explain.
    const skipped = (report?.results ?? []).filter((r) => r.result === 'skip');
    const failing = (report?.results ?? []).filter((r) => r.result !== 'pass' && r.result !== 'skip');
    const reasons = [
      ...failing.map((r) => `${r.policy} ${r.rule}: ${r.result}: ${r.message}`),
      ...views.filter((v) => v.mode === 'Enforce' && v.applied !== v.updateRevision).map((v) => `${v.name}: ${v.state}`),
      ...selecting.map((b) => ({ b, why: whyNotReady(b) })).filter(({ why }) => why && why.includes(name)).map(({ b, why }) => `${b.metadata.name}: ${why}`),
    ];
    const warnings = events.filter((e) => (e as { type?: string }).type === 'Warning').slice(0, 5)
      .map((e) => {
        const event = e as { reason?: string; message?: string; count?: number; lastTimestamp?: string };
        return `${event.lastTimestamp ?? ''} ${event.reason}: ${event.message}${(event.count ?? 1) > 1 ? ` (×${event.count})` : ''}`.trim();
      });
    // A default deny holds only as far as no other NetworkPolicy allows more: they add up.
    const withNetworkPolicy = selecting.some((b) => (b.spec.mode ?? 'Enforce') === 'Enforce' && b.spec.networkPolicy !== undefined);
    const others = withNetworkPolicy ? await otherNetworkPolicies(client, name) : undefined;
    const podSecurity = Object.fromEntries(Object.entries(namespace.metadata.labels ?? {}).filter(([k]) => k.startsWith(POD_SECURITY_LABEL_PREFIX)));
    const compliant = reasons.length === 0 && selecting.length > 0;
    const data = {
      namespace: name, compliant, baselines: views, notSelecting, podSecurity,
      otherNetworkPolicies: others === undefined || others === 'forbidden' ? null : others,
      report: report ? { summary: report.summary, failing, skipped } : null, reasons, recentWarnings: warnings,
    };
    if (format !== 'table') {
      await print(formatData(data, format));
      return 0;
    }
    let out = `namespace ${name}: ${selecting.length === 0 ? 'no baseline selects it' : compliant ? 'compliant' : 'NOT compliant'}\n\n`;
    out += 'baselines selecting it:\n';
    out += views.length === 0 ? '  (none)\n' : views.map((v) => `  ${v.name}  ${v.mode}  revision ${v.revision}  exceptions ${v.exceptions}  — ${v.state}\n`).join('');
    if (notSelecting.length > 0) out += `not selecting it:\n${notSelecting.map((n) => `  ${n.name} — ${n.why}\n`).join('')}`;
    out += `Pod Security: ${Object.entries(podSecurity).map(([k, v]) => `${k.slice(POD_SECURITY_LABEL_PREFIX.length)}=${v}`).join(' ') || '(no labels)'}\n`;
    if (others !== undefined) {
      out += `other NetworkPolicies (each allows traffic besides the baselines'): ${others === 'forbidden' ? 'not allowed to list NetworkPolicies' : others.join(', ') || '(none)'}\n`;
    }
    out += `report: ${report ? Object.entries(report.summary).map(([k, v]) => `${v} ${k}`).join(', ') : 'none (no OpenReports CRD, or not written yet)'}\n`;
    if (skipped.length > 0) out += `\nnot evaluated here:\n${skipped.map((r) => `  - ${r.policy} ${r.rule}: ${r.message}\n`).join('')}`;
    if (reasons.length > 0) out += `\nwhy not compliant:\n${reasons.map((r) => `  - ${r}\n`).join('')}`;
    if (warnings.length > 0) out += `\nrecent warnings:\n${warnings.map((w) => `  ${w}\n`).join('')}`;
    await print(out);
    return 0;
  },
};
