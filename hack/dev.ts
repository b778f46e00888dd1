// `make dev`: from a fresh clone to a running operator in one command. Starts
// the local control plane, installs the CRD, applies the samples, creates a few
// tenant namespaces, and runs the operator in the foreground with readable
// logs. Ctrl-C stops everything and removes what it started.
import { execFile, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { applyCrds } from './apply-crds.ts';
import { exposeInDevDir, startControlPlane } from './kube/controlplane.ts';

const run = promisify(execFile);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const devDir = path.join(root, '.dev');
const started = Date.now();

const controlPlane = await startControlPlane();
const { kubeconfig, kubectl } = await exposeInDevDir(controlPlane, devDir);
const env = { ...process.env, KUBECONFIG: kubeconfig };
const k = (...args: string[]) => run(kubectl, args, { env });

const admin = new KubeConfig();
admin.loadFromFile(kubeconfig);
await applyCrds(admin, 'security-baseline-operator-install');
await k('create', 'namespace', 'security-baseline-system'); // where the operator keeps its revisions
for (const [name, labels] of [['team-a', ['tenant=true']], ['team-b', ['tenant=true']], ['fronto', []], ['sandbox', []]] as const) {
  await k('create', 'namespace', name);
  if (labels.length > 0) await k('label', 'namespace', name, ...labels);
}
await k('apply', '--server-side', '-k', path.join(root, 'config/samples'));

const operator = spawn(process.execPath, [path.join(root, 'src/main.ts')], {
  env: {
    ...env, LOG_FORMAT: 'pretty', OPERATOR_NAMESPACE: 'security-baseline-system',
    METRICS_SECURE: 'false', METRICS_BIND_ADDRESS: '127.0.0.1:8080', HEALTH_PROBE_BIND_ADDRESS: '127.0.0.1:8081',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});

const kc = `KUBECONFIG=${path.relative(process.cwd(), kubeconfig) || kubeconfig} ${path.relative(process.cwd(), kubectl)}`;
console.log(`
security-baseline-operator is running against a local Kubernetes ${controlPlane.versions.kubernetes} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s).
Try, in another terminal:
  ${kc} get securitybaselines
  ${kc} get networkpolicy,resourcequota,limitrange,rolebinding,role -n team-a
  ${kc} describe namespace team-a
  ${kc} create namespace team-c && ${kc} label namespace team-c tenant=true
  ${kc} patch resourcequota tenants-quota -n team-a --type merge -p '{"spec":{"hard":{"pods":"100"}}}'
  ${kc} get events -n default --field-selector reason=DriftCorrected
  curl -s localhost:8080/metrics | grep ^security_baseline
Ctrl-C stops the operator and the control plane.
`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (operator.exitCode === null) {
    operator.kill('SIGTERM');
    await new Promise((resolve) => operator.once('exit', resolve));
  }
  await controlPlane.stop();
  await rm(kubeconfig, { force: true });
  console.log('stopped; nothing left running');
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
operator.once('exit', (code) => {
  if (!stopping) {
    console.error(`the operator exited with ${code}`);
    void stop();
  }
});
