// The core promise, end to end: the operator (its own process, its own
// identity) against the real control plane provisions selected namespaces,
// keeps them, composes baselines, and reports what it cannot do.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, NetworkingV1Api, RbacAuthorizationV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import { APPLIED_ANNOTATION, BASELINE_LABEL, FIELD_MANAGER } from '../../src/api/constants.ts';
import { BASELINES as BASELINE_TYPE, MANAGED_KINDS, NAMESPACES as NAMESPACE_TYPE } from '../../src/controller/kinds.ts';
import { adminKubeConfig, createTestNamespace, eventually, statusOf } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import {
  condition, createBaseline, deleteBaseline, getBaseline, waitForBaselineGone, waitForStatus, writerAs,
} from '../support/baselines.ts';
import { metricValue, startOperator, type RunningOperator } from '../support/operator.ts';
import { auditMark, writesSince } from '../support/audit.ts';
import { kubectl } from '../support/admission.ts';
import { kubeConfigAsUser } from '../support/identities.ts';
import type { SecurityBaselineSpec } from '../../src/api/types.ts';
import type { KubeObject } from '../../src/runtime/kube.ts';
import { KubeApiError } from '../../src/runtime/errors.ts';
import { revisionName } from '../../src/resources/revision.ts';

const run = randomBytes(3).toString('hex');
const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const kind = (name: string) => {
  const type = MANAGED_KINDS.find((t) => t.kind === name);
  if (!type) throw new Error(name);
  return type;
};
const baselinesCreated: string[] = [];
let operator: RunningOperator;

/** A baseline with a unique name, selecting namespaces labelled `sbo-e2e=<its name>`. */
async function baseline(prefix: string, spec: Omit<SecurityBaselineSpec, 'namespaceSelector'> & Partial<SecurityBaselineSpec>): Promise<string> {
  const name = `${prefix}-${run}`;
  await createBaseline(name, { namespaceSelector: { matchLabels: { 'sbo-e2e': name } }, ...spec });
  baselinesCreated.push(name);
  return name;
}

const exists = (read: Promise<unknown>) => read.then(() => true, (e: unknown) => {
  if (statusOf(e) === 404) return false;
  throw e;
});

/** Waits until the operator has applied the baselines of `namespace` once (its applied annotation is there). */
async function untilApplied(namespace: string): Promise<void> {
  await eventually(async () => (await core.readNamespace({ name: namespace })).metadata?.annotations?.[APPLIED_ANNOTATION] !== undefined);
}

