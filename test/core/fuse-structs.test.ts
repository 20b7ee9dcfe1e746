// Tier 1: FUSE wire struct sizes pinned to the reference (fuse-iomap-abi.md §2, linux
// include/uapi/linux/fuse.h 7.45), golden bytes for the headers, and INIT negotiation.
import { describe, expect, it } from 'vitest';
import * as S from '../../src/fuse/structs.js';
import { decodeInitIn, negotiateInit, type InitLimits } from '../../src/fuse/init.js';
import { extendProfile, mainline, type KernelInit } from '../../src/fuse/abi.js';
import { InitFlag } from '../../src/fuse/opcodes.js';
import { defineOp } from '../../src/fuse/ops.js';

describe('FUSE struct sizes', () => {
  const sizes: [{ name: string; size: number }, number][] = [
    [S.InHeader, 40], [S.OutHeader, 16], [S.InitIn, 64], [S.InitOut, 64], [S.Attr, 88], [S.EntryOut, 128],
    [S.AttrOut, 104], [S.Kstatfs, 80], [S.ForgetIn, 8], [S.ForgetOne, 16], [S.BatchForgetIn, 8], [S.GetattrIn, 16],
    [S.MknodIn, 16], [S.MkdirIn, 8], [S.RenameIn, 8], [S.Rename2In, 16], [S.LinkIn, 8], [S.SetattrIn, 88],
    [S.OpenIn, 8], [S.CreateIn, 16], [S.OpenOut, 16], [S.ReleaseIn, 24], [S.FlushIn, 24], [S.ReadIn, 40],
    [S.WriteIn, 40], [S.WriteOut, 8], [S.FsyncIn, 16], [S.SetxattrIn, 16], [S.GetxattrIn, 8], [S.GetxattrOut, 8],
    [S.AccessIn, 8], [S.InterruptIn, 8], [S.FallocateIn, 32], [S.LseekIn, 24], [S.LseekOut, 8], [S.Dirent, 24],
    [S.NotifyInvalInodeOut, 24], [S.NotifyInvalEntryOut, 16], [S.NotifyDeleteOut, 24],
  ];
  for (const [s, n] of sizes) it(`${s.name} is ${n} bytes`, () => expect(s.size).toBe(n));

  it('field offsets that matter: attr.flags @84, init_out.flags2 @32, entry_out.attr @40, direntplus name @152', () => {
    expect(S.Attr.offsetOf('flags')).toBe(84);
    expect(S.InitOut.offsetOf('flags2')).toBe(32);
    expect(S.InitOut.offsetOf('max_pages')).toBe(28);
    expect(S.InitOut.offsetOf('request_timeout')).toBe(40);
    expect(S.ENTRY_OUT_ATTR_OFFSET).toBe(40);
    expect(S.ATTR_OUT_ATTR_OFFSET).toBe(16);
    expect(S.DIRENTPLUS_NAME_OFFSET).toBe(S.EntryOut.size + S.Dirent.size);
    expect(S.OpenOut.offsetOf('backing_id')).toBe(12);
  });

  it('in/out headers encode to the golden bytes', () => {
    const h = S.InHeader.encode({ len: 0x38, opcode: 3, unique: 0x1122334455667788n, nodeid: 1n, uid: 5, gid: 6, pid: 7, total_extlen: 2 });
    expect(h.toString('hex')).toBe('38000000030000008877665544332211010000000000000005000000060000000700000002000000');
    const o = S.OutHeader.encode({ len: 16, error: -2, unique: 4n });
    expect(o.toString('hex')).toBe('10000000feffffff0400000000000000');
  });
});

const limits: InitLimits = { maxWrite: 1 << 20, maxPagesLimit: 256, pageSize: 4096, maxBackground: 64 };
const offered = 0x73fffffbn | (0x5fdn << 32n); // what Linux 6.18 offers on this machine (docs/design.md)
const k = (o: Partial<KernelInit> = {}): KernelInit => ({ major: 7, minor: 45, maxReadahead: 131072, flags: offered, size: 64, ...o });

