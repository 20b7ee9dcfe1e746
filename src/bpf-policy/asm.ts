// An assembler with labels for the instruction subset in isa.ts. Emitters build programs
// through it; jump offsets are resolved at assemble() time (relative to the next slot,
// counting lddw as two slots, reference bpf-tooling.md §1.1-1.2).
import {
  ALU_OP, CALL_HELPER, CALL_KFUNC, CLASS, JMP_OP, MODE, PSEUDO_MAP_FD, SIZE, SRC_K, SRC_X,
  type AluOp, type CondOp, type Insn, type Size,
} from './isa.js';
import { InvalidError } from '../errno.js';

export type Reg = 'r0' | 'r1' | 'r2' | 'r3' | 'r4' | 'r5' | 'r6' | 'r7' | 'r8' | 'r9' | 'r10';
/** An operand: a register, or an immediate that must fit s32. */
export type Operand = Reg | number;

export class AsmError extends InvalidError {}

const S32_MIN = -0x80000000;
const S32_MAX = 0x7fffffff;

export function fitsS32(v: number | bigint): boolean {
  return typeof v === 'bigint' ? v >= BigInt(S32_MIN) && v <= BigInt(S32_MAX) : Number.isInteger(v) && v >= S32_MIN && v <= S32_MAX;
}

function regNum(r: Reg): number {
  return Number(r.slice(1));
}

type Slot =
  | { kind: 'insn'; insn: Insn }
  | { kind: 'jump'; code: number; dst: number; src: number; imm: number; label: string };

/** An assembled program: instructions plus where each label landed (slot index). */
export interface Program {
  readonly insns: readonly Insn[];
  readonly labels: ReadonlyMap<string, number>;
}

export class Asm {
  private readonly slots: Slot[] = [];
  private readonly labelAt = new Map<string, number>();
  private fresh = 0;

  /** Number of 8-byte slots emitted so far. */
  get length(): number {
    return this.slots.length;
  }

  /** A label name not used before, for emitters that generate many branches. */
  newLabel(hint: string): string {
    return `${hint}_${this.fresh++}`;
  }

  label(name: string): this {
    if (this.labelAt.has(name)) throw new AsmError(`label ${name} defined twice`);
    this.labelAt.set(name, this.slots.length);
    return this;
  }

  private raw(insn: Insn): this {
    this.slots.push({ kind: 'insn', insn });
    return this;
  }

  private alu(op: AluOp, dst: Reg, x: Operand, wide: boolean): this {
    const cls = wide ? CLASS.ALU64 : CLASS.ALU;
    if (typeof x === 'string') return this.raw({ code: ALU_OP[op] | SRC_X | cls, dst: regNum(dst), src: regNum(x), off: 0, imm: 0 });
    if (!fitsS32(x)) throw new AsmError(`${op} immediate ${x} does not fit s32; load it with lddw`);
    if ((op === 'div' || op === 'mod') && x === 0) throw new AsmError(`${op} by literal zero (the verifier rejects "div by zero")`);
    return this.raw({ code: ALU_OP[op] | SRC_K | cls, dst: regNum(dst), src: 0, off: 0, imm: x });
  }

  mov(dst: Reg, x: Operand): this { return this.alu('mov', dst, x, true); }
  add(dst: Reg, x: Operand): this { return this.alu('add', dst, x, true); }
  sub(dst: Reg, x: Operand): this { return this.alu('sub', dst, x, true); }
  mul(dst: Reg, x: Operand): this { return this.alu('mul', dst, x, true); }
  div(dst: Reg, x: Operand): this { return this.alu('div', dst, x, true); }
  mod(dst: Reg, x: Operand): this { return this.alu('mod', dst, x, true); }
  and(dst: Reg, x: Operand): this { return this.alu('and', dst, x, true); }
  or(dst: Reg, x: Operand): this { return this.alu('or', dst, x, true); }
  xor(dst: Reg, x: Operand): this { return this.alu('xor', dst, x, true); }
  lsh(dst: Reg, x: Operand): this { return this.alu('lsh', dst, x, true); }
  rsh(dst: Reg, x: Operand): this { return this.alu('rsh', dst, x, true); }
  arsh(dst: Reg, x: Operand): this { return this.alu('arsh', dst, x, true); }
  /** Signed division and modulo (DIV/MOD with off = 1, cpu v4, kernel >= 6.6; bpf-tooling.md §1.1). */
  sdiv(dst: Reg, x: Operand, wide = true): this { return this.signed('div', dst, x, wide); }
  smod(dst: Reg, x: Operand, wide = true): this { return this.signed('mod', dst, x, wide); }
  private signed(op: 'div' | 'mod', dst: Reg, x: Operand, wide: boolean): this {
    this.alu(op, dst, x, wide);
    const last = this.slots.pop() as { kind: 'insn'; insn: Insn };
    return this.raw({ ...last.insn, off: 1 });
  }
  neg(dst: Reg): this { return this.raw({ code: ALU_OP.neg | CLASS.ALU64, dst: regNum(dst), src: 0, off: 0, imm: 0 }); }
  /** 32-bit ALU (result zero-extended), e.g. mov32 to truncate. */
  alu32(op: AluOp, dst: Reg, x: Operand): this { return this.alu(op, dst, x, false); }

