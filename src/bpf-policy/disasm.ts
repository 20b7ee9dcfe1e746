// Readable listings in the kernel's verifier-log style ("r3 += r1", "if r6 >= r5 goto +4"),
// for the CLI and for test failures. llvm-objdump 14 cannot print MOD (bpf-tooling.md §4).
import {
  ALU_OP, CALL_KFUNC, CLASS, JMP_OP, MODE, PSEUDO_MAP_FD, SIZE, SRC_X, isLddw, opClass, type Insn,
} from './isa.js';

const aluSym: Record<number, string> = {
  [ALU_OP.add]: '+=', [ALU_OP.sub]: '-=', [ALU_OP.mul]: '*=', [ALU_OP.div]: '/=', [ALU_OP.or]: '|=',
  [ALU_OP.and]: '&=', [ALU_OP.lsh]: '<<=', [ALU_OP.rsh]: '>>=', [ALU_OP.mod]: '%=', [ALU_OP.xor]: '^=',
  [ALU_OP.mov]: '=', [ALU_OP.arsh]: 's>>=',
};
const jmpSym: Record<number, string> = {
  [JMP_OP.jeq]: '==', [JMP_OP.jgt]: '>', [JMP_OP.jge]: '>=', [JMP_OP.jset]: '&', [JMP_OP.jne]: '!=',
  [JMP_OP.jsgt]: 's>', [JMP_OP.jsge]: 's>=', [JMP_OP.jlt]: '<', [JMP_OP.jle]: '<=', [JMP_OP.jslt]: 's<',
  [JMP_OP.jsle]: 's<=',
};
const sizeName: Record<number, string> = { [SIZE.b]: 'u8', [SIZE.h]: 'u16', [SIZE.w]: 'u32', [SIZE.dw]: 'u64' };

function hex(v: number | bigint): string {
  const b = BigInt(v);
  return b < 0n ? `-0x${(-b).toString(16)}` : `0x${b.toString(16)}`;
}

function signed(n: number): string {
  return n < 0 ? `- ${-n}` : `+ ${n}`;
}

/** One instruction as text; `next` is the following slot (lddw's high half). */
export function formatInsn(i: Insn, next?: Insn): string {
  const cls = opClass(i.code);
  const d = `r${i.dst}`;
  const s = `r${i.src}`;
  if (cls === CLASS.ALU || cls === CLASS.ALU64) {
    const op = i.code & 0xf0;
    const w = cls === CLASS.ALU64 ? 'r' : 'w';
    const dd = `${w}${i.dst}`;
    if (op === ALU_OP.neg) return `${dd} = -${dd}`;
    const sym = aluSym[op] ?? `alu?${hex(op)}`;
    const rhs = i.code & SRC_X ? `${w}${i.src}` : hex(i.imm);
    return `${dd} ${sym} ${rhs}`;
  }
  if (cls === CLASS.JMP || cls === CLASS.JMP32) {
    const op = i.code & 0xf0;
    const tgt = `goto ${i.off < 0 ? '' : '+'}${i.off}`;
    if (op === JMP_OP.exit) return 'exit';
    if (op === JMP_OP.call) return i.src === CALL_KFUNC ? `call kfunc#${i.imm}` : `call ${i.imm}`;
    if (op === JMP_OP.ja) return tgt;
    const w = cls === CLASS.JMP ? 'r' : 'w';
    const rhs = i.code & SRC_X ? `${w}${i.src}` : hex(i.imm);
    return `if ${w}${i.dst} ${jmpSym[op] ?? '?'} ${rhs} ${tgt}`;
  }
  if (isLddw(i.code)) {
    if (i.src === PSEUDO_MAP_FD) return `${d} = map_fd(${i.imm}) ll`;
    const hi = BigInt(next?.imm ?? 0);
    const v = (BigInt.asUintN(32, hi) << 32n) | BigInt.asUintN(32, BigInt(i.imm));
    return `${d} = ${hex(v)} ll`;
  }
  const size = sizeName[i.code & 0x18] ?? '?';
  const mode = i.code & 0xe0;
  if (cls === CLASS.LDX) return `${d} = *(${mode === MODE.MEMSX ? 's' + size.slice(1) : size} *)(${s} ${signed(i.off)})`;
  if (cls === CLASS.STX) return `*(${size} *)(${d} ${signed(i.off)}) = ${s}`;
  if (cls === CLASS.ST) return `*(${size} *)(${d} ${signed(i.off)}) = ${hex(i.imm)}`;
  return `.insn ${hex(i.code)}`;
}

/** A numbered listing; labels (slot -> name) are shown where given. */
export function disassemble(insns: readonly Insn[], labels?: ReadonlyMap<string, number>): string {
  const byAt = new Map<number, string[]>();
  for (const [name, at] of labels ?? []) byAt.set(at, [...(byAt.get(at) ?? []), name]);
  const lines: string[] = [];
  for (let n = 0; n < insns.length; n++) {
    for (const name of byAt.get(n) ?? []) lines.push(`${name}:`);
    const i = insns[n]!;
    lines.push(`${String(n).padStart(4)}: ${formatInsn(i, insns[n + 1])}`);
    if (isLddw(i.code)) n++;
  }
  return lines.join('\n');
}
