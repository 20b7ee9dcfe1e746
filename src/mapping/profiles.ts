// Engine ABI profiles built from the kernel series declarations (series.ts): the mainline
// profile plus a series' opcode handlers, its INIT bit, and (for iomap) the attribute
// marking that puts regular files on the kernel's iomap path. `auto` is a chooser that runs
// detect.ts on the kernel's INIT and the IOMAP_SUPPORT probe, and logs its reasoning.
import { extendProfile, mainline, type AbiProfile, type KernelInit, type ProfileChooser } from '../fuse/abi.js';
import { InitFlag, Op } from '../fuse/opcodes.js';
import type { OpSpec, ReplyBody } from '../fuse/ops.js';
import { ATTR_OUT_ATTR_OFFSET, Attr, Dirent, DIRENTPLUS_DIRENT_OFFSET, ENTRY_OUT_ATTR_OFFSET } from '../fuse/structs.js';
import { detectSeries, type IomapSupportProbe } from './detect.js';
import { playerCookie } from './iomap-wire.js';
import {
  getDaxdevOp, getFmapOp, iomapOps, openUpserts, type IomapServerConfig, type MappingSource,
} from './handlers.js';
import { FAMFS_UNROLLED, FAMFS_V10, IOMAP_73, MAINLINE, type FamfsSeries, type IomapSeries, type KernelSeries } from './series.js';

/** `--abi` names: a series by name, or `auto`. */
const BY_NAME = {
  mainline: MAINLINE,
  iomap: IOMAP_73,
  'famfs-v10': FAMFS_V10,
  'famfs-unrolled': FAMFS_UNROLLED,
} as const satisfies Record<string, KernelSeries>;

export type ProfileName = 'auto' | keyof typeof BY_NAME;
export const PROFILE_NAMES: readonly ProfileName[] = ['auto', ...(Object.keys(BY_NAME) as (keyof typeof BY_NAME)[])];

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(s);
}

/** The iomap geometry a famfs mount uses unless told otherwise: 4 KiB blocks, 8 PiB - 1. */
export function defaultIomapConfig(overrides: Partial<IomapServerConfig> = {}): IomapServerConfig {
  return { blockSize: 4096, maxBytes: Number.MAX_SAFE_INTEGER, cookie: playerCookie, id: 'famfs-ts', ...overrides };
}

export interface ProfileContext {
  readonly source: MappingSource;
  readonly iomap?: IomapServerConfig;
  readonly log?: (line: string) => void;
  /**
   * What FUSE_DEV_IOC_IOMAP_SUPPORT said before INIT (asked by the mount on its /dev/fuse);
   * unset: not asked.
   */
  readonly iomapSupport?: () => IomapSupportProbe;
}

/** Whether the INIT reply grants `bit` (flags2 bits travel only with INIT_EXT). */
function granted(flags: bigint, bit: bigint): boolean {
  if (bit === 0n || !(flags & bit)) return false;
  return bit < 1n << 32n || (flags & InitFlag.INIT_EXT) !== 0n;
}

