// The famfs master/client protocol run on the non-coherent memory simulator
// (noncoherent.ts). The master opens the image, creates directories and files (log appends)
// and writes their data, through famfs-ts's own code: FamfsImage (the offline verbs' path:
// creat, cp, verify), the mount server's data path (src/server/file-io.ts), or the mount's
// file system itself (FamfsFileSystem: CREATE, WRITE, FLUSH, RELEASE). After each file
// is complete the master "publishes" it: it tells the client out of band (as an application
// would over the network) that the file is there with these bytes. The client opens the
// image, replays the log, and checks:
//   torn-entry   replay met an entry that failed its CRC or seqnum (a half-written or stale
//                entry the client could see: famfs's logplay stops there);
//   bad-header   the log header the client read did not decode;
//   phantom-file the client's namespace holds a file the master never logged, or with
//                another size or map (a half entry taken as a file);
//   stale-log    a published file or directory is missing after a replay;
//   stale-data   a published file's bytes differ from what the master wrote.
// Operations interleave at line granularity: at any line access of one host the scheduler
// may run the other host's next operation to completion, in the middle of this one (e.g.
// between the master's entry store and its log-header store).
import { FamfsImage } from '../../src/famfs/image.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { LOG_LEN, LOG_OFFSET } from '../../src/famfs/constants.js';
import { randomBytes } from '../../src/famfs/prng.js';
import type { FileMap } from '../../src/interleave/filemap.js';
import { ROOT_ID } from '../../src/famfs/namespace.js';
import { FamfsFileSystem } from '../../src/server/famfs-fs.js';
import { readMapped, writeMapped } from '../../src/server/file-io.js';
import { ctx } from './fs-calls.js';
import { NoncoherentMemory, seededRandom, type SimHost } from './noncoherent.js';

export const MiB = 1024 * 1024;
export const SIM_DEVICE_SIZE = 32 * MiB;
export const SIM_MASTER_UUID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const MASTER_UUID = SIM_MASTER_UUID;
const CLIENT_UUID = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);

export type ViolationKind = 'torn-entry' | 'bad-header' | 'phantom-file' | 'stale-log' | 'stale-data';
export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
  /** Line accesses into the run when it was seen. */
  readonly step: number;
}

let baseImage: Uint8Array | undefined;

/**
 * A freshly made famfs image (mkfs on a simulated host with maintenance, all written back),
 * its free space holding old bytes (0xee), as space a device held before does: a file's bytes
 * that nobody wrote or zeroed show as such.
 */
export function simBaseImage(): Uint8Array {
  if (baseImage) return baseImage;
  const mem = new NoncoherentMemory(SIM_DEVICE_SIZE, { seed: 1, evictRate: 0, prefetchRate: 0 });
  const h = mem.host('mkfs', { maintenance: true });
  mkfs(h, { devPath: '/dev/sim0', systemUuid: MASTER_UUID, allowSmall: true, uuid: new Uint8Array(16).fill(7), devUuid: new Uint8Array(16).fill(8) });
  h.invalidate(0, SIM_DEVICE_SIZE);
  baseImage = mem.snapshot();
  baseImage.fill(0xee, LOG_OFFSET + LOG_LEN);
  return baseImage;
}

export interface RunOptions {
  readonly seed: number;
  /** Flushes and invalidates on (the code as written) or removed. */
  readonly maintenance: boolean;
  readonly files?: number;
  /** Probability, at each line access, that the other host's next operation runs there. */
  readonly switchRate?: number;
  readonly evictRate?: number;
  readonly prefetchRate?: number;
  readonly capacity?: number;
}

export interface RunResult {
  readonly violations: Violation[];
  /** Line accesses, all hosts. */
  readonly steps: number;
  /** Client operations run nested inside a master operation, and the reverse. */
  readonly nested: number;
  readonly clientChecks: number;
  readonly entriesSeen: number;
  readonly master: SimHost;
  readonly client: SimHost;
}

interface Truth {
  readonly logged: Map<string, { size: number; map: FileMap } | 'dir'>;
  readonly published: { path: string; kind: 'file' | 'dir'; bytes?: Buffer; how?: string }[];
}

interface Actor {
  readonly name: string;
  readonly ops: (() => void)[];
  running: boolean;
}

