// Serving threads (session option `workers`): each worker thread reads its own clone of the
// FUSE channel and answers the data path itself; everything else goes to the main thread.
// The file system supplies a module that builds a DataPlane in each worker from plain data
// and keeps it current from the messages the main thread publishes (session.publish), e.g.
// "daxdev 0's windows are at these addresses" (threads view the main thread's mappings in
// place, they map nothing themselves) and "nodeid 7 is this map".
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { getU64, HI_SAFE } from '../cstruct.js';
import type { Dispatcher, SendMessage } from './dispatcher.js';
import { errno, FuseError, type ConnectionInfo, type RequestContext } from './filesystem.js';
import { OpStats } from './op-stats.js';
import { Op } from './opcodes.js';
import { IN_HEADER_SIZE, O_EXTLEN, O_GID, O_LEN, O_NODEID, O_OPCODE, O_PID, O_UID, O_UNIQUE } from './request.js';
import { OutHeader, ReadIn, WriteIn, WriteOut } from './structs.js';

export interface DataPlane {
  /**
   * Whether READ/WRITE of nodeid are answered in this thread. Only what the plane was told
   * (publish) and what cannot change behind its back: anything else is forwarded.
   */
  owns(nodeid: number): boolean;
  /** FileSystem.read, synchronous: a worker never returns to its event loop while serving. */
  read(ctx: RequestContext, nodeid: number, fh: number, offset: number, size: number): Buffer[];
  /** FileSystem.write, synchronous. */
  write(ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer, flags: number): number;
  /** A message the main thread published; applied before the next request is handled. */
  update(msg: unknown): void;
  /** Called once, before the first request: what the plane may tell the kernel from this thread. */
  attach?(kernel: PlaneKernel): void;
  close?(): void;
}

/** Notifications a serving thread may send on its own clone of the channel. */
export interface PlaneKernel {
  /** FUSE_NOTIFY_INVAL_INODE: drop cached data [off, off+len) of nodeid (len < 0: to the end). */
  invalInode(nodeid: number, off: number, len: number): void;
}

/** What a plane module exports: `createDataPlane(data)`, data being `workers.data`. */
export type DataPlaneFactory = (data: unknown) => DataPlane;

export interface WorkerOptions {
  /** Serving threads (0: serve on the main thread only). */
  readonly count: number;
  /** URL of the module exporting createDataPlane (siblingModule makes one). */
  readonly module: string;
  /** Structured-cloneable data handed to createDataPlane. */
  readonly data?: unknown;
  /** Each thread busy-polls its channel this long after a request before it blocks (µs, default 0). */
  readonly spinMicros?: number;
  /**
   * The main thread's view of what the planes answer: READ/WRITE of nodeid (what it published).
   * Given, the session moves the reading of the channel to where the requests are answered:
   * while most requests would be forwarded (creating, stating, listing) the threads park and
   * the main thread reads the channel itself, one wake-up per request instead of two; once
   * reads and writes the threads answer dominate again, they read again (session.ts).
   */
  readonly threadsServe?: (nodeid: number) => boolean;
}

/**
 * URL of the module `name` (compiled, .js) next to the module at `metaUrl` (its
 * import.meta.url): how a worker script or a plane module is named to a Worker.
 */
export function siblingModule(metaUrl: string, name: string): string {
  return new URL(`./${name}.js`, metaUrl).href;
}

/**
 * Whether a serving thread (/dev/fuse clone or io_uring) answers the message itself: a READ
 * or WRITE of a nodeid its plane owns. A nodeid past 2^53 (high word >= 2^21) is never owned.
 * Given `words` (wordsOver of msg's buffer) and `at`, msg's first word in them, the fields are
 * read as words: a Buffer method is a generic property load and a call in V8's optimized code
 * (bench/meta-mount/README.md, "Eleventh pass").
 */
