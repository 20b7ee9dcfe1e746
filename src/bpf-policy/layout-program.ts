// The per-layout resolver: one FileMap's constants folded into straight-line code
// (emitter 1). Extents become a binary compare tree on pos; interleave arithmetic uses shifts
// and masks for power-of-two chunks and strip counts and immediate divisors otherwise (a
// literal zero divisor is never emitted, bpf-tooling.md §1.4); a strip's (daxdev, base) comes
// from a fall-through chain of small deltas, so no table is indexed and no loop is needed.
// The arithmetic is resolve()'s (src/interleave/filemap.ts, reference fuse-iomap-abi.md §3.3).
import { Asm, AsmError, fitsS32, type Reg } from './asm.js';
import { CORE_REG, STATUS, type ResolverCore } from './core.js';
import { FileMapError, type FileMap, type Strip } from '../interleave/filemap.js';

/** A file range [start, end) served by one extent; `hole` ranges answer STATUS.HOLE. */
type Segment =
  | { kind: 'simple'; start: number; end: number; daxdev: number; offset: number }
  | { kind: 'interleave'; start: number; end: number; chunk: number; strips: readonly Strip[] }
  | { kind: 'hole'; start: number; end: number };

export function segmentsOf(map: FileMap): Segment[] {
  if (!Number.isSafeInteger(map.size) || map.size < 0) throw new FileMapError(`file size ${map.size} is not a non-negative integer below 2^53`);
  const out: Segment[] = [];
  let start = 0;
  for (const [n, e] of map.extents.entries()) {
    if (start >= map.size) break;
    // resolve() uses min(nbytes, size) for an interleaved extent's span.
    const span = e.type === 'simple' ? e.length : Math.min(e.nbytes, map.size);
    if (span <= 0) continue;
    const end = Math.min(start + span, map.size);
    if (e.type === 'simple') {
      out.push({ kind: 'simple', start, end, daxdev: e.daxdev, offset: e.offset });
    } else {
      if (!(e.chunkSize > 0) || !Number.isSafeInteger(e.chunkSize)) throw new FileMapError(`extent ${n}: chunk size ${e.chunkSize} is not a positive integer`);
      if (e.strips.length === 0) throw new FileMapError(`extent ${n}: interleaved extent has no strips`);
      out.push({ kind: 'interleave', start, end, chunk: e.chunkSize, strips: e.strips });
    }
    start += span;
  }
  if (start < map.size) out.push({ kind: 'hole', start, end: map.size });
  return out;
}

function log2Exact(v: number): number | undefined {
  if (v <= 0 || !Number.isSafeInteger(v)) return undefined;
  const l = Math.log2(v);
  return Number.isInteger(l) && 2 ** l === v ? l : undefined;
}

function trailingZeros(v: number): number {
  if (v === 0) return 64;
  let k = 0;
  while (v % 2 === 0) { v /= 2; k++; }
  return k;
}

const SCRATCH: Reg = 'r8';
/** Holds the file size when it needs lddw, so `end == size` costs one mov (the per-layout core never reads nodeid). */
const SIZE_REG: Reg = CORE_REG.nodeid;

/** dst = a segment end; the file size is already in SIZE_REG when it is wide. */
function loadEnd(a: Asm, dst: Reg, end: number, size: number): void {
  if (end === size && !fitsS32(size)) a.mov(dst, SIZE_REG);
  else a.loadConst(dst, end);
}

/** r4 = min(span - r3, end - pos): what is left of the chunk at offset r3, clipped to `end`. */
function emitLengthClamp(a: Asm, span: number, end: number, size: number, pos: Reg): void {
  a.loadConst('r4', span);
  a.sub('r4', 'r3');
  loadEnd(a, 'r5', end, size);
  a.sub('r5', pos);
  const lenOk = a.newLabel('len_ok');
  a.jmp('jle', 'r4', 'r5', lenOk);
  a.mov('r4', 'r5');
  a.label(lenOk);
}

/** dst op= value, through the scratch register when the immediate does not fit s32. */
function opConst(a: Asm, op: 'add' | 'sub' | 'mul' | 'div' | 'mod', dst: Reg, value: number): void {
  if ((op === 'div' || op === 'mod') && value <= 0) throw new AsmError(`${op} by ${value} in a layout constant`);
  if (fitsS32(value)) {
    a[op](dst, value);
    return;
  }
  a.lddw(SCRATCH, value);
  a[op](dst, SCRATCH);
}

