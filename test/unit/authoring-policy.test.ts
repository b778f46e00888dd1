import { expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { CLUSTER_ROLE_SLOTS, PERMISSION_SLOTS, buildAuthoringPolicy, renderAuthoringPolicy } from '../../hack/authoring-policy.ts';

test('crds/authoring-policy.yaml is generated and up to date (node hack/authoring-policy.ts)', async () => {
  expect(await readFile(new URL('../../crds/authoring-policy.yaml', import.meta.url), 'utf8')).toBe(renderAuthoringPolicy());
});

test('every authorization check stays within what one CEL expression may spend (two checks)', () => {
  const [policy] = buildAuthoringPolicy() as [{ spec: { variables: { expression: string }[]; validations: { expression: string; messageExpression: string }[] } }, unknown];
  const checks = (expression: string) => expression.match(/\.check\(/g)?.length ?? 0;
  for (const { expression } of [...policy.spec.variables, ...policy.spec.validations]) expect(checks(expression)).toBeLessThanOrEqual(2);
  // A messageExpression has no authorizer: it must not reach a variable that calls it.
  const authorizing = new Set(policy.spec.variables.filter((v) => checks(v.expression) > 0).map((v) => (v as unknown as { name: string }).name));
  for (const { messageExpression } of policy.spec.validations) {
    for (const name of authorizing) expect(messageExpression).not.toContain(`variables.${name}`);
  }
  // The worst case, every fast path failing and every slot used, fits the per-evaluation budget (10,000,000 at 350,000 a check).
  const worst = 1 + CLUSTER_ROLE_SLOTS + 2 + 1 + PERMISSION_SLOTS + 3;
  expect(worst * 350_000).toBeLessThan(10_000_000);
});
