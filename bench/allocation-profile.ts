// Preloaded into the operator by `BENCH_HEAP_PROFILE=DIR` (bench/operator.ts):
// a V8 sampling profile of every allocation, those the garbage collector has
// since freed included (Node's own --heap-prof keeps only what is still live),
// so that it shows what makes the collector work. Written to DIR when the
// process exits; open it in Chrome's DevTools (Memory, allocation sampling).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.BENCH_HEAP_PROFILE ?? '.';
const session = new Session();
session.connect();
session.post('HeapProfiler.startSampling', { samplingInterval: 32_768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
process.on('exit', () => {
  // The main thread's session answers synchronously: the profile is written before the process ends.
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (!error) writeFileSync(path.join(dir, `allocations-${process.pid}.heapprofile`), JSON.stringify(result.profile));
  });
});
