// famfs on-media constants (reference famfs-format.md §0). OMF 2.2, superblock version 48.

export const SUPER_MAGIC = 0x87b282ff;
export const CURRENT_VERSION = 48;
export const OMF_VER_MAJOR = 2;
export const OMF_VER_MINOR = 2;
/** The log starts here; the superblock region is this long (§1). */
export const LOG_OFFSET = 0x200000;
/** Default and minimum log length (§0, §5). */
export const LOG_LEN = 0x800000;
export const ALLOC_UNIT = 0x200000;
export const LOG_MAGIC = 0xbadcafef00d;
/** relpath field size, NUL included (§0). */
export const MAX_PATHLEN = 80;
export const MAX_SIMPLE_EXTENTS = 16;
export const MAX_STRIPS = 16;
export const MAX_NBUCKETS = 64;
export const DEVNAME_LEN = 64;
/** mkfs refuses smaller devices (§5). */
export const MIN_DEVICE_SIZE = 4 * 1024 ** 3;
/** famfs_validate_interleave_param: dev_size / nbuckets >= 1 GiB (§4.3). */
export const MIN_BUCKET_SIZE = 1024 ** 3;

/** Log entry types (§3.2). */
export const EntryType = { File: 0, Mkdir: 1, Delete: 2, AddDaxdev: 3, Invalid: 4 } as const;

/** fmap_ext_type (§3.3). */
export const EXT_SIMPLE = 0;
export const EXT_INTERLEAVE = 1;
/** fm_flags: always ALL_HOSTS_RW (§3.3). */
export const FM_ALL_HOSTS_RW = 2;
