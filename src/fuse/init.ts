// FUSE_INIT negotiation as a pure function of the kernel's fuse_init_in, the chosen ABI
// profile and the engine's limits (fuse-iomap-abi.md §2 "FUSE_INIT").
import type { AbiProfile, InitReply, KernelInit } from './abi.js';
import type { ConnectionInfo } from './filesystem.js';
import { FUSE_KERNEL_VERSION, InitFlag } from './opcodes.js';
import { ProtocolError } from './request.js';
import { INIT_IN_COMPAT_SIZE, INIT_OUT_COMPAT_22_SIZE, INIT_OUT_COMPAT_SIZE, InitIn, InitOut } from './structs.js';

export interface InitLimits {
  /** Largest WRITE payload (and READ size) wanted; clamped to maxPagesLimit pages. */
  maxWrite: number;
  /** fs.fuse.max_pages_limit. */
  maxPagesLimit: number;
  pageSize: number;
  maxBackground: number;
  /** Extra flags asked for this session (e.g. from mount options). */
  wantFlags?: bigint;
  /** Flags the profile refuses that this session has the machinery for (OVER_IO_URING with the ring transport). */
  allowFlags?: bigint;
}

export interface InitResult {
  /** The reply body, already cut to the size the kernel's minor expects. */
  body: Buffer;
  /** True when only the version was answered (kernel major > 7): a second INIT follows. */
  versionOnly: boolean;
  conn: ConnectionInfo;
  reply: InitReply;
}

/** Decode fuse_init_in, accepting the 16-byte form kernels before 7.36 send. */
export function decodeInitIn(args: Buffer): KernelInit {
  if (args.length < INIT_IN_COMPAT_SIZE) throw new ProtocolError(`INIT: fuse_init_in of ${args.length} bytes, need at least 16`);
  const padded = args.length >= InitIn.size ? args : Buffer.concat([args, Buffer.alloc(InitIn.size - args.length)]);
  const v = InitIn.decode(padded);
  // flags2 is meaningful only when the kernel sets INIT_EXT.
  const ext = (BigInt(v.flags) & InitFlag.INIT_EXT) !== 0n;
  const flags = BigInt(v.flags) | (ext ? BigInt(v.flags2) << 32n : 0n);
  return { major: v.major, minor: v.minor, maxReadahead: v.max_readahead, flags, size: Math.min(args.length, InitIn.size) };
}

export function negotiateInit(kernel: KernelInit, profile: AbiProfile, limits: InitLimits): InitResult {
  if (kernel.major < FUSE_KERNEL_VERSION) {
    throw new ProtocolError(`INIT: kernel protocol ${kernel.major}.${kernel.minor} is older than 7`);
  }
  const pages = Math.max(1, Math.min(limits.maxPagesLimit, 65535));
  const maxWrite = Math.max(4096, Math.min(limits.maxWrite, pages * limits.pageSize));
  const reply: InitReply = {
    major: FUSE_KERNEL_VERSION,
    minor: profile.minor,
    maxReadahead: kernel.maxReadahead,
    flags: 0n,
    maxBackground: limits.maxBackground,
    congestionThreshold: Math.floor((limits.maxBackground * 3) / 4),
    maxWrite,
    timeGran: 1,
    maxPages: 0,
    mapAlignment: 0,
    maxStackDepth: 0,
    requestTimeout: 0,
  };
  if (kernel.major > FUSE_KERNEL_VERSION) {
    // Answer with our version only; the kernel retries INIT at major 7.
    const body = InitOut.encode({ major: reply.major, minor: reply.minor }).subarray(0, INIT_OUT_COMPAT_SIZE);
    return { body, versionOnly: true, reply, conn: connOf(kernel, profile, reply) };
  }
  const want = (profile.wantFlags | (limits.wantFlags ?? 0n)) & ~(profile.refuseFlags & ~(limits.allowFlags ?? 0n));
  reply.flags = want & kernel.flags;
  if (reply.flags & InitFlag.MAX_PAGES) reply.maxPages = Math.ceil(maxWrite / limits.pageSize);
  else reply.maxWrite = Math.min(maxWrite, 32 * limits.pageSize); // the kernel's default request cap
  profile.adjustInit?.(kernel, reply);
  // flags2 travels only with INIT_EXT on both sides; keep it out of the reply otherwise.
  const ext = (reply.flags & InitFlag.INIT_EXT) !== 0n && (kernel.flags & InitFlag.INIT_EXT) !== 0n;
  if (!ext) reply.flags &= 0xffffffffn;
  const full = InitOut.encode({
    major: reply.major,
    minor: reply.minor,
    max_readahead: reply.maxReadahead,
    flags: Number(reply.flags & 0xffffffffn),
    max_background: reply.maxBackground,
    congestion_threshold: reply.congestionThreshold,
    max_write: reply.maxWrite,
    time_gran: reply.timeGran,
    max_pages: reply.maxPages,
    map_alignment: reply.mapAlignment,
    flags2: Number(reply.flags >> 32n),
    max_stack_depth: reply.maxStackDepth,
    request_timeout: reply.requestTimeout,
  });
  const size = kernel.minor < 5 ? INIT_OUT_COMPAT_SIZE : kernel.minor < 23 ? INIT_OUT_COMPAT_22_SIZE : InitOut.size;
  return { body: full.subarray(0, size), versionOnly: false, reply, conn: connOf(kernel, profile, reply) };
}

function connOf(kernel: KernelInit, profile: AbiProfile, reply: InitReply): ConnectionInfo {
  return {
    minor: Math.min(kernel.minor, reply.minor),
    profile: profile.name,
    maxWrite: reply.maxWrite,
    maxReadahead: reply.maxReadahead,
    flags: reply.flags,
  };
}
