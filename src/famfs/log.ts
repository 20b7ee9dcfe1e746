// The famfs metadata log (reference famfs-format.md §3): a 48-byte header at device offset
// 2 MiB followed by 544-byte entries. Pure codecs: no I/O. A FILE entry's fmap converts to
// and from the project's FileMap model (daxdev = se_devindex).
import { defineStruct } from '../cstruct.js';
import { simple, type FileMap, type Strip } from '../interleave/filemap.js';
import { crc32 } from './crc.js';
import { ALLOC_UNIT, EntryType, EXT_INTERLEAVE, EXT_SIMPLE, FM_ALL_HOSTS_RW, LOG_MAGIC, MAX_PATHLEN, MAX_SIMPLE_EXTENTS, MAX_STRIPS } from './constants.js';

export const logHeaderStruct = defineStruct('famfs_log', 48, [
  { name: 'magic', offset: 0, type: 'u64' },
  { name: 'len', offset: 8, type: 'u64' },
  { name: 'lastIndex', offset: 16, type: 'u64' },
  // CRC-32 of bytes 0..23 only (§3.1).
  { name: 'crc', offset: 24, type: 'u64' },
  { name: 'nextSeqnum', offset: 32, type: 'u64' },
  { name: 'nextIndex', offset: 40, type: 'u64' },
] as const);

export const LOG_HEADER_SIZE = 48;
export const LOG_HEADER_CRC_LEN = 24;
export const ENTRY_SIZE = 544;
/** The entry CRC covers bytes 0..535 (§3.2). */
export const ENTRY_CRC_LEN = 536;

/** The fields common to every entry; the union at +16 is declared per type below. */
export const entryStruct = defineStruct('famfs_log_entry', ENTRY_SIZE, [
  { name: 'seqnum', offset: 0, type: 'u64' },
  { name: 'type', offset: 8, type: 'u32' },
  { name: 'crc', offset: 536, type: 'u64' },
] as const);

/** struct famfs_log_file_meta at entry+16 (§3.3), offsets from the entry start. */
export const fileMetaStruct = defineStruct('famfs_log_file_meta@entry', ENTRY_SIZE, [
  { name: 'size', offset: 16, type: 'u64' },
  { name: 'flags', offset: 24, type: 'u32' },
  { name: 'uid', offset: 28, type: 'u32' },
  { name: 'gid', offset: 32, type: 'u32' },
  { name: 'mode', offset: 36, type: 'u32' },
  { name: 'relpath', offset: 40, type: { bytes: MAX_PATHLEN } },
  { name: 'extType', offset: 120, type: 'u32' },
  { name: 'nextents', offset: 128, type: 'u32' },
  // Interleave only: ie[0] header; strips follow at 152.
  { name: 'ieNstrips', offset: 136, type: 'u64big' },
  { name: 'ieChunkSize', offset: 144, type: 'u64big' },
] as const);

/** famfs_simple_extent (24 B): se[16] at entry+136, ie_strips[16] at entry+152. */
export const simpleExtStruct = defineStruct('famfs_simple_extent', 24, [
  { name: 'devindex', offset: 0, type: 'u64big' },
  { name: 'offset', offset: 8, type: 'u64big' },
  { name: 'len', offset: 16, type: 'u64big' },
] as const);
export const SE_OFFSET = 136;
export const IE_STRIPS_OFFSET = 152;

/** struct famfs_log_mkdir at entry+16 (§3.4). */
export const mkdirStruct = defineStruct('famfs_log_mkdir@entry', ENTRY_SIZE, [
  { name: 'uid', offset: 16, type: 'u32' },
  { name: 'gid', offset: 20, type: 'u32' },
  { name: 'mode', offset: 24, type: 'u32' },
  { name: 'relpath', offset: 28, type: { bytes: MAX_PATHLEN } },
] as const);

/** struct famfs_log_add_daxdev at entry+16 (§3.5). */
export const addDaxdevStruct = defineStruct('famfs_log_add_daxdev@entry', ENTRY_SIZE, [
  { name: 'size', offset: 16, type: 'u64' },
  { name: 'uuid', offset: 24, type: { bytes: 16 } },
  { name: 'index', offset: 40, type: 'u32' },
] as const);

export class LogError extends Error {}

