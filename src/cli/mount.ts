// `famfs-ts mount` and `famfs-ts umount`: commander wiring over src/server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { SysError } from '../sys/libc.js';
import { unmount } from '../sys/fuse-dev.js';
import { daemonize, defaultLogFile } from '../server/daemon.js';
import {
  DEFAULT_MAX_WRITE, DEFAULT_SPIN_US, DEFAULT_THREADS, isChannelPath, DEFAULT_SETTLE_MS, DEFAULT_WARM_UP, openForMount, TRANSPORTS, type TransportChoice,
} from '../server/mount-options.js';
import type { FamfsMount } from '../server/serve.js';
import { sizeArg } from './run.js';
import { mountAt } from '../famfs/proc-mounts.js';
import { prepareMountPoint } from './mount-point.js';

interface MountCliOptions {
  client?: boolean;
  foreground?: boolean;
  systemUuid?: string;
  allowOther?: boolean;
  abi?: string;
  readers: string;
  spinUs?: string;
  refresh: string;
  settle: string;
  warmUp: string;
  log?: string;
  debug?: boolean;
  readyFd?: string;
  bpf?: boolean;
  upsertAtOpen?: string;
  maxWrite?: string;
  force?: boolean;
  nonempty?: boolean;
  transport?: TransportChoice;
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
  // The server and the FUSE engine are loaded by the process that serves, not by every verb.
  const { FamfsMount: Mount } = await import('../server/serve.js');
  let m: FamfsMount;
  try {
    m = Mount.start({
      source, mountpoint, client: o.client, systemUuid: o.systemUuid, allowOther: o.allowOther, abi: o.abi,
      readers, spinMicros: o.spinUs === undefined ? undefined : positiveInt(o.spinUs, '--spin-us'), refreshMs: positiveInt(o.refresh, '--refresh'), settleMs: positiveInt(o.settle, '--settle'), warmUpFiles: positiveInt(o.warmUp, o.warmUp === process.env.FAMFS_TS_WARM_UP ? 'FAMFS_TS_WARM_UP' : '--warm-up'), debug: o.debug,
      bpf: o.bpf, upsertAtOpen: o.upsertAtOpen === undefined ? undefined : upsertSize(o.upsertAtOpen),
      maxWrite: o.maxWrite === undefined ? undefined : maxWriteSize(o.maxWrite), force: o.force, transport: o.transport,
    });
  } catch (e) {
    tell(`error: ${(e as Error).message}`);
    throw e;
  }
  m.stopOnSignals((code) => process.exit(code));
  try {
    await m.ready;
  } catch (e) {
    // Refused after INIT (e.g. famfs mode on a kernel without famfs): a waiting launcher hears it now.
    tell(`error: ${(e as Error).message}`);
    throw e;
  }
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
  return sizeArg(what, v);
}

function upsertSize(v: string): number {
  return sizeOption(v, '--upsert-at-open');
}

function maxWriteSize(v: string): number {
  const n = sizeOption(v, '--max-write');
  if (n < 4096 || n % 4096 !== 0) throw new Error(`--max-write ${v}: a whole number of 4 KiB pages, at least one`);
  return n;
}

