// Loads client-node's KubeConfig, and the RequestContext it authenticates,
// without the rest of client-node.
//
// KubeConfig (dist/config.js) imports the package's generated index for two
// names, createConfiguration and ServerConfiguration, which only its
// makeApiClient uses; that index loads every model and API class of
// Kubernetes. The operator speaks raw JSON (kube.ts) and never makes an API
// client, yet the index cost it about 30 MiB of RSS and 15 MiB of heap (see
// docs/performance.md). config.js also imports the root of undici for Agent
// and ProxyAgent, and the generated HTTP layer imports it for fetch: the root
// loads fetch, WebSocket and the HTTP cache besides, about 13 MiB of RSS more.
//
// Resolve hooks (node:module registerHooks) hand these importers modules that
// export just the names they use: the index's two names from their own files,
// Agent and ProxyAgent from dispatcher.ts, and a fetch-based HTTP library that
// refuses to send (only generated API clients send through it). KubeConfig
// (kubeconfig files, in-cluster ServiceAccounts, exec and OIDC credentials,
// TLS, proxies) works as shipped. The hooks act on modules loaded after they
// are registered, so kube.ts imports nothing of client-node's statically.
// Should a later client-node import more through any of them, loading fails
// at once with the missing name, not later.
import { registerHooks } from 'node:module';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';

const CONFIG_MODULE = '/@kubernetes/client-node/dist/config.js';

/** A module made of `source`, as a URL a resolve hook can hand over. */
function moduleUrl(source: string): string {
  return `data:text/javascript,${encodeURIComponent(source)}`;
}

/** The module that stands in for the generated index when config.js imports it. */
function slimIndexUrl(): string {
  const from = (file: string) => import.meta.resolve(`@kubernetes/client-node/dist/gen/${file}`);
  return moduleUrl(`export { createConfiguration } from ${JSON.stringify(from('configuration.js'))};\n`
    + `export { ServerConfiguration } from ${JSON.stringify(from('servers.js'))};\n`);
}

/** dispatcher.ts, or dispatcher.js when built: this module's own extension. */
function slimUndiciUrl(): string {
  return new URL(`./dispatcher${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url).href;
}

/** What stands in for the generated fetch library (dist/gen/http/isomorphic-fetch.js). */
const NO_FETCH_LIBRARY = moduleUrl('export class IsomorphicFetchHttpLibrary {\n'
  + '  send() { throw new Error("generated API clients are not loaded in this process: use KubeClient"); }\n'
  + '}\n');

const FETCH_LIBRARY = '/@kubernetes/client-node/dist/gen/http/isomorphic-fetch.js';

let hooked = false;

function loadOnlyWhatKubeConfigUses(): void {
  if (hooked) return;
  hooked = true;
  const slimIndex = slimIndexUrl();
  const slimUndici = slimUndiciUrl();
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (context.parentURL?.endsWith(CONFIG_MODULE)) {
        if (specifier === './gen/index.js') return { url: slimIndex, shortCircuit: true };
        if (specifier === 'undici') return { url: slimUndici, shortCircuit: true };
      }
      const resolved = nextResolve(specifier, context);
      return resolved.url.endsWith(FETCH_LIBRARY) ? { url: NO_FETCH_LIBRARY, shortCircuit: true } : resolved;
    },
  });
}

/**
 * client-node's RequestContext, through which KubeConfig adds a request's
 * credentials and TLS. Loaded after loadDefaultKubeConfig has put the hooks in
 * place, it comes without fetch; loaded without them (tests, which make their
 * KubeConfig from client-node's root, and where Jest refuses hooks), with it.
 */
export async function requestContextClass(): Promise<typeof RequestContext> {
  return (await import('@kubernetes/client-node/dist/gen/http/http.js')).RequestContext;
}

/** A KubeConfig loaded as `kubectl` would: $KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount. */
export async function loadDefaultKubeConfig(): Promise<KubeConfig> {
  loadOnlyWhatKubeConfigUses();
  const { KubeConfig: KubeConfigClass } = await import('@kubernetes/client-node/dist/config.js');
  const config = new KubeConfigClass();
  config.loadFromDefault();
  return config;
}
