// The verbs on a daxdev in famfs mode (bound to fsdev_dax: no mmap, no read of the device),
// the way famfs's CLI works there (famfs src/famfs_lib.c: famfs_fsck on a daxdev uses a
// dummy mount; writers lock and mmap `.meta/.log` of the mount): this process never maps
// the device. It maps the mount's `.meta/.superblock` and `.meta/.log` (the kernel maps them
// from GET_FMAP, src/server/famfs-mode.ts) and, when a verb touches a file's bytes, that
// file of the mount; the image runs over those windows (src/device/windows.ts). A device
// that is not mounted gets a temporary famfs-ts mount (another process serves it) for the
// verb's duration. Writers hold flock(LOCK_EX) on `.meta/.log` (the kernel keeps FUSE flocks
// local: famfs-ts grants no FUSE_FLOCK_LOCKS) and ask the server to replay the log after.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WindowedDevice, type DeviceWindow } from '../device/windows.js';
import { deviceSize, isFamfsModeDaxdev } from '../device/memory.js';
import { cacheMaintenanceFor } from '../device/cache.js';
import { FamfsImage } from '../famfs/image.js';
import { LOG_OFFSET } from '../famfs/constants.js';
import { SYSTEM_UUID_FILE } from '../famfs/host.js';
import { mountAt, mountOfSource, type MountEntry } from '../famfs/proc-mounts.js';
import { resolveRange } from '../interleave/filemap.js';
import { isLayoutPath } from '../interleave/layout-yaml.js';
import { LOGPLAY_XATTR } from '../server/control-xattrs.js';
import { flock, LOCK_EX, LOCK_UN, mmapShared, unmapAt } from '../sys/libc.js';
import { getXattr } from '../sys/xattr.js';
import { CliError } from './run.js';

export interface FamfsModeHost {
  readonly systemUuid?: string | Uint8Array;
  readonly client?: boolean;
  readonly force?: boolean;
}

/** Whether `image` (a verb's IMAGE) is a daxdev in famfs mode. */
export function isFamfsModeImage(image: string): boolean {
  return !isLayoutPath(image) && isFamfsModeDaxdev(image);
}

interface Mapping {
  readonly address: bigint;
  readonly length: number;
  readonly bytes: Buffer;
}

function mapFile(file: string, writable: boolean): Mapping {
  const fd = fs.openSync(file, writable ? 'r+' : 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const m = mmapShared(fd, size, 0, writable);
    return { address: m.address, length: m.length, bytes: m.bytes };
  } finally {
    fs.closeSync(fd);
  }
}

/** Ask the mount's server to replay the log (the server is another process). */
export function logplayOn(mountpoint: string): string {
  return getXattr(mountpoint, LOGPLAY_XATTR).toString('utf8');
}

/**
 * The image of the famfs-mode daxdev `source` mounted on `mountpoint`, opened over windows
 * of the mount. `writable` also needs the master role: the log is then mapped writable and
 * locked until `close()`, which asks the server to replay what was appended.
 */
