// FUSE over io_uring, the pure part (docs/reference/fuse-io-uring.md): the structs of a ring
// entry's header buffer and of the SQE command area, turning a fetched entry back into the
// exact message read(2) on /dev/fuse would have returned (so the same Dispatcher answers it),
// and packing a reply (one out header + body iov) into the entry for COMMIT_AND_FETCH.
import { defineStruct } from '../cstruct.js';
import { InHeader, OutHeader } from './structs.js';
import { ProtocolError, IN_HEADER_SIZE } from './request.js';

/** fuse-io-uring.md §3: the in/out header area and the per-opcode header area are 128 bytes each. */
export const FUSE_URING_IN_OUT_HEADER_SZ = 128;
export const FUSE_URING_OP_IN_OUT_SZ = 128;

export const FuseUringEntInOut = defineStruct('fuse_uring_ent_in_out', 32, [
  { name: 'flags', offset: 0, type: 'u64big' },
  { name: 'commit_id', offset: 8, type: 'u64big' },
  { name: 'payload_sz', offset: 16, type: 'u32' },
  { name: 'padding', offset: 20, type: 'u32' },
  { name: 'reserved', offset: 24, type: 'u64big' },
] as const);

export const FuseUringReqHeader = defineStruct('fuse_uring_req_header', 288, [
  { name: 'in_out', offset: 0, type: { bytes: FUSE_URING_IN_OUT_HEADER_SZ } },
  { name: 'op_in', offset: 128, type: { bytes: FUSE_URING_OP_IN_OUT_SZ } },
  { name: 'ring_ent_in_out', offset: 256, type: { struct: FuseUringEntInOut } },
] as const);

/** In the 80-byte command area of an SQE128 (fuse-io-uring.md §2). */
export const FuseUringCmdReq = defineStruct('fuse_uring_cmd_req', 24, [
  { name: 'flags', offset: 0, type: 'u64big' },
  { name: 'commit_id', offset: 8, type: 'u64big' },
  { name: 'qid', offset: 16, type: 'u16' },
  { name: 'padding', offset: 18, type: { bytes: 6 } },
] as const);

/** enum fuse_uring_cmd: the SQE's cmd_op. */
export const FuseUringCmd = { REGISTER: 1, COMMIT_AND_FETCH: 2 } as const;

const O_OP_IN = FuseUringReqHeader.offsetOf('op_in');
const O_ENT = FuseUringReqHeader.offsetOf('ring_ent_in_out');
const O_COMMIT_ID = O_ENT + FuseUringEntInOut.offsetOf('commit_id');
const O_PAYLOAD_SZ = O_ENT + FuseUringEntInOut.offsetOf('payload_sz');
const O_LEN = InHeader.offsetOf('len');
const OUT_SIZE = OutHeader.size;

/** The commit id the kernel put in a fetched entry (the request's unique). */
export function commitIdOf(headers: Buffer): bigint {
  return headers.readBigUInt64LE(O_COMMIT_ID);
}

/**
 * Where an entry's parts sit in its slot of the thread's arena: the iovec pair the SQE points
 * at, the 288-byte header buffer (iov[0]) and, a page in, the payload buffer (iov[1]). The
 * room before the payload lets a request be rebuilt in front of its payload without copying it.
 */
export interface SlotLayout {
  readonly iovec: number;
  readonly headers: number;
  readonly payload: number;
  readonly stride: number;
}

export function slotLayout(payloadSize: number): SlotLayout {
  const page = 4096;
  return { iovec: 0, headers: 64, payload: page, stride: page + Math.ceil(payloadSize / page) * page };
}

/** Int32 counters per ring thread: answered here, forwarded, ended (1), requests fetched from the ring. */
export const RING_COUNTERS = 4;

/** What a ring thread tells the main thread. */
export type RingToMain =
  | { kind: 'ready'; address: bigint; length: number; stride: number; headers: number; payload: number }
  | { kind: 'log'; line: string }
  | { kind: 'request'; slot: number; bytes: Uint8Array }
  | { kind: 'unavailable'; why: string }
  | { kind: 'ended' };

/**
 * Rebuild the /dev/fuse message of a fetched entry: fuse_in_header, then the opcode's fixed
 * header (the kernel put its first argument in op_in), then the payload (every other
 * argument, payload_sz bytes). The header's len counts all of them (the kernel sets it before
 * choosing the transport), which is how the op_in part's length is known. The two headers are
 * copied into the slot just in front of its payload, so the message is one view of the arena
 * and a WRITE's data is not copied. Throws ProtocolError when the parts do not add up.
 */
