// FUSE over io_uring, the main thread's side (docs/reference/fuse-io-uring.md). After INIT
// agreed FUSE_OVER_IO_URING, ring threads (uring-worker.ts) register entries on every FUSE
// queue (one per possible CPU: the kernel switches the connection to the ring only once each
// queue has one), then the kernel sends every request but FORGET, BATCH_FORGET and INTERRUPT
// to the queue of the CPU the caller runs on. A thread answers the READ/WRITE its DataPlane
// owns; the rest it hands here, and the reply is packed straight into its entry (threads
// share the address space) and the thread woken through its eventfd to commit it.
// /dev/fuse stays open and read by the session: FORGETs, INTERRUPTs and, until the ring is
// ready, everything; notifications are written there (the ring takes no unique-0 messages).
import fs from 'node:fs';
import os from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { viewMapping } from '../sys/libc.js';
import { eventFd, IoUring, IORING_SETUP_SQE128 } from '../sys/uring.js';
import { QUIET_UPDATE, siblingModule, type WorkerOptions } from './data-plane.js';
import type { ConnectionInfo } from './filesystem.js';
import type { InitLimits } from './init.js';
import type { OpStats } from './op-stats.js';
import { OutHeader } from './structs.js';
import { countCpuList, FuseUringEntInOut, planRingThreads, FuseUringReqHeader, packReply, payloadSize, RING_COUNTERS, type RingToMain } from './uring-wire.js';
import type { UringWorkerData } from './uring-worker.js';

/** The kernel's switch for FUSE over io_uring (module parameter of fuse). */
export const ENABLE_URING_PATH = '/sys/module/fuse/parameters/enable_uring';
const POSSIBLE_CPUS_PATH = '/sys/devices/system/cpu/possible';
/**
 * Entries each thread registers on each queue. Every thread serves every queue (§4: a request
 * waits for an entry of its caller's CPU's queue, whichever thread holds it), so one CPU's
 * burst (a 1 MiB O_DIRECT read is four 256 KiB requests at once) is served by all threads in
 * parallel, as on /dev/fuse, rather than by one thread per queue. The kernel hands a request
 * to the entry committed last (its available list is LIFO), i.e. to a thread that is awake.
 */
export const DEFAULT_RING_DEPTH = 2;

/** Whether the running kernel would offer FUSE_OVER_IO_URING at INIT: the module parameter reads Y. */
export function uringEnabled(): { enabled: boolean; why: string } {
  let v: string;
  try {
    v = fs.readFileSync(ENABLE_URING_PATH, 'utf8').trim();
  } catch {
    return { enabled: false, why: `${ENABLE_URING_PATH} does not exist (a kernel without CONFIG_FUSE_IO_URING)` };
  }
  return v === 'Y' || v === '1'
    ? { enabled: true, why: `${ENABLE_URING_PATH} is ${v}` }
    : { enabled: false, why: `${ENABLE_URING_PATH} is ${v} (write Y to it as root to allow FUSE over io_uring)` };
}

/**
 * Whether this process can make an SQE128 io_uring at all (io_uring_disabled, seccomp, an old
 * kernel): asked before INIT, because once INIT agreed FUSE_OVER_IO_URING the kernel holds
 * every request until the ring is ready (fuse-io-uring.md §1), so a ring that cannot be built
 * must not be promised.
 */
export function ringUsable(): { usable: boolean; why: string } {
  try {
    new IoUring(2, IORING_SETUP_SQE128).close();
    return { usable: true, why: '' };
  } catch (e) {
    return { usable: false, why: (e as Error).message };
  }
}

/** The number of FUSE queues the kernel makes: num_possible_cpus(). */
export function fuseQueueCount(): number {
  try {
    return Math.max(1, countCpuList(fs.readFileSync(POSSIBLE_CPUS_PATH, 'utf8')));
  } catch {
    return Math.max(1, os.availableParallelism());
  }
}

