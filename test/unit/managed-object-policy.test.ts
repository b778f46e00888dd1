import { expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { renderManagedObjectPolicy } from '../../hack/managed-object-policy.ts';

test('crds/managed-object-policy.yaml is generated and up to date (node hack/managed-object-policy.ts)', async () => {
  expect(await readFile(new URL('../../crds/managed-object-policy.yaml', import.meta.url), 'utf8')).toBe(renderManagedObjectPolicy());
});
