// Leader election against the real API server: two candidate processes
// (test/support/leader-candidate.ts, each with its own client certificate)
// campaign for one Lease with short timings, and the leader proves every write
// it makes by creating a ConfigMap. Three ways for a leader to go:
//  - SIGKILL: the other takes over once the lease has expired in its eyes;
//  - SIGTERM: the leader drains its writes and releases, the other takes over
//    at its next try;
//  - its renewals are refused (its RBAC for leases is revoked): it must stop
//    writing and exit within renewDeadline, before the other may take over.
//
// How the test knows that two replicas never wrote at the same time, from the
// API server's side and without trusting anything the candidates report:
//
//  1. This control plane stores every resource in one etcd, so each
//     resourceVersion is an etcd revision: one counter for all writes, a total
//     order. (Clients must treat resourceVersions as opaque in general; the test
//     compares them as numbers only because it knows the store behind them.)
//  2. The test watches the Lease from before it exists, so it sees every
//     version of it, each with its revision. A proof ConfigMap is written once
//     and never changed, so its resourceVersion is the revision of its create.
//  3. For every proof write, the Lease version current at that revision (the
//     last one with a smaller revision) must name the writer as holder and carry
//     the leaseTransitions the writer believed it held. So every write landed
//     inside a term of its own writer, and a Lease names one holder at a time:
//     no write of one replica lies between two writes of another. The writers
//     in revision order must form exactly one run per expected leader.
//  4. As a second, coarser witness, the writers' own decision times (one host,
//     one clock) must not interleave either, and the gap is printed.
// creationTimestamp has one-second resolution and says nothing about order
// within a second; the revision does.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { mintIdentityIn, renderKubeconfig } from '../../hack/kube/controlplane.ts';
import { KubeClient, type KubeObject, type ResourceType, type WatchEvent } from '../../src/runtime/kube.ts';
import { JITTER_FACTOR, LEASE, leaseRecord, type LeaseObject } from '../../src/runtime/leader.ts';
import { adminKubeConfig, createTestNamespace, eventually, testControlPlane } from '../support/cluster.ts';

const LEASE_MS = 3_000;
const RENEW_DEADLINE_MS = 2_000;
const RETRY_MS = 500;
/** A candidate that does not lead tries again after retryPeriod × [1, 1 + JITTER_FACTOR). */
const MAX_TRY_INTERVAL_MS = RETRY_MS * (1 + JITTER_FACTOR);
/** Request latency and process scheduling on a loaded test machine. */
const SLACK_MS = 500;

// As in test/support/leader-candidate.ts.
const LOST_LEADERSHIP_EXIT_CODE = 3;
const PROOF_LABEL = 'leader-proof';

const CONFIGMAP: ResourceType = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const ROLE: ResourceType = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles', namespaced: true };
const ROLE_BINDING: ResourceType = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true };

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const admin = new KubeClient(adminKubeConfig());
let namespace = '';

beforeAll(async () => {
  namespace = await createTestNamespace('leader');
  // What a replica needs and nothing more: the Lease, and creating its proofs.
  await admin.create(ROLE, {
    apiVersion: ROLE.apiVersion, kind: ROLE.kind, metadata: { name: 'leader-election', namespace },
    rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
  });
  await admin.create(ROLE, {
    apiVersion: ROLE.apiVersion, kind: ROLE.kind, metadata: { name: 'proof-writer', namespace },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }],
  });
});

// ---------------------------------------------------------------------------
// The witness: every version of the Lease, as the API server committed it.

interface LeaseVersion {
  readonly revision: bigint;
  readonly holder: string;
  readonly transitions: number;
  /** When the test received it (its own clock), for measuring takeovers. */
  readonly receivedAt: number;
}

class LeaseWitness {
  readonly versions: LeaseVersion[] = [];
  #stopWatch: () => void = () => {};
  #ended: unknown = undefined;

