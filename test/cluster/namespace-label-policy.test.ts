// crds/namespace-label-policy.yaml against the real API server, with no
// operator running: someone who may patch a namespace may change its labels,
// but not so that a baseline stops selecting it, nor those a baseline names
// its subjects by, nor the Pod Security level it sets, unless they may change
// that baseline; and no one but the operator and cluster administrators writes
// the operator's annotations. The label keys are
// this file's own, so baselines of other test files select the same
// namespaces before and after every change made here.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AuthorizationV1Api, HttpMethod, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { matchesSelector } from '../../src/api/labelselector.ts';
import { APPLIED_ANNOTATION, EXCEPTIONS_ANNOTATION } from '../../src/api/constants.ts';
import { GROUP, PLURAL, type LabelSelector, type SecurityBaselineSpec } from '../../src/api/types.ts';
import { BASELINES, NAMESPACES } from '../../src/controller/kinds.ts';
import { KubeApiError } from '../../src/runtime/errors.ts';
import { createBaseline, deleteBaseline, writerAs } from '../support/baselines.ts';
import { adminKubeConfig, createTestNamespace, eventually, ignoreNotFound, uniqueName } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { kubeConfigAsUser, kubeConfigWithOperatorRole } from '../support/identities.ts';

const admin = adminKubeConfig();
const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
const authorization = admin.makeApiClient(AuthorizationV1Api);
const cleanup: (() => Promise<unknown>)[] = [];
const asAdmin = writerAs('kubectl-label');

// Label keys no other test file uses.
const id = uniqueName('sel').slice(4);
const TIER = `tier-${id}`;
const LEGACY = `legacy-${id}`;

/** A user bound cluster-wide to a ClusterRole of `rules`, once RBAC has it in effect. */
async function userWith(prefix: string, rules: V1PolicyRule[], probe: { resource: string; group?: string; name?: string; verb: string }) {
  const name = uniqueName(prefix);
  await rbac.createClusterRole({ body: { metadata: { name }, rules } });
  await rbac.createClusterRoleBinding({ body: {
    metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name }],
  } });
  cleanup.push(() => rbac.deleteClusterRoleBinding({ name }), () => rbac.deleteClusterRole({ name }));
  await eventually(async () => (await authorization.createSubjectAccessReview({ body: { spec: { user: name, resourceAttributes: probe } } })).status?.allowed === true);
  return { name, writer: writerAs('kubectl-label', await kubeConfigAsUser(name)) };
}

type Writer = ReturnType<typeof writerAs>;
let tenant: Awaited<ReturnType<typeof userWith>>;

/** A merge patch of a namespace (null removes); resolves to 'allowed' or the refusal, with its HTTP status. */
async function patchAs(writer: Writer, namespace: string, patch: unknown, dryRun = false): Promise<string> {
  try {
    if (dryRun) await writer.client.request('patch', HttpMethod.PATCH, `/api/v1/namespaces/${namespace}`, { query: { dryRun: 'All' }, body: patch, contentType: 'application/merge-patch+json' });
    else await writer.mergePatch(NAMESPACES, namespace, undefined, patch);
    return 'allowed';
  } catch (error) {
    if (error instanceof KubeApiError) return `${error.status} ${error.apiMessage}`;
    throw error;
  }
}

const relabel = (writer: Writer, namespace: string, labels: Record<string, string | null>, dryRun = false) =>
  patchAs(writer, namespace, { metadata: { labels } }, dryRun);

async function labelsOf(namespace: string): Promise<Record<string, string>> {
  return (await asAdmin.client.get(NAMESPACES, namespace)).metadata.labels ?? {};
}

async function baseline(prefix: string, namespaceSelector: LabelSelector, extra: Partial<SecurityBaselineSpec> = {}): Promise<string> {
  const name = uniqueName(prefix);
  await createBaseline(name, { namespaceSelector, ...extra, resourceQuota: { hard: { pods: '10' } } });
  cleanup.push(() => deleteBaseline(name));
  return name;
}

/** Waits until the policy knows the baseline (its parameters come from an informer): the probe change is refused. */
async function untilEnforced(namespace: string, change: Record<string, string | null>): Promise<void> {
  await eventually(async () => (await relabel(tenant.writer, namespace, change, true)).startsWith('403 '));
}

