// The CLI against the real API server, run as a process with a kubeconfig as a
// person or a CI job runs it: `diff` (objects, fields, Pod Security and image
// pre-flight, totals, exit codes), `status`, `explain`, and `validate --server`
// (the API server's own checks, the authoring policy among them, as the caller).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CoreV1Api, NetworkingV1Api, RbacAuthorizationV1Api, AuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { dump } from 'js-yaml';
import { API_VERSION, KIND, type SecurityBaselineSpec } from '../../src/api/types.ts';
import { adminKubeConfig, createTestNamespace, eventually, ignoreNotFound, testControlPlane, waitForDefaultServiceAccount } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { condition, createBaseline, deleteBaseline, getBaseline, waitForBaselineGone, waitForStatus } from '../support/baselines.ts';
import { createException, deleteException, inFuture } from '../support/exceptions.ts';
import { kubeConfigAsUser } from '../support/identities.ts';
import { applyObjects, renderKustomization } from '../support/manifests.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { installReportsCrd, readReport } from '../support/reports.ts';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const run = randomBytes(3).toString('hex');
const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const label = `sbo-cli-${run}`;
const name = `cli-${run}`;
const broken = `cli-broken-${run}`;
const spec: SecurityBaselineSpec = {
  namespaceSelector: { matchLabels: { [label]: 'true' } },
  networkPolicy: { allowDNS: true },
  resourceQuota: { hard: { pods: '4' } },
  podSecurity: { enforce: 'baseline' },
};
let operator: RunningOperator;
let dir: string;
let first: string;
let second: string;

function cli(args: string[], kubeconfig = testControlPlane().kubeconfigPath): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'src/cli/main.ts'), ...args], { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 99) : 0, stdout, stderr }));
  });
}

/** A kubeconfig file for `user`, bound cluster-wide to a ClusterRole of its name holding `rules`; `remove` deletes both. */
async function userWithRules(user: string, rules: V1PolicyRule[]): Promise<{ kubeconfig: string; remove: () => Promise<void> }> {
  await rbac.createClusterRole({ body: { metadata: { name: user }, rules } });
  await rbac.createClusterRoleBinding({ body: {
    metadata: { name: user }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: user },
    subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
  } });
  const kubeconfig = path.join(dir, `${user}.kubeconfig`);
  await writeFile(kubeconfig, (await kubeConfigAsUser(user)).exportConfig(), { mode: 0o600 });
  return {
    kubeconfig,
    remove: async () => {
      await rbac.deleteClusterRoleBinding({ name: user }).catch(ignoreNotFound);
      await rbac.deleteClusterRole({ name: user }).catch(ignoreNotFound);
    },
  };
}

async function file(fileName: string, baselineName: string, baselineSpec: SecurityBaselineSpec): Promise<string> {
  const target = path.join(dir, fileName);
  await writeFile(target, dump({ apiVersion: API_VERSION, kind: KIND, metadata: { name: baselineName }, spec: baselineSpec }));
  return target;
}

beforeAll(async () => {
  await installCrds();
  await installReportsCrd();
  dir = await mkdtemp(path.join(testControlPlane().dir, 'cli-'));
  operator = await startOperator();
  first = await createTestNamespace('cli-a', { [label]: 'true' });
  second = await createTestNamespace('cli-b', { [label]: 'true' });
  await createBaseline(name, spec);
  await waitForStatus(name, (b) => b.status?.namespaces?.compliant === 2 && condition(b, 'Ready')?.status === 'True');
  await eventually(async () => (await readReport(second))?.summary.pass === 3);
  // A pod that `baseline` admits and `restricted` would refuse, from a registry a narrower policy would refuse.
  await waitForDefaultServiceAccount(first);
  await core.createNamespacedPod({ namespace: first, body: { metadata: { name: 'web' }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } });
}, 120_000);

afterAll(async () => {
  for (const baseline of [name, broken]) await deleteBaseline(baseline);
  for (const baseline of [name, broken]) await waitForBaselineGone(baseline).catch(() => undefined);
  expect(await operator.stop()).toBe(0);
}, 60_000);

