// famfs's on-media structs, declared as famfs_meta.h declares them (famfs-format.md §2, §3):
// the same struct and field names, so the code can be read against the header line by line.
// Little-endian, LP64 (unsigned long and size_t are 8 bytes). A C union is declared once per
// member, each as its own table over the same bytes. The codecs (superblock.ts, log.ts) map
// these to the project's camelCase values at their boundary.
import { defineStruct } from '../cstruct.js';
import { DEVNAME_LEN, MAX_PATHLEN, MAX_SIMPLE_EXTENTS } from './constants.js';

/** struct famfs_daxdev: the primary device, inside the superblock (famfs-format.md §2). */
export const famfs_daxdev = defineStruct('famfs_daxdev', 88, [
  { name: 'dd_size', offset: 0, type: 'u64' },
  { name: 'dd_uuid', offset: 8, type: { bytes: 16 } },
  // strncpy'd and zero padded; not NUL-terminated when the path is 64 bytes or longer.
  { name: 'dd_daxdev', offset: 24, type: { bytes: DEVNAME_LEN } },
] as const);

/** struct famfs_superblock, at offset 0 of the primary device (famfs-format.md §2). */
export const famfs_superblock = defineStruct('famfs_superblock', 200, [
  { name: 'ts_magic', offset: 0, type: 'u64' },
  { name: 'ts_version', offset: 8, type: 'u64' },
  { name: 'ts_log_offset', offset: 16, type: 'u64' },
  { name: 'ts_log_len', offset: 24, type: 'u64' },
  { name: 'ts_alloc_unit', offset: 32, type: 'u64' },
  { name: 'ts_omf_ver_major', offset: 40, type: 'u32' },
  { name: 'ts_omf_ver_minor', offset: 44, type: 'u32' },
  { name: 'ts_uuid', offset: 48, type: { bytes: 16 } },
  { name: 'ts_dev_uuid', offset: 64, type: { bytes: 16 } },
  { name: 'ts_system_uuid', offset: 80, type: { bytes: 16 } },
  // CRC-32 of bytes 0..95 in the low half of the u64 (famfs-format.md §2.1).
  { name: 'ts_crc', offset: 96, type: 'u64' },
  { name: 'ts_sb_flags', offset: 104, type: 'u32' },
  // 108..111: padding
  { name: 'ts_daxdev', offset: 112, type: { struct: famfs_daxdev } },
] as const);

/** struct famfs_log: the log header at device offset 2 MiB (famfs-format.md §3.1); entries follow. */
export const famfs_log = defineStruct('famfs_log', 48, [
  { name: 'famfs_log_magic', offset: 0, type: 'u64' },
  { name: 'famfs_log_len', offset: 8, type: 'u64' },
  { name: 'famfs_log_last_index', offset: 16, type: 'u64' },
  // CRC-32 of bytes 0..23 only (famfs-format.md §3.1).
  { name: 'famfs_log_crc', offset: 24, type: 'u64' },
  { name: 'famfs_log_next_seqnum', offset: 32, type: 'u64' },
  { name: 'famfs_log_next_index', offset: 40, type: 'u64' },
] as const);

/** struct famfs_simple_extent (famfs-format.md §3.3). u64s stay BigInt: a corrupt entry may hold anything. */
export const famfs_simple_extent = defineStruct('famfs_simple_extent', 24, [
  { name: 'se_devindex', offset: 0, type: 'u64big' },
  { name: 'se_offset', offset: 8, type: 'u64big' },
  { name: 'se_len', offset: 16, type: 'u64big' },
] as const);

/** struct famfs_interleaved_ext (famfs-format.md §3.3): the strips share one chunk size. */
export const famfs_interleaved_ext = defineStruct('famfs_interleaved_ext', 400, [
  { name: 'ie_nstrips', offset: 0, type: 'u64big' },
  { name: 'ie_chunk_size', offset: 8, type: 'u64big' },
  { name: 'ie_strips', offset: 16, type: { array: { struct: famfs_simple_extent }, count: MAX_SIMPLE_EXTENTS } },
] as const);

/** struct famfs_log_fmap, union member for FAMFS_EXT_SIMPLE (famfs-format.md §3.3). */
export const famfs_log_fmap_simple = defineStruct('famfs_log_fmap', 416, [
  { name: 'fmap_ext_type', offset: 0, type: 'u32' },
  { name: 'fmap_nextents', offset: 8, type: 'u32' },
  { name: 'se', offset: 16, type: { array: { struct: famfs_simple_extent }, count: MAX_SIMPLE_EXTENTS } },
] as const);

