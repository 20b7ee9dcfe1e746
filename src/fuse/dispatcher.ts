// The protocol core: one request message in, at most one reply message out, through a
// `send` callback that writes header + body as ONE message (one writev). No I/O of its
// own, so tests drive it directly and the session (session.ts) only moves bytes.
//
// Rules it enforces (fuse-iomap-abi.md §2, fuse-engines.md §4 pitfalls):
// - the header's len must equal the bytes received; extensions must fit; arguments are
//   length-checked by Args; anything malformed gets -EINVAL, or nothing for the ops the
//   kernel expects no reply to (FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY);
// - nothing but INIT before INIT (-EIO); unknown opcodes -ENOSYS;
// - errors are header-only replies with -errno in (-512, 0); a handler that throws
//   something without an errno gives -EIO, and exactly one reply is sent per request.
import { setU64Big, StructError } from '../cstruct.js';
import { mainline, type AbiProfile, type ProfileChooser } from './abi.js';
import type { ConnectionInfo, FileSystem, RequestContext } from './filesystem.js';
import { errno, FuseError } from './filesystem.js';
import { describeError, Errno, errnoOfError } from '../errno.js';
import { OpStats } from './op-stats.js';
import { negotiateInit, decodeInitIn, type InitLimits, type InitResult } from './init.js';
import { initFlagNames, MAX_ERRNO, Op, opName } from './opcodes.js';
import { ErrnoReply, type ReplyBody } from './ops.js';
import { Args, IN_HEADER_SIZE, peekUnique, ProtocolError, readHeader, type Header } from './request.js';
import { InterruptIn, OutHeader } from './structs.js';

/** Writes one whole message (header first). Must not split it into several writes. */
export type SendMessage = (iov: readonly Buffer[]) => void;

export interface DispatcherOptions {
  /** Profile for this connection, or a chooser run on the kernel's INIT (default mainline). */
  profile?: AbiProfile | ProfileChooser;
  limits: InitLimits;
  /** Called for requests that failed in a way worth telling (EIO from a throw, bad messages). */
  log?: (line: string) => void;
  /** Trace every request and reply. */
  debug?: boolean;
  /** Where handled requests are counted and timed (op-stats.ts); none: not measured. */
  stats?: OpStats;
}

/** Opcodes the kernel sends expecting no answer at all. */
const NO_REPLY = new Set<number>([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT, Op.NOTIFY_REPLY]);
const MAX_PENDING_INTERRUPTS = 256;

class Request implements RequestContext {
  interrupted = false;
  private controller?: AbortController;
  constructor(readonly unique: bigint, readonly opcode: number, readonly nodeid: number, readonly uid: number,
    readonly gid: number, readonly pid: number) {}
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.interrupted) this.controller.abort();
    }
    return this.controller.signal;
  }
  interrupt(): void {
    this.interrupted = true;
    this.controller?.abort();
  }
}

export class Dispatcher {
  private profile?: AbiProfile;
  private connInfo?: ConnectionInfo;
  private destroyed = false;
  private readonly inflight = new Map<bigint, Request>();
  private readonly pendingInterrupts = new Set<bigint>();
  /**
   * The last request and its argument cursor, held only to keep their shapes alive: a full
   * collection that finds no object of a shape drops it, and with it the compiled code of
   * every function that relied on it, to be compiled again on the next requests
   * (bench/meta-mount/README.md, "Issue 16, twelfth pass").
   */
  private lastRequest?: Request;
  private lastArgs?: Args;
  /** Resolves with the INIT outcome, for the session (buffer sizes) and tests. */
  onInit?: (r: InitResult) => void;
  onDestroy?: () => void;

  constructor(readonly fs: FileSystem, private readonly opts: DispatcherOptions, private readonly send: SendMessage) {}

