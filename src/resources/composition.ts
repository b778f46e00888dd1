// The few controls that cannot be merged across baselines (the Pod Security
// labels and the LimitRange) are decided by ranking the candidates: the
// strictest first, then the highest priority, then the baseline name. Baseline
// names are unique (cluster-scoped objects), so the ranking is a total order and
// the outcome never depends on the order the baselines were listed in.

export interface Candidate<Spec> {
  baseline: string;
  /** The baseline's spec.priority (0 when unset). */
  priority: number;
  spec: Spec;
}

export interface Resolution<Spec> {
  winner: Candidate<Spec>;
  /** Every other candidate, best first; each reports a Conflict. */
  losers: Candidate<Spec>[];
}

/** Negative when `a` is stricter than `b`, positive when laxer, 0 when neither. */
export type StrictnessOrder<Spec> = (a: Spec, b: Spec) => number;

/** Code-unit order, independent of the locale the process runs in. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Ranks the candidates and splits them into the winner and the losers; undefined when there are none. */
export function resolveCandidates<Spec>(
  candidates: readonly Candidate<Spec>[],
  stricter: StrictnessOrder<Spec>,
): Resolution<Spec> | undefined {
  const ranked = [...candidates].sort(
    (a, b) =>
      Math.sign(stricter(a.spec, b.spec)) ||
      (a.priority > b.priority ? -1 : a.priority < b.priority ? 1 : 0) ||
      // The lexicographically smallest name wins, as `kubectl get` lists it first.
      compareNames(a.baseline, b.baseline),
  );
  const [winner, ...losers] = ranked;
  return winner ? { winner, losers } : undefined;
}
