// The famfs-over-FUSE profiles (reference fuse-iomap-abi.md §3.1): the same numbers differ
// between the posted V-series (GET_FMAP 54 / GET_DAXDEV 55 on top of 7.45), the famfs
// libfuse fork's pre-7.45 numbering (53 / 54, where mainline later put COPY_FILE_RANGE_64)
// and the mid-2026 dev tree (unrolled simple extents). INIT bit 43 is FUSE_DAX_FMAP here,
// the same bit fuse-iomap calls FUSE_IOMAP, so the bit is declared per profile.
import { extendProfile, mainline, type AbiProfile } from '../abi.js';
import { Op } from '../opcodes.js';
import { getDaxdevOp, getFmapOp, type FmapEncodingChoice, type MappingSource } from '../mapping-handlers.js';

/** INIT flag FUSE_DAX_FMAP (flags2 bit 11) in the posted series. */
export const FUSE_DAX_FMAP = 1n << 43n;

export interface FamfsNumbers {
  readonly GET_FMAP: number;
  readonly GET_DAXDEV: number;
  /** The minor we announce: the series calls itself 7.46; the fork predates 7.45. */
  readonly minor: number;
}

export const FAMFS_V10: FamfsNumbers = { GET_FMAP: 54, GET_DAXDEV: 55, minor: 46 };
export const FAMFS_FORK: FamfsNumbers = { GET_FMAP: 53, GET_DAXDEV: 54, minor: 44 };

function famfsProfile(name: string, n: FamfsNumbers, source: MappingSource, encoding: FmapEncodingChoice): AbiProfile {
  return extendProfile(mainline, {
    name,
    minor: n.minor,
    // The fork's GET_FMAP is 53: mainline's COPY_FILE_RANGE_64 does not exist on its kernels.
    dropOps: n.GET_FMAP === Op.COPY_FILE_RANGE_64 ? [Op.COPY_FILE_RANGE_64] : [],
    ops: [
      [n.GET_FMAP, getFmapOp(source, encoding)],
      [n.GET_DAXDEV, getDaxdevOp(source)],
    ],
    wantFlags: FUSE_DAX_FMAP,
    adjustInit: (kernel) => {
      if (!(kernel.flags & FUSE_DAX_FMAP)) source.log?.(`${name}: the kernel does not offer FUSE_DAX_FMAP (INIT bit 43); files are served by READ/WRITE`);
    },
  });
}

/** Posted V10 (2026-03-31): interleaved extents, <= 32 extents and strips, daxdev 0, 4 KiB. */
export function famfsV10Profile(source: MappingSource): AbiProfile {
  return famfsProfile('famfs-v10', FAMFS_V10, source, 'v10');
}

/** The famfs libfuse fork's numbering (53/54) with the V-series message. */
export function famfsForkProfile(source: MappingSource): AbiProfile {
  return famfsProfile('famfs-fork', FAMFS_FORK, source, 'v10');
}

/** The mid-2026 dev tree: unrolled simple extents, fmap_size and one retry. */
export function famfsUnrolledProfile(source: MappingSource): AbiProfile {
  return famfsProfile('famfs-unrolled', FAMFS_V10, source, 'unrolled');
}

/** V10 numbering, encoding decided per GET_FMAP from its payload size (0: V10, 8: dev tree). */
export function famfsByPayloadProfile(source: MappingSource): AbiProfile {
  return famfsProfile('famfs', FAMFS_V10, source, 'by-payload');
}
