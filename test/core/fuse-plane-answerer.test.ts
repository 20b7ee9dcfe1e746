// Tier 1: a serving thread's direct READ/WRITE answer (data-plane.ts PlaneAnswerer) is the
// Dispatcher's answer, byte for byte, for well-formed and malformed READ/WRITE messages alike,
// and a plain READ or WRITE really takes the direct path (no Dispatcher call).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import os from 'node:os';
import { PlaneAnswerer, wordsOver, type DataPlane } from '../../src/fuse/data-plane.js';
import { Dispatcher } from '../../src/fuse/dispatcher.js';
import { FuseError, type ConnectionInfo, type FileSystem } from '../../src/fuse/filesystem.js';
import { Op } from '../../src/fuse/opcodes.js';
import { InHeader, ReadIn, WriteIn } from '../../src/fuse/structs.js';
import { scaled } from '../support/scale.js';

const SIZE = 1 << 16;

/** Owns nodeids 2 (one view per READ), 3 (three views, one past what was asked) and 4 (throws). */
class TestPlane implements DataPlane {
  readonly bytes = Buffer.alloc(SIZE);
  constructor() {
    for (let i = 0; i < SIZE; i++) this.bytes[i] = (i * 7 + 3) & 0xff;
  }
  owns(nodeid: number): boolean {
    return nodeid >= 2 && nodeid <= 4;
  }
  read(_ctx: unknown, nodeid: number, _fh: number, offset: number, size: number): Buffer[] {
    if (nodeid === 4) throw new FuseError(os.constants.errno.EROFS, 'nodeid 4 refuses');
    const end = Math.min(SIZE, offset + size);
    if (offset >= end) return [];
    if (nodeid === 2) return [this.bytes.subarray(offset, end)];
    const mid = offset + ((end - offset) >> 1);
    return [this.bytes.subarray(offset, mid), Buffer.alloc(0), this.bytes.subarray(mid, Math.min(SIZE, end + 16))];
  }
  write(_ctx: unknown, nodeid: number, fh: number, offset: number, data: Buffer): number {
    if (nodeid === 4) throw new Error('no errno here');
    if (offset + data.length > SIZE) throw new FuseError(os.constants.errno.EFBIG, 'past the end');
    data.copy(this.bytes, offset);
    return fh === 9 ? data.length + 1 : data.length; // fh 9: a plane that answers nonsense
  }
  update(): void {}
}

const conn: ConnectionInfo = { minor: 45, maxWrite: 1 << 20, flags: 0n } as ConnectionInfo;
const limits = { maxWrite: 1 << 20, maxPagesLimit: 256, pageSize: 4096, maxBackground: 64 };

function side(): { plane: TestPlane; sent: Buffer[]; dispatcher: Dispatcher; calls: { n: number } } {
  const plane = new TestPlane();
  const sent: Buffer[] = [];
  const dispatcher = new Dispatcher(plane as unknown as FileSystem, { limits, log: () => {} }, (iov) => sent.push(Buffer.concat(iov)));
  dispatcher.adopt(conn);
  const calls = { n: 0 };
  const dispatch = dispatcher.dispatch.bind(dispatcher);
  dispatcher.dispatch = (msg, send) => {
    calls.n++;
    return dispatch(msg, send);
  };
  return { plane, sent, dispatcher, calls };
}

function message(opcode: number, unique: bigint, nodeid: bigint, fh: bigint, offset: bigint, size: number, data: Buffer, extlen = 0): Buffer {
  const args = opcode === Op.READ
    ? ReadIn.encode({ fh, offset, size })
    : Buffer.concat([WriteIn.encode({ fh, offset, size }), data]);
  const ext = Buffer.alloc(extlen * 8);
  const head = InHeader.encode({ len: InHeader.size + args.length + ext.length, opcode, unique, nodeid, total_extlen: extlen });
  return Buffer.concat([head, args, ext]);
}