beforeAll(async () => {
  await installCrds();
  // Someone who may patch namespaces: a self-service portal's identity, or a tenant given its own namespace.
  tenant = await userWith('ns-patcher', [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'patch'] }], { resource: 'namespaces', verb: 'patch' });
});

afterAll(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo().catch(ignoreNotFound);
});

describe('a namespace may not be relabelled out of a baseline by someone who may not change the baseline', () => {
  let restricted = '';
  let namespace = '';

  beforeAll(async () => {
    restricted = await baseline('restricted', { matchLabels: { [TIER]: 'restricted' }, matchExpressions: [{ key: LEGACY, operator: 'DoesNotExist' }] });
    namespace = await createTestNamespace('selected', { [TIER]: 'restricted' });
    await untilEnforced(namespace, { [TIER]: null });
  });

  test('removing or changing the label it is selected by, or adding one its selector excludes, is refused with a message that says why', async () => {
    const refused = await relabel(tenant.writer, namespace, { [TIER]: null });
    expect(refused).toMatch(/^403 /);
    expect(refused).toContain(`namespace ${namespace} is selected by the security baseline ${restricted}: ${tenant.name} may not change its labels so that the baseline no longer selects it`);
    expect(refused).toContain(`needs patch on securitybaselines/${restricted}`);
    expect(await relabel(tenant.writer, namespace, { [TIER]: 'open' })).toMatch(/^403 .*no longer selects it/);
    expect(await relabel(tenant.writer, namespace, { [LEGACY]: 'yes' })).toMatch(/^403 .*no longer selects it/);
    expect(await labelsOf(namespace)).toMatchObject({ [TIER]: 'restricted' });
    expect((await labelsOf(namespace))[LEGACY]).toBeUndefined();
  });

  test('other label changes go through, and so does joining a baseline', async () => {
    expect(await relabel(tenant.writer, namespace, { [`team-${id}`]: 'a' })).toBe('allowed');
    const outside = await createTestNamespace('outside', { [TIER]: 'open' });
    expect(await relabel(tenant.writer, outside, { [TIER]: 'restricted' })).toBe('allowed');
    expect(await labelsOf(outside)).toMatchObject({ [TIER]: 'restricted' });
  });

  test('whoever may patch that baseline may take a namespace out of it, and out of no other', async () => {
    const other = await baseline('other', { matchLabels: { [`other-${id}`]: 'yes' } });
    const both = await createTestNamespace('both', { [TIER]: 'restricted', [`other-${id}`]: 'yes' });
    await untilEnforced(both, { [`other-${id}`]: null });
    const editor = await userWith('editor', [
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'patch'] },
      { apiGroups: [GROUP], resources: [PLURAL], resourceNames: [restricted], verbs: ['get', 'patch'] },
    ], { group: GROUP, resource: PLURAL, name: restricted, verb: 'patch' });
    expect(await relabel(editor.writer, both, { [`other-${id}`]: null })).toMatch(new RegExp(`^403 .*security baseline ${other}: ${editor.name} may not`));
    expect(await relabel(editor.writer, both, { [TIER]: null })).toBe('allowed');
    expect((await labelsOf(both))[TIER]).toBeUndefined();
    // A cluster administrator may patch every baseline.
    expect(await relabel(asAdmin, both, { [`other-${id}`]: null })).toBe('allowed');
  });

  test('a namespace the baseline excludes by name, and a baseline being deleted, hold nothing', async () => {
    const excludedNamespace = await createTestNamespace('excluded', { [`held-${id}`]: 'yes' });
    const held = await baseline('excluding', { matchLabels: { [`held-${id}`]: 'yes' } }, { excludeNamespaces: [excludedNamespace] });
    const probe = await createTestNamespace('probe', { [`held-${id}`]: 'yes' });
    await untilEnforced(probe, { [`held-${id}`]: null });
    expect(await relabel(tenant.writer, excludedNamespace, { [`held-${id}`]: null })).toBe('allowed');

    // A finalizer of the test's own keeps the baseline in its deletion while the relabel is tried.
    await asAdmin.mergePatch(BASELINES, held, undefined, { metadata: { finalizers: ['security.baseline.dev/test-hold'] } });
    cleanup.push(() => asAdmin.mergePatch(BASELINES, held, undefined, { metadata: { finalizers: null } }));
    await deleteBaseline(held);
    await eventually(async () => (await relabel(tenant.writer, probe, { [`held-${id}`]: null }, true)) === 'allowed');
    expect(await relabel(tenant.writer, probe, { [`held-${id}`]: null })).toBe('allowed');
  });
});

