// The mount process: open the image (every daxdev mapped once, MAP_SHARED), serve it through
// the FUSE engine, replay the log periodically on a client, and unmount cleanly on
// SIGINT/SIGTERM or when `famfs-ts umount` / umount(8) ends the connection.
import fs from 'node:fs';
import { FamfsImage } from '../famfs/image.js';
import { FuseSession } from '../fuse/session.js';
import { InitFlag } from '../fuse/opcodes.js';
import type { AbiProfile, ProfileChooser } from '../fuse/abi.js';
import { isProfileName, profileByName, PROFILE_NAMES } from '../fuse/profiles/index.js';
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
  /** FUSE reads kept outstanding. */
  readonly readers?: number;
  /** Busy-poll the channel this long after a request before parking readers (engine default if unset). */
  readonly spinMicros?: number;
  /** ABI profile name (`mainline` unless told; `auto` picks from INIT). */
  readonly abi?: string;
  /** A client replays the log this often (ms; 0 = only on logplay). */
  readonly refreshMs?: number;
  readonly debug?: boolean;
  readonly log?: (line: string) => void;
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
    let st: fs.Stats;
    try {
      st = fs.statSync(opts.mountpoint);
    } catch {
      throw new MountError(`${opts.mountpoint}: mount point does not exist`);
    }
    if (!st.isDirectory()) throw new MountError(`${opts.mountpoint}: mount point is not a directory`);
    const { image, layout } = openForMount(opts);
    let session: FuseSession;
    let famfs: FamfsFileSystem;
    let ready: Promise<void>;
    try {
      famfs = new FamfsFileSystem(image, { layout, device: layout ? undefined : opts.source, log });
      let profile: AbiProfile | ProfileChooser | undefined;
      if (opts.abi) {
        if (!isProfileName(opts.abi)) throw new MountError(`--abi ${opts.abi}: known profiles are ${PROFILE_NAMES.join(', ')}`);
        profile = profileByName(opts.abi, { source: famfs, log });
      }
      session = FuseSession.mount(opts.mountpoint, famfs, {
        profile,
        readers: opts.readers ?? 4,
        // Poll 300 µs after each request before parking the readers: a 1 MiB O_DIRECT
        // writer's next request comes ~100-300 µs later (page pinning), and waking through
        // the thread pool costs more than that (bench/datapath: writes 1.9 -> 4.6 GB/s).
        spinMicros: opts.spinMicros ?? DEFAULT_SPIN_US,
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
          resolve();
        };
      });
    } catch (e) {
      image.close();
      throw e;
    }
    const m = new FamfsMount(image, famfs, session, ready, log);
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

  /** Unmount (lazily if busy) and close the image. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.session.close().then(() => this.shutdown());
    return this.closing;
  }

  private shutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.image.close();
    } catch (e) {
      this.log(`close: ${(e as Error).message}`);
    }
  }
}
