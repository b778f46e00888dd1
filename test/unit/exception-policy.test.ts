import { expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { MAX_EXCEPTION_NAMESPACES } from '../../src/api/exception.ts';
import { buildExceptionPolicies, renderExceptionPolicies } from '../../hack/exception-policy.ts';

interface Policy {
  kind: string;
  spec: { variables?: { name: string; expression: string }[]; validations?: { expression: string; messageExpression: string }[] };
}

test('crds/exception-policy.yaml is generated and up to date (node hack/exception-policy.ts)', async () => {
  expect(await readFile(new URL('../../crds/exception-policy.yaml', import.meta.url), 'utf8')).toBe(renderExceptionPolicies());
});

test('every authorization check fits the CEL budget of one expression, and the worst case one evaluation', () => {
  const policy = buildExceptionPolicies().find((o) => o.kind === 'ValidatingAdmissionPolicy') as unknown as Policy;
  const variables = policy.spec.variables ?? [];
  const validations = policy.spec.validations ?? [];
  const checks = (expression: string) => expression.match(/\.check\(/g)?.length ?? 0;
  for (const { expression } of [...variables, ...validations]) expect(checks(expression)).toBeLessThanOrEqual(1);
  // A messageExpression has no authorizer: it must not reach a variable that calls it.
  const authorizing = variables.filter((v) => checks(v.expression) > 0).map((v) => v.name);
  for (const { messageExpression } of validations) {
    for (const name of authorizing) expect(messageExpression).not.toContain(`variables.${name}`);
  }
  // Every check the policy can make: the fast paths, and one slot per control and namespace.
  const total = [...variables, ...validations].reduce((sum, { expression }) => sum + checks(expression), 0);
  expect(total).toBe(authorizing.length + 3 * MAX_EXCEPTION_NAMESPACES);
  expect(total * 350_000).toBeLessThan(10_000_000);
});