/** Binds `user` to the built-in `admin` role in `namespace`, as a tenant's namespace admin is; returns a kubeconfig as them. */
async function namespaceAdmin(namespace: string, user: string): Promise<KubeConfig> {
  await rbac.createNamespacedRoleBinding({ namespace, body: {
    metadata: { name: 'tenant-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  } });
  return kubeConfigAsUser(user);
}

/** Events about a namespace (they live in `default`, as for every cluster-scoped object). */
async function events(namespace: string, reason: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=Namespace,involvedObject.name=${namespace}` }))
    .items.filter((e) => e.reason === reason);
}

/** How often the operator looks again at a namespace where someone else holds a managed name (60 s as deployed). */
const FOREIGN_RECHECK_MS = 2_000;

beforeAll(async () => {
  await installCrds();
  operator = await startOperator({ env: { FOREIGN_RECHECK_MS: String(FOREIGN_RECHECK_MS) } });
});

afterAll(async () => {
  // Delete while the operator runs, so finalizers are honoured and nothing is left for the next file.
  await Promise.all(baselinesCreated.map((name) => deleteBaseline(name)));
  await Promise.all(baselinesCreated.map((name) => waitForBaselineGone(name).catch(() => undefined)));
  const code = await operator.stop();
  expect(code).toBe(0); // SIGTERM drains and exits cleanly
});

describe('provisioning', () => {
  test('a matching namespace gets every object, a non-matching one none, and the baseline reports Ready', async () => {
    const name = await baseline('full', {
      networkPolicy: { allowDNS: true, allowSameNamespace: true },
      resourceQuota: { hard: { pods: '4', 'requests.cpu': '1', 'requests.memory': '1Gi', 'limits.cpu': '2', 'limits.memory': '2Gi' } },
      limitRange: { defaultRequest: { cpu: '100m', memory: '128Mi' }, default: { cpu: '500m', memory: '512Mi' } },
      roleBindings: [
        { name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: '${namespace}-readers' }] },
        { name: 'pod-readers', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }], subjects: [{ kind: 'User', name: 'alice' }] },
      ],
      podSecurity: { enforce: 'restricted' },
    });
    const selected = await createTestNamespace('sel', { 'sbo-e2e': name });
    const other = await createTestNamespace('other');

    await eventually(async () => {
      const [np, quota, limits, binding, role] = await Promise.all([
        networking.readNamespacedNetworkPolicy({ namespace: selected, name: `${name}-default-deny` }),
        core.readNamespacedResourceQuota({ namespace: selected, name: `${name}-quota` }),
        core.readNamespacedLimitRange({ namespace: selected, name: `${name}-limits` }),
        rbac.readNamespacedRoleBinding({ namespace: selected, name: `${name}-readers` }),
        rbac.readNamespacedRole({ namespace: selected, name: `${name}-pod-readers` }),
      ]);
      expect(np.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(quota.spec?.hard?.pods).toBe('4');
      expect(limits.spec?.limits[0]?.defaultRequest?.cpu).toBe('100m');
      expect(binding.subjects?.[0]?.name).toBe(`${selected}-readers`);
      expect(role.rules?.[0]?.resources).toEqual(['pods']);
      // The namespace's own apply (labels, annotation) comes after its objects.
      expect((await core.readNamespace({ name: selected })).metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
      return true;
    });
    const ns = await core.readNamespace({ name: selected });
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    // The annotation names the revision the namespace is at: the one of the baseline's spec.
    const { spec } = await getBaseline(name);
    expect(JSON.parse(ns.metadata?.annotations?.[APPLIED_ANNOTATION] ?? '{}')).toEqual({ [name]: revisionName(name, spec) });

    // The namespace that does not match stays untouched.
    expect(await exists(core.readNamespacedResourceQuota({ namespace: other, name: `${name}-quota` }))).toBe(false);
    expect((await core.readNamespace({ name: other })).metadata?.annotations?.[APPLIED_ANNOTATION]).toBeUndefined();

    const ready = await waitForStatus(name, (b) => condition(b, 'Ready')?.status === 'True' && b.status?.namespaces?.selected === 1);
    expect(ready.status?.namespaces).toEqual({ selected: 1, compliant: 1, drifted: 0, failed: 0 });
    expect(ready.status?.observedGeneration).toBe(1);
    expect(ready.metadata.finalizers).toContain('security.baseline.dev/finalizer');
  });

  test('relabelling a namespace into and out of selection adds and removes its objects', async () => {
    const name = await baseline('relabel', { resourceQuota: { hard: { pods: '10' } }, podSecurity: { enforce: 'baseline' } });
    const namespace = await createTestNamespace('relabel', { team: 'payments' });
    const writer = writerAs('kubectl-label');
    await writer.mergePatch(NAMESPACE_TYPE, namespace, undefined, { metadata: { labels: { 'sbo-e2e': name } } });
    await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
    await writer.mergePatch(NAMESPACE_TYPE, namespace, undefined, { metadata: { labels: { 'sbo-e2e': null } } });
    await eventually(async () => !(await exists(core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }))));
    await eventually(async () => {
      const labels = (await core.readNamespace({ name: namespace })).metadata?.labels ?? {};
      // Only the operator's labels go; the one someone else set stays.
      return labels['pod-security.kubernetes.io/enforce'] === undefined && labels['pod-security.kubernetes.io/warn'] === undefined
        && labels.team === 'payments';
    });
    const ns = await core.readNamespace({ name: namespace });
    expect(ns.metadata?.annotations?.[APPLIED_ANNOTATION]).toBeUndefined();
  });
});

describe('drift', () => {
  test('an edited object is put back, and the Event names who changed it', async () => {
    const name = await baseline('edit', { resourceQuota: { hard: { pods: '4' } } });
    const namespace = await createTestNamespace('edit', { 'sbo-e2e': name });
    await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
    await writerAs('kubectl-edit').mergePatch(kind('ResourceQuota'), `${name}-quota`, namespace, { spec: { hard: { pods: '400' } } });
    await eventually(async () => (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec?.hard?.pods === '4');
    const drift = await eventually(async () => {
      const found = await events(namespace, 'DriftCorrected');
      return found.length > 0 ? found : false;
    });
    expect(drift[0]?.message).toMatch(new RegExp(`ResourceQuota ${name}-quota had .spec.hard.pods changed by kubectl-edit; restored`));
    expect(drift[0]?.type).toBe('Warning');
    // Where a platform engineer looks first.
    // Where the README sends a platform engineer (`kubectl describe namespace` lists no Events: kubectl reads none for a namespace).
    const listed = await kubectl(['events', '-A', '--for', `namespace/${namespace}`]);
    expect(listed.stdout).toMatch(new RegExp(`default\\s+\\S+\\s+Warning\\s+DriftCorrected\\s+Namespace/${namespace}\\s+baseline ${name}: ResourceQuota ${name}-quota had`));
  });

  test('an edit made by a forced apply under the operator\'s own field manager name is put back too', async () => {
    // Whoever may patch a quota in the namespace may name any field manager. Under
    // the operator's name, the edit moves no field to another owner: only the
    // owned fields' values tell the operator something changed.
    const name = await baseline('impostor', { resourceQuota: { hard: { pods: '4', 'requests.cpu': '2' } } });
    const namespace = await createTestNamespace('impostor', { 'sbo-e2e': name });
    await untilApplied(namespace);
    const impostor = writerAs(FIELD_MANAGER);
    const quota = { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: `${name}-quota`, namespace } };
    const hard = async () => (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec?.hard;

    // A value changed.
    await impostor.forceApply(kind('ResourceQuota'), { ...quota, spec: { hard: { pods: '400', 'requests.cpu': '2' } } });
    await eventually(async () => (await hard())?.pods === '4');

    // A field dropped: applying less under the same manager deletes what it no longer names.
    await impostor.forceApply(kind('ResourceQuota'), { ...quota, spec: { hard: { pods: '4' } } });
    await eventually(async () => (await hard())?.['requests.cpu'] === '2');
    expect(await hard()).toEqual({ pods: '4', 'requests.cpu': '2' });

    // Both applies above named no labels, so they also took the ownership labels off: the
    // object left the operator's label-filtered cache, and was still taken back.
    const labelsNow = async () => (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).metadata?.labels;
    expect((await labelsNow())?.[BASELINE_LABEL]).toBe(name);
    // The same with `kubectl label … security.baseline.dev/baseline-`, then an edit under the tenant's own name.
    await writerAs('kubectl-label').mergePatch(kind('ResourceQuota'), `${name}-quota`, namespace, { metadata: { labels: { [BASELINE_LABEL]: null } } });
    await writerAs('kubectl-edit').mergePatch(kind('ResourceQuota'), `${name}-quota`, namespace, { spec: { hard: { pods: '400' } } });
    await eventually(async () => (await hard())?.pods === '4' && (await labelsNow())?.[BASELINE_LABEL] === name);
    // Three edits, each corrected (the recorder folds repeated Events into one, so count the metric).
    await eventually(async () => metricValue(await operator.metrics(), 'security_baseline_drift_corrected_total', { baseline: name, kind: 'ResourceQuota' }) >= 3);
    const drift = await events(namespace, 'DriftCorrected');
    expect(drift.map((e) => e.message).join('\n')).toContain(`ResourceQuota ${name}-quota had`);
    expect(await events(namespace, 'ForeignObject')).toEqual([]);
  });

  test('a namespace admin may not take the labels off the default-deny policy; the edit is refused, the policy unchanged', async () => {
    // The built-in `admin` role may patch NetworkPolicies in its namespace: the way a tenant would try to detach one.
    // crds/managed-object-policy.yaml refuses it; were it not installed, ownership by managedFields would restore it.
    const name = await baseline('detach', { networkPolicy: { defaultDeny: ['Ingress'] } });
    const namespace = await createTestNamespace('detach', { 'sbo-e2e': name });
    const tenant = `detacher-${run}`;
    const tenantConfig = await namespaceAdmin(namespace, tenant);
    const policyName = `${name}-default-deny`;
    await untilApplied(namespace);
    const asTenant = writerAs('kubectl-edit', tenantConfig);
    // Labels and managedFields off, and ingress no longer isolated, in one patch.
    const refusal = await eventually(async () => {
      try {
        await asTenant.mergePatch(kind('NetworkPolicy'), policyName, namespace, {
          metadata: { labels: { [BASELINE_LABEL]: null }, managedFields: [{}] }, spec: { policyTypes: ['Egress'] },
        });
        return new Error('the patch was allowed');
      } catch (error) {
        // Until RBAC reaches the authorizer the tenant gets a plain 403 from RBAC: wait for the policy's.
        if (error instanceof KubeApiError && error.apiMessage.includes('is managed by the security baseline')) return error;
        throw error;
      }
    });
    expect(refusal).toBeInstanceOf(KubeApiError);
    expect((refusal as KubeApiError).apiMessage).toContain(`NetworkPolicy ${policyName} is managed by the security baseline ${name}: ${tenant} may not`);
    const policy = await networking.readNamespacedNetworkPolicy({ namespace, name: policyName });
    expect(policy.metadata?.labels?.[BASELINE_LABEL]).toBe(name);
    expect(policy.spec?.policyTypes).toEqual(['Ingress']);
  });

  test('a namespace admin who adds an allow-all rule to the default-deny policy, which sets none, gets it restored', async () => {
    // The policy allows nothing in: its ingress list is empty, which the API server stores as no field.
    const name = await baseline('openup', { networkPolicy: { defaultDeny: ['Ingress'] } });
    const namespace = await createTestNamespace('openup', { 'sbo-e2e': name });
    const tenant = `opener-${run}`;
    const tenantConfig = await namespaceAdmin(namespace, tenant);
    const policyName = `${name}-default-deny`;
    await untilApplied(namespace);
    const asTenant = writerAs('kubectl-edit', tenantConfig);
    // `ingress: [{}]` allows every source: the policy, labels intact, would no longer isolate anything.
    await eventually(() => asTenant.mergePatch(kind('NetworkPolicy'), policyName, namespace, { spec: { ingress: [{}] } }));
    await eventually(async () => metricValue(await operator.metrics(), 'security_baseline_drift_corrected_total', { baseline: name, kind: 'NetworkPolicy' }) >= 1);
    await eventually(async () => (await networking.readNamespacedNetworkPolicy({ namespace, name: policyName })).spec?.ingress === undefined);
    const drift = await events(namespace, 'DriftCorrected');
    expect(drift.map((e) => e.message).join('\n')).toContain(`NetworkPolicy ${policyName} had`);
  });

  test('a default-deny policy an earlier version applied without its empty rule list is claimed, so a rule added later is drift', async () => {
    // In Audit mode the operator writes nothing, pruning included: the policy below stays as written until Enforce.
    const name = await baseline('claim', { mode: 'Audit', networkPolicy: { defaultDeny: ['Ingress'] } });
    const namespace = await createTestNamespace('claim', { 'sbo-e2e': name });
    const policyName = `${name}-default-deny`;
    const operatorEntry = async () => (await networking.readNamespacedNetworkPolicy({ namespace, name: policyName })).metadata?.managedFields
      ?.find((entry) => entry.manager === FIELD_MANAGER && entry.operation === 'Apply');
    const ownsIngress = async () => 'f:ingress' in ((((await operatorEntry())?.fieldsV1 ?? {}) as { 'f:spec'?: object })['f:spec'] ?? {});
    // As an earlier version applied it: labelled, the operator's apply, no `ingress` list.
    await writerAs(FIELD_MANAGER).forceApply(kind('NetworkPolicy'), {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
      metadata: { name: policyName, namespace, labels: { 'app.kubernetes.io/managed-by': 'security-baseline-operator', [BASELINE_LABEL]: name } },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    } as KubeObject & Record<string, unknown>);
    expect(await ownsIngress()).toBe(false);
    const before = (await networking.readNamespacedNetworkPolicy({ namespace, name: policyName })).metadata?.uid;
    await writerAs('platform-team').mergePatch(BASELINE_TYPE, name, undefined, { spec: { mode: 'Enforce' } });
    await eventually(async () => await ownsIngress() === true);
    // The same object, claimed by an apply, not deleted and recreated.
    expect((await networking.readNamespacedNetworkPolicy({ namespace, name: policyName })).metadata?.uid).toBe(before);
    await untilApplied(namespace);
    await writerAs('kubectl-edit').mergePatch(kind('NetworkPolicy'), policyName, namespace, { spec: { ingress: [{}] } });
    await eventually(async () => metricValue(await operator.metrics(), 'security_baseline_drift_corrected_total', { baseline: name, kind: 'NetworkPolicy' }) >= 1);
    expect((await networking.readNamespacedNetworkPolicy({ namespace, name: policyName })).spec?.ingress).toBeUndefined();
  });

  test('a deleted object is recreated', async () => {
    const name = await baseline('delete', { networkPolicy: { defaultDeny: ['Ingress'] } });
    const namespace = await createTestNamespace('delete', { 'sbo-e2e': name });
    const first = await eventually(() => networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` }));
    // Wait for the applied annotation, so the operator knows the object existed.
    await untilApplied(namespace);
    await networking.deleteNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` });
    const second = await eventually(() => networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` }));
    expect(second.metadata?.uid).not.toBe(first.metadata?.uid);
    const drift = await eventually(async () => {
      const found = await events(namespace, 'DriftCorrected');
      return found.length > 0 ? found : false;
    });
    expect(drift[0]?.message).toContain(`NetworkPolicy ${name}-default-deny was deleted; recreated`);
  });

  test('a same-named object someone else owns is a Conflict and stays untouched; once it is deleted, the operator\'s own follows', async () => {
    const name = `foreign-${run}`;
    const namespace = await createTestNamespace('foreign', { 'sbo-e2e': name });
    await core.createNamespacedResourceQuota({ namespace, body: { metadata: { name: `${name}-quota` }, spec: { hard: { pods: '99' } } } });
    await baseline('foreign', { resourceQuota: { hard: { pods: '4' } }, limitRange: { default: { cpu: '1' } } });
    const status = await waitForStatus(name, (b) => condition(b, 'Conflict')?.status === 'True');
    expect(condition(status, 'Conflict')?.reason).toBe('ForeignObject');
    expect(condition(status, 'Conflict')?.message).toContain(`ResourceQuota ${name}-quota already exists and belongs to another owner; it was left untouched`);
    const quota = await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` });
    expect(quota.spec?.hard?.pods).toBe('99');
    expect(quota.metadata?.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    expect(quota.metadata?.managedFields?.some((entry) => entry.manager === 'security-baseline-operator')).toBe(false);
    // The baseline's other controls still apply.
    await eventually(() => core.readNamespacedLimitRange({ namespace, name: `${name}-limits` }));

    // Its deletion is not watched (the caches hold the operator's objects only): the namespace is looked at again
    // every FOREIGN_RECHECK_MS while the conflict lasts, and gets the baseline's quota with nothing else changing.
    await core.deleteNamespacedResourceQuota({ namespace, name: `${name}-quota` });
    const own = await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }), { timeoutMs: 5 * FOREIGN_RECHECK_MS });
    expect(own.spec?.hard?.pods).toBe('4');
    expect(own.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('security-baseline-operator');
    const cleared = await waitForStatus(name, (b) => condition(b, 'Conflict')?.status === 'False' && b.status?.namespaces?.compliant === 1);
    expect(condition(cleared, 'Ready')?.status).toBe('True');
  });

  test('a tenant who creates the default-deny policy\'s name first, with a policy of their own, gets a Conflict, not compliance, and keeps their policy', async () => {
    const name = `preempt-${run}`;
    const namespace = await createTestNamespace('preempt', { 'sbo-e2e': name });
    const tenant = `tenant-${run}`;
    const tenantConfig = await namespaceAdmin(namespace, tenant);
    const asTenant = tenantConfig.makeApiClient(NetworkingV1Api);
    await eventually(() => asTenant.createNamespacedNetworkPolicy({ namespace, body: {
      metadata: { name: `${name}-default-deny` }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] },
    } }));
    await baseline('preempt', { networkPolicy: { allowSameNamespace: true } });
    const status = await waitForStatus(name, (b) => condition(b, 'Conflict')?.status === 'True');
    expect(condition(status, 'Conflict')?.reason).toBe('ForeignObject');
    expect(status.status?.namespaces?.compliant).toBe(0);
    const policy = await networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` });
    expect(policy.spec?.ingress).toEqual([{}]);
    expect(policy.metadata?.managedFields?.some((entry) => entry.manager === 'security-baseline-operator')).toBe(false);
  });
  test('a tenant\'s object that wears the operator\'s managed-by label but no baseline label stays theirs: never pruned', async () => {
    // Copied from a managed object, or labelled so on purpose: the managed-by label is anyone's to set, the
    // baseline label only the operator's (crds/managed-object-policy.yaml). Pruning it would let a tenant who may
    // label an object have the operator delete it.
    const name = await baseline('lookalike', { networkPolicy: { defaultDeny: ['Ingress'] } });
    const namespace = await createTestNamespace('lookalike', {});
    const tenantConfig = await namespaceAdmin(namespace, `lookalike-${run}`);
    const lookalike = { metadata: { name: 'team-copy', labels: { 'app.kubernetes.io/managed-by': 'security-baseline-operator' } }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
    await eventually(() => tenantConfig.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({ namespace, body: lookalike }));
    // Selected only now: the reconcile that applies the baseline's objects is the one that prunes.
    await writerAs('kubectl-label').mergePatch(NAMESPACE_TYPE, namespace, undefined, { metadata: { labels: { 'sbo-e2e': name } } });
    await untilApplied(namespace);
    await eventually(() => networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` }));
    expect(await exists(networking.readNamespacedNetworkPolicy({ namespace, name: 'team-copy' }))).toBe(true);
    // And again after a drift repair, which reconciles the namespace once more.
    await networking.deleteNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` });
    await eventually(() => networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` }));
    expect(await exists(networking.readNamespacedNetworkPolicy({ namespace, name: 'team-copy' }))).toBe(true);
  });
});

describe('baseline changes', () => {
  test('editing the quota updates every selected namespace, and a dropped field goes', async () => {
    const name = await baseline('quota-edit', { resourceQuota: { hard: { pods: '4', 'requests.cpu': '1' } } });
    const namespaces = await Promise.all([1, 2, 3].map(() => createTestNamespace('qe', { 'sbo-e2e': name })));
    for (const namespace of namespaces) {
      const quota = await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
      // Created by a server-side apply (with a precondition, not a POST): the operator's one entry is an Apply,
      // so a field the baseline stops setting is removed, not kept by an Update entry of its own.
      expect(quota.metadata?.managedFields?.filter((entry) => entry.manager === 'security-baseline-operator')
        .map((entry) => entry.operation)).toEqual(['Apply']);
    }
    await writerAs('platform-team').mergePatch(BASELINE_TYPE, name, undefined, { spec: { resourceQuota: { hard: { pods: '8', 'requests.cpu': null } } } });
    for (const namespace of namespaces) {
      await eventually(async () => {
        const { hard } = (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec ?? {};
        return hard?.pods === '8' && !('requests.cpu' in hard);
      });
    }
    await waitForStatus(name, (b) => b.status?.observedGeneration === 2 && b.status.namespaces?.compliant === 3);
  });

  test('deleting a baseline with deletionPolicy Delete removes its objects', async () => {
    const name = await baseline('del', { resourceQuota: { hard: { pods: '4' } }, deletionPolicy: 'Delete' });
    const namespace = await createTestNamespace('del', { 'sbo-e2e': name });
    await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
    await deleteBaseline(name);
    await waitForBaselineGone(name);
    expect(await exists(core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }))).toBe(false);
    expect((await core.readNamespace({ name: namespace })).metadata?.annotations?.[APPLIED_ANNOTATION]).toBeUndefined();
  });

  test('an applied annotation someone else wrote neither holds back a baseline\'s deletion nor is touched by it', async () => {
    const name = await baseline('forged', { resourceQuota: { hard: { pods: '4' } } });
    const stranger = await createTestNamespace('forged');
    await writerAs('kubectl-annotate').mergePatch(NAMESPACE_TYPE, stranger, undefined, { metadata: { annotations: { [APPLIED_ANNOTATION]: `{"${name}":1}` } } });
    await waitForStatus(name, (b) => condition(b, 'Ready')?.status === 'True');
    await deleteBaseline(name);
    await waitForBaselineGone(name);
    expect((await core.readNamespace({ name: stranger })).metadata?.annotations?.[APPLIED_ANNOTATION]).toBe(`{"${name}":1}`);
  });

  test('deleting a baseline with deletionPolicy Orphan leaves its objects and Pod Security labels, no longer managed', async () => {
    const name = await baseline('orphan', { resourceQuota: { hard: { pods: '4' } }, podSecurity: { enforce: 'baseline' }, deletionPolicy: 'Orphan' });
    const namespace = await createTestNamespace('orphan', { 'sbo-e2e': name });
    await eventually(async () => {
      await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` });
      return (await core.readNamespace({ name: namespace })).metadata?.labels?.['pod-security.kubernetes.io/enforce'] === 'baseline';
    });
    await deleteBaseline(name);
    await waitForBaselineGone(name);
    const quota = await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` });
    expect(quota.spec?.hard?.pods).toBe('4');
    expect(quota.metadata?.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    // The labels stay, released: the operator's own apply no longer holds them, and no baseline is recorded.
    const released = await core.readNamespace({ name: namespace });
    expect(released.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('baseline');
    expect(released.metadata?.labels?.['pod-security.kubernetes.io/warn-version']).toBe('latest');
    expect(released.metadata?.annotations?.[APPLIED_ANNOTATION]).toBeUndefined();
    const own = released.metadata?.managedFields?.find((entry) => entry.manager === 'security-baseline-operator' && entry.operation === 'Apply');
    expect(JSON.stringify(own?.fieldsV1 ?? {})).not.toContain('pod-security.kubernetes.io');
  });
});

describe('composition and reporting', () => {
  test('two baselines on one namespace: objects add up, the strictest Pod Security wins, the loser reports a Conflict', async () => {
    const label = `compose-${run}`;
    const selector = { matchLabels: { 'sbo-e2e-compose': label } };
    const strict = await baseline('strict', { namespaceSelector: selector, podSecurity: { enforce: 'restricted' }, resourceQuota: { hard: { pods: '4' } } });
    const lax = await baseline('lax', { namespaceSelector: selector, podSecurity: { enforce: 'baseline' }, priority: 10, resourceQuota: { hard: { pods: '10' } } });
    const namespace = await createTestNamespace('compose', { 'sbo-e2e-compose': label });
    await eventually(async () => {
      await core.readNamespacedResourceQuota({ namespace, name: `${strict}-quota` });
      await core.readNamespacedResourceQuota({ namespace, name: `${lax}-quota` });
      return true;
    });
    await eventually(async () => (await core.readNamespace({ name: namespace })).metadata?.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted');
    const loser = await waitForStatus(lax, (b) => condition(b, 'Conflict')?.status === 'True');
    expect(condition(loser, 'Conflict')?.reason).toBe('PodSecurityOverridden');
    expect(condition(loser, 'Conflict')?.message).toContain(`overridden by baseline ${strict}`);
    const winner = await waitForStatus(strict, (b) => condition(b, 'Ready')?.status === 'True');
    expect(condition(winner, 'Conflict')?.status).toBe('False');
  });

  test('a ClusterRole that does not exist yields a condition and an Event; the binding follows once it exists', async () => {
    const role = `missing-role-${run}`;
    const name = await baseline('norole', { roleBindings: [{ name: 'ops', clusterRole: role, subjects: [{ kind: 'User', name: 'bob' }] }] });
    const namespace = await createTestNamespace('norole', { 'sbo-e2e': name });
    const status = await waitForStatus(name, (b) => condition(b, 'Degraded')?.status === 'True');
    expect(condition(status, 'Degraded')?.reason).toBe('ClusterRoleNotFound');
    expect(condition(status, 'Degraded')?.message).toContain(`ClusterRole ${role}, which does not exist`);
    await eventually(async () => (await events(namespace, 'ClusterRoleNotFound')).length > 0);
    expect(await exists(rbac.readNamespacedRoleBinding({ namespace, name: `${name}-ops` }))).toBe(false);
    await rbac.createClusterRole({ body: { metadata: { name: role }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] } });
    try {
      await eventually(() => rbac.readNamespacedRoleBinding({ namespace, name: `${name}-ops` }));
      await waitForStatus(name, (b) => condition(b, 'Ready')?.status === 'True');
    } finally {
      await rbac.deleteClusterRole({ name: role });
    }
  });

  test('without the logging Flow CRD the baseline reports LoggingUnavailable and still applies its other controls', async () => {
    const name = await baseline('logging', { logging: { flow: { globalOutputRefs: ['central'] } }, resourceQuota: { hard: { pods: '4' } } });
    const namespace = await createTestNamespace('logging', { 'sbo-e2e': name });
    await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
    const status = await waitForStatus(name, (b) => condition(b, 'Degraded')?.status === 'True');
    expect(condition(status, 'Degraded')?.reason).toBe('LoggingUnavailable');
    await eventually(async () => (await events(namespace, 'LoggingUnavailable')).length > 0);
  });

  test('the classic segmentation: backend pods reachable only from frontend pods on TCP 80', async () => {
    const name = await baseline('segment', {
      networkPolicy: {
        defaultDeny: ['Ingress'],
        podPolicies: [{
          name: 'backend',
          podSelector: { matchLabels: { app: 'backend' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: 'frontend' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
        }],
      },
    });
    const namespace = await createTestNamespace('segment', { 'sbo-e2e': name });
    // Read as plain JSON: client-node's model classes rename `from` to `_from`.
    const policy = await eventually(() => writerAs('reader').client.get<KubeObject & { spec: unknown }>(kind('NetworkPolicy'), `${name}-backend`, namespace));
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: { app: 'backend' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'frontend' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
    });
    const deny = await networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` });
    expect(deny.spec?.podSelector).toEqual({});
    expect(deny.spec?.policyTypes).toEqual(['Ingress']);
  });

  test('a tenant bound by the baseline can read pods, as the RoleBinding promises', async () => {
    const name = await baseline('alice', {
      roleBindings: [{ name: 'pod-readers', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }], subjects: [{ kind: 'User', name: `alice-${run}` }] }],
    });
    const namespace = await createTestNamespace('fronto', { 'sbo-e2e': name });
    const alice = (await kubeConfigAsUser(`alice-${run}`)).makeApiClient(CoreV1Api);
    await eventually(() => alice.listNamespacedPod({ namespace }));
    const refused = await alice.listNamespacedSecret({ namespace }).then(() => 200, (e: unknown) => statusOf(e));
    expect(refused).toBe(403);
    expect((await getBaseline(name)).spec.roleBindings?.[0]?.name).toBe('pod-readers');
  });
});

