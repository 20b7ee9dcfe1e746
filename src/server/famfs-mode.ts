// Mounting a daxdev in famfs mode the way famfs does (its famfs_mount.c / famfs_fused): the
// daxdev is bound to fsdev_dax, which has no mmap and no read, so the server never maps it.
// It mounts first with a bootstrap file system that knows only `.meta/.superblock` (2 MiB at
// offset 0, famfs-format.md) and, once the superblock was read, `.meta/.log` (log_len at
// 0x200000). A worker thread (not the serving one) opens and maps those files; the kernel maps
// them from GET_FMAP/GET_DAXDEV. Their mappings become the image's primary device (a
// WindowedDevice), the log is replayed, and the real famfs file system takes over the mount
// with the same node ids and attributes for `.meta`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { WindowedDevice } from '../device/windows.js';
import { deviceSize, devdaxModeCommand } from '../device/memory.js';
import { LOG_OFFSET } from '../famfs/constants.js';
import { checkSuperblock } from '../famfs/superblock.js';
import type { FamfsImage, OpenOptions } from '../famfs/image.js';
import { FamfsImage as Image } from '../famfs/image.js';
import { errno, FuseError, type Attr, type AttrReply, type DirList, type Entry, type FileSystem, type OpenReply, type RequestContext } from '../fuse/filesystem.js';
import { siblingModule } from '../fuse/data-plane.js';
import { FAMFS_FILE } from '../mapping/famfs-fmap.js';
import type { MappingSource } from '../mapping/handlers.js';
import type { FileMap } from '../interleave/filemap.js';
import { SysError, viewMapping } from '../sys/libc.js';
import { fuseIomapSupport, isSocket } from '../sys/fuse-dev.js';
import { FuseSession } from '../fuse/session.js';
import type { IomapSupportProbe } from '../mapping/detect.js';
import { profileByName } from '../mapping/profiles.js';
import { FsSwitch } from './fs-switch.js';
import { kernelChecksModes, META_DIR_ID, META_LOG_ID, META_SUPERBLOCK_ID } from './famfs-fs.js';
import type { MetaMapReply, MetaMapRequest } from './meta-mapper.js';

const ROOT = 1;
/** The superblock file: the first 2 MiB of the primary daxdev (famfs-format.md). */
const SUPERBLOCK_SIZE = LOG_OFFSET;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** The file system a famfs-mode mount serves until the image is open: root, .meta and its two files. */
export class BootstrapFs implements FileSystem, MappingSource {
  logLen = 0;
  constructor(readonly device: string, private readonly logFn: (line: string) => void) {}

  log(line: string): void {
    this.logFn(line);
  }

  private readonly t0 = Date.now();

  private attr(nodeid: number): Attr {
    const t = { atimeMs: this.t0, mtimeMs: this.t0, ctimeMs: this.t0 };
    if (nodeid === ROOT || nodeid === META_DIR_ID) return { ino: nodeid, size: 4096, mode: S_IFDIR | 0o755, nlink: 2, uid: 0, gid: 0, ...t };
    const size = nodeid === META_SUPERBLOCK_ID ? SUPERBLOCK_SIZE : nodeid === META_LOG_ID && this.logLen ? this.logLen : -1;
    if (size < 0) throw new FuseError(errno.ENOENT, `nodeid ${nodeid}: not known while the image is being opened`);
    return { ino: nodeid, size, mode: S_IFREG | 0o444, nlink: 1, uid: 0, gid: 0, blocks: size / 512, ...t };
  }

  lookup(_ctx: RequestContext, parent: number, name: string): Entry {
    const id = parent === ROOT && name === '.meta' ? META_DIR_ID
      : parent === META_DIR_ID && name === '.superblock' ? META_SUPERBLOCK_ID
        : parent === META_DIR_ID && name === '.log' && this.logLen ? META_LOG_ID : 0;
    if (!id) throw new FuseError(errno.ENOENT, `${name}: the image is still being opened`);
    // No caching: the real file system answers these names next.
    return { nodeid: id, generation: 0, entryTimeout: 0, attrTimeout: 0, attr: this.attr(id) };
  }

  getattr(_ctx: RequestContext, nodeid: number): AttrReply {
    return { attr: this.attr(nodeid), timeout: 0 };
  }

  open(_ctx: RequestContext, nodeid: number): OpenReply {
    this.attr(nodeid);
    return { fh: 0 };
  }

  release(): void {}
  flush(): void {}

  opendir(): OpenReply {
    return { fh: 0 };
  }

  readdir(_ctx: RequestContext, _nodeid: number, _fh: number, _offset: number, _out: DirList): void {}
  releasedir(): void {}

  fileMap(nodeid: number): FileMap | undefined {
    if (nodeid === META_SUPERBLOCK_ID) return { size: SUPERBLOCK_SIZE, extents: [{ type: 'simple', daxdev: 0, offset: 0, length: SUPERBLOCK_SIZE }] };
    if (nodeid === META_LOG_ID && this.logLen) return { size: this.logLen, extents: [{ type: 'simple', daxdev: 0, offset: LOG_OFFSET, length: this.logLen }] };
    return undefined;
  }

  daxdevPath(index: number): string | undefined {
    return index === 0 ? this.device : undefined;
  }

  fileType(nodeid: number): number {
    return nodeid === META_LOG_ID ? FAMFS_FILE.LOG : nodeid === META_SUPERBLOCK_ID ? FAMFS_FILE.SUPERBLOCK : FAMFS_FILE.REG;
  }
}

/** Open and map a file of the mount in a worker thread; the mapping's bytes as a Buffer. */
export function mapThroughMount(file: string, writable: boolean): Promise<{ bytes: Buffer; address: bigint }> {
  return inMapper({ path: file, writable }, file).then((r) => ({ bytes: viewMapping(r.address, r.length), address: r.address }));
}

