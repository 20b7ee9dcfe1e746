// Tier 1: the in-memory times of files committed through a mount (src/server/file-times.ts):
// one array for log node ids, a map for anything else, nothing recorded = the fallback.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FileTimes } from '../../src/server/file-times.js';

describe('FileTimes', () => {
  it('gives back what was set, by id, and the fallback for any id never set', () => {
    const t = new FileTimes();
    expect(t.get(2, FileTimes.all(7))).toEqual({ atimeMs: 7, mtimeMs: 7, ctimeMs: 7 });
    t.set(2, { atimeMs: 1, mtimeMs: 2, ctimeMs: 3 });
    t.set(5000, { atimeMs: 4, mtimeMs: 5, ctimeMs: 6 }); // past the first allocation: grows
    t.set(2 ** 51 + 9, { atimeMs: 0, mtimeMs: 0, ctimeMs: 0 }); // not a log node id: the map
    expect(t.get(2, FileTimes.all(7))).toEqual({ atimeMs: 1, mtimeMs: 2, ctimeMs: 3 });
    expect(t.get(5000, FileTimes.all(7))).toEqual({ atimeMs: 4, mtimeMs: 5, ctimeMs: 6 });
    expect(t.get(2 ** 51 + 9, FileTimes.all(7))).toEqual({ atimeMs: 0, mtimeMs: 0, ctimeMs: 0 });
    expect(t.get(3, FileTimes.all(7))).toEqual({ atimeMs: 7, mtimeMs: 7, ctimeMs: 7 });
    expect(t.get(4999, FileTimes.all(7)).mtimeMs).toBe(7);
    expect(t.get(1e9, FileTimes.all(7)).mtimeMs).toBe(7);
  });

  it('agrees with a Map over any sequence of sets', () => {
    const id = fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 2 ** 24, max: 2 ** 53 - 1 }));
    const time = fc.double({ min: 0, max: 4e12, noNaN: true });
    fc.assert(fc.property(fc.array(fc.tuple(id, time, time, time), { maxLength: 60 }), (sets) => {
      const t = new FileTimes();
      const model = new Map<number, { atimeMs: number; mtimeMs: number; ctimeMs: number }>();
      for (const [i, atimeMs, mtimeMs, ctimeMs] of sets) {
        t.set(i, { atimeMs, mtimeMs, ctimeMs });
        model.set(i, { atimeMs, mtimeMs, ctimeMs });
      }
      for (const [i] of sets) expect(t.get(i, FileTimes.all(-1))).toEqual(model.get(i));
      expect(t.get(70_001, FileTimes.all(-1)).ctimeMs).toBe(-1);
    }));
  });
});
