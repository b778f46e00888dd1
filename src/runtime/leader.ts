// Leader election through a coordination.k8s.io/v1 Lease, in the manner of
// client-go's leaderelection package with its LeaseLock:
//
//  - Candidates read the Lease and take it only when it is free (no holder) or
//    expired. Expiry is judged on the candidate's own monotonic clock: the
//    record counts as renewed when the candidate saw it *change*, and expires
//    leaseDurationSeconds after that. Timestamps written by other replicas are
//    never compared with the local clock, so clock skew between nodes does not
//    matter (only a difference in clock *rate* would).
//  - Every write is an update carrying the resourceVersion that was read (or a
//    create when there is no Lease yet), so when two candidates race, the API
//    server lets exactly one win and the other gets 409 Conflict.
//  - The leader renews every retryPeriod. It leads only while its last
//    successful renewal was *sent* less than renewDeadline ago: another
//    candidate saw that renewal no earlier than it was sent, and waits a full
//    leaseDuration from then, so the leader stops at least
//    leaseDuration - renewDeadline before anyone else may start. `isLeader()`
//    checks the clock itself, so even a late timer (a blocked event loop)
//    cannot stretch a term.
//  - Leadership lost is final: onStoppedLeading is called and the caller exits,
//    as controller-runtime does, so a replica never writes without the lease.
//  - On a clean shutdown the leader releases the Lease (empty holder, duration
//    one second) so that another replica takes over at its next try instead of
//    waiting for expiry.
//
// Like client-go, this is not fencing: a write the leader decided on just
// before its deadline can still reach the API server later. The margin
// leaseDuration - renewDeadline is what keeps such writes ahead of the next
// leader.
import type { Logger } from 'pino';
import { FIELD_MANAGER } from '../api/constants.ts';
import { KubeApiError } from './errors.ts';
import { HttpMethod, resourcePath, type KubeClient, type KubeObject, type ResourceType } from './kube.ts';

export const LEASE: ResourceType = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases', namespaced: true };

/** client-go's JitterFactor: a candidate waits between retryPeriod and 2.2 × retryPeriod between tries. */
export const JITTER_FACTOR = 1.2;

/** The election record a Lease's spec carries, with absent fields normalized. */
export interface LeaseRecord {
  /** Empty when nobody holds the Lease (never taken, or released). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  /** MicroTime strings, informational: only their change is ever used. */
  readonly acquireTime: string;
  readonly renewTime: string;
  readonly leaseTransitions: number;
}

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

export type LeaseObject = KubeObject & { spec?: LeaseSpec };

export interface LeaderElectorOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  /** Unique per process (e.g. pod name plus a random suffix): two processes with one identity would both lead. */
  readonly identity: string;
  /** How long others wait after they last saw the record change before they take it. Written in whole seconds, rounded up. */
  readonly leaseDurationMs?: number;
  /** How long the leader keeps leading after it last sent a renewal that succeeded. */
  readonly renewDeadlineMs?: number;
  /** How often the leader renews, and the base interval between a candidate's tries. */
  readonly retryPeriodMs?: number;
  readonly logger: Logger;
  readonly onStartedLeading: () => void;
  /** Called once when leadership is lost (not on stop()); the caller should exit the process. */
  readonly onStoppedLeading: () => void;
  /** A monotonic clock in milliseconds for every local judgment; default performance.now(). */
  readonly now?: () => number;
}

