// processCpuSeconds reads /proc/<pid>/stat: what the benchmark divides per
// namespace for the API server, etcd and the client-go writer.
import { expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { processCpuSeconds } from '../../hack/kube/controlplane.ts';

test('counts this process\'s CPU, and a waited-for child\'s among the children\'s', async () => {
  const before = await processCpuSeconds('self');
  const childrenBefore = await processCpuSeconds('self', { children: true });
  // Spin until node itself counts 0.3 s of CPU (by CPU, not wall time: the machine may be busy).
  const spun = process.cpuUsage();
  while (process.cpuUsage(spun).user + process.cpuUsage(spun).system < 300_000);
  expect(await processCpuSeconds('self') - before).toBeGreaterThanOrEqual(0.2);
  // A child that spins for 0.3 s of CPU, then exits and is waited for.
  await promisify(execFile)(process.execPath, ['-e', 'const s = process.cpuUsage(); while (process.cpuUsage(s).user + process.cpuUsage(s).system < 300000);']);
  expect(await processCpuSeconds('self', { children: true }) - childrenBefore).toBeGreaterThanOrEqual(0.2);
});
