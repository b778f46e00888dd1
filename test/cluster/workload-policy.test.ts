// spec.workloadPolicy, as built by src/resources, enforced by the real API
// server: read-only root filesystems, no latest tag, no exec, no NetworkPolicies
// but the baselines' own. No operator runs
// here: the objects are applied as the operator would apply them. Users and
// groups are real client certificates; no kubelet runs, so an exec the policy
// lets through then fails because the pod has no node, which tells it apart
// from a refusal.
import { beforeAll, describe, expect, test } from '@jest/globals';
import {
  AppsV1Api, CoreV1Api, NetworkingV1Api, RbacAuthorizationV1Api,
  type KubeConfig, type V1Container, type V1NetworkPolicy, type V1PodSpec, type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import type { SecurityBaselineSpec } from '../../src/api/types.ts';
import { buildImagePolicy } from '../../src/resources/imagepolicy.ts';
import { buildWorkloadPolicy } from '../../src/resources/workloadpolicy.ts';
import {
  applyAsOperator, attempt, baselineObject, connect, expectRefusedBy, kubeconfigFile, kubectl, templateKinds, type ConnectResult,
} from '../support/admission.ts';
import { auditMark, requestsSince } from '../support/audit.ts';
import { adminKubeConfig, createTestNamespace, eventually, uniqueName, waitForDefaultServiceAccount } from '../support/cluster.ts';
import { kubeConfigAsUser } from '../support/identities.ts';

const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const DRY_RUN = 'All';
const READ_ONLY_FIX = 'set securityContext.readOnlyRootFilesystem: true (workloadPolicy.readOnlyRootFilesystem)';
const PINNED_FIX = 'use a tag other than latest, or a digest (workloadPolicy.disallowLatestTag)';
const VALIDATION_FAILURE = 'validation.policy.admission.k8s.io/validation_failure';
const HAS_NO_NODE = /^pod \S+ does not have a host assigned$/;
const selectorLabel = 'sbo-workload-test';

function container(name: string, image: string, readOnly = true): V1Container {
  return { name, image, ...(readOnly ? { securityContext: { readOnlyRootFilesystem: true } } : {}) };
}

/** A pod spec with one compliant container `app`, and whatever else the test adds. */
function podSpec(extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return { containers: [container('app', 'registry.example.com/app:1.0')], ...extra };
}

/** Creates a pod; a dry run unless `persist`, since admission runs the same either way. */
function createPod(namespace: string, spec: V1PodSpec, persist = false, name = uniqueName('pod')): Promise<unknown> {
  return core.createNamespacedPod({ namespace, body: { metadata: { name }, spec }, ...(persist ? {} : { dryRun: DRY_RUN }) });
}

/** Retries until `policy` refuses a writable pod in `namespace`: policies reach admission through an informer. */
async function untilEnforced(namespace: string, policy: string): Promise<void> {
  await eventually(async () => {
    const outcome = await attempt(createPod(namespace, { containers: [container('app', 'registry.example.com/app:1.0', false)] }));
    if (outcome.admitted) return false;
    expectRefusedBy(outcome, policy);
    return true;
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

/** A rule of the refusal's message, as the policy writes it. */
const readOnlyProblem = (who: string) => `${who}: ${READ_ONLY_FIX}`;
const latestProblem = (who: string, image: string, normalised?: string) =>
  `${who}: image ${image}${normalised ? ` (${normalised})` : ''} is tagged latest; ${PINNED_FIX}`;

describe('readOnlyRootFilesystem and disallowLatestTag', () => {
  const name = uniqueName('wl');
  const policy = `security-baseline-${name}-workloads`;
  let selected: string;
  let excluded: string;
  let grandfathered: string;
  let oldDeployment: string;

  beforeAll(async () => {
    [selected, excluded] = await Promise.all([
      createTestNamespace('wl', { [selectorLabel]: name }),
      createTestNamespace('wl-excluded', { [selectorLabel]: name }),
    ]);
    await Promise.all([selected, excluded].map(waitForDefaultServiceAccount));
    // A pod and a Deployment from before the policy, with a writable root filesystem and an unpinned image.
    grandfathered = uniqueName('before');
    oldDeployment = uniqueName('before');
    await createPod(selected, { containers: [container('app', 'nginx', false)] }, true, grandfathered);
    await apps.createNamespacedDeployment({
      namespace: selected,
      body: {
        metadata: { name: oldDeployment },
        spec: { replicas: 0, selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [container('web', 'nginx', false)] } } },
      },
    });
    await applyAsOperator(buildWorkloadPolicy(baselineObject(name, {
      namespaceSelector: { matchLabels: { [selectorLabel]: name } }, excludeNamespaces: [excluded],
      workloadPolicy: { readOnlyRootFilesystem: true, disallowLatestTag: true },
    }), 'sbo-system'));
    await untilEnforced(selected, policy);
  });

  test('a compliant pod is admitted, and really created', async () => {
    expect(await attempt(createPod(selected, podSpec({
      initContainers: [container('init', `registry.example.com/init@${DIGEST}`)],
    }), true))).toEqual({ admitted: true });
  });

  test('a container without a read-only root filesystem is refused, naming the container and the rule', async () => {
    const absent = await attempt(createPod(selected, { containers: [container('web', 'registry.example.com/web:2', false)] }));
    expectRefusedBy(absent, policy, `SecurityBaseline ${name}: ${readOnlyProblem('container web')}`);
    const writable = await attempt(createPod(selected, { containers: [{ name: 'web', image: 'registry.example.com/web:2', securityContext: { readOnlyRootFilesystem: false } }] }));
    expectRefusedBy(writable, policy, readOnlyProblem('container web'));
  });

  test('every container, init container and rule at fault is named in one refusal', async () => {
    const outcome = await attempt(createPod(selected, {
      containers: [container('app', 'registry.example.com/app:1.0'), container('sidecar', 'busybox', false)],
      initContainers: [container('migrate', 'registry.example.com/migrate:latest', false)],
    }));
    expectRefusedBy(outcome, policy, `SecurityBaseline ${name}: ${readOnlyProblem('container sidecar')}; ${readOnlyProblem('init container migrate')}; `
      + `${latestProblem('container sidecar', 'busybox', 'docker.io/library/busybox:latest')}; ${latestProblem('init container migrate', 'registry.example.com/migrate:latest')}`);
    if (!outcome.admitted) expect(outcome.message).not.toContain('container app');
  });

  test.each([
    { image: 'nginx:1.27', admitted: true },
    { image: `registry.example.com/app@${DIGEST}`, admitted: true },
    // A digest pins the image whatever the tag says.
    { image: `registry.example.com/app:latest@${DIGEST}`, admitted: true },
    { image: 'localhost:5000/app:1.0', admitted: true },
    { image: 'ghcr.io/acme/tool:latest-2025', admitted: true },
    { image: 'registry.example.com/latest:1', admitted: true },
    { image: 'nginx', admitted: false, message: latestProblem('container app', 'nginx', 'docker.io/library/nginx:latest') },
    { image: 'nginx:latest', admitted: false, message: latestProblem('container app', 'nginx:latest', 'docker.io/library/nginx:latest') },
    { image: 'acme/app', admitted: false, message: latestProblem('container app', 'acme/app', 'docker.io/acme/app:latest') },
    // A registry port is not a tag.
    { image: 'registry.example.com:5000/app', admitted: false, message: latestProblem('container app', 'registry.example.com:5000/app', 'registry.example.com:5000/app:latest') },
    { image: 'Registry.Example.com/latest', admitted: false, message: latestProblem('container app', 'Registry.Example.com/latest', 'registry.example.com/latest:latest') },
  ] as { image: string; admitted: boolean; message?: string }[])('image $image admitted: $admitted', async ({ image, admitted, message }) => {
    const outcome = await attempt(createPod(selected, { containers: [container('app', image)] }));
    if (admitted) expect(outcome).toEqual({ admitted: true });
    else expectRefusedBy(outcome, policy, message);
  });

  test('a Windows pod is exempt from readOnlyRootFilesystem, which Kubernetes refuses on Windows, but not from disallowLatestTag', async () => {
    const windows = (image: string): V1PodSpec => ({ os: { name: 'windows' }, containers: [{ name: 'app', image }] });
    expect(await attempt(createPod(selected, windows('registry.example.com/app:1.0')))).toEqual({ admitted: true });
    expectRefusedBy(await attempt(createPod(selected, windows('mcr.microsoft.com/windows/nanoserver'))), policy,
      latestProblem('container app', 'mcr.microsoft.com/windows/nanoserver', 'mcr.microsoft.com/windows/nanoserver:latest'));
  });

  describe.each(templateKinds(kc))('%s', (_kind, create) => {
    const template = (spec: V1PodSpec): V1PodTemplateSpec => ({ metadata: { labels: { app: 'x' } }, spec });

    test('with a compliant template: admitted', async () => {
      expect(await attempt(create(selected, template(podSpec())))).toEqual({ admitted: true });
    });

    test('with a writable container or an unpinned image in the template: refused at apply time, naming them', async () => {
      expectRefusedBy(await attempt(create(selected, template({ containers: [container('web', 'registry.example.com/web:1', false)] }))),
        policy, readOnlyProblem('container web'));
      expectRefusedBy(await attempt(create(selected, template(podSpec({ initContainers: [container('setup', 'alpine')] })))),
        policy, latestProblem('init container setup', 'alpine', 'docker.io/library/alpine:latest'));
    });

    test('in an excluded namespace: not affected', async () => {
      expect(await attempt(create(excluded, template({ containers: [container('web', 'nginx', false)] })))).toEqual({ admitted: true });
    });
  });

  test('ephemeral containers (the pods/ephemeralcontainers subresource) are checked; the pod\'s own are not checked again', async () => {
    const pod = uniqueName('debugged');
    await createPod(selected, podSpec(), true, pod);
    const withEphemeral = async (debug: V1Container) => {
      const current = await core.readNamespacedPod({ namespace: selected, name: pod });
      current.spec!.ephemeralContainers = [...(current.spec!.ephemeralContainers ?? []), debug];
      return attempt(core.replaceNamespacedPodEphemeralcontainers({ namespace: selected, name: pod, body: current }));
    };
    const refused = await withEphemeral(container('debug', 'busybox', false));
    expectRefusedBy(refused, policy, `SecurityBaseline ${name}: ${readOnlyProblem('ephemeral container debug')}; `
      + latestProblem('ephemeral container debug', 'busybox', 'docker.io/library/busybox:latest'));
    expect(await withEphemeral(container('debug', 'busybox:1.36'))).toEqual({ admitted: true });

    // A pod from before the policy can still be debugged with a compliant container.
    const old = await core.readNamespacedPod({ namespace: selected, name: grandfathered });
    old.spec!.ephemeralContainers = [container('debug', 'busybox:1.36')];
    expect(await attempt(core.replaceNamespacedPodEphemeralcontainers({ namespace: selected, name: grandfathered, body: old, dryRun: DRY_RUN })))
      .toEqual({ admitted: true });
  });

  test('an update is checked for the containers it adds or changes', async () => {
    // The pod from before the policy keeps working: its labels can change...
    const before = await core.readNamespacedPod({ namespace: selected, name: grandfathered });
    before.metadata!.labels = { ...before.metadata!.labels, touched: 'true' };
    expect(await attempt(core.replaceNamespacedPod({ namespace: selected, name: grandfathered, body: before }))).toEqual({ admitted: true });
    // ...but a container it changes must comply in full: the new image is pinned, the container still writable.
    const changed = await core.readNamespacedPod({ namespace: selected, name: grandfathered });
    changed.spec!.containers[0]!.image = 'nginx:1.27';
    const outcome = await attempt(core.replaceNamespacedPod({ namespace: selected, name: grandfathered, body: changed, dryRun: DRY_RUN }));
    expectRefusedBy(outcome, policy, `SecurityBaseline ${name}: ${readOnlyProblem('container app')}`);
    if (!outcome.admitted) expect(outcome.message).not.toContain('tagged latest');

    // The Deployment from before the policy can be scaled, not changed into another non-compliant template.
    const deployment = await apps.readNamespacedDeployment({ namespace: selected, name: oldDeployment });
    deployment.spec!.replicas = 2;
    expect(await attempt(apps.replaceNamespacedDeployment({ namespace: selected, name: oldDeployment, body: deployment, dryRun: DRY_RUN }))).toEqual({ admitted: true });
    deployment.spec!.template.spec!.containers[0]!.image = 'nginx:1.27';
    expectRefusedBy(await attempt(apps.replaceNamespacedDeployment({ namespace: selected, name: oldDeployment, body: deployment, dryRun: DRY_RUN })),
      policy, readOnlyProblem('container web'));
    deployment.spec!.template.spec!.containers[0]!.securityContext = { readOnlyRootFilesystem: true };
    expect(await attempt(apps.replaceNamespacedDeployment({ namespace: selected, name: oldDeployment, body: deployment, dryRun: DRY_RUN }))).toEqual({ admitted: true });
  });

  test('namespaces the baseline excludes are not affected', async () => {
    expect(await attempt(createPod(excluded, { containers: [container('app', 'nginx', false)] }))).toEqual({ admitted: true });
  });

  test('a pod with 250 containers, every one changed by an update, stays within the API server\'s CEL cost budget', async () => {
    const many = (tag: string): V1Container[] => Array.from({ length: 250 }, (_, i) => ({
      ...container(`c${i}`, `registry.example.com/app${i}:${tag}`), env: Array.from({ length: 10 }, (__, j) => ({ name: `E${j}`, value: 'x'.repeat(20) })),
    }));
    const pod = uniqueName('big');
    expect(await attempt(createPod(selected, { containers: many('1') }, true, pod))).toEqual({ admitted: true });
    const current = await core.readNamespacedPod({ namespace: selected, name: pod });
    current.spec!.containers = current.spec!.containers.map((c, i) => ({ ...c, image: `registry.example.com/app${i}:2` }));
    expect(await attempt(core.replaceNamespacedPod({ namespace: selected, name: pod, body: current, dryRun: DRY_RUN }))).toEqual({ admitted: true });
    current.spec!.containers[249]!.image = 'registry.example.com/app249';
    expectRefusedBy(await attempt(core.replaceNamespacedPod({ namespace: selected, name: pod, body: current, dryRun: DRY_RUN })),
      policy, `SecurityBaseline ${name}: ${latestProblem('container c249', 'registry.example.com/app249', 'registry.example.com/app249:latest')}`);
  });

  test('how long the API server spends evaluating the policy (its own metric; printed, not asserted)', async () => {
    // The API server times the evaluations that fail (deny, warn, audit), which run every step.
    const evaluations = async (): Promise<{ seconds: number; count: number }> => {
      const result = await kubectl(['get', '--raw', '/metrics']);
      expect(result.code).toBe(0);
      const metrics = result.stdout;
      const sample = (suffix: string) => Number(new RegExp(`^apiserver_validating_admission_policy_check_duration_seconds_${suffix}\\{[^}]*enforcement_action="deny"[^}]*policy="${policy}"[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);
      return { seconds: sample('sum'), count: sample('count') };
    };
    const spec = {
      containers: [container('app', 'registry.example.com/app:1.0'), container('sidecar', 'registry.example.com/proxy', false)],
      initContainers: [container('init', 'registry.example.com/init:1')],
    };
    const before = await evaluations();
    for (let i = 0; i < 100; i++) expectRefusedBy(await attempt(createPod(selected, spec)), policy);
    const after = await evaluations();
    expect(after.count - before.count).toBe(100);
    process.stderr.write(`\nworkload policy: mean evaluation of a 3-container pod by the API server ${((after.seconds - before.seconds) * 10).toFixed(3)} ms`
      + ' (apiserver_validating_admission_policy_check_duration_seconds, 100 refusals)\n');
  });
});

/** A user bound to the built-in ClusterRole `role` in `namespace`, in `groups` besides. */
async function userWithRole(role: 'edit' | 'admin', namespace: string, user: string, groups: string[]): Promise<KubeConfig> {
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: { metadata: { name: `${role}-${user}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
  });
  return kubeConfigAsUser(user, groups);
}

/** A user with the `edit` ClusterRole in `namespace` (which may exec, attach and port-forward), in `groups` besides. */
const editor = (namespace: string, user: string, groups: string[]) => userWithRole('edit', namespace, user, groups);

/** A user with the `admin` ClusterRole in `namespace` (which may write NetworkPolicies), in `groups` besides. */
const namespaceAdmin = (namespace: string, user: string, groups: string[]) => userWithRole('admin', namespace, user, groups);

/** The three ways into a pod, each as a CONNECT with what kubectl would send. */
const SESSIONS = [['exec', 'command=ls&stdout=true'], ['attach', 'stdout=true'], ['portforward', 'ports=8080']] as const;

function expectNotRefusedByPolicy(result: ConnectResult): void {
  expect(result.message).not.toContain('ValidatingAdmissionPolicy');
  expect({ status: result.status, message: result.message }).toEqual({ status: 400, message: expect.stringMatching(HAS_NO_NODE) });
}

describe('exec.deny with allowGroups', () => {
  const name = uniqueName('exec');
  const policy = `security-baseline-${name}-exec`;
  let namespace: string;
  let excluded: string;
  let sre: KubeConfig;
  let developer: KubeConfig;
  const pod = 'target';

  beforeAll(async () => {
    [namespace, excluded] = await Promise.all([
      createTestNamespace('exec', { [selectorLabel]: name }),
      createTestNamespace('exec-excluded', { [selectorLabel]: name }),
    ]);
    await Promise.all([namespace, excluded].map(waitForDefaultServiceAccount));
    await Promise.all([namespace, excluded].map((ns) => createPod(ns, podSpec(), true, pod)));
    [sre, developer] = await Promise.all([editor(namespace, 'carol', ['sre', 'dev']), editor(namespace, 'dave', ['dev'])]);
    await editor(excluded, 'dave', ['dev']);
    await applyAsOperator(buildWorkloadPolicy(baselineObject(name, {
      namespaceSelector: { matchLabels: { [selectorLabel]: name } }, excludeNamespaces: [excluded],
      workloadPolicy: { exec: { deny: true, allowGroups: ['sre', 'oncall'] } },
    }), 'sbo-system'));
    await eventually(async () => (await connect(developer, namespace, pod, 'exec', 'command=ls&stdout=true')).status === 403, { timeoutMs: 30_000, intervalMs: 200 });
  });

  test.each(SESSIONS)('pods/%s is refused for a user outside allowGroups, naming the user, the pod and who may', async (subresource, query) => {
    const result = await connect(developer, namespace, pod, subresource, query);
    expect(result.status).toBe(403);
    expect(result.message).toBe(`pods "${pod}" is forbidden: ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request: `
      + `SecurityBaseline ${name} denies exec, attach and port-forward (workloadPolicy.exec.deny): dave may not use pods/${subresource}`
      + ` on pod ${pod} in namespace ${namespace}; only members of sre, oncall may`);
  });

  test.each(SESSIONS)('pods/%s is not refused by the policy for a member of an allowed group (it fails later: no node runs the pod)', async (subresource, query) => {
    expectNotRefusedByPolicy(await connect(sre, namespace, pod, subresource, query));
  });

  test('kubectl exec shows the refusal to the user', async () => {
    const refused = await kubectl(['exec', '-n', namespace, pod, '--', 'ls'], { kubeconfig: await kubeconfigFile(developer) });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`SecurityBaseline ${name} denies exec, attach and port-forward (workloadPolicy.exec.deny): dave may not use pods/exec on pod ${pod}`);
    const allowed = await kubectl(['exec', '-n', namespace, pod, '--', 'ls'], { kubeconfig: await kubeconfigFile(sre) });
    expect(allowed.stderr).toContain(`pod ${pod} does not have a host assigned`);
    expect(allowed.stderr).not.toContain('ValidatingAdmissionPolicy');
  });

  test('cluster administrators are refused too unless they are in an allowed group: admission applies to everyone', async () => {
    const result = await connect(kc, namespace, pod, 'exec', 'command=ls&stdout=true');
    expect(result.status).toBe(403);
    expect(result.message).toContain(`SecurityBaseline ${name} denies exec`);
  });

  test('a namespace the baseline excludes is not affected', async () => {
    expectNotRefusedByPolicy(await connect(developer, excluded, pod, 'exec', 'command=ls&stdout=true'));
  });
});

describe('networkPolicies.deny with allowGroups: a namespace admin cannot open what the default deny closes', () => {
  const name = uniqueName('netpol');
  const policy = `security-baseline-${name}-networkpolicies`;
  let namespace: string;
  let excluded: string;
  let erin: NetworkingV1Api;
  let frank: NetworkingV1Api;
  const existing = 'allow-all-before';
  /** Every pod open to ingress from anywhere: what a namespace admin would write to get around a default deny. */
  const allowAll = (policyName: string): V1NetworkPolicy => ({
    metadata: { name: policyName }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] },
  });
  const create = (as: NetworkingV1Api, ns: string, policyName: string, persist = false) =>
    as.createNamespacedNetworkPolicy({ namespace: ns, body: allowAll(policyName), ...(persist ? {} : { dryRun: DRY_RUN }) });

  beforeAll(async () => {
    [namespace, excluded] = await Promise.all([
      createTestNamespace('netpol', { [selectorLabel]: name }),
      createTestNamespace('netpol-excluded', { [selectorLabel]: name }),
    ]);
    const [erinConfig, frankConfig] = await Promise.all([namespaceAdmin(namespace, 'erin', ['dev']), namespaceAdmin(namespace, 'frank', ['network-admins'])]);
    [erin, frank] = [erinConfig.makeApiClient(NetworkingV1Api), frankConfig.makeApiClient(NetworkingV1Api)];
    await namespaceAdmin(excluded, 'erin', ['dev']);
    // Written before the baseline asks for it: stays, as the policy changes nothing that exists.
    await create(erin, namespace, existing, true);
    await applyAsOperator(buildWorkloadPolicy(baselineObject(name, {
      namespaceSelector: { matchLabels: { [selectorLabel]: name } }, excludeNamespaces: [excluded],
      workloadPolicy: { networkPolicies: { deny: true, allowGroups: ['network-admins'] } },
    }), 'sbo-system'));
    await eventually(async () => !(await attempt(create(erin, namespace, 'probe'))).admitted, { timeoutMs: 30_000, intervalMs: 200 });
  });

  test('a namespace admin may not add a NetworkPolicy: the refusal names who, what, who may, and where traffic is opened instead', async () => {
    const outcome = await attempt(create(erin, namespace, 'allow-all'));
    expectRefusedBy(outcome, policy);
    expect(outcome).toMatchObject({
      message: `networkpolicies.networking.k8s.io "allow-all" is forbidden: ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request: `
        + `SecurityBaseline ${name} keeps the NetworkPolicies of this namespace to its own (workloadPolicy.networkPolicies.deny): erin may not create`
        + ` NetworkPolicy allow-all in namespace ${namespace}; only members of network-admins may; to allow more traffic, change the baseline or ask for a BaselineException`,
    });
  });

  test('nor change the spec of one that was there before', async () => {
    const current = await erin.readNamespacedNetworkPolicy({ namespace, name: existing });
    const widened = { ...current, spec: { ...current.spec, podSelector: {}, policyTypes: ['Ingress', 'Egress'], egress: [{}] } };
    const outcome = await attempt(erin.replaceNamespacedNetworkPolicy({ namespace, name: existing, body: widened, dryRun: DRY_RUN }));
    expectRefusedBy(outcome, policy, `erin may not change the spec of NetworkPolicy ${existing} in namespace ${namespace}`);
  });

  test('its metadata alone may change (labels, finalizers: what other tools write), and it may be deleted', async () => {
    const current = await erin.readNamespacedNetworkPolicy({ namespace, name: existing });
    const relabelled = await erin.replaceNamespacedNetworkPolicy({
      namespace, name: existing, body: { ...current, metadata: { ...current.metadata, labels: { team: 'a' } } },
    });
    expect(relabelled.metadata?.labels).toEqual({ team: 'a' });
    await erin.deleteNamespacedNetworkPolicy({ namespace, name: existing });
    expect(await attempt(erin.readNamespacedNetworkPolicy({ namespace, name: existing }))).toMatchObject({ admitted: false, status: 404 });
  });

  test('a member of an allowed group may, and so may whoever may act as the operator (a cluster administrator)', async () => {
    expect(await attempt(create(frank, namespace, 'allow-all'))).toEqual({ admitted: true });
    expect(await attempt(kc.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({ namespace, body: allowAll('allow-all'), dryRun: DRY_RUN })))
      .toEqual({ admitted: true });
  });

  test('a namespace the baseline excludes is not affected', async () => {
    expect(await attempt(create(erin, excluded, 'allow-all'))).toEqual({ admitted: true });
  });
});

describe('several baselines on one namespace: each policy stands on its own, so the strictest wins', () => {
  const first = uniqueName('first');
  const second = uniqueName('second');
  let namespace: string;
  const pod = 'target';

  beforeAll(async () => {
    namespace = await createTestNamespace('composed', { [selectorLabel]: first, [`${selectorLabel}-second`]: second });
    await waitForDefaultServiceAccount(namespace);
    await createPod(namespace, podSpec(), true, pod);
    await applyAsOperator(buildWorkloadPolicy(baselineObject(first, {
      namespaceSelector: { matchLabels: { [selectorLabel]: first } },
      workloadPolicy: { readOnlyRootFilesystem: true, exec: { deny: true, allowGroups: ['sre'] } },
    }), 'sbo-system'));
    await applyAsOperator(buildWorkloadPolicy(baselineObject(second, {
      namespaceSelector: { matchLabels: { [`${selectorLabel}-second`]: second } },
      workloadPolicy: { disallowLatestTag: true, exec: { deny: true, allowGroups: ['sre', 'ops'] } },
    }), 'sbo-system'));
    await untilEnforced(namespace, `security-baseline-${first}-workloads`);
    await eventually(async () => {
      const outcome = await attempt(createPod(namespace, podSpec({ containers: [container('app', 'nginx')] })));
      return !outcome.admitted && outcome.message.includes(`security-baseline-${second}-workloads`);
    }, { timeoutMs: 30_000, intervalMs: 200 });
  });

  test('a pod must meet the rules of both', async () => {
    expectRefusedBy(await attempt(createPod(namespace, { containers: [container('app', 'registry.example.com/app:1', false)] })),
      `security-baseline-${first}-workloads`, readOnlyProblem('container app'));
    expectRefusedBy(await attempt(createPod(namespace, { containers: [container('app', 'nginx')] })),
      `security-baseline-${second}-workloads`, latestProblem('container app', 'nginx', 'docker.io/library/nginx:latest'));
    expect(await attempt(createPod(namespace, podSpec()))).toEqual({ admitted: true });
  });

  test('exec is allowed only to members of a group every baseline allows', async () => {
    const [opsOnly, sreOnly] = await Promise.all([editor(namespace, 'erin', ['ops']), editor(namespace, 'frank', ['sre'])]);
    const opsResult = await connect(opsOnly, namespace, pod, 'exec', 'command=ls&stdout=true');
    expect(opsResult.status).toBe(403);
    expect(opsResult.message).toContain(`SecurityBaseline ${first} denies exec`);
    expectNotRefusedByPolicy(await connect(sreOnly, namespace, pod, 'exec', 'command=ls&stdout=true'));
  });

  test('an exception of one baseline opens exec only as far as that baseline goes: the other still decides', async () => {
    const firstSpec: SecurityBaselineSpec = {
      namespaceSelector: { matchLabels: { [selectorLabel]: first } },
      workloadPolicy: { readOnlyRootFilesystem: true, exec: { deny: true, allowGroups: ['sre'] } },
    };
    const [opsOnly, nobody] = await Promise.all([editor(namespace, 'gina', ['ops']), editor(namespace, 'hank', [])]);
    // As the operator applies the first baseline's policy while a BaselineException switches its exec.deny off here.
    await applyAsOperator(buildWorkloadPolicy(baselineObject(first, firstSpec), 'sbo-system', [namespace]));
    try {
      await eventually(async () => (await connect(opsOnly, namespace, pod, 'exec', 'command=ls&stdout=true')).status !== 403, { timeoutMs: 30_000, intervalMs: 200 });
      expectNotRefusedByPolicy(await connect(opsOnly, namespace, pod, 'exec', 'command=ls&stdout=true'));
      const refused = await connect(nobody, namespace, pod, 'exec', 'command=ls&stdout=true');
      expect(refused.status).toBe(403);
      expect(refused.message).toContain(`SecurityBaseline ${second} denies exec, attach and port-forward (workloadPolicy.exec.deny): hank may not use pods/exec`);
    } finally {
      await applyAsOperator(buildWorkloadPolicy(baselineObject(first, firstSpec), 'sbo-system'));
    }
    await eventually(async () => (await connect(opsOnly, namespace, pod, 'exec', 'command=ls&stdout=true')).message.includes(`SecurityBaseline ${first} denies exec`),
      { timeoutMs: 30_000, intervalMs: 200 });
  });
});

describe('Audit mode: the policies warn and record, and refuse nothing', () => {
  const name = uniqueName('audit');
  let namespace: string;
  const pod = 'target';
  const spec: SecurityBaselineSpec = {
    namespaceSelector: { matchLabels: { [selectorLabel]: name } },
    mode: 'Audit',
    imagePolicy: { allowedRegistries: ['registry.example.com/'] },
    workloadPolicy: { readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true, allowGroups: ['sre'] }, networkPolicies: { deny: true } },
  };
  const violating = (podName: string) => JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, namespace }, spec: { containers: [{ name: 'app', image: 'nginx' }] },
  });

  beforeAll(async () => {
    namespace = await createTestNamespace('audit', { [selectorLabel]: name });
    await waitForDefaultServiceAccount(namespace);
    await createPod(namespace, podSpec(), true, pod);
    const baseline = baselineObject(name, spec);
    await applyAsOperator([...buildImagePolicy(baseline, 'sbo-system'), ...buildWorkloadPolicy(baseline, 'sbo-system')]);
    await eventually(async () => (await kubectl(['create', '--dry-run=server', '-f', '-'], { stdin: violating('probe') })).stderr.includes(`security-baseline-${name}-workloads`),
      { timeoutMs: 30_000, intervalMs: 200 });
  });

  test('kubectl creates a violating pod and shows a warning naming the policy, the container and the rule', async () => {
    const mark = await auditMark();
    const podName = uniqueName('warned');
    const result = await kubectl(['create', '-f', '-'], { stdin: violating(podName) });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`pod/${podName} created`);
    const workloads = `security-baseline-${name}-workloads`;
    const images = `security-baseline-${name}-images`;
    expect(result.stderr).toContain(`Warning: Validation failed for ValidatingAdmissionPolicy '${workloads}' with binding '${workloads}': `
      + `SecurityBaseline ${name}: ${readOnlyProblem('container app')}; ${latestProblem('container app', 'nginx', 'docker.io/library/nginx:latest')}`);
    expect(result.stderr).toContain(`Warning: Validation failed for ValidatingAdmissionPolicy '${images}' with binding '${images}': `
      + `SecurityBaseline ${name} allows images only from registry.example.com/; refused: nginx (docker.io/library/nginx)`);
    process.stderr.write(`\nwhat kubectl prints for a pod an Audit baseline would refuse:\n${result.stderr}`);
    await core.readNamespacedPod({ namespace, name: podName });

    // The API server's audit log records both violations with the request.
    const recorded = await eventually(async () => {
      const request = (await requestsSince(mark)).find((r) => r.resource === 'pods' && r.name === podName && r.code === 201);
      return request ?? false;
    });
    const failures = JSON.parse(recorded.annotations[VALIDATION_FAILURE] ?? '[]') as { policy: string; validationActions: string[]; message: string }[];
    expect(failures.map((f) => [f.policy, f.validationActions])).toEqual(expect.arrayContaining([[workloads, ['Warn', 'Audit']], [images, ['Warn', 'Audit']]]));
    expect(failures.find((f) => f.policy === workloads)?.message).toContain(readOnlyProblem('container app'));
  });

  test('exec outside allowGroups is not refused by the policy; the response warns and the audit log records it', async () => {
    const mark = await auditMark();
    const developer = await editor(namespace, 'dave', ['dev']);
    const result = await connect(developer, namespace, pod, 'exec', 'command=ls&stdout=true');
    expectNotRefusedByPolicy(result);
    expect(result.warnings).toEqual([expect.stringContaining(`SecurityBaseline ${name} denies exec, attach and port-forward (workloadPolicy.exec.deny): dave may not use pods/exec`)]);
    const recorded = await eventually(async () => (await requestsSince(mark)).find((r) => r.subresource === 'exec' && r.user === 'dave') ?? false);
    expect(recorded.annotations[VALIDATION_FAILURE]).toContain(`security-baseline-${name}-exec`);
  });

  test('a namespace admin\'s own NetworkPolicy is created, with a warning naming the policy and the way to open traffic', async () => {
    const erin = await kubeconfigFile(await namespaceAdmin(namespace, 'erin', ['dev']));
    const allowAll = JSON.stringify({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-all', namespace },
      spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] },
    });
    const result = await kubectl(['create', '-f', '-'], { stdin: allowAll, kubeconfig: erin });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('networkpolicy.networking.k8s.io/allow-all created');
    const guard = `security-baseline-${name}-networkpolicies`;
    expect(result.stderr).toContain(`Warning: Validation failed for ValidatingAdmissionPolicy '${guard}' with binding '${guard}': `
      + `SecurityBaseline ${name} keeps the NetworkPolicies of this namespace to its own (workloadPolicy.networkPolicies.deny): erin may not create`
      + ` NetworkPolicy allow-all in namespace ${namespace}; to allow more traffic, change the baseline or ask for a BaselineException`);
  });

  test('the same baseline in Enforce mode refuses the pod', async () => {
    const enforced = baselineObject(name, { ...spec, mode: 'Enforce' });
    await applyAsOperator(buildWorkloadPolicy(enforced, 'sbo-system'));
    await untilEnforced(namespace, `security-baseline-${name}-workloads`);
  });
});
