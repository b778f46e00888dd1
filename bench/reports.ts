// The compliance reports' share of `make bench` (issue 15): the benchmark
// installs the real OpenReports CRD (hack/openreports) before the cold start,
// so the operator writes one Report per namespace, and counts those writes
// apart from the managed objects'.
import type { KubeConfig } from '@kubernetes/client-node';
import { installReportsCrd } from '../hack/openreports/install.ts';

export async function installReports(admin: KubeConfig): Promise<void> {
  await installReportsCrd(admin, 'bench');
}

export const REPORT_RESOURCE = 'reports';

/** The table row: report writes of the cold start, per namespace. */
export function reportRow(reportWrites: number, namespaces: number): [string, string, string] {
  return ['cold start: report writes', `${reportWrites}`, `${(reportWrites / namespaces).toFixed(2)}/namespace (one OpenReports Report each)`];
}
