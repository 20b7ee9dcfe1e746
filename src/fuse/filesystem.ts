// The interface a file system implements to be served by the engine. It is nodeid-based
// like libfuse's low-level API (no paths): the file system chooses nodeids (1 is the root)
// and file handles, both as JS numbers below 2^53. Every method may return a value or a
// promise, so a slow operation never stalls the request loop. To fail, throw FuseError
// (or any ErrnoError, such as SysError: the reply carries its Errno); anything else is EIO.
// Methods left out get libfuse's defaults: open/opendir succeed with fh 0, release and
// releasedir succeed, statfs reports an empty file system, everything else is ENOSYS.
import os from 'node:os';
import { Errno, ErrnoError, errnoOf, type ErrnoName } from '../errno.js';

export const errno = os.constants.errno;

/** A failure with a positive errno (the engine puts -errno on the wire). */
export class FuseError extends ErrnoError {
  /** The positive errno number (errnoValue.number). */
  readonly errno: number;
  constructor(code: number | ErrnoName | Errno, message?: string, options?: ErrorOptions) {
    const e = errnoOf(code);
    // An errno is an answer, not a bug (a LOOKUP of a name not there is routine): capturing a
    // stack trace for each would cost more than the rest of the request.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? `errno ${e.number}`, e, options);
    Error.stackTraceLimit = limit;
    this.errno = e.number;
  }
}

/** Shorthand: `throw fail(errno.ENOENT)`. */
export function fail(code: number | ErrnoName, message?: string): FuseError {
  return new FuseError(code, message);
}

export interface RequestContext {
  readonly unique: bigint;
  readonly opcode: number;
  readonly nodeid: number;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** Aborted when the kernel sends INTERRUPT for this request; reply EINTR or the result. */
  readonly signal: AbortSignal;
}

/** File attributes. Times are milliseconds since the epoch (fractions kept to the ns). */
export interface Attr {
  ino: number;
  size: number;
  mode: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  rdev?: number;
  blocks?: number;
  blksize?: number;
  atimeMs?: number;
  mtimeMs?: number;
  ctimeMs?: number;
  /** fuse_attr.flags (FUSE_ATTR_*), for profiles that mark DAX or iomap inodes. */
  flags?: number;
}

/** A LOOKUP-style answer. The kernel counts one lookup of `nodeid` per entry returned. */
export interface Entry {
  /** 0 = negative entry (cached absence for entryTimeout). */
  nodeid: number;
  generation?: number;
  attr: Attr;
  /** Seconds the kernel may cache the name / the attributes (default 1). */
  entryTimeout?: number;
  attrTimeout?: number;
}

export interface AttrReply {
  attr: Attr;
  timeout?: number;
}

export interface OpenReply {
  fh: number;
  /** FOPEN_* bits (direct_io, keep_cache, ...). */
  openFlags?: number;
}

export interface SetattrChanges {
  /** fuse_setattr_in.valid (FATTR_*), for bits not broken out below. */
  valid: number;
  fh?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** 'now' when the caller asked for the current time. */
  atimeMs?: number | 'now';
  mtimeMs?: number | 'now';
  ctimeMs?: number;
}

export interface Statfs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

/** A directory entry being packed into a READDIR or READDIRPLUS reply. */
export interface DirEntry {
  name: string;
  /** The offset the next READDIR continues from (cookie for the entry after this one). */
  nextOffset: number;
  /** For READDIR only ino and the file type (attr.mode) are sent; READDIRPLUS sends it all. */
  entry: Entry;
}

/** The reply buffer a readdir handler fills. */
export interface DirList {
  /** True for READDIRPLUS: each added entry (except "." and "..") counts as a lookup. */
  readonly plus: boolean;
  /** Append; false when the entry does not fit (it was not sent, so not counted). */
  add(e: DirEntry): boolean;
  /**
   * Optional fast path for a file system that keeps a directory's fuse_dirent records packed
   * (reply.ts packDirent): bytes left, whole plain records copied in (READDIR; the caller
   * keeps within room), and one record with its fuse_entry_out (READDIRPLUS; none: nodeid 0,
   * name alone). Their off fields are the cookies, as nextOffset.
   */
  readonly room?: number;
  addPacked?(src: Buffer, start: number, end: number): void;
  addPackedPlus?(src: Buffer, start: number, end: number, entry: Entry | undefined): boolean;
}