/** Whether nothing is at `p` (a dead mount, whose stat fails ENOTCONN, is something). */
function absent(p: string): boolean {
  try {
    fs.lstatSync(p);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** The file system type mounted at `mountpoint` (last mount wins), from /proc/mounts. */
function mountType(mountpoint: string): string | undefined {
  return mountAt(mountpoint)?.fstype;
}

/** Options that only the launching command uses; every other option is passed to the daemon. */
const LAUNCHER_ONLY = new Set(['foreground', 'log', 'readyFd', 'verbose', 'remount', 'fuse', 'nofuse', 'read', 'mmap', 'timeout', 'nouseraccess', 'nodefaultperm', 'shadow', 'dummy', 'setDaxmode', 'loadModule', 'cache']);

/** The daemon's argv: the same command with the options given, derived from the command's own option table. */
export function daemonArgs(cmd: Command, source: string, mountpoint: string): string[] {
  const args = ['mount', source, mountpoint];
  const values = cmd.opts<Record<string, unknown>>();
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    const v = values[key];
    if (LAUNCHER_ONLY.has(key) || v === undefined || v === false || !opt.long) continue;
    if (v === true) args.push(opt.long);
    else args.push(opt.long, String(v));
  }
  return args;
}

export function registerMount(program: Command): void {
  const mount = program.command('mount')
    .description('mount a famfs image (device or layout YAML) through famfs-ts\'s own FUSE server')
    .argument('<source>', 'memory device of a single-device image, or a layout YAML')
    .argument('<mountpoint>', 'an existing directory')
    .option('--client', 'act as a client (read-only, replays the log) even on the master host')
    .option('--foreground', 'serve in this process instead of daemonizing')
    .option('--system-uuid <file>', 'host identity file (default /opt/famfs/system_uuid)')
    .option('--allow-other', 'let other users reach the mount (FUSE allow_other)')
    .option('--abi <profile>', 'FUSE ABI profile: mainline (default), auto, iomap, famfs-v10, famfs-unrolled')
    .option('--readers <n>', 'serving threads reading the FUSE channel, each answering reads and writes of committed files (0: the main thread serves everything)', String(DEFAULT_THREADS))
    .option('--max-write <size>', `largest read or write request the kernel sends, e.g. 1MiB (default ${DEFAULT_MAX_WRITE / 1024}KiB; the kernel caps it at fs.fuse.max_pages_limit pages)`)
    .option('--spin-us <us>', `poll the FUSE channel this long after each request before sleeping (default 0 in serving threads, ${DEFAULT_SPIN_US} with --readers 0)`)
    .option('--refresh <ms>', 'a client replays the log this often (0: only on logplay)', '1000')
    .option('--settle <ms>', 'log a file written through the mount this long after its last close, so what install, rsync, git or vim do right after the close (chmod, rename, unlink, append) lands in its one log entry; other hosts see the file that much later and a crash in between loses it (0: logged at the last close; fsync logs at once)', String(DEFAULT_SETTLE_MS))
    .option('--warm-up <files>', `before serving, create, stat, list and read this many files on scratch images in the temp directory (deleted at once), so a new mount answers from compiled code rather than while V8 compiles (0: none; default ${DEFAULT_WARM_UP}, or $FAMFS_TS_WARM_UP)`, process.env.FAMFS_TS_WARM_UP ?? String(DEFAULT_WARM_UP))
    .option('--log <file>', 'log file of the daemonized server (default: in the temp directory, one per mount point)')
    .option('-d, --debug', 'trace every FUSE request (famfs: runs the daemon single-threaded; here it also logs each request)')
    .option('--bpf', 'register the generic BPF resolver for the connection (fuse_bpf_ops; fuse_iomap_bpf_ops under iomap) and fill its ' +
      'layout map at OPEN; where the kernel has no fuse struct_ops the reason is logged and mappings are answered in user space')
    .option('--upsert-at-open <size>', 'iomap profile: at OPEN push the mappings of files up to this size (e.g. 64M) to the kernel\'s ' +
      'mapping cache (UPSERT_MAPPINGS); larger files are mapped by IOMAP_BEGIN')
    .option('-v, --verbose', 'say what the mount does')
    .option('-f, --fuse', 'famfs: use FUSE. famfs-ts always does (no-op)')
    .option('-F, --nofuse', 'famfs: use the famfs v1 kernel module. famfs-ts has none and serves through FUSE (no-op, said on stderr)')
    .option('-t, --timeout <s>', 'famfs: FUSE metadata timeout. famfs-ts answers with its own fixed timeouts (accepted, no-op)')
    .option('-R, --remount', 'famfs: MS_REMOUNT. Succeeds when SOURCE is already mounted on MOUNTPOINT by famfs-ts (nothing to change)')
    .option('-r, --read', 'famfs: read the log with read(2) (accepted; excludes -m)')
    .option('-m, --mmap', 'famfs: read the log by mmap (accepted; excludes -r)')
    .option('-u, --nouseraccess', 'famfs: no access for non-root users (accepted; famfs-ts grants it with --allow-other only)')
    .option('-p, --nodefaultperm', 'famfs: no default_permissions (accepted; famfs-ts asks the kernel to check modes only with --allow-other: without it only root reaches the mount)')
    .option('-S, --shadow <path>', 'famfs: the shadow tree root of famfs_fused (accepted; famfs-ts keeps its namespace in memory)')
    .option('-c, --cache <mode>', 'famfs: always|normal|never (accepted, no-op)')
    .option('-D, --dummy', 'famfs: a dummy mount for mkfs/fsck (refused: famfs-ts reads devices directly)')
    .option('-M, --set-daxmode', 'accepted (famfs-ts needs no dax mode switch)')
    .option('-L, --load-module', 'accepted (famfs-ts loads no kernel module)')
    .option('--nonempty', 'mount over a directory that holds files (they are hidden while mounted)')
    .addOption(new Option('--transport <kind>', 'how serving threads get requests: dev (/dev/fuse), uring (FUSE over io_uring; ' +
      'needs /sys/module/fuse/parameters/enable_uring = Y), auto (uring where it is on and measured faster, else dev)').choices([...TRANSPORTS]).default('auto'))
    .option('--force', 'serve read-write even when the log has bad entries (their extents are unknown; see fsck)')
    .addOption(new Option('--ready-fd <fd>', 'status pipe of a daemonized server').hideHelp())
    .addHelpText('after', `
Mapping profiles (--abi): under iomap and famfs-* the kernel maps file bytes itself and takes a
file's size from its map. A file created through such a mount must be sized first (truncate or
fallocate), else its first write fails with EFBIG; a file the kernel's encoding cannot express
(e.g. famfs-v10 and a strip on daxdev 1) is refused at create with EOPNOTSUPP, and an older one
gets that errno at GET_FMAP, with a line in the log each time.
A mount point /dev/fd/N serves an already-open FUSE channel (a test's socketpair; needs --foreground).`);
  mount.action(async (sourceArg: string, mountpoint: string, o: MountCliOptions & { verbose?: boolean; remount?: boolean; read?: boolean; mmap?: boolean; nofuse?: boolean; dummy?: boolean }) => {
      if (o.read && o.mmap) throw new Error('--mmap and --read are mutually exclusive');
      if (o.dummy) throw new Error('--dummy: famfs-ts needs no dummy mount (mkfs and fsck read the device directly)');
      // The mount's source (fsname in /proc/mounts) is absolute, so other verbs find the image.
      const source = isChannelPath(mountpoint) || !fs.existsSync(sourceArg) ? sourceArg : path.resolve(sourceArg);
      if (!fs.existsSync(source)) throw new Error(`famfs mount: daxdev (${sourceArg}) not found`);
      if (!isChannelPath(mountpoint) && absent(mountpoint)) throw new Error(`famfs mount: mount pt (${mountpoint}) not found`);
      if (o.nofuse) process.stderr.write('famfs-ts mount: --nofuse: famfs-ts has no famfs v1 kernel module; serving through FUSE\n');
      const here = isChannelPath(mountpoint) ? undefined : mountType(mountpoint);
      if (o.remount && here === 'fuse.famfs-ts') {
        if (o.verbose) process.stdout.write(`famfs-ts: ${mountpoint} is already a famfs-ts mount; nothing to remount\n`);
        return;
      }
      if (o.upsertAtOpen !== undefined) upsertSize(o.upsertAtOpen);
      if (o.maxWrite !== undefined) maxWriteSize(o.maxWrite);
      // A dead server's mount is cleaned up, a live one or a non-empty directory refused (mount-point.ts).
      if (!isChannelPath(mountpoint)) for (const line of prepareMountPoint(mountpoint, { nonempty: o.nonempty })) process.stderr.write(`famfs-ts mount: ${line}\n`);
      if (o.foreground) return runForeground(source, mountpoint, o);
      if (isChannelPath(mountpoint)) throw new Error(`${mountpoint}: an open channel is served with --foreground only (a daemon would not inherit it)`);
      positiveInt(o.readers, '--readers');
      // --force and --nonempty reach the daemon with the other options (daemonArgs).
      const args = daemonArgs(mount, source, mountpoint);
      const logFile = o.log ?? defaultLogFile(mountpoint);
      const cli = fileURLToPath(new URL('./main.js', import.meta.url));
      if (o.verbose) process.stderr.write(`famfs-ts mount: starting ${cli} ${args.join(' ')}\n`);
      const r = await daemonize(cli, args, logFile);
      process.stdout.write(`famfs-ts: mounted ${source} on ${mountpoint} (server pid ${r.pid}, log ${r.logFile})\n`);
      const damage = damageOf(source, o);
      if (damage) process.stderr.write(`famfs-ts mount: ${damage}\n`);
    });

  program.command('umount')
    .description('unmount a famfs-ts mount (the server exits when the kernel ends the connection)')
    .argument('<mountpoint>')
    .option('-l, --lazy', 'detach now even if busy (umount -l)')
    .option('--json', 'JSON: what was unmounted')
    .action((mountpoint: string, o: { lazy?: boolean; json?: boolean }) => {
      const type = mountType(mountpoint);
      if (type === undefined) throw new Error(`${mountpoint}: not mounted`);
      if (type !== 'fuse.famfs-ts') throw new Error(`${mountpoint}: a ${type} mount, not famfs-ts (use umount(8))`);
      try {
        unmount(mountpoint, { lazy: o.lazy });
      } catch (e) {
        if (e instanceof SysError && e.errno === os.constants.errno.EBUSY) {
          throw new Error(`${mountpoint}: busy (a process uses it); close it or use --lazy`, { cause: e });
        }
        throw e;
      }
      if (o.json) process.stdout.write(`${JSON.stringify({ mountpoint: path.resolve(mountpoint), unmounted: true, lazy: !!o.lazy })}\n`);
    });
}
