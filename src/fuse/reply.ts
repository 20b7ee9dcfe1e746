// Encoders for the reply bodies the mainline ops send: entry_out, attr_out, open_out,
// statfs, write_out, and READDIR / READDIRPLUS buffers.
import type { Attr, AttrReply, DirEntry, DirList, Entry, OpenReply, Statfs } from './filesystem.js';
import { putU64, zeroed } from '../cstruct.js';
import {
  Attr as AttrStruct, AttrOut, ATTR_OUT_ATTR_OFFSET, Dirent, DIRENTPLUS_DIRENT_OFFSET, EntryOut, ENTRY_OUT_ATTR_OFFSET,
  Kstatfs, OpenOut, WriteOut,
} from './structs.js';

function splitMs(ms: number | undefined): [number, number] {
  if (ms === undefined || !Number.isFinite(ms)) return [0, 0];
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.max(0, Math.round((ms - sec * 1000) * 1e6)));
  return [sec, nsec];
}

function splitSeconds(s: number | undefined, dflt: number): [number, number] {
  const v = s === undefined || !(s >= 0) ? dflt : Math.min(s, 2 ** 52);
  const sec = Math.floor(v);
  return [sec, Math.min(999_999_999, Math.round((v - sec) * 1e9))];
}

// Every metadata reply carries a fuse_attr (LOOKUP, GETATTR, CREATE, each READDIRPLUS entry):
// the fields are written in place at the offsets of the struct tables (structs.ts), without
// the generic encoder's per-call object and BigInts.
const A = Object.fromEntries(AttrStruct.fields.map((f) => [f.name, f.offset])) as Record<string, number>;
const EO = Object.fromEntries(EntryOut.fields.map((f) => [f.name, f.offset])) as Record<string, number>;

export function encodeAttrInto(buf: Buffer, at: number, a: Attr): void {
  const [as, ans] = splitMs(a.atimeMs);
  const [ms, mns] = splitMs(a.mtimeMs);
  const [cs, cns] = splitMs(a.ctimeMs);
  if (at < 0 || buf.length - at < AttrStruct.size) throw new RangeError(`fuse_attr: no room at ${at}`);
  writeU64(buf, at + A.ino!, a.ino);
  writeU64(buf, at + A.size!, a.size);
  writeU64(buf, at + A.blocks!, a.blocks ?? Math.ceil(a.size / 512));
  writeS64(buf, at + A.atime!, as);
  writeS64(buf, at + A.mtime!, ms);
  writeS64(buf, at + A.ctime!, cs);
  buf.writeUInt32LE(ans, at + A.atimensec!);
  buf.writeUInt32LE(mns, at + A.mtimensec!);
  buf.writeUInt32LE(cns, at + A.ctimensec!);
  buf.writeUInt32LE(a.mode, at + A.mode!);
  buf.writeUInt32LE(a.nlink ?? 1, at + A.nlink!);
  buf.writeUInt32LE(a.uid ?? 0, at + A.uid!);
  buf.writeUInt32LE(a.gid ?? 0, at + A.gid!);
  buf.writeUInt32LE(a.rdev ?? 0, at + A.rdev!);
  buf.writeUInt32LE(a.blksize ?? 4096, at + A.blksize!);
  buf.writeUInt32LE(a.flags ?? 0, at + A.flags!);
}

export function encodeEntryInto(buf: Buffer, at: number, e: Entry): void {
  const [es, ens] = splitSeconds(e.entryTimeout, 1);
  const [as, ans] = splitSeconds(e.attrTimeout, 1);
  if (at < 0 || buf.length - at < EntryOut.size) throw new RangeError(`fuse_entry_out: no room at ${at}`);
  writeU64(buf, at + EO.nodeid!, e.nodeid);
  writeU64(buf, at + EO.generation!, e.generation ?? 0);
  writeU64(buf, at + EO.entry_valid!, es);
  writeU64(buf, at + EO.attr_valid!, as);
  buf.writeUInt32LE(ens, at + EO.entry_valid_nsec!);
  buf.writeUInt32LE(ans, at + EO.attr_valid_nsec!);
  encodeAttrInto(buf, at + ENTRY_OUT_ATTR_OFFSET, e.attr);
}

export function encodeEntry(e: Entry): Buffer {
  const b = zeroed(EntryOut.size);
  encodeEntryInto(b, 0, e);
  return b;
}

export function encodeAttrOut(r: AttrReply): Buffer {
  const b = zeroed(AttrOut.size);
  const [s, ns] = splitSeconds(r.timeout, 1);
  AttrOut.encodeInto(b, { attr_valid: s, attr_valid_nsec: ns });
  encodeAttrInto(b, ATTR_OUT_ATTR_OFFSET, r.attr);
  return b;
}

const OO_FH = OpenOut.offsetOf('fh');
const OO_FLAGS = OpenOut.offsetOf('open_flags');
export function encodeOpenOut(o: OpenReply): Buffer {
  const b = zeroed(OpenOut.size);
  writeU64(b, OO_FH, o.fh);
  b.writeUInt32LE(o.openFlags ?? 0, OO_FLAGS);
  return b;
}

export function encodeStatfs(s: Statfs): Buffer {
  return Kstatfs.encode(s);
}

const WO_SIZE = WriteOut.offsetOf('size');
export function encodeWriteOut(n: number): Buffer {
  const b = zeroed(WriteOut.size);
  b.writeUInt32LE(n, WO_SIZE);
  return b;
}

const S_IFMT = 0o170000;
const D_INO = Dirent.offsetOf('ino');
const D_OFF = Dirent.offsetOf('off');
const D_NAMELEN = Dirent.offsetOf('namelen');
const D_TYPE = Dirent.offsetOf('type');

