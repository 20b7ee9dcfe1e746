// The kernel series famfs-ts speaks, each ONE typed declaration: the minor it announces,
// the INIT bit that switches its mapping protocol on, its opcodes and notify codes, the
// GET_FMAP encoding or iomap flag numbering, the BPF struct_ops type its resolver
// registers as, the limits a file must meet, and the facts `auto` detects it by.
// Everything else (profiles, detection, the server's policy) reads these fields; adding a
// series (a famfs V11, an iomap v8) is one more declaration here plus its tests.
// Numbers: reference fuse-iomap-abi.md §1.1 (iomap), §3.1 (famfs), and the INITs the
// kernels in ../shared/kernels sent when booted (test/support/kernel-inits.ts).
import { InitFlag } from '../fuse/opcodes.js';
import { FMAP_LIMITS, type FmapEncoding, type FmapLimits } from './famfs-fmap.js';
import { FUSE_ATTR_EXCLUSIVE, FUSE_ATTR_IOMAP, IOMAP_FLAGS_V7, type IomapFlagNumbering } from './iomap-wire.js';

/** How `auto` recognises a series from what the kernel says before and in FUSE_INIT. */
export interface Detection {
  /** The protocol minor the kernel must announce (inclusive bounds). */
  readonly minor: { readonly min: number; readonly max: number };
  /**
   * INIT flags that, when the kernel offers them too, mean the series' bit is someone
   * else's: on 7.46 bit 43 with FUSE_OVER_IO_URING is FUSE_HAS_IO_URING_BUFPOOL.
   */
  readonly notWith: bigint;
  /**
   * FUSE_DEV_IOC_IOMAP_SUPPORT before INIT: 'required' (a /dev/fuse that answers ENOTTY is
   * not this series; a socket channel, which cannot be asked, passes), 'absent' (a kernel
   * that answers it is an iomap kernel, never this series).
   */
  readonly iomapSupport: 'required' | 'absent';
}

interface SeriesBase {
  /** Name for logs and `--abi`; never compared to choose behaviour. */
  readonly name: string;
  /** The protocol minor we announce (the connection runs at the smaller of the two). */
  readonly minor: number;
  /** The INIT flag that enables the mapping protocol (0n: none). */
  readonly initBit: bigint;
  /** The struct_ops type `mount --bpf` registers its resolver as on this series. */
  readonly bpfFlavor: StructOpsFlavor;
  readonly detect?: Detection;
}

export interface MainlineSeries extends SeriesBase {
  readonly kind: 'mainline';
}

export interface FamfsSeries extends SeriesBase {
  readonly kind: 'famfs';
  readonly opcodes: { readonly GET_FMAP: number; readonly GET_DAXDEV: number };
  /** GET_FMAP encodings the kernel may ask in; two means "decide from the request's payload". */
  readonly encodings: readonly FmapEncoding[];
  /** What a file must meet to be expressible, per encoding (checked at creation). */
  readonly limits: Readonly<Partial<Record<FmapEncoding, FmapLimits>>>;
}

export interface IomapSeries extends SeriesBase {
  readonly kind: 'iomap';
  readonly opcodes: {
    readonly FREEZE_FS: number; readonly UNFREEZE_FS: number; readonly SHUTDOWN_FS: number;
    readonly IOMAP_CONFIG: number; readonly IOMAP_IOEND: number; readonly IOMAP_BEGIN: number; readonly IOMAP_END: number;
  };
  readonly notify: { readonly DEV_INVAL: number; readonly UPSERT_MAPPINGS: number; readonly INVAL_MAPPINGS: number };
  readonly flags: IomapFlagNumbering;
  /** fuse_attr.flags a regular file must carry for the kernel to use its iomap (both bits, §1.1 errata). */
  readonly attrFlags: number;
  /** Device ids FUSE_DEV_IOC_BACKING_OPEN hands out (§1.5). */
  readonly backingIds: { readonly first: number; readonly last: number };
  /** The capability the kernel checks when it takes the INIT reply. */
  readonly needs: 'CAP_SYS_RAWIO';
}

export type KernelSeries = MainlineSeries | FamfsSeries | IomapSeries;

