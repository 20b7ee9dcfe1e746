// `famfs-ts mount` and `famfs-ts umount`: commander wiring over src/server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { SysError } from '../sys/libc.js';
import { unmount } from '../sys/fuse-dev.js';
import { daemonize, defaultLogFile } from '../server/daemon.js';
import { DEFAULT_MAX_WRITE, DEFAULT_SPIN_US, DEFAULT_THREADS, FamfsMount, isChannelPath, openForMount } from '../server/serve.js';
import { prepareMountPoint } from './mount-point.js';
import { parseSize } from '../interleave/size.js';

interface MountCliOptions {
  client?: boolean;
  foreground?: boolean;
  systemUuid?: string;
  allowOther?: boolean;
  abi?: string;
  readers: string;
  spinUs?: string;
  refresh: string;
  log?: string;
  debug?: boolean;
  readyFd?: string;
  bpf?: boolean;
  upsertAtOpen?: string;
  maxWrite?: string;
  force?: boolean;
  nonempty?: boolean;
}

function positiveInt(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what} ${v}: not a whole number`);
  return n;
}

async function runForeground(source: string, mountpoint: string, o: MountCliOptions): Promise<void> {
  const readyFd = o.readyFd !== undefined ? Number(o.readyFd) : undefined;
  const tell = (line: string) => {
    if (readyFd === undefined) return;
    try {
      fs.writeSync(readyFd, `${line}\n`);
    } catch {
      // the parent went away
    }
  };
  const readers = positiveInt(o.readers, '--readers');
  let m: FamfsMount;
  try {
    m = FamfsMount.start({
      source, mountpoint, client: o.client, systemUuid: o.systemUuid, allowOther: o.allowOther, abi: o.abi,
      readers, spinMicros: o.spinUs === undefined ? undefined : positiveInt(o.spinUs, '--spin-us'), refreshMs: positiveInt(o.refresh, '--refresh'), debug: o.debug,
      bpf: o.bpf, upsertAtOpen: o.upsertAtOpen === undefined ? undefined : upsertSize(o.upsertAtOpen),
      maxWrite: o.maxWrite === undefined ? undefined : maxWriteSize(o.maxWrite), force: o.force,
    });
  } catch (e) {
    tell(`error: ${(e as Error).message}`);
    throw e;
  }
  const stop = () => {
    void m.close().then(() => process.exit(0), (e: unknown) => {
      process.stderr.write(`famfs-ts mount: unmount: ${(e as Error).message}\n`);
      process.exit(1);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await m.ready;
  tell('ready');
  if (readyFd !== undefined) fs.closeSync(readyFd);
  process.stderr.write(`famfs-ts mount: ${mountpoint} is live (pid ${process.pid}, ${m.image.role})\n`);
  await m.done;
  process.stderr.write(`famfs-ts mount: ${mountpoint} unmounted\n`);
  process.exit(0);
}

/** The one line a damaged log earns at mount time (the server serves it read-only; README "Damaged logs"). */
function damageOf(source: string, o: MountCliOptions): string | undefined {
  try {
    // As a client: read-only, no lock, so it never contends with the server just started.
    const { image } = openForMount({ source, client: true, systemUuid: o.systemUuid });
    try {
      if (!image.damage) return undefined;
      return o.client || o.force ? image.damage : `${image.damage}; serving read-only (--force serves read-write)`;
    } finally {
      image.close();
    }
  } catch {
    return undefined; // the server opened it; a failure here is not the mount's
  }
}

function sizeOption(v: string, what: string): number {
  try {
    return parseSize(v);
  } catch (e) {
    throw new Error(`${what} ${v}: ${(e as Error).message}`);
  }
}

function upsertSize(v: string): number {
  return sizeOption(v, '--upsert-at-open');
}

function maxWriteSize(v: string): number {
  const n = sizeOption(v, '--max-write');
  if (n < 4096 || n % 4096 !== 0) throw new Error(`--max-write ${v}: a whole number of 4 KiB pages, at least one`);
  return n;
}

/** The file system type mounted at `mountpoint` (last mount wins), from /proc/mounts. */
function mountType(mountpoint: string): string | undefined {
  const real = path.resolve(mountpoint);
  let type: string | undefined;
  for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    // /proc/mounts escapes spaces and friends as octal.
    if (f[1]?.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))) === real) type = f[2];
  }
  return type;
}

export function registerMount(program: Command): void {
  program.command('mount')
    .description('mount a famfs image (device or layout YAML) through famfs-ts\'s own FUSE server')
    .argument('<source>', 'memory device of a single-device image, or a layout YAML')
    .argument('<mountpoint>', 'an existing directory')
    .option('--client', 'act as a client (read-only, replays the log) even on the master host')
    .option('--foreground', 'serve in this process instead of daemonizing')
    .option('--system-uuid <file>', 'host identity file (default /opt/famfs/system_uuid)')
    .option('--allow-other', 'let other users reach the mount (FUSE allow_other)')
    .option('--abi <profile>', 'FUSE ABI profile: mainline (default), auto, iomap, famfs-v10, famfs-fork, famfs-unrolled')
    .option('--readers <n>', 'serving threads reading the FUSE channel, each answering reads and writes of committed files (0: the main thread serves everything)', String(DEFAULT_THREADS))
    .option('--max-write <size>', `largest read or write request the kernel sends, e.g. 1MiB (default ${DEFAULT_MAX_WRITE / 1024}KiB; the kernel caps it at fs.fuse.max_pages_limit pages)`)
    .option('--spin-us <us>', `poll the FUSE channel this long after each request before sleeping (default 0 in serving threads, ${DEFAULT_SPIN_US} with --readers 0)`)
    .option('--refresh <ms>', 'a client replays the log this often (0: only on logplay)', '1000')
    .option('--log <file>', 'log file of the daemonized server (default: in the temp directory, one per mount point)')
    .option('--debug', 'trace every FUSE request')
    .option('--bpf', 'register the generic BPF resolver for the connection (fuse_bpf_ops; fuse_iomap_bpf_ops under iomap) and fill its ' +
      'layout map at OPEN; where the kernel has no fuse struct_ops the reason is logged and mappings are answered in user space')
    .option('--upsert-at-open <size>', 'iomap profile: at OPEN push the mappings of files up to this size (e.g. 64M) to the kernel\'s ' +
      'mapping cache (UPSERT_MAPPINGS); larger files are mapped by IOMAP_BEGIN')
    .option('--nonempty', 'mount over a directory that holds files (they are hidden while mounted)')
    .option('--force', 'serve read-write even when the log has bad entries (their extents are unknown; see fsck)')
    .addOption(new Option('--ready-fd <fd>', 'status pipe of a daemonized server').hideHelp())
    .addHelpText('after', `
