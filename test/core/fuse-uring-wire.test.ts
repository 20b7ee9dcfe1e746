// Tier 1: the pure part of FUSE over io_uring (src/fuse/uring-wire.ts, docs/reference/fuse-io-uring.md):
// struct sizes against the kernel's uapi, rebuilding a /dev/fuse message from a ring entry,
// packing a reply into one, the SQE command area, and the queue count from the CPU list.
import { describe, expect, it } from 'vitest';
import {
  assembleAt, assembleInPlace, copyCommitId, countCpuList, encodeCmdReq, FuseUringCmdReq, FuseUringEntInOut, FuseUringReqHeader, packReply, payloadSize, planRingThreads, slotLayout,
} from '../../src/fuse/uring-wire.js';
import { InHeader, InitOut, OutHeader, ReadIn, WriteIn } from '../../src/fuse/structs.js';
import { IoCqringOffsets, IoSqringOffsets, IoUringCqe, IoUringParams, IoUringRsrcUpdate, IoUringSqe } from '../../src/sys/uring.js';
import { InitFlag, Op } from '../../src/fuse/opcodes.js';
import { negotiateInit, type InitLimits } from '../../src/fuse/init.js';
import { mainline, type KernelInit } from '../../src/fuse/abi.js';

describe('fuse-io-uring structs', () => {
  it('have the uapi sizes', () => {
    expect(FuseUringEntInOut.size).toBe(32);
    expect(FuseUringReqHeader.size).toBe(288);
    expect(FuseUringReqHeader.offsetOf('op_in')).toBe(128);
    expect(FuseUringReqHeader.offsetOf('ring_ent_in_out')).toBe(256);
    expect(FuseUringCmdReq.size).toBe(24);
    expect(IoUringParams.size).toBe(120);
    expect(IoSqringOffsets.size).toBe(40);
    expect(IoCqringOffsets.size).toBe(40);
    expect(IoUringSqe.size).toBe(64);
    expect(IoUringCqe.size).toBe(16);
    expect(IoUringRsrcUpdate.size).toBe(16);
  });
});

/** A ring entry as the kernel leaves it: in header, op header in op_in, the rest in the payload. */
function fetched(opcode: number, unique: bigint, opIn: Buffer, payload: Buffer, layout = slotLayout(1 << 20)): { arena: Buffer; headers: Buffer } {
  const arena = Buffer.alloc(layout.stride);
  const headers = arena.subarray(layout.headers, layout.headers + FuseUringReqHeader.size);
  InHeader.encodeInto(headers, { len: InHeader.size + opIn.length + payload.length, opcode, unique, nodeid: 7n });
  opIn.copy(headers, 128);
  FuseUringEntInOut.encodeInto(headers, { commit_id: unique, payload_sz: payload.length }, 256);
  payload.copy(arena, layout.payload);
  return { arena, headers };
}