export interface LogHeader {
  readonly magic: number;
  readonly len: number;
  readonly lastIndex: number;
  readonly crc: number;
  readonly nextSeqnum: number;
  readonly nextIndex: number;
}

/** Slots in a log of `logLen` bytes (§3.1). */
export function logSlots(logLen: number): number {
  return Math.floor((logLen - LOG_HEADER_SIZE) / ENTRY_SIZE);
}

export function entryOffset(index: number): number {
  return LOG_HEADER_SIZE + index * ENTRY_SIZE;
}

export function encodeLogHeader(logLen: number): Buffer {
  const b = logHeaderStruct.encode({ magic: LOG_MAGIC, len: logLen, lastIndex: logSlots(logLen) - 1, nextSeqnum: 0, nextIndex: 0 });
  logHeaderStruct.encodeInto(b, { crc: crc32(b.subarray(0, LOG_HEADER_CRC_LEN)) });
  return b;
}

/**
 * famfs_validate_log_header checks magic and CRC only (§3.1); we also check the counters
 * against the region so nothing later reads outside it.
 */
export function decodeLogHeader(bytes: Uint8Array, regionLen: number): LogHeader {
  if (bytes.byteLength < LOG_HEADER_SIZE) throw new LogError(`log header: need ${LOG_HEADER_SIZE} bytes, have ${bytes.byteLength}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getBigUint64(0, true) !== BigInt(LOG_MAGIC)) throw new LogError(`log header: bad magic 0x${dv.getBigUint64(0, true).toString(16)} (expected 0x${LOG_MAGIC.toString(16)})`);
  const storedCrc = dv.getBigUint64(24, true);
  const calc = crc32(bytes.subarray(0, LOG_HEADER_CRC_LEN));
  if (storedCrc !== BigInt(calc)) throw new LogError(`log header: crc mismatch (stored 0x${storedCrc.toString(16)}, calculated 0x${calc.toString(16)})`);
  let h: LogHeader;
  try {
    h = logHeaderStruct.decode(bytes);
  } catch (e) {
    throw new LogError(`log header: ${(e as Error).message}`);
  }
  if (h.len !== regionLen) throw new LogError(`log header: log length ${h.len} differs from the superblock's ${regionLen}`);
  if (h.lastIndex !== logSlots(h.len) - 1) throw new LogError(`log header: last_index ${h.lastIndex} does not fit a ${h.len}-byte log (expected ${logSlots(h.len) - 1})`);
  if (h.nextIndex > h.lastIndex + 1) throw new LogError(`log header: next_index ${h.nextIndex} is past the last slot ${h.lastIndex}`);
  return h;
}

/** Update next_seqnum/next_index in place (not CRC-protected, §3.6). */
export function setLogCounters(header: Uint8Array, nextSeqnum: number, nextIndex: number): void {
  logHeaderStruct.encodeInto(header, { nextSeqnum, nextIndex });
}

export interface FileEntry {
  readonly type: 'file';
  readonly seqnum: number;
  readonly path: string;
  readonly size: number;
  readonly flags: number;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly map: FileMap;
}

export interface MkdirEntry {
  readonly type: 'mkdir';
  readonly seqnum: number;
  readonly path: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

export interface AddDaxdevEntry {
  readonly type: 'add-daxdev';
  readonly seqnum: number;
  readonly index: number;
  readonly size: number;
  readonly uuid: Uint8Array;
}

/** DELETE, INVALID and types famfs does not know: famfs skips them (§3.6). */
export interface OtherEntry {
  readonly type: 'other';
  readonly seqnum: number;
  readonly rawType: number;
}

export type LogEntry = FileEntry | MkdirEntry | AddDaxdevEntry | OtherEntry;
export type NewEntry = Omit<FileEntry, 'seqnum'> | Omit<MkdirEntry, 'seqnum'> | Omit<AddDaxdevEntry, 'seqnum'>;

export function entryCrc(entry: Uint8Array): number {
  return crc32(entry.subarray(0, ENTRY_CRC_LEN));
}

/** famfs_validate_log_entry: seqnum == index and the CRC matches (§3.6). */
export function checkEntry(entry: Uint8Array, index: number): string | undefined {
  const dv = new DataView(entry.buffer, entry.byteOffset, ENTRY_SIZE);
  const seq = dv.getBigUint64(0, true);
  if (seq !== BigInt(index)) return `log entry ${index}: seqnum ${seq} != index ${index}`;
  const stored = dv.getBigUint64(536, true);
  const calc = entryCrc(entry);
  if (stored !== BigInt(calc)) {
    // famfs writes an entry in one go, CRC last: a zero CRC over non-zero bytes is a write
    // that never finished (a torn entry), worth telling apart from a flipped bit.
    const torn = stored === 0n ? ' (the entry ends in zeros: a torn write)' : '';
    return `log entry ${index}: crc mismatch (stored 0x${stored.toString(16)}, calculated 0x${calc.toString(16)})${torn}`;
  }
  return undefined;
}

function cstr(raw: Uint8Array, what: string): string {
  const nul = raw.indexOf(0);
  if (nul < 0) throw new LogError(`${what}: relpath is not NUL-terminated within ${raw.length} bytes`);
  return Buffer.from(raw.subarray(0, nul)).toString('utf8');
}

function u64(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LogError(`${what} = ${v} is past 2^53`);
  return Number(v);
}

/**
 * Decode an entry whose CRC was already checked. Throws LogError (naming the index) for
 * contents no famfs writer produces: counts past the arrays, sizes past 2^53.
 */
export function decodeEntry(entry: Uint8Array, index: number): LogEntry {
  const where = `log entry ${index}`;
  const e = entryStruct.decode(entry);
  switch (e.type) {
    case EntryType.File: {
      const f = fileMetaStruct.decode(entry);
      const path = cstr(f.relpath, where);
      const size = u64(BigInt(f.size), `${where} size`);
      let map: FileMap;
      if (f.extType === EXT_SIMPLE) {
        if (f.nextents > MAX_SIMPLE_EXTENTS) throw new LogError(`${where}: ${f.nextents} simple extents (at most ${MAX_SIMPLE_EXTENTS})`);
        const extents = [];
        for (let j = 0; j < f.nextents; j++) {
          const se = simpleExtStruct.decode(entry, SE_OFFSET + 24 * j);
          extents.push(simple(u64(se.devindex, `${where} se[${j}].devindex`), u64(se.offset, `${where} se[${j}].offset`), u64(se.len, `${where} se[${j}].len`)));
        }
        map = { size, extents };
      } else if (f.extType === EXT_INTERLEAVE) {
        if (f.nextents !== 1) throw new LogError(`${where}: ${f.nextents} interleaved extents (famfs writes exactly 1)`);
        const nstrips = u64(f.ieNstrips, `${where} ie_nstrips`);
        if (nstrips < 1 || nstrips > MAX_STRIPS) throw new LogError(`${where}: ie_nstrips ${nstrips} (1..${MAX_STRIPS})`);
        const chunkSize = u64(f.ieChunkSize, `${where} ie_chunk_size`);
        if (chunkSize === 0) throw new LogError(`${where}: ie_chunk_size is 0`);
        const strips: Strip[] = [];
        for (let k = 0; k < nstrips; k++) {
          const se = simpleExtStruct.decode(entry, IE_STRIPS_OFFSET + 24 * k);
          strips.push({ daxdev: u64(se.devindex, `${where} strip ${k} devindex`), offset: u64(se.offset, `${where} strip ${k} offset`), length: u64(se.len, `${where} strip ${k} len`) });
        }
        // famfs has no nbytes on media; the GET_FMAP reply sends the file size (§7.2).
        map = { size, extents: [{ type: 'interleave', chunkSize, nbytes: size, strips }] };
      } else {
        throw new LogError(`${where}: bad fmap_ext_type ${f.extType}`);
      }
      return { type: 'file', seqnum: e.seqnum, path, size, flags: f.flags, uid: f.uid, gid: f.gid, mode: f.mode, map };
    }
    case EntryType.Mkdir: {
      const m = mkdirStruct.decode(entry);
      return { type: 'mkdir', seqnum: e.seqnum, path: cstr(m.relpath, where), uid: m.uid, gid: m.gid, mode: m.mode };
    }
    case EntryType.AddDaxdev: {
      let a;
      try {
        a = addDaxdevStruct.decode(entry);
      } catch (err) {
        throw new LogError(`${where}: ${(err as Error).message}`);
      }
      return { type: 'add-daxdev', seqnum: e.seqnum, index: a.index, size: a.size, uuid: Uint8Array.from(a.uuid) };
    }
    default:
      return { type: 'other', seqnum: e.seqnum, rawType: e.type };
  }
}

function relpathBytes(path: string): Uint8Array {
  const b = Buffer.from(path, 'utf8');
  if (b.length > MAX_PATHLEN - 1) throw new LogError(`path "${path}" is ${b.length} bytes; famfs allows at most ${MAX_PATHLEN - 1}`);
  if (b.length === 0) throw new LogError('empty path');
  if (b.includes(0)) throw new LogError(`path "${path}" holds a NUL byte`);
  const out = new Uint8Array(MAX_PATHLEN);
  out.set(b);
  return out;
}

/** Problems that keep a FileMap out of a famfs log entry (DESIGN.md: FileMap shapes in images). */
export function fileMapShapeProblem(map: FileMap): string | undefined {
  const ex = map.extents;
  if (ex.length === 0) return 'no extents';
  if (ex.every((e) => e.type === 'simple')) {
    if (ex.length > MAX_SIMPLE_EXTENTS) return `${ex.length} simple extents (famfs allows ${MAX_SIMPLE_EXTENTS})`;
    return undefined;
  }
  if (ex.length !== 1) return 'an interleaved extent must be the only extent';
  const ie = ex[0]!;
  if (ie.type !== 'interleave') return 'bad extent';
  if (ie.strips.length < 1 || ie.strips.length > MAX_STRIPS) return `${ie.strips.length} strips (famfs allows 1..${MAX_STRIPS})`;
  const c = ie.chunkSize;
  if (c <= 0 || c % ALLOC_UNIT !== 0 || (c & (c - 1)) !== 0 && !Number.isInteger(Math.log2(c))) return `chunk size ${c} is not a power-of-two multiple of 2 MiB`;
  const len = ie.strips[0]!.length;
  if (ie.strips.some((s) => s.length !== len)) return 'strips of different lengths';
  return undefined;
}

/** Build the 544 bytes of an entry (every byte not named is zero, so CRCs match famfs). */
export function encodeEntry(e: NewEntry, seqnum: number): Buffer {
  const b = Buffer.alloc(ENTRY_SIZE);
  switch (e.type) {
    case 'file': {
      const problem = fileMapShapeProblem(e.map);
      if (problem) throw new LogError(`${e.path}: cannot log this FileMap: ${problem}`);
      entryStruct.encodeInto(b, { seqnum, type: EntryType.File });
      const ext = e.map.extents;
      const first = ext[0]!;
      if (first.type === 'simple') {
        fileMetaStruct.encodeInto(b, { size: e.size, flags: e.flags, uid: e.uid, gid: e.gid, mode: e.mode, relpath: relpathBytes(e.path), extType: EXT_SIMPLE, nextents: ext.length });
        ext.forEach((x, j) => {
          if (x.type !== 'simple') throw new LogError('mixed extents');
          simpleExtStruct.encodeInto(b, { devindex: BigInt(x.daxdev), offset: BigInt(x.offset), len: BigInt(x.length) }, SE_OFFSET + 24 * j);
        });
      } else {
        fileMetaStruct.encodeInto(b, {
          size: e.size, flags: e.flags, uid: e.uid, gid: e.gid, mode: e.mode, relpath: relpathBytes(e.path),
          extType: EXT_INTERLEAVE, nextents: 1, ieNstrips: BigInt(first.strips.length), ieChunkSize: BigInt(first.chunkSize),
        });
        first.strips.forEach((s, k) => simpleExtStruct.encodeInto(b, { devindex: BigInt(s.daxdev), offset: BigInt(s.offset), len: BigInt(s.length) }, IE_STRIPS_OFFSET + 24 * k));
      }
      break;
    }
    case 'mkdir':
      entryStruct.encodeInto(b, { seqnum, type: EntryType.Mkdir });
      mkdirStruct.encodeInto(b, { uid: e.uid, gid: e.gid, mode: e.mode, relpath: relpathBytes(e.path) });
      break;
    case 'add-daxdev':
      entryStruct.encodeInto(b, { seqnum, type: EntryType.AddDaxdev });
      addDaxdevStruct.encodeInto(b, { size: e.size, uuid: e.uuid, index: e.index });
      break;
  }
  entryStruct.encodeInto(b, { crc: entryCrc(b) });
  return b;
}

export const DEFAULT_FILE_FLAGS = FM_ALL_HOSTS_RW;
