// Tier 1: every emitter, in every shell, run by the interpreter against resolve().
import { describe, expect, it } from 'vitest';
import { emitGenericProgram, emitLayoutProgram, programListing, type BpfProgram } from '../../src/bpf-policy/program.js';
import { encodeGenericValue, GENERIC_KEY_SIZE, GENERIC_VALUE_SIZE, nodeidKey } from '../../src/bpf-policy/generic-program.js';
import { HashMapModel } from '../../src/bpf-policy/interp.js';
import { unroll } from '../../src/interleave/filemap.js';
import { batchPositions, digestOf, interpret, interpretDigest, type Answer } from '../../src/bpf-policy/shell-runs.js';
import { SHELL_NAMES } from '../../src/bpf-policy/shells.js';
import { STATUS } from '../../src/bpf-policy/core.js';
import { iomapAlignmentRefusal } from '../../src/mapping/iomap-wire.js';
import { expected, expectedBlocks, interestingPositions, randomFileMap, rng, visible } from '../bpf-support.js';
import { counted, scaled, TEST_SCALE } from '../support/scale.js';

const seen = new Map<number, number>();
function check(prog: BpfProgram, map: import('../../src/interleave/filemap.js').FileMap, positions: bigint[], run: (pos: bigint) => Answer, lossy = false): number {
  const blocks = prog.shell.name === 'fuse_iomap_bpf_ops';
  for (const pos of positions) {
    const want = visible(blocks ? expectedBlocks(map, pos) : expected(map, pos), lossy);
    seen.set(want.status, (seen.get(want.status) ?? 0) + 1);
    const got = run(pos);
    if (JSON.stringify(got, big) !== JSON.stringify(want, big)) {
      throw new Error(`pos ${pos}: got ${JSON.stringify(got, big)}, resolve() says ${JSON.stringify(want, big)}\nmap ${JSON.stringify(map)}\n${programListing(prog)}`);
    }
  }
  return positions.length;
}
const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

describe('per-layout program (interpreter vs resolve)', () => {
  const CASES = scaled(100_000);
  it(`agrees with resolve() on ${counted(CASES)} random cases (1..32 extents, 1..16 strips)`, () => {
    const r = rng(7);
    let cases = 0;
    while (cases < CASES) {
      const map = randomFileMap(r);
      const prog = emitLayoutProgram(map, 'syscall');
      cases += check(prog, map, interestingPositions(map, r, 250), (pos) => interpret(prog, { pos }));
    }
    expect(cases).toBeGreaterThanOrEqual(CASES);
    // The cases must exercise every outcome, mostly mappings.
    expect(seen.get(STATUS.MAPPED)).toBeGreaterThan(scaled(80_000));
    expect(seen.get(STATUS.EOF)).toBeGreaterThan(scaled(1_000));
    // Holes are rare (about one case in 2,000): a scaled-down run only has to meet one.
    expect(seen.get(STATUS.HOLE)).toBeGreaterThan(TEST_SCALE === 1 ? 50 : 0);
  });

  it('handles the unrolled simple-extent form (pos >> shift) exactly', () => {
    const r = rng(13);
    let uniformSeen = 0;
    for (let k = 0; k < 150; k++) {
      const src = randomFileMap(r, { maxExtents: 1, maxStrips: 16 });
      if (src.extents[0]!.type !== 'interleave' || src.size > 200 * src.extents[0]!.chunkSize) continue;
      const map = unroll(src);
      if (map.extents.length > 400) continue;
      const prog = emitLayoutProgram(map, 'syscall');
      if (!prog.insns.some((i) => i.code === 0x77) || map.extents.length < 2) continue; // rsh: the shift path
      uniformSeen++;
      check(prog, map, interestingPositions(map, r, 100), (pos) => interpret(prog, { pos }));
    }
    expect(uniformSeen).toBeGreaterThan(20);
  });

  it('stays within 64 instructions for uniform interleave up to 16 strips, at any file size', () => {
    const r = rng(31);
    for (let n = 1; n <= 16; n++) {
      for (const size of [2 ** 21, 2 ** 33, 2 ** 52]) {
        for (const chunk of [2 ** 21, 2 ** 22, 3 * 2 ** 20]) {
          const strips = Array.from({ length: n }, () => ({ daxdev: Math.floor(r() * 16), offset: Math.floor(r() * 2 ** 20) * 2 ** 21, length: size }));
          const map = { size, extents: [{ type: 'interleave' as const, chunkSize: chunk, nbytes: size, strips }] };
          const prog = emitLayoutProgram(map, 'syscall');
          expect(prog.insns.length, `${n} strips, size ${size}, chunk ${chunk}:\n${programListing(prog)}`).toBeLessThanOrEqual(64);
        }
      }
    }
  });

  for (const shell of SHELL_NAMES.filter((s) => s !== 'syscall')) {
    it(`${shell} shell gives the same answers`, () => {
      const r = rng(11);
      for (let k = 0; k < scaled(40, 8); k++) {
        // The iomap shell takes block-aligned maps only (the kernel wants whole blocks).
        const map = randomFileMap(r, { blockAligned: shell === 'fuse_iomap_bpf_ops' });
        const prog = emitLayoutProgram(map, shell);
        check(prog, map, interestingPositions(map, r, 100), (pos) => interpret(prog, { pos }), shell.startsWith('fuse'));
      }
    });
  }
});

