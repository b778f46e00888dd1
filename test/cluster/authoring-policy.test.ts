// The authoring policy (crds/authoring-policy.yaml) against the real API
// server, acting as minted users: a SecurityBaseline is refused when its
// author could not make its grants directly, with a message that names what is
// missing; it is accepted when they could, and a change that only narrows what
// a baseline grants needs no such right. No operator runs here: the policy holds
// on its own.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AuthorizationV1Api, CustomObjectsApi, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type SecurityBaselineSpec } from '../../src/api/types.ts';
import { adminKubeConfig, eventually, ignoreNotFound, messageOf, uniqueName } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { kubeConfigAsUser } from '../support/identities.ts';
import { applyObjects, renderKustomization } from '../support/manifests.ts';
import { BASELINES } from '../../src/controller/kinds.ts';
import { KubeClient } from '../../src/runtime/kube.ts';

const admin = adminKubeConfig();
const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
const authorization = admin.makeApiClient(AuthorizationV1Api);
const resource = { group: GROUP, version: VERSION, plural: PLURAL };
const cleanup: (() => Promise<unknown>)[] = [];

/** A user bound cluster-wide to `clusterRoles` (names) and to a ClusterRole of `rules`, once RBAC has it in effect. */
async function user(prefix: string, { clusterRoles = [], rules = [] }: { clusterRoles?: string[]; rules?: V1PolicyRule[] }): Promise<{ name: string; api: CustomObjectsApi }> {
  const name = uniqueName(prefix);
  const bind = async (role: string, binding: string) => {
    await rbac.createClusterRoleBinding({
      body: { metadata: { name: binding }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'User', name, apiGroup: 'rbac.authorization.k8s.io' }] },
    });
    cleanup.push(() => rbac.deleteClusterRoleBinding({ name: binding }).catch(ignoreNotFound));
  };
  for (const role of ['securitybaseline-editor', ...clusterRoles]) await bind(role, `${name}-${role}`);
  if (rules.length > 0) {
    await rbac.createClusterRole({ body: { metadata: { name }, rules } });
    cleanup.push(() => rbac.deleteClusterRole({ name }).catch(ignoreNotFound));
    await bind(name, name);
  }
  // RBAC reaches the authorizer through an informer: wait until the last grant is in effect.
  const last = rules.at(-1);
  await eventually(async () => {
    const attributes = last
      ? { group: last.apiGroups?.[0], resource: last.resources?.[0]?.split('/')[0], verb: last.verbs[0], name: last.resourceNames?.[0] }
      : { group: GROUP, resource: PLURAL, verb: 'create' };
    const review = await authorization.createSubjectAccessReview({ body: { spec: { user: name, resourceAttributes: attributes } } });
    return review.status?.allowed === true;
  }, { timeoutMs: 10_000 });
  return { name, api: (await kubeConfigAsUser(name)).makeApiClient(CustomObjectsApi) };
}

const body = (name: string, spec: SecurityBaselineSpec) => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec });

/** Creates the baseline as `api`; resolves to 'created' or the refusal's message. */
async function create(api: CustomObjectsApi, name: string, spec: SecurityBaselineSpec): Promise<string> {
  try {
    await api.createClusterCustomObject({ ...resource, body: body(name, spec) });
    cleanup.push(() => admin.makeApiClient(CustomObjectsApi).deleteClusterCustomObject({ ...resource, name }).catch(ignoreNotFound));
    return 'created';
  } catch (error) {
    return messageOf(error);
  }
}

/** Replaces the baseline's spec as `api`; resolves to 'updated' or the refusal's message. */
async function update(api: CustomObjectsApi, name: string, spec: SecurityBaselineSpec): Promise<string> {
  const current = await admin.makeApiClient(CustomObjectsApi).getClusterCustomObject({ ...resource, name }) as { metadata: { resourceVersion: string } };
  try {
    await api.replaceClusterCustomObject({ ...resource, name, body: { ...body(name, spec), metadata: { name, resourceVersion: current.metadata.resourceVersion } } });
    return 'updated';
  } catch (error) {
    return messageOf(error);
  }
}

const everything = { namespaceSelector: {} };
const mallorySubject = (name: string) => [{ kind: 'User' as const, name }];
const secretsRule = { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] };

