// The operator's container image, built by `make image` (make test builds it
// first), run with podman the way config/manager's Deployment runs it: the
// Deployment is rendered from config/default and turned into `podman run`
// flags — its user, read-only root filesystem, dropped capabilities, no
// privilege escalation, seccomp, memory limit and environment — with a real
// ServiceAccount token (TokenRequest) and the API server's CA mounted where the
// kubelet mounts them. It must provision a namespace, answer its probes and
// serve authenticated metrics over HTTPS, and stop cleanly on SIGTERM.
//
// Two things differ from a pod, because there is no kubelet or pod network
// here: the container shares the host's network (--network host) to reach the
// test API server on loopback, so the Deployment's ports (8443, 8081) move to
// free loopback ports; and KUBERNETES_SERVICE_HOST/PORT name that API server,
// as the kubelet would name the `kubernetes` Service.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { AuthorizationV1Api, CoreV1Api, type V1Deployment } from '@kubernetes/client-node';
import { adminKubeConfig, createTestNamespace, eventually, testControlPlane, uniqueName } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { applyObjects, renderKustomization } from '../support/manifests.ts';
import { condition, createBaseline, deleteBaseline, waitForBaselineGone, waitForStatus } from '../support/baselines.ts';
import { metricsScraperToken, metricValue, scrape } from '../support/operator.ts';
import { freePorts } from '../../hack/kube/controlplane.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const PODMAN = path.join(root, 'hack/image/podman.sh');
const IMAGE = process.env.SBO_TEST_IMAGE ?? 'localhost/security-baseline-operator:dev';
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const podman = async (...args: string[]) => (await run(PODMAN, args, { maxBuffer: 64 * 1024 * 1024 })).stdout.trim();

/** Why podman cannot run on this machine at all, or undefined when it can. */
async function podmanUnusable(): Promise<string | undefined> {
  try {
    await podman('info', '--format', '{{.Host.OCIRuntime.Name}}');
    return undefined;
  } catch (error) {
    const { code, stderr } = error as { code?: number | string; stderr?: string };
    return code === 127 || code === 'ENOENT' ? 'podman is not installed (.ci/run installs it)' : `podman info failed: ${stderr?.trim() ?? String(error)}`;
  }
}

const unusable = await podmanUnusable();
if (unusable) process.stderr.write(`\ncontainer image test SKIPPED: ${unusable}\n`);
const describeWithPodman = unusable ? describe.skip : describe;

// ---- the Deployment, as podman flags ----------------------------------------

interface PodFacts {
  readonly podName: string;
  readonly namespace: string;
  readonly apiServer: URL;
  /** Holds token, ca.crt and namespace, as the kubelet's projected volume does. */
  readonly serviceAccountDir: string;
  /** containerPort -> the loopback port it binds here instead. */
  readonly hostPorts: ReadonlyMap<number, number>;
}

interface ContainerRun {
  readonly args: string[];
  readonly healthUrl: (probe: 'livenessProbe' | 'readinessProbe') => string;
  readonly metricsUrl: string;
  readonly gracePeriodSeconds: number;
}

/** Kubernetes memory quantities the manifests use (Mi, Gi) as podman's units. */
function podmanMemory(quantity: string): string {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!match) throw new Error(`memory limit ${quantity}: only Mi and Gi are translated`);
  return `${match[1]}${match[2] === 'Mi' ? 'm' : 'g'}`;
}

