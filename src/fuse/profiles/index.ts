// ABI profiles by name, for `mount --abi` and the CLI: mainline, the mapping series, and
// `auto`, which picks one from the kernel's INIT (minor 99 and the offered bits) and, for
// famfs, from the GET_FMAP payload size, and logs its choice.
import { mainline, type AbiProfile, type KernelInit, type ProfileChooser } from '../abi.js';
import type { IomapServerConfig, MappingSource } from '../mapping-handlers.js';
import { playerCookie } from '../mapping-handlers.js';
import { famfsByPayloadProfile, famfsForkProfile, famfsUnrolledProfile, famfsV10Profile, FUSE_DAX_FMAP } from './famfs.js';
import { FUSE_IOMAP, IOMAP_MINOR, iomapProfile } from './iomap.js';

export const PROFILE_NAMES = ['auto', 'mainline', 'iomap', 'famfs-v10', 'famfs-fork', 'famfs-unrolled'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(s);
}

/** The iomap geometry a famfs mount uses unless told otherwise: 4 KiB blocks, 8 PiB - 1. */
export function defaultIomapConfig(overrides: Partial<IomapServerConfig> = {}): IomapServerConfig {
  return { blockSize: 4096, maxBytes: Number.MAX_SAFE_INTEGER, cookie: playerCookie, id: 'famfs-ts', ...overrides };
}

/** Which profile `auto` takes for a kernel's INIT, and why. */
export function autoDecision(kernel: KernelInit): { name: Exclude<ProfileName, 'auto'> | 'famfs'; why: string } {
  const bit43 = (kernel.flags & (1n << 43n)) !== 0n;
  const v = `7.${kernel.minor}`;
  if (!bit43) return { name: 'mainline', why: `kernel ${v} offers no INIT bit 43` };
  if (kernel.minor === IOMAP_MINOR) return { name: 'iomap', why: `kernel ${v} (fuse-iomap's experimental minor) offers FUSE_IOMAP` };
  if (kernel.minor < 45) return { name: 'famfs-fork', why: `kernel ${v} predates 7.45 and offers FUSE_DAX_FMAP: the fork's GET_FMAP 53` };
  return { name: 'famfs', why: `kernel ${v} offers FUSE_DAX_FMAP; GET_FMAP's payload size will pick V10 or unrolled` };
}

export interface ProfileContext {
  readonly source: MappingSource;
  readonly iomap?: IomapServerConfig;
  readonly log?: (line: string) => void;
}

/** A concrete profile by name, or the auto chooser. */
export function profileByName(name: ProfileName, ctx: ProfileContext): AbiProfile | ProfileChooser {
  const cfg = ctx.iomap ?? defaultIomapConfig();
  switch (name) {
    case 'mainline': return mainline;
    case 'iomap': return iomapProfile(ctx.source, cfg);
    case 'famfs-v10': return famfsV10Profile(ctx.source);
    case 'famfs-fork': return famfsForkProfile(ctx.source);
    case 'famfs-unrolled': return famfsUnrolledProfile(ctx.source);
    case 'auto':
      return (kernel) => {
        const d = autoDecision(kernel);
        ctx.log?.(`abi auto: ${d.name} (${d.why})`);
        switch (d.name) {
          case 'mainline': return mainline;
          case 'iomap': return iomapProfile(ctx.source, cfg);
          case 'famfs-fork': return famfsForkProfile(ctx.source);
          default: return famfsByPayloadProfile(ctx.source);
        }
      };
  }
}

export { FUSE_DAX_FMAP, FUSE_IOMAP };
