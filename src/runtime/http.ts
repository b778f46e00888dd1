// The operator's HTTP endpoints: /metrics for Prometheus, /healthz (the
// process is alive) and /readyz (the caches have synced).
import { createServer, type Server } from 'node:http';
import type { OperatorMetrics } from './metrics.ts';

export interface HealthChecks {
  ready(): boolean;
}

export function startHttpServer(port: number, host: string, metrics: OperatorMetrics, health: HealthChecks): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = health.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok\n' : 'caches not synced\n');
    } else if (path === '/metrics') {
      metrics.scrape().then(({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType }).end(body);
      }, (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`);
      });
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
