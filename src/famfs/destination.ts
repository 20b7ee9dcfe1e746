// Where creat, cp and mkdir may write, and what their destination paths may be (issue 13
// item 5). A destination is IMAGE:/path (an unmounted image) or a path inside a famfs-ts
// mount; anything else is a host path, which famfs refuses ("failed to create file", exit 1)
// and so do we. Inside famfs: `..` may not climb out of the file system, a trailing slash
// means a directory, `/.meta` at the root is the mount's metadata view (reserved), and a
// path relative to the root fits famfs's 80-byte relpath (FAMFS_MAX_PATHLEN, NUL included).
// Pure: the caller says which directories are famfs-ts mounts.
import { MAX_PATHLEN } from './constants.js';
import type { Errno } from './errors.js';

/** Longest path relative to the root that a log entry holds (the relpath has a NUL). */
export const MAX_RELPATH_BYTES = MAX_PATHLEN - 1;
/** Longest name of one component (NAME_MAX, what the kernel lets FUSE see). */
export const MAX_NAME_BYTES = 255;
/** The mount's metadata directory at the root (reference famfs-format.md §7). */
export const META_DIR = '.meta';

export class DestinationError extends Error {
  constructor(message: string, readonly errno: Errno, readonly exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface FamfsPath {
  /** Components from the root of the file system ('' is the root). */
  readonly rel: string;
  /** The argument ended in '/' (or '/.'): it must be a directory. */
  readonly dir: boolean;
}

export type Destination =
  | ({ readonly kind: 'image'; readonly image: string } & FamfsPath)
  | ({ readonly kind: 'mounted'; readonly mountpoint: string; readonly abs: string } & FamfsPath)
  | { readonly kind: 'host'; readonly abs: string };

/**
 * Resolve '.', '..' and repeated slashes of a path inside famfs, lexically (famfs paths
 * have no symlinks). `arg` names the argument in messages.
 */
export function famfsPath(p: string, arg = p): FamfsPath {
  const out: string[] = [];
  const parts = p.split('/');
  for (const c of parts) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw new DestinationError(`${arg}: ".." leads out of the famfs file system`, 'EINVAL', 22);
      out.pop();
      continue;
    }
    out.push(c);
  }
  const last = parts[parts.length - 1];
  const dir = p.length > 0 && (last === '' || last === '.' || last === '..');
  return { rel: out.join('/'), dir };
}

/** Refusals that hold for any path that is to be created inside famfs. */
export function checkNewPath(fp: FamfsPath, arg: string): void {
  if (fp.rel === '') throw new DestinationError(`${arg}: is the root of the file system`, 'EEXIST', 17);
  const parts = fp.rel.split('/');
  if (parts[0] === META_DIR) {
    if (parts.length === 1) throw new DestinationError(`${arg}: File exists (/${META_DIR} is reserved for the mount's metadata files)`, 'EEXIST', 17);
    throw new DestinationError(`${arg}: Operation not permitted (/${META_DIR} is reserved for the mount's metadata files)`, 'EPERM', 1);
  }
  for (const c of parts) {
    if (Buffer.byteLength(c) > MAX_NAME_BYTES) throw new DestinationError(`${arg}: File name too long (a name holds at most ${MAX_NAME_BYTES} bytes, NAME_MAX)`, 'ENAMETOOLONG', 36);
  }
  const n = Buffer.byteLength(fp.rel);
  if (n > MAX_RELPATH_BYTES) {
    throw new DestinationError(`${arg}: File name too long (its path from the famfs root is ${n} bytes; famfs allows ${MAX_RELPATH_BYTES}, FAMFS_MAX_PATHLEN ${MAX_PATHLEN} with the NUL)`, 'ENAMETOOLONG', 36);
  }
}

/** POSIX-style lexical absolute path of `p` from `cwd`, and whether it ended in '/'. */
function absolute(p: string, cwd: string): { abs: string; dir: boolean; climbs: string | undefined } {
  const start = p.startsWith('/') ? [] : cwd.split('/').filter(Boolean);
  const out = [...start];
  let climbs: string | undefined;
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      // The directory `..` was applied to: the path before the first climb that leaves it.
      climbs ??= '/' + out.join('/');
      out.pop();
      continue;
    }
    out.push(c);
  }
  const last = p.split('/').pop();
  return { abs: '/' + out.join('/'), dir: last === '' || last === '.' || last === '..', climbs };
}

function within(abs: string, dir: string): boolean {
  return dir === '/' || abs === dir || abs.startsWith(dir + '/');
}

/** The famfs-ts mount holding `abs` (the deepest one), if any. */
export function mountOf(abs: string, mountpoints: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const m of mountpoints) if (within(abs, m) && (!best || m.length > best.length)) best = m;
  return best;
}

/**
 * Classify a destination argument. `IMAGE:/path` is an image path; a host path inside one
 * of `mountpoints` (canonical, from /proc/mounts) is a mounted path; anything else is a host
 * path. `canonical` turns the argument's lexical absolute form into the real one (the CLI
 * resolves symlinks of the part that exists).
 */
export function classifyDestination(arg: string, o: { cwd: string; mountpoints: readonly string[]; canonical?: (abs: string) => string }): Destination {
  const at = arg.indexOf(':/');
  if (at > 0) return { kind: 'image', image: arg.slice(0, at), ...famfsPath(arg.slice(at + 1), arg) };
  const lex = absolute(arg, o.cwd);
  const abs = o.canonical ? o.canonical(lex.abs) : lex.abs;
  const mnt = mountOf(abs, o.mountpoints);
  if (lex.climbs !== undefined) {
    // `..` that starts inside a mount and ends outside it leaves the file system.
    const from = mountOf(o.canonical ? o.canonical(lex.climbs) : lex.climbs, o.mountpoints);
    if (from !== undefined && mnt !== from) throw new DestinationError(`${arg}: ".." leads out of the famfs file system mounted on ${from}`, 'EINVAL', 22);
  }
  if (mnt === undefined) return { kind: 'host', abs };
  const rel = abs === mnt ? '' : abs.slice(mnt === '/' ? 1 : mnt.length + 1);
  return { kind: 'mounted', mountpoint: mnt, abs, rel, dir: lex.dir };
}

/** famfs's refusal of a host path, per verb ("failed to create file", exit 1). */
export function hostPathRefusal(verb: 'creat' | 'cp' | 'mkdir', arg: string): DestinationError {
  const what = verb === 'mkdir' ? 'directory' : 'file';
  return new DestinationError(
    `famfs ${verb}: failed to create ${what} ${arg}: not in a famfs file system (give IMAGE:/path, or a path inside a famfs-ts mount)`, 'EINVAL', 1);
}
