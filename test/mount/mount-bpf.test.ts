// `famfs-ts mount --bpf`.
// Tier 3: the real mount (child process over /dev/fd/N) on this kernel, which has no fuse
// struct_ops type: it logs the plain reason once and keeps answering GET_FMAP / IOMAP_BEGIN
// in user space (player cases checked against device stamps).
// Tier 2 (root, bpf(2)): the mount's OPEN/CREATE/FALLOCATE hooks fill a real BPF hash map the
// way a registered resolver's layout map is filled (registration handed in, as the kernel
// here cannot register one), and the generic resolver program, loaded by the kernel and
// test-run on that very map, answers exactly what resolve() says for every file opened.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUuid } from '../../src/famfs/uuid.js';
import { encodeGenericValue } from '../../src/bpf-policy/generic-program.js';
import { GenericLayoutMap, kernelRunner, loadResolver, type Registration } from '../../src/bpf-policy/kernel.js';
import { emitGenericProgram } from '../../src/bpf-policy/program.js';
import type { Answer } from '../../src/bpf-policy/shell-runs.js';
import { Op } from '../../src/fuse/opcodes.js';
import { IOMAP_73 } from '../../src/mapping/series.js';
import { checkReplyFrame } from '../support/kernel-rules.js';
import { CreateIn, EntryOut, FallocateIn, InitIn, OpenIn, OpenOut } from '../../src/fuse/structs.js';
import { type FileMap } from '../../src/interleave/filemap.js';
import { FamfsMount } from '../../src/server/serve.js';
import { bpfUnavailable } from '../../src/sys/bpf.js';
import { seqpacketPair } from '../support/sockets.js';
import { ChildMount } from '../support/mount-channel.js';
import { KERNEL_FLAGS, PlayerChannel, play, type KernelFlavour } from '../support/kernel-player.js';
import { MiB, Rng } from '../support/kernel-player-maps.js';
import { describeTier2 } from '../support/tier.js';
import { makeStampedImage, stripedOpts, type StampedFile } from '../support/stamped-image.js';
import { must, mountUnavailable, Scratch } from '../support/mount-harness.js';
import { expected } from '../bpf-support.js';

const DIR = fs.mkdtempSync('/dev/shm/famfs-ts-mount-bpf-');
const DEV = path.join(DIR, 'dev0');
const UUID_FILE = path.join(DIR, 'master.uuid');
const master = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const files: StampedFile[] = [];

beforeAll(() => {
  fs.writeFileSync(UUID_FILE, `${formatUuid(master)}\n`);
  files.push(...makeStampedImage({
    device: DEV, deviceSize: 2 * 2 ** 30, systemUuid: master, files: 6, seed: 77,
    place: (i, rng) => ({ size: rng.spread(26), opts: i % 2 ? stripedOpts(i, rng.int(2, 6), 2 * MiB) : {} }),
  }));
});

afterAll(() => {
  fs.rmSync(DIR, { recursive: true, force: true });
});

describe('famfs-ts mount --bpf where the kernel has no fuse struct_ops', () => {
  for (const [flavour, ops] of [['famfs-v10', 'fuse_bpf_ops'], ['iomap', 'fuse_iomap_bpf_ops']] as [KernelFlavour, string][]) {
    it(`${flavour}: logs why ${ops} is not registered and answers in user space`, async () => {
      const m = ChildMount.start(DEV, ['--abi', flavour, '--bpf', '--system-uuid', UUID_FILE]);
      try {
        const s = await play({
          flavour, cases: 1000, seed: 5, channel: { fd: m.fd, profile: () => m.profile() },
          target: { files, devicePaths: [DEV], logLines: [], close: () => undefined },
        });
        expect(s.stampsChecked).toBeGreaterThan(900);
        const line = await m.waitLog(new RegExp(`bpf: resolver not registered \\(${ops}\\): [^\\n]+; answering mappings in user space`));
        // The reason is the plain one from the kernel's BTF (or the failing step), not a stack trace.
        expect(line).not.toMatch(/\n|at .*\.js/);
        expect(m.log().match(/bpf: /g)).toHaveLength(1);
      } catch (e) {
        throw new Error(`${(e as Error).message}\nserver log:\n${m.log()}`);
      } finally {
        expect(await m.stop()).toBe(0);
      }
    }, 60_000);
  }
});

