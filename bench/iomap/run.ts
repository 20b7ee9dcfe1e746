// bench/iomap: what the mapping protocols cost, measured against the READ path in the same
// run over the same kind of channel (the kernel-side player on a SOCK_SEQPACKET socketpair,
// server in-process, i.e. both on one Node thread plus libuv's pool):
//   - FUSE_IOMAP_BEGIN round trips per second (each reply validated with the kernel's rules),
//     and the bytes each reply maps;
//   - GET_FMAP round trips per second (famfs V10);
//   - READ round trips per second of 4 KiB and 128 KiB (mainline data path, device views);
//   - GET_FMAP encode time for a 1 TiB file striped over 16 strips in 2 MiB chunks, V10
//     (one interleaved extent) and unrolled (524,288 simple extents).
// Run: npx tsc -p . && node dist/bench/iomap/run.js [--seconds S] [--read-iops N]
// --read-iops: the famfs-ts 4 KiB random-read IOPS bench/datapath/run.sh printed (a real
// mount under fio), shown beside these rows for scale.
import { performance } from 'node:perf_hooks';
import { FuseSession } from '../../src/fuse/session.js';
import { InitIn, ReadIn } from '../../src/fuse/structs.js';
import { Op } from '../../src/fuse/opcodes.js';
import { encodeFmap, type FmapEncoding } from '../../src/mapping/famfs-fmap.js';
import { IOMAP_FLAGS_V7, iomapBeginIn } from '../../src/mapping/iomap-wire.js';
import { checkFmapReply, checkIomapBegin, checkReplyFrame } from '../../test/support/kernel-rules.js';
import { profileByName, type ProfileName } from '../../src/mapping/profiles.js';
import { FAMFS_V10, IOMAP_73 } from '../../src/mapping/series.js';
import { offeredFlags } from '../../test/support/kernel-inits.js';
import { seqpacketPair, setSocketBuffers } from '../../test/support/sockets.js';
import type { FileMap } from '../../src/interleave/filemap.js';
import { concurrently, FLAVOURS, KERNEL_FLAGS, PlayerChannel, PlayerFs, PlayerWorld, type KernelFlavour } from '../../test/support/kernel-player.js';
import { Rng } from '../../test/support/kernel-player-maps.js';

const MiB = 2 ** 20;
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const seconds = Number(opt('--seconds') ?? 2) || 2;
const readIops = opt('--read-iops') !== undefined ? Number(opt('--read-iops')) : undefined;

interface Served {
  ch: PlayerChannel;
  close(): Promise<void>;
}

async function serve(world: PlayerWorld, flavour: KernelFlavour): Promise<Served> {
  const [kernelFd, serverFd] = seqpacketPair();
  setSocketBuffers(kernelFd, 4 << 20);
  setSocketBuffers(serverFd, 4 << 20);
  const pfs = new PlayerFs(world);
  const session = FuseSession.mount(`/dev/fd/${serverFd}`, pfs, {
    profile: profileByName(flavour as ProfileName, { source: world }), readers: 2, handleSignals: false, log: () => {},
  });
  const ch = new PlayerChannel(kernelFd, 4 << 20);
  const offered = offeredFlags(FLAVOURS[flavour].init);
  const r = await ch.call(Op.INIT, 0, InitIn.encode({ major: 7, minor: FLAVOURS[flavour].init.minor, max_readahead: 1 << 20, flags: Number(offered & 0xffffffffn), flags2: Number(offered >> 32n) }));
  if (checkReplyFrame(r.msg, r.unique, { size: 64 }).error !== 0) throw new Error('INIT failed');
  return {
    ch,
    async close() {
      await session.close();
      pfs.close();
    },
  };
}

/** Requests per second over `seconds`, `width` in flight. */
async function rate(width: number, one: () => Promise<void>): Promise<number> {
  await concurrently(200, width, one); // warm up
  let n = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: width }, async () => {
    while (performance.now() < until) {
      await one();
      n++;
    }
  }));
  return n / ((performance.now() - t0) / 1000);
}

function ok(r: { unique: bigint; msg: Buffer }, size: number, variable = false): Buffer {
  const v = checkReplyFrame(r.msg, r.unique, { size, variable });
  if (v.error !== 0) throw new Error(`error ${v.error}`);
  return Buffer.from(v.payload);
}