/** Protocol 7.45 (Linux 6.18): READ/WRITE for every byte. */
export const MAINLINE: MainlineSeries = {
  kind: 'mainline',
  name: 'mainline',
  minor: 45,
  initBit: 0n,
  bpfFlavor: 'fuse_bpf_ops',
};

const FAMFS_V10_NUMBERS = {
  minor: 46,
  /** FUSE_DAX_FMAP, flags2 bit 11. */
  initBit: 1n << 43n,
  opcodes: { GET_FMAP: 54, GET_DAXDEV: 55 },
  bpfFlavor: 'fuse_bpf_ops',
  detect: {
    // 7.45 kernels never offer bit 43 themselves; V10 announces 46.
    minor: { min: 45, max: 98 },
    // Mainline offers FUSE_OVER_IO_URING only with io_uring enabled, and bit 43
    // (FUSE_HAS_IO_URING_BUFPOOL) only beside it (stock-7.3 with fuse.enable_uring=1).
    notWith: InitFlag.OVER_IO_URING,
    iomapSupport: 'absent',
  },
} as const;

/** The posted famfs-over-FUSE V10 (2026-03-31): interleaved extents, V10's limits. */
export const FAMFS_V10: FamfsSeries = {
  kind: 'famfs', name: 'famfs-v10', ...FAMFS_V10_NUMBERS, encodings: ['v10'], limits: { v10: FMAP_LIMITS.v10 },
};

/** The mid-2026 famfs dev tree: V10's numbers, unrolled simple extents, one retry. */
export const FAMFS_UNROLLED: FamfsSeries = {
  kind: 'famfs', name: 'famfs-unrolled', ...FAMFS_V10_NUMBERS, encodings: ['unrolled'], limits: { unrolled: FMAP_LIMITS.unrolled },
};

/** `auto`'s famfs: V10 numbering, the encoding decided by GET_FMAP's payload size (0: V10, 8: dev tree). */
export const FAMFS_BY_PAYLOAD: FamfsSeries = {
  kind: 'famfs', name: 'famfs', ...FAMFS_V10_NUMBERS, encodings: ['v10', 'unrolled'],
  limits: { v10: FMAP_LIMITS.v10, unrolled: FMAP_LIMITS.unrolled },
};

/**
 * Darrick Wong's fuse-iomap v7 as ported to 7.3 in ../shared/kernels/fuse-iomap-7.3: minor
 * 99, INIT bit 44 (the posting's 43 is 7.46's FUSE_HAS_IO_URING_BUFPOOL), opcodes
 * 4089-4095, notifies 99-101, v6/v7 flag numbering.
 */
export const IOMAP_73: IomapSeries = {
  kind: 'iomap',
  name: 'iomap',
  minor: 99,
  initBit: 1n << 44n,
  opcodes: { FREEZE_FS: 4089, UNFREEZE_FS: 4090, SHUTDOWN_FS: 4091, IOMAP_CONFIG: 4092, IOMAP_IOEND: 4093, IOMAP_BEGIN: 4094, IOMAP_END: 4095 },
  notify: { DEV_INVAL: 99, UPSERT_MAPPINGS: 100, INVAL_MAPPINGS: 101 },
  flags: IOMAP_FLAGS_V7,
  attrFlags: FUSE_ATTR_IOMAP | FUSE_ATTR_EXCLUSIVE,
  backingIds: { first: 1, last: 1024 },
  needs: 'CAP_SYS_RAWIO',
  bpfFlavor: 'fuse_iomap_bpf_ops',
  detect: { minor: { min: 99, max: 99 }, notWith: 0n, iomapSupport: 'required' },
};

/** Every series a profile can be built from, in the order `auto` tries them. */
export const SERIES: readonly KernelSeries[] = [IOMAP_73, FAMFS_BY_PAYLOAD, FAMFS_V10, FAMFS_UNROLLED, MAINLINE];

/** The struct_ops a series' kernel registers BPF resolvers with (bpf-tooling.md). */
export type StructOpsFlavor = 'fuse_bpf_ops' | 'fuse_iomap_bpf_ops' | 'bpf_dummy_ops';
