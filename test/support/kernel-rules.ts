// The kernel's half of the mapping protocols: how a kernel with fuse-iomap or famfs
// validates a server's reply (reference fuse-iomap-abi.md §1.4, §2, §3.2, §3.4) and how it
// then turns the reply into a device address (fuse-iomap-abi.md §3.3). The kernel-side player and the tests
// judge the server with these rules, so they are written from the reference alone, in
// BigInt u64 arithmetic like the C code, and never call resolve(): an encoder bug cannot
// hide behind the same arithmetic on both sides.
import { daxdevOut, decodeFmap, FAMFS_EXT, FAMFS_FILE, type DecodedFmap, type FmapEncoding } from '../../src/mapping/famfs-fmap.js';
import { iomapIo, IOMAP_NULL_ADDR, IOMAP_TYPE, type IomapFlagNumbering, type IomapIo } from '../../src/mapping/iomap-wire.js';

const EFSCORRUPTED = 117; // EUCLEAN
const EIO = 5;
const EINVAL = 22;
const EFBIG = 27;

/** A reply the kernel would refuse: `errno` is what the I/O or request would fail with. */
export class KernelRejection extends Error {
  constructor(readonly errno: number, readonly rule: string, detail: string) {
    super(`kernel rejects reply (${rule}): ${detail}`);
  }
}

function reject(errno: number, rule: string, detail: string): never {
  throw new KernelRejection(errno, rule, detail);
}

const U64_MAX = (1n << 64n) - 1n;
const PMD = 2n * 1024n * 1024n;

// ---------------------------------------------------------------------------------------
// fuse-iomap-abi.md §2: framing of any reply written to /dev/fuse.

export interface ReplyShape {
  /** Exact payload size, or the largest one when the last out arg is variable-length. */
  readonly size: number;
  readonly variable?: boolean;
}

/** A framed reply: error is 0 or a negative errno; payload is empty when error != 0. */
export interface Reply {
  readonly unique: bigint;
  readonly error: number;
  readonly payload: Uint8Array;
}

/** Check one reply message as fuse_dev_do_write does: len, error range, out-arg size (fuse-iomap-abi.md §2). */
export function checkReplyFrame(msg: Uint8Array, unique: bigint, shape: ReplyShape): Reply {
  if (msg.byteLength < 16) reject(EINVAL, 'frame', `reply of ${msg.byteLength} bytes is shorter than fuse_out_header`);
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const len = dv.getUint32(0, true);
  const error = dv.getInt32(4, true);
  const got = dv.getBigUint64(8, true);
  if (len !== msg.byteLength) reject(EINVAL, 'frame', `out header len ${len} but ${msg.byteLength} bytes written`);
  if (got !== unique) reject(EINVAL, 'frame', `reply unique ${got} answers no request (expected ${unique})`);
  if (error > 0 || error <= -512) reject(EINVAL, 'frame', `error ${error} is not a negative errno above -512`);
  if (error !== 0) {
    if (len !== 16) reject(EINVAL, 'frame', `error reply ${error} carries ${len - 16} payload bytes`);
    return { unique, error, payload: msg.subarray(16) };
  }
  const n = len - 16;
  if (n > shape.size) reject(EINVAL, 'size', `payload of ${n} bytes, the request expects ${shape.variable ? 'at most ' : ''}${shape.size}`);
  if (n < shape.size && !shape.variable) reject(EINVAL, 'size', `payload of ${n} bytes, the request expects exactly ${shape.size}`);
  return { unique, error, payload: msg.subarray(16) };
}

// ---------------------------------------------------------------------------------------
// fuse-iomap-abi.md §1.4: FUSE_IOMAP_BEGIN replies.

export interface IomapRules {
  readonly blockSize: number;
  readonly maxBytes: number;
  readonly flags: IomapFlagNumbering;
}

const KNOWN_TYPES = new Set<number>([
  IOMAP_TYPE.HOLE, IOMAP_TYPE.DELALLOC, IOMAP_TYPE.MAPPED, IOMAP_TYPE.UNWRITTEN, IOMAP_TYPE.INLINE,
  IOMAP_TYPE.RETRY_CACHE, IOMAP_TYPE.PURE_OVERWRITE,
]);

