// Starts a real Kubernetes control plane on loopback: etcd, kube-apiserver (secure
// port only, RBAC, its default admission plugins) and kube-controller-manager.
// Used by the tests (one per jest run) and by people (`make cluster-up`).
//
// Everything lives in one temporary directory. A detached reaper process watches
// the process that started the control plane: if that process dies without
// calling stop() (Ctrl-C on jest, SIGKILL), the reaper stops the components and
// removes the directory, so an interrupted run leaves nothing behind.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, open, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request as requestHttp } from 'node:http';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = path.dirname(new URL(import.meta.url).pathname);

export interface ClientIdentity {
  /** The user name the API server sees (the certificate's CN). */
  readonly user: string;
  readonly groups: readonly string[];
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ControlPlane {
  readonly dir: string;
  readonly binDir: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly caPem: string;
  /** system:masters, for setup and assertions. */
  readonly admin: ClientIdentity;
  /** A kubeconfig file for the admin identity. */
  readonly kubeconfigPath: string;
  readonly versions: { readonly kubernetes: string; readonly etcd: string };
  /** Mints a client certificate for any user and groups (signed by the cluster CA). */
  mintIdentity(user: string, groups?: readonly string[]): Promise<ClientIdentity>;
  /** Renders a self-contained kubeconfig for an identity. */
  kubeconfigFor(identity: ClientIdentity): string;
  /** etcd's client URL (http://127.0.0.1:PORT): the fault tests compact through its API. */
  readonly etcdUrl: string;
  /**
   * Stops one component (SIGTERM, or SIGKILL with `kill`) and starts it again
   * with the same flags, ports and data; resolves once it is ready again.
   * For the fault tests: the others keep running throughout.
   */
  restart(component: Component, options?: { readonly kill?: boolean }): Promise<void>;
  /** The CPU time (user + system) a component's current process has used, from /proc: what the benchmark divides per namespace. */
  cpuSeconds(component: Component): Promise<number>;
  stop(): Promise<void>;
}

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager';

export interface StartOptions {
  /** Directory holding the four binaries; default: build (or reuse) them with build.sh. */
  readonly binDir?: string;
  /** Where component logs are echoed on failure. */
  readonly log?: (line: string) => void;
  /** The process whose death makes the reaper clean up; default: this process. */
  readonly ownerPid?: number;
  /**
   * Extra kube-apiserver flags, after the defaults (a later flag wins), such
   * as `--watch-cache=false` so that watches read etcd and meet its compaction.
   */
  readonly apiServerArgs?: readonly string[];
  /** Extra kube-controller-manager flags, after the defaults, such as its client's request rate. */
  readonly controllerManagerArgs?: readonly string[];
}

/**
 * Leaves what people use next to a running control plane in `devDir`: the
 * admin kubeconfig at `kubeconfig` and the binaries (kubectl among them)
 * linked under `bin/`. Returns both paths.
 */
export async function exposeInDevDir(controlPlane: ControlPlane, devDir: string): Promise<{ kubeconfig: string; kubectl: string }> {
  await mkdir(path.join(devDir, 'bin'), { recursive: true });
  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kubectl', 'etcd']) {
    const link = path.join(devDir, 'bin', name);
    await rm(link, { force: true });
    await symlink(path.join(controlPlane.binDir, name), link);
  }
  const kubeconfig = path.join(devDir, 'kubeconfig');
  await writeFile(kubeconfig, controlPlane.kubeconfigFor(controlPlane.admin), { mode: 0o600 });
  return { kubeconfig, kubectl: path.join(devDir, 'bin', 'kubectl') };
}