/** Unmap mappings of files of our own mount, from a mapping thread (never the serving one). */
export function unmapThroughMapper(mappings: readonly (readonly [bigint, number])[], what: string): Promise<void> {
  return inMapper({ unmap: mappings }, what).then(() => undefined);
}

/**
 * mkfs in famfs mode, as famfs's famfs_mkfs_via_dummy_mount: mount the daxdev on a temporary
 * directory with the bootstrap file system alone (`.meta/.superblock`, and `.meta/.log` of
 * the length being made), this process serving it; a mapping thread maps both files
 * writable through the kernel (GET_FMAP); `fn` formats over those windows; then unmap and
 * unmount. Needs a famfs kernel (INIT must negotiate a famfs series).
 */
export async function withBootstrapMount<T>(device: string, logLen: number, log: (line: string) => void, fn: (primary: WindowedDevice) => T): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'famfs-ts-mkfs-'));
  const boot = new BootstrapFs(device, log);
  boot.logLen = logLen;
  const sw = new FsSwitch(boot);
  let probe: IomapSupportProbe = { kind: 'not-asked', why: 'no channel yet' };
  let session: FuseSession | undefined;
  const maps: [bigint, number][] = [];
  try {
    const inited = new Promise<void>((resolve) => {
      session = FuseSession.mount(dir, sw.fs, {
        profile: profileByName('auto', { source: sw.fs, log, iomapSupport: () => probe }),
        beforeMount: (fd) => { probe = isSocket(fd) ? { kind: 'not-asked', why: 'a socket channel' } : iomapProbe(fd); },
        defaultPermissions: kernelChecksModes(false),
        fsname: device,
        subtype: 'famfs-ts',
        handleSignals: false,
        log,
      });
      session.dispatcher.onInit = () => resolve();
    });
    await inited;
    if (sw.mode?.kind !== 'famfs') throw new Error(notFamfsKernel(device, sw.series));
    const sb = await mapThroughMount(path.join(dir, '.meta', '.superblock'), true);
    maps.push([sb.address, sb.bytes.length]);
    const lg = await mapThroughMount(path.join(dir, '.meta', '.log'), true);
    maps.push([lg.address, lg.bytes.length]);
    const primary = new WindowedDevice(device, deviceSize(device), [
      { offset: 0, bytes: sb.bytes },
      { offset: LOG_OFFSET, bytes: lg.bytes },
    ]);
    return fn(primary);
  } finally {
    if (maps.length) await unmapThroughMapper(maps, '.meta');
    if (session) await session.close();
    try { fs.rmdirSync(dir); } catch { /* still mounted: the unmount's error was logged */ }
  }
}

function iomapProbe(fd: number): IomapSupportProbe {
  const r = fuseIomapSupport(fd);
  return r instanceof SysError ? { kind: 'refused', errno: r.code } : { kind: 'answered', flags: r };
}

/** A famfs-mode daxdev on a kernel that negotiated no famfs series: what to do instead. */
export function notFamfsKernel(device: string, series: string | undefined): string {
  return `${device} is in famfs mode (fsdev_dax, which has no mmap), which needs a famfs kernel (INIT chose ${series ?? 'no mapping series'}); ` +
    `elsewhere famfs-ts maps the device itself and needs devdax mode: ${devdaxModeCommand(device)}`;
}

/** Run one request in a mapping thread. */
function inMapper(req: MetaMapRequest, what: string): Promise<{ address: bigint; length: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(siblingModule(import.meta.url, 'meta-mapper')), { workerData: req });
    w.once('message', (r: MetaMapReply) => {
      if (r.ok) resolve({ address: r.address, length: r.length });
      else reject(new Error(`${what}: ${r.message}`));
    });
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${what}: the mapping thread exited with ${code}`));
    });
  });
}

/**
 * The famfs bootstrap: with the mount live on `boot`, map .meta/.superblock, learn log_len,
 * map .meta/.log, and open the image over those two windows.
 */
export async function openThroughMeta(mountpoint: string, boot: BootstrapFs, opts: Omit<OpenOptions, 'primary' | 'layout'> & { device: string }): Promise<{ image: FamfsImage; release: () => Promise<void> }> {
  const sb = await mapThroughMount(path.join(mountpoint, '.meta', '.superblock'), false);
  const chk = checkSuperblock(sb.bytes.subarray(0, 4096));
  if (!chk.ok) throw new Error(`${opts.device}: ${chk.message} (read through ${mountpoint}/.meta/.superblock)`);
  boot.logLen = chk.sb.logLen;
  const log = await mapThroughMount(path.join(mountpoint, '.meta', '.log'), opts.writable ?? false);
  boot.log(`famfs mode: superblock and ${chk.sb.logLen}-byte log mapped through ${mountpoint}/.meta (GET_FMAP), not from ${opts.device}`);
  const primary = new WindowedDevice(opts.device, deviceSize(opts.device), [
    { offset: 0, bytes: sb.bytes },
    { offset: LOG_OFFSET, bytes: log.bytes },
  ]);
  // The mappings hold the mount busy (umount says EBUSY) until they go: release() unmaps
  // both, after the image is closed and before the unmount.
  // Unmapped from a mapping thread too: the last reference to a file of our own mount may
  // need the server to answer (RELEASE), so never from the serving thread.
  const release = async (): Promise<void> => {
    await inMapper({ unmap: [[sb.address, sb.bytes.length], [log.address, log.bytes.length]] }, '.meta');
  };
  try {
    return { image: Image.open({ ...opts, primary }), release };
  } catch (e) {
    await release();
    throw e;
  }
}
