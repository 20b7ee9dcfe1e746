// famfs on-media constants (reference famfs-format.md §0). OMF 2.2, superblock version 48.

// The limits (allocation unit, strips, buckets, path length) live with the interleave validator.
export { ALLOC_UNIT, MAX_NBUCKETS, MAX_PATHLEN, MAX_SIMPLE_EXTENTS, MAX_STRIPS, MIN_BUCKET_SIZE } from '../interleave/famfs-limits.js';

export const SUPER_MAGIC = 0x87b282ff;
export const CURRENT_VERSION = 48;
export const OMF_VER_MAJOR = 2;
export const OMF_VER_MINOR = 2;
/** The log starts here; the superblock region is this long (famfs-format.md §1). */
export const LOG_OFFSET = 0x200000;
/** Default and minimum log length (famfs-format.md §0, famfs-format.md §5). */
export const LOG_LEN = 0x800000;
export const LOG_MAGIC = 0xbadcafef00d;
export const DEVNAME_LEN = 64;
/** mkfs refuses smaller devices (famfs-format.md §5). */
export const MIN_DEVICE_SIZE = 4 * 1024 ** 3;

/** Log entry types (famfs-format.md §3.2). */
export const EntryType = { File: 0, Mkdir: 1, Delete: 2, AddDaxdev: 3, Invalid: 4 } as const;

/** fmap_ext_type (famfs-format.md §3.3). */
export const EXT_SIMPLE = 0;
export const EXT_INTERLEAVE = 1;
/** fm_flags: always ALL_HOSTS_RW (famfs-format.md §3.3). */
export const FM_ALL_HOSTS_RW = 2;
