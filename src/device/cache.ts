// Cache maintenance per memory device (README "Caches on shared memory"). Hosts sharing CXL
// memory do not snoop each other's CPU caches: a store sits in the writer's cache until it
// is written back, and a reader keeps returning its own cached copy until it drops it. famfs
// therefore flushes what it wrote and invalidates before it reads what another host wrote
// (libfcc: flush_processor_cache / invalidate_processor_cache). famfs-ts does the same at
// the same points, through this one interface, chosen per device:
// - off on emulated devices (regular files, /dev/shm files, loop devices): one kernel, one
//   coherent cache domain, so it would only cost time;
// - on for real memory devices (devdax /dev/daxX.Y, /dev/pmemX);
// - overridable: FAMFS_TS_CACHE_MAINTENANCE=on|off|auto, or `famfs-ts --cache-maintenance`.
import fs from 'node:fs';
import path from 'node:path';
import { cacheLineRoutines, cacheLineSupport } from '../sys/cacheline.js';

export type CacheMode = 'on' | 'off' | 'auto';
export const CACHE_MODE_ENV = 'FAMFS_TS_CACHE_MAINTENANCE';

export class CacheModeError extends Error {}

export interface CacheMaintenance {
  /** False: flush and invalidate do nothing. */
  readonly active: boolean;
  /** For logs: the instructions used, or why none are. */
  readonly description: string;
  /** Write back the cache lines of `view` to memory, then fence (stores visible to other hosts). */
  flush(view: Uint8Array): void;
  /** Write back and drop the cache lines of `view`, then fence (later loads read memory). */
  invalidate(view: Uint8Array): void;
}

export const NO_CACHE_MAINTENANCE: CacheMaintenance = {
  active: false,
  description: 'off',
  flush() {},
  invalidate() {},
};

export function parseCacheMode(text: string, where: string): CacheMode {
  if (text === 'on' || text === 'off' || text === 'auto') return text;
  throw new CacheModeError(`${where}: cache maintenance mode "${text}" (expected on, off or auto)`);
}

/**
 * The process-wide mode: the environment variable (which the CLI flag sets, so servers
 * started as child processes and serving threads inherit it), else auto.
 */
export function cacheMode(): CacheMode {
  const v = process.env[CACHE_MODE_ENV];
  return v === undefined || v === '' ? 'auto' : parseCacheMode(v, CACHE_MODE_ENV);
}

export function setCacheMode(mode: CacheMode): void {
  process.env[CACHE_MODE_ENV] = mode;
}

/** A device whose memory other hosts may share: devdax, or a pmem block device. */
export function isRealMemoryDevice(devPath: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(devPath);
  } catch {
    return false;
  }
  if (st.isCharacterDevice()) {
    const name = path.basename(fs.realpathSync(devPath));
    return fs.existsSync(`/sys/bus/dax/devices/${name}`);
  }
  if (st.isBlockDevice()) return /^pmem\d/.test(path.basename(fs.realpathSync(devPath)));
  return false;
}

let native: CacheMaintenance | undefined;

/** The x86-64 routine of src/sys/cacheline.ts; throws CacheModeError where there is none. */
export function nativeCacheMaintenance(): CacheMaintenance {
  if (native) return native;
  const sup = cacheLineSupport();
  if (!sup.ok) throw new CacheModeError(sup.reason);
  const r = cacheLineRoutines();
  native = {
    active: true,
    description: `x86_64 ${r.flushInsn}+sfence to flush, ${r.invalidateInsn}+mfence to invalidate`,
    flush: (v) => { if (v.byteLength) r.flush(v); },
    invalidate: (v) => { if (v.byteLength) r.invalidate(v); },
  };
  return native;
}

/**
 * What `devPath` gets under `mode`. A real device with no routine for this CPU is refused
 * (famfs itself builds libfcc for x86_64 only): running there without maintenance could
 * show another host's stale log, so the user must say `off` to accept a single-host setup.
 */
export function cacheMaintenanceFor(devPath: string, mode: CacheMode = cacheMode()): CacheMaintenance {
  const wanted = mode === 'on' || (mode === 'auto' && isRealMemoryDevice(devPath));
  if (!wanted) return NO_CACHE_MAINTENANCE;
  try {
    return nativeCacheMaintenance();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const asked = mode === 'on' ? 'was asked for' : 'is needed on a real memory device';
    throw new CacheModeError(`${devPath}: cache maintenance ${asked}, but ${why}; use --cache-maintenance off (${CACHE_MODE_ENV}=off) only if no other host shares this memory`, { cause: e });
  }
}
