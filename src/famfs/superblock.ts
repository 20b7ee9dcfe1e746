// The famfs superblock (reference famfs-format.md §2): a 200-byte struct at offset 0 of the
// primary daxdev. Pure codec: no I/O.
import type { StructValue } from '../cstruct.js';
import { famfs_superblock } from './famfs-meta.js';
import { crc32 } from './crc.js';
import { ALLOC_UNIT, CURRENT_VERSION, DEVNAME_LEN, LOG_OFFSET, OMF_VER_MAJOR, OMF_VER_MINOR, SUPER_MAGIC } from './constants.js';
import { InvalidError } from '../errno.js';

/** famfs_meta.h's struct famfs_superblock (declared in famfs-meta.ts). */
export const superblockStruct = famfs_superblock;

export type SuperblockFields = StructValue<typeof superblockStruct.fields>;

/** The CRC covers bytes 0..95 only (famfs-format.md §2.1). */
export const SB_CRC_LEN = 96;

export interface Superblock {
  readonly magic: number;
  readonly version: number;
  readonly logOffset: number;
  readonly logLen: number;
  readonly allocUnit: number;
  readonly omfMajor: number;
  readonly omfMinor: number;
  readonly uuid: Uint8Array;
  readonly devUuid: Uint8Array;
  readonly systemUuid: Uint8Array;
  readonly crc: number;
  readonly sbFlags: number;
  readonly ddSize: number;
  readonly ddUuid: Uint8Array;
  /** The primary device path as typed at mkfs. */
  readonly daxdevPath: string;
}

export class SuperblockError extends InvalidError {}

export function superblockCrc(bytes: Uint8Array): number {
  return crc32(bytes.subarray(0, SB_CRC_LEN));
}

export function decodeSuperblock(bytes: Uint8Array): Superblock {
  const f = famfs_superblock.decode(bytes);
  const raw = f.ts_daxdev.dd_daxdev;
  const nul = raw.indexOf(0);
  return {
    magic: f.ts_magic,
    version: f.ts_version,
    logOffset: f.ts_log_offset,
    logLen: f.ts_log_len,
    allocUnit: f.ts_alloc_unit,
    omfMajor: f.ts_omf_ver_major,
    omfMinor: f.ts_omf_ver_minor,
    uuid: f.ts_uuid,
    devUuid: f.ts_dev_uuid,
    systemUuid: f.ts_system_uuid,
    crc: f.ts_crc,
    sbFlags: f.ts_sb_flags,
    ddSize: f.ts_daxdev.dd_size,
    ddUuid: f.ts_daxdev.dd_uuid,
    daxdevPath: Buffer.from(raw.subarray(0, nul < 0 ? raw.length : nul)).toString('utf8'),
  };
}

export interface NewSuperblock {
  readonly logLen: number;
  readonly uuid: Uint8Array;
  readonly devUuid: Uint8Array;
  readonly systemUuid: Uint8Array;
  readonly devSize: number;
  readonly devPath: string;
}

/**
 * Write the fields famfs mkfs writes into `region` (the existing first 200 bytes), CRC
 * last. Like famfs it never touches sb_flags, the padding or dd_uuid (famfs-format.md §1, famfs-format.md §2).
 */
export function writeSuperblock(region: Uint8Array, sb: NewSuperblock): void {
  const path = Buffer.from(sb.devPath, 'utf8');
  const dev = Buffer.alloc(DEVNAME_LEN);
  path.copy(dev, 0, 0, Math.min(path.length, DEVNAME_LEN));
  famfs_superblock.encodeInto(region, {
    ts_magic: SUPER_MAGIC,
    ts_version: CURRENT_VERSION,
    ts_log_offset: LOG_OFFSET,
    ts_log_len: sb.logLen,
    ts_alloc_unit: ALLOC_UNIT,
    ts_omf_ver_major: OMF_VER_MAJOR,
    ts_omf_ver_minor: OMF_VER_MINOR,
    ts_uuid: sb.uuid,
    ts_dev_uuid: sb.devUuid,
    ts_system_uuid: sb.systemUuid,
    // dd_uuid is left as found, as famfs mkfs leaves it.
    ts_daxdev: { dd_size: sb.devSize, dd_daxdev: dev },
  });
  famfs_superblock.encodeInto(region, { ts_crc: superblockCrc(region) });
}

/** What famfs_check_super says (famfs-format.md §2.2). */
export type SuperCheck =
  | { readonly ok: true; readonly sb: Superblock }
  | { readonly ok: false; readonly kind: 'nosuper' | 'version' | 'crc' | 'alloc-unit' | 'range'; readonly message: string; readonly sb?: Superblock };

export function checkSuperblock(bytes: Uint8Array): SuperCheck {
  if (bytes.byteLength < superblockStruct.size) return { ok: false, kind: 'nosuper', message: `superblock: device is shorter than ${superblockStruct.size} bytes` };
  // Read the magic before anything that may throw on an out-of-range u64.
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getBigUint64(0, true) !== BigInt(SUPER_MAGIC)) return { ok: false, kind: 'nosuper', message: 'no famfs superblock (bad magic)' };
  let sb: Superblock;
  try {
    sb = decodeSuperblock(bytes);
  } catch (e) {
    return { ok: false, kind: 'range', message: `superblock: ${(e as Error).message}` };
  }
  if (sb.version !== CURRENT_VERSION) return { ok: false, kind: 'version', message: `superblock version ${sb.version}, expected ${CURRENT_VERSION} (SB may be valid, but is the wrong version)`, sb };
  const calc = superblockCrc(bytes);
  if (sb.crc !== calc) return { ok: false, kind: 'crc', message: `crc mismatch in superblock (stored 0x${sb.crc.toString(16)}, calculated 0x${calc.toString(16)})`, sb };
  if (sb.allocUnit !== 4096 && sb.allocUnit !== ALLOC_UNIT) return { ok: false, kind: 'alloc-unit', message: `superblock: invalid alloc_unit 0x${sb.allocUnit.toString(16)}`, sb };
  return { ok: true, sb };
}
