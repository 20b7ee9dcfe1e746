// Temp images for the famfs tests: sparse files in /dev/shm (or the OS temp dir), deleted
// by cleanup(). The golden image is the fixture's 16 MiB head extended to 4 GiB.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { MappedDevice } from '../src/device/memory.js';
import { mkfs } from '../src/famfs/mkfs.js';
import { LOG_OFFSET } from '../src/famfs/constants.js';
import { logHeaderStruct } from '../src/famfs/log.js';
import { FamfsImage } from '../src/famfs/image.js';
import { FamfsFileSystem } from '../src/server/famfs-fs.js';

/** The real famfs image and its tools' outputs, kept in the repository so a bare clone tests. */
export const FIXTURE = path.resolve(__dirname, '..', 'fixtures', 'famfs-example');
export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

export class TempDir {
  readonly dir = fs.mkdtempSync(path.join(base, 'famfs-ts-test-'));
  file(name: string, size: number): string {
    const p = path.join(this.dir, name);
    const fd = fs.openSync(p, 'w');
    fs.ftruncateSync(fd, size);
    fs.closeSync(fd);
    return p;
  }
  path(name: string): string {
    return path.join(this.dir, name);
  }
  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let headCache: Buffer | undefined;
export function fixtureHead(): Buffer {
  headCache ??= zlib.gunzipSync(fs.readFileSync(path.join(FIXTURE, 'head-16MiB.bin.gz')));
  return headCache;
}

/** The fixture image as a 4 GiB sparse file. */
export function fixtureImage(t: TempDir, name = 'dax0.0'): string {
  const p = t.file(name, 4 * GiB);
  const fd = fs.openSync(p, 'r+');
  fs.writeSync(fd, fixtureHead(), 0, fixtureHead().length, 0);
  fs.closeSync(fd);
  return p;
}

/** The fixture's system UUID (superblock bytes 80..95): opening with it plays the master. */
export function fixtureSystemUuid(): Uint8Array {
  return Uint8Array.from(fixtureHead().subarray(80, 96));
}

/** A fresh famfs image of `size` bytes (below famfs's 4 GiB minimum, as mkfs --small allows) owned by `systemUuid`. */
export function smallImage(t: TempDir, name: string, size: number, systemUuid: Uint8Array): string {
  const p = t.file(name, size);
  const mem = MappedDevice.open(p, { writable: true });
  try {
    mkfs(mem, { devPath: p, systemUuid, allowSmall: true });
  } finally {
    mem.close();
  }
  return p;
}

/** famfs_log_next_index of the image on `dev`, read from the file (the log header, famfs-format.md §3). */
export function logNextIndex(dev: string): number {
  const b = Buffer.alloc(8);
  const fd = fs.openSync(dev, 'r');
  try {
    fs.readSync(fd, b, 0, 8, LOG_OFFSET + logHeaderStruct.offsetOf('famfs_log_next_index'));
  } finally {
    fs.closeSync(fd);
  }
  return Number(b.readBigUInt64LE(0));
}

/**
 * A master's famfs FileSystem over a fresh small image (the tests that drive the FileSystem
 * directly, as the engine would): `body` gets it, the image and the device path; the image is
 * closed after, also when body throws.
 */
export function withMasterFs(t: TempDir, name: string, size: number, systemUuid: Uint8Array, body: (f: FamfsFileSystem, img: FamfsImage, dev: string) => void): void {
  const dev = smallImage(t, name, size, systemUuid);
  const img = FamfsImage.open({ device: dev, writable: true, systemUuid });
  try {
    body(new FamfsFileSystem(img, { device: dev }), img, dev);
  } finally {
    img.close();
  }
}