function sameMap(a: FileMap, b: FileMap): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** One seeded run of the protocol; returns what the client saw go wrong. */
export function runProtocol(o: RunOptions): RunResult {
  const rnd = seededRandom(o.seed ^ 0x5eed);
  const mem = new NoncoherentMemory(SIM_DEVICE_SIZE, {
    seed: o.seed, base: simBaseImage(), capacity: o.capacity ?? 128, evictRate: o.evictRate ?? 0.02, prefetchRate: o.prefetchRate ?? 0.05,
  });
  const mHost = mem.host('master', { maintenance: o.maintenance });
  const cHost = mem.host('client', { maintenance: o.maintenance });
  const truth: Truth = { logged: new Map(), published: [] };
  const violations: Violation[] = [];
  const seen = new Set<string>();
  const violate = (kind: ViolationKind, detail: string): void => {
    if (seen.has(kind)) return;
    seen.add(kind);
    violations.push({ kind, detail, step: mem.steps });
  };
  let master: FamfsImage | undefined;
  let client: FamfsImage | undefined;
  // The mount's file systems over those images, made when first used.
  let masterFs: FamfsFileSystem | undefined;
  let clientFs: FamfsFileSystem | undefined;
  const quiet = { device: '/dev/sim0', log: () => {} };
  let checks = 0;
  const observed: ({ path: string; kind: 'dir' } | { path: string; kind: 'file'; size: number; map: FileMap })[] = [];

  // --- the master's operations
  const mOps: (() => void)[] = [() => { master = FamfsImage.open({ primary: mHost, writable: true, systemUuid: MASTER_UUID }); }];
  const nfiles = o.files ?? 4;
  const dirs: string[] = [];
  for (let k = 0; k < nfiles; k++) {
    if (rnd() < 0.3) {
      const d = `d${k}`;
      dirs.push(d);
      mOps.push(() => {
        master!.mkdir(d);
        truth.logged.set(d, 'dir');
      });
      mOps.push(() => { truth.published.push({ path: d, kind: 'dir' }); });
    }
    const parent = dirs.length && rnd() < 0.5 ? `${dirs[Math.floor(rnd() * dirs.length)]}/` : '';
    const path = `${parent}f${k}`;
    const size = 1 + Math.floor(rnd() * (rnd() < 0.15 ? 20_000 : 2000));
    let bytes = randomBytes(o.seed * 131 + k, size);
    const how = parent === '' && rnd() < 0.3 ? 'mount' : rnd() < 0.5 ? 'writeMapped' : 'cp';
    if (how === 'mount') {
      // Through the mount: the file is logged at its commit, with the size written.
      let nodeid = 0;
      let fh = 0;
      mOps.push(() => {
        masterFs ??= new FamfsFileSystem(master!, quiet);
        ({ nodeid, fh } = masterFs.create(ctx, ROOT_ID, path, 0o100644, 0, 0o022));
      });
      const half = Math.floor(size / 2);
      const written = bytes;
      mOps.push(() => { masterFs!.write(ctx, nodeid, fh, 0, written.subarray(0, half), 0); });
      mOps.push(() => { masterFs!.write(ctx, nodeid, fh, half, written.subarray(half), 0); });
      if (rnd() < 0.5) {
        // truncate up: the server zeroes the gap, which must reach memory as zeros.
        const extra = 1 + Math.floor(rnd() * 3000);
        bytes = Buffer.concat([bytes, Buffer.alloc(extra)]);
        mOps.push(() => { masterFs!.setattr(ctx, nodeid, { valid: 8, size: size + extra }); });
      }
      mOps.push(() => {
        masterFs!.flush();
        masterFs!.release(ctx, nodeid, fh);
        const f = master!.file(path);
        truth.logged.set(path, { size: f.size, map: f.map });
      });
    } else {
      mOps.push(() => {
        const f = master!.creat(path, size);
        truth.logged.set(path, { size: f.size, map: f.map });
      });
      mOps.push(() => {
        const f = master!.file(path);
        if (how === 'writeMapped') writeMapped(f.map, (i) => master!.daxdev(i), 0, bytes);
        else master!.write(f, 0, bytes);
      });
    }
    mOps.push(() => { truth.published.push({ path, kind: 'file', bytes, how }); });
  }

  // --- the client's operations
  const check = (): void => {
    checks++;
    // Publication happens before this check starts: snapshot it now.
    const published = [...truth.published];
    try {
      client ??= FamfsImage.open({ primary: cHost, systemUuid: CLIENT_UUID });
      client.refresh();
    } catch (e) {
      violate('bad-header', (e as Error).message);
      return;
    }
    for (const bad of client.badEntries) violate('torn-entry', bad.message);
    // What the client's namespace holds is judged at the end, against what the master logged
    // (a check may run inside the master's append, before creat() has returned the map).
    const walk = (dir: string): void => {
      for (const n of client!.readdir(dir)) {
        observed.push(n.kind === 'dir' ? { path: n.path, kind: 'dir' } : { path: n.path, kind: 'file', size: n.size, map: n.map });
        if (n.kind === 'dir') walk(n.path);
      }
    };
    walk('/');
    for (const p of published) {
      const n = client.lookup(p.path);
      if (!n || n.kind !== p.kind) {
        violate('stale-log', `${p.path} published but not in the client's replay (log next_index ${client.header.nextIndex})`);
        continue;
      }
      if (n.kind !== 'file' || !p.bytes) continue;
      let got: Buffer;
      const way = rnd();
      const reader = way < 0.4 ? 'verify' : way < 0.7 || p.path.includes('/') ? 'readMapped' : 'mount';
      if (way < 0.4) {
        got = Buffer.alloc(n.size);
        client.read(n, 0, got);
      } else if (way < 0.7 || p.path.includes('/')) {
        got = Buffer.concat(readMapped(n.map, (i) => client!.daxdev(i), 0, n.size));
      } else {
        // The client's mount: its logplay, LOOKUP and READ (file-io.ts readMapped underneath).
        clientFs ??= new FamfsFileSystem(client, quiet);
        clientFs.logplay();
        const e = clientFs.lookup(ctx, ROOT_ID, p.path);
        got = Buffer.concat(clientFs.read(ctx, e.nodeid, 0, 0, n.size + 100));
      }
      if (!got.equals(p.bytes)) {
        let at = 0;
        while (got[at] === p.bytes[at]) at++;
        violate('stale-data', `${p.path}: byte ${at} of ${n.size} differs from what the master wrote (written by ${p.how}, read by ${reader})`);
      }
    }
    // Sometimes read a file that is logged but not yet published: its lines then sit in
    // the client's cache, and only an invalidate keeps them from being read later.
    const unpublished = [...truth.logged.keys()].filter((k) => !published.some((p) => p.path === k));
    const u = unpublished[Math.floor(rnd() * unpublished.length)];
    const un = u === undefined ? undefined : client.lookup(u);
    if (un?.kind === 'file') client.read(un, 0, Buffer.alloc(Math.min(un.size, 4096)));
  };
  const cOps: (() => void)[] = [];
  for (let k = 0; k < 2 + nfiles * 2; k++) cOps.push(check);

  // --- the scheduler
  const actors: Actor[] = [{ name: 'master', ops: mOps, running: false }, { name: 'client', ops: cOps, running: false }];
  let nested = 0;
  const run = (a: Actor): void => {
    const op = a.ops.shift();
    if (!op) return;
    a.running = true;
    try {
      op();
    } finally {
      a.running = false;
    }
  };
  const switchRate = o.switchRate ?? 0.01;
  mem.onStep = (host) => {
    if (rnd() >= switchRate) return;
    const other = actors.find((a) => a.name !== host.name)!;
    if (other.running || other.ops.length === 0) return;
    nested++;
    run(other);
  };
  while (actors.some((a) => a.ops.length)) {
    const ready = actors.filter((a) => a.ops.length);
    run(ready[Math.floor(rnd() * ready.length)]!);
  }
  // The last word: everything was published before this replay.
  mem.onStep = undefined;
  check();
  for (const n of observed) {
    const t = truth.logged.get(n.path);
    if (n.kind === 'dir') {
      if (t !== 'dir') violate('phantom-file', `${n.path}: a directory the master never logged`);
    } else if (!t || t === 'dir' || t.size !== n.size || !sameMap(t.map, n.map)) {
      violate('phantom-file', `${n.path}: size ${n.size}, map ${JSON.stringify(n.map)} differs from what the master logged`);
    }
  }
  return { violations, steps: mem.steps, nested, clientChecks: checks, entriesSeen: client?.header.nextIndex ?? 0, master: mHost, client: cHost };
}