let mallory: { name: string; api: CustomObjectsApi };

beforeAll(async () => {
  await installCrds();
  // The roles for people that config/rbac ships (securitybaseline-viewer, -editor, -author).
  await applyObjects((await renderKustomization('config/rbac')).filter((object) => object.metadata?.name?.startsWith('securitybaseline-')));
  // The attacker of the report: may write SecurityBaselines, nothing else.
  mallory = await user('mallory', {});
}, 60_000);

afterAll(async () => {
  for (const undo of cleanup.reverse()) await undo();
});

describe('a baseline cannot grant more than its author may grant', () => {
  test('the reported attack, a RoleBinding to admin for oneself, is refused, naming the role and the missing verb', async () => {
    const message = await create(mallory.api, uniqueName('evil'), {
      ...everything,
      roleBindings: [
        { name: 'takeover', clusterRole: 'admin', subjects: mallorySubject(mallory.name) },
        { name: 'secrets', rules: [secretsRule], subjects: mallorySubject(mallory.name) },
      ],
    });
    process.stderr.write(`refused: ${message}\n`);
    expect(message).toMatch(new RegExp(`${mallory.name} may not bind ClusterRole admin \\(roleBindings takeover\\)\\. .*needs the bind verb on clusterroles/admin cluster-wide`));
  });

  test('a Role with rules the author does not hold is refused, naming the permission', async () => {
    const message = await create(mallory.api, uniqueName('evil'), {
      ...everything,
      roleBindings: [{ name: 'secrets', rules: [secretsRule], subjects: mallorySubject(mallory.name) }],
    });
    expect(message).toMatch(new RegExp(`roleBindings secrets build Roles that grant get secrets, which ${mallory.name} does not hold cluster-wide`));
    expect(message).toMatch(/Granting what you do not hold needs the escalate and bind verbs on roles/);
  });

  test('a subresource and a named object are checked as such', async () => {
    const message = await create(mallory.api, uniqueName('evil'), {
      ...everything,
      roleBindings: [{ name: 'exec', rules: [{ apiGroups: [''], resources: ['pods/exec'], resourceNames: ['db-0'], verbs: ['create'] }], subjects: mallorySubject(mallory.name) }],
    });
    expect(message).toMatch(/grant create pods\/exec named db-0, which/);
  });

  test.each([
    ['networkPolicy allow rules', { networkPolicy: { allowDNS: true } }, /its networkPolicy allow rules open traffic .* needs the create verb on networkpolicies cluster-wide/],
    ['podSecurity', { podSecurity: { enforce: 'privileged' as const } }, /its podSecurity sets the Pod Security labels .* needs the patch verb on namespaces cluster-wide/],
    ['logging', { logging: { flow: { globalOutputRefs: ['attacker'] } } }, /its logging routes the logs of every namespace it selects, so writing it needs the create verb on flows\.logging\.banzaicloud\.io/],
  ])('%s (which open traffic, loosen admission or route logs) need the same right directly', async (_, controls, refusal) => {
    expect(await create(mallory.api, uniqueName('evil'), { ...everything, ...controls })).toMatch(refusal);
  });

  test('controls that only restrict need nothing beyond writing baselines', async () => {
    expect(await create(mallory.api, uniqueName('restrict'), {
      ...everything,
      networkPolicy: { defaultDeny: ['Ingress', 'Egress'] },
      resourceQuota: { hard: { pods: '4' } },
      limitRange: { default: { cpu: '500m' } },
      imagePolicy: { allowedRegistries: ['registry.example.com/'] },
      workloadPolicy: { readOnlyRootFilesystem: true, disallowLatestTag: true, exec: { deny: true, allowGroups: ['sre'] } },
      admissionGate: true,
    })).toBe('created');
  });

  test('an Audit baseline grants nothing and needs nothing; switching it to Enforce is checked', async () => {
    const name = uniqueName('audit');
    const spec: SecurityBaselineSpec = { ...everything, mode: 'Audit', roleBindings: [{ name: 'takeover', clusterRole: 'admin', subjects: mallorySubject(mallory.name) }] };
    expect(await create(mallory.api, name, spec)).toBe('created');
    expect(await update(mallory.api, name, { ...spec, mode: 'Enforce' })).toMatch(/may not bind ClusterRole admin/);
  });
});