export interface Timings {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

/** The same constraints client-go's NewLeaderElector enforces; throws when they do not hold. */
export function validateTimings({ leaseDurationMs, renewDeadlineMs, retryPeriodMs }: Timings): void {
  for (const [name, value] of Object.entries({ leaseDurationMs, renewDeadlineMs, retryPeriodMs })) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of milliseconds, not ${value}`);
  }
  if (leaseDurationMs <= renewDeadlineMs) throw new Error('leaseDurationMs must be greater than renewDeadlineMs');
  if (renewDeadlineMs <= JITTER_FACTOR * retryPeriodMs) throw new Error(`renewDeadlineMs must be greater than ${JITTER_FACTOR} × retryPeriodMs`);
}

/** A metav1.MicroTime: RFC 3339 in UTC with exactly six fractional digits, e.g. 2026-01-01T00:00:00.000000Z. */
export function formatMicroTime(epochMs: number): string {
  const wholeMs = Math.floor(epochMs);
  const micros = Math.min(999, Math.max(0, Math.floor((epochMs - wholeMs) * 1000)));
  return `${new Date(wholeMs).toISOString().slice(0, 23)}${String(micros).padStart(3, '0')}Z`;
}

export function leaseRecord(spec: LeaseSpec | undefined): LeaseRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: spec?.acquireTime ?? '',
    renewTime: spec?.renewTime ?? '',
    leaseTransitions: spec?.leaseTransitions ?? 0,
  };
}

export function sameRecord(a: LeaseRecord | undefined, b: LeaseRecord | undefined): boolean {
  if (!a || !b) return a === b;
  return a.holderIdentity === b.holderIdentity && a.leaseDurationSeconds === b.leaseDurationSeconds
    && a.acquireTime === b.acquireTime && a.renewTime === b.renewTime && a.leaseTransitions === b.leaseTransitions;
}

export type LeaseJudgment =
  | { readonly may: true; readonly why: 'free' | 'expired' | 'ours' }
  | { readonly may: false; readonly holder: string; readonly expiresInMs: number };

/**
 * May `identity` write this record now? `observedAtMs` is when this observer
 * last saw the record change, on the same clock as `nowMs`; the record's own
 * timestamps are deliberately not consulted.
 */
export function judgeLease(record: LeaseRecord, observedAtMs: number, nowMs: number, identity: string): LeaseJudgment {
  if (record.holderIdentity === '') return { may: true, why: 'free' };
  if (record.holderIdentity === identity) return { may: true, why: 'ours' };
  const expiresInMs = observedAtMs + record.leaseDurationSeconds * 1000 - nowMs;
  if (expiresInMs <= 0) return { may: true, why: 'expired' };
  return { may: false, holder: record.holderIdentity, expiresInMs };
}

/**
 * The record `identity` writes to acquire or renew over `previous` (undefined
 * when creating the Lease): a renewal keeps acquireTime and the transition
 * count, a takeover starts a new term.
 */
export function nextRecord(previous: LeaseRecord | undefined, identity: string, leaseDurationSeconds: number, wallMs: number): LeaseRecord {
  const now = formatMicroTime(wallMs);
  const renewing = previous !== undefined && previous.holderIdentity === identity;
  return {
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTime: renewing && previous.acquireTime ? previous.acquireTime : now,
    renewTime: now,
    leaseTransitions: previous === undefined ? 0 : renewing ? previous.leaseTransitions : previous.leaseTransitions + 1,
  };
}

/** What a leader writes when it steps down cleanly: nobody holds it, so the next candidate takes it at once. */
export function releasedRecord(previous: LeaseRecord, wallMs: number): LeaseRecord {
  const now = formatMicroTime(wallMs);
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: previous.leaseTransitions };
}

function toSpec(record: LeaseRecord): LeaseSpec {
  return { ...record };
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The outcome of one try: written, or someone else holds a valid lease, or the request failed. */
type Attempt = 'written' | 'held' | 'failed';

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #name: string;
  readonly #identity: string;
  readonly #leaseDurationSeconds: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #logger: Logger;
  readonly #onStartedLeading: () => void;
  readonly #onStoppedLeading: () => void;
  readonly #now: () => number;

  /** The Lease as last read or written: its metadata (resourceVersion) makes the next update conditional. */
  #lease: LeaseObject | undefined;
  #observed: LeaseRecord | undefined;
  #observedAt = 0;
  #leading = false;
  /** When the last successful acquire or renew request was sent; the term runs renewDeadline from here. */
  #renewedAt = Number.NEGATIVE_INFINITY;
  #started = false;
  #stopped = false;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  readonly #done = Promise.withResolvers<void>();

  constructor(options: LeaderElectorOptions) {
    const timings: Timings = {
      leaseDurationMs: options.leaseDurationMs ?? 15_000,
      renewDeadlineMs: options.renewDeadlineMs ?? 10_000,
      retryPeriodMs: options.retryPeriodMs ?? 2_000,
    };
    validateTimings(timings);
    if (!options.identity) throw new Error('the leader election identity must not be empty');
    this.#client = options.client;
    this.#namespace = options.namespace;
    this.#name = options.name;
    this.#identity = options.identity;
    // Rounded up so that others never wait less than this replica's own view of a term.
    this.#leaseDurationSeconds = Math.ceil(timings.leaseDurationMs / 1000);
    this.#renewDeadlineMs = timings.renewDeadlineMs;
    this.#retryPeriodMs = timings.retryPeriodMs;
    this.#logger = options.logger.child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
    this.#onStartedLeading = options.onStartedLeading;
    this.#onStoppedLeading = options.onStoppedLeading;
    this.#now = options.now ?? (() => performance.now());
  }

  get identity(): string {
    return this.#identity;
  }

  /** True while this replica holds the Lease and its term has not run out; check it before every write. */
  isLeader(): boolean {
    return this.#leading && this.#now() - this.#renewedAt < this.#renewDeadlineMs;
  }

  /** The holder this replica last observed (itself included); undefined before the first read or when free. */
  leader(): string | undefined {
    return this.#observed?.holderIdentity || undefined;
  }

  /** The election record as last read or written. */
  record(): LeaseRecord | undefined {
    return this.#observed;
  }

  /**
   * Campaigns until this replica acquires the Lease, then renews it. Resolves
   * when stop() was called or leadership was lost (after onStoppedLeading).
   * A lost leadership is never regained by the same elector.
   */
  run(): Promise<void> {
    if (this.#started) throw new Error('LeaderElector.run() may be called only once');
    this.#started = true;
    this.#loop = this.#campaign().catch((error: unknown) => {
      this.#logger.error({ err: describeError(error) }, 'leader election failed unexpectedly');
      this.#lose('leader election failed unexpectedly');
      this.#done.resolve();
    });
    return this.#done.promise;
  }

  /**
   * Stops campaigning or leading. With `release`, a leader hands the Lease
   * back so another replica takes over at its next try: call it only after
   * every write this replica started has finished. onStoppedLeading is not
   * called: the caller is the one stopping.
   */
  stop({ release }: { release: boolean }): Promise<void> {
    this.#stopping ??= this.#stop(release);
    return this.#stopping;
  }

  async #stop(release: boolean): Promise<void> {
    const wasLeading = this.#leading;
    this.#stopped = true;
    this.#leading = false;
    clearTimeout(this.#deadlineTimer);
    this.#wake?.();
    // Let an in-flight try finish, so that the release starts from the newest
    // version; one that hangs is not waited for: the release and the try are
    // both conditional on a resourceVersion, so whichever lands second fails.
    await Promise.race([this.#loop, new Promise((resolve) => setTimeout(resolve, this.#retryPeriodMs).unref())]);
    // Also when a try that began before stop() has just acquired the Lease: hand it back rather than let it expire.
    const holding = this.#lease !== undefined && this.#observed?.holderIdentity === this.#identity;
    if (release && holding) await this.#release();
    this.#logger.info({ wasLeading, released: release && holding }, 'leader election stopped');
    this.#done.resolve();
  }

  async #campaign(): Promise<void> {
    this.#logger.info('trying to acquire the leader lease');
    while (!this.#stopped) {
      if (await this.#tryAcquireOrRenew(false) === 'written') break;
      await this.#sleep(this.#retryPeriodMs * (1 + JITTER_FACTOR * Math.random()));
    }
    if (this.#stopped) return;
    this.#startLeading();
    while (this.#leading && !this.#stopped) {
      await this.#sleep(this.#retryPeriodMs);
      if (!this.#leading || this.#stopped) return;
      const attempt = await this.#tryAcquireOrRenew(true);
      if (!this.#leading || this.#stopped) return;
      if (attempt === 'written') {
        this.#armDeadline();
        this.#logger.trace('renewed the leader lease');
      } else if (attempt === 'held') {
        this.#lose(`the lease is now held by ${this.leader() ?? 'nobody'}`);
      } else if (!this.isLeader()) {
        this.#lose(`could not renew the lease within ${this.#renewDeadlineMs} ms`);
      }
      // Otherwise keep trying every retryPeriod until the deadline.
    }
  }

  /**
   * One try, client-go's tryAcquireOrRenew. A leader first updates the Lease
   * it last wrote (one request); on any failure it reads the Lease again. With
   * `renewOnly`, a Lease that names anyone else is 'held': a leader never
   * starts a new term in passing.
   */
  async #tryAcquireOrRenew(renewOnly: boolean): Promise<Attempt> {
    if (renewOnly && this.#lease && this.#observed?.holderIdentity === this.#identity) {
      const sentAt = this.#now();
      try {
        await this.#update(this.#lease, nextRecord(this.#observed, this.#identity, this.#leaseDurationSeconds, Date.now()), sentAt);
        return 'written';
      } catch (error) {
        this.#logger.debug({ err: describeError(error) }, 'renewing the cached lease failed; reading it again');
      }
    }

    let current: LeaseObject;
    try {
      current = await this.#client.get<LeaseObject>(LEASE, this.#name, this.#namespace);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 404)) {
        this.#logger.warn({ err: describeError(error) }, 'could not read the leader lease');
        return 'failed';
      }
      if (renewOnly) {
        // Someone deleted the Lease under us: the term this replica held is gone.
        this.#observed = undefined;
        return 'held';
      }
      return this.#create();
    }

    const record = leaseRecord(current.spec);
    if (!sameRecord(record, this.#observed)) {
      this.#observed = record;
      this.#observedAt = this.#now();
    }
    if (renewOnly && record.holderIdentity !== this.#identity) return 'held';
    const judgment = judgeLease(record, this.#observedAt, this.#now(), this.#identity);
    if (!judgment.may) {
      this.#logger.debug({ holder: judgment.holder, expiresInMs: Math.round(judgment.expiresInMs) }, 'the leader lease is held by another replica');
      return 'held';
    }
    const sentAt = this.#now();
    try {
      await this.#update(current, nextRecord(record, this.#identity, this.#leaseDurationSeconds, Date.now()), sentAt);
      if (judgment.why !== 'ours') this.#logger.info({ previousHolder: record.holderIdentity || undefined, why: judgment.why }, 'took over the leader lease');
      return 'written';
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 409) {
        this.#logger.debug('another replica updated the leader lease first');
        return 'held';
      }
      this.#logger.warn({ err: describeError(error) }, 'could not update the leader lease');
      return 'failed';
    }
  }

  async #create(): Promise<Attempt> {
    const record = nextRecord(undefined, this.#identity, this.#leaseDurationSeconds, Date.now());
    const sentAt = this.#now();
    try {
      const created = await this.#client.create<LeaseObject>(LEASE, {
        apiVersion: LEASE.apiVersion, kind: LEASE.kind,
        metadata: { name: this.#name, namespace: this.#namespace },
        spec: toSpec(record),
      });
      this.#wrote(created, record, sentAt);
      this.#logger.info('created the leader lease');
      return 'written';
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 409) {
        this.#logger.debug('another replica created the leader lease first');
        return 'held';
      }
      this.#logger.warn({ err: describeError(error) }, 'could not create the leader lease');
      return 'failed';
    }
  }

  /** A PUT conditional on the resourceVersion in `base`: 409 Conflict when anyone wrote since it was read. */
  async #update(base: LeaseObject, record: LeaseRecord, sentAt: number): Promise<void> {
    const { managedFields: _managedFields, ...metadata } = base.metadata;
    const updated = await this.#client.request<LeaseObject>('update', HttpMethod.PUT, resourcePath(LEASE, this.#namespace, this.#name), {
      resource: LEASE.plural,
      query: { fieldManager: FIELD_MANAGER },
      body: { apiVersion: LEASE.apiVersion, kind: LEASE.kind, metadata, spec: toSpec(record) },
    });
    this.#wrote(updated, record, sentAt);
  }

  #wrote(lease: LeaseObject, record: LeaseRecord, sentAt: number): void {
    // Even after stop() or a lost term: the release wants the newest version,
    // and isLeader() stays false once #leading is.
    this.#lease = lease;
    this.#observed = record;
    this.#observedAt = this.#now();
    if (record.holderIdentity === this.#identity) this.#renewedAt = sentAt;
  }

  #startLeading(): void {
    this.#leading = true;
    this.#armDeadline();
    this.#logger.info({ leaseTransitions: this.#observed?.leaseTransitions }, 'started leading');
    try {
      this.#onStartedLeading();
    } catch (error) {
      this.#logger.error({ err: describeError(error) }, 'onStartedLeading failed');
    }
  }

  /** A timer for the end of the term, so that leadership is given up even while a renewal hangs. */
  #armDeadline(): void {
    clearTimeout(this.#deadlineTimer);
    const remaining = Math.max(0, this.#renewedAt + this.#renewDeadlineMs - this.#now());
    this.#deadlineTimer = setTimeout(() => {
      if (!this.#leading) return;
      // Timers run on the event loop's cached clock and may fire a little early: check again later.
      if (this.isLeader()) this.#armDeadline();
      else this.#lose(`could not renew the lease within ${this.#renewDeadlineMs} ms`);
    }, remaining + 1);
  }

  #lose(reason: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#stopped = true;
    clearTimeout(this.#deadlineTimer);
    this.#wake?.();
    this.#logger.warn({ reason }, 'stopped leading');
    try {
      this.#onStoppedLeading();
    } catch (error) {
      this.#logger.error({ err: describeError(error) }, 'onStoppedLeading failed');
    }
    this.#done.resolve();
  }

  async #release(): Promise<void> {
    // Two tries: the cached Lease may be one renewal behind an in-flight request that did land.
    for (let attempt = 0; attempt < 2; attempt++) {
      const lease = this.#lease;
      const record = this.#observed;
      if (!lease || !record || record.holderIdentity !== this.#identity) return;
      try {
        const { managedFields: _managedFields, ...metadata } = lease.metadata;
        const released = releasedRecord(record, Date.now());
        this.#lease = await this.#client.request<LeaseObject>('update', HttpMethod.PUT, resourcePath(LEASE, this.#namespace, this.#name), {
          resource: LEASE.plural,
          query: { fieldManager: FIELD_MANAGER },
          body: { apiVersion: LEASE.apiVersion, kind: LEASE.kind, metadata, spec: toSpec(released) },
        });
        this.#observed = released;
        this.#logger.info('released the leader lease');
        return;
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 409)) {
          this.#logger.warn({ err: describeError(error) }, 'could not release the leader lease; it expires on its own');
          return;
        }
        try {
          this.#lease = await this.#client.get<LeaseObject>(LEASE, this.#name, this.#namespace);
          this.#observed = leaseRecord(this.#lease.spec);
        } catch (readError) {
          this.#logger.warn({ err: describeError(readError) }, 'could not release the leader lease; it expires on its own');
          return;
        }
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        if (this.#wake === wake) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wake = wake;
    });
  }
}
