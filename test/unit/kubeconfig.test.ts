// The operator loads client-node's KubeConfig without the package's generated
// API surface (src/runtime/kubeconfig.ts). Checked in a fresh Node.js process,
// as the operator starts: which client-node modules get loaded, and that the
// KubeConfig still reads a kubeconfig.
import { expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: secret}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`;

/** Runs `load` in a fresh node; returns the cluster's server and the generated modules that got loaded. */
async function probe(kubeconfig: string, load: string): Promise<{ server: string; models: number; apis: number }> {
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = [];
    registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
    const config = await (${load})();
    const count = (part) => loaded.filter((url) => url.includes('/@kubernetes/client-node/dist/gen/' + part + '/')).length;
    console.log(JSON.stringify({ server: config.getCurrentCluster().server, models: count('models'), apis: count('apis') }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root, env: { ...process.env, KUBECONFIG: kubeconfig },
  });
  return JSON.parse(stdout) as { server: string; models: number; apis: number };
}

test('KubeConfig loads without a single generated model or API class, and works', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kubeconfig-'));
  try {
    const file = path.join(dir, 'config');
    await writeFile(file, KUBECONFIG);
    const slim = await probe(file, `async () => (await import('./src/runtime/kubeconfig.ts')).loadDefaultKubeConfig()`);
    expect(slim).toEqual({ server: 'https://127.0.0.1:6443', models: 0, apis: 0 });
    // The package root, for contrast: the probe does see what it loads.
    const whole = await probe(file, `async () => { const { KubeConfig } = await import('@kubernetes/client-node'); const c = new KubeConfig(); c.loadFromDefault(); return c; }`);
    expect(whole.server).toBe('https://127.0.0.1:6443');
    expect(whole.models).toBeGreaterThan(500);
    expect(whole.apis).toBeGreaterThan(50);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
