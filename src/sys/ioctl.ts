// ioctl(2) calls on devices. Numbers are Linux's generic _IOC encoding on x86_64/arm64.
import { libc, check } from './libc.js';

const ioctlPtr = libc.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)');

/** _IOC(dir, type, nr, size): dir 1 = write (to kernel), 2 = read (from kernel). */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

/** ioctl with an in/out argument buffer. Returns the call's non-negative result. */
export function ioctlBuf(fd: number, request: number, arg: Uint8Array, what = ''): number {
  return check('ioctl', ioctlPtr(fd, request, arg) as number, what);
}

const BLKGETSIZE64 = ioc(2, 0x12, 114, 8);

/** Size in bytes of a block device (pmem, loop). */
export function blockDeviceSize(fd: number): number {
  const out = new Uint8Array(8);
  ioctlBuf(fd, BLKGETSIZE64, out, 'BLKGETSIZE64');
  return Number(new DataView(out.buffer).getBigUint64(0, true));
}

