// The audit log is read while the API server writes it: a count of writes must
// never break on a line the mark cut in two or a line not finished yet.
import { expect, test } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { auditEventsSince } from '../../hack/kube/controlplane.ts';
import { lastNamespaceWriteAt } from '../../bench/cluster.ts';

test('only whole lines after the mark: not the one it cut, not the one being written', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'audit-'));
  try {
    const lines = ['{"n":1,"user":"a"}', '{"n":2,"user":"b"}', '{"n":3,"user":"a"}'];
    const whole = `${lines.join('\n')}\n`;
    await writeFile(path.join(dir, 'audit.log'), `${whole}{"n":4,"us`);
    expect(await auditEventsSince(dir, 0)).toEqual([{ n: 1, user: 'a' }, { n: 2, user: 'b' }, { n: 3, user: 'a' }]);
    // A mark on a line's start keeps that line; one inside a line skips to the next.
    const second = lines[0]!.length + 1;
    expect(await auditEventsSince(dir, second)).toEqual([{ n: 2, user: 'b' }, { n: 3, user: 'a' }]);
    expect(await auditEventsSince(dir, second + 5)).toEqual([{ n: 3, user: 'a' }]);
    expect(await auditEventsSince(dir, whole.length + 3)).toEqual([]);
    expect(await auditEventsSince(dir, 0, '"user":"a"')).toEqual([{ n: 1, user: 'a' }, { n: 3, user: 'a' }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a cold start ends at its last namespace write, baselines left out, over more writes than a call takes arguments', () => {
  // 30,000 namespaces write about 240,000 times: Math.max(...writes) overflowed the stack there.
  const writes = Array.from({ length: 300_000 }, (_, i) => ({ resource: i % 2 === 0 ? 'resourcequotas' : 'reports', at: 1_000 + i }));
  writes.push({ resource: 'securitybaselines', at: 10_000_000 });
  expect(lastNamespaceWriteAt(writes)).toBe(1_000 + 299_999);
  expect(lastNamespaceWriteAt([])).toBe(-Infinity);
});
