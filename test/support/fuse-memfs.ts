// A small in-memory file system for the FUSE engine's tests and benchmark: directories,
// regular files held in Buffers (READ answers with views of them), symlinks, xattrs,
// lookup counts. It knows nothing of famfs.
import type {
  Attr, AttrReply, DirList, Entry, FileSystem, OpenReply, RequestContext, SetattrChanges, Statfs,
} from '../../src/fuse/filesystem.js';
import { errno, FuseError } from '../../src/fuse/filesystem.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

interface Node {
  id: number;
  attr: Attr;
  children?: Map<string, number>;
  data?: Buffer;
  size: number;
  target?: string;
  xattrs: Map<string, Buffer>;
  lookups: number;
  parent: number;
}

/**
 * Deterministic file contents: a 1 MiB pseudo-random block repeated, with the index of
 * each MiB stamped in its first 8 bytes, so a misplaced or stale block is detected.
 */
export function patternFile(size: number): Buffer {
  const block = Buffer.allocUnsafe(1 << 20);
  let x = 0x9e3779b9;
  for (let i = 0; i < block.length; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    block.writeInt32LE(x | 0, i);
  }
  const data = Buffer.allocUnsafe(size);
  for (let at = 0, mib = 0; at < size; at += block.length, mib++) {
    block.copy(data, at, 0, Math.min(block.length, size - at));
    if (size - at >= 8) data.writeBigUInt64LE(BigInt(mib), at);
  }
  return data;
}

export class MemFs implements FileSystem {
  readonly nodes = new Map<number, Node>();
  private nextId = 2;
  private nextFh = 1;
  /** Forgets received, for tests. */
  forgets = 0;
  /** When set, READ answers with views of at most this many bytes each (many iovecs). */
  sliceSize = 0;

  constructor() {
    const now = Date.now();
    this.nodes.set(1, {
      id: 1, parent: 1, size: 0, children: new Map(), xattrs: new Map(), lookups: 1,
      attr: { ino: 1, size: 0, mode: S_IFDIR | 0o755, nlink: 2, atimeMs: now, mtimeMs: now, ctimeMs: now },
    });
  }

  private node(id: number): Node {
    const n = this.nodes.get(id);
    if (!n) throw new FuseError(errno.ENOENT, `no node ${id}`);
    return n;
  }

  private dir(id: number): Map<string, number> {
    const n = this.node(id);
    if (!n.children) throw new FuseError(errno.ENOTDIR);
    return n.children;
  }

  private entry(n: Node): Entry {
    n.lookups++;
    return { nodeid: n.id, attr: this.attrOf(n), entryTimeout: 1, attrTimeout: 1 };
  }

  private attrOf(n: Node): Attr {
    return { ...n.attr, size: n.size };
  }

  private add(parent: number, name: string, mode: number, init: Partial<Node> = {}): Node {
    const d = this.dir(parent);
    if (d.has(name)) throw new FuseError(errno.EEXIST);
    if (Buffer.byteLength(name) > 255) throw new FuseError(errno.ENAMETOOLONG);
    const now = Date.now();
    const id = this.nextId++;
    const n: Node = {
      id, parent, size: 0, xattrs: new Map(), lookups: 0,
      attr: { ino: id, size: 0, mode, nlink: mode & S_IFDIR ? 2 : 1, atimeMs: now, mtimeMs: now, ctimeMs: now },
      ...init,
    };
    if ((mode & 0o170000) === S_IFDIR) n.children = new Map();
    if ((mode & 0o170000) === S_IFREG) n.data ??= Buffer.alloc(0);
    this.nodes.set(id, n);
    d.set(name, id);
    return n;
  }

  /** Add a regular file whose bytes are `data` (used as is: reads return views of it). */
  addFile(parent: number, name: string, data: Buffer, mode = 0o644): number {
    const n = this.add(parent, name, S_IFREG | mode, { data, size: data.length });
    return n.id;
  }

