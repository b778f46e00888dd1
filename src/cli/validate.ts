// `validate FILE…`: offline, everything the API server's schema and CEL rules
// and the operator's builders would refuse, one line per problem with its field
// path; exit 1 on any problem, for CI. `--server` adds a server-side dry run
// against the cluster in KUBECONFIG (the CRD as installed there, its CEL rules
// and the authoring policy, with the caller's own permissions).
import { parseArgs } from 'node:util';
import { checkDocument, readDocuments, type Checked } from './baselines.ts';
import type { Command } from './command.ts';
import { formatData, parseFormat, print, UsageError } from './output.ts';

interface ValidationProblem {
  file: string;
  baseline: string;
  field: string;
  message: string;
  /** `offline`: schema, CEL or operator checks; `server`: the dry run. */
  source: 'offline' | 'server';
}

export const runValidate: Command = {
  summary: 'check baseline files offline (schema, CEL rules, operator checks); --server adds a dry run',
  usage: `Usage: PROGRAM validate FILE… [--server] [-o json|yaml]

Checks every SecurityBaseline in the files (YAML or JSON, several documents per
file; - reads standard input) without a cluster: the CRD's structural schema and
its CEL rules, and every check the operator makes when it builds the objects.
Prints one line per problem, FILE: BASELINE: FIELD: MESSAGE, and exits 1 if
there is any (0 if none), so a CI job can run it on every change.

Options:
  --server        also send each baseline to the cluster in KUBECONFIG as a
                  server-side dry run (create): the API server checks it with the
                  CRD installed there, its CEL rules and the authoring policy,
                  as the caller. Nothing is stored.
  -o, --output    json or yaml: the problems as data
`,
  async run(args) {
    const { values, positionals } = parseArgs({
      args, allowPositionals: true,
      options: { server: { type: 'boolean', default: false }, output: { type: 'string', short: 'o' } },
    });
    const format = parseFormat(values.output);
    if (positionals.length === 0) throw new UsageError('name at least one file');
    const documents = await readDocuments(positionals);
    const problems: ValidationProblem[] = [];
    const checked: Checked[] = [];
    let others = 0;
    for (const document of documents) {
      const result = await checkDocument(document);
      if (!result) {
        others++;
        continue;
      }
      checked.push(result);
      for (const problem of result.problems) problems.push({ file: document.file, baseline: result.name, ...problem, source: 'offline' });
    }
    if (values.server) {
      // Loaded only here: the cluster client is most of the CLI's start-up time.
      const { dryRunCreate, kubeClient } = await import('./cluster.ts');
      const client = kubeClient();
      for (const result of checked) {
        const message = await dryRunCreate(client, result.document.value);
        if (message) problems.push({ file: result.document.file, baseline: result.name, field: '', message, source: 'server' });
      }
    }
    const unchecked = checked.flatMap((c) => c.unchecked.map((u) => ({ file: c.document.file, baseline: c.name, ...u })));
    if (format !== 'table') {
      await print(formatData({ baselines: checked.length, problems, unchecked }, format));
    } else {
      await print(problems.map((p) => `${p.file}: ${p.baseline}: ${p.field ? `${p.field}: ` : ''}${p.message}\n`).join(''));
      for (const u of unchecked) process.stderr.write(`${u.file}: ${u.baseline}: ${u.field}: rule not checked offline (${u.why}): ${u.rule}\n`);
      const files = new Set(documents.map((d) => d.file)).size;
      process.stderr.write(`${checked.length} baseline${checked.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}: `
        + `${problems.length === 0 ? 'valid' : `${problems.length} problem${problems.length === 1 ? '' : 's'}`}`
        + `${others > 0 ? `; ${others} other document${others === 1 ? '' : 's'} skipped (not SecurityBaselines)` : ''}\n`);
    }
    if (checked.length === 0 && problems.length === 0) {
      process.stderr.write('no SecurityBaseline found in the files\n');
      return 1;
    }
    return problems.length > 0 ? 1 : 0;
  },
};
