// io_uring through koffi: io_uring_setup(2)/io_uring_enter(2) (glibc has no wrappers, so
// syscall(2) with each call's own prototype), the SQ/CQ rings and the SQE array mapped
// MAP_SHARED, anonymous memory for buffers the kernel reads and writes, and eventfd(2).
// Only what FUSE over io_uring needs (docs/reference/fuse-io-uring.md §2).
//
// Memory ordering: the ring heads and tails are shared with the kernel. They are read and
// written with Atomics on Uint32Array views of the mapping (koffi.view gives an ArrayBuffer
// over the mapped pages). Atomics on a non-shared buffer are still the engine's atomic,
// sequentially consistent accesses (on x86-64 a load is a plain mov, a store an xchg, which
// is a full fence), which is what liburing's smp_load_acquire / smp_store_release ask for:
// the SQE is fully written before the tail store publishes it, and a CQE is read only after
// the tail load that showed it and is released by the head store after it was read.
import koffi from 'koffi';
import os from 'node:os';
import { defineStruct } from '../cstruct.js';
import { libc, check, SysError, mmapShared, type Mapped } from './libc.js';

const SYS_io_uring_setup = 425;
const SYS_io_uring_enter = 426;
const SYS_io_uring_register = 427;

const setupFn = libc.func('syscall', 'long', ['long', 'uint32', 'void *']);
const enterFn = libc.func('syscall', 'long', ['long', 'int', 'uint32', 'uint32', 'uint32', 'void *', 'size_t']);
const registerFn = libc.func('syscall', 'long', ['long', 'int', 'uint32', 'void *', 'uint32']);
const eventfdFn = libc.func('int eventfd(unsigned int initval, int flags)');
const mmapAnonFn = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const munmapAnonFn = libc.func('int munmap(uintptr_t addr, size_t length)');

// include/uapi/linux/io_uring.h
export const IORING_SETUP_SQE128 = 1 << 10;
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
export const IORING_FEAT_SINGLE_MMAP = 1 << 0;
export const IORING_ENTER_GETEVENTS = 1 << 0;
export const IORING_OFF_SQ_RING = 0;
export const IORING_OFF_CQ_RING = 0x8000000;
export const IORING_OFF_SQES = 0x10000000;
export const IORING_REGISTER_FILES = 2;
export const IORING_REGISTER_RING_FDS = 20;
export const IORING_UNREGISTER_RING_FDS = 21;
export const IORING_ENTER_REGISTERED_RING = 1 << 4;
/** sqe.flags: `fd` is an index into the files registered with registerFiles(). */
export const IOSQE_FIXED_FILE = 1 << 0;
export const IORING_OP_READ = 22;
export const IORING_OP_URING_CMD = 46;

export const IoSqringOffsets = defineStruct('io_sqring_offsets', 40, [
  { name: 'head', offset: 0, type: 'u32' },
  { name: 'tail', offset: 4, type: 'u32' },
  { name: 'ring_mask', offset: 8, type: 'u32' },
  { name: 'ring_entries', offset: 12, type: 'u32' },
  { name: 'flags', offset: 16, type: 'u32' },
  { name: 'dropped', offset: 20, type: 'u32' },
  { name: 'array', offset: 24, type: 'u32' },
  { name: 'resv1', offset: 28, type: 'u32' },
  { name: 'user_addr', offset: 32, type: 'u64big' },
] as const);

export const IoCqringOffsets = defineStruct('io_cqring_offsets', 40, [
  { name: 'head', offset: 0, type: 'u32' },
  { name: 'tail', offset: 4, type: 'u32' },
  { name: 'ring_mask', offset: 8, type: 'u32' },
  { name: 'ring_entries', offset: 12, type: 'u32' },
  { name: 'overflow', offset: 16, type: 'u32' },
  { name: 'cqes', offset: 20, type: 'u32' },
  { name: 'flags', offset: 24, type: 'u32' },
  { name: 'resv1', offset: 28, type: 'u32' },
  { name: 'user_addr', offset: 32, type: 'u64big' },
] as const);