export function planeAnswers(plane: DataPlane, msg: Buffer, words?: Words, at = -1): boolean {
  if (msg.length < IN_HEADER_SIZE) return false;
  const byWords = words !== undefined && at >= 0;
  const op = byWords ? words[at + W_OPCODE]! : msg.readUInt32LE(O_OPCODE);
  if (op !== Op.READ && op !== Op.WRITE) return false;
  let nodeid: number | undefined;
  if (byWords) {
    const hi = words[at + W_NODEID + 1]!;
    nodeid = hi > HI_SAFE ? undefined : hi * 0x100000000 + words[at + W_NODEID]!;
  } else nodeid = getU64(msg, O_NODEID);
  return nodeid !== undefined && plane.owns(nodeid);
}

/**
 * The one message every serving thread takes itself instead of passing it to its plane: the
 * server is quiet (a burst's forgets are over), so the thread collects its heap in full
 * (quiet-gc.ts) once it has nothing to read. Its plane dropped the forgotten files' maps, but
 * an idle thread's V8 runs no full collection by itself, and their pages stay in RssAnon.
 */
export const QUIET_UPDATE = { kind: 'quiet-gc' } as const;

function isQuiet(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === QUIET_UPDATE.kind;
}

/**
 * Apply what the main thread published. One that fails is logged and skipped: the plane then
 * owns less, and its requests go to the main thread. True when QUIET_UPDATE was among them.
 */
export function applyUpdates(plane: DataPlane, updates: MessagePort, log: (line: string) => void): boolean {
  let quiet = false;
  for (let m = receiveMessageOnPort(updates); m !== undefined; m = receiveMessageOnPort(updates)) {
    if (isQuiet(m.message)) {
      quiet = true;
      continue;
    }
    try {
      plane.update(m.message);
    } catch (e) {
      log(`update: ${(e as Error).message}`);
    }
  }
  return quiet;
}

// fuse_read_in and fuse_write_in share their first 24 bytes (fh, offset, size, flags).
const A_FH = IN_HEADER_SIZE + ReadIn.offsetOf('fh');
const A_OFFSET = IN_HEADER_SIZE + ReadIn.offsetOf('offset');
const A_SIZE = IN_HEADER_SIZE + ReadIn.offsetOf('size');
const A_WRITE_FLAGS = IN_HEADER_SIZE + WriteIn.offsetOf('write_flags');
const READ_ARGS_END = IN_HEADER_SIZE + ReadIn.size;
const WRITE_DATA = IN_HEADER_SIZE + WriteIn.size;
/** ops.ts's bound on one READ's reply (anything larger goes the generic way, which refuses it). */
const MAX_READ = 256 << 20;
const NEVER_ABORTED = new AbortController().signal;

/** Whether this host stores a u32 least significant byte first, as the FUSE wire does. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Word indexes (u32) of the fields answerDirect reads: every one sits at a multiple of 4. */
const W_LEN = O_LEN >>> 2;
const W_OPCODE = O_OPCODE >>> 2;
const W_UNIQUE = O_UNIQUE >>> 2;
const W_NODEID = O_NODEID >>> 2;
const W_EXTLEN = O_EXTLEN >>> 2; // total_extlen is the low half of its word
const W_FH = A_FH >>> 2;
const W_OFFSET = A_OFFSET >>> 2;
const W_SIZE = A_SIZE >>> 2;
const W_WRITE_FLAGS = A_WRITE_FLAGS >>> 2;

/** A u32 view of a whole ArrayBuffer, in which a message's fields are read in place. */
export type Words = Uint32Array<ArrayBufferLike>;

/**
 * The u32 view a serving thread hands PlaneAnswerer.answer with each message read into `buf`
 * (made once per buffer: reading a typed array's `.buffer` is a call into C++), or undefined
 * on a big-endian host or at an offset not a multiple of 4: messages then take the
 * Dispatcher's path. Buffer.readUInt32LE checks and assembles four bytes; a typed-array load
 * is one move (the direct path reads ~12 fields).
 */
export function wordsOver(buf: Buffer): Words | undefined {
  if (!LITTLE_ENDIAN || (buf.byteOffset & 3) !== 0) return undefined;
  return new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
}