describe('diff', () => {
  test('of the baseline as it is in the cluster: no differences, exit 0', async () => {
    const result = await cli(['diff', '-f', await file('same.yaml', name, spec)]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toContain('2 namespaces affected: 0 to create, 0 to change, 0 to delete; 0 pre-flight findings');
  });

  test('an exception in the files is not taken into account, and says so', async () => {
    const withException = path.join(dir, 'with-exception.yaml');
    const exception = {
      apiVersion: API_VERSION, kind: 'BaselineException', metadata: { name: 'in-a-file' },
      spec: { baseline: name, namespaces: [first], reason: 'a migration', expiresAt: new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z'), relax: { resourceQuota: { hard: { pods: '99' } } } },
    };
    await writeFile(withException, `${await readFile(await file('same.yaml', name, spec), 'utf8')}---\n${dump(exception)}`);
    const result = await cli(['diff', '-f', withException]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stderr).toContain('exception in-a-file: not used; the diff takes the exceptions in the cluster');
  });

  test('of a change: what would be created, changed field by field and deleted, what pre-flight would hold, totals, exit 1', async () => {
    const changed = await file('changed.yaml', name, {
      ...spec,
      networkPolicy: undefined,
      resourceQuota: { hard: { pods: '8' } },
      limitRange: { default: { cpu: '500m' } },
      podSecurity: { enforce: 'restricted' },
      imagePolicy: { allowedRegistries: ['registry.example.com/'] },
    });
    const result = await cli(['diff', '-f', changed]);
    process.stderr.write(`\nsecurity-baseline diff:\n${result.stdout}`);
    expect(result.code).toBe(1);
    const out = result.stdout;
    expect(out).toContain(`namespace ${first} (selected by ${name})`);
    expect(out).toContain(`  + LimitRange ${name}-limits\n`);
    expect(out).toContain(`  ~ ResourceQuota ${name}-quota\n      .spec.hard.pods: "4" → "8"\n`);
    expect(out).toContain(`  - NetworkPolicy ${name}-default-deny\n`);
    expect(out).toContain(`  ~ Namespace ${first} labels\n`);
    expect(out).toContain('      .metadata.labels.pod-security.kubernetes.io/enforce: "baseline" → "restricted"\n');
    // The API server's own warning names the pod; the image check normalises nginx as the policy would.
    expect(out).toMatch(new RegExp(`! Pod Security restricted: web: .*allowPrivilegeEscalation`));
    expect(out).toContain(`! image policy of ${name}: pod web runs nginx:1.27, which it would refuse (allowed: registry.example.com/)`);
    expect(out).toContain(`cluster-scoped\n  + ValidatingAdmissionPolicy security-baseline-${name}-images\n  + ValidatingAdmissionPolicyBinding security-baseline-${name}-images\n`);
    expect(out).toMatch(/2 namespaces affected: 4 to create, 4 to change, 2 to delete; 3 pre-flight findings\n$/);
    expect(result.stderr).toContain('diff: 2/2 namespaces');

    const json = await cli(['diff', '-f', changed, '-o', 'json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).totals).toMatchObject({ namespaces: 2, create: 4, change: 4, delete: 2 });
    // Nothing was written: the cluster still has the old quota.
    expect((await core.readNamespacedResourceQuota({ namespace: first, name: `${name}-quota` })).spec?.hard?.pods).toBe('4');
  });

  test('takes each baseline as the exceptions in effect relax it, as the operator does: what they loosen is no difference and no finding; a reader who may not see them is warned', async () => {
    const exception = `cli-relax-${run}`;
    const quotaPods = async () => (await core.readNamespacedResourceQuota({ namespace: first, name: `${name}-quota` })).spec?.hard?.pods;
    const enforce = async () => (await core.readNamespace({ name: first })).metadata?.labels?.['pod-security.kubernetes.io/enforce'];
    await createException(exception, {
      baseline: name, namespaces: [first], reason: 'a batch migration', expiresAt: inFuture(3_600_000),
      relax: { resourceQuota: { hard: { pods: '10' } }, podSecurity: { enforce: 'privileged' } },
    });
    try {
      await eventually(async () => (await quotaPods()) === '10' && (await enforce()) === 'privileged');
      // The operator counts a namespace whose exception relaxes some controls compliant; explain agrees, and lists them apart.
      await eventually(async () => (await readReport(first))?.summary.skip === 2);
      const excepted = await cli(['explain', first]);
      expect(excepted.stdout).toContain(`namespace ${first}: compliant\n`);
      expect(excepted.stdout).toContain(`\nnot evaluated here:\n  - ${name} resourceQuota: excepted by BaselineException ${exception}: a batch migration\n`
        + `  - ${name} podSecurity: excepted by BaselineException ${exception}: a batch migration\n`);
      expect(excepted.stdout).not.toContain('why not compliant');
      const same = await cli(['diff', '-f', await file('same.yaml', name, spec)]);
      expect(same.stdout).toMatch(/^2 namespaces affected: 0 to create, 0 to change, 0 to delete; 0 pre-flight findings\n$/);
      expect(same.code).toBe(0);
      // Restricted would refuse the pod in the first namespace, but there the exception keeps enforce at privileged
      // (audit and warn follow the baseline, and change).
      const stricter = await cli(['diff', '-f', await file('stricter.yaml', name, { ...spec, podSecurity: { enforce: 'restricted' } })]);
      expect(stricter.stdout).toContain(`namespace ${first} (selected by ${name})\n  ~ Namespace ${first} labels\n`);
      expect(stricter.stdout).toContain('      .metadata.labels.pod-security.kubernetes.io/audit: "baseline" → "restricted"\n');
      expect(stricter.stdout).not.toContain('enforce: "privileged"');
      expect(stricter.stdout).toMatch(/; 0 pre-flight findings\n$/);

      // Someone who may read everything the diff reads but the exceptions is told what the diff cannot know.
      const reader = await userWithRules(`cli-reader-${run}`, [
        { apiGroups: ['', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'admissionregistration.k8s.io', 'openreports.io', 'logging.banzaicloud.io'], resources: ['*'], verbs: ['get', 'list'] },
        { apiGroups: ['security.baseline.dev'], resources: ['securitybaselines'], verbs: ['get', 'list'] },
      ]);
      try {
        const { kubeconfig } = reader;
        const unaware = await eventually(async () => {
          const attempt = await cli(['diff', '-f', await file('same.yaml', name, spec)], kubeconfig);
          return attempt.code === 1 ? attempt : false;
        });
        process.stderr.write(`\nsecurity-baseline diff, as a reader who may not see exceptions:\n${unaware.stdout}`);
        expect(unaware.stdout).toMatch(/^warning: not allowed to list BaselineExceptions: the diff takes none into account/);
        expect(unaware.stdout).toContain('warning: not allowed to patch namespaces: the Pod Security pre-flight (a server-side dry run of the label change) was not made');
        expect(unaware.stdout).toContain(`  ~ ResourceQuota ${name}-quota\n      .spec.hard.pods: "10" → "4"\n`);
        expect(unaware.stdout).toContain('      .metadata.labels.pod-security.kubernetes.io/enforce: "privileged" → "baseline"\n');
      } finally {
        await reader.remove();
      }
    } finally {
      await deleteException(exception);
      await eventually(async () => (await quotaPods()) === '4' && (await enforce()) === 'baseline');
    }
  });

  test('an invalid baseline is an error (exit 2), and so is an unreachable cluster', async () => {
    const invalid = await cli(['diff', '-f', await file('invalid.yaml', name, { ...spec, mode: 'Sometimes' as never })]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('spec.mode: Unsupported value: "Sometimes"');
    const nowhere = path.join(dir, 'nowhere.kubeconfig');
    await writeFile(nowhere, dump({
      apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'x', cluster: { server: 'https://127.0.0.1:1' } }],
      users: [{ name: 'x', user: {} }], contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }], 'current-context': 'x',
    }));
    expect((await cli(['diff', '-f', await file('same.yaml', name, spec)], nowhere)).code).toBeGreaterThan(1);
  });
});

describe('status and explain', () => {
  test('status lists the baseline with its counts; with a name, each namespace with the generation applied and its report', async () => {
    const all = await cli(['status']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^NAME\s+MODE\s+REVISION\s+SELECTED\s+COMPLIANT\s+DRIFTED\s+FAILED\s+EXCEPTIONS\s+READY\s+WHY NOT READY/);
    const revision = (await getBaseline(name)).status?.updateRevision ?? '';
    expect(revision).toMatch(new RegExp(`^${name}-`));
    expect(all.stdout).toMatch(new RegExp(`\\n${name}\\s+Enforce\\s+${revision}\\s+2\\s+2\\s+0\\s+0\\s+-\\s+True\\n`));
    const one = await cli(['status', name]);
    expect(one.stdout).toContain(`baseline ${name}: Enforce, generation 1 (observed 1), revision ${revision} `);
    expect(one.stdout).toMatch(new RegExp(`\\n${second}\\s+${revision}\\s+yes\\s+-\\s+3/3 pass\\n`));
    const json = JSON.parse((await cli(['status', name, '-o', 'json'])).stdout) as { selected: { namespace: string }[] };
    expect(json.selected.map((s) => s.namespace).sort()).toEqual([first, second].sort());
    expect((await cli(['status', `absent-${run}`])).code).toBe(3);
  });

  test('explain says which baselines select a namespace and why it is not compliant', async () => {
    const compliant = await cli(['explain', second]);
    expect(compliant.code).toBe(0);
    expect(compliant.stdout).toContain(`namespace ${second}: compliant`);
    const revision = (await getBaseline(name)).status?.updateRevision ?? '';
    expect(compliant.stdout).toContain(`  ${name}  Enforce  revision ${revision}  exceptions -  — at its update revision`);
    expect(compliant.stdout).toContain('Pod Security: audit=baseline audit-version=latest enforce=baseline');
    expect(compliant.stdout).toContain('other NetworkPolicies (each allows traffic besides the baselines\'): (none)\n');
    // Someone else's NetworkPolicy (another tool's label included) allows more than the default deny: named.
    // So is one that wears the operator's managed-by label without the baseline label, which only the operator may set.
    const networking = kc.makeApiClient(NetworkingV1Api);
    for (const [policy, labels] of [
      ['allow-all', {}], ['chart-ingress', { 'app.kubernetes.io/managed-by': 'Helm' }], ['disguised', { 'app.kubernetes.io/managed-by': 'security-baseline-operator' }],
    ] as const) {
      await networking.createNamespacedNetworkPolicy({
        namespace: second, body: { metadata: { name: policy, labels }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] } },
      });
    }
    try {
      expect((await cli(['explain', second])).stdout).toContain('other NetworkPolicies (each allows traffic besides the baselines\'): allow-all, chart-ingress, disguised\n');
      const json = JSON.parse((await cli(['explain', second, '-o', 'json'])).stdout) as { otherNetworkPolicies: string[] | null };
      expect(json.otherNetworkPolicies).toEqual(['allow-all', 'chart-ingress', 'disguised']);

      // Someone who may read the rest but not NetworkPolicies is told so, and is shown none of their names.
      const viewer = await userWithRules(`cli-netpol-blind-${run}`, [
        { apiGroups: [''], resources: ['namespaces', 'events'], verbs: ['get', 'list'] },
        { apiGroups: ['openreports.io'], resources: ['reports'], verbs: ['get'] },
        { apiGroups: ['security.baseline.dev'], resources: ['securitybaselines'], verbs: ['get', 'list'] },
      ]);
      try {
        const { kubeconfig } = viewer;
        const blind = await eventually(async () => {
          const attempt = await cli(['explain', second], kubeconfig);
          return attempt.code === 0 ? attempt : false;
        });
        expect(blind.stdout).toContain('other NetworkPolicies (each allows traffic besides the baselines\'): not allowed to list NetworkPolicies\n');
        expect(blind.stdout).not.toContain('allow-all');
      } finally {
        await viewer.remove();
      }
    } finally {
      for (const policy of ['allow-all', 'chart-ingress', 'disguised']) await networking.deleteNamespacedNetworkPolicy({ namespace: second, name: policy });
    }

    await createBaseline(broken, {
      namespaceSelector: { matchLabels: { [label]: 'true' } },
      roleBindings: [{ name: 'readers', clusterRole: `absent-${run}`, subjects: [{ kind: 'Group', name: 'readers' }] }],
    });
    await eventually(async () => (await readReport(second))?.summary.fail === 1, { timeoutMs: 20_000 });
    const failing = await cli(['explain', second]);
    process.stderr.write(`\nsecurity-baseline explain:\n${failing.stdout}`);
    expect(failing.stdout).toContain(`namespace ${second}: NOT compliant`);
    expect(failing.stdout).toContain(`  - ${broken} roleBindings: fail: RoleBinding ${broken}-readers missing: `);
    expect(failing.stdout).toContain('recent warnings:');
    expect(failing.stdout).toContain(`ClusterRoleNotFound: baseline ${broken}: RoleBinding ${broken}-readers refers to ClusterRole absent-${run}`);
    const outsider = await createTestNamespace('cli-out');
    expect((await cli(['explain', outsider])).stdout).toContain(`${name} — its namespaceSelector does not match the labels`);
  }, 60_000);
});

