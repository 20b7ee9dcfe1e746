// Reading and writing one message on a FUSE channel, shared by the session's main thread and
// its serving threads: a read returns exactly one request, a reply is exactly one writev.
import fs from 'node:fs';
import os from 'node:os';
import { setNonBlocking } from '../sys/fuse-dev.js';

const { EAGAIN, EINTR, ENOENT, ENODEV, EBADF, ECONNRESET, ECONNABORTED } = os.constants.errno;

/**
 * What readRaw's result means: a request; `empty` (a non-blocking channel has none now);
 * `again` (EINTR, or ENOENT: the request was interrupted while being read); `ended`
 * (unmounted, aborted, socket closed); `failed` (anything else: log it and stop).
 */
export function readOutcome(n: number): 'message' | 'empty' | 'again' | 'ended' | 'failed' {
  if (n > 0) return 'message';
  if (n === -EAGAIN) return 'empty';
  if (n === -EINTR || n === -ENOENT) return 'again';
  // An aborted connection (fusectl abort) reads ECONNABORTED, not ENODEV (fs/fuse/dev.c
  // fuse_dev_do_read); taken for 'failed' it was logged and read again at once, for ever.
  if (n === 0 || n === -ENODEV || n === -EBADF || n === -ECONNRESET || n === -ECONNABORTED) return 'ended';
  return 'failed';
}

/** writev takes at most IOV_MAX (1024) buffers; libuv would split a longer list into several writes. */
const MAX_IOV = 1024;

/**
 * Write `iov` as one message. Returns false when the connection is gone (unmounted,
 * aborted, socket closed); a reply to a request the kernel forgot (interrupted: ENOENT)
 * is dropped quietly; anything else throws.
 */
export function writeMessage(fd: number, iov: readonly Buffer[]): boolean {
  let list = iov as Buffer[];
  if (list.length > MAX_IOV) list = [...list.slice(0, MAX_IOV - 1), Buffer.concat(list.slice(MAX_IOV - 1))];
  try {
    try {
      fs.writevSync(fd, list);
    } catch (e) {
      // Only a socket channel (tests) can be full; /dev/fuse takes a reply at once.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      setNonBlocking(fd, false);
      try {
        fs.writevSync(fd, list);
      } finally {
        setNonBlocking(fd, true);
      }
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'ENODEV' || code === 'EPIPE' || code === 'ECONNRESET' || code === 'EBADF') return false;
    throw e;
  }
  return true;
}
