// The scaling curve of docs/performance.md, from the published results: for
// each N in bench/results/ (the latest run of the current format), the cost
// per namespace. Prints the markdown table and writes docs/scaling.svg.
//
//   node bench/plot.ts        (make bench-plot)
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BenchResult } from './bench.ts';
import { root } from './operator.ts';

type Recorded = Omit<BenchResult, 'newNamespaces'>;

/** The latest result of each N, in order of N. */
export async function latestByN(dir = path.join(root, 'bench/results')): Promise<Recorded[]> {
  const byN = new Map<number, Recorded>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
    const result = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Partial<Recorded>;
    if (result.format === 2) byN.set(result.namespaces as number, result as Recorded);
  }
  return [...byN.values()].sort((a, b) => a.namespaces - b.namespaces);
}

const perNamespaceMs = (seconds: number, namespaces: number) => (seconds * 1000) / namespaces;

interface Series { readonly label: string; readonly color: string; readonly value: (r: Recorded) => number }
interface Panel { readonly title: string; readonly unit: string; readonly series: readonly Series[] }

const PANELS: readonly Panel[] = [
  {
    title: 'Cold start per namespace', unit: 'ms',
    series: [
      { label: 'operator', color: '#1f77b4', value: (r) => perNamespaceMs(r.coldStart.seconds, r.namespaces) },
      { label: 'limit (client-go)', color: '#7f7f7f', value: (r) => (r.limit ? perNamespaceMs(r.limit.go.seconds, r.namespaces) : NaN) },
      { label: 'operator CPU', color: '#17becf', value: (r) => perNamespaceMs(r.coldStart.cpuSeconds, r.namespaces) },
    ],
  },
  {
    title: 'Memory per namespace', unit: 'KiB',
    series: [
      { label: 'RSS', color: '#d62728', value: (r) => r.memory.rssPerNamespaceKiB },
      { label: 'live heap', color: '#ff7f0e', value: (r) => r.memory.liveHeapPerNamespaceKiB },
    ],
  },
  {
    title: 'Restart over a compliant cluster, per namespace', unit: 'ms',
    series: [{ label: 'every namespace reconciled', color: '#2ca02c', value: (r) => perNamespaceMs(r.steadyState.secondsUntilReady, r.steadyState.namespaces) }],
  },
  {
    title: 'Writes per namespace (cold start)', unit: '',
    series: [{ label: 'writes', color: '#9467bd', value: (r) => r.coldStart.writesPerNamespace }],
  },
];

function panelSvg(panel: Panel, results: readonly Recorded[], x0: number, y0: number, width: number, height: number): string {
  const left = 48;
  const bottom = 36;
  const plotW = width - left - 16;
  const plotH = height - bottom - 44;
  const ns = results.map((r) => r.namespaces);
  const logMin = Math.log10(Math.min(...ns)) - 0.1;
  const logMax = Math.log10(Math.max(...ns)) + 0.1;
  const values = panel.series.flatMap((s) => results.map(s.value)).filter(Number.isFinite);
  const yMax = niceCeiling(Math.max(...values, 0));
  const px = (n: number) => x0 + left + ((Math.log10(n) - logMin) / (logMax - logMin || 1)) * plotW;
  const py = (v: number) => y0 + 30 + plotH - (v / (yMax || 1)) * plotH;
  const parts = [
    `<text x="${x0 + width / 2}" y="${y0 + 16}" text-anchor="middle" font-weight="bold">${panel.title}</text>`,
    `<line x1="${x0 + left}" y1="${py(0)}" x2="${x0 + left + plotW}" y2="${py(0)}" stroke="#333"/>`,
    `<line x1="${x0 + left}" y1="${py(0)}" x2="${x0 + left}" y2="${py(yMax)}" stroke="#333"/>`,
  ];
  for (const fraction of [0, 0.5, 1]) {
    const v = yMax * fraction;
    parts.push(`<text x="${x0 + left - 6}" y="${py(v) + 4}" text-anchor="end" font-size="11">${format(v)}${panel.unit ? ` ${panel.unit}` : ''}</text>`);
    if (fraction > 0) parts.push(`<line x1="${x0 + left}" y1="${py(v)}" x2="${x0 + left + plotW}" y2="${py(v)}" stroke="#ddd"/>`);
  }
  for (const n of ns) parts.push(`<text x="${px(n)}" y="${py(0) + 16}" text-anchor="middle" font-size="11">${n.toLocaleString('en-US')}</text>`);
  parts.push(`<text x="${x0 + left + plotW / 2}" y="${py(0) + 30}" text-anchor="middle" font-size="11">namespaces (log scale)</text>`);
  panel.series.forEach((series, i) => {
    const points = results.map((r) => [px(r.namespaces), py(series.value(r))] as const).filter(([, y]) => Number.isFinite(y));
    parts.push(`<polyline fill="none" stroke="${series.color}" stroke-width="2" points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of points) parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${series.color}"/>`);
    parts.push(`<rect x="${x0 + left + 8 + i * 150}" y="${y0 + 24}" width="10" height="10" fill="${series.color}"/>`,
      `<text x="${x0 + left + 22 + i * 150}" y="${y0 + 33}" font-size="11">${series.label}</text>`);
  });
  return parts.join('\n');
}

