// One io_uring serving thread (uring-transport.ts; docs/reference/fuse-io-uring.md): it owns
// one io_uring and the ring entries of the FUSE queues given to it, answers READ/WRITE its
// DataPlane owns with its own Dispatcher (the same code the /dev/fuse path runs) and commits
// the reply with the next fetch in one SQE; everything else goes to the main thread, which
// packs its reply into the entry and wakes this thread through an eventfd read kept armed
// on the same ring.
import os from 'node:os';
import { workerData, parentPort, type MessagePort } from 'node:worker_threads';
import {
  IoUring, IORING_OP_READ, IORING_OP_URING_CMD, IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER,
  IORING_SETUP_SQE128, IoUringSqe, IOSQE_FIXED_FILE, mapArena, SQE_CMD_OFFSET, type Completion,
} from '../sys/uring.js';
import { collectIdleThread } from './quiet-gc.js';
import { applyUpdates, PlaneAnswerer, wordsOver, type DataPlane, type DataPlaneFactory } from './data-plane.js';
import { Dispatcher, notifyMessage } from './dispatcher.js';
import { writeMessage } from './channel.js';
import { Notify } from './opcodes.js';
import type { ConnectionInfo, FileSystem } from './filesystem.js';
import type { InitLimits } from './init.js';
import { NotifyInvalInodeOut, OutHeader } from './structs.js';
import { OpStats } from './op-stats.js';
import { Errno } from '../errno.js';
import { pinThisThread } from '../sys/sched.js';
import {
  assembleAt, assembleInPlace, commitIdOf, copyCommitId, encodeCmdReq, FuseUringCmd, FuseUringEntInOut, FuseUringReqHeader, packReply, RING_COUNTERS, slotLayout,
  type RingToMain,
} from './uring-wire.js';

export interface UringWorkerData {
  /** The /dev/fuse descriptor of the connection (any descriptor of it serves). */
  readonly fuseFd: number;
  readonly index: number;
  /** The FUSE queues (qid) whose entries this thread registers (every queue: uring-transport.ts DEFAULT_RING_DEPTH). */
  readonly qids: readonly number[];
  /** Entries per queue. */
  readonly depth: number;
  /** Int32 the main thread bumps after publishing to the planes. */
  readonly published: SharedArrayBuffer;
  readonly payloadSize: number;
  readonly module: string;
  readonly data: unknown;
  readonly conn: ConnectionInfo;
  readonly limits: InitLimits;
  readonly updates: MessagePort;
  /** Int32 counters per thread (RING_COUNTERS). */
  readonly counters: SharedArrayBuffer;
  /** Int32 per entry: 1 = the main thread packed a reply into it; plus [slots] = 1: stop. */
  readonly replies: SharedArrayBuffer;
  /** eventfd the main thread writes after a reply or a stop. */
  readonly wakeFd: number;
  readonly debug: boolean;
  readonly stats?: SharedArrayBuffer;
  /** After the last request, poll the ring this long (µs) before sleeping in io_uring_enter. */
  readonly spinMicros: number;
  /** The CPUs this thread runs on (those of its queues: planRingThreads); empty: any. */
  readonly cpus: readonly number[];
}

const wd = workerData as UringWorkerData;
const toMain = (m: RingToMain): void => parentPort!.postMessage(m);
const log = (line: string): void => toMain({ kind: 'log', line: `ring thread ${wd.index}: ${line}` });
const counters = new Int32Array(wd.counters, wd.index * RING_COUNTERS * 4, RING_COUNTERS);
const replies = new Int32Array(wd.replies);
const { ENOTCONN, ECONNABORTED, ECANCELED, EAGAIN, EINTR, EOPNOTSUPP, ENODEV, EIO } = os.constants.errno;

const errnoName = (e: number): string => Errno.fromNumber(e).name;

if (wd.cpus.length > 0) {
  try {
    pinThisThread(wd.cpus);
  } catch (e) {
    log(`${(e as Error).message}: serving queues ${wd.qids.join(',')} from any CPU`);
  }
}

const factory = ((await import(wd.module)) as { createDataPlane?: DataPlaneFactory }).createDataPlane;
if (typeof factory !== 'function') throw new Error(`${wd.module} exports no createDataPlane`);
const plane: DataPlane = factory(wd.data);
const stats = wd.stats ? new OpStats(wd.stats) : undefined;

const slots = wd.qids.length * wd.depth;
const layout = slotLayout(wd.payloadSize);
const arena = mapArena(layout.stride * slots);
const WAKE = slots; // user_data of the eventfd read
const wakeBuf = mapArena(4096);