Mapping profiles (--abi): under iomap and famfs-* the kernel maps file bytes itself and takes a
file's size from its map. A file created through such a mount must be sized first (truncate or
fallocate), else its first write fails with EFBIG; a file the kernel's encoding cannot express
(e.g. famfs-v10 and a strip on daxdev 1) is refused at create with EOPNOTSUPP, and an older one
gets that errno at GET_FMAP, with a line in the log each time.
A mount point /dev/fd/N serves an already-open FUSE channel (a test's socketpair; needs --foreground).`)
    .action(async (source: string, mountpoint: string, o: MountCliOptions) => {
      if (o.upsertAtOpen !== undefined) upsertSize(o.upsertAtOpen);
      if (o.maxWrite !== undefined) maxWriteSize(o.maxWrite);
      // A dead server's mount is cleaned up, a live one or a non-empty directory refused (mount-point.ts).
      if (!isChannelPath(mountpoint)) for (const line of prepareMountPoint(mountpoint, { nonempty: o.nonempty })) process.stderr.write(`famfs-ts mount: ${line}\n`);
      if (o.foreground) return runForeground(source, mountpoint, o);
      if (isChannelPath(mountpoint)) throw new Error(`${mountpoint}: an open channel is served with --foreground only (a daemon would not inherit it)`);
      positiveInt(o.readers, '--readers');
      const args = ['mount', source, mountpoint, '--readers', o.readers, '--refresh', o.refresh];
      if (o.client) args.push('--client');
      if (o.systemUuid) args.push('--system-uuid', o.systemUuid);
      if (o.allowOther) args.push('--allow-other');
      if (o.abi) args.push('--abi', o.abi);
      if (o.debug) args.push('--debug');
      if (o.spinUs !== undefined) args.push('--spin-us', o.spinUs);
      if (o.bpf) args.push('--bpf');
      if (o.upsertAtOpen !== undefined) args.push('--upsert-at-open', o.upsertAtOpen);
      if (o.maxWrite !== undefined) args.push('--max-write', o.maxWrite);
      if (o.force) args.push('--force');
      if (o.nonempty) args.push('--nonempty');
      const logFile = o.log ?? defaultLogFile(mountpoint);
      const cli = fileURLToPath(new URL('./main.js', import.meta.url));
      const r = await daemonize(cli, args, logFile);
      process.stdout.write(`famfs-ts: mounted ${source} on ${mountpoint} (server pid ${r.pid}, log ${r.logFile})\n`);
      const damage = damageOf(source, o);
      if (damage) process.stderr.write(`famfs-ts mount: ${damage}\n`);
    });

  program.command('umount')
    .description('unmount a famfs-ts mount (the server exits when the kernel ends the connection)')
    .argument('<mountpoint>')
    .option('-l, --lazy', 'detach now even if busy (umount -l)')
    .action((mountpoint: string, o: { lazy?: boolean }) => {
      const type = mountType(mountpoint);
      if (type === undefined) throw new Error(`${mountpoint}: not mounted`);
      if (type !== 'fuse.famfs-ts') throw new Error(`${mountpoint}: a ${type} mount, not famfs-ts (use umount(8))`);
      try {
        unmount(mountpoint, { lazy: o.lazy });
      } catch (e) {
        if (e instanceof SysError && e.errno === os.constants.errno.EBUSY) {
          throw new Error(`${mountpoint}: busy (a process uses it); close it or use --lazy`);
        }
        throw e;
      }
    });
}
