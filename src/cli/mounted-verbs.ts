// famfs verbs on paths inside a famfs-ts mount: exactly the standard calls any program
// makes (open O_CREAT|O_EXCL, the interleave xattr, ftruncate to the size first so the
// server allocates at once, fchown, write, close), plus the control xattrs the server
// answers (src/server/README.md). Runs in the CLI process, never in the server.
import fs from 'node:fs';
import path from 'node:path';
import type { InterleaveParams } from '../famfs/alloc.js';
import type { FileMap } from '../interleave/filemap.js';
import { getXattr, setXattr } from '../sys/xattr.js';
import { formatInterleaveParam, INTERLEAVE_XATTR } from '../server/interleave-param.js';
import { LOGPLAY_XATTR, MAP_XATTR } from '../server/control-xattrs.js';
import { CliError } from './run.js';
import { FAMFS_TS_FSTYPE, mountContaining } from '../famfs/proc-mounts.js';
import { policyDefaults } from '../famfs/alloc-defaults.js';
import { mapRefusal, mappingModeOf, probeMap } from '../server/mapping-policy.js';
import { FAMFS_V10 } from '../mapping/series.js';
import { isFamfsModeImage, openThroughMount, type FamfsModeHost } from './famfs-mode-image.js';
import type { CopySink } from './copy-tree.js';

export interface MountedCreateOptions {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly interleave?: InterleaveParams;
  /** The host identity (famfs mode: the CLI logs as the master itself). */
  readonly host?: FamfsModeHost;
}

/** The mount holding `p` when its daxdev is in famfs mode; `rel` is p inside it. */
function famfsModeMount(p: string): { source: string; mountpoint: string; rel: string } | undefined {
  const abs = path.resolve(p);
  const m = mountContaining(abs);
  if (!m || m.entry.fstype !== FAMFS_TS_FSTYPE || !isFamfsModeImage(m.entry.source)) return undefined;
  return { source: m.entry.source, mountpoint: m.entry.mountpoint, rel: m.rel };
}

/**
 * famfs mode: what the V10 kernel cannot map (a strip off daxdev 0, over 32 extents or
 * strips, chunks below 2 MiB, a reply over 4096 bytes) is refused before anything is logged,
 * on every route that creates a file (through the mount, or DEV:/path offline).
 */
export function refuseUnmappable(file: string, interleave: InterleaveParams | undefined, daxdevs: readonly number[] | undefined): void {
  const refusal = mapRefusal(probeMap({ interleave, daxdevs: daxdevs ?? [0] }), mappingModeOf(FAMFS_V10, true));
  if (refusal) throw new CliError(`${file}: famfs mode: the famfs V10 kernel could not map this file: ${refusal.message}`, refusal.errno);
}

/**
 * famfs mode: a new file is allocated and logged by this process through the mount's
 * .meta/.log, as famfs's CLI does (famfs_fused has no create); the server replays it and
 * the kernel maps it at the open (GET_FMAP). What the V10 kernel cannot map (a strip off
 * daxdev 0, over 32 extents or strips, chunks below 2 MiB, a reply over 4096 bytes) is
 * refused before anything is logged.
 */
function createInFamfsMode(file: string, m: { source: string; mountpoint: string; rel: string }, size: number, o: MountedCreateOptions): number {
  if (size <= 0) throw new CliError(`${file}: famfs mode: a file is created with its size (famfs refuses size 0)`, 22);
  const { image, close } = openThroughMount(m.source, m.mountpoint, o.host ?? {}, true);
  try {
    const d = policyDefaults(image);
    const interleave = o.interleave && o.interleave.nstrips > 0 ? { ...o.interleave, nbuckets: Math.max(o.interleave.nbuckets, o.interleave.nstrips) } : d.interleave;
    refuseUnmappable(file, interleave, d.daxdevs);
    image.creat(m.rel, size, { mode: o.mode ?? 0o644, uid: o.uid, gid: o.gid, interleave, daxdevs: d.daxdevs });
  } finally {
    close();
  }
  return fs.openSync(file, fs.constants.O_RDWR);
}

/** Ask the server of the mount holding `dir` to replay the log; returns its report line. */
export function logplayMounted(dir: string): string {
  return getXattr(dir, LOGPLAY_XATTR).toString('utf8');
}

