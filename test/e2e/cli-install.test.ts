// The CLI as a user gets it: linked from a checkout under the kubectl plugin
// name (kubectl finds `kubectl-sbl` on PATH), and installed from the package
// `npm pack` makes, installed under node_modules, where it runs the compiled
// dist/ (Node.js does not strip types under node_modules).
import { beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { testControlPlane } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';

const run = promisify(execFile);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
/** Node.js 24 first, as on the machine of a user who has it. */
const PATH = (dirs: string[]) => [...dirs, path.dirname(process.execPath), process.env.PATH].join(path.delimiter);

beforeAll(installCrds);

describe('installing the CLI', () => {
  test('linked as kubectl-sbl, kubectl runs it as the plugin "kubectl sbl"', async () => {
    const plugins = await mkdtemp(path.join(testControlPlane().dir, 'plugins-'));
    await symlink(path.join(root, 'bin/security-baseline.js'), path.join(plugins, 'kubectl-sbl'));
    const kubectl = path.join(testControlPlane().binDir, 'kubectl');
    const env = { ...process.env, PATH: PATH([plugins]), KUBECONFIG: testControlPlane().kubeconfigPath };
    const help = await run(kubectl, ['sbl', '--help'], { env });
    expect(help.stdout).toContain('Usage: kubectl sbl COMMAND [options]');
    const status = await run(kubectl, ['sbl', 'status', '-o', 'json'], { env });
    expect(Array.isArray(JSON.parse(status.stdout))).toBe(true);
    expect((await run(kubectl, ['plugin', 'list'], { env })).stdout).toContain('kubectl-sbl');
  }, 60_000);

  test('from the packed package, installed under node_modules, the bin runs the compiled CLI', async () => {
    const work = await mkdtemp(path.join(testControlPlane().dir, 'pack-'));
    // The npm that runs the tests (make test runs them through npm), on the same Node.js.
    const npmCli = process.env.npm_execpath;
    if (!npmCli) throw new Error('run the tests through npm (make test), which says where npm is');
    const env = { ...process.env, PATH: PATH([]) };
    // prepack compiles src/ to dist/; the package holds bin/, dist/ and crds/.
    await run(process.execPath, [npmCli, 'pack', '--pack-destination', work], { cwd: root, env, timeout: 240_000 });
    const tarball = (await readdir(work)).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    // Laid out as `npm install` lays it out, with the dependencies of the lockfile (no registry needed):
    // node_modules/security-baseline-operator, its dependencies beside it, and the bins linked to it.
    const modules = path.join(work, 'node_modules');
    const installed = path.join(modules, 'security-baseline-operator');
    await mkdir(installed, { recursive: true });
    await run('tar', ['-xzf', path.join(work, tarball as string), '-C', installed, '--strip-components=1']);
    expect((await readdir(installed)).sort()).toEqual(['README.md', 'bin', 'crds', 'dist', 'package.json']);
    for (const entry of await readdir(path.join(root, 'node_modules'))) {
      if (!entry.startsWith('.')) await symlink(path.join(root, 'node_modules', entry), path.join(modules, entry));
    }
    const bins = path.join(work, 'bin');
    await mkdir(bins);
    for (const name of ['security-baseline', 'kubectl-sbl']) await symlink(path.join(installed, 'bin/security-baseline.js'), path.join(bins, name));

    const validate = await run(path.join(bins, 'security-baseline'), ['validate', path.join(root, 'config/samples/tenants.yaml')], { env });
    expect(validate.stderr).toContain('1 baseline in 1 file: valid');
    const render = await run(path.join(bins, 'kubectl-sbl'), ['render', '-f', path.join(root, 'config/samples/tenants.yaml'), '-n', 'team-a', '-l', 'tenant=true'], { env });
    expect(render.stdout).toContain('name: tenants-quota');
  }, 300_000);
});
