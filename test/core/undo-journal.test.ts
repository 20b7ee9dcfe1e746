// The undo journal (src/server/undo-journal.ts): what an open file description overwrote in a
// committed file is put back, newest first, when a refusal through it comes later.
import { describe, expect, it } from 'vitest';
import type { DaxdevMemory, DeviceSpec } from '../../src/device/memory.js';
import type { FileMap } from '../../src/interleave/filemap.js';
import { UNDO_LIMIT, UndoJournal, writeCommittedUndoable } from '../../src/server/undo-journal.js';

/** A daxdev held in a Buffer. */
function memory(size: number): DaxdevMemory & { bytes: Buffer } {
  const bytes = Buffer.alloc(size);
  return {
    bytes, name: 'mem', size, views: true,
    share(): DeviceSpec {
      throw new Error('not shared in this test');
    },
    slices: (o, l) => [bytes.subarray(o, o + l)],
    read: (o, dst) => void bytes.copy(dst, 0, o, o + dst.length),
    write: (o, src) => void Buffer.from(src.buffer, src.byteOffset, src.length).copy(bytes, o),
    flush: () => undefined,
    invalidate: () => undefined,
    sync: () => undefined,
    close: () => undefined,
  };
}

// Two extents, so writes cross from one to the other.
const map: FileMap = { size: 24, extents: [{ type: 'simple', daxdev: 0, offset: 100, length: 10 }, { type: 'simple', daxdev: 0, offset: 300, length: 14 }] };

function content(d: { bytes: Buffer }): string {
  return d.bytes.subarray(100, 110).toString() + d.bytes.subarray(300, 314).toString();
}

describe('undo journal', () => {
  it('puts back overlapping rewrites (the oldest bytes win) and refuses the description after', () => {
    const d = memory(1024);
    const dev = (): DaxdevMemory => d;
    d.bytes.write('0123456789', 100);
    d.bytes.write('abcdefghijklmn', 300);
    const j = UndoJournal.forFile(map.size);
    const noInval = (): void => undefined;
    expect(writeCommittedUndoable('f', map, dev, 5, Buffer.from('XXXXXXXX'), j, noInval)).toBe(8);
    expect(writeCommittedUndoable('f', map, dev, 8, Buffer.from('YYYY'), j, noInval)).toBe(4);
    expect(content(d)).toBe('01234XXXYYYYXdefghijklmn');
    expect(j.savedBytes).toBe(12);
    const inval: [number, number][] = [];
    // A write past the size: EFBIG, everything put back.
    expect(() => writeCommittedUndoable('f', map, dev, 20, Buffer.from('zzzzz'), j, (a, b) => inval.push([a, b]))).toThrow(/past the size 24.*the 12 bytes .* put back/);
    expect(content(d)).toBe('0123456789abcdefghijklmn');
    // Every undone byte lies in the 2 MiB folio of the refused write: left for the FLUSH.
    expect(inval).toEqual([]);
    expect(j.refused).toBe(true);
    expect(() => writeCommittedUndoable('f', map, dev, 0, Buffer.from('a'), j, noInval)).toThrow(/writes nothing more/);
    // Undo again: nothing left.
    expect(j.undo(map, dev)).toEqual({ bytes: 0, from: Infinity, to: 0 });
  });

  it('past its room it stops saving, and an undo says the file holds what was written', () => {
    const d = memory(1024);
    const dev = (): DaxdevMemory => d;
    const j = new UndoJournal(new SharedArrayBuffer(16 + 32));
    j.save(map, dev, 0, 8); // 16 + 8: fits
    j.save(map, dev, 8, 16); // 16 + 16 more: does not
    expect(j.overflowed).toBe(true);
    expect(j.undo(map, dev)).toBeUndefined();
    expect(j.refused).toBe(true);
    expect(UndoJournal.forFile(10 * UNDO_LIMIT).buffer.byteLength).toBeLessThanOrEqual(UNDO_LIMIT + 16);
  });
});
