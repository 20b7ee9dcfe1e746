// FFI the FUSE engine needs: opening /dev/fuse, mount(2)/umount2(2) of a fuse file system,
// and what it does to a channel that is a socket (the tests' stand-in for /dev/fuse, made by
// test/support/sockets.ts): recognise it and shut it down.
import fs from 'node:fs';
import os from 'node:os';
import koffi from 'koffi';
import { libc, check, SysError } from './libc.js';
import { ioc, ioctlBuf } from './ioctl.js';

const mountFn = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const umount2Fn = libc.func('int umount2(const char *target, int flags)');
const shutdownFn = libc.func('int shutdown(int fd, int how)');

export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;

const SHUT_RDWR = 2;

/** Open /dev/fuse read-write: the channel a mount(2) with `fd=N` attaches to. */
export function openFuseDevice(): number {
  return fs.openSync('/dev/fuse', 'r+');
}

/** Largest request in pages the kernel allows (fs.fuse.max_pages_limit; 256 when unknown). */
export function maxPagesLimit(): number {
  try {
    const n = Number(fs.readFileSync('/proc/sys/fs/fuse/max_pages_limit', 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : 256;
  } catch {
    return 256;
  }
}

export interface FuseMountOptions {
  /** The open /dev/fuse descriptor the kernel talks through. */
  fd: number;
  /** Octal file type and mode of the root, as the kernel wants it (default 40000 = directory). */
  rootMode?: number;
  userId?: number;
  groupId?: number;
  /** Let the kernel check permissions from the attributes we return. */
  defaultPermissions?: boolean;
  allowOther?: boolean;
  /** Source shown in /proc/mounts (default "famfs-ts"). */
  fsname?: string;
  /** Type is "fuse.<subtype>" when given. */
  subtype?: string;
  /** Largest READ the kernel may send (mount option max_read). */
  maxRead?: number;
  readOnly?: boolean;
}

/** mount(2) a fuse file system served through `opts.fd` on `target` (needs root). */
export function mountFuse(target: string, opts: FuseMountOptions): void {
  const uid = opts.userId ?? process.getuid?.() ?? 0;
  const gid = opts.groupId ?? process.getgid?.() ?? 0;
  const data = [`fd=${opts.fd}`, `rootmode=${(opts.rootMode ?? 0o40000).toString(8)}`, `user_id=${uid}`, `group_id=${gid}`];
  if (opts.defaultPermissions) data.push('default_permissions');
  if (opts.allowOther) data.push('allow_other');
  if (opts.maxRead !== undefined) data.push(`max_read=${opts.maxRead}`);
  const type = opts.subtype ? `fuse.${opts.subtype}` : 'fuse';
  const flags = MS_NOSUID | MS_NODEV | (opts.readOnly ? 1 /* MS_RDONLY */ : 0);
  check('mount', mountFn(opts.fsname ?? 'famfs-ts', target, type, flags, data.join(',')) as number, `of fuse on ${target}`);
}

/** umount2(2). `lazy` detaches now and lets the kernel finish when the last user goes. */
export function unmount(target: string, opts: { lazy?: boolean; force?: boolean } = {}): void {
  const flags = (opts.lazy ? MNT_DETACH : 0) | (opts.force ? MNT_FORCE : 0);
  check('umount2', umount2Fn(target, flags) as number, target);
}

/** shutdown(SHUT_RDWR): wakes threads blocked reading the socket (close alone does not). */
export function shutdownSocket(fd: number): void {
  const rc = shutdownFn(fd, SHUT_RDWR) as number;
  if (rc < 0 && koffi.errno() !== os.constants.errno.ENOTCONN) throw new SysError('shutdown', koffi.errno());
}

/** Whether fd is a socket (a planted test channel) rather than /dev/fuse. */
export function isSocket(fd: number): boolean {
  return fs.fstatSync(fd).isSocket();
}

const readFn = libc.func('long read(int fd, void *buf, size_t count)');
const fcntlFn = libc.func('int fcntl(int fd, int cmd, int arg)');
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

/**
 * read(2) into buf without throwing: the byte count, or -errno (-EAGAIN when a
 * non-blocking channel is empty). The engine polls with it, so failures must be cheap.
 */
export function readRaw(fd: number, buf: Buffer): number {
  const n = Number(readFn(fd, buf, buf.length));
  return n >= 0 ? n : -koffi.errno();
}

const writeFn = libc.func('long write(int fd, const void *buf, size_t count)');

/** write(2) of buf[0, n): the bytes written, or -errno. */
export function writeRaw(fd: number, buf: Buffer, n: number): number {
  if (n > buf.length) throw new RangeError(`write of ${n} bytes from a buffer of ${buf.length}`);
  const rc = Number(writeFn(fd, buf, n));
  return rc >= 0 ? rc : -koffi.errno();
}

const pollFn = libc.func('int poll(void *fds, unsigned long nfds, int timeout)');
const POLLIN = 1;

/**
 * A reusable poll(2) of one descriptor for input. A readable, hung-up or failed channel all
 * end the wait; the read that follows tells which. `wait` blocks the calling thread;
 * `waitAsync` blocks a libuv thread-pool thread instead and calls back on the event loop.
 */
export class InputWaiter {
  // struct pollfd { int fd; short events; short revents; }: one for each side, as the
  // pool's wait may still be writing revents when the main thread polls.
  private readonly pfd = Buffer.alloc(8);
  private readonly pfdAsync = Buffer.alloc(8);
  constructor(fd: number) {
    for (const b of [this.pfd, this.pfdAsync]) {
      b.writeInt32LE(fd, 0);
      b.writeInt16LE(POLLIN, 4);
    }
  }

  /** 1 when something happened, 0 when `timeoutMs` passed (-1: no limit), or -errno (-EINTR: a signal). */
  wait(timeoutMs: number): number {
    const rc = pollFn(this.pfd, 1, timeoutMs) as number;
    return rc >= 0 ? rc : -koffi.errno();
  }

  /** The same wait on the thread pool; `done` gets poll's return value (< 0: failed, read to learn why). */
  waitAsync(timeoutMs: number, done: (rc: number) => void): void {
    pollFn.async(this.pfdAsync, 1, timeoutMs, (err: unknown, rc: number) => done(err ? -1 : rc));
  }
}

const dupFn = libc.func('int dup(int oldfd)');
/** FUSE_DEV_IOC_CLONE = _IOR(229, 0, uint32_t): attach a fresh /dev/fuse open to a connection. */
const FUSE_DEV_IOC_CLONE = ioc(2, 229, 0, 4);

/**
 * A second descriptor on the same FUSE connection, for another serving thread. On /dev/fuse
 * it is a fresh open cloned onto the connection (blocking, with its own processing queue:
 * a request read from it must be answered on it, as libfuse's clone_fd does). On a socket
 * (a test channel) it is a dup, sharing the socket's O_NONBLOCK; its reader must poll.
 */
export function cloneChannel(fd: number): number {
  if (isSocket(fd)) return check('dup', dupFn(fd) as number, `of channel fd ${fd}`);
  const clone = openFuseDevice();
  const arg = Buffer.alloc(4);
  arg.writeUInt32LE(fd);
  try {
    ioctlBuf(clone, FUSE_DEV_IOC_CLONE, arg, `FUSE_DEV_IOC_CLONE of fd ${fd}`);
  } catch (e) {
    fs.closeSync(clone);
    throw e;
  }
  return clone;
}

/** Set or clear O_NONBLOCK on fd (the open file description, so every reader sees it). */
export function setNonBlocking(fd: number, on: boolean): void {
  const fl = check('fcntl', fcntlFn(fd, F_GETFL, 0) as number, 'F_GETFL');
  const want = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
  if (want !== fl) check('fcntl', fcntlFn(fd, F_SETFL, want) as number, 'F_SETFL');
}

/**
 * FUSE_DEV_IOC_BACKING_OPEN = _IOW(229, 1, struct fuse_backing_map) (fuse-iomap-abi.md §1.5):
 * register an open block device with the connection; `arg` is the encoded 16-byte
 * fuse_backing_map. Returns the device id (1..1024 for the iomap type).
 */
const FUSE_DEV_IOC_BACKING_OPEN = ioc(1, 229, 1, 16);
export function fuseBackingOpen(fuseFd: number, arg: Uint8Array): number {
  return ioctlBuf(fuseFd, FUSE_DEV_IOC_BACKING_OPEN, arg, 'FUSE_DEV_IOC_BACKING_OPEN');
}

/**
 * FUSE_DEV_IOC_IOMAP_SUPPORT = _IOR(229, 99, struct fuse_iomap_support { u64 flags; u64
 * padding }) (fuse-iomap-abi.md §1.5), asked before INIT: the support flags, or the
 * SysError (ENOTTY on a kernel without fuse-iomap).
 */
const FUSE_DEV_IOC_IOMAP_SUPPORT = ioc(2, 229, 99, 16);
export function fuseIomapSupport(fuseFd: number): bigint | SysError {
  const out = Buffer.alloc(16);
  try {
    ioctlBuf(fuseFd, FUSE_DEV_IOC_IOMAP_SUPPORT, out, 'FUSE_DEV_IOC_IOMAP_SUPPORT');
  } catch (e) {
    if (e instanceof SysError) return e;
    throw e;
  }
  return out.readBigUInt64LE(0);
}