describe('assembleInPlace', () => {
  it('rebuilds a WRITE as read(2) would return it, in front of its payload', () => {
    const layout = slotLayout(1 << 20);
    const wi = WriteIn.encode({ fh: 3n, offset: 4096n, size: 5 });
    const { arena, headers } = fetched(Op.WRITE, 42n, wi, Buffer.from('hello'), layout);
    const msg = assembleInPlace(arena, 0, layout, headers);
    expect(msg.length).toBe(40 + 40 + 5);
    expect(InHeader.decode(msg).opcode).toBe(Op.WRITE);
    expect(InHeader.decode(msg).unique).toBe(42n);
    expect(msg.subarray(40, 80).equals(wi)).toBe(true);
    expect(msg.subarray(80).toString()).toBe('hello');
    // The payload is not copied: the message ends where the payload does.
    expect(msg.byteOffset + msg.length).toBe(arena.byteOffset + layout.payload + 5);
  });
  it('rebuilds a READ (no payload) and an op with no op header (its args all in the payload)', () => {
    const layout = slotLayout(1 << 20);
    const ri = ReadIn.encode({ fh: 1n, offset: 0n, size: 4096 });
    const r = fetched(Op.READ, 9n, ri, Buffer.alloc(0), layout);
    expect(assembleInPlace(r.arena, 0, layout, r.headers).subarray(40).equals(ri)).toBe(true);
    const l = fetched(Op.LOOKUP, 10n, Buffer.alloc(0), Buffer.from('name\0'), layout);
    expect(assembleInPlace(l.arena, 0, layout, l.headers).subarray(40).toString()).toBe('name\0');
  });
  it('assembleAt rebuilds the same message through a word view, by offsets', () => {
    const layout = slotLayout(1 << 20);
    const cases = [
      fetched(Op.READ, 9n, ReadIn.encode({ fh: 1n, offset: 0n, size: 4096 }), Buffer.alloc(0), layout),
      fetched(Op.WRITE, 10n, WriteIn.encode({ fh: 1n, offset: 8n, size: 5 }), Buffer.from('hello'), layout),
      fetched(Op.LOOKUP, 11n, Buffer.alloc(0), Buffer.from('name\0'), layout),
    ];
    for (const c of cases) {
      const want = Buffer.from(assembleInPlace(c.arena, 0, layout, c.headers));
      // The arena 8 bytes into a larger buffer: offsets count from the buffer's start.
      const big = Buffer.alloc(c.arena.length + 8);
      c.arena.copy(big, 8);
      const arena = big.subarray(8);
      const words = new Uint32Array(big.buffer, 0, big.buffer.byteLength >>> 2);
      const start = assembleAt(words, arena.byteOffset, 0, layout);
      // In front of the payload, which is not moved: the message ends where the payload does.
      const payloadSz = FuseUringEntInOut.decode(c.headers.subarray(256)).payload_sz;
      expect(start + want.length).toBe(layout.payload + payloadSz);
      expect(arena.subarray(start, start + want.length).equals(want)).toBe(true);
    }
  });
  it('assembleAt leaves an op header of odd length to assembleInPlace and refuses what does not fit', () => {
    const layout = slotLayout(8192);
    const odd = fetched(Op.READ, 1n, Buffer.alloc(6), Buffer.alloc(0), layout);
    const words = new Uint32Array(odd.arena.buffer, odd.arena.byteOffset, odd.arena.length >>> 2);
    expect(assembleAt(words, 0, 0, layout)).toBe(-1);
    expect(assembleInPlace(odd.arena, 0, layout, odd.headers).length).toBe(46);
    odd.headers.writeUInt32LE(40 + 200, 0);
    expect(() => assembleAt(words, 0, 0, layout)).toThrow(/does not fit/);
  });
  it('refuses lengths that do not add up', () => {
    const layout = slotLayout(8192);
    const { arena, headers } = fetched(Op.READ, 1n, Buffer.alloc(40), Buffer.alloc(0), layout);
    headers.writeUInt32LE(40 + 200, 0); // an op header past op_in's 128 bytes
    expect(() => assembleInPlace(arena, 0, layout, headers)).toThrow(/does not fit/);
    headers.writeUInt32LE(10, 0);
    expect(() => assembleInPlace(arena, 0, layout, headers)).toThrow(/does not fit/);
  });
});

describe('packReply', () => {
  it('puts the out header in in_out and the body in the payload, whatever the iov split', () => {
    const headers = Buffer.alloc(FuseUringReqHeader.size);
    const payload = Buffer.alloc(64);
    const head = OutHeader.encode({ len: 16 + 11, error: 0, unique: 77n });
    packReply([Buffer.concat([head, Buffer.from('abc')]), Buffer.from('defgh'), Buffer.from('ijk')], headers, payload);
    const unique = OutHeader.decode(headers).unique;
    expect(unique).toBe(77n);
    expect(OutHeader.decode(headers).len).toBe(27);
    expect(FuseUringEntInOut.decode(headers, 256).payload_sz).toBe(11);
    expect(payload.subarray(0, 11).toString()).toBe('abcdefghijk');
  });
  it('refuses a body larger than the payload buffer and a reply without header', () => {
    const headers = Buffer.alloc(FuseUringReqHeader.size);
    expect(() => packReply([OutHeader.encode({ len: 16 + 9, unique: 1n }), Buffer.alloc(9)], headers, Buffer.alloc(8))).toThrow(/payload buffer/);
    expect(() => packReply([Buffer.alloc(4)], headers, Buffer.alloc(8))).toThrow(/out header/);
  });
});