export function assembleInPlace(arena: Buffer, slotBase: number, layout: SlotLayout, headers: Buffer, words?: Uint32Array<ArrayBufferLike>): Buffer {
  if (headers.length < FuseUringReqHeader.size) throw new ProtocolError(`ring entry header of ${headers.length} bytes`);
  const len = headers.readUInt32LE(O_LEN);
  const payloadSz = headers.readUInt32LE(O_PAYLOAD_SZ);
  const opLen = checkLengths(len, payloadSz, layout);
  const start = slotBase + layout.payload - opLen - IN_HEADER_SIZE;
  // Word by word: these are 40 + (usually) 40 bytes, and Buffer.copy is a call into C++
  // that costs more than the copy (this runs once per request).
  copyWords(headers, 0, arena, start, IN_HEADER_SIZE, words);
  copyWords(headers, O_OP_IN, arena, start + IN_HEADER_SIZE, opLen, words);
  return arena.subarray(start, slotBase + layout.payload + payloadSz);
}

/** The op header's length, from the in header's len and the payload's; throws ProtocolError when they do not fit the entry. */
function checkLengths(len: number, payloadSz: number, layout: SlotLayout): number {
  const opLen = len - IN_HEADER_SIZE - payloadSz;
  if (len < IN_HEADER_SIZE || payloadSz > layout.stride - layout.payload || opLen < 0 || opLen > FUSE_URING_OP_IN_OUT_SZ) {
    throw new ProtocolError(`ring entry: len ${len} with payload ${payloadSz} does not fit the entry`);
  }
  return opLen;
}

/**
 * assembleInPlace for a ring thread, by offsets: `words` is a little-endian u32 view of the
 * whole ArrayBuffer under the arena, whose bytes start at its byte `base` (a multiple of 4,
 * as every offset of the layout is). Returns where the message starts, relative to the
 * arena; it is as long as the in header's len. -1: an op header whose length is no multiple
 * of 4 (assembleInPlace takes it). No Buffer is touched: in V8's optimized code a Buffer
 * method and `byteOffset` are each a generic property load and a call, most of what this
 * cost per request (bench/meta-mount/README.md, "Eleventh pass").
 */
export function assembleAt(words: Uint32Array<ArrayBufferLike>, base: number, slotBase: number, layout: SlotLayout): number {
  const h = (base + slotBase + layout.headers) >>> 2;
  const opLen = checkLengths(words[h + (O_LEN >>> 2)]!, words[h + (O_PAYLOAD_SZ >>> 2)]!, layout);
  if ((opLen & 3) !== 0) return -1;
  const start = slotBase + layout.payload - opLen - IN_HEADER_SIZE;
  const d = (base + start) >>> 2;
  copyWordRun(words, h, d, IN_HEADER_SIZE >>> 2);
  copyWordRun(words, h + (O_OP_IN >>> 2), d + (IN_HEADER_SIZE >>> 2), opLen >>> 2);
  return start;
}

/**
 * Copy n bytes (n small) from src at `from` to dst at `to`. Given `words`, a u32 view of the
 * one ArrayBuffer under both (a ring thread's arena: its entry's headers into its own slot),
 * at word-aligned places: u32 loads and stores on it, which the JIT compiles to plain moves
 * (Buffer.readUInt32LE/writeUInt32LE check and assemble bytes: a third of this path's time,
 * measured; and reading `.buffer` to find the view is a call into C++). Else u32 words
 * through the Buffer methods. Then the odd bytes.
 */
function copyWords(src: Buffer, from: number, dst: Buffer, to: number, n: number, words?: Uint32Array<ArrayBufferLike>): void {
  const s = src.byteOffset + from;
  const d = dst.byteOffset + to;
  let i = 0;
  if (words !== undefined && ((s | d) & 3) === 0 && from + n <= src.length && to + n <= dst.length) {
    copyWordRun(words, s >>> 2, d >>> 2, n >>> 2);
    i = (n >>> 2) << 2;
  } else {
    for (; i + 4 <= n; i += 4) dst.writeUInt32LE(src.readUInt32LE(from + i), to + i);
  }
  for (; i < n; i++) dst[to + i] = src[from + i]!;
}

/** Copy `n` words of `words` from word `from` to word `to` (the runs do not overlap). */
function copyWordRun(words: Uint32Array<ArrayBufferLike>, from: number, to: number, n: number): void {
  for (let k = 0; k < n; k++) words[to + k] = words[from + k]!;
}

/**
 * Put a reply (iov[0] starts with the 16-byte fuse_out_header, as Dispatcher sends it) into a
 * ring entry: the out header into in_out, every byte after it into the payload buffer, their
 * count into ring_ent_in_out.payload_sz. Throws ProtocolError when the body does not fit the
 * payload buffer. (The commit id is the header's unique: commitIdOf reads it when needed;
 * not returned, as a BigInt per request.)
 */
