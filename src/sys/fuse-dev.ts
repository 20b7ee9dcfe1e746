// FFI the FUSE engine needs: opening /dev/fuse, mount(2)/umount2(2) of a fuse file system,
// and the SOCK_SEQPACKET socketpair the tests use to play the kernel's side of a channel
// (one FUSE message per packet, like one read()/write() on /dev/fuse).
import fs from 'node:fs';
import os from 'node:os';
import koffi from 'koffi';
import { libc, check, SysError } from './libc.js';
import { ioc, ioctlBuf } from './ioctl.js';

const mountFn = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const umount2Fn = libc.func('int umount2(const char *target, int flags)');
const socketpairFn = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
const setsockoptFn = libc.func('int setsockopt(int fd, int level, int optname, const uint8_t *optval, uint32_t optlen)');
const shutdownFn = libc.func('int shutdown(int fd, int how)');

export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_RCVTIMEO = 20;
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

/** A connected AF_UNIX SOCK_SEQPACKET pair (close-on-exec): one message per packet. */
export function seqpacketPair(): [number, number] {
  const sv = [0, 0];
  check('socketpair', socketpairFn(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) as number);
  return [sv[0]!, sv[1]!];
}

function setsockoptBytes(fd: number, opt: number, val: Uint8Array, what: string): void {
  check('setsockopt', setsockoptFn(fd, SOL_SOCKET, opt, val, val.byteLength) as number, what);
}

/**
 * Size a socket's send and receive buffers so one packet can carry a whole FUSE message
 * (a 1 MiB READ reply). Root may pass the sysctl limits (…BUFFORCE); otherwise the
 * kernel caps the request at net.core.{w,r}mem_max.
 */
export function setSocketBuffers(fd: number, bytes: number): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(bytes);
  try {
    setsockoptBytes(fd, SO_SNDBUFFORCE, v, 'SO_SNDBUFFORCE');
    setsockoptBytes(fd, SO_RCVBUFFORCE, v, 'SO_RCVBUFFORCE');
  } catch (e) {
    if (!(e instanceof SysError) || e.errno !== os.constants.errno.EPERM) throw e;
    setsockoptBytes(fd, SO_SNDBUF, v, 'SO_SNDBUF');
    setsockoptBytes(fd, SO_RCVBUF, v, 'SO_RCVBUF');
  }
}

/** A receive timeout on a socket: a blocking read fails with EAGAIN after `ms`. */
export function setReceiveTimeout(fd: number, ms: number): void {
  const tv = Buffer.alloc(16);
  tv.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  tv.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
  setsockoptBytes(fd, SO_RCVTIMEO, tv, 'SO_RCVTIMEO');
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