  static async start(name: string): Promise<LeaseWitness> {
    const witness = new LeaseWitness();
    // A list for the starting revision (the Lease does not exist yet), then a
    // watch from there: every later version arrives, in order.
    const { items, resourceVersion } = await admin.list<LeaseObject>(LEASE, { namespace });
    if (items.some((lease) => lease.metadata.name === name)) throw new Error(`lease ${name} exists already`);
    witness.#stopWatch = admin.watch<LeaseObject>(LEASE, { resourceVersion, timeoutSeconds: 600, inactivityMs: 600_000 },
      (event: WatchEvent<LeaseObject>) => {
        if (event.type === 'ERROR') {
          witness.#ended = new Error(`lease watch error: ${JSON.stringify(event.object)}`);
          return;
        }
        if (event.type === 'BOOKMARK' || event.object.metadata.namespace !== namespace || event.object.metadata.name !== name) return;
        const record = leaseRecord(event.object.spec);
        witness.versions.push({
          revision: BigInt(event.object.metadata.resourceVersion ?? '0'),
          holder: event.type === 'DELETED' ? '' : record.holderIdentity,
          transitions: record.leaseTransitions,
          receivedAt: Date.now(),
        });
      },
      (error) => { witness.#ended = error ?? new Error('lease watch closed by the server'); });
    return witness;
  }

  /** Resolves with the first version (already seen or still to come) whose holder matches. */
  async waitForHolder(matches: (holder: string) => boolean, timeoutMs: number): Promise<LeaseVersion> {
    return eventually(() => {
      if (this.#ended) throw this.#ended;
      return this.versions.find((version) => matches(version.holder)) ?? false;
    }, { timeoutMs, intervalMs: 10 });
  }

  close(): void {
    this.#stopWatch();
  }

  /** Stops watching; throws when the watch ended early (the history would be incomplete). */
  stop(): LeaseVersion[] {
    this.#stopWatch();
    if (this.#ended) throw new Error(`the lease history is incomplete: ${String(this.#ended)}`);
    return this.versions;
  }
}

// ---------------------------------------------------------------------------
// Candidates: separate processes, each its own user.

interface LogLine {
  readonly msg: string;
  readonly at: number;
}

class Candidate {
  readonly identity: string;
  readonly user: string;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  readonly #child: ChildProcess;

  constructor(identity: string, user: string, child: ChildProcess, log: WriteStream) {
    this.identity = identity;
    this.user = user;
    this.#child = child;
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const parsed = JSON.parse(line) as { msg?: unknown };
          if (typeof parsed.msg === 'string') this.lines.push({ msg: parsed.msg, at: Date.now() });
        } catch {
          // Not a log line (a stack trace): kept in the log file only.
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => log.write(chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      log.end();
      resolve({ code, signal, at: Date.now() });
    }));
  }

  logged(msg: string): LogLine | undefined {
    return this.lines.find((line) => line.msg === msg);
  }

  waitForLog(msg: string, timeoutMs = 15_000): Promise<LogLine> {
    return eventually(() => this.logged(msg) ?? false, { timeoutMs, intervalMs: 10 });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }
}

const running: Candidate[] = [];
const watching: LeaseWitness[] = [];
afterEach(async () => {
  for (const witness of watching.splice(0)) witness.close();
  for (const candidate of running.splice(0)) {
    candidate.signal('SIGKILL');
    await candidate.exited;
  }
});

async function startCandidate(identity: string, lease: string, proof: string): Promise<Candidate> {
  const { dir, server } = testControlPlane();
  const user = `leader-candidate-${identity}`;
  for (const role of ['leader-election', 'proof-writer']) {
    await admin.create(ROLE_BINDING, {
      apiVersion: ROLE_BINDING.apiVersion, kind: ROLE_BINDING.kind, metadata: { name: `${identity}-${role}`, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    });
  }
  const workDir = await mkdtemp(path.join(dir, 'leader-'));
  const kubeconfig = path.join(workDir, 'kubeconfig');
  const ca = Buffer.from(adminKubeConfig().getCurrentCluster()?.caData ?? '', 'base64').toString('utf8');
  await writeFile(kubeconfig, renderKubeconfig(server, ca, await mintIdentityIn(dir, user)), { mode: 0o600 });
  // Outside the control plane's temp dir, so the log survives for whoever reads a failure.
  const logDir = path.join(repoRoot, '.dev', 'test-logs');
  await mkdir(logDir, { recursive: true });
  const log = createWriteStream(path.join(logDir, `leader-${identity}-${process.pid}.log`));
  const child = spawn(process.execPath, [
    path.join(repoRoot, 'test/support/leader-candidate.ts'),
    '--namespace', namespace, '--lease', lease, '--identity', identity, '--proof', proof,
    '--lease-ms', String(LEASE_MS), '--renew-ms', String(RENEW_DEADLINE_MS), '--retry-ms', String(RETRY_MS),
    '--write-every-ms', '100',
  ], { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  const candidate = new Candidate(identity, user, child, log);
  running.push(candidate);
  return candidate;
}

interface Scenario {
  readonly witness: LeaseWitness;
  readonly leader: Candidate;
  readonly follower: Candidate;
  /** The Lease version that made `leader` the first holder. */
  readonly firstTerm: LeaseVersion;
}

/** Two candidates started together on a new Lease; resolves once one of them leads. */
async function elect(proof: string): Promise<Scenario> {
  const lease = `lease-${proof}`;
  const witness = await LeaseWitness.start(lease);
  watching.push(witness);
  const candidates = await Promise.all([`${proof}-a`, `${proof}-b`].map(async (identity) => startCandidate(identity, lease, proof)));
  const firstTerm = await witness.waitForHolder((holder) => holder !== '', 60_000);
  const leader = candidates.find((candidate) => candidate.identity === firstTerm.holder);
  const follower = candidates.find((candidate) => candidate.identity !== firstTerm.holder);
  if (!leader || !follower) throw new Error(`unexpected holder ${firstTerm.holder}`);
  await leader.waitForLog('started leading');
  await follower.waitForLog('candidate started');
  return { witness, leader, follower, firstTerm };
}

/** Both candidates have been trying long enough for the follower to have lost several races. */
async function assertExactlyOneLeads({ witness, leader, follower }: Scenario): Promise<void> {
  await sleep(3 * MAX_TRY_INTERVAL_MS);
  expect(leader.logged('started leading')).toBeDefined();
  expect(follower.logged('started leading')).toBeUndefined();
  expect(witness.versions.map((version) => version.holder).filter((holder) => holder !== leader.identity)).toEqual([]);
}

// ---------------------------------------------------------------------------
// The proof check.

interface ProofWrite {
  readonly revision: bigint;
  readonly writer: string;
  readonly seq: number;
  readonly term: number;
  readonly decidedAtMs: number;
}

async function proofWrites(proof: string): Promise<ProofWrite[]> {
  const { items } = await admin.list<KubeObject & { data?: Record<string, string> }>(CONFIGMAP, {
    namespace, labelSelector: `${PROOF_LABEL}=${proof}`,
  });
  return items.map((item) => ({
    revision: BigInt(item.metadata.resourceVersion ?? '0'),
    writer: item.data?.writer ?? '',
    seq: Number(item.data?.seq),
    term: Number(item.data?.term),
    decidedAtMs: Date.parse(item.data?.decidedAt ?? ''),
  })).sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
}

/** Waits until `candidate` has made `count` proof writes (on a loaded machine a second may hold fewer). */
async function writtenBy(candidate: Candidate, proof: string, count: number): Promise<void> {
  await eventually(async () => {
    const writes = (await proofWrites(proof)).filter((write) => write.writer === candidate.identity).length;
    if (writes < count) throw new Error(`${candidate.identity} has made ${writes} of ${count} proof writes`);
    return true;
  }, { timeoutMs: 30_000, intervalMs: 100 });
}

/**
 * Checks the argument at the top of this file; `leaders` are the expected
 * writers in order. Returns, per handover, the gap between the last decision
 * of one writer and the first of the next.
 */
function assertOneWriterAtATime(writes: ProofWrite[], history: LeaseVersion[], leaders: Candidate[]): number[] {
  const versions = [...history].sort((a, b) => (a.revision < b.revision ? -1 : 1));
  const outsideTheirTerm: string[] = [];
  for (const write of writes) {
    const current = versions.filter((version) => version.revision < write.revision).at(-1);
    if (!current || current.holder !== write.writer || current.transitions !== write.term) {
      outsideTheirTerm.push(`${write.writer} #${write.seq} (term ${write.term}) at revision ${write.revision}, `
        + `when the lease said ${current ? `${current.holder || '<nobody>'} term ${current.transitions}` : 'nothing'}`);
    }
  }
  expect(outsideTheirTerm).toEqual([]);

  const runs: { writer: string; writes: ProofWrite[] }[] = [];
  for (const write of writes) {
    const last = runs.at(-1);
    if (last && last.writer === write.writer) last.writes.push(write);
    else runs.push({ writer: write.writer, writes: [write] });
  }
  expect(runs.map((run) => run.writer)).toEqual(leaders.map((leader) => leader.identity));
  for (const run of runs) {
    expect(run.writes.length).toBeGreaterThanOrEqual(5);
    // Each writer's sequence numbers rise with the revision: its writes landed in the order it made them.
    expect(run.writes.map((write) => write.seq)).toEqual([...run.writes.map((write) => write.seq)].sort((a, b) => a - b));
  }

  const gaps: number[] = [];
  for (let i = 1; i < runs.length; i++) {
    const previous = runs[i - 1]?.writes ?? [];
    const next = runs[i]?.writes ?? [];
    const lastDecision = Math.max(...previous.map((write) => write.decidedAtMs));
    const firstDecision = Math.min(...next.map((write) => write.decidedAtMs));
    expect(firstDecision).toBeGreaterThan(lastDecision);
    gaps.push(firstDecision - lastDecision);
  }
  return gaps;
}

function report(line: string): void {
  process.stdout.write(`    leader election: ${line}\n`);
}

// ---------------------------------------------------------------------------

describe('the single-writer check', () => {
  // Not vacuous: the same check rejects histories in which writes interleave or land outside their writer's term.
  const a = { identity: 'a' } as Candidate;
  const b = { identity: 'b' } as Candidate;
  const version = (revision: number, holder: string, transitions: number): LeaseVersion => ({ revision: BigInt(revision), holder, transitions, receivedAt: 0 });
  const write = (revision: number, writer: string, seq: number, term: number): ProofWrite => ({
    revision: BigInt(revision), writer, seq, term, decidedAtMs: revision,
  });
  const history = [version(10, 'a', 0), version(20, 'a', 0), version(30, 'b', 1), version(40, 'b', 1)];
  const clean = [11, 12, 13, 14, 15].map((r, i) => write(r, 'a', i + 1, 0)).concat([31, 32, 33, 34, 35].map((r, i) => write(r, 'b', i + 1, 1)));

  test('accepts writes that each land in their writer\'s term', () => {
    expect(assertOneWriterAtATime(clean, history, [a, b])).toEqual([16]);
  });

  test('rejects a write after the lease changed hands, even one that keeps the writers in order', () => {
    expect(() => assertOneWriterAtATime([...clean.slice(0, 5), write(31, 'a', 6, 0), ...clean.slice(5).map((w) => ({ ...w, revision: w.revision + 1n }))], history, [a, b])).toThrow();
  });

  test('rejects interleaved writers and a write in a term the writer did not hold', () => {
    const interleaved = [...clean, write(36, 'a', 6, 0)];
    expect(() => assertOneWriterAtATime(interleaved, history, [a, b])).toThrow();
    expect(() => assertOneWriterAtATime(clean.map((w) => (w.writer === 'b' ? { ...w, term: 0 } : w)), history, [a, b])).toThrow();
  });
});

describe('leader election between two processes on one Lease', () => {
  test('exactly one leads; after SIGKILL the other takes over once the lease expired, never both writing', async () => {
    const scenario = await elect('kill');
    const { witness, leader, follower } = scenario;
    await assertExactlyOneLeads(scenario);
    await writtenBy(leader, 'kill', 5);

    const killedAt = Date.now();
    leader.signal('SIGKILL');
    const takeover = await witness.waitForHolder((holder) => holder === follower.identity, LEASE_MS + 2 * MAX_TRY_INTERVAL_MS + 10_000);
    const takeoverMs = takeover.receivedAt - killedAt;
    report(`SIGKILL → ${follower.identity} holds the lease after ${takeoverMs} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    // Not before the lease expired: the last renewal was sent at most one retry
    // period (plus a request) before the kill, and the follower waits a full
    // lease duration after it saw that renewal.
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_MS - RETRY_MS - SLACK_MS);
    // And soon after: the follower sees the last renewal at its next try, and
    // takes over at its first try after the lease duration: at most two try
    // intervals beyond it.
    expect(takeoverMs).toBeLessThanOrEqual(LEASE_MS + 2 * MAX_TRY_INTERVAL_MS + SLACK_MS);
    expect(takeover.transitions).toBe(scenario.firstTerm.transitions + 1);

    await follower.waitForLog('started leading');
    await writtenBy(follower, 'kill', 5);
    follower.signal('SIGTERM');
    expect((await follower.exited).code).toBe(0);

    const gaps = assertOneWriterAtATime(await proofWrites('kill'), witness.stop(), [leader, follower]);
    report(`SIGKILL: last write of ${leader.identity} to first write of ${follower.identity}: ${gaps.join(', ')} ms`);
  });

  test('on SIGTERM the leader drains and releases the lease, and the other takes over well within the lease duration', async () => {
    const scenario = await elect('term');
    const { witness, leader, follower } = scenario;
    await assertExactlyOneLeads(scenario);
    await writtenBy(leader, 'term', 5);

    const terminatedAt = Date.now();
    leader.signal('SIGTERM');
    const takeover = await witness.waitForHolder((holder) => holder === follower.identity, LEASE_MS + 2 * MAX_TRY_INTERVAL_MS + 10_000);
    const takeoverMs = takeover.receivedAt - terminatedAt;
    report(`SIGTERM → ${follower.identity} holds the lease after ${takeoverMs} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    expect((await leader.exited).code).toBe(0);
    expect(leader.logged('released the leader lease')).toBeDefined();
    // The release is a version of its own, with nobody holding the Lease.
    const released = witness.versions.find((version) => version.holder === '');
    if (released === undefined) throw new Error('the witness saw no release of the Lease');
    expect(released.revision < takeover.revision).toBe(true);
    // The follower takes a free Lease at its next try: at most one try
    // interval after the release, plus that try's read and write and the
    // watch bringing the new version, which on a loaded 2-core machine have
    // taken up to 870 ms together. The bound allows a second interval for them
    // (as the SIGKILL case does past expiry). Measured between two versions
    // seen by the same watch, so the leader's drain (its in-flight reconciles
    // finishing) is not part of it; the drain is reported, and the whole stays
    // below a lease.
    const freeMs = takeover.receivedAt - released.receivedAt;
    report(`SIGTERM: released ${released.receivedAt - terminatedAt} ms after the signal, taken ${freeMs} ms after the release`);
    expect(freeMs).toBeLessThanOrEqual(2 * MAX_TRY_INTERVAL_MS + SLACK_MS);
    expect(takeoverMs).toBeLessThan(LEASE_MS);

    await follower.waitForLog('started leading');
    await writtenBy(follower, 'term', 5);
    follower.signal('SIGTERM');
    expect((await follower.exited).code).toBe(0);

    const gaps = assertOneWriterAtATime(await proofWrites('term'), witness.stop(), [leader, follower]);
    report(`SIGTERM: last write of ${leader.identity} to first write of ${follower.identity}: ${gaps.join(', ')} ms`);
  });

  test('a leader whose renewals are refused stops writing and exits within the renew deadline, before the other takes over', async () => {
    const scenario = await elect('revoke');
    const { witness, leader, follower } = scenario;
    await assertExactlyOneLeads(scenario);
    await writtenBy(leader, 'revoke', 5);

    // The leader can still write its proofs, but no longer touch the Lease.
    const revokedAt = Date.now();
    await admin.delete(ROLE_BINDING, `${leader.identity}-leader-election`, namespace);
    const exit = await leader.exited;
    const stoppedMs = exit.at - revokedAt;
    const takeover = await witness.waitForHolder((holder) => holder === follower.identity, LEASE_MS + 2 * MAX_TRY_INTERVAL_MS + 10_000);
    report(`renewals refused → ${leader.identity} exited after ${stoppedMs} ms (renew deadline ${RENEW_DEADLINE_MS} ms); `
      + `${follower.identity} holds the lease after ${takeover.receivedAt - revokedAt} ms`);
    expect(exit.code).toBe(LOST_LEADERSHIP_EXIT_CODE);
    expect(leader.logged('stopped leading')).toBeDefined();
    expect(stoppedMs).toBeLessThanOrEqual(RENEW_DEADLINE_MS + SLACK_MS);
    expect(exit.at).toBeLessThan(takeover.receivedAt);

    await follower.waitForLog('started leading');
    await writtenBy(follower, 'revoke', 5);
    follower.signal('SIGTERM');
    expect((await follower.exited).code).toBe(0);

    const gaps = assertOneWriterAtATime(await proofWrites('revoke'), witness.stop(), [leader, follower]);
    report(`renewals refused: last write of ${leader.identity} to first write of ${follower.identity}: ${gaps.join(', ')} ms `
      + `(at least lease − renew deadline = ${LEASE_MS - RENEW_DEADLINE_MS} ms by construction)`);
    // The margin the timings promise: the leader decides its last write less
    // than renewDeadline after it sent its last renewal; the follower saw that
    // renewal no earlier than it was sent and waited leaseDuration from then.
    // (Both decision times come from one host's clock; a few ms for how each
    // process derives wall time from its monotonic clock.)
    expect(gaps[0]).toBeGreaterThanOrEqual(LEASE_MS - RENEW_DEADLINE_MS - 50);
  });
});
