// CPU per request of the per-opcode accounting (src/fuse/op-stats.ts) on a serving thread,
// against the layout it replaced (one table shared by every thread: BigInt64 Atomics,
// process.hrtime.bigint() twice per call, a compare-exchange loop for the max) and against
// no accounting, in one process, interleaved rounds. The loop body is what a serving
// thread's 4 KiB READ adds for statistics: start(), then record() (issue 16).
//   node dist/bench/fuse-engine/op-stats-cost.js [CALLS=2000000] [ROUNDS=5]
import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { OpStats } from '../../src/fuse/op-stats.js';

const READ = 15;
const FIELDS = 5;

/** The replaced scheme, as main had it (f5c78ca), for comparison only. */
class SharedBigIntTable {
  private readonly a: BigInt64Array;
  constructor(buffer: SharedArrayBuffer) {
    this.a = new BigInt64Array(buffer);
  }
  record(opcode: number, startNs: bigint, failed: boolean): void {
    const ns = process.hrtime.bigint() - startNs;
    const at = opcode * FIELDS;
    Atomics.add(this.a, at, 1n);
    if (failed) Atomics.add(this.a, at + 1, 1n);
    Atomics.add(this.a, at + 2, ns);
    for (let max = Atomics.load(this.a, at + 3); ns > max;) {
      const seen = Atomics.compareExchange(this.a, at + 3, max, ns);
      if (seen === max) break;
      max = seen;
    }
  }
}

type Kind = 'none' | 'old' | 'new';
interface Job { kind: Kind; calls: number; buffer: SharedArrayBuffer }

/** Wall ns per call of a busy loop in its own thread (other load on the host counts in: compare within a run). */
function run(job: Job): number {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  if (job.kind === 'none') {
    for (let i = 0; i < job.calls; i++) sink += i & 1;
  } else if (job.kind === 'old') {
    const t = new SharedBigIntTable(job.buffer);
    for (let i = 0; i < job.calls; i++) {
      const s = process.hrtime.bigint();
      sink += i & 1;
      t.record(READ, s, false);
    }
  } else {
    const t = new OpStats(job.buffer);
    for (let i = 0; i < job.calls; i++) {
      const s = t.start(READ);
      sink += i & 1;
      t.record(READ, s, false);
    }
  }
  const ns = Number(process.hrtime.bigint() - t0) / job.calls;
  return sink < 0 ? -1 : ns;
}

if (!isMainThread) {
  parentPort!.postMessage(run(workerData as Job));
} else {
  const calls = Number(process.argv[2] ?? 2_000_000);
  const rounds = Number(process.argv[3] ?? 5);
  const inWorker = (job: Job): Promise<number> => new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    w.once('message', resolve);
    w.once('error', reject);
  });
  const main = new OpStats();
  const res: Record<Kind, number[]> = { none: [], old: [], new: [] };
  console.log(`op-stats cost: ${calls} calls per round, ${rounds} rounds, in a worker thread; ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (let r = 0; r < rounds; r++) {
    for (const kind of ['none', 'old', 'new'] as const) {
      const buffer = kind === 'new' ? main.threadBuffer() : new SharedArrayBuffer(256 * FIELDS * 8);
      res[kind].push(await inWorker({ kind, calls, buffer }));
    }
  }
  const med = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1]!;
  for (const kind of ['none', 'old', 'new'] as const) {
    console.log(`  ${kind.padEnd(5)} ${res[kind].map((n) => n.toFixed(1)).join(' ')} ns/call, median ${med(res[kind]).toFixed(1)}`);
  }
  console.log(`  accounting per call (median - none): old ${(med(res.old) - med(res.none)).toFixed(1)} ns, new ${(med(res.new) - med(res.none)).toFixed(1)} ns`);
  const snap = main.snapshot(() => 'READ').READ!;
  console.log(`  check: the main table sums ${snap.count} calls, ${snap.timed} timed`);
}
