// The mount process: open the image (every daxdev mapped once, MAP_SHARED), serve it through
// the FUSE engine, replay the log periodically on a client, and unmount cleanly on
// SIGINT/SIGTERM or when `famfs-ts umount` / umount(8) ends the connection.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FamfsImage } from '../famfs/image.js';
import { FuseSession } from '../fuse/session.js';
import { InitFlag } from '../fuse/opcodes.js';
import type { AbiProfile, ProfileChooser } from '../fuse/abi.js';
import { mappingChanged } from '../fuse/mapping-handlers.js';
import { defaultIomapConfig, isProfileName, profileByName, PROFILE_NAMES } from '../fuse/profiles/index.js';
import { isSocket } from '../sys/fuse-dev.js';
import { BpfLayouts, bpfFlavorFor, type Registrar } from './bpf-layouts.js';
import { loadLayout } from '../interleave/layout-yaml.js';
import type { Layout } from '../interleave/layout.js';
import { FamfsFileSystem } from './famfs-fs.js';
import type { PlaneData, PlaneUpdate } from './data-plane.js';
import { siblingModule } from '../fuse/data-plane.js';
import { runsByDaxdev } from '../interleave/filemap.js';

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
}

/** A mount point written /dev/fd/N: an already-open FUSE channel (no mount(2)). */
export function isChannelPath(p: string): boolean {
  return /^\/dev\/fd\/\d+$/.test(p);
}

export class MountError extends Error {}

/**
 * How long the main thread, when it serves (--readers 0), polls the channel after a request
 * before it sleeps: a 1 MiB O_DIRECT writer's next request comes ~100-300 µs after the reply
 * and a wake-up costs more than that. Serving threads sleep at once unless told (--spin-us):
 * on bench/datapath polling helped their 1 MiB reads a little and cost writes and 4 KiB IOPS
 * (fio's jobs need the CPUs the threads would spin on).
 */
export const DEFAULT_SPIN_US = 300;
/**
 * Serving threads: each blocks in read(2) on its clone of the channel, as a C server's
 * threads do; one per CPU (at least 2, at most 8) lets the kernel's copies into and out of
 * the requests run on every CPU at once (bench/datapath/README.md).
 */
export const DEFAULT_THREADS = Math.min(8, Math.max(2, os.availableParallelism()));
/**
 * Largest READ/WRITE the kernel sends the mount. With async DIO the kernel splits a larger
 * O_DIRECT request into pieces of this size and sends them all at once, so a 1 MiB write
 * is four requests the serving threads copy in parallel (measured: 256 KiB beats 128 KiB,
 * 512 KiB and 1 MiB with 2 CPUs; bench/datapath/README.md).
 */
export const DEFAULT_MAX_WRITE = 256 * 1024;

export function isLayoutPath(p: string): boolean {
  return /\.ya?ml$/i.test(p);
}

/** Open the image for a mount: writable only when this host is the master. */
export function openForMount(opts: Pick<MountOptions, 'source' | 'client' | 'systemUuid' | 'force'>): { image: FamfsImage; layout?: Layout; readOnlyWhy?: string } {
  const layout = isLayoutPath(opts.source) ? loadLayout(opts.source) : undefined;
  const base = { systemUuid: opts.systemUuid, client: opts.client, force: opts.force, ...(layout ? { layout } : { device: opts.source }) };
  let image = FamfsImage.open({ ...base, writable: !opts.client });
  // A master on a log with bad entries serves read-only: their extents are unknown (README "Damaged logs").
  const readOnlyWhy = image.role === 'master' && image.badEntries.length && !opts.force ? image.damage : undefined;
  if ((image.role !== 'master' || readOnlyWhy) && image.writable) {
    image.close();
    image = FamfsImage.open({ ...base, writable: false });
  }
  return { image, layout, readOnlyWhy };
}

