// The times of files committed through this mount, by the node id their log entry gave them.
// famfs's log records no times (famfs-format.md §3.3: a FILE entry holds size, flags, uid,
// gid, mode, path and extents), so these live in memory only and are what stat shows until
// the server ends; a file this server never wrote shows the mount's start. Three f64 per node
// id in one array rather than an object per file in a Map: 20,000 files created and forgotten
// held ~150 bytes each that way (bench/meta-mount/README.md, fifth pass).

export interface Times {
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** Log node ids are entry index + 2, bounded by the log's size; past this, a Map holds them. */
const DENSE_MAX = 1 << 24;

export class FileTimes {
  /** [atime, mtime, ctime] of node id i at 3i; NaN: none recorded. */
  private dense = new Float64Array(0);
  private readonly sparse = new Map<number, Times>();

  set(id: number, t: Times): void {
    if (!Number.isInteger(id) || id < 0 || id >= DENSE_MAX) {
      this.sparse.set(id, { atimeMs: t.atimeMs, mtimeMs: t.mtimeMs, ctimeMs: t.ctimeMs });
      return;
    }
    if (3 * id + 3 > this.dense.length) {
      const grown = new Float64Array(Math.max(3 * 1024, 3 * (id + 1), 2 * this.dense.length)).fill(NaN);
      grown.set(this.dense);
      this.dense = grown;
    }
    const d = this.dense;
    d[3 * id] = t.atimeMs;
    d[3 * id + 1] = t.mtimeMs;
    d[3 * id + 2] = t.ctimeMs;
  }

  /** The times recorded for id, or `otherwise` (callers copy what they get: spread it). */
  get(id: number, otherwise: Readonly<Times>): Readonly<Times> {
    const d = this.dense;
    if (Number.isInteger(id) && id >= 0 && 3 * id + 3 <= d.length && !Number.isNaN(d[3 * id]!)) {
      return { atimeMs: d[3 * id]!, mtimeMs: d[3 * id + 1]!, ctimeMs: d[3 * id + 2]! };
    }
    return this.sparse.get(id) ?? otherwise;
  }

  /** One time as all three. */
  static all(ms: number): Times {
    return { atimeMs: ms, mtimeMs: ms, ctimeMs: ms };
  }
}
