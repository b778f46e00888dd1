// The Grafana dashboard (config/grafana/dashboard.json): it parses, every panel
// queries through the ${datasource} variable, every expression is valid PromQL
// (promtool checks it) and reads only series the operator exports, and every
// security_baseline_* metric is on it somewhere.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dumpYaml, loadYaml } from '@kubernetes/client-node';
import { exportedSeriesNames, seriesNames } from '../../hack/prometheus/promql.ts';
import { promtool } from '../../hack/prometheus/promtool.ts';

const root = path.resolve(import.meta.dirname, '../..');
const grafanaDir = path.join(root, 'config/grafana');

interface DataSourceRef {
  readonly type?: string;
  readonly uid?: string;
}

interface Target {
  readonly refId: string;
  readonly expr: string;
  readonly datasource?: DataSourceRef;
}

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly datasource?: DataSourceRef;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}

interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query: string | { readonly query: string };
  readonly datasource?: DataSourceRef;
}

interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

const dashboard = JSON.parse(await readFile(path.join(grafanaDir, 'dashboard.json'), 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
const queryPanels = panels.filter((panel) => panel.type !== 'row');
const targets = queryPanels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, ...target })));
const variableQueries = dashboard.templating.list
  .filter((variable) => variable.type === 'query')
  .map((variable) => ({ name: variable.name, query: typeof variable.query === 'string' ? variable.query : variable.query.query }));

/** What Grafana puts in place of the variables, so that promtool can parse an expression. */
function substituteVariables(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$\{__rate_interval\}/g, '5m').replace(/\$\{?(?:job|baseline)\}?/g, '.*');
}

let workDir = '';
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'sbo-dashboard-'));
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('the Grafana dashboard', () => {
  test('has a stable uid, a title and a current schema', () => {
    expect(dashboard.uid).toBe('security-baseline-operator');
    expect(dashboard.title).toBe('Security Baseline Operator');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
  });

  test('has the datasource, job and baseline variables', () => {
    const byName = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));
    expect(byName.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variableQueries).toContainEqual({ name: 'baseline', query: 'label_values(security_baseline_namespaces{job=~"$job"}, baseline)' });
    expect(variableQueries.map((v) => v.name)).toContain('job');
  });

  test('every panel and query goes through the ${datasource} variable', () => {
    const wrong = [
      ...queryPanels.filter((panel) => panel.datasource?.uid !== '${datasource}').map((panel) => `panel ${panel.title}`),
      ...targets.filter((target) => target.datasource?.uid !== '${datasource}').map((target) => `${target.panel} ${target.refId}`),
      ...dashboard.templating.list.filter((v) => v.type === 'query' && v.datasource?.uid !== '${datasource}').map((v) => `variable ${v.name}`),
    ];
    expect(wrong).toEqual([]);
  });

  test('panels have unique ids, a description, and fit the 24-column grid without overlapping', () => {
    const ids = panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(queryPanels.filter((panel) => !panel.description).map((panel) => panel.title)).toEqual([]);
    const cells = new Map<string, string>();
    const overlaps: string[] = [];
    for (const { title, gridPos: { x, y, w, h } } of panels) {
      expect({ title, fits: x >= 0 && w > 0 && x + w <= 24 }).toEqual({ title, fits: true });
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const other = cells.get(`${row}:${column}`);
          if (other !== undefined && !overlaps.includes(`${other} / ${title}`)) overlaps.push(`${other} / ${title}`);
          cells.set(`${row}:${column}`, title);
        }
      }
    }
    expect(overlaps).toEqual([]);
  });

  test('every expression reads only series the operator exports', async () => {
    const known = await exportedSeriesNames();
    const unknown = [...targets.map((t) => ({ where: `${t.panel} ${t.refId}`, expr: t.expr })), ...variableQueries.map((v) => ({ where: `variable ${v.name}`, expr: v.query }))]
      .flatMap(({ where, expr }) => [...seriesNames(expr.replace(/^label_values\((.*),\s*\w+\)$/s, '$1'))].filter((name) => !known.has(name)).map((name) => `${where}: ${name}`));
    expect(unknown).toEqual([]);
  });

  test('every security_baseline_* metric the operator exports is on the dashboard', async () => {
    const used = new Set([...targets.map((t) => t.expr), ...variableQueries.map((v) => v.query)].flatMap((expr) => [...seriesNames(expr)]));
    const metricOf = (series: string): string => series.replace(/_(bucket|sum|count)$/, '');
    const usedMetrics = new Set([...used].map(metricOf));
    const missing = [...new Set([...(await exportedSeriesNames())].filter((name) => name.startsWith('security_baseline_')).map(metricOf))]
      .filter((metric) => !usedMetrics.has(metric));
    expect(missing).toEqual([]);
  });

  test('every expression is valid PromQL (promtool)', async () => {
    // Each query becomes a recording rule, the one form promtool checks offline.
    const rules = targets.map((target, i) => ({ record: `dashboard:panel_${i}:check`, expr: substituteVariables(target.expr) }));
    const file = path.join(workDir, 'dashboard-queries.yaml');
    await writeFile(file, dumpYaml({ groups: [{ name: 'dashboard', rules }] }, { lineWidth: -1 }));
    const output = await promtool(['check', 'rules', file], workDir);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});

describe('the Grafana kustomization', () => {
  test('generates one ConfigMap with the dashboard, labelled for the Grafana sidecar, under a stable name', async () => {
    const kustomization = loadYaml<{
      generatorOptions?: { disableNameSuffixHash?: boolean; labels?: Record<string, string> };
      configMapGenerator: { name: string; files: string[] }[];
    }>(await readFile(path.join(grafanaDir, 'kustomization.yaml'), 'utf8'));
    expect(kustomization.generatorOptions?.labels?.grafana_dashboard).toBe('1');
    expect(kustomization.generatorOptions?.disableNameSuffixHash).toBe(true);
    expect(kustomization.configMapGenerator).toEqual([
      { name: 'security-baseline-operator-dashboard', files: ['security-baseline-operator.json=dashboard.json'] },
    ]);
  });
});
