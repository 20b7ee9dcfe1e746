// The host side of a layout's devices, checked before anything is written (issue 13 item
// 6): each exists, holds the size the layout declares, is not the same file as another
// device (same inode, or same device node, whatever the path says: a hard link, a symlink,
// /dev/shm/x and /run/shm/x), and is not a mounted file system's source. mkfs refuses on any
// of these; `layout check` reports the aliases (and the rest as warnings: a layout may be
// checked before its devices exist).
import fs from 'node:fs';
import { deviceSize } from '../device/memory.js';
import type { Layout, MemDevice } from '../interleave/layout.js';
import { mountOfSource } from './proc-mounts.js';

export interface DeviceProblem {
  readonly device: MemDevice;
  readonly kind: 'missing' | 'small' | 'alias' | 'mounted' | 'unusable';
  readonly message: string;
}

/** What is wrong with the layout's devices on this host; empty when mkfs may write. */
export function checkLayoutDevices(layout: Layout, o: { mounted?: boolean } = {}): DeviceProblem[] {
  const out: DeviceProblem[] = [];
  const seen = new Map<string, MemDevice>();
  // layout.devices holds every device once: plain daxdevs and region members alike.
  for (const d of layout.devices) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d.path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      out.push({ device: d, kind: code === 'ENOENT' ? 'missing' : 'unusable', message: `device "${d.name}" (${d.path}): ${code === 'ENOENT' ? 'does not exist' : (e as Error).message}` });
      continue;
    }
    // The same file twice: same inode on the same file system, or the same device node.
    const id = st.isBlockDevice() || st.isCharacterDevice() ? `rdev:${st.rdev}` : `ino:${st.dev}:${st.ino}`;
    const prior = seen.get(id);
    if (prior) out.push({ device: d, kind: 'alias', message: `device "${d.name}" (${d.path}) is the same file as device "${prior.name}" (${prior.path})` });
    else seen.set(id, d);
    let size: number;
    try {
      size = deviceSize(d.path);
    } catch (e) {
      out.push({ device: d, kind: 'unusable', message: `device "${d.name}": ${(e as Error).message}` });
      continue;
    }
    if (size < d.size) out.push({ device: d, kind: 'small', message: `device "${d.name}" (${d.path}) holds ${size} bytes; the layout says ${d.size}` });
    // The one /proc/mounts reader: a device is mounted as a source or as part of a mounted layout.
    const m = o.mounted === false ? undefined : mountOfSource(d.path);
    if (m) out.push({ device: d, kind: 'mounted', message: `device "${d.name}" (${d.path}) is mounted on ${m.mountpoint}` });
  }
  return out;
}
