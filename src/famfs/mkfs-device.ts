// mkfs on real devices: which devices a mkfs writes (one device, or every daxdev of a
// layout), the refusals famfs makes before touching them (missing, mounted, smaller than
// 4 GiB, another writer holding the lock; a layout's devices also short or aliased), then src/famfs/mkfs.ts on the mapped memory.
import fs from 'node:fs';
import type { Layout } from '../interleave/layout.js';
import { MappedDevice, openDaxdev, deviceSize, type DaxdevMemory } from '../device/memory.js';
import { flock, LOCK_EX, LOCK_NB } from '../sys/libc.js';
import { checkDeviceSize, mkfs, type MkfsResult } from './mkfs.js';
import { mountOfSource } from './proc-mounts.js';
import { checkLayoutDevices } from './device-check.js';
import { ImageError } from './errors.js';
import { LOG_LEN } from './constants.js';

export interface MkfsDeviceOptions {
  readonly device?: string;
  readonly layout?: Layout;
  readonly systemUuid: Uint8Array;
  readonly logLen?: number;
  readonly force?: boolean;
  readonly kill?: boolean;
  /** Accept devices below famfs's 4 GiB minimum (emulated devices). */
  readonly small?: boolean;
}

export interface MkfsDeviceResult extends MkfsResult {
  /** The primary's path (what a later open uses). */
  readonly devPath: string;
  readonly primarySize: number;
}

function refuseMounted(p: string): void {
  const m = mountOfSource(p);
  if (m) throw new ImageError(`cannot mkfs while ${p} is mounted on ${m.mountpoint}`, 'EBUSY');
}

/** Make a famfs file system on `opts.device` or on every daxdev of `opts.layout`. */
export function mkfsDevice(opts: MkfsDeviceOptions): MkfsDeviceResult {
  const opened: DaxdevMemory[] = [];
  let lockFd: number | undefined;
  try {
    let devPath: string;
    let lockPath: string;
    let primary: DaxdevMemory;
    const secondaries: { mem: DaxdevMemory; name: string }[] = [];
    if (opts.layout) {
      const d0 = opts.layout.daxdevs[0];
      if (!d0) throw new ImageError(`${opts.layout.source}: the layout has no daxdevs`);
      lockPath = d0.backing.kind === 'device' ? d0.backing.device.path : d0.backing.members[0]!.path;
      devPath = d0.backing.kind === 'device' ? d0.backing.device.path : d0.name;
      // Every device is checked before a byte is written (device-check.ts): whole or nothing.
      const problems = checkLayoutDevices(opts.layout);
      if (problems.length) {
        throw new ImageError(`${opts.layout.source}: nothing written: ${problems.map((p) => p.message).join('; ')}`, problems.some((p) => p.kind === 'mounted') ? 'EBUSY' : 'EINVAL');
      }
      primary = openDaxdev(d0, { writable: true });
      opened.push(primary);
      for (const d of opts.layout.daxdevs.slice(1)) {
        const m = openDaxdev(d, { writable: true });
        opened.push(m);
        secondaries.push({ mem: m, name: d.name });
      }
    } else {
      const device = opts.device;
      if (!device) throw new ImageError('a device or a layout is required', 'EINVAL');
      if (!fs.existsSync(device)) throw new ImageError(`device ${device} not found`, 'ENOENT');
      refuseMounted(device);
      devPath = device;
      lockPath = device;
      const size = deviceSize(device);
      checkDeviceSize(device, size, opts.small === true);
      primary = MappedDevice.open(device, { writable: true, size });
      opened.push(primary);
    }
    lockFd = fs.openSync(lockPath, 'r');
    if (!flock(lockFd, LOCK_EX | LOCK_NB)) throw new ImageError(`${lockPath} is in use (a famfs-ts mount or writer holds it)`, 'EBUSY');
    const r = mkfs(primary, { devPath, systemUuid: opts.systemUuid, logLen: opts.logLen ?? LOG_LEN, force: opts.force, kill: opts.kill, allowSmall: opts.small, secondaries });
    return { ...r, devPath, primarySize: primary.size };
  } finally {
    for (const m of opened) m.close();
    if (lockFd !== undefined) fs.closeSync(lockFd);
  }
}
