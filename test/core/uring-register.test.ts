// The io_uring registrations the ring threads make (src/sys/uring.ts, src/fuse/uring-worker.ts):
// a file named by its index in the ring's table (IOSQE_FIXED_FILE) and io_uring_enter naming
// the ring by the index registerRing() got. Checked with an eventfd read, no FUSE needed. Off
// CI a kernel that refuses io_uring (kernel.io_uring_disabled) skips it with the reason; in CI
// that fails (tier.ts).
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { eventFd, IoUring, IoUringSqe, IORING_OP_READ, IOSQE_FIXED_FILE, mapArena, type Completion } from '../../src/sys/uring.js';
import { describeTier1 } from '../support/tier.js';

function refused(): string | undefined {
  try {
    new IoUring(4, 0).close();
    return undefined;
  } catch (e) {
    return `io_uring refused: ${(e as Error).message}`;
  }
}

describeTier1('io_uring registrations', refused, () => {
  it('reads an eventfd named by its index in the registered files, entering the ring by its registered index', () => {
    const ring = new IoUring(4, 0);
    const efd = eventFd();
    const buf = mapArena(4096);
    try {
      ring.registerFiles([efd]);
      ring.registerRing();
      const sqe = ring.prepare(IORING_OP_READ, 0, 7);
      sqe.writeUInt8(IOSQE_FIXED_FILE, IoUringSqe.offsetOf('flags'));
      sqe.writeBigUInt64LE(buf.address, IoUringSqe.offsetOf('addr'));
      sqe.writeUInt32LE(8, IoUringSqe.offsetOf('len'));
      const one = Buffer.alloc(8);
      one.writeBigUInt64LE(5n);
      fs.writeSync(efd, one);
      expect(ring.submitAndWait(1)).toBe(1);
      const got: Completion[] = [];
      expect(ring.reap(got)).toBe(1);
      expect(got[0]).toEqual({ userData: 7, res: 8 });
      expect(buf.bytes.readBigUInt64LE(0)).toBe(5n);
    } finally {
      ring.close();
      fs.closeSync(efd);
      buf.unmap();
    }
  });

  it('names what it could not register', () => {
    const ring = new IoUring(4, 0);
    try {
      expect(() => ring.registerFiles([-5])).toThrow(/io_uring_register.*IORING_REGISTER_FILES/);
    } finally {
      ring.close();
    }
  });
});
