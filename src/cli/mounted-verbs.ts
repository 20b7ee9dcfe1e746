// `famfs-ts creat/cp/mkdir/logplay` on paths inside a famfs-ts mount: exactly the standard
// calls any program makes (open O_CREAT|O_EXCL, the interleave xattr, ftruncate to the size
// first so the server allocates at once, write, close), plus the logplay control xattr.
// Runs in the CLI process, never in the server.
import fs from 'node:fs';
import path from 'node:path';
import type { InterleaveParams } from '../famfs/alloc.js';
import { MAX_PATHLEN } from '../famfs/constants.js';
import { FamfsRandom } from '../famfs/prng.js';
import { getXattr, setXattr } from '../sys/xattr.js';
import { formatInterleaveParam, INTERLEAVE_XATTR } from '../server/interleave-param.js';
import { LOGPLAY_XATTR } from '../server/famfs-fs.js';
import { copyTree } from './copy-tree.js';

export interface MountedCreateOptions {
  readonly mode?: number;
  readonly interleave?: InterleaveParams;
}

/** Ask the server of the mount holding `dir` to replay the log; returns its report line. */
export function logplayMounted(dir: string): string {
  return getXattr(dir, LOGPLAY_XATTR).toString('utf8');
}

/** Whether `p` is inside a famfs-ts mount (its server answers the role attribute). */
export function isInFamfsMount(p: string): boolean {
  try {
    getXattr(fs.existsSync(p) ? p : path.dirname(p), 'user.famfs.role', 64);
    return true;
  } catch {
    return false;
  }
}

/** Mount points of famfs-ts mounts, from mountinfo (octal escapes undone). */
function famfsMountPoints(): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || post?.split(' ')[0] !== 'fuse.famfs-ts') continue;
    const at = pre.split(' ')[4];
    if (at) out.push(at.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** The famfs-ts mount holding absolute path `p` (the longest mount point above it). */
function mountOf(p: string, mounts: readonly string[]): string | undefined {
  return mounts.filter((m) => p === m || p.startsWith(`${m}/`)).sort((a, b) => b.length - a.length)[0];
}

/**
 * A path given inside a famfs-ts mount must stay inside it: `..` is resolved by the kernel,
 * so `MNT/a/../../x` would otherwise act on the host (famfs refuses paths that leave it).
 * `/.meta` is famfs's, and a path is at most 79 bytes from the mount's root (the log entry's
 * relpath field, famfs-format.md §3.3): refused here with the reason, before any call.
 */
export function assertInsideMount(given: string): void {
  const mounts = famfsMountPoints();
  const parts = given.split('/');
  const up = parts.indexOf('..');
  const literal = path.resolve(up < 0 ? given : parts.slice(0, up).join('/') || '/');
  const mnt = mountOf(literal, mounts);
  if (mnt === undefined) return;
  const r = path.resolve(given);
  if (r !== mnt && !r.startsWith(`${mnt}/`)) {
    throw new Error(`${given}: '..' leads out of the famfs file system mounted at ${mnt} (to ${r}); famfs paths stay inside it`);
  }
  const rel = path.relative(mnt, r);
  if (rel === '.meta' || rel.startsWith('.meta/')) throw new Error(`${given}: /.meta is reserved for famfs's superblock and log files`);
  if (Buffer.byteLength(rel) > MAX_PATHLEN - 1) {
    throw new Error(`${given}: the path in the file system (${rel}) is ${Buffer.byteLength(rel)} bytes; famfs allows at most ${MAX_PATHLEN - 1}`);
  }
}

function openNew(file: string, size: number, o: MountedCreateOptions): number {
  const fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, o.mode ?? 0o644);
  try {
    if (o.interleave && o.interleave.nstrips > 0) {
      const p = o.interleave;
      setXattr(file, INTERLEAVE_XATTR, formatInterleaveParam({ ...p, nbuckets: Math.max(p.nbuckets, p.nstrips) }));
    }
    fs.ftruncateSync(fd, size);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fd;
}

/** famfs creat on a mounted path: allocate `size` bytes, optionally fill with famfs test data. */
export function creatMounted(file: string, size: number, o: MountedCreateOptions & { seed?: number }): void {
  assertInsideMount(file);
  const fd = openNew(file, size, o);
  try {
    if (o.seed !== undefined) {
      const rng = new FamfsRandom(o.seed);
      const chunk = Buffer.alloc(Math.min(size, 4 << 20));
      for (let pos = 0; pos < size; pos += chunk.length) {
        const n = Math.min(chunk.length, size - pos);
        rng.fill(chunk.subarray(0, n));
        fs.writeSync(fd, chunk, 0, n, pos);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** famfs cp into a mount: size first, then the data; empty sources are skipped like famfs. */
export function cpMounted(srcs: readonly string[], dest: string, o: MountedCreateOptions & { recursive?: boolean; verbose?: boolean }): number {
  assertInsideMount(dest);
  const destIsDir = fs.existsSync(dest) && fs.statSync(dest).isDirectory();
  if (srcs.length > 1 && !destIsDir) throw new Error(`famfs cp: destination ${dest} is not a directory`);
  let out = -1;
  const errors = copyTree(srcs, dest, destIsDir, !!o.recursive, {
    join: path.join,
    ensureDir(to, mode) {
      if (!fs.existsSync(to)) fs.mkdirSync(to, { mode });
    },
    openFile(_src, to, st) {
      const fd = openNew(to, st.size, { ...o, mode: o.mode ?? st.mode & 0o777 });
      out = fd;
      return (pos, data) => void fs.writeSync(fd, data, 0, data.length, pos);
    },
    closeFile(to) {
      fs.closeSync(out);
      if (o.verbose) process.stdout.write(`famfs cp: 100%: ${to}\n`);
    },
  });
  return errors ? 1 : 0;
}

export function mkdirMounted(dir: string, o: { parents?: boolean; mode?: number }): void {
  assertInsideMount(dir);
  fs.mkdirSync(dir, { recursive: !!o.parents, mode: o.mode ?? 0o755 });
}
