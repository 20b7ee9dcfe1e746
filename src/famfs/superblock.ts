// The famfs superblock (reference famfs-format.md §2): a 200-byte struct at offset 0 of the
// primary daxdev. Pure codec: no I/O.
import { defineStruct, type StructValue } from '../cstruct.js';
import { crc32 } from './crc.js';
import { ALLOC_UNIT, CURRENT_VERSION, DEVNAME_LEN, LOG_OFFSET, OMF_VER_MAJOR, OMF_VER_MINOR, SUPER_MAGIC } from './constants.js';
import { InvalidError } from '../errno.js';

export const superblockStruct = defineStruct('famfs_superblock', 200, [
  { name: 'magic', offset: 0, type: 'u64' },
  { name: 'version', offset: 8, type: 'u64' },
  { name: 'logOffset', offset: 16, type: 'u64' },
  { name: 'logLen', offset: 24, type: 'u64' },
  { name: 'allocUnit', offset: 32, type: 'u64' },
  { name: 'omfMajor', offset: 40, type: 'u32' },
  { name: 'omfMinor', offset: 44, type: 'u32' },
  { name: 'uuid', offset: 48, type: { bytes: 16 } },
  { name: 'devUuid', offset: 64, type: { bytes: 16 } },
  { name: 'systemUuid', offset: 80, type: { bytes: 16 } },
  // CRC-32 in the low half of a u64 (§2.1).
  { name: 'crc', offset: 96, type: 'u64' },
  { name: 'sbFlags', offset: 104, type: 'u32' },
  // 108..111: padding
  { name: 'ddSize', offset: 112, type: 'u64' },
  { name: 'ddUuid', offset: 120, type: { bytes: 16 } },
  // strncpy'd, zero padded, not NUL-terminated at 64 bytes: raw bytes, decoded below.
  { name: 'ddDaxdev', offset: 136, type: { bytes: DEVNAME_LEN } },
] as const);

export type SuperblockFields = StructValue<typeof superblockStruct.fields>;

/** The CRC covers bytes 0..95 only (§2.1). */
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
  const f = superblockStruct.decode(bytes);
  const raw = f.ddDaxdev;
  const nul = raw.indexOf(0);
  const daxdevPath = Buffer.from(raw.subarray(0, nul < 0 ? raw.length : nul)).toString('utf8');
  const { ddDaxdev: _unused, ...rest } = f;
  void _unused;
  return { ...rest, daxdevPath };
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
 * last. Like famfs it never touches sb_flags, the padding or dd_uuid (§1, §2).
 */
export function writeSuperblock(region: Uint8Array, sb: NewSuperblock): void {
  const path = Buffer.from(sb.devPath, 'utf8');
  const dev = Buffer.alloc(DEVNAME_LEN);
  path.copy(dev, 0, 0, Math.min(path.length, DEVNAME_LEN));
  superblockStruct.encodeInto(region, {
    magic: SUPER_MAGIC,
    version: CURRENT_VERSION,
    logOffset: LOG_OFFSET,
    logLen: sb.logLen,
    allocUnit: ALLOC_UNIT,
    omfMajor: OMF_VER_MAJOR,
    omfMinor: OMF_VER_MINOR,
    uuid: sb.uuid,
    devUuid: sb.devUuid,
    systemUuid: sb.systemUuid,
    ddSize: sb.devSize,
    ddDaxdev: dev,
  });
  superblockStruct.encodeInto(region, { crc: superblockCrc(region) });
}

/** What famfs_check_super says (§2.2). */
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
