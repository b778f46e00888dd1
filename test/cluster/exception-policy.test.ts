// The BaselineException API at admission, against the real API server, with
// no operator running: the CRD's own rules, and crds/exception-policy.yaml —
// expiresAt against the time of creation, the creator stamped and never
// forged, and an author who could not make a relaxation directly, in a named
// namespace, refused with a message that says what to hold.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AuthorizationV1Api, RbacAuthorizationV1Api, type KubeConfig, type V1PolicyRule } from '@kubernetes/client-node';
import { CREATED_BY_ANNOTATION, type BaselineExceptionSpec } from '../../src/api/exception.ts';
import { adminKubeConfig, createTestNamespace, eventually, ignoreNotFound, messageOf, statusOf, uniqueName } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { createException, deleteException, getException, inFuture, patchException } from '../support/exceptions.ts';
import { kubeConfigAsUser } from '../support/identities.ts';
import { applyObjects, renderKustomization } from '../support/manifests.ts';
import { EXCEPTIONS } from '../../src/controller/kinds.ts';
import { KubeClient } from '../../src/runtime/kube.ts';

const admin = adminKubeConfig();
const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
const authorization = admin.makeApiClient(AuthorizationV1Api);
const DAY = 24 * 60 * 60 * 1000;
const cleanup: (() => Promise<unknown>)[] = [];
const created: string[] = [];
let teamA = '';
let teamB = '';

const spec = (extra: Partial<BaselineExceptionSpec> = {}): BaselineExceptionSpec => ({
  baseline: 'tenants', namespaces: [teamA], reason: 'CHG-1234: vendor agent needs it until its 2.0 release',
  expiresAt: inFuture(7 * DAY), relax: { resourceQuota: { hard: { pods: '20' } } }, ...extra,
});

/** Creates the exception (as `kc`); resolves to 'created' or the refusal, with its HTTP status. */
async function attempt(name: string, body: BaselineExceptionSpec, kc?: KubeConfig): Promise<string> {
  try {
    await createException(name, body, kc);
    created.push(name);
    return 'created';
  } catch (error) {
    return `${statusOf(error)} ${messageOf(error)}`;
  }
}

/** A user who may write exceptions (config/rbac's granter role) and holds `rules` in each of `namespaces` (a RoleBinding there). */
async function granter(namespaces: string[], rules: V1PolicyRule[], clusterRules: V1PolicyRule[] = []): Promise<{ name: string; kc: KubeConfig }> {
  const name = uniqueName('granter');
  const subjects = [{ kind: 'User', name, apiGroup: 'rbac.authorization.k8s.io' }];
  const roleRef = (role: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role });
  await rbac.createClusterRoleBinding({ body: { metadata: { name }, roleRef: roleRef('baselineexception-granter'), subjects } });
  cleanup.push(() => rbac.deleteClusterRoleBinding({ name }).catch(ignoreNotFound));
  if (rules.length > 0) {
    await rbac.createClusterRole({ body: { metadata: { name }, rules } });
    cleanup.push(() => rbac.deleteClusterRole({ name }).catch(ignoreNotFound));
    for (const namespace of namespaces) await rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name }, roleRef: roleRef(name), subjects } });
  }
  if (clusterRules.length > 0) {
    await rbac.createClusterRole({ body: { metadata: { name: `${name}-cluster` }, rules: clusterRules } });
    await rbac.createClusterRoleBinding({ body: { metadata: { name: `${name}-cluster` }, roleRef: roleRef(`${name}-cluster`), subjects } });
    cleanup.push(() => rbac.deleteClusterRole({ name: `${name}-cluster` }).catch(ignoreNotFound), () => rbac.deleteClusterRoleBinding({ name: `${name}-cluster` }).catch(ignoreNotFound));
  }
  // RBAC reaches the authorizer through an informer: wait until every grant is in effect.
  await eventually(async () => {
    const allowed = async (resourceAttributes: Record<string, string | undefined>) =>
      (await authorization.createSubjectAccessReview({ body: { spec: { user: name, resourceAttributes } } })).status?.allowed === true;
    const checks = [
      allowed({ group: 'security.baseline.dev', resource: 'baselineexceptions', verb: 'create' }),
      ...namespaces.flatMap((namespace) => rules.map((r) => {
        const [resource, subresource] = (r.resources?.[0] ?? '').split('/');
        return allowed({ namespace, group: r.apiGroups?.[0], resource, subresource, verb: r.verbs[0] });
      })),
      ...clusterRules.map((r) => allowed({ group: r.apiGroups?.[0], resource: r.resources?.[0], verb: r.verbs[0], name: r.resourceNames?.[0] })),
    ];
    return (await Promise.all(checks)).every(Boolean);
  }, { timeoutMs: 10_000 });
  return { name, kc: await kubeConfigAsUser(name) };
}

beforeAll(async () => {
  await installCrds();
  // The people's roles of config/rbac (the operator's own need its namespace, and no operator runs here).
  await applyObjects((await renderKustomization('config/rbac')).filter((o) => o.metadata?.name?.startsWith('baselineexception-')));
  teamA = await createTestNamespace('exc-a');
  teamB = await createTestNamespace('exc-b');
});

