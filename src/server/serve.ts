// The mount process: open the image (every daxdev mapped once, MAP_SHARED), serve it through
// the FUSE engine, replay the log periodically on a client, and unmount cleanly on
// SIGINT/SIGTERM or when `famfs-ts umount` / umount(8) ends the connection.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheMaintenanceOf, isFamfsModeDaxdev } from '../device/memory.js';
import { FamfsImage } from '../famfs/image.js';
import { FuseSession, initLimits } from '../fuse/session.js';
import { InitFlag } from '../fuse/opcodes.js';
import type { AbiProfile, ProfileChooser } from '../fuse/abi.js';
import { backingOpen, mappingChanged } from '../mapping/handlers.js';
import type { IomapSupportProbe } from '../mapping/detect.js';
import { iomapAlignmentRefusal, playerCookie } from '../mapping/iomap-wire.js';
import type { FileMap } from '../interleave/filemap.js';
import { defaultIomapConfig, isProfileName, profileByName, PROFILE_NAMES } from '../mapping/profiles.js';
import { fuseIomapSupport, isSocket, unmount } from '../sys/fuse-dev.js';
import { SysError } from '../sys/libc.js';
import { collectIdleThread } from '../fuse/quiet-gc.js';
import { BpfLayouts, type Registrar } from './bpf-layouts.js';
import { BootstrapFs, notFamfsKernel, openThroughMeta } from './famfs-mode.js';
import { FsSwitch } from './fs-switch.js';
import { warmRequestPath } from './jit-warm.js';
import { isLayoutPath, loadLayout } from '../interleave/layout-yaml.js';
import type { Layout } from '../interleave/layout.js';
import { FamfsFileSystem, kernelChecksModes } from './famfs-fs.js';
import { DEFAULT_MAX_WRITE, DEFAULT_SETTLE_MS, DEFAULT_SPIN_US, DEFAULT_THREADS, isChannelPath, openForMount, type TransportChoice } from './mount-options.js';
import type { PlaneData, PlaneUpdate } from './data-plane.js';
import { siblingModule } from '../fuse/data-plane.js';
import { uringEnabled } from '../fuse/uring-transport.js';
import { runsByDaxdev } from '../interleave/filemap.js';
import { ErrnoError, type ErrnoName } from '../errno.js';

export interface MountOptions {
  /** A memory device (single-device image) or a layout YAML. */
  readonly source: string;
  readonly mountpoint: string;
  readonly client?: boolean;
  readonly systemUuid?: string;
  readonly allowOther?: boolean;
  /** Serving threads reading the channel (default DEFAULT_THREADS; 0 = the main thread serves). */
  readonly readers?: number;
  /** Largest READ/WRITE request, in bytes (default DEFAULT_MAX_WRITE). */
  readonly maxWrite?: number;
  /** Busy-poll the channel this long after a request before sleeping (default 0 in serving threads, DEFAULT_SPIN_US on the main thread). */
  readonly spinMicros?: number;
  /** ABI profile name (`mainline` unless told; `auto` picks from INIT). */
  readonly abi?: string;
  /** A client replays the log this often (ms; 0 = only on logplay). */
  readonly refreshMs?: number;
  /** A closed file is logged this long after its last RELEASE (default DEFAULT_SETTLE_MS; FamfsFsOptions.settleMs). */
  readonly settleMs?: number;
  readonly debug?: boolean;
  readonly log?: (line: string) => void;
  /** Register the generic BPF resolver for the connection and fill its layouts at OPEN. */
  readonly bpf?: boolean;
  /** Replaces registerResolver (tests hand in a registration with a real map). */
  readonly bpfRegister?: Registrar;
  /** iomap: push UPSERT_MAPPINGS at OPEN for files of at most this many bytes. */
  readonly upsertAtOpen?: number;
  /** Serve read-write even when the log has bad entries (--force; see FamfsImage force). */
  readonly force?: boolean;
  /** Files the mount creates, stats, lists and reads on scratch images before it serves (none unless given; the CLI's default is DEFAULT_WARM_UP). */
  readonly warmUpFiles?: number;
  /** How the serving threads get requests: /dev/fuse clones, FUSE over io_uring, or auto (chooseTransport). */
  readonly transport?: TransportChoice;
}

