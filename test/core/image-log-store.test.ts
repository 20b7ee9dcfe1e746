// Log appends into an image file (src/famfs/image.ts storeLog): once the log region has its
// memory (fallocate at the first append), entries and counters are stored through the
// log's view, not by two pwrite(2)s per append; where the file system has no room for the
// log's holes they stay pwrites, which can fail with ENOSPC but never SIGBUS.
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceError, MappedDevice, type DaxdevMemory } from '../../src/device/memory.js';
import { FamfsImage } from '../../src/famfs/image.js';
import { mkfs } from '../../src/famfs/mkfs.js';
import { LOG_OFFSET } from '../../src/famfs/constants.js';
import { entryOffset } from '../../src/famfs/log.js';

const MiB = 1024 ** 2;
const U = new Uint8Array(16).fill(7);
const made: string[] = [];
afterEach(() => {
  for (const p of made.splice(0)) fs.rmSync(p, { force: true });
});

/** The device, with its writes counted and back() answered by `back`. */
function counted(d: MappedDevice, back: (offset: number, length: number) => boolean): DaxdevMemory & { writes: number; populated: [number, number][] } {
  return {
    writes: 0,
    name: d.name,
    size: d.size,
    views: d.views,
    share: (runs) => d.share(runs),
    slices: (o, l) => d.slices(o, l),
    readSlices: (o, l) => d.readSlices(o, l),
    read: (o, dst) => d.read(o, dst),
    write(o, src) {
      this.writes++;
      d.write(o, src);
    },
    flush: (o, l) => d.flush(o, l),
    invalidate: (o, l) => d.invalidate(o, l),
    sync: () => d.sync(),
    back,
    populate(o, l) {
      this.populated.push([o, l]);
      return d.populate(o, l);
    },
    populated: [],
    close: () => d.close(),
  };
}

function image(): string {
  const p = `/dev/shm/famfs-ts-log-store-${process.pid}-${made.length}`;
  made.push(p);
  fs.writeFileSync(p, '');
  fs.truncateSync(p, 64 * MiB);
  const m = MappedDevice.open(p);
  try {
    mkfs(m, { devPath: p, systemUuid: U, allowSmall: true });
  } finally {
    m.close();
  }
  return p;
}

describe('log appends into an image file', () => {
  it('store through the log view once the log has its memory', () => {
    const p = image();
    const backed: [number, number][] = [];
    const dev = counted(MappedDevice.open(p), (o, l) => (backed.push([o, l]), true));
    const img = FamfsImage.open({ primary: dev, writable: true, systemUuid: U });
    try {
      img.creat('a', 5000);
      img.mkdir('d');
      img.creat('d/b', 3 * MiB);
      expect(dev.writes).toBe(0);
      expect(backed).toHaveLength(1); // the whole log, once
      expect(backed[0]![1]).toBe(img.sb.logLen);
    } finally {
      img.close();
    }
    const client = FamfsImage.open({ device: p, systemUuid: new Uint8Array(16) });
    try {
      expect(client.file('d/b').size).toBe(3 * MiB);
      expect(client.file('a').size).toBe(5000);
    } finally {
      client.close();
    }
  });

  it('map the log pages ahead of its tail, a window at a time, not one fault per page', () => {
    const p = image();
    const dev = counted(MappedDevice.open(p), () => true);
    const img = FamfsImage.open({ primary: dev, writable: true, systemUuid: U });
    try {
      for (let i = 0; i < 1200; i++) img.mkdir(`d${i}`);
      const end = LOG_OFFSET + entryOffset(img.header.nextIndex);
      // Contiguous windows from the log's start, always ahead of the tail, a few of them.
      expect(dev.populated[0]![0]).toBe(LOG_OFFSET);
      for (let k = 1; k < dev.populated.length; k++) expect(dev.populated[k]![0]).toBe(dev.populated[k - 1]![0] + dev.populated[k - 1]![1]);
      const last = dev.populated[dev.populated.length - 1]!;
      expect(last[0] + last[1]).toBeGreaterThanOrEqual(end);
      expect(dev.populated.length).toBeLessThanOrEqual(Math.ceil(end / (128 * 1024)));
    } finally {
      img.close();
    }
    const client = FamfsImage.open({ device: p, systemUuid: new Uint8Array(16) });
    try {
      expect(client.readdir('/')).toHaveLength(1200);
    } finally {
      client.close();
    }
  });

  it('stay pwrites when the log cannot be given its memory, and still log', () => {
    const p = image();
    const dev = counted(MappedDevice.open(p), () => {
      throw new DeviceError('fallocate: ENOSPC', 'ENOSPC');
    });
    const img = FamfsImage.open({ primary: dev, writable: true, systemUuid: U });
    try {
      img.creat('a', 5000);
      img.creat('b', 5000);
      expect(dev.writes).toBe(4); // entry and counters, per append
    } finally {
      img.close();
    }
    const client = FamfsImage.open({ device: p, systemUuid: new Uint8Array(16) });
    try {
      expect(client.readdir('/').map((n) => n.name).sort()).toEqual(['a', 'b']);
    } finally {
      client.close();
    }
  });
});
