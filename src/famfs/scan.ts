// One pass over the log (famfs_build_bitmap, famfs-format.md §4.1, plus the entry checks of
// famfs-format.md §3.6): validates every entry in [0, next_index), decodes the good ones, and rebuilds one
// allocation bitmap per daxdev with famfs's statistics. Pure: it reads a byte view of the
// log and nothing else. Used by image open/refresh, fsck and logplay.
import { ALLOC_UNIT, LOG_OFFSET } from './constants.js';
import { Bitmap } from './alloc.js';
import { checkEntry, decodeEntry, entryOffset, ENTRY_SIZE, LogError, type LogEntry, type LogHeader } from './log.js';
import { uuidEqual } from './uuid.js';

export interface BadEntry {
  readonly index: number;
  readonly message: string;
}

/** A daxdev known to the log: index 0 from the superblock, others from ADD_DAXDEV entries. */
export interface KnownDaxdev {
  readonly index: number;
  readonly size: number;
  readonly uuid: Uint8Array | undefined;
}

/** Bytes famfs-ts reserves at the start of a secondary daxdev for its tag (docs/design.md). */
export const SECONDARY_RESERVED = ALLOC_UNIT;

export interface ScanState {
  /** Decoded entries by index; undefined where the entry is bad. */
  readonly entries: (LogEntry | undefined)[];
  readonly bad: BadEntry[];
  /** Extent problems (unknown daxdev, unaligned, past the device end): fsck errors. */
  readonly extentErrors: string[];
  readonly daxdevs: Map<number, KnownDaxdev>;
  readonly bitmaps: Map<number, Bitmap>;
  collisions: number;
  allocatedBytes: number;
  sumFileSizes: number;
  files: number;
  dirs: number;
  /** Entries scanned so far (= next index to scan). */
  scanned: number;
  /**
   * The last entry the header counts, when it failed its CRC or seqnum in a scan that allowed
   * for an append in flight (ScanOptions.tailInFlight): left out, not counted as bad, scanned
   * again next time. Undefined otherwise.
   */
  inFlight?: BadEntry;
}

export interface ScanOptions {
  /**
   * Another host may be appending right now (a client's replay). A writer stores the entry and
   * bumps next_index; another host can see the new next_index before the whole entry (famfs
   * flushes both together, famfs_append_log; a CPU may write the header's line back first).
   * So the LAST entry failing its CRC or seqnum is one not yet there: it is left out and read
   * again at the next scan. A bad entry before it is damage, reported as ever; so is the same
   * entry once the header counts entries after it.
   */
  readonly tailInFlight?: boolean;
}

export function newScan(primarySize: number, logLen: number): ScanState {
  const bm = Bitmap.forDevice(primarySize);
  const st: ScanState = {
    entries: [], bad: [], extentErrors: [], daxdevs: new Map([[0, { index: 0, size: primarySize, uuid: undefined }]]),
    bitmaps: new Map([[0, bm]]), collisions: 0, allocatedBytes: 0, sumFileSizes: 0, files: 0, dirs: 0, scanned: 0,
  };
  // Superblock and log are not in the log; famfs marks them by hand (put_sb_log_into_bitmap).
  st.allocatedBytes += bm.mark(0, LOG_OFFSET + logLen).newUnits * ALLOC_UNIT;
  return st;
}

function markExtent(st: ScanState, index: number, dev: number, offset: number, len: number): void {
  const bm = st.bitmaps.get(dev);
  const where = `log entry ${index}`;
  if (!bm) { st.extentErrors.push(`${where}: extent on unknown daxdev ${dev}`); return; }
  if (offset % ALLOC_UNIT) { st.extentErrors.push(`${where}: extent offset 0x${offset.toString(16)} is not 2 MiB aligned`); return; }
  const r = bm.mark(offset, len);
  st.collisions += r.collisions;
  st.allocatedBytes += r.newUnits * ALLOC_UNIT;
  if (r.outside) st.extentErrors.push(`${where}: extent [0x${offset.toString(16)}, +0x${len.toString(16)}) runs past daxdev ${dev}`);
}

