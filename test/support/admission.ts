// Admission policies in tests: applying what src/resources builds as the
// operator would, and asking the real API server what it admits, refuses or
// warns about, through client-node, kubectl, or a bare CONNECT request.
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect } from '@jest/globals';
import {
  AppsV1Api, BatchV1Api, CoreV1Api, KubernetesObjectApi, PatchStrategy,
  type KubeConfig, type KubernetesObject, type V1PodSpec, type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../../src/api/constants.ts';
import type { SecurityBaseline, SecurityBaselineSpec } from '../../src/api/types.ts';
import type { AdmissionObject } from '../../src/resources/imagepolicy.ts';
import { adminKubeConfig, ignoreNotFound, messageOf, statusOf, testControlPlane, uniqueName } from './cluster.ts';

// Registered when a test file imports this module, so it runs after that file's tests.
const applied: AdmissionObject[] = [];
afterAll(async () => {
  const objects = KubernetesObjectApi.makeApiClient(adminKubeConfig());
  // Bindings first, so that no binding is ever left pointing at a missing policy.
  const ordered = applied.splice(0).sort((a, b) => Number(a.kind === 'ValidatingAdmissionPolicy') - Number(b.kind === 'ValidatingAdmissionPolicy'));
  for (const object of ordered) await objects.delete(object as KubernetesObject).catch(ignoreNotFound);
});

/** Applies the objects as the operator would (server-side apply with its field manager); they are deleted after the file. */
export async function applyAsOperator(built: AdmissionObject[]): Promise<void> {
  const objects = KubernetesObjectApi.makeApiClient(adminKubeConfig());
  for (const object of built) {
    await objects.patch(object as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    applied.push(object);
  }
}

/** A SecurityBaseline as the builders take it, without the API server. */
export function baselineObject(name: string, spec: SecurityBaselineSpec): SecurityBaseline {
  return { apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name }, spec };
}

export type Outcome = { admitted: true } | { admitted: false; status: number | undefined; message: string };

export async function attempt(call: Promise<unknown>): Promise<Outcome> {
  return call.then(
    () => ({ admitted: true }),
    (error: unknown) => ({ admitted: false, status: statusOf(error), message: messageOf(error) }),
  );
}

/** Refused with 403 by `policy` (whose binding has the same name), with `message` in the refusal when given. */
export function expectRefusedBy(outcome: Outcome, policy: string, message?: string | RegExp): void {
  expect(outcome).toMatchObject({ admitted: false, status: 403 });
  if (outcome.admitted) return;
  expect(outcome.message).toContain(`ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request`);
  if (typeof message === 'string') expect(outcome.message).toContain(message);
  else if (message) expect(outcome.message).toMatch(message);
}

/** Creates an object around a pod template (labelled app: x), as a server-side dry run: admission runs all the same. */
export type CreateWithTemplate = (namespace: string, template: V1PodTemplateSpec) => Promise<unknown>;

/** Every kind the admission policies check the pod template of, with a way to create one. */
export function templateKinds(kc: KubeConfig): [string, CreateWithTemplate][] {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const dryRun = 'All';
  const selector = { matchLabels: { app: 'x' } };
  const restarting = (template: V1PodTemplateSpec, restartPolicy: string) => ({ ...template, spec: { ...template.spec, restartPolicy } as V1PodSpec });
  return [
    ['Deployment', (namespace, template) => apps.createNamespacedDeployment({
      namespace, dryRun, body: { metadata: { name: uniqueName('deploy') }, spec: { selector, template } },
    })],
    ['StatefulSet', (namespace, template) => apps.createNamespacedStatefulSet({
      namespace, dryRun, body: { metadata: { name: uniqueName('sts') }, spec: { serviceName: 'x', selector, template } },
    })],
    ['DaemonSet', (namespace, template) => apps.createNamespacedDaemonSet({
      namespace, dryRun, body: { metadata: { name: uniqueName('ds') }, spec: { selector, template } },
    })],
    ['ReplicaSet', (namespace, template) => apps.createNamespacedReplicaSet({
      namespace, dryRun, body: { metadata: { name: uniqueName('rs') }, spec: { selector, template } },
    })],
    ['ReplicationController', (namespace, template) => core.createNamespacedReplicationController({
      namespace, dryRun, body: { metadata: { name: uniqueName('rc') }, spec: { selector: { app: 'x' }, template } },
    })],
    ['Job', (namespace, template) => batch.createNamespacedJob({
      namespace, dryRun, body: { metadata: { name: uniqueName('job') }, spec: { template: restarting(template, 'Never') } },
    })],
    ['CronJob', (namespace, template) => batch.createNamespacedCronJob({
      namespace, dryRun,
      body: { metadata: { name: uniqueName('cron') }, spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: restarting(template, 'OnFailure') } } } },
    })],
  ];
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Writes a kubeconfig file for `kc` into the control plane's directory, for kubectl. */
export async function kubeconfigFile(kc: KubeConfig): Promise<string> {
  const file = path.join(testControlPlane().dir, `${uniqueName('kubeconfig')}.yaml`);
  await writeFile(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}

/** Runs the control plane's kubectl, as a person would, against `kubeconfig` (the admin's by default). */
export function kubectl(args: readonly string[], { kubeconfig = testControlPlane().kubeconfigPath, stdin }: { kubeconfig?: string; stdin?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    // The API server's /metrics alone is several MB after a full test run.
    const child = execFile(path.join(testControlPlane().binDir, 'kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], { timeout: 30_000, maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
    child.stdin?.end(stdin ?? '');
  });
}

export interface ConnectResult {
  status: number;
  message: string;
  /** The Warning headers of the response, as kubectl would print them. */
  warnings: string[];
}

/**
 * A CONNECT to a pod's subresource (`exec`, `attach`, `portforward`) as `kc`'s
 * user: a POST without the protocol upgrade, which admission sees exactly as it
 * sees kubectl's. Without a kubelet, an admitted request fails afterwards (the
 * pod has no node), which tells it apart from a refused one.
 */
export async function connect(kc: KubeConfig, namespace: string, pod: string, subresource: string, query: string): Promise<ConnectResult> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no cluster');
  const url = new URL(`${cluster.server}/api/v1/namespaces/${namespace}/pods/${pod}/${subresource}?${query}`);
  const options: Parameters<typeof request>[1] = { method: 'POST', headers: {} };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(url, options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => {
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch { /* not a Status: keep the text */ }
        resolve({ status: response.statusCode ?? 0, message, warnings: warningsOf(response.rawHeaders) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The texts of the Warning headers (`299 - "text"`, RFC 7234), each header on its own. */
function warningsOf(rawHeaders: readonly string[]): string[] {
  const warnings: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() !== 'warning') continue;
    const text = /^\d{3} \S+ "(.*)"$/.exec(rawHeaders[i + 1] ?? '')?.[1];
    if (text !== undefined) warnings.push(text.replace(/\\(.)/g, '$1'));
  }
  return warnings;
}
