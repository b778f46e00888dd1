// What every benchmark scenario needs of the control plane: clients, identities
// of their own, namespaces made fast, and the API server's audit log as the
// witness of who wrote what.
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { NAMESPACES } from '../src/controller/kinds.ts';
import { KubeApiError } from '../src/runtime/errors.ts';
import { HttpMethod, KubeClient, resourcePath, type KubeObject, type ResourceType } from '../src/runtime/kube.ts';
import { applyManifests } from '../hack/apply-crds.ts';
import { auditEventsSince, auditLogMark, mintIdentityIn, renderKubeconfig, type ControlPlane } from '../hack/kube/controlplane.ts';

/** cpuSeconds only where the benchmark started the control plane itself (the smoke test borrows the test cluster's). */
export type BenchControlPlane = Pick<ControlPlane, 'dir' | 'server' | 'kubeconfigPath' | 'versions'> & Partial<Pick<ControlPlane, 'cpuSeconds'>>;

export interface BenchCluster {
  readonly controlPlane: BenchControlPlane;
  readonly admin: KubeConfig;
  readonly client: KubeClient;
  /** A kubeconfig file for a user of these groups (default system:masters), minted for this run. */
  kubeconfigFor(user: string, groups?: readonly string[]): Promise<string>;
}

export function openCluster(controlPlane: BenchControlPlane): BenchCluster {
  const admin = new KubeConfig();
  admin.loadFromFile(controlPlane.kubeconfigPath);
  const caPem = Buffer.from(admin.getCurrentCluster()?.caData ?? '', 'base64').toString('utf8');
  return {
    controlPlane, admin, client: new KubeClient(admin),
    kubeconfigFor: async (user, groups = ['system:masters']) => {
      const file = path.join(controlPlane.dir, `${user}.kubeconfig`);
      await writeFile(file, renderKubeconfig(controlPlane.server, caPem, await mintIdentityIn(controlPlane.dir, user, [...groups])), { mode: 0o600 });
      return file;
    },
  };
}

const SUBJECT_ACCESS_REVIEWS: ResourceType = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', plural: 'subjectaccessreviews', namespaced: false };

/**
 * Binds `user` to the operator's ClusterRole and revisions Role as config/rbac
 * deploys them, and waits until the authorizer says so. A user of
 * system:masters is allowed everything without RBAC being read; bound like
 * this, the operator's requests (and the admission policies' checks of who
 * writes) are authorized as its ServiceAccount's are in a cluster.
 */
export async function bindOperatorRole(cluster: BenchCluster, user: string): Promise<void> {
  const rbacDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../config/rbac');
  const documents = await Promise.all(['role.yaml', 'revisions_role.yaml'].map(async (file) => loadAllYaml(await readFile(path.join(rbacDir, file), 'utf8')) as KubernetesObject[]));
  const roles = documents.flat().filter((object) => object.kind === 'ClusterRole' || object.kind === 'Role');
  const bindings = roles.map((role) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: `${role.kind}Binding`,
    metadata: { name: `${role.metadata?.name}-${user}`, ...(role.metadata?.namespace ? { namespace: role.metadata.namespace } : {}) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: role.kind, name: role.metadata?.name },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  }));
  await applyManifests(cluster.admin, [...roles, ...bindings], 'bench');
  await until(`the operator's role bound to ${user}`, async () => {
    const review = await cluster.client.create(SUBJECT_ACCESS_REVIEWS, {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: { name: '' },
      spec: { user, resourceAttributes: { group: 'security.baseline.dev', resource: 'securitybaselines', subresource: 'status', verb: 'patch' } },
    } as unknown as KubeObject & Record<string, unknown>) as unknown as { status?: { allowed?: boolean } };
    return review.status?.allowed === true;
  }, 30_000, 200);
}

export async function createNamespaces(client: KubeClient, names: string[], labels: (name: string, index: number) => Record<string, string>): Promise<void> {
  const queue = new PQueue({ concurrency: 32 });
  const create = async (name: string, index: number, attempt = 1): Promise<void> => {
    try {
      await client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: labels(name, index) } });
    } catch (error) {
      // A connection the API server closed under the request (after a long idle): once more; it may have landed.
      if (attempt > 1 && error instanceof KubeApiError && error.status === 409) return;
      if (attempt > 1 || !(error instanceof TypeError)) throw error;
      await create(name, index, attempt + 1);
    }
  };
  await Promise.all(names.map((name, i) => queue.add(() => create(name, i))));
}

