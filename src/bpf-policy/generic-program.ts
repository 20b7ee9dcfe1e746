// The generic map-driven resolver (emitter 2): one fixed program that looks the
// file's layout up in a BPF hash map keyed by nodeid (the server fills it at OPEN, as in
// Joanne Koong's famfs.bpf.c, reference fuse-iomap-abi.md §4.1), so layouts change without
// reloading. No loop: the extent is found by a branchless binary search over 32 starts
// (fixed depth 5), and every index is bounded before it scales a pointer.
import { defineStruct } from '../cstruct.js';
import { FileMapError, type FileMap } from '../interleave/filemap.js';
import type { Asm } from './asm.js';
import { CORE_REG, STATUS, type ResolverCore } from './core.js';
import { HELPER } from './isa.js';
import { segmentsOf } from './layout-program.js';

export const GENERIC_MAX_EXTENTS = 32;
export const GENERIC_MAX_STRIPS = 64;
/** Start of an unused extent slot: above any pos < size <= 2^53, so the search never picks it. */
export const GENERIC_PAD_START = 2 ** 62;
/** Chunk of a simple extent: larger than any extent, so chunk 0 / strip 0 covers it. */
const SIMPLE_CHUNK = 2 ** 62;

/** Value header: file size and counts (informational). */
export const GenericHeader = defineStruct('famfs_ts_bpf_fmap_hdr', 16, [
  { name: 'size', offset: 0, type: 'u64' },
  { name: 'nextents', offset: 8, type: 'u32' },
  { name: 'nstrips', offset: 12, type: 'u32' },
] as const);

/** One extent: the file range [start, end) it serves, its chunk, and its strips in the pool. */
export const GenericExtent = defineStruct('famfs_ts_bpf_fmap_ext', 32, [
  { name: 'start', offset: 0, type: 'u64' },
  { name: 'end', offset: 8, type: 'u64' },
  { name: 'chunk', offset: 16, type: 'u64' },
  { name: 'nstrips', offset: 24, type: 'u32' },
  { name: 'firstStrip', offset: 28, type: 'u32' },
] as const);

/** One strip (or a simple extent's run): daxdev index and device byte offset. */
export const GenericStrip = defineStruct('famfs_ts_bpf_fmap_strip', 16, [
  { name: 'daxdev', offset: 0, type: 'u64' },
  { name: 'base', offset: 8, type: 'u64' },
] as const);

export const GENERIC_EXT_OFF = GenericHeader.size;
export const GENERIC_STRIP_OFF = GENERIC_EXT_OFF + GENERIC_MAX_EXTENTS * GenericExtent.size;
/** Bytes per hash-map value (2064). */
export const GENERIC_VALUE_SIZE = GENERIC_STRIP_OFF + GENERIC_MAX_STRIPS * GenericStrip.size;
export const GENERIC_KEY_SIZE = 8;

/** The hash-map value for one file. Throws when the map exceeds the fixed capacity. */
export function encodeGenericValue(map: FileMap): Buffer {
  const segs = segmentsOf(map).filter((s) => s.kind !== 'hole');
  if (segs.length > GENERIC_MAX_EXTENTS) {
    throw new FileMapError(`file map has ${segs.length} extents; the generic BPF value holds at most ${GENERIC_MAX_EXTENTS}`);
  }
  const buf = Buffer.alloc(GENERIC_VALUE_SIZE);
  let strip = 0;
  const addStrip = (daxdev: number, base: number) => {
    if (strip >= GENERIC_MAX_STRIPS) throw new FileMapError(`file map has more than ${GENERIC_MAX_STRIPS} strips in all; the generic BPF value holds ${GENERIC_MAX_STRIPS}`);
    GenericStrip.encodeInto(buf, { daxdev, base }, GENERIC_STRIP_OFF + strip * GenericStrip.size);
    strip++;
  };
  segs.forEach((s, k) => {
    const at = GENERIC_EXT_OFF + k * GenericExtent.size;
    const first = strip;
    if (s.kind === 'simple') {
      addStrip(s.daxdev, s.offset);
      GenericExtent.encodeInto(buf, { start: s.start, end: s.end, chunk: SIMPLE_CHUNK, nstrips: 1, firstStrip: first }, at);
    } else if (s.kind === 'interleave') {
      for (const t of s.strips) addStrip(t.daxdev, t.offset);
      GenericExtent.encodeInto(buf, { start: s.start, end: s.end, chunk: s.chunk, nstrips: s.strips.length, firstStrip: first }, at);
    }
  });
  for (let k = segs.length; k < GENERIC_MAX_EXTENTS; k++) {
    GenericExtent.encodeInto(buf, { start: GENERIC_PAD_START }, GENERIC_EXT_OFF + k * GenericExtent.size);
  }
  GenericHeader.encodeInto(buf, { size: map.size, nextents: segs.length, nstrips: strip }, 0);
  return buf;
}