/** A file's FileMap as the server holds it; undefined when it has none (not a famfs file). */
export function mountedFileMap(file: string): FileMap | undefined {
  try {
    return JSON.parse(getXattr(file, MAP_XATTR, 16 << 20).toString('utf8')) as FileMap;
  } catch {
    return undefined;
  }
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

/**
 * A file written through a famfs-ts mount is logged after a settle time once closed; an fsync
 * of it with no writer open logs it at once (src/server/famfs-fs.ts fsync). famfs's creat and
 * cp return with the file logged: so do these.
 */
export function logNow(file: string): void {
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function chownIfAsked(fd: number, o: MountedCreateOptions): void {
  if (o.uid === undefined && o.gid === undefined) return;
  const st = fs.fstatSync(fd);
  fs.fchownSync(fd, o.uid ?? st.uid, o.gid ?? st.gid);
}

/** Create `file` with `size` bytes allocated (sized before any data: the server allocates once). */
export function createSized(file: string, size: number, o: MountedCreateOptions): number {
  const fm = famfsModeMount(file);
  if (fm) return createInFamfsMode(file, fm, size, o);
  const fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, o.mode ?? 0o644);
  try {
    if (o.interleave && o.interleave.nstrips > 0) {
      const p = o.interleave;
      setXattr(file, INTERLEAVE_XATTR, formatInterleaveParam({ ...p, nbuckets: Math.max(p.nbuckets, p.nstrips) }));
    }
    fs.ftruncateSync(fd, size);
    chownIfAsked(fd, o);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fd;
}

/**
 * Open `file` for `size` bytes: an existing regular file of that size is reused (famfs
 * creat and cp are restartable); another size or type is refused; a missing one is created.
 */
export function openForSize(file: string, size: number, o: MountedCreateOptions): { fd: number; created: boolean } {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    st = undefined;
  }
  if (!st) return { fd: createSized(file, size, o), created: true };
  if (!st.isFile()) throw new CliError(`${file} exists and is not a regular file`, 17);
  if (!mountedFileMap(file)) throw new CliError(`${file} is not a famfs file`, 1);
  if (size !== 0 && st.size !== size) throw new CliError(`${file} exists and is not the same size (${st.size} bytes)`, 17);
  return { fd: fs.openSync(file, fs.constants.O_RDWR), created: false };
}

/** The sink of `famfs cp` into a mount. */
export function mountedSink(o: MountedCreateOptions, hooks: Pick<CopySink, 'progress' | 'done'>): CopySink {
  return {
    ...hooks,
    join: path.join,
    ensureDir(to, mode) {
      if (fs.existsSync(to)) {
        if (!fs.statSync(to).isDirectory()) throw new CliError(`${to} exists and is not a directory`, 20);
        return;
      }
      if (famfsModeMount(to)) {
        mkdirMounted(to, { mode: o.mode ?? mode, uid: o.uid, gid: o.gid, host: o.host });
        return;
      }
      fs.mkdirSync(to, { mode: o.mode ?? mode });
      if (o.uid !== undefined || o.gid !== undefined) fs.chownSync(to, o.uid ?? process.geteuid?.() ?? 0, o.gid ?? process.getegid?.() ?? 0);
    },
    openFile(to, size, mode) {
      const { fd } = openForSize(to, size, { ...o, mode: o.mode ?? mode });
      return {
        write: (pos, data) => void fs.writeSync(fd, data, 0, data.length, pos),
        close: () => {
          fs.closeSync(fd);
          logNow(to);
        },
      };
    },
    openExisting(to, size) {
      const st = fs.statSync(to);
      if (!st.isFile() || st.size !== size) throw new CliError(`${to}: not a file of ${size} bytes`, 22);
      const fd = fs.openSync(to, 'r');
      return { read: (pos, dst) => fs.readSync(fd, dst, 0, dst.length, pos), close: () => fs.closeSync(fd) };
    },
  };
}

/** famfs mkdir on a mounted path: the server logs it; -p creates parents, owner as asked. */
export function mkdirMounted(dir: string, o: { parents?: boolean; mode?: number; uid?: number; gid?: number; host?: FamfsModeHost }): string[] {
  const made: string[] = [];
  const parts: string[] = [];
  let p = path.resolve(dir);
  while (!fs.existsSync(p)) {
    parts.unshift(p);
    p = path.dirname(p);
  }
  if (parts.length === 0) {
    if (o.parents && fs.statSync(dir).isDirectory()) return made;
    throw new CliError(`famfs mkdir: ${dir}: File exists`, 17);
  }
  if (!o.parents && parts.length > 1) throw new CliError(`famfs mkdir: ${path.dirname(dir)}: No such file or directory`, 2);
  if (!fs.statSync(p).isDirectory()) throw new CliError(`famfs mkdir: ${p}: Not a directory`, 20);
  const fm = famfsModeMount(dir);
  if (fm) {
    // famfs mode: logged through .meta/.log by this process (famfs_fused has no mkdir).
    const { image, close } = openThroughMount(fm.source, fm.mountpoint, o.host ?? {}, true);
    try {
      for (const d of parts) {
        image.mkdir(path.relative(fm.mountpoint, d), { mode: o.mode ?? 0o755, uid: o.uid, gid: o.gid });
        made.push(d);
      }
    } finally {
      close();
    }
    return made;
  }
  for (const d of parts) {
    fs.mkdirSync(d, { mode: o.mode ?? 0o755 });
    if (o.uid !== undefined || o.gid !== undefined) fs.chownSync(d, o.uid ?? process.geteuid?.() ?? 0, o.gid ?? process.getegid?.() ?? 0);
    made.push(d);
  }
  return made;
}