function checkSlot(io: IomapIo, slot: 'read' | 'write', pos: bigint, r: IomapRules): void {
  const where = `${slot} slot`;
  if (!KNOWN_TYPES.has(io.type)) reject(EFSCORRUPTED, 'type', `${where} has type ${io.type}`);
  if (io.type === IOMAP_TYPE.PURE_OVERWRITE && slot !== 'write') reject(EFSCORRUPTED, 'pure-overwrite', `${where} is PURE_OVERWRITE`);
  if (io.type === IOMAP_TYPE.RETRY_CACHE && slot !== 'read') reject(EFSCORRUPTED, 'type', `${where} is RETRY_CACHE`);
  if ((io.flags & ~r.flags.beginMask) !== 0) reject(EFSCORRUPTED, 'flags', `${where} flags 0x${io.flags.toString(16)} outside F_NEW..F_WANT_IOMAP_END`);
  if (io.length === 0n) reject(EFSCORRUPTED, 'length', `${where} has length 0`);
  const bs = BigInt(r.blockSize);
  if (io.offset % bs !== 0n || io.length % bs !== 0n) {
    reject(EFSCORRUPTED, 'alignment', `${where} [${io.offset}, +${io.length}) not aligned to the ${bs}-byte block`);
  }
  if (io.offset + io.length > U64_MAX) reject(EFSCORRUPTED, 'overflow', `${where} offset + length overflows`);
  if (io.offset >= BigInt(r.maxBytes)) reject(EFSCORRUPTED, 'maxbytes', `${where} offset ${io.offset} >= s_maxbytes ${r.maxBytes}`);
  switch (io.type) {
    case IOMAP_TYPE.MAPPED:
    case IOMAP_TYPE.UNWRITTEN:
      if (io.dev === 0 || io.addr === IOMAP_NULL_ADDR) reject(EFSCORRUPTED, 'dev-addr', `${where} type ${io.type} needs a device and an address (dev ${io.dev}, addr ${io.addr})`);
      break;
    case IOMAP_TYPE.HOLE:
    case IOMAP_TYPE.DELALLOC:
    case IOMAP_TYPE.INLINE:
    // The helper the reference cites fills a pure overwrite the same way (fuse-iomap-abi.md §1.4).
    case IOMAP_TYPE.PURE_OVERWRITE:
      if (io.dev !== 0 || io.addr !== IOMAP_NULL_ADDR) reject(EFSCORRUPTED, 'dev-addr', `${where} type ${io.type} must have dev 0 and addr ~0 (dev ${io.dev}, addr ${io.addr})`);
      break;
  }
  if (io.type !== IOMAP_TYPE.RETRY_CACHE && !(io.offset <= pos && pos < io.offset + io.length)) {
    reject(EFSCORRUPTED, 'coverage', `${where} [${io.offset}, ${io.offset + io.length}) does not cover pos ${pos}`);
  }
}

export interface BeginVerdict {
  readonly read: IomapIo;
  readonly write: IomapIo;
}

/** Validate the 64-byte payload of an IOMAP_BEGIN reply for position `pos` (fuse-iomap-abi.md §1.4). */
export function checkIomapBegin(payload: Uint8Array, pos: bigint, r: IomapRules): BeginVerdict {
  if (payload.byteLength !== 64) reject(EINVAL, 'size', `IOMAP_BEGIN payload is ${payload.byteLength} bytes, not 64`);
  const read = iomapIo.decode(payload, 0);
  const write = iomapIo.decode(payload, 32);
  checkSlot(read, 'read', pos, r);
  checkSlot(write, 'write', pos, r);
  return { read, write };
}

/** Where the kernel does I/O for `pos` under a MAPPED read slot: device cookie, address, contiguous bytes. */
export function iomapAddress(read: IomapIo, pos: bigint): { dev: number; addr: bigint; contiguous: bigint } {
  if (read.type !== IOMAP_TYPE.MAPPED) reject(EIO, 'type', `mapping type ${read.type} has no device address`);
  const delta = pos - read.offset;
  return { dev: read.dev, addr: read.addr + delta, contiguous: read.length - delta };
}

// ---------------------------------------------------------------------------------------
// fuse-iomap-abi.md §3.2: GET_FMAP replies, and fuse-iomap-abi.md §3.3: the kernel's resolution.

/** The map as the kernel keeps it after parsing (fi->famfs_meta). */
export interface KernelFmap {
  readonly fileSize: bigint;
  readonly extType: number;
  readonly simple: readonly KernelRun[];
  readonly interleave: readonly { nstrips: bigint; chunk: bigint; nbytes: bigint; strips: readonly KernelRun[] }[];
  /** Device indexes the map references (dev_bitmap), each needing a valid GET_DAXDEV slot. */
  readonly devices: readonly number[];
  /** log2 of the uniform extent length on dev-tree kernels, when the O(1) path applies. */
  readonly extShift?: bigint;
}
export interface KernelRun {
  readonly devindex: number;
  readonly offset: bigint;
  readonly len: bigint;
}

export interface FmapRules {
  readonly encoding: FmapEncoding;
  /** Bytes the kernel offered for this reply. */
  readonly buffer: number;
  /** True on the dev tree's one retry: a second too-small answer is an error. */
  readonly retried?: boolean;
}