/**
 * The context a plane's read/write gets from PlaneAnswerer: the header fields, read off the
 * request when asked (planes rarely do). A plane answers synchronously, so no INTERRUPT can
 * reach its request meanwhile: the signal is one that never aborts.
 */
class PlaneContext implements RequestContext {
  msg: Buffer = Buffer.alloc(IN_HEADER_SIZE);
  get unique(): bigint {
    return this.msg.readBigUInt64LE(O_UNIQUE);
  }
  get opcode(): number {
    return this.msg.readUInt32LE(O_OPCODE);
  }
  get nodeid(): number {
    return this.msg.readUInt32LE(O_NODEID + 4) * 0x100000000 + this.msg.readUInt32LE(O_NODEID);
  }
  get uid(): number {
    return this.msg.readUInt32LE(O_UID);
  }
  get gid(): number {
    return this.msg.readUInt32LE(O_GID);
  }
  get pid(): number {
    return this.msg.readUInt32LE(O_PID);
  }
  get signal(): AbortSignal {
    return NEVER_ABORTED;
  }
}

/**
 * A serving thread's answer to READ and WRITE of a nodeid its plane owns (planeAnswers), the
 * one path of the 4 KiB random-read benchmark: a well-formed request is decoded off the
 * message at the offsets of its struct tables and answered from the plane with a reply header
 * and iov this object reuses (the generic Dispatcher path made a header object, a request,
 * an argument cursor, a decoded struct with BigInts and a fresh header per request: 3 µs of
 * the ~5 µs of JS a request cost). What this path does not take on (a message whose lengths
 * do not add up, a pre-7.9 kernel, u64 values past 2^53, an oversized READ, debug tracing)
 * goes through `dispatcher.dispatch`, which answers it as before; a plane's throw gets the
 * dispatcher's errno rules (replyFailure). The iov handed to `send` is valid only until it
 * returns: send writes it at once (writev, or a copy into a ring entry).
 */
export class PlaneAnswerer {
  private readonly head = Buffer.from(new ArrayBuffer(OutHeader.size));
  /** The reply header as u32 words: len, error, unique (two words). */
  private readonly headWords = new Uint32Array(this.head.buffer, this.head.byteOffset, OutHeader.size >>> 2);
  private readonly writeOut = Buffer.alloc(WriteOut.size);
  /** The reply iov of a one-part READ and of every WRITE: made once, their parts set per request. */
  private readonly readIov: Buffer[];
  private readonly writeIov: Buffer[];
  private readonly ctx = new PlaneContext();
  private readonly direct: boolean;

  constructor(private readonly plane: DataPlane, private readonly dispatcher: Dispatcher, conn: ConnectionInfo,
    private readonly stats: OpStats | undefined, debug: boolean) {
    this.direct = !debug && conn.minor >= 9;
    this.readIov = [this.head, this.head];
    this.writeIov = [this.head, this.writeOut];
  }

  /**
   * Answer `msg` through `send` when it is a READ or WRITE the plane owns and return true;
   * false: not this thread's (forward it). `words` (wordsOver of the buffer msg was read
   * into) lets the direct path read the message's fields in place; without it every message
   * takes the Dispatcher's path. `at`: where msg starts in `words` (msg.byteOffset / 4), when
   * the caller knows it: in V8's optimized code reading `byteOffset`, like calling a Buffer
   * method, is a generic property load and a call (bench/meta-mount/README.md, "Eleventh pass").
   */
  answer(msg: Buffer, send: SendMessage, words?: Words, at = -1): boolean {
    const w = words !== undefined && at < 0 && (msg.byteOffset & 3) === 0 ? msg.byteOffset >>> 2 : at;
    if (!planeAnswers(this.plane, msg, words, w)) return false;
    if (!this.direct || words === undefined || w < 0 || !this.answerDirect(msg, send, words, w)) this.dispatcher.dispatch(msg, send);
    return true;
  }

