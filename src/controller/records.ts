// What the caches keep of each object: only what the reconciles read. Ten
// thousand namespaces with six managed objects each are sixty thousand
// objects, so every byte kept per object counts (docs/performance.md).
//
//   managed objects ─► a ManagedRecord: name, namespace, resourceVersion,
//                      labels, and the fingerprint of the fields the operator
//                      owns (fingerprint.ts)
//   cluster-scoped managed objects (admission policies and bindings, a few
//                      per baseline) ─► the same, with the object's body: the
//                      reports and the exceptions annotation read it
//   compliance reports ─► a ReportRecord: name, namespace, resourceVersion,
//                      labels, a fingerprint of what it says, and the
//                      baselines its results name
//   namespaces      ─► name, identity, labels, the operator's annotations, and
//                      which labels and annotations the operator's apply owns
//   ClusterRoles, the authoring policy ─► the name only
//
// Values that repeat across namespaces (the label set of a baseline's objects,
// their names, the operator's field set on a namespace) are shared, not copied.
import { FIELD_MANAGER } from '../api/constants.ts';
import { Interner } from '../runtime/interner.ts';
import type { KubeObject, ManagedFieldsEntry } from '../runtime/kube.ts';
import type { ManagedRecord, NamespaceObject, ReportRecord } from './context.ts';
import { canonicalJson, ownedFingerprint, reportFingerprint } from './fingerprint.ts';

/** The operator's own annotations: the only ones the reconciles read. */
const OPERATOR_ANNOTATION_PREFIX = 'security.baseline.dev/';

export class RecordMaker {
  readonly #names = new Interner<string>(20_000);
  /**
   * Kinds, API versions, fingerprints, label and annotation values: the same
   * in most namespaces (every namespace's quota of one baseline has the same
   * fingerprint), yet each parsed answer brings its own copy of each.
   */
  readonly #values = new Interner<string>(5_000);
  readonly #labels = new Interner<Readonly<Record<string, string>>>(20_000);
  readonly #fieldSets = new Interner<ManagedFieldsEntry[]>(1_000);
  readonly #policies = new Interner<readonly string[]>(1_000);
  /** The namespace name as the namespace cache holds it, so that records share that string. */
  readonly #namespaceName: (name: string) => string | undefined;

  constructor(namespaceName: (name: string) => string | undefined = () => undefined) {
    this.#namespaceName = namespaceName;
  }

  /** What a record keeps of an object's identity, its strings shared with every other record. */
  #identity(object: KubeObject): Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'> {
    const { name, namespace, resourceVersion, labels } = object.metadata;
    return {
      apiVersion: this.#values.string(object.apiVersion),
      kind: this.#values.string(object.kind),
      metadata: {
        name: this.#names.get(name, () => name),
        namespace: namespace === undefined ? undefined : this.#namespaceName(namespace) ?? namespace,
        // No uid (56 bytes each): a deletion names the resourceVersion seen instead (writer.ts).
        resourceVersion,
        labels: labels && this.#labels.get(canonicalJson(labels), () => Object.freeze({ ...labels })),
      },
    };
  }

  managed(object: KubeObject): ManagedRecord {
    // Every field named in the literal: a spread and two more fields put those two in a separate
    // property array (V8 sizes a spread's object for the spread), 40 bytes a record more.
    const { apiVersion, kind, metadata } = this.#identity(object);
    return { apiVersion, kind, metadata, owned: this.#values.string(ownedFingerprint(object)), holds: undefined };
  }

  /**
   * A cluster-scoped managed object: its record and its body, less the field
   * sets of managedFields. There are a few per baseline, whatever the number
   * of namespaces, and the reports compare them field by field.
   */
  clusterManaged(object: KubeObject): ManagedRecord {
    const { managedFields } = object.metadata;
    return {
      ...object,
      metadata: {
        ...object.metadata,
        managedFields: managedFields?.map(({ manager, operation, time, subresource }) => ({ manager, operation, time, subresource })),
      },
      owned: ownedFingerprint(object),
      holds: undefined,
    };
  }

  /** A namespace's compliance report: what reports.ts compares and releases by, not its results. */
  report(object: KubeObject & { results?: { policy?: string }[] }): ReportRecord {
    const policies = [...new Set((object.results ?? []).map((result) => result.policy ?? ''))].sort();
    const { apiVersion, kind, metadata } = this.#identity(object);
    return {
      apiVersion, kind, metadata,
      content: reportFingerprint(object as Parameters<typeof reportFingerprint>[0]),
      policies: this.#policies.get(JSON.stringify(policies), () => Object.freeze(policies)),
    };
  }

  namespace(namespace: NamespaceObject): NamespaceObject {
    const { name, uid, resourceVersion, creationTimestamp, deletionTimestamp, labels, annotations, managedFields } = namespace.metadata;
    const operatorAnnotations = Object.entries(annotations ?? {}).filter(([key]) => key.startsWith(OPERATOR_ANNOTATION_PREFIX));
    return {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name, uid, resourceVersion, creationTimestamp, deletionTimestamp,
        labels: labels && this.#sharedValues(labels, name),
        annotations: operatorAnnotations.length > 0 ? this.#sharedValues(Object.fromEntries(operatorAnnotations), name) : undefined,
        managedFields: this.#operatorEntry(managedFields),
      },
    };
  }

  /** The same map with each value a shared copy; the namespace's own name (its metadata.name label) is the name held. */
  #sharedValues(values: Record<string, string>, name: string): Record<string, string> {
    const shared: Record<string, string> = {};
    for (const [key, value] of Object.entries(values)) shared[key] = value === name ? name : this.#values.string(value);
    return shared;
  }

  /**
   * Only the operator's Apply entry, with only which labels and annotations it
   * owns (applied.ts reads that): the same few sets in every namespace, shared.
   */
  #operatorEntry(managedFields: ManagedFieldsEntry[] | undefined): ManagedFieldsEntry[] | undefined {
    const entry = managedFields?.find((e) => e.manager === FIELD_MANAGER && e.operation === 'Apply' && !e.subresource);
    const metadata = entry?.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined;
    if (!metadata) return undefined;
    const fieldsV1 = { 'f:metadata': { 'f:labels': metadata['f:labels'] ?? {}, 'f:annotations': metadata['f:annotations'] ?? {} } };
    const shared: ManagedFieldsEntry[] = [{ manager: FIELD_MANAGER, operation: 'Apply', fieldsV1 }];
    return this.#fieldSets.get(canonicalJson(fieldsV1), () => shared);
  }
}

/** Only the name (and namespace): the reconciles ask whether the object exists, nothing more. */
export function nameOnly(object: KubeObject): KubeObject {
  const { name, namespace, resourceVersion } = object.metadata;
  return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name, ...(namespace === undefined ? {} : { namespace }), resourceVersion } };
}
