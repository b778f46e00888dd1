// The admission-level controls, applied by the operator and enforced by the
// real API server: Pod Security labels, the image policy, the workload policy,
// the first-pod gate, and what Audit mode makes of them.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, RbacAuthorizationV1Api, type V1Pod } from '@kubernetes/client-node';
import { adminKubeConfig, createTestNamespace, eventually, messageOf, statusOf, uniqueName, waitForDefaultServiceAccount } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { connect, kubectl } from '../support/admission.ts';
import { auditMark, writesSince } from '../support/audit.ts';
import { condition, createBaseline, deleteBaseline, waitForBaselineGone, waitForStatus, writerAs } from '../support/baselines.ts';
import { kubeConfigAsUser } from '../support/identities.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { BASELINES as BASELINE_TYPE } from '../../src/controller/kinds.ts';
import type { SecurityBaselineSpec } from '../../src/api/types.ts';

const run = randomBytes(3).toString('hex');
const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const created: string[] = [];
let operator: RunningOperator;

async function baseline(prefix: string, spec: Omit<SecurityBaselineSpec, 'namespaceSelector'>): Promise<string> {
  const name = `${prefix}-${run}`;
  await createBaseline(name, { namespaceSelector: { matchLabels: { 'sbo-admission': name } }, ...spec });
  created.push(name);
  return name;
}

function pod(image: string, privileged = false, readOnlyRootFilesystem?: boolean): V1Pod {
  return {
    metadata: { name: uniqueName('pod') },
    spec: {
      containers: [{
        name: 'app', image,
        securityContext: privileged ? { privileged: true } : {
          runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
          ...(readOnlyRootFilesystem === undefined ? {} : { readOnlyRootFilesystem }),
        },
      }],
    },
  };
}

const refusal = (create: Promise<unknown>) => create.then(() => undefined, (error: unknown) => ({ status: statusOf(error), message: messageOf(error) }));

beforeAll(async () => {
  await installCrds();
  operator = await startOperator();
});

afterAll(async () => {
  await Promise.all(created.map((name) => deleteBaseline(name)));
  await Promise.all(created.map((name) => waitForBaselineGone(name).catch(() => undefined)));
  expect(await operator.stop()).toBe(0);
});

