// famfs-over-FUSE mapping messages: the GET_FMAP reply (reference fuse-iomap-abi.md §3.2)
// and the GET_DAXDEV reply (fuse-iomap-abi.md §3.4), both built from a FileMap. Two encodings exist:
//   - 'v10': the posted V7-V10 kernels. Simple or interleaved extents, <= 32 extents and
//     strips, devindex 0 only, 2 MiB alignment, at most 4 KiB after the out header.
//   - 'unrolled': the mid-2026 dev tree (KABI 43/44). Simple extents only (interleave is
//     unrolled in userspace into one extent per chunk, fuse-iomap-abi.md §3.3), header field 12 is
//     `fmap_size`, and the kernel retries exactly once with a buffer of that size.
// A map that an encoding cannot express gets an FmapError naming the rule and the extent;
// the encoders never emit a message the kernel would reject.
import { defineStruct, putU64 } from '../cstruct.js';
import { unroll, type FileMap, type SimpleExtent, type Strip } from '../interleave/filemap.js';
import { ErrnoError } from '../errno.js';

const MiB = 2 ** 20;

export const FAMFS_FMAP_VERSION = 1;
/** fuse_famfs_fmap_header.file_type (fuse-iomap-abi.md §3.2). */
export const FAMFS_FILE = { REG: 0, SUPERBLOCK: 1, LOG: 2 } as const;
/** fuse_famfs_fmap_header.ext_type (fuse-iomap-abi.md §3.2). */
export const FAMFS_EXT = { SIMPLE: 0, INTERLEAVE: 1 } as const;

/** `struct fuse_famfs_fmap_header`, 32 bytes. Field 12 is reserved0 in V10, fmap_size in KABI 44. */
export const fmapHeader = defineStruct('fuse_famfs_fmap_header', 32, [
  { name: 'file_type', offset: 0, type: 'u8' },
  { name: 'reserved', offset: 1, type: 'u8' },
  { name: 'fmap_version', offset: 2, type: 'u16' },
  { name: 'ext_type', offset: 4, type: 'u32' },
  { name: 'nextents', offset: 8, type: 'u32' },
  { name: 'fmap_size', offset: 12, type: 'u32' },
  { name: 'file_size', offset: 16, type: 'u64big' },
  { name: 'reserved1', offset: 24, type: 'u64big' },
] as const);

/** `struct fuse_famfs_simple_ext`, 24 bytes: a simple extent, or one strip of an iext. */
export const famfsSimpleExt = defineStruct('fuse_famfs_simple_ext', 24, [
  { name: 'se_devindex', offset: 0, type: 'u32' },
  { name: 'reserved', offset: 4, type: 'u32' },
  { name: 'se_offset', offset: 8, type: 'u64big' },
  { name: 'se_len', offset: 16, type: 'u64big' },
] as const);

/** `struct fuse_famfs_iext`, 24 bytes, followed on the wire by ie_nstrips strips. */
export const famfsIext = defineStruct('fuse_famfs_iext', 24, [
  { name: 'ie_nstrips', offset: 0, type: 'u32' },
  { name: 'ie_chunk_size', offset: 4, type: 'u32' },
  { name: 'ie_nbytes', offset: 8, type: 'u64big' },
  { name: 'reserved', offset: 16, type: 'u64big' },
] as const);

/** `struct fuse_daxdev_out`, 280 bytes, not variable-length (fuse-iomap-abi.md §3.4). */
export const daxdevOut = defineStruct('fuse_daxdev_out', 280, [
  { name: 'index', offset: 0, type: 'u16' },
  { name: 'reserved', offset: 2, type: 'u16' },
  { name: 'reserved2', offset: 4, type: 'u32' },
  { name: 'reserved3', offset: 8, type: 'u64big' },
  { name: 'reserved4', offset: 16, type: 'u64big' },
  { name: 'name', offset: 24, type: { cstring: 256 } },
] as const);

/** The 8-byte GET_FMAP request payload of dev-tree kernels (`fuse_getxattr_in`, fuse-iomap-abi.md §3.2). */
export const getFmapIn = defineStruct('fuse_getxattr_in', 8, [
  { name: 'size', offset: 0, type: 'u32' },
  { name: 'padding', offset: 4, type: 'u32' },
] as const);

export type FmapEncoding = 'v10' | 'unrolled';

