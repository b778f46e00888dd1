// Names the operator writes on the objects it manages and the namespaces it provisions.

export const OPERATOR_NAME = 'security-baseline-operator';
/** The server-side-apply field manager for every write. */
export const FIELD_MANAGER = OPERATOR_NAME;
/**
 * Owns what the operator lets go of but must not remove (the Pod Security labels
 * of a baseline deleted with deletionPolicy Orphan): once this manager holds a
 * field, the operator's own apply can drop it and the value stays.
 */
export const RELEASED_FIELD_MANAGER = `${OPERATOR_NAME}-released`;

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const BASELINE_LABEL = 'security.baseline.dev/baseline';
/** What the operator writes: managed objects, Reports, ControllerRevisions. */
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${OPERATOR_NAME}`;
/**
 * The objects a baseline owns, which the operator keeps, compares and prunes:
 * the managed-by label and the baseline label. The managed-by label alone is
 * no mark of ownership: anyone may put it on an object of their own, and the
 * operator must never prune that; the baseline label only the operator and
 * cluster administrators may set (crds/managed-object-policy.yaml).
 */
export const OWNED_SELECTOR = `${MANAGED_SELECTOR},${BASELINE_LABEL}`;
/**
 * Objects that are not a baseline's: without the baseline label, which only the
 * operator and cluster administrators may set (crds/managed-object-policy.yaml).
 * Not by the managed-by label: anyone may put that on an object of their own.
 */
export const NOT_A_BASELINES_SELECTOR = `!${BASELINE_LABEL}`;

/** On a namespace: which baselines were applied, at which generation (JSON `{name: generation}`). */
export const APPLIED_ANNOTATION = 'security.baseline.dev/applied';
/**
 * On a namespace: the BaselineExceptions in effect there, per baseline (JSON
 * `{baseline: [exception, …]}`), as last applied; on a baseline's image policy
 * or gate, the exceptions it lets through (`[exception, …]`). A change of this
 * set is an exception starting or ending, not drift, also after a restart.
 */
export const EXCEPTIONS_ANNOTATION = 'security.baseline.dev/exceptions';
/** On a baseline: deletion waits until its managed objects are handled per deletionPolicy. */
export const FINALIZER = 'security.baseline.dev/finalizer';

/** Never managed, whatever a baseline selects (plus the operator's own namespace). */
export const ALWAYS_EXCLUDED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'] as const;

/** Names of managed objects are `<baseline>-<suffix>`; a baseline name fits in a label value. */
export const MAX_BASELINE_NAME_LENGTH = 63;

/**
 * The ValidatingAdmissionPolicy (and binding) installed with the CRD that refuses
 * a SecurityBaseline whose author could not make its grants directly
 * (crds/authoring-policy.yaml). Without it the operator applies no RoleBindings.
 */
export const AUTHORING_POLICY_NAME = 'security-baseline-authoring';

/**
 * Every ValidatingAdmissionPolicy installed with the CRD (crds/), each with a
 * binding of the same name: who may write baselines and exceptions, and what
 * no one but the operator may do to its objects and to the namespaces it
 * covers. The operator reports each one's presence
 * (security_baseline_api_policy_installed): without them those protections are
 * gone while everything else keeps working.
 */
export const API_POLICY_NAMES = [
  AUTHORING_POLICY_NAME,
  'security-baseline-exceptions',
  'security-baseline-managed-objects',
  'security-baseline-managed-names',
  'security-baseline-report-name',
  'security-baseline-namespace-labels',
  'security-baseline-namespace-annotations',
] as const;

/**
 * The MutatingAdmissionPolicies of the API (crds/), each with a binding of the
 * same name, reported alike: without the creator stamp, a BaselineException
 * no longer says who made it (its Events, `kubectl sbl explain` and the
 * exception metrics lose the author), though none can be forged.
 */
export const MUTATING_API_POLICY_NAMES = ['security-baseline-exception-creator'] as const;
