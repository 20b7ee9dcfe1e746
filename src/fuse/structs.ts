// Every FUSE wire struct, declared once as a field table (fuse-iomap-abi.md §2; the
// mainline header include/uapi/linux/fuse.h, protocol 7.45). All fields are host-endian,
// which is little-endian on the machines famfs runs on. Sizes are pinned in
// test/core/fuse-structs.test.ts. u64 ids (nodeid, fh, unique, flags) stay BigInt ('u64big');
// offsets and lengths decode to numbers and are rejected past 2^53.
import { defineStruct } from '../cstruct.js';

export const InHeader = defineStruct('fuse_in_header', 40, [
  { name: 'len', offset: 0, type: 'u32' },
  { name: 'opcode', offset: 4, type: 'u32' },
  { name: 'unique', offset: 8, type: 'u64big' },
  { name: 'nodeid', offset: 16, type: 'u64big' },
  { name: 'uid', offset: 24, type: 'u32' },
  { name: 'gid', offset: 28, type: 'u32' },
  { name: 'pid', offset: 32, type: 'u32' },
  { name: 'total_extlen', offset: 36, type: 'u16' },
  { name: 'padding', offset: 38, type: 'u16' },
] as const);

export const OutHeader = defineStruct('fuse_out_header', 16, [
  { name: 'len', offset: 0, type: 'u32' },
  { name: 'error', offset: 4, type: 's32' },
  { name: 'unique', offset: 8, type: 'u64big' },
] as const);

export const InitIn = defineStruct('fuse_init_in', 64, [
  { name: 'major', offset: 0, type: 'u32' },
  { name: 'minor', offset: 4, type: 'u32' },
  { name: 'max_readahead', offset: 8, type: 'u32' },
  { name: 'flags', offset: 12, type: 'u32' },
  { name: 'flags2', offset: 16, type: 'u32' },
  { name: 'unused', offset: 20, type: { bytes: 44 } },
] as const);
/** Kernels before 7.36 send only major, minor, max_readahead, flags. */
export const INIT_IN_COMPAT_SIZE = 16;

export const InitOut = defineStruct('fuse_init_out', 64, [
  { name: 'major', offset: 0, type: 'u32' },
  { name: 'minor', offset: 4, type: 'u32' },
  { name: 'max_readahead', offset: 8, type: 'u32' },
  { name: 'flags', offset: 12, type: 'u32' },
  { name: 'max_background', offset: 16, type: 'u16' },
  { name: 'congestion_threshold', offset: 18, type: 'u16' },
  { name: 'max_write', offset: 20, type: 'u32' },
  { name: 'time_gran', offset: 24, type: 'u32' },
  { name: 'max_pages', offset: 28, type: 'u16' },
  { name: 'map_alignment', offset: 30, type: 'u16' },
  { name: 'flags2', offset: 32, type: 'u32' },
  { name: 'max_stack_depth', offset: 36, type: 'u32' },
  { name: 'request_timeout', offset: 40, type: 'u16' },
  { name: 'unused', offset: 42, type: { bytes: 22 } },
] as const);
/** Reply sizes the kernel expects from older minors (fuse-iomap-abi.md §2: < 5 → 8, < 23 → 24). */
export const INIT_OUT_COMPAT_SIZE = 8;
export const INIT_OUT_COMPAT_22_SIZE = 24;

export const Attr = defineStruct('fuse_attr', 88, [
  { name: 'ino', offset: 0, type: 'u64big' },
  { name: 'size', offset: 8, type: 'u64' },
  { name: 'blocks', offset: 16, type: 'u64' },
  { name: 'atime', offset: 24, type: 's64' },
  { name: 'mtime', offset: 32, type: 's64' },
  { name: 'ctime', offset: 40, type: 's64' },
  { name: 'atimensec', offset: 48, type: 'u32' },
  { name: 'mtimensec', offset: 52, type: 'u32' },
  { name: 'ctimensec', offset: 56, type: 'u32' },
  { name: 'mode', offset: 60, type: 'u32' },
  { name: 'nlink', offset: 64, type: 'u32' },
  { name: 'uid', offset: 68, type: 'u32' },
  { name: 'gid', offset: 72, type: 'u32' },
  { name: 'rdev', offset: 76, type: 'u32' },
  { name: 'blksize', offset: 80, type: 'u32' },
  { name: 'flags', offset: 84, type: 'u32' },
] as const);