/**
 * Whether `auto` takes the ring when the kernel allows it. Set from bench/datapath on this
 * project's 2-CPU host (README "FUSE over io_uring"): see there for the numbers it rests on.
 */
export const AUTO_PREFERS_URING = false;

/**
 * The transport a mount uses: `uring` only where the kernel has FUSE over io_uring switched on
 * (asked for and missing: refused, naming the switch), `auto` the ring where it is on and
 * measured faster, else /dev/fuse; a socket channel (/dev/fd/N) is always dev.
 */
export function chooseTransport(want: TransportChoice | undefined, channel: boolean): 'dev' | 'uring' {
  const choice = want ?? 'auto';
  if (choice === 'dev') return 'dev';
  const on = uringEnabled();
  if (choice === 'uring') {
    if (channel) throw new MountError('--transport uring: a /dev/fd/N channel is not /dev/fuse; the ring needs a real FUSE connection', 'EOPNOTSUPP');
    if (!on.enabled) throw new MountError(`--transport uring: FUSE over io_uring is off: ${on.why}`, 'EOPNOTSUPP');
    return 'uring';
  }
  return !channel && on.enabled && AUTO_PREFERS_URING ? 'uring' : 'dev';
}

export class MountError extends ErrnoError {
  constructor(message: string, code: ErrnoName = 'EINVAL', options?: ErrorOptions) {
    super(message, code, options);
  }
}

/** FUSE_DEV_IOC_IOMAP_SUPPORT on a real /dev/fuse, before INIT (fuse-iomap-abi.md §1.5). */
function iomapSupportOf(fd: number, socket: boolean): IomapSupportProbe {
  if (socket) return { kind: 'not-asked', why: 'a socket channel' };
  const r = fuseIomapSupport(fd);
  return r instanceof SysError ? { kind: 'refused', errno: r.code } : { kind: 'answered', flags: r };
}

/**
 * How long the main thread, when it reads the channel, sleeps in poll(2) itself before it
 * hands the wait to the thread pool (ms): a pool wait costs a second thread wake-up per
 * request (creating 2,000 files: 40,000 context switches of the server against 13,000, and
 * memfs_ll's 11,000; bench/meta-mount/README.md). The event loop still runs every 4 ms.
 */
export const DEFAULT_HOLD_MS = 50;

/** Quiet time after the last FORGET before the C heap is trimmed (FamfsMount.trimSoon). */
const TRIM_AFTER_MS = 1000;
/** Quiet time after that before the main thread's young generation can be given back (FamfsMount.shrinkYoungSoon). */
const SHRINK_YOUNG_AFTER_MS = 6000;

export class FamfsMount {
  readonly done: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  /** The image and the file system served (in famfs mode set once the bootstrap opened them). */
  image!: FamfsImage;
  fs!: FamfsFileSystem;
  private opened = false;

  private constructor(image: FamfsImage | undefined, fs: FamfsFileSystem | undefined, readonly session: FuseSession,
    /** Settles once the kernel's INIT was answered: the mount is live. */
    readonly ready: Promise<void>, private readonly log: (line: string) => void, private readonly mountpoint: string) {
    if (image && fs) this.adopt(image, fs);
    this.done = session.done.then(() => this.afterThreads());
  }

  private adopt(image: FamfsImage, fs: FamfsFileSystem): void {
    this.image = image;
    this.fs = fs;
    this.opened = true;
  }

