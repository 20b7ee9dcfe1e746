// Darrick Wong's fuse-iomap wire structs (reference fuse-iomap-abi.md §1.2) and the
// server's answers built from a FileMap: the fuse_iomap_begin_out of a FUSE_IOMAP_BEGIN
// reply (read slot from resolve(), write slot per fuse-iomap-abi.md §1.4) and the UPSERT / INVAL notify
// payloads. Flag numbering differs between postings (fuse-iomap-abi.md §1.3), so it is passed in from the
// ABI profile, never written here as a literal in the encoders.
import { defineStruct } from '../cstruct.js';
import { resolve, type FileMap } from '../interleave/filemap.js';
import { ErrnoError } from '../errno.js';

/** `struct fuse_iomap_io`, 32 bytes ("half a cacheline"). */
export const iomapIo = defineStruct('fuse_iomap_io', 32, [
  { name: 'offset', offset: 0, type: 'u64big' },
  { name: 'length', offset: 8, type: 'u64big' },
  { name: 'addr', offset: 16, type: 'u64big' },
  { name: 'type', offset: 24, type: 'u16' },
  { name: 'flags', offset: 26, type: 'u16' },
  { name: 'dev', offset: 28, type: 'u32' },
] as const);
export type IomapIo = ReturnType<typeof iomapIo.decode>;

export const iomapBeginIn = defineStruct('fuse_iomap_begin_in', 32, [
  { name: 'opflags', offset: 0, type: 'u32' },
  { name: 'reserved', offset: 4, type: 'u32' },
  { name: 'attr_ino', offset: 8, type: 'u64big' },
  { name: 'pos', offset: 16, type: 'u64big' },
  { name: 'count', offset: 24, type: 'u64big' },
] as const);

/** `struct fuse_iomap_begin_out`, 64 bytes: two fuse_iomap_io, read @0 and write @32. */
export const iomapBeginOut = defineStruct('fuse_iomap_begin_out', 64, [
  { name: 'read', offset: 0, type: { struct: iomapIo } },
  { name: 'write', offset: 32, type: { struct: iomapIo } },
] as const);

export const iomapEndIn = defineStruct('fuse_iomap_end_in', 72, [
  { name: 'opflags', offset: 0, type: 'u32' },
  { name: 'reserved', offset: 4, type: 'u32' },
  { name: 'attr_ino', offset: 8, type: 'u64big' },
  { name: 'pos', offset: 16, type: 'u64big' },
  { name: 'count', offset: 24, type: 'u64big' },
  { name: 'written', offset: 32, type: 's64' },
  { name: 'map', offset: 40, type: { struct: iomapIo } },
] as const);

export const iomapIoendIn = defineStruct('fuse_iomap_ioend_in', 48, [
  { name: 'flags', offset: 0, type: 'u32' },
  { name: 'error', offset: 4, type: 's32' },
  { name: 'attr_ino', offset: 8, type: 'u64big' },
  { name: 'pos', offset: 16, type: 'u64big' },
  { name: 'new_addr', offset: 24, type: 'u64big' },
  { name: 'written', offset: 32, type: 'u64big' },
  { name: 'dev', offset: 40, type: 'u32' },
  { name: 'pad', offset: 44, type: 'u32' },
] as const);

export const iomapIoendOut = defineStruct('fuse_iomap_ioend_out', 8, [
  { name: 'newsize', offset: 0, type: 'u64big' },
] as const);

export const iomapConfigIn = defineStruct('fuse_iomap_config_in', 64, [
  { name: 'flags', offset: 0, type: 'u64big' },
  { name: 'maxbytes', offset: 8, type: 's64' },
  { name: 'cache_maxbytes', offset: 16, type: 'u32' },
  { name: 'zero', offset: 20, type: 'u32' },
  { name: 'padding', offset: 24, type: { bytes: 40 } },
] as const);

