// The one reader of /proc/mounts: which file system is mounted where, from which source.
// famfs refuses mkfs and offline writers while a device is mounted, and finds the mount a
// path lives in; famfs-ts's own mounts have type fuse.famfs-ts and their source (fsname) is
// the device or layout YAML they serve (src/server/serve.ts).
import fs from 'node:fs';
import path from 'node:path';
import { isLayoutPath, loadLayout } from '../interleave/layout-yaml.js';

export const FAMFS_TS_FSTYPE = 'fuse.famfs-ts';

export interface MountEntry {
  readonly source: string;
  readonly mountpoint: string;
  readonly fstype: string;
  readonly options: readonly string[];
}

/** /proc/mounts escapes space, tab, newline and backslash as \ooo (fstab(5)). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parse /proc/mounts text (exported for tests that feed a fake table). */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 4) continue;
    out.push({ source: unescape(f[0]!), mountpoint: unescape(f[1]!), fstype: f[2]!, options: f[3]!.split(',') });
  }
  return out;
}

let mountsFile = '/proc/mounts';
/** Tests point the reader at a fake table. */
export function setMountsFile(file: string): void {
  mountsFile = file;
}

export function readMounts(): MountEntry[] {
  try {
    return parseMounts(fs.readFileSync(mountsFile, 'utf8'));
  } catch {
    return [];
  }
}

function real(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

/**
 * The paths a mount's source stands for: itself, and, for a famfs-ts mount of a layout YAML,
 * every device the layout names (each of them is in use while it is mounted).
 */
function sourcePaths(m: MountEntry): string[] {
  if (!m.source.startsWith('/')) return [m.source];
  const out = [m.source];
  const r = real(m.source);
  if (r !== undefined && r !== m.source) out.push(r);
  if (isLayoutPath(m.source)) {
    try {
      for (const d of loadLayout(m.source).devices) out.push(real(d.path) ?? d.path);
    } catch {
      // a YAML that no longer parses: its devices cannot be known
    }
  }
  return out;
}

/**
 * The mount `dev` (a device path or layout YAML) is mounted by, if any: as the mount's
 * source, or as a device of a mounted layout. Paths compare by their real path (a symlink
 * or /dev/shm vs /run/shm names the same file).
 */
export function mountOfSource(dev: string, opts: { rwOnly?: boolean } = {}): MountEntry | undefined {
  if (!dev) return undefined;
  const want = new Set([dev, path.resolve(dev)]);
  const r = real(dev);
  if (r !== undefined) want.add(r);
  for (const m of readMounts()) {
    if (opts.rwOnly && !m.options.includes('rw')) continue;
    if (sourcePaths(m).some((p) => want.has(p))) return m;
  }
  return undefined;
}

/** The mount entry at exactly `mountpoint` (the last one wins, as the kernel stacks them). */
export function mountAt(mountpoint: string): MountEntry | undefined {
  const want = [path.resolve(mountpoint), real(mountpoint)];
  let hit: MountEntry | undefined;
  for (const m of readMounts()) if (want.includes(m.mountpoint)) hit = m;
  return hit;
}

/** The innermost mount holding `p` (its nearest existing ancestor decides, as for mkdir -p). */
export function mountContaining(p: string): { entry: MountEntry; rel: string } | undefined {
  let at = path.resolve(p);
  const tail: string[] = [];
  let r = real(at);
  while (r === undefined) {
    const up = path.dirname(at);
    if (up === at) return undefined;
    tail.unshift(path.basename(at));
    at = up;
    r = real(at);
  }
  let best: MountEntry | undefined;
  for (const m of readMounts()) {
    const mp = m.mountpoint;
    const inside = r === mp || r.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (inside && (!best || mp.length >= best.mountpoint.length)) best = m;
  }
  if (!best) return undefined;
  const rel = path.posix.join('/', path.relative(best.mountpoint, r), ...tail);
  return { entry: best, rel };
}

/** famfs-ts mounts only. */
export function famfsTsMounts(): MountEntry[] {
  return readMounts().filter((m) => m.fstype === FAMFS_TS_FSTYPE);
}
