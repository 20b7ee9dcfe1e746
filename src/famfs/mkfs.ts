// mkfs (famfs-format.md §5): superblock fields (CRC last), a zeroed log and its header, written
// onto mapped memory. Several-device layouts add one ADD_DAXDEV entry and one tag per
// secondary daxdev (famfs-ts extension, docs/design.md). No device opening here: the caller
// (image CLI) maps the devices and passes their memory.
import type { DaxdevMemory } from '../device/memory.js';
import { LOG_LEN, LOG_OFFSET, MIN_DEVICE_SIZE } from './constants.js';
import { ImageError } from './errors.js';
import { encodeEntry, encodeLogHeader, entryOffset, logHeaderStruct } from './log.js';
import { SECONDARY_RESERVED } from './scan.js';
import { checkSuperblock, superblockStruct, writeSuperblock } from './superblock.js';
import { encodeTag } from './tag.js';
import { randomUuid, uuidEqual } from './uuid.js';
import { isPowerOfTwo } from '../interleave/famfs-limits.js';

export interface MkfsSecondary {
  readonly mem: DaxdevMemory;
  readonly name: string;
}

export interface MkfsOptions {
  /** The primary device path exactly as typed (stored in dd_daxdev). */
  readonly devPath: string;
  readonly systemUuid: Uint8Array;
  readonly logLen?: number;
  readonly force?: boolean;
  /** -k with -f: zero the magic only. */
  readonly kill?: boolean;
  /** Allow devices under 4 GiB (emulated devices); the CLI says so when used. */
  readonly allowSmall?: boolean;
  readonly secondaries?: readonly MkfsSecondary[];
/** Fixed UUIDs for reproducible tests; random otherwise. */
  readonly uuid?: Uint8Array;
  readonly devUuid?: Uint8Array;
}

export interface MkfsResult {
  readonly killed: boolean;
  readonly devSize: number;
  readonly uuid?: Uint8Array;
}

/** famfs's floor on a primary device (famfs_mkfs refuses below 4 GiB); `--small` lifts it. */
export function checkDeviceSize(devPath: string, size: number, allowSmall: boolean): void {
  if (size < MIN_DEVICE_SIZE && !allowSmall) throw new ImageError(`${devPath}: unsupported memory device size (<4GiB)`, 'EINVAL');
}

export function mkfs(primary: DaxdevMemory, opts: MkfsOptions): MkfsResult {
  const logLen = opts.logLen ?? LOG_LEN;
  const devSize = primary.size;
  const existing = Buffer.alloc(superblockStruct.size);
  if (devSize >= existing.length) {
    primary.invalidate(0, existing.length);
    primary.read(0, existing);
  }
  const chk = checkSuperblock(existing);
  const hasSuper = chk.ok || (!chk.ok && chk.kind === 'version');

  if (opts.kill && opts.force) {
    // famfs "kill": only ts_magic = 0.
    primary.write(superblockStruct.offsetOf('ts_magic'), Buffer.alloc(8));
    primary.flush(superblockStruct.offsetOf('ts_magic'), 8);
    primary.sync();
    return { killed: true, devSize };
  }
  if (hasSuper && !opts.force) {
    if (chk.ok && !uuidEqual(chk.sb.systemUuid, opts.systemUuid)) {
      throw new ImageError(`Device ${opts.devPath} has a superblock owned by another host; use -f to overwrite`, 'EINVAL');
    }
    throw new ImageError(`Device ${opts.devPath} already has a famfs superblock`, 'EINVAL');
  }
  checkLogLen(logLen);
  checkDeviceSize(opts.devPath, devSize, opts.allowSmall === true);
  if (devSize < LOG_OFFSET + logLen + SECONDARY_RESERVED) throw new ImageError(`${opts.devPath}: ${devSize} bytes cannot hold the superblock, a ${logLen}-byte log and one file`, 'EINVAL');

  // Every secondary is checked before the first byte is written: a layout is formatted whole or not at all.
  for (const sec of opts.secondaries ?? []) {
    if (sec.mem.size < 2 * SECONDARY_RESERVED) throw new ImageError(`${sec.name}: ${sec.mem.size} bytes is too small for a secondary daxdev (at least 4 MiB); nothing written`, 'EINVAL');
  }
  const uuid = opts.uuid ?? randomUuid();
  // Log first (zeroed whole, then the header), superblock last so a crash leaves no
  // superblock pointing at a half-written log.
  const zero = Buffer.alloc(Math.min(logLen, 1 << 20));
  for (let off = 0; off < logLen; off += zero.length) primary.write(LOG_OFFSET + off, zero.subarray(0, Math.min(zero.length, logLen - off)));
  const header = encodeLogHeader(logLen);
  primary.write(LOG_OFFSET, header);

  let next = 0;
  for (const [k, sec] of (opts.secondaries ?? []).entries()) {
    const index = k + 1;
    const devUuid = randomUuid();
    sec.mem.write(0, Buffer.alloc(SECONDARY_RESERVED));
    sec.mem.write(0, encodeTag({ fsUuid: uuid, devUuid, index, size: sec.mem.size }));
    sec.mem.flush(0, SECONDARY_RESERVED);
    sec.mem.sync();
    primary.write(LOG_OFFSET + entryOffset(next), encodeEntry({ type: 'add-daxdev', index, size: sec.mem.size, uuid: devUuid }, next));
    next++;
  }
  if (next) primary.write(LOG_OFFSET, logHeaderStruct.encode({ ...logHeaderStruct.decode(header), famfs_log_next_seqnum: next, famfs_log_next_index: next }));

  // Written back before the superblock that points at it (famfs __famfs_mkfs: log, then sb).
  primary.flush(LOG_OFFSET, logLen);

  // famfs sets individual fields and never memsets the superblock (famfs-format.md §1).
  const sbRegion = Buffer.alloc(superblockStruct.size);
  primary.read(0, sbRegion);
  writeSuperblock(sbRegion, { logLen, uuid, devUuid: opts.devUuid ?? randomUuid(), systemUuid: opts.systemUuid, devSize, devPath: opts.devPath });
  primary.write(0, sbRegion);
  primary.flush(0, sbRegion.length);
  primary.sync();
  return { killed: false, devSize, uuid };
}

/** famfs's rule for the log's length: a power of two, at least LOG_LEN (famfs_mkfs). */
export function checkLogLen(logLen: number): void {
  if (!isPowerOfTwo(logLen) || logLen < LOG_LEN) throw new ImageError(`famfs_mkfs: Error: invalid log length (${logLen})`, 'EINVAL');
}