/** Builds the binaries when missing and returns the directory holding them. */
export async function ensureBinaries(): Promise<string> {
  if (process.env.SBO_KUBE_BIN_DIR) return process.env.SBO_KUBE_BIN_DIR;
  const { stdout } = await run(path.join(here, 'build.sh'), [], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim().split('\n').at(-1) ?? '';
}

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const binDir = options.binDir ?? (await ensureBinaries());
  const dir = await mkdtemp(path.join(tmpdir(), 'sbo-controlplane-'));
  const pidFile = path.join(dir, 'pids');
  await writeFile(pidFile, '');
  const reaper = startReaper(options.ownerPid ?? process.pid, dir, pidFile);
  const children: { name: string; child: ChildProcess }[] = [];
  const launched = new Map<Component, { args: string[]; ready: () => Promise<boolean> }>();

  const launch = async (name: Component, args: string[]): Promise<ChildProcess> => {
    // Its readiness check is set once it is known (below); a restart keeps both.
    if (!launched.has(name)) launched.set(name, { args, ready: async () => false });
    const out = await open(path.join(dir, `${name}.log`), 'a');
    const child = spawn(path.join(binDir, name), args, {
      detached: true, // its own process group: Ctrl-C on the owner reaches the reaper's cleanup, not a half-stop
      stdio: ['ignore', out.fd, out.fd],
    });
    await out.close();
    if (child.pid === undefined) throw new Error(`could not start ${name}`);
    await appendFile(pidFile, `${child.pid}\n`);
    children.push({ name, child });
    return child;
  };

  const restart = async (name: Component, { kill = false } = {}): Promise<void> => {
    const component = launched.get(name);
    const index = children.findIndex((entry) => entry.name === name);
    if (!component || index < 0) throw new Error(`${name} was never started`);
    await terminate(children[index]!.child, kill ? 'SIGKILL' : 'SIGTERM');
    await launch(name, component.args);
    // In the old one's place, so that stop() still goes in reverse start order.
    children.splice(index, 1, children.pop()!);
    await waitFor(name, component.ready, dir, log);
  };

  const stop = async (): Promise<void> => {
    // Reverse start order: the controller manager, the API server, then etcd.
    for (const { child } of [...children].reverse()) await terminate(child);
    reaper.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const [etcdClientPort, etcdPeerPort, apiPort] = await freePorts(3);
    const pki = await makePki(dir);
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    await launch('etcd', [
      '--name=default',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      // A throwaway store: durability buys nothing here and fsync dominates on shared disks.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    const etcdReady = async () => (await httpGet(`${etcdUrl}/health`)).status === 200;
    launched.get('etcd')!.ready = etcdReady;
    await waitFor('etcd', etcdReady, dir, log);

    const server = `https://127.0.0.1:${apiPort}`;
    // Every write, with who made it: tests count the operator's writes from here,
    // independently of anything the operator says about itself.
    await writeFile(path.join(dir, 'audit-policy.yaml'), [
      'apiVersion: audit.k8s.io/v1',
      'kind: Policy',
      'omitStages: [RequestReceived]',
      'rules:',
      '- level: Metadata',
      '  verbs: [create, update, patch, delete, deletecollection]',
      '- level: None',
      '',
    ].join('\n'));
    await launch('kube-apiserver', [
      `--audit-policy-file=${path.join(dir, 'audit-policy.yaml')}`,
      `--audit-log-path=${path.join(dir, 'audit.log')}`,
      '--audit-log-format=json',
      '--audit-log-mode=blocking',
      // One file, never rotated (the default rotates at 100 MB): tests and the benchmark count
      // writes from an offset into it, and a rotation under them would read as no writes at all.
      '--audit-log-maxsize=0',
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=RBAC',
      '--anonymous-auth=false',
      '--allow-privileged=true',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      // Nothing answers on 10.0.0.1: do not keep an Endpoints object for a network that does not exist.
      '--endpoint-reconciler-type=none',
      '--v=0',
      ...options.apiServerArgs ?? [],
    ]);
    const admin = await mintClientCertificate(dir, pki, 'sbo-admin', ['system:masters']);
    const caPem = await readFile(pki.caCert, 'utf8');
    const kubeconfigPath = path.join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfigPath, renderKubeconfig(server, caPem, admin), { mode: 0o600 });
    const apiServerReady = async () => (await httpGet(`${server}/readyz`, { ca: caPem, cert: admin.certPem, key: admin.keyPem })).status === 200;
    launched.get('kube-apiserver')!.ready = apiServerReady;
    await waitFor('kube-apiserver', apiServerReady, dir, log);

    await launch('kube-controller-manager', [
      `--kubeconfig=${kubeconfigPath}`,
      // clusterrole-aggregation fills the aggregated ClusterRoles (view, edit, admin) with their rules.
      '--controllers=namespace-controller,garbage-collector-controller,resourcequota-controller,'
        + 'serviceaccount-controller,serviceaccount-token-controller,clusterrole-aggregation-controller',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--concurrent-namespace-syncs=10',
      '--v=0',
      ...options.controllerManagerArgs ?? [],
    ]);
    // The serviceaccount controller creating `default` in `default` proves the controller manager works.
    await waitFor('kube-controller-manager', async () => {
      const res = await httpGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, {
        ca: caPem, cert: admin.certPem, key: admin.keyPem,
      });
      return res.status === 200;
    }, dir, log);
    // On a restart that proof is already there: a running process is all it can show (it has no health port).
    launched.get('kube-controller-manager')!.ready = async () => children.some(({ name, child }) =>
      name === 'kube-controller-manager' && child.exitCode === null && child.signalCode === null);

    const versions = {
      kubernetes: JSON.parse((await httpGet(`${server}/version`, { ca: caPem, cert: admin.certPem, key: admin.keyPem })).body).gitVersion as string,
      etcd: JSON.parse((await httpGet(`${etcdUrl}/version`)).body).etcdserver as string,
    };

    return {
      dir, binDir, server, caPem, admin, kubeconfigPath, versions,
      mintIdentity: (user, groups = []) => mintIdentityIn(dir, user, groups),
      kubeconfigFor: (identity) => renderKubeconfig(server, caPem, identity),
      etcdUrl, restart,
      cpuSeconds: async (component) => {
        const pid = children.find((entry) => entry.name === component)?.child.pid;
        return pid === undefined ? 0 : processCpuSeconds(pid);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * User + system CPU seconds of a process, from /proc/<pid>/stat (fields 14 and
 * 15, in clock ticks; the command name in field 2 may hold spaces, so count from
 * its closing parenthesis). Linux's USER_HZ is 100 on every architecture.
 */
export async function processCpuSeconds(pid: number | 'self', { children = false } = {}): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // With `children`: cutime and cstime (fields 16 and 17), the CPU of the children the process has waited for.
  const [user, system] = children ? [fields[13], fields[14]] : [fields[11], fields[12]];
  return (Number(user) + Number(system)) / 100;
}

/** Stops one component: SIGTERM (or the signal given), then SIGKILL after a grace period. */
async function terminate(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  // The grace timer is cancelled once the process is gone: left running, it alone
  // would keep whoever stopped the control plane alive for ten more seconds.
  const grace = new AbortController();
  const graceful = await Promise.race([
    exited.then(() => true),
    sleep(10_000, false, { signal: grace.signal }).catch(() => true),
  ]);
  grace.abort();
  if (!graceful) {
    child.kill('SIGKILL');
    await exited;
  }
}

function startReaper(ownerPid: number, dir: string, pidFile: string): ChildProcess {
  const script = `
    while kill -0 "$0" 2>/dev/null; do sleep 1; done
    for pid in $(cat "$2"); do kill -TERM "$pid" 2>/dev/null; done
    sleep 5
    for pid in $(cat "$2"); do kill -KILL "$pid" 2>/dev/null; done
    rm -rf "$1"`;
  const reaper = spawn('sh', ['-c', script, String(ownerPid), dir, pidFile], { detached: true, stdio: 'ignore' });
  reaper.unref();
  return reaper;
}

async function waitFor(name: string, ready: () => Promise<boolean>, dir: string, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    try {
      if (await ready()) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const tail = (await readFile(path.join(dir, `${name}.log`), 'utf8').catch(() => '')).split('\n').slice(-30).join('\n');
  log(`--- last lines of ${name}.log ---\n${tail}`);
  throw new Error(`${name} did not become ready within 120s`);
}

/** A position in the control plane's audit log (in `dir`): its size now. */
export async function auditLogMark(dir: string): Promise<number> {
  return (await stat(path.join(dir, 'audit.log'))).size;
}

/**
 * The audit events the API server wrote after `mark`, as parsed JSON. Only
 * whole lines: the API server may be in the middle of one as the mark is
 * taken (its start is before the mark, so it is left out) and as the log is
 * read (it is not finished, so it is left out too). Lines without
 * `containing` are not parsed (a benchmark's log holds millions), and only
 * what follows the mark is read: the benchmark polls the log for minutes.
 */
export async function auditEventsSince(dir: string, mark: number, containing = ''): Promise<unknown[]> {
  const NEWLINE = 0x0a;
  const file = await open(path.join(dir, 'audit.log'));
  let log: Buffer;
  try {
    // From the byte before the mark: whether it ends a line says whether the mark starts one.
    const from = Math.max(mark - 1, 0);
    const { size } = await file.stat();
    if (size <= from) return [];
    log = Buffer.alloc(size - from);
    const { bytesRead } = await file.read(log, 0, log.length, from);
    log = log.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
  let start = 0;
  if (mark > 0) {
    const next = log[0] === NEWLINE ? 0 : log.indexOf(NEWLINE, 1);
    if (next < 0) return [];
    start = next + 1;
  }
  const end = log.lastIndexOf(NEWLINE) + 1;
  if (end <= start) return [];
  return log.subarray(start, end).toString('utf8').split('\n')
    .filter((line) => line.trim() && line.includes(containing))
    .map((line) => JSON.parse(line) as unknown);
}

/** Ports nobody listens on right now, on loopback. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  })));
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

interface TlsOptions { readonly ca?: string; readonly cert?: string; readonly key?: string }

export function httpGet(url: string, tls: TlsOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? request : requestHttp;
    const req = client(url, { method: 'GET', ...tls, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}


interface Pki {
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPublicKey: string;
}

async function makePki(dir: string): Promise<Pki> {
  const file = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'),
    '-days', '30', '-subj', '/CN=security-baseline-operator test CA']);
  await run('openssl', ['req', '-new', ...ec, '-keyout', file('serving.key'), '-out', file('serving.csr'), '-subj', '/CN=kube-apiserver']);
  await writeFile(file('serving.ext'), [
    'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
    'extendedKeyUsage=serverAuth',
    'keyUsage=digitalSignature,keyEncipherment',
  ].join('\n'));
  await run('openssl', ['x509', '-req', '-in', file('serving.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-days', '30', '-extfile', file('serving.ext'), '-out', file('serving.crt')]);
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', file('sa.key')]);
  await run('openssl', ['pkey', '-in', file('sa.key'), '-pubout', '-out', file('sa.pub')]);
  return {
    caCert: file('ca.crt'), caKey: file('ca.key'), servingCert: file('serving.crt'), servingKey: file('serving.key'),
    serviceAccountKey: file('sa.key'), serviceAccountPublicKey: file('sa.pub'),
  };
}

/**
 * Mints a client certificate signed by the CA of the control plane in `dir`.
 * Works from any process that can read the directory (jest workers included).
 */
export function mintIdentityIn(dir: string, user: string, groups: readonly string[] = []): Promise<ClientIdentity> {
  return mintClientCertificate(dir, { caCert: path.join(dir, 'ca.crt'), caKey: path.join(dir, 'ca.key') }, user, groups);
}

async function mintClientCertificate(
  dir: string, pki: Pick<Pki, 'caCert' | 'caKey'>, user: string, groups: readonly string[],
): Promise<ClientIdentity> {
  const base = path.join(dir, `client-${process.pid}-${randomUUID()}`);
  const escape = (value: string) => value.replace(/[/\\=+,]/g, (c) => `\\${c}`);
  const subject = `/CN=${escape(user)}${groups.map((group) => `/O=${escape(group)}`).join('')}`;
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', subject]);
  await writeFile(`${base}.ext`, 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n');
  await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', pki.caCert, '-CAkey', pki.caKey,
    '-set_serial', `0x${randomUUID().replaceAll('-', '')}`, '-days', '30', '-extfile', `${base}.ext`, '-out', `${base}.crt`]);
  return {
    user,
    groups,
    certPem: await readFile(`${base}.crt`, 'utf8'),
    keyPem: await readFile(`${base}.key`, 'utf8'),
  };
}

export function renderKubeconfig(server: string, caPem: string, identity: ClientIdentity): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caPem)}`,
    'users:',
    `- name: ${JSON.stringify(identity.user)}`,
    '  user:',
    `    client-certificate-data: ${b64(identity.certPem)}`,
    `    client-key-data: ${b64(identity.keyPem)}`,
    'contexts:',
    '- name: local',
    '  context:',
    '    cluster: local',
    `    user: ${JSON.stringify(identity.user)}`,
    'current-context: local',
    '',
  ].join('\n');
}