describe('an author who could make the grants directly may write them', () => {
  test('a user who holds admin and may bind it grants admin and a Role within admin', async () => {
    const trent = await user('trent', { clusterRoles: ['admin'], rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: ['admin'], verbs: ['bind'] }] });
    expect(await create(trent.api, uniqueName('ok'), {
      ...everything,
      roleBindings: [
        { name: 'admins', clusterRole: 'admin', subjects: [{ kind: 'Group', name: '${namespace}-admins' }] },
        { name: 'secrets', rules: [secretsRule], subjects: [{ kind: 'Group', name: 'auditors' }] },
      ],
    })).toBe('created');
    // admin does not hold the `*` verb, so neither may trent grant it (as RBAC would refuse him directly).
    expect(await create(trent.api, uniqueName('wild'), {
      ...everything, roleBindings: [{ name: 'all', rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['*'] }], subjects: mallorySubject(mallory.name) }],
    })).toMatch(/grant \* secrets, which trent-[0-9a-f]+ does not hold/);
  });

  test('escalate and bind on Roles stand for holding every rule; bind on every ClusterRole for each one', async () => {
    const root = await user('escalator', {
      rules: [
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate', 'bind'] },
        { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'] },
      ],
    });
    expect(await create(root.api, uniqueName('ok'), {
      ...everything,
      roleBindings: [
        { name: 'anything', rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }], subjects: [{ kind: 'Group', name: 'sre' }] },
        ...Array.from({ length: 20 }, (_, i) => ({ name: `r${i}`, clusterRole: `role-${i}`, subjects: [{ kind: 'Group' as const, name: 'sre' }] })),
      ],
    })).toBe('created');
  });

  test('the shipped securitybaseline-author role writes the sample baseline', async () => {
    const author = await user('author', { clusterRoles: ['securitybaseline-author'] });
    const [sample] = await renderKustomization('config/samples') as { spec: SecurityBaselineSpec }[];
    expect(await create(author.api, uniqueName('sample'), sample!.spec)).toBe('created');
  });

  test('beyond what can be checked one by one, the message says what to hold instead', async () => {
    const binder = await user('binder', {
      rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: ['view'], verbs: ['bind'] }],
    });
    expect(await create(binder.api, uniqueName('many'), {
      ...everything,
      roleBindings: Array.from({ length: 13 }, (_, i) => ({ name: `r${i}`, clusterRole: `role-${i}`, subjects: [{ kind: 'Group' as const, name: 'sre' }] })),
    })).toMatch(/it binds 13 ClusterRoles and the API server can check at most 12 one by one at admission\. To write it, binder-[0-9a-f]+ needs the bind verb on all clusterroles/);
    expect(await create(binder.api, uniqueName('wide'), {
      ...everything,
      roleBindings: [{ name: 'wide', rules: [{ apiGroups: ['', 'apps'], resources: ['pods', 'deployments', 'services'], verbs: ['get', 'list'] }], subjects: [{ kind: 'Group', name: 'sre' }] }],
    })).toMatch(/its Roles \(roleBindings wide\) list 12 permissions and the API server can check at most 8 one by one at admission/);
  });
});

