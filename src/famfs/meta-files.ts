// famfs's meta files (reference §8: `.meta/.superblock`, 2 MiB at offset 0, and `.meta/.log`,
// log_len bytes at log_offset, both on daxdev 0) as namespace nodes, so an offline image
// shows the same `.meta` a mount does. They are not in the log; their node ids are negative
// so they never collide with the namespace's.
import type { DirNode, FileNode, Node } from './namespace.js';
import { splitPath } from './namespace.js';
import type { Superblock } from './superblock.js';
import { LOG_OFFSET } from './constants.js';

export const META_DIR = '.meta';
const SUPERBLOCK_SIZE = 2 * 1024 * 1024;

function metaFile(name: string, offset: number, length: number, id: number): FileNode {
  return {
    kind: 'file', id, name, path: `${META_DIR}/${name}`, mode: 0o444, uid: 0, gid: 0, index: -1, size: length, flags: 0,
    map: { size: length, extents: [{ type: 'simple', daxdev: 0, offset, length }] },
  };
}

/** The `.meta` directory of an image with superblock `sb`. */
export function metaDir(sb: Superblock): DirNode {
  const sbFile = metaFile('.superblock', 0, SUPERBLOCK_SIZE, -2);
  const log = metaFile('.log', LOG_OFFSET, sb.logLen, -3);
  return { kind: 'dir', id: -1, name: META_DIR, path: META_DIR, mode: 0o755, uid: 0, gid: 0, index: -1, children: new Map<string, Node>([[sbFile.name, sbFile], [log.name, log]]) };
}

/** `path` resolved in `.meta`, or undefined when it is not under `.meta`. */
export function metaLookup(sb: Superblock, path: string): Node | null | undefined {
  const parts = splitPath(path);
  if (parts[0] !== META_DIR) return undefined;
  const dir = metaDir(sb);
  if (parts.length === 1) return dir;
  if (parts.length === 2) return dir.children.get(parts[1]!) ?? null;
  return null;
}