/** `struct fuse_iomap_config_out`, 104 bytes including 4 bytes of tail padding. */
export const iomapConfigOut = defineStruct('fuse_iomap_config_out', 104, [
  { name: 'flags', offset: 0, type: 'u64big' },
  { name: 's_id', offset: 8, type: { cstring: 32 } },
  { name: 's_uuid', offset: 40, type: { bytes: 16 } },
  { name: 's_uuid_len', offset: 56, type: 'u8' },
  { name: 's_pad', offset: 57, type: { bytes: 3 } },
  { name: 's_blocksize', offset: 60, type: 'u32' },
  { name: 's_max_links', offset: 64, type: 'u32' },
  { name: 's_time_gran', offset: 68, type: 'u32' },
  { name: 's_time_min', offset: 72, type: 's64' },
  { name: 's_time_max', offset: 80, type: 's64' },
  { name: 's_maxbytes', offset: 88, type: 's64' },
  { name: 'cache_maxbytes', offset: 96, type: 'u32' },
] as const);

export const fuseRange = defineStruct('fuse_range', 16, [
  { name: 'offset', offset: 0, type: 'u64big' },
  { name: 'length', offset: 8, type: 'u64big' },
] as const);

export const iomapDevInvalOut = defineStruct('fuse_iomap_dev_inval_out', 24, [
  { name: 'dev', offset: 0, type: 'u32' },
  { name: 'reserved', offset: 4, type: 'u32' },
  { name: 'range', offset: 8, type: { struct: fuseRange } },
] as const);

export const iomapInvalMappingsOut = defineStruct('fuse_iomap_inval_mappings_out', 48, [
  { name: 'nodeid', offset: 0, type: 'u64big' },
  { name: 'attr_ino', offset: 8, type: 'u64big' },
  { name: 'read', offset: 16, type: { struct: fuseRange } },
  { name: 'write', offset: 32, type: { struct: fuseRange } },
] as const);

export const iomapUpsertMappingsOut = defineStruct('fuse_iomap_upsert_mappings_out', 80, [
  { name: 'nodeid', offset: 0, type: 'u64big' },
  { name: 'attr_ino', offset: 8, type: 'u64big' },
  { name: 'read', offset: 16, type: { struct: iomapIo } },
  { name: 'write', offset: 48, type: { struct: iomapIo } },
] as const);

export const freezefsIn = defineStruct('fuse_freezefs_in', 8, [{ name: 'unlinked', offset: 0, type: 'u64big' }] as const);
export const shutdownfsIn = defineStruct('fuse_shutdownfs_in', 8, [{ name: 'flags', offset: 0, type: 'u64big' }] as const);

/** `struct fuse_backing_map` for FUSE_DEV_IOC_BACKING_OPEN (fuse-iomap-abi.md §1.5). */
export const backingMap = defineStruct('fuse_backing_map', 16, [
  { name: 'fd', offset: 0, type: 's32' },
  { name: 'flags', offset: 4, type: 'u32' },
  { name: 'padding', offset: 8, type: 'u64big' },
] as const);

/** Mapping types, `fuse_iomap_io.type` (fuse-iomap-abi.md §1.3). Same in every posting. */
export const IOMAP_TYPE = {
  HOLE: 0,
  DELALLOC: 1,
  MAPPED: 2,
  UNWRITTEN: 3,
  INLINE: 4,
  NOCACHE: 253,
  RETRY_CACHE: 254,
  PURE_OVERWRITE: 255,
} as const;

/** `FUSE_IOMAP_NULL_ADDR`: no device address. */
export const IOMAP_NULL_ADDR = 0xffffffffffffffffn;
/** `FUSE_IOMAP_DEV_NULL`: no device. */
export const IOMAP_DEV_NULL = 0;
/** `FUSE_IOMAP_INVAL_TO_EOF` as a range length. */
export const IOMAP_INVAL_TO_EOF = 0xffffffffffffffffn;

/** One posting's FUSE_IOMAP_F_* numbering (fuse-iomap-abi.md §1.3: do not mix them). */
export interface IomapFlagNumbering {
  readonly NEW: number;
  readonly DIRTY: number;
  readonly SHARED: number;
  readonly MERGED: number;
  readonly BOUNDARY: number;
  readonly ANON_WRITE: number;
  readonly ATOMIC_BIO: number;
  readonly WANT_IOMAP_END: number;
  readonly SIZE_CHANGED: number;
  readonly STALE: number;
  /** The flags a BEGIN reply may carry: the kernel accepts F_NEW..F_WANT_IOMAP_END (fuse-iomap-abi.md §1.4). */
  readonly beginMask: number;
}

