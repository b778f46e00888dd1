// The operator's alerting and recording rules (config/prometheus/
// prometheusrule.yaml), proven with Prometheus's own promtool: the rule file
// is valid, each alert fires when it should and stays silent when it should
// not (test/prometheus/*.test.yaml), and the rules read only series the
// operator exports. Without promtool these tests fail: run
// hack/prometheus/ensure-promtool.sh.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { exportedSeriesNames, seriesNames } from '../../hack/prometheus/promql.ts';
import { promtool } from '../../hack/prometheus/promtool.ts';
import { loadPrometheusRule, writeRuleFile, type PrometheusRule, type Rule } from '../../hack/prometheus/rules.ts';

const root = path.resolve(import.meta.dirname, '../..');
const testDir = path.join(root, 'test/prometheus');
/** The name the promtool test files give the rule file (rule_files). */
const RULE_FILE = 'rules.yaml';

interface AlertRuleTest {
  readonly eval_time: string;
  readonly alertname: string;
  readonly exp_alerts?: readonly unknown[] | null;
}

interface PromtoolTestFile {
  readonly rule_files: readonly string[];
  readonly tests: readonly { readonly alert_rule_test?: readonly AlertRuleTest[] }[];
}

const testFiles = (await readdir(testDir)).filter((file) => file.endsWith('.test.yaml')).sort();
const prometheusRule: PrometheusRule = await loadPrometheusRule();
const rules: Rule[] = prometheusRule.spec.groups.flatMap((group) => group.rules);
const alerts = rules.filter((rule): rule is Rule & { alert: string } => rule.alert !== undefined);

// promtool resolves rule_files next to the test file: the tests run on copies
// of the test files beside the rule file extracted from the PrometheusRule.
let workDir = '';
beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'sbo-promtool-'));
  await writeRuleFile(path.join(workDir, RULE_FILE));
  await Promise.all(testFiles.map((file) => copyFile(path.join(testDir, file), path.join(workDir, file))));
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('promtool', () => {
  test('check rules accepts the rule file extracted from the PrometheusRule', async () => {
    const output = await promtool(['check', 'rules', RULE_FILE], workDir);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  test.each(testFiles)('test rules %s', async (file) => {
    const output = await promtool(['test', 'rules', file], workDir);
    expect(output).toContain('SUCCESS');
  });
});

describe('the rules', () => {
  test('the expected alerts exist', () => {
    expect(alerts.map((alert) => alert.alert).sort()).toEqual([
      'SecurityBaselineApiPolicyMissing',
      'SecurityBaselineDriftDetected',
      'SecurityBaselineExceptionExpiringSoon',
      'SecurityBaselineExceptionInvalid',
      'SecurityBaselineInformerStalled',
      'SecurityBaselineNamespacesNonCompliant',
      'SecurityBaselineNoLeader',
      'SecurityBaselineOperatorAbsent',
      'SecurityBaselineProvisioningSlow',
      'SecurityBaselineReconcileErrors',
      'SecurityBaselineRolloutHalted',
    ]);
  });

  test('every alert is proven to fire and to stay silent by a promtool test', async () => {
    const cases: AlertRuleTest[] = [];
    for (const file of testFiles) {
      const parsed = loadYaml<PromtoolTestFile>(await readFile(path.join(testDir, file), 'utf8'));
      expect({ file, rule_files: parsed.rule_files }).toEqual({ file, rule_files: [RULE_FILE] });
      cases.push(...parsed.tests.flatMap((t) => t.alert_rule_test ?? []));
    }
    const unproven = alerts.flatMap(({ alert }) => {
      const mine = cases.filter((c) => c.alertname === alert);
      return [
        ...(mine.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${alert} never expected to fire`]),
        ...(mine.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : [`${alert} never expected to stay silent`]),
      ];
    });
    expect(unproven).toEqual([]);
  });

  test('every alert has a severity, a summary, a description and a runbook section', async () => {
    const runbook = await readFile(path.join(root, 'docs/runbook.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)].map((m) => githubAnchor(m[1] ?? '')));
    const problems = alerts.flatMap(({ alert, labels = {}, annotations = {} }) => {
      const found: string[] = [];
      if (!['critical', 'warning'].includes(labels.severity ?? '')) found.push(`${alert}: severity is ${labels.severity}`);
      if (!annotations.summary) found.push(`${alert}: no summary`);
      if (!annotations.description) found.push(`${alert}: no description`);
      const url = annotations.runbook_url ?? '';
      if (url !== `docs/runbook.md#${alert.toLowerCase()}`) found.push(`${alert}: runbook_url is ${url}`);
      if (!anchors.has(alert.toLowerCase())) found.push(`${alert}: docs/runbook.md has no section ${alert}`);
      return found;
    });
    expect(problems).toEqual([]);
  });

  test('the rules read only series the operator exports, or rules recorded before them', async () => {
    const known = await exportedSeriesNames();
    const unknown: string[] = [];
    for (const rule of rules) {
      for (const name of seriesNames(rule.expr)) {
        if (!known.has(name)) unknown.push(`${rule.record ?? rule.alert}: ${name}`);
      }
      if (rule.record) known.add(rule.record);
    }
    expect(unknown).toEqual([]);
  });

  test('recording rules are named level:metric:operations', () => {
    const badNames = rules.flatMap((rule) => (rule.record && !/^[a-z_]*:[a-z_]+:[a-z0-9_]+$/.test(rule.record) ? [rule.record] : []));
    expect(badNames).toEqual([]);
  });

  test('every job matcher names the job the ServiceMonitor gives the scrape', async () => {
    const monitor = loadYaml<{ spec: { jobLabel: string; selector: { matchLabels: Record<string, string> } } }>(
      await readFile(path.join(root, 'config/prometheus/servicemonitor.yaml'), 'utf8'),
    );
    const job = monitor.spec.selector.matchLabels[monitor.spec.jobLabel];
    expect(job).toBe('security-baseline-operator');
    const jobs = new Set(rules.flatMap((rule) => [...rule.expr.matchAll(/\bjob\s*(=~?|!=|!~)\s*"([^"]*)"/g)].map((m) => `${m[1]}"${m[2]}"`)));
    expect([...jobs]).toEqual([`="${job}"`]);
  });

  test('no rule keeps a label per namespace or per object (cardinality stays bounded)', () => {
    // The operator's metrics carry no namespace label; the target's
    // `namespace` (the operator's own) is the only one, and only the
    // per-replica informer alert keeps target labels.
    const grouped = rules.flatMap((rule) => [...rule.expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)].flatMap((m) => (m[1] ?? '').split(',').map((l) => l.trim())));
    expect(grouped.filter((label) => ['namespace', 'name', 'pod', 'uid'].includes(label))).toEqual([]);
  });
});

/** The anchor GitHub gives a Markdown heading. */
function githubAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}