export const IoUringParams = defineStruct('io_uring_params', 120, [
  { name: 'sq_entries', offset: 0, type: 'u32' },
  { name: 'cq_entries', offset: 4, type: 'u32' },
  { name: 'flags', offset: 8, type: 'u32' },
  { name: 'sq_thread_cpu', offset: 12, type: 'u32' },
  { name: 'sq_thread_idle', offset: 16, type: 'u32' },
  { name: 'features', offset: 20, type: 'u32' },
  { name: 'wq_fd', offset: 24, type: 'u32' },
  { name: 'resv', offset: 28, type: { array: 'u32', count: 3 } },
  { name: 'sq_off', offset: 40, type: { struct: IoSqringOffsets } },
  { name: 'cq_off', offset: 80, type: { struct: IoCqringOffsets } },
] as const);

/** The 64-byte SQE head; with IORING_SETUP_SQE128 the 80 bytes from `cmd` are the command's. */
export const IoUringSqe = defineStruct('io_uring_sqe', 64, [
  { name: 'opcode', offset: 0, type: 'u8' },
  { name: 'flags', offset: 1, type: 'u8' },
  { name: 'ioprio', offset: 2, type: 'u16' },
  { name: 'fd', offset: 4, type: 's32' },
  { name: 'cmd_op', offset: 8, type: 'u32' }, // union with off / addr2
  { name: '__pad1', offset: 12, type: 'u32' },
  { name: 'addr', offset: 16, type: 'u64big' },
  { name: 'len', offset: 24, type: 'u32' },
  { name: 'uring_cmd_flags', offset: 28, type: 'u32' }, // union with rw_flags etc.
  { name: 'user_data', offset: 32, type: 'u64big' },
  { name: 'buf_index', offset: 40, type: 'u16' },
  { name: 'personality', offset: 42, type: 'u16' },
  { name: 'file_index', offset: 44, type: 'u32' },
  { name: 'addr3', offset: 48, type: 'u64big' }, // union with cmd[]
  { name: '__pad2', offset: 56, type: 'u64big' },
] as const);
export const SQE_CMD_OFFSET = 48;
export const SQE128_SIZE = 128;

export const IoUringCqe = defineStruct('io_uring_cqe', 16, [
  { name: 'user_data', offset: 0, type: 'u64big' },
  { name: 'res', offset: 8, type: 's32' },
  { name: 'flags', offset: 12, type: 'u32' },
] as const);

/** One ring for IORING_REGISTER_RING_FDS / IORING_UNREGISTER_RING_FDS (offset ~0: any free slot). */
export const IoUringRsrcUpdate = defineStruct('io_uring_rsrc_update', 16, [
  { name: 'offset', offset: 0, type: 'u32' },
  { name: 'resv', offset: 4, type: 'u32' },
  { name: 'data', offset: 8, type: 'u64big' },
] as const);

/**
 * A CQE in 32-bit words, and the words of its res and of user_data's low half. The kernel
 * writes the CQE in the host's byte order, so a word read is right on either order; the low
 * half of the u64 is the first word on a little-endian host and the second on a big one.
 */
const CQE_WORDS = IoUringCqe.size >>> 2;
const CQE_USER_DATA_WORD = (IoUringCqe.offsetOf('user_data') >>> 2) + (os.endianness() === 'LE' ? 0 : 1);
const CQE_RES_WORD = IoUringCqe.offsetOf('res') >>> 2;

const O_SQE_OPCODE = IoUringSqe.offsetOf('opcode');
const O_SQE_FD = IoUringSqe.offsetOf('fd');
const O_SQE_USER_DATA = IoUringSqe.offsetOf('user_data');

/** One completion, as read off the CQ ring. */
export interface Completion {
  userData: number;
  res: number;
}

/** Anonymous, private, zeroed memory the kernel may read and write (buffers named by address). */
export interface Arena {
  readonly bytes: Buffer;
  readonly address: bigint;
  unmap(): void;
}

const PROT_RW = 3;
const MAP_PRIVATE = 2;
const MAP_ANONYMOUS = 0x20;

