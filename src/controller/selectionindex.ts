// Which baselines select which namespaces, kept up to date with the caches,
// so that no event costs baselines × namespaces selector evaluations:
//
//   a namespace's labels change ─► only the baselines that could select it are
//                                  evaluated (by anchor, below), and their
//                                  sets of namespaces updated
//   a baseline's selector changes ─► its set is rebuilt: one pass over the namespaces
//   anything else                ─► nothing
//
// An anchor is a label `key=value` that the namespaces a baseline selects
// must carry: one of its matchLabels, or the values of an `In` expression
// (any of them). Of those, the baseline is anchored at the one the fewest
// namespaces carry when it is indexed (`team=a` rather than `tenant=true`). A
// baseline without one (`{}`, or only NotIn/Exists/DoesNotExist) is a
// candidate for every namespace.
//
// The sets change with the caches' stores (informer store listeners), so they
// agree with the caches at every moment a reconcile reads them, the
// operator's own writes included.
import type { Informer } from '../runtime/informer.ts';
import type { BaselineObject, NamespaceObject, Selection } from './context.ts';
import { selects, type NamespaceLike } from './selection.ts';

interface Indexed {
  readonly baseline: BaselineObject;
  /** What selection depends on, as text: a change of anything else leaves the set alone. */
  readonly selection: string;
  readonly anchors: readonly string[];
  readonly namespaces: Set<string>;
}

const anchorOf = (key: string, value: string) => `${key}=${value}`;

/** The ways a baseline can be anchored (see above): each a set of anchors, one of which a selected namespace carries. */
export function anchorChoices(baseline: BaselineObject): string[][] {
  const selector = baseline.spec.namespaceSelector ?? {};
  return [
    ...Object.entries(selector.matchLabels ?? {}).map(([key, value]) => [anchorOf(key, value)]),
    ...(selector.matchExpressions ?? []).filter((requirement) => requirement.operator === 'In')
      .map((requirement) => (requirement.values ?? []).map((value) => anchorOf(requirement.key, value))),
  ];
}

function selectionOf(baseline: BaselineObject): string {
  return JSON.stringify([baseline.spec.namespaceSelector ?? {}, baseline.spec.excludeNamespaces ?? []]);
}

export class SelectionIndex implements Selection {
  readonly #namespaces: Informer<NamespaceObject>;
  readonly #operatorNamespace: string;
  readonly #byBaseline = new Map<string, Indexed>();
  /** anchor → names of the baselines anchored there. */
  readonly #anchored = new Map<string, Set<string>>();
  /** Baselines without an anchor: candidates for every namespace. */
  readonly #unanchored = new Set<string>();

  constructor(namespaces: Informer<NamespaceObject>, baselines: Informer<BaselineObject>, operatorNamespace: string) {
    this.#namespaces = namespaces;
    this.#operatorNamespace = operatorNamespace;
    baselines.addStoreListener((previous, current) => this.#baselineChanged(previous, current));
    namespaces.addStoreListener((previous, current) => this.#namespaceChanged(previous, current));
  }

  baselinesSelecting(namespace: NamespaceLike): BaselineObject[] {
    const selecting: BaselineObject[] = [];
    for (const name of this.#candidates(namespace.metadata.labels)) {
      const indexed = this.#byBaseline.get(name);
      if (indexed && selects(indexed.baseline, namespace, this.#operatorNamespace)) selecting.push(indexed.baseline);
    }
    return selecting;
  }

  /**
   * The names of the cached namespaces the baseline selects. For the cached
   * version of the baseline (or one that selects alike) that is the index;
   * for another (the version before an update) one pass over the namespaces.
   */
  namespacesSelectedBy(baseline: BaselineObject): ReadonlySet<string> {
    const indexed = this.#byBaseline.get(baseline.metadata.name);
    if (indexed && indexed.selection === selectionOf(baseline)) return indexed.namespaces;
    return this.#scan(baseline);
  }

  #scan(baseline: BaselineObject): Set<string> {
    const selected = new Set<string>();
    for (const namespace of this.#namespaces.list()) {
      if (selects(baseline, namespace, this.#operatorNamespace)) selected.add(namespace.metadata.name);
    }
    return selected;
  }

  /** The namespaces the baseline selects, and its rarest choice of anchors (empty: none). */
  #scanForAnchors(baseline: BaselineObject): { selected: Set<string>; anchors: string[] } {
    const choices = anchorChoices(baseline);
    const carrying = choices.map(() => 0);
    const selected = new Set<string>();
    for (const namespace of this.#namespaces.list()) {
      if (selects(baseline, namespace, this.#operatorNamespace)) selected.add(namespace.metadata.name);
      const labels = namespace.metadata.labels ?? {};
      choices.forEach((choice, i) => {
        if (choice.some((anchor) => labels[anchor.slice(0, anchor.indexOf('='))] === anchor.slice(anchor.indexOf('=') + 1))) carrying[i]!++;
      });
    }
    const rarest = carrying.indexOf(Math.min(...carrying));
    return { selected, anchors: choices[rarest] ?? [] };
  }

  #candidates(labels: Readonly<Record<string, string>> | undefined): Set<string> {
    const candidates = new Set(this.#unanchored);
    for (const [key, value] of Object.entries(labels ?? {})) {
      for (const name of this.#anchored.get(anchorOf(key, value)) ?? []) candidates.add(name);
    }
    return candidates;
  }

  #baselineChanged(previous: BaselineObject | undefined, current: BaselineObject | undefined): void {
    const name = (current ?? previous)?.metadata.name ?? '';
    const indexed = this.#byBaseline.get(name);
    if (!current) {
      this.#forget(name);
      return;
    }
    const selection = selectionOf(current);
    if (indexed && indexed.selection === selection) {
      // Same selection: keep the set, hold the newer object.
      this.#byBaseline.set(name, { ...indexed, baseline: current });
      return;
    }
    this.#forget(name);
    const { selected, anchors } = this.#scanForAnchors(current);
    const entry: Indexed = { baseline: current, selection, anchors, namespaces: selected };
    this.#byBaseline.set(name, entry);
    if (entry.anchors.length === 0) this.#unanchored.add(name);
    for (const anchor of entry.anchors) {
      let names = this.#anchored.get(anchor);
      if (!names) this.#anchored.set(anchor, names = new Set());
      names.add(name);
    }
  }

  #forget(name: string): void {
    const indexed = this.#byBaseline.get(name);
    if (!indexed) return;
    this.#byBaseline.delete(name);
    this.#unanchored.delete(name);
    for (const anchor of indexed.anchors) {
      const names = this.#anchored.get(anchor);
      names?.delete(name);
      if (names?.size === 0) this.#anchored.delete(anchor);
    }
  }

  #namespaceChanged(previous: NamespaceObject | undefined, current: NamespaceObject | undefined): void {
    if (previous && current && sameLabels(previous.metadata.labels, current.metadata.labels)) return;
    const name = (current ?? previous)?.metadata.name ?? '';
    const candidates = this.#candidates(current?.metadata.labels);
    for (const baseline of this.#candidates(previous?.metadata.labels)) candidates.add(baseline);
    for (const baseline of candidates) {
      const indexed = this.#byBaseline.get(baseline);
      if (!indexed) continue;
      if (current && selects(indexed.baseline, current, this.#operatorNamespace)) indexed.namespaces.add(name);
      else indexed.namespaces.delete(name);
    }
  }
}

function sameLabels(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  const aKeys = Object.keys(a ?? {});
  return aKeys.length === Object.keys(b ?? {}).length && aKeys.every((key) => a?.[key] === b?.[key]);
}