/** if (reg >= value) goto label, with a register for constants past s32. */
function jgeConst(a: Asm, reg: Reg, value: number, label: string): void {
  if (fitsS32(value)) a.jmp('jge', reg, value, label);
  else {
    a.lddw(SCRATCH, value);
    a.jmp('jge', reg, SCRATCH, label);
  }
}

/**
 * Strip index in `idx` (0 <= idx < strips.length) -> daxdev in r2, base added to r3.
 * Clobbers r5 and the scratch register.
 */
function emitStripSelect(a: Asm, idx: Reg, strips: readonly Strip[]): void {
  const n = strips.length;
  const bases = strips.map((s) => s.offset);
  const devs = strips.map((s) => s.daxdev);
  const sameDev = devs.every((d) => d === devs[0]);
  // Affine strips (base_k = b0 + k*bs, dev_k = d0 + k*ds): pure arithmetic, no branches.
  const bs = n > 1 ? bases[1]! - bases[0]! : 0;
  const ds = n > 1 ? devs[1]! - devs[0]! : 0;
  const affine = n === 1 || bases.every((b, k) => b === bases[0]! + k * bs) && devs.every((d, k) => d === devs[0]! + k * ds);
  if (affine && fitsS32(bs) && fitsS32(ds)) {
    if (n > 1 && bs !== 0) {
      a.mov('r5', idx);
      const sh = log2Exact(bs);
      if (sh !== undefined) a.lsh('r5', sh);
      else a.mul('r5', bs);
      a.add('r3', 'r5');
    }
    if (bases[0] !== 0) opConst(a, 'add', 'r3', bases[0]!);
    if (n > 1 && ds !== 0) {
      a.mov('r2', idx);
      if (ds !== 1) a.mul('r2', ds);
      if (devs[0] !== 0) a.add('r2', devs[0]!);
    } else {
      a.mov('r2', devs[0]!);
    }
    return;
  }
  // Fall-through delta chain over scaled values: bases share their low `tz` zero bits (famfs
  // allocates in 2 MiB units), so base >> tz keeps deltas within s32 (one add each); when
  // the daxdevs differ they ride in the low `pb` bits of the same value.
  const tz = Math.min(...bases.map(trailingZeros), 53);
  const pb = sameDev ? 0 : Math.max(1, Math.ceil(Math.log2(Math.max(...devs) + 1)));
  // Packing must stay exact in doubles; otherwise the daxdev gets its own chain of adds.
  const packed = !sameDev && Math.max(...bases) / 2 ** tz * 2 ** pb < 2 ** 53;
  const values = bases.map((b, k) => (packed ? (b / 2 ** tz) * 2 ** pb + devs[k]! : b / 2 ** tz));
  const join = a.newLabel('strip_join');
  a.loadConst('r5', values[0]!);
  if (!packed) a.mov('r2', devs[0]!);
  for (let k = 1; k < n; k++) {
    a.jmp('jeq', idx, k - 1, join);
    const dv = values[k]! - values[k - 1]!;
    if (dv !== 0) opConst(a, 'add', 'r5', dv);
    const dd = devs[k]! - devs[k - 1]!;
    if (!packed && dd !== 0) a.add('r2', dd);
  }
  a.label(join);
  if (packed) {
    a.mov('r2', 'r5');
    a.and('r2', 2 ** pb - 1);
    a.rsh('r5', pb);
  }
  if (tz > 0) a.lsh('r5', tz);
  a.add('r3', 'r5');
}

function emitInterleave(a: Asm, seg: Extract<Segment, { kind: 'interleave' }>, size: number): void {
  const { chunk, strips, start, end } = seg;
  const n = strips.length;
  const pos = CORE_REG.pos;
  // local = pos - start (r1)
  let local: Reg = pos;
  if (start !== 0) {
    a.mov('r1', pos);
    opConst(a, 'sub', 'r1', start);
    local = 'r1';
  }
  const cShift = log2Exact(chunk);
  // chunk number -> r2, chunk offset -> r3
  a.mov('r2', local);
  a.mov('r3', local);
  if (cShift !== undefined) {
    a.rsh('r2', cShift);
    if (fitsS32(chunk - 1)) a.and('r3', chunk - 1);
    else { a.lsh('r3', 64 - cShift); a.rsh('r3', 64 - cShift); }
  } else {
    opConst(a, 'div', 'r2', chunk);
    opConst(a, 'mod', 'r3', chunk);
  }
  // length = min(chunk - chunkOffset, end - pos) -> r4
  emitLengthClamp(a, chunk, end, size, pos);
  // strip index -> r1, stripe number -> r2
  const nShift = log2Exact(n);
  if (n > 1) {
    a.mov('r1', 'r2');
    if (nShift !== undefined) { a.and('r1', n - 1); a.rsh('r2', nShift); }
    else { a.mod('r1', n); a.div('r2', n); }
  }
  // offset within the strip = stripe * chunk + chunkOffset (r3)
  if (cShift !== undefined) a.lsh('r2', cShift);
  else opConst(a, 'mul', 'r2', chunk);
  a.add('r3', 'r2');
  emitStripSelect(a, 'r1', strips);
}

