// What builds the image, read as text: a non-root runtime that gets only what
// it needs. test/e2e/container-image.test.ts builds and runs the image itself.
import { describe, expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';

const root = new URL('../../', import.meta.url);
const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8');
const [preamble = '', ...rest] = dockerfile.split(/^FROM /m);
const stages = rest.map((stage) => `FROM ${stage}`);
const runtime = stages.at(-1) ?? '';
const instructions = (stage: string, name: string) => stage.split('\n').filter((line) => line.startsWith(`${name} `));
/** The defaults of the ARGs declared before the first FROM (the base images). */
const baseDefaults = Object.fromEntries(instructions(preamble, 'ARG').map((line) => line.slice(4).split('=') as [string, string]));

describe('Dockerfile', () => {
  test('builds in one stage and runs from a minimal Node.js 24 image in another, both given as build arguments', () => {
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatch(/^FROM \$\{BUILD_IMAGE\} AS build\n/);
    expect(runtime).toMatch(/^FROM \$\{RUNTIME_IMAGE\} AS runtime\n/);
    // The published defaults: Debian bookworm with Node.js 24 to build, distroless Debian 12 with Node.js 24 to run.
    expect(baseDefaults).toEqual({
      BUILD_IMAGE: 'node:24-bookworm-slim',
      RUNTIME_IMAGE: 'gcr.io/distroless/nodejs24-debian12:nonroot',
    });
    expect(runtime).toContain('org.opencontainers.image.base.name="${RUNTIME_IMAGE}"');
  });

  test('the runtime stage runs as a numeric non-root user', () => {
    const users = instructions(runtime, 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = (users[0] ?? '').slice(5).split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
  });

  test('the runtime stage copies only the build output, production dependencies and package.json', () => {
    const copies = instructions(runtime, 'COPY').map((line) => line.replace(/\s+/g, ' '));
    expect(copies).toEqual([
      'COPY --from=build /src/package.json ./package.json',
      'COPY --from=build /src/node_modules ./node_modules',
      'COPY --from=build /src/dist ./dist',
    ]);
    expect(stages[0]).toContain('npm prune --omit=dev');
    expect(stages[0]).toMatch(/find node_modules .*-name test .*-exec rm -rf/);
    expect(instructions(runtime, 'RUN')).toEqual([]); // nothing runs in the runtime image: no shell needed
  });

  test('starts the compiled operator, has OCI labels, and the build context excludes everything else', async () => {
    expect(runtime).toContain('ENTRYPOINT ["/nodejs/bin/node", "dist/main.js"]');
    expect(runtime).toContain('org.opencontainers.image.title="security-baseline-operator"');
    const ignore = (await readFile(new URL('.dockerignore', root), 'utf8')).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    expect(ignore).toContain('!src/');
    expect(ignore).not.toContain('!test/');
  });

  test('the manifests run it the way the image expects: non-root, read-only root filesystem, no capabilities', async () => {
    const manager = await readFile(new URL('config/manager/manager.yaml', root), 'utf8');
    expect(manager).toContain('runAsNonRoot: true');
    expect(manager).toContain('runAsUser: 65532');
    expect(manager).toContain('readOnlyRootFilesystem: true');
    expect(manager).toContain('drop: [ALL]');
    expect(manager).toContain('type: RuntimeDefault');
  });
});
