// `status [BASELINE]`: the baselines as the cluster reports them — mode,
// namespace counts, readiness and why not — and, for one baseline, each
// namespace it selects with the revision it is at, the exceptions in effect
// there, and its report.
import { parseArgs } from 'node:util';
import { APPLIED_ANNOTATION, EXCEPTIONS_ANNOTATION } from '../api/constants.ts';
import type { Condition } from '../api/types.ts';
import { parseApplied, parseExceptions } from '../controller/applied.ts';
import type { BaselineObject } from '../controller/context.ts';
import { isDeleting, selects } from '../controller/selection.ts';
import type { ReportObject } from '../resources/report.ts';
import { OPERATOR_NAMESPACE_HELP, OPERATOR_NAMESPACE_OPTION } from './baselines.ts';
import type { Command } from './command.ts';
import { formatData, parseFormat, print, table, UsageError } from './output.ts';

/** Nothing to show: no revision reported yet, no exception in effect. */
export const NOT_YET = '-';

export function condition(baseline: BaselineObject, type: Condition['type']): Condition | undefined {
  return baseline.status?.conditions?.find((c) => c.type === type);
}

/** Why a baseline is not Ready, in one line: the first condition that says so. */
export function whyNotReady(baseline: BaselineObject): string {
  if (isDeleting(baseline)) return 'being deleted: waiting for its objects to be removed per deletionPolicy';
  if (baseline.status?.observedGeneration !== baseline.metadata.generation) return `generation ${baseline.metadata.generation} not yet reconciled`;
  for (const type of ['Degraded', 'Conflict', 'Progressing'] as const) {
    const c = condition(baseline, type);
    if (c?.status === 'True') return `${type}: ${c.reason}: ${c.message}`;
  }
  const ready = condition(baseline, 'Ready');
  return ready?.status === 'True' ? '' : `${ready?.reason ?? 'Unknown'}: ${ready?.message ?? 'no status yet (is the operator running?)'}`;
}

export const runStatus: Command = {
  summary: 'show the baselines (or one, with its namespaces): compliance, revision, exceptions, why not ready',
  usage: `Usage: PROGRAM status [BASELINE] [-o json|yaml]

Without BASELINE: one line per SecurityBaseline in the cluster in KUBECONFIG:
mode, selected and compliant namespaces, readiness, and why it is not ready.
With BASELINE: its conditions, and one line per namespace it selects with the
revision it is at (the security.baseline.dev/applied annotation) and
the namespace's compliance report when the OpenReports CRD is installed.
Exceptions: the namespaces with one in effect, or the exceptions in each.

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
    if (positionals.length > 1) throw new UsageError('name at most one baseline');
    const { getReport, kubeClient, listBaselines, listNamespaces } = await import('./cluster.ts');
    const client = kubeClient();
    const baselines = (await listBaselines(client)).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const [name] = positionals;
    if (!name) {
      const rows = baselines.map((b) => ({
        name: b.metadata.name, mode: b.spec.mode ?? 'Enforce', generation: b.metadata.generation ?? 0, revision: b.status?.updateRevision ?? NOT_YET,
        exceptions: b.status?.namespaces?.excepted ? `${b.status.namespaces.excepted} namespaces` : NOT_YET,
        namespaces: b.status?.namespaces ?? { selected: 0, compliant: 0, drifted: 0, failed: 0 },
        ready: condition(b, 'Ready')?.status ?? 'Unknown', why: whyNotReady(b),
      }));
      if (format !== 'table') await print(formatData(rows, format));
      else if (rows.length === 0) await print('no SecurityBaselines in this cluster\n');
      else {
        await print(table(['NAME', 'MODE', 'REVISION', 'SELECTED', 'COMPLIANT', 'DRIFTED', 'FAILED', 'EXCEPTIONS', 'READY', 'WHY NOT READY'],
          rows.map((r) => [r.name, r.mode, r.revision, String(r.namespaces.selected), String(r.namespaces.compliant), String(r.namespaces.drifted),
            String(r.namespaces.failed), r.exceptions, r.ready, r.why])));
      }
      return 0;
    }
    const baseline = baselines.find((b) => b.metadata.name === name);
    if (!baseline) throw new Error(`no SecurityBaseline "${name}" in this cluster`);
    const namespaces = (await listNamespaces(client)).filter((ns) => !isDeleting(ns) && selects(baseline, ns, values['operator-namespace']));
    const rows = await Promise.all(namespaces.map(async (ns) => {
      const applied = parseApplied(ns.metadata.annotations?.[APPLIED_ANNOTATION])[name];
      const report = await getReport(client, ns.metadata.name) as ReportObject | undefined;
      const results = report?.results?.filter((r) => r.policy === name) ?? [];
      const notPassing = results.filter((r) => r.result !== 'pass').map((r) => `${r.rule} ${r.result}: ${r.message}`);
      return {
        namespace: ns.metadata.name, revision: applied ?? null, upToDate: applied !== undefined && applied === baseline.status?.updateRevision,
        exceptions: parseExceptions(ns.metadata.annotations?.[EXCEPTIONS_ANNOTATION])[name]?.join(',') || NOT_YET,
        report: report ? `${results.filter((r) => r.result === 'pass').length}/${results.length} pass` : NOT_YET, notPassing,
      };
    }));
    const detail = {
      name, mode: baseline.spec.mode ?? 'Enforce', generation: baseline.metadata.generation ?? 0, observedGeneration: baseline.status?.observedGeneration,
      updateRevision: baseline.status?.updateRevision, currentRevision: baseline.status?.currentRevision, namespaces: baseline.status?.namespaces, conditions: baseline.status?.conditions ?? [], selected: rows,
    };
    if (format !== 'table') {
      await print(formatData(detail, format));
      return 0;
    }
    const counts = baseline.status?.namespaces;
    let out = `baseline ${name}: ${detail.mode}, generation ${detail.generation} (observed ${detail.observedGeneration ?? 'never'}), `
      + `revision ${detail.updateRevision ?? NOT_YET} (namespaces were at ${detail.currentRevision ?? NOT_YET} when its rollout began)\n`
      + `namespaces: ${counts ? `${counts.selected} selected, ${counts.compliant} compliant, ${counts.drifted} drifted, ${counts.failed} failed` : 'no status yet'}\n`;
    for (const c of detail.conditions) out += `  ${c.type.padEnd(11)} ${c.status.padEnd(5)} ${c.reason}: ${c.message}\n`;
    out += '\n' + table(['NAMESPACE', 'REVISION', 'UP TO DATE', 'EXCEPTIONS', 'REPORT', 'NOT PASSING'],
      rows.map((r) => [r.namespace, r.revision ?? 'never applied', r.upToDate ? 'yes' : 'no', r.exceptions, r.report, r.notPassing.join('; ')]));
    await print(out);
    return 0;
  },
};