describe('the labels a baseline names its subjects by are the baseline\'s', () => {
  const TEAM = `team-${id}`;
  const GRANTED = `granted-${id}`;
  // The group the baseline binds `view` to in each namespace it selects: named by the namespace's label.
  const grants = (mode: 'Enforce' | 'Audit' = 'Enforce'): Partial<SecurityBaselineSpec> => ({
    mode, roleBindings: [{ name: 'team-view', clusterRole: 'view', subjects: [{ kind: 'Group', name: `\${label:${TEAM}}-viewers` }] }],
  });
  let granting = '';
  let namespace = '';

  beforeAll(async () => {
    granting = await baseline('granting', { matchLabels: { [GRANTED]: 'yes' } }, grants());
    namespace = await createTestNamespace('granted', { [GRANTED]: 'yes', [TEAM]: 'a' });
    await untilEnforced(namespace, { [TEAM]: 'mine' });
  });

  test('changing or removing the label a subject is named by is refused with a message that says why', async () => {
    const refused = await relabel(tenant.writer, namespace, { [TEAM]: 'mine' });
    expect(refused).toMatch(/^403 /);
    expect(refused).toContain(`namespace ${namespace}: the security baseline ${granting} binds roles there to subjects its labels name`);
    expect(refused).toContain(`${tenant.name} may not change those labels`);
    expect(refused).toContain(`needs patch on securitybaselines/${granting}`);
    expect(await relabel(tenant.writer, namespace, { [TEAM]: null })).toMatch(/^403 .*binds roles there/);
    expect(await labelsOf(namespace)).toMatchObject({ [TEAM]: 'a' });
    expect(await relabel(tenant.writer, namespace, { [`note-${id}`]: 'x' })).toBe('allowed');
  });

  test('bringing a namespace under the baseline with the label already set is refused; without it, allowed, and setting it then is refused', async () => {
    // The label set while no baseline read it, then the namespace brought under one: the same grant in two steps.
    const prepared = await createTestNamespace('prepared');
    expect(await relabel(tenant.writer, prepared, { [TEAM]: 'mine' })).toBe('allowed');
    expect(await relabel(tenant.writer, prepared, { [GRANTED]: 'yes' })).toMatch(/^403 .*binds roles there/);
    const bare = await createTestNamespace('bare');
    expect(await relabel(tenant.writer, bare, { [GRANTED]: 'yes' })).toBe('allowed');
    expect(await relabel(tenant.writer, bare, { [TEAM]: 'mine' })).toMatch(/^403 .*binds roles there/);
  });

  test('whoever may patch the baseline may set the label; an Audit baseline grants nothing and holds no label', async () => {
    const editor = await userWith('grant-editor', [
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'patch'] },
      { apiGroups: [GROUP], resources: [PLURAL], resourceNames: [granting], verbs: ['get', 'patch'] },
    ], { group: GROUP, resource: PLURAL, name: granting, verb: 'patch' });
    expect(await relabel(editor.writer, namespace, { [TEAM]: 'b' })).toBe('allowed');
    expect(await labelsOf(namespace)).toMatchObject({ [TEAM]: 'b' });

    const audited = `audited-${id}`;
    await baseline('audit-granting', { matchLabels: { [audited]: 'yes' } }, grants('Audit'));
    const watched = await createTestNamespace('audited', { [audited]: 'yes', [TEAM]: 'a' });
    const probe = await createTestNamespace('audit-probe', { [audited]: 'yes' });
    // Known to the policy once leaving it is refused.
    await untilEnforced(probe, { [audited]: null });
    expect(await relabel(tenant.writer, watched, { [TEAM]: 'mine' })).toBe('allowed');
  });
});

