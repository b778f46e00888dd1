import { describe, expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';

describe('toolchain', () => {
  test('tests run on the Node.js 24 the project installs, not the machine\'s node', async () => {
    expect(process.versions.node).toMatch(/^24\./);
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(process.versions.node).toBe(pkg.devDependencies.node);
  });

  test('ESM-only dependencies load under jest', async () => {
    const { default: PQueue } = await import('p-queue');
    const k8s = await import('@kubernetes/client-node');
    const queue = new PQueue({ concurrency: 1 });
    expect(await queue.add(() => 42)).toBe(42);
    expect(typeof k8s.KubeConfig).toBe('function');
  });
});