describe('validate --server', () => {
  test('adds the API server\'s checks as the caller: the authoring policy refuses what offline checks cannot know', async () => {
    // The roles for people (config/rbac): the editor may write baselines, not grant admin.
    await applyObjects((await renderKustomization('config/rbac')).filter((o) => o.kind === 'ClusterRole' && o.metadata?.name?.startsWith('securitybaseline-')));
    const user = `cli-editor-${run}`;
    const binding = `${user}-editor`;
    await rbac.createClusterRoleBinding({ body: {
      metadata: { name: binding }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'securitybaseline-editor' },
      subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
    } });
    try {
      const authorization = kc.makeApiClient(AuthorizationV1Api);
      await eventually(async () => (await authorization.createSubjectAccessReview({ body: { spec: { user, resourceAttributes: { group: 'security.baseline.dev', resource: 'securitybaselines', verb: 'create' } } } })).status?.allowed === true);
      const kubeconfig = path.join(dir, `${user}.kubeconfig`);
      await writeFile(kubeconfig, (await kubeConfigAsUser(user)).exportConfig(), { mode: 0o600 });

      const grant = await file('grant.yaml', `cli-grant-${run}`, {
        namespaceSelector: {}, roleBindings: [{ name: 'admins', clusterRole: 'admin', subjects: [{ kind: 'Group', name: 'x' }] }],
      });
      expect((await cli(['validate', grant])).code).toBe(0); // offline, nothing is wrong with it
      const refused = await cli(['validate', '--server', grant], kubeconfig);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain(`${grant}: cli-grant-${run}: `);
      expect(refused.stdout).toMatch(/may not bind ClusterRole admin/);

      const quota = await file('quota.yaml', `cli-quota-${run}`, { namespaceSelector: {}, resourceQuota: { hard: { pods: '4' } } });
      expect(await cli(['validate', '--server', quota], kubeconfig)).toMatchObject({ code: 0, stdout: '' });
      // An existing baseline is checked as an update.
      expect((await cli(['validate', '--server', await file('same.yaml', name, spec)])).code).toBe(0);
    } finally {
      await rbac.deleteClusterRoleBinding({ name: binding }).catch(ignoreNotFound);
    }
  }, 60_000);
});
