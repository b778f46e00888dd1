#!/usr/bin/env node
// The `security-baseline` command, also the kubectl plugin `kubectl-sbl` (npm
// link creates both names). From a checkout (npm link), Node.js 24 runs the
// TypeScript sources as they are; from an installed package, which lives under
// node_modules where Node.js does not strip types, it runs the compiled dist/
// that `npm pack` builds (the prepack script).
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`security-baseline needs Node.js 24 or later; this is ${process.version}\n`);
  process.exit(3);
}
const root = path.dirname(path.dirname(realpathSync(fileURLToPath(import.meta.url))));
const installed = root.split(path.sep).includes('node_modules');
const { main, programName } = await import(installed ? '../dist/cli/main.js' : '../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2), programName(process.argv[1]));
