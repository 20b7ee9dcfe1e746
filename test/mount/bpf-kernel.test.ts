// Tier 2: the kernel verifier and BPF_PROG_TEST_RUN against resolve() (root, real kernel).
import { afterAll, describe, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { bpfUnavailable, VerifierError, progLoad } from '../../src/sys/bpf.js';
import { emitGenericProgram, emitLayoutProgram, programBytes, programListing, type BpfProgram } from '../../src/bpf-policy/program.js';
import { findStructOps, GenericLayoutMap, kernelDigestRunner, kernelRunner, loadResolver, registerResolver, type LoadedResolver } from '../../src/bpf-policy/kernel.js';
import { batchPositions, digestOf, interpret, interpretDigest, type Answer } from '../../src/bpf-policy/shell-runs.js';
import { Asm } from '../../src/bpf-policy/asm.js';
import { encode } from '../../src/bpf-policy/isa.js';
import { decode } from '../../src/bpf-policy/isa.js';
import { GENERIC_VALUE_SIZE, encodeGenericValue } from '../../src/bpf-policy/generic-program.js';
import { STATUS } from '../../src/bpf-policy/core.js';
import type { FileMap } from '../../src/interleave/filemap.js';
import { expected, interestingPositions, randomFileMap, rng } from '../bpf-support.js';

const MiB = 2 ** 20;
const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
const same = (a: Answer, b: Answer) => JSON.stringify(a, big) === JSON.stringify(b, big);

/** Layout shapes the kernel must accept: uniform interleaves, unrolled, mixed, odd sizes. */
function shapes(): [string, FileMap][] {
  const strips = (n: number, dev: (k: number) => number, off: (k: number) => number) =>
    Array.from({ length: n }, (_, k) => ({ daxdev: dev(k), offset: off(k), length: 1 << 30 }));
  const r = rng(99);
  const out: [string, FileMap][] = [
    ['simple 1 extent', { size: 7 * MiB + 5, extents: [{ type: 'simple', daxdev: 0, offset: 0x200000000, length: 8 * MiB }] }],
    ['interleave 16 strips 2M, one device', { size: 3000 * MiB + 1, extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 3200 * MiB, strips: strips(16, () => 0, (k) => 0x100000000 + ((k * 7919) % 16) * 0x40000000) }] }],
    ['interleave 16 strips, 16 devices scattered', { size: 1 << 40, extents: [{ type: 'interleave', chunkSize: 4 * MiB, nbytes: 1 << 40, strips: strips(16, (k) => (k * 5) % 16, (k) => (k * 3 + 1) * 0x80000000) }] }],
    ['interleave 3 strips, 3 MiB chunks', { size: 100 * MiB + 12345, extents: [{ type: 'interleave', chunkSize: 3 * MiB, nbytes: 120 * MiB, strips: strips(3, (k) => k, (k) => [0x100000000, 0x200000000, 0x4000][k]!) }] }],
    ['interleave 12 strips affine', { size: 2 ** 45, extents: [{ type: 'interleave', chunkSize: 2 * MiB, nbytes: 2 ** 45, strips: strips(12, (k) => k, () => 0x80000000) }] }],
    ['unrolled 32 simple extents', { size: 64 * MiB - 3, extents: Array.from({ length: 32 }, (_, k) => ({ type: 'simple' as const, daxdev: k % 3, offset: (k * 37 % 64) * 2 * MiB + 0x100000000, length: 2 * MiB })) }],
  ];
  for (let k = 0; k < 6; k++) out.push([`random ${k}`, randomFileMap(r)]);
  return out;
}

