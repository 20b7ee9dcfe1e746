// The famfs metadata log (reference famfs-format.md §3): a 48-byte header at device offset
// 2 MiB followed by 544-byte entries. Pure codecs: no I/O. A FILE entry's fmap converts to
// and from the project's FileMap model (daxdev = se_devindex).
import { simple, type FileMap, type Strip } from '../interleave/filemap.js';
import { chunkSizeProblem, stripCountProblem } from '../interleave/interleave-params.js';
import { crc32 } from './crc.js';
import { readU64, writeU64, zeroed } from '../cstruct.js';
import { EntryType, EXT_INTERLEAVE, EXT_SIMPLE, FM_ALL_HOSTS_RW, LOG_MAGIC, MAX_PATHLEN, MAX_SIMPLE_EXTENTS } from './constants.js';
import { InvalidError } from '../errno.js';
import {
  famfs_log, famfs_log_entry, famfs_log_entry_add_daxdev, famfs_log_entry_file_interleave, famfs_log_entry_file_simple,
  famfs_log_entry_mkdir, famfs_log_file_meta_simple, famfs_log_fmap_simple, famfs_simple_extent,
} from './famfs-meta.js';

// The C structs (famfs_meta.h's names) are declared in famfs-meta.ts; these are the names
// the rest of the project and the tests know them by.
export const logHeaderStruct = famfs_log;
export const entryStruct = famfs_log_entry;
export const fileMetaStruct = famfs_log_entry_file_simple;
export const mkdirStruct = famfs_log_entry_mkdir;
export const addDaxdevStruct = famfs_log_entry_add_daxdev;
export const simpleExtStruct = famfs_simple_extent;

export const LOG_HEADER_SIZE = famfs_log.size;
export const LOG_HEADER_CRC_LEN = famfs_log.offsetOf('famfs_log_crc');
export const ENTRY_SIZE = famfs_log_entry.size;
/** The entry CRC covers bytes 0..535 (famfs-format.md §3.2). */
export const ENTRY_CRC_LEN = famfs_log_entry.offsetOf('famfs_log_entry_crc');

export class LogError extends InvalidError {}

export interface LogHeader {
  readonly magic: number;
  readonly len: number;
  readonly lastIndex: number;
  readonly crc: number;
  readonly nextSeqnum: number;
  readonly nextIndex: number;
}

/** Slots in a log of `logLen` bytes (famfs-format.md §3.1). */
export function logSlots(logLen: number): number {
  return Math.floor((logLen - LOG_HEADER_SIZE) / ENTRY_SIZE);
}

export function entryOffset(index: number): number {
  return LOG_HEADER_SIZE + index * ENTRY_SIZE;
}

export function encodeLogHeader(logLen: number): Buffer {
  const b = famfs_log.encode({
    famfs_log_magic: LOG_MAGIC, famfs_log_len: logLen, famfs_log_last_index: logSlots(logLen) - 1, famfs_log_next_seqnum: 0, famfs_log_next_index: 0,
  });
  famfs_log.encodeInto(b, { famfs_log_crc: crc32(b.subarray(0, LOG_HEADER_CRC_LEN)) });
  return b;
}

/**
 * famfs_validate_log_header checks magic and CRC only (famfs-format.md §3.1); we also check the counters
 * against the region so nothing later reads outside it.
 */