/** What one encoding's kernels accept (fuse-iomap-abi.md §3.2, fuse-iomap-abi.md §3.4). */
export interface FmapLimits {
  readonly maxExtents: number;
  readonly maxStrips: number;
  /** devindex must be below this (V10: only 0; dev tree: 64 table slots). */
  readonly daxdevSlots: number;
  /** se_offset, se_len and chunk size alignment. */
  readonly align: number;
  /** The first reply buffer the kernel offers, after the out header. */
  readonly firstBuffer: number;
  /** Largest message the kernel takes at all (the retry's cap; V10 has no retry). */
  readonly maxMessage: number;
}

export const FMAP_LIMITS: Readonly<Record<FmapEncoding, FmapLimits>> = {
  v10: { maxExtents: 32, maxStrips: 32, daxdevSlots: 1, align: 2 * MiB, firstBuffer: 4096, maxMessage: 4096 },
  // KABI 43 drops the extent cap and lets the buffer bound it; the retry is capped at 16 MiB.
  unrolled: { maxExtents: Infinity, maxStrips: 0, daxdevSlots: 64, align: 2 * MiB, firstBuffer: 4096, maxMessage: 16 * MiB },
};

/** Why a map cannot be sent in an encoding. */
export type FmapRefusal =
  | 'no-extents' | 'too-many-extents' | 'too-many-strips' | 'daxdev' | 'alignment' | 'chunk'
  | 'short' | 'too-large' | 'range';

export class FmapError extends ErrnoError {
  /** The positive errno a server answers GET_FMAP with when it meets this map. */
  readonly errno: number;
  constructor(readonly reason: FmapRefusal, message: string) {
    super(message, reason === 'too-large' ? 'EFBIG' : reason === 'range' ? 'EINVAL' : 'EOPNOTSUPP');
    this.errno = this.errnoValue.number;
  }
}

function refuse(reason: FmapRefusal, encoding: FmapEncoding, what: string): never {
  throw new FmapError(reason, `GET_FMAP ${encoding}: ${what}`);
}

function checkRun(enc: FmapEncoding, lim: FmapLimits, where: string, r: { daxdev: number; offset: number; length: number }): void {
  if (r.daxdev < 0 || r.daxdev >= lim.daxdevSlots) {
    refuse('daxdev', enc, `${where} is on daxdev ${r.daxdev}; this kernel takes daxdev ${lim.daxdevSlots === 1 ? '0 only' : `indexes below ${lim.daxdevSlots}`}`);
  }
  if (r.offset % lim.align !== 0 || r.length % lim.align !== 0 || r.length <= 0) {
    refuse('alignment', enc, `${where} (offset ${r.offset}, length ${r.length}) is not a non-empty run aligned to ${lim.align} bytes`);
  }
}

/** The wire form of one extent as the encoder emits it. */
type WireExtent =
  | { readonly kind: 'simple'; readonly run: SimpleExtent }
  | { readonly kind: 'interleave'; readonly chunkSize: number; readonly nbytes: number; readonly strips: readonly Strip[] };

