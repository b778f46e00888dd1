// The CLI's offline commands, run as a user runs them: a process (`node
// src/cli/main.ts`, as bin/security-baseline.js does from a checkout), on
// files. `validate` must refuse every baseline of the catalogue the real API
// server refuses (test/cluster/crd-validation.test.ts), at the same field and
// with the same words, and accept the one that sets every field.
import { describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dump } from 'js-yaml';
import { API_VERSION, KIND } from '../../src/api/types.ts';
import { full, invalid, minimal } from '../support/baseline-catalogue.ts';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export function cli(args: string[], env: Record<string, string> = {}, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(root, 'src/cli/main.ts'), ...args], { env: { ...process.env, ...env }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 99) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function tempFile(name: string, documents: unknown[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sbl-cli-'));
  const file = path.join(dir, name);
  await writeFile(file, documents.map((d) => dump(d)).join('---\n'));
  return file;
}

describe('validate', () => {
  test('refuses every baseline of the catalogue as the API server does: exit 1, one line per problem with its field', async () => {
    const cases = invalid.map((c, i) => ({ ...c, object: c.body(`case-${i}`) as { metadata: { name: string } } }));
    const file = await tempFile('bad.yaml', cases.map((c) => c.object));
    const { code, stdout } = await cli(['validate', file]);
    expect(code).toBe(1);
    const lines = stdout.trim().split('\n');
    const missed: string[] = [];
    for (const c of cases) {
      // Each line is FILE: BASELINE: FIELD: MESSAGE; the API server joins its problems with ", ".
      const own = lines.filter((l) => l.startsWith(`${file}: ${c.object.metadata.name}: `)).map((l) => l.slice(`${file}: ${c.object.metadata.name}: `.length));
      const pattern = new RegExp(c.message.source.replace(/^.*? is invalid: /, ''));
      if (!pattern.test(own.join(', '))) missed.push(`${c.name}: expected ${pattern}, got ${JSON.stringify(own)}`);
    }
    expect(missed).toEqual([]);
  });

  test('accepts a baseline that sets every field, and the samples; says what it skipped', async () => {
    const file = await tempFile('full.yaml', [{ apiVersion: API_VERSION, kind: KIND, metadata: { name: 'full' }, spec: full }, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }]);
    const result = await cli(['validate', file, path.join(root, 'config/samples/tenants.yaml'), path.join(root, 'config/samples/fronto.yaml')]);
    expect(result).toMatchObject({ code: 0, stdout: '' });
    expect(result.stderr).toContain('3 baselines in 3 files: valid; 1 other document skipped (not SecurityBaselines)');
  });

  test('adds what only the operator checks (a ServiceAccount name), unknown fields and a wrong apiVersion; json for scripts', async () => {
    const file = await tempFile('operator.yaml', [
      minimal('account', { roleBindings: [{ name: 'ci', clusterRole: 'view', subjects: [{ kind: 'ServiceAccount', name: 'CI_bot', namespace: 'ci' }] }] }),
      minimal('typo', { namespaceSelectors: {} }),
      { ...minimal('old'), apiVersion: 'security.baseline.dev/v1beta9' },
    ]);
    const { code, stdout } = await cli(['validate', file, '-o', 'json']);
    expect(code).toBe(1);
    const { problems } = JSON.parse(stdout) as { problems: { baseline: string; field: string; message: string }[] };
    expect(problems.map((p) => `${p.baseline} ${p.field}: ${p.message}`)).toEqual([
      'account spec.roleBindings[0].subjects[0].name: Invalid value: "CI_bot" is not a valid ServiceAccount name (lower-case alphanumerics, \'-\' and \'.\')',
      'typo spec.namespaceSelectors: unknown field "spec.namespaceSelectors"',
      `old apiVersion: Unsupported value: "security.baseline.dev/v1beta9": supported values: "${API_VERSION}"`,
    ]);
  });

  test('reads standard input, and a file that is not YAML is an error, not a crash', async () => {
    expect((await cli(['validate', '-'], {}, dump(minimal('stdin')))).code).toBe(0);
    const bad = await tempFile('bad.yaml', []);
    await writeFile(bad, 'a: [\n');
    const result = await cli(['validate', bad]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`${bad}: not YAML`);
  });
});

