// Reading one request message: the fuse_in_header, the op's arguments and trailing names.
// Every read is length-checked against the message; a short or inconsistent message
// raises ProtocolError, which the dispatcher answers with -EINVAL (or drops, for the ops
// that take no reply). Nothing here trusts a length field it has not compared with the
// bytes actually received.
import { getU64, getU64Big, type CStruct, type Field, type StructValue } from '../cstruct.js';
import { InHeader } from './structs.js';
import { InvalidError } from '../errno.js';

export class ProtocolError extends InvalidError {}

export const IN_HEADER_SIZE = InHeader.size;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The header fields the loop needs, read straight off the buffer (the hot path). */
export interface Header {
  len: number;
  opcode: number;
  unique: bigint;
  /** Number(nodeid), or -1 when nodeid is past 2^53 (no node of ours has such an id). */
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  /** Bytes of request extensions after the op's arguments (total_extlen * 8). */
  extlen: number;
}

/** Offsets of fuse_in_header's fields, for code that reads a request without decoding it. */
export const O_LEN = InHeader.offsetOf('len');
export const O_OPCODE = InHeader.offsetOf('opcode');
export const O_UNIQUE = InHeader.offsetOf('unique');
export const O_NODEID = InHeader.offsetOf('nodeid');
export const O_UID = InHeader.offsetOf('uid');
export const O_GID = InHeader.offsetOf('gid');
export const O_PID = InHeader.offsetOf('pid');
export const O_EXTLEN = InHeader.offsetOf('total_extlen');

/** Decode the header of `msg`, a message of exactly `msg.length` bytes as received. */
export function readHeader(msg: Buffer): Header {
  if (msg.length < IN_HEADER_SIZE) throw new ProtocolError(`message of ${msg.length} bytes is shorter than fuse_in_header (40)`);
  return {
    len: msg.readUInt32LE(O_LEN),
    opcode: msg.readUInt32LE(O_OPCODE),
    unique: getU64Big(msg, O_UNIQUE),
    // No BigInt made per request for it; past 2^53 it is -1.
    nodeid: getU64(msg, O_NODEID) ?? -1,
    uid: msg.readUInt32LE(O_UID),
    gid: msg.readUInt32LE(O_GID),
    pid: msg.readUInt32LE(O_PID),
    extlen: msg.readUInt16LE(O_EXTLEN) * 8,
  };
}

/** The unique of a message too short for a whole header (0 when even that is cut off). */
export function peekUnique(msg: Buffer): bigint {
  return msg.length >= O_UNIQUE + 8 ? msg.readBigUInt64LE(O_UNIQUE) : 0n;
}

/** A cursor over an op's arguments (the bytes between the header and the extensions). */
export class Args {
  private at = 0;
  constructor(readonly bytes: Buffer, private readonly opName: string) {}

  get remaining(): number {
    return this.bytes.length - this.at;
  }

  /**
   * A fixed struct of `wireSize` bytes as sent: the full sizeof, or a shorter compat layout
   * an older minor (or an unnegotiated extension) uses, whose missing fields read as 0.
   */
  struct<F extends readonly Field[]>(s: CStruct<F>, wireSize = s.size): StructValue<F> {
    const have = this.remaining;
    if (have < wireSize) throw new ProtocolError(`${this.opName}: ${s.name} needs ${wireSize} bytes, message has ${have}`);
    let v: StructValue<F>;
    try {
      if (wireSize >= s.size) v = s.decode(this.bytes, this.at);
      else {
        const pad = Buffer.alloc(s.size);
        this.bytes.copy(pad, 0, this.at, this.at + wireSize);
        v = s.decode(pad, 0);
      }
    } catch (e) {
      throw new ProtocolError(`${this.opName}: ${(e as Error).message}`, { cause: e });
    }
    this.at += wireSize;
    return v;
  }

  /** A NUL-terminated name; it must end inside the message and be non-empty. */
  name(what = 'name'): string {
    const end = this.bytes.indexOf(0, this.at);
    if (end < 0) throw new ProtocolError(`${this.opName}: ${what} is not NUL-terminated within the message`);
    const s = this.bytes.toString('utf8', this.at, end);
    if (end === this.at) throw new ProtocolError(`${this.opName}: empty ${what}`);
    this.at = end + 1;
    return s;
  }

  /** Exactly n raw bytes (a view, not a copy). */
  take(n: number, what: string): Buffer {
    if (n > this.remaining) throw new ProtocolError(`${this.opName}: ${what} of ${n} bytes, message has ${this.remaining}`);
    const b = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
}

/** A u64 offset or length from the wire as a JS number; past 2^53 is out of our range. */
export function safeU64(v: bigint, what: string): number {
  if (v > MAX_SAFE) throw new ProtocolError(`${what} = ${v} is past 2^53, which famfs-ts cannot address`);
  return Number(v);
}

/** A u64 file handle or nodeid the file system gave out; ids past 2^53 were never ours. */
export function safeId(v: bigint, what: string): number {
  if (v > MAX_SAFE) throw new ProtocolError(`${what} ${v} is past 2^53 and cannot be one we handed out`);
  return Number(v);
}