export const EntryOut = defineStruct('fuse_entry_out', 128, [
  { name: 'nodeid', offset: 0, type: 'u64big' },
  { name: 'generation', offset: 8, type: 'u64big' },
  { name: 'entry_valid', offset: 16, type: 'u64' },
  { name: 'attr_valid', offset: 24, type: 'u64' },
  { name: 'entry_valid_nsec', offset: 32, type: 'u32' },
  { name: 'attr_valid_nsec', offset: 36, type: 'u32' },
  // struct fuse_attr attr at 40 (encoded with Attr at this offset)
] as const);
export const ENTRY_OUT_ATTR_OFFSET = 40;

export const AttrOut = defineStruct('fuse_attr_out', 104, [
  { name: 'attr_valid', offset: 0, type: 'u64' },
  { name: 'attr_valid_nsec', offset: 8, type: 'u32' },
  { name: 'dummy', offset: 12, type: 'u32' },
  // struct fuse_attr attr at 16
] as const);
export const ATTR_OUT_ATTR_OFFSET = 16;

export const Kstatfs = defineStruct('fuse_kstatfs', 80, [
  { name: 'blocks', offset: 0, type: 'u64' },
  { name: 'bfree', offset: 8, type: 'u64' },
  { name: 'bavail', offset: 16, type: 'u64' },
  { name: 'files', offset: 24, type: 'u64' },
  { name: 'ffree', offset: 32, type: 'u64' },
  { name: 'bsize', offset: 40, type: 'u32' },
  { name: 'namelen', offset: 44, type: 'u32' },
  { name: 'frsize', offset: 48, type: 'u32' },
  { name: 'padding', offset: 52, type: 'u32' },
  { name: 'spare', offset: 56, type: { bytes: 24 } },
] as const);
/** fuse_statfs_out is one fuse_kstatfs. */
export const StatfsOut = Kstatfs;

export const ForgetIn = defineStruct('fuse_forget_in', 8, [{ name: 'nlookup', offset: 0, type: 'u64big' }] as const);
export const ForgetOne = defineStruct('fuse_forget_one', 16, [
  { name: 'nodeid', offset: 0, type: 'u64big' },
  { name: 'nlookup', offset: 8, type: 'u64big' },
] as const);
export const BatchForgetIn = defineStruct('fuse_batch_forget_in', 8, [
  { name: 'count', offset: 0, type: 'u32' },
  { name: 'dummy', offset: 4, type: 'u32' },
] as const);

export const GetattrIn = defineStruct('fuse_getattr_in', 16, [
  { name: 'getattr_flags', offset: 0, type: 'u32' },
  { name: 'dummy', offset: 4, type: 'u32' },
  { name: 'fh', offset: 8, type: 'u64big' },
] as const);

export const MknodIn = defineStruct('fuse_mknod_in', 16, [
  { name: 'mode', offset: 0, type: 'u32' },
  { name: 'rdev', offset: 4, type: 'u32' },
  { name: 'umask', offset: 8, type: 'u32' },
  { name: 'padding', offset: 12, type: 'u32' },
] as const);
export const MkdirIn = defineStruct('fuse_mkdir_in', 8, [
  { name: 'mode', offset: 0, type: 'u32' },
  { name: 'umask', offset: 4, type: 'u32' },
] as const);
export const RenameIn = defineStruct('fuse_rename_in', 8, [{ name: 'newdir', offset: 0, type: 'u64big' }] as const);
export const Rename2In = defineStruct('fuse_rename2_in', 16, [
  { name: 'newdir', offset: 0, type: 'u64big' },
  { name: 'flags', offset: 8, type: 'u32' },
  { name: 'padding', offset: 12, type: 'u32' },
] as const);
export const LinkIn = defineStruct('fuse_link_in', 8, [{ name: 'oldnodeid', offset: 0, type: 'u64big' }] as const);

