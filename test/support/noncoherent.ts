// A non-coherent shared memory for tests (README "Caches on shared memory"): several hosts
// share one memory, and each has its own write-back cache of 64-byte lines that nobody
// snoops, which is what hosts sharing CXL memory see:
// - a store goes into the storing host's cached line (fetched first: write-allocate) and
//   stays there, dirty, until that host flushes or evicts it;
// - a load returns the host's cached line if it has one, however stale, else fetches it;
// - flush writes the host's dirty lines back and keeps them clean (CLWB); invalidate writes
//   back dirty lines and drops them (CLFLUSHOPT); with `maintenance` off both do nothing,
//   which is the code with its flushes and invalidates removed;
// - at every line access, seeded random events happen: a line of any host is evicted
//   (written back if dirty), the accessing host prefetches lines after the one it touched
//   (the read-ahead famfs's famfs_validate_log_entry comment worries about), a full cache
//   evicts a random line, and a hook lets a test run another host's operation right there,
//   in the middle of this one. Each line of a flush or invalidate is such an access too.
// Each host is a DaxdevMemory, so FamfsImage, mkfs and the server's data path run on it
// unchanged; its slices() refuses (views = false) so no access escapes the caches.
import { DeviceError, type DaxdevMemory, type DeviceSpec } from '../../src/device/memory.js';

export const LINE = 64;

/** mulberry32: small, fast, seeded. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimOptions {
  readonly seed: number;
  /** Lines each host's cache holds before it evicts (default 256 = 16 KiB). */
  readonly capacity?: number;
  /** Per line access: probability that one random line of each host is evicted. */
  readonly evictRate?: number;
  /** Per line access: probability that the accessing host prefetches the next 1-4 lines. */
  readonly prefetchRate?: number;
  /** The memory's starting contents (shared, never written: stores go to an overlay). */
  readonly base?: Uint8Array;
}

export interface HostCounts {
  loads: number;
  stores: number;
  fetches: number;
  writebacks: number;
  evictions: number;
  prefetches: number;
  flushes: number;
  invalidates: number;
}

interface CachedLine {
  readonly data: Uint8Array;
  dirty: boolean;
  /** Position in the host's key list (O(1) random eviction). */
  slot: number;
}

export class NoncoherentMemory {
  /** Lines written since `base`. */
  private readonly overlay = new Map<number, Uint8Array>();
  private readonly hostList: SimHost[] = [];
  readonly random: () => number;
  readonly capacity: number;
  readonly evictRate: number;
  readonly prefetchRate: number;
  /** Line accesses so far, all hosts. */
  steps = 0;
  /** Called at every line access (after the random events), with the accessing host. */
  onStep: ((host: SimHost) => void) | undefined;

  constructor(readonly size: number, opts: SimOptions) {
    if (size % LINE) throw new DeviceError(`simulated memory: size ${size} is not a multiple of ${LINE}`);
    if (opts.base && opts.base.byteLength !== size) throw new DeviceError(`simulated memory: base is ${opts.base.byteLength} bytes, memory ${size}`);
    this.base = opts.base;
    this.random = seededRandom(opts.seed);
    this.capacity = opts.capacity ?? 256;
    this.evictRate = opts.evictRate ?? 0.02;
    this.prefetchRate = opts.prefetchRate ?? 0.02;
  }
  private readonly base: Uint8Array | undefined;

  host(name: string, opts: { maintenance: boolean }): SimHost {
    const h = new SimHost(this, name, opts.maintenance);
    this.hostList.push(h);
    return h;
  }

  get hosts(): readonly SimHost[] {
    return this.hostList;
  }

  /** What memory itself holds for line `i` (a copy). */
  fetch(i: number): Uint8Array {
    const o = this.overlay.get(i);
    if (o) return o.slice();
    return this.base ? this.base.slice(i * LINE, (i + 1) * LINE) : new Uint8Array(LINE);
  }

  writeBack(i: number, data: Uint8Array): void {
    this.overlay.set(i, data.slice());
  }

  /** Memory's bytes as they are now, ignoring every cache (a base for later simulations). */
  snapshot(): Uint8Array {
    const out = this.base ? Uint8Array.from(this.base) : new Uint8Array(this.size);
    for (const [i, d] of this.overlay) out.set(d, i * LINE);
    return out;
  }

  /** The random events of one line access by `host`, then the test's hook. */
  step(host: SimHost, line: number): void {
    this.steps++;
    const r = this.random;
    for (const h of this.hostList) if (r() < this.evictRate) h.evictRandom();
    if (r() < this.prefetchRate) {
      const n = 1 + Math.floor(r() * 4);
      for (let k = 1; k <= n; k++) host.prefetch(line + k);
    }
    this.onStep?.(host);
  }
}

export class SimHost implements DaxdevMemory {
  readonly views = false;
  readonly size: number;
  private readonly cache = new Map<number, CachedLine>();
  private readonly keys: number[] = [];
  readonly counts: HostCounts = { loads: 0, stores: 0, fetches: 0, writebacks: 0, evictions: 0, prefetches: 0, flushes: 0, invalidates: 0 };

