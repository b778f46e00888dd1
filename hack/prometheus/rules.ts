// The operator's PrometheusRule (config/prometheus/prometheusrule.yaml) as a
// plain Prometheus rule file, for promtool: a rule file is exactly the
// resource's `spec` (its `groups`).
//
//   node hack/prometheus/rules.ts OUT.yaml     writes the rule file
//   promtool check rules OUT.yaml
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dumpYaml, loadYaml } from '@kubernetes/client-node';

export const PROMETHEUS_RULE_PATH = path.resolve(import.meta.dirname, '../../config/prometheus/prometheusrule.yaml');

export interface Rule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface RuleGroup {
  readonly name: string;
  readonly interval?: string;
  readonly rules: readonly Rule[];
}

export interface PrometheusRule {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Readonly<Record<string, string>> };
  readonly spec: { readonly groups: readonly RuleGroup[] };
}

export async function loadPrometheusRule(file = PROMETHEUS_RULE_PATH): Promise<PrometheusRule> {
  const object = loadYaml<PrometheusRule | null>(await readFile(file, 'utf8'));
  if (object?.apiVersion !== 'monitoring.coreos.com/v1' || object.kind !== 'PrometheusRule') {
    throw new Error(`${file}: expected one monitoring.coreos.com/v1 PrometheusRule`);
  }
  if (!Array.isArray(object.spec?.groups)) throw new Error(`${file}: spec.groups is not a list`);
  return object;
}

/** Writes the PrometheusRule's groups as a Prometheus rule file; returns the rules it holds. */
export async function writeRuleFile(target: string, source = PROMETHEUS_RULE_PATH): Promise<PrometheusRule> {
  const rule = await loadPrometheusRule(source);
  await writeFile(target, `# Generated from ${path.basename(source)} by hack/prometheus/rules.ts.\n${dumpYaml({ groups: rule.spec.groups }, { lineWidth: -1 })}`);
  return rule;
}

/**
 * The shipped groups, hastened for a test that cannot wait 20 minutes: every
 * group evaluated every `interval`, every `for` of an alert shortened to
 * `forDuration`. Expressions, labels and annotations stay as shipped.
 */
export function hastenedRuleGroups(groups: readonly RuleGroup[], { interval, forDuration }: { interval: string; forDuration: string }): RuleGroup[] {
  return groups.map((group) => ({
    ...group,
    interval,
    rules: group.rules.map((rule) => (rule.for === undefined ? rule : { ...rule, for: forDuration })),
  }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  const target = process.argv[2];
  if (!target) {
    console.error('usage: node hack/prometheus/rules.ts OUT.yaml');
    process.exit(2);
  }
  await writeRuleFile(target);
}
