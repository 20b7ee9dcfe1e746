// The request loop over a FUSE channel: /dev/fuse after mount(2), or an already-open fd
// given as /dev/fd/N (libfuse's convention; tests plant a SOCK_SEQPACKET socketpair there
// and play the kernel). Reads never block the event loop. Two ways of reading, chosen by
// measurement (bench/fuse-engine, README there):
// - busy: after each request the main thread polls the channel non-blocking for up to
//   `spinMicros` (default 50 µs) and handles whatever arrives, yielding to the event loop
//   every few milliseconds. No thread hop: on this 2-vCPU VM a request costs ~17 µs
//   pipelined this way against ~80 µs through the pool.
// - idle: when nothing came within the spin, `readers` blocking fs.read calls wait on
//   libuv's thread pool (each parks one pool thread, so the pool must be larger than
//   `readers`: see threadPoolEnv); the first request they bring starts a busy phase again.
// Each read has its own buffer of max_write + 4 KiB, as the kernel demands after INIT. A
// reply is one writev of header + body views, so READ data goes from the mapped device to
// the kernel uncopied.
import fs from 'node:fs';
import os from 'node:os';
import {
  isSocket, maxPagesLimit, mountFuse, openFuseDevice, readRaw, setNonBlocking, shutdownSocket, unmount, type FuseMountOptions,
} from '../sys/fuse-dev.js';
import { SysError } from '../sys/libc.js';
import type { AbiProfile, ProfileChooser } from './abi.js';
import { Dispatcher } from './dispatcher.js';
import type { FileSystem } from './filesystem.js';
import { FUSE_MIN_READ_BUFFER, Notify } from './opcodes.js';
import { NotifyInvalEntryOut, NotifyInvalInodeOut, NotifyDeleteOut } from './structs.js';

export interface SessionOptions {
  /** Profile, or a chooser run on the kernel's INIT (default mainline). */
  profile?: AbiProfile | ProfileChooser;
  /** Largest WRITE/READ in bytes (default 1 MiB, clamped to max_pages_limit pages). */
  maxWrite?: number;
  /** Blocking reads kept outstanding on the thread pool while idle (default 1). */
  readers?: number;
  /** How long to poll for the next request before going idle, in µs (default 50; 0 = never poll). */
  spinMicros?: number;
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
}

const DEFAULT_MAX_WRITE = 1 << 20;
const { EAGAIN, EINTR, ENOENT, ENODEV, EBADF, ECONNRESET } = os.constants.errno;
/** Room for the in header, write_in and request extensions beside max_write (libfuse uses a page). */
const HEADER_ROOM = 4096;
/** writev takes at most IOV_MAX (1024) buffers; libuv would split a longer list into several writes. */
const MAX_IOV = 1024;

/** Environment for a child that will serve FUSE: a thread pool with room for the readers. */
export function threadPoolEnv(readers = 1, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, UV_THREADPOOL_SIZE: String(Math.max(Number(env.UV_THREADPOOL_SIZE ?? 0), readers + 4)) };
}

function poolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  return Number.isInteger(n) && n > 0 ? n : 4;
}

export class FuseSession {
  readonly dispatcher: Dispatcher;
  private readonly readers: number;
  private readonly bufSize: number;
  private readonly free: Buffer[] = [];
  private running = 0;
  private busy = false;
  /** Requests taken by the busy poll and by idle pool reads, and busy phases that ended empty. */
  readonly stats = { polled: 0, pooled: 0, idle: 0 };
  private readonly spinNs: bigint;
  private stopping = false;
  private closing?: Promise<void>;
  private resolveDone!: () => void;
  /** Settles when the connection has ended (unmount, abort, DESTROY, socket closed). */
  readonly done: Promise<void>;
  private readonly log: (line: string) => void;
  private signalHandler?: () => void;

  private constructor(readonly fd: number, readonly mountpoint: string | undefined, readonly fs: FileSystem,
    private readonly opts: SessionOptions) {
    this.log = opts.log ?? ((l) => process.stderr.write(`fuse: ${l}\n`));
    this.readers = Math.max(1, opts.readers ?? 1);
    this.spinNs = BigInt(Math.max(0, Math.round((opts.spinMicros ?? 50) * 1000)));
    const pageSize = 4096;
    const limit = maxPagesLimit();
    const maxWrite = Math.min(opts.maxWrite ?? DEFAULT_MAX_WRITE, limit * pageSize);
    this.bufSize = Math.max(FUSE_MIN_READ_BUFFER, maxWrite + HEADER_ROOM);
    this.dispatcher = new Dispatcher(fs, {
      profile: opts.profile,
      limits: { maxWrite, maxPagesLimit: limit, pageSize, maxBackground: opts.maxBackground ?? 64, wantFlags: opts.wantFlags },
      log: this.log,
      debug: opts.debug,
    }, (iov) => this.write(iov));
    this.dispatcher.onDestroy = () => {
      this.stopping = true;
    };
    this.done = new Promise((r) => (this.resolveDone = r));
    if (this.readers >= poolSize()) {
      this.log(`warning: ${this.readers} readers on a thread pool of ${poolSize()}; start the server with threadPoolEnv()`);
    }
  }