  /**
   * A daxdev in famfs mode (bound to fsdev_dax: no mmap, no read): mount first with the
   * bootstrap file system, reach the superblock and log through .meta from a mapping thread,
   * then serve the image (famfs-mode.ts). The main thread serves throughout: no READ or WRITE
   * reaches a famfs-mode mount.
   */
  private static startFamfsMode(opts: MountOptions, log: (line: string) => void): FamfsMount {
    const abi = opts.abi ?? 'auto';
    if (!isProfileName(abi)) throw new MountError(`--abi ${abi}: known profiles are ${PROFILE_NAMES.join(', ')}`);
    const boot = new BootstrapFs(opts.source, log);
    const sw = new FsSwitch(boot);
    let mount: FamfsMount | undefined;
    let probe: IomapSupportProbe = { kind: 'not-asked', why: 'no channel yet' };
    const profile = profileByName(abi, { source: sw.fs, log, iomapSupport: () => probe });
    const session = FuseSession.mount(opts.mountpoint, sw.fs, {
      profile,
      beforeMount: (fd) => { probe = iomapSupportOf(fd, isSocket(fd)); },
      allowOther: opts.allowOther,
      defaultPermissions: kernelChecksModes(opts.allowOther),
      fsname: opts.source,
      subtype: 'famfs-ts',
      readOnly: opts.client ?? false,
      handleSignals: false,
      wantFlags: InitFlag.HANDLE_KILLPRIV_V2,
      maxWrite: opts.maxWrite ?? DEFAULT_MAX_WRITE,
      log,
      debug: opts.debug,
    });
    log(`${opts.source} is in famfs mode (fsdev_dax): the server will not map it; superblock and log come through ${opts.mountpoint}/.meta`);
    const ready = new Promise<void>((resolve, reject) => {
      session.dispatcher.onInit = () => {
        void (async () => {
          if (sw.mode?.kind !== 'famfs') throw new MountError(notFamfsKernel(opts.source, sw.series));
          // tailInFlight: a client's replay waits for an entry the master is appending (ignored when writable).
          const base = { device: opts.source, systemUuid: opts.systemUuid, client: opts.client, tailInFlight: true };
          let opened = await openThroughMeta(opts.mountpoint, boot, { ...base, writable: !opts.client });
          if (opened.image.role !== 'master' && opened.image.writable) {
            opened.image.close();
            await opened.release();
            opened = await openThroughMeta(opts.mountpoint, boot, { ...base, writable: false });
          }
          const { image } = opened;
          const famfs = new FamfsFileSystem(image, { device: opts.source, log, settleMs: opts.settleMs ?? DEFAULT_SETTLE_MS });
          sw.switchTo(famfs);
          const m = mount!;
          m.beforeUnmount = async () => {
            // Nothing may reach the image once its windows go: the bootstrap answers meanwhile.
            sw.switchTo(boot);
            m.shutdown();
            await opened.release();
          };
          m.adopt(image, famfs);
          m.connected(opts);
          m.startRefresh(opts);
          log(`serving ${opts.source} at ${opts.mountpoint} as ${image.role}${image.writable ? '' : ' (read-only)'}`);
        })().then(resolve, (e: unknown) => {
          log(`famfs mode: ${(e as Error).message}`);
          void session.close();
          reject(e instanceof Error ? e : new Error(String(e)));
        });
      };
    });
    mount = new FamfsMount(undefined, undefined, session, ready, log, opts.mountpoint);
    return mount;
  }

  /**
   * Before the kernel sees the mount: the request path runs on scratch images (jit-warm.ts),
   * so a new mount answers its first thousands of creates from compiled code.
   */
  private static warmUp(opts: MountOptions, log: (line: string) => void): void {
    const files = opts.warmUpFiles ?? 0;
    if (files <= 0) return;
    const w = warmRequestPath(files, initLimits({ maxWrite: opts.maxWrite ?? DEFAULT_MAX_WRITE }));
    log(typeof w === 'string' ? `warm-up skipped: ${w}` : `warm-up: ${w.files} files on scratch images in ${w.ms} ms (--warm-up)`);
    // Its scratch images' objects are garbage now: collected before the mount has any of its own.
    collectIdleThread(log);
  }

  /** A client learns of new files on its own, like a periodic famfs logplay. */
  private startRefresh(opts: MountOptions): void {
    const every = opts.refreshMs ?? 1000;
    if (this.image.role === 'master' || every <= 0) return;
    this.timer = setInterval(() => {
      try {
        this.fs.logplay();
      } catch (e) {
        this.log(`periodic logplay: ${(e as Error).message}`);
      }
    }, every);
    this.timer.unref();
  }

