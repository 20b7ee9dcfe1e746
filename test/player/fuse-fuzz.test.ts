// Tier 3: >= 100,000 malformed and hostile messages over the /dev/fd/N socketpair channel:
// truncated, wrong len, unknown opcodes, short arguments, unterminated names, offsets near
// 2^64, READ past EOF, huge sizes, bad nodeids, oversized extensions, garbage. Each case
// carries the answer the protocol demands (an errno, success, or no reply at all); the
// server must give exactly that, never crash, and still serve correct data afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import os from 'node:os';
import { cstr, parseEntry, startPlayedServer, ReplyTimeout, type PlayedServer } from '../support/fuse-player.js';
import { patternFile } from '../support/fuse-memfs.js';
import { Op } from '../../src/fuse/opcodes.js';
import {
  AccessIn, CreateIn, FallocateIn, FlushIn, FsyncIn, GetattrIn, GetxattrIn, InHeader, MkdirIn, OpenIn, ReadIn,
  ReleaseIn, SetattrIn, WriteIn,
} from '../../src/fuse/structs.js';

const E = os.constants.errno;
const CASES = 100_000;
const WINDOW = 256;
const BIG = 3 << 20;
const SEED = Number(process.env.FUSE_FUZZ_SEED ?? 0x5eed);

/** xorshift32: reproducible from SEED. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
  return {
    u32: next,
    int: (n: number) => next() % n,
    u64: () => (BigInt(next()) << 32n) | BigInt(next()),
    bytes: (n: number) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = next() & 0xff;
      return b;
    },
    pick: <T>(a: readonly T[]): T => a[next() % a.length]!,
  };
}

/** What the server must answer: an errno (0 = success, optionally checked) or nothing. */
type Expect = { reply: false } | { reply: true; error: number | 'any'; check?: (body: Buffer) => string | undefined };

const NO_REPLY_OPS: readonly number[] = [Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT, Op.NOTIFY_REPLY];
const KNOWN = new Set<number>([...Object.values(Op)]);

describeFuzz();

