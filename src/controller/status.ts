// What each baseline's status says, aggregated from the outcome of the last
// reconcile of every namespace it selects. Reconciles report here; the
// baseline reconciler turns the summary into one status write, debounced, so
// a thousand namespaces make one write, not a thousand.
//
// The counts are kept as outcomes change, not recounted: a summary (and a
// metrics scrape) costs the same at 30,000 namespaces as at 30. That holds
// because the tracker keeps outcomes only for namespaces the baseline selects
// and that are not terminating (`isLive`, from the selection index, which
// also tells the manager when a namespace stops being one: forget()).
import type { Condition, ConditionType, NamespaceCounts, SecurityBaseline } from '../api/types.ts';
import { Interner } from '../runtime/interner.ts';
import { isDeleting } from './selection.ts';

export type NamespaceState = 'compliant' | 'drifted' | 'failed' | 'conflict';

export interface NamespaceOutcome {
  readonly state: NamespaceState;
  /** The baseline generation the namespace was reconciled against. */
  readonly generation: number;
  /** The revision of the baseline the namespace was reconciled to (Enforce mode). */
  readonly revision?: string;
  /** The BaselineExceptions of the baseline in effect in the namespace, by name. */
  readonly exceptions?: readonly string[];
  /** For failed and conflict: a machine-readable reason and a message for people. */
  readonly reason?: string;
  readonly message?: string;
}

export interface StatusSummary {
  readonly namespaces: NamespaceCounts;
  readonly conflicts: number;
  /** Conditions without lastTransitionTime (the writer keeps or sets it). */
  readonly conditions: Omit<Condition, 'lastTransitionTime'>[];
  /** Whether every selected namespace has been reconciled against `generation`. */
  readonly upToDate: boolean;
}

/** See passTook. */
const PASS_SPACING = 50;

/** How many outcomes of one generation are in each state, and how many of them have exceptions in effect. */
type Tally = Record<NamespaceState | 'excepted', number>;

/** One baseline's outcomes, with their counts per generation kept as they change. */
class BaselineOutcomes {
  readonly byNamespace = new Map<string, NamespaceOutcome>();
  readonly tallies = new Map<number, Tally>();
  /** The failed and conflicting outcomes (of any generation), for the conditions' messages. */
  readonly problems = new Map<string, NamespaceOutcome>();

  set(namespace: string, outcome: NamespaceOutcome): void {
    this.delete(namespace);
    this.byNamespace.set(namespace, outcome);
    this.#count(namespace, outcome, 1);
  }

  delete(namespace: string): boolean {
    const previous = this.byNamespace.get(namespace);
    if (!previous) return false;
    this.byNamespace.delete(namespace);
    this.#count(namespace, previous, -1);
    return true;
  }

  #count(namespace: string, outcome: NamespaceOutcome, delta: 1 | -1): void {
    let tally = this.tallies.get(outcome.generation);
    if (!tally) this.tallies.set(outcome.generation, tally = { compliant: 0, drifted: 0, failed: 0, conflict: 0, excepted: 0 });
    tally[outcome.state] += delta;
    if ((outcome.exceptions ?? []).length > 0) tally.excepted += delta;
    if (tally.compliant + tally.drifted + tally.failed + tally.conflict === 0) this.tallies.delete(outcome.generation);
    if (outcome.state === 'failed' || outcome.state === 'conflict') {
      if (delta > 0) this.problems.set(namespace, outcome);
      else this.problems.delete(namespace);
    }
  }
}

export class BaselineStatusTracker {
  readonly #outcomes = new Map<string, BaselineOutcomes>();
  readonly #onChange: (baseline: string) => void;
  readonly #isLive: (baseline: string, namespace: string) => boolean;
  /** The shortest time between two status writes of one baseline. */
  readonly statusIntervalMs: number;
  /** When each baseline's status was last written by this process. */
  readonly #lastWrite = new Map<string, number>();

  /**
   * `isLive`: whether the baseline selects the namespace now and the namespace
   * is not terminating. An outcome for any other is dropped: a reconcile that
   * started before a relabel or a deletion may report after it.
   */
  constructor(onChange: (baseline: string) => void, statusIntervalMs = 1_000, isLive: (baseline: string, namespace: string) => boolean = () => true) {
    this.#onChange = onChange;
    this.statusIntervalMs = statusIntervalMs;
    this.#isLive = isLive;
  }