export class FamfsMount {
  readonly done: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  private constructor(readonly image: FamfsImage, readonly fs: FamfsFileSystem, readonly session: FuseSession,
    /** Settles once the kernel's INIT was answered: the mount is live. */
    readonly ready: Promise<void>, private readonly log: (line: string) => void) {
    this.done = session.done.then(() => this.afterThreads());
  }

  static start(opts: MountOptions): FamfsMount {
    const log = opts.log ?? ((l: string) => process.stderr.write(`famfs-ts mount: ${l}\n`));
    const channel = isChannelPath(opts.mountpoint);
    let st: fs.Stats;
    try {
      st = fs.statSync(opts.mountpoint);
    } catch {
      throw new MountError(`${opts.mountpoint}: ${channel ? 'no such open file descriptor' : 'mount point does not exist'}`);
    }
    if (!channel && !st.isDirectory()) throw new MountError(`${opts.mountpoint}: mount point is not a directory`);
    const { image, layout, readOnlyWhy } = openForMount(opts);
    let session: FuseSession;
    let famfs: FamfsFileSystem;
    let ready: Promise<void>;
    let mount: FamfsMount | undefined;
    try {
      // Device cookies: FUSE_DEV_IOC_BACKING_OPEN takes block devices only and our devices
      // are mapped files, so the server numbers them itself (daxdev i = cookie i + 1, as the
      // kernel numbers backing ids from 1, §1.5), which a kernel-side player accepts.
      const iomap = defaultIomapConfig({ uuid: image.sb.uuid, ...(opts.upsertAtOpen === undefined ? {} : { upsertMaxBytes: opts.upsertAtOpen }) });
      famfs = new FamfsFileSystem(image, { layout, device: layout ? undefined : opts.source, log, iomapCookie: iomap.cookie });
      let profile: AbiProfile | ProfileChooser | undefined;
      if (opts.abi) {
        if (!isProfileName(opts.abi)) throw new MountError(`--abi ${opts.abi}: known profiles are ${PROFILE_NAMES.join(', ')}`);
        profile = profileByName(opts.abi, { source: famfs, log, iomap });
      }
      session = FuseSession.mount(opts.mountpoint, famfs, {
        profile,
        // After INIT, serving threads read the channel and answer READ/WRITE of committed
        // files themselves (data-plane.ts); the rest comes to this thread, whose event loop
        // never blocks on the channel.
        workers: {
          count: opts.readers ?? DEFAULT_THREADS,
          module: siblingModule(import.meta.url, 'data-plane'),
          data: { writable: image.writable && image.role === 'master' } satisfies PlaneData,
          spinMicros: opts.spinMicros ?? 0,
        },
        // While the main thread serves (before INIT, --readers 0, or a channel that cannot
        // be cloned): poll after each request, adapted down there for sparse clients.
        spinMicros: opts.spinMicros ?? DEFAULT_SPIN_US,
        allowOther: opts.allowOther,
        defaultPermissions: true,
        // Absolute, so mkfs and offline writers find the device in /proc/mounts from any cwd.
        fsname: path.resolve(opts.source),
        subtype: 'famfs-ts',
        readOnly: image.role !== 'master' || !image.writable,
        handleSignals: false,
        // The kernel then sets SB_NOSEC: it stops asking GETXATTR security.capability
        // before every WRITE (one extra round trip each). Our files carry no suid bits
        // worth killing (famfs logs the mode once); the server ignores KILL_SUIDGID.
        wantFlags: InitFlag.HANDLE_KILLPRIV_V2,
        maxWrite: opts.maxWrite ?? DEFAULT_MAX_WRITE,
        log,
        debug: opts.debug,
      });
      const s = session;
      ready = new Promise<void>((resolve) => {
        const prev = s.dispatcher.onInit;
        s.dispatcher.onInit = (r) => {
          prev?.(r);
          try {
            mount?.connected(opts);
          } catch (e) {
            log(`after INIT: ${(e as Error).message}`);
          }
          resolve();
        };
      });
    } catch (e) {
      image.close();
      throw e;
    }
    const m = new FamfsMount(image, famfs, session, ready, log);
    mount = m;
    const every = opts.refreshMs ?? 1000;
    if (image.role !== 'master' && every > 0) {
      // A client learns of new files on its own, like a periodic famfs logplay.
      m.timer = setInterval(() => {
        try {
          famfs.logplay();
        } catch (e) {
          log(`periodic logplay: ${(e as Error).message}`);
        }
      }, every);
      m.timer.unref();
    }
    log(`serving ${opts.source} at ${opts.mountpoint} as ${image.role}${image.writable ? '' : ' (read-only)'}${image.damage ? `: ${image.damage}` : ''}${readOnlyWhy ? '; serving read-only (--force serves read-write)' : ''}`);
    return m;
  }