describe('bpf_dummy_ops DIGEST batches', () => {
  it('fold DUMMY_BATCH answers exactly as resolve() predicts', () => {
    const r = rng(21);
    for (let k = 0; k < scaled(20, 4); k++) {
      const map = randomFileMap(r);
      const prog = emitLayoutProgram(map, 'bpf_dummy_ops');
      for (const pos0 of interestingPositions(map, r, scaled(20, 8))) {
        const stride = BigInt(1 + Math.floor(r() * map.size / 8));
        expect(interpretDigest(prog, pos0, stride)).toBe(digestOf(batchPositions(pos0, stride).map((p) => expected(map, p))));
      }
    }
  });
});

describe('generic map-driven program (interpreter vs resolve)', () => {
  it('reads each nodeid\'s layout from the hash map', () => {
    const r = rng(3);
    const maps = new Map([[5, new HashMapModel(GENERIC_KEY_SIZE, GENERIC_VALUE_SIZE)]]);
    const files = [
      ...Array.from({ length: scaled(60, 12) }, () => randomFileMap(r, { maxStrips: 16 })),
      ...Array.from({ length: scaled(30, 6) }, () => randomFileMap(r, { maxStrips: 16, blockAligned: true })),
    ];
    files.forEach((f, k) => maps.get(5)!.update(nodeidKey(k + 1), encodeGenericValue(f)));
    for (const shell of SHELL_NAMES) {
      const prog = emitGenericProgram(5, shell, { nodeidKfunc: 4242 });
      files.forEach((f, k) => {
        // The server puts only block-aligned maps in the iomap resolver's map (BpfLayouts).
        if (shell === 'fuse_iomap_bpf_ops' && iomapAlignmentRefusal(f, 4096)) return;
        check(prog, f, interestingPositions(f, r, shell === 'syscall' ? scaled(400, 20) : scaled(60, 10)),
          (pos) => interpret(prog, { pos, nodeid: BigInt(k + 1), maps, nodeidKfunc: 4242 }), shell.startsWith('fuse'));
      });
      const unknown = interpret(prog, { pos: 0n, nodeid: 999n, maps, nodeidKfunc: 4242 });
      if (shell === 'fuse_iomap_bpf_ops') expect(unknown.status).toBe(STATUS.EOF); // FIB_FALLBACK
      else expect(unknown.status).toBe(STATUS.UNKNOWN_NODEID);
    }
  });

  it('refuses file maps larger than its fixed value', () => {
    const extents = Array.from({ length: 33 }, (_, k) => ({ type: 'simple' as const, daxdev: 0, offset: k * 4096, length: 4096 }));
    expect(() => encodeGenericValue({ size: 33 * 4096, extents })).toThrow(/at most 32/);
  });
});