describe('render', () => {
  test('prints what the operator would create in a namespace, as YAML, from the same builders', async () => {
    const { code, stdout, stderr } = await cli(['render', '-f', path.join(root, 'config/samples/tenants.yaml'), '--namespace', 'team-a', '--labels', 'tenant=true']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const kinds = stdout.split('\n').filter((l) => l.startsWith('kind: ')).map((l) => l.slice(6));
    expect(kinds).toEqual(expect.arrayContaining(['NetworkPolicy', 'ResourceQuota', 'LimitRange', 'RoleBinding', 'Namespace']));
    expect(stdout).toContain('name: tenants-quota\n  namespace: team-a');
    expect(stdout).toContain('pod-security.kubernetes.io/enforce: restricted');
  });

  test('names a baseline that does not select the namespace, and a label a template needs', async () => {
    const file = await tempFile('t.yaml', [minimal('needs-team', {
      namespaceSelector: { matchLabels: { tenant: 'true' } },
      roleBindings: [{ name: 'r', clusterRole: 'view', subjects: [{ kind: 'Group', name: '${label:team}-admins' }] }],
    })]);
    const other = await cli(['render', '-f', file, '--namespace', 'team-a']);
    expect(other).toMatchObject({ code: 0, stdout: '' });
    expect(other.stderr).toContain('baseline needs-team does not select namespace team-a with these labels');
    const missing = await cli(['render', '-f', file, '--namespace', 'team-a', '-l', 'tenant=true', '-o', 'json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('spec.roleBindings[0].subjects[0].name: ${label:team}: namespace "team-a" has no label "team"');
    expect(JSON.parse(missing.stdout)).toMatchObject({ kind: 'List' });
  });

  test('an Audit baseline creates nothing in the namespace, but its admission policies, which warn', async () => {
    const { code, stdout, stderr } = await cli(['render', '-f', path.join(root, 'config/samples/workloads.yaml'), '--namespace', 'team-a', '--labels', 'tenant=true', '-o', 'json']);
    expect(code).toBe(0);
    expect(stderr).toBe('baseline tenant-workloads is in Audit mode: it creates nothing in the namespace, it only reports; its admission policies warn instead of refusing\n');
    const items = (JSON.parse(stdout) as { items: { kind: string; metadata: { name: string }; spec: { validationActions?: string[] } }[] }).items;
    const policies = ['workloads', 'exec', 'networkpolicies'].map((suffix) => `security-baseline-tenant-workloads-${suffix}`);
    expect(items.map((item) => [item.kind, item.metadata.name])).toEqual([
      ...policies.map((name) => ['ValidatingAdmissionPolicy', name]), ...policies.map((name) => ['ValidatingAdmissionPolicyBinding', name]),
    ]);
    for (const binding of items.filter((item) => item.kind === 'ValidatingAdmissionPolicyBinding')) expect(binding.spec.validationActions).toEqual(['Warn', 'Audit']);
  });
});

describe('render with BaselineExceptions', () => {
  const day = 24 * 60 * 60 * 1000;
  const exception = (name: string, namespaces: string[], expiresAt: number, relax: Record<string, unknown>, baseline = 'strict') => ({
    apiVersion: API_VERSION, kind: 'BaselineException', metadata: { name },
    spec: { baseline, namespaces, reason: 'a migration under way', expiresAt: new Date(expiresAt).toISOString().replace(/\.\d+Z$/, 'Z'), relax },
  });
  const strict = minimal('strict', {
    namespaceSelector: { matchLabels: { tenant: 'true' } },
    podSecurity: { enforce: 'restricted' },
    resourceQuota: { hard: { pods: '10' } },
    imagePolicy: { allowedRegistries: ['registry.example.com/'] },
  });

  test('relaxes the baseline as the operator would: exceptions in effect here apply, others are named on stderr', async () => {
    const file = await tempFile('x.yaml', [
      strict,
      exception('team-a-migration', ['team-a'], Date.now() + day, { podSecurity: { enforce: 'baseline' }, resourceQuota: { hard: { pods: '20' } }, imagePolicy: { allowedRegistries: ['ghcr.io/team-a/'] } }),
      exception('elsewhere', ['team-b'], Date.now() + day, { resourceQuota: { hard: { pods: '50' } } }),
      exception('long-gone', ['team-a'], Date.now() - day, { resourceQuota: { hard: { pods: '99' } } }),
      exception('tightens', ['team-a'], Date.now() + day, { resourceQuota: { hard: { pods: '5' } } }),
    ]);
    const { code, stdout, stderr } = await cli(['render', '-f', file, '--namespace', 'team-a', '--labels', 'tenant=true']);
    expect(code).toBe(0);
    expect(stdout).toContain('pod-security.kubernetes.io/enforce: baseline');
    expect(stdout).toMatch(/name: strict-quota\n {2}namespace: team-a\n[\s\S]*?pods: '20'/);
    // The image policy lets team-a's registry in, for team-a only.
    expect(stdout).toContain('ghcr.io/team-a/');
    expect(stderr).toContain('baseline strict: relaxed here by team-a-migration\n');
    expect(stderr).toContain('exception long-gone: expired at');
    expect(stderr).toMatch(/exception tightens: not applied: .*pods/);
    expect(stderr).not.toContain('elsewhere');

    const other = await cli(['render', '-f', file, '--namespace', 'team-c', '--labels', 'tenant=true']);
    expect(other.code).toBe(0);
    expect(other.stdout).toContain('pod-security.kubernetes.io/enforce: restricted');
    expect(other.stdout).toMatch(/name: strict-quota\n {2}namespace: team-c\n[\s\S]*?pods: '10'/);
    expect(other.stderr).toBe('');
  });

  test('an exception the CRD would refuse is an error; one whose baseline is not in the files, a note', async () => {
    const bad = exception('no-reason', ['team-a'], Date.now() + day, { resourceQuota: { hard: { pods: '20' } } }) as { spec: Record<string, unknown> };
    delete bad.spec.reason;
    const file = await tempFile('bad.yaml', [strict, bad]);
    const { code, stderr } = await cli(['render', '-f', file, '--namespace', 'team-a', '--labels', 'tenant=true']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/no-reason: spec.reason: Required value/);
    expect(stderr).toContain('1 invalid document: see the problems above');

    const orphanOnly = await tempFile('orphan.yaml', [strict, exception('orphan', ['team-a'], Date.now() + day, { resourceQuota: { hard: { pods: '20' } } }, 'absent')]);
    const orphan = await cli(['render', '-f', orphanOnly, '--namespace', 'team-a', '--labels', 'tenant=true']);
    expect(orphan.code).toBe(0);
    expect(orphan.stderr).toContain('exception orphan: its baseline absent is not in the files');
    expect(orphan.stdout).toMatch(/pods: '10'/);
  });
});

describe('the command line', () => {
  test('every command has --help; a usage error exits 2 and says how to get help', async () => {
    const commands = ['validate', 'render', 'diff', 'status', 'explain'];
    const helps = await Promise.all(commands.map((command) => cli([command, '--help'])));
    expect(helps.map((h, i) => [h.code, h.stdout.includes(`Usage: security-baseline ${commands[i]}`)])).toEqual(commands.map(() => [0, true]));
    const usage = await cli(['render', '--namespace']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Run "security-baseline render --help" for usage.');
    expect((await cli(['frobnicate'])).code).toBe(2);
  });
});
