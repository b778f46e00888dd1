// The README's install commands, as written: the `kubectl` lines of its
// "Install on a cluster" section are read from README.md and run by bash with
// the control plane's own kubectl first on PATH, so the docs and this test
// cannot drift apart. The default install must apply cleanly on a cluster
// without prometheus-operator, leave every object it lists in the API server
// and change nothing when applied again; the monitoring addition must be
// refused without prometheus-operator's CRDs and apply cleanly with them.
//
// No kubelet runs here, so no pod starts: the assertions are on what the API
// server holds. (test/e2e/container-image.test.ts runs the image itself.) The
// install stays in the shared control plane afterwards: uninstalling would
// delete the CRD and the operator's namespace under the tests that follow.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from '@jest/globals';
import {
  ApiextensionsV1Api, CoreV1Api, KubernetesObjectApi, type KubernetesObject, type V1Deployment,
} from '@kubernetes/client-node';
import { adminKubeConfig, eventually, statusOf, testControlPlane } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { renderKustomization } from '../support/manifests.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const MONITORING_CRDS = ['servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com'];
const kc = adminKubeConfig();
const objects = KubernetesObjectApi.makeApiClient(kc);
const extensions = kc.makeApiClient(ApiextensionsV1Api);

/**
 * The shell commands of the README section "Install on a cluster" (before its
 * subsections: the image, Helm and permissions have tests of their own), in
 * order, comments and blank lines left out.
 */
async function readmeInstallCommands(): Promise<string[]> {
  const readme = await readFile(path.join(root, 'README.md'), 'utf8');
  const section = /^## Install on a cluster\n([\s\S]*?)(?=^##+ )/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Install on a cluster" section');
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)]
    .flatMap((block) => (block[1] ?? '').split('\n'))
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

/** Runs one README line as written: bash, the repository as working directory, the control plane's kubectl first on PATH. */
async function runAsWritten(command: string): Promise<{ code: number; output: string }> {
  // A discovery cache of its own per command: another test file's kubectl or helm may have cached
  // prometheus-operator's kinds while their CRDs were installed, and a user's first install has none.
  const env = {
    ...process.env, PATH: `${testControlPlane().binDir}:${process.env.PATH ?? ''}`, KUBECONFIG: testControlPlane().kubeconfigPath,
    KUBECACHEDIR: await mkdtemp(path.join(tmpdir(), 'sbo-kubectl-cache-')),
  };
  try {
    const { stdout, stderr } = await run('bash', ['-euo', 'pipefail', '-c', command], { cwd: root, env });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: code ?? -1, output: `${stdout ?? ''}${stderr ?? ''}` };
  }
}

/** Every object as the API server holds it now (throws for one it does not hold). */
async function readAll(manifests: KubernetesObject[]): Promise<KubernetesObject[]> {
  return Promise.all(manifests.map(async (object) => {
    const { apiVersion, kind, metadata } = object;
    return objects.read({ apiVersion, kind, metadata: { name: metadata?.name ?? '', namespace: metadata?.namespace } }).catch((error: unknown) => {
      throw new Error(`${kind}/${metadata?.name} is not in the API server (${statusOf(error) ?? String(error)})`);
    });
  }));
}

const describeObject = (o: KubernetesObject) => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

async function crdGone(name: string): Promise<boolean> {
  return extensions.readCustomResourceDefinition({ name }).then(() => false, (error: unknown) => statusOf(error) === 404);
}

let commands: string[] = [];
let defaultInstall: string[] = [];
let monitoring: string[] = [];

beforeAll(async () => {
  commands = await readmeInstallCommands();
  const kubectl = commands.filter((c) => c.startsWith('kubectl '));
  monitoring = kubectl.filter((c) => /-k config\/prometheus\b/.test(c));
  defaultInstall = kubectl.filter((c) => !monitoring.includes(c));
  // A cluster without prometheus-operator: another test file of this run may have installed its CRDs.
  for (const name of MONITORING_CRDS) await extensions.deleteCustomResourceDefinition({ name }).catch(() => undefined);
  await eventually(async () => (await Promise.all(MONITORING_CRDS.map(crdGone))).every(Boolean), { timeoutMs: 30_000 });
}, 60_000);