/** struct famfs_log_fmap, union member for FAMFS_EXT_INTERLEAVE (famfs-format.md §3.3); famfs writes one ie. */
export const famfs_log_fmap_interleave = defineStruct('famfs_log_fmap', 416, [
  { name: 'fmap_ext_type', offset: 0, type: 'u32' },
  { name: 'fmap_niext', offset: 8, type: 'u32' },
  { name: 'ie', offset: 16, type: { array: { struct: famfs_interleaved_ext }, count: 1 } },
] as const);

const fileMetaFields = [
  { name: 'fm_size', offset: 0, type: 'u64' },
  { name: 'fm_flags', offset: 8, type: 'u32' },
  { name: 'fm_uid', offset: 12, type: 'u32' },
  { name: 'fm_gid', offset: 16, type: 'u32' },
  { name: 'fm_mode', offset: 20, type: 'u32' },
  { name: 'fm_relpath', offset: 24, type: { bytes: MAX_PATHLEN } },
] as const;

/** struct famfs_log_file_meta with a simple fmap (famfs-format.md §3.3). */
export const famfs_log_file_meta_simple = defineStruct('famfs_log_file_meta', 520, [
  ...fileMetaFields,
  { name: 'fm_fmap', offset: 104, type: { struct: famfs_log_fmap_simple } },
] as const);

/** struct famfs_log_file_meta with an interleaved fmap (famfs-format.md §3.3). */
export const famfs_log_file_meta_interleave = defineStruct('famfs_log_file_meta', 520, [
  ...fileMetaFields,
  { name: 'fm_fmap', offset: 104, type: { struct: famfs_log_fmap_interleave } },
] as const);

/** struct famfs_log_mkdir (famfs-format.md §3.4). */
export const famfs_log_mkdir = defineStruct('famfs_log_mkdir', 92, [
  { name: 'md_uid', offset: 0, type: 'u32' },
  { name: 'md_gid', offset: 4, type: 'u32' },
  { name: 'md_mode', offset: 8, type: 'u32' },
  { name: 'md_relpath', offset: 12, type: { bytes: MAX_PATHLEN } },
] as const);

/** struct famfs_log_add_daxdev (famfs-format.md §3.5). */
export const famfs_log_add_daxdev = defineStruct('famfs_log_add_daxdev', 32, [
  { name: 'dd_size', offset: 0, type: 'u64' },
  { name: 'dd_uuid', offset: 8, type: { bytes: 16 } },
  { name: 'dd_index', offset: 24, type: 'u32' },
] as const);

const entryHead = [
  { name: 'famfs_log_entry_seqnum', offset: 0, type: 'u64' },
  { name: 'famfs_log_entry_type', offset: 8, type: 'u32' },
] as const;
// The entry CRC covers bytes 0..535, padding and unused union bytes included (famfs-format.md §3.2).
const entryCrc = { name: 'famfs_log_entry_crc', offset: 536, type: 'u64' } as const;

/** struct famfs_log_entry without its union: what every entry type shares (famfs-format.md §3.2). */
export const famfs_log_entry = defineStruct('famfs_log_entry', 544, [...entryHead, entryCrc] as const);

/** struct famfs_log_entry, union member famfs_fm (FAMFS_LOG_FILE), simple extents. */
export const famfs_log_entry_file_simple = defineStruct('famfs_log_entry', 544, [
  ...entryHead, { name: 'famfs_fm', offset: 16, type: { struct: famfs_log_file_meta_simple } }, entryCrc,
] as const);

/** struct famfs_log_entry, union member famfs_fm (FAMFS_LOG_FILE), one interleaved extent. */
export const famfs_log_entry_file_interleave = defineStruct('famfs_log_entry', 544, [
  ...entryHead, { name: 'famfs_fm', offset: 16, type: { struct: famfs_log_file_meta_interleave } }, entryCrc,
] as const);

/** struct famfs_log_entry, union member famfs_md (FAMFS_LOG_MKDIR). */
export const famfs_log_entry_mkdir = defineStruct('famfs_log_entry', 544, [
  ...entryHead, { name: 'famfs_md', offset: 16, type: { struct: famfs_log_mkdir } }, entryCrc,
] as const);

/** struct famfs_log_entry, union member famfs_dd (FAMFS_LOG_ADD_DAXDEV). */
export const famfs_log_entry_add_daxdev = defineStruct('famfs_log_entry', 544, [
  ...entryHead, { name: 'famfs_dd', offset: 16, type: { struct: famfs_log_add_daxdev } }, entryCrc,
] as const);
