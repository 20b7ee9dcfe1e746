// famfs-ts extension (docs/design.md "Several devices"): a tag at offset 0 of every secondary
// daxdev holding the uuid of its ADD_DAXDEV entry, so a host can prove that its layout maps
// index k to the right device. The first 2 MiB of a secondary daxdev are reserved for it.
import { defineStruct } from '../cstruct.js';
import { crc32 } from './crc.js';

export const TAG_MAGIC = 0x67617473746d6166n; // "famfstag" little-endian
export const tagStruct = defineStruct('famfs_ts_daxdev_tag', 64, [
  { name: 'magic', offset: 0, type: 'u64big' },
  { name: 'fsUuid', offset: 8, type: { bytes: 16 } },
  { name: 'devUuid', offset: 24, type: { bytes: 16 } },
  { name: 'index', offset: 40, type: 'u32' },
  { name: 'size', offset: 48, type: 'u64' },
  // CRC-32 of bytes 0..55.
  { name: 'crc', offset: 56, type: 'u64' },
] as const);

export interface DaxdevTag {
  readonly fsUuid: Uint8Array;
  readonly devUuid: Uint8Array;
  readonly index: number;
  readonly size: number;
}

export function encodeTag(t: DaxdevTag): Buffer {
  const b = tagStruct.encode({ magic: TAG_MAGIC, fsUuid: t.fsUuid, devUuid: t.devUuid, index: t.index, size: t.size });
  tagStruct.encodeInto(b, { crc: crc32(b.subarray(0, 56)) });
  return b;
}

/** The tag, or a message saying why there is none. */
export function decodeTag(bytes: Uint8Array): DaxdevTag | string {
  if (bytes.byteLength < 64) return 'device too small for a tag';
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 64);
  if (dv.getBigUint64(0, true) !== TAG_MAGIC) return 'no famfs-ts daxdev tag';
  if (dv.getBigUint64(56, true) !== BigInt(crc32(bytes.subarray(0, 56)))) return 'daxdev tag crc mismatch';
  try {
    const t = tagStruct.decode(bytes);
    return { fsUuid: t.fsUuid, devUuid: t.devUuid, index: t.index, size: t.size };
  } catch (e) {
    return (e as Error).message;
  }
}