export type FmapVerdict = { readonly kind: 'map'; readonly map: KernelFmap } | { readonly kind: 'retry'; readonly buffer: number };

const V10 = { maxExtents: 32, maxStrips: 32, slots: 1, page: 4096 };
const DEVTREE = { slots: 64, cap: 16 * 1024 * 1024 };

/** Validate a GET_FMAP payload as the posted V10 kernel or the dev-tree kernel would (fuse-iomap-abi.md §3.2). */
export function checkFmapReply(payload: Uint8Array, r: FmapRules): FmapVerdict {
  if (payload.byteLength > r.buffer) reject(EINVAL, 'size', `GET_FMAP reply of ${payload.byteLength} bytes exceeds the ${r.buffer}-byte buffer`);
  if (payload.byteLength < 32) reject(EINVAL, 'size', `GET_FMAP reply of ${payload.byteLength} bytes has no complete header`);
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const fmapSize = dv.getUint32(12, true);
  if (r.encoding === 'unrolled') {
    if (fmapSize > payload.byteLength) {
      // Header only: the dev tree retries exactly once with fmap_size bytes (cap 16 MiB).
      if (payload.byteLength !== 32) reject(EINVAL, 'fmap-size', `fmap_size ${fmapSize} but ${payload.byteLength} bytes sent`);
      if (r.retried) reject(EIO, 'retry', `fmap_size ${fmapSize} still larger than the retried ${r.buffer}-byte buffer`);
      if (fmapSize > DEVTREE.cap) reject(EFBIG, 'retry', `fmap_size ${fmapSize} is above the 16 MiB cap`);
      if (fmapSize <= r.buffer) reject(EINVAL, 'fmap-size', `fmap_size ${fmapSize} fits the ${r.buffer}-byte buffer but only the header came`);
      return { kind: 'retry', buffer: fmapSize };
    }
    if (fmapSize !== payload.byteLength) reject(EINVAL, 'fmap-size', `fmap_size ${fmapSize} but the reply is ${payload.byteLength} bytes`);
  } else if (payload.byteLength > V10.page) {
    reject(EINVAL, 'size', `GET_FMAP reply of ${payload.byteLength} bytes is over the 4 KiB page`);
  }
  let d: DecodedFmap;
  try {
    d = decodeFmap(payload);
  } catch (e) {
    reject(EINVAL, 'truncated', e instanceof Error ? e.message : String(e));
  }
  const h = d.header;
  if (h.file_type !== FAMFS_FILE.REG && h.file_type !== FAMFS_FILE.SUPERBLOCK && h.file_type !== FAMFS_FILE.LOG) {
    reject(EINVAL, 'file-type', `file_type ${h.file_type}`);
  }
  if (h.ext_type !== FAMFS_EXT.SIMPLE && h.ext_type !== FAMFS_EXT.INTERLEAVE) reject(EINVAL, 'ext-type', `ext_type ${h.ext_type}`);
  if (r.encoding === 'unrolled' && h.ext_type !== FAMFS_EXT.SIMPLE) reject(EINVAL, 'ext-type', `the dev tree takes simple extents only`);
  if (h.nextents < 1) reject(EINVAL, 'nextents', `nextents 0`);
  if (r.encoding === 'v10' && h.nextents > V10.maxExtents) reject(EINVAL, 'nextents', `nextents ${h.nextents} > ${V10.maxExtents}`);
  // Our encoders send exactly the bytes the counts describe; trailing bytes mean a bug.
  let described = 32;
  for (const e of d.extents) described += e.kind === 'simple' ? 24 : 24 + 24 * e.strips.length;
  if (described !== payload.byteLength) reject(EINVAL, 'size', `the counts describe ${described} bytes but ${payload.byteLength} came`);

  const slots = r.encoding === 'v10' ? V10.slots : DEVTREE.slots;
  const devices = new Set<number>();
  const run = (se: { se_devindex: number; se_offset: bigint; se_len: bigint }, where: string): KernelRun => {
    if (se.se_devindex >= slots) reject(EINVAL, 'devindex', `${where} devindex ${se.se_devindex} (this kernel takes ${slots === 1 ? '0 only' : `< ${slots}`})`);
    if (se.se_offset % PMD !== 0n || se.se_len % PMD !== 0n || se.se_len === 0n) {
      reject(EINVAL, 'alignment', `${where} offset ${se.se_offset} len ${se.se_len} not 2 MiB aligned and non-empty`);
    }
    devices.add(se.se_devindex);
    return { devindex: se.se_devindex, offset: se.se_offset, len: se.se_len };
  };
  const simple: KernelRun[] = [];
  const interleave: { nstrips: bigint; chunk: bigint; nbytes: bigint; strips: KernelRun[] }[] = [];
  let total = 0n;
  d.extents.forEach((e, i) => {
    if (e.kind === 'simple') {
      const k = run(e.run, `extent ${i}`);
      total += k.len;
      simple.push(k);
      return;
    }
    const n = e.iext.ie_nstrips;
    if (n < 1 || n > V10.maxStrips) reject(EINVAL, 'nstrips', `extent ${i} has ${n} strips`);
    if (e.iext.ie_nbytes === 0n) reject(EINVAL, 'nbytes', `extent ${i} ie_nbytes 0`);
    const chunk = BigInt(e.iext.ie_chunk_size);
    if (chunk === 0n || chunk % PMD !== 0n) reject(EINVAL, 'chunk', `extent ${i} chunk ${chunk} not 2 MiB aligned`);
    const strips = e.strips.map((s, j) => run(s, `extent ${i} strip ${j}`));
    for (const s of strips) total += s.len;
    interleave.push({ nstrips: BigInt(n), chunk, nbytes: e.iext.ie_nbytes, strips });
  });
  if (total < h.file_size) reject(EINVAL, 'coverage', `extents hold ${total} bytes, file_size is ${h.file_size}`);

  let extShift: bigint | undefined;
  if (r.encoding === 'unrolled' && simple.length > 0) {
    // Uniform power-of-two extents (the last may be no larger) resolve by a shift (fuse-iomap-abi.md §3.3).
    const l = simple[0]!.len;
    const uniform = (l & (l - 1n)) === 0n && simple.every((s, i) => (i < simple.length - 1 ? s.len === l : s.len <= l));
    if (uniform) {
      let shift = 0n;
      while (1n << shift < l) shift++;
      extShift = shift;
    }
  }
  return {
    kind: 'map',
    map: { fileSize: h.file_size, extType: h.ext_type, simple, interleave, devices: [...devices].sort((a, b) => a - b), ...(extShift !== undefined ? { extShift } : {}) },
  };
}