describe('exclusions and Audit', () => {
  test('system namespaces, the operator\'s namespace, excludeNamespaces and terminating namespaces are never managed', async () => {
    const label = { 'sbo-exclude': run };
    const skipped = await createTestNamespace('skipped', label);
    const included = await createTestNamespace('included', label);
    const terminating = await createTestNamespace('terminating', label);
    const operatorNamespace = 'security-baseline-system';
    await core.createNamespace({ body: { metadata: { name: operatorNamespace } } }).catch((e: unknown) => {
      if (statusOf(e) !== 409) throw e;
    });
    const labeller = writerAs('kubectl-label');
    for (const namespace of ['kube-public', operatorNamespace]) await labeller.mergePatch(NAMESPACE_TYPE, namespace, undefined, { metadata: { labels: label } });
    try {
      // A ConfigMap with a finalizer keeps the namespace terminating for as long as the test needs.
      await core.createNamespacedConfigMap({ namespace: terminating, body: { metadata: { name: 'hold', finalizers: ['example.com/hold'] } } });
      await core.deleteNamespace({ name: terminating });
      const name = await baseline('exclude', { namespaceSelector: { matchLabels: label }, excludeNamespaces: [skipped], resourceQuota: { hard: { pods: '1' } } });
      await eventually(() => core.readNamespacedResourceQuota({ namespace: included, name: `${name}-quota` }));
      for (const namespace of ['kube-public', operatorNamespace, skipped, terminating]) {
        expect([namespace, await exists(core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }))]).toEqual([namespace, false]);
      }
      const status = await waitForStatus(name, (b) => b.status?.namespaces?.compliant === 1);
      expect(status.status?.namespaces?.selected).toBe(1);
    } finally {
      for (const namespace of ['kube-public', operatorNamespace]) await labeller.mergePatch(NAMESPACE_TYPE, namespace, undefined, { metadata: { labels: { 'sbo-exclude': null } } });
      await core.patchNamespacedConfigMap({ namespace: terminating, name: 'hold', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    }
  });

  test('Audit mode reports what differs and writes nothing; switching to Enforce applies', async () => {
    const name = await baseline('audit', { mode: 'Audit', resourceQuota: { hard: { pods: '3' } }, podSecurity: { enforce: 'restricted' } });
    const mark = await auditMark();
    const namespace = await createTestNamespace('audit', { 'sbo-e2e': name });
    const status = await waitForStatus(name, (b) => b.status?.namespaces?.drifted === 1);
    expect(status.status?.namespaces?.compliant).toBe(0);
    const audit = await eventually(async () => {
      const found = await events(namespace, 'AuditDrift');
      return found.length > 0 ? found : false;
    });
    expect(audit[0]?.message).toContain(`ResourceQuota ${name}-quota missing`);
    expect(audit[0]?.message).toContain('label pod-security.kubernetes.io/enforce is unset, want restricted');
    expect(metricValue(await operator.metrics(), 'security_baseline_drift_detected_total', { baseline: name })).toBeGreaterThan(0);
    // The API server's audit log: the operator wrote nothing to the namespace or in it, but for
    // its compliance report when the OpenReports CRD is installed (reporting is what Audit does).
    const writes = (await writesSince(mark, operator.user)).filter((w) => w.namespace === namespace && w.resource !== 'reports');
    expect(writes).toEqual([]);
    expect(await exists(core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }))).toBe(false);

    await writerAs('platform-team').mergePatch(BASELINE_TYPE, name, undefined, { spec: { mode: 'Enforce' } });
    await eventually(() => core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` }));
    const enforced = await waitForStatus(name, (b) => b.status?.namespaces?.compliant === 1);
    expect(enforced.status?.namespaces?.drifted).toBe(0);
  });
});