function emitSegment(a: Asm, seg: Segment, size: number): void {
  const pos = CORE_REG.pos;
  switch (seg.kind) {
    case 'hole':
      a.mov('r0', STATUS.HOLE);
      return;
    case 'simple':
      // offset = pos + (extent offset - extent start); length = end - pos
      a.mov('r3', pos);
      if (seg.offset - seg.start !== 0) opConst(a, 'add', 'r3', seg.offset - seg.start);
      a.mov('r2', seg.daxdev);
      loadEnd(a, 'r4', seg.end, size);
      a.sub('r4', pos);
      return;
    case 'interleave':
      emitInterleave(a, seg, size);
  }
}

/** Compare tree over segments [lo, hi]: depth log2(#segments), no loop. */
function emitTree(a: Asm, segs: readonly Segment[], lo: number, hi: number, done: string, last: boolean, size: number): void {
  if (lo === hi) {
    emitSegment(a, segs[lo]!, size);
    if (!last) a.ja(done);
    return;
  }
  const mid = (lo + hi + 1) >> 1;
  const right = a.newLabel('ext');
  jgeConst(a, CORE_REG.pos, segs[mid]!.start, right);
  emitTree(a, segs, lo, mid - 1, done, false, size);
  a.label(right);
  emitTree(a, segs, mid, hi, done, last, size);
}

/**
 * The unrolled form (reference fuse-iomap-abi.md §3.3, mid-2026 "ext_shift"): every simple
 * extent but the last has the same power-of-two length L, the last is no longer, and the
 * extents cover the file. Then extent = pos >> log2 L and the (daxdev, base) chain of
 * emitStripSelect replaces the compare tree.
 */
function uniformSimple(segs: readonly Segment[], size: number): { shift: number; runs: Strip[] } | undefined {
  if (segs.length < 2 || segs.some((g) => g.kind !== 'simple')) return undefined;
  const simple = segs as Extract<Segment, { kind: 'simple' }>[];
  const len = simple[0]!.end - simple[0]!.start;
  const shift = log2Exact(len);
  if (shift === undefined || !fitsS32(len)) return undefined;
  const ok = simple.every((g, k) => g.start === k * len && (k === simple.length - 1 ? g.end === size && g.end - g.start <= len : g.end - g.start === len));
  return ok ? { shift, runs: simple.map((g) => ({ daxdev: g.daxdev, offset: g.offset, length: len })) } : undefined;
}

function emitUniformSimple(a: Asm, u: { shift: number; runs: Strip[] }, size: number): void {
  const pos = CORE_REG.pos;
  a.mov('r1', pos);
  a.rsh('r1', u.shift);
  a.mov('r3', pos);
  a.and('r3', 2 ** u.shift - 1);
  emitLengthClamp(a, 2 ** u.shift, size, size, pos);
  emitStripSelect(a, 'r1', u.runs);
}

/** The per-layout core for `map`. Throws FileMapError for maps it cannot express. */
export function layoutCore(map: FileMap): ResolverCore {
  const segs = segmentsOf(map);
  for (const s of segs) {
    if (s.kind === 'interleave' && s.strips.some((t) => t.daxdev < 0 || !Number.isSafeInteger(t.offset))) {
      throw new FileMapError('a strip has a negative daxdev or an offset past 2^53');
    }
  }
  return {
    kind: 'layout',
    needsNodeid: false,
    emit(a, done) {
      const pos = CORE_REG.pos;
      a.mov('r0', STATUS.EOF);
      if (fitsS32(map.size)) a.jmp('jge', pos, map.size, done);
      else {
        a.lddw(SIZE_REG, map.size);
        a.jmp('jge', pos, SIZE_REG, done);
      }
      a.mov('r0', STATUS.MAPPED);
      const u = uniformSimple(segs, map.size);
      if (u) emitUniformSimple(a, u, map.size);
      else if (segs.length > 0) emitTree(a, segs, 0, segs.length - 1, done, true, map.size);
    },
  };
}
