// The ServiceMonitor → scrape_config translation the alert path test relies
// on: the shipped monitor scrapes as prometheus-operator would configure it,
// and a field it cannot translate stops the test instead of being ignored.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { loadYaml } from '@kubernetes/client-node';
import { scrapeConfigs, type Service, type ServiceMonitor } from '../../hack/prometheus/servicemonitor.ts';

const root = path.resolve(import.meta.dirname, '../..');
const monitor = loadYaml<ServiceMonitor>(await readFile(path.join(root, 'config/prometheus/servicemonitor.yaml'), 'utf8'));
const service = loadYaml<Service>(await readFile(path.join(root, 'config/manager/service.yaml'), 'utf8'));
const target = { address: '127.0.0.1:8443', pod: 'sbo-0', tokenFile: '/tmp/token' };

describe('scrapeConfigs', () => {
  test('the shipped ServiceMonitor: HTTPS, bearer token, its TLS setting, job from the Service\'s label', () => {
    expect(scrapeConfigs(monitor, service, target)).toEqual([{
      job_name: 'serviceMonitor/security-baseline-system/security-baseline-operator/0',
      scheme: 'https',
      metrics_path: '/metrics',
      scrape_interval: '30s',
      scrape_timeout: '10s',
      authorization: { type: 'Bearer', credentials_file: '/tmp/token' },
      tls_config: { insecure_skip_verify: true },
      static_configs: [{
        targets: ['127.0.0.1:8443'],
        labels: { job: 'security-baseline-operator', namespace: 'security-baseline-system', service: 'security-baseline-operator-metrics', endpoint: 'metrics', pod: 'sbo-0' },
      }],
    }]);
  });

  test('a field without a translation is an error, not ignored', () => {
    const withCa = { ...monitor, spec: { ...monitor.spec, endpoints: [{ ...monitor.spec.endpoints[0], tlsConfig: { ca: { secret: { name: 'ca' } } } }] } };
    expect(() => scrapeConfigs(withCa, service, target)).toThrow(/no translation for tlsConfig\.ca/);
    const relabelled = { ...monitor, spec: { ...monitor.spec, endpoints: [{ ...monitor.spec.endpoints[0], metricRelabelings: [] }] } };
    expect(() => scrapeConfigs(relabelled, service, target)).toThrow(/no translation for metricRelabelings/);
  });

  test('a Service the monitor does not select is an error', () => {
    const other = { ...service, metadata: { ...service.metadata, labels: { 'app.kubernetes.io/name': 'other' } } };
    expect(() => scrapeConfigs(monitor, other, target)).toThrow(/does not select Service/);
  });
});