  /**
   * How long the baseline reconcile's pass over its namespaces took (the
   * rollout plan). After an outcome changes, the reconcile waits the status
   * interval, or PASS_SPACING times that pass if longer: at most one part in
   * PASS_SPACING of the process's time goes into the pass, however many
   * namespaces there are (about 1 ms per 1,000 namespaces).
   */
  passTook(baseline: string, ms: number): void {
    this.#passMs.set(baseline, ms);
  }

  readonly #passMs = new Map<string, number>();

  /** How long after an outcome changes the baseline is reconciled. */
  delayAfterChange(baseline: string): number {
    return Math.max(this.statusIntervalMs, PASS_SPACING * (this.#passMs.get(baseline) ?? 0));
  }

  /** Whether it is time to look at the namespaces pre-flight held again (at most once per interval); notes that it is. */
  dueForRecheck(baseline: string, now = Date.now(), intervalMs = 30_000): boolean {
    if (now - (this.#lastRecheck.get(baseline) ?? -Infinity) < intervalMs) return false;
    this.#lastRecheck.set(baseline, now);
    return true;
  }

  readonly #lastRecheck = new Map<string, number>();

  /** Milliseconds until the baseline's status may be written again (0: now). */
  untilNextWrite(baseline: string, now = Date.now()): number {
    return Math.max(0, (this.#lastWrite.get(baseline) ?? -Infinity) + this.statusIntervalMs - now);
  }

  statusWritten(baseline: string, now = Date.now()): void {
    this.#lastWrite.set(baseline, now);
  }

  /** The outcome of the last reconcile of `namespace` for `baseline`; tells the baseline when it changes. */
  setOutcome(baseline: string, namespace: string, outcome: NamespaceOutcome): void {
    if (!this.#isLive(baseline, namespace)) {
      this.forget(baseline, namespace);
      return;
    }
    let outcomes = this.#outcomes.get(baseline);
    if (!outcomes) this.#outcomes.set(baseline, outcomes = new BaselineOutcomes());
    const previous = outcomes.byNamespace.get(namespace);
    outcomes.set(namespace, this.#share(outcome));
    if (!previous || previous.state !== outcome.state || previous.generation !== outcome.generation || previous.revision !== outcome.revision
      || (previous.exceptions ?? []).join() !== (outcome.exceptions ?? []).join() || previous.reason !== outcome.reason || previous.message !== outcome.message) {
      this.#onChange(baseline);
    }
  }

  /**
   * Outcomes without a problem repeat across namespaces (compliant at one
   * revision): one shared object each, not one per namespace. Bounded, as
   * every Interner is.
   */
  readonly #sharedOutcomes = new Interner<NamespaceOutcome>(1_000);

  #share(outcome: NamespaceOutcome): NamespaceOutcome {
    if (outcome.reason !== undefined || outcome.message !== undefined) return outcome;
    const exceptions = outcome.exceptions ?? [];
    const key = [outcome.state, outcome.generation, outcome.revision ?? '', ...exceptions].join('\n');
    return this.#sharedOutcomes.get(key, () => Object.freeze({
      state: outcome.state, generation: outcome.generation, revision: outcome.revision, exceptions: Object.freeze([...exceptions]),
    }));
  }

  /** The namespace is no longer selected by (or managed for) this baseline. */
  forget(baseline: string, namespace: string): void {
    if (this.#outcomes.get(baseline)?.delete(namespace)) this.#onChange(baseline);
  }

  forgetNamespace(namespace: string): void {
    for (const baseline of this.#outcomes.keys()) this.forget(baseline, namespace);
  }

  forgetBaseline(baseline: string): void {
    this.#outcomes.delete(baseline);
    this.#baselineProblems.delete(baseline);
    this.#lastWrite.delete(baseline);
    this.#lastRecheck.delete(baseline);
    this.#passMs.delete(baseline);
  }

  /** A problem of the baseline itself, not of a namespace (its admission policies); undefined clears it. */
  setBaselineProblem(baseline: string, problem: { reason: string; message: string } | undefined): void {
    const previous = this.#baselineProblems.get(baseline);
    if (problem) this.#baselineProblems.set(baseline, problem);
    else this.#baselineProblems.delete(baseline);
    if (previous?.reason !== problem?.reason || previous?.message !== problem?.message) this.#onChange(baseline);
  }

  readonly #baselineProblems = new Map<string, { reason: string; message: string }>();

  outcome(baseline: string, namespace: string): NamespaceOutcome | undefined {
    return this.#outcomes.get(baseline)?.byNamespace.get(namespace);
  }

  /**
   * How many of the baseline's `selected` live namespaces are in each state of
   * their last reconcile at `generation`; `pending`: not reconciled at it yet.
   */
  counts(baseline: string, selected: number, generation: number): Record<NamespaceState | 'pending' | 'excepted', number> {
    const { compliant, drifted, failed, conflict, excepted } = this.#outcomes.get(baseline)?.tallies.get(generation)
      ?? { compliant: 0, drifted: 0, failed: 0, conflict: 0, excepted: 0 };
    return { compliant, drifted, failed, conflict, excepted, pending: Math.max(0, selected - compliant - drifted - failed - conflict) };
  }

  /**
   * Summarises one baseline: `selected` is how many live namespaces it selects
   * now (the selection index), `generation` its current generation.
   */
  summarize(baseline: string, selected: number, generation: number): StatusSummary {
    const { compliant, drifted, failed, conflict: conflicts, excepted, pending } = this.counts(baseline, selected, generation);
    const failures: { namespace: string; outcome: NamespaceOutcome }[] = [];
    const conflicted: { namespace: string; outcome: NamespaceOutcome }[] = [];
    for (const [namespace, outcome] of this.#outcomes.get(baseline)?.problems ?? []) {
      if (outcome.generation === generation) (outcome.state === 'failed' ? failures : conflicted).push({ namespace, outcome });
    }
    const total = selected;
    const own = this.#baselineProblems.get(baseline);
    const condition = (type: ConditionType, status: boolean, reason: string, message: string) => ({
      type, status: status ? 'True' as const : 'False' as const, reason, message, observedGeneration: generation,
    });
    const ready = compliant === total && !own;
    const conditions = [
      condition('Ready', ready, ready ? 'AllNamespacesCompliant' : own && compliant === total ? own.reason : pending > 0 ? 'Progressing' : 'NotAllNamespacesCompliant',
        `${compliant}/${total} namespaces compliant${own ? `; ${own.message}` : ''}`),
      condition('Progressing', pending > 0, pending > 0 ? 'Reconciling' : 'Reconciled',
        pending > 0 ? `${pending}/${total} namespaces not yet reconciled at generation ${generation}` : `all ${total} selected namespaces reconciled`),
      own
        ? condition('Degraded', true, own.reason, own.message + (failed > 0 ? `; and ${describe(failures, failed)}` : ''))
        : condition('Degraded', failed > 0, failed > 0 ? mostCommonReason(failures) : 'NoFailures', failed > 0 ? describe(failures, failed) : 'no namespace failed'),
      condition('Conflict', conflicts > 0, conflicts > 0 ? mostCommonReason(conflicted) : 'NoConflicts',
        conflicts > 0 ? describe(conflicted, conflicts) : 'no conflicts'),
    ];
    return {
      namespaces: { selected: total, compliant, drifted, failed, ...(excepted > 0 ? { excepted } : {}) },
      conflicts,
      conditions,
      upToDate: pending === 0,
    };
  }
}

function mostCommonReason(entries: { outcome: NamespaceOutcome }[]): string {
  const counts = new Map<string, number>();
  for (const { outcome } of entries) counts.set(outcome.reason ?? 'Unknown', (counts.get(outcome.reason ?? 'Unknown') ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? 'Unknown';
}

/** "3 namespaces: team-a: <message>; team-b: …" — the first few, sorted, so the message is stable. */
function describe(entries: { namespace: string; outcome: NamespaceOutcome }[], count: number): string {
  const shown = [...entries].sort((a, b) => a.namespace.localeCompare(b.namespace)).slice(0, 3)
    .map(({ namespace, outcome }) => `${namespace}: ${outcome.message ?? outcome.reason ?? 'unknown'}`);
  return `${count} namespace${count === 1 ? '' : 's'}: ${shown.join('; ')}${count > 3 ? '; …' : ''}`;
}

/**
 * Per baseline, how many of the namespaces it selects are in each state of their
 * last reconcile at its current generation (`pending`: not yet reconciled at
 * it): the security_baseline_namespaces gauge. `liveCount` gives how many live
 * namespaces a baseline selects (the selection index).
 */
export function countNamespaceStates<B extends SecurityBaseline>(
  tracker: BaselineStatusTracker, baselines: readonly B[], liveCount: (baseline: B) => number,
): Map<string, Record<NamespaceState | 'pending', number>> {
  const counts = new Map<string, Record<NamespaceState | 'pending', number>>();
  for (const baseline of baselines) {
    if (isDeleting(baseline)) continue;
    const { compliant, drifted, failed, conflict, pending } = tracker.counts(baseline.metadata.name, liveCount(baseline), baseline.metadata.generation ?? 0);
    counts.set(baseline.metadata.name, { compliant, drifted, failed, conflict, pending });
  }
  return counts;
}
