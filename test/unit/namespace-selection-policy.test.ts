import { expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { renderNamespaceSelectionPolicy } from '../../hack/namespace-selection-policy.ts';

test('crds/namespace-selection-policy.yaml is generated and up to date (node hack/namespace-selection-policy.ts)', async () => {
  expect(await readFile(new URL('../../crds/namespace-selection-policy.yaml', import.meta.url), 'utf8')).toBe(renderNamespaceSelectionPolicy());
});