/** A u64 field from a non-negative safe integer (the dispatcher refuses ids past 2^53). */
function writeU64(b: Buffer, at: number, v: number): void {
  if (!(v >= 0) || v > Number.MAX_SAFE_INTEGER) throw new RangeError(`u64 field: ${v}`);
  putU64(b, at, v);
}

/** An s64 field (times before 1970 are negative). */
function writeS64(b: Buffer, at: number, v: number): void {
  if (v >= 0) writeU64(b, at, v);
  else b.writeBigInt64LE(BigInt(v), at);
}

/** A fuse_dirent record's length for a name of `nlen` bytes (8-byte aligned, FUSE_DIRENT_ALIGN). */
export function direntSize(nlen: number): number {
  return (Dirent.size + nlen + 7) & ~7;
}

/**
 * Writes one fuse_dirent (ino, off, namelen, type, name) at `at` and returns its aligned
 * length; the padding after the name is left as it is (callers pack into zeroed buffers).
 * `nlen` is Buffer.byteLength(name). The kernel refuses an empty name or one past
 * FUSE_NAME_MAX, and a NUL or '/' would split it (fs/fuse/readdir.c parse_dirfile).
 */
export function packDirent(b: Buffer, at: number, ino: number, off: number, type: number, name: string, nlen: number): number {
  checkName(name, nlen);
  writeU64(b, at + D_INO, ino);
  writeU64(b, at + D_OFF, off);
  b.writeUInt32LE(nlen, at + D_NAMELEN);
  b.writeUInt32LE(type, at + D_TYPE);
  b.write(name, at + Dirent.size, nlen, 'utf8');
  return direntSize(nlen);
}

function checkName(name: string, nlen: number): void {
  if (nlen === 0 || nlen > 1024 || name.includes('\0') || name.includes('/')) {
    throw new RangeError(`directory entry name ${JSON.stringify(name)} is empty, too long or holds NUL or '/'`);
  }
}

/** The dirent type (DT_*) of a mode: its S_IFMT bits shifted (DT_REG 8, DT_DIR 4). */
export function direntType(mode: number): number {
  return (mode & S_IFMT) >> 12;
}

// The kernel asks a READDIR for the reader's buffer clamped to max_pages (fs/fuse/readdir.c;
// 256 KiB with the default --max-write, since glibc sizes getdents from st_blksize): a fresh
// zeroed buffer that size cost 110-170 us of page faults per request on a 2,000-name listing,
// more than packing the names. Each thread keeps one zeroed buffer up to SPARE_MAX for the
// next listing; a reply is copied out of it and the part it used is zeroed again. Only take()
// hands it back: a listing that throws keeps it (records in it, not zeroed), and the next
// one allocates a fresh zeroed buffer.
const SPARE_MAX = 1 << 20;
let spare: Buffer | undefined;

/** Packs fuse_dirent / fuse_direntplus records (8-byte aligned) into at most `size` bytes. */
export class DirBuffer implements DirList {
  private readonly buf: Buffer;
  private readonly whole: Buffer | undefined;
  private used = 0;
  constructor(size: number, readonly plus: boolean) {
    if (size > SPARE_MAX) {
      this.buf = Buffer.alloc(size);
      return;
    }
    this.whole = spare ?? Buffer.alloc(SPARE_MAX);
    spare = undefined;
    this.buf = this.whole.subarray(0, size);
  }

  get room(): number {
    return this.buf.length - this.used;
  }

  add(e: DirEntry): boolean {
    // A listing is thousands of these: the name is written in place and the dirent's fields
    // at the offsets of its table (no BigInts, no intermediate Buffer per entry).
    const name = e.name;
    const nlen = Buffer.byteLength(name, 'utf8');
    const rec = this.plus ? DIRENTPLUS_DIRENT_OFFSET + direntSize(nlen) : direntSize(nlen);
    checkName(name, nlen);
    if (this.used + rec > this.buf.length) return false;
    const at = this.used;
    // nodeid 0: the kernel takes the name alone (fuse_direntplus_link); the buffer starts
    // zeroed, so the entry_out is left as it is.
    packDirent(this.buf, this.plus ? at + DIRENTPLUS_DIRENT_OFFSET : at, e.entry.attr.ino, e.nextOffset, direntType(e.entry.attr.mode), name, nlen);
    if (this.plus && e.entry.nodeid !== 0) encodeEntryInto(this.buf, at, e.entry);
    this.used += rec;
    return true;
  }

  addPacked(src: Buffer, start: number, end: number): void {
    if (this.plus || end - start > this.room) throw new RangeError(`packed dirents: ${end - start} bytes into ${this.room}${this.plus ? ' (READDIRPLUS)' : ''}`);
    src.copy(this.buf, this.used, start, end);
    this.used += end - start;
  }

  addPackedPlus(src: Buffer, start: number, end: number, entry: Entry | undefined): boolean {
    if (!this.plus) throw new RangeError('packed direntplus into a READDIR reply');
    const rec = DIRENTPLUS_DIRENT_OFFSET + end - start;
    if (rec > this.room) return false;
    src.copy(this.buf, this.used + DIRENTPLUS_DIRENT_OFFSET, start, end);
    if (entry) encodeEntryInto(this.buf, this.used, entry);
    this.used += rec;
    return true;
  }

  /** The reply (a copy), once: the buffer it was packed in goes back zeroed to the thread's spare. */
  take(): Buffer {
    if (!this.whole) return this.buf.subarray(0, this.used);
    const out = Buffer.allocUnsafe(this.used);
    this.buf.copy(out, 0, 0, this.used);
    this.buf.fill(0, 0, this.used);
    this.used = this.buf.length; // nothing more is packed into a buffer given back
    spare = this.whole;
    return out;
  }
}
