// `render -f BASELINE --namespace NAME [--labels k=v,…]`: the objects the
// operator would create in that namespace, as YAML, offline: the same
// selection, exceptions, builders and composition as the operator's reconcile.
import { parseArgs } from 'node:util';
import { desiredAdmissionObjects } from '../controller/admission.ts';
import { isAlwaysExcluded, selects } from '../controller/selection.ts';
import { NAMESPACE_NAME_LABEL } from '../resources/imagepolicy.ts';
import { exceptionsFor, exceptionsOfBaseline, hasExpired, relaxBaseline, relaxProblems } from '../resources/exception.ts';
import { buildBaseline, composeDesired, type BaselineBuild } from '../resources/index.ts';
import { OPERATOR_NAMESPACE_HELP, OPERATOR_NAMESPACE_OPTION, readValidBaselines } from './baselines.ts';
import type { Command } from './command.ts';
import { formatData, print, UsageError, yamlDocuments } from './output.ts';

export const runRender: Command = {
  summary: 'print the objects the operator would create for a namespace (offline)',
  usage: `Usage: PROGRAM render -f FILE [-f FILE…] --namespace NAME [--labels k=v,…] [-o yaml|json]

Prints, as YAML documents, what the operator would create for the namespace
NAME carrying the given labels (it always also has kubernetes.io/metadata.name):
the namespaced objects of every Enforce baseline in the files that selects it,
composed as the operator composes several baselines, the Namespace's Pod
Security labels, and the baselines' cluster-scoped admission policies. No
cluster is needed. Baselines that do not select the namespace are named on
stderr, and so are Audit baselines, which create nothing in the namespace:
only their admission policies, which warn instead of refusing.

BaselineExceptions in the files relax their baselines as the operator would
now: those that name the namespace and have not expired, each judged against
its baseline (one that would tighten or names an unset control is left out,
and said so on stderr); the admission policies let in what every unexpired
exception of their baseline relaxes.

Options:
  -f, --filename         file of baselines and exceptions (YAML or JSON; - for
                         standard input); repeatable
  -n, --namespace        the namespace's name
  -l, --labels           its labels, k=v pairs separated by commas
${OPERATOR_NAMESPACE_HELP}
  -o, --output           yaml (default) or json (a v1 List)
`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        namespace: { type: 'string', short: 'n' },
        labels: { type: 'string', short: 'l' },
        ...OPERATOR_NAMESPACE_OPTION,
        output: { type: 'string', short: 'o', default: 'yaml' },
      },
    });
    if (!values.filename?.length) throw new UsageError('name the baseline file with -f');
    if (!values.namespace) throw new UsageError('name the namespace with --namespace');
    if (values.output !== 'yaml' && values.output !== 'json') throw new UsageError(`unknown output format "${values.output}": use yaml or json`);
    const namespace = { metadata: { name: values.namespace, labels: { ...parseLabels(values.labels), [NAMESPACE_NAME_LABEL]: values.namespace } } };
    const operatorNamespace = values['operator-namespace'];

    const { baselines, exceptions, invalid } = await readValidBaselines(values.filename, operatorNamespace);
    if (invalid > 0) return 1;
    if (isAlwaysExcluded(values.namespace, operatorNamespace)) process.stderr.write(`namespace ${values.namespace} is never managed by the operator\n`);
    const selected = baselines.filter((baseline) => {
      const selectsIt = selects(baseline, namespace, operatorNamespace);
      if (!selectsIt) process.stderr.write(`baseline ${baseline.metadata.name} does not select namespace ${values.namespace} with these labels\n`);
      else if (baseline.spec.mode === 'Audit') {
        process.stderr.write(`baseline ${baseline.metadata.name} is in Audit mode: it creates nothing in the namespace, it only reports; its admission policies warn instead of refusing\n`);
      }
      return selectsIt;
    });
    const selecting = selected.filter((baseline) => baseline.spec.mode !== 'Audit');
    const now = Date.now();
    for (const exception of exceptions) {
      if (!baselines.some((baseline) => baseline.metadata.name === exception.spec.baseline)) {
        process.stderr.write(`exception ${exception.metadata.name}: its baseline ${exception.spec.baseline} is not in the files\n`);
      } else if (exception.spec.namespaces.includes(values.namespace) && hasExpired(exception, now)) {
        process.stderr.write(`exception ${exception.metadata.name}: expired at ${exception.spec.expiresAt}, relaxes nothing\n`);
      }
    }
    const relaxed = selecting.map((baseline) => {
      const here = exceptionsFor(exceptions, baseline.metadata.name, values.namespace as string, now);
      for (const exception of here) {
        const problems = relaxProblems(baseline.metadata.name, baseline.spec, exception.spec.relax);
        if (problems.length > 0) process.stderr.write(`exception ${exception.metadata.name}: not applied: ${problems.map((p) => p.message).join('; ')}\n`);
      }
      const relaxation = relaxBaseline(baseline, here);
      if (relaxation.applied.length > 0) process.stderr.write(`baseline ${baseline.metadata.name}: relaxed here by ${relaxation.applied.join(', ')}\n`);
      return relaxation.baseline;
    });
    const info = { name: values.namespace, labels: namespace.metadata.labels };
    const desired = composeDesired(relaxed.map((baseline): BaselineBuild => buildBaseline(baseline, info)));
    for (const { baseline, error } of desired.errors) process.stderr.write(`baseline ${baseline}: ${error.message}\n`);
    for (const conflict of desired.conflicts) process.stderr.write(`baseline ${conflict.baseline}: its ${conflict.control} is overridden by baseline ${conflict.winner}\n`);

    const objects: unknown[] = [...desired.objects];
    if (Object.keys(desired.namespaceLabels).length > 0) {
      objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: values.namespace, labels: desired.namespaceLabels } });
    }
    // Audit baselines' too: they are created, to warn.
    for (const baseline of selected) {
      const relaxing = exceptionsOfBaseline(exceptions, baseline.metadata.name, now);
      objects.push(...desiredAdmissionObjects(baseline as Parameters<typeof desiredAdmissionObjects>[0], operatorNamespace, [], relaxing));
    }
    await print(values.output === 'json' ? formatData({ apiVersion: 'v1', kind: 'List', items: objects }, 'json') : yamlDocuments(objects));
    return desired.errors.length > 0 ? 1 : 0;
  },
};

/** `k=v,k2=v2` as a label map. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--labels: "${pair}" is not key=value`);
    labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}
