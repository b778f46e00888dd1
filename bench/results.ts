// Where every benchmark writes its figures: one JSON file under bench/results/,
// named by the time of the run and what it measured (`<time>-<name>.json`).
// bench/plot.ts and docs/performance.md read them from there.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { root } from './operator.ts';

/** Writes `result` as `bench/results/<ISO time>-<name>.json` and says where. */
export async function writeResult(name: string, result: unknown): Promise<void> {
  const dir = path.join(root, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${name}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
}
