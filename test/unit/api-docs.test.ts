import { expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { renderApiDocs } from '../../hack/api-docs.ts';

test('docs/api.md is generated from the CRD and up to date (node hack/api-docs.ts)', async () => {
  const current = await readFile(new URL('../../docs/api.md', import.meta.url), 'utf8');
  expect(current).toBe(await renderApiDocs());
  expect(current).toContain('| `spec.resourceQuota.hard` |');
});