afterAll(async () => {
  await Promise.all(created.map((name) => deleteException(name)));
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

describe('bad exceptions are refused at admission, with a message that says what to do', () => {
  test('without a reason, or a blank one', async () => {
    const { reason: _, ...noReason } = spec();
    expect(await attempt(uniqueName('no-reason'), noReason as BaselineExceptionSpec)).toMatch(
      /^422 .*spec\.reason: Required value: reason is required: say why this exception is needed/);
    expect(await attempt(uniqueName('blank'), spec({ reason: '  ' }))).toMatch(/^422 .*spec\.reason: Required value: reason is required/);
  });

  test('ending more than 90 days after its creation, naming the latest allowed time', async () => {
    const name = uniqueName('long');
    const refusal = await attempt(name, spec({ expiresAt: inFuture(91 * DAY) }));
    expect(refusal).toMatch(new RegExp(`^422 .*ValidatingAdmissionPolicy 'security-baseline-exceptions' .* denied request: BaselineException ${name}: `
      + 'expiresAt \\S+ is 91 days after its creation \\(\\S+\\); an exception lasts at most 90 days: set expiresAt no later than \\S+'));
    expect(await attempt(uniqueName('ninety'), spec({ expiresAt: inFuture(90 * DAY - 60_000) }))).toBe('created');
  });

  test('ending in the past', async () => {
    const name = uniqueName('past');
    expect(await attempt(name, spec({ expiresAt: '2020-01-01T00:00:00Z' }))).toMatch(new RegExp(
      `^422 .*BaselineException ${name}: expiresAt 2020-01-01T00:00:00Z is not in the future \\(the exception is being created at \\S+\\)`));
  });

  test('naming a selector or wildcard instead of namespaces, relaxing nothing, or adding a gate or an exec rule', async () => {
    expect(await attempt(uniqueName('wild'), spec({ namespaces: ['team-*'] }))).toMatch(/^422 .*spec\.namespaces\[0\]: Invalid value: "team-\*": not a namespace name/);
    expect(await attempt(uniqueName('none'), spec({ namespaces: [] }))).toMatch(/^422 .*spec\.namespaces: Invalid value: 0: spec\.namespaces in body should have at least 1 items/);
    expect(await attempt(uniqueName('nothing'), spec({ relax: {} }))).toMatch(/^422 .*spec\.relax: Required value: relax sets nothing/);
    expect(await attempt(uniqueName('gate'), spec({ relax: { admissionGate: true } }))).toMatch(/^422 .*a relax can only switch the admission gate off/);
    expect(await attempt(uniqueName('exec'), spec({ relax: { workloadPolicy: { exec: { deny: true } } } })))
      .toMatch(/^422 .*a relax can only switch exec\.deny off: write workloadPolicy\.exec\.deny: false/);
  });

  test('moving expiresAt beyond 90 days after the creation later', async () => {
    const name = uniqueName('extended');
    expect(await attempt(name, spec())).toBe('created');
    const refusal = await patchException(name, { expiresAt: inFuture(100 * DAY) }).then(() => 'patched', (error: unknown) => messageOf(error));
    expect(refusal).toMatch(/is 100 days after its creation/);
  });
});

describe('who created an exception', () => {
  test('is stamped by the API server, kept on every update, and cannot be forged', async () => {
    const { name: user, kc } = await granter([teamA], [{ apiGroups: [''], resources: ['resourcequotas'], verbs: ['update'] }]);
    const name = uniqueName('stamped');
    // Claiming to be someone else: the stamp replaces the claim.
    await createException(name, spec(), kc, { [CREATED_BY_ANNOTATION]: 'mallory' }).then(() => created.push(name));
    expect((await getException(name)).metadata.annotations?.[CREATED_BY_ANNOTATION]).toBe(user);
    // Changing it later (the admin may write the object): the stamp stays, through updates of the spec too.
    await new KubeClient(admin).mergePatch(EXCEPTIONS, name, undefined, { metadata: { annotations: { [CREATED_BY_ANNOTATION]: 'mallory' } } });
    await patchException(name, { reason: 'CHG-1234: and its successor' });
    const exception = await getException(name);
    expect([exception.metadata.annotations?.[CREATED_BY_ANNOTATION], exception.spec.reason]).toEqual([user, 'CHG-1234: and its successor']);
  });
});

describe('an author who could not make the relaxation directly cannot grant it', () => {
  const quota: V1PolicyRule = { apiGroups: [''], resources: ['resourcequotas'], verbs: ['update'] };

  test('per named namespace: rights in one namespace grant nothing in another', async () => {
    const { name: user, kc } = await granter([teamA], [quota]);
    expect(await attempt(uniqueName('own'), spec(), kc)).toBe('created');
    const name = uniqueName('other');
    expect(await attempt(name, spec({ namespaces: [teamA, teamB] }), kc)).toBe(
      `403 baselineexceptions.security.baseline.dev "${name}" is forbidden: ValidatingAdmissionPolicy 'security-baseline-exceptions' with binding `
      + `'security-baseline-exceptions' denied request: BaselineException ${name}: ${user} may not relax resourceQuota in namespace ${teamB}: `
      + `a higher quota is a change to the namespace's ResourceQuota, so granting it needs the update verb on resourcequotas in namespace ${teamB}`);
  });

  test('each control needs its own right: Pod Security (patch the namespace), allow rules (create NetworkPolicies)', async () => {
    const { kc } = await granter([teamA], [quota]);
    expect(await attempt(uniqueName('psa'), spec({ relax: { podSecurity: { enforce: 'privileged' } } }), kc))
      .toMatch(/^403 .*may not relax podSecurity in namespace .*: .*needs the patch verb on namespace /);
    expect(await attempt(uniqueName('net'), spec({ relax: { networkPolicy: { egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }] } } }), kc))
      .toMatch(/^403 .*may not relax networkPolicy in namespace .*needs the create verb on networkpolicies\.networking\.k8s\.io in namespace /);
    const { kc: namespaceAdmin } = await granter([teamA], [
      { apiGroups: [''], resources: ['namespaces'], verbs: ['patch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['create'] },
    ]);
    expect(await attempt(uniqueName('psa-net'), spec({
      relax: { podSecurity: { enforce: 'privileged' }, networkPolicy: { egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }] } },
    }), namespaceAdmin)).toBe('created');
  });

  test('the image policy, the gate and exec need the right to change the baseline itself', async () => {
    // Even a namespace admin who may exec there: exec.deny is the baseline's rule, not the namespace's.
    const { kc } = await granter([teamA], [quota, { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }]);
    const images = spec({ relax: { imagePolicy: { allowedRegistries: ['quay.io/vendor/'] } } });
    const exec = spec({ relax: { workloadPolicy: { exec: { deny: false } } } });
    for (const body of [images, exec]) {
      expect(await attempt(uniqueName('baseline-rule'), body, kc)).toMatch(
        /^403 .*may not relax imagePolicy, admissionGate or workloadPolicy of baseline tenants: .*needs the update verb on securitybaselines\/tenants$/);
    }
    const { kc: baselineEditor } = await granter([], [], [
      { apiGroups: ['security.baseline.dev'], resources: ['securitybaselines'], verbs: ['update'], resourceNames: ['tenants'] },
    ]);
    expect(await attempt(uniqueName('images-ok'), images, baselineEditor)).toBe('created');
    expect(await attempt(uniqueName('gate-ok'), spec({ relax: { admissionGate: false } }), baselineEditor)).toBe('created');
    expect(await attempt(uniqueName('exec-ok'), exec, baselineEditor)).toBe('created');
  });

  test('narrowing needs no right; widening again does', async () => {
    const { kc: owner } = await granter([teamA, teamB], [quota]);
    const name = uniqueName('narrowed');
    expect(await attempt(name, spec({ namespaces: [teamA, teamB] }), owner)).toBe('created');
    const { kc: other } = await granter([], [], [{ apiGroups: ['security.baseline.dev'], resources: ['baselineexceptions'], verbs: ['patch'] }]);
    const patch = (body: Partial<BaselineExceptionSpec>) => patchException(name, body, other).then(() => 'patched', (error: unknown) => messageOf(error));
    expect(await patch({ namespaces: [teamA], expiresAt: inFuture(DAY) })).toBe('patched');
    expect(await patch({ namespaces: [teamA, teamB] })).toMatch(/may not relax resourceQuota in namespace /);
    expect(await patch({ expiresAt: inFuture(2 * DAY) })).toMatch(/may not relax resourceQuota in namespace /);
    expect(await patch({ relax: { resourceQuota: { hard: { pods: '40' } } } })).toMatch(/may not relax resourceQuota in namespace /);
  });

  test('the worst case (three controls in eight namespaces, no cluster-wide right) is decided within the API server\'s CEL budget', async () => {
    const namespaces = await Promise.all([...Array(8).keys()].map(() => createTestNamespace('exc-w')));
    const { kc } = await granter(namespaces, [
      quota, { apiGroups: [''], resources: ['namespaces'], verbs: ['patch'] }, { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['create'] },
    ], [{ apiGroups: ['security.baseline.dev'], resources: ['securitybaselines'], verbs: ['update'], resourceNames: ['tenants'] }]);
    const relax = {
      podSecurity: { enforce: 'baseline' as const }, networkPolicy: { egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }] },
      resourceQuota: { hard: { pods: '20' } }, imagePolicy: { allowedRegistries: ['quay.io/vendor/'] },
    };
    expect(await attempt(uniqueName('worst'), spec({ namespaces, relax }), kc)).toBe('created');
    const { kc: short } = await granter(namespaces.slice(0, 7), [quota]);
    expect(await attempt(uniqueName('worst'), spec({ namespaces, relax: { resourceQuota: { hard: { pods: '20' } } } }), short))
      .toMatch(new RegExp(`may not relax resourceQuota in namespace ${namespaces[7]}:`));
  });
});
