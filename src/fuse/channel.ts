// Writing one message to a FUSE channel, shared by the session's main thread and its serving
// workers: a reply is exactly one writev (the kernel takes a message per write).
import fs from 'node:fs';
import { setNonBlocking } from '../sys/fuse-dev.js';

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
