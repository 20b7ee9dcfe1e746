// fsck (famfs-format.md §11, famfs_fsck_scan): the superblock, log statistics, capacity and log
// summary, in famfs's text, and the exit status = number of allocation collisions. Pure:
// it formats what a scan found.
import { ALLOC_UNIT } from './constants.js';
import type { Role } from './host.js';
import { ENTRY_SIZE, LOG_HEADER_SIZE, type LogHeader } from './log.js';
import { bitmapCapacity, deviceCapacity, type ScanState } from './scan.js';
import type { Superblock } from './superblock.js';
import { formatUuid } from './uuid.js';

export interface FsckInput {
  readonly sb: Superblock;
  readonly header: LogHeader;
  readonly scan: ScanState;
  readonly role: Role;
  /** Display names of the secondary daxdevs by index (from the layout), if any. */
  readonly daxdevNames?: ReadonlyMap<number, string>;
}

export interface FsckReport {
  readonly text: string;
  readonly exitCode: number;
  readonly json: unknown;
}

/** C printf("%.Nf") of a float (famfs computes these in single precision). */
export function cFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return x < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  return x.toFixed(digits);
}

export function fsck(input: FsckInput, opts: { human?: boolean } = {}): FsckReport {
  const { sb, header, scan, role } = input;
  const slots = header.lastIndex + 1;
  const lines: string[] = [];
  const p = (s = '') => lines.push(s);
  p('Famfs Superblock:');
  p(`  Filesystem UUID:   ${formatUuid(sb.uuid)}`);
  p(`  Device UUID:       ${formatUuid(sb.devUuid)}`);
  p(`  System UUID:       ${formatUuid(sb.systemUuid)}`);
  p(`  role of this node: ${role === 'master' ? 'Owner' : 'Client'}`);
  p(`  alloc_unit:        0x${sb.allocUnit.toString(16)}`);
  p(`  OMF major version: ${sb.omfMajor}`);
  p(`  OMF minor version: ${sb.omfMinor}`);
  p(`  sizeof superblock: 200`);
  p(`  log size (bytes):  ${sb.logLen}`);
  p(`  primary: ${sb.daxdevPath}   ${sb.ddSize}`);
  for (const [k, d] of [...scan.daxdevs].sort((a, b) => a[0] - b[0])) {
    if (k === 0) continue;
    p(`         ${k}: ${input.daxdevNames?.get(k) ?? formatUuid(d.uuid ?? new Uint8Array(16))}   ${d.size}`);
  }
  p();
  p('Log stats:');
  p(`  # of log entries in use: ${header.nextIndex} of ${slots}`);
  p(`  Log size in use:          ${LOG_HEADER_SIZE + header.nextIndex * ENTRY_SIZE}`);
  p(`  Log size (total bytes)    ${header.len}`);
  // Bad entries count as errors: famfs's CLI reference says fsck exits non-zero when it
  // finds errors, though famfs_fsck_scan itself returns collisions only.
  const errors = scan.collisions + scan.extentErrors.length + scan.bad.length;
  for (const e of scan.extentErrors) p(`  ERROR: ${e}`);
  const devCap = deviceCapacity(scan);
  const bmCap = bitmapCapacity(scan);
  // famfs: float space_amp = alloc_sum / fsize_sum; percent = 100 * alloc_sum / bitmap_capacity.
  const f = Math.fround;
  const spaceAmp = f(f(scan.allocatedBytes) / f(scan.sumFileSizes));
  const percent = f(f(100 * f(scan.allocatedBytes)) / f(bmCap));
  if (scan.collisions) {
    p(`ERROR: ${scan.collisions} ALLOCATION COLLISIONS FOUND`);
    p();
  } else {
    p('  No allocation errors found');
    p();
    p('Capacity:');
    const g = f(1024 * 1024 * 1024);
    const hs = (n: number) => `${cFixed(f(f(n) / g), 2)}G`;
    if (!opts.human) {
      p(`  Device capacity:        ${devCap}`);
      p(`  Bitmap capacity:        ${bmCap}`);
      p(`  Sum of file sizes:      ${scan.sumFileSizes}`);
      p(`  Allocated bytes:        ${scan.allocatedBytes}`);
      p(`  Free space:             ${bmCap - scan.allocatedBytes}`);
    } else {
      p(`  Device capacity:        ${hs(devCap)}`);
      p(`  Bitmap capacity:        ${hs(bmCap)}`);
      p(`  Sum of file sizes:      ${hs(scan.sumFileSizes)}`);
      p(`  Allocated space:        ${hs(scan.allocatedBytes)}`);
      p(`  Free space:             ${cFixed(f(f(f(bmCap) - f(scan.allocatedBytes)) / g), 2)}G`);
    }
    p(`  Space amplification:     ${cFixed(spaceAmp, 2)}`);
    p(`  Percent used:            ${cFixed(percent, 1)}%`);
    p();
  }
  p('Famfs log:');
  p(`  ${header.nextIndex} of ${slots} entries used`);
  p(`  ${scan.bad.length} bad log entries detected`);
  // famfs prints each on stderr (famfs_validate_log_entry); here they stay with the report.
  for (const b of scan.bad) p(`    ${b.message}`);
  p(`  ${scan.files} files`);
  p(`  ${scan.dirs} directories`);
  p();
  const json = {
    superblock: {
      uuid: formatUuid(sb.uuid), devUuid: formatUuid(sb.devUuid), systemUuid: formatUuid(sb.systemUuid), role,
      version: sb.version, omfMajor: sb.omfMajor, omfMinor: sb.omfMinor, allocUnit: sb.allocUnit, logOffset: sb.logOffset, logLen: sb.logLen,
      primary: { path: sb.daxdevPath, size: sb.ddSize },
    },
    log: { entriesUsed: header.nextIndex, slots, bytesInUse: LOG_HEADER_SIZE + header.nextIndex * ENTRY_SIZE, nextSeqnum: header.nextSeqnum, badEntries: scan.bad, files: scan.files, directories: scan.dirs },
    daxdevs: [...scan.daxdevs.values()].sort((a, b) => a.index - b.index).map((d) => {
      const bm = scan.bitmaps.get(d.index)!;
      return { index: d.index, size: d.size, uuid: d.uuid ? formatUuid(d.uuid) : undefined, name: d.index === 0 ? sb.daxdevPath : input.daxdevNames?.get(d.index), bitmapCapacity: bm.nbits * ALLOC_UNIT, freeBytes: bm.countFree() * ALLOC_UNIT };
    }),
    capacity: { device: devCap, bitmap: bmCap, sumOfFileSizes: scan.sumFileSizes, allocated: scan.allocatedBytes, free: bmCap - scan.allocatedBytes },
    collisions: scan.collisions,
    extentErrors: scan.extentErrors,
    errors,
  };
  return { text: lines.join('\n') + '\n', exitCode: Math.min(errors, 127), json };
}