/** The collection's current resourceVersion, to watch from (one request: KubeClient.list would read every page). */
export async function currentResourceVersion(client: KubeClient, type: ResourceType, labelSelector: string): Promise<string> {
  const page = await client.request<{ metadata: { resourceVersion: string } }>('list', HttpMethod.GET, resourcePath(type), {
    resource: type.plural, query: { labelSelector, limit: '1' },
  });
  return page.metadata.resourceVersion;
}

export interface AuditedWrite {
  readonly resource: string;
  readonly subresource?: string;
  /** When the API server answered it, in ms since the epoch (its stageTimestamp). */
  readonly at: number;
}

/**
 * When the last of the writes to a namespace, its objects or its Report was
 * answered (writes to baselines, their debounced status, left out), in ms since
 * the epoch. A loop, not Math.max(...): a cold start over 30,000 namespaces
 * has more writes than a call may take arguments.
 */
export function lastNamespaceWriteAt(writes: readonly AuditedWrite[]): number {
  let last = -Infinity;
  for (const write of writes) if (write.resource !== 'securitybaselines' && write.at > last) last = write.at;
  return last;
}

/** A position in the audit log (which records writes only); writes are counted from there on. */
export const auditMark = (cluster: BenchCluster): Promise<number> => auditLogMark(cluster.controlPlane.dir);