  /** dst = 64-bit constant (two slots). */
  lddw(dst: Reg, value: number | bigint): this {
    const v = BigInt.asUintN(64, BigInt(value));
    const lo = Number(BigInt.asIntN(32, v & 0xffffffffn));
    const hi = Number(BigInt.asIntN(32, v >> 32n));
    this.raw({ code: CLASS.LD | MODE.IMM | SIZE.dw, dst: regNum(dst), src: 0, off: 0, imm: lo });
    return this.raw({ code: 0, dst: 0, src: 0, off: 0, imm: hi });
  }

  /** dst = the map with this fd (BPF_PSEUDO_MAP_FD, bpf-tooling.md §1.2); the loader patches nothing. */
  ldMapFd(dst: Reg, fd: number): this {
    this.raw({ code: CLASS.LD | MODE.IMM | SIZE.dw, dst: regNum(dst), src: PSEUDO_MAP_FD, off: 0, imm: fd });
    return this.raw({ code: 0, dst: 0, src: 0, off: 0, imm: 0 });
  }

  /** dst = constant, in one slot when it fits s32 (sign-extended), else lddw. */
  loadConst(dst: Reg, value: number | bigint): this {
    return fitsS32(value) ? this.mov(dst, Number(value)) : this.lddw(dst, value);
  }

  /** dst = *(size *)(src + off). */
  ldx(size: Size, dst: Reg, src: Reg, off: number): this {
    return this.raw({ code: CLASS.LDX | MODE.MEM | SIZE[size], dst: regNum(dst), src: regNum(src), off, imm: 0 });
  }

  /** *(size *)(dst + off) = src. */
  stx(size: Size, dst: Reg, off: number, src: Reg): this {
    return this.raw({ code: CLASS.STX | MODE.MEM | SIZE[size], dst: regNum(dst), src: regNum(src), off, imm: 0 });
  }

  /** *(size *)(dst + off) = imm. */
  st(size: Size, dst: Reg, off: number, imm: number): this {
    if (!fitsS32(imm)) throw new AsmError(`store immediate ${imm} does not fit s32`);
    return this.raw({ code: CLASS.ST | MODE.MEM | SIZE[size], dst: regNum(dst), src: 0, off, imm });
  }

  /** if (dst op x) goto label (64-bit compare). */
  jmp(op: CondOp, dst: Reg, x: Operand, label: string): this {
    if (typeof x === 'string') {
      this.slots.push({ kind: 'jump', code: JMP_OP[op] | SRC_X | CLASS.JMP, dst: regNum(dst), src: regNum(x), imm: 0, label });
    } else {
      if (!fitsS32(x)) throw new AsmError(`compare immediate ${x} does not fit s32; load it into a register`);
      this.slots.push({ kind: 'jump', code: JMP_OP[op] | SRC_K | CLASS.JMP, dst: regNum(dst), src: 0, imm: x, label });
    }
    return this;
  }

  ja(label: string): this {
    this.slots.push({ kind: 'jump', code: JMP_OP.ja | CLASS.JMP, dst: 0, src: 0, imm: 0, label });
    return this;
  }

  call(helper: number): this {
    return this.raw({ code: JMP_OP.call | CLASS.JMP, dst: 0, src: CALL_HELPER, off: 0, imm: helper });
  }

  callKfunc(btfId: number): this {
    return this.raw({ code: JMP_OP.call | CLASS.JMP, dst: 0, src: CALL_KFUNC, off: 0, imm: btfId });
  }

  exit(): this {
    return this.raw({ code: JMP_OP.exit | CLASS.JMP, dst: 0, src: 0, off: 0, imm: 0 });
  }

  assemble(): Program {
    const insns = this.slots.map((s, at): Insn => {
      if (s.kind === 'insn') return s.insn;
      const target = this.labelAt.get(s.label);
      if (target === undefined) throw new AsmError(`jump at ${at} to undefined label ${s.label}`);
      const off = target - (at + 1);
      if (off < -0x8000 || off > 0x7fff) throw new AsmError(`jump at ${at} to ${s.label} is out of s16 range`);
      return { code: s.code, dst: s.dst, src: s.src, off, imm: s.imm };
    });
    return { insns, labels: new Map(this.labelAt) };
  }
}
