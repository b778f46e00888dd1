// Collects the outcomes the fault, load and soak tests record (harness.ts
// record(), one JSON line each, in the file named by SBO_CHAOS_RECORD) and
// prints them as one table when the run ends. With SBO_CHAOS_RESULTS=1
// (make chaos, make soak) it also writes them as JSON beside the benchmark
// results, bench/results/<time>-<name>.json.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export default class ChaosReporter {
  #file;

  constructor() {
    // Set before any test runs; tests run in this process or in workers that inherit the environment.
    this.#file = process.env.SBO_CHAOS_RECORD ??= path.join(root, '.dev', 'chaos', `outcomes-${process.pid}-${Date.now()}.jsonl`);
    rmSync(this.#file, { force: true });
  }

  onRunComplete() {
    if (!existsSync(this.#file)) return;
    const outcomes = readFileSync(this.#file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
    rmSync(this.#file, { force: true });
    if (outcomes.length === 0) return;
    const rows = outcomes.map((o) => [o.test, o.fault, o.outcome, Object.entries(o.measured).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : v}`).join(' ')]);
    const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c].length), 4));
    const lines = rows.map((r) => `  ${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padEnd(widths[2])}  ${r[3]}`);
    process.stderr.write(`\nfaults, load and soak (${outcomes[0].profile} versions):\n${lines.join('\n')}\n`);
    if (process.env.SBO_CHAOS_RESULTS !== '1') return;
    const dir = path.join(root, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const name = process.env.SBO_CHAOS_RESULTS_NAME || 'chaos';
    const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${name}.json`);
    const cpu = cpus();
    const machine = { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.versions.node };
    writeFileSync(file, `${JSON.stringify({ machine, outcomes }, null, 2)}\n`);
    process.stderr.write(`written to ${path.relative(process.cwd(), file)}\n`);
  }
}
