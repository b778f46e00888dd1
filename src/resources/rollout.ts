// The progress of a baseline's change through the namespaces it selects, as a
// pure function of what the caches and the status say (so that a restarted
// operator takes up a rollout exactly where it stopped):
//
//   Immediate:    every namespace may move at once.
//   Progressive:  namespaces move in steps, canaries first, then a stable order
//                 (a hash of the name); each step waits until its namespaces
//                 have moved (or are held by pre-flight), then for its pause;
//                 maxFailures held or failed namespaces halt the rollout: no
//                 other namespace moves until enough of those have moved.
//   Paused:       nothing moves.
//
// Namespaces never move back: one already at the update revision counts as
// moved wherever it stands in the order.
import { createHash } from 'node:crypto';
import { matchesSelector } from '../api/labelselector.ts';
import type { LabelSelector, RolloutSpec, RolloutStatus, RolloutStep } from '../api/types.ts';

export const DEFAULT_STEPS: readonly RolloutStep[] = [
  { namespaces: 1, pauseSeconds: 300 },
  { percent: 25, pauseSeconds: 300 },
  { percent: 100 },
];

export interface RolloutNamespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The revision of the baseline the namespace is at; undefined if it has none yet. */
  readonly revision: string | undefined;
}

export interface RolloutInputs {
  readonly spec: RolloutSpec | undefined;
  readonly paused: boolean;
  readonly updateRevision: string;
  /** The namespaces the baseline selects. */
  readonly namespaces: readonly RolloutNamespace[];
  /** Namespaces kept at their revision because pre-flight found pods the update revision would refuse. */
  readonly held: ReadonlyMap<string, string>;
  /** Namespaces where applying the update revision failed. */
  readonly failed: ReadonlyMap<string, string>;
  /** status.rollout as last written. */
  readonly previous: RolloutStatus | undefined;
  readonly now: number;
}

export interface RolloutPlan {
  /** Namespaces that may move to the update revision now ('all' for Immediate). */
  readonly permitted: ReadonlySet<string> | 'all';
  readonly status: Required<Pick<RolloutStatus, 'revision' | 'step' | 'updated' | 'pending' | 'held'>> & Pick<RolloutStatus, 'stepCompletedAt'>;
  /** Every selected namespace is at the update revision. */
  readonly complete: boolean;
  /** Set when failures reached maxFailures: only the failing namespaces may still move. */
  readonly halted?: { readonly reason: string; readonly message: string };
  /** How long until the current step's pause ends. */
  readonly requeueAfterMs?: number;
  readonly steps: number;
}

/** Canaries first, then the others, each in the order of a hash of the name: stable across restarts. */
export function rolloutOrder(namespaces: readonly RolloutNamespace[], canarySelector: LabelSelector | undefined): string[] {
  const hash = (name: string) => createHash('sha256').update(name).digest('hex');
  const ranked = namespaces.map((namespace) => ({
    name: namespace.name,
    canary: canarySelector !== undefined && matchesSelector(canarySelector, namespace.labels),
    hash: hash(namespace.name),
  }));
  ranked.sort((a, b) => Number(b.canary) - Number(a.canary) || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  return ranked.map((entry) => entry.name);
}

/** How many namespaces have moved by the end of each step: cumulative, never more than there are. */
export function stepTargets(steps: readonly RolloutStep[], total: number): number[] {
  const targets: number[] = [];
  for (const step of steps) {
    const target = step.namespaces !== undefined ? step.namespaces : Math.ceil(((step.percent ?? 100) / 100) * total);
    targets.push(Math.min(total, Math.max(targets.at(-1) ?? 0, target)));
  }
  return targets;
}

export function planRollout(inputs: RolloutInputs): RolloutPlan {
  const { spec, updateRevision, namespaces, now } = inputs;
  const selected = new Set(namespaces.map((n) => n.name));
  const updated = new Set(namespaces.filter((n) => n.revision === updateRevision).map((n) => n.name));
  const stuck = (map: ReadonlyMap<string, string>) => [...map].filter(([name]) => selected.has(name) && !updated.has(name));
  const held = stuck(inputs.held);
  const failures = [...held, ...stuck(inputs.failed)];
  const counts = { updated: updated.size, held: held.length, pending: namespaces.length - updated.size - held.length };
  const complete = updated.size === namespaces.length;

  if ((spec?.strategy ?? 'Immediate') === 'Immediate') {
    return { permitted: inputs.paused ? new Set() : 'all', status: { revision: updateRevision, step: 0, ...counts }, complete, steps: 1 };
  }

  const steps = spec?.steps ?? DEFAULT_STEPS;
  const targets = stepTargets(steps, namespaces.length);
  const order = rolloutOrder(namespaces, spec?.canarySelector);
  const same = inputs.previous?.revision === updateRevision;
  // Every namespace there already (a new baseline's namespaces are new): no step is left to wait for.
  let step = complete ? steps.length - 1 : Math.min(same ? inputs.previous?.step ?? 0 : 0, steps.length - 1);
  let stepCompletedAt = same ? inputs.previous?.stepCompletedAt : undefined;
  const maxFailures = spec?.maxFailures ?? 1;
  const status = () => ({ revision: updateRevision, step, ...(stepCompletedAt ? { stepCompletedAt } : {}), ...counts });

  if (failures.length >= maxFailures) {
    const shown = failures.slice().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, 3).map(([name, why]) => `${name}: ${why}`);
    // No more namespaces move; the failing ones may, once their pre-flight passes or their apply succeeds.
    return {
      permitted: new Set(failures.map(([name]) => name)), status: status(), complete, steps: steps.length,
      halted: {
        reason: held.length > 0 ? 'PreflightFailed' : 'ApplyFailed',
        message: `halted at step ${step + 1} of ${steps.length} after ${failures.length} failure${failures.length === 1 ? '' : 's'} (maxFailures ${maxFailures}): ${shown.join('; ')}`
          + (failures.length > 3 ? '; …' : ''),
      },
    };
  }
  if (inputs.paused) return { permitted: new Set(), status: status(), complete, steps: steps.length };

  for (;;) {
    const permitted = new Set(order.slice(0, targets[step]));
    const settled = [...permitted].every((name) => updated.has(name) || inputs.held.has(name) || inputs.failed.has(name));
    if (!settled) return { permitted, status: status(), complete, steps: steps.length };
    stepCompletedAt ??= new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    if (step === steps.length - 1) return { permitted, status: status(), complete, steps: steps.length };
    const remaining = (steps[step]?.pauseSeconds ?? 0) * 1000 - (now - Date.parse(stepCompletedAt));
    if (remaining > 0) return { permitted, status: status(), complete, requeueAfterMs: remaining, steps: steps.length };
    step++;
    stepCompletedAt = undefined;
  }
}