/** The kernel's answer for file offset `pos`: undefined is a fall off the end (-EIO). */
export interface KernelAddress {
  readonly devindex: number;
  readonly addr: bigint;
  readonly length: bigint;
}

/** famfs_fileofs_to_daxofs(): fuse-iomap-abi.md §3.3, including the dev tree's shift path. */
export function famfsKernelResolve(m: KernelFmap, pos: bigint, len: bigint = U64_MAX): KernelAddress | undefined {
  const min = (a: bigint, b: bigint) => (a < b ? a : b);
  if (m.extType === FAMFS_EXT.SIMPLE) {
    if (m.extShift !== undefined) {
      const i = pos >> m.extShift;
      const local = pos & ((1n << m.extShift) - 1n);
      if (i >= BigInt(m.simple.length)) return undefined;
      const se = m.simple[Number(i)]!;
      if (local >= se.len) return undefined;
      return { devindex: se.devindex, addr: se.offset + local, length: min(len, se.len - local) };
    }
    let local = pos;
    for (const se of m.simple) {
      if (local < se.len) return { devindex: se.devindex, addr: se.offset + local, length: min(len, se.len - local) };
      local -= se.len;
    }
    return undefined;
  }
  let local = pos;
  for (const ie of m.interleave) {
    const extSize = min(ie.nbytes, m.fileSize);
    if (local < extSize) {
      const chunkNum = local / ie.chunk;
      const chunkOffset = local % ie.chunk;
      const chunkRemainder = ie.chunk - chunkOffset;
      const stripeNum = chunkNum / ie.nstrips;
      const stripNum = chunkNum % ie.nstrips;
      const stripOffset = chunkOffset + stripeNum * ie.chunk;
      const s = ie.strips[Number(stripNum)]!;
      return { devindex: s.devindex, addr: s.offset + stripOffset, length: min(len, chunkRemainder) };
    }
    local -= extSize;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// fuse-iomap-abi.md §3.4: GET_DAXDEV replies.

/** Validate a GET_DAXDEV payload: exactly 280 bytes with a NUL-terminated, non-empty path. */
export function checkDaxdevReply(payload: Uint8Array, index: number): { index: number; path: string } {
  if (payload.byteLength !== daxdevOut.size) reject(EINVAL, 'size', `GET_DAXDEV payload is ${payload.byteLength} bytes, not ${daxdevOut.size}`);
  const nameAt = daxdevOut.offsetOf('name');
  const raw = payload.subarray(nameAt, nameAt + 256);
  const nul = raw.indexOf(0);
  if (nul < 0) reject(EINVAL, 'name', `daxdev ${index}: name has no NUL terminator`);
  if (nul === 0) reject(EINVAL, 'name', `daxdev ${index}: empty name`);
  const d = daxdevOut.decode(payload);
  return { index: d.index, path: d.name };
}
