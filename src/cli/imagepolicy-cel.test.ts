// The CLI's pre-flight normalises image references in TypeScript
// (normalizeImage); the admission policy does it in CEL. Evaluating the
// policy's own CEL variables (with the CEL environment of `validate`) on
// arbitrary references proves the two agree.
import { expect, test } from '@jest/globals';
import fc from 'fast-check';
import { buildImagePolicy, normalizeImage, type ValidatingAdmissionPolicyObject } from '../resources/imagepolicy.ts';
import { kubernetesCelEnvironment } from './cel.ts';

const policy = buildImagePolicy({
  apiVersion: 'security.baseline.dev/v1alpha1', kind: 'SecurityBaseline', metadata: { name: 'x' },
  spec: { namespaceSelector: {}, imagePolicy: { allowedRegistries: ['registry.example.com/'] } },
}, 'sbo-system')[0] as ValidatingAdmissionPolicyObject;
const env = kubernetesCelEnvironment();

/** [as written, normalised] of each image, by the policy's CEL. */
function celRefs(images: string[]): [string, string][] {
  const variables: Record<string, unknown> = {};
  const object = { spec: { containers: images.map((image) => ({ name: 'c', image })) } };
  for (const variable of policy.spec.variables ?? []) {
    variables[variable.name] = env.evaluate(variable.expression.replaceAll('variables.', 'vars.'), { object, oldObject: null, vars: variables } as never);
  }
  return variables.refs as [string, string][];
}

const segment = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,8}$/);
const image = fc.tuple(
  fc.constantFrom('', 'localhost/', 'localhost:5000/', 'docker.io/', 'index.docker.io/', 'Registry.Example.com/', 'ghcr.io/', 'acme/', 'a.b:1/'),
  fc.array(segment, { minLength: 1, maxLength: 3 }),
  fc.constantFrom('', ':1', ':latest', '@sha256:abc'),
).map(([host, path, tag]) => `${host}${path.join('/')}${tag}`);

test('normalizeImage agrees with the admission policy\'s CEL on every reference', () => {
  expect(celRefs(['nginx', 'Registry.Example.com/app'])).toEqual([['nginx', 'docker.io/library/nginx'], ['Registry.Example.com/app', 'registry.example.com/app']]);
  fc.assert(fc.property(fc.uniqueArray(image, { minLength: 1, maxLength: 6 }), (images) => {
    expect(celRefs(images).map(([, normalised]) => normalised)).toEqual(images.map(normalizeImage));
  }), { numRuns: 300 });
});