describe('PlaneAnswerer', () => {
  it('takes a plain READ and WRITE of an owned nodeid without the Dispatcher, with its reply', () => {
    const a = side();
    const b = side();
    const answerer = new PlaneAnswerer(a.plane, a.dispatcher, conn, undefined, false);
    for (const [i, msg] of [
      message(Op.READ, 7n, 2n, 1n, 4096n, 4096, Buffer.alloc(0)),
      message(Op.READ, 8n, 3n, 1n, 100n, 300, Buffer.alloc(0)),
      message(Op.WRITE, 9n, 2n, 1n, 10n, 5, Buffer.from('hello')),
    ].entries()) {
      // The last one with its place in the words given (as a ring thread does), not read off the Buffer.
      const at = i === 2 ? msg.byteOffset >>> 2 : -1;
      expect(answerer.answer(msg, (iov) => a.sent.push(Buffer.concat(iov)), wordsOver(msg), at)).toBe(true);
      void b.dispatcher.dispatch(msg);
    }
    expect(a.calls.n).toBe(0);
    expect(a.sent.length).toBe(3);
    expect(a.sent.map((r) => r.toString('hex'))).toEqual(b.sent.map((r) => r.toString('hex')));
    expect(a.plane.bytes.equals(b.plane.bytes)).toBe(true);
    // Without the words of its buffer, or at an offset not a multiple of 4: the Dispatcher's path.
    const plain = message(Op.READ, 12n, 2n, 1n, 0n, 16, Buffer.alloc(0));
    const odd = Buffer.alloc(plain.length + 1).subarray(1);
    plain.copy(odd);
    expect(answerer.answer(plain, (iov) => a.sent.push(Buffer.concat(iov)))).toBe(true);
    expect(answerer.answer(odd, (iov) => a.sent.push(Buffer.concat(iov)), wordsOver(Buffer.from(odd.buffer)))).toBe(true);
    expect(a.calls.n).toBe(2);
    expect(a.sent[3]!.equals(a.sent[4]!)).toBe(true);
    // Not the plane's: left for the main thread.
    expect(answerer.answer(message(Op.READ, 10n, 5n, 1n, 0n, 10, Buffer.alloc(0)), () => {})).toBe(false);
    expect(answerer.answer(message(Op.GETATTR, 11n, 2n, 0n, 0n, 0, Buffer.alloc(0)), () => {})).toBe(false);
    // The same read through a word view of the message (a ring thread's arena).
    for (const m of [message(Op.READ, 12n, 5n, 1n, 0n, 10, Buffer.alloc(0)), message(Op.GETATTR, 13n, 2n, 0n, 0n, 0, Buffer.alloc(0)),
      message(Op.WRITE, 14n, 2n ** 40n + 2n, 1n, 0n, 1, Buffer.from('x'))]) {
      expect(answerer.answer(m, () => {}, wordsOver(m))).toBe(false);
    }
  });

  it('answers any READ/WRITE message exactly as the Dispatcher does', () => {
    const a = side();
    const b = side();
    const answerer = new PlaneAnswerer(a.plane, a.dispatcher, conn, undefined, false);
    const u64 = fc.oneof(fc.bigInt({ min: 0n, max: BigInt(SIZE + 100) }), fc.constant(1n << 53n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
    const m = fc.record({
      read: fc.boolean(),
      unique: fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
      nodeid: fc.constantFrom(2n, 3n, 4n),
      fh: fc.oneof(fc.constantFrom(1n, 9n), u64),
      offset: u64,
      size: fc.oneof(fc.nat(SIZE + 64), fc.constant(0xffffffff)),
      data: fc.uint8Array({ maxLength: 300 }),
      extlen: fc.oneof(fc.constant(0), fc.nat(3)),
      lenDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -48, max: 48 })),
      sizeDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -3, max: 3 })),
      shift: fc.constantFrom(0, 0, 1, 2, 4),
    });
    fc.assert(fc.property(m, (x) => {
      const data = Buffer.from(x.data);
      const size = x.read ? x.size : Math.max(0, data.length + x.sizeDelta);
      const msg = message(x.read ? Op.READ : Op.WRITE, x.unique, x.nodeid, x.fh, x.offset, size, data, x.extlen);
      msg.writeUInt32LE(Math.max(0, msg.length + x.lenDelta), 0);
      // The message `shift` bytes into a buffer of its own, as a serving thread reads it.
      const under = Buffer.alloc(msg.length + x.shift);
      const placed = under.subarray(x.shift);
      msg.copy(placed);
      a.sent.length = 0;
      b.sent.length = 0;
      expect(answerer.answer(placed, (iov) => a.sent.push(Buffer.concat(iov)), wordsOver(under))).toBe(true);
      void b.dispatcher.dispatch(msg);
      expect(a.sent.length).toBe(b.sent.length);
      expect(Buffer.concat(a.sent).equals(Buffer.concat(b.sent))).toBe(true);
    }), { numRuns: scaled(5_000, 300) });
    expect(a.plane.bytes.equals(b.plane.bytes)).toBe(true);
  });
});