/** v6/v7 numbering (the `iomap` profile). */
export const IOMAP_FLAGS_V7: IomapFlagNumbering = {
  NEW: 1 << 0, DIRTY: 1 << 1, SHARED: 1 << 2, MERGED: 1 << 3, BOUNDARY: 1 << 4, ANON_WRITE: 1 << 5,
  ATOMIC_BIO: 1 << 6, WANT_IOMAP_END: 1 << 7, SIZE_CHANGED: 1 << 8, STALE: 1 << 9,
  beginMask: (1 << 8) - 1,
};

/** The 2025 RFC's kernel-mirroring numbering, for reference and for refusing to mix. */
export const IOMAP_FLAGS_RFC2025: IomapFlagNumbering = {
  NEW: 1 << 0, DIRTY: 1 << 1, SHARED: 1 << 2, MERGED: 1 << 3, BOUNDARY: 1 << 4, ANON_WRITE: 1 << 5,
  ATOMIC_BIO: 1 << 8, WANT_IOMAP_END: 1 << 12, SIZE_CHANGED: 1 << 14, STALE: 1 << 15,
  beginMask: (1 << 13) - 1,
};

/** FUSE_IOMAP_OP_* (`opflags`, fuse-iomap-abi.md §1.3). */
export const IOMAP_OP = {
  WRITE: 1 << 0, ZERO: 1 << 1, REPORT: 1 << 2, FAULT: 1 << 3, DIRECT: 1 << 4, NOWAIT: 1 << 5,
  OVERWRITE_ONLY: 1 << 6, UNSHARE: 1 << 7, DAX: 1 << 8, ATOMIC: 1 << 9, DONTCACHE: 1 << 10,
  SWAPFILE: 2 ** 30, WRITEBACK: 2 ** 31,
} as const;

/** FUSE_IOMAP_CONFIG_* (fuse-iomap-abi.md §1.2). */
export const IOMAP_CONFIG = {
  SID: 1n << 0n, UUID: 1n << 1n, BLOCKSIZE: 1n << 2n, MAX_LINKS: 1n << 3n, TIME: 1n << 4n,
  MAXBYTES: 1n << 5n, CACHE_MAXBYTES: 1n << 6n,
} as const;

/** FUSE_IOMAP_IOEND_* (fuse-iomap-abi.md §1.2). */
export const IOMAP_IOEND = {
  SHARED: 1 << 0, UNWRITTEN: 1 << 1, BOUNDARY: 1 << 2, DIRECT: 1 << 3, APPEND: 1 << 4,
  WRITEBACK: 1 << 5, SWAPOFF: 1 << 6,
} as const;

/** `FUSE_ATTR_IOMAP` in fuse_attr.flags: asks for the iomap path for a regular file (fuse-iomap-abi.md §1.1). */
export const FUSE_ATTR_IOMAP = 1 << 3;
/**
 * `FUSE_ATTR_EXCLUSIVE`: the server promises no other writer changes the file behind the
 * kernel. The fuse-iomap kernel takes FUSE_ATTR_IOMAP only together with it (fuse-iomap-abi.md
 * errata; with IOMAP alone it warns and keeps the file on READ/WRITE).
 */
export const FUSE_ATTR_EXCLUSIVE = 1 << 2;

export class IomapError extends ErrnoError {
  constructor(readonly errno: number, message: string) {
    super(message, errno);
  }
}

/** What the server needs to answer IOMAP_BEGIN for a mount. */
export interface IomapGeometry {
  /** i_blocksize the server announced in IOMAP_CONFIG (a power of two). */
  readonly blockSize: number;
  /** s_maxbytes. */
  readonly maxBytes: number;
  /** The `dev` cookie of a daxdev index (BACKING_OPEN id, or server-assigned on a player channel). */
  readonly cookie: (daxdev: number) => number | undefined;
}

/** A decoded iomap mapping in JS numbers where it matters; addr is bigint because NULL is ~0. */
export interface IomapMapping {
  readonly offset: number;
  readonly length: number;
  readonly addr: bigint;
  readonly type: number;
  readonly flags: number;
  readonly dev: number;
}

function ioFields(m: IomapMapping): IomapIo {
  return { offset: BigInt(m.offset), length: BigInt(m.length), addr: m.addr, type: m.type, flags: m.flags, dev: m.dev };
}

/** The write slot for anything the server does not remap on write: fuse-iomap-abi.md §1.4's pure overwrite. */
export function pureOverwrite(read: IomapMapping): IomapMapping {
  return { offset: read.offset, length: read.length, addr: IOMAP_NULL_ADDR, type: IOMAP_TYPE.PURE_OVERWRITE, flags: 0, dev: IOMAP_DEV_NULL };
}

