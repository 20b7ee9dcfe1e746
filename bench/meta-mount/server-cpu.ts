// The server's own cost of one create and of a listing, with no kernel and no client: the
// requests the kernel sends for `open(O_CREAT|O_EXCL)`, a 4 KiB write and close (GETATTR
// of the directory, LOOKUP, CREATE, GETXATTR security.capability unless the CREATE reply
// opened the file FOPEN_DIRECT_IO, WRITE, FLUSH, RELEASE)
// are built in memory and handed to the famfs file system's Dispatcher, whose replies are
// dropped. What the mount adds on top is the two system calls per request (read, writev)
// and the kernel's work. bench/meta-mount/README.md.
//   node dist/bench/meta-mount/server-cpu.js [N=20000] [ROUNDS=5]   (env SETTLE=ms, STATS=0)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MappedDevice } from '../../src/device/memory.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { FamfsFileSystem } from '../../src/server/famfs-fs.js';
import { Dispatcher } from '../../src/fuse/dispatcher.js';
import { mainline } from '../../src/fuse/abi.js';
import { Fopen, Op } from '../../src/fuse/opcodes.js';
import { OpStats } from '../../src/fuse/op-stats.js';
import { CreateIn, FlushIn, GetattrIn, GetxattrIn, InHeader, ReadIn, ReleaseIn, WriteIn, OpenIn } from '../../src/fuse/structs.js';

const N = Number(process.argv[2] ?? 20000);
const ROUNDS = Number(process.argv[3] ?? 5);
const LISTS = Math.max(1, Number(process.env.LISTS ?? 1));
// The READDIR size: a page, as kernels before 6.16 asked; later ones ask for the reader's
// getdents buffer (glibc: 32 KiB), up to max_pages (fs/fuse/readdir.c fuse_readdir_uncached).
const LIST_SIZE = Number(process.env.LIST_SIZE ?? 4096);
const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const dir = fs.mkdtempSync(path.join(base, 'famfs-ts-server-cpu-'));
const sys = Uint8Array.from({ length: 16 }, (_, i) => 0xb0 + i);

let unique = 1n;
function msg(opcode: number, nodeid: number, body: readonly Buffer[]): Buffer {
  const len = InHeader.size + body.reduce((s, b) => s + b.length, 0);
  const h = InHeader.encode({ len, opcode, unique: (unique += 2n), nodeid: BigInt(nodeid), uid: 0, gid: 0, pid: 1 });
  return Buffer.concat([h, ...body]);
}
const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

