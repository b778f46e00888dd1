// crds/managed-object-policy.yaml against the real API server, with no
// operator running: a namespace admin may edit a managed object (the operator
// puts it back) but may not take it out of management by its labels, which
// removed with its managedFields would leave it no one's the operator knows of.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AuthorizationV1Api, NetworkingV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { BASELINE_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, OPERATOR_NAME } from '../../src/api/constants.ts';
import { MANAGED_KINDS, REPORTS } from '../../src/controller/kinds.ts';
import type { KubeObject, ResourceType } from '../../src/runtime/kube.ts';
import { KubeApiError } from '../../src/runtime/errors.ts';
import { createBaseline, deleteBaseline, writerAs } from '../support/baselines.ts';
import { adminKubeConfig, createTestNamespace, eventually, ignoreNotFound, uniqueName } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { kubeConfigAsUser, kubeConfigWithOperatorRole } from '../support/identities.ts';
import { installReportsCrd } from '../support/reports.ts';

type Writer = ReturnType<typeof writerAs>;

const admin = adminKubeConfig();
const networking = admin.makeApiClient(NetworkingV1Api);
const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
const authorization = admin.makeApiClient(AuthorizationV1Api);
const NETWORK_POLICIES = MANAGED_KINDS.find((type) => type.kind === 'NetworkPolicy')!;
const cleanup: (() => Promise<unknown>)[] = [];
let namespace = '';
let tenant: ReturnType<typeof writerAs>;

const ownership = { [MANAGED_BY_LABEL]: OPERATOR_NAME, [BASELINE_LABEL]: 'tenants' };

/** A NetworkPolicy as the operator applies one (its labels, its field manager), created by the administrator. */
async function managedPolicy(): Promise<string> {
  const name = uniqueName('tenants-deny');
  await writerAs(FIELD_MANAGER).forceApply(NETWORK_POLICIES, {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace, labels: ownership },
    spec: { podSelector: {}, ingress: [], egress: [], policyTypes: ['Ingress'] },
  } as KubeObject & Record<string, unknown>);
  return name;
}

/** Runs a write; resolves to 'allowed' or the refusal, with its HTTP status. */
async function attempt(write: () => Promise<unknown>): Promise<string> {
  try {
    await write();
    return 'allowed';
  } catch (error) {
    if (error instanceof KubeApiError) return `${error.status} ${error.apiMessage}`;
    throw error;
  }
}

const labelsOf = async (name: string) => (await networking.readNamespacedNetworkPolicy({ namespace, name })).metadata?.labels ?? {};

