// `famfs-ts mkfs` / mkfs.famfs-ts: mkfs.famfs's flags and its exit 2 on any failure.
// Commander wiring and output; the device work is src/famfs/mkfs-device.ts.
import type { Command } from 'commander';
import { mkfsDevice } from '../famfs/mkfs-device.js';
import { FamfsImage } from '../famfs/image.js';
import { fsck } from '../famfs/fsck.js';
import { systemUuid, SYSTEM_UUID_FILE } from '../famfs/host.js';
import { isLayoutPath, loadLayout } from '../interleave/layout-yaml.js';
import { parseSize } from '../interleave/size.js';
import { failure, out } from './run.js';
import { hostOptions, type HostOpts } from './target.js';
import { isFamfsModeImage } from './famfs-mode-image.js';
import { checkDeviceSize, checkLogLen, mkfs } from '../famfs/mkfs.js';
import { ImageError } from '../famfs/errors.js';
import { MIN_DEVICE_SIZE } from '../famfs/constants.js';
import { mountOfSource } from '../famfs/proc-mounts.js';
import { deviceSize } from '../device/memory.js';
import type { Layout } from '../interleave/layout.js';

type MkfsOpts = HostOpts & { force?: boolean; kill?: boolean; loglen: string; small?: boolean; human?: boolean; verbose?: boolean; json?: boolean };

/** -l/--loglen as bytes; famfs's message when it is not a size. */
function logLenOf(o: MkfsOpts): number {
  try {
    return parseSize(o.loglen);
  } catch (e) {
    throw new Error(`famfs_mkfs: Error: invalid log length (${o.loglen})`, { cause: e });
  }
}

function mkfsVerb(device: string | undefined, o: MkfsOpts): number {
  try {
    const logLen = logLenOf(o);
    const layoutFile = o.layout ?? (device && isLayoutPath(device) ? device : undefined);
    const layout = layoutFile ? loadLayout(layoutFile) : undefined;
    if (!layout && !device) throw new Error('famfs_mkfs: must specify memory device');
    const sys = o.systemUuid instanceof Uint8Array ? o.systemUuid : systemUuid(o.systemUuid ?? SYSTEM_UUID_FILE);
    const r = mkfsDevice({ device, layout, systemUuid: sys, logLen, force: o.force, kill: o.kill, small: o.small });
    if (o.small && r.primarySize < 4 * 1024 ** 3) process.stderr.write(`famfs_mkfs: --small: ${r.primarySize}-byte device accepted below famfs's 4 GiB minimum\n`);
    if (r.killed) {
      out(o.json ? `${JSON.stringify({ device: r.devPath, killed: true })}\n` : 'Famfs superblock killed\n');
      return 0;
    }
    const img = layout ? FamfsImage.open({ layout, systemUuid: sys }) : FamfsImage.open({ device: r.devPath, systemUuid: sys });
    report(img, r.devPath, r.devSize, layout, o);
    return 0;
  } catch (e) {
    process.stderr.write(`${failure(e, 'famfs_mkfs').message}\n`);
    return 2;
  }
}

/** The new file system's fsck report (mkfs.famfs prints it); closes `img`. */
function report(img: FamfsImage, devPath: string, devSize: number, layout: Layout | undefined, o: MkfsOpts): void {
  try {
    const names = new Map((layout?.daxdevs ?? []).map((d) => [d.index, d.name] as [number, string]));
    const rep = fsck({ sb: img.sb, header: img.header, scan: img.scan, role: img.role, daxdevNames: names }, { human: o.human ?? true });
    if (o.json) out(JSON.stringify({ device: devPath, devSize, killed: false, fsck: rep.json }, null, 2) + '\n');
    else {
      out(`devsize: ${devSize}\n`);
      out(rep.text);
      if (o.verbose) out(`famfs_mkfs: log_len ${img.sb.logLen} at offset ${img.sb.logOffset}; primary ${devPath}\n`);
    }
  } finally {
    img.close();
  }
}

