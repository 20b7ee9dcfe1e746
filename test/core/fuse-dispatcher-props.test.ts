// Tier 1 property test: the protocol core never throws on arbitrary bytes, answers each
// message at most once with a well-formed reply to the right unique, and stays silent for
// the ops the kernel expects no reply to. Complements the socketpair fuzz (fuse-fuzz).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Dispatcher } from '../../src/fuse/dispatcher.js';
import { Op, InitFlag } from '../../src/fuse/opcodes.js';
import { InHeader, InitIn, OutHeader } from '../../src/fuse/structs.js';
import { MemFs, patternFile } from '../support/fuse-memfs.js';
import { scaled } from '../support/scale.js';

const NO_REPLY = new Set<number>([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT, Op.NOTIFY_REPLY]);

describe('dispatcher properties', () => {
  it('any message: no throw, at most one well-formed reply to its unique, none for no-reply ops', async () => {
    const fs = new MemFs();
    fs.addFile(1, 'f', patternFile(1 << 16));
    const sent: Buffer[] = [];
    const d = new Dispatcher(fs, { limits: { maxWrite: 1 << 20, maxPagesLimit: 256, pageSize: 4096, maxBackground: 64 } },
      (iov) => sent.push(Buffer.concat(iov)));
    d.dispatch(Buffer.concat([InHeader.encode({ len: 104, opcode: Op.INIT, unique: 2n }),
      InitIn.encode({ major: 7, minor: 45, flags: Number(InitFlag.INIT_EXT | InitFlag.MAX_PAGES) })]));
    sent.length = 0;
    const opcodes = fc.oneof(fc.constantFrom(...Object.values(Op).filter((o) => o !== Op.DESTROY)), fc.nat(5000), fc.nat());
    const message = fc.record({
      opcode: opcodes,
      unique: fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }),
      nodeid: fc.oneof(fc.constantFrom(0n, 1n, 2n, 3n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      extlen: fc.oneof(fc.constant(0), fc.nat(0xffff)),
      body: fc.uint8Array({ maxLength: 200 }),
      lenDelta: fc.oneof(fc.constant(0), fc.integer({ min: -60, max: 60 })),
      cut: fc.oneof(fc.constant(-1), fc.nat(300)),
    });
    await fc.assert(fc.asyncProperty(message, async (m) => {
      if (m.opcode === Op.DESTROY) return;
      const full = Buffer.concat([InHeader.encode({ len: 0, opcode: m.opcode, unique: m.unique, nodeid: m.nodeid, total_extlen: m.extlen }), m.body]);
      full.writeUInt32LE(Math.max(0, full.length + m.lenDelta) >>> 0, 0);
      const msg = m.cut >= 0 && m.cut > 0 && m.cut < full.length ? full.subarray(0, m.cut) : full;
      sent.length = 0;
      await d.dispatch(msg);
      expect(sent.length).toBeLessThanOrEqual(1);
      if (msg.length >= 8 && NO_REPLY.has(msg.readUInt32LE(4))) expect(sent.length).toBe(0);
      if (msg.length < 16) expect(sent.length).toBe(0);
      for (const r of sent) {
        const h = OutHeader.decode(r);
        expect(h.len).toBe(r.length);
        expect(h.unique).toBe(m.unique);
        expect(h.error).toBeLessThanOrEqual(0);
        expect(h.error).toBeGreaterThan(-512);
        if (h.error !== 0) expect(r.length).toBe(16);
      }
    }), { numRuns: scaled(20_000, 500) });
    expect(d.isDestroyed).toBe(false);
  });
});
