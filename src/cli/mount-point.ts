// What `famfs-ts mount` checks of its mount point before it starts a server (issue 13
// item 7): a famfs-ts mount whose server died (the kernel answers "transport endpoint is not
// connected") is said so and detached; a live famfs-ts mount is refused (a --client stacked
// on the master's mount point would hide it); a directory with files in it is refused unless
// --nonempty (they would be hidden under the mount).
import fs from 'node:fs';
import path from 'node:path';
import { unmount } from '../sys/fuse-dev.js';
import { FAMFS_TS_FSTYPE, mountAt } from '../famfs/proc-mounts.js';

export class MountPointError extends Error {}

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * Check `mountpoint` and clean up a dead famfs-ts mount on it. Returns the lines to tell the
 * user (what was cleaned); throws MountPointError for a mount point that cannot be used.
 */
export function prepareMountPoint(mountpoint: string, o: { nonempty?: boolean } = {}): string[] {
  const said: string[] = [];
  const abs = path.resolve(mountpoint);
  if (mountAt(abs)?.fstype === FAMFS_TS_FSTYPE) {
    let dead = false;
    try {
      fs.statSync(abs);
    } catch (e) {
      dead = errnoOf(e) === 'ENOTCONN';
      if (!dead) throw new MountPointError(`${mountpoint}: stat of the famfs-ts mount there failed: ${(e as Error).message}`, { cause: e });
    }
    if (!dead) throw new MountPointError(`${mountpoint}: already a famfs-ts mount (a live server serves it); unmount it first (famfs-ts umount ${mountpoint})`);
    try {
      // Lazy: the kernel drops the dead connection's mount even if a shell still sits in it.
      unmount(abs, { lazy: true });
    } catch (e) {
      throw new MountPointError(`${mountpoint}: a previous famfs-ts server died and its mount could not be removed (umount2: ${(e as Error).message}); try umount -l ${mountpoint}`, { cause: e });
    }
    said.push(`${mountpoint}: a previous famfs-ts server of this mount point died ("transport endpoint is not connected"); its mount was removed`);
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    if (errnoOf(e) === 'ENOTCONN') throw new MountPointError(`${mountpoint}: a dead FUSE mount that is not famfs-ts's (transport endpoint is not connected); remove it with umount -l ${mountpoint}`, { cause: e });
    if (errnoOf(e) === 'ENOENT') throw new MountPointError(`${mountpoint}: mount point does not exist`, { cause: e });
    throw new MountPointError(`${mountpoint}: stat: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isDirectory()) throw new MountPointError(`${mountpoint}: mount point is not a directory`);
  if (!o.nonempty && fs.readdirSync(abs).length > 0) {
    throw new MountPointError(`${mountpoint}: mount point is not empty (its files would be hidden under the mount); give --nonempty to mount over them`);
  }
  return said;
}
