// The operator's cold start, timed as every benchmark times it: from the
// process's start to its last write to a namespace, that namespace's objects
// or its Report, as the API server's audit log has them.
import { setTimeout as sleep } from 'node:timers/promises';
import { auditedWrites, auditMark, lastNamespaceWriteAt, until, type AuditedWrite, type BenchCluster } from './cluster.ts';
import { startOperator, type Operator } from './operator.ts';

export interface TimedColdStart {
  /** Still running: the caller reads what else it needs, then stops it. */
  readonly operator: Operator;
  /** The operator's start to its last namespace write, s. */
  readonly seconds: number;
  /** The operator's start to the poll that saw every namespace compliant, s. */
  readonly detectedSeconds: number;
  /** The operator's start to its first write, s. */
  readonly firstWriteSeconds: number;
  /** When the operator was started, ms since the epoch (the audit log's clock). */
  readonly beganAt: number;
  /** Every write of the operator's user over the cold start. */
  readonly writes: AuditedWrite[];
}

/**
 * Starts the operator over `namespaces` namespaces that `baseline` selects and
 * none of which it has provisioned, and waits until all are compliant.
 */
export async function timeColdStart(cluster: BenchCluster, main: string, kubeconfig: string, user: string, baseline: string, namespaces: number): Promise<TimedColdStart> {
  const mark = await auditMark(cluster);
  const beganAt = Date.now();
  const begin = performance.now();
  const operator = await startOperator(main, kubeconfig);
  // Polled once a second, as a scrape costs the operator about 4 ms of CPU: ten a second
  // took 6–8 % of its CPU over a cold start, which no Prometheus does. The end is then
  // read from the audit log: the operator's last write to a namespace, its objects or its
  // Report (a namespace is counted compliant as that write returns).
  await until('the cold start', async () => await operator.metric('security_baseline_namespaces', { baseline, state: 'compliant' }) >= namespaces, 3_600_000, 1_000);
  const detectedSeconds = (performance.now() - begin) / 1000;
  await sleep(2_500); // debounced status writes land
  const writes = await auditedWrites(cluster, mark, user);
  let first = Infinity;
  for (const write of writes) if (write.at < first) first = write.at;
  return {
    operator, beganAt, writes, detectedSeconds,
    seconds: (lastNamespaceWriteAt(writes) - beganAt) / 1000,
    firstWriteSeconds: (first - beganAt) / 1000,
  };
}
