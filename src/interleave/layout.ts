// The layout model: memory devices (controllers), hardware interleave regions over them
// (CXL-style; a region is one daxdev to the kernel), the daxdevs in index order, and the
// software (famfs) interleave policy for new files. Parsed and validated from YAML by
// layout-yaml.ts, or derived from an image's superblock and log.

export interface MemDevice {
  readonly name: string;
  /** A regular file, a /dev/shm file, /dev/daxX.Y or /dev/pmemX. */
  readonly path: string;
  readonly size: number;
}

/** CXL-style hardware interleave: `ways` devices, `granularity` bytes per device in turn. */
export interface Region {
  readonly name: string;
  readonly ways: number;
  readonly granularity: number;
  /** Member device names in interleave position order. */
  readonly devices: readonly string[];
  /** Capacity: ways * the per-device span used. */
  readonly size: number;
}

/** What the kernel sees as one DAX device: either a plain memory device or a region. */
export interface Daxdev {
  readonly index: number;
  readonly name: string;
  readonly size: number;
  readonly backing: { readonly kind: 'device'; readonly device: MemDevice } | { readonly kind: 'region'; readonly region: Region; readonly members: readonly MemDevice[] };
}

/** Placement policy for new files (famfs `.meta/.alloc.cfg` style). */
export interface Policy {
  /** Chunk size in bytes, a power of two; famfs kernels need a 2 MiB multiple. */
  readonly chunkSize: number;
  /** Strips per interleaved file; 1 means contiguous allocation. */
  readonly nstrips: number;
  /** famfs strided allocation: buckets a daxdev is split into (0 = not bucketed). */
  readonly nbuckets: number;
  /** Daxdev indexes strips come from, in order. */
  readonly daxdevs: readonly number[];
}

export interface Layout {
  readonly devices: readonly MemDevice[];
  readonly regions: readonly Region[];
  /** Index order; daxdev 0 is the primary (holds the famfs superblock and log). */
  readonly daxdevs: readonly Daxdev[];
  readonly policy: Policy;
  /** Where it came from, for messages ("layout.yaml", "image /dev/dax0.0"). */
  readonly source: string;
}