  get conn(): ConnectionInfo | undefined {
    return this.connInfo;
  }
  get abi(): AbiProfile | undefined {
    return this.profile;
  }
  /** An opcode's name under the connection's profile (extension opcodes included). */
  readonly opName = (opcode: number): string => this.profile?.ops.get(opcode)?.name ?? opName(opcode);
  get isDestroyed(): boolean {
    return this.destroyed;
  }
  /** Requests whose handler has not settled yet. */
  get pending(): number {
    return this.inflight.size;
  }

  /**
   * Serve a connection another dispatcher initialized (a serving worker thread): as if INIT
   * had been answered with `conn` under `profile`.
   */
  adopt(conn: ConnectionInfo, profile: AbiProfile = mainline): void {
    this.connInfo = conn;
    this.profile = profile;
  }

  /**
   * Handle one received message (exactly the bytes one read returned). Returns a promise
   * when a handler went asynchronous: until it settles, views into `msg` may be in use.
   * `send` carries the reply when it must go elsewhere than the constructor's (a cloned
   * channel: the kernel takes a reply only on the descriptor the request was read from).
   */
  dispatch(msg: Buffer, send: SendMessage = this.send): void | Promise<void> {
    let h: Header;
    try {
      h = readHeader(msg);
      if (h.len !== msg.length) throw new ProtocolError(`len says ${h.len} bytes, ${msg.length} arrived`);
      if (h.extlen > h.len - IN_HEADER_SIZE) throw new ProtocolError(`extensions of ${h.extlen} bytes do not fit in ${h.len}`);
    } catch (e) {
      this.malformed(msg, e, send);
      return;
    }
    if (this.opts.debug) this.opts.log?.(`rx ${h.unique}: ${this.opName(h.opcode)} n${h.nodeid} len ${h.len}`);
    // Every request with a readable header is counted, those with no reply and INIT too.
    const stats = this.opts.stats;
    const t0 = stats ? stats.start(h.opcode) : -1;
    if (NO_REPLY.has(h.opcode)) {
      if (h.opcode === Op.INTERRUPT) this.interrupt(msg, h);
      else if (this.connInfo && h.nodeid >= 0) this.runNoReply(msg, h);
      stats?.record(h.opcode, t0, false);
      return;
    }
    if (h.opcode === Op.INIT) {
      const ok = this.init(msg, h, send);
      stats?.record(h.opcode, t0, !ok);
      return;
    }
    if (!this.connInfo || !this.profile) {
      stats?.record(h.opcode, t0, true);
      return this.replyError(h.unique, errno.EIO, send);
    }
    if (h.opcode === Op.DESTROY) {
      this.destroy(h, send);
      stats?.record(h.opcode, t0, false);
      return;
    }
    const spec = this.profile.ops.get(h.opcode);
    if (!spec || h.nodeid < 0) {
      stats?.record(h.opcode, t0, true);
      return this.replyError(h.unique, spec ? errno.EINVAL : errno.ENOSYS, send);
    }

    const req = new Request(h.unique, h.opcode, h.nodeid, h.uid, h.gid, h.pid);
    if (this.pendingInterrupts.delete(h.unique)) req.interrupted = true;
    let result: ReplyBody | Promise<ReplyBody>;
    try {
      const args = new Args(msg.subarray(IN_HEADER_SIZE, h.len - h.extlen), spec.name);
      this.lastRequest = req;
      this.lastArgs = args;
      const a = spec.decode(args, h, this.connInfo);
      result = spec.handle({ ctx: req, fs: this.fs, conn: this.connInfo, notify: this.notifier }, a);
    } catch (e) {
      stats?.record(h.opcode, t0, true);
      return this.replyError(h.unique, this.errnoOf(e, spec.name), send);
    }
    if (!(result instanceof Promise)) {
      stats?.record(h.opcode, t0, result instanceof ErrnoReply);
      return this.reply(h.unique, result, send);
    }
    this.inflight.set(h.unique, req);
    return result.then(
      (body) => {
        this.inflight.delete(h.unique);
        stats?.record(h.opcode, t0, body instanceof ErrnoReply);
        this.reply(h.unique, body, send);
      },
      (e: unknown) => {
        this.inflight.delete(h.unique);
        stats?.record(h.opcode, t0, true);
        this.replyError(h.unique, this.errnoOf(e, spec.name), send);
      },
    );
  }