beforeAll(async () => {
  await installCrds();
  namespace = await createTestNamespace('managed-guard');
  // A namespace admin: the built-in `admin` role may patch NetworkPolicies here.
  const user = uniqueName('ns-admin');
  await rbac.createNamespacedRoleBinding({ namespace, body: {
    metadata: { name: 'tenant-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  } });
  await eventually(async () => (await authorization.createSubjectAccessReview({ body: { spec: {
    user, resourceAttributes: { namespace, group: 'networking.k8s.io', resource: 'networkpolicies', verb: 'patch' },
  } } })).status?.allowed === true);
  // kubectl edit's field manager, with the tenant's identity.
  tenant = writerAs('kubectl-edit', await kubeConfigAsUser(user));
});

afterAll(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo().catch(ignoreNotFound);
});

describe('a namespace admin may not take an object out of a baseline\'s management', () => {
  test('removing the baseline label, or it and managedFields in one patch, is refused with a message that says why', async () => {
    const name = await managedPolicy();
    const refused = await attempt(() => tenant.mergePatch(NETWORK_POLICIES, name, namespace, { metadata: { labels: { [BASELINE_LABEL]: null } } }));
    expect(refused).toMatch(/^403 /);
    expect(refused).toContain(`NetworkPolicy ${name} is managed by the security baseline tenants`);
    expect(refused).toContain('may not add, change or remove its labels security.baseline.dev/baseline and app.kubernetes.io/managed-by');
    expect(await attempt(() => tenant.mergePatch(NETWORK_POLICIES, name, namespace, {
      metadata: { labels: { [BASELINE_LABEL]: null, [MANAGED_BY_LABEL]: null }, managedFields: [{}] }, spec: { ingress: [{}] },
    }))).toMatch(/^403 .*is managed by the security baseline tenants/);
    expect(await labelsOf(name)).toMatchObject(ownership);
  });

  test('changing either label, or a forced apply under the operator\'s own manager name that leaves them out, is refused', async () => {
    const name = await managedPolicy();
    expect(await attempt(() => tenant.mergePatch(NETWORK_POLICIES, name, namespace, { metadata: { labels: { [BASELINE_LABEL]: 'other' } } }))).toMatch(/^403 /);
    expect(await attempt(() => tenant.mergePatch(NETWORK_POLICIES, name, namespace, { metadata: { labels: { [MANAGED_BY_LABEL]: 'me' } } }))).toMatch(/^403 /);
    const impostor = writerAs(FIELD_MANAGER, tenant.client.config);
    expect(await attempt(() => impostor.forceApply(NETWORK_POLICIES, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace },
      spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] },
    } as KubeObject & Record<string, unknown>))).toMatch(/^403 /);
    expect(await labelsOf(name)).toMatchObject(ownership);
  });

  test('labelling an object of one\'s own as a baseline\'s is refused too', async () => {
    const name = uniqueName('own');
    await tenant.create(NETWORK_POLICIES, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec: { podSelector: {}, policyTypes: ['Ingress'] },
    } as KubeObject & Record<string, unknown>);
    expect(await attempt(() => tenant.mergePatch(NETWORK_POLICIES, name, namespace, { metadata: { labels: ownership } })))
      .toMatch(/^403 .*is managed by the security baseline tenants/);
  });

  test('creating an object that carries a baseline\'s labels is refused too, but to a cluster administrator', async () => {
    const body = (name: string) => ({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace, labels: ownership }, spec: { podSelector: {}, policyTypes: ['Ingress'] },
    } as KubeObject & Record<string, unknown>);
    const name = uniqueName('own');
    expect(await attempt(() => tenant.create(NETWORK_POLICIES, body(name)))).toMatch(/^403 .*is managed by the security baseline tenants/);
    expect(await attempt(() => writerAs('kubectl-create').create(NETWORK_POLICIES, body(name)))).toBe('allowed');
  });

  test('other edits go through (the operator puts them back), as do other labels', async () => {
    const name = await managedPolicy();
    expect(await attempt(() => tenant.mergePatch(NETWORK_POLICIES, name, namespace, { metadata: { labels: { team: 'a' } }, spec: { ingress: [{}] } }))).toBe('allowed');
    expect(await labelsOf(name)).toMatchObject({ ...ownership, team: 'a' });
  });

  test('the operator, with only its own ClusterRole (config/rbac), may remove the labels: deletionPolicy Orphan releases objects so', async () => {
    const name = await managedPolicy();
    const { kubeConfig, unbind } = await kubeConfigWithOperatorRole();
    cleanup.push(unbind);
    const asOperator = writerAs(FIELD_MANAGER, kubeConfig);
    await eventually(() => asOperator.mergePatch(NETWORK_POLICIES, name, namespace, { metadata: { labels: { [MANAGED_BY_LABEL]: null, [BASELINE_LABEL]: null } } }));
    expect((await labelsOf(name))[BASELINE_LABEL]).toBeUndefined();
  });

  test('a cluster administrator (who may write baselines\' status, as the operator does) may remove the labels', async () => {
    const name = await managedPolicy();
    expect(await attempt(() => writerAs('kubectl-label').mergePatch(NETWORK_POLICIES, name, namespace, { metadata: { labels: { [BASELINE_LABEL]: null } } }))).toBe('allowed');
    expect((await labelsOf(name))[BASELINE_LABEL]).toBeUndefined();
  });
});