  static start(opts: MountOptions): FamfsMount {
    const log = opts.log ?? ((l: string) => process.stderr.write(`famfs-ts mount: ${l}\n`));
    const channel = isChannelPath(opts.mountpoint);
    let st: fs.Stats;
    try {
      st = fs.statSync(opts.mountpoint);
    } catch (e) {
      throw new MountError(`${opts.mountpoint}: ${channel ? 'no such open file descriptor' : 'mount point does not exist'}`, channel ? 'EBADF' : 'ENOENT', { cause: e });
    }
    if (!channel && !st.isDirectory()) throw new MountError(`${opts.mountpoint}: mount point is not a directory`, 'ENOTDIR');
    FamfsMount.warmUp(opts, log);
    if (!channel && !isLayoutPath(opts.source) && isFamfsModeDaxdev(opts.source)) return FamfsMount.startFamfsMode(opts, log);
    const transport = chooseTransport(opts.transport, channel);
    const { image, layout, readOnlyWhy } = openForMount(opts);
    let session: FuseSession;
    let famfs: FamfsFileSystem;
    let ready: Promise<void>;
    let mount: FamfsMount | undefined;
    let deviceCookies = new Map<number, number>();
    try {
      // Device cookies (fuse-iomap-abi.md §1.5): on /dev/fuse each daxdev gets the id
      // FUSE_DEV_IOC_BACKING_OPEN returns once INIT granted iomap (connected()); on a socket
      // channel, where the ioctl cannot be issued, the server numbers them itself (daxdev i =
      // cookie i + 1, as the kernel numbers ids from 1), which a kernel-side player accepts.
      const cookies = new Map<number, number>();
      let onSocket = channel;
      const cookie = (daxdev: number): number | undefined => (onSocket ? playerCookie(daxdev) : cookies.get(daxdev));
      const iomap = defaultIomapConfig({ uuid: image.sb.uuid, cookie, ...(opts.upsertAtOpen === undefined ? {} : { upsertMaxBytes: opts.upsertAtOpen }) });
      famfs = new FamfsFileSystem(image, { layout, device: layout ? undefined : opts.source, log, iomapCookie: cookie, settleMs: opts.settleMs ?? DEFAULT_SETTLE_MS });
      let probe: IomapSupportProbe = { kind: 'not-asked', why: 'no channel yet' };
      let profile: AbiProfile | ProfileChooser | undefined;
      if (opts.abi) {
        if (!isProfileName(opts.abi)) throw new MountError(`--abi ${opts.abi}: known profiles are ${PROFILE_NAMES.join(', ')}`);
        profile = profileByName(opts.abi, { source: famfs, log, iomap, iomapSupport: () => probe });
      }
      deviceCookies = cookies;
      session = FuseSession.mount(opts.mountpoint, famfs, {
        profile,
        // Before INIT: does this kernel speak fuse-iomap? (`auto` reads the answer at INIT.)
        beforeMount: (fd) => {
          onSocket = isSocket(fd);
          probe = iomapSupportOf(fd, onSocket);
        },
        // After INIT, serving threads read the channel and answer READ/WRITE of committed
        // files themselves (data-plane.ts); the rest comes to this thread, whose event loop
        // never blocks on the channel.
        workers: {
          count: opts.readers ?? DEFAULT_THREADS,
          module: siblingModule(import.meta.url, 'data-plane'),
          data: { writable: image.writable && image.role === 'master' } satisfies PlaneData,
          spinMicros: opts.spinMicros ?? 0,
          threadsServe: (nodeid) => mount?.threadsServe(nodeid) ?? false,
        },
        // While the main thread serves (before INIT, --readers 0, or a channel that cannot
        // be cloned): poll after each request, adapted down there for sparse clients.
        spinMicros: opts.spinMicros ?? DEFAULT_SPIN_US,
        // While the main thread reads the channel (--readers 0, or the threads parked during a
        // burst of metadata requests): sleep in poll(2) between requests, one wake-up each.
        holdMillis: DEFAULT_HOLD_MS,
        allowOther: opts.allowOther,
        defaultPermissions: kernelChecksModes(opts.allowOther),
        // Absolute, so mkfs and offline writers find the device in /proc/mounts from any cwd.
        fsname: path.resolve(opts.source),
        subtype: 'famfs-ts',
        readOnly: image.role !== 'master' || !image.writable,
        handleSignals: false,
        // The kernel then sets SB_NOSEC: it stops asking GETXATTR security.capability
        // before every WRITE (one extra round trip each). Our files carry no suid bits
        // worth killing (famfs logs the mode once); the server ignores KILL_SUIDGID.
        wantFlags: InitFlag.HANDLE_KILLPRIV_V2,
        transport,
        maxWrite: opts.maxWrite ?? DEFAULT_MAX_WRITE,
        log,
        debug: opts.debug,
      });
      const s = session;
      famfs.status = () => ({
        pid: process.pid, role: image.role, abi: s.dispatcher.abi?.name ?? 'none', devices: image.deviceNames,
        mountpoint: opts.mountpoint, readonly: image.role !== 'master' || !image.writable, ops: s.opStats(),
      });
      ready = new Promise<void>((resolve) => {
        const prev = s.dispatcher.onInit;
        s.dispatcher.onInit = (r) => {
          prev?.(r);
          try {
            mount?.connected(opts);
          } catch (e) {
            log(`after INIT: ${(e as Error).message}`);
          }
          // Mounted means served: with the ring, the kernel holds every request until the
          // ring threads have set up (the first one waited ~130 ms after `mount` returned).
          void s.started.then(resolve);
        };
      });
    } catch (e) {
      image.close();
      throw e;
    }
    const m = new FamfsMount(image, famfs, session, ready, log, opts.mountpoint);
    m.cookies = deviceCookies;
    mount = m;
    m.startRefresh(opts);
    log(`serving ${opts.source} at ${opts.mountpoint} as ${image.role}${image.writable ? '' : ' (read-only)'}${image.damage ? `: ${image.damage}` : ''}${readOnlyWhy ? '; serving read-only (--force serves read-write)' : ''}; cache maintenance ${cacheMaintenanceOf(image.daxdev(0))}`);
    return m;
  }

