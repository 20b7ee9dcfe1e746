// A layout's policy as famfs-style allocation defaults (like famfs's `.meta/.alloc.cfg`),
// used when creat/cp are given none of -N/-B/-C. One strip and no buckets is contiguous;
// only daxdevs the image's log knows can be drawn from.
import type { FamfsImage } from './image.js';
import type { InterleaveParams } from './alloc.js';

export function policyDefaults(img: FamfsImage): { interleave?: InterleaveParams; daxdevs?: readonly number[] } {
  const p = img.layoutPolicy;
  if (!p) return {};
  const daxdevs = p.daxdevs.filter((d) => img.scan.daxdevs.has(d));
  if (p.nstrips <= 1 && p.nbuckets === 0) return { daxdevs: daxdevs.length ? [daxdevs[0]!] : undefined };
  return { interleave: { nstrips: p.nstrips, nbuckets: p.nbuckets, chunkSize: p.chunkSize }, daxdevs: daxdevs.length ? daxdevs : undefined };
}
