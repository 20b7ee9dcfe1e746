// Reading and writing one message on a FUSE channel, shared by the session's main thread and
// its serving threads: a read returns exactly one request, a reply is exactly one write (or writev).
import fs from 'node:fs';
import os from 'node:os';
import { setNonBlocking, writeRaw } from '../sys/fuse-dev.js';

const { EAGAIN, EINTR, ENOENT, ENODEV, EBADF, ECONNRESET, ECONNABORTED, EPIPE, EFAULT } = os.constants.errno;

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
 * A reply up to this size (a 4 KiB READ's header and data) is copied into one buffer and
 * written with one koffi write(2): 0.53 µs against 0.93 µs for fs.writevSync of the two parts
 * (which validates the array and looks up each part's ArrayBuffer in C++). Larger replies keep
 * writev's zero copy: copying 256 KiB costs more than the binding.
 */
const SMALL_REPLY = 16 * 1024 + 16;
/** The copy buffer of this thread (module state is per worker thread). */
let replyBuf: Buffer | undefined;

/**
 * Write `iov` as one message. Returns false when the connection is gone (unmounted,
 * aborted, socket closed); a reply to a request the kernel forgot (interrupted: ENOENT)
 * is dropped quietly; anything else throws.
 */
export function writeMessage(fd: number, iov: readonly Buffer[]): boolean {
  let total = 0;
  for (let i = 0; i < iov.length; i++) total += iov[i]!.length;
  if (total <= SMALL_REPLY) {
    const buf = (replyBuf ??= Buffer.allocUnsafeSlow(SMALL_REPLY));
    let at = 0;
    for (let i = 0; i < iov.length; i++) {
      buf.set(iov[i]!, at);
      at += iov[i]!.length;
    }
    const rc = writeRaw(fd, buf, total);
    if (rc === total) return true;
    const kept = rc < 0 ? writeKept(-rc) : undefined;
    if (kept !== undefined) return kept;
    // A part written (a stream-socket test channel) or another errno (EAGAIN on a full socket,
    // a reply the kernel refused): writev writes the rest, or says what went wrong.
    return writevMessage(fd, [buf.subarray(Math.max(0, rc), total)]);
  }
  return writevMessage(fd, iov);
}

/**
 * A failed reply write: true (answered or dropped), false (the connection is gone), undefined
 * (neither). ENOENT: the kernel forgot the request (interrupted). EFAULT: it could not copy
 * the reply's data from our views (a page of the device that cannot be had), and ended the
 * request with EIO itself (fs/fuse/dev.c fuse_dev_do_write): the reader gets EIO, we serve on.
 */
function writeKept(errno: number): boolean | undefined {
  if (errno === ENOENT || errno === EFAULT) return true;
  if (errno === ENODEV || errno === EPIPE || errno === ECONNRESET || errno === EBADF) return false;
  return undefined;
}

function writevMessage(fd: number, iov: readonly Buffer[]): boolean {
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
    const kept = code === undefined ? undefined : writeKept(os.constants.errno[code as keyof typeof os.constants.errno]);
    if (kept !== undefined) return kept;
    throw e;
  }
  return true;
}