export function mapArena(length: number): Arena {
  const ptr = mmapAnonFn(null, length, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ptr === null || koffi.address(ptr) === 0xffffffffffffffffn) throw new SysError('mmap', koffi.errno(), `of ${length} anonymous bytes`);
  const address = koffi.address(ptr);
  const bytes = Buffer.from(koffi.view(ptr, length));
  let live = true;
  return {
    bytes, address,
    unmap() {
      if (!live) return;
      live = false;
      check('munmap', munmapAnonFn(address, length) as number);
    },
  };
}

/** eventfd(2), close-on-exec: a counter another thread can bump to end an io_uring wait. */
export function eventFd(): number {
  return check('eventfd', eventfdFn(0, 0o2000000 /* EFD_CLOEXEC */) as number);
}

/**
 * An io_uring instance owned by one thread: SQEs are filled and published with `prepare`
 * + `submitAndWait`, completions read with `reap`. Not safe to share between threads
 * (the SQ tail has one writer), which is why it may be set up SINGLE_ISSUER.
 */
export class IoUring {
  readonly fd: number;
  readonly sqEntries: number;
  readonly sqeSize: number;
  private readonly maps: Mapped[] = [];
  private readonly sqHead: Uint32Array;
  private readonly sqTail: Uint32Array;
  private readonly sqMask: number;
  private readonly sqArray: Uint32Array;
  private readonly sqes: Buffer;
  /** One view per SQE, made once (a subarray per request cost more than filling it). */
  private readonly sqeViews: Buffer[] = [];
  private readonly cqHead: Uint32Array;
  private readonly cqTail: Uint32Array;
  private readonly cqMask: number;
  /**
   * The CQ ring as 32-bit words: a completion's user_data (low word) and res are read as
   * elements. A Buffer method there was a generic property load and a call per field in
   * V8's optimized code (bench/meta-mount/README.md, "Eleventh pass").
   */
  private readonly cqWords: Int32Array;
  /** Where the CQEs start, in words. */
  private readonly cqesWord: number;
  /** SQEs written since the last submit. */
  private pending = 0;
  private localTail: number;
  private readonly params: Buffer;
  private closed = false;
  /** What io_uring_enter is given: the ring's descriptor, or its index once registerRing() ran. */
  private enterFd: number;
  private enterFlags = 0;

