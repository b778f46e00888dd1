// A prometheus-operator ServiceMonitor endpoint as a plain Prometheus
// scrape_config, the way prometheus-operator generates one, for a Prometheus
// that runs without Kubernetes service discovery (the alert test's): the same
// scheme, path, interval, TLS settings and bearer token, and the same target
// labels (job from the Service's `jobLabel` label, namespace, service,
// endpoint, pod). A field this translation does not know is an error, never
// silently dropped: the test must scrape the way the shipped monitor says.

export interface ServiceMonitor {
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: {
    readonly jobLabel?: string;
    readonly selector: { readonly matchLabels?: Readonly<Record<string, string>> };
    readonly endpoints: readonly Readonly<Record<string, unknown>>[];
  };
}

export interface Service {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Readonly<Record<string, string>> };
  readonly spec: { readonly ports: readonly { readonly name?: string; readonly port: number }[] };
}

export interface ScrapeTarget {
  /** host:port the endpoint is reachable at (where the Service's port leads). */
  readonly address: string;
  readonly pod: string;
  /** The file holding the token Prometheus presents: its ServiceAccount's, as bearerTokenFile names it in a pod. */
  readonly tokenFile: string;
}

const KNOWN_ENDPOINT_FIELDS = new Set(['port', 'path', 'scheme', 'interval', 'scrapeTimeout', 'bearerTokenFile', 'tlsConfig']);
const KNOWN_TLS_FIELDS = new Set(['insecureSkipVerify', 'serverName']);

/** The scrape_config of each endpoint of `monitor`, for the Service it selects. */
export function scrapeConfigs(monitor: ServiceMonitor, service: Service, target: ScrapeTarget): Record<string, unknown>[] {
  const namespace = monitor.metadata.namespace ?? 'default';
  const selector = monitor.spec.selector.matchLabels ?? {};
  const unmatched = Object.entries(selector).filter(([key, value]) => service.metadata.labels?.[key] !== value);
  if (unmatched.length > 0) throw new Error(`ServiceMonitor ${monitor.metadata.name} does not select Service ${service.metadata.name}: ${JSON.stringify(unmatched)}`);
  return monitor.spec.endpoints.map((endpoint, index) => {
    const unknown = Object.keys(endpoint).filter((field) => !KNOWN_ENDPOINT_FIELDS.has(field));
    const tls = (endpoint.tlsConfig ?? {}) as Readonly<Record<string, unknown>>;
    unknown.push(...Object.keys(tls).filter((field) => !KNOWN_TLS_FIELDS.has(field)).map((field) => `tlsConfig.${field}`));
    if (unknown.length > 0) throw new Error(`ServiceMonitor ${monitor.metadata.name} endpoint ${index}: no translation for ${unknown.join(', ')}`);
    const port = service.spec.ports.find((p) => p.name === endpoint.port);
    if (!port) throw new Error(`Service ${service.metadata.name} has no port named ${String(endpoint.port)}`);
    // prometheus-operator: job is the value of the Service's jobLabel label, else the Service's name.
    const job = (monitor.spec.jobLabel && service.metadata.labels?.[monitor.spec.jobLabel]) || service.metadata.name;
    return {
      job_name: `serviceMonitor/${namespace}/${monitor.metadata.name}/${index}`,
      scheme: endpoint.scheme ?? 'http',
      metrics_path: endpoint.path ?? '/metrics',
      ...(endpoint.interval ? { scrape_interval: endpoint.interval } : {}),
      ...(endpoint.scrapeTimeout ? { scrape_timeout: endpoint.scrapeTimeout } : {}),
      ...(endpoint.bearerTokenFile ? { authorization: { type: 'Bearer', credentials_file: target.tokenFile } } : {}),
      ...(endpoint.tlsConfig ? {
        tls_config: {
          ...(tls.insecureSkipVerify !== undefined ? { insecure_skip_verify: tls.insecureSkipVerify } : {}),
          ...(tls.serverName !== undefined ? { server_name: tls.serverName } : {}),
        },
      } : {}),
      static_configs: [{
        targets: [target.address],
        labels: { job, namespace: service.metadata.namespace ?? namespace, service: service.metadata.name, endpoint: String(endpoint.port), pod: target.pod },
      }],
    };
  });
}