export function openThroughMount(source: string, mountpoint: string, host: FamfsModeHost, writable: boolean): { image: FamfsImage; close: () => void } {
  const logPath = path.join(mountpoint, '.meta', '.log');
  const maps: Mapping[] = [];
  let lockFd: number | undefined;
  let logWritable = false;
  const cleanup = (): void => {
    for (const m of maps.splice(0)) unmapAt(m.address, m.length);
    if (lockFd !== undefined) {
      try { flock(lockFd, LOCK_UN); } finally { fs.closeSync(lockFd); }
      lockFd = undefined;
    }
  };
  try {
    if (writable && !host.client) {
      try {
        lockFd = fs.openSync(logPath, 'r+');
        logWritable = true;
      } catch (e) {
        // Not the master (the server lets only the master write its log): a reader, whose
        // image then refuses appends with famfs's own message.
        if ((e as NodeJS.ErrnoException).code !== 'EPERM' && (e as NodeJS.ErrnoException).code !== 'EROFS') throw e;
      }
      if (lockFd !== undefined) flock(lockFd, LOCK_EX);
    }
    const sb = mapFile(path.join(mountpoint, '.meta', '.superblock'), false);
    maps.push(sb);
    const log = mapFile(logPath, logWritable);
    maps.push(log);
    const mapped = new Set<string>();
    let image: FamfsImage | undefined;
    // A file's bytes: replay (a file this verb just logged must be known to the server),
    // find the file owning the range, map it through the mount, add its runs as windows.
    const miss = (offset: number, length: number): boolean => {
      if (!image) return false;
      if (logWritable) logplayOn(mountpoint);
      for (const n of image.namespace.walk()) {
        if (n.kind !== 'file' || mapped.has(n.path) || n.size === 0) continue;
        const runs = resolveRange(n.map, 0, n.size).filter((m) => m.daxdev === 0);
        if (!runs.some((m) => offset >= m.offset && offset + length <= m.offset + m.length)) continue;
        const f = mapFile(path.join(mountpoint, n.path), logWritable);
        maps.push(f);
        mapped.add(n.path);
        primary.addWindows(runs.map((m) => ({ offset: m.offset, bytes: f.bytes.subarray(m.pos, m.pos + m.length) } satisfies DeviceWindow)));
        return true;
      }
      return false;
    };
    const primary = new WindowedDevice(source, deviceSize(source), [
      { offset: 0, bytes: sb.bytes },
      { offset: LOG_OFFSET, bytes: log.bytes },
    ], cacheMaintenanceFor(source), miss);
    image = FamfsImage.open({ device: source, primary, writable: logWritable, systemUuid: host.systemUuid ?? SYSTEM_UUID_FILE, client: host.client, force: host.force });
    const img = image;
    return {
      image: img,
      close: () => {
        try {
          img.close();
          if (logWritable) logplayOn(mountpoint);
        } finally {
          cleanup();
        }
      },
    };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** A temporary mount of a famfs-mode daxdev, served by a detached famfs-ts process. */
export interface TempMount {
  readonly mountpoint: string;
  readonly pid: number;
  readonly logFile: string;
}

const cliPath = (): string => fileURLToPath(new URL('./main.js', import.meta.url));

/**
 * Start `famfs-ts mount SOURCE DIR --foreground` detached, its status line (fd 3) going to a
 * file this process polls: verbs are synchronous, and a famfs-mode mount under emulation can
 * take longer than the launcher's 60 s to come up.
 */
export function startTempMount(source: string, host: FamfsModeHost, timeoutMs = 300_000): TempMount {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'famfs-ts-tmpmount-'));
  const logFile = `${dir}.log`;
  const readyFile = `${dir}.ready`;
  const args = [cliPath(), 'mount', source, dir, '--abi', 'auto', '--readers', '0', '--foreground', '--ready-fd', '3'];
  if (typeof host.systemUuid === 'string') args.push('--system-uuid', host.systemUuid);
  // A raw UUID here is a reader's placeholder (zeros): the temporary mount is a client then.
  else if (host.systemUuid instanceof Uint8Array || host.client) args.push('--client');
  const logFd = fs.openSync(logFile, 'w', 0o600);
  const readyFd = fs.openSync(readyFile, 'w', 0o600);
  let pid: number | undefined;
  try {
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd, readyFd] });
    child.unref();
    pid = child.pid;
  } finally {
    fs.closeSync(logFd);
    fs.closeSync(readyFd);
  }
  const t: TempMount = { mountpoint: dir, pid: pid ?? -1, logFile };
  let status = '';
  for (let waited = 0; waited < timeoutMs; waited += 100) {
    status = fs.readFileSync(readyFile, 'utf8');
    if (status.includes('\n') || pid === undefined || exited(pid)) break;
    sleepMs(100);
  }
  fs.rmSync(readyFile, { force: true });
  if (status.startsWith('ready\n')) return t;
  let tail = '';
  try { tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-6).join('\n'); } catch { /* no log */ }
  stopTempMount(t);
  const why = status.startsWith('error: ') ? status.slice(7).trim() : status ? status.trim() : `no answer within ${timeoutMs / 1000} s`;
  throw new CliError(`famfs-ts: ${source} is in famfs mode (fsdev_dax): the temporary mount on ${dir} failed: ${why}${tail ? `\n${tail}` : ''}`, 1);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A process that is gone or a zombie (a reparented server nobody reaped yet). */
function exited(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /\) Z /.test(stat);
  } catch {
    return true;
  }
}

/** Stop the server (SIGTERM: it releases .meta, unmounts and exits) and remove the mount point. */
export function stopTempMount(t: TempMount): void {
  try {
    if (t.pid > 0) process.kill(t.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  for (let i = 0; i < 600 && ((t.pid > 0 && !exited(t.pid)) || mountAt(t.mountpoint)); i++) sleepMs(100);
  if (mountAt(t.mountpoint)) {
    process.stderr.write(`famfs-ts: the temporary mount ${t.mountpoint} (server pid ${t.pid}) is still mounted after 60 s; its log is ${t.logFile}\n`);
    return;
  }
  try { fs.rmdirSync(t.mountpoint); } catch { /* not empty or gone */ }
  try { fs.unlinkSync(t.logFile); } catch { /* gone */ }
}

/** The famfs-ts mount serving `source`, if any. */
export function mountServing(source: string): MountEntry | undefined {
  return mountOfSource(source);
}

/**
 * Run `fn` on the image of a famfs-mode daxdev: through its mount when it is mounted, else
 * through a temporary mount for the call.
 */
export function withFamfsModeImage<T>(source: string, host: FamfsModeHost, writable: boolean, fn: (img: FamfsImage) => T): T {
  const live = mountServing(source);
  const temp = live ? undefined : startTempMount(source, host);
  try {
    const { image, close } = openThroughMount(source, live?.mountpoint ?? temp!.mountpoint, host, writable);
    try {
      return fn(image);
    } finally {
      close();
    }
  } finally {
    if (temp) stopTempMount(temp);
  }
}
