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

test('the client loads neither undici\'s root nor fetch, and its requests go through, a proxy-url included', async () => {
  // An API server and a forwarding proxy (CONNECT tunnels and absolute-form requests) in the probe's own process.
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = [];
    registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
    const http = await import('node:http');
    const net = await import('node:net');
    const { writeFile } = await import('node:fs/promises');
    const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
    const api = http.createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ gitVersion: 'v-probe', path: req.url })); });
    let proxied = 0;
    const proxy = http.createServer((req, res) => {
      proxied++;
      const target = new URL(req.url);
      req.pipe(http.request({ host: target.hostname, port: target.port, path: target.pathname, method: req.method, headers: req.headers }, (answer) => { res.writeHead(answer.statusCode, answer.headers); answer.pipe(res); }));
    });
    proxy.on('connect', (req, socket) => {
      proxied++;
      const [host, port] = req.url.split(':');
      const upstream = net.connect(Number(port), host, () => { socket.write('HTTP/1.1 200 Connection Established\\r\\n\\r\\n'); upstream.pipe(socket); socket.pipe(upstream); });
    });
    const [apiPort, proxyPort] = [await listen(api), await listen(proxy)];
    await writeFile(process.env.KUBECONFIG, [
      'apiVersion: v1', 'kind: Config', 'current-context: x',
      'clusters: [{name: c, cluster: {server: "http://127.0.0.1:' + apiPort + '", insecure-skip-tls-verify: true, proxy-url: "http://127.0.0.1:' + proxyPort + '"}}]',
      'users: [{name: u, user: {token: secret}}]', 'contexts: [{name: x, context: {cluster: c, user: u}}]',
    ].join('\\n'));
    const config = await (await import('./src/runtime/kubeconfig.ts')).loadDefaultKubeConfig();
    const { KubeClient } = await import('./src/runtime/kube.ts');
    const answer = await new KubeClient(config).request('get', 'GET', '/version');
    const count = (part) => loaded.filter((url) => url.includes(part)).length;
    console.log(JSON.stringify({ answer, proxied, undiciRoot: count('/undici/index.js'), fetch: count('/undici/lib/web/fetch/') }));
    process.exit(0);
  `;
  const dir = await mkdtemp(path.join(tmpdir(), 'kubeconfig-'));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root, env: { ...process.env, KUBECONFIG: path.join(dir, 'config') },
    });
    expect(JSON.parse(stdout)).toEqual({ answer: { gitVersion: 'v-probe', path: '/version' }, proxied: 1, undiciRoot: 0, fetch: 0 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