function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= value * 1.1) ?? 10 * magnitude;
}

function format(value: number): string {
  return value >= 10 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toFixed(2);
}

export function scalingSvg(results: readonly Recorded[]): string {
  const width = 920;
  const height = 640;
  const panelW = width / 2;
  const panelH = (height - 30) / 2;
  const panels = PANELS.map((panel, i) => panelSvg(panel, results, (i % 2) * panelW, 30 + Math.floor(i / 2) * panelH, panelW, panelH));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">security-baseline-operator: cost per namespace as the cluster grows (make bench; bench/plot.ts)</text>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}

export function scalingTable(results: readonly Recorded[]): string {
  const f = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
  const columns = results.map((r) => `N = ${r.namespaces.toLocaleString('en-US')}`);
  const row = (label: string, cell: (r: Recorded) => string) => `| ${label} | ${results.map(cell).join(' | ')} |`;
  const p99 = (r: Recorded, rate: number) => {
    const run = r.provisioning.find((p) => p.rate === rate);
    if (!run) return 'n/a';
    const limit = r.limit?.provisioning?.find((p) => p.rate === rate);
    return `${f(run.p99, 3)} s` + (limit ? ` (limit ${f(limit.p99, 3)} s)` : '');
  };
  return [
    `| | ${columns.join(' | ')} |`,
    `| --- |${results.map(() => ' --- |').join('')}`,
    row('cold start', (r) => `${f(r.coldStart.seconds)} s (${f(perNamespaceMs(r.coldStart.seconds, r.namespaces), 2)} ms/namespace)`),
    row('limit: client-go (concurrency)', (r) => (r.limit ? `${f(r.limit.go.seconds)} s (${r.limit.go.bestConcurrency})` : 'not run')),
    row('operator ÷ limit', (r) => (r.ratio === undefined ? 'not run' : f(r.ratio, 2))),
    row('CPU per namespace: operator / API server / etcd', (r) => {
      const { cpuSeconds, apiServerCpuSeconds, etcdCpuSeconds } = r.coldStart;
      return apiServerCpuSeconds === undefined || etcdCpuSeconds === undefined
        ? `${f(perNamespaceMs(cpuSeconds, r.namespaces), 1)} ms / not measured`
        : [cpuSeconds, apiServerCpuSeconds, etcdCpuSeconds].map((seconds) => f(perNamespaceMs(seconds, r.namespaces), 1)).join(' / ') + ' ms';
    }),
    row('writes per namespace', (r) => f(r.coldStart.writesPerNamespace, 2)),
    row('RSS after the cold start', (r) => `${f(r.memory.coldStart.rssMiB)} MiB`),
    row('RSS settled / peak', (r) => (r.memory.settledRssMiB === undefined ? 'not measured' : `${f(r.memory.settledRssMiB)} / ${f(r.memory.peakRssMiB ?? NaN)} MiB`)),
    row('live heap per namespace', (r) => `${f(r.memory.liveHeapPerNamespaceKiB, 2)} KiB`),
    row('restart: every namespace reconciled', (r) => `${f(r.steadyState.secondsUntilReady)} s (${r.steadyState.namespaces.toLocaleString('en-US')} namespaces, ${r.steadyState.writes} writes)`),
    row('provisioning p99 at 20/s', (r) => p99(r, 20)),
    row('provisioning p99 at 50/s', (r) => p99(r, 50)),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const results = await latestByN();
  if (results.length === 0) throw new Error('no results of the current format in bench/results/: run make bench first');
  console.log(scalingTable(results));
  await writeFile(path.join(root, 'docs/scaling.svg'), scalingSvg(results));
  console.log('\nwritten to docs/scaling.svg');
}