export const SetattrIn = defineStruct('fuse_setattr_in', 88, [
  { name: 'valid', offset: 0, type: 'u32' },
  { name: 'padding', offset: 4, type: 'u32' },
  { name: 'fh', offset: 8, type: 'u64big' },
  { name: 'size', offset: 16, type: 'u64' },
  { name: 'lock_owner', offset: 24, type: 'u64big' },
  { name: 'atime', offset: 32, type: 's64' },
  { name: 'mtime', offset: 40, type: 's64' },
  { name: 'ctime', offset: 48, type: 's64' },
  { name: 'atimensec', offset: 56, type: 'u32' },
  { name: 'mtimensec', offset: 60, type: 'u32' },
  { name: 'ctimensec', offset: 64, type: 'u32' },
  { name: 'mode', offset: 68, type: 'u32' },
  { name: 'unused4', offset: 72, type: 'u32' },
  { name: 'uid', offset: 76, type: 'u32' },
  { name: 'gid', offset: 80, type: 'u32' },
  { name: 'unused5', offset: 84, type: 'u32' },
] as const);

export const OpenIn = defineStruct('fuse_open_in', 8, [
  { name: 'flags', offset: 0, type: 'u32' },
  { name: 'open_flags', offset: 4, type: 'u32' },
] as const);
export const CreateIn = defineStruct('fuse_create_in', 16, [
  { name: 'flags', offset: 0, type: 'u32' },
  { name: 'mode', offset: 4, type: 'u32' },
  { name: 'umask', offset: 8, type: 'u32' },
  { name: 'open_flags', offset: 12, type: 'u32' },
] as const);
export const OpenOut = defineStruct('fuse_open_out', 16, [
  { name: 'fh', offset: 0, type: 'u64big' },
  { name: 'open_flags', offset: 8, type: 'u32' },
  { name: 'backing_id', offset: 12, type: 's32' },
] as const);

export const ReleaseIn = defineStruct('fuse_release_in', 24, [
  { name: 'fh', offset: 0, type: 'u64big' },
  { name: 'flags', offset: 8, type: 'u32' },
  { name: 'release_flags', offset: 12, type: 'u32' },
  { name: 'lock_owner', offset: 16, type: 'u64big' },
] as const);
export const FlushIn = defineStruct('fuse_flush_in', 24, [
  { name: 'fh', offset: 0, type: 'u64big' },
  { name: 'unused', offset: 8, type: 'u32' },
  { name: 'padding', offset: 12, type: 'u32' },
  { name: 'lock_owner', offset: 16, type: 'u64big' },
] as const);

export const ReadIn = defineStruct('fuse_read_in', 40, [
  { name: 'fh', offset: 0, type: 'u64big' },
  { name: 'offset', offset: 8, type: 'u64big' },
  { name: 'size', offset: 16, type: 'u32' },
  { name: 'read_flags', offset: 20, type: 'u32' },
  { name: 'lock_owner', offset: 24, type: 'u64big' },
  { name: 'flags', offset: 32, type: 'u32' },
  { name: 'padding', offset: 36, type: 'u32' },
] as const);
export const WriteIn = defineStruct('fuse_write_in', 40, [
  { name: 'fh', offset: 0, type: 'u64big' },
  { name: 'offset', offset: 8, type: 'u64big' },
  { name: 'size', offset: 16, type: 'u32' },
  { name: 'write_flags', offset: 20, type: 'u32' },
  { name: 'lock_owner', offset: 24, type: 'u64big' },
  { name: 'flags', offset: 32, type: 'u32' },
  { name: 'padding', offset: 36, type: 'u32' },
] as const);
export const WriteOut = defineStruct('fuse_write_out', 8, [
  { name: 'size', offset: 0, type: 'u32' },
  { name: 'padding', offset: 4, type: 'u32' },
] as const);

