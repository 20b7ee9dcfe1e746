// One serving thread (data-plane.ts): reads its clone of the channel in a blocking read(2),
// as a C server's thread does, and answers READ/WRITE of the nodeids its DataPlane owns with
// the same Dispatcher code the main thread runs (same length checks, same errnos). Every
// other message goes to the main thread, which answers on this thread's descriptor (the
// kernel matches a reply only against the clone the request was read from).
import { workerData, parentPort, type MessagePort } from 'node:worker_threads';
import { InputWaiter, readRaw, setNonBlocking } from '../sys/fuse-dev.js';
import { readOutcome, writeMessage } from './channel.js';
import { applyUpdates, PlaneAnswerer, wordsOver, type DataPlane, type DataPlaneFactory } from './data-plane.js';
import { Dispatcher } from './dispatcher.js';
import type { ConnectionInfo, FileSystem } from './filesystem.js';
import type { InitLimits } from './init.js';
import { Notify } from './opcodes.js';
import { NotifyInvalInodeOut } from './structs.js';
import { COUNTERS, type ToMain } from './serving-threads.js';
import { OpStats } from './op-stats.js';
import { collectIdleThread } from './quiet-gc.js';

export interface ChannelWorkerData {
  readonly fd: number;
  readonly index: number;
  readonly module: string;
  readonly data: unknown;
  readonly conn: ConnectionInfo;
  readonly limits: InitLimits;
  readonly bufSize: number;
  readonly updates: MessagePort;
  /** Int32 counters per worker (serving-threads.ts COUNTERS). */
  readonly counters: SharedArrayBuffer;
  readonly debug: boolean;
  /** The session's per-opcode table (op-stats.ts). */
  readonly stats?: SharedArrayBuffer;
  /** Busy-poll the channel this long after a request before blocking (µs). */
  readonly spinMicros: number;
  /** Int32 [0]: 1 while the main thread reads the channel itself (serving-threads.ts park); [1]: publish count. */
  readonly gate: SharedArrayBuffer;
}

/** Forwarded messages up to this size are copied; larger ones hand their buffer over. */
const COPY_MAX = 64 * 1024;
/** Nothing to read for this long after QUIET_UPDATE: the thread is idle and collects its heap. */
const IDLE_MS = 50;

const wd = workerData as ChannelWorkerData;
const toMain = (m: ToMain, transfer?: ArrayBuffer[]): void => parentPort!.postMessage(m, transfer);
const log = (line: string): void => toMain({ kind: 'log', line: `thread ${wd.index}: ${line}` });
const counters = new Int32Array(wd.counters, wd.index * COUNTERS * 4, COUNTERS);

const factory = ((await import(wd.module)) as { createDataPlane?: DataPlaneFactory }).createDataPlane;
if (typeof factory !== 'function') throw new Error(`${wd.module} exports no createDataPlane`);
const plane: DataPlane = factory(wd.data);
let gone = false;
const stats = wd.stats ? new OpStats(wd.stats) : undefined;
const send = (iov: readonly Buffer[]): void => {
  if (!writeMessage(wd.fd, iov)) gone = true;
};
const dispatcher = new Dispatcher(plane as FileSystem, { limits: wd.limits, log, debug: wd.debug, stats }, send);
dispatcher.adopt(wd.conn);
plane.attach?.({
  invalInode: (nodeid, off, len) => dispatcher.notify(Notify.INVAL_INODE, [NotifyInvalInodeOut.encode({ ino: BigInt(nodeid), off, len })]),
});

const gate = new Int32Array(wd.gate);
let seen = 0;
/** QUIET_UPDATE came (data-plane.ts): collect this thread's heap once it is idle. */
let collectDue = false;
const drainUpdates = (): void => {
  const now = Atomics.load(gate, 1);
  if (now === seen) return;
  seen = now;
  if (applyUpdates(plane, wd.updates, log)) collectDue = true;
};
const answerer = new PlaneAnswerer(plane, dispatcher, wd.conn, stats, wd.debug);

let buf = Buffer.allocUnsafeSlow(wd.bufSize);
let words = wordsOver(buf);
const waiter = new InputWaiter(wd.fd);
// Requests of one client come in bursts (a 1 MiB O_DIRECT read is four requests at once, the
// next burst ~100 µs after the last reply): polling a little before sleeping saves the
// wake-up, which costs tens of µs on a paravirtualised CPU. A clone is its own open file,
// so O_NONBLOCK here touches no other reader.
const spinNs = BigInt(Math.round(Math.max(0, wd.spinMicros) * 1000));
if (spinNs > 0n) setNonBlocking(wd.fd, true);
let lastRequest = process.hrtime.bigint();
toMain({ kind: 'ready' });
// The loop is a function, not module top-level code, which V8 optimizes only by on-stack
// replacement (no difference measured on this loaded host; the profile showed interpreter ICs).
function serve(): void {
  for (;;) {
    // Parked: the main thread reads the channel (a burst of requests it answers itself). What it
    // publishes meanwhile (a map per file it commits or opens) is taken in every 20 ms: queued
    // until the next request, 20,000 files' worth held 80 MB.
    while (Atomics.load(gate, 0) === 1) {
      Atomics.wait(gate, 0, 1, 20);
      drainUpdates();
      if (collectDue) {
        collectDue = false;
        collectIdleThread(log);
      }
    }
    // Reading: idle means nothing to read for a while (never in a request's way).
    if (collectDue && waiter.wait(IDLE_MS) === 0) {
      collectDue = false;
      collectIdleThread(log);
    }
    const n = readRaw(wd.fd, buf);
    if (n > 0) {
      if (spinNs > 0n) lastRequest = process.hrtime.bigint();
      // The main thread publishes before it answers the OPEN that makes a file's READs
      // possible, so whatever this request needs is in the queue by now.
      drainUpdates();
      const msg = buf.subarray(0, n);
      const answered = answerer.answerOrLog(msg, send, log, words);
      if (answered) {
        // Plain increments: this thread is the only writer of its counters (the main thread
        // reads them now and then); Atomics.add is a locked instruction per request.
        counters[0]!++;
        if (gone) break;
        continue;
      }
      counters[1]!++;
      if (n <= COPY_MAX) {
        const copy = new Uint8Array(n);
        copy.set(msg);
        toMain({ kind: 'request', fd: wd.fd, bytes: copy }, [copy.buffer]);
      } else {
        toMain({ kind: 'request', fd: wd.fd, bytes: new Uint8Array(buf.buffer, buf.byteOffset, n) }, [buf.buffer as ArrayBuffer]);
        buf = Buffer.allocUnsafeSlow(wd.bufSize);
        words = wordsOver(buf);
      }
      continue;
    }
    const outcome = readOutcome(n);
    if (outcome === 'empty') {
      if (process.hrtime.bigint() - lastRequest < spinNs) continue;
      // Non-blocking (spinning, or a socket test channel's shared file): sleep until the next message.
      waiter.wait(1000);
      continue;
    }
    if (outcome === 'again') continue;
    if (outcome === 'failed') log(`read: errno ${-n}`);
    break;
  }
}
serve();
Atomics.store(counters, 2, 1);
plane.close?.();