/** The ext_type and extent list an encoding sends for `map`, checked against its limits. */
function plan(map: FileMap, enc: FmapEncoding): { extType: number; extents: WireExtent[]; bytes: number } {
  const lim = FMAP_LIMITS[enc];
  if (!Number.isSafeInteger(map.size) || map.size < 0) refuse('range', enc, `file size ${map.size} is not a byte count`);
  // An empty file still needs one extent (nextents >= 1); unroll it as if it held a byte.
  const source = enc === 'unrolled' ? { size: map.size, extents: unroll({ size: Math.max(map.size, 1), extents: map.extents }).extents } : map;
  if (source.extents.length === 0) refuse('no-extents', enc, `the map has no extents (famfs kernels need at least one)`);
  if (source.extents.length > lim.maxExtents) {
    refuse('too-many-extents', enc, `${source.extents.length} extents, the kernel takes at most ${lim.maxExtents}`);
  }
  const anyInterleave = source.extents.some((e) => e.type === 'interleave');
  const extents: WireExtent[] = [];
  let bytes = 32;
  let covered = 0;
  source.extents.forEach((e, i) => {
    if (e.type === 'simple') {
      checkRun(enc, lim, `extent ${i}`, e);
      covered += e.length;
      if (anyInterleave) {
        // One ext_type per file: a simple extent travels as a one-strip interleaved extent.
        // With one strip the kernel's arithmetic (fuse-iomap-abi.md §3.3) gives addr = offset + local, so the
        // placement is unchanged; 2 MiB is the smallest chunk it accepts.
        extents.push({ kind: 'interleave', chunkSize: lim.align, nbytes: e.length, strips: [e] });
        bytes += 48;
      } else {
        extents.push({ kind: 'simple', run: e });
        bytes += 24;
      }
      return;
    }
    const n = e.strips.length;
    if (n < 1 || n > lim.maxStrips) refuse('too-many-strips', enc, `extent ${i} has ${n} strips, the kernel takes 1..${lim.maxStrips}`);
    // ie_chunk_size is a u32 on the wire and must be PMD aligned (fuse-iomap-abi.md §3.2).
    if (e.chunkSize <= 0 || e.chunkSize % lim.align !== 0 || e.chunkSize > 0xffffffff) {
      refuse('chunk', enc, `extent ${i} has chunk size ${e.chunkSize}; it must be a multiple of ${lim.align} that fits in 32 bits`);
    }
    if (!(e.nbytes > 0) || !Number.isSafeInteger(e.nbytes)) refuse('range', enc, `extent ${i} holds ${e.nbytes} bytes; ie_nbytes must be > 0`);
    e.strips.forEach((s, j) => checkRun(enc, lim, `extent ${i} strip ${j}`, s));
    // The kernel clips a mapping only at the chunk's end (fuse-iomap-abi.md §3.3), so an extent that ends
    // inside a chunk before the file does would let it run into the next extent's bytes.
    if (covered + e.nbytes < map.size && e.nbytes % e.chunkSize !== 0) {
      refuse('chunk', enc, `extent ${i} holds ${e.nbytes} bytes, not a whole number of ${e.chunkSize}-byte chunks, and is not the file's last`);
    }
    covered += e.nbytes;
    extents.push({ kind: 'interleave', chunkSize: e.chunkSize, nbytes: e.nbytes, strips: e.strips });
    bytes += 24 + 24 * n;
  });
  if (covered < map.size) refuse('short', enc, `the extents hold ${covered} bytes, less than the file size ${map.size}`);
  if (bytes > lim.maxMessage) {
    refuse('too-large', enc, `the message would be ${bytes} bytes; this kernel takes at most ${lim.maxMessage}`);
  }
  return { extType: anyInterleave ? FAMFS_EXT.INTERLEAVE : FAMFS_EXT.SIMPLE, extents, bytes };
}

/** Why `map` cannot be sent in `enc`, or undefined when it can (for refusing at create time). */
export function fmapRefusal(map: FileMap, enc: FmapEncoding): FmapError | undefined {
  try {
    plan(map, enc);
    return undefined;
  } catch (e) {
    if (e instanceof FmapError) return e;
    throw e;
  }
}

export interface FmapOptions {
  readonly encoding: FmapEncoding;
  readonly fileType?: number;
}

const SE_DEVINDEX = famfsSimpleExt.offsetOf('se_devindex');
const SE_OFFSET = famfsSimpleExt.offsetOf('se_offset');
const SE_LEN = famfsSimpleExt.offsetOf('se_len');

/** The complete GET_FMAP message for `map` (what follows the 16-byte out header). */
export function encodeFmap(map: FileMap, opts: FmapOptions): Buffer {
  const { extType, extents, bytes } = plan(map, opts.encoding);
  const buf = Buffer.alloc(bytes);
  fmapHeader.encodeInto(buf, {
    file_type: opts.fileType ?? FAMFS_FILE.REG,
    fmap_version: FAMFS_FMAP_VERSION,
    ext_type: extType,
    nextents: extents.length,
    // V10 calls this reserved0 and it must stay zero there.
    fmap_size: opts.encoding === 'unrolled' ? bytes : 0,
    file_size: BigInt(map.size),
  });
  let at = 32;
  // The hot loop (an unrolled 1 TiB file is 524,288 runs) writes the table's fields
  // directly: plan() checked every value is a safe integer, so two u32 halves are exact.
  const putRun = (r: { daxdev: number; offset: number; length: number }) => {
    buf.writeUInt32LE(r.daxdev, at + SE_DEVINDEX);
    putU64(buf, at + SE_OFFSET, r.offset);
    putU64(buf, at + SE_LEN, r.length);
    at += famfsSimpleExt.size;
  };
  for (const e of extents) {
    if (e.kind === 'simple') {
      putRun(e.run);
      continue;
    }
    famfsIext.encodeInto(buf, { ie_nstrips: e.strips.length, ie_chunk_size: e.chunkSize, ie_nbytes: BigInt(e.nbytes) }, at);
    at += 24;
    for (const s of e.strips) putRun(s);
  }
  return buf;
}

/**
 * The reply buffer size a GET_FMAP request offers: V-series kernels send no payload (a
 * 4 KiB page), dev-tree kernels send fuse_getxattr_in {size} (fuse-iomap-abi.md §3.2). Anything else is a
 * request this code does not understand.
 */