  /**
   * io_uring_setup(entries, flags). DEFER_TASKRUN runs the kernel's task work (where FUSE
   * copies a request into our buffers) only inside our io_uring_enter, on this thread,
   * so nothing interrupts the thread while it handles a request.
   */
  constructor(entries: number, flags: number) {
    this.params = Buffer.alloc(IoUringParams.size);
    IoUringParams.encodeInto(this.params, { flags });
    const fd = Number(setupFn(SYS_io_uring_setup, entries, this.params));
    if (fd < 0) throw new SysError('io_uring_setup', koffi.errno(), `(${entries} entries, flags 0x${flags.toString(16)})`);
    this.fd = fd;
    this.enterFd = fd;
    try {
      const p = IoUringParams.decode(this.params);
      this.sqEntries = p.sq_entries;
      this.sqeSize = flags & IORING_SETUP_SQE128 ? SQE128_SIZE : IoUringSqe.size;
      const sqSize = p.sq_off.array + p.sq_entries * 4;
      const cqSize = p.cq_off.cqes + p.cq_entries * IoUringCqe.size;
      const single = (p.features & IORING_FEAT_SINGLE_MMAP) !== 0;
      const sq = mmapShared(fd, single ? Math.max(sqSize, cqSize) : sqSize, IORING_OFF_SQ_RING);
      this.maps.push(sq);
      const cq = single ? sq : mmapShared(fd, cqSize, IORING_OFF_CQ_RING);
      if (!single) this.maps.push(cq);
      const sqesMap = mmapShared(fd, p.sq_entries * this.sqeSize, IORING_OFF_SQES);
      this.maps.push(sqesMap);
      const u32 = (m: Mapped, off: number, n = 1): Uint32Array => new Uint32Array(m.bytes.buffer, m.bytes.byteOffset + off, n);
      this.sqHead = u32(sq, p.sq_off.head);
      this.sqTail = u32(sq, p.sq_off.tail);
      this.sqMask = u32(sq, p.sq_off.ring_mask)[0]!;
      this.sqArray = u32(sq, p.sq_off.array, p.sq_entries);
      this.sqes = sqesMap.bytes;
      for (let i = 0; i < p.sq_entries; i++) this.sqeViews.push(this.sqes.subarray(i * this.sqeSize, (i + 1) * this.sqeSize));
      this.cqHead = u32(cq, p.cq_off.head);
      this.cqTail = u32(cq, p.cq_off.tail);
      this.cqMask = u32(cq, p.cq_off.ring_mask)[0]!;
      if (cq.bytes.byteOffset % 4 !== 0 || p.cq_off.cqes % 4 !== 0) throw new SysError('io_uring_setup', os.constants.errno.EINVAL, `CQ ring at offset ${p.cq_off.cqes} is not 4-byte aligned`);
      this.cqWords = new Int32Array(cq.bytes.buffer, cq.bytes.byteOffset, cq.bytes.length >>> 2);
      this.cqesWord = p.cq_off.cqes >>> 2;
      this.localTail = Atomics.load(this.sqTail, 0);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * io_uring_register(IORING_REGISTER_FILES): the ring holds these files, and an SQE with
   * IOSQE_FIXED_FILE names one by its index here. The kernel then takes no reference to the
   * file per SQE (fget/fput, an atomic on a count every ring thread of the connection shares).
   */
  registerFiles(fds: readonly number[]): void {
    const arr = Buffer.alloc(4 * fds.length);
    fds.forEach((fd, i) => arr.writeInt32LE(fd, 4 * i));
    const rc = Number(registerFn(SYS_io_uring_register, this.fd, IORING_REGISTER_FILES, arr, fds.length));
    if (rc < 0) throw new SysError('io_uring_register', koffi.errno(), `(IORING_REGISTER_FILES, ${fds.length} files)`);
  }

  /**
   * io_uring_register(IORING_REGISTER_RING_FDS): this thread's io_uring_enter names the ring
   * by an index the kernel keeps for the thread, and takes no reference to the ring's file
   * per call (in a process of several threads each fdget is an fget: ~1.5% of a ring
   * thread's samples). The ring is then entered only from the thread that called this.
   */
  registerRing(): void {
    // The kernel writes back the slot it chose.
    const upd = IoUringRsrcUpdate.encode({ offset: 0xffffffff, resv: 0, data: BigInt(this.fd) });
    const rc = Number(registerFn(SYS_io_uring_register, this.fd, IORING_REGISTER_RING_FDS, upd, 1));
    if (rc !== 1) throw new SysError('io_uring_register', rc < 0 ? koffi.errno() : os.constants.errno.EINVAL, '(IORING_REGISTER_RING_FDS)');
    this.enterFd = IoUringRsrcUpdate.decode(upd).offset;
    this.enterFlags = IORING_ENTER_REGISTERED_RING;
  }

  /** Free SQ slots (entries the kernel has not consumed yet count as used). */
  get sqSpace(): number {
    return this.sqEntries - ((this.localTail - Atomics.load(this.sqHead, 0)) >>> 0);
  }

  /**
   * The next SQE, zeroed, to fill in place (its index goes into the SQ array). Throws when the
   * SQ is full: callers size the ring for every SQE they can have outstanding at once.
   */
  prepare(opcode: number, fd: number, userData: number): Buffer {
    if (this.sqSpace <= 0) throw new SysError('io_uring', os.constants.errno.EBUSY, 'submission queue full');
    const idx = this.localTail & this.sqMask;
    const sqe = this.sqeViews[idx]!;
    sqe.fill(0);
    sqe.writeUInt8(opcode, O_SQE_OPCODE);
    sqe.writeInt32LE(fd, O_SQE_FD);
    sqe.writeUInt32LE(userData >>> 0, O_SQE_USER_DATA);
    this.sqArray[idx] = idx;
    this.localTail = (this.localTail + 1) >>> 0;
    this.pending++;
    return sqe;
  }

  /**
   * The next SQE, a copy of `template` (sqeSize bytes: a whole SQE made once by its owner),
   * to finish in place. For an SQE sent again and again with one field changed (a ring entry's
   * COMMIT_AND_FETCH): one memmove instead of zeroing and a dozen field writes per request.
   */
  prepareFrom(template: Uint8Array): Buffer {
    if (template.length !== this.sqeSize) throw new RangeError(`SQE template of ${template.length} bytes, ring SQEs of ${this.sqeSize}`);
    if (this.sqSpace <= 0) throw new SysError('io_uring', os.constants.errno.EBUSY, 'submission queue full');
    const idx = this.localTail & this.sqMask;
    const sqe = this.sqeViews[idx]!;
    sqe.set(template);
    this.sqArray[idx] = idx;
    this.localTail = (this.localTail + 1) >>> 0;
    this.pending++;
    return sqe;
  }

  /**
   * Publish what was prepared and enter the kernel: submit, and wait for at least
   * `minComplete` completions (0: do not wait). Returns the syscall's result or -errno
   * (-EINTR: a signal; the caller calls again).
   */
  submitAndWait(minComplete: number): number {
    // Release: every SQE byte written above is visible before the kernel sees the new tail.
    Atomics.store(this.sqTail, 0, this.localTail);
    const toSubmit = this.pending;
    const flags = (minComplete > 0 ? IORING_ENTER_GETEVENTS : 0) | this.enterFlags;
    const rc = Number(enterFn(SYS_io_uring_enter, this.enterFd, toSubmit, minComplete, flags, null, 0));
    if (rc < 0) return -koffi.errno();
    this.pending -= Math.min(this.pending, rc);
    return rc;
  }

  /**
   * Publish what was prepared and enter the kernel without waiting, but with GETEVENTS: a ring
   * set up with DEFER_TASKRUN runs its pending task work here (for FUSE: copies the requests
   * that arrived into their entries), so their completions are on the CQ ring after it.
   * Returns the syscall's result or -errno.
   */
  submitAndPoll(): number {
    Atomics.store(this.sqTail, 0, this.localTail);
    const rc = Number(enterFn(SYS_io_uring_enter, this.enterFd, this.pending, 0, IORING_ENTER_GETEVENTS | this.enterFlags, null, 0));
    if (rc < 0) return -koffi.errno();
    this.pending -= Math.min(this.pending, rc);
    return rc;
  }

  /** Whether completions are waiting on the CQ ring (a load of its head and tail). */
  get hasCompletions(): boolean {
    return Atomics.load(this.cqHead, 0) !== Atomics.load(this.cqTail, 0);
  }

  /**
   * Take every completion now on the CQ ring into `into` (its objects are reused: read them
   * before the next reap). Returns how many. user_data is taken as its low 32 bits.
   */
  reap(into: Completion[]): number {
    let head = Atomics.load(this.cqHead, 0);
    // Acquire: the CQEs up to the tail are complete once the tail shows them.
    const tail = Atomics.load(this.cqTail, 0);
    let n = 0;
    while (head !== tail) {
      const at = this.cqesWord + (head & this.cqMask) * CQE_WORDS;
      const c = into[n] ?? (into[n] = { userData: 0, res: 0 });
      c.userData = this.cqWords[at + CQE_USER_DATA_WORD]! >>> 0;
      c.res = this.cqWords[at + CQE_RES_WORD]!;
      head = (head + 1) >>> 0;
      n++;
    }
    // Release: the entries are consumed; the kernel may reuse them.
    if (n > 0) Atomics.store(this.cqHead, 0, head);
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.enterFlags & IORING_ENTER_REGISTERED_RING) {
      // The registration holds the ring's file: without this the close below would not end
      // the ring (and cancel what the kernel holds in it) until the thread exits.
      const upd = IoUringRsrcUpdate.encode({ offset: this.enterFd, resv: 0, data: 0n });
      registerFn(SYS_io_uring_register, this.fd, IORING_UNREGISTER_RING_FDS, upd, 1);
    }
    for (const m of this.maps) {
      try {
        m.unmap();
      } catch {
        // unmapping a ring we are closing anyway
      }
    }
    try {
      check('close', closeFn(this.fd) as number);
    } catch {
      // already closed
    }
  }
}

const closeFn = libc.func('int close(int fd)');