/**
 * mkfs on a daxdev in famfs mode (fsdev_dax: no mmap, no read), as famfs does it
 * (famfs_mkfs_via_dummy_mount): through a temporary mount whose .meta files the kernel
 * maps (src/server/famfs-mode.ts withBootstrapMount); this process never maps the device.
 */
async function mkfsFamfsMode(device: string, o: MkfsOpts): Promise<number> {
  const lines: string[] = [];
  try {
    const logLen = logLenOf(o);
    checkLogLen(logLen);
    const m = mountOfSource(device);
    if (m) throw new ImageError(`cannot mkfs while ${device} is mounted on ${m.mountpoint}`, 'EBUSY');
    const size = deviceSize(device);
    checkDeviceSize(device, size, o.small === true);
    const sys = o.systemUuid instanceof Uint8Array ? o.systemUuid : systemUuid(o.systemUuid ?? SYSTEM_UUID_FILE);
    const log = (l: string): void => {
      lines.push(l);
      if (o.verbose) process.stderr.write(`famfs_mkfs: ${l}\n`);
    };
    // The FUSE engine is loaded only for this (famfs mode), not by every mkfs.
    const { withBootstrapMount } = await import('../server/famfs-mode.js');
    const done = await withBootstrapMount(device, logLen, log, (primary) => {
      const r = mkfs(primary, { devPath: device, systemUuid: sys, logLen, force: o.force, kill: o.kill, allowSmall: o.small });
      if (r.killed) return { killed: true, devSize: r.devSize };
      report(FamfsImage.open({ device, primary, systemUuid: sys }), device, r.devSize, undefined, o);
      return { killed: false, devSize: r.devSize };
    });
    if (o.small && size < MIN_DEVICE_SIZE) process.stderr.write(`famfs_mkfs: --small: ${size}-byte device accepted below famfs's 4 GiB minimum\n`);
    if (done.killed) out(o.json ? `${JSON.stringify({ device, killed: true })}\n` : 'Famfs superblock killed\n');
    else if (o.verbose) out(`famfs_mkfs: ${device} is in famfs mode: formatted through a temporary mount's .meta files (the kernel mapped them)\n`);
    return 0;
  } catch (e) {
    if (!o.verbose) for (const l of lines.slice(-5)) process.stderr.write(`famfs_mkfs: ${l}\n`);
    process.stderr.write(`${failure(e, 'famfs_mkfs').message}\n`);
    return 2;
  }
}

export function registerMkfs(program: Command): void {
  hostOptions(program.command('mkfs'))
    .description('make a famfs file system on a memory device or a layout (mkfs.famfs; exit 2 on any failure)')
    .argument('[device]', 'memory device: file, /dev/shm file, loop device, /dev/daxX.Y, /dev/pmemX')
    .option('-f, --force', 'overwrite an existing famfs superblock')
    .option('-k, --kill', 'with -f: zero the superblock magic only')
    .option('-l, --loglen <len>', 'log length, a power of two >= 8M', '8M')
    .option('--small', 'allow devices smaller than 4 GiB (famfs refuses them; for emulated devices)')
    .option('--human', 'human sizes in the report (the default)')
    .option('-v, --verbose', 'say where the log went (mkfs.famfs prints usage for -v and exits 0; famfs-ts makes the file system)')
    .option('--fuse', 'accepted: famfs-ts always serves through FUSE')
    .option('-F, --nofuse', 'accepted: famfs-ts has no famfs v1 kernel path; the media format is the same')
    .option('-M, --set-daxmode', 'accepted (famfs-ts needs no dax mode switch)')
    .option('-D, --nodax', 'accepted (famfs-ts maps the device directly)')
    .option('--json', 'JSON: the device and the fsck report of the new file system')
    .action(async (device: string | undefined, o: MkfsOpts) => {
      const famfsMode = device !== undefined && !o.layout && !isLayoutPath(device) && isFamfsModeImage(device);
      process.exitCode = famfsMode ? await mkfsFamfsMode(device, o) : mkfsVerb(device, o);
    });
}