try {
  const files = N * (ROUNDS + 1);
  const dev = path.join(dir, 'dax');
  fs.writeFileSync(dev, '');
  fs.truncateSync(dev, (files * 2 + 256) * 2 ** 20);
  const logLen = 2 ** Math.ceil(Math.log2(Math.max(8, Math.ceil((files + 100) / 1928)))) * 2 ** 20;
  const m = MappedDevice.open(dev);
  try {
    mkfs(m, { devPath: dev, systemUuid: sys, force: true, logLen });
  } finally {
    m.close();
  }
  const image = FamfsImage.open({ device: dev, writable: true, systemUuid: sys });
  const famfs = new FamfsFileSystem(image, { device: dev, settleMs: Number(process.env.SETTLE ?? 0) });
  let replies = 0;
  let errors = 0;
  // The mount's session counts every request in an OpStats table (its timing included);
  // STATS=0 leaves it out, as this bench did before it was added.
  const stats = process.env.STATS === '0' ? undefined : new OpStats();
  const d = new Dispatcher(famfs, { limits: { maxWrite: 1 << 20, maxPagesLimit: 256, pageSize: 4096, maxBackground: 12 }, stats }, (iov) => {
    replies++;
    if (iov[0]!.readInt32LE(4) !== 0) errors++;
  });
  d.adopt({ minor: 45, profile: 'mainline', maxWrite: 1 << 20, maxReadahead: 1 << 20, flags: 0n }, mainline);
  famfs.init({ minor: 45, profile: 'mainline', maxWrite: 1 << 20, maxReadahead: 1 << 20, flags: 0n });
  const data = Buffer.alloc(4096, 7);
  const getattr = GetattrIn.encode({ getattr_flags: 0, fh: 0n });
  const xattr = Buffer.concat([GetxattrIn.encode({ size: 0 }), cstr('security.capability')]);

  const round = (r: number): { create: number; createCpu: number; list: number; listPlus: number; requests: number } => {
    const dname = `r${r}`;
    const mk = msg(Op.MKDIR, 1, [Buffer.from([0xed, 0x01, 0, 0, 0x12, 0, 0, 0]), cstr(dname)]);
    let dirId = 0;
    d.dispatch(mk, (iov) => (dirId = Number(iov[1]!.readBigUInt64LE(0))));
    // Messages are built before the clock starts; those naming the new file's nodeid and file
    // handle are patched in place (the handlers keep no view of a message).
    const names = Array.from({ length: N }, (_, i) => cstr(`f${String(i).padStart(7, '0')}`));
    const getattrs = names.map(() => msg(Op.GETATTR, dirId, [getattr]));
    const lookups = names.map((name) => msg(Op.LOOKUP, dirId, [name]));
    const creates = names.map((name) => msg(Op.CREATE, dirId, [CreateIn.encode({ flags: 0o100301, mode: 0o100644, umask: 0o22, open_flags: 0 }), name]));
    const xattrMsg = msg(Op.GETXATTR, 0, [xattr]);
    const writeMsg = msg(Op.WRITE, 0, [WriteIn.encode({ fh: 0n, offset: 0n, size: 4096, write_flags: 0, lock_owner: 0n, flags: 0 }), data]);
    const flushMsg = msg(Op.FLUSH, 0, [FlushIn.encode({ fh: 0n, unused: 0, padding: 0, lock_owner: 0n })]);
    const releaseMsg = msg(Op.RELEASE, 0, [ReleaseIn.encode({ fh: 0n, flags: 0, release_flags: 0, lock_owner: 0n })]);
    const NODEID_AT = InHeader.offsetOf('nodeid');
    let nodeid = 0;
    let fh = 0n;
    // A file the CREATE reply opened FOPEN_DIRECT_IO is written by the kernel's direct path,
    // which sends no GETXATTR security.capability first (famfs-fs.ts create).
    let direct = false;
    const created = (iov: readonly Buffer[]): void => {
      replies++;
      nodeid = Number(iov[1]!.readBigUInt64LE(0));
      fh = iov[2]!.readBigUInt64LE(0);
      direct = (iov[2]!.readUInt32LE(8) & Fopen.DIRECT_IO) !== 0;
    };
    const to = (m: Buffer, withFh: boolean): Buffer => {
      m.writeBigUInt64LE(BigInt(nodeid), NODEID_AT);
      if (withFh) m.writeBigUInt64LE(fh, InHeader.size);
      return m;
    };
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      d.dispatch(getattrs[i]!);
      d.dispatch(lookups[i]!);
      d.dispatch(creates[i]!, created);
      if (!direct) d.dispatch(to(xattrMsg, false));
      d.dispatch(to(writeMsg, true));
      d.dispatch(to(flushMsg, true));
      d.dispatch(to(releaseMsg, true));
    }
    const cpu = process.cpuUsage(c0);
    const t1 = process.hrtime.bigint();
    const list = (plus: boolean): number => {
      const s = process.hrtime.bigint();
      let fh = 0n;
      d.dispatch(msg(Op.OPENDIR, dirId, [OpenIn.encode({ flags: 0, open_flags: 0 })]), (iov) => {
        fh = iov[1]!.readBigUInt64LE(0);
      });
      let offset = 0n;
      for (;;) {
        let got = 0;
        let last = offset;
        d.dispatch(msg(plus ? Op.READDIRPLUS : Op.READDIR, dirId, [ReadIn.encode({ fh, offset, size: LIST_SIZE, read_flags: 0, lock_owner: 0n, flags: 0 })]), (iov) => {
          const b = iov[1];
          if (!b) return;
          // Walk the records for the last offset.
          let at = 0;
          while (at < b.length) {
            const dirent = plus ? at + 128 : at;
            last = b.readBigUInt64LE(dirent + 8);
            const namelen = b.readUInt32LE(dirent + 16);
            at += ((plus ? 152 : 24) + namelen + 7) & ~7;
            got++;
          }
        });
        if (got === 0) break;
        offset = last;
      }
      return Number(process.hrtime.bigint() - s) / 1e6;
    };
    // LISTS=k lists k times each way and keeps the median (the first listing of a process
    // runs before V8 has compiled the path; one listing is too short to time alone).
    const med = (plus: boolean): number => {
      const t = Array.from({ length: LISTS }, () => list(plus)).sort((a, b) => a - b);
      return t[Math.floor(t.length / 2)]!;
    };
    const listPlus = med(true);
    const listPlain = med(false);
    return { create: Number(t1 - t0) / 1e3 / N, createCpu: (cpu.user + cpu.system) / N, list: listPlain, listPlus, requests: direct ? 6 : 7 };
  };
  console.log(`server-cpu: ${N} creates per round through the Dispatcher, no kernel (node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})`);
  for (let r = 0; r < ROUNDS; r++) {
    const x = round(r);
    console.log(`round ${r + 1}: create ${x.create.toFixed(1)} µs/file wall, ${x.createCpu.toFixed(1)} µs CPU (${x.requests} requests), READDIRPLUS of ${N}: ${x.listPlus.toFixed(2)} ms, READDIR: ${x.list.toFixed(2)} ms${LISTS > 1 ? ` (median of ${LISTS}, ${LIST_SIZE}-byte requests)` : ''}`);
  }
  console.log(`replies ${replies}, errors ${errors} (LOOKUP ENOENT, and GETXATTR ENODATA where the file was not opened direct)`);
  image.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
