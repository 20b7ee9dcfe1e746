// The assembler, disassembler and interpreter semantics (RFC 9669; bpf-tooling.md §1.4),
// plus a differential run against the kernel on random operands (tier 2).
import { afterAll, describe, expect, it } from 'vitest';
import { Asm, AsmError, type Reg } from '../../src/bpf-policy/asm.js';
import { decode, encode, type Insn } from '../../src/bpf-policy/isa.js';
import { disassemble } from '../../src/bpf-policy/disasm.js';
import { BpfRuntimeError, run } from '../../src/bpf-policy/interp.js';
import { describeTier2 } from '../support/tier.js';
import { bpfUnavailable, closeFd, progLoad, testRunner } from '../../src/sys/bpf.js';
import { rng } from '../bpf-support.js';

type Op = 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'sdiv' | 'smod' | 'and' | 'or' | 'xor' | 'lsh' | 'rsh' | 'arsh';
const OPS: Op[] = ['add', 'sub', 'mul', 'div', 'mod', 'sdiv', 'smod', 'and', 'or', 'xor', 'lsh', 'rsh', 'arsh'];

/** ctx = {a, b, out}: out = a op b, in 64 or 32 bits. */
function binop(op: Op, wide: boolean): readonly Insn[] {
  const a = new Asm().ldx('dw', 'r0', 'r1', 0).ldx('dw', 'r2', 'r1', 8);
  if (op === 'sdiv' || op === 'smod') a[op]('r0', 'r2', wide);
  else if (wide) a[op]('r0', 'r2');
  else a.alu32(op, 'r0', 'r2');
  return a.stx('dw', 'r1', 16, 'r0').mov('r0', 0).exit().assemble().insns;
}

function interp(insns: readonly Insn[], a: bigint, b: bigint): bigint {
  const ctx = Buffer.alloc(24);
  ctx.writeBigUInt64LE(a, 0);
  ctx.writeBigUInt64LE(b, 8);
  run(insns, ctx);
  return ctx.readBigUInt64LE(16);
}

const EDGE = [0n, 1n, 2n, 31n, 32n, 63n, 64n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 63n, (1n << 64n) - 1n, (1n << 63n) - 1n];
function operands(seed: number, n: number): [bigint, bigint][] {
  const r = rng(seed);
  const rand = () => (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
  const out: [bigint, bigint][] = [];
  for (const x of EDGE) for (const y of EDGE) out.push([x, y]);
  while (out.length < n) out.push([rand(), r() < 0.3 ? EDGE[Math.floor(r() * EDGE.length)]! : rand() >> BigInt(Math.floor(r() * 64))]);
  return out;
}

describe('assembler and disassembler', () => {
  it('resolves labels relative to the next slot, counting lddw as two', () => {
    const p = new Asm().mov('r0', 0).jmp('jeq', 'r1', 0, 'end').lddw('r0', 1n << 40n).label('end').exit().assemble();
    expect(p.insns[1]!.off).toBe(2);
    expect(decode(encode(p.insns))).toEqual(p.insns);
    expect(disassemble(p.insns, p.labels)).toBe(['   0: r0 = 0x0', '   1: if r1 == 0x0 goto +2', '   2: r0 = 0x10000000000 ll', 'end:', '   4: exit'].join('\n'));
  });

  it('refuses literal zero divisors, wide immediates and undefined labels', () => {
    expect(() => new Asm().div('r0', 0)).toThrow(AsmError);
    expect(() => new Asm().add('r0', 2 ** 31)).toThrow(/does not fit s32/);
    expect(() => new Asm().ja('nowhere').assemble()).toThrow(/undefined label nowhere/);
  });
});

describe('interpreter semantics', () => {
  it('x/0 = 0, x%0 = x (64) and low 32 bits of x (32), shifts masked, INT64_MIN/-1 wraps', () => {
    const M = (1n << 64n) - 1n;
    expect(interp(binop('div', true), 77n, 0n)).toBe(0n);
    expect(interp(binop('mod', true), 77n, 0n)).toBe(77n);
    expect(interp(binop('mod', false), (5n << 32n) | 9n, 0n)).toBe(9n);
    expect(interp(binop('lsh', true), 1n, 65n)).toBe(2n);
    expect(interp(binop('sdiv', true), 1n << 63n, M)).toBe(1n << 63n);
    expect(interp(binop('smod', true), M - 6n, 4n)).toBe(M - 2n); // -7 % 4 = -3 (truncated, as C)
    expect(interp(binop('arsh', false), 0x80000000n, 4n)).toBe(0xf8000000n);
  });

  it('throws on stray memory, a read-only frame pointer and runaway loops', () => {
    expect(() => run(new Asm().ldx('dw', 'r0', 'r1', 64).exit().assemble().insns, Buffer.alloc(8))).toThrow(/outside every region/);
    expect(() => run(new Asm().mov('r10' as Reg, 0).exit().assemble().insns, Buffer.alloc(8))).toThrow(/frame pointer/);
    expect(() => run(new Asm().label('l').ja('l').assemble().insns, Buffer.alloc(8), { maxSteps: 1000 })).toThrow(BpfRuntimeError);
  });
});

describeTier2('interpreter vs the kernel on random operands', () => bpfUnavailable(), () => {
  const fds: number[] = [];
  afterAll(() => fds.forEach(closeFd));
  for (const wide of [true, false]) {
    it(`${wide ? 'ALU64' : 'ALU32'}: ${OPS.length} operations x 500 operand pairs agree`, () => {
      for (const op of OPS) {
        const insns = binop(op, wide);
        const { fd } = progLoad({ progType: 31, insns: encode(insns), license: 'GPL', flags: 16 });
        fds.push(fd);
        const ctx = Buffer.alloc(24);
        const go = testRunner(fd, ctx);
        for (const [a, b] of operands(op.length * 7 + (wide ? 1 : 0), 500)) {
          ctx.fill(0);
          ctx.writeBigUInt64LE(a, 0);
          ctx.writeBigUInt64LE(b, 8);
          go();
          const k = ctx.readBigUInt64LE(16);
          expect(interp(insns, a, b), `${op}${wide ? '' : '32'} ${a} ${b}`).toBe(k);
        }
      }
    });
  }
});