export const FsyncIn = defineStruct('fuse_fsync_in', 16, [
  { name: 'fh', offset: 0, type: 'u64big' },
  { name: 'fsync_flags', offset: 8, type: 'u32' },
  { name: 'padding', offset: 12, type: 'u32' },
] as const);

export const SetxattrIn = defineStruct('fuse_setxattr_in', 16, [
  { name: 'size', offset: 0, type: 'u32' },
  { name: 'flags', offset: 4, type: 'u32' },
  { name: 'setxattr_flags', offset: 8, type: 'u32' },
  { name: 'padding', offset: 12, type: 'u32' },
] as const);
/** Without FUSE_SETXATTR_EXT negotiated the kernel sends only size and flags. */
export const SETXATTR_IN_COMPAT_SIZE = 8;
export const GetxattrIn = defineStruct('fuse_getxattr_in', 8, [
  { name: 'size', offset: 0, type: 'u32' },
  { name: 'padding', offset: 4, type: 'u32' },
] as const);
export const GetxattrOut = defineStruct('fuse_getxattr_out', 8, [
  { name: 'size', offset: 0, type: 'u32' },
  { name: 'padding', offset: 4, type: 'u32' },
] as const);

export const AccessIn = defineStruct('fuse_access_in', 8, [
  { name: 'mask', offset: 0, type: 'u32' },
  { name: 'padding', offset: 4, type: 'u32' },
] as const);

export const InterruptIn = defineStruct('fuse_interrupt_in', 8, [{ name: 'unique', offset: 0, type: 'u64big' }] as const);

export const FallocateIn = defineStruct('fuse_fallocate_in', 32, [
  { name: 'fh', offset: 0, type: 'u64big' },
  { name: 'offset', offset: 8, type: 'u64big' },
  { name: 'length', offset: 16, type: 'u64big' },
  { name: 'mode', offset: 24, type: 'u32' },
  { name: 'padding', offset: 28, type: 'u32' },
] as const);

export const LseekIn = defineStruct('fuse_lseek_in', 24, [
  { name: 'fh', offset: 0, type: 'u64big' },
  { name: 'offset', offset: 8, type: 'u64big' },
  { name: 'whence', offset: 16, type: 'u32' },
  { name: 'padding', offset: 20, type: 'u32' },
] as const);
export const LseekOut = defineStruct('fuse_lseek_out', 8, [{ name: 'offset', offset: 0, type: 'u64big' }] as const);

export const Dirent = defineStruct('fuse_dirent', 24, [
  { name: 'ino', offset: 0, type: 'u64big' },
  { name: 'off', offset: 8, type: 'u64big' },
  { name: 'namelen', offset: 16, type: 'u32' },
  { name: 'type', offset: 20, type: 'u32' },
  // char name[namelen], padded to 8 bytes
] as const);
/** fuse_direntplus = fuse_entry_out (128) + fuse_dirent (24) + name. */
export const DIRENTPLUS_DIRENT_OFFSET = 128;
export const DIRENTPLUS_NAME_OFFSET = 152;

export const NotifyInvalInodeOut = defineStruct('fuse_notify_inval_inode_out', 24, [
  { name: 'ino', offset: 0, type: 'u64big' },
  { name: 'off', offset: 8, type: 's64' },
  { name: 'len', offset: 16, type: 's64' },
] as const);
export const NotifyInvalEntryOut = defineStruct('fuse_notify_inval_entry_out', 16, [
  { name: 'parent', offset: 0, type: 'u64big' },
  { name: 'namelen', offset: 8, type: 'u32' },
  { name: 'flags', offset: 12, type: 'u32' },
] as const);
export const NotifyDeleteOut = defineStruct('fuse_notify_delete_out', 24, [
  { name: 'parent', offset: 0, type: 'u64big' },
  { name: 'child', offset: 8, type: 'u64big' },
  { name: 'namelen', offset: 16, type: 'u32' },
  { name: 'padding', offset: 20, type: 'u32' },
] as const);
