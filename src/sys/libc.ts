// The FFI boundary: every syscall famfs-ts makes goes through koffi from src/sys. This file
// loads libc and holds what more than one part of the project needs (mmap, flock, errno);
// fuse-dev.ts (mount, /dev/fuse, socketpair) and bpf.ts (bpf(2)) add their own calls on
// the same library handle.
import koffi from 'koffi';
import os from 'node:os';
import { ErrnoError } from '../errno.js';

export const libc = koffi.load('libc.so.6');

const errnoNames = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, num]) => [num, name]),
);

/** A failed syscall: `errno` is positive, `code` its name (ENOENT, EBUSY, ...). */
export class SysError extends ErrnoError {
  readonly code: string;
  constructor(readonly call: string, readonly errno: number, detail = '', options?: ErrorOptions) {
    const code = errnoNames.get(errno) ?? `errno ${errno}`;
    super(`${call}${detail ? ` ${detail}` : ''}: ${code} (${strerror(errno)})`, errno, options);
    this.code = code;
  }
}

const strerrorFn = libc.func('const char *strerror(int errnum)');
export function strerror(errno: number): string {
  return strerrorFn(errno) as string;
}

/** Throw SysError when a libc call returned -1 (or a negative value). */
export function check(call: string, rc: number | bigint, detail = ''): number {
  if (Number(rc) < 0) throw new SysError(call, koffi.errno(), detail);
  return Number(rc);
}

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_SHARED_VALIDATE = 3;
export const MAP_SYNC = 0x80000;
export const MAP_FAILED = 0xffffffffffffffffn;

const mmapFn = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const munmapFn = libc.func('int munmap(void *addr, size_t length)');
const msyncFn = libc.func('int msync(void *addr, size_t length, int flags)');
const flockFn = libc.func('int flock(int fd, int operation)');
const pwriteFn = libc.func('long pwrite(int fd, const void *buf, size_t count, int64_t offset)');
const fallocateFn = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)');
const lseekFn = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
const madviseFn = libc.func('int madvise(uintptr_t addr, size_t length, int advice)');

/** madvise(2) advice: fault the range in, writable, in one call (Linux 5.14+). */
const MADV_POPULATE_WRITE = 23;
/** The page size of every host famfs-ts runs on (x86-64); mappings and madvise work in it. */
export const PAGE_SIZE = 4096;

/** fallocate(2) modes (<linux/falloc.h>). */
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;

/**
 * fallocate(2) with `mode` on [offset, offset+length), retried on EINTR. False when the file
 * system or descriptor cannot (EOPNOTSUPP, EBADF: read-only); throws SysError for anything
 * else (ENOSPC).
 */
function fallocateRange(fd: number, mode: number, offset: number, length: number, detail: string): boolean {
  for (;;) {
    if ((fallocateFn(fd, mode, offset, length) as number) === 0) return true;
    const e = koffi.errno();
    if (e === os.constants.errno.EINTR) continue;
    if (e === os.constants.errno.EOPNOTSUPP || e === os.constants.errno.EBADF) return false;
    throw new SysError('fallocate', e, detail);
  }
}

/** fallocate(2) mode 0: give [offset, offset+length) of the file storage, keeping what it holds (fallocateRange). */
export function allocateRange(fd: number, offset: number, length: number, detail = ''): boolean {
  return fallocateRange(fd, 0, offset, length, detail);
}

/**
 * fallocate(2) PUNCH_HOLE|KEEP_SIZE: [offset, offset+length) of the file reads as zeros from
 * now on, and its whole pages go back to the file system (fallocateRange).
 */
export function punchHole(fd: number, offset: number, length: number, detail = ''): boolean {
  return fallocateRange(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length, `PUNCH_HOLE ${detail}`);
}

/** lseek(2) whence values that find data and holes in a sparse file (<linux/fs.h>). */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/**
 * Where the next data (SEEK_DATA) or hole (SEEK_HOLE) at or after `offset` starts in the
 * file; `undefined` when there is no data from `offset` on (ENXIO). A file system without
 * hole tracking says the whole file is data. Throws SysError for anything else.
 */