async function main(): Promise<void> {
  const world = new PlayerWorld(42, 16, 1, 30);
  const big = world.files.filter((f) => f.map.size >= 64 * MiB);
  const files = big.length ? big : world.files.filter((f) => f.map.size > 0);
  const rng = new Rng(9);
  const rows: [string, number, number, string][] = [];
  try {
    // IOMAP_BEGIN
    {
      const s = await serve(world, 'iomap');
      let mapped = 0, replies = 0;
      const rules = { blockSize: 4096, maxBytes: Number.MAX_SAFE_INTEGER, flags: IOMAP_FLAGS_V7 };
      const one = async () => {
        const f = rng.pick(files);
        const pos = rng.int(0, f.map.size - 1);
        const r = await s.ch.call(IOMAP_73.opcodes.IOMAP_BEGIN, f.nodeid, iomapBeginIn.encode({ opflags: 0, attr_ino: BigInt(world.attrIno(f.nodeid)), pos: BigInt(pos), count: 4096n }));
        const v = checkIomapBegin(ok(r, 64), BigInt(pos), rules);
        mapped += Number(v.read.offset + v.read.length) - pos;
        replies++;
      };
      for (const w of [1, 8]) rows.push([`IOMAP_BEGIN (iomap)`, w, await rate(w, one), `${(mapped / replies / MiB).toFixed(2)} MiB mapped per reply`]);
      await s.close();
    }
    // GET_FMAP
    {
      const s = await serve(world, 'famfs-v10');
      const one = async () => {
        const f = rng.pick(files);
        const r = await s.ch.call(FAMFS_V10.opcodes.GET_FMAP, f.nodeid);
        const v = checkFmapReply(ok(r, 4096, true), { encoding: 'v10', buffer: 4096 });
        if (v.kind !== 'map') throw new Error('retry');
      };
      for (const w of [1, 8]) rows.push([`GET_FMAP (famfs-v10)`, w, await rate(w, one), 'whole file per reply']);
      await s.close();
    }
    // READ
    for (const size of [4096, 128 * 1024]) {
      const s = await serve(world, 'mainline');
      const one = async () => {
        const f = rng.pick(files);
        const pos = Math.floor(rng.int(0, f.map.size - size) / 4096) * 4096;
        const r = await s.ch.call(Op.READ, f.nodeid, ReadIn.encode({ fh: BigInt(f.nodeid), offset: BigInt(pos), size }));
        ok(r, size, true);
      };
      for (const w of [1, 8]) rows.push([`READ ${size / 1024} KiB (mainline)`, w, await rate(w, one), `${size / 1024} KiB per reply`]);
      await s.close();
    }
  } finally {
    world.cleanup();
  }

  const read1 = rows.find((r) => r[0].startsWith('READ 4') && r[1] === 1)![2];
  process.stdout.write(`\nround trips over a SOCK_SEQPACKET socketpair (${seconds}s each; server in-process)\n`);
  process.stdout.write(`${'request'.padEnd(24)} ${'in flight'.padStart(9)} ${'req/s'.padStart(10)} ${'vs READ 4K @1'.padStart(14)}  note\n`);
  for (const [name, w, rps, note] of rows) {
    process.stdout.write(`${name.padEnd(24)} ${String(w).padStart(9)} ${rps.toFixed(0).padStart(10)} ${(rps / read1).toFixed(2).padStart(13)}x  ${note}\n`);
  }
  if (readIops !== undefined && readIops > 0) {
    process.stdout.write(`${'READ 4 KiB (datapath)'.padEnd(24)} ${'fio'.padStart(9)} ${readIops.toFixed(0).padStart(10)} ${(readIops / read1).toFixed(2).padStart(13)}x  real mount, from bench/datapath\n`);
  } else {
    process.stdout.write('(add --read-iops N with the 4 KiB randread IOPS of bench/datapath/run.sh to compare with a real mount)\n');
  }

  // GET_FMAP encode time for 1 TiB striped over 16 strips in 2 MiB chunks.
  const TiB = 2 ** 40;
  const strips = Array.from({ length: 16 }, (_, i) => ({ daxdev: 0, offset: (i + 1) * 128 * 2 ** 30, length: TiB / 16 }));
  const map: FileMap = { size: TiB, extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: TiB, strips }] };
  process.stdout.write(`\nGET_FMAP encode, 1 TiB file, 16 strips, 2 MiB chunks\n`);
  process.stdout.write(`${'encoding'.padEnd(10)} ${'bytes'.padStart(10)} ${'extents'.padStart(8)} ${'encode ms'.padStart(10)} ${'kernel parse ms'.padStart(16)}\n`);
  for (const enc of ['v10', 'unrolled'] as FmapEncoding[]) {
    const reps = enc === 'v10' ? 2000 : 5;
    let msg = encodeFmap(map, { encoding: enc });
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      msg = encodeFmap(map, { encoding: enc });
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const t = performance.now();
    const v = checkFmapReply(msg, { encoding: enc, buffer: msg.byteLength });
    const parse = performance.now() - t;
    const n = v.kind === 'map' ? (enc === 'v10' ? v.map.interleave.length : v.map.simple.length) : 0;
    process.stdout.write(`${enc.padEnd(10)} ${String(msg.byteLength).padStart(10)} ${String(n).padStart(8)} ${times[times.length >> 1]!.toFixed(3).padStart(10)} ${parse.toFixed(3).padStart(16)}\n`);
  }
}

void main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`bench/iomap: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
