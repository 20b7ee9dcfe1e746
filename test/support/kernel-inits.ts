// What real kernels said before and in FUSE_INIT, recorded by booting each kernel of
// ../shared/kernels in qemu (TCG, 2026-12-06) with a probe that opened /dev/fuse, asked
// FUSE_DEV_IOC_IOMAP_SUPPORT, mounted, and printed the fuse_init_in it read; the host row
// is this machine's 6.18 (DESIGN.md "The FUSE engine"). The player offers exactly these,
// so `auto` is tested against what the kernels send, not against what we think they send.
import { InitFlag } from '../../src/fuse/opcodes.js';
import type { IomapSupportProbe } from '../../src/mapping/detect.js';

export interface RecordedInit {
  /** uname -r of the kernel. */
  readonly release: string;
  readonly minor: number;
  readonly flags: number;
  readonly flags2: number;
  /** FUSE_DEV_IOC_IOMAP_SUPPORT on its /dev/fuse before INIT. */
  readonly iomapSupport: IomapSupportProbe;
  /** The series `auto` must choose. */
  readonly expect: 'mainline' | 'famfs' | 'iomap';
}

export const RECORDED_INITS = {
  /** This machine (Linux 6.18, protocol 7.45). */
  'host-6.18': { release: '6.18', minor: 45, flags: 0x73fffffb, flags2: 0x5fd, iomapSupport: { kind: 'refused', errno: 'ENOTTY' }, expect: 'mainline' },
  /** famfs-v10-7.3: bit 43 (FUSE_DAX_FMAP) offered, no FUSE io_uring. */
  'famfs-v10-7.3': { release: '7.3.0-rc7-gf40bb4e49c62', minor: 46, flags: 0x73fffffb, flags2: 0xdfd, iomapSupport: { kind: 'refused', errno: 'ENOTTY' }, expect: 'famfs' },
  /** fuse-iomap-7.3: minor 99, bit 44 (FUSE_IOMAP in this port), IOMAP_SUPPORT 0x3. */
  'fuse-iomap-7.3': { release: '7.3.0-rc7-fuse-iomap-lab+', minor: 99, flags: 0x73fffffb, flags2: 0x15fd, iomapSupport: { kind: 'answered', flags: 3n }, expect: 'iomap' },
  /** stock-7.3 as booted (fuse.enable_uring off): nothing beyond 6.18's flags. */
  'stock-7.3': { release: '7.3.0-rc7-stock', minor: 46, flags: 0x73fffffb, flags2: 0x5fd, iomapSupport: { kind: 'refused', errno: 'ENOTTY' }, expect: 'mainline' },
  /** stock-7.3 with fuse.enable_uring=1: bits 41 (OVER_IO_URING) and 43 (HAS_IO_URING_BUFPOOL). */
  'stock-7.3-uring': { release: '7.3.0-rc7-stock', minor: 46, flags: 0x73fffffb, flags2: 0xffd, iomapSupport: { kind: 'refused', errno: 'ENOTTY' }, expect: 'mainline' },
} as const satisfies Record<string, RecordedInit>;

export type RecordedKernel = keyof typeof RECORDED_INITS;

/** The 64-bit flags of a recording, as the engine decodes them (flags2 counts with INIT_EXT). */
export function offeredFlags(r: RecordedInit): bigint {
  const lo = BigInt(r.flags);
  return lo | (lo & InitFlag.INIT_EXT ? BigInt(r.flags2) << 32n : 0n);
}