describe('commands and sizes', () => {
  it('encodes fuse_uring_cmd_req into the SQE command area', () => {
    const area = Buffer.alloc(80, 0xff);
    encodeCmdReq(area, 0, 1, 0x1234n);
    expect(FuseUringCmdReq.decode(area)).toMatchObject({ flags: 0n, commit_id: 0x1234n, qid: 1 });
  });
  it('copies a fetched entry\'s commit id into its COMMIT_AND_FETCH SQE as encodeCmdReq writes it', () => {
    const layout = slotLayout(1 << 20);
    const { arena } = fetched(Op.READ, 0x1234_5678_9abc_def0n, ReadIn.encode({ fh: 1n, offset: 0n, size: 4096 }), Buffer.alloc(0), layout);
    const sqe = Buffer.alloc(128);
    encodeCmdReq(sqe, 48, 3, 0n);
    copyCommitId(new Uint32Array(arena.buffer, arena.byteOffset, arena.length >>> 2), layout.headers, new Uint32Array(sqe.buffer, sqe.byteOffset, 32), 48);
    const want = Buffer.alloc(128);
    encodeCmdReq(want, 48, 3, 0x1234_5678_9abc_def0n);
    expect(sqe.equals(want)).toBe(true);
  });

  it('sizes payload buffers as the kernel demands and counts possible CPUs', () => {
    expect(payloadSize(262144, 64, 4096)).toBe(262144);
    expect(payloadSize(4096, 1, 4096)).toBe(8192);
    expect(countCpuList('0-1\n')).toBe(2);
    expect(countCpuList('0,2-5')).toBe(5);
    expect(countCpuList('0')).toBe(1);
    expect(() => countCpuList('x')).toThrow();
  });
});

describe('planRingThreads', () => {
  it('gives each queue to one thread, pinned to its queues\' CPUs, when there are no more threads than queues', () => {
    expect(planRingThreads(2, 2)).toEqual([{ qids: [0], cpus: [0] }, { qids: [1], cpus: [1] }]);
    expect(planRingThreads(5, 2)).toEqual([{ qids: [0, 2, 4], cpus: [0, 2, 4] }, { qids: [1, 3], cpus: [1, 3] }]);
    expect(planRingThreads(1, 1)).toEqual([{ qids: [0], cpus: [0] }]);
  });
  it('has every thread serve every queue, unpinned, when threads outnumber queues', () => {
    expect(planRingThreads(1, 2)).toEqual([{ qids: [0], cpus: [] }, { qids: [0], cpus: [] }]);
  });
  it('covers every queue exactly once', () => {
    for (const [q, n] of [[16, 8], [7, 3], [64, 8]] as const) {
      const all = planRingThreads(q, n).flatMap((p) => p.qids).sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: q }, (_, i) => i));
    }
  });
});

describe('INIT with the ring transport', () => {
  const limits: InitLimits = { maxWrite: 1 << 20, maxPagesLimit: 256, pageSize: 4096, maxBackground: 64 };
  const kernel = (flags: bigint): KernelInit => ({ major: 7, minor: 45, maxReadahead: 131072, flags, size: 64 });
  const offered = InitFlag.INIT_EXT | InitFlag.MAX_PAGES | InitFlag.OVER_IO_URING;
  it('agrees FUSE_OVER_IO_URING (flags2 bit 9) only when the session lifts the refusal', () => {
    expect(negotiateInit(kernel(offered), mainline, { ...limits, wantFlags: InitFlag.OVER_IO_URING }).conn.flags & InitFlag.OVER_IO_URING).toBe(0n);
    const r = negotiateInit(kernel(offered), mainline, { ...limits, wantFlags: InitFlag.OVER_IO_URING, allowFlags: InitFlag.OVER_IO_URING });
    expect(r.conn.flags & InitFlag.OVER_IO_URING).toBe(InitFlag.OVER_IO_URING);
    expect(InitOut.decode(r.body).flags2 & (1 << 9)).toBe(1 << 9);
  });
  it('does not agree what the kernel did not offer (enable_uring off)', () => {
    const r = negotiateInit(kernel(offered & ~InitFlag.OVER_IO_URING), mainline, { ...limits, wantFlags: InitFlag.OVER_IO_URING, allowFlags: InitFlag.OVER_IO_URING });
    expect(r.conn.flags & InitFlag.OVER_IO_URING).toBe(0n);
  });
});