export function decodeLogHeader(bytes: Uint8Array, regionLen: number): LogHeader {
  if (bytes.byteLength < LOG_HEADER_SIZE) throw new LogError(`log header: need ${LOG_HEADER_SIZE} bytes, have ${bytes.byteLength}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The magic, length, last index and their CRC never change after mkfs, while the counters
  // after them move at every append (the master reads its header twice per create): bytes
  // 0..31 equal to the last ones found good need no second magic and CRC check.
  if (!sameCheckedPrefix(bytes)) {
    if (dv.getBigUint64(0, true) !== BigInt(LOG_MAGIC)) throw new LogError(`log header: bad magic 0x${dv.getBigUint64(0, true).toString(16)} (expected 0x${LOG_MAGIC.toString(16)})`);
    const storedCrc = dv.getBigUint64(24, true);
    const calc = crc32(bytes.subarray(0, LOG_HEADER_CRC_LEN));
    if (storedCrc !== BigInt(calc)) throw new LogError(`log header: crc mismatch (stored 0x${storedCrc.toString(16)}, calculated 0x${calc.toString(16)})`);
    checkedPrefix.set(bytes.subarray(0, CHECKED_PREFIX));
    prefixChecked = true;
  }
  // The fields at their famfs_log offsets, without the generic decoder's object and BigInts.
  const field = (at: number, name: string): number => {
    const v = readU64(dv, at);
    if (v === undefined) throw new LogError(`log header: famfs_log.${name} = ${dv.getBigUint64(at, true)} is past 2^53, which famfs-ts cannot address exactly`);
    return v;
  };
  const h: LogHeader = {
    magic: LOG_MAGIC, len: field(LH_LEN, 'famfs_log_len'), lastIndex: field(LH_LAST, 'famfs_log_last_index'), crc: field(LH_CRC, 'famfs_log_crc'),
    nextSeqnum: field(LH_SEQ, 'famfs_log_next_seqnum'), nextIndex: field(LH_NEXT, 'famfs_log_next_index'),
  };
  if (h.len !== regionLen) throw new LogError(`log header: log length ${h.len} differs from the superblock's ${regionLen}`);
  if (h.lastIndex !== logSlots(h.len) - 1) throw new LogError(`log header: last_index ${h.lastIndex} does not fit a ${h.len}-byte log (expected ${logSlots(h.len) - 1})`);
  if (h.nextIndex > h.lastIndex + 1) throw new LogError(`log header: next_index ${h.nextIndex} is past the last slot ${h.lastIndex}`);
  return h;
}

const LH_LEN = famfs_log.offsetOf('famfs_log_len');
const LH_LAST = famfs_log.offsetOf('famfs_log_last_index');
const LH_CRC = famfs_log.offsetOf('famfs_log_crc');
const LH_SEQ = famfs_log.offsetOf('famfs_log_next_seqnum');
const LH_NEXT = famfs_log.offsetOf('famfs_log_next_index');
/** Magic, len, last_index and the CRC over them (famfs-format.md §3.1): the part checked. */
const CHECKED_PREFIX = LOG_HEADER_CRC_LEN + 8;
const checkedPrefix = new Uint8Array(CHECKED_PREFIX);
let prefixChecked = false;
function sameCheckedPrefix(bytes: Uint8Array): boolean {
  if (!prefixChecked) return false;
  for (let i = 0; i < CHECKED_PREFIX; i++) if (bytes[i] !== checkedPrefix[i]) return false;
  return true;
}

/** Update next_seqnum/next_index in place (not CRC-protected, famfs-format.md §3.6). */
export function setLogCounters(header: Uint8Array, nextSeqnum: number, nextIndex: number): void {
  famfs_log.encodeInto(header, { famfs_log_next_seqnum: nextSeqnum, famfs_log_next_index: nextIndex });
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

/** DELETE, INVALID and types famfs does not know: famfs skips them (famfs-format.md §3.6). */
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

/** famfs_validate_log_entry: seqnum == index and the CRC matches (famfs-format.md §3.6). */
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

// A FILE entry with simple extents is what every create through a mount logs and replays:
// it is read and written at the offsets of its tables (famfs-meta.ts) without the generic
// codec's per-field objects and BigInts. Anything unusual (a u64 past 2^53, a count past the
// array, a value that does not fit) goes the generic way, which says what is wrong.
const SEQ_AT = famfs_log_entry.offsetOf('famfs_log_entry_seqnum');
const TYPE_AT = famfs_log_entry.offsetOf('famfs_log_entry_type');
const CRC_AT = famfs_log_entry.offsetOf('famfs_log_entry_crc');
const FM_AT = famfs_log_entry_file_simple.offsetOf('famfs_fm');
const FM_SIZE_AT = FM_AT + famfs_log_file_meta_simple.offsetOf('fm_size');
const FM_FLAGS_AT = FM_AT + famfs_log_file_meta_simple.offsetOf('fm_flags');
const FM_UID_AT = FM_AT + famfs_log_file_meta_simple.offsetOf('fm_uid');
const FM_GID_AT = FM_AT + famfs_log_file_meta_simple.offsetOf('fm_gid');
const FM_MODE_AT = FM_AT + famfs_log_file_meta_simple.offsetOf('fm_mode');
const FM_RELPATH_AT = FM_AT + famfs_log_file_meta_simple.offsetOf('fm_relpath');
const FMAP_AT = FM_AT + famfs_log_file_meta_simple.offsetOf('fm_fmap');
const FMAP_TYPE_AT = FMAP_AT + famfs_log_fmap_simple.offsetOf('fmap_ext_type');
const FMAP_N_AT = FMAP_AT + famfs_log_fmap_simple.offsetOf('fmap_nextents');
const SE_AT = FMAP_AT + famfs_log_fmap_simple.offsetOf('se');
const SE_DEV = famfs_simple_extent.offsetOf('se_devindex');
const SE_OFF = famfs_simple_extent.offsetOf('se_offset');
const SE_LEN = famfs_simple_extent.offsetOf('se_len');
const U32_MAX = 0xffffffff;

const isU64 = (v: number): boolean => Number.isSafeInteger(v) && v >= 0;
const isU32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= U32_MAX;

/** decodeEntry of a FILE entry with simple extents; undefined: leave it to the generic decoder. */
function decodeSimpleFile(entry: Uint8Array, dv: DataView, where: string): FileEntry | undefined {
  const seqnum = readU64(dv, SEQ_AT);
  const size = readU64(dv, FM_SIZE_AT);
  const n = dv.getUint32(FMAP_N_AT, true);
  if (seqnum === undefined || size === undefined || n > MAX_SIMPLE_EXTENTS) return undefined;
  const extents = [];
  for (let j = 0; j < n; j++) {
    const at = SE_AT + j * famfs_simple_extent.size;
    const daxdev = readU64(dv, at + SE_DEV);
    const offset = readU64(dv, at + SE_OFF);
    const length = readU64(dv, at + SE_LEN);
    if (daxdev === undefined || offset === undefined || length === undefined) return undefined;
    extents.push(simple(daxdev, offset, length));
  }
  const path = cstr(entry.subarray(FM_RELPATH_AT, FM_RELPATH_AT + MAX_PATHLEN), where);
  return {
    type: 'file', seqnum, path, size, flags: dv.getUint32(FM_FLAGS_AT, true), uid: dv.getUint32(FM_UID_AT, true),
    gid: dv.getUint32(FM_GID_AT, true), mode: dv.getUint32(FM_MODE_AT, true), map: { size, extents },
  };
}

/** encodeEntry of a FILE entry with simple extents into zeroed `b`; false: leave it to the generic encoder. */
function encodeSimpleFile(b: Buffer, e: Omit<FileEntry, 'seqnum'>, seqnum: number): boolean {
  const ext = e.map.extents;
  if (!isU64(seqnum) || !isU64(e.size) || ![e.flags, e.uid, e.gid, e.mode].every(isU32)) return false;
  for (const x of ext) if (x.type !== 'simple' || !isU64(x.daxdev) || !isU64(x.offset) || !isU64(x.length)) return false;
  const plen = Buffer.byteLength(e.path, 'utf8');
  // relpathBytes' checks, in its order, without its two copies.
  if (plen > MAX_PATHLEN - 1) throw new LogError(`path "${e.path}" is ${plen} bytes; famfs allows at most ${MAX_PATHLEN - 1}`);
  if (plen === 0) throw new LogError('empty path');
  if (e.path.includes('\0')) throw new LogError(`path "${e.path}" holds a NUL byte`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  writeU64(dv, SEQ_AT, seqnum);
  dv.setUint32(TYPE_AT, EntryType.File, true);
  writeU64(dv, FM_SIZE_AT, e.size);
  dv.setUint32(FM_FLAGS_AT, e.flags, true);
  dv.setUint32(FM_UID_AT, e.uid, true);
  dv.setUint32(FM_GID_AT, e.gid, true);
  dv.setUint32(FM_MODE_AT, e.mode, true);
  b.write(e.path, FM_RELPATH_AT, plen, 'utf8');
  dv.setUint32(FMAP_TYPE_AT, EXT_SIMPLE, true);
  dv.setUint32(FMAP_N_AT, ext.length, true);
  ext.forEach((x, j) => {
    if (x.type !== 'simple') return;
    const at = SE_AT + j * famfs_simple_extent.size;
    writeU64(dv, at + SE_DEV, x.daxdev);
    writeU64(dv, at + SE_OFF, x.offset);
    writeU64(dv, at + SE_LEN, x.length);
  });
  return true;
}

/**
 * Decode an entry whose CRC was already checked. Throws LogError (naming the index) for
 * contents no famfs writer produces: counts past the arrays, sizes past 2^53.
 */
export function decodeEntry(entry: Uint8Array, index: number): LogEntry {
  const where = `log entry ${index}`;
  if (entry.byteLength >= ENTRY_SIZE) {
    const dv = new DataView(entry.buffer, entry.byteOffset, ENTRY_SIZE);
    if (dv.getUint32(TYPE_AT, true) === EntryType.File && dv.getUint32(FMAP_TYPE_AT, true) === EXT_SIMPLE) {
      const f = decodeSimpleFile(entry, dv, where);
      if (f) return f;
    }
  }
  const e = famfs_log_entry.decode(entry);
  const seqnum = e.famfs_log_entry_seqnum;
  const extent = (se: { se_devindex: bigint; se_offset: bigint; se_len: bigint }, what: string): Strip => ({
    daxdev: u64(se.se_devindex, `${where} ${what}.se_devindex`), offset: u64(se.se_offset, `${where} ${what}.se_offset`), length: u64(se.se_len, `${where} ${what}.se_len`),
  });
  switch (e.famfs_log_entry_type) {
    case EntryType.File: {
      const f = famfs_log_entry_file_simple.decode(entry).famfs_fm;
      const path = cstr(f.fm_relpath, where);
      const size = u64(BigInt(f.fm_size), `${where} size`);
      const fmap = f.fm_fmap;
      let map: FileMap;
      if (fmap.fmap_ext_type === EXT_SIMPLE) {
        if (fmap.fmap_nextents > MAX_SIMPLE_EXTENTS) throw new LogError(`${where}: ${fmap.fmap_nextents} simple extents (at most ${MAX_SIMPLE_EXTENTS})`);
        const extents = fmap.se.slice(0, fmap.fmap_nextents).map((se, j) => {
          const x = extent(se, `se[${j}]`);
          return simple(x.daxdev, x.offset, x.length);
        });
        map = { size, extents };
      } else if (fmap.fmap_ext_type === EXT_INTERLEAVE) {
        // Same bytes, the union's other member: fmap_niext and ie[] (famfs-format.md §3.3).
        const ifmap = famfs_log_entry_file_interleave.decode(entry).famfs_fm.fm_fmap;
        if (ifmap.fmap_niext !== 1) throw new LogError(`${where}: ${ifmap.fmap_niext} interleaved extents (famfs writes exactly 1)`);
        const ie = ifmap.ie[0]!;
        const nstrips = u64(ie.ie_nstrips, `${where} ie_nstrips`);
        const badStrips = stripCountProblem(nstrips);
        if (badStrips) throw new LogError(`${where}: ie_${badStrips}`);
        const chunkSize = u64(ie.ie_chunk_size, `${where} ie_chunk_size`);
        if (chunkSize === 0) throw new LogError(`${where}: ie_chunk_size is 0`);
        const strips = ie.ie_strips.slice(0, nstrips).map((se, k) => extent(se, `ie_strips[${k}]`));
        // famfs has no nbytes on media; the GET_FMAP reply sends the file size (famfs-format.md §7.2).
        map = { size, extents: [{ type: 'interleave', chunkSize, nbytes: size, strips }] };
      } else {
        throw new LogError(`${where}: bad fmap_ext_type ${fmap.fmap_ext_type}`);
      }
      return { type: 'file', seqnum, path, size, flags: f.fm_flags, uid: f.fm_uid, gid: f.fm_gid, mode: f.fm_mode, map };
    }
    case EntryType.Mkdir: {
      const m = famfs_log_entry_mkdir.decode(entry).famfs_md;
      return { type: 'mkdir', seqnum, path: cstr(m.md_relpath, where), uid: m.md_uid, gid: m.md_gid, mode: m.md_mode };
    }
    case EntryType.AddDaxdev: {
      let a;
      try {
        a = famfs_log_entry_add_daxdev.decode(entry).famfs_dd;
      } catch (err) {
        throw new LogError(`${where}: ${(err as Error).message}`, { cause: err });
      }
      return { type: 'add-daxdev', seqnum, index: a.dd_index, size: a.dd_size, uuid: Uint8Array.from(a.dd_uuid) };
    }
    default:
      return { type: 'other', seqnum, rawType: e.famfs_log_entry_type };
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

/** Problems that keep a FileMap out of a famfs log entry (docs/design.md: FileMap shapes in images). */
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
  const bad = stripCountProblem(ie.strips.length) ?? chunkSizeProblem(ie.chunkSize);
  if (bad) return bad;
  const len = ie.strips[0]!.length;
  if (ie.strips.some((s) => s.length !== len)) return 'strips of different lengths';
  return undefined;
}

/** Build the 544 bytes of an entry (every byte not named is zero, so CRCs match famfs). */
export function encodeEntry(e: NewEntry, seqnum: number): Buffer {
  const b = zeroed(ENTRY_SIZE);
  const se = (x: { daxdev: number; offset: number; length: number }) => ({ se_devindex: BigInt(x.daxdev), se_offset: BigInt(x.offset), se_len: BigInt(x.length) });
  switch (e.type) {
    case 'file': {
      const problem = fileMapShapeProblem(e.map);
      if (problem) throw new LogError(`${e.path}: cannot log this FileMap: ${problem}`);
      if (e.map.extents[0]!.type === 'simple' && encodeSimpleFile(b, e, seqnum)) break;
      const head = { famfs_log_entry_seqnum: seqnum, famfs_log_entry_type: EntryType.File };
      const meta = { fm_size: e.size, fm_flags: e.flags, fm_uid: e.uid, fm_gid: e.gid, fm_mode: e.mode, fm_relpath: relpathBytes(e.path) };
      const ext = e.map.extents;
      const first = ext[0]!;
      if (first.type === 'simple') {
        const extents = ext.map((x) => {
          if (x.type !== 'simple') throw new LogError('mixed extents');
          return se(x);
        });
        famfs_log_entry_file_simple.encodeInto(b, { ...head, famfs_fm: { ...meta, fm_fmap: { fmap_ext_type: EXT_SIMPLE, fmap_nextents: ext.length, se: extents } } });
      } else {
        const ie = { ie_nstrips: BigInt(first.strips.length), ie_chunk_size: BigInt(first.chunkSize), ie_strips: first.strips.map(se) };
        famfs_log_entry_file_interleave.encodeInto(b, { ...head, famfs_fm: { ...meta, fm_fmap: { fmap_ext_type: EXT_INTERLEAVE, fmap_niext: 1, ie: [ie] } } });
      }
      break;
    }
    case 'mkdir':
      famfs_log_entry_mkdir.encodeInto(b, {
        famfs_log_entry_seqnum: seqnum, famfs_log_entry_type: EntryType.Mkdir,
        famfs_md: { md_uid: e.uid, md_gid: e.gid, md_mode: e.mode, md_relpath: relpathBytes(e.path) },
      });
      break;
    case 'add-daxdev':
      famfs_log_entry_add_daxdev.encodeInto(b, {
        famfs_log_entry_seqnum: seqnum, famfs_log_entry_type: EntryType.AddDaxdev,
        famfs_dd: { dd_size: e.size, dd_uuid: e.uuid, dd_index: e.index },
      });
      break;
  }
  writeU64(new DataView(b.buffer, b.byteOffset, b.byteLength), CRC_AT, entryCrc(b));
  return b;
}

export const DEFAULT_FILE_FLAGS = FM_ALL_HOSTS_RW;
