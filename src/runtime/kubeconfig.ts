// Loads client-node's KubeConfig without the rest of client-node.
//
// KubeConfig (dist/config.js) imports the package's generated index for two
// names, createConfiguration and ServerConfiguration, which only its
// makeApiClient uses; that index loads every model and API class of
// Kubernetes. The operator speaks raw JSON (kube.ts) and never makes an API
// client, yet the index cost it about 30 MiB of RSS and 15 MiB of heap (see
// docs/performance.md). A resolve hook (node:module registerHooks) hands
// config.js a module that exports just those two names from their own files,
// so KubeConfig (kubeconfig files, in-cluster ServiceAccounts, exec and OIDC
// credentials, TLS) works as shipped. Should a later client-node import more
// through that index, loading fails at once with the missing name, not later.
import { registerHooks } from 'node:module';
import type { KubeConfig } from '@kubernetes/client-node';

const CONFIG_MODULE = '/@kubernetes/client-node/dist/config.js';

/** The module that stands in for the generated index when config.js imports it. */
function slimIndexUrl(): string {
  const from = (file: string) => import.meta.resolve(`@kubernetes/client-node/dist/gen/${file}`);
  const source = `export { createConfiguration } from ${JSON.stringify(from('configuration.js'))};\n`
    + `export { ServerConfiguration } from ${JSON.stringify(from('servers.js'))};\n`;
  return `data:text/javascript,${encodeURIComponent(source)}`;
}

let hooked = false;

function loadOnlyWhatKubeConfigUses(): void {
  if (hooked) return;
  hooked = true;
  const slimIndex = slimIndexUrl();
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === './gen/index.js' && context.parentURL?.endsWith(CONFIG_MODULE)) return { url: slimIndex, shortCircuit: true };
      return nextResolve(specifier, context);
    },
  });
}

/** A KubeConfig loaded as `kubectl` would: $KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount. */
export async function loadDefaultKubeConfig(): Promise<KubeConfig> {
  loadOnlyWhatKubeConfigUses();
  const { KubeConfig: KubeConfigClass } = await import('@kubernetes/client-node/dist/config.js');
  const config = new KubeConfigClass();
  config.loadFromDefault();
  return config;
}
