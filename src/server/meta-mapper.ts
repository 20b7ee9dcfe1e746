// Worker module: open one file of the mount and map it MAP_SHARED, then report where. Run in
// its own thread because the open() and mmap() of a file on our own mount wait for the
// server (LOOKUP, OPEN, GET_FMAP, GET_DAXDEV), which the main thread answers meanwhile; the
// mapping stays in the process after this thread ends, and faults on it never reach the
// server (the kernel resolves them from the fmap).
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { mmapShared, unmapAt } from '../sys/libc.js';

export type MetaMapRequest =
  | { readonly path: string; readonly writable: boolean }
  /** Unmap these [address, length] mappings (off the serving thread: their files are on our mount). */
  | { readonly unmap: readonly (readonly [bigint, number])[] };

export type MetaMapReply =
  | { readonly ok: true; readonly address: bigint; readonly length: number }
  | { readonly ok: false; readonly message: string };

const req = workerData as MetaMapRequest;
let reply: MetaMapReply;
try {
  if ('unmap' in req) {
    for (const [address, length] of req.unmap) unmapAt(address, length);
    reply = { ok: true, address: 0n, length: 0 };
  } else {
  const fd = fs.openSync(req.path, req.writable ? 'r+' : 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const m = mmapShared(fd, size, 0, req.writable);
    reply = { ok: true, address: m.address, length: m.length };
  } finally {
    fs.closeSync(fd);
  }
  }
} catch (e) {
  reply = { ok: false, message: e instanceof Error ? e.message : String(e) };
}
parentPort?.postMessage(reply);
