// Runs the helm CLI that hack/helm/build.sh builds (and caches) from the Go
// module proxy, for the chart's tests. $HELM, when set, wins.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = import.meta.dirname;
export const CHART = path.resolve(here, '../../charts/security-baseline-operator');

let helmPath: Promise<string> | undefined;

/** The helm binary: $HELM, else the cached build (built first when missing, minutes once). */
export function ensureHelm(): Promise<string> {
  helmPath ??= process.env.HELM
    ? Promise.resolve(process.env.HELM)
    : run(path.join(here, 'build.sh'), [], { maxBuffer: 16 * 1024 * 1024 }).then(({ stdout }) => stdout.trim().split('\n').at(-1) ?? '');
  return helmPath;
}

export interface HelmResult {
  readonly ok: boolean;
  /** stdout alone: the manifests of `helm template`. */
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs helm; never throws for helm's own failure (the result says so), so that tests can assert on refusals. */
export async function runHelm(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<HelmResult> {
  const helm = await ensureHelm();
  return new Promise((resolve) => {
    execFile(helm, [...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ ok: error === null, stdout, stderr });
    });
  });
}

/** Runs helm and fails with its output when it does. */
export async function helm(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await runHelm(args, env);
  if (!result.ok) throw new Error(`helm ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** `--set`-style values as helm arguments: `--set-json key=<json>` each, so types survive. */
export function valueArgs(values: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);
}