  lookup(_ctx: RequestContext, parent: number, name: string): Entry {
    const id = this.dir(parent).get(name);
    if (id === undefined) throw new FuseError(errno.ENOENT);
    return this.entry(this.node(id));
  }

  forget(nodeid: number, nlookup: number): void {
    this.forgets++;
    const n = this.nodes.get(nodeid);
    if (n && nodeid !== 1) n.lookups = Math.max(0, n.lookups - nlookup);
  }

  getattr(_ctx: RequestContext, nodeid: number): AttrReply {
    return { attr: this.attrOf(this.node(nodeid)), timeout: 1 };
  }

  setattr(_ctx: RequestContext, nodeid: number, c: SetattrChanges): AttrReply {
    const n = this.node(nodeid);
    if (c.size !== undefined) {
      if (!n.data) throw new FuseError(errno.EISDIR);
      this.resize(n, c.size);
    }
    if (c.mode !== undefined) n.attr.mode = (n.attr.mode & 0o170000) | (c.mode & 0o7777);
    if (c.uid !== undefined) n.attr.uid = c.uid;
    if (c.gid !== undefined) n.attr.gid = c.gid;
    if (c.atimeMs !== undefined) n.attr.atimeMs = c.atimeMs === 'now' ? Date.now() : c.atimeMs;
    if (c.mtimeMs !== undefined) n.attr.mtimeMs = c.mtimeMs === 'now' ? Date.now() : c.mtimeMs;
    n.attr.ctimeMs = Date.now();
    return { attr: this.attrOf(n), timeout: 1 };
  }

  private resize(n: Node, size: number): void {
    if (size > 1 << 30) throw new FuseError(errno.EFBIG);
    const data = n.data!;
    if (size > data.length) {
      const grown = Buffer.alloc(Math.max(size, Math.min(data.length * 2, 1 << 30)));
      data.copy(grown, 0, 0, n.size);
      n.data = grown;
    } else if (size < n.size) data.fill(0, size, n.size);
    n.size = size;
  }

  readlink(_ctx: RequestContext, nodeid: number): string {
    const n = this.node(nodeid);
    if (n.target === undefined) throw new FuseError(errno.EINVAL);
    return n.target;
  }

  mkdir(_ctx: RequestContext, parent: number, name: string, mode: number): Entry {
    const n = this.add(parent, name, S_IFDIR | (mode & 0o7777));
    this.node(parent).attr.nlink = (this.node(parent).attr.nlink ?? 2) + 1;
    return this.entry(n);
  }

  mknod(_ctx: RequestContext, parent: number, name: string, mode: number): Entry {
    if ((mode & 0o170000) !== S_IFREG) throw new FuseError(errno.EPERM);
    return this.entry(this.add(parent, name, mode));
  }

  symlink(_ctx: RequestContext, parent: number, name: string, target: string): Entry {
    const n = this.add(parent, name, S_IFLNK | 0o777, { target });
    n.size = Buffer.byteLength(target);
    return this.entry(n);
  }

  unlink(_ctx: RequestContext, parent: number, name: string): void {
    const d = this.dir(parent);
    const id = d.get(name);
    if (id === undefined) throw new FuseError(errno.ENOENT);
    if (this.node(id).children) throw new FuseError(errno.EISDIR);
    d.delete(name);
  }

  rmdir(_ctx: RequestContext, parent: number, name: string): void {
    const d = this.dir(parent);
    const id = d.get(name);
    if (id === undefined) throw new FuseError(errno.ENOENT);
    const n = this.node(id);
    if (!n.children) throw new FuseError(errno.ENOTDIR);
    if (n.children.size > 0) throw new FuseError(errno.ENOTEMPTY);
    d.delete(name);
  }

  rename(_ctx: RequestContext, parent: number, name: string, newParent: number, newName: string): void {
    const from = this.dir(parent);
    const id = from.get(name);
    if (id === undefined) throw new FuseError(errno.ENOENT);
    const to = this.dir(newParent);
    from.delete(name);
    to.set(newName, id);
  }