export function seekDataOrHole(fd: number, offset: number, whence: typeof SEEK_DATA | typeof SEEK_HOLE): number | undefined {
  const at = Number(lseekFn(fd, offset, whence));
  if (at >= 0) return at;
  const e = koffi.errno();
  if (e === os.constants.errno.ENXIO) return undefined;
  throw new SysError('lseek', e, `${whence === SEEK_DATA ? 'SEEK_DATA' : 'SEEK_HOLE'} from ${offset}`);
}

/** pwrite(2) all of `src` at `offset`, through short writes and EINTR; throws SysError. */
export function pwriteAll(fd: number, src: Uint8Array, offset: number, detail = ''): void {
  let done = 0;
  while (done < src.byteLength) {
    const part = done === 0 ? src : src.subarray(done);
    const rc = Number(pwriteFn(fd, part, part.byteLength, offset + done));
    if (rc > 0) done += rc;
    else if (rc < 0 && koffi.errno() === os.constants.errno.EINTR) continue;
    else throw new SysError('pwrite', rc < 0 ? koffi.errno() : os.constants.errno.EIO, detail);
  }
}

/** A shared mapping of a file or device: `bytes` reads and writes the memory itself. */
export interface Mapped {
  readonly bytes: Buffer;
  readonly length: number;
  /** Where the mapping starts in this process (other threads may view it: viewMapping). */
  readonly address: bigint;
  unmap(): void;
  /** msync(MS_SYNC): make stores durable on file-backed emulated devices. */
  sync(): void;
  /**
   * Map [offset, offset+length) of the mapping now, writable (MADV_POPULATE_WRITE), as the
   * first store to each page would; false where the kernel cannot (before 5.14, read-only).
   */
  populate(offset: number, length: number): boolean;
}

/** mmap(MAP_SHARED) `length` bytes of `fd` from `offset` (page aligned). */
export function mmapShared(fd: number, length: number, offset = 0, writable = true): Mapped {
  if (length <= 0) throw new SysError('mmap', os.constants.errno.EINVAL, `length ${length}`);
  const prot = PROT_READ | (writable ? PROT_WRITE : 0);
  const ptr = mmapFn(null, length, prot, MAP_SHARED, fd, offset);
  if (ptr === null || koffi.address(ptr) === MAP_FAILED) throw new SysError('mmap', koffi.errno(), `of ${length} bytes`);
  const bytes = Buffer.from(koffi.view(ptr, length));
  let live = true;
  return {
    bytes,
    length,
    address: koffi.address(ptr),
    unmap() {
      if (!live) return;
      live = false;
      check('munmap', munmapFn(ptr, length));
    },
    sync() {
      if (live) check('msync', msyncFn(ptr, length, 4 /* MS_SYNC */));
    },
    populate(offset: number, n: number) {
      if (!live || offset < 0 || n <= 0 || offset + n > length) return false;
      const start = offset - (offset % PAGE_SIZE); // madvise takes a page-aligned address
      return (madviseFn(koffi.address(ptr) + BigInt(start), n + offset - start, MADV_POPULATE_WRITE) as number) === 0;
    },
  };
}

/** munmap a mapping another thread of this process made (its address and length). */
const munmapAddrFn = libc.func('int munmap(uintptr_t addr, size_t length)');
export function unmapAt(address: bigint, length: number): void {
  check('munmap', munmapAddrFn(address, length) as number);
}

/**
 * A view of `length` bytes another thread of this process mapped at `address`: threads
 * share the address space, so a serving thread uses the main thread's mappings (and its
 * page tables: no second round of page faults). The owner must not unmap it meanwhile.
 */
export function viewMapping(address: bigint, length: number): Buffer {
  return Buffer.from(koffi.view(address, length));
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** flock(2); returns false when LOCK_NB was asked and the lock is held elsewhere. */
export function flock(fd: number, op: number): boolean {
  const rc = flockFn(fd, op) as number;
  if (rc === 0) return true;
  const e = koffi.errno();
  if (e === os.constants.errno.EWOULDBLOCK && op & LOCK_NB) return false;
  throw new SysError('flock', e);
}

const mallocTrimFn = libc.func('int malloc_trim(size_t pad)');

/**
 * Give the C heap's free pages back to the kernel (glibc malloc_trim(0): the top of each arena
 * and, since glibc 2.8, whole free pages inside them). Node's buffers live there; after a
 * burst they stay counted in the process's RssAnon until trimmed. True when memory was returned.
 */
export function mallocTrim(): boolean {
  return (mallocTrimFn(0) as number) === 1;
}
