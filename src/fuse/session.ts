// The request loop over a FUSE channel: /dev/fuse after mount(2), or an already-open fd
// given as /dev/fd/N (libfuse's convention; tests plant a SOCK_SEQPACKET socketpair there
// and play the kernel). The channel is non-blocking; reads never stall the event loop for
// long. Two phases, chosen by measurement (bench/fuse-engine and bench/datapath, READMEs there):
// - hot: the main thread reads and handles requests back to back; when the channel is empty
//   it may busy-poll `spinMicros`, then sleeps in poll(2) until the next request (a single
//   kernel wake-up per request, like a C server blocked in read(2)), waking at least every
//   SLICE_MS to give the event loop a turn. On this 2-vCPU VM every thread hand-off costs
//   tens of µs (wake-ups are expensive under its paravirtualisation), so the data path
//   never crosses threads while requests keep coming.
// - idle: after HOLD_MS without a request (or while an asynchronous handler needs the event
//   loop), one poll(2) waits on a libuv thread-pool thread and the event loop runs freely;
//   the request that ends the wait starts a hot phase again.
// Each read has its own buffer of max_write + 4 KiB, as the kernel demands after INIT. A
// reply is one writev of header + body views, so READ data goes from the mapped device to
// the kernel uncopied.
import fs from 'node:fs';
import os from 'node:os';
import {
  InputWaiter, isSocket, maxPagesLimit, mountFuse, openFuseDevice, readRaw, setNonBlocking, shutdownSocket, unmount, type FuseMountOptions,
} from '../sys/fuse-dev.js';
import { SysError } from '../sys/libc.js';
import type { AbiProfile, ProfileChooser } from './abi.js';
import { readOutcome, writeMessage } from './channel.js';
import { QUIET_UPDATE, type WorkerOptions } from './data-plane.js';
import { Dispatcher } from './dispatcher.js';
import type { InitLimits, InitResult } from './init.js';
import { ServingThreads } from './serving-threads.js';
import type { FileSystem } from './filesystem.js';
import { FUSE_MIN_READ_BUFFER, InitFlag, Notify, Op } from './opcodes.js';
import { NotifyInvalEntryOut, NotifyInvalInodeOut, NotifyDeleteOut } from './structs.js';
import { getU64 } from '../cstruct.js';
import { IN_HEADER_SIZE, O_NODEID, O_OPCODE } from './request.js';
import { OpStats, type OpStat } from './op-stats.js';
import { ringUsable, UringThreads, uringEnabled } from './uring-transport.js';

export interface SessionOptions {
  /** Profile, or a chooser run on the kernel's INIT (default mainline). */
  profile?: AbiProfile | ProfileChooser;
  /** Largest WRITE/READ in bytes (default 1 MiB, clamped to max_pages_limit pages). */
  maxWrite?: number;
  /**
   * Accepted for compatibility: the engine now reads on the main thread and keeps exactly one
   * wait on the thread pool while idle (several parked reads stole requests from the hot loop).
   */
  readers?: number;
  /**
   * Busy-poll an empty channel up to this long before sleeping in poll(2), in µs (default 0).
   * The window shrinks while requests come much further apart than it (see adaptSpin).
   */
  spinMicros?: number;
  /**
   * Stay hot (sleep in poll(2) on the main thread, 4 ms slices) this long without a request
   * before handing the wait to the thread pool, in ms (default 0 = never block the event loop).
   */
  holdMillis?: number;
  /**
   * Serving threads: after INIT, `count` workers each read a clone of the channel and answer
   * the READ/WRITE their DataPlane owns; the main thread stops reading and handles what they
   * forward (data-plane.ts). Without it (or if no clone can be made) the main thread serves.
   */
  workers?: WorkerOptions;
  /**
   * How requests reach the serving threads after INIT: `dev` (each reads a clone of
   * /dev/fuse) or `uring` (FUSE over io_uring: INIT asks for FUSE_OVER_IO_URING and ring
   * threads serve the kernel's per-CPU queues, uring-transport.ts). Default dev.
   */
  transport?: 'dev' | 'uring';
  /** Ring entries per FUSE queue with the uring transport (default DEFAULT_RING_DEPTH). */
  ringDepth?: number;
  maxBackground?: number;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  fsname?: string;
  subtype?: string;
  readOnly?: boolean;
  /** INIT flags asked for beyond the profile's (e.g. HANDLE_KILLPRIV_V2), if the kernel offers them. */
  wantFlags?: bigint;
  /** Unmount and stop on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  log?: (line: string) => void;
  debug?: boolean;
  /**
   * Called with the channel before the kernel can send INIT: after /dev/fuse is opened and
   * before mount(2), or with a /dev/fd/N channel as given. Probes that must precede INIT
   * (an extension's support ioctl) go here.
   */
  beforeMount?: (fd: number) => void;
}