function checkGeometry(g: IomapGeometry): void {
  const bs = g.blockSize;
  if (!Number.isSafeInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0) throw new IomapError(22, `block size ${bs} is not a power of two >= 512`);
}

/**
 * The read mapping the server gives for file position `pos` of `map`: MAPPED from
 * resolve() when pos is inside the file, widened to whole blocks (the kernel checks
 * offset and length against i_blocksize, fuse-iomap-abi.md §1.4), and a HOLE to maxbytes at or past EOF.
 * Blocks never cross an extent or chunk boundary because extents are 2 MiB aligned and
 * the block size divides 2 MiB; a map for which that fails is refused, not rounded.
 */
export function iomapReadMapping(map: FileMap, pos: number, g: IomapGeometry): IomapMapping {
  checkGeometry(g);
  const bs = g.blockSize;
  if (!Number.isSafeInteger(pos) || pos < 0) throw new IomapError(22, `IOMAP_BEGIN position ${pos} is not a byte offset below 2^53`);
  if (pos >= g.maxBytes) throw new IomapError(27, `IOMAP_BEGIN position ${pos} is at or past maxbytes ${g.maxBytes}`);
  const start = pos - (pos % bs);
  const m = resolve(map, start);
  if (m === undefined) {
    // At or past EOF: one HOLE from here to maxbytes (whole blocks). A one-block hole made
    // FIEMAP (filefrag) walk block by block towards s_maxbytes on the fuse-iomap kernel.
    const length = Math.max(bs, Math.floor((g.maxBytes - start) / bs) * bs);
    return { offset: start, length, addr: IOMAP_NULL_ADDR, type: IOMAP_TYPE.HOLE, flags: 0, dev: IOMAP_DEV_NULL };
  }
  if (m.offset % bs !== 0) {
    throw new IomapError(117, `file offset ${start} maps to daxdev ${m.daxdev} offset ${m.offset}, not aligned to the ${bs}-byte block`);
  }
  const dev = g.cookie(m.daxdev);
  if (dev === undefined || dev === IOMAP_DEV_NULL) throw new IomapError(19, `daxdev ${m.daxdev} has no iomap device cookie`);
  // resolve() clips at EOF; the partial last block is still inside the extent's aligned
  // allocation. Any other unaligned length means the extent itself is not block aligned.
  let length = m.length;
  if (length % bs !== 0) {
    if (start + length !== map.size) {
      throw new IomapError(117, `file offset ${start}: the extent ends at ${start + length}, not on a ${bs}-byte block`);
    }
    length += bs - (length % bs);
  }
  // The kernel wants offset + length below s_maxbytes too.
  length = Math.min(length, Math.ceil((g.maxBytes - start) / bs) * bs);
  return { offset: start, length, addr: BigInt(m.offset), type: IOMAP_TYPE.MAPPED, flags: 0, dev };
}

/**
 * Why `map` cannot be answered in whole `blockSize` blocks (the fuse-iomap kernel rejects
 * mappings whose offset, length or address is not block aligned with EUCLEAN, fuse-iomap-abi.md §1.4), or
 * undefined when it can: every extent starts on a block in the file, every run and chunk
 * starts on a block on its device, and every length but the last extent's is whole blocks.
 * famfs maps (2 MiB aligned) always can.
 */
export function iomapAlignmentRefusal(map: FileMap, blockSize: number): string | undefined {
  const bs = blockSize;
  let start = 0;
  for (const [i, e] of map.extents.entries()) {
    const where = `extent ${i}`;
    if (start % bs !== 0) return `${where} starts at file offset ${start}, inside a ${bs}-byte block`;
    const last = i === map.extents.length - 1;
    if (e.type === 'simple') {
      if (e.offset % bs !== 0) return `${where} starts at device offset ${e.offset}, inside a ${bs}-byte block`;
      if (!last && e.length % bs !== 0) return `${where} is ${e.length} bytes, not whole ${bs}-byte blocks`;
      start += e.length;
    } else {
      if (e.chunkSize % bs !== 0) return `${where} has chunk size ${e.chunkSize}, not whole ${bs}-byte blocks`;
      const off = e.strips.find((r) => r.offset % bs !== 0);
      if (off) return `${where} has a strip at device offset ${off.offset}, inside a ${bs}-byte block`;
      if (!last && e.nbytes % bs !== 0) return `${where} covers ${e.nbytes} bytes, not whole ${bs}-byte blocks`;
      start += e.nbytes;
    }
  }
  return undefined;
}

