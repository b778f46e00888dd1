// The operator runs with exactly config/rbac: installed into the real control
// plane, the operator runs as its ServiceAccount with a real token, and the
// core scenario passes (with the OpenReports CRD installed, so reports are
// written and removed too). Then each rule of the ClusterRole is removed in turn,
// and the same scenario must fail: no rule is there without a use.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  AdmissionregistrationV1Api, AuthorizationV1Api, CoreV1Api, NetworkingV1Api, RbacAuthorizationV1Api, type KubernetesObject, type V1ClusterRole, type V1PolicyRule,
} from '@kubernetes/client-node';
import { adminKubeConfig, createTestNamespace, eventually, testControlPlane } from '../support/cluster.ts';
import { installCrds } from '../support/crds.ts';
import { managedKind } from '../../src/controller/kinds.ts';
import { kubeConfigAsServiceAccount } from '../support/identities.ts';
import { applyObjects, renderKustomization } from '../support/manifests.ts';
import { condition, createBaseline, deleteBaseline, getBaseline, replaceBaseline, waitForBaselineGone, writerAs } from '../support/baselines.ts';
import { startOperator } from '../support/operator.ts';
import { installReportsCrd, readReport } from '../support/reports.ts';
import { declaredControls } from '../../src/resources/report.ts';
import { createException, deleteException, getException, inFuture } from '../support/exceptions.ts';

const OPERATOR_NAMESPACE = 'security-baseline-system';
const SERVICE_ACCOUNT = 'security-baseline-operator';
const USER = `system:serviceaccount:${OPERATOR_NAMESPACE}:${SERVICE_ACCOUNT}`;
const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const authorization = kc.makeApiClient(AuthorizationV1Api);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const run = randomBytes(3).toString('hex');
const created: string[] = [];
const exceptionsCreated: string[] = [];
let clusterRole: V1ClusterRole;

async function operatorKubeconfig(): Promise<string> {
  const file = path.join(testControlPlane().dir, `operator-sa-${randomBytes(3).toString('hex')}.kubeconfig`);
  await writeFile(file, (await kubeConfigAsServiceAccount(OPERATOR_NAMESPACE, SERVICE_ACCOUNT)).exportConfig(), { mode: 0o600 });
  return file;
}

/**
 * The core promise in one pass, as the operator's ServiceAccount: provision
 * every kind (a binding to `view`, a Role from rules, the workload policy
 * with its CONNECT rule and its NetworkPolicy guard, which the operator's own
 * NetworkPolicy then passes), report status, put back
 * drift twice (the second Event updates the first), apply an exception and
 * report its state, write the namespace's compliance report, serve an
 * authorised scrape, and on deletion prune, remove the report and drop the
 * finalizer. Throws on the first
 * thing that does not happen within `timeoutMs`.
 */