  private readonly notifier = (code: number, body: readonly Buffer[]): void => this.notify(code, body);

  /** Send a notification (unique 0, error = +code) with its payload, as one message. */
  notify(code: number, body: readonly Buffer[]): void {
    this.send(notifyMessage(code, body));
  }

  /** Answers INIT; false when the answer was an error. */
  private init(msg: Buffer, h: Header, send: SendMessage): boolean {
    if (this.connInfo) { // a second INIT (libfuse does the same)
      this.replyError(h.unique, errno.EIO, send);
      return false;
    }
    let r: InitResult;
    try {
      const kernel = decodeInitIn(msg.subarray(IN_HEADER_SIZE, h.len - h.extlen));
      const p = this.opts.profile ?? mainline;
      const profile = typeof p === 'function' ? p(kernel) : p;
      r = negotiateInit(kernel, profile, this.opts.limits);
      if (!r.versionOnly) {
        this.profile = profile;
        this.connInfo = r.conn;
        this.opts.log?.(`INIT: kernel ${kernel.major}.${kernel.minor} flags 0x${kernel.flags.toString(16)}; ` +
          `profile ${profile.name}, minor ${r.conn.minor}, max_write ${r.conn.maxWrite}, flags 0x${r.conn.flags.toString(16)}`);
        if (this.opts.debug) {
          this.opts.log?.(`INIT: kernel offers ${initFlagNames(kernel.flags).join(' ') || 'nothing'}`);
          this.opts.log?.(`INIT: agreed ${initFlagNames(r.conn.flags).join(' ') || 'nothing'}`);
        }
      }
    } catch (e) {
      // An error reply to INIT ends the connection, which is right for a kernel we cannot speak to.
      this.replyError(h.unique, e instanceof ProtocolError ? errno.EPROTO : this.errnoOf(e, 'INIT'), send);
      return false;
    }
    if (!r.versionOnly) {
      try {
        this.fs.init?.(r.conn);
      } catch (e) {
        this.connInfo = undefined;
        this.profile = undefined;
        this.replyError(h.unique, this.errnoOf(e, 'INIT'), send);
        return false;
      }
    }
    this.reply(h.unique, r.body, send);
    this.onInit?.(r);
    return true;
  }

  private destroy(h: Header, send: SendMessage): void {
    if (!this.destroyed) {
      this.destroyed = true;
      try {
        this.fs.destroy?.();
      } catch (e) {
        this.opts.log?.(`destroy: ${(e as Error).message}`);
      }
    }
    this.reply(h.unique, undefined, send);
    this.onDestroy?.();
  }

  private interrupt(msg: Buffer, h: Header): void {
    if (h.len - IN_HEADER_SIZE < InterruptIn.size) return; // malformed: no reply exists to carry an error
    const target = msg.readBigUInt64LE(IN_HEADER_SIZE);
    const req = this.inflight.get(target);
    if (req) return req.interrupt();
    // With several reads outstanding an INTERRUPT can overtake its request; remember it a while.
    this.pendingInterrupts.add(target);
    if (this.pendingInterrupts.size > MAX_PENDING_INTERRUPTS) {
      const oldest = this.pendingInterrupts.values().next().value;
      if (oldest !== undefined) this.pendingInterrupts.delete(oldest);
    }
  }

  private runNoReply(msg: Buffer, h: Header): void {
    const spec = this.profile?.ops.get(h.opcode);
    if (!spec || !this.connInfo) return;
    try {
      const req = new Request(h.unique, h.opcode, h.nodeid, h.uid, h.gid, h.pid);
      const a = spec.decode(new Args(msg.subarray(IN_HEADER_SIZE, h.len - h.extlen), spec.name), h, this.connInfo);
      const r = spec.handle({ ctx: req, fs: this.fs, conn: this.connInfo, notify: this.notifier }, a);
      if (r instanceof Promise) r.catch((e: unknown) => this.opts.log?.(`${spec.name}: ${(e as Error).message}`));
    } catch (e) {
      if (!(e instanceof ProtocolError)) this.opts.log?.(`${spec.name}: ${(e as Error).message}`);
    }
  }

