// Runs promtool for the tests. A missing promtool is an error with the way to
// get one, never a reason to skip: rules nobody checked are the ones that
// page at 3 a.m. for nothing, or never.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export const ENSURE_PROMTOOL = 'hack/prometheus/ensure-promtool.sh';

/** $PROMTOOL, else promtool on PATH, else Debian's /usr/bin/promtool. */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = env.PROMTOOL
    ? [env.PROMTOOL]
    : [...(env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, 'promtool')), '/usr/bin/promtool'];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  throw new Error(env.PROMTOOL
    ? `PROMTOOL=${env.PROMTOOL} is not an executable`
    : `promtool not found on PATH nor at /usr/bin/promtool: run ${ENSURE_PROMTOOL} (it installs Debian's prometheus package), or set PROMTOOL`);
}

export interface PromtoolResult {
  readonly ok: boolean;
  /** stdout and stderr together, as promtool's messages go to either. */
  readonly output: string;
}

export function runPromtool(args: readonly string[], cwd: string): Promise<PromtoolResult> {
  const promtool = findPromtool();
  return new Promise((resolve) => {
    execFile(promtool, [...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/** Runs promtool and fails with its whole output when it does. */
export async function promtool(args: readonly string[], cwd: string): Promise<string> {
  const result = await runPromtool(args, cwd);
  if (!result.ok) throw new Error(`promtool ${args.join(' ')} failed:\n${result.output}`);
  return result.output;
}