describe('the Pod Security labels a baseline sets are the baseline\'s', () => {
  const PSS = `pss-${id}`;
  const ENFORCE = 'pod-security.kubernetes.io/enforce';

  test('lowering or removing them is refused while a baseline sets them; a baseline that sets none holds none', async () => {
    const strict = await baseline('pss', { matchLabels: { [PSS]: 'yes' } }, { podSecurity: { enforce: 'restricted' } });
    const namespace = await createTestNamespace('pss', { [PSS]: 'yes', [ENFORCE]: 'restricted' });
    await untilEnforced(namespace, { [ENFORCE]: 'privileged' });
    const refused = await relabel(tenant.writer, namespace, { [ENFORCE]: 'privileged' });
    expect(refused).toMatch(/^403 /);
    expect(refused).toContain(`namespace ${namespace}: the security baseline ${strict} sets its Pod Security labels (pod-security.kubernetes.io/*); ${tenant.name} may not change them`);
    expect(await relabel(tenant.writer, namespace, { [ENFORCE]: null })).toMatch(/^403 .*sets its Pod Security labels/);
    expect(await relabel(tenant.writer, namespace, { 'pod-security.kubernetes.io/warn': 'privileged' })).toMatch(/^403 .*sets its Pod Security labels/);
    expect(await labelsOf(namespace)).toMatchObject({ [ENFORCE]: 'restricted' });

    // Selected only by a baseline without podSecurity: the level is the namespace owner's to choose.
    const other = await createTestNamespace('pss-free', { [TIER]: 'restricted', [ENFORCE]: 'baseline' });
    await untilEnforced(other, { [TIER]: null });
    expect(await relabel(tenant.writer, other, { [ENFORCE]: 'privileged' })).toBe('allowed');
  });
});

describe('the operator\'s annotations on a namespace are the operator\'s', () => {
  let operator: Writer;

  beforeAll(async () => {
    const { kubeConfig, unbind } = await kubeConfigWithOperatorRole();
    cleanup.push(unbind);
    operator = writerAs('security-baseline-operator', kubeConfig);
  });

  test('someone who may patch a namespace may not add, change or remove them; the operator and an administrator may', async () => {
    const namespace = await createTestNamespace('annotated');
    const opened = await patchAs(tenant.writer, namespace, { metadata: { annotations: { [APPLIED_ANNOTATION]: '{"tenants":"tenants-5d9c7f"}' } } });
    expect(opened).toMatch(/^403 /);
    expect(opened).toContain(`namespace ${namespace}: ${tenant.name} may not add, change or remove the annotations ${APPLIED_ANNOTATION} and ${EXCEPTIONS_ANNOTATION}`);
    expect(await patchAs(tenant.writer, namespace, { metadata: { annotations: { [EXCEPTIONS_ANNOTATION]: '{"tenants":["mine"]}' } } })).toMatch(/^403 /);

    expect(await patchAs(operator, namespace, { metadata: { annotations: { [APPLIED_ANNOTATION]: '{"tenants":"tenants-5d9c7f"}' } } })).toBe('allowed');
    expect(await patchAs(tenant.writer, namespace, { metadata: { annotations: { [APPLIED_ANNOTATION]: '{"tenants":"tenants-0ld0ld"}' } } })).toMatch(/^403 /);
    expect(await patchAs(tenant.writer, namespace, { metadata: { annotations: { [APPLIED_ANNOTATION]: null } } })).toMatch(/^403 /);
    expect(await patchAs(tenant.writer, namespace, { metadata: { annotations: { [`note-${id}`]: 'x' } } })).toBe('allowed');
    expect(await patchAs(asAdmin, namespace, { metadata: { annotations: { [APPLIED_ANNOTATION]: null } } })).toBe('allowed');
  });

  test('nor create a namespace that carries them', async () => {
    const creator = await userWith('ns-creator', [{ apiGroups: [''], resources: ['namespaces'], verbs: ['create'] }], { resource: 'namespaces', verb: 'create' });
    const name = uniqueName('pre-applied');
    const attempt = await creator.writer.client.create(NAMESPACES, {
      apiVersion: 'v1', kind: 'Namespace', metadata: { name, annotations: { [APPLIED_ANNOTATION]: '{"tenants":"tenants-5d9c7f"}' } },
    }).then(() => 'allowed', (error: unknown) => (error instanceof KubeApiError ? `${error.status} ${error.apiMessage}` : Promise.reject(error)));
    if (attempt === 'allowed') cleanup.push(() => asAdmin.client.delete(NAMESPACES, name, undefined));
    expect(attempt).toMatch(new RegExp(`^403 .*namespace ${name}: ${creator.name} may not add, change or remove the annotations`));
  });
});

