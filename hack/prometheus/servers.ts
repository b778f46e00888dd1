// Starts a real Prometheus and a real Alertmanager (Debian's packages, see
// ensure-servers.sh) on loopback ports, each in a directory of its own, and
// stops them. For the test that sends the operator's alerts through both.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { dumpYaml } from '@kubernetes/client-node';
import { freePorts } from '../kube/controlplane.ts';

const run = promisify(execFile);

export interface Server {
  readonly url: string;
  readonly logFile: string;
  /** SIGTERM, SIGKILL after 10 s; resolves when the process is gone. */
  stop(): Promise<void>;
}

export interface ServerBinaries {
  readonly prometheus: string;
  readonly alertmanager: string;
}

/** The binaries ensure-servers.sh finds or installs. */
export async function ensureServers(): Promise<ServerBinaries> {
  const { stdout } = await run(path.resolve(import.meta.dirname, 'ensure-servers.sh'), { maxBuffer: 1024 * 1024 });
  const [prometheus, alertmanager] = stdout.trim().split('\n');
  if (!prometheus || !alertmanager) throw new Error(`ensure-servers.sh printed no binaries: ${stdout}`);
  return { prometheus, alertmanager };
}

interface LaunchOptions {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly dir: string;
  readonly port: number;
  /** Also lists the pid here: a file whose processes a reaper kills if the test process dies (the control plane's). */
  readonly pidFile?: string;
}

async function launch({ name, binary, args, dir, port, pidFile }: LaunchOptions): Promise<Server> {
  const logFile = path.join(dir, `${name}.log`);
  const out = await open(logFile, 'a');
  const child: ChildProcess = spawn(binary, [...args], { stdio: ['ignore', out.fd, out.fd] });
  await out.close();
  if (child.pid === undefined) throw new Error(`could not start ${binary}`);
  if (pidFile) await appendFile(pidFile, `${child.pid}\n`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]))) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}; see ${logFile}`);
    if (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} not ready within 30 s; see ${logFile}`);
    }
    await sleep(100);
  }
  return { url, logFile, stop };
}

/** Alertmanager on loopback, with no cluster listener, routing everything to one webhook. */
export async function startAlertmanager(binary: string, dir: string, options: { webhookUrl: string; pidFile?: string }): Promise<Server> {
  await mkdir(dir, { recursive: true });
  const [port] = await freePorts(1) as [number];
  const config = path.join(dir, 'alertmanager.yml');
  await writeFile(config, dumpYaml({
    route: { receiver: 'webhook', group_by: ['alertname', 'baseline'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
    receivers: [{ name: 'webhook', webhook_configs: [{ url: options.webhookUrl, send_resolved: true }] }],
  }));
  return launch({
    name: 'alertmanager', binary, dir, port, pidFile: options.pidFile,
    args: [
      `--config.file=${config}`, `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no gossip listener (it would listen on every interface, port 9094).
      '--cluster.listen-address=',
    ],
  });
}

export interface PrometheusOptions {
  readonly scrapeConfigs: readonly Record<string, unknown>[];
  /** A Prometheus rule file's content (`groups:`). */
  readonly ruleGroups: readonly unknown[];
  readonly alertmanagerUrl: string;
  readonly evaluationInterval: string;
  readonly pidFile?: string;
}

export async function startPrometheus(binary: string, dir: string, options: PrometheusOptions): Promise<Server> {
  await mkdir(dir, { recursive: true });
  const [port] = await freePorts(1) as [number];
  await writeFile(path.join(dir, 'rules.yml'), dumpYaml({ groups: options.ruleGroups }, { lineWidth: -1 }));
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(config, dumpYaml({
    global: { evaluation_interval: options.evaluationInterval },
    rule_files: ['rules.yml'],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [new URL(options.alertmanagerUrl).host] }] }] },
    scrape_configs: options.scrapeConfigs,
  }, { lineWidth: -1 }));
  return launch({
    name: 'prometheus', binary, dir, port, pidFile: options.pidFile,
    args: [
      `--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
  });
}

export interface Sample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

/** An instant query; the samples of its vector. */
export async function query(prometheusUrl: string, expr: string): Promise<Sample[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = await response.json() as { status: string; error?: string; data?: { resultType: string; result: Sample[] } };
  if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`query ${expr}: ${body.error ?? body.data?.resultType}`);
  return body.data.result;
}