describe('narrowing what a baseline grants needs no right to grant', () => {
  const full: SecurityBaselineSpec = {
    namespaceSelector: { matchLabels: { tenant: 'true' } },
    networkPolicy: { allowDNS: true, ingress: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] },
    podSecurity: { enforce: 'baseline' },
    roleBindings: [
      { name: 'admins', clusterRole: 'admin', subjects: [{ kind: 'Group', name: 'a' }, { kind: 'Group', name: 'b' }] },
      { name: 'secrets', rules: [secretsRule], subjects: [{ kind: 'Group', name: 'auditors' }] },
    ],
  };
  let name: string;

  beforeAll(async () => {
    name = uniqueName('narrow');
    expect(await create(admin.makeApiClient(CustomObjectsApi), name, full)).toBe('created');
  });

  test.each<[string, (spec: SecurityBaselineSpec) => SecurityBaselineSpec]>([
    ['an unrelated field (priority)', (spec) => ({ ...spec, priority: 5 })],
    ['one subject fewer', (spec) => ({ ...spec, roleBindings: [{ ...spec.roleBindings![0]!, subjects: [{ kind: 'Group', name: 'a' }] }, spec.roleBindings![1]!] })],
    ['a verb fewer in a rule', (spec) => ({ ...spec, roleBindings: [spec.roleBindings![0]!, { ...spec.roleBindings![1]!, rules: [{ ...secretsRule, verbs: ['get'] }] }] })],
    ['a binding fewer', (spec) => ({ ...spec, roleBindings: [spec.roleBindings![1]!] })],
    ['a narrower selector (one label more)', (spec) => ({ ...spec, namespaceSelector: { matchLabels: { tenant: 'true', tier: 'gold' } } })],
    ['an allow rule fewer', (spec) => ({ ...spec, networkPolicy: { allowDNS: true } })],
    ['a stricter Pod Security level', (spec) => ({ ...spec, podSecurity: { enforce: 'restricted' } })],
    ['Audit instead of Enforce', (spec) => ({ ...spec, mode: 'Audit' })],
  ])('%s is accepted from a user who may grant nothing', async (_, narrow) => {
    expect(await update(mallory.api, name, narrow(full))).toBe('updated');
    expect(await update(admin.makeApiClient(CustomObjectsApi), name, full)).toBe('updated');
  });

  test.each<[string, (spec: SecurityBaselineSpec) => SecurityBaselineSpec, RegExp]>([
    ['a subject more', (spec) => ({ ...spec, roleBindings: [{ ...spec.roleBindings![0]!, subjects: [...spec.roleBindings![0]!.subjects, { kind: 'User', name: 'mallory' }] }, spec.roleBindings![1]!] }), /may not bind ClusterRole admin \(roleBindings admins\)/],
    ['a wider selector', (spec) => ({ ...spec, namespaceSelector: {} }), /may not bind ClusterRole admin/],
    ['a verb more in a rule', (spec) => ({ ...spec, roleBindings: [spec.roleBindings![0]!, { ...spec.roleBindings![1]!, rules: [{ ...secretsRule, verbs: ['get', 'list', 'watch'] }] }] }), /grant (get|list|watch) secrets/],
    ['an allow rule more', (spec) => ({ ...spec, networkPolicy: { ...spec.networkPolicy, allowSameNamespace: true } }), /networkPolicy allow rules open traffic/],
    ['a looser Pod Security level', (spec) => ({ ...spec, podSecurity: { enforce: 'privileged' } }), /its podSecurity sets the Pod Security labels/],
  ])('%s is refused', async (_, widen, refusal) => {
    expect(await update(mallory.api, name, widen(full))).toMatch(refusal);
  });

  test('subjects copied from a RoleBinding with their apiGroup compare as written: one fewer is narrowing, one more is not', async () => {
    const group = (groupName: string) => ({ apiGroup: 'rbac.authorization.k8s.io' as const, kind: 'Group' as const, name: groupName });
    const spec = (subjects: ReturnType<typeof group>[]): SecurityBaselineSpec => ({
      namespaceSelector: { matchLabels: { tenant: 'true' } }, roleBindings: [{ name: 'admins', clusterRole: 'admin', subjects }],
    });
    const copied = uniqueName('narrow-apigroup');
    expect(await create(admin.makeApiClient(CustomObjectsApi), copied, spec([group('a'), group('b')]))).toBe('created');
    expect(await update(mallory.api, copied, spec([group('a')]))).toBe('updated');
    expect(await update(mallory.api, copied, spec([group('a'), group('mallory')]))).toMatch(/may not bind ClusterRole admin \(roleBindings admins\)/);
  });

  test('writes that leave the spec alone (the operator\'s finalizer) are never checked', async () => {
    // Permission to patch baselines only: nothing the policy would check could pass.
    const patcher = await user('patcher', { rules: [{ apiGroups: [GROUP], resources: [PLURAL], verbs: ['patch'] }] });
    const client = new KubeClient(await kubeConfigAsUser(patcher.name));
    const finalizers = (values: string[]) => client.apply(BASELINES, { apiVersion: API_VERSION, kind: KIND, metadata: { name, finalizers: values } });
    await expect(finalizers(['example.com/test'])).resolves.toMatchObject({ metadata: { finalizers: ['example.com/test'] } });
    await finalizers([]);
  });
});
