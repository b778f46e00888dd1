// The OpenReports Report CRD (the real one, from the Go module proxy: see
// hack/openreports) in the test control plane, and reading the reports.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { installReportsCrd as install } from '../../hack/openreports/install.ts';
import type { ReportObject } from '../../src/resources/report.ts';
import { adminKubeConfig, statusOf } from './cluster.ts';

export async function installReportsCrd(): Promise<void> {
  await install(adminKubeConfig(), 'security-baseline-operator-tests');
}

/** The namespace's report, or undefined when there is none. */
export async function readReport(namespace: string, name = 'security-baseline'): Promise<ReportObject | undefined> {
  const api = adminKubeConfig().makeApiClient(CustomObjectsApi);
  try {
    return await api.getNamespacedCustomObject({ group: 'openreports.io', version: 'v1alpha1', plural: 'reports', namespace, name }) as ReportObject;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}