/** Writes by a user since a mark, by resource. */
export async function auditedWrites(cluster: BenchCluster, mark: number, user: string): Promise<AuditedWrite[]> {
  const writes: AuditedWrite[] = [];
  for (const line of await auditEventsSince(cluster.controlPlane.dir, mark, `"username":"${user}"`)) {
    const event = line as { stage: string; stageTimestamp: string; user: { username: string }; objectRef?: { resource?: string; subresource?: string } };
    if (event.stage === 'ResponseComplete' && event.user.username === user) {
      writes.push({ resource: event.objectRef?.resource ?? '', subresource: event.objectRef?.subresource, at: Date.parse(event.stageTimestamp) });
    }
  }
  return writes;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** The median: the middle value, or the mean of the middle two. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Latencies of `count` new namespaces made at `rate` a second, in seconds. */
export interface ProvisioningRun {
  readonly rate: number; readonly count: number; readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number;
  /**
   * The namespace create request alone, from sending it to its response: what the API server takes
   * before any controller can see the namespace (absent in the limit's runs and in runs before it was kept).
   */
  readonly createP99?: number;
  /** How busy the machine was during the run (absent in runs before it was kept). */
  readonly load?: ProvisioningLoad;
}

/**
 * CPU cores in use on average over a provisioning run: the whole machine
 * (every process, from /proc/stat), and the processes that share it. On a
 * machine whose cores are all busy, a request waits for a core as much as for
 * its answer: provisioning latency is then the machine's, whatever the client.
 */
export interface ProvisioningLoad {
  readonly cores: number;
  readonly busy: number;
  readonly apiServer?: number;
  readonly etcd?: number;
  readonly controllerManager?: number;
  /** The operator: its own run, or the limit's, whose watch events it still receives. */
  readonly operator?: number;
}

/** CPU seconds used so far: by the whole machine, and by each process that matters to a provisioning run. */
interface CpuMark {
  readonly at: number;
  readonly machine: number;
  readonly processes: Partial<Record<Exclude<keyof ProvisioningLoad, 'cores' | 'busy'>, number>>;
}

/** Busy CPU seconds of the whole machine so far: /proc/stat's first line, all but idle and iowait (in clock ticks of 1/100 s). */
async function machineCpuSeconds(): Promise<number> {
  const [user, nice, system, , , irq, softirq, steal] = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
}

/** Where a provisioning run's load is measured from; `operatorCpu` reads the operator's CPU seconds. */
export async function cpuMark(cluster: BenchCluster, operatorCpu: () => Promise<number>): Promise<CpuMark> {
  const { cpuSeconds } = cluster.controlPlane;
  return {
    at: performance.now(),
    machine: await machineCpuSeconds(),
    processes: {
      operator: await operatorCpu(),
      ...cpuSeconds && {
        apiServer: await cpuSeconds('kube-apiserver'), etcd: await cpuSeconds('etcd'), controllerManager: await cpuSeconds('kube-controller-manager'),
      },
    },
  };
}

/** The cores in use on average since `before`. */
export async function loadSince(cluster: BenchCluster, operatorCpu: () => Promise<number>, before: CpuMark): Promise<ProvisioningLoad> {
  const now = await cpuMark(cluster, operatorCpu);
  const seconds = (now.at - before.at) / 1000;
  const cores = (key: keyof CpuMark['processes']): number | undefined => {
    const [then, later] = [before.processes[key], now.processes[key]];
    return then === undefined || later === undefined ? undefined : (later - then) / seconds;
  };
  return {
    cores: cpus().length, busy: (now.machine - before.machine) / seconds,
    apiServer: cores('apiServer'), etcd: cores('etcd'), controllerManager: cores('controllerManager'), operator: cores('operator'),
  };
}

export function provisioningRun(rate: number, latencies: number[]): ProvisioningRun {
  return {
    rate, count: latencies.length,
    p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: Math.max(...latencies),
  };
}

/** Polls until `done` holds; throws after `timeoutMs` with `what` in the message. */
export async function until(what: string, done: () => Promise<boolean>, timeoutMs = 3_600_000, intervalMs = 100): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** What kube-controller-manager's audit events contain: its user agent (it runs as the admin user). */
export const CONTROLLER_MANAGER_AGENT = '"userAgent":"kube-controller-manager/';

/**
 * Waits until kube-controller-manager has written nothing for `quietMs` (by the
 * audit log), at most `timeoutMs`; returns the seconds waited. It writes a
 * ServiceAccount into each new namespace and a status into each new or changed
 * quota, at the request rate its flags allow (see bench.ts): writes still due
 * would otherwise land on whatever is measured next.
 */
export async function untilControllerManagerIdle(cluster: BenchCluster, timeoutMs = 300_000, quietMs = 3_000): Promise<{ seconds: number; idle: boolean }> {
  const started = performance.now();
  for (;;) {
    const mark = await auditMark(cluster);
    await sleep(quietMs);
    const writes = await auditEventsSince(cluster.controlPlane.dir, mark, CONTROLLER_MANAGER_AGENT);
    const seconds = (performance.now() - started) / 1000;
    if (writes.length === 0) return { seconds, idle: true };
    if (seconds * 1000 >= timeoutMs) return { seconds, idle: false };
  }
}

/**
 * A watch that resumes where it ended until it is stopped, handing each
 * object that changed to `onChange`. The API server closes a watch whose
 * reader falls behind a burst (a rollout changes 10,700 namespaces in a
 * minute), and a scenario waiting on a closed watch waited until its timeout.
 * When the version it resumes from is gone (410), it lists instead: each
 * object listed counts as changed then.
 */
export function resumingWatch<T extends KubeObject>(
  client: KubeClient, type: ResourceType, options: { resourceVersion: string; labelSelector?: string }, onChange: (object: T) => void,
): () => void {
  let stopped = false;
  let stopCurrent = (): void => undefined;
  let resourceVersion = options.resourceVersion;
  const start = (): void => {
    if (stopped) return;
    let expired = false;
    stopCurrent = client.watch<T>(type, { resourceVersion, labelSelector: options.labelSelector, timeoutSeconds: 300, inactivityMs: 600_000 }, (event) => {
      if (event.type === 'ERROR') {
        expired ||= (event.object as unknown as { code?: number }).code === 410;
        return;
      }
      resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
      if (event.type !== 'BOOKMARK') onChange(event.object);
    }, (error) => {
      if (stopped) return;
      if (expired || (error instanceof KubeApiError && error.status === 410)) {
        client.list<T>(type, { labelSelector: options.labelSelector }).then((list) => {
          for (const item of list.items) onChange(item);
          resourceVersion = list.resourceVersion;
          start();
        }, () => setTimeout(start, 1_000));
        return;
      }
      setTimeout(start, error ? 1_000 : 0);
    });
  };
  start();
  return () => {
    stopped = true;
    stopCurrent();
  };
}
