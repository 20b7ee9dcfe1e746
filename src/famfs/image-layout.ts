// The layout of a single-device image, derived from its superblock: daxdev 0 is the
// device, the policy famfs's default (2 MiB chunks, contiguous). Used where a layout is
// needed and none was given (`layout map IMAGE:/path`).
import type { Layout } from '../interleave/layout.js';
import type { FamfsImage } from './image.js';
import { ALLOC_UNIT } from './constants.js';

export function imageLayout(img: FamfsImage, image: string): Layout {
  const dev = { name: img.sb.daxdevPath || image, path: image, size: img.sb.ddSize };
  return {
    devices: [dev], regions: [],
    daxdevs: [{ index: 0, name: dev.name, size: dev.size, backing: { kind: 'device', device: dev } }],
    policy: { chunkSize: ALLOC_UNIT, nstrips: 1, nbuckets: 0, daxdevs: [0] },
    source: `image ${image}`,
  };
}