export interface UringThreadsOptions extends WorkerOptions {
  readonly fd: number;
  readonly conn: ConnectionInfo;
  readonly limits: InitLimits;
  readonly depth?: number;
  readonly debug?: boolean;
  readonly log: (line: string) => void;
  /** The session's per-opcode table (op-stats.ts): each thread adds to a table of its own in it. */
  readonly stats?: OpStats;
  /** A request a thread did not answer: dispatch it and call reply with the reply's iov. */
  readonly onRequest: (msg: Buffer, reply: (iov: readonly Buffer[]) => void) => void;
  /** Every thread stopped; `unavailable` says why when the kernel refused the ring. */
  readonly onStopped: (unavailable: string | undefined) => void;
}

interface RingThread {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly wakeFd: number;
  readonly replies: Int32Array;
  readonly slots: number;
  running: boolean;
  /** It set up its io_uring and is registering entries. */
  started: boolean;
  /** Why it registered nothing (no io_uring, or the kernel refused every entry). */
  refused?: string;
  arena?: { bytes: Buffer; stride: number; headers: number; payload: number };
}

const ONE = (() => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(1n);
  return b;
})();

export class UringThreads {
  private readonly threads: RingThread[] = [];
  /** Int32: bumped after each publish, so a thread looks at its port only when there is news. */
  private readonly published = new Int32Array(new SharedArrayBuffer(4));
  private readonly counters: Int32Array;
  private live = 0;
  readonly queues: number;
  private readonly payloadSize: number;
  private resolveExited!: () => void;
  readonly exited = new Promise<void>((r) => (this.resolveExited = r));
  private resolveStarted!: (n: number) => void;
  /**
   * Settles once every thread has set up its ring and is registering its entries, or has
   * exited. Until the ring is ready the kernel holds every request (fuse-io-uring.md §1): a
   * thread loads its modules and its plane first, ~130 ms on 2 CPUs. Gives how many set up.
   */
  readonly started = new Promise<number>((r) => (this.resolveStarted = r));

  constructor(private readonly opts: UringThreadsOptions) {
    this.queues = fuseQueueCount();
    const count = Math.max(1, opts.count > 0 ? opts.count : this.queues);
    const plan = planRingThreads(this.queues, count);
    // A queue one thread serves alone gets that thread's entries only: as many as every
    // thread together gave it when all served it.
    const depth = Math.max(1, opts.depth ?? (count <= this.queues ? DEFAULT_RING_DEPTH * Math.min(count, 4) : DEFAULT_RING_DEPTH));
    const maxPages = Math.ceil(opts.conn.maxWrite / opts.limits.pageSize);
    this.payloadSize = payloadSize(opts.conn.maxWrite, maxPages, opts.limits.pageSize);
    const shared = new SharedArrayBuffer(count * RING_COUNTERS * 4);
    this.counters = new Int32Array(shared);
    const script = siblingModule(import.meta.url, 'uring-worker');
    for (let index = 0; index < count; index++) {
      const { qids, cpus } = plan[index]!;
      const slots = qids.length * depth;
      const replies = new Int32Array(new SharedArrayBuffer((slots + 1) * 4));
      const wakeFd = eventFd();
      const { port1, port2 } = new MessageChannel();
      const data: UringWorkerData = {
        fuseFd: opts.fd, index, qids, depth, payloadSize: this.payloadSize, module: opts.module, data: opts.data, conn: opts.conn,
        limits: opts.limits, updates: port2, counters: shared, replies: replies.buffer as SharedArrayBuffer, wakeFd,
        debug: opts.debug ?? false, stats: opts.stats?.threadBuffer(), published: this.published.buffer as SharedArrayBuffer,
        spinMicros: opts.spinMicros ?? 0, cpus,
      };
      const worker = new Worker(new URL(script), { workerData: data, transferList: [port2], name: `fuse-ring-${index}` });
      const t: RingThread = { worker, port: port1, wakeFd, replies, slots, running: true, started: false };
      this.threads.push(t);
      this.live++;
      worker.on('message', (m: RingToMain) => this.message(t, m));
      worker.on('error', (e) => opts.log(`ring thread ${index}: ${e.message}`));
      worker.on('exit', (code) => {
        if (!t.running) return;
        t.running = false;
        port1.close();
        try {
          fs.closeSync(wakeFd);
        } catch {
          // closed already
        }
        // A thread that never set up its ring registered nothing: the kernel still uses /dev/fuse.
        if (!t.started) opts.log(`ring thread ${index} could not set up its io_uring (exit code ${code})`);
        else if (Atomics.load(this.counters, index * RING_COUNTERS + 2) !== 1 && t.refused === undefined) opts.log(`ring thread ${index} exited (code ${code})`);
        this.checkStarted();
        if (--this.live === 0) {
          this.resolveExited();
          // /dev/fuse serves again only if the kernel refused every thread's REGISTER: that
          // refusal clears the connection's io_uring mode (fuse-io-uring.md §1).
          const all = this.threads.every((x) => x.refused !== undefined);
          opts.onStopped(all ? this.threads[0]!.refused : undefined);
        }
      });
    }
  }

