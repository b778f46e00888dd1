// What the two reconciles share about rollouts: the baseline reconcile plans
// (which namespaces may move to the update revision now), the namespace
// reconciles act on the plan and report back which namespaces pre-flight held
// and where applying the update revision failed. In memory only: the plan is
// recomputed from the status and the namespaces' annotations after a restart,
// and held namespaces are held again by their next pre-flight.
import type { RolloutPlan } from '../resources/rollout.ts';
import { revisionName } from '../resources/revision.ts';
import type { SecurityBaseline } from '../api/types.ts';

export interface NamespacePlan {
  readonly updateRevision: string;
  /** The revision new namespaces get while the baseline is paused (the last one fully rolled out). */
  readonly currentRevision: string | undefined;
  readonly paused: boolean;
  /** Whether the namespace may move to the update revision now. */
  permits(namespace: string): boolean;
  /** Progressive: a namespace that fails pre-flight stays where it is. Immediate: it moves, and the findings are reported. */
  readonly holdOnFindings: boolean;
}

export class Rollouts {
  readonly #plans = new Map<string, RolloutPlan & { readonly updateRevision: string }>();
  readonly #held = new Map<string, Map<string, string>>();
  readonly #failed = new Map<string, Map<string, string>>();
  readonly #onChange: (baseline: string) => void;
  readonly #announced = new Map<string, Set<string>>();

  constructor(onChange: (baseline: string) => void) {
    this.#onChange = onChange;
  }

  /** Stores the baseline reconcile's plan; returns the namespaces it permits that the previous plan did not. */
  setPlan(baseline: string, plan: RolloutPlan): ReadonlySet<string> | 'all' {
    const previous = this.#plans.get(baseline);
    this.#plans.set(baseline, { ...plan, updateRevision: plan.status.revision });
    if (plan.permitted === 'all') return previous?.permitted === 'all' && previous.updateRevision === plan.status.revision ? new Set() : 'all';
    const before = previous?.updateRevision === plan.status.revision && previous.permitted !== 'all' ? previous.permitted : new Set<string>();
    return new Set([...plan.permitted].filter((name) => !before.has(name)));
  }

  lastPlan(baseline: string): RolloutPlan | undefined {
    return this.#plans.get(baseline);
  }

  /** The plan a namespace reconcile follows for this baseline. Before the baseline reconcile has planned the current spec, only Immediate moves. */
  planFor(baseline: SecurityBaseline): NamespacePlan {
    const updateRevision = revisionName(baseline.metadata.name, baseline.spec);
    const progressive = baseline.spec.rollout?.strategy === 'Progressive';
    const paused = baseline.spec.paused === true;
    const stored = this.#plans.get(baseline.metadata.name);
    const permitted = stored?.updateRevision === updateRevision ? stored.permitted : (progressive || paused ? new Set<string>() : 'all');
    return {
      updateRevision,
      currentRevision: baseline.status?.currentRevision,
      paused,
      permits: (namespace) => !paused && (permitted === 'all' || permitted.has(namespace)),
      holdOnFindings: progressive,
    };
  }

  /** True the first time `what` is asked about for the baseline: an Event is recorded once, not at every reconcile until the status catches up. */
  firstTime(baseline: string, what: string): boolean {
    let seen = this.#announced.get(baseline);
    if (!seen) this.#announced.set(baseline, seen = new Set());
    if (seen.has(what)) return false;
    seen.add(what);
    return true;
  }

  /** Pre-flight kept the namespace at its revision, for `why`. */
  hold(baseline: string, namespace: string, why: string): void {
    this.#set(this.#held, baseline, namespace, why);
  }

  /** Applying the update revision in the namespace failed, for `why`. */
  fail(baseline: string, namespace: string, why: string): void {
    this.#set(this.#failed, baseline, namespace, why);
  }

  /** The namespace is neither held nor failing for this baseline. */
  settle(baseline: string, namespace: string): void {
    const wasHeld = this.#held.get(baseline)?.delete(namespace) ?? false;
    const wasFailing = this.#failed.get(baseline)?.delete(namespace) ?? false;
    if (wasHeld || wasFailing) this.#onChange(baseline);
  }

  held(baseline: string): ReadonlyMap<string, string> {
    return this.#held.get(baseline) ?? new Map();
  }

  failed(baseline: string): ReadonlyMap<string, string> {
    return this.#failed.get(baseline) ?? new Map();
  }

  forgetNamespace(namespace: string): void {
    for (const baseline of new Set([...this.#held.keys(), ...this.#failed.keys()])) this.settle(baseline, namespace);
  }

  forgetBaseline(baseline: string): void {
    this.#plans.delete(baseline);
    this.#announced.delete(baseline);
    this.#held.delete(baseline);
    this.#failed.delete(baseline);
  }

  #set(map: Map<string, Map<string, string>>, baseline: string, namespace: string, why: string): void {
    let entries = map.get(baseline);
    if (!entries) map.set(baseline, entries = new Map());
    if (entries.get(namespace) === why) return;
    entries.set(namespace, why);
    this.#onChange(baseline);
  }
}
