import { expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { renderNamespaceLabelPolicy } from '../../hack/namespace-label-policy.ts';

test('crds/namespace-label-policy.yaml is generated and up to date (node hack/namespace-label-policy.ts)', async () => {
  expect(await readFile(new URL('../../crds/namespace-label-policy.yaml', import.meta.url), 'utf8')).toBe(renderNamespaceLabelPolicy());
});
