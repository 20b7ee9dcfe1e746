// fsck -B N: the primary's allocation bitmap split into N buckets, with use and free
// fragments per bucket (famfs_fsck_bucket_info in src/famfs_lib.c). Pure formatting.
import type { Bitmap } from './alloc.js';
import { cFixed } from './fsck.js';
import { ENTRY_SIZE, LOG_HEADER_SIZE } from './log.js';

export interface BucketStats {
  readonly index: number;
  readonly size: number;
  readonly inUse: number;
  readonly free: number;
  readonly freeFragments: number;
  readonly largestFree: number;
  readonly smallestFree: number;
}

export function bucketStats(bm: Bitmap, devCapacity: number, allocUnit: number, nbuckets: number): { overhang: number; buckets: BucketStats[] } {
  const bucketBits = Math.floor(devCapacity / (nbuckets * allocUnit));
  const buckets: BucketStats[] = [];
  for (let i = 0; i < nbuckets; i++) {
    let inUse = 0;
    let frags = 0;
    let run = 0;
    let largest = 0;
    let smallest = 0;
    const end = Math.min((i + 1) * bucketBits, bm.nbits);
    const closeRun = () => {
      if (!run) return;
      frags++;
      largest = Math.max(largest, run);
      smallest = smallest === 0 ? run : Math.min(smallest, run);
      run = 0;
    };
    for (let k = i * bucketBits; k < end; k++) {
      if (bm.test(k)) {
        inUse++;
        closeRun();
      } else run++;
    }
    closeRun();
    const bits = Math.max(0, end - i * bucketBits);
    buckets.push({ index: i, size: bits * allocUnit, inUse: inUse * allocUnit, free: (bits - inUse) * allocUnit, freeFragments: frags, largestFree: largest * allocUnit, smallestFree: smallest * allocUnit });
  }
  return { overhang: devCapacity % nbuckets, buckets };
}

export function bucketText(s: ReturnType<typeof bucketStats>, allocUnit: number, human: boolean): string {
  const g = (n: number) => cFixed(Math.fround(n) / Math.fround(1024 ** 3), 2);
  const lines = ['Stripe bucket info:', `  Wasted overhang: ${s.overhang} bytes (${Math.floor(s.overhang / allocUnit)} au)`];
  for (const b of s.buckets) {
    lines.push(`  Bitmap range ${b.index}`);
    if (human) lines.push(`    Size:   ${g(b.size)}G`, `    In use: ${g(b.inUse)}g`, `    Free:   ${g(b.free)}G`, `    Free fragments: ${b.freeFragments}`, `    Largest frag:   ${g(b.largestFree)}G`, `    Smallest frag:  ${g(b.smallestFree)}G`);
    else lines.push(`    Size:   ${b.size}`, `    In use: ${b.inUse}`, `    Free:   ${b.free}`, `    Free fragments: ${b.freeFragments}`, `    Largest frag:   ${b.largestFree}`, `    Smallest frag:  ${b.smallestFree}`);
  }
  return lines.join('\n') + '\n';
}

/** fsck -v's trailer (famfs_fsck_scan's verbose block, the lines whose sizes src/famfs/log.ts declares). */
export function fsckVerboseText(v: { logOffset: number; logLen: number; lastIndex: number }): string {
  return [
    'Verbose:',
    `  log_offset:        ${v.logOffset}`,
    `  log_len:           ${v.logLen}`,
    '  log_entry components:',
    `      sizeof(log header) ${LOG_HEADER_SIZE}`,
    `      sizeof(log_entry)  ${ENTRY_SIZE}`,
    `  last_log_index:    ${v.lastIndex}`,
    `  usable log size:   ${LOG_HEADER_SIZE + ENTRY_SIZE * v.lastIndex}`,
    '',
  ].join('\n') + '\n';
}