  constructor(private readonly mem: NoncoherentMemory, readonly name: string, public maintenance: boolean) {
    this.size = mem.size;
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new DeviceError(`${this.name}: access [${offset}, ${offset + length}) is outside the device (size ${this.size})`);
    }
  }

  private insert(i: number, data: Uint8Array): CachedLine {
    while (this.keys.length >= this.mem.capacity) this.evictAt(Math.floor(this.mem.random() * this.keys.length));
    const l: CachedLine = { data, dirty: false, slot: this.keys.length };
    this.keys.push(i);
    this.cache.set(i, l);
    return l;
  }

  private drop(i: number): void {
    const l = this.cache.get(i)!;
    const last = this.keys.pop()!;
    if (last !== i) {
      this.keys[l.slot] = last;
      this.cache.get(last)!.slot = l.slot;
    }
    this.cache.delete(i);
  }

  private writeBackLine(i: number, l: CachedLine): void {
    if (!l.dirty) return;
    this.mem.writeBack(i, l.data);
    l.dirty = false;
    this.counts.writebacks++;
  }

  private evictAt(slot: number): void {
    const i = this.keys[slot]!;
    this.writeBackLine(i, this.cache.get(i)!);
    this.drop(i);
    this.counts.evictions++;
  }

  evictRandom(): void {
    if (this.keys.length) this.evictAt(Math.floor(this.mem.random() * this.keys.length));
  }

  prefetch(i: number): void {
    if (i * LINE >= this.size || this.cache.has(i)) return;
    this.insert(i, this.mem.fetch(i));
    this.counts.prefetches++;
  }

  /** The host's line `i`, fetched from memory if it holds none. */
  private line(i: number): CachedLine {
    let l = this.cache.get(i);
    if (!l) {
      l = this.insert(i, this.mem.fetch(i));
      this.counts.fetches++;
    }
    return l;
  }

  /** Dirty lines this host holds (what it wrote and nobody else can see yet). */
  get dirtyLines(): number {
    let n = 0;
    for (const l of this.cache.values()) if (l.dirty) n++;
    return n;
  }

  read(offset: number, dst: Uint8Array): void {
    this.eachLine(offset, dst.byteLength, (l, at, n, done) => {
      dst.set(n === LINE ? l.data : l.data.subarray(at, at + n), done);
      this.counts.loads++;
    });
  }

  write(offset: number, src: Uint8Array): void {
    this.eachLine(offset, src.byteLength, (l, at, n, done) => {
      l.data.set(src.subarray(done, done + n), at);
      l.dirty = true;
      this.counts.stores++;
    });
  }

  /**
   * Visit the lines of [offset, offset + bytes) in address order: `n` bytes at `at` of each,
   * `done` bytes before them. Each access is one step of the simulation, and the line is looked
   * up after it, since the step's hook may have evicted it.
   */
  private eachLine(offset: number, bytes: number, visit: (l: CachedLine, at: number, n: number, done: number) => void): void {
    this.check(offset, bytes);
    const end = offset + bytes;
    for (let pos = offset; pos < end;) {
      const i = Math.floor(pos / LINE);
      const at = pos - i * LINE;
      const n = Math.min(LINE - at, end - pos);
      this.mem.step(this, i);
      visit(this.line(i), at, n, pos - offset);
      pos += n;
    }
  }

  private linesOf(offset: number, length: number): [number, number] {
    this.check(offset, length);
    return [Math.floor(offset / LINE), Math.ceil((offset + length) / LINE)];
  }

  flush(offset: number, length: number): void {
    if (!this.maintenance || length === 0) return;
    this.counts.flushes++;
    const [from, to] = this.linesOf(offset, length);
    for (let i = from; i < to; i++) {
      // One instruction per line: other hosts run between them, and see the lines written
      // back so far (in address order, as the flush loop goes).
      this.mem.step(this, i);
      const l = this.cache.get(i);
      if (l) this.writeBackLine(i, l);
    }
  }

  invalidate(offset: number, length: number): void {
    if (!this.maintenance || length === 0) return;
    this.counts.invalidates++;
    const [from, to] = this.linesOf(offset, length);
    for (let i = from; i < to; i++) {
      this.mem.step(this, i);
      const l = this.cache.get(i);
      if (!l) continue;
      this.writeBackLine(i, l);
      this.drop(i);
    }
  }

  slices(offset: number, length: number): Buffer[] {
    throw new DeviceError(`${this.name}: simulated memory has no direct views ([${offset}, +${length})); use read()/write()`);
  }

  share(): DeviceSpec {
    throw new DeviceError(`${this.name}: simulated memory cannot be shared with another thread`);
  }

  sync(): void {
    // msync makes a file durable; caches are not files. Nothing to do, as on real memory.
  }

  close(): void {
    // A host that closes its image keeps its cache: dirty lines still wait for eviction.
  }
}