describe('the names a baseline gives its objects are reserved in the namespaces it selects', () => {
  let name = '';
  let selected = '';
  let asTenant: Writer;
  let tenantUser = '';
  let reportsWriter = '';

  const policyNamed = (policyName: string) => ({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: policyName }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] },
  });
  /** Creates `body` in `where` as `writer`; resolves to 'allowed' or the refusal, with its HTTP status. */
  const createAs = (writer: Writer, type: ResourceType, where: string, body: Record<string, unknown>) =>
    attempt(() => writer.client.create(type, { ...body, metadata: { ...(body.metadata as object), namespace: where } } as KubeObject & Record<string, unknown>));

  beforeAll(async () => {
    await installReportsCrd();
    const label = uniqueName('reserved');
    name = uniqueName('names');
    await createBaseline(name, {
      namespaceSelector: { matchLabels: { [label]: 'yes' } },
      networkPolicy: { defaultDeny: ['Ingress'] },
      resourceQuota: { hard: { pods: '10' } },
      roleBindings: [{ name: 'auditors', clusterRole: 'view', subjects: [{ kind: 'Group', name: 'auditors' }] }],
    });
    cleanup.push(() => deleteBaseline(name));
    selected = await createTestNamespace('names', { [label]: 'yes' });
    const user = uniqueName('ns-admin');
    await rbac.createNamespacedRoleBinding({ namespace: selected, body: {
      metadata: { name: 'tenant-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    } });
    // Reports: the namespace admin may write them too, as a tool's role might grant.
    tenantUser = user;
    reportsWriter = uniqueName('reports-writer');
    await rbac.createClusterRole({ body: { metadata: { name: reportsWriter }, rules: [{ apiGroups: ['openreports.io'], resources: ['reports'], verbs: ['create', 'delete'] }] } });
    cleanup.push(() => rbac.deleteClusterRole({ name: reportsWriter }));
    await rbac.createNamespacedRoleBinding({ namespace: selected, body: {
      metadata: { name: 'reports' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: reportsWriter },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    } });
    await eventually(async () => (await authorization.createSubjectAccessReview({ body: { spec: {
      user, resourceAttributes: { namespace: selected, group: 'openreports.io', resource: 'reports', verb: 'create' },
    } } })).status?.allowed === true);
    asTenant = writerAs('kubectl-create', await kubeConfigAsUser(user));
    // The policy's parameters come from an informer: wait until it knows the baseline.
    await eventually(async () => (await createAs(asTenant, NETWORK_POLICIES, selected, policyNamed(`${name}-default-deny`))).startsWith('403 '));
  });

  test('a namespace admin may not create an object under one of them, in any managed kind, nor the compliance Report', async () => {
    const refused = await createAs(asTenant, NETWORK_POLICIES, selected, policyNamed(`${name}-default-deny`));
    expect(refused).toMatch(/^403 /);
    expect(refused).toContain(`NetworkPolicy ${name}-default-deny in namespace ${selected}: the security baseline ${name} selects this namespace and gives one of its objects there this name`);
    expect(refused).toContain('may not create one under it');
    const ROLE_BINDINGS = MANAGED_KINDS.find((type) => type.kind === 'RoleBinding')!;
    expect(await createAs(asTenant, ROLE_BINDINGS, selected, {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `${name}-auditors` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [],
    })).toMatch(/^403 .*gives one of its objects there this name/);
    expect(await createAs(asTenant, REPORTS, selected, {
      apiVersion: 'openreports.io/v1alpha1', kind: 'Report', metadata: { name: 'security-baseline' }, results: [],
    })).toMatch(/^403 .*the security baseline operator keeps its compliance Report under this name/);
  });

  test('the compliance Report\'s name is reserved where no baseline selects too; other Reports stay the namespace\'s', async () => {
    // The tenant may write Reports in the unselected namespace as well.
    await rbac.createNamespacedRoleBinding({ namespace, body: {
      metadata: { name: 'reports-writer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: reportsWriter },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: tenantUser }],
    } });
    const report = (reportName: string) => ({ apiVersion: 'openreports.io/v1alpha1', kind: 'Report', metadata: { name: reportName }, results: [] });
    await eventually(async () => (await createAs(asTenant, REPORTS, namespace, report(uniqueName('tool')))) === 'allowed');
    expect(await createAs(asTenant, REPORTS, namespace, report('security-baseline'))).toMatch(/^403 .*may not create one under it/);
    expect(await createAs(asTenant, REPORTS, selected, report(uniqueName('tool')))).toBe('allowed');
  });

  test('nor under one of them with the baseline\'s labels, which would pass it by the other policy\'s door', async () => {
    // Objects with the baseline label are not this policy's (the operator's own creates skip it): the ownership policy refuses them.
    expect(await createAs(asTenant, NETWORK_POLICIES, selected, {
      ...policyNamed(`${name}-default-deny`), metadata: { name: `${name}-default-deny`, labels: { [MANAGED_BY_LABEL]: OPERATOR_NAME, [BASELINE_LABEL]: name } },
    })).toMatch(new RegExp(`^403 .*is managed by the security baseline ${name}`));
  });

  test('other names stay the namespace\'s, as do the same names where the baseline does not select', async () => {
    expect(await createAs(asTenant, NETWORK_POLICIES, selected, policyNamed(`${name}-api`))).toBe('allowed');
    expect(await createAs(writerAs('kubectl-create'), NETWORK_POLICIES, namespace, policyNamed(`${name}-default-deny`))).toBe('allowed');
  });

  test('the operator, with only its own ClusterRole (config/rbac), creates them', async () => {
    const { kubeConfig, unbind } = await kubeConfigWithOperatorRole();
    cleanup.push(unbind);
    const asOperator = writerAs(FIELD_MANAGER, kubeConfig);
    await eventually(async () => (await createAs(asOperator, NETWORK_POLICIES, selected, policyNamed(`${name}-default-deny`))) === 'allowed');
    // As the operator creates them: with its labels.
    expect(await createAs(asOperator, NETWORK_POLICIES, selected, {
      ...policyNamed(`${name}-quota`), metadata: { name: `${name}-quota`, labels: { [MANAGED_BY_LABEL]: OPERATOR_NAME, [BASELINE_LABEL]: name } },
    })).toBe('allowed');
  });
});