  private malformed(msg: Buffer, e: unknown, send: SendMessage): void {
    const unique = peekUnique(msg);
    const opcode = msg.length >= 8 ? msg.readUInt32LE(4) : -1;
    if (this.opts.debug) this.opts.log?.(`malformed message (${msg.length} bytes): ${(e as Error).message}`);
    // unique 0 would read as a notification; the no-reply ops get nothing either way.
    if (unique === 0n || NO_REPLY.has(opcode)) return;
    this.replyError(unique, errno.EINVAL, send);
  }

  /**
   * The error reply a handler's throw gets (the same errno rules as dispatch): for the serving
   * threads' direct READ/WRITE answers (data-plane.ts PlaneAnswerer).
   */
  replyFailure(unique: bigint, e: unknown, op: string, send: SendMessage = this.send): void {
    this.replyError(unique, this.errnoOf(e, op), send);
  }

  private errnoOf(e: unknown, op: string): number {
    if (e instanceof ProtocolError || e instanceof StructError) {
      if (this.opts.debug) this.opts.log?.(`${op}: ${e.message}`);
      return errno.EINVAL;
    }
    // Every error of the project carries its Errno (src/errno.ts), Node's system errors their
    // errno's name; what has neither is EIO. An EIO the file system did not choose itself
    // (FuseError) is logged, since the caller sees nothing more.
    const known = errnoOfError(e);
    if (known && known.number !== errno.EIO) return known.number;
    if (!(e instanceof FuseError)) this.opts.log?.(`${op} failed: ${describeError(e)}`);
    return errno.EIO;
  }

  private reply(unique: bigint, body: ReplyBody, send: SendMessage): void {
    if (body instanceof ErrnoReply) return this.replyError(unique, body.errno, send);
    let iov: Buffer[];
    let len = OutHeader.size;
    const head = Buffer.allocUnsafe(OutHeader.size);
    // Zero-length parts are left out: libuv would issue a second, empty write for them.
    if (body === undefined) iov = [head];
    else if (Buffer.isBuffer(body)) {
      iov = body.length > 0 ? [head, body] : [head];
      len += body.length;
    } else {
      iov = [head];
      for (const b of body as readonly Buffer[]) {
        if (b.length === 0) continue;
        iov.push(b);
        len += b.length;
      }
    }
    head.writeUInt32LE(len, 0);
    head.writeInt32LE(0, 4);
    setU64Big(head, 8, unique);
    if (this.opts.debug) this.opts.log?.(`tx ${unique}: ok ${len - OutHeader.size} bytes`);
    send(iov);
  }

  private replyError(unique: bigint, code: number, send: SendMessage): void {
    const e = Number.isInteger(code) && code > 0 && code <= MAX_ERRNO ? code : errno.EIO;
    const head = Buffer.allocUnsafe(OutHeader.size);
    head.writeUInt32LE(OutHeader.size, 0);
    head.writeInt32LE(-e, 4);
    setU64Big(head, 8, unique);
    if (this.opts.debug) this.opts.log?.(`tx ${unique}: -${e} ${Errno.fromNumber(e).name}`);
    send([head]);
  }
}

/** A notification as one message: out header (unique 0, error = +code), then its payload. */
export function notifyMessage(code: number, body: readonly Buffer[]): Buffer[] {
  let len = OutHeader.size;
  for (const b of body) len += b.length;
  const head = Buffer.allocUnsafe(OutHeader.size);
  head.writeUInt32LE(len, 0);
  head.writeInt32LE(code, 4);
  head.writeBigUInt64LE(0n, 8);
  return [head, ...body.filter((b) => b.length > 0)];
}