describeTier2('BPF resolvers in the kernel (verifier + test-run)', () => bpfUnavailable(), () => {
  const open: { close(): void }[] = [];
  afterAll(() => { for (const o of open) o.close(); });
  const load = (p: BpfProgram): LoadedResolver => {
    const l = loadResolver(p);
    open.push(l);
    return l;
  };

  function agree(p: BpfProgram, map: FileMap, n: number, run: (pos: bigint) => Answer, interp: (pos: bigint) => Answer) {
    const r = rng(5);
    for (const pos of interestingPositions(map, r, n)) {
      const want = expected(map, pos);
      const k = run(pos);
      const i = interp(pos);
      if (!same(k, want) || !same(i, want)) {
        throw new Error(`pos ${pos}: kernel ${JSON.stringify(k, big)}, interpreter ${JSON.stringify(i, big)}, resolve() ${JSON.stringify(want, big)}\n${programListing(p)}`);
      }
    }
  }

  for (const [name, map] of shapes()) {
    it(`per-layout syscall program: ${name} (10,000 positions)`, () => {
      const p = emitLayoutProgram(map, 'syscall');
      const l = load(p);
      expect(l.processed).toBeGreaterThan(0);
      // The target for uniform interleave up to 16 strips, independent of file size.
      if (name.startsWith('interleave')) {
        expect(p.insns.length).toBeLessThanOrEqual(64);
        expect(l.processed).toBeLessThanOrEqual(100);
      }
      const run = kernelRunner(l);
      agree(p, map, 10_000, (pos) => run(pos), (pos) => interpret(p, { pos }));
    });
    it(`per-layout bpf_dummy_ops program: ${name} (10,240 positions in digest batches)`, () => {
      const p = emitLayoutProgram(map, 'bpf_dummy_ops');
      const l = load(p);
      const digest = kernelDigestRunner(l);
      const single = kernelRunner(l);
      const r = rng(17);
      const size = BigInt(map.size);
      // Batches at every interesting position (stride 1 and chunk-ish strides) and at random.
      const starts = interestingPositions(map, r, 320);
      let checked = 0;
      starts.forEach((pos0, k) => {
        const stride = k % 3 === 0 ? 1n : BigInt(1 + Math.floor(r() * Number(size / 16n + 1n)));
        const batch = batchPositions(pos0 - (k % 3 === 0 ? 16n : 0n), stride);
        const want = digestOf(batch.map((pos) => expected(map, pos)));
        const got = digest(batch[0]!, stride);
        if (got !== want) {
          const bad = batch.find((pos) => !same(single(pos), expected(map, pos)));
          throw new Error(`digest mismatch for batch at ${batch[0]} stride ${stride}; first bad pos ${bad}: kernel ${JSON.stringify(bad === undefined ? undefined : single(bad), big)}, resolve() ${JSON.stringify(bad === undefined ? undefined : expected(map, bad), big)}\n${programListing(p)}`);
        }
        expect(interpretDigest(p, batch[0]!, stride)).toBe(want);
        checked += batch.length;
      });
      expect(checked).toBeGreaterThanOrEqual(10_000);
      // The per-answer modes agree too.
      agree(p, map, 100, (pos) => single(pos), (pos) => interpret(p, { pos }));
    });
  }

  it('generic program with a real hash map: every shape, 10,000 positions each', () => {
    const layouts = new GenericLayoutMap(64);
    open.push(layouts);
    const all = shapes();
    all.forEach(([, m], k) => layouts.set(k + 1, m));
    expect(layouts.get(1)?.equals(encodeGenericValue(all[0]![1]))).toBe(true);
    expect(layouts.get(999)).toBeUndefined();
    {
      const p = emitGenericProgram(layouts.fd, 'syscall');
      const l = load(p);
      const run = kernelRunner(l);
      all.forEach(([, m], k) => {
        const nodeid = BigInt(k + 1);
        // The interpreter reads the same bytes the kernel map holds.
        const value = layouts.get(nodeid);
        const model = { keySize: 8, valueSize: GENERIC_VALUE_SIZE, lookup: (key: Uint8Array) => (Buffer.from(key).readBigUInt64LE() === nodeid ? value : undefined) };
        const maps = new Map([[layouts.fd, model]]);
        agree(p, m, 10_000, (pos) => run(pos, nodeid), (pos) => interpret(p, { pos, nodeid, maps }));
      });
      expect(run(0n, 12345n).status).toBe(STATUS.UNKNOWN_NODEID);
      expect(l.processed).toBeLessThan(200);
      // Layouts change without reloading.
      layouts.set(1, all[1]![1]);
      agree(p, all[1]![1], 500, (pos) => run(pos, 1n), (pos) => expected(all[1]![1], pos));
      layouts.set(1, all[0]![1]);
    }
  });

  it('bad programs give readable verifier errors', () => {
    const tryLoad = (a: Asm) => {
      try {
        progLoad({ progType: 31, insns: encode(a.assemble().insns), license: 'GPL', flags: 16 });
      } catch (e) {
        expect(e).toBeInstanceOf(VerifierError);
        return (e as VerifierError).message;
      }
      throw new Error('the kernel accepted a bad program');
    };
    expect(tryLoad(new Asm().mov('r0', 0).exit().mov('r0', 1).exit())).toMatch(/unreachable insn/);
    expect(tryLoad(new Asm().mov('r0', 'r7').exit())).toMatch(/R7 !read_ok/);
    expect(tryLoad(new Asm().ldx('dw', 'r0', 'r1', 4).exit())).toMatch(/invalid bpf_context access off=4 size=8/);
    expect(tryLoad(new Asm().label('top').mov('r0', 0).ja('top'))).toMatch(/infinite loop|back-edge|too large|last insn/);
    // A literal zero divisor: the assembler refuses it, so write the bytes by hand.
    const bytes = encode(new Asm().mov('r0', 1).div('r0', 1).exit().assemble().insns);
    bytes.writeInt32LE(0, 8 + 4);
    expect(decode(bytes)[1]!.imm).toBe(0);
    try {
      progLoad({ progType: 31, insns: bytes, license: 'GPL', flags: 16 });
      throw new Error('accepted');
    } catch (e) {
      expect((e as Error).message).toMatch(/div by zero/);
    }
  });

  it('finds struct_ops types in kernel BTF and says plainly when the fuse ones are missing', () => {
    const dummy = findStructOps('bpf_dummy_ops', 'test_2');
    expect(typeof dummy).toBe('object');
    if (typeof dummy === 'object') {
      expect(dummy.memberIndex).toBe(1);
      expect(dummy.dataOffset % 8).toBe(0);
    }
    const fuse = findStructOps('fuse_bpf_ops', 'iomap_begin');
    if (typeof fuse === 'string') expect(fuse).toMatch(/no struct fuse_bpf_ops/);
  });

  it('the generic program in the bpf_dummy_ops shape is refused: that type has no map helpers', () => {
    const layouts = new GenericLayoutMap(4);
    open.push(layouts);
    expect(() => load(emitGenericProgram(layouts.fd, 'bpf_dummy_ops'))).toThrow(/cannot use helper bpf_map_lookup_elem/);
  });

  it('registration: fuse flavors report why not; bpf_dummy_ops walks the raw sequence to the kernel\'s refusal', () => {
    for (const flavor of ['fuse_bpf_ops', 'fuse_iomap_bpf_ops'] as const) {
      const r = registerResolver({ fuseFd: -1, flavor });
      if (!r.registered) expect(r.reason).toMatch(new RegExp(flavor));
      else r.close();
    }
    const d = registerResolver({ fuseFd: -1, flavor: 'bpf_dummy_ops', fileMap: shapes()[1]![1] });
    expect(d.registered).toBe(false);
    if (!d.registered) {
      // PROG_LOAD, BTF_LOAD and MAP_CREATE succeeded; dummy ops refuse registration by design (bpf-tooling.md §5.10).
      expect(d.step).toBe('MAP_UPDATE_ELEM');
      expect(d.errno).toBe('EOPNOTSUPP');
    }
  });

  it('fuse shells load where the kernel has the type, otherwise say why', () => {
    const map = shapes()[1]![1];
    for (const shell of ['fuse_bpf_ops', 'fuse_iomap_bpf_ops'] as const) {
      const p = emitLayoutProgram(map, shell);
      try {
        load(p);
      } catch (e) {
        expect((e as Error).message).toMatch(new RegExp(`no struct ${shell}`));
      }
    }
    void programBytes;
  });
});
