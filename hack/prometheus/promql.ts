// Which metric names a PromQL expression reads, and which ones the operator
// exports: the checks that a rule or a dashboard panel does not query a name
// that no longer exists (PromQL takes any name and returns nothing, silently).
import { OperatorMetrics } from '../../src/runtime/metrics.ts';

// Words that look like names in PromQL but are not series.
const KEYWORDS = new Set([
  'and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset',
  'inf', 'nan', 'start', 'end', 'atan2',
]);

/**
 * The series names an expression selects. Good enough for the expressions
 * this project writes: string literals, label matchers, ranges, grouping
 * clauses and Grafana variables are removed first; a remaining name is a
 * function when a parenthesis follows it.
 */
export function seriesNames(expr: string): Set<string> {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*/g)) {
    const name = match[0];
    const rest = stripped.slice((match.index ?? 0) + name.length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return names;
}

/**
 * Every series name the operator's /metrics can serve: its own metrics, the
 * client-go workqueue metrics and prom-client's process_* and nodejs_*
 * defaults, read from the real registry. Histograms serve _bucket, _sum and
 * _count; `up` is Prometheus's own for every target.
 */
export async function exportedSeriesNames(): Promise<Set<string>> {
  const metrics = new OperatorMetrics('test');
  const names = new Set<string>(['up']);
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    // prom-client's typings declare a numeric enum; at run time the type is its name.
    const type = String(metric.type);
    if (type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    } else if (type === 'summary') {
      for (const suffix of ['', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    } else {
      names.add(metric.name);
    }
  }
  return names;
}