export function nodeidKey(nodeid: number | bigint): Buffer {
  const k = Buffer.alloc(GENERIC_KEY_SIZE);
  k.writeBigUInt64LE(BigInt(nodeid));
  return k;
}

/** The generic core reading the hash map with fd `mapFd` (BPF_PSEUDO_MAP_FD). */
export function genericCore(mapFd: number): ResolverCore {
  return {
    kind: 'generic',
    needsNodeid: true,
    emit(a: Asm, done: string) {
      const pos = CORE_REG.pos;
      const ext = (field: 'start' | 'end' | 'chunk' | 'nstrips' | 'firstStrip', slot = 0) =>
        GENERIC_EXT_OFF + slot * GenericExtent.size + GenericExtent.offsetOf(field);
      // value = bpf_map_lookup_elem(map, &nodeid)
      a.stx('dw', 'r10', -8, CORE_REG.nodeid);
      a.ldMapFd('r1', mapFd);
      a.mov('r2', 'r10');
      a.add('r2', -8);
      a.call(HELPER.map_lookup_elem);
      const found = a.newLabel('found');
      a.jmp('jne', 'r0', 0, found);
      a.mov('r0', STATUS.UNKNOWN_NODEID);
      a.ja(done);
      a.label(found);
      a.mov('r8', 'r0');
      a.mov('r0', STATUS.EOF);
      a.ldx('dw', 'r1', 'r8', GenericHeader.offsetOf('size'));
      a.jmp('jge', pos, 'r1', done);
      // Branchless binary search: idx (r2) = last extent whose start <= pos.
      // (start - (pos + 1)) >> 63 is 1 exactly when start <= pos (both below 2^62).
      a.mov('r7', pos);
      a.add('r7', 1);
      a.ldx('dw', 'r2', 'r8', ext('start', 16));
      a.sub('r2', 'r7');
      a.rsh('r2', 63);
      a.lsh('r2', 4);
      for (const half of [8, 4, 2, 1]) {
        a.mov('r1', 'r2');
        a.lsh('r1', 5);
        a.mov('r3', 'r8');
        a.add('r3', 'r1');
        a.ldx('dw', 'r1', 'r3', ext('start', half));
        a.sub('r1', 'r7');
        a.rsh('r1', 63);
        if (half > 1) a.lsh('r1', Math.log2(half));
        a.add('r2', 'r1');
      }
      // r3 = &ext[idx] (minus the extent table offset, folded into the loads)
      a.mov('r1', 'r2');
      a.lsh('r1', 5);
      a.mov('r3', 'r8');
      a.add('r3', 'r1');
      a.mov('r0', STATUS.HOLE);
      a.ldx('dw', 'r5', 'r3', ext('end'));
      a.jmp('jge', pos, 'r5', done);
      a.sub('r5', pos); // end - pos
      a.mov('r1', pos);
      a.ldx('dw', 'r4', 'r3', ext('start'));
      a.sub('r1', 'r4'); // local
      a.ldx('dw', 'r4', 'r3', ext('chunk'));
      a.ldx('w', 'r7', 'r3', ext('nstrips'));
      a.ldx('w', 'r3', 'r3', ext('firstStrip'));
      // Register divisors: the kernel guards them at run time, and x/0 = 0 keeps a bad
      // value inside the strip bound check below (bpf-tooling.md §1.4).
      a.mov('r2', 'r1');
      a.div('r2', 'r4'); // chunk number
      a.mod('r1', 'r4'); // chunk offset
      a.mov('r0', 'r2');
      a.mod('r0', 'r7'); // strip within the extent
      a.div('r2', 'r7'); // stripe number
      a.mul('r2', 'r4');
      a.add('r2', 'r1'); // offset within the strip
      a.sub('r4', 'r1'); // chunk remainder
      a.add('r0', 'r3'); // strip index in the pool
      const inPool = a.newLabel('in_pool');
      a.jmp('jlt', 'r0', GENERIC_MAX_STRIPS, inPool);
      a.mov('r0', STATUS.HOLE);
      a.ja(done);
      a.label(inPool);
      a.lsh('r0', 4);
      a.mov('r1', 'r8');
      a.add('r1', 'r0');
      a.ldx('dw', 'r3', 'r1', GENERIC_STRIP_OFF + GenericStrip.offsetOf('base'));
      a.add('r3', 'r2');
      a.ldx('dw', 'r2', 'r1', GENERIC_STRIP_OFF + GenericStrip.offsetOf('daxdev'));
      const lenOk = a.newLabel('len_ok');
      a.jmp('jle', 'r4', 'r5', lenOk);
      a.mov('r4', 'r5');
      a.label(lenOk);
      a.mov('r0', STATUS.MAPPED);
    },
  };
}
