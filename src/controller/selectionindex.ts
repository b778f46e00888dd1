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
//
// A namespace is "live" in a baseline's set while it is not terminating. The
// status tracker keeps outcomes only for live ones, and is told (onLeave) the
// moment one stops being live, so its counts never need a pass over the set.
import type { Informer } from '../runtime/informer.ts';
import type { BaselineObject, NamespaceObject, Selection } from './context.ts';
import { isDeleting, selects, type NamespaceLike } from './selection.ts';

interface Indexed {
  readonly baseline: BaselineObject;
  /** What selection depends on, as text: a change of anything else leaves the set alone. */
  readonly selection: string;
  readonly anchors: readonly string[];
  readonly namespaces: Set<string>;
  /** The namespaces of the set that are terminating (a handful at any time). */
  readonly terminating: Set<string>;
}

/** A namespace stopped being a live member of a baseline's set: it left the set, or it is terminating. */
export type LeaveListener = (baseline: string, namespace: string) => void;

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
  readonly #leaveListeners: LeaveListener[] = [];

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

  /** How many of the namespaces the baseline selects are live (not terminating). */
  liveCount(baseline: BaselineObject): number {
    const indexed = this.#byBaseline.get(baseline.metadata.name);
    if (indexed && indexed.selection === selectionOf(baseline)) return indexed.namespaces.size - indexed.terminating.size;
    let live = 0;
    for (const name of this.#scan(baseline)) {
      const namespace = this.#namespaces.get(name);
      if (namespace && !isDeleting(namespace)) live++;
    }
    return live;
  }

  /** Whether the cached baseline of this name selects the namespace, and the namespace is not terminating. */
  isLive(baseline: string, namespace: string): boolean {
    const indexed = this.#byBaseline.get(baseline);
    return indexed !== undefined && indexed.namespaces.has(namespace) && !indexed.terminating.has(namespace);
  }

  onLeave(listener: LeaveListener): void {
    this.#leaveListeners.push(listener);
  }

  #left(baseline: string, namespace: string): void {
    for (const listener of this.#leaveListeners) listener(baseline, namespace);
  }

  #scan(baseline: BaselineObject): Set<string> {
    const selected = new Set<string>();
    for (const namespace of this.#namespaces.list()) {
      if (selects(baseline, namespace, this.#operatorNamespace)) selected.add(namespace.metadata.name);
    }
    return selected;
  }

  /** The namespaces the baseline selects (and which of them are terminating), and its rarest choice of anchors (empty: none). */
  #scanForAnchors(baseline: BaselineObject): { selected: Set<string>; terminating: Set<string>; anchors: string[] } {
    const choices = anchorChoices(baseline);
    const carrying = choices.map(() => 0);
    const selected = new Set<string>();
    const terminating = new Set<string>();
    for (const namespace of this.#namespaces.list()) {
      if (selects(baseline, namespace, this.#operatorNamespace)) {
        selected.add(namespace.metadata.name);
        if (isDeleting(namespace)) terminating.add(namespace.metadata.name);
      }
      const labels = namespace.metadata.labels ?? {};
      choices.forEach((choice, i) => {
        if (choice.some((anchor) => labels[anchor.slice(0, anchor.indexOf('='))] === anchor.slice(anchor.indexOf('=') + 1))) carrying[i]!++;
      });
    }
    const rarest = carrying.indexOf(Math.min(...carrying));
    return { selected, terminating, anchors: choices[rarest] ?? [] };
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
    const { selected, terminating, anchors } = this.#scanForAnchors(current);
    const entry: Indexed = { baseline: current, selection, anchors, namespaces: selected, terminating };
    this.#byBaseline.set(name, entry);
    if (entry.anchors.length === 0) this.#unanchored.add(name);
    for (const anchor of entry.anchors) {
      let names = this.#anchored.get(anchor);
      if (!names) this.#anchored.set(anchor, names = new Set());
      names.add(name);
    }
    // The namespaces the old selector held live and the new one does not.
    for (const namespace of indexed?.namespaces ?? []) {
      if (!indexed?.terminating.has(namespace) && !this.isLive(name, namespace)) this.#left(name, namespace);
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
    const deleting = current !== undefined && isDeleting(current);
    if (previous && current && sameLabels(previous.metadata.labels, current.metadata.labels) && isDeleting(previous) === deleting) return;
    const name = (current ?? previous)?.metadata.name ?? '';
    const candidates = this.#candidates(current?.metadata.labels);
    for (const baseline of this.#candidates(previous?.metadata.labels)) candidates.add(baseline);
    for (const baseline of candidates) {
      const indexed = this.#byBaseline.get(baseline);
      if (!indexed) continue;
      const wasLive = this.isLive(baseline, name);
      if (current && selects(indexed.baseline, current, this.#operatorNamespace)) {
        indexed.namespaces.add(name);
        if (deleting) indexed.terminating.add(name);
        else indexed.terminating.delete(name);
      } else {
        indexed.namespaces.delete(name);
        indexed.terminating.delete(name);
      }
      if (wasLive && !this.isLive(baseline, name)) this.#left(baseline, name);
    }
  }
}

function sameLabels(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  const aKeys = Object.keys(a ?? {});
  return aKeys.length === Object.keys(b ?? {}).length && aKeys.every((key) => a?.[key] === b?.[key]);
}
