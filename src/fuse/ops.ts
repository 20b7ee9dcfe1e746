// The opcode table of the mainline protocol: for each opcode a name, a decoder of its
// arguments (length-checked through Args) and a handler that calls the file system and
// encodes the reply body. An ABI profile (abi.ts) is this table plus whatever a kernel
// series adds; extension profiles declare their own OpSpecs the same way.
import type { ConnectionInfo, DirList, Entry, FileSystem, MaybePromise, RequestContext, SetattrChanges } from './filesystem.js';
import { errno, FuseError } from './filesystem.js';
import { Fattr, InitFlag, Op } from './opcodes.js';
import { Args, type Header, safeId, safeU64 } from './request.js';
import {
  DirBuffer, encodeAttrOut, encodeEntry, encodeOpenOut, encodeStatfs, encodeWriteOut,
} from './reply.js';
import {
  AccessIn, BatchForgetIn, CreateIn, FallocateIn, FlushIn, ForgetIn, ForgetOne, FsyncIn, GetattrIn, GetxattrIn,
  GetxattrOut, LinkIn, MkdirIn, MknodIn, OpenIn, ReadIn, ReleaseIn, Rename2In, RenameIn, SetattrIn,
  SETXATTR_IN_COMPAT_SIZE, SetxattrIn, WriteIn,
} from './structs.js';

/**
 * An error answer a handler returns instead of throwing: for answers that are routine, not
 * exceptional (a LOOKUP of a name not there comes before every create). V8 never optimizes a
 * function that always leaves by a throw (tier-up is counted at returns), and each throw costs
 * more than the lookup itself (bench/meta-mount/README.md, "Tenth pass").
 */
export class ErrnoReply {
  constructor(readonly errno: number) {}
}

/** A reply body after the out header: nothing, one buffer, buffers for one writev, or an error. */
export type ReplyBody = void | undefined | Buffer | readonly Buffer[] | ErrnoReply;

export interface OpCall<FS extends FileSystem = FileSystem> {
  readonly ctx: RequestContext;
  readonly fs: FS;
  readonly conn: ConnectionInfo;
  /** Send a notification on this connection (profiles that push state, e.g. iomap UPSERT at OPEN). */
  readonly notify?: (code: number, body: readonly Buffer[]) => void;
}

export interface OpSpec<A = unknown> {
  readonly name: string;
  /** The kernel expects no reply (FORGET, BATCH_FORGET): nothing is ever written back. */
  readonly noReply?: boolean;
  decode(args: Args, header: Header, conn: ConnectionInfo): A;
  handle(call: OpCall, a: A): MaybePromise<ReplyBody>;
}

/** Declare an opcode handler (keeps A inferred from decode for handle). */
export function defineOp<A>(spec: OpSpec<A>): OpSpec<A> {
  return spec;
}

/** The method, or ENOSYS when the file system does not implement it. */
function need<T>(m: T | undefined): T {
  if (m === undefined) throw new FuseError(errno.ENOSYS);
  return m;
}

const none = (): undefined => undefined;

/**
 * Apply f to a handler's result without going asynchronous when the file system answered
 * synchronously: a reply then leaves before the loop polls for the next request.
 */
function map<T>(r: MaybePromise<T>, f: (v: T) => ReplyBody): MaybePromise<ReplyBody> {
  return r instanceof Promise ? r.then(f) : f(r);
}
const done = (): undefined => undefined;

const GETATTR_FH = 1;
const FSYNC_FDATASYNC = 1;
/** Reads and READDIRs larger than this are not something the kernel sends (max_pages ≤ 65535 pages). */
const MAX_REPLY = 256 << 20;

function nameOnly(opName: string) {
  return (a: Args): { name: string } => ({ name: a.name(`${opName} name`) });
}