const same = (a: Answer, b: Answer) => JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) === JSON.stringify(b, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

describeTier2('mount --bpf fills the resolver\'s layout map at OPEN (real BPF map and program)', () => bpfUnavailable(), () => {
  it('the kernel-run generic resolver answers resolve() for every opened and every created file', async () => {
    const layouts = new GenericLayoutMap(64);
    let closed = false;
    const reg: Registration = { registered: true, layouts, linkFd: -1, close: () => { closed = true; layouts.close(); } };
    const [kernelFd, serverFd] = seqpacketPair();
    const log: string[] = [];
    const mount = FamfsMount.start({
      source: DEV, mountpoint: `/dev/fd/${serverFd}`, systemUuid: UUID_FILE, abi: 'iomap', bpf: true, readers: 1,
      bpfRegister: (o) => {
        expect(o.flavor).toBe('fuse_iomap_bpf_ops');
        expect(o.fuseFd).toBe(serverFd);
        return reg;
      },
      log: (l) => log.push(l),
    });
    const prog = loadResolver(emitGenericProgram(layouts.fd, 'syscall'));
    try {
      const ch = new PlayerChannel(kernelFd);
      const call = async (op: number, nodeid: number, payload: Buffer, size: number) => {
        const r = await ch.call(op, nodeid, payload);
        return checkReplyFrame(r.msg, r.unique, { size });
      };
      const offered = KERNEL_FLAGS | IOMAP_73.initBit;
      expect((await call(Op.INIT, 0, InitIn.encode({ major: 7, minor: IOMAP_73.minor, max_readahead: 1 << 17, flags: Number(offered & 0xffffffffn), flags2: Number(offered >> 32n) }), 64)).error).toBe(0);
      await mount.ready;
      expect(log.join('\n')).toMatch(/bpf: fuse_iomap_bpf_ops resolver registered/);
      const run = kernelRunner(prog);
      const rng = new Rng(11);
      const checkFile = (nodeid: number, map: FileMap) => {
        expect(layouts.get(nodeid)!.equals(encodeGenericValue(map))).toBe(true);
        for (let i = 0; i < 500; i++) {
          const pos = BigInt(i === 0 ? Math.max(0, map.size - 1) : i === 1 ? map.size : rng.int(0, map.size + 4096));
          const got = run(pos, BigInt(nodeid));
          const want = expected(map, pos);
          if (!same(got, want)) throw new Error(`nodeid ${nodeid} pos ${pos}: kernel ${JSON.stringify(got, (_k, v: unknown) => String(v))}, resolve ${JSON.stringify(want, (_k, v: unknown) => String(v))}`);
        }
      };
      // Nothing is in the map before OPEN: the program says "unknown nodeid".
      const first = await call(Op.LOOKUP, 1, Buffer.from('f0\0'), EntryOut.size);
      const n0 = Number(EntryOut.decode(first.payload).nodeid);
      expect(run(0n, BigInt(n0)).status).toBe(2);
      for (const f of files) {
        const l = await call(Op.LOOKUP, 1, Buffer.from(`${f.name}\0`), EntryOut.size);
        const nodeid = Number(EntryOut.decode(l.payload).nodeid);
        expect((await call(Op.OPEN, nodeid, OpenIn.encode({ flags: 0 }), OpenOut.size)).error).toBe(0);
        checkFile(nodeid, f.map);
      }
      // CREATE fills at once (size 0); FALLOCATE changes the map and the entry follows.
      const c = await call(Op.CREATE, 1, Buffer.concat([CreateIn.encode({ flags: 2 | 0o100, mode: 0o100644, umask: 0 }), Buffer.from('made\0')]), EntryOut.size + OpenOut.size);
      expect(c.error).toBe(0);
      const nodeid = Number(EntryOut.decode(c.payload).nodeid);
      expect(layouts.get(nodeid)).toBeDefined();
      expect(run(0n, BigInt(nodeid)).status).toBe(1);
      const fh = OpenOut.decode(c.payload, EntryOut.size).fh;
      expect((await call(Op.FALLOCATE, nodeid, FallocateIn.encode({ fh, offset: 0n, length: BigInt(11 * MiB + 3), mode: 0 }), 0)).error).toBe(0);
      const map = mount.fs.fileMap(nodeid)!;
      expect(map.size).toBe(11 * MiB + 3);
      checkFile(nodeid, map);
      fs.closeSync(kernelFd);
      await mount.done;
      expect(closed).toBe(true);
    } finally {
      prog.close();
      await mount.close();
    }
  }, 60_000);
});

describeTier2('famfs-ts mount --bpf on a real FUSE mount', mountUnavailable, () => {
  let sc: Scratch | undefined;
  afterAll(async () => {
    await sc?.cleanup();
  }, 60_000);

  it('logs why the resolver is not registered, and files go through the mount as usual', async () => {
    sc = new Scratch('bpf');
    const dev = sc.device('dev0', 512 * MiB);
    const mnt = sc.mountpoint('m');
    const server = await sc.serve(dev, mnt, ['--bpf']);
    const src = sc.path('src');
    must(`head -c ${3 * MiB + 17} /dev/urandom > ${src} && cp ${src} ${mnt}/f && cmp ${src} ${mnt}/f`);
    expect(server.log()).toMatch(/bpf: resolver not registered \(fuse_bpf_ops\): [^\n]+; answering mappings in user space/);
    await server.stop();
  }, 60_000);
});