function describeFuzz(): void {
  describe('FUSE engine under 100,000 hostile messages (socketpair)', () => {
    let s: PlayedServer;
    let big = 0;
    let scratch = 0;
    let scratchFh = 0;
    const want = patternFile(BIG);

    beforeAll(async () => {
      // Two pool reads while idle: replies may come back out of order, as with a real kernel.
      s = await startPlayedServer(['--big', String(BIG)], 2);
      s.player.init();
      big = parseEntry(s.player.lookup(1, 'big').body, 0).nodeid;
      const c = s.player.create(1, 'scratch');
      scratch = c.entry.nodeid;
      scratchFh = c.fh;
    });
    afterAll(async () => {
      if (!s) return;
      const code = await s.stop();
      expect(s.stderr()).not.toMatch(/failed|TypeError|RangeError/);
      expect(code).toBe(0);
    });

    it(`answers every case as the protocol demands (seed ${SEED})`, () => {
      const r = rng(SEED);
      const p = s.player;
      const hdr = (opcode: number, unique: bigint, nodeid: bigint, len: number, extlen = 0) =>
        InHeader.encode({ len, opcode, unique, nodeid, uid: 0, gid: 0, pid: 1, total_extlen: extlen });
      const whole = (opcode: number, unique: bigint, nodeid: bigint, ...parts: Buffer[]) => {
        const len = 40 + parts.reduce((n, b) => n + b.length, 0);
        return Buffer.concat([hdr(opcode, unique, nodeid, len), ...parts]);
      };
      // Valid templates to damage: [opcode, nodeid, args].
      const templates = (): [number, bigint, Buffer[]][] => [
        [Op.LOOKUP, 1n, [cstr('big')]],
        [Op.GETATTR, BigInt(big), [GetattrIn.encode({})]],
        [Op.OPEN, BigInt(big), [OpenIn.encode({})]],
        [Op.READ, BigInt(big), [ReadIn.encode({ size: 4096 })]],
        [Op.WRITE, BigInt(scratch), [WriteIn.encode({ fh: BigInt(scratchFh), size: 5 }), Buffer.from('hello')]],
        [Op.GETXATTR, BigInt(big), [GetxattrIn.encode({ size: 0 }), cstr('user.x')]],
        [Op.STATFS, 1n, []],
        [Op.FORGET, BigInt(big), [Buffer.alloc(8)]],
        [Op.READDIRPLUS, 1n, [ReadIn.encode({ size: 4096 })]],
      ];
      // Fixed-size argument structs: anything shorter is EINVAL.
      const fixed: [number, number][] = [
        [Op.OPEN, OpenIn.size], [Op.READ, ReadIn.size], [Op.WRITE, WriteIn.size], [Op.SETATTR, SetattrIn.size],
        [Op.MKDIR, MkdirIn.size], [Op.CREATE, CreateIn.size], [Op.FSYNC, FsyncIn.size], [Op.FLUSH, FlushIn.size],
        [Op.RELEASE, ReleaseIn.size], [Op.ACCESS, AccessIn.size], [Op.FALLOCATE, FallocateIn.size],
        [Op.GETXATTR, GetxattrIn.size], [Op.LISTXATTR, GetxattrIn.size], [Op.READDIR, ReadIn.size], [Op.OPENDIR, OpenIn.size],
      ];
      const nameOps = [Op.LOOKUP, Op.UNLINK, Op.RMDIR, Op.REMOVEXATTR];
      const kinds = new Map<string, number>();

      const makeCase = (u: bigint): { msg: Buffer; expect: Expect; kind: string } => {
        const kind = r.int(13);
        switch (kind) {
          case 0: { // truncated
            const [op, n, parts] = r.pick(templates());
            const m = whole(op, u, n, ...parts);
            const cut = 1 + r.int(m.length - 1);
            const noReply = cut < 16 || (cut >= 8 && NO_REPLY_OPS.includes(op));
            return { kind: 'truncated', msg: m.subarray(0, cut), expect: noReply ? { reply: false } : { reply: true, error: -E.EINVAL } };
          }
          case 1: { // wrong len
            const [op, n, parts] = r.pick(templates());
            const m = whole(op, u, n, ...parts);
            let len = r.u32();
            if (len === m.length) len++;
            m.writeUInt32LE(len >>> 0, 0);
            return { kind: 'wrong-len', msg: m, expect: NO_REPLY_OPS.includes(op) ? { reply: false } : { reply: true, error: -E.EINVAL } };
          }
          case 2: { // unknown opcode
            let op: number;
            do op = r.int(3) === 0 ? r.u32() : r.int(5000);
            while (KNOWN.has(op));
            return { kind: 'unknown-op', msg: whole(op, u, 1n, r.bytes(r.int(64))), expect: { reply: true, error: -E.ENOSYS } };
          }
          case 3: { // short fixed arguments
            const [op, size] = r.pick(fixed);
            return { kind: 'short-args', msg: whole(op, u, BigInt(big), r.bytes(r.int(size))), expect: { reply: true, error: -E.EINVAL } };
          }
          case 4: { // a name with no NUL inside the message
            const name = Buffer.from(r.bytes(1 + r.int(40)).map((b) => b | 1));
            return { kind: 'unterminated-name', msg: whole(r.pick(nameOps), u, 1n, name), expect: { reply: true, error: -E.EINVAL } };
          }
          case 5: { // READ at an offset past 2^53 (up to 2^64 - 1)
            const off = (1n << 53n) + 1n + (r.u64() % ((1n << 64n) - (1n << 53n) - 1n));
            return { kind: 'read-huge-offset', msg: whole(Op.READ, u, BigInt(big), ReadIn.encode({ offset: off, size: 4096 })), expect: { reply: true, error: -E.EINVAL } };
          }
          case 6: { // READ past EOF but addressable: empty success
            const off = BIG + r.int(1 << 30) * 4096;
            return { kind: 'read-past-eof', msg: whole(Op.READ, u, BigInt(big), ReadIn.encode({ offset: BigInt(off), size: 1 + r.int(1 << 20) })), expect: { reply: true, error: 0, check: (b) => (b.length === 0 ? undefined : `${b.length} bytes past EOF`) } };
          }
          case 7: { // READ inside the file: exactly the bytes, clipped at EOF
            const off = r.int(BIG);
            const size = 1 + r.int(1 << 16);
            const exp = want.subarray(off, Math.min(BIG, off + size));
            return { kind: 'read-inside', msg: whole(Op.READ, u, BigInt(big), ReadIn.encode({ offset: BigInt(off), size })), expect: { reply: true, error: 0, check: (b) => (b.equals(exp) ? undefined : `wrong bytes at ${off}+${size}`) } };
          }
          case 8: { // WRITE: lying size, huge offset, beyond the test FS's 1 GiB limit, or fine
            const sub = r.int(4);
            const data = r.bytes(1 + r.int(256));
            if (sub === 0) {
              let size = r.u32();
              if (size === data.length) size++;
              return { kind: 'write-lying-size', msg: whole(Op.WRITE, u, BigInt(scratch), WriteIn.encode({ fh: BigInt(scratchFh), size: size >>> 0 }), data), expect: { reply: true, error: -E.EINVAL } };
            }
            if (sub === 1) {
              const off = (1n << 53n) + 1n + (r.u64() % (1n << 60n));
              return { kind: 'write-huge-offset', msg: whole(Op.WRITE, u, BigInt(scratch), WriteIn.encode({ fh: BigInt(scratchFh), offset: off, size: data.length }), data), expect: { reply: true, error: -E.EINVAL } };
            }
            if (sub === 2) {
              const off = BigInt(2 ** 31 + r.int(2 ** 30));
              return { kind: 'write-past-limit', msg: whole(Op.WRITE, u, BigInt(scratch), WriteIn.encode({ fh: BigInt(scratchFh), offset: off, size: data.length }), data), expect: { reply: true, error: -E.EFBIG } };
            }
            return { kind: 'write-ok', msg: whole(Op.WRITE, u, BigInt(scratch), WriteIn.encode({ fh: BigInt(scratchFh), offset: BigInt(r.int(65536)), size: data.length }), data), expect: { reply: true, error: 0, check: (b) => (b.length === 8 && b.readUInt32LE(0) === data.length ? undefined : 'bad write_out') } };
          }
          case 9: { // nodeids: past 2^53 (never ours) or unknown
            if (r.int(2) === 0) {
              const n = (1n << 53n) + 1n + (r.u64() % ((1n << 64n) - (1n << 53n) - 1n));
              return { kind: 'nodeid-huge', msg: whole(Op.GETATTR, u, n, GetattrIn.encode({})), expect: { reply: true, error: -E.EINVAL } };
            }
            const n = BigInt(1_000_000 + r.int(1 << 30));
            return { kind: 'nodeid-unknown', msg: whole(Op.GETATTR, u, n, GetattrIn.encode({})), expect: { reply: true, error: -E.ENOENT } };
          }
          case 10: { // extensions longer than the message
            const m = whole(Op.LOOKUP, u, 1n, cstr('big'));
            const ext = Math.floor((m.length - 40) / 8) + 1 + r.int(65000);
            m.writeUInt16LE(Math.min(ext, 0xffff), 36);
            return { kind: 'extlen-too-long', msg: m, expect: { reply: true, error: -E.EINVAL } };
          }
          case 11: { // READ / READDIR of an absurd size
            const op = r.pick([Op.READ, Op.READDIR, Op.READDIRPLUS]);
            return { kind: 'huge-size', msg: whole(op, u, op === Op.READ ? BigInt(big) : 1n, ReadIn.encode({ size: (256 << 20) + 1 + r.int(2 ** 31) })), expect: { reply: true, error: -E.EINVAL } };
          }
          default: { // garbage after a header we can track (never DESTROY: that would end the session)
            let op: number;
            do op = r.int(64);
            while (op === Op.DESTROY);
            const body = r.bytes(r.int(300));
            const m = Buffer.concat([hdr(op, u, r.u64(), 40 + body.length, r.int(3)), body]);
            return { kind: 'garbage', msg: m, expect: NO_REPLY_OPS.includes(op) ? { reply: false } : { reply: true, error: 'any' } };
          }
        }
      };

      const problems: string[] = [];
      let sent = 0;
      while (sent < CASES) {
        const pending = new Map<bigint, { expect: Expect; kind: string }>();
        const silent = new Map<bigint, string>();
        const n = Math.min(WINDOW, CASES - sent);
        for (let i = 0; i < n; i++) {
          const u = p.unique();
          const c = makeCase(u);
          kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
          if (c.expect.reply) pending.set(u, { expect: c.expect, kind: c.kind });
          else silent.set(u, c.kind);
          p.sendRaw(c.msg);
        }
        sent += n;
        // A sentinel: once it and every expected reply are back, nothing else is owed.
        const sentinel = p.send(Op.GETATTR, 1, [GetattrIn.encode({})]);
        pending.set(sentinel, { expect: { reply: true, error: 0 }, kind: 'sentinel' });
        while (pending.size > 0) {
          let rep;
          try {
            rep = p.recv();
          } catch (e) {
            if (e instanceof ReplyTimeout) {
              problems.push(`no reply for ${[...pending.values()].map((v) => v.kind).join(', ')}`);
              break;
            }
            throw e;
          }
          const c = pending.get(rep.unique);
          if (!c) {
            problems.push(`unexpected reply ${rep.unique} (${silent.get(rep.unique) ?? 'unknown unique'}) error ${rep.error}`);
            continue;
          }
          pending.delete(rep.unique);
          if (!c.expect.reply) continue;
          if (c.expect.error !== 'any' && rep.error !== c.expect.error) problems.push(`${c.kind}: error ${rep.error}, want ${c.expect.error}`);
          const bad = rep.error === 0 ? c.expect.check?.(rep.body) : undefined;
          if (bad) problems.push(`${c.kind}: ${bad}`);
        }
        if (problems.length > 20) break;
      }
      expect(problems).toEqual([]);
      expect(sent).toBeGreaterThanOrEqual(CASES);
      // Every kind was exercised many times.
      for (const [, count] of kinds) expect(count).toBeGreaterThan(CASES / 100);
      // Still serving, with the right bytes.
      const fh = p.open(big);
      expect(p.read(big, fh, 1 << 20, 1 << 20).body.equals(want.subarray(1 << 20, 2 << 20))).toBe(true);
    });
  });
}
