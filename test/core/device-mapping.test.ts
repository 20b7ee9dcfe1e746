// A device emulated by a sparse file: a store allocates the pages it touches, not a large
// folio around them (src/device/memory.ts MappedDevice.write stores by pwrite). The image
// lives beside the checkout, on a disk file system, where the kernel may use large folios:
// stored through the mapping, ext4 on Linux 6.16+ allocated up to 2 MiB per 4 KiB store.
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { attachSpec, MappedDevice, storeZeros } from '../../src/device/memory.js';

const DIR = fs.mkdtempSync(path.join(process.cwd(), '.famfs-ts-device-mapping-'));
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));
const MiB = 1024 ** 2;

/** A sparse image file of `size` bytes in /dev/shm (tmpfs: every fault gives it a page), opened; both gone after `body`. */
function withShmImage(tag: string, size: number, body: (dev: MappedDevice, p: string) => void): void {
  const p = `/dev/shm/famfs-ts-${tag}-${process.pid}`;
  fs.writeFileSync(p, '');
  fs.truncateSync(p, size);
  const dev = MappedDevice.open(p);
  try {
    body(dev, p);
  } finally {
    dev.close();
    fs.rmSync(p, { force: true });
  }
}

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

  // On tmpfs every fault of the mapping, a read's too, gives the file a page; on a full tmpfs
  // that is SIGBUS (or EFAULT for a reply the kernel copies from the view). Holes read as zeros.
  it('reads holes as zeros without giving them pages, in the owner and in a viewer', () => {
    withShmImage('holes', 8 * MiB, (dev, p) => {
      const block = Buffer.alloc(4096, 0x5a);
      dev.write(2 * MiB + 8192, block);
      const want = Buffer.alloc(4 * MiB);
      block.copy(want, 2 * MiB + 8192);
      const before = fs.statSync(p).blocks;
      const viewer = attachSpec(dev.share([[0, 8 * MiB]]));
      for (const d of [dev, viewer]) {
        expect(Buffer.concat(d.readSlices!(0, 4 * MiB)).equals(want)).toBe(true);
        const copy = Buffer.alloc(4 * MiB, 1);
        d.read(0, copy);
        expect(copy.equals(want)).toBe(true);
      }
      expect(fs.statSync(p).blocks).toBe(before);
      // A unit with no hole left is viewed in place from then on.
      dev.write(6 * MiB, Buffer.alloc(2 * MiB, 7));
      const whole = dev.readSlices(6 * MiB, 2 * MiB);
      expect(whole).toHaveLength(1);
      whole[0]![0] = 9;
      expect(dev.slices(6 * MiB, 1)[0]![0]).toBe(9);
    });
  });

  // A file created through a mount is zeroed where it grows (it may get space another file
  // gave back): in an image file that is a punched hole, not pages of zeros.
  it('zeroes a range of an image file by punching a hole; a unit read whole before is checked again', () => {
    withShmImage('zero', 16 * MiB, (dev, p) => {
      dev.write(2 * MiB, Buffer.alloc(4 * MiB, 0x11));
      expect(dev.readSlices(2 * MiB, 2 * MiB)).toHaveLength(1); // unit 1 is now known to hold no hole
      const before = fs.statSync(p).blocks;
      storeZeros(dev, 2 * MiB + 4096, 3 * MiB);
      expect(fs.statSync(p).blocks * 512).toBeLessThanOrEqual(before * 512 - 3 * MiB + 8192);
      const want = Buffer.alloc(4 * MiB, 0x11);
      want.fill(0, 4096, 4096 + 3 * MiB);
      const blocks = fs.statSync(p).blocks;
      expect(Buffer.concat(dev.readSlices(2 * MiB, 4 * MiB)).equals(want)).toBe(true);
      // Read as zeros from the hole, not through the mapping (a tmpfs fault would give it pages).
      expect(fs.statSync(p).blocks).toBe(blocks);
      // A partial page at either end is zeroed in place.
      storeZeros(dev, 6 * MiB - 100, 50);
      const tail = Buffer.alloc(100);
      dev.read(6 * MiB - 100, tail);
      expect([...tail.subarray(0, 50)].every((b) => b === 0) && [...tail.subarray(50)].every((b) => b === 0x11)).toBe(true);
    });
  });

  // The log is stored an entry (544 bytes) at a time through its view: populate() maps the
  // pages ahead in one call, so those stores take no page faults (40-50 us each on a VM).
  it('maps a range for stores in one call: storing there then takes no page faults', () => {
    withShmImage('populate', 8 * MiB, (dev, p) => {
      const faultsStoring = (at: number): number => {
        const view = dev.slices(at, MiB)[0]!;
        const before = process.resourceUsage().minorPageFault;
        for (let o = 0; o < MiB; o += 4096) view[o] = 1;
        return process.resourceUsage().minorPageFault - before;
      };
      expect(faultsStoring(0)).toBeGreaterThanOrEqual(200); // 256 pages, each faulted at its first store
      expect(dev.populate(2 * MiB + 100, MiB - 100)).toBe(true); // any offset: it starts at the page
      expect(faultsStoring(2 * MiB)).toBeLessThan(32);
      const ro = MappedDevice.open(p, { writable: false });
      try {
        expect(ro.populate(0, 4096)).toBe(false);
      } finally {
        ro.close();
      }
    });
  });

  it('reads any range of a sparse image as its model says, data and holes alike', () => {
    const p = `/dev/shm/famfs-ts-holes-model-${process.pid}`;
    // Not a whole number of 2 MiB units: the last unit is short.
    const PAGE = 4096;
    const size = 8 * MiB + 3 * PAGE;
    try {
      fc.assert(fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: size / PAGE - 1 }), { maxLength: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: size / PAGE - 1 }), fc.integer({ min: 1, max: size / PAGE })), { maxLength: 3 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 1, max: 3 * MiB })), { minLength: 1, maxLength: 8 }),
        (pages, runs, reads) => {
          fs.writeFileSync(p, '');
          fs.truncateSync(p, size);
          const model = Buffer.alloc(size);
          const dev = MappedDevice.open(p);
          try {
            for (const pg of pages) {
              const b = Buffer.alloc(PAGE, (pg % 251) + 1);
              dev.write(pg * PAGE, b);
              b.copy(model, pg * PAGE);
            }
            // Runs of data across units (a whole file's bytes): one lseek sees them all.
            for (const [pg, n] of runs) {
              const len = Math.min(n * PAGE, size - pg * PAGE);
              const b = Buffer.alloc(len, (pg % 249) + 3);
              dev.write(pg * PAGE, b);
              b.copy(model, pg * PAGE);
            }
            const blocks = fs.statSync(p).blocks;
            for (const [off, len0] of reads) {
              const len = Math.min(len0, size - off);
              expect(Buffer.concat(dev.readSlices(off, len)).equals(model.subarray(off, off + len))).toBe(true);
            }
            expect(fs.statSync(p).blocks).toBe(blocks);
          } finally {
            dev.close();
          }
        },
      ), { numRuns: 40 });
    } finally {
      fs.rmSync(p, { force: true });
    }
  });
});