  /**
   * Serve `fs` at `mountpoint`. A mount point `/dev/fd/N` means fd N is an open channel
   * (no mount call); otherwise /dev/fuse is opened and mounted there with mount(2).
   */
  static mount(mountpoint: string, fs: FileSystem, opts: SessionOptions = {}): FuseSession {
    const m = /^\/dev\/fd\/(\d+)$/.exec(mountpoint);
    let session: FuseSession;
    if (m) {
      session = new FuseSession(Number(m[1]), undefined, fs, opts);
    } else {
      const fd = openFuseDevice();
      const mo: FuseMountOptions = {
        fd, allowOther: opts.allowOther, defaultPermissions: opts.defaultPermissions, fsname: opts.fsname,
        subtype: opts.subtype, readOnly: opts.readOnly,
      };
      try {
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
  }

  private takeBuffer(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.bufSize);
  }

  /** Park `readers` blocking reads on the thread pool; the first request ends the idle phase. */
  private goIdle(): void {
    if (this.stopping) return;
    if (this.spinNs > 0n) setNonBlocking(this.fd, false);
    while (this.running < this.readers) this.issueRead(this.takeBuffer());
  }

  private issueRead(buf: Buffer): void {
    this.running++;
    fs.read(this.fd, buf, 0, buf.length, null, (err, n) => this.onRead(buf, err, n));
  }

  private onRead(buf: Buffer, err: NodeJS.ErrnoException | null, n: number): void {
    this.running--;
    if (err) {
      const code = err.code;
      // ENOENT: the request was interrupted while being read; EINTR/EAGAIN: try again.
      if (!this.stopping && (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN')) return this.issueRead(buf);
      // ENODEV: unmounted or aborted; a closed socket: the player went away.
      if (code !== 'ENODEV' && code !== 'EBADF' && code !== 'ECONNRESET' && !this.stopping) this.log(`read: ${err.message}`);
      return this.readerStopped();
    }
    if (n === 0) return this.readerStopped(); // EOF: the other end of a socket closed
    this.stats.pooled++;
    this.handle(buf, n);
    if (this.stopping) return this.readerStopped(); // DESTROY, or the channel went away
    if (this.spinNs > 0n) this.spin();
    else if (!this.stopping) this.issueRead(this.takeBuffer());
  }

  /** Dispatch one message; its buffer returns to the free list once no handler holds views of it. */
  private handle(buf: Buffer, n: number): boolean {
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
   * The busy phase: poll the channel non-blocking, handling requests as they come, until
   * none arrives for spinNs; yield to the event loop every few ms (and after a handler went
   * asynchronous) so timers, signals and promises keep running; then go idle.
   */
  private spin(): void {
    if (this.busy || this.stopping) return;
    this.busy = true;
    setNonBlocking(this.fd, true);
    const sliceEnd = process.hrtime.bigint() + 4_000_000n;
    let last = process.hrtime.bigint();
    for (;;) {
      const buf = this.takeBuffer();
      const n = readRaw(this.fd, buf);
      if (n > 0) {
        this.stats.polled++;
        const pending = this.handle(buf, n);
        if (this.stopping) break;
        last = process.hrtime.bigint();
        // An asynchronous handler may settle in a microtask: let it reply before polling on.
        if (pending || last > sliceEnd) {
          this.busy = false;
          setImmediate(() => this.spin());
          return;
        }
        continue;
      }
      this.free.push(buf);
      if (n === -EAGAIN || n === -EINTR || n === -ENOENT) {
        if (n === -EAGAIN && process.hrtime.bigint() - last > this.spinNs) {
          this.stats.idle++;
          break;
        }
        continue;
      }
      if (n === 0 || n === -ENODEV || n === -EBADF || n === -ECONNRESET) {
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

  private readerStopped(): void {
    this.stopping = true;
    // After DESTROY the protocol is over even if pool reads still wait on a channel nobody closes.
    if (this.running === 0 || this.dispatcher.isDestroyed) this.resolveDone();
  }

  private write(iov: readonly Buffer[]): void {
    let list = iov as Buffer[];
    if (list.length > MAX_IOV) list = [...list.slice(0, MAX_IOV - 1), Buffer.concat(list.slice(MAX_IOV - 1))];
    try {
      fs.writevSync(this.fd, list);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOENT: the kernel no longer knows this request (interrupted or aborted).
      if (code === 'ENOENT') return;
      if (code === 'ENODEV' || code === 'EPIPE' || code === 'ECONNRESET' || code === 'EBADF') {
        this.stopping = true;
        return;
      }
      throw e;
    }
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
    if (this.running > 0) {
      // A /dev/fd/N channel that is /dev/fuse cannot be woken from here; do not wait forever.
      await Promise.race([this.done, new Promise((r) => setTimeout(r, this.mountpoint === undefined ? 2000 : 10_000).unref())]);
    }
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
