// The test-only half of the channel plumbing: the SOCK_SEQPACKET socketpair the players use
// to stand in for /dev/fuse (one FUSE message per packet, like one read()/write() on the
// device) and the socket options they need. The server never makes sockets, so these calls
// live here rather than in src/sys; they use the same libc handle and error type.
import os from 'node:os';
import { check, libc, SysError } from '../../src/sys/libc.js';

const socketpairFn = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
const setsockoptFn = libc.func('int setsockopt(int fd, int level, int optname, const uint8_t *optval, uint32_t optlen)');

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_RCVTIMEO = 20;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;

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
