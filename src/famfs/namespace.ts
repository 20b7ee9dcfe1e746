// Log replay into a tree (famfs logplay semantics, famfs-format.md §3.6): directories and files
// with their FileMaps. Node ids are stable: the root is 1 and the node created by log entry
// i is i + 2, so every host that replays the same log agrees on them (FUSE nodeids).
import type { FileMap } from '../interleave/filemap.js';
import type { LogEntry } from './log.js';
import { ErrnoError } from '../errno.js';

export const ROOT_ID = 1;

interface NodeBase {
  readonly id: number;
  readonly name: string;
  /** Relative path from the root ('' for the root). */
  readonly path: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Log index that created it (-1 for the root). */
  readonly index: number;
}

export interface DirNode extends NodeBase {
  readonly kind: 'dir';
  readonly children: Map<string, Node>;
}

export interface FileNode extends NodeBase {
  readonly kind: 'file';
  readonly size: number;
  readonly flags: number;
  readonly map: FileMap;
}

export type Node = DirNode | FileNode;

export class PathError extends ErrnoError {
  constructor(message: string, readonly errno: 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'EINVAL' | 'ENAMETOOLONG') {
    super(message, errno);
  }
}

/**
 * Split a path relative to the root into components. Leading '/' is allowed (an
 * IMAGE:/path), '.' and empty components are dropped, '..' is refused.
 */
export function splitPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new PathError(`${path}: ".." is not allowed in famfs paths`, 'EINVAL');
  return parts;
}

export interface ReplayStats {
  entries: number;
  filesCreated: number;
  dirsCreated: number;
  filesExisted: number;
  dirsExisted: number;
  fileErrors: number;
  dirErrors: number;
  errors: string[];
}

export class Namespace {
  readonly root: DirNode = { kind: 'dir', id: ROOT_ID, name: '', path: '', mode: 0o755, uid: 0, gid: 0, index: -1, children: new Map() };
  private readonly byId = new Map<number, Node>([[ROOT_ID, this.root]]);
  readonly stats: ReplayStats = { entries: 0, filesCreated: 0, dirsCreated: 0, filesExisted: 0, dirsExisted: 0, fileErrors: 0, dirErrors: 0, errors: [] };
  /** Told of each node added to a directory (a server keeps its listings up to date). */
  onAdd?: (parent: DirNode, node: Node) => void;

  node(id: number): Node | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  lookup(path: string): Node | undefined {
    let n: Node = this.root;
    for (const part of splitPath(path)) {
      if (n.kind !== 'dir') return undefined;
      const c = n.children.get(part);
      if (!c) return undefined;
      n = c;
    }
    return n;
  }

  /** Parent directory of `path` and the last component; throws PathError. */
  parentOf(path: string): { parent: DirNode; name: string } {
    const parts = splitPath(path);
    if (parts.length === 0) throw new PathError(`${path}: is the root`, 'EEXIST');
    let n: Node = this.root;
    for (const part of parts.slice(0, -1)) {
      if (n.kind !== 'dir') throw new PathError(`${path}: ${n.path} is not a directory`, 'ENOTDIR');
      const c = n.children.get(part);
      if (!c) throw new PathError(`${path}: parent directory ${parts.slice(0, parts.indexOf(part) + 1).join('/')} does not exist`, 'ENOENT');
      n = c;
    }
    if (n.kind !== 'dir') throw new PathError(`${path}: ${n.path} is not a directory`, 'ENOTDIR');
    return { parent: n, name: parts[parts.length - 1]! };
  }

  /** Every node in depth-first, name order. */
  *walk(from: DirNode = this.root): Generator<Node> {
    for (const name of [...from.children.keys()].sort()) {
      const c = from.children.get(name)!;
      yield c;
      if (c.kind === 'dir') yield* this.walk(c);
    }
  }

  /**
   * Apply a valid log entry at `index`. Mirrors __famfs_logplay: relative paths only, no
   * extent at offset 0 (for interleaved files famfs's check reads the union, so it tests
   * ie_chunk_size; we test the strips, which is what the check means), existing nodes are
   * counted, a file where a directory should be is an error.
   */
  apply(e: LogEntry, index: number): void {
    const s = this.stats;
    s.entries++;
    const fail = (dir: boolean, msg: string) => {
      if (dir) s.dirErrors++;
      else s.fileErrors++;
      s.errors.push(`log entry ${index}: ${msg}`);
    };
    if (e.type === 'file') {
      if (e.path.length === 0 || e.path.startsWith('/')) return fail(false, `ignoring log entry; path "${e.path}" is not relative`);
      for (const x of e.map.extents) {
        const zero = x.type === 'simple' ? x.offset === 0 : x.strips.some((st) => st.offset === 0);
        if (zero) return fail(false, `ERROR file ${e.path} has extent with 0 offset`);
      }
      let where;
      try {
        where = this.parentOf(e.path);
      } catch (err) {
        return fail(false, (err as Error).message);
      }
      const existing = where.parent.children.get(where.name);
      if (existing) {
        s.filesExisted++;
        return;
      }
      const node: FileNode = { kind: 'file', id: index + 2, name: where.name, path: joinPath(where.parent.path, where.name), mode: e.mode, uid: e.uid, gid: e.gid, index, size: e.size, flags: e.flags, map: e.map };
      where.parent.children.set(where.name, node);
      this.byId.set(node.id, node);
      s.filesCreated++;
      this.onAdd?.(where.parent, node);
      return;
    }
    if (e.type === 'mkdir') {
      if (e.path.length === 0 || e.path.startsWith('/')) return fail(true, `ignoring log mkdir entry; path "${e.path}" is not relative`);
      let where;
      try {
        where = this.parentOf(e.path);
      } catch (err) {
        return fail(true, (err as Error).message);
      }
      const existing = where.parent.children.get(where.name);
      if (existing) {
        if (existing.kind === 'dir') s.dirsExisted++;
        else fail(true, `file (${existing.path}) exists where dir should be`);
        return;
      }
      const node: DirNode = { kind: 'dir', id: index + 2, name: where.name, path: joinPath(where.parent.path, where.name), mode: e.mode, uid: e.uid, gid: e.gid, index, children: new Map() };
      where.parent.children.set(where.name, node);
      this.byId.set(node.id, node);
      s.dirsCreated++;
      this.onAdd?.(where.parent, node);
    }
  }
}

export function joinPath(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}