export type MaybePromise<T> = T | Promise<T>;

export interface ConnectionInfo {
  /** Negotiated protocol minor and the ABI profile chosen at INIT. */
  readonly minor: number;
  readonly profile: string;
  readonly maxWrite: number;
  readonly maxReadahead: number;
  /** Flags both sides agreed on. */
  readonly flags: bigint;
}

export interface FileSystem {
  init?(conn: ConnectionInfo): void;
  destroy?(): void;
  lookup?(ctx: RequestContext, parent: number, name: string): MaybePromise<Entry>;
  /** No reply goes to the kernel; drop `nlookup` references to nodeid. */
  forget?(nodeid: number, nlookup: number): void;
  getattr?(ctx: RequestContext, nodeid: number, fh?: number): MaybePromise<AttrReply>;
  setattr?(ctx: RequestContext, nodeid: number, changes: SetattrChanges): MaybePromise<AttrReply>;
  readlink?(ctx: RequestContext, nodeid: number): MaybePromise<string | Buffer>;
  mknod?(ctx: RequestContext, parent: number, name: string, mode: number, rdev: number, umask: number): MaybePromise<Entry>;
  mkdir?(ctx: RequestContext, parent: number, name: string, mode: number, umask: number): MaybePromise<Entry>;
  symlink?(ctx: RequestContext, parent: number, name: string, target: string): MaybePromise<Entry>;
  link?(ctx: RequestContext, nodeid: number, newParent: number, newName: string): MaybePromise<Entry>;
  unlink?(ctx: RequestContext, parent: number, name: string): MaybePromise<void>;
  rmdir?(ctx: RequestContext, parent: number, name: string): MaybePromise<void>;
  rename?(ctx: RequestContext, parent: number, name: string, newParent: number, newName: string, flags: number): MaybePromise<void>;
  open?(ctx: RequestContext, nodeid: number, flags: number): MaybePromise<OpenReply>;
  /**
   * Bytes at [offset, offset+size), fewer at end of file. Return views (Buffer slices of a
   * mapped device): they go to the kernel in one writev, uncopied.
   */
  read?(ctx: RequestContext, nodeid: number, fh: number, offset: number, size: number): MaybePromise<Buffer | readonly Buffer[]>;
  /** `data` is a view of the request buffer: copy it before the returned promise settles. */
  write?(ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer, flags: number): MaybePromise<number>;
  flush?(ctx: RequestContext, nodeid: number, fh: number): MaybePromise<void>;
  fsync?(ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): MaybePromise<void>;
  release?(ctx: RequestContext, nodeid: number, fh: number, flags: number): MaybePromise<void>;
  opendir?(ctx: RequestContext, nodeid: number, flags: number): MaybePromise<OpenReply>;
  readdir?(ctx: RequestContext, nodeid: number, fh: number, offset: number, out: DirList): MaybePromise<void>;
  releasedir?(ctx: RequestContext, nodeid: number, fh: number): MaybePromise<void>;
  fsyncdir?(ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): MaybePromise<void>;
  statfs?(ctx: RequestContext, nodeid: number): MaybePromise<Statfs>;
  create?(ctx: RequestContext, parent: number, name: string, mode: number, flags: number, umask: number): MaybePromise<Entry & OpenReply>;
  access?(ctx: RequestContext, nodeid: number, mask: number): MaybePromise<void>;
  setxattr?(ctx: RequestContext, nodeid: number, name: string, value: Buffer, flags: number): MaybePromise<void>;
  /**
   * The value, or undefined when there is no such attribute (ENODATA, answered without an
   * exception: `ls -l` asks two per file). The engine answers size probes and ERANGE itself.
   */
  getxattr?(ctx: RequestContext, nodeid: number, name: string): MaybePromise<Buffer | undefined>;
  /** Attribute names; the engine packs them NUL-separated. */
  listxattr?(ctx: RequestContext, nodeid: number): MaybePromise<readonly string[]>;
  removexattr?(ctx: RequestContext, nodeid: number, name: string): MaybePromise<void>;
  fallocate?(ctx: RequestContext, nodeid: number, fh: number, offset: number, length: number, mode: number): MaybePromise<void>;
}
