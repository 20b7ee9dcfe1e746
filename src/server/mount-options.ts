// What `famfs-ts mount` needs before any server runs: its defaults, the transport names, the
// channel-path test, and opening the image (which decides read-only). The CLI shows them in
// its help, checks options and reports a damaged log with them without loading the server
// (src/server/serve.ts, the FUSE engine), which only the serving process needs.
import os from 'node:os';
import { FamfsImage } from '../famfs/image.js';
import { isLayoutPath, loadLayout } from '../interleave/layout-yaml.js';
import type { Layout } from '../interleave/layout.js';

export type TransportChoice = 'dev' | 'uring' | 'auto';
export const TRANSPORTS: readonly TransportChoice[] = ['dev', 'uring', 'auto'];

/** A mount point written /dev/fd/N: an already-open FUSE channel (no mount(2)). */
export function isChannelPath(p: string): boolean {
  return /^\/dev\/fd\/\d+$/.test(p);
}

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
/**
 * The mount's default settle time (FamfsFsOptions.settleMs; README "What a program sees through
 * the mount"). install, vim, rsync and git chmod, unlink or rename a file within a millisecond of
 * its close, and famfs's log can neither change nor delete an entry: 100 ms lets those calls land
 * while adding nothing a client notices (it replays the log every second by default).
 */
export const DEFAULT_SETTLE_MS = 100;
/**
 * Files a mount's warm-up makes before it serves (jit-warm.ts). A fresh server spends its
 * first ~6,000 creates compiling; 2,000 on scratch images (~1 s of mount time on 2 CPUs) take it most of
 * the way (bench/meta-mount/README.md, "Issue 16, twelfth pass").
 */
export const DEFAULT_WARM_UP = 2000;

/** Open the image for a mount: writable only when this host is the master. */
export function openForMount(opts: { readonly source: string; readonly client?: boolean; readonly systemUuid?: string; readonly force?: boolean }): { image: FamfsImage; layout?: Layout; readOnlyWhy?: string } {
  const layout = isLayoutPath(opts.source) ? loadLayout(opts.source) : undefined;
  const base = { systemUuid: opts.systemUuid, client: opts.client, force: opts.force, ...(layout ? { layout } : { device: opts.source }) };
  // A client replays while the master may append: a half-written last entry is not yet there.
  let image = FamfsImage.open({ ...base, writable: !opts.client, tailInFlight: true });
  // A master on a log with bad entries serves read-only: their extents are unknown (README "Damaged logs").
  const readOnlyWhy = image.role === 'master' && image.badEntries.length && !opts.force ? image.damage : undefined;
  if ((image.role !== 'master' || readOnlyWhy) && image.writable) {
    image.close();
    // A master serving a damaged log read-only is the only writer: its bad last entry is damage.
    image = FamfsImage.open({ ...base, writable: false, tailInFlight: image.role !== 'master' });
  }
  return { image, layout, readOnlyWhy };
}