  /** BPF resolver registration, when `--bpf` got one. */
  bpf?: BpfLayouts;

  /** After INIT: wire the negotiated profile's notifies and the BPF resolver to map events. */
  private connected(opts: MountOptions): void {
    const conn = this.session.dispatcher.conn;
    const abi = this.session.dispatcher.abi;
    if (!conn || !abi) return;
    const socket = isSocket(this.session.fd);
    const inval = abi.notify.IOMAP_INVAL_MAPPINGS;
    const iomap = this.fs.mode.kind === 'iomap' && inval !== undefined;
    if (iomap) {
      this.log(`iomap: device cookies assigned by the server (daxdev i = cookie i + 1)${socket ? '; FUSE_DEV_IOC_BACKING_OPEN cannot be issued on a socket channel' : '; BACKING_OPEN takes block devices only'}`);
    }
    if (opts.bpf) {
      this.bpf = BpfLayouts.start({
        fuseFd: this.session.fd, flavor: bpfFlavorFor(conn.profile), fileMap: (n) => this.fs.fileMap(n), log: this.log, register: opts.bpfRegister,
      });
    }
    const bpf = this.bpf;
    this.fs.events.opened = (n) => {
      bpf?.fill(n);
      this.publish(n);
    };
    this.fs.events.mapChanged = (n) => {
      this.publish(n);
      // The kernel may hold cached mappings of the old reservation (UPSERT at OPEN, or
      // IOMAP_BEGIN answers): drop them all, it asks again (§1.4 lookup order).
      if (iomap) this.session.dispatcher.notify(inval, [mappingChanged(this.fs, n)]);
      bpf?.fill(n);
    };
  }

  private readonly published = new Set<number>();

  /**
   * Hand a committed file's map to the serving threads (once: it never changes). Called
   * before the OPEN (or FLUSH) reply goes out, so the thread that reads the file's next
   * READ already has it.
   */
  private publish(nodeid: number): void {
    if (this.published.has(nodeid)) return;
    const f = this.fs.committedFile(nodeid);
    if (!f) return;
    const updates: PlaneUpdate[] = [];
    for (const [index, runs] of runsByDaxdev(f.map)) {
      try {
        // The windows under this file (and every one shared before): a thread views only those.
        updates.push({ kind: 'daxdev', index, spec: this.image.daxdev(index).share(runs) });
      } catch {
        return; // a daxdev this host does not map, or a run past it: the main thread answers with the error
      }
    }
    updates.push({ kind: 'file', nodeid, path: f.path, map: f.map });
    for (const u of updates) this.session.publish(u);
    this.published.add(nodeid);
  }

  /** Unmount (lazily if busy) and close the image. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.session.close().then(() => this.afterThreads());
    return this.closing;
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
    if (t.threads > 0) this.log(`${t.threads} serving threads answered ${t.local} reads and writes, forwarded ${t.forwarded} requests`);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.bpf?.close();
    this.bpf = undefined;
    try {
      this.image.close();
    } catch (e) {
      this.log(`close: ${(e as Error).message}`);
    }
  }
}
