// One replica in test/e2e/leader-election.test.ts, run as its own process
// (`node test/support/leader-candidate.ts --namespace … --lease … --identity …`)
// with its own client certificate in $KUBECONFIG. It campaigns for the Lease
// with LeaderElector and, while isLeader() says so, leaves proof of every write
// at the API server: a ConfigMap per write, carrying who wrote it, its sequence
// number, the lease term (leaseTransitions) and renewTime it believed it held,
// and when it decided to write.
//
// Logs are pino JSON lines on stdout; the test reads their `msg`. Exit codes:
// 0 after SIGTERM (writes drained, Lease released), 3 when leadership was lost
// (what the operator does too: never write again without the lease).
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeClient, type ResourceType } from '../../src/runtime/kube.ts';
import { LeaderElector, formatMicroTime } from '../../src/runtime/leader.ts';

// The test spells these out again: importing this script would run it.
const LOST_LEADERSHIP_EXIT_CODE = 3;
const PROOF_LABEL = 'leader-proof';
const WRITER_LABEL = 'leader-writer';

const CONFIGMAP: ResourceType = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

const { values } = parseArgs({
  options: {
    namespace: { type: 'string' },
    lease: { type: 'string' },
    identity: { type: 'string' },
    proof: { type: 'string' },
    'lease-ms': { type: 'string', default: '3000' },
    'renew-ms': { type: 'string', default: '2000' },
    'retry-ms': { type: 'string', default: '500' },
    'write-every-ms': { type: 'string', default: '100' },
  },
});
const { namespace, lease, identity, proof } = values;
if (!namespace || !lease || !identity || !proof) {
  throw new Error('usage: leader-candidate.ts --namespace NS --lease NAME --identity ID --proof LABEL [--lease-ms --renew-ms --retry-ms --write-every-ms]');
}
const writeEveryMs = Number(values['write-every-ms']);

// Synchronous, so that the last lines are out before process.exit().
const logger = pino({ level: 'debug', base: undefined }, pino.destination({ dest: 1, sync: true }));
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const client = new KubeClient(kubeConfig);

let shuttingDown = false;
let writing: Promise<void> = Promise.resolve();

const elector = new LeaderElector({
  client, namespace, name: lease, identity, logger,
  leaseDurationMs: Number(values['lease-ms']),
  renewDeadlineMs: Number(values['renew-ms']),
  retryPeriodMs: Number(values['retry-ms']),
  onStartedLeading: () => {
    writing = writeWhileLeading();
  },
  onStoppedLeading: () => {
    logger.warn('exiting: leadership lost');
    process.exit(LOST_LEADERSHIP_EXIT_CODE);
  },
});

/** One write at a time, each decided by isLeader() just before it is sent. */
async function writeWhileLeading(): Promise<void> {
  let seq = 0;
  while (!shuttingDown) {
    const record = elector.record();
    if (elector.isLeader() && record) {
      seq += 1;
      const decidedAt = formatMicroTime(performance.timeOrigin + performance.now());
      try {
        await client.create(CONFIGMAP, {
          apiVersion: 'v1', kind: 'ConfigMap',
          metadata: {
            name: `${identity}-${String(seq).padStart(5, '0')}`, namespace,
            labels: { [PROOF_LABEL]: proof ?? '', [WRITER_LABEL]: identity ?? '' },
          },
          data: {
            writer: identity ?? '', seq: String(seq), decidedAt,
            term: String(record.leaseTransitions), leaseRenewTime: record.renewTime,
          },
        });
      } catch (error) {
        logger.warn({ err: error instanceof Error ? error.message : String(error), seq }, 'proof write failed');
      }
    }
    await sleep(writeEveryMs);
  }
}

process.on('SIGTERM', () => {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info('SIGTERM: draining writes, then releasing the lease');
  void (async () => {
    // The order main.ts follows as well: no write in flight when the Lease is handed over.
    await writing;
    await elector.stop({ release: true });
    logger.info('shut down');
    process.exit(0);
  })();
});

logger.info('candidate started');
await elector.run();