  /** The FUSE connection's number in fusectl (/sys/fs/fuse/connections/N), read at INIT. */
  private connectionId?: number;

  /**
   * Stop now, files still open: a serving thread blocked in read(2) on a detached but live
   * connection cannot be joined, so process.exit would wait for it. fusectl's abort ends the
   * connection (the readers get ENODEV); without fusectl the process ends itself with SIGKILL.
   */
  private abortConnection(): void {
    if (this.connectionId !== undefined) {
      try {
        fs.writeFileSync(`/sys/fs/fuse/connections/${this.connectionId}/abort`, '1');
        return;
      } catch {
        // fusectl not mounted
      }
    }
    this.log('ending the process at once (SIGKILL): its serving threads wait on a connection that is still open');
    process.kill(process.pid, 'SIGKILL');
  }

  /** BPF resolver registration, when `--bpf` got one. */
  bpf?: BpfLayouts;

  /** daxdev index -> the device id BACKING_OPEN returned (iomap on /dev/fuse). */
  cookies = new Map<number, number>();

  /** After INIT: register iomap devices, wire the series' notifies and the BPF resolver to map events. */
  private connected(opts: MountOptions): void {
    const conn = this.session.dispatcher.conn;
    if (!conn) return;
    const mode = this.fs.mode;
    const socket = isSocket(this.session.fd);
    if (!socket) this.connectionId = fuseConnectionId(opts.mountpoint);
    if (mode.kind === 'iomap') {
      if (socket) this.log('iomap: device cookies assigned by the server (daxdev i = cookie i + 1): FUSE_DEV_IOC_BACKING_OPEN cannot be issued on a socket channel');
      else this.openBackingDevices();
    }
    const inval = mode.kind === 'iomap' ? mode.series.notify.INVAL_MAPPINGS : undefined;
    if (opts.bpf) {
      this.bpf = BpfLayouts.start({
        fuseFd: this.session.fd, flavor: mode.series.bpfFlavor, fileMap: (n) => this.fs.fileMap(n), log: this.log, register: opts.bpfRegister,
        // The iomap resolver answers whole blocks (IOMAP_CONFIG's block size = its default 4096).
        ...(mode.kind === 'iomap' ? { refuse: (m: FileMap) => iomapAlignmentRefusal(m, 4096) } : {}),
      });
    }
    const bpf = this.bpf;
    this.fs.events.opened = (n) => {
      bpf?.fill(n);
      this.publish(n);
    };
    // Published before the SETATTR reply, so the thread reading the next WRITE has it.
    this.fs.events.handleRefused = (fh) => this.session.publish({ kind: 'refused-fh', fh, why: this.fs.refusal(fh) ?? 'a truncation was refused' } satisfies PlaneUpdate);
    // Published before the OPEN reply: the thread that reads the description's first WRITE has it.
    this.fs.events.journal = (fh, buffer) =>
      this.session.publish((buffer ? { kind: 'journal', fh, buffer } : { kind: 'journal-end', fh }) satisfies PlaneUpdate);
    this.fs.events.invalidate = (nodeid, off, len) => this.session.notifyInvalInode(nodeid, off, len);
    this.fs.events.forgotten = (n) => {
      // The kernel holds no reference to n any more: the threads may drop its map (a later
      // OPEN of the same nodeid publishes it again). One still waiting was never posted.
      if (this.waiting.delete(n)) this.published.delete(n);
      else if (this.published.delete(n)) this.session.publish({ kind: 'forget', nodeid: n } satisfies PlaneUpdate);
      this.trimSoon();
    };
    this.session.onResume = () => this.publishWaiting();
    this.fs.events.mapChanged = (n) => {
      this.publish(n);
      // The kernel may hold cached mappings of the old reservation (UPSERT at OPEN, or
      // IOMAP_BEGIN answers): drop them all, it asks again (fuse-iomap-abi.md §1.4 lookup order).
      if (inval !== undefined) this.session.dispatcher.notify(inval, [mappingChanged(this.fs, n)]);
      bpf?.fill(n);
    };
  }

