// No circular import anywhere under src/: modules import each other in one
// direction, so each can be read (and loaded) before the ones that use it.
import { expect, test } from '@jest/globals';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const srcDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src');

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = await Promise.all(entries.map((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return Promise.resolve(entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : []);
  }));
  return files.flat();
}

/** The relative modules a file imports or re-exports (type-only imports count: they are a dependency too). */
function importsOf(file: string, text: string): string[] {
  const specifiers = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)].map((match) => match[1] as string);
  return specifiers.map((specifier) => path.resolve(path.dirname(file), specifier));
}

test('no module under src/ imports itself through others', async () => {
  const files = await sourceFiles(srcDir);
  const graph = new Map<string, string[]>();
  for (const file of files) graph.set(file, importsOf(file, await readFile(file, 'utf8')).filter((target) => files.includes(target)));

  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(srcDir, f)).join(' -> '));
      return;
    }
    state.set(file, 'visiting');
    for (const target of graph.get(file) ?? []) visit(target, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);

  expect(graph.size).toBeGreaterThan(30);
  expect([...graph.values()].flat().length).toBeGreaterThan(50); // the graph was read, not empty
  expect(cycles).toEqual([]);
});