export function packReply(iov: readonly Buffer[], headers: Buffer, payload: Buffer): void {
  let total = 0;
  for (const b of iov) total += b.length;
  if (total < OUT_SIZE || iov.length === 0) throw new ProtocolError(`reply of ${total} bytes has no out header`);
  const body = total - OUT_SIZE;
  if (body > payload.length) throw new ProtocolError(`reply body of ${body} bytes, ring payload buffer of ${payload.length}`);
  let hAt = 0;
  let pAt = 0;
  for (let i = 0; i < iov.length; i++) {
    const b = iov[i]!;
    let from = 0;
    if (hAt < OUT_SIZE) {
      const n = Math.min(OUT_SIZE - hAt, b.length);
      // A builtin memmove of the 16 bytes (the header is usually a part of its own).
      headers.set(n === b.length ? b : b.subarray(0, n), hAt);
      hAt += n;
      from = n;
    }
    if (from === 0) {
      // A whole part: TypedArray set is a builtin memmove, where Buffer.copy calls into C++.
      payload.set(b, pAt);
      pAt += b.length;
    } else if (from < b.length) pAt += b.copy(payload, pAt, from);
  }
  headers.writeUInt32LE(body, O_PAYLOAD_SZ);
}

const O_CMD_FLAGS = FuseUringCmdReq.offsetOf('flags');
const O_CMD_COMMIT = FuseUringCmdReq.offsetOf('commit_id');
const O_CMD_QID = FuseUringCmdReq.offsetOf('qid');

/**
 * Fill fuse_uring_cmd_req at `at` of an SQE (its command area) for REGISTER or
 * COMMIT_AND_FETCH. Written field by field: it runs once per request.
 */
export function encodeCmdReq(sqe: Buffer, at: number, qid: number, commitId: bigint): void {
  sqe.writeBigUInt64LE(0n, at + O_CMD_FLAGS);
  sqe.writeBigUInt64LE(commitId, at + O_CMD_COMMIT);
  sqe.writeUInt16LE(qid, at + O_CMD_QID);
}

/**
 * Put the commit id the kernel wrote in a fetched entry's header buffer into that entry's
 * COMMIT_AND_FETCH SQE (its fuse_uring_cmd_req at `cmdAt`; flags and qid were written once,
 * encodeCmdReq): two 32-bit words, no BigInt and no Buffer method per request (each of those
 * is a generic property load and a call in V8's optimized code: bench/meta-mount/README.md,
 * "Eleventh pass"). `headersAt` and `cmdAt` are byte offsets into the two word views, both
 * 8-byte aligned (the header buffer and the SQE are).
 */
export function copyCommitId(headerWords: Uint32Array<ArrayBufferLike>, headersAt: number, sqeWords: Uint32Array<ArrayBufferLike>, cmdAt: number): void {
  const from = (headersAt + O_COMMIT_ID) >>> 2;
  const to = (cmdAt + O_CMD_COMMIT) >>> 2;
  sqeWords[to] = headerWords[from]!;
  sqeWords[to + 1] = headerWords[from + 1]!;
}

/**
 * How big each entry's payload buffer must be: the kernel refuses REGISTER with a smaller one
 * (it wants max(FUSE_MIN_READ_BUFFER, max_write, max_pages * page size)).
 */
export function payloadSize(maxWrite: number, maxPages: number, pageSize: number): number {
  return Math.max(8192, maxWrite, maxPages * pageSize);
}

/** Which FUSE queues one ring thread registers entries on, and the CPUs it may run on. */
export interface RingThreadPlan {
  readonly qids: readonly number[];
  /** Empty: any CPU (the thread is not pinned). */
  readonly cpus: readonly number[];
}

/**
 * Which thread serves which queue. The kernel queues a request on the queue of the CPU its
 * caller runs on (fuse-io-uring.md §4: qid = the caller's CPU). With at most one thread per
 * queue, queue q goes to thread q % threads, which runs on the CPUs of its queues only: the
 * thread woken for a request and the caller it wakes with the reply then share a CPU, so
 * neither wake-up is an interrupt to another CPU (a VM exit on a paravirtualised host).
 * Measured on a 2-CPU VM, 4 KiB random reads, 4 fio jobs: 12.6 µs of server CPU per IO
 * against 17.9 with every thread on every queue (bench/datapath/README.md). More threads
 * than queues: every thread serves every queue, on any CPU (a queue's burst spread over
 * threads).
 */
export function planRingThreads(queues: number, threads: number): RingThreadPlan[] {
  const q = Math.max(1, queues);
  const n = Math.max(1, threads);
  if (n > q) {
    const all = Array.from({ length: q }, (_, i) => i);
    return Array.from({ length: n }, () => ({ qids: all, cpus: [] }));
  }
  return Array.from({ length: n }, (_, t) => {
    const qids: number[] = [];
    for (let i = t; i < q; i += n) qids.push(i);
    return { qids, cpus: qids };
  });
}

/** How many CPUs a list like /sys/devices/system/cpu/possible's ("0-1", "0,2-5") names: the kernel makes one queue per possible CPU (num_possible_cpus). */
export function countCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(',')) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new ProtocolError(`cpu list ${JSON.stringify(list)}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new ProtocolError(`cpu list ${JSON.stringify(list)}`);
    n += b - a + 1;
  }
  return n;
}
