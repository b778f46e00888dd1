// The operator's two HTTP endpoints, as kubebuilder lays them out:
//  - metrics: HTTPS (a mounted certificate, or a self-signed one made at
//    start), every request authenticated with a TokenReview and authorised
//    with a SubjectAccessReview for `get` on /metrics. Set `secure: false`
//    only for local runs;
//  - health: plain HTTP on its own port, /healthz (alive) and /readyz (caches
//    synced), for the kubelet's probes, which carry no token.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { OPERATOR_NAME } from '../api/constants.ts';
import type { RequestAuthorizer } from './authz.ts';
import type { OperatorMetrics } from './metrics.ts';
import { selfSignedCertificate } from './selfsigned.ts';

export interface HealthChecks {
  ready(): boolean;
}

export interface MetricsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  /** Serve HTTPS with TokenReview/SubjectAccessReview; false serves plain, open HTTP. */
  readonly secure: boolean;
  readonly authorizer?: RequestAuthorizer;
  /** PEM files of a mounted certificate (e.g. from cert-manager); default: self-signed. */
  readonly certFile?: string;
  readonly keyFile?: string;
}

function listen(server: Server, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function startHealthServer(host: string, port: number, health: HealthChecks): Promise<Server> {
  const server = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = health.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok\n' : 'caches not synced\n');
    } else {
      res.writeHead(404).end();
    }
  });
  return listen(server, port, host);
}

export function startMetricsServer(options: MetricsServerOptions): Promise<Server> {
  const { metrics, logger, authorizer } = options;
  if (options.secure && !authorizer) throw new Error('a secure metrics server needs an authorizer');
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (options.secure && authorizer) {
      const decision = await authorizer.authorize(req.headers.authorization, path);
      if (decision.status !== 200) {
        logger.debug({ status: decision.status, reason: decision.reason }, 'metrics request refused');
        res.writeHead(decision.status, { 'content-type': 'text/plain' }).end(decision.status === 401 ? 'Unauthorized\n' : 'Forbidden\n');
        return;
      }
    }
    const { contentType, body } = await metrics.scrape();
    res.writeHead(200, { 'content-type': contentType }).end(body);
  };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'metrics request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
    });
  };
  if (!options.secure) return listen(createHttpServer(listener), options.port, options.host);
  const tls = options.certFile && options.keyFile
    ? { certPem: readFileSync(options.certFile, 'utf8'), keyPem: readFileSync(options.keyFile, 'utf8') }
    : selfSignedCertificate(OPERATOR_NAME, ['localhost', '127.0.0.1', hostname()]);
  return listen(createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, listener), options.port, options.host);
}