  open(_ctx: RequestContext, nodeid: number): OpenReply {
    const n = this.node(nodeid);
    if (n.children) throw new FuseError(errno.EISDIR);
    return { fh: this.nextFh++ };
  }

  read(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, size: number): Buffer | Buffer[] {
    const n = this.node(nodeid);
    if (!n.data) throw new FuseError(errno.EISDIR);
    if (offset >= n.size) return Buffer.alloc(0);
    const b = n.data.subarray(offset, Math.min(n.size, offset + size));
    if (this.sliceSize <= 0) return b;
    const parts: Buffer[] = [];
    for (let at = 0; at < b.length; at += this.sliceSize) parts.push(b.subarray(at, at + this.sliceSize));
    return parts;
  }

  write(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, data: Buffer): number {
    const n = this.node(nodeid);
    if (!n.data) throw new FuseError(errno.EISDIR);
    const end = offset + data.length;
    if (end > 1 << 30) throw new FuseError(errno.EFBIG);
    if (end > n.size) this.resize(n, end);
    data.copy(n.data, offset);
    n.attr.mtimeMs = Date.now();
    return data.length;
  }

  flush(): void {}
  fsync(): void {}
  release(): void {}

  opendir(_ctx: RequestContext, nodeid: number): OpenReply {
    this.dir(nodeid);
    return { fh: this.nextFh++ };
  }

  readdir(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, out: DirList): void {
    const n = this.node(nodeid);
    const d = this.dir(nodeid);
    const all: [string, Node][] = [['.', n], ['..', this.node(n.parent)]];
    for (const [name, id] of d) all.push([name, this.node(id)]);
    for (let i = offset; i < all.length; i++) {
      const [name, c] = all[i]!;
      const dot = name === '.' || name === '..';
      const entry: Entry = { nodeid: c.id, attr: this.attrOf(c), entryTimeout: 1, attrTimeout: 1 };
      if (!out.add({ name, nextOffset: i + 1, entry })) break;
      // READDIRPLUS entries count as lookups, except "." and "..".
      if (out.plus && !dot) c.lookups++;
    }
  }

  releasedir(): void {}

  statfs(): Statfs {
    return { blocks: 1 << 20, bfree: 1 << 19, bavail: 1 << 19, files: 1 << 16, ffree: (1 << 16) - this.nodes.size, bsize: 4096, namelen: 255, frsize: 4096 };
  }

  create(_ctx: RequestContext, parent: number, name: string, mode: number): Entry & OpenReply {
    const n = this.add(parent, name, S_IFREG | (mode & 0o7777));
    return { ...this.entry(n), fh: this.nextFh++ };
  }

  access(_ctx: RequestContext, nodeid: number): void {
    this.node(nodeid);
  }

  setxattr(_ctx: RequestContext, nodeid: number, name: string, value: Buffer): void {
    this.node(nodeid).xattrs.set(name, Buffer.from(value));
  }

  getxattr(_ctx: RequestContext, nodeid: number, name: string): Buffer {
    const v = this.node(nodeid).xattrs.get(name);
    if (!v) throw new FuseError(errno.ENODATA);
    return v;
  }

  listxattr(_ctx: RequestContext, nodeid: number): string[] {
    return [...this.node(nodeid).xattrs.keys()];
  }

  removexattr(_ctx: RequestContext, nodeid: number, name: string): void {
    if (!this.node(nodeid).xattrs.delete(name)) throw new FuseError(errno.ENODATA);
  }

  fallocate(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, length: number, mode: number): void {
    if (mode !== 0) throw new FuseError(errno.EOPNOTSUPP);
    const n = this.node(nodeid);
    if (!n.data) throw new FuseError(errno.EISDIR);
    if (offset + length > n.size) this.resize(n, offset + length);
  }
}