describe('the README\'s install commands', () => {
  test('are the default install and the monitoring addition, and every other command is the image build', () => {
    expect(defaultInstall).toEqual(['kubectl apply --server-side -k config/default']);
    expect(monitoring).toEqual(['kubectl apply --server-side -k config/prometheus']);
    // The image build is not run here; test/e2e/container-image.test.ts builds and runs the image.
    const others = commands.filter((c) => !c.startsWith('kubectl '));
    expect(others.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual(['make image', 'podman push']);
  });

  test('the default install applies cleanly on a cluster without prometheus-operator', async () => {
    const rendered = await renderKustomization('config/default');
    expect(rendered.filter((o) => o.apiVersion?.startsWith('monitoring.coreos.com/'))).toEqual([]);
    const start = Date.now();
    for (const command of defaultInstall) {
      const { code, output } = await runAsWritten(command);
      expect({ command, code, output }).toEqual({ command, code: 0, output: expect.not.stringMatching(/error|no matches|not found/i) });
      // One line per object, each applied.
      const lines = output.trim().split('\n');
      expect(lines.filter((line) => !line.endsWith(' serverside-applied'))).toEqual([]);
      expect(lines).toHaveLength(rendered.length);
    }
    process.stderr.write(`install: ${defaultInstall.join('; ')} took ${((Date.now() - start) / 1000).toFixed(1)}s\n`);

    // What the API server holds: everything the install lists, the CRD served.
    const held = await readAll(rendered);
    expect(held.map(describeObject).sort()).toEqual(rendered.map(describeObject).sort());
    const crd = await extensions.readCustomResourceDefinition({ name: 'securitybaselines.security.baseline.dev' });
    expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    const namespace = await kc.makeApiClient(CoreV1Api).readNamespace({ name: 'security-baseline-system' });
    expect(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  test('the operator\'s Deployment is held as written, and its pods would be admitted under Pod Security restricted', async () => {
    const [written] = (await renderKustomization('config/default')).filter((o): o is V1Deployment => o.kind === 'Deployment');
    expect(written).toBeDefined();
    const deployment = (await readAll([written as KubernetesObject]))[0] as V1Deployment;
    expect(deployment.spec?.replicas).toBe(2);
    const container = deployment.spec?.template.spec?.containers[0];
    expect(container?.image).toBe(written?.spec?.template.spec?.containers[0]?.image);
    expect(container?.image).toBe('security-baseline-operator:0.1.0');
    expect(deployment.spec?.template.spec?.serviceAccountName).toBe('security-baseline-operator');
    // A pod of that template, created as a dry run in the operator's namespace (enforce: restricted):
    // the API server runs every admission step, Pod Security among them, and stores nothing.
    const pod = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'security-baseline-operator-dry-run', namespace: 'security-baseline-system', labels: deployment.spec?.template.metadata?.labels },
      spec: deployment.spec?.template.spec,
    };
    const admitted = await objects.create(pod, undefined, 'All');
    expect(admitted.metadata?.name).toBe(pod.metadata.name);
  });

  test('applying the default install again changes nothing', async () => {
    const rendered = await renderKustomization('config/default');
    const versions = async () => (await readAll(rendered)).map((o) => `${describeObject(o)}@${o.metadata?.resourceVersion}`);
    const before = await versions();
    for (const command of defaultInstall) expect((await runAsWritten(command)).code).toBe(0);
    expect(await versions()).toEqual(before);
  });

  test('applying it over the API as `make install` left it (another field manager) meets no conflict', async () => {
    await installCrds(); // crds/, server-side applied by the tests' own field manager
    for (const command of defaultInstall) {
      const { code, output } = await runAsWritten(command);
      expect({ command, code, output }).toEqual({ command, code: 0, output: expect.not.stringMatching(/conflict|error/i) });
    }
  });

  test('the monitoring addition is refused without prometheus-operator\'s CRDs, and applies cleanly with them', async () => {
    for (const command of monitoring) {
      const refused = await runAsWritten(command);
      expect(refused.code).not.toBe(0);
      expect(refused.output).toContain('no matches for kind "ServiceMonitor" in version "monitoring.coreos.com/v1"');
      expect(refused.output).toContain('ensure CRDs are installed first');
    }

    // prometheus-operator's CRDs, from its Go module (hack/prometheus/crds.sh), applied as its install would.
    const crdDir = (await run(path.join(root, 'hack/prometheus/crds.sh'), { cwd: root })).stdout.trim();
    const kubectl = path.join(testControlPlane().binDir, 'kubectl');
    const kubeconfig = ['--kubeconfig', testControlPlane().kubeconfigPath];
    await run(kubectl, [...kubeconfig, 'apply', '--server-side', ...MONITORING_CRDS.map((crd) => ['-f', path.join(crdDir, `monitoring.coreos.com_${crd.split('.')[0]}.yaml`)]).flat()]);
    await run(kubectl, [...kubeconfig, 'wait', '--for=condition=Established', '--timeout=30s', ...MONITORING_CRDS.map((crd) => `crd/${crd}`)]);

    const rendered = await renderKustomization('config/prometheus');
    for (const command of monitoring) {
      const { code, output } = await runAsWritten(command);
      expect({ command, code, output }).toEqual({ command, code: 0, output: expect.not.stringMatching(/error|no matches/i) });
    }
    expect((await readAll(rendered)).map(describeObject).sort()).toEqual([
      'ClusterRole/security-baseline-metrics-reader',
      'ClusterRoleBinding/security-baseline-metrics-reader',
      'PrometheusRule/security-baseline-system/security-baseline-operator',
      'ServiceMonitor/security-baseline-system/security-baseline-operator',
    ]);
  }, 180_000);
});