type SlotState = 'kernel' | 'here' | 'main' | 'dead';
const state: SlotState[] = new Array<SlotState>(slots).fill('kernel');
// Queue numbers out of workerData (a structured clone: its property loads miss the inline caches).
const qids = [...wd.qids];
// Entries alternate between the queues, so registration gives every queue one early.
const qidOf = (s: number): number => qids[s % qids.length]!;
// Views made once: a request should not cost typed-array allocations.
const headerViews = Array.from({ length: slots }, (_, s) => arena.bytes.subarray(s * layout.stride + layout.headers, s * layout.stride + layout.headers + FuseUringReqHeader.size));
const payloadViews = Array.from({ length: slots }, (_, s) => arena.bytes.subarray(s * layout.stride + layout.payload, s * layout.stride + layout.payload + wd.payloadSize));
const headersOf = (s: number): Buffer => headerViews[s]!;
/** The arena as u32 words: requests are rebuilt and read in place through it. */
const arenaWords = wordsOver(arena.bytes);
const payloadOf = (s: number): Buffer => payloadViews[s]!;

// iov[0] = the 288-byte header buffer, iov[1] = the payload buffer (struct iovec: base, len).
for (let s = 0; s < slots; s++) {
  const at = s * layout.stride + layout.iovec;
  arena.bytes.writeBigUInt64LE(arena.address + BigInt(s * layout.stride + layout.headers), at);
  arena.bytes.writeBigUInt64LE(BigInt(FuseUringReqHeader.size), at + 8);
  arena.bytes.writeBigUInt64LE(arena.address + BigInt(s * layout.stride + layout.payload), at + 16);
  arena.bytes.writeBigUInt64LE(BigInt(wd.payloadSize), at + 24);
}

