// Sharing a device's mappings with another thread (src/device/memory.ts share/attach/adopt):
// the attached side views the owner's bytes in place, sees only the windows shared with it,
// and gains later ones; an emulated region shares its members.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { attachSpec, DeviceError, EmulatedRegion, MappedDevice } from '../../src/device/memory.js';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'famfs-ts-device-share-'));
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));
const GiB = 1024 ** 3;

function sparse(name: string, size: number): string {
  const p = path.join(DIR, name);
  fs.writeFileSync(p, '');
  fs.truncateSync(p, size);
  return p;
}

describe('device sharing between threads of one process', () => {
  it('shares only the windows under the runs asked for, and more later', () => {
    const owner = MappedDevice.open(sparse('dev', 3 * GiB + 4096));
    try {
      const first = owner.share([[4096, 100]]);
      expect(first.kind).toBe('device');
      expect(first.windows.map(([w]) => w)).toEqual([0]);
      const seen = attachSpec(first);
      owner.write(4096, Buffer.from('written by the owner'));
      expect(seen.slices(4096, 20)[0]!.toString()).toBe('written by the owner');
      seen.write(8192, Buffer.from('and by the thread'));
      const back = Buffer.alloc(17);
      owner.read(8192, back);
      expect(back.toString()).toBe('and by the thread');
      // Window 2 was never shared: an error, not a mapping of its own.
      expect(() => seen.slices(2 * GiB + 10, 4)).toThrow(DeviceError);
      // A run across windows 2 and 3 shares both; the attached device gains them.
      const later = owner.share([[3 * GiB - 2, 4]]);
      expect(later.windows.map(([w]) => w)).toEqual([0, 2, 3]);
      expect(attachSpec(later, seen)).toBe(seen);
      owner.write(3 * GiB - 2, Buffer.from('abcd'));
      expect(Buffer.concat(seen.slices(3 * GiB - 2, 4)).toString()).toBe('abcd');
      // Runs past the device are refused before anything is mapped.
      expect(() => owner.share([[3 * GiB, 8192]])).toThrow(DeviceError);
      // Windows the owner mapped for itself are not handed out with the next share.
      owner.slices(GiB + 5, 1);
      expect(owner.share([[4096, 1]]).windows.map(([w]) => w)).toEqual([0, 2, 3]);
      seen.close(); // leaves the owner's mappings alone
      expect(owner.slices(4096, 20)[0]!.toString()).toBe('written by the owner');
    } finally {
      owner.close();
    }
  });

  it('an emulated region shares its members and resolves the same controller arithmetic', () => {
    const members = ['m0', 'm1'].map((n) => MappedDevice.open(sparse(n, 8 * 4096)));
    const region = new EmulatedRegion('r0', 16 * 4096, { name: 'r0', ways: 2, granularity: 4096, devices: ['m0', 'm1'], size: 16 * 4096 }, members);
    try {
      const seen = attachSpec(region.share([]));
      const data = Buffer.alloc(3 * 4096);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      region.write(4096 - 100, data);
      expect(Buffer.concat(seen.slices(4096 - 100, data.length)).equals(data)).toBe(true);
      expect(seen.slices(0, 3 * 4096)).toHaveLength(3); // one view per granule, as the owner's
    } finally {
      region.close();
    }
  });
});
