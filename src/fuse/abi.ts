// ABI profiles: what differs between kernel series on the engine's side (the minor we
// announce, INIT bits, opcodes) lives in one profile object, chosen at INIT; a series' own
// numbers (notify codes, encodings) are declared in src/mapping/series.ts. The
// mainline profile is protocol 7.45 (Linux 6.18). An extension series (fuse-iomap,
// famfs-v10, ...) is declared with extendProfile(): its extra opcodes are OpSpecs like
// the mainline ones, its INIT bits are added to what we ask for, and adjustInit gets the
// last word on the INIT reply. A ProfileChooser picks a profile from the kernel's INIT.
import { InitFlag } from './opcodes.js';
import { mainlineOps, type OpSpec } from './ops.js';

/** What the kernel said in FUSE_INIT (flags is flags | flags2 << 32). */
export interface KernelInit {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: bigint;
  /** Bytes of fuse_init_in the kernel sent (16 before 7.36, else 64). */
  size: number;
}

/** The fields of our INIT reply that a profile may change in adjustInit. */
export interface InitReply {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: bigint;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  mapAlignment: number;
  maxStackDepth: number;
  requestTimeout: number;
}

export interface AbiProfile {
  readonly name: string;
  /** The protocol minor we announce (the connection runs at min(kernel, this)). */
  readonly minor: number;
  readonly ops: ReadonlyMap<number, OpSpec<unknown>>;
  /** INIT flags we ask for (granted only where the kernel offers them). */
  readonly wantFlags: bigint;
  /** Flags never accepted even if asked: they change wire layouts the decoders do not know. */
  readonly refuseFlags: bigint;
  /** Last word on the INIT reply (e.g. a minor of 99, an extra flags2 bit, map_alignment). */
  adjustInit?(kernel: KernelInit, reply: InitReply): void;
}

/** Flags a memory file system wants from any kernel: async and parallel reads, big
 * writes and requests, parallel lookups/readdirs, READDIRPLUS, and FUSE_INIT_EXT so
 * flags2 is heard at all (fuse-iomap-abi.md §2). NO_OPENDIR_SUPPORT is only the kernel's
 * word that an OPENDIR answered ENOSYS is taken as "no OPENDIR ever again"; asking it back
 * changes nothing in the kernel, and lets the file system see it in the agreed flags. */
export const ENGINE_FLAGS =
  InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES | InitFlag.PARALLEL_DIROPS |
  InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO | InitFlag.ATOMIC_O_TRUNC | InitFlag.ASYNC_DIO |
  InitFlag.AUTO_INVAL_DATA | InitFlag.CACHE_SYMLINKS | InitFlag.HAS_EXPIRE_ONLY | InitFlag.INIT_EXT |
  InitFlag.NO_OPENDIR_SUPPORT;

/**
 * Flags that add request extensions (SECURITY_CTX, CREATE_SUPP_GROUP), change the request
 * or reply layouts (SETXATTR_EXT), or promise machinery the engine lacks (io_uring, unless a
 * session with the ring transport lifts it through InitLimits.allowFlags;
 * passthrough, resend, request timeouts, idmapped mounts, submounts): refused, as fuser does.
 */
export const ENGINE_REFUSED =
  InitFlag.SECURITY_CTX | InitFlag.CREATE_SUPP_GROUP | InitFlag.SETXATTR_EXT | InitFlag.OVER_IO_URING |
  InitFlag.PASSTHROUGH | InitFlag.HAS_RESEND | InitFlag.REQUEST_TIMEOUT | InitFlag.ALLOW_IDMAP |
  InitFlag.SUBMOUNTS | InitFlag.MAP_ALIGNMENT | InitFlag.WRITEBACK_CACHE | InitFlag.INIT_RESERVED;

export const mainline: AbiProfile = {
  name: 'mainline',
  minor: 45,
  ops: mainlineOps,
  wantFlags: ENGINE_FLAGS,
  refuseFlags: ENGINE_REFUSED,
};

export interface ProfileExtension {
  name: string;
  minor?: number;
  /** Extra (or replacing) opcodes. */
  ops?: Iterable<readonly [number, OpSpec<unknown>]>;
  /** Opcodes of the base this series does not have. */
  dropOps?: Iterable<number>;
  wantFlags?: bigint;
  /** Flags the base refuses that this series does speak. */
  allowFlags?: bigint;
  adjustInit?(kernel: KernelInit, reply: InitReply): void;
}

/** A profile that is `base` plus an extension series' numbers and handlers. */
export function extendProfile(base: AbiProfile, ext: ProfileExtension): AbiProfile {
  const ops = new Map(base.ops);
  for (const op of ext.dropOps ?? []) ops.delete(op);
  for (const [code, spec] of ext.ops ?? []) ops.set(code, spec);
  const baseAdjust = base.adjustInit;
  return {
    name: ext.name,
    minor: ext.minor ?? base.minor,
    ops,
    wantFlags: base.wantFlags | (ext.wantFlags ?? 0n),
    refuseFlags: base.refuseFlags & ~(ext.allowFlags ?? 0n),
    adjustInit: (kernel, reply) => {
      baseAdjust?.(kernel, reply);
      ext.adjustInit?.(kernel, reply);
    },
  };
}

/** Picks the profile for a connection from the kernel's INIT. */
export type ProfileChooser = (kernel: KernelInit) => AbiProfile;
