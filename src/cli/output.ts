// How the CLI prints: aligned tables for people, `-o json|yaml` for scripts,
// and problems as `FILE: WHAT: FIELD: MESSAGE`, one a line, so CI logs point at
// the line to fix.
import { dump } from 'js-yaml';

export type Format = 'table' | 'json' | 'yaml';

export class UsageError extends Error {}

export function parseFormat(value: string | undefined): Format {
  if (value === undefined || value === 'table' || value === 'wide') return 'table';
  if (value === 'json' || value === 'yaml') return value;
  throw new UsageError(`unknown output format "${value}": use json or yaml (the default is a table)`);
}

/** Structured output for scripts. */
export function formatData(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : dump(value, { noRefs: true, lineWidth: -1, sortKeys: false });
}

/** YAML documents separated by `---`, as kubectl prints a list. */
export function yamlDocuments(values: readonly unknown[]): string {
  return values.map((value) => dump(value, { noRefs: true, lineWidth: -1 })).join('---\n');
}

/** Columns padded to the widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Writes to stdout, waiting for it to drain (exit codes follow right after). */
export function print(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}

/** One progress line on stderr, rewritten in place on a terminal and never on stdout. */
export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  #last = 0;
  #shown = false;

  update(text: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.#last < 200) return;
    this.#last = now;
    this.#shown = true;
    process.stderr.write(this.#tty ? `\r\x1b[2K${text}` : `${text}\n`);
  }

  done(): void {
    if (this.#shown && this.#tty) process.stderr.write('\r\x1b[2K');
  }
}
