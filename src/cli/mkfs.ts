// `famfs-ts mkfs` / mkfs.famfs-ts: mkfs.famfs's flags and its exit 2 on any failure.
// Commander wiring and output; the device work is src/famfs/mkfs-device.ts.
import type { Command } from 'commander';
import { mkfsDevice } from '../famfs/mkfs-device.js';
import { FamfsImage } from '../famfs/image.js';
import { fsck } from '../famfs/fsck.js';
import { systemUuid, SYSTEM_UUID_FILE } from '../famfs/host.js';
import { loadLayout } from '../interleave/layout-yaml.js';
import { parseSize } from '../interleave/size.js';
import { failure, out } from './run.js';
import { hostOptions, isLayoutFile, type HostOpts } from './target.js';

type MkfsOpts = HostOpts & { force?: boolean; kill?: boolean; loglen: string; small?: boolean; human?: boolean; verbose?: boolean; json?: boolean };

function mkfsVerb(device: string | undefined, o: MkfsOpts): number {
  try {
    let logLen: number;
    try {
      logLen = parseSize(o.loglen);
    } catch (e) {
      throw new Error(`famfs_mkfs: Error: invalid log length (${o.loglen})`, { cause: e });
    }
    const layoutFile = o.layout ?? (device && isLayoutFile(device) ? device : undefined);
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
    try {
      const names = new Map((layout?.daxdevs ?? []).map((d) => [d.index, d.name] as [number, string]));
      const rep = fsck({ sb: img.sb, header: img.header, scan: img.scan, role: img.role, daxdevNames: names }, { human: o.human ?? true });
      if (o.json) out(JSON.stringify({ device: r.devPath, devSize: r.devSize, killed: false, fsck: rep.json }, null, 2) + '\n');
      else {
        out(`devsize: ${r.devSize}\n`);
        out(rep.text);
        if (o.verbose) out(`famfs_mkfs: log_len ${img.sb.logLen} at offset ${img.sb.logOffset}; primary ${r.devPath}\n`);
      }
    } finally {
      img.close();
    }
    return 0;
  } catch (e) {
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
    .action((device: string | undefined, o: MkfsOpts) => {
      process.exitCode = mkfsVerb(device, o);
    });
}
