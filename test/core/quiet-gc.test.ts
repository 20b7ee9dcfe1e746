// Tier 1: the quiet-time full collection the mount runs after the kernel's forgets
// (src/fuse/quiet-gc.ts) works on this Node without exposing gc() to anyone else, and the
// serving threads' QUIET_UPDATE (src/fuse/data-plane.ts) reaches the thread, not its plane.
import { describe, expect, it } from 'vitest';
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