export function fmapRequestBuffer(payload: Uint8Array): { buffer: number; payloadBytes: 0 | 8 } {
  if (payload.byteLength === 0) return { buffer: FMAP_LIMITS.v10.firstBuffer, payloadBytes: 0 };
  if (payload.byteLength === 8) return { buffer: getFmapIn.decode(payload).size, payloadBytes: 8 };
  throw new FmapError('range', `GET_FMAP request payload of ${payload.byteLength} bytes; kernels send 0 or 8`);
}

/**
 * The GET_FMAP reply payload for a request offering `buffer` bytes. The unrolled
 * encoding sends only the header (whose fmap_size tells the kernel how much to ask for)
 * when the message does not fit; V10 kernels have no retry, so a map that does not fit
 * was already refused by the 4 KiB limit.
 */
export function fmapReply(map: FileMap, encoding: FmapEncoding, buffer: number, fileType?: number): Buffer {
  const msg = encodeFmap(map, { encoding, fileType });
  if (msg.byteLength <= buffer) return msg;
  if (encoding === 'unrolled') return msg.subarray(0, 32);
  refuse('too-large', encoding, `the message is ${msg.byteLength} bytes but the kernel offered ${buffer}`);
}

/** A decoded GET_FMAP message, wire values as they are (u64 as bigint). */
export interface DecodedFmap {
  readonly header: ReturnType<typeof fmapHeader.decode>;
  readonly extents: readonly DecodedExtent[];
}
export type DecodedRun = ReturnType<typeof famfsSimpleExt.decode>;
export type DecodedExtent =
  | { readonly kind: 'simple'; readonly run: DecodedRun }
  | { readonly kind: 'interleave'; readonly iext: ReturnType<typeof famfsIext.decode>; readonly strips: readonly DecodedRun[] };

/**
 * Decode a complete message. Throws FmapError naming the byte offset when the message is
 * shorter than its own counts say; semantic checks are the kernel's (test/support/kernel-rules.ts).
 */
export function decodeFmap(msg: Uint8Array): DecodedFmap {
  const need = (at: number, n: number, what: string) => {
    if (at + n > msg.byteLength) throw new FmapError('range', `GET_FMAP message of ${msg.byteLength} bytes ends inside ${what} at byte ${at}`);
  };
  need(0, 32, 'the header');
  const header = fmapHeader.decode(msg);
  const extents: DecodedExtent[] = [];
  let at = 32;
  for (let i = 0; i < header.nextents; i++) {
    if (header.ext_type === FAMFS_EXT.SIMPLE) {
      need(at, 24, `extent ${i}`);
      extents.push({ kind: 'simple', run: famfsSimpleExt.decode(msg, at) });
      at += 24;
      continue;
    }
    need(at, 24, `interleaved extent ${i}`);
    const iext = famfsIext.decode(msg, at);
    at += 24;
    need(at, 24 * iext.ie_nstrips, `the strips of extent ${i}`);
    const strips: DecodedRun[] = [];
    for (let j = 0; j < iext.ie_nstrips; j++, at += 24) strips.push(famfsSimpleExt.decode(msg, at));
    extents.push({ kind: 'interleave', iext, strips });
  }
  return { header, extents };
}

function toSafe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FmapError('range', `${what} = ${v} is past 2^53`);
  return Number(v);
}

/** The FileMap a decoded message describes (for display and round-trip tests). */
export function fmapToFileMap(d: DecodedFmap): FileMap {
  const run = (r: DecodedRun, what: string) => ({
    daxdev: r.se_devindex,
    offset: toSafe(r.se_offset, `${what} se_offset`),
    length: toSafe(r.se_len, `${what} se_len`),
  });
  return {
    size: toSafe(d.header.file_size, 'file_size'),
    extents: d.extents.map((e, i) =>
      e.kind === 'simple'
        ? { type: 'simple' as const, ...run(e.run, `extent ${i}`) }
        : {
            type: 'interleave' as const,
            chunkSize: e.iext.ie_chunk_size,
            nbytes: toSafe(e.iext.ie_nbytes, `extent ${i} ie_nbytes`),
            strips: e.strips.map((s, j) => run(s, `extent ${i} strip ${j}`)),
          },
    ),
  };
}

/** The GET_DAXDEV reply for daxdev `index` at `path` (all 280 bytes, fuse-iomap-abi.md §3.4). */
export function encodeDaxdevOut(index: number, path: string): Buffer {
  if (Buffer.byteLength(path) === 0 || Buffer.byteLength(path) > 255) {
    throw new FmapError('range', `GET_DAXDEV ${index}: device path "${path}" must be 1..255 bytes`);
  }
  return daxdevOut.encode({ index, name: path });
}
