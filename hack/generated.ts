// The command line of a script that writes a generated file: it writes the
// file, or with `--check` fails, naming the command to run, when the file in
// the repository is not what the script would write.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dumpYaml } from '@kubernetes/client-node';

const root = path.resolve(import.meta.dirname, '..');

/** Whether the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(new URL(url).pathname);
}

export async function writeOrCheck(output: string, rendered: string, script: string): Promise<void> {
  if (process.argv.includes('--check')) {
    if ((await readFile(output, 'utf8')) !== rendered) {
      console.error(`${path.relative(root, output)} is out of date: run node ${script}`);
      process.exit(1);
    }
  } else {
    await writeFile(output, rendered);
    console.log(`wrote ${path.relative(root, output)}`);
  }
}

/** A generated YAML file: the header's comment lines, then each object as a document of its own. */
export function yamlDocuments(header: readonly string[], objects: readonly unknown[]): string {
  return `${header.join('\n')}\n${objects.map((object) => `---\n${dumpYaml(object, { lineWidth: -1 })}`).join('')}`;
}