  /**
   * answer() that never throws: a serving thread must not die with a request in hand. An
   * exception is logged and the message counts as answered (the Dispatcher replies to what it
   * can; the kernel ends a request it never hears of at unmount).
   */
  answerOrLog(msg: Buffer, send: SendMessage, log: (line: string) => void, words?: Words, at = -1): boolean {
    try {
      return this.answer(msg, send, words, at);
    } catch (e) {
      log(`dispatch: ${(e as Error).stack ?? String(e)}`);
      return true;
    }
  }

  /** False when the message is not the plain case: the dispatcher then answers it. `at`: msg's first word in w. */
  private answerDirect(msg: Buffer, send: SendMessage, w: Words, at: number): boolean {
    const len = msg.length;
    if (len < READ_ARGS_END) return false;
    if (w[at + W_LEN] !== len) return false;
    const argsEnd = len - (w[at + W_EXTLEN]! & 0xffff) * 8;
    if (argsEnd < READ_ARGS_END) return false;
    const fhHi = w[at + W_FH + 1]!;
    const offHi = w[at + W_OFFSET + 1]!;
    // A value past 2^53 is never ours (request.ts safeU64): the dispatcher refuses it.
    if (fhHi > HI_SAFE || offHi > HI_SAFE) return false;
    const op = w[at + W_OPCODE]!;
    const size = w[at + W_SIZE]!;
    if (op === Op.READ ? size > MAX_READ : argsEnd - WRITE_DATA !== size) return false;
    const nodeid = w[at + W_NODEID + 1]! * 0x100000000 + w[at + W_NODEID]!;
    const fh = fhHi * 0x100000000 + w[at + W_FH]!;
    const offset = offHi * 0x100000000 + w[at + W_OFFSET]!;
    const stats = this.stats;
    const t0 = stats ? stats.start(op) : -1;
    const ctx = this.ctx;
    ctx.msg = msg;
    const head = this.head;
    let iov: Buffer[];
    let total = OutHeader.size;
    try {
      if (op === Op.READ) {
        const parts = this.plane.read(ctx, nodeid, fh, offset, size);
        if (parts.length === 1 && parts[0]!.length <= size) {
          iov = this.readIov;
          iov[1] = parts[0]!;
          total += parts[0]!.length;
          if (total === OutHeader.size) iov = [head]; // a zero-length part would be a second, empty write
        } else {
          iov = [head];
          total = clipInto(iov, parts, size);
        }
      } else {
        const data = msg.subarray(WRITE_DATA, WRITE_DATA + size);
        const n = this.plane.write(ctx, nodeid, fh, offset, data, w[at + W_WRITE_FLAGS]!);
        if (!Number.isInteger(n) || n < 0 || n > size) throw new FuseError(errno.EIO, `write handler returned ${n} for ${size} bytes`);
        this.writeOut.writeUInt32LE(n, 0);
        iov = this.writeIov;
        total += WriteOut.size;
      }
    } catch (e) {
      stats?.record(op, t0, true);
      this.dispatcher.replyFailure(msg.readBigUInt64LE(O_UNIQUE), e, op === Op.READ ? 'READ' : 'WRITE', send);
      return true;
    }
    const hw = this.headWords;
    hw[0] = total;
    hw[1] = 0;
    hw[2] = w[at + W_UNIQUE]!;
    hw[3] = w[at + W_UNIQUE + 1]!;
    stats?.record(op, t0, false);
    send(iov);
    this.readIov[1] = head; // drop the view of the device until the next READ
    return true;
  }
}

/**
 * READ data after the header in `iov`: never more than `size` bytes (ops.ts clipData: the
 * kernel refuses an over-long reply), no empty parts. Returns the message length.
 */
function clipInto(iov: Buffer[], parts: readonly Buffer[], size: number): number {
  let body = 0;
  for (let i = 0; i < parts.length && body < size; i++) {
    let b = parts[i]!;
    if (b.length > size - body) b = b.subarray(0, size - body);
    if (b.length === 0) continue;
    iov.push(b);
    body += b.length;
  }
  return OutHeader.size + body;
}
