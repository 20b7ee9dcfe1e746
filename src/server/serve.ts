// The mount process: open the image (every daxdev mapped once, MAP_SHARED), serve it through
// the FUSE engine, replay the log periodically on a client, and unmount cleanly on
// SIGINT/SIGTERM or when `famfs-ts umount` / umount(8) ends the connection.
import fs from 'node:fs';
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

export interface MountOptions {
  /** A memory device (single-device image) or a layout YAML. */
  readonly source: string;
  readonly mountpoint: string;
  readonly client?: boolean;
  readonly systemUuid?: string;
  readonly allowOther?: boolean;
  /** No effect since the engine reads the channel on its main thread; kept for callers. */
  readonly readers?: number;
  /** Busy-poll the channel at most this long after a request (default 300 µs). */
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
}

/** A mount point written /dev/fd/N: an already-open FUSE channel (no mount(2)). */
export function isChannelPath(p: string): boolean {
  return /^\/dev\/fd\/\d+$/.test(p);
}

export class MountError extends Error {}

/** The mount's busy-poll window (the engine's own default is 50 µs). */
export const DEFAULT_SPIN_US = 300;

export function isLayoutPath(p: string): boolean {
  return /\.ya?ml$/i.test(p);
}

/** Open the image for a mount: writable only when this host is the master. */
export function openForMount(opts: Pick<MountOptions, 'source' | 'client' | 'systemUuid'>): { image: FamfsImage; layout?: Layout } {
  const layout = isLayoutPath(opts.source) ? loadLayout(opts.source) : undefined;
  const base = { systemUuid: opts.systemUuid, client: opts.client, ...(layout ? { layout } : { device: opts.source }) };
  let image = FamfsImage.open({ ...base, writable: !opts.client });
  if (image.role !== 'master' && image.writable) {
    image.close();
    image = FamfsImage.open({ ...base, writable: false });
  }
  return { image, layout };
}

export class FamfsMount {
  readonly done: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  private constructor(readonly image: FamfsImage, readonly fs: FamfsFileSystem, readonly session: FuseSession,
    /** Settles once the kernel's INIT was answered: the mount is live. */
    readonly ready: Promise<void>, private readonly log: (line: string) => void) {
    this.done = session.done.then(() => this.shutdown());
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
    const { image, layout } = openForMount(opts);
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
        // Poll up to 300 µs after each request (the engine adapts it down for sparse
        // clients): a 1 MiB O_DIRECT writer's next request comes ~100-300 µs later (page
        // pinning), and a wake-up costs more than that (bench/datapath).
        spinMicros: opts.spinMicros ?? DEFAULT_SPIN_US,
        // This process exists to serve the channel: between requests its main thread sleeps
        // in poll(2) (4 ms slices, so timers, signals and async handlers still get turns)
        // for up to 50 ms before handing the wait to the thread pool. One kernel wake-up per
        // request instead of a thread hand-off (bench/fuse-engine/README.md).
        holdMillis: 50,
        allowOther: opts.allowOther,
        defaultPermissions: true,
        fsname: opts.source,
        subtype: 'famfs-ts',
        readOnly: image.role !== 'master' || !image.writable,
        handleSignals: false,
        // The kernel then sets SB_NOSEC: it stops asking GETXATTR security.capability
        // before every WRITE (one extra round trip each). Our files carry no suid bits
        // worth killing (famfs logs the mode once); the server ignores KILL_SUIDGID.
        wantFlags: InitFlag.HANDLE_KILLPRIV_V2,
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
    log(`serving ${opts.source} at ${opts.mountpoint} as ${image.role}${image.writable ? '' : ' (read-only)'}`);
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
    this.fs.events.opened = bpf ? (n) => bpf.fill(n) : undefined;
    this.fs.events.mapChanged = (n) => {
      // The kernel may hold cached mappings of the old reservation (UPSERT at OPEN, or
      // IOMAP_BEGIN answers): drop them all, it asks again (§1.4 lookup order).
      if (iomap) this.session.dispatcher.notify(inval, [mappingChanged(this.fs, n)]);
      bpf?.fill(n);
    };
  }

  /** Unmount (lazily if busy) and close the image. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.session.close().then(() => this.shutdown());
    return this.closing;
  }

  private shutdown(): void {
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
