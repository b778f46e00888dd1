// The `security-baseline` command line (also the kubectl plugin `kubectl-sbl`):
// one module per command, each on the operator's own builders and label
// selector, so what it says can never disagree with what the operator does.
//
// Exit codes: 0 fine; 1 problems found (validate) or differences (diff, as
// `kubectl diff`); 2 usage errors; 3 anything else (the cluster could not be
// reached, a file could not be read).
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from './command.ts';
import { runDiff } from './diff.ts';
import { runExplain } from './explain.ts';
import { UsageError } from './output.ts';
import { runRender } from './render.ts';
import { runStatus } from './status.ts';
import { runValidate } from './validate.ts';

const COMMANDS: Record<string, Command> = {
  validate: runValidate, render: runRender, diff: runDiff, status: runStatus, explain: runExplain,
};

/** `kubectl sbl` when run as the kubectl plugin, else the name it was linked under. */
export function programName(argv1: string | undefined): string {
  const base = path.basename(argv1 ?? 'security-baseline').replace(/\.(ts|js)$/, '');
  if (base.startsWith('kubectl-')) return `kubectl ${base.slice('kubectl-'.length).replace(/_/g, '-')}`;
  return base === 'main' || base === 'security-baseline' ? 'security-baseline' : base;
}

function help(program: string): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `${program}: check, preview and explain SecurityBaselines (security.baseline.dev/v1alpha1)

Usage: ${program} COMMAND [options]

Commands:
${Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`).join('\n')}

Run "${program} COMMAND --help" for a command's options. Commands that read the
cluster use $KUBECONFIG (or ~/.kube/config) and its current context.
`;
}

export async function main(argv: string[], program: string): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help(program));
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`${program}: unknown command "${name}"\n\n${help(program)}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.summary}\n\n${command.usage.replaceAll('PROGRAM', program)}`);
    return 0;
  }
  try {
    return await command.run(rest, program);
  } catch (error) {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`${program} ${name}: ${error.message}\nRun "${program} ${name} --help" for usage.\n`);
      return 2;
    }
    process.stderr.write(`${program} ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 3;
  }
}

// Run directly (`node src/cli/main.ts`); bin/security-baseline.js calls main() itself.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2), programName(process.argv[1]));
}