async function scenario(tag: string, timeoutMs: number): Promise<void> {
  const operator = await startOperator({ kubeconfig: await operatorKubeconfig(), user: USER, readyTimeoutMs: timeoutMs });
  const name = `lp-${tag}-${run}`;
  created.push(name);
  const wait = <T>(probe: () => Promise<T | false> | T | false) => eventually(probe, { timeoutMs, intervalMs: 100 });
  try {
    await createBaseline(name, {
      namespaceSelector: { matchLabels: { 'sbo-lp': name } },
      imagePolicy: { allowedRegistries: ['registry.example.com/', 'ghcr.io/acme/'] },
      rollout: { strategy: 'Progressive', steps: [{ percent: 100 }] },
      networkPolicy: { allowDNS: true },
      resourceQuota: { hard: { pods: '4' } },
      limitRange: { default: { cpu: '500m' } },
      roleBindings: [
        { name: 'readers', clusterRole: 'view', subjects: [{ kind: 'Group', name: 'readers' }] },
        { name: 'pod-readers', rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }], subjects: [{ kind: 'User', name: 'alice' }] },
      ],
      podSecurity: { enforce: 'restricted' },
      // networkPolicies.deny: the operator's own NetworkPolicies pass it by its right to patch baselines' status.
      workloadPolicy: { readOnlyRootFilesystem: true, exec: { deny: true }, networkPolicies: { deny: true } },
    });
    const namespace = await createTestNamespace('lp', { 'sbo-lp': name });
    await wait(async () => {
      await admission.readValidatingAdmissionPolicyBinding({ name: `security-baseline-${name}-workloads` });
      await admission.readValidatingAdmissionPolicyBinding({ name: `security-baseline-${name}-exec` });
      await admission.readValidatingAdmissionPolicyBinding({ name: `security-baseline-${name}-networkpolicies` });
      await networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` });
      await core.readNamespacedLimitRange({ namespace, name: `${name}-limits` });
      await rbac.readNamespacedRoleBinding({ namespace, name: `${name}-readers` });
      await rbac.readNamespacedRoleBinding({ namespace, name: `${name}-pod-readers` });
      return (await core.readNamespace({ name: namespace })).metadata?.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted';
    });
    await wait(async () => {
      const baseline = await getBaseline(name);
      return condition(baseline, 'Ready')?.status === 'True' && baseline.status?.namespaces?.compliant === 1;
    });
    // One result per control the baseline sets, every one passing.
    const controls = declaredControls((await getBaseline(name)).spec).length;
    let report: Awaited<ReturnType<typeof readReport>>;
    await wait(async () => {
      report = await readReport(namespace);
      return report?.summary.pass === controls && report.results.length === controls;
    }).catch((error: unknown) => {
      // Say what the report held: a result left failing is a different bug from a report never written.
      throw new Error(`the report never passed all ${controls} controls; last seen: ${JSON.stringify(report ?? null)}`, { cause: error });
    });
    // Deleted once the networkPolicies guard is in place: the operator creates it again through the guard.
    const uid = (await networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` })).metadata?.uid;
    await networking.deleteNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` });
    await wait(async () => {
      const recreated = await networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-default-deny` }).catch(() => undefined);
      return recreated !== undefined && recreated.metadata?.uid !== uid;
    });
    const quotaType = managedKind('v1', 'ResourceQuota')!;
    for (const pods of ['40', '400']) {
      await writerAs('kubectl-edit').mergePatch(quotaType, `${name}-quota`, namespace, { spec: { hard: { pods } } });
      await wait(async () => (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec?.hard?.pods === '4');
    }
    await wait(async () => {
      const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${namespace},reason=DriftCorrected` });
      // The quota's two edits make one Event counted twice (the NetworkPolicy's deletion above, one of its own).
      return events.items.find((event) => event.message?.includes('ResourceQuota'))?.count === 2;
    });
    expect(await operator.metrics()).toContain('security_baseline_drift_corrected_total');
    // An exception: read (list, watch), applied, and its status written.
    const exception = `${name}-more-pods`;
    exceptionsCreated.push(exception);
    await createException(exception, { baseline: name, namespaces: [namespace], reason: 'least privilege', expiresAt: inFuture(3_600_000), relax: { resourceQuota: { hard: { pods: '8' } } } });
    await wait(async () => (await core.readNamespacedResourceQuota({ namespace, name: `${name}-quota` })).spec?.hard?.pods === '8'
      && (await getException(exception)).status?.state === 'Active');
    // A narrower image policy: a revision (ControllerRevision) and pre-flight (the namespace's pods) before the namespace moves.
    const before = await getBaseline(name);
    await replaceBaseline(name, { ...before.spec, imagePolicy: { allowedRegistries: ['registry.example.com/'] } });
    await wait(async () => {
      const narrowed = await getBaseline(name);
      const applied = (await core.readNamespace({ name: namespace })).metadata?.annotations?.['security.baseline.dev/applied'] ?? '';
      return narrowed.status?.updateRevision !== before.status?.updateRevision && applied.includes(`"${narrowed.status?.updateRevision}"`);
    });
    await deleteBaseline(name);
    await waitForBaselineGone(name, timeoutMs);
    expect(await rbac.readNamespacedRoleBinding({ namespace, name: `${name}-readers` }).then(() => 'present', () => 'gone')).toBe('gone');
    await wait(async () => (await readReport(namespace)) === undefined);
  } finally {
    await operator.stop();
  }
}

/** Whether the operator's ServiceAccount may use the first verb of a rule (a SubjectAccessReview), cluster-wide or in `namespace`. */
async function allowed(rule: V1PolicyRule, namespace?: string): Promise<boolean> {
  const review = await authorization.createSubjectAccessReview({
    body: {
      spec: {
        user: USER, groups: ['system:serviceaccounts', `system:serviceaccounts:${OPERATOR_NAMESPACE}`],
        resourceAttributes: {
          namespace,
          group: rule.apiGroups?.[0] ?? '', resource: (rule.resources?.[0] ?? '').split('/')[0],
          subresource: (rule.resources?.[0] ?? '').split('/')[1], verb: rule.verbs[0], name: rule.resourceNames?.[0],
        },
      },
    },
  });
  return review.status?.allowed === true;
}

/** RBAC reaches the authorizer through an informer: wait until it has the role as written. */
async function roleInEffect(rules: V1PolicyRule[], removed?: V1PolicyRule): Promise<void> {
  await eventually(async () => {
    for (const rule of rules) if (!(await allowed(rule))) return false;
    return removed ? !(await allowed(removed)) : true;
  }, { timeoutMs: 10_000, intervalMs: 100 });
}

beforeAll(async () => {
  await installCrds();
  await installReportsCrd();
  await core.createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } }).catch(() => undefined);
  const objects: KubernetesObject[] = await renderKustomization('config/rbac');
  await applyObjects(objects);
  clusterRole = await rbac.readClusterRole({ name: 'security-baseline-operator' });
  await roleInEffect(clusterRole.rules ?? []);
}, 60_000);

afterAll(async () => {
  // Restore the full role, and let a full operator clean up what the crippled ones left.
  await applyObjects(await renderKustomization('config/rbac'));
  await roleInEffect(clusterRole.rules ?? []);
  const operator = await startOperator({ kubeconfig: await operatorKubeconfig(), user: USER });
  for (const name of exceptionsCreated) await deleteException(name);
  for (const name of created) await deleteBaseline(name);
  for (const name of created) await waitForBaselineGone(name, 30_000).catch(() => undefined);
  await operator.stop();
}, 120_000);

describe('least privilege', () => {
  test('the core scenario passes as the operator\'s ServiceAccount with config/rbac', async () => {
    await scenario('full', 30_000);
  }, 90_000);

  test('removing any single rule from the ClusterRole breaks the scenario', async () => {
    const rules = clusterRole.rules ?? [];
    const survivors: string[] = [];
    for (const [index, rule] of rules.entries()) {
      const label = `${(rule.apiGroups ?? []).join(',') || 'core'}/${(rule.resources ?? []).join(',')} ${(rule.verbs).join(',')}${rule.resourceNames ? ` (${rule.resourceNames.join(',')})` : ''}`;
      const remaining = rules.filter((_, i) => i !== index);
      await rbac.replaceClusterRole({ name: clusterRole.metadata!.name!, body: { ...clusterRole, metadata: { name: clusterRole.metadata!.name! }, rules: remaining } });
      // Another rule may grant the same first verb (bind on roles vs the roles rule): then only the remaining ones are checked.
      await roleInEffect(remaining, remaining.some((r) => JSON.stringify(r.resources) === JSON.stringify(rule.resources) && r.apiGroups?.[0] === rule.apiGroups?.[0]) ? undefined : rule);
      const outcome = await scenario(`r${index}`, 8_000).then(() => 'passed', () => 'failed');
      if (outcome === 'passed') survivors.push(label);
      process.stderr.write(`without rule ${index} [${label}]: scenario ${outcome}\n`);
    }
    await applyObjects(await renderKustomization('config/rbac'));
    await roleInEffect(rules);

    // The operator's Role in its own namespace: its revisions.
    const revisionsRole = await rbac.readNamespacedRole({ namespace: OPERATOR_NAMESPACE, name: 'security-baseline-operator-revisions' });
    for (const [index, rule] of (revisionsRole.rules ?? []).entries()) {
      const label = `Role ${OPERATOR_NAMESPACE}/security-baseline-operator-revisions: ${(rule.resources ?? []).join(',')} ${rule.verbs.join(',')}`;
      await rbac.replaceNamespacedRole({
        namespace: OPERATOR_NAMESPACE, name: 'security-baseline-operator-revisions',
        body: { ...revisionsRole, metadata: { name: 'security-baseline-operator-revisions', namespace: OPERATOR_NAMESPACE }, rules: (revisionsRole.rules ?? []).filter((_, i) => i !== index) },
      });
      await eventually(async () => !(await allowed(rule, OPERATOR_NAMESPACE)), { timeoutMs: 10_000, intervalMs: 100 });
      const outcome = await scenario(`n${index}`, 8_000).then(() => 'passed', () => 'failed');
      if (outcome === 'passed') survivors.push(label);
      process.stderr.write(`without ${label}: scenario ${outcome}\n`);
    }
    await applyObjects(await renderKustomization('config/rbac'));
    await roleInEffect(rules);
    expect(survivors).toEqual([]);
  }, 720_000);
});