describe('INIT negotiation', () => {
  it('grants wanted ∩ offered, echoes INIT_EXT, 1 MiB max_write in 256 pages', () => {
    const r = negotiateInit(k(), mainline, limits);
    const out = S.InitOut.decode(r.body);
    const flags = BigInt(out.flags) | (BigInt(out.flags2) << 32n);
    expect(r.body.length).toBe(64);
    expect(flags & ~offered).toBe(0n);
    for (const f of [InitFlag.INIT_EXT, InitFlag.ASYNC_READ, InitFlag.BIG_WRITES, InitFlag.PARALLEL_DIROPS,
      InitFlag.DO_READDIRPLUS, InitFlag.MAX_PAGES]) expect(flags & f).toBe(f);
    for (const f of [InitFlag.SECURITY_CTX, InitFlag.CREATE_SUPP_GROUP, InitFlag.PASSTHROUGH, InitFlag.WRITEBACK_CACHE,
      InitFlag.SETXATTR_EXT]) expect(flags & f).toBe(0n);
    expect(out.max_write).toBe(1 << 20);
    expect(out.max_pages).toBe(256);
    expect(out.max_readahead).toBe(131072);
    expect(out.congestion_threshold).toBe(48);
    expect(r.conn.minor).toBe(45);
  });

  it('clamps max_write to max_pages_limit and caps at 32 pages without MAX_PAGES', () => {
    expect(negotiateInit(k(), mainline, { ...limits, maxPagesLimit: 64 }).conn.maxWrite).toBe(64 * 4096);
    const r = negotiateInit(k({ flags: offered & ~InitFlag.MAX_PAGES }), mainline, limits);
    expect(r.conn.maxWrite).toBe(32 * 4096);
    expect(S.InitOut.decode(r.body).max_pages).toBe(0);
  });

  it('ignores flags2 and sends none when the kernel lacks INIT_EXT', () => {
    const kin = Buffer.concat([S.InitIn.encode({ major: 7, minor: 45, flags: 0x1, flags2: 0xffff })]);
    const ki = decodeInitIn(kin);
    expect(ki.flags).toBe(1n);
    const out = S.InitOut.decode(negotiateInit(ki, mainline, limits).body);
    expect(out.flags2).toBe(0);
    expect(out.flags & Number(InitFlag.INIT_EXT)).toBe(0);
  });

  it('accepts a 16-byte init_in and cuts the reply for old minors', () => {
    const ki = decodeInitIn(S.InitIn.encode({ major: 7, minor: 22, flags: 1 }).subarray(0, 16));
    expect(ki.size).toBe(16);
    expect(negotiateInit(ki, mainline, limits).body.length).toBe(24);
    expect(negotiateInit({ ...ki, minor: 4 }, mainline, limits).body.length).toBe(8);
    expect(negotiateInit({ ...ki, minor: 44 }, mainline, limits).conn.minor).toBe(44);
    expect(() => decodeInitIn(Buffer.alloc(15))).toThrow(/16/);
  });

  it('answers a newer major with its version only', () => {
    const r = negotiateInit(k({ major: 8 }), mainline, limits);
    expect(r.versionOnly).toBe(true);
    expect(r.body.length).toBe(8);
    expect(() => negotiateInit(k({ major: 6 }), mainline, limits)).toThrow(/older than 7/);
  });

  it('a profile extension adds opcodes, flags and the last word on the reply', () => {
    const BIT43 = 1n << 43n;
    const ext = extendProfile(mainline, {
      name: 'test-ext',
      minor: 99,
      ops: [[4089, defineOp({ name: 'TEST_OP', decode: () => 0, handle: () => undefined })]],
      wantFlags: BIT43,
      adjustInit: (_k, reply) => {
        reply.mapAlignment = 21;
      },
    });
    expect(ext.ops.get(4089)?.name).toBe('TEST_OP');
    expect(ext.ops.get(1)?.name).toBe('LOOKUP');
    expect(mainline.ops.has(4089)).toBe(false);
    const r = negotiateInit(k({ flags: offered | BIT43 }), ext, limits);
    const out = S.InitOut.decode(r.body);
    expect(BigInt(out.flags2) & (BIT43 >> 32n)).toBe(BIT43 >> 32n);
    expect(out.minor).toBe(99);
    expect(out.map_alignment).toBe(21);
    expect(r.conn.minor).toBe(45);
    // Not offered by the kernel: not granted.
    expect(BigInt(S.InitOut.decode(negotiateInit(k(), ext, limits).body).flags2) & (BIT43 >> 32n)).toBe(0n);
  });
});