export const mainlineOps: ReadonlyMap<number, OpSpec<unknown>> = new Map<number, OpSpec<unknown>>([
  [Op.LOOKUP, defineOp({
    name: 'LOOKUP',
    decode: nameOnly('LOOKUP'),
    handle: ({ fs, ctx }, a) => map(need(fs.lookup).call(fs, ctx, ctx.nodeid, a.name), entryOrMiss),
  })],
  [Op.FORGET, defineOp({
    name: 'FORGET',
    noReply: true,
    decode: (a) => a.struct(ForgetIn),
    handle: ({ fs, ctx }, a) => {
      fs.forget?.(ctx.nodeid, clampCount(a.nlookup));
      return undefined;
    },
  })],
  [Op.BATCH_FORGET, defineOp({
    name: 'BATCH_FORGET',
    noReply: true,
    decode: (a) => {
      const { count } = a.struct(BatchForgetIn);
      // Trust the payload over count (go-fuse does the same): never read past the message.
      const n = Math.min(count, Math.floor(a.remaining / ForgetOne.size));
      const list: { nodeid: bigint; nlookup: bigint }[] = [];
      for (let i = 0; i < n; i++) list.push(a.struct(ForgetOne));
      return list;
    },
    handle: ({ fs }, list) => {
      if (fs.forget) {
        for (const f of list) if (f.nodeid <= BigInt(Number.MAX_SAFE_INTEGER)) fs.forget(Number(f.nodeid), clampCount(f.nlookup));
      }
      return undefined;
    },
  })],
  [Op.GETATTR, defineOp({
    name: 'GETATTR',
    // Kernels before 7.9 send no getattr_in at all.
    decode: (a) => (a.remaining === 0 ? { getattr_flags: 0, fh: 0n } : a.struct(GetattrIn)),
    handle: ({ fs, ctx }, a) => {
      const fh = a.getattr_flags & GETATTR_FH ? safeId(a.fh, 'GETATTR fh') : undefined;
      return map(need(fs.getattr).call(fs, ctx, ctx.nodeid, fh), encodeAttrOut);
    },
  })],
  [Op.SETATTR, defineOp({
    name: 'SETATTR',
    decode: (a) => {
      const s = a.struct(SetattrIn);
      const c: SetattrChanges = { valid: s.valid };
      if (s.valid & Fattr.FH) c.fh = safeId(s.fh, 'SETATTR fh');
      if (s.valid & Fattr.MODE) c.mode = s.mode;
      if (s.valid & Fattr.UID) c.uid = s.uid;
      if (s.valid & Fattr.GID) c.gid = s.gid;
      if (s.valid & Fattr.SIZE) c.size = s.size;
      if (s.valid & Fattr.ATIME) c.atimeMs = s.valid & Fattr.ATIME_NOW ? 'now' : s.atime * 1000 + s.atimensec / 1e6;
      if (s.valid & Fattr.MTIME) c.mtimeMs = s.valid & Fattr.MTIME_NOW ? 'now' : s.mtime * 1000 + s.mtimensec / 1e6;
      if (s.valid & Fattr.CTIME) c.ctimeMs = s.ctime * 1000 + s.ctimensec / 1e6;
      return c;
    },
    handle: ({ fs, ctx }, c) => map(need(fs.setattr).call(fs, ctx, ctx.nodeid, c), encodeAttrOut),
  })],
  [Op.READLINK, defineOp({
    name: 'READLINK',
    decode: none,
    handle: ({ fs, ctx }) => map(need(fs.readlink).call(fs, ctx, ctx.nodeid), (t) => (typeof t === 'string' ? Buffer.from(t, 'utf8') : t)),
  })],
  [Op.SYMLINK, defineOp({
    name: 'SYMLINK',
    // The new entry's name comes first, then the link target (both NUL-terminated).
    decode: (a) => ({ name: a.name('SYMLINK name'), target: a.name('SYMLINK target') }),
    handle: ({ fs, ctx }, a) => wrapEntry(need(fs.symlink).call(fs, ctx, ctx.nodeid, a.name, a.target)),
  })],
  [Op.MKNOD, defineOp({
    name: 'MKNOD',
    decode: (a, _h, conn) => ({ ...a.struct(MknodIn, conn.minor < 12 ? 8 : MknodIn.size), name: a.name('MKNOD name') }),
    handle: ({ fs, ctx }, a) => wrapEntry(need(fs.mknod).call(fs, ctx, ctx.nodeid, a.name, a.mode, a.rdev, a.umask)),
  })],
  [Op.MKDIR, defineOp({
    name: 'MKDIR',
    decode: (a) => ({ ...a.struct(MkdirIn), name: a.name('MKDIR name') }),
    handle: ({ fs, ctx }, a) => wrapEntry(need(fs.mkdir).call(fs, ctx, ctx.nodeid, a.name, a.mode, a.umask)),
  })],
  [Op.UNLINK, defineOp({
    name: 'UNLINK',
    decode: nameOnly('UNLINK'),
    handle: ({ fs, ctx }, a) => map(need(fs.unlink).call(fs, ctx, ctx.nodeid, a.name), done),
  })],
  [Op.RMDIR, defineOp({
    name: 'RMDIR',
    decode: nameOnly('RMDIR'),
    handle: ({ fs, ctx }, a) => map(need(fs.rmdir).call(fs, ctx, ctx.nodeid, a.name), done),
  })],
  [Op.RENAME, defineOp({
    name: 'RENAME',
    decode: (a) => ({ newdir: a.struct(RenameIn).newdir, flags: 0, from: a.name('RENAME old name'), to: a.name('RENAME new name') }),
    handle: renameHandler,
  })],
  [Op.RENAME2, defineOp({
    name: 'RENAME2',
    decode: (a) => {
      const r = a.struct(Rename2In);
      return { newdir: r.newdir, flags: r.flags, from: a.name('RENAME2 old name'), to: a.name('RENAME2 new name') };
    },
    handle: renameHandler,
  })],
  [Op.LINK, defineOp({
    name: 'LINK',
    decode: (a) => ({ old: a.struct(LinkIn).oldnodeid, name: a.name('LINK name') }),
    handle: ({ fs, ctx }, a) => wrapEntry(need(fs.link).call(fs, ctx, safeId(a.old, 'LINK oldnodeid'), ctx.nodeid, a.name)),
  })],
  [Op.OPEN, defineOp({
    name: 'OPEN',
    decode: (a) => a.struct(OpenIn),
    handle: ({ fs, ctx }, a) => map(fs.open ? fs.open(ctx, ctx.nodeid, a.flags) : { fh: 0 }, encodeOpenOut),
  })],
  [Op.READ, defineOp({
    name: 'READ',
    // Before 7.9 read_in was 24 bytes (no lock_owner/flags).
    decode: (a, _h, conn) => a.struct(ReadIn, conn.minor < 9 ? 24 : ReadIn.size),
    handle: ({ fs, ctx }, a) => {
      const fh = safeId(a.fh, 'READ fh');
      const offset = safeU64(a.offset, 'READ offset');
      if (a.size > MAX_REPLY) throw new FuseError(errno.EINVAL, `READ of ${a.size} bytes`);
      const r = need(fs.read).call(fs, ctx, ctx.nodeid, fh, offset, a.size);
      return r instanceof Promise ? r.then((d) => clipData(d, a.size)) : clipData(r, a.size);
    },
  })],
  [Op.WRITE, defineOp({
    name: 'WRITE',
    decode: (a, _h, conn) => {
      const w = a.struct(WriteIn, conn.minor < 9 ? 24 : WriteIn.size);
      if (a.remaining !== w.size) throw new FuseError(errno.EINVAL, `WRITE says ${w.size} bytes, carries ${a.remaining}`);
      return { fh: w.fh, offset: w.offset, flags: w.write_flags, data: a.take(w.size, 'WRITE data') };
    },
    handle: ({ fs, ctx }, a) => {
      const fh = safeId(a.fh, 'WRITE fh');
      const offset = safeU64(a.offset, 'WRITE offset');
      const r = need(fs.write).call(fs, ctx, ctx.nodeid, fh, offset, a.data, a.flags);
      return r instanceof Promise ? r.then((n) => writeOut(n, a.data.length)) : writeOut(r, a.data.length);
    },
  })],
  [Op.STATFS, defineOp({
    name: 'STATFS',
    decode: none,
    handle: ({ fs, ctx }) => map(fs.statfs
      ? fs.statfs(ctx, ctx.nodeid)
      : { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 512, namelen: 255, frsize: 512 }, encodeStatfs),
  })],
  [Op.RELEASE, defineOp({
    name: 'RELEASE',
    decode: (a, _h, conn) => a.struct(ReleaseIn, conn.minor < 8 ? 16 : ReleaseIn.size),
    handle: ({ fs, ctx }, a) => map(fs.release?.(ctx, ctx.nodeid, safeId(a.fh, 'RELEASE fh'), a.flags), done),
  })],
  [Op.FSYNC, defineOp({
    name: 'FSYNC',
    decode: (a) => a.struct(FsyncIn),
    handle: ({ fs, ctx }, a) =>
      map(need(fs.fsync).call(fs, ctx, ctx.nodeid, safeId(a.fh, 'FSYNC fh'), (a.fsync_flags & FSYNC_FDATASYNC) !== 0), done),
  })],
  [Op.SETXATTR, defineOp({
    name: 'SETXATTR',
    decode: (a, _h, conn) => {
      // The layout grows to 16 bytes only when FUSE_SETXATTR_EXT was agreed at INIT.
      const ext = (conn.flags & InitFlag.SETXATTR_EXT) !== 0n;
      const s = a.struct(SetxattrIn, ext ? SetxattrIn.size : SETXATTR_IN_COMPAT_SIZE);
      const name = a.name('SETXATTR name');
      return { name, flags: s.flags, value: a.take(s.size, 'SETXATTR value') };
    },
    handle: ({ fs, ctx }, a) => map(need(fs.setxattr).call(fs, ctx, ctx.nodeid, a.name, Buffer.from(a.value), a.flags), done),
  })],
  [Op.GETXATTR, defineOp({
    name: 'GETXATTR',
    decode: (a) => ({ size: a.struct(GetxattrIn).size, name: a.name('GETXATTR name') }),
    handle: ({ fs, ctx }, a) => map(need(fs.getxattr).call(fs, ctx, ctx.nodeid, a.name), (v) => (v === undefined ? NO_ATTRIBUTE : sizedReply(v, a.size))),
  })],
  [Op.LISTXATTR, defineOp({
    name: 'LISTXATTR',
    decode: (a) => a.struct(GetxattrIn),
    handle: ({ fs, ctx }, a) => map(need(fs.listxattr).call(fs, ctx, ctx.nodeid),
      (names) => sizedReply(Buffer.from(names.map((n) => `${n}\0`).join(''), 'utf8'), a.size)),
  })],
  [Op.REMOVEXATTR, defineOp({
    name: 'REMOVEXATTR',
    decode: nameOnly('REMOVEXATTR'),
    handle: ({ fs, ctx }, a) => map(need(fs.removexattr).call(fs, ctx, ctx.nodeid, a.name), done),
  })],
  [Op.FLUSH, defineOp({
    name: 'FLUSH',
    decode: (a) => a.struct(FlushIn),
    handle: ({ fs, ctx }, a) => map(need(fs.flush).call(fs, ctx, ctx.nodeid, safeId(a.fh, 'FLUSH fh')), done),
  })],
  [Op.OPENDIR, defineOp({
    name: 'OPENDIR',
    decode: (a) => a.struct(OpenIn),
    handle: ({ fs, ctx }, a) => map(fs.opendir ? fs.opendir(ctx, ctx.nodeid, a.flags) : { fh: 0 }, encodeOpenOut),
  })],
  [Op.READDIR, readdirOp('READDIR', false)],
  [Op.READDIRPLUS, readdirOp('READDIRPLUS', true)],
  [Op.RELEASEDIR, defineOp({
    name: 'RELEASEDIR',
    decode: (a, _h, conn) => a.struct(ReleaseIn, conn.minor < 8 ? 16 : ReleaseIn.size),
    handle: ({ fs, ctx }, a) => map(fs.releasedir?.(ctx, ctx.nodeid, safeId(a.fh, 'RELEASEDIR fh')), done),
  })],
  [Op.FSYNCDIR, defineOp({
    name: 'FSYNCDIR',
    decode: (a) => a.struct(FsyncIn),
    handle: ({ fs, ctx }, a) =>
      map(need(fs.fsyncdir).call(fs, ctx, ctx.nodeid, safeId(a.fh, 'FSYNCDIR fh'), (a.fsync_flags & FSYNC_FDATASYNC) !== 0), done),
  })],
  [Op.ACCESS, defineOp({
    name: 'ACCESS',
    decode: (a) => a.struct(AccessIn),
    handle: ({ fs, ctx }, a) => map(need(fs.access).call(fs, ctx, ctx.nodeid, a.mask), done),
  })],
  [Op.CREATE, defineOp({
    name: 'CREATE',
    decode: (a) => {
      // Fields named, not spread: a spread's added field is defined in V8's runtime (see ErrnoReply).
      const c = a.struct(CreateIn);
      return { flags: c.flags, mode: c.mode, umask: c.umask, name: a.name('CREATE name') };
    },
    handle: ({ fs, ctx }, a) => map(need(fs.create).call(fs, ctx, ctx.nodeid, a.name, a.mode, a.flags, a.umask), (r) => {
      if (!(r.nodeid > 0)) throw new FuseError(errno.EIO, 'create returned no node');
      return [encodeEntry(r), encodeOpenOut(r)];
    }),
  })],
  [Op.FALLOCATE, defineOp({
    name: 'FALLOCATE',
    decode: (a) => a.struct(FallocateIn),
    handle: ({ fs, ctx }, a) => map(need(fs.fallocate).call(fs, ctx, ctx.nodeid, safeId(a.fh, 'FALLOCATE fh'),
      safeU64(a.offset, 'FALLOCATE offset'), safeU64(a.length, 'FALLOCATE length'), a.mode), done),
  })],
]);