/** What the kubelet would run for the Deployment's `manager` container, as `podman run` arguments. */
function podmanRunFor(deployment: V1Deployment, facts: PodFacts): ContainerRun {
  const pod = deployment.spec?.template.spec;
  const container = pod?.containers.find((c) => c.name === 'manager');
  if (!pod || !container) throw new Error('the Deployment has no manager container');
  const podContext = pod.securityContext ?? {};
  const context = container.securityContext ?? {};
  const uid = context.runAsUser ?? podContext.runAsUser;
  const gid = context.runAsGroup ?? podContext.runAsGroup ?? uid;
  if (uid === undefined) throw new Error('the Deployment names no user: the image must not decide it');
  if ((context.runAsNonRoot ?? podContext.runAsNonRoot) && uid === 0) throw new Error('runAsNonRoot with user 0');

  const args = ['--name', facts.podName, '--hostname', facts.podName, '--network', 'host', '--pull', 'never', '--user', `${uid}:${gid}`];
  // readOnlyRootFilesystem gives no writable /tmp either: podman would mount tmpfs there unless told not to.
  if (context.readOnlyRootFilesystem) args.push('--read-only', '--read-only-tmpfs=false');
  for (const capability of context.capabilities?.drop ?? []) args.push('--cap-drop', capability);
  for (const capability of context.capabilities?.add ?? []) args.push('--cap-add', capability);
  if (context.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  const seccomp = (context.seccompProfile ?? podContext.seccompProfile)?.type;
  // RuntimeDefault is podman's default profile; anything else would need translating.
  if (seccomp !== 'RuntimeDefault') throw new Error(`seccomp profile ${seccomp ?? 'unset'}: only RuntimeDefault is translated`);
  const memory = container.resources?.limits?.memory;
  if (memory) args.push('--memory', podmanMemory(memory));
  if (pod.automountServiceAccountToken !== false) args.push('--volume', `${facts.serviceAccountDir}:${SERVICE_ACCOUNT_DIR}:ro`);
  args.push('--stop-timeout', String(pod.terminationGracePeriodSeconds ?? 30));

  const env: [string, string][] = [
    ['KUBERNETES_SERVICE_HOST', facts.apiServer.hostname],
    ['KUBERNETES_SERVICE_PORT', facts.apiServer.port],
  ];
  for (const variable of container.env ?? []) {
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    if (variable.valueFrom && !field) throw new Error(`env ${variable.name}: only fieldRef is translated`);
    let value = field === 'metadata.namespace' ? facts.namespace : field === 'metadata.name' ? facts.podName : variable.value ?? '';
    if (field && !['metadata.namespace', 'metadata.name'].includes(field)) throw new Error(`env ${variable.name}: fieldRef ${field} is not translated`);
    // A bind address of a container port (":8443") moves to its loopback stand-in.
    const port = /^:(\d+)$/.exec(value)?.[1];
    const hostPort = port ? facts.hostPorts.get(Number(port)) : undefined;
    if (hostPort) value = `127.0.0.1:${hostPort}`;
    env.push([variable.name, value]);
  }
  for (const [name, value] of env) args.push('--env', `${name}=${value}`);

  const portNamed = (name: string | number | undefined): number => {
    const containerPort = typeof name === 'number' ? name : container.ports?.find((p) => p.name === name)?.containerPort;
    const hostPort = containerPort === undefined ? undefined : facts.hostPorts.get(containerPort);
    if (!hostPort) throw new Error(`port ${name} of the manager container has no stand-in`);
    return hostPort;
  };
  return {
    args,
    healthUrl: (probe) => {
      const get = container[probe]?.httpGet;
      if (!get) throw new Error(`the manager container has no ${probe}`);
      return `http://127.0.0.1:${portNamed(get.port)}${get.path ?? '/'}`;
    },
    metricsUrl: `https://127.0.0.1:${portNamed('metrics')}/metrics`,
    gracePeriodSeconds: pod.terminationGracePeriodSeconds ?? 30,
  };
}

// ---- what the image holds ---------------------------------------------------

interface ImageFacts {
  readonly id: string;
  readonly size: number;
  readonly layers: number;
  readonly user: string;
  readonly entrypoint: string[];
  readonly workingDir: string;
  readonly base: string;
  /** Every file and link in the image, without the leading "./". */
  readonly paths: string[];
  /** Bytes under /app. */
  readonly appBytes: number;
}

async function imageFacts(image: string): Promise<ImageFacts> {
  const [inspected] = JSON.parse(await podman('image', 'inspect', image)) as [{
    Id: string; Size: number; RootFS: { Layers: string[] };
    Config: { User?: string; Entrypoint?: string[]; WorkingDir?: string; Labels?: Record<string, string> };
  }];
  // The file list, from the image's filesystem as a container would see it.
  const container = await podman('create', '--pull', 'never', image);
  const paths: string[] = [];
  let appBytes = 0;
  try {
    // Through a shell pipe: podman export opens /dev/stdout, which a Node.js pipe (a socket) cannot be.
    const { stdout: listing } = await run('bash', ['-c', '"$0" export "$1" | tar -tvf -', PODMAN, container], { maxBuffer: 64 * 1024 * 1024 });
    for (const line of listing.split('\n')) {
      // -rwxr-xr-x 0/0 1234 2026-01-01 00:00 ./path[ -> target]
      const fields = line.split(/\s+/);
      if (fields.length < 6 || line.startsWith('d')) continue;
      const name = (fields.slice(5).join(' ').split(' -> ')[0] ?? '').replace(/^\.?\//, '');
      paths.push(name);
      if (name.startsWith('app/')) appBytes += Number(fields[2]);
    }
  } finally {
    await podman('rm', container);
  }
  return {
    id: inspected.Id.slice(0, 12), size: inspected.Size, layers: inspected.RootFS.Layers.length,
    user: inspected.Config.User ?? '', entrypoint: inspected.Config.Entrypoint ?? [], workingDir: inspected.Config.WorkingDir ?? '',
    base: inspected.Config.Labels?.['org.opencontainers.image.base.name'] ?? 'unknown', paths, appBytes,
  };
}

const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);
const SHELLS = ['sh', 'bash', 'dash', 'ash', 'zsh', 'busybox'];
const PACKAGE_MANAGERS = ['apt', 'apt-get', 'dpkg', 'rpm', 'yum', 'apk', 'npm', 'npx', 'yarn', 'pnpm', 'corepack'];
const COMPILERS = ['gcc', 'g++', 'cc', 'c++', 'clang', 'ld', 'as', 'make', 'tsc', 'swc'];
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

// ---- the test ----------------------------------------------------------------

const OPERATOR_NAMESPACE = 'security-baseline-system';
const SERVICE_ACCOUNT = 'security-baseline-operator';
const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const podName = uniqueName('security-baseline-operator-image');
const baselineName = uniqueName('image');
let containerRun: ContainerRun;
let started = false;

/** Waits until the ServiceAccount holds config/rbac's ClusterRole and leader-election Role (RBAC reaches the authorizer through an informer). */
async function rbacInEffect(): Promise<void> {
  const authorization = kc.makeApiClient(AuthorizationV1Api);
  const user = `system:serviceaccount:${OPERATOR_NAMESPACE}:${SERVICE_ACCOUNT}`;
  const may = async (verb: string, group: string, resource: string, namespace?: string) => (await authorization.createSubjectAccessReview({
    body: { spec: { user, groups: ['system:serviceaccounts'], resourceAttributes: { verb, group, resource, namespace } } },
  })).status?.allowed === true;
  await eventually(async () => await may('watch', '', 'namespaces') && await may('update', 'coordination.k8s.io', 'leases', OPERATOR_NAMESPACE), { timeoutMs: 10_000 });
}

/** The token, CA and namespace a pod of the Deployment finds in its ServiceAccount volume. */
async function serviceAccountVolume(): Promise<string> {
  const dir = await mkdtemp(path.join(testControlPlane().dir, 'serviceaccount-'));
  const token = (await core.createNamespacedServiceAccountToken({
    namespace: OPERATOR_NAMESPACE, name: SERVICE_ACCOUNT, body: { spec: { audiences: [], expirationSeconds: 3600 } },
  })).status?.token;
  if (!token) throw new Error('no token issued');
  const ca = Buffer.from(kc.getCurrentCluster()?.caData ?? '', 'base64');
  await writeFile(path.join(dir, 'token'), token, { mode: 0o644 });
  await writeFile(path.join(dir, 'ca.crt'), ca, { mode: 0o644 });
  await writeFile(path.join(dir, 'namespace'), OPERATOR_NAMESPACE, { mode: 0o644 });
  await chmod(dir, 0o755); // the container's user (65532) reads it, as the kubelet's files allow
  return dir;
}

/** The container's output, kept under .dev/test-logs/ beside the other operators' logs. */
async function saveLogs(): Promise<string> {
  const dir = path.join(root, '.dev', 'test-logs');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${podName}.log`);
  const { stdout, stderr } = await run(PODMAN, ['logs', podName], { maxBuffer: 64 * 1024 * 1024 });
  await writeFile(file, stdout + stderr);
  return file;
}

describeWithPodman('the container image', () => {
  beforeAll(async () => {
    const exists = await podman('image', 'exists', IMAGE).then(() => true, () => false);
    if (!exists) throw new Error(`image ${IMAGE} is not built: run \`make image\` (make test builds it first)`);
    await installCrds();
    await core.createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } }).catch(() => undefined);
    await applyObjects(await renderKustomization('config/rbac'));
    await rbacInEffect();
    const deployment = (await renderKustomization('config/default')).find((o) => o.kind === 'Deployment') as V1Deployment | undefined;
    if (!deployment) throw new Error('config/default renders no Deployment');
    const ports = deployment.spec?.template.spec?.containers.flatMap((c) => c.ports ?? []).map((p) => p.containerPort) ?? [];
    const free = await freePorts(ports.length);
    containerRun = podmanRunFor(deployment, {
      podName, namespace: OPERATOR_NAMESPACE, apiServer: new URL(testControlPlane().server),
      serviceAccountDir: await serviceAccountVolume(),
      hostPorts: new Map(ports.map((port, i) => [port, free[i] ?? 0])),
    });
    const start = Date.now();
    await podman('run', '--detach', ...containerRun.args, IMAGE);
    started = true;
    const outcome = await eventually(async () => {
      const state = await podman('inspect', '--format', '{{.State.Status}}', podName);
      if (state !== 'running') return state;
      return (await fetch(containerRun.healthUrl('readinessProbe'))).status === 200 && state;
    }, { timeoutMs: 60_000, intervalMs: 200 }).catch((error: unknown) => `not ready (${String(error)})`);
    if (outcome !== 'running') throw new Error(`container ${outcome}; its log: ${await saveLogs()}`);
    process.stderr.write(`container image: ${IMAGE} ready ${((Date.now() - start) / 1000).toFixed(1)}s after podman run\n`);
  }, 120_000);

  afterAll(async () => {
    await deleteBaseline(baselineName);
    if (!started) return;
    const running = await podman('inspect', '--format', '{{.State.Status}}', podName).catch(() => '') === 'running';
    if (running) await waitForBaselineGone(baselineName).catch(() => undefined); // its finalizer needs the operator
    process.stderr.write(`container image: operator log in ${await saveLogs()}\n`);
    await podman('rm', '--force', '--time', '0', podName).catch(() => undefined);
  }, 60_000);

  test('runs as the Deployment says: user 65532, read-only root, no capabilities, no privilege escalation', async () => {
    const [inspected] = JSON.parse(await podman('inspect', podName)) as [{
      Config: { User: string }; HostConfig: { ReadonlyRootfs: boolean; SecurityOpt: string[]; CapDrop: string[] };
    }];
    expect(inspected.Config.User).toBe('65532:65532');
    expect(inspected.HostConfig.ReadonlyRootfs).toBe(true);
    expect(inspected.HostConfig.SecurityOpt).toContain('no-new-privileges');
    // What the kernel says about the running process: no capability in any set, no_new_privs, a seccomp filter.
    const status = await podman('exec', podName, '/nodejs/bin/node', '-e', 'process.stdout.write(require("fs").readFileSync("/proc/1/status", "utf8"))');
    const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1];
    expect(field('Uid')).toBe('65532');
    expect(['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'].map(field)).toEqual(Array(5).fill('0000000000000000'));
    expect(field('NoNewPrivs')).toBe('1');
    expect(field('Seccomp')).toBe('2');
    // Nowhere to write: not the app, not /tmp.
    const writes = await podman('exec', podName, '/nodejs/bin/node', '-e',
      'for (const f of ["/app/x", "/tmp/x", "/home/nonroot/x"]) { try { require("fs").writeFileSync(f, "x"); console.log(f, "written"); } catch (e) { console.log(f, e.code); } }');
    expect(writes.split('\n')).toEqual(['/app/x EROFS', '/tmp/x EROFS', '/home/nonroot/x EROFS']);
  });

  test('answers its liveness and readiness probes', async () => {
    expect((await fetch(containerRun.healthUrl('livenessProbe'))).status).toBe(200);
    expect((await fetch(containerRun.healthUrl('readinessProbe'))).status).toBe(200);
  });

  test('provisions a selected namespace as the operator\'s ServiceAccount', async () => {
    const start = Date.now();
    await createBaseline(baselineName, {
      namespaceSelector: { matchLabels: { 'sbo-image': baselineName } },
      networkPolicy: { defaultDeny: ['Ingress', 'Egress'], allowDNS: true },
      resourceQuota: { hard: { pods: '4' } },
      podSecurity: { enforce: 'restricted' },
    });
    const namespace = await createTestNamespace('image', { 'sbo-image': baselineName });
    // Leader election is on, as deployed: a lease left by an earlier test's operator may have to expire first.
    await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${baselineName}-quota` }), { timeoutMs: 45_000 });
    const status = await waitForStatus(baselineName, (b) => condition(b, 'Ready')?.status === 'True' && b.status?.namespaces?.compliant === 1, 45_000);
    expect(status.status?.namespaces?.selected).toBe(1);
    expect((await core.readNamespace({ name: namespace })).metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    process.stderr.write(`container image: namespace provisioned and baseline Ready ${((Date.now() - start) / 1000).toFixed(1)}s after creation\n`);
  }, 100_000);

  test('serves metrics over HTTPS only to an authorised scraper', async () => {
    expect((await scrape(containerRun.metricsUrl)).status).toBe(401);
    expect((await scrape(containerRun.metricsUrl, 'not-a-token')).status).toBe(401);
    const scraped = await scrape(containerRun.metricsUrl, await metricsScraperToken());
    expect(scraped.status).toBe(200);
    expect(scraped.body).toMatch(/^security_baseline_build_info\{version="0\.1\.0",node_version="24\.[\d.]+"\} 1$/m);
    expect(metricValue(scraped.body, 'security_baseline_leader')).toBe(1);
    expect(metricValue(scraped.body, 'security_baseline_namespaces', { baseline: baselineName, state: 'compliant' })).toBe(1);
  });

  test('removes what it made when the baseline is deleted', async () => {
    const namespaces = await core.listNamespace({ labelSelector: `sbo-image=${baselineName}` });
    const namespace = namespaces.items[0]?.metadata?.name ?? '';
    await deleteBaseline(baselineName);
    await waitForBaselineGone(baselineName);
    const quota = await core.readNamespacedResourceQuota({ namespace, name: `${baselineName}-quota` }).then(() => 'present', () => 'gone');
    expect([namespace, quota]).toEqual([namespace, 'gone']);
  });

  test('holds no shell, package manager, compiler or test code, and runs node as its entrypoint', async () => {
    const facts = await imageFacts(IMAGE);
    const found = (names: string[]) => facts.paths.filter((p) => names.includes(basename(p)));
    // The packages only development needs (jest, typescript, eslint, ...), as the lockfile marks them.
    const lock = JSON.parse(await readFile(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([, entry]) => entry.dev).map(([key]) => `app/${key}/`);
    const testCode = facts.paths.filter((p) => /\.(test|spec)\.[cm]?[jt]s$/.test(p) || /^app\/(src|test)\//.test(p)
      || /\/(test|tests|__tests__)\//.test(p) || devOnly.some((prefix) => p.startsWith(prefix)));
    const typescriptSources = facts.paths.filter((p) => p.startsWith('app/dist/') && p.endsWith('.ts'));
    const appPackages = facts.paths.filter((p) => /^app\/node_modules\/(@[^/]+\/)?[^/]+\/package\.json$/.test(p)).length;

    const baseSize = await podman('image', 'inspect', '--format', '{{.Size}}', facts.base).then((size) => mb(Number(size)), () => 'not held here');
    process.stderr.write([
      `container image ${IMAGE} (${facts.id}):`,
      `  size ${mb(facts.size)} in ${facts.layers} layers: the base ${facts.base} (${baseSize}) and ${mb(facts.appBytes)} under /app`,
      `  (${facts.paths.filter((p) => p.startsWith('app/dist/') && p.endsWith('.js')).length} JavaScript files of the operator with their source maps, ${appPackages} production packages)`,
      `  user ${facts.user}, workdir ${facts.workingDir}, entrypoint ${JSON.stringify(facts.entrypoint)}`,
      `  ${facts.paths.length} files; shells: ${found(SHELLS).join(', ') || 'none'}; package managers: ${found(PACKAGE_MANAGERS).join(', ') || 'none'};`
        + ` compilers: ${found(COMPILERS).join(', ') || 'none'}; test code: ${testCode.length || 'none'}`,
      '',
    ].join('\n'));

    expect(facts.user).toBe('65532:65532');
    expect(facts.entrypoint).toEqual(['/nodejs/bin/node', 'dist/main.js']);
    expect(facts.paths).toContain('nodejs/bin/node');
    expect(facts.paths).toContain('app/dist/main.js');
    expect(found(SHELLS)).toEqual([]);
    expect(found(PACKAGE_MANAGERS)).toEqual([]);
    expect(facts.paths.filter((p) => p.startsWith('app/node_modules/npm/') || p.startsWith('app/node_modules/typescript/'))).toEqual([]);
    expect(found(COMPILERS)).toEqual([]);
    expect(devOnly.length).toBeGreaterThan(100); // the check below means something
    expect(testCode).toEqual([]);
    expect(typescriptSources.filter((p) => !p.endsWith('.d.ts'))).toEqual([]);
  }, 60_000);

  test('stops cleanly on SIGTERM within the grace period, releasing the leader lease', async () => {
    const start = Date.now();
    await podman('stop', '--time', String(containerRun.gracePeriodSeconds), podName);
    const exitCode = await podman('inspect', '--format', '{{.State.ExitCode}}', podName);
    process.stderr.write(`container image: stopped ${((Date.now() - start) / 1000).toFixed(1)}s after SIGTERM, exit code ${exitCode}\n`);
    expect(exitCode).toBe('0');
    expect(await podman('logs', podName)).toContain('"msg":"released the leader lease"');
  }, 60_000);
});
