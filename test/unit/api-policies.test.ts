// The admission policies the operator reports as installed or missing
// (API_POLICY_NAMES, MUTATING_API_POLICY_NAMES,
// security_baseline_api_policy_installed) are exactly those crds/ installs,
// each with a binding of the same name.
import { expect, test } from '@jest/globals';
import { loadApiManifests } from '../../hack/apply-crds.ts';
import { API_POLICY_NAMES, MUTATING_API_POLICY_NAMES } from '../../src/api/constants.ts';

test('API_POLICY_NAMES names every ValidatingAdmissionPolicy of crds/, and each has a binding of its name', async () => {
  const manifests = await loadApiManifests();
  const named = (kind: string) => manifests.filter((o) => o.kind === kind).map((o) => o.metadata?.name).sort();
  expect(named('ValidatingAdmissionPolicy')).toEqual([...API_POLICY_NAMES].sort());
  expect(named('ValidatingAdmissionPolicyBinding')).toEqual([...API_POLICY_NAMES].sort());
});

test('MUTATING_API_POLICY_NAMES names every MutatingAdmissionPolicy of crds/, and each has a binding of its name', async () => {
  const manifests = await loadApiManifests();
  const named = (kind: string) => manifests.filter((o) => o.kind === kind).map((o) => o.metadata?.name).sort();
  expect(named('MutatingAdmissionPolicy')).toEqual([...MUTATING_API_POLICY_NAMES].sort());
  expect(named('MutatingAdmissionPolicyBinding')).toEqual([...MUTATING_API_POLICY_NAMES].sort());
});
