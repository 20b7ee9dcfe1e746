// Tier 1: the quiet-time full collection the mount runs after the kernel's forgets
// (src/fuse/quiet-gc.ts) works on this Node without exposing gc() to anyone else, and the
// serving threads' QUIET_UPDATE (src/fuse/data-plane.ts) reaches the thread, not its plane.
import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import { MessageChannel } from 'node:worker_threads';
import { applyUpdates, QUIET_UPDATE, type DataPlane } from '../../src/fuse/data-plane.js';
import { collectIdleThread, fullGc } from '../../src/fuse/quiet-gc.js';

describe('quiet-gc', () => {
  it('runs a full collection, again and again, and leaves globalThis alone', () => {
    const before = (globalThis as { gc?: unknown }).gc;
    expect(fullGc()).toBe(true);
    expect(fullGc()).toBe(true);
    expect((globalThis as { gc?: unknown }).gc).toBe(before);
  });

  // What FamfsMount.shrinkYoungSoon (src/server/serve.ts) relies on: V8 keeps a young
  // generation a burst grew until a full collection finds little allocated over the 5 s before it.
  it('gives back a grown young generation when run after 6 s of little allocation', async () => {
    const young = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    let keep: { i: number; s: string }[] = [];
    for (let i = 0; i < 2_000_000; i++) {
      keep.push({ i, s: `x${i}` });
      if (keep.length > 1000) keep = [];
    }
    fullGc();
    const grown = young();
    await new Promise((r) => setTimeout(r, 6500));
    fullGc();
    expect(young()).toBeLessThan(grown);
  }, 20_000);
});

describe('QUIET_UPDATE', () => {
  it('is taken by applyUpdates itself, in order with the plane updates around it', async () => {
    const seen: unknown[] = [];
    const plane = { owns: () => false, read: () => [], write: () => 0, update: (m: unknown) => void seen.push(m) } as unknown as DataPlane;
    const { port1, port2 } = new MessageChannel();
    try {
      const logged: string[] = [];
      port1.postMessage({ kind: 'forget', nodeid: 5 });
      port1.postMessage(QUIET_UPDATE);
      port1.postMessage({ kind: 'forget', nodeid: 6 });
      expect(applyUpdates(plane, port2, (l) => logged.push(l))).toBe(true);
      expect(seen).toEqual([{ kind: 'forget', nodeid: 5 }, { kind: 'forget', nodeid: 6 }]);
      port1.postMessage({ kind: 'forget', nodeid: 7 });
      expect(applyUpdates(plane, port2, (l) => logged.push(l))).toBe(false);
      expect(applyUpdates(plane, port2, (l) => logged.push(l))).toBe(false);
      expect(seen).toHaveLength(3);
      expect(logged).toEqual([]);
    } finally {
      port1.close();
      port2.close();
    }
  });

  it('collectIdleThread collects and trims without throwing', () => {
    const logged: string[] = [];
    collectIdleThread((l) => logged.push(l));
    expect(logged).toEqual([]);
  });
});