const DEFAULT_MAX_WRITE = 1 << 20;
const { EINTR } = os.constants.errno;
/** Room for the in header, write_in and request extensions beside max_write (libfuse uses a page). */
const HEADER_ROOM = 4096;
/** While hot, the event loop gets a turn at least this often. */
const SLICE_NS = 4_000_000n;
/** The idle wait on the pool times out this often, so a closed channel that never wakes it is noticed. */
const IDLE_WAIT_MS = 1000;
// 0 by default: a library user's event loop is never held by the channel. A process that
// exists to serve (famfs-ts mount) opts in to sleeping in poll(2) between requests.
const DEFAULT_HOLD_MS = 0;
/** Requests between two judgements of who should read the channel (main thread or serving threads). */
const JUDGE_WINDOW = 64;

/** Environment for a child that will serve FUSE: a thread pool with room for the readers. */
export function threadPoolEnv(readers = 1, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, UV_THREADPOOL_SIZE: String(Math.max(Number(env.UV_THREADPOOL_SIZE ?? 0), readers + 4)) };
}

/**
 * What a session with these options offers at INIT: its largest WRITE within
 * fs.fuse.max_pages_limit (read now), its background limit and the flags it asks for.
 * The mount's warm-up (server/jit-warm.ts) negotiates with the same.
 */
export function initLimits(opts: Pick<SessionOptions, 'maxWrite' | 'maxBackground' | 'wantFlags'>): InitLimits {
  const pageSize = 4096;
  const limit = maxPagesLimit();
  const maxWrite = Math.min(opts.maxWrite ?? DEFAULT_MAX_WRITE, limit * pageSize);
  return { maxWrite, maxPagesLimit: limit, pageSize, maxBackground: opts.maxBackground ?? 64, wantFlags: opts.wantFlags };
}

export class FuseSession {
  readonly dispatcher: Dispatcher;
  private readonly bufSize: number;
  private readonly free: Buffer[] = [];
  private running = 0;
  private busy = false;
  /** Requests read on the main thread, idle waits a request ended, hot phases that ended empty. */
  readonly stats = { polled: 0, pooled: 0, idle: 0, takeovers: 0 };
  /** Busy-poll window: spinMicros at most, adapted to the gaps between requests (adaptSpin). */
  private spinMaxNs: bigint;
  private spinNs: bigint;
  /** Whether the hot phase slept in poll(2) since the last request. */
  private slept = false;
  private holdNs: bigint;
  /** When the hot phase last handled a request (or was woken from idle). */
  private lastRequest = 0n;
  private readonly waiter: InputWaiter;
  private stopping = false;
  private closing?: Promise<void>;
  private resolveDone!: () => void;
  /** Settles when the connection has ended (unmount, abort, DESTROY, socket closed). */
  readonly done: Promise<void>;
  private readonly log: (line: string) => void;
  private signalHandler?: () => void;
  private statsHandler?: () => void;
  /** Per-opcode counts and latency of every request answered, by any thread. */
  readonly opTable = new OpStats();
  private readonly limits: InitLimits;
  private threads?: ServingThreads;
  /** Ring threads (transport uring): /dev/fuse is still read here for FORGET and INTERRUPT. */
  private ring?: UringThreads;
  /**
   * The main thread reads the channel itself although serving threads run: they are parked
   * while most requests would be forwarded to it anyway (WorkerOptions.threadsServe).
   */
  private mainReads = false;
  /** Where the last judgement of who should read stood: requests seen, and of those forwarded or (main reading) answerable by the threads. */
  private judged = { total: 0, forwarded: 0 };
  private mainSeen = 0;
  private mainData = 0;
  /** Serving threads read the channel; the main thread only answers what they forward. */
  private get delegated(): boolean {
    return (this.threads?.serving ?? false) && !this.mainReads;
  }

