// A device emulated by a sparse file: a store allocates the pages it touches, not a large
// folio around them (src/device/memory.ts MappedDevice.write stores by pwrite). The image
// lives beside the checkout, on a disk file system, where the kernel may use large folios:
// stored through the mapping, ext4 on Linux 6.16+ allocated up to 2 MiB per 4 KiB store.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MappedDevice } from '../../src/device/memory.js';

const DIR = fs.mkdtempSync(path.join(process.cwd(), '.famfs-ts-device-mapping-'));
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));
const MiB = 1024 ** 2;

describe('a file-backed device', () => {
  it('allocates what a store touches, not 2 MiB around it', () => {
    const p = path.join(DIR, 'dev');
    fs.writeFileSync(p, '');
    fs.truncateSync(p, 256 * MiB);
    const dev = MappedDevice.open(p);
    try {
      const block = Buffer.alloc(4096, 0xa5);
      for (let k = 0; k < 64; k++) dev.write(2 * MiB * (k + 1), block);
      const back = Buffer.alloc(4096);
      dev.read(6 * MiB, back);
      expect(back.equals(block)).toBe(true);
    } finally {
      dev.close();
    }
    // 64 stores of 4 KiB (through the mapping here: 95 MiB allocated): a few pages each at most.
    expect(fs.statSync(p).blocks * 512).toBeLessThanOrEqual(64 * 256 * 1024);
  });
});
