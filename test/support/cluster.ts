// What a test of the `cluster` project needs from the shared control plane:
// an admin client, unique namespaces that clean up after themselves, and
// clients acting as other identities (see identities.ts).
import { randomBytes } from 'node:crypto';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll } from '@jest/globals';

export interface TestControlPlane {
  readonly dir: string;
  readonly binDir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly versions: { readonly kubernetes: string; readonly etcd: string };
}

export function testControlPlane(): TestControlPlane {
  const raw = process.env.SBO_TEST_CONTROLPLANE;
  if (!raw) throw new Error('no test control plane: run this test through jest\'s `cluster` project (make test)');
  return JSON.parse(raw) as TestControlPlane;
}

export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testControlPlane().kubeconfigPath);
  return kc;
}

/** A DNS-1123 name unique to this run: `<prefix>-<random>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Creates a namespace with a unique name (and the given labels); it is deleted
 * after the test file. Returns its name.
 */
export async function createTestNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name, labels } } });
  namespacesToDelete.push(name);
  return name;
}

// Registered when a test file imports this module, so it runs after that file's tests.
const namespacesToDelete: string[] = [];
afterAll(async () => {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await Promise.all(namespacesToDelete.splice(0).map((name) => core.deleteNamespace({ name }).catch(ignoreNotFound)));
});

/** Waits until the serviceaccount controller has created `default` (the ServiceAccount admission plugin needs it for pods). */
export async function waitForDefaultServiceAccount(namespace: string): Promise<void> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await eventually(() => core.readNamespacedServiceAccount({ namespace, name: 'default' }), { timeoutMs: 30_000 });
}

export function ignoreNotFound(error: unknown): void {
  if (error instanceof ApiException && error.code === 404) return;
  throw error;
}

/** The HTTP status of a failed client-node call, or undefined when it was not an API error. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/** The `message` of the Kubernetes Status in a failed call's body. */
export function messageOf(error: unknown): string {
  if (!(error instanceof ApiException)) return String(error);
  const body: unknown = typeof error.body === 'string' ? safeJson(error.body) : error.body;
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
  return String(error.body);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Retries `probe` until it resolves (or returns a value other than false)
 * within the timeout; rethrows the last failure otherwise.
 */
export async function eventually<T>(
  probe: () => Promise<T | false> | T | false,
  { timeoutMs = 15_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = new Error('condition never held');
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== false) return value as T;
      lastError = new Error('condition returned false');
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw lastError;
}
