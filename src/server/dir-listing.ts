// A directory's committed children as packed fuse_dirent records in name order, kept between
// READDIRs. A listing of N names is N / 1,000 or so requests (the kernel asks for the reader's
// getdents buffer each time), and a master's directory grows by one name per create: the
// records of names that sort after the last one (a run of creates of f0001, f0002, ...) are
// appended; any other new name rebuilds them once. A READDIR is then a binary search and one
// copy. famfs directories only grow (no unlink or rename of a logged file,
// famfs-format.md §3.6), so a child count that did not change means nothing changed.
//
// Cookies (the dirent's off field, the offset the next READDIR starts from) name an entry, not
// a position: a child's is its node id plus CHILD_COOKIE_BIAS, so a READDIR resumes after that
// name in name order, and names added or dropped between two READDIRs neither shift nor
// repeat the entries that stayed. Cookies below the bias are the fixed entries' positions.
import type { DirNode, Node } from '../famfs/namespace.js';
import { direntSize, direntType, packDirent } from '../fuse/reply.js';
import { Dirent } from '../fuse/structs.js';
import type { PendingFile } from './pending.js';

const DIRENT_SIZE = Dirent.size;
if (Dirent.offsetOf('ino') !== 0 || Dirent.offsetOf('off') !== 8 || Dirent.offsetOf('namelen') !== 16 || Dirent.offsetOf('type') !== 20) {
  throw new Error('fuse_dirent layout: dir-listing.ts packs ino, off, namelen, type at 0, 8, 16, 20');
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** Cookies 1..CHILD_COOKIE_BIAS-1 are positions among '.', '..', '.meta' (and .meta's own fixed names). */
export const CHILD_COOKIE_BIAS = 16;

/** How many records added() moves to insert a name; further in, the next sync merges. */
const INSERT_TAIL = 64;

const byName = (a: Node, b: Node): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A safe integer as the u64 at word `at` of a record (low word first, as the wire has it on the little-endian hosts famfs runs on). */
function putU64(w: Uint32Array, at: number, v: number): void {
  w[at] = v % 0x1_0000_0000;
  w[at + 1] = Math.floor(v / 0x1_0000_0000);
}

/** The first index of sorted `names` whose name sorts after `name` (JavaScript string order, as Array.sort). */
export function upperBound(names: readonly string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! <= name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The file type bits a logged node's dirent carries (a namespace node is a directory or a file). */
export function nodeMode(n: Node): number {
  return n.kind === 'dir' ? S_IFDIR : S_IFREG;
}

export class DirRecords {
  private children: Map<string, Node> | undefined;
  private count = 0;
  /** Children in name order, and their names. */
  readonly nodes: Node[] = [];
  readonly names: string[] = [];
  /** Record k is buf[starts[k], starts[k + 1]). */
  readonly starts: number[] = [0];
  buf: Buffer = Buffer.alloc(0);
  /** The same bytes as 32-bit words: every record and its fields are 8-byte aligned. */
  private words = new Uint32Array(0);
  /** What the inode numbers in the records were worked out against (the owner's stamp, see inos()). */
  stamp = '';

  get length(): number {
    return this.nodes.length;
  }

  /**
   * Brings the records up to date with dir's children (a Map only ever added to: its tail,
   * in insertion order, is what is new). `ino` is the inode number a child is listed with.
   */
  sync(dir: DirNode, ino: (n: Node) => number): void {
    if (this.children === dir.children && this.count === dir.children.size) return;
    const fresh: Node[] = [];
    let k = 0;
    const skip = this.children === dir.children ? this.count : 0;
    for (const c of dir.children.values()) if (k++ >= skip) fresh.push(c);
    // Creates through a mount come in name order more often than not: no sort then.
    let ordered = true;
    for (let i = 1; i < fresh.length && ordered; i++) ordered = fresh[i - 1]!.name < fresh[i]!.name;
    if (!ordered) fresh.sort(byName);
    const last = this.names[this.names.length - 1];
    if (skip === 0) this.reset();
    if (fresh.length === 0) {
      // nothing new
    } else if (skip === 0 || last === undefined || fresh[0]!.name > last) this.append(fresh, ino);
    else this.merge(fresh, ino);
    this.children = dir.children;
    this.count = dir.children.size;
  }

  /** Takes dir's children Map as the one it covers (its records made from a copy of it, less the child being added). */
  adopt(dir: DirNode): void {
    this.children = dir.children;
  }

  /**
   * A child just added to the directory, with the inode number it is listed under: packed
   * in place when the records were up to date and it sorts among the last few (a run of
   * creates; a subdirectory sorting after them), else left to the next sync.
   */
  added(dir: DirNode, n: Node, ino: number): void {
    if (this.children !== dir.children || this.count !== dir.children.size - 1) return;
    const p = upperBound(this.names, n.name);
    if (this.nodes.length - p > INSERT_TAIL) return;
    const nlen = Buffer.byteLength(n.name, 'utf8');
    const rec = direntSize(nlen);
    const used = this.starts[this.starts.length - 1]!;
    if (used + rec > this.buf.length) this.grow(Math.max(used + rec, this.buf.length * 2, 4096), used);
    this.pack(openRecord(this.buf, this.starts, p, rec), n, nlen, ino);
    this.nodes.splice(p, 0, n);
    this.names.splice(p, 0, n.name);
    this.count++;
  }

  /** Re-works out every record's inode number (after the owner's stamp moved), and takes the new stamp. */
  inos(stamp: string, ino: (n: Node) => number): void {
    if (stamp === this.stamp) return;
    const w = this.words;
    for (let k = 0; k < this.nodes.length; k++) {
      putU64(w, this.starts[k]! >>> 2, ino(this.nodes[k]!));
    }
    this.stamp = stamp;
  }

  /** The index of the first name after `name`. */
  after(name: string): number {
    return upperBound(this.names, name);
  }

  /** The end of the longest run of records from `from` that fits in `room` bytes. */
  fit(from: number, room: number): number {
    return fitRecords(this.starts, from, this.nodes.length, room);
  }

  /** Record k's inode number. */
  inoAt(k: number): number {
    const at = this.starts[k]! >>> 2;
    return this.words[at]! + this.words[at + 1]! * 0x1_0000_0000;
  }

  private reset(): void {
    this.nodes.length = 0;
    this.names.length = 0;
    this.starts.length = 1;
    this.buf = Buffer.alloc(0);
    this.words = new Uint32Array(0);
  }

  private append(sorted: readonly Node[], ino: (n: Node) => number): void {
    const lens = sorted.map((n) => Buffer.byteLength(n.name, 'utf8'));
    let end = this.starts[this.starts.length - 1]!;
    const need = end + lens.reduce((s, l) => s + direntSize(l), 0);
    if (need > this.buf.length) {
      // Zeroed, so every record's padding is zero; doubling keeps a run of appends linear.
      this.grow(Math.max(need, this.buf.length * 2, 4096), end);
    }
    for (let i = 0; i < sorted.length; i++) {
      const n = sorted[i]!;
      end += this.pack(end, n, lens[i]!, ino(n));
      this.nodes.push(n);
      this.names.push(n.name);
      this.starts.push(end);
    }
  }

  /**
   * New names among the old ones (a directory's subdirectory sorts after the files being
   * created in it, and commits come in the order files are closed): runs of old records are
   * copied whole, the new ones packed between them.
   */
  private merge(fresh: readonly Node[], ino: (n: Node) => number): void {
    const oldBuf = this.buf;
    const oldStarts = this.starts.slice();
    const oldNodes = this.nodes.slice();
    const oldNames = this.names.slice();
    const lens = fresh.map((n) => Buffer.byteLength(n.name, 'utf8'));
    const used = oldStarts[oldStarts.length - 1]!;
    const need = used + lens.reduce((s, l) => s + direntSize(l), 0);
    this.reset();
    this.grow(Math.max(need, Math.min(need * 2, oldBuf.length * 2)), 0);
    const b = this.buf;
    let end = 0;
    let i = 0;
    const run = (to: number): void => {
      if (to <= i) return;
      oldBuf.copy(b, end, oldStarts[i]!, oldStarts[to]!);
      const shift = end - oldStarts[i]!;
      for (let x = i; x < to; x++) {
        this.nodes.push(oldNodes[x]!);
        this.names.push(oldNames[x]!);
        this.starts.push(oldStarts[x + 1]! + shift);
      }
      end = oldStarts[to]! + shift;
      i = to;
    };
    for (let j = 0; j < fresh.length; j++) {
      const n = fresh[j]!;
      run(upperBound(oldNames, n.name));
      end += this.pack(end, n, lens[j]!, ino(n));
      this.nodes.push(n);
      this.names.push(n.name);
      this.starts.push(end);
    }
    run(oldNodes.length);
  }

  private grow(size: number, keep: number): void {
    const grown = Buffer.alloc(size);
    this.buf.copy(grown, 0, 0, keep);
    this.buf = grown;
    this.words = new Uint32Array(grown.buffer, grown.byteOffset, grown.length >>> 2);
  }

  /** Packs n's record at `end` (zeroed bytes) and returns its length. */
  private pack(end: number, n: Node, nlen: number, v: number): number {
    return packRecord(this.buf, this.words, end, n.name, nlen, v, n.id + CHILD_COOKIE_BIAS, direntType(nodeMode(n)));
  }
}

/**
 * The files of one directory still being written (not yet logged), by name and in name order,
 * with their records packed as DirRecords packs the logged ones (cookie: the file's nodeid plus
 * CHILD_COOKIE_BIAS), so a listing copies runs of them too. A directory being filled holds a
 * settle time's worth of them (some hundreds at a few thousand creates a second); listing
 * them one by one cost some 5 us a name, and packing them all at the listing 60-400 us.
 * So the records are kept packed through every change: a create in name order appends one,
 * the commit of the oldest drops one from the front where it is, and anything else moves
 * the records after it by one record's length.
 */
export class PendingRecords {
  private readonly byName = new Map<string, PendingFile>();
  /** In name order, and their names. */
  readonly files: PendingFile[] = [];
  readonly names: string[] = [];
  /**
   * Record k is buf[starts[k], starts[k + 1]); the bytes after the last are zero. The run
   * need not start at 0: the oldest file's commit leaves its bytes behind it.
   */
  readonly starts: number[] = [0];
  buf: Buffer = Buffer.alloc(0);
  private words = new Uint32Array(0);

  get length(): number {
    return this.files.length;
  }

  get(name: string): PendingFile | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  set(name: string, f: PendingFile): void {
    this.delete(name);
    this.byName.set(name, f);
    // Creates come in name order more often than not: the bound is then the end (an append).
    const k = upperBound(this.names, name);
    this.files.splice(k, 0, f);
    this.names.splice(k, 0, name);
    const nlen = Buffer.byteLength(name, 'utf8');
    const rec = direntSize(nlen);
    const end = this.starts[this.starts.length - 1]!;
    if (end + rec > this.buf.length) {
      this.repack();
      return;
    }
    packRecord(this.buf, this.words, openRecord(this.buf, this.starts, k, rec), name, nlen, f.nodeid, f.nodeid + CHILD_COOKIE_BIAS, DT_REG);
  }

  delete(name: string): boolean {
    if (!this.byName.delete(name)) return false;
    const k = upperBound(this.names, name) - 1;
    if (k === 0) {
      // The oldest file goes first, mostly (logged after its settle time, in creation order,
      // which is name order more often than not): shift() moves the arrays' start, where
      // splice moved every element after it (bench/meta-mount/README.md, "Tenth pass").
      this.files.shift();
      this.names.shift();
      this.starts.shift();
    } else {
      const at = this.starts[k]!;
      const rec = this.starts[k + 1]! - at;
      const end = this.starts[this.starts.length - 1]!;
      this.buf.copyWithin(at, at + rec, end);
      this.buf.fill(0, end - rec, end);
      this.files.splice(k, 1);
      this.names.splice(k, 1);
      this.starts.splice(k + 1, 1);
      for (let i = k + 1; i < this.starts.length; i++) this.starts[i]! -= rec;
    }
    if (this.files.length === 0) {
      // Every file was logged (or dropped): a directory written once and listed keeps no
      // records, however many files it was being written at once.
      this.buf = Buffer.alloc(0);
      this.words = new Uint32Array(0);
      this.starts.length = 1;
      this.starts[0] = 0;
    }
    return true;
  }

  /** Every record packed again from the start, in a buffer with as much room again for creates. */
  private repack(): void {
    const lens = this.names.map((n) => Buffer.byteLength(n, 'utf8'));
    const need = lens.reduce((s, l) => s + direntSize(l), 0);
    if (2 * need > this.buf.length) {
      const grown = Buffer.alloc(Math.max(2 * need, 4096));
      this.buf = grown;
      this.words = new Uint32Array(grown.buffer, grown.byteOffset, grown.length >>> 2);
    } else {
      this.buf.fill(0, 0, this.starts[this.starts.length - 1]);
    }
    this.starts.length = 1;
    this.starts[0] = 0;
    let end = 0;
    for (let k = 0; k < this.files.length; k++) {
      const id = this.files[k]!.nodeid;
      end += packRecord(this.buf, this.words, end, this.names[k]!, lens[k]!, id, id + CHILD_COOKIE_BIAS, DT_REG);
      this.starts.push(end);
    }
  }

  /** The index of the first name after `name`. */
  after(name: string): number {
    return upperBound(this.names, name);
  }

  fit(from: number, room: number): number {
    return fitRecords(this.starts, from, this.files.length, room);
  }

  inoAt(k: number): number {
    return this.files[k]!.nodeid;
  }
}

const DT_REG = direntType(S_IFREG);

/** The end of the longest run of records from `from` (of `count`) that fits in `room` bytes. */
function fitRecords(starts: readonly number[], from: number, count: number, room: number): number {
  const limit = starts[from]! + room;
  let lo = from;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid]! <= limit) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Room for a record of `rec` bytes as record k of the packed run in b (whose bounds `starts`
 * holds; the buffer has the room past the last): the records from k on move up by rec, the
 * bytes they leave are zeroed for the new one, and starts takes its bounds. Returns where it goes.
 */
function openRecord(b: Buffer, starts: number[], k: number, rec: number): number {
  const at = starts[k]!;
  b.copyWithin(at + rec, at, starts[starts.length - 1]!);
  b.fill(0, at, at + rec);
  starts.splice(k + 1, 0, at + rec);
  for (let i = k + 2; i < starts.length; i++) starts[i]! += rec;
  return at;
}

/** Packs one record at `end` of b (zeroed bytes; w: the same bytes as words) and returns its length. */
function packRecord(b: Buffer, w: Uint32Array, end: number, name: string, nlen: number, ino: number, off: number, type: number): number {
  // fuse_dirent's fields at their word offsets (ino 0, off 2, namelen 4, type 5: the struct
  // table, checked at load above), and a plain ASCII name byte by byte: a listing packs
  // thousands, and Buffer.write's checks cost more than the bytes. Anything else goes
  // through packDirent (and its checks).
  let ascii = nlen === name.length && nlen > 0 && nlen <= 1024;
  for (let c = 0; c < nlen && ascii; c++) {
    const ch = name.charCodeAt(c);
    ascii = ch !== 0 && ch !== 0x2f;
    b[end + DIRENT_SIZE + c] = ch;
  }
  if (!ascii) {
    b.fill(0, end + DIRENT_SIZE, end + direntSize(nlen));
    return packDirent(b, end, ino, off, type, name, nlen);
  }
  const at = end >>> 2;
  putU64(w, at, ino);
  putU64(w, at + 2, off);
  w[at + 4] = nlen;
  w[at + 5] = type;
  return direntSize(nlen);
}

/**
 * Names by cookie id, the newest `keep` at least and 2 * keep at most: two generations, the
 * older dropped whole when the newer fills. Dropping the oldest one by one (a Map's first
 * key) cost some 0.5 us a name once the Map's head was all deleted slots, paid for every
 * file-being-written a listing handed out.
 */
export class RecentNames {
  private young = new Map<number, string>();
  private old = new Map<number, string>();
  constructor(private readonly keep: number) {}

  get(id: number): string | undefined {
    return this.young.get(id) ?? this.old.get(id);
  }

  set(id: number, name: string): void {
    if (this.young.get(id) === name) return;
    this.young.set(id, name);
    if (this.young.size < this.keep) return;
    this.old = this.young;
    this.young = new Map();
  }
}