  /**
   * FUSE_DEV_IOC_BACKING_OPEN for every daxdev of the image (fuse-iomap-abi.md §1.5): the
   * kernel takes block devices only (a loop device, /dev/pmemN, /dev/ramN) and needs
   * CAP_SYS_RAWIO. A device it refuses is logged with the reason; IOMAP_BEGIN for its
   * files then fails with ENODEV, naming the daxdev.
   */
  private openBackingDevices(): void {
    for (const index of this.image.daxdevIndexes()) {
      const path = this.fs.daxdevPath(index);
      if (path === undefined) {
        this.log(`iomap: daxdev ${index} has no device path; its files fail with ENODEV`);
        continue;
      }
      let fd: number | undefined;
      try {
        fd = fs.openSync(path, fs.constants.O_RDWR);
        if (!fs.fstatSync(fd).isBlockDevice()) {
          this.log(`iomap: daxdev ${index} (${path}) is not a block device; fuse-iomap takes block devices only (losetup a file, or use /dev/pmemN or /dev/ramN): its files fail with ENODEV`);
          continue;
        }
        const id = backingOpen(this.session.fd, fd);
        this.cookies.set(index, id);
        this.log(`iomap: daxdev ${index} (${path}) registered with FUSE_DEV_IOC_BACKING_OPEN as device ${id}`);
      } catch (e) {
        this.log(`iomap: daxdev ${index} (${path}): ${(e as Error).message}${e instanceof SysError && e.code === 'EPERM' ? ' (the server needs CAP_SYS_RAWIO)' : ''}; its files fail with ENODEV`);
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
    }
  }

  private readonly published = new Set<number>();
  /**
   * Published while the serving threads were parked (Session.threadsParked): their maps are
   * posted when the threads are resumed, before they read again. A burst of creates, all
   * answered on the main thread, then costs no message per file (four structured clones,
   * two per thread, and the threads' work taking them in).
   */
  private readonly waiting = new Set<number>();

  /** Whether the serving threads answer READ/WRITE of nodeid (its map was published to them, or will be at their resume). */
  threadsServe(nodeid: number): boolean {
    return this.published.has(nodeid);
  }

  /**
   * Hand a committed file's map to the serving threads (once: it never changes). Called
   * before the OPEN (or FLUSH) reply goes out, so the thread that reads the file's next
   * READ already has it; while the threads are parked, it waits for their resume. A thread
   * without a file's map forwards its requests to the main thread.
   */
  private publish(nodeid: number): void {
    if (this.published.has(nodeid)) return;
    if (!this.fs.committedFile(nodeid)) return;
    this.published.add(nodeid);
    this.waiting.add(nodeid);
    if (!this.session.threadsParked) this.publishWaiting();
  }

  /**
   * Post the maps that wait (one, or those held while the threads were parked), in order,
   * after one share of the windows under all of them per daxdev. A file on a daxdev that
   * could not be shared (this host does not map it, or a run is past it) stays with the main
   * thread, which answers with the error.
   */
  private publishWaiting(): void {
    const files: { nodeid: number; path: string; map: FileMap; daxdevs: number[] }[] = [];
    const runs = new Map<number, [number, number][]>();
    for (const nodeid of this.waiting) {
      this.published.delete(nodeid);
      const f = this.fs.committedFile(nodeid);
      if (!f) continue;
      const byDaxdev = runsByDaxdev(f.map);
      files.push({ nodeid, ...f, daxdevs: [...byDaxdev.keys()] });
      for (const [index, r] of byDaxdev) {
        let all = runs.get(index);
        if (!all) runs.set(index, (all = []));
        all.push(...r);
      }
    }
    this.waiting.clear();
    const shared = new Set<number>();
    for (const [index, r] of runs) {
      try {
        this.session.publish({ kind: 'daxdev', index, spec: this.image.daxdev(index).share(r) } satisfies PlaneUpdate);
        shared.add(index);
      } catch {
        // not shared: its files stay with the main thread
      }
    }
    for (const f of files) {
      if (!f.daxdevs.every((i) => shared.has(i))) continue;
      this.session.publish({ kind: 'file', nodeid: f.nodeid, path: f.path, map: f.map } satisfies PlaneUpdate);
      this.published.add(f.nodeid);
    }
  }

  private trimTimer?: NodeJS.Timeout;
  /**
   * Once the kernel's forgets of a burst are over (a quiet second after the last), collect
   * the V8 heap in full (quiet-gc.ts) and hand the C heap's free pages back (collectIdleThread): the records of forgotten files are gone, but the
   * buffers of the burst that made them stayed counted in RssAnon (bench/meta-mount/README.md).
   */
  private trimSoon(): void {
    if (this.trimTimer) {
      this.trimTimer.refresh();
      return;
    }
    this.trimTimer = setTimeout(() => {
      this.trimTimer = undefined;
      try {
        // The listings go (made again when next needed), then V8's heap is collected (what
        // it frees goes back through the C heap too), then the C heap is trimmed.
        this.fs.releaseListings();
        collectIdleThread(this.log);
        // The serving threads' heaps too: each dropped its forgotten files' maps.
        this.session.quiet();
      } catch (e) {
        this.log(`quiet trim: ${(e as Error).message}`);
      }
      this.shrinkYoungSoon();
    }, TRIM_AFTER_MS);
    this.trimTimer.unref();
  }

  private shrinkTimer?: NodeJS.Timeout;
  /**
   * V8 keeps the young generation a burst grew (8 MiB committed, against 1-2 on a fresh mount)
   * through every collection until one finds little allocated over the 5 s before it: a full
   * collection 4 s after a burst kept it, one 6 s after gave it back (measured on Node 20).
   * So once the main thread has answered nothing for that long after the quiet collection,
   * it collects once more. Any request since (a new burst) skips it.
   */
  private shrinkYoungSoon(): void {
    clearTimeout(this.shrinkTimer);
    const calls = this.session.opTable.calls();
    this.shrinkTimer = setTimeout(() => {
      this.shrinkTimer = undefined;
      if (this.session.opTable.calls() === calls) collectIdleThread(this.log);
    }, SHRINK_YOUNG_AFTER_MS);
    this.shrinkTimer.unref();
  }

  /** famfs mode: close the image and unmap the .meta windows, which keep the mount busy. */
  private beforeUnmount?: () => Promise<void>;

  /** Unmount (lazily if busy) and close the image. Safe to call twice. */
  close(): Promise<void> {
    const before = this.beforeUnmount;
    this.beforeUnmount = undefined;
    const released = before ? before().catch((e: unknown) => this.log(`famfs mode: releasing .meta: ${(e as Error).message}`)) : Promise.resolve();
    this.closing ??= released.then(() => this.waitForWriters()).then(() => this.session.close()).then(() => this.afterThreads());
    return this.closing;
  }

  /**
   * Files still being written are logged at their last close: detach the mount (no new
   * opens) and wait for the connection to end, which the kernel does once the last open
   * file is closed. A second signal (stopOnSignals) drops them instead.
   */
  private async waitForWriters(): Promise<void> {
    if (!this.fs.unfinished().some((f) => f.opens > 0) || isChannelPath(this.mountpoint)) return;
    try {
      unmount(this.mountpoint, { lazy: true });
    } catch (e) {
      this.log(`lazy unmount of ${this.mountpoint}: ${(e as Error).message}`);
      return;
    }
    await this.session.done;
  }

  /**
   * SIGINT/SIGTERM: the first unmounts once no file is being written, naming the files it
   * waits for; a second drops them (one log line each) and exits at once.
   */
  stopOnSignals(exit: (code: number) => void): void {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        const open = this.fs.unfinished().filter((f) => f.opens > 0);
        if (open.length > 0) {
          const list = open.map((f) => `${f.path} (${f.size} bytes so far)`).join(', ');
          this.log(`${sig}: waiting for ${open.length} file${open.length > 1 ? 's' : ''} still being written, logged at their last close: ${list}; ` +
            `send ${sig} again to stop now and drop ${open.length > 1 ? 'them' : 'it'}`);
        }
        void this.close().then(() => exit(0), (e: unknown) => {
          this.log(`unmount: ${(e as Error).message}`);
          exit(1);
        });
        return;
      }
      this.fs.dropAll(`${sig} received a second time before the file was closed`);
      this.abortConnection();
      exit(1);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  /** The serving threads view the image's mappings: unmap only once they are gone. */
  private async afterThreads(): Promise<void> {
    if (!(await this.session.threadsExited(5000))) this.log('serving threads still running after 5 s; closing the image anyway');
    this.shutdown();
  }

  private shut = false;
  private shutdown(): void {
    if (this.shut) return;
    this.shut = true;
    const t = this.session.threadStats();
    const tr = this.session.transportStats();
    this.log(`transport ${tr.transport}: ${tr.ring} requests from the io_uring queues, ${tr.dev} read from /dev/fuse by the main thread`);
    if (t.threads > 0) {
      this.log(`${t.threads} serving threads answered ${t.local} reads and writes, forwarded ${t.forwarded} requests; ` +
        `the main thread read the channel itself ${this.session.stats.takeovers} times`);
    }
    // One line a test (or a person) can read the data path from: a mapping kernel sends no READ/WRITE.
    const counts = Object.entries(this.session.opTable.mainThreadCounts(this.session.dispatcher.opName)).map(([k, n]) => `${k} ${n}`).join(', ');
    this.log(`requests on the main thread: ${counts || 'none'}`);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.trimTimer);
    clearTimeout(this.shrinkTimer);
    this.bpf?.close();
    this.bpf = undefined;
    try {
      // No file is open once the connection is gone; a RELEASE the kernel had queued at
      // unmount may never have been read: log those files now.
      if (this.opened && this.fs.isMaster) this.fs.finishAll();
    } catch (e) {
      this.log(`close: ${(e as Error).message}`);
    }
    try {
      if (this.opened) this.image.close();
    } catch (e) {
      this.log(`close: ${(e as Error).message}`);
    }
  }
}

/** The device number of the FUSE mount at `mountpoint` (its fusectl name), from mountinfo. */
function fuseConnectionId(mountpoint: string): number | undefined {
  const want = path.resolve(mountpoint);
  let id: number | undefined;
  try {
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      // mountinfo escapes spaces and friends as octal; the last mount at the path wins.
      const at = f[4]?.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
      const dev = f[2]?.split(':');
      if (at === want && dev?.length === 2) id = Number(dev[0]) * 2 ** 20 + Number(dev[1]);
    }
  } catch {
    return undefined;
  }
  return id;
}