function clampCount(n: bigint): number {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

function renameHandler({ fs, ctx }: OpCall, a: { newdir: bigint; flags: number; from: string; to: string }): MaybePromise<ReplyBody> {
  return map(need(fs.rename).call(fs, ctx, ctx.nodeid, a.from, safeId(a.newdir, 'RENAME newdir'), a.to, a.flags), done);
}

const NO_ENTRY = new ErrnoReply(errno.ENOENT);
const NO_ATTRIBUTE = new ErrnoReply(errno.ENODATA);

/**
 * A LOOKUP's answer. A negative entry that may not be cached (nodeid 0, entryTimeout 0) goes
 * out as ENOENT: the kernel takes both alike (fs/fuse/dir.c fuse_lookup_name, "Zero nodeid is
 * same as -ENOENT, but with valid timeout"), and ENOENT is what C servers send.
 */
function entryOrMiss(e: Entry): ReplyBody {
  return e.nodeid === 0 && e.entryTimeout === 0 ? NO_ENTRY : encodeEntry(e);
}

function wrapEntry(r: MaybePromise<Entry>): MaybePromise<ReplyBody> {
  return map(r, encodeEntry);
}

function writeOut(n: number, max: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new FuseError(errno.EIO, `write handler returned ${n} for ${max} bytes`);
  return encodeWriteOut(n);
}

/** READ data: never more than asked (the kernel rejects an over-long reply). */
function clipData(d: Buffer | readonly Buffer[], max: number): ReplyBody {
  if (Buffer.isBuffer(d)) return d.length > max ? d.subarray(0, max) : d;
  let total = 0;
  for (let i = 0; i < d.length; i++) {
    const b = d[i]!;
    if (total + b.length > max) {
      const out = d.slice(0, i);
      if (max > total) out.push(b.subarray(0, max - total));
      return out;
    }
    total += b.length;
  }
  return d;
}

/** GETXATTR/LISTXATTR: size 0 asks for the length; a too-small buffer gets ERANGE. */
function sizedReply(value: Buffer, size: number): Buffer {
  if (size === 0) return GetxattrOut.encode({ size: value.length });
  if (value.length > size) throw new FuseError(errno.ERANGE);
  return value;
}

function readdirOp(name: string, plus: boolean): OpSpec<unknown> {
  return defineOp({
    name,
    decode: (a, _h, conn) => a.struct(ReadIn, conn.minor < 9 ? 24 : ReadIn.size),
    handle: ({ fs, ctx }, a) => {
      if (a.size > MAX_REPLY) throw new FuseError(errno.EINVAL, `${name} of ${a.size} bytes`);
      const out = new DirBuffer(a.size, plus);
      return map(need(fs.readdir).call(fs, ctx, ctx.nodeid, safeId(a.fh, `${name} fh`), safeU64(a.offset, `${name} offset`), out),
        () => out.take());
    },
  }) as OpSpec<unknown>;
}
