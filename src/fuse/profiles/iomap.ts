// Darrick Wong's fuse-iomap v7 profile (reference fuse-iomap-abi.md §1.1): minor 99,
// INIT bit 43 = FUSE_IOMAP, opcodes 4089-4095 just below CUSE_INIT, notifies 99-101, and
// the v6/v7 FUSE_IOMAP_F_* numbering.
import { extendProfile, mainline, type AbiProfile } from '../abi.js';
import { iomapOps, type IomapOpcodes, type IomapServerConfig, type MappingSource } from '../mapping-handlers.js';
import { IOMAP_FLAGS_V7, type IomapFlagNumbering } from '../iomap-wire.js';

/** INIT flag FUSE_IOMAP (flags2 bit 11) in the fuse-iomap series. */
export const FUSE_IOMAP = 1n << 43n;
export const IOMAP_MINOR = 99;

export const IOMAP_OPCODES: IomapOpcodes = {
  FREEZE_FS: 4089,
  UNFREEZE_FS: 4090,
  SHUTDOWN_FS: 4091,
  IOMAP_CONFIG: 4092,
  IOMAP_IOEND: 4093,
  IOMAP_BEGIN: 4094,
  IOMAP_END: 4095,
};

export const IOMAP_NOTIFY = {
  IOMAP_DEV_INVAL: 99,
  IOMAP_UPSERT_MAPPINGS: 100,
  IOMAP_INVAL_MAPPINGS: 101,
} as const;

/** The flag numbering this profile's mappings use (§1.3: never mix postings). */
export const IOMAP_PROFILE_FLAGS: IomapFlagNumbering = IOMAP_FLAGS_V7;

export function iomapProfile(source: MappingSource, cfg: IomapServerConfig): AbiProfile {
  return extendProfile(mainline, {
    name: 'iomap',
    minor: IOMAP_MINOR,
    ops: iomapOps(source, cfg, IOMAP_OPCODES),
    wantFlags: FUSE_IOMAP,
    notify: IOMAP_NOTIFY,
    adjustInit: (kernel, reply) => {
      // The experimental minor is announced only to a kernel that speaks it; the feature
      // itself is enabled by the flag (§1.1).
      if (kernel.minor !== IOMAP_MINOR) reply.minor = Math.min(reply.minor, mainline.minor);
      if (!(kernel.flags & FUSE_IOMAP)) source.log?.('iomap: the kernel does not offer FUSE_IOMAP (INIT bit 43); files are served by READ/WRITE');
    },
  });
}
