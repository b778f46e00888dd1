// Copies into the Helm chart what it must not hold a second version of:
//  - crds/'s CustomResourceDefinitions → the chart's crds/ (Helm installs them
//    before anything else, and never upgrades or deletes them);
//  - crds/'s other files (the authoring policy) → the chart's files/api/, which
//    a template renders: a security control is upgraded with the chart, and
//    Helm would not upgrade it from crds/;
//  - the alert rules and the Grafana dashboard → the chart's files/.
// Everything else in the chart is a template that the chart's tests compare,
// object by object, with `kubectl kustomize config/default`.
//
//   node hack/helm/sync.ts           writes the copies (make chart)
//   node hack/helm/sync.ts --check   fails, naming them, when a copy is stale
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

const root = path.resolve(import.meta.dirname, '../..');
export const CHART_DIR = path.join(root, 'charts/security-baseline-operator');

/** The generated directories of the chart: whatever else they hold is stale. */
const GENERATED_DIRS = ['crds', 'files/api', 'files'];

/** Each generated chart file (relative to the chart) and its content. */
export async function expectedChartFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const header = (source: string) => `# Copied from ${source} by hack/helm/sync.ts (make chart): edit the source, not this copy.\n`;
  const apiFiles = (await readdir(path.join(root, 'crds'))).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  for (const file of apiFiles) {
    const source = `crds/${file}`;
    const text = await readFile(path.join(root, source), 'utf8');
    const objects = (loadAllYaml(text) as (KubernetesObject | null)[]).filter((o): o is KubernetesObject => Boolean(o?.kind));
    const allCrds = objects.length > 0 && objects.every((o) => o.kind === 'CustomResourceDefinition');
    files.set(allCrds ? `crds/${file}` : `files/api/${file}`, header(source) + text);
  }
  const prometheusRule = 'config/prometheus/prometheusrule.yaml';
  files.set('files/prometheusrule.yaml', header(prometheusRule) + await readFile(path.join(root, prometheusRule), 'utf8'));
  // JSON has no comments: the dashboard is copied as it is.
  files.set('files/dashboard.json', await readFile(path.join(root, 'config/grafana/dashboard.json'), 'utf8'));
  return files;
}

/** Files of the generated directories as they are now (relative to the chart). */
async function currentChartFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const dir of GENERATED_DIRS) {
    const entries = await readdir(path.join(CHART_DIR, dir), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const file = `${dir}/${entry.name}`;
      files.set(file, await readFile(path.join(CHART_DIR, file), 'utf8'));
    }
  }
  return files;
}

/** What differs: `missing`/`stale` copies to write, `extra` files without a source. */
export async function chartDrift(): Promise<{ write: string[]; remove: string[] }> {
  const [expected, current] = await Promise.all([expectedChartFiles(), currentChartFiles()]);
  return {
    write: [...expected].filter(([file, text]) => current.get(file) !== text).map(([file]) => file),
    remove: [...current.keys()].filter((file) => !expected.has(file)),
  };
}

export async function syncChart(): Promise<{ write: string[]; remove: string[] }> {
  const expected = await expectedChartFiles();
  const drift = await chartDrift();
  for (const file of drift.write) {
    await mkdir(path.dirname(path.join(CHART_DIR, file)), { recursive: true });
    await writeFile(path.join(CHART_DIR, file), expected.get(file) ?? '');
  }
  for (const file of drift.remove) await rm(path.join(CHART_DIR, file));
  return drift;
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  if (process.argv.includes('--check')) {
    const { write, remove } = await chartDrift();
    if (write.length + remove.length > 0) {
      console.error(`the chart's copies are out of date (run make chart): ${[...write, ...remove.map((f) => `${f} (no source)`)].join(', ')}`);
      process.exit(1);
    }
  } else {
    const { write, remove } = await syncChart();
    for (const file of write) console.log(`wrote ${path.relative(root, path.join(CHART_DIR, file))}`);
    for (const file of remove) console.log(`removed ${path.relative(root, path.join(CHART_DIR, file))}`);
  }
}