// One SQE per entry at most is outstanding, plus the eventfd read; the CQ is twice that.
// SQE128 carries the FUSE command (fuse-io-uring.md §2); DEFER_TASKRUN makes the kernel copy
// requests in only inside this thread's wait (plain SQE128 and COOP_TASKRUN measured the same
// here, within the noise of a loaded host). A kernel without DEFER_TASKRUN gets plain SQE128.
let ring: IoUring;
try {
  ring = new IoUring(slots + 2, IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
} catch {
  ring = new IoUring(slots + 2, IORING_SETUP_SQE128);
}

// The connection's descriptor is the ring's file 0, as in libfuse's fuse_uring.c, and the
// ring is registered with this thread: a command SQE names the descriptor by index and
// io_uring_enter the ring by index, so the kernel takes no reference to either file per SQE
// or per call. In a process of several threads each of those is an atomic on a count the
// ring threads share; in a profile of 4 KiB reads, fget was ~3% of a ring thread's samples.
// Both exist on every kernel with FUSE over io_uring (5.1 and 5.18; it came in 6.14). A
// failure here ends the thread before it registered any entry: /dev/fuse serves.
ring.registerFiles([wd.fuseFd]);
ring.registerRing();
const cmdFd = 0;
const cmdFlags = IOSQE_FIXED_FILE;

const O_CMD_OP = IoUringSqe.offsetOf('cmd_op');
const O_SQE_FLAGS = IoUringSqe.offsetOf('flags');
const O_ADDR = IoUringSqe.offsetOf('addr');
const O_LEN = IoUringSqe.offsetOf('len');

const iovecAddress = Array.from({ length: slots }, (_, s) => arena.address + BigInt(s * layout.stride + layout.iovec));

/** Fill the SQE of entry s's command `op` (the commit id is the caller's). */
function fillCmd(sqe: Buffer, s: number, op: number): void {
  sqe.writeUInt8(cmdFlags, O_SQE_FLAGS);
  sqe.writeUInt32LE(op, O_CMD_OP);
  sqe.writeBigUInt64LE(iovecAddress[s]!, O_ADDR); // the iovec pair
  sqe.writeUInt32LE(2, O_LEN); // two iovecs: header buffer, payload (fuse-io-uring.md §2)
  encodeCmdReq(sqe, SQE_CMD_OFFSET, qidOf(s), 0n);
}

// Each entry's COMMIT_AND_FETCH SQE, made once: per request only its commit id changes,
// copied in as two words (copyCommitId) before the SQE is copied to the ring.
const commitSqes = Array.from({ length: slots }, (_, s) => {
  const sqe = Buffer.alloc(ring.sqeSize);
  sqe.writeUInt8(IORING_OP_URING_CMD, IoUringSqe.offsetOf('opcode'));
  sqe.writeInt32LE(cmdFd, IoUringSqe.offsetOf('fd'));
  sqe.writeUInt32LE(s, IoUringSqe.offsetOf('user_data'));
  fillCmd(sqe, s, FuseUringCmd.COMMIT_AND_FETCH);
  return sqe;
});
// Word copies move bytes as they are, whatever the byte order: these views need alignment only.
const commitWords = commitSqes.map((sqe) => new Uint32Array(sqe.buffer, sqe.byteOffset, sqe.length >>> 2));
const arenaU32 = new Uint32Array(arena.bytes.buffer, arena.bytes.byteOffset, arena.bytes.length >>> 2);
const headersAt = Array.from({ length: slots }, (_, s) => s * layout.stride + layout.headers);
/**
 * Each entry's last request as a view of the arena, with where it started and its length: the
 * next one of the same place and length (every 4 KiB READ) takes it again, where a new Buffer
 * per request cost ~75 ns.
 */
const msgViews: (Buffer | undefined)[] = new Array<Buffer | undefined>(slots).fill(undefined);
const viewStart = new Int32Array(slots).fill(-1);
const viewLen = new Int32Array(slots);
/** Where the arena's bytes start in arenaWords' buffer (read once: `byteOffset` is a call per read). */
const arenaBase = arena.bytes.byteOffset;

function queueCmd(s: number, op: number): void {
  if (op === FuseUringCmd.REGISTER) fillCmd(ring.prepare(IORING_OP_URING_CMD, cmdFd, s), s, op);
  else {
    copyCommitId(arenaU32, headersAt[s]!, commitWords[s]!, SQE_CMD_OFFSET);
    ring.prepareFrom(commitSqes[s]!);
  }
  state[s] = 'kernel';
}

function armWake(): void {
  const sqe = ring.prepare(IORING_OP_READ, wd.wakeFd, WAKE);
  sqe.writeBigUInt64LE(wakeBuf.address, O_ADDR);
  sqe.writeUInt32LE(8, O_LEN);
}

/** Commit what is in entry s (its reply was packed) and fetch the next request into it. */
function commit(s: number): void {
  queueCmd(s, FuseUringCmd.COMMIT_AND_FETCH);
}

let current = -1;
const send = (iov: readonly Buffer[]): void => {
  if (current < 0) return;
  try {
    packReply(iov, headersOf(current), payloadOf(current));
  } catch (e) {
    log(`reply: ${(e as Error).message}`);
    errorReply(current, -EIO);
  }
  commit(current);
  current = -1;
};
const dispatcher = new Dispatcher(plane as FileSystem, { limits: wd.limits, log, debug: wd.debug, stats }, send);
dispatcher.adopt(wd.conn);
const answerer = new PlaneAnswerer(plane, dispatcher, wd.conn, stats, wd.debug);
// Notifications go on the connection's /dev/fuse descriptor, never into a ring entry (which
// carries only the reply to the request it fetched): the undo journal's INVAL_INODE.
plane.attach?.({
  invalInode: (nodeid, off, len) =>
    void writeMessage(wd.fuseFd, notifyMessage(Notify.INVAL_INODE, [NotifyInvalInodeOut.encode({ ino: BigInt(nodeid), off, len })])),
});

/** An error reply packed into entry s (a request nobody else will answer must still free its entry). */
function errorReply(s: number, errno: number): void {
  const h = headersOf(s);
  OutHeader.encodeInto(h, { len: OutHeader.size, error: errno, unique: commitIdOf(h) });
  h.writeUInt32LE(0, FuseUringReqHeader.offsetOf('ring_ent_in_out') + FuseUringEntInOut.offsetOf('payload_sz'));
}

const published = new Int32Array(wd.published);
let seen = 0;
/** QUIET_UPDATE came (data-plane.ts): collect this thread's heap when no completion waits. */
let collectDue = false;
function drainUpdates(): void {
  const now = Atomics.load(published, 0);
  if (now === seen) return;
  seen = now;
  if (applyUpdates(plane, wd.updates, log)) collectDue = true;
}

/** A request arrived in entry s: answer it here or hand it to the main thread. */
function serveSlot(s: number): void {
  // Plain increments: this thread is the only writer of its counters (the main thread reads
  // them now and then); Atomics.add is a locked instruction per request.
  counters[3]!++;
  let msg: Buffer;
  let at = -1;
  try {
    const start = arenaWords !== undefined ? assembleAt(arenaWords, arenaBase, s * layout.stride, layout) : -1;
    if (start >= 0) {
      const len = arenaWords![(arenaBase + headersAt[s]!) >>> 2]!; // the in header's len
      let view = msgViews[s];
      if (view === undefined || viewStart[s] !== start || viewLen[s] !== len) {
        view = msgViews[s] = arena.bytes.subarray(start, start + len);
        viewStart[s] = start;
        viewLen[s] = len;
      }
      msg = view;
      at = (arenaBase + start) >>> 2;
    } else msg = assembleInPlace(arena.bytes, s * layout.stride, layout, headersOf(s), arenaWords);
  } catch (e) {
    log(`fetch: ${(e as Error).message}`);
    errorReply(s, -EIO);
    commit(s);
    return;
  }
  drainUpdates();
  state[s] = 'here';
  current = s;
  const answered = answerer.answerOrLog(msg, send, log, arenaWords, at);
  if (answered) {
    counters[0]!++;
    if (current === s) {
      // No reply (a message the protocol answers with silence): the entry must still go back.
      current = -1;
      errorReply(s, -EIO);
      commit(s);
    }
    return;
  }
  current = -1;
  counters[1]!++;
  state[s] = 'main';
  const copy = new Uint8Array(msg.length);
  copy.set(msg);
  parentPort!.postMessage({ kind: 'request', slot: s, bytes: copy } satisfies RingToMain, [copy.buffer]);
}

function live(): number {
  let n = 0;
  for (const st of state) if (st !== 'dead') n++;
  return n;
}

toMain({ kind: 'ready', address: arena.address, length: arena.bytes.length, stride: layout.stride, headers: layout.headers, payload: layout.payload });
for (let s = 0; s < slots; s++) queueCmd(s, FuseUringCmd.REGISTER);
armWake();
const cqes: Completion[] = [];
let registerRetries = 0;
/** An errno the kernel answered an entry with other than the connection's end (the ring was refused). */
let refused = 0;
let stop = false;
// Polling a little before sleeping (--spin-us) saves the sleep and wake-up of a request that
// arrives meanwhile, at the price of the CPU it burns: each poll is one io_uring_enter that
// runs the ring's task work and returns (DEFER_TASKRUN) or, on a ring without it, where the
// kernel posts completions by itself, a look at the CQ ring between syscalls.
const spinNs = BigInt(Math.round(Math.max(0, wd.spinMicros ?? 0) * 1000));
function spin(): number {
  const until = process.hrtime.bigint() + spinNs;
  for (;;) {
    const rc = ring.submitAndPoll();
    if (rc < 0 && rc !== -EINTR && rc !== -EAGAIN) return rc;
    if (ring.hasCompletions || process.hrtime.bigint() >= until) return 0;
  }
}
// A function, not module top-level code (channel-worker.ts).
function serve(): void {
  while (!stop) {
    // Idle: what was queued is submitted and no request or reply waits (never in a request's way).
    if (collectDue && ring.submitAndPoll() >= 0 && !ring.hasCompletions) {
      collectDue = false;
      collectIdleThread(log);
    }
    const rc = spinNs > 0n && spin() === 0 && ring.hasCompletions ? 0 : ring.submitAndWait(1);
    if (rc < 0 && rc !== -EINTR && rc !== -EAGAIN) {
      log(`io_uring_enter: errno ${-rc}`);
      break;
    }
    const n = ring.reap(cqes);
    for (let i = 0; i < n; i++) {
      const c = cqes[i]!;
      if (c.userData === WAKE) {
        // UringThreads.quiet wakes the thread only to hand it QUIET_UPDATE.
        drainUpdates();
        if (Atomics.load(replies, slots) === 1) stop = true;
        for (let s = 0; s < slots; s++) {
          if (state[s] === 'main' && Atomics.load(replies, s) === 1) {
            Atomics.store(replies, s, 0);
            commit(s);
          }
        }
        if (!stop) armWake();
        continue;
      }
      const s = c.userData;
      if (c.res === 0) {
        serveSlot(s);
        continue;
      }
      if (c.res === -EAGAIN && registerRetries < 2000) {
        // REGISTER before the kernel processed our INIT reply: try again shortly.
        registerRetries++;
        Atomics.wait(counters, 2, 0, 1);
        queueCmd(s, FuseUringCmd.REGISTER);
        continue;
      }
      if (c.res === -EOPNOTSUPP) {
        toMain({ kind: 'unavailable', why: 'the kernel refused FUSE_IO_URING_CMD_REGISTER (EOPNOTSUPP: /sys/module/fuse/parameters/enable_uring is N)' });
        stop = true;
        break;
      }
      if (c.res !== -ENOTCONN && c.res !== -ECONNABORTED && c.res !== -ECANCELED && c.res !== -ENODEV) {
        log(`entry ${s}: errno ${errnoName(-c.res)}`);
        refused = -c.res;
      }
      state[s] = 'dead';
    }
    if (live() === 0) break;
  }
}
serve();
// Ended (unmount, abort) or told to stop: closing the ring cancels what the kernel still holds.
// Every entry refused before one request came: the ring cannot have become ready through
// this thread, and /dev/fuse still serves (fuse-io-uring.md §4): say so rather than "died".
if (refused !== 0 && Atomics.load(counters, 3) === 0) {
  toMain({ kind: 'unavailable', why: `the kernel refused FUSE_IO_URING_CMD_REGISTER (${errnoName(refused)})` });
}
Atomics.store(counters, 2, 1);
ring.close();
plane.close?.();
toMain({ kind: 'ended' });
