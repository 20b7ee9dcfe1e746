// Tier 1: the quiet-time full collection the mount runs after the kernel's forgets
// (src/server/quiet-gc.ts) works on this Node without exposing gc() to anyone else.
import { describe, expect, it } from 'vitest';
import { fullGc } from '../../src/server/quiet-gc.js';

describe('quiet-gc', () => {
  it('runs a full collection, again and again, and leaves globalThis alone', () => {
    const before = (globalThis as { gc?: unknown }).gc;
    expect(fullGc()).toBe(true);
    expect(fullGc()).toBe(true);
    expect((globalThis as { gc?: unknown }).gc).toBe(before);
  });
});