describe('the policy selects exactly as the operator does', () => {
  // Selectors over two keys, each operator alone and combined; every baseline has keys of its own, so a
  // change of its keys concerns it alone, and each is tried with every change among the nine label sets.
  const selectors = (a: string, b: string): LabelSelector[] => [
    { matchLabels: { [a]: 'x' } },
    { matchExpressions: [{ key: a, operator: 'In', values: ['x', 'y'] }] },
    { matchExpressions: [{ key: a, operator: 'NotIn', values: ['x'] }] },
    { matchExpressions: [{ key: b, operator: 'Exists' }] },
    { matchExpressions: [{ key: b, operator: 'DoesNotExist' }] },
    { matchLabels: { [b]: 'y' }, matchExpressions: [{ key: a, operator: 'NotIn', values: ['y'] }] },
    { matchExpressions: [{ key: a, operator: 'In', values: ['y'] }, { key: b, operator: 'DoesNotExist' }] },
  ];
  const values = [undefined, 'x', 'y'];
  const labelSets = (a: string, b: string): Record<string, string>[] =>
    values.flatMap((va) => values.map((vb) => ({ ...(va ? { [a]: va } : {}), ...(vb ? { [b]: vb } : {}) })));

  test('every change of the labels is refused exactly when the baseline selected them before and not after', async () => {
    const pool = selectors('a', 'b').map((_, index) => ({ a: `a${index}-${id}`, b: `b${index}-${id}` }))
      .map(({ a, b }, index) => ({ a, b, selector: selectors(a, b)[index] as LabelSelector }));
    for (const [index, { selector }] of pool.entries()) await baseline(`pool${index}`, selector);
    const namespace = await createTestNamespace('exhaustive');
    // The policy's parameters come from an informer, in the order the baselines were created: once a last
    // one, on a key of its own, refuses its change, the pool is in effect too.
    const sentinel = `c-${id}`;
    await baseline('sentinel', { matchLabels: { [sentinel]: 'yes' } });
    await asAdmin.mergePatch(NAMESPACES, namespace, undefined, { metadata: { labels: { [sentinel]: 'yes' } } });
    await untilEnforced(namespace, { [sentinel]: null });

    const outcomes: string[] = [];
    const wanted: string[] = [];
    for (const { a, b, selector } of pool) {
      const replacing = (next: Record<string, string>) => ({ [a]: next[a] ?? null, [b]: next[b] ?? null });
      for (const before of labelSets(a, b)) {
        await asAdmin.mergePatch(NAMESPACES, namespace, undefined, { metadata: { labels: replacing(before) } });
        for (const after of labelSets(a, b)) {
          const change = `${JSON.stringify(selector)}: ${JSON.stringify(before)} → ${JSON.stringify(after)}`;
          const answer = await relabel(tenant.writer, namespace, replacing(after), true);
          outcomes.push(`${change}: ${answer.startsWith('403 ') ? 'refused' : answer}`);
          wanted.push(`${change}: ${matchesSelector(selector, before) && !matchesSelector(selector, after) ? 'refused' : 'allowed'}`);
        }
      }
    }
    expect(outcomes).toEqual(wanted);
    // Both outcomes occur for every selector, so the comparison says something of each.
    for (const { selector } of pool) {
      const own = wanted.filter((line) => line.startsWith(JSON.stringify(selector)));
      expect(new Set(own.map((line) => line.split(': ').pop())).size).toBe(2);
    }
  });
});