describe('admission-level controls', () => {
  test('restricted Pod Security refuses a privileged pod and admits a compliant one; deletion removes only the operator\'s labels', async () => {
    const name = await baseline('psa', { podSecurity: { enforce: 'restricted' } });
    const namespace = await createTestNamespace('psa', { 'sbo-admission': name, team: 'payments' });
    await waitForDefaultServiceAccount(namespace);
    await eventually(async () => (await core.readNamespace({ name: namespace })).metadata?.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted');
    const refused = await refusal(core.createNamespacedPod({ namespace, body: pod('registry.example.com/app:1', true) }));
    expect(refused?.status).toBe(403);
    expect(refused?.message).toMatch(/violates PodSecurity "restricted:latest": privileged/);
    await core.createNamespacedPod({ namespace, body: pod('registry.example.com/app:1') });

    await deleteBaseline(name);
    await waitForBaselineGone(name);
    const labels = (await core.readNamespace({ name: namespace })).metadata?.labels ?? {};
    expect(Object.keys(labels).filter((key) => key.startsWith('pod-security.kubernetes.io/'))).toEqual([]);
    expect(labels.team).toBe('payments');
    expect(labels['sbo-admission']).toBe(name);
  });

  test('the image policy refuses pods and workloads from registries the baseline does not allow, naming the image', async () => {
    const name = await baseline('images', { imagePolicy: { allowedRegistries: ['registry.example.com/', 'ghcr.io/acme/'] } });
    const namespace = await createTestNamespace('images', { 'sbo-admission': name });
    await waitForDefaultServiceAccount(namespace);
    await eventually(() => admission.readValidatingAdmissionPolicyBinding({ name: `security-baseline-${name}-images` }));
    // The policy reaches admission through the API server's informer: retry until it refuses.
    const refused = await eventually(async () => {
      const outcome = await refusal(core.createNamespacedPod({ namespace, body: pod('nginx') }));
      return outcome ?? false;
    });
    expect(refused.status).toBe(403);
    expect(refused.message).toContain('allows images only from registry.example.com/, ghcr.io/acme/; refused: nginx (docker.io/library/nginx)');
    await core.createNamespacedPod({ namespace, body: pod('registry.example.com:5000/app@sha256:' + 'a'.repeat(64)) }).then(
      () => { throw new Error('a registry with a port is another registry'); },
      (error: unknown) => expect(statusOf(error)).toBe(403),
    );
    await core.createNamespacedPod({ namespace, body: pod('registry.example.com/team/app:1.2') });
    await core.createNamespacedPod({ namespace, body: pod('ghcr.io/acme/tool@sha256:' + 'b'.repeat(64)) });
    const deployment = await refusal(apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: pod('registry.example.com.evil.io/x:1').spec! } },
      },
    }));
    expect(deployment?.message).toContain('refused: registry.example.com.evil.io/x:1');
    // Ready with 0/0 is a status written before the namespace was seen: wait for the namespace's.
    const status = await waitForStatus(name, (b) => condition(b, 'Ready')?.status === 'True' && b.status?.namespaces?.selected === 1);
    expect(status.status?.namespaces?.compliant).toBe(1);
  });

  test('the workload policy refuses writable containers, latest images and exec, naming what to fix', async () => {
    const name = await baseline('workloads', { workloadPolicy: { readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true, allowGroups: ['sre'] } } });
    const namespace = await createTestNamespace('workloads', { 'sbo-admission': name });
    await waitForDefaultServiceAccount(namespace);
    await eventually(() => admission.readValidatingAdmissionPolicyBinding({ name: `security-baseline-${name}-exec` }));
    const refused = await eventually(async () => (await refusal(core.createNamespacedPod({ namespace, body: pod('nginx') }))) ?? false);
    expect(refused.status).toBe(403);
    expect(refused.message).toContain(`SecurityBaseline ${name}: container app: set securityContext.readOnlyRootFilesystem: true (workloadPolicy.readOnlyRootFilesystem); `
      + 'container app: image nginx (docker.io/library/nginx:latest) is tagged latest; use a tag other than latest, or a digest (workloadPolicy.disallowLatestTag)');
    const deployment = await refusal(apps.createNamespacedDeployment({
      namespace,
      body: { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: pod('nginx:1.27', false, false).spec! } } },
    }));
    expect(deployment?.message).toContain('container app: set securityContext.readOnlyRootFilesystem: true');
    await core.createNamespacedPod({ namespace, body: { ...pod('nginx:1.27', false, true), metadata: { name: 'web' } } });

    const dave = await kubeConfigAsUser('dave', ['dev']);
    await kc.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
      namespace,
      body: { metadata: { name: 'edit-dave' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'dave' }] },
    });
    // The RoleBinding reaches the RBAC authorizer through an informer: until it does, RBAC refuses first.
    // Wait for the policy's refusal, not just any 403.
    const exec = await eventually(async () => {
      const result = await connect(dave, namespace, 'web', 'exec', 'command=ls&stdout=true');
      return result.status === 403 && result.message.includes(`ValidatingAdmissionPolicy 'security-baseline-${name}-exec'`) ? result : false;
    });
    expect(exec.message).toContain(`SecurityBaseline ${name} denies exec, attach and port-forward (workloadPolicy.exec.deny): dave may not use pods/exec on pod web in namespace ${namespace}; only members of sre may`);
    const status = await waitForStatus(name, (b) => condition(b, 'Ready')?.status === 'True' && b.status?.namespaces?.selected === 1);
    expect(status.status?.namespaces?.compliant).toBe(1);
  });

  test('an Audit baseline\'s admission policies warn and refuse nothing, with no gate and no write in the namespace; Enforce refuses', async () => {
    const mark = await auditMark();
    const name = await baseline('audit', {
      mode: 'Audit', admissionGate: true,
      imagePolicy: { allowedRegistries: ['registry.example.com/'] },
      workloadPolicy: { readOnlyRootFilesystem: true, disallowLatestTag: true },
    });
    const namespace = await createTestNamespace('audit', { 'sbo-admission': name });
    await waitForDefaultServiceAccount(namespace);
    const workloads = `security-baseline-${name}-workloads`;
    const bindings = await eventually(async () => Promise.all([`${name}-images`, `${name}-workloads`].map((suffix) =>
      admission.readValidatingAdmissionPolicyBinding({ name: `security-baseline-${suffix}` }))));
    expect(bindings.map((b) => b.spec?.validationActions)).toEqual([['Warn', 'Audit'], ['Warn', 'Audit']]);
    await waitForStatus(name, (b) => b.status?.namespaces?.selected === 1);
    expect(await admission.readValidatingAdmissionPolicy({ name: `security-baseline-${name}-gate` }).then(() => 'present', (e: unknown) => statusOf(e))).toBe(404);

    const manifest = (podName: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod('nginx'), metadata: { name: podName, namespace } });
    const created = await eventually(async () => {
      const result = await kubectl(['create', '-f', '-'], { stdin: manifest(uniqueName('warned')) });
      return result.code === 0 && result.stderr.includes(workloads) ? result : false;
    });
    expect(created.stderr).toContain(`Warning: Validation failed for ValidatingAdmissionPolicy '${workloads}' with binding '${workloads}': SecurityBaseline ${name}: `
      + 'container app: set securityContext.readOnlyRootFilesystem: true (workloadPolicy.readOnlyRootFilesystem)');
    expect(created.stderr).toContain(`SecurityBaseline ${name} allows images only from registry.example.com/; refused: nginx (docker.io/library/nginx)`);
    // Audit changes nothing in the namespaces: the operator wrote nothing there (but for the
    // compliance report, when an earlier test installed the OpenReports CRD: reporting is what Audit does).
    expect((await writesSince(mark, operator.user)).filter((w) => w.namespace === namespace && w.resource !== 'reports')).toEqual([]);

    await writerAs('platform-team').mergePatch(BASELINE_TYPE, name, undefined, { spec: { mode: 'Enforce' } });
    await eventually(async () => (await admission.readValidatingAdmissionPolicyBinding({ name: workloads })).spec?.validationActions?.join() === 'Deny');
    await eventually(() => admission.readValidatingAdmissionPolicy({ name: `security-baseline-${name}-gate` }));
    // The API server names only the first policy that refuses (the gate, until the baseline is applied, or the image policy).
    const refused = await eventually(async () => {
      const result = await kubectl(['create', '-f', '-'], { stdin: manifest(uniqueName('refused')) });
      return result.code !== 0 ? result : false;
    });
    expect(refused.stderr).toMatch(new RegExp(`ValidatingAdmissionPolicy 'security-baseline-${name}-(images|workloads|gate)' with binding '[^']+' denied request`));
  });

  test('the first-pod gate refuses pods in a selected namespace until its baseline has been applied', async () => {
    // A binding to a ClusterRole that does not exist yet holds the baseline back, so the
    // gate stays closed for as long as the test needs, without racing the operator.
    const role = `gate-role-${run}`;
    const name = await baseline('held', { admissionGate: true, roleBindings: [{ name: 'ops', clusterRole: role, subjects: [{ kind: 'User', name: 'bob' }] }] });
    await eventually(() => admission.readValidatingAdmissionPolicyBinding({ name: `security-baseline-${name}-gate` }));
    const namespace = await createTestNamespace('held', { 'sbo-admission': name });
    const refused = await eventually(async () => {
      const outcome = await refusal(core.createNamespacedPod({ namespace, body: pod('registry.example.com/app:1') }));
      return outcome?.message.includes('is being applied') ? outcome : false;
    });
    expect(refused.status).toBe(403);
    expect(refused.message).toContain(`the security baseline ${name} of namespace ${namespace} is being applied: pods are refused until it has been applied once. This refusal is temporary: retry in a few seconds.`);
    await kc.makeApiClient(RbacAuthorizationV1Api).createClusterRole({ body: { metadata: { name: role }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] } });
    try {
      await eventually(async () => (await refusal(core.createNamespacedPod({ namespace, body: pod('registry.example.com/app:1') }))) === undefined);
    } finally {
      await kc.makeApiClient(RbacAuthorizationV1Api).deleteClusterRole({ name: role });
    }
  });

  test('the gap between a new namespace and its first admitted pod, with the gate on', async () => {
    // A subject named after a label the probe namespace lacks keeps the baseline from applying
    // there, so the probe is gated for good: once a pod is refused in it, the gate is in admission.
    const name = await baseline('gate', {
      admissionGate: true, resourceQuota: { hard: { pods: '10' } },
      roleBindings: [{ name: 'team', clusterRole: 'view', subjects: [{ kind: 'Group', name: '${label:team}' }] }],
    });
    const probe = await createTestNamespace('gate-probe', { 'sbo-admission': name });
    await eventually(async () => {
      const outcome = await refusal(core.createNamespacedPod({ namespace: probe, body: pod('registry.example.com/app:1'), dryRun: 'All' }));
      return outcome?.message.includes('is being applied') === true;
    });
    const createdAt = performance.now();
    const namespace = await createTestNamespace('gate', { 'sbo-admission': name, team: 'alpha' });
    const messages: string[] = [];
    await eventually(async () => {
      const outcome = await refusal(core.createNamespacedPod({ namespace, body: pod('registry.example.com/app:1') }));
      if (outcome) messages.push(outcome.message);
      return outcome === undefined;
    }, { timeoutMs: 30_000, intervalMs: 20 });
    const gapMs = performance.now() - createdAt;
    const gated = messages.filter((m) => m.includes('is being applied'));
    process.stderr.write(`\nadmission gate: namespace creation → first admitted pod ${gapMs.toFixed(0)} ms; `
      + `${messages.length} refusals before it (${gated.length} by the gate)\n`);
    // Admitted only once the baseline was in place: its objects were there first.
    const ns = await core.readNamespace({ name: namespace });
    expect(ns.metadata?.annotations?.['security.baseline.dev/applied']).toContain(`"${name}"`);
    await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` });
  });
});
