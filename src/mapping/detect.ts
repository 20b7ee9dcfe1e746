// `--abi auto`: which kernel series is on the other end of the channel, decided from what
// the kernel says before INIT (FUSE_DEV_IOC_IOMAP_SUPPORT) and in it (minor, offered flags),
// with every series' facts read from its declaration (series.ts). An INIT bit alone never
// identifies a series: 7.46 gives bit 43 to FUSE_HAS_IO_URING_BUFPOOL, famfs V10 to
// FUSE_DAX_FMAP, the posted fuse-iomap to FUSE_IOMAP. Every check is logged.
import type { KernelInit } from '../fuse/abi.js';
import { FAMFS_BY_PAYLOAD, IOMAP_73, MAINLINE, type KernelSeries } from './series.js';

/** What FUSE_DEV_IOC_IOMAP_SUPPORT said on the channel before INIT. */
export type IomapSupportProbe =
  /** The ioctl answered: the kernel speaks fuse-iomap (flags: FILEIO 1, ATOMIC 2). */
  | { readonly kind: 'answered'; readonly flags: bigint }
  /** ENOTTY (or another refusal) from a real /dev/fuse: no fuse-iomap in this kernel. */
  | { readonly kind: 'refused'; readonly errno: string }
  /** Not a /dev/fuse (a player's socket): nothing learned. */
  | { readonly kind: 'not-asked'; readonly why: string };

export interface Decision {
  readonly series: KernelSeries;
  /** One line per series considered: why it was taken or passed over. */
  readonly reasons: readonly string[];
}

/** The series `auto` may choose, in order; mainline is taken when none matches. */
export const AUTO_CANDIDATES: readonly KernelSeries[] = [IOMAP_73, FAMFS_BY_PAYLOAD];

const bitName = (flags: bigint): string => {
  const bits: number[] = [];
  for (let i = 0; i < 64; i++) if (flags & (1n << BigInt(i))) bits.push(i);
  return bits.length === 1 ? `INIT bit ${bits[0]}` : `INIT bits ${bits.join(',')}`;
};

/** Why `series` does not fit the kernel, or undefined when it does. */
export function mismatch(series: KernelSeries, kernel: KernelInit, probe: IomapSupportProbe): string | undefined {
  const d = series.detect;
  if (!d) return 'not chosen automatically';
  if (kernel.minor < d.minor.min || kernel.minor > d.minor.max) {
    return `kernel minor ${kernel.minor} is outside ${d.minor.min === d.minor.max ? d.minor.min : `${d.minor.min}..${d.minor.max}`}`;
  }
  if (!(kernel.flags & series.initBit)) return `kernel does not offer ${bitName(series.initBit)}`;
  if (kernel.flags & d.notWith) return `kernel offers ${bitName(series.initBit)} with ${bitName(kernel.flags & d.notWith)}, so the bit means something else there`;
  if (d.iomapSupport === 'required' && probe.kind === 'refused') return `FUSE_DEV_IOC_IOMAP_SUPPORT was refused (${probe.errno})`;
  if (d.iomapSupport === 'required' && probe.kind === 'answered' && probe.flags === 0n) return 'FUSE_DEV_IOC_IOMAP_SUPPORT reports no iomap support';
  if (d.iomapSupport === 'absent' && probe.kind === 'answered') return `FUSE_DEV_IOC_IOMAP_SUPPORT answered (0x${probe.flags.toString(16)}): a fuse-iomap kernel`;
  return undefined;
}

function probeText(probe: IomapSupportProbe): string {
  switch (probe.kind) {
    case 'answered': return `IOMAP_SUPPORT 0x${probe.flags.toString(16)}`;
    case 'refused': return `IOMAP_SUPPORT ${probe.errno}`;
    case 'not-asked': return `IOMAP_SUPPORT not asked (${probe.why})`;
  }
}

/** The series for a kernel's INIT and probe, with the reasoning. */
export function detectSeries(kernel: KernelInit, probe: IomapSupportProbe, candidates: readonly KernelSeries[] = AUTO_CANDIDATES): Decision {
  const seen = `kernel 7.${kernel.minor}, flags 0x${kernel.flags.toString(16)}, ${probeText(probe)}`;
  const reasons: string[] = [seen];
  for (const s of candidates) {
    const why = mismatch(s, kernel, probe);
    if (why === undefined) {
      reasons.push(`${s.name}: minor ${kernel.minor}, ${bitName(s.initBit)} offered${s.detect?.notWith ? ` without ${bitName(s.detect.notWith)}` : ''}` +
        `${s.detect?.iomapSupport === 'required' ? `, ${probeText(probe)}` : ''}: chosen`);
      return { series: s, reasons };
    }
    reasons.push(`${s.name}: ${why}`);
  }
  reasons.push(`${MAINLINE.name}: chosen (READ/WRITE for every byte)`);
  return { series: MAINLINE, reasons };
}
