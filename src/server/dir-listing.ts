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

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** Cookies 1..CHILD_COOKIE_BIAS-1 are positions among '.', '..', '.meta' (and .meta's own fixed names). */
export const CHILD_COOKIE_BIAS = 16;

const byName = (a: Node, b: Node): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

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

export class DirRecords {
  private children: Map<string, Node> | undefined;
  private count = 0;
  /** Children in name order, and their names. */
  readonly nodes: Node[] = [];
  readonly names: string[] = [];
  /** Record k is buf[starts[k], starts[k + 1]). */
  readonly starts: number[] = [0];
  buf: Buffer = Buffer.alloc(0);

  get length(): number {
    return this.nodes.length;
  }

  /** Brings the records up to date with dir's children (a Map only ever added to: its tail, in insertion order, is what is new). */
  sync(dir: DirNode): void {
    if (this.children === dir.children && this.count === dir.children.size) return;
    const fresh: Node[] = [];
    let k = 0;
    const skip = this.children === dir.children ? this.count : 0;
    for (const c of dir.children.values()) if (k++ >= skip) fresh.push(c);
    fresh.sort(byName);
    const last = this.names[this.names.length - 1];
    if (skip === 0 || last === undefined || fresh[0]!.name > last) {
      if (skip === 0) this.reset();
      this.append(fresh);
    } else {
      const all = this.nodes.concat(fresh).sort(byName);
      this.reset();
      this.append(all);
    }
    this.children = dir.children;
    this.count = dir.children.size;
  }

  /** The index of the first name after `name`. */
  after(name: string): number {
    return upperBound(this.names, name);
  }

  /** The end of the longest run of records from `from` that fits in `room` bytes. */
  fit(from: number, room: number): number {
    const limit = this.starts[from]! + room;
    let lo = from;
    let hi = this.nodes.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= limit) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Record k's inode number: the node id, or the nodeid the kernel knows the file by (the server's alias of a file it created). */
  inoAt(k: number): number {
    const at = this.starts[k]!;
    return this.buf.readUInt32LE(at) + this.buf.readUInt32LE(at + 4) * 0x1_0000_0000;
  }

  setIno(k: number, ino: number): void {
    const at = this.starts[k]!;
    this.buf.writeUInt32LE(ino % 0x1_0000_0000, at);
    this.buf.writeUInt32LE(Math.floor(ino / 0x1_0000_0000), at + 4);
  }

  private reset(): void {
    this.nodes.length = 0;
    this.names.length = 0;
    this.starts.length = 1;
    this.buf = Buffer.alloc(0);
  }

  private append(sorted: readonly Node[]): void {
    const lens = sorted.map((n) => Buffer.byteLength(n.name, 'utf8'));
    let end = this.starts[this.starts.length - 1]!;
    const need = end + lens.reduce((s, l) => s + direntSize(l), 0);
    if (need > this.buf.length) {
      // Zeroed, so every record's padding is zero; doubling keeps a run of appends linear.
      const grown = Buffer.alloc(Math.max(need, this.buf.length * 2, 4096));
      this.buf.copy(grown, 0, 0, end);
      this.buf = grown;
    }
    for (let i = 0; i < sorted.length; i++) {
      const n = sorted[i]!;
      end += packDirent(this.buf, end, n.id, n.id + CHILD_COOKIE_BIAS, direntType(n.kind === 'dir' ? S_IFDIR : S_IFREG), n.name, lens[i]!);
      this.nodes.push(n);
      this.names.push(n.name);
      this.starts.push(end);
    }
  }
}