  private checkStarted(): void {
    if (this.threads.every((x) => x.started || !x.running)) this.resolveStarted(this.threads.filter((x) => x.started).length);
  }

  private message(t: RingThread, m: RingToMain): void {
    switch (m.kind) {
      case 'ready':
        t.started = true;
        this.checkStarted();
        t.arena = { bytes: viewMapping(m.address, m.length), stride: m.stride, headers: m.headers, payload: m.payload };
        return;
      case 'log':
        return this.opts.log(m.line);
      case 'unavailable':
        t.refused ??= m.why;
        return;
      case 'ended':
        return;
      case 'request': {
        const msg = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
        const unique = msg.length >= 16 ? msg.readBigUInt64LE(8) : 0n;
        this.opts.onRequest(msg, (iov) => this.reply(t, m.slot, unique, iov));
        return;
      }
    }
  }

  /** Pack a reply the main thread made into the thread's entry and wake the thread to commit it. */
  private reply(t: RingThread, slot: number, unique: bigint, iov: readonly Buffer[]): void {
    const a = t.arena;
    if (!t.running || !a || slot < 0 || slot >= t.slots) return;
    const base = slot * a.stride;
    const headers = a.bytes.subarray(base + a.headers, base + a.headers + FuseUringReqHeader.size);
    const payload = a.bytes.subarray(base + a.payload, base + a.payload + this.payloadSize);
    try {
      packReply(iov, headers, payload);
    } catch (e) {
      this.opts.log(`reply: ${(e as Error).message}`);
      OutHeader.encodeInto(headers, { len: OutHeader.size, error: -os.constants.errno.EIO, unique });
      headers.writeUInt32LE(0, FuseUringReqHeader.offsetOf('ring_ent_in_out') + FuseUringEntInOut.offsetOf('payload_sz'));
    }
    Atomics.store(t.replies, slot, 1);
    this.wake(t);
  }

  private wake(t: RingThread): void {
    try {
      fs.writeSync(t.wakeFd, ONE);
    } catch {
      // the thread has gone
    }
  }

  get running(): boolean {
    return this.live > 0;
  }

  get count(): number {
    return this.threads.length;
  }

  /** Tell every thread's plane `msg`; each applies it before its next request. */
  publish(msg: unknown): void {
    for (const t of this.threads) if (t.running) t.port.postMessage(msg);
    // After the posts: a thread that sees the new count finds the message on its port.
    Atomics.add(this.published, 0, 1);
  }

  /** Hand every thread QUIET_UPDATE and wake it, so an idle thread collects its heap now. */
  quiet(): void {
    this.publish(QUIET_UPDATE);
    for (const t of this.threads) if (t.running) this.wake(t);
  }

  /** Requests fetched from the ring, answered in the threads, and handed to the main thread. */
  stats(): { ring: number; local: number; forwarded: number } {
    let ring = 0;
    let local = 0;
    let forwarded = 0;
    for (let i = 0; i < this.threads.length; i++) {
      local += Atomics.load(this.counters, i * RING_COUNTERS);
      forwarded += Atomics.load(this.counters, i * RING_COUNTERS + 1);
      ring += Atomics.load(this.counters, i * RING_COUNTERS + 3);
    }
    return { ring, local, forwarded };
  }

  /** Ask every thread to close its ring and exit (the kernel cancels what it holds). */
  stop(): void {
    for (const t of this.threads) {
      if (!t.running) continue;
      Atomics.store(t.replies, t.slots, 1);
      this.wake(t);
    }
  }

  unref(): void {
    for (const t of this.threads) t.worker.unref();
  }
}
