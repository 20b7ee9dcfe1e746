// The one reader of /proc/mounts: which file system is mounted where, from which source.
// famfs refuses mkfs and offline writers while a device is mounted, and finds the mount a
// path lives in; famfs-ts's own mounts have type fuse.famfs-ts and their source (fsname) is
// the device or layout YAML they serve (src/server/serve.ts).
import fs from 'node:fs';
import path from 'node:path';

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

/** The mount point `dev` (a device path or layout YAML) is mounted on, if any. */
export function mountOfSource(dev: string, opts: { rwOnly?: boolean } = {}): MountEntry | undefined {
  if (!dev) return undefined;
  const r = real(dev);
  const abs = path.resolve(dev);
  for (const m of readMounts()) {
    if (opts.rwOnly && !m.options.includes('rw')) continue;
    if (m.source === dev || m.source === abs || (r !== undefined && m.source === r)) return m;
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