/** Scan entries [st.scanned, header.nextIndex) of `log` (the whole log region). */
export function scanEntries(st: ScanState, log: Uint8Array, header: LogHeader, opts: ScanOptions = {}): void {
  st.inFlight = undefined;
  for (let i = st.scanned; i < header.nextIndex; i++) {
    const at = entryOffset(i);
    if (at + ENTRY_SIZE > log.byteLength) {
      st.bad.push({ index: i, message: `log entry ${i} lies past the end of the log` });
      st.entries[i] = undefined;
      continue;
    }
    const raw = log.subarray(at, at + ENTRY_SIZE);
    const problem = checkEntry(raw, i);
    if (problem !== undefined && opts.tailInFlight && i === header.nextIndex - 1) {
      // Only checkEntry's verdict: a whole entry (its CRC good) with bad contents is damage.
      st.inFlight = { index: i, message: problem };
      st.scanned = i;
      return;
    }
    let e: LogEntry | undefined;
    if (problem === undefined) {
      try {
        e = decodeEntry(raw, i);
      } catch (err) {
        if (!(err instanceof LogError)) throw err;
        st.bad.push({ index: i, message: err.message });
      }
    } else {
      st.bad.push({ index: i, message: problem });
    }
    st.entries[i] = e;
    if (!e) continue;
    switch (e.type) {
      case 'file':
        st.files++;
        st.sumFileSizes += e.size;
        for (const x of e.map.extents) {
          if (x.type === 'simple') markExtent(st, i, x.daxdev, x.offset, x.length);
          else for (const s of x.strips) markExtent(st, i, s.daxdev, s.offset, s.length);
        }
        break;
      case 'mkdir':
        st.dirs++;
        break;
      case 'add-daxdev': {
        // Dense, in index order, unique uuid; slot 0 is the primary (famfs_daxdev_table_add, famfs-format.md §3.5).
        const dup = [...st.daxdevs.values()].some((d) => d.uuid && uuidEqual(d.uuid, e.uuid));
        if (e.index !== st.daxdevs.size || dup || e.size < 2 * ALLOC_UNIT) {
          st.extentErrors.push(`log entry ${i}: ADD_DAXDEV index ${e.index} size ${e.size} rejected (expected index ${st.daxdevs.size}, a unique uuid and at least 4 MiB)`);
          break;
        }
        st.daxdevs.set(e.index, { index: e.index, size: e.size, uuid: e.uuid });
        const bm = Bitmap.forDevice(e.size);
        st.bitmaps.set(e.index, bm);
        st.allocatedBytes += bm.mark(0, SECONDARY_RESERVED).newUnits * ALLOC_UNIT;
        break;
      }
      case 'other':
        break;
    }
  }
  st.scanned = Math.max(st.scanned, header.nextIndex);
}

/** Total bitmap capacity over all daxdevs (famfs: nbits * alloc_unit of the primary). */
export function bitmapCapacity(st: ScanState): number {
  let n = 0;
  for (const b of st.bitmaps.values()) n += b.nbits * ALLOC_UNIT;
  return n;
}

export function deviceCapacity(st: ScanState): number {
  let n = 0;
  for (const d of st.daxdevs.values()) n += d.size;
  return n;
}

/** "1, 5 and 9": the indexes of bad entries, for one-line messages (at most 8 listed). */
export function badIndexes(bad: readonly BadEntry[]): string {
  const ix = bad.slice(0, 8).map((b) => String(b.index));
  const more = bad.length > 8 ? ` and ${bad.length - 8} more` : '';
  return ix.length === 1 ? ix[0]! + more : `${ix.slice(0, -1).join(', ')}${more ? ', ' + ix[ix.length - 1] + more : ' and ' + ix[ix.length - 1]}`;
}

/** The warning readers print when a replay skipped bad entries (undefined when none). */
export function damageSummary(source: string, bad: readonly BadEntry[]): string | undefined {
  if (!bad.length) return undefined;
  const n = bad.length;
  return `${source}: warning: the log has ${n} bad ${n === 1 ? 'entry' : 'entries'} (index ${badIndexes(bad)}); ` +
    `the files and directories ${n === 1 ? 'it' : 'they'} logged are missing from this namespace (famfs-ts fsck lists them)`;
}

/** Why a writer refuses to log on a damaged log (the extents of a bad entry are unknown). */
export function writeRefusal(source: string, bad: readonly BadEntry[]): string {
  const n = bad.length;
  return `${source}: the log has ${n} bad ${n === 1 ? 'entry' : 'entries'} (index ${badIndexes(bad)}) whose extents are unknown, ` +
    'so nothing is allocated or logged (an allocation could overlap a lost file); see famfs-ts fsck, or give --force to write anyway';
}