/** The 64-byte fuse_iomap_begin_out for `pos` (read slot from resolve(), write slot PURE_OVERWRITE). */
export function iomapBeginReply(map: FileMap, pos: number, opflags: number, g: IomapGeometry): Buffer {
  const read = iomapReadMapping(map, pos, g);
  // famfs files are fully preallocated: a write inside the file overwrites the mapped
  // bytes in place, so the write slot says "use the read mapping" (fuse-iomap-abi.md §1.4). A write at or
  // past EOF would need allocation, which the file system does not do.
  if (opflags & IOMAP_OP.WRITE && pos >= map.size) {
    throw new IomapError(27, `write at ${pos} is at or past the file size ${map.size}; famfs files are sized before the first write`);
  }
  return iomapBeginOut.encode({ read: ioFields(read), write: ioFields(pureOverwrite(read)) });
}

export function decodeIomapIo(buf: Uint8Array, at = 0): IomapMapping {
  const io = iomapIo.decode(buf, at);
  if (io.offset > BigInt(Number.MAX_SAFE_INTEGER) || io.length > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new IomapError(117, `fuse_iomap_io offset ${io.offset} / length ${io.length} past 2^53`);
  }
  return { offset: Number(io.offset), length: Number(io.length), addr: io.addr, type: io.type, flags: io.flags, dev: io.dev };
}

/** The read mappings covering [0, size) of a file, in order (for UPSERT at OPEN). */
export function iomapFileMappings(map: FileMap, g: IomapGeometry): IomapMapping[] {
  const out: IomapMapping[] = [];
  for (let pos = 0; pos < map.size; ) {
    const m = iomapReadMapping(map, pos, g);
    out.push(m);
    pos = m.offset + m.length;
  }
  return out;
}

/** FUSE_NOTIFY_IOMAP_UPSERT_MAPPINGS payloads for a whole file (80 bytes each). */
export function upsertPayloads(map: FileMap, nodeid: bigint, attrIno: bigint, g: IomapGeometry): Buffer[] {
  return iomapFileMappings(map, g).map((read) =>
    iomapUpsertMappingsOut.encode({ nodeid, attr_ino: attrIno, read: ioFields(read), write: ioFields(pureOverwrite(read)) }),
  );
}

/** FUSE_NOTIFY_IOMAP_INVAL_MAPPINGS payload dropping cached mappings of [offset, offset+length) (48 bytes). */
export function invalPayload(nodeid: bigint, attrIno: bigint, offset = 0n, length: bigint = IOMAP_INVAL_TO_EOF): Buffer {
  const range = { offset, length };
  return iomapInvalMappingsOut.encode({ nodeid, attr_ino: attrIno, read: range, write: range });
}

/** The IOMAP_CONFIG reply: block size, maxbytes and the volume's uuid/id. */
export function iomapConfigReply(opts: { blockSize: number; maxBytes: number; uuid?: Uint8Array; id?: string }): Buffer {
  let flags = IOMAP_CONFIG.BLOCKSIZE | IOMAP_CONFIG.MAXBYTES;
  if (opts.uuid) flags |= IOMAP_CONFIG.UUID;
  if (opts.id) flags |= IOMAP_CONFIG.SID;
  return iomapConfigOut.encode({
    flags,
    s_blocksize: opts.blockSize,
    s_maxbytes: opts.maxBytes,
    ...(opts.uuid ? { s_uuid: Buffer.concat([opts.uuid, Buffer.alloc(16 - opts.uuid.byteLength)]), s_uuid_len: opts.uuid.byteLength } : {}),
    ...(opts.id ? { s_id: opts.id } : {}),
  });
}

/**
 * Device cookies the server assigns itself on a channel where FUSE_DEV_IOC_BACKING_OPEN
 * cannot be issued (the player's socketpair): daxdev i is cookie i + 1, as BACKING_OPEN
 * numbers from 1 (fuse-iomap-abi.md §1.5).
 */
export const playerCookie = (daxdev: number): number => daxdev + 1;