  private constructor(readonly fd: number, readonly mountpoint: string | undefined, readonly fs: FileSystem,
    private readonly opts: SessionOptions) {
    this.log = opts.log ?? ((l) => process.stderr.write(`fuse: ${l}\n`));
    this.spinMaxNs = BigInt(Math.max(0, Math.round((opts.spinMicros ?? 0) * 1000)));
    this.spinNs = this.spinMaxNs;
    this.holdNs = BigInt(Math.max(0, Math.round((opts.holdMillis ?? DEFAULT_HOLD_MS) * 1e6)));
    this.waiter = new InputWaiter(fd);
    this.limits = initLimits(opts);
    this.bufSize = Math.max(FUSE_MIN_READ_BUFFER, this.limits.maxWrite + HEADER_ROOM);
    // Ask for FUSE_OVER_IO_URING only when ring threads will serve: once agreed, the kernel
    // holds every request until each queue has an entry (fuse-io-uring.md §1).
    if (opts.transport === 'uring') {
      const usable = ringUsable();
      if (!opts.workers || opts.workers.count <= 0) {
        this.log('transport uring: the ring needs serving threads (--readers 1 or more); serving through /dev/fuse');
      } else if (!usable.usable) {
        this.log(`transport uring: no io_uring here (${usable.why}); serving through /dev/fuse`);
      } else {
        this.limits.wantFlags = (this.limits.wantFlags ?? 0n) | InitFlag.OVER_IO_URING;
        this.limits.allowFlags = InitFlag.OVER_IO_URING;
      }
    }
    this.dispatcher = new Dispatcher(fs, { profile: opts.profile, limits: this.limits, log: this.log, debug: opts.debug, stats: this.opTable }, (iov) => this.write(iov));
    this.dispatcher.onDestroy = () => {
      this.stopping = true;
      if (this.delegated) this.resolveDone();
    };
    this.dispatcher.onInit = (r) => this.startThreads(r);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /**
   * Serve `fs` at `mountpoint`. A mount point `/dev/fd/N` means fd N is an open channel
   * (no mount call); otherwise /dev/fuse is opened and mounted there with mount(2).
   */
  static mount(mountpoint: string, fs: FileSystem, opts: SessionOptions = {}): FuseSession {
    const m = /^\/dev\/fd\/(\d+)$/.exec(mountpoint);
    let session: FuseSession;
    if (m) {
      opts.beforeMount?.(Number(m[1]));
      session = new FuseSession(Number(m[1]), undefined, fs, opts);
    } else {
      const fd = openFuseDevice();
      const mo: FuseMountOptions = {
        fd, allowOther: opts.allowOther, defaultPermissions: opts.defaultPermissions, fsname: opts.fsname,
        subtype: opts.subtype, readOnly: opts.readOnly,
      };
      try {
        opts.beforeMount?.(fd);
        mountFuse(mountpoint, mo);
      } catch (e) {
        closeQuiet(fd);
        throw e;
      }
      session = new FuseSession(fd, mountpoint, fs, opts);
    }
    session.start();
    return session;
  }

  private start(): void {
    setNonBlocking(this.fd, true);
    this.goIdle();
    if (this.opts.handleSignals ?? true) {
      this.signalHandler = () => {
        void this.close().then(() => process.exit(0), (e: unknown) => {
          this.log(`close: ${(e as Error).message}`);
          process.exit(1);
        });
      };
      process.once('SIGINT', this.signalHandler);
      process.once('SIGTERM', this.signalHandler);
    }
    // kill -USR1 <server>: the per-opcode table goes to the log, as go-fuse's DebugData.
    this.statsHandler = () => {
      this.log(`requests answered (${this.mountpoint ?? `fd ${this.fd}`}):`);
      for (const line of this.opStatsReport()) this.log(`  ${line}`);
    };
    process.on('SIGUSR1', this.statsHandler);
  }

  /** The per-opcode table by name (count, errors, mean and max µs). */
  opStats(): Record<string, OpStat> {
    return this.opTable.snapshot(this.dispatcher.opName);
  }

  /** The same as log lines, the opcodes with the most total time first. */
  opStatsReport(): string[] {
    return this.opTable.report(this.dispatcher.opName);
  }

  /** After INIT: hand the channel to serving threads, if asked for and possible. */
  private startThreads(r: InitResult): void {
    const w = this.opts.workers;
    const conn = this.dispatcher.conn;
    if (!w || w.count <= 0 || r.versionOnly || !conn || this.threads || this.ring) return;
    if (this.opts.transport === 'uring' && this.limits.allowFlags) {
      if (conn.flags & InitFlag.OVER_IO_URING) return this.startRing(w, conn);
      this.log(`transport uring: the kernel did not offer FUSE_OVER_IO_URING (${uringEnabled().why}); serving through /dev/fuse`);
    }
    try {
      this.threads = new ServingThreads({
        ...w, fd: this.fd, conn, limits: this.limits, bufSize: this.bufSize, debug: this.opts.debug, log: this.log, stats: this.opTable,
        onRequest: (fd, msg) => this.forwarded(fd, msg),
        onStopped: (ended) => {
          if (ended || this.stopping) return this.readerStopped();
          // Kept (stopped): its counts still report what the threads served.
          this.log('serving threads failed; serving on the main thread');
          this.goIdle();
        },
      });
    } catch (e) {
      this.log(`serving threads: ${(e as Error).message}; serving on the main thread`);
    }
  }

  /**
   * Ring threads serve the kernel's queues; this thread keeps reading /dev/fuse (FORGET,
   * INTERRUPT, and everything until every queue has an entry) but no longer holds the event
   * loop between requests: the threads' forwarded requests arrive through it.
   */
  private startRing(w: WorkerOptions, conn: NonNullable<Dispatcher['conn']>): void {
    try {
      this.ring = new UringThreads({
        ...w, fd: this.fd, conn, limits: this.limits, depth: this.opts.ringDepth, debug: this.opts.debug, log: this.log,
        stats: this.opTable,
        onRequest: (msg, reply) => this.dispatchForwarded(msg, reply),
        onStopped: (unavailable) => {
          if (unavailable) this.log(`transport uring: ${unavailable}; serving through /dev/fuse`);
          else if (!this.stopping) {
            // The kernel holds requests for queues without entries (and, before the ring was
            // ready, every request): nothing would answer them. End the mount instead.
            this.log('ring threads stopped while mounted; unmounting');
            void this.close().catch((e: unknown) => this.log(`close: ${(e as Error).message}`));
          }
        },
      });
      const ring = this.ring;
      void ring.started.then((n) => this.log(`transport uring: ${n} of ${ring.count} ring threads set up`));
      this.holdNs = 0n;
      this.spinMaxNs = 0n;
      this.spinNs = 0n;
    } catch (e) {
      // INIT agreed the ring: /dev/fuse alone cannot serve this connection (fuse-io-uring.md §1).
      this.log(`transport uring: ${(e as Error).message}; unmounting`);
      void this.close().catch((err: unknown) => this.log(`close: ${(err as Error).message}`));
    }
  }

  /** A request a serving thread (either kind) handed over, answered through `reply`; failures are logged. */
  private dispatchForwarded(msg: Buffer, reply: (iov: readonly Buffer[]) => void): void {
    try {
      const r = this.dispatcher.dispatch(msg, reply);
      if (r instanceof Promise) r.catch((e: unknown) => this.log(`reply: ${(e as Error).message}`));
    } catch (e) {
      this.log(`dispatch: ${(e as Error).stack ?? String(e)}`);
    }
  }

  /** A request a serving thread handed over: answer it on that thread's descriptor. */
  private forwarded(fd: number, msg: Buffer): void {
    this.dispatchForwarded(msg, (iov) => {
      if (this.threads?.isLive(fd)) this.write(iov, fd);
    });
    this.judgeThreads();
  }

  /**
   * Threads reading: after every WINDOW requests they saw, if at least 3/4 came to this
   * thread anyway, park them and read the channel here (one wake-up per request, not a
   * wake-up of a thread and then of this one).
   */
  private judgeThreads(): void {
    const t = this.threads;
    if (!t || this.mainReads || this.stopping || !this.opts.workers?.threadsServe) return;
    const s = t.stats();
    const total = s.local + s.forwarded;
    if (total - this.judged.total < JUDGE_WINDOW) return;
    const share = (s.forwarded - this.judged.forwarded) / (total - this.judged.total);
    this.judged = { total, forwarded: s.forwarded };
    if (share < 0.75) return;
    this.mainReads = true;
    this.mainSeen = 0;
    this.mainData = 0;
    this.stats.takeovers++;
    t.park();
    this.lastRequest = process.hrtime.bigint();
    setImmediate(() => this.serve());
  }

  /**
   * Main thread reading while the threads are parked: after every WINDOW requests, if at
   * least half were reads and writes the threads answer, hand the channel back to them.
   */
  private judgeMain(msg: Buffer, n: number): void {
    const serve = this.opts.workers?.threadsServe;
    if (!this.mainReads || !serve || n < IN_HEADER_SIZE) return;
    const op = msg.readUInt32LE(O_OPCODE);
    if (op === Op.READ || op === Op.WRITE) {
      const nodeid = getU64(msg, O_NODEID);
      if (nodeid !== undefined && serve(nodeid)) this.mainData++;
    }
    if (++this.mainSeen < JUDGE_WINDOW) return;
    const data = this.mainData;
    this.mainSeen = 0;
    this.mainData = 0;
    if (data * 2 < JUDGE_WINDOW) return;
    this.handBack();
  }

  private handBack(): void {
    if (!this.mainReads) return;
    this.mainReads = false;
    const s = this.threads?.stats();
    if (s) this.judged = { total: s.local + s.forwarded, forwarded: s.forwarded };
    // What waited for the threads while they were parked goes before their next read.
    try {
      this.onResume?.();
    } catch (e) {
      this.log(`resume: ${(e as Error).message}`);
    }
    this.threads?.resume();
  }

  /**
   * The serving threads are parked and the main thread reads every request (judgeThreads):
   * what only the threads need (maps of committed files) may wait for onResume.
   */
  get threadsParked(): boolean {
    return this.mainReads && this.threads !== undefined;
  }

  /** Called when parked threads are about to read again, before they do. */
  onResume?: () => void;

  /** Tell every serving thread's DataPlane `msg` (before answering what makes it matter). */
  publish(msg: unknown): void {
    this.threads?.publish(msg);
    this.ring?.publish(msg);
  }

  /**
   * The server is quiet (a burst is over): every serving thread collects its heap once it is
   * idle (QUIET_UPDATE, quiet-gc.ts). A /dev/fuse thread takes it in while parked (every 20 ms)
   * or at its next request; a ring thread is woken for it.
   */
  quiet(): void {
    this.threads?.publish(QUIET_UPDATE);
    this.ring?.quiet();
  }

  /**
   * Wait until every serving thread has exited (true), or `timeoutMs` passed (false). Memory
   * a DataPlane views must stay mapped until then.
   */
  async threadsExited(timeoutMs: number): Promise<boolean> {
    const t = this.threads ?? this.ring;
    if (!t) return true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([t.exited.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Settles once requests are answered without waiting for a thread to start: at once on
   * /dev/fuse (the main thread serves until the serving threads read), after the ring
   * threads set up their rings with the ring transport (UringThreads.started).
   */
  get started(): Promise<void> {
    return this.ring ? this.ring.started.then(() => undefined) : Promise.resolve();
  }

  /** A serving thread reads the channel (it has loaded its plane); false without threads. */
  get threadsServing(): boolean {
    return this.threads?.serving ?? false;
  }

  /** Serving threads started, and the requests they answered and forwarded. */
  threadStats(): { threads: number; local: number; forwarded: number } {
    if (this.ring) {
      const { local, forwarded } = this.ring.stats();
      return { threads: this.ring.count, local, forwarded };
    }
    return { threads: this.threads?.count ?? 0, ...(this.threads?.stats() ?? { local: 0, forwarded: 0 }) };
  }

  /**
   * Which transport serves: `uring` once ring threads run (requests: fetched from the ring),
   * else `dev`; `dev` counts requests read from /dev/fuse on the main thread.
   */
  transportStats(): { transport: 'dev' | 'uring'; ring: number; dev: number } {
    const ring = this.ring?.stats().ring ?? 0;
    return { transport: this.ring ? 'uring' : 'dev', ring, dev: this.stats.polled };
  }

  private takeBuffer(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.bufSize);
  }

  /** Hand the wait for the next request to the thread pool and return to the event loop. */
  private goIdle(): void {
    if (this.stopping || this.running > 0 || this.delegated) return;
    this.running++;
    this.waiter.waitAsync(IDLE_WAIT_MS, (rc) => {
      this.running--;
      if (this.stopping) return this.readerStopped();
      if (this.delegated) return;
      if (rc === 0) return this.goIdle(); // timed out: wait again
      this.stats.pooled++;
      this.lastRequest = process.hrtime.bigint();
      this.spinNs = this.spinMaxNs;
      this.slept = false;
      this.serve();
    });
  }

  /** Dispatch one message; its buffer returns to the free list once no handler holds views of it. */
  private handle(buf: Buffer, n: number): boolean {
    if (this.mainReads) this.judgeMain(buf, n);
    let r: void | Promise<void> = undefined;
    try {
      r = this.dispatcher.dispatch(buf.subarray(0, n));
    } catch (e) {
      this.log(`dispatch: ${(e as Error).stack ?? String(e)}`);
    }
    if (r instanceof Promise) {
      r.catch((e: unknown) => this.log(`reply: ${(e as Error).message}`)).finally(() => this.free.push(buf));
      return true;
    }
    this.free.push(buf);
    return false;
  }

  /**
   * The hot phase, on the main thread: read the (non-blocking) channel and handle requests
   * as they come. When it is empty: poll for up to spinNs, then sleep in poll(2) until a
   * request arrives (one kernel wake-up, as a C server blocked in read(2) gets), for at most
   * SLICE_MS at a time so timers, I/O callbacks and signals get a turn of the event loop
   * (a signal also ends the sleep: EINTR). After HOLD_MS without a request, or while an
   * asynchronous handler waits on the event loop, hand the wait to the thread pool (goIdle).
   */
  private serve(): void {
    if (this.busy || this.stopping) return;
    this.busy = true;
    const sliceEnd = process.hrtime.bigint() + SLICE_NS;
    for (;;) {
      const buf = this.takeBuffer();
      const n = readRaw(this.fd, buf);
      if (n > 0) {
        this.stats.polled++;
        if (this.spinMaxNs > 0n) this.adaptSpin(process.hrtime.bigint() - this.lastRequest);
        const pending = this.handle(buf, n);
        if (this.stopping || this.delegated) break;
        this.lastRequest = process.hrtime.bigint();
        // An asynchronous handler may settle in a microtask: let it reply before reading on.
        if (pending || this.lastRequest > sliceEnd) return this.yieldTurn();
        continue;
      }
      this.free.push(buf);
      const outcome = readOutcome(n);
      if (outcome === 'empty') {
        const now = process.hrtime.bigint();
        const last = this.lastRequest;
        const quiet = now - last;
        if (quiet < this.spinNs) continue;
        if (quiet >= this.holdNs || this.dispatcher.pending > 0) {
          this.stats.idle++;
          break;
        }
        if (now >= sliceEnd) return this.yieldTurn();
        const until = sliceEnd < last + this.holdNs ? sliceEnd : last + this.holdNs;
        this.slept = true;
        const rc = this.waiter.wait(Math.max(1, Math.ceil(Number(until - now) / 1e6)));
        if (rc === -EINTR) return this.yieldTurn(); // a signal: let its handler run
        if (rc < 0) {
          this.log(`poll: errno ${-rc}`);
          break;
        }
        continue;
      }
      if (outcome === 'again') continue;
      if (outcome === 'ended') {
        this.busy = false;
        return this.readerStopped();
      }
      this.log(`read: errno ${-n}`);
      break;
    }
    this.busy = false;
    if (this.stopping) return this.readerStopped();
    this.goIdle();
  }

  /**
   * Adapt the busy-poll window to the gap before the request that just came. Caught while
   * spinning: keep the full window. Missed by a little (the client's next request comes a
   * bit later than the window): widen it again. Missed by far: halve it, so a client whose
   * requests are sparse stops costing a spinning core (on a 2-core box the client needs it).
   */
  private adaptSpin(gap: bigint): void {
    if (!this.slept) this.spinNs = this.spinMaxNs;
    else if (gap <= 2n * this.spinMaxNs) this.spinNs = this.spinNs * 2n + 10_000n < this.spinMaxNs ? this.spinNs * 2n + 10_000n : this.spinMaxNs;
    else this.spinNs = this.spinNs < 10_000n ? 0n : this.spinNs / 2n;
    this.slept = false;
  }

  /** Let the event loop run one turn, then carry on serving. */
  private yieldTurn(): void {
    this.busy = false;
    setImmediate(() => this.serve());
  }

  private readerStopped(): void {
    this.stopping = true;
    // Parked threads must read again to see the channel end and exit.
    this.handBack();
    // After DESTROY the protocol is over even if pool reads still wait on a channel nobody closes.
    if (this.running === 0 || this.dispatcher.isDestroyed || this.delegated) this.resolveDone();
  }

  private write(iov: readonly Buffer[], fd = this.fd): void {
    if (!writeMessage(fd, iov)) this.stopping = true;
  }

  /** Invalidate cached data [off, off+len) of nodeid (len < 0: to the end), and its attributes. */
  notifyInvalInode(nodeid: number, off = 0, len = -1): void {
    this.dispatcher.notify(Notify.INVAL_INODE, [NotifyInvalInodeOut.encode({ ino: BigInt(nodeid), off, len })]);
  }

  /** Drop the kernel's cached name `name` in directory `parent`. */
  notifyInvalEntry(parent: number, name: string): void {
    const n = Buffer.from(`${name}\0`, 'utf8');
    this.dispatcher.notify(Notify.INVAL_ENTRY, [NotifyInvalEntryOut.encode({ parent: BigInt(parent), namelen: n.length - 1 }), n]);
  }

  /** Tell the kernel `name` (nodeid child) is gone from parent. */
  notifyDelete(parent: number, child: number, name: string): void {
    const n = Buffer.from(`${name}\0`, 'utf8');
    this.dispatcher.notify(Notify.DELETE, [NotifyDeleteOut.encode({ parent: BigInt(parent), child: BigInt(child), namelen: n.length - 1 }), n]);
  }

  /**
   * Stop serving: unmount (lazily if busy) or shut the planted socket down, wait for the
   * outstanding reads to return, close the channel. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.stopping = true;
    if (this.statsHandler) process.off('SIGUSR1', this.statsHandler);
    this.handBack();
    if (this.signalHandler) {
      process.off('SIGINT', this.signalHandler);
      process.off('SIGTERM', this.signalHandler);
    }
    if (this.mountpoint !== undefined) {
      try {
        unmount(this.mountpoint);
      } catch (e) {
        if (e instanceof SysError && e.errno === os.constants.errno.EBUSY) unmount(this.mountpoint, { lazy: true });
        else if (!(e instanceof SysError && (e.errno === os.constants.errno.EINVAL || e.errno === os.constants.errno.ENOENT))) throw e;
      }
    } else if (isSocket(this.fd)) {
      shutdownSocket(this.fd);
    }
    this.ring?.stop();
    if (this.running > 0 || this.threads?.running || this.ring?.running) {
      // A /dev/fd/N channel that is /dev/fuse cannot be woken from here; do not wait forever.
      await Promise.race([this.done, new Promise((r) => setTimeout(r, this.mountpoint === undefined ? 2000 : 10_000).unref())]);
    }
    this.threads?.unref();
    this.ring?.unref();
    this.resolveDone();
    closeQuiet(this.fd);
  }
}

function closeQuiet(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}