function famfsProfile(series: FamfsSeries, source: MappingSource): AbiProfile {
  const choice = series.encodings.length === 1 ? series.encodings[0]! : 'by-payload';
  return extendProfile(mainline, {
    name: series.name,
    minor: series.minor,
    ops: [
      [series.opcodes.GET_FMAP, getFmapOp(source, choice)],
      [series.opcodes.GET_DAXDEV, getDaxdevOp(source)],
    ],
    wantFlags: series.initBit,
    adjustInit: (kernel, reply) => {
      const on = granted(reply.flags, series.initBit);
      if (!(kernel.flags & series.initBit)) {
        source.log?.(`${series.name}: the kernel does not offer INIT bit ${bitIndex(series.initBit)}; files are served by READ/WRITE`);
      }
      source.negotiated?.(series, on);
    },
  });
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const MODE = Attr.offsetOf('mode');
const FLAGS = Attr.offsetOf('flags');
const NAMELEN = Dirent.offsetOf('namelen');

/** Set the series' attribute flags in the fuse_attr at `at` when it describes a regular file. */
function markAttr(buf: Buffer, at: number, flags: number): void {
  if (at + Attr.size > buf.length) return;
  if ((buf.readUInt32LE(at + MODE) & S_IFMT) === S_IFREG) buf.writeUInt32LE((buf.readUInt32LE(at + FLAGS) | flags) >>> 0, at + FLAGS);
}

/** Every fuse_direntplus of a READDIRPLUS reply (entry_out, dirent, name padded to 8). */
function markDirentplus(buf: Buffer, flags: number): void {
  for (let at = 0; at + DIRENTPLUS_DIRENT_OFFSET + Dirent.size <= buf.length; ) {
    markAttr(buf, at + ENTRY_OUT_ATTR_OFFSET, flags);
    const namelen = buf.readUInt32LE(at + DIRENTPLUS_DIRENT_OFFSET + NAMELEN);
    at += (DIRENTPLUS_DIRENT_OFFSET + Dirent.size + namelen + 7) & ~7;
  }
}

/** The mainline op with its reply's attributes marked for the iomap path. */
function marking(op: number, mark: (first: Buffer) => void): [number, OpSpec<unknown>] {
  const base = mainline.ops.get(op);
  if (!base) throw new Error(`mainline has no opcode ${op}`);
  const apply = (body: ReplyBody): ReplyBody => {
    const first = Buffer.isBuffer(body) ? body : Array.isArray(body) ? (body as readonly Buffer[])[0] : undefined;
    if (first) mark(first);
    return body;
  };
  return [op, {
    ...base,
    handle: (call, a) => {
      const r = base.handle(call, a);
      return r instanceof Promise ? r.then(apply) : apply(r);
    },
  }];
}

/**
 * Regular files go on the iomap path when their fuse_attr carries the series' attribute
 * flags (FUSE_ATTR_IOMAP with FUSE_ATTR_EXCLUSIVE, fuse-iomap-abi.md §1.1 and errata): every
 * reply that hands the kernel attributes is marked, so a file system serves the same
 * attributes under every profile.
 */
function attrMarking(flags: number): [number, OpSpec<unknown>][] {
  return [
    ...[Op.LOOKUP, Op.MKNOD, Op.LINK, Op.CREATE].map((op) => marking(op, (b) => markAttr(b, ENTRY_OUT_ATTR_OFFSET, flags))),
    ...[Op.GETATTR, Op.SETATTR].map((op) => marking(op, (b) => markAttr(b, ATTR_OUT_ATTR_OFFSET, flags))),
    marking(Op.READDIRPLUS, (b) => markDirentplus(b, flags)),
  ];
}

/** OPEN that, once the open succeeded, pushes a small file's mappings (§1.4 lookup order 1). */
function upsertingOpen(series: IomapSeries, source: MappingSource, cfg: IomapServerConfig, max: number): [number, OpSpec<unknown>] {
  const base = mainline.ops.get(Op.OPEN);
  if (!base) throw new Error('mainline has no OPEN');
  return [Op.OPEN, {
    ...base,
    handle: (call, a) => {
      const after = (body: ReplyBody): ReplyBody => {
        const size = cfg.upsertMaxBytes === undefined ? 0 : source.fileMap(call.ctx.nodeid)?.size ?? 0;
        if (size > (cfg.upsertMaxBytes ?? Infinity)) return body;
        for (const p of openUpserts(source, cfg, call.ctx.nodeid, max)) call.notify?.(series.notify.UPSERT_MAPPINGS, [p]);
        return body;
      };
      const r = base.handle(call, a);
      return r instanceof Promise ? r.then(after) : after(r);
    },
  }];
}

function iomapProfile(series: IomapSeries, source: MappingSource, cfg: IomapServerConfig): AbiProfile {
  const upsert = cfg.upsertAtOpen || cfg.upsertMaxBytes !== undefined
    ? [upsertingOpen(series, source, cfg, cfg.upsertAtOpen || Number.MAX_SAFE_INTEGER)] : [];
  return extendProfile(mainline, {
    name: series.name,
    minor: series.minor,
    ops: [...attrMarking(series.attrFlags), ...upsert, ...iomapOps(source, cfg, series.opcodes)],
    wantFlags: series.initBit,
    adjustInit: (kernel, reply) => {
      // The experimental minor is announced only to a kernel that speaks it; the feature
      // itself is enabled by the flag (§1.1).
      if (kernel.minor !== series.minor) reply.minor = Math.min(reply.minor, mainline.minor);
      if (!(kernel.flags & series.initBit)) {
        source.log?.(`${series.name}: the kernel does not offer INIT bit ${bitIndex(series.initBit)}; files are served by READ/WRITE`);
      }
      source.negotiated?.(series, granted(reply.flags, series.initBit));
    },
  });
}

function bitIndex(bit: bigint): number {
  let i = 0;
  while (bit > 1n) {
    bit >>= 1n;
    i++;
  }
  return i;
}

/** The engine profile that speaks `series`, reporting the negotiated series to the source. */
export function profileOf(series: KernelSeries, ctx: ProfileContext): AbiProfile {
  switch (series.kind) {
    case 'mainline':
      return extendProfile(mainline, { name: series.name, adjustInit: () => ctx.source.negotiated?.(series, false) });
    case 'famfs':
      return famfsProfile(series, ctx.source);
    case 'iomap':
      return iomapProfile(series, ctx.source, ctx.iomap ?? defaultIomapConfig());
  }
}

/** The probe result when none was asked (a channel that is not /dev/fuse). */
const NOT_ASKED: IomapSupportProbe = { kind: 'not-asked', why: 'not a /dev/fuse channel' };

/** `auto`: detect the series at INIT, log how, and speak it. */
export function autoChooser(ctx: ProfileContext): ProfileChooser {
  return (kernel: KernelInit) => {
    const d = detectSeries(kernel, ctx.iomapSupport?.() ?? NOT_ASKED);
    ctx.log?.(`abi auto: ${d.series.name} (${d.reasons.join('; ')})`);
    return profileOf(d.series, ctx);
  };
}

/** A concrete profile by name, or the auto chooser. */
export function profileByName(name: ProfileName, ctx: ProfileContext): AbiProfile | ProfileChooser {
  return name === 'auto' ? autoChooser(ctx) : profileOf(BY_NAME[name], ctx);
}
