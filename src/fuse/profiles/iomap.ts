// Darrick Wong's fuse-iomap v7 profile (reference fuse-iomap-abi.md §1.1): minor 99,
// INIT bit 43 = FUSE_IOMAP, opcodes 4089-4095 just below CUSE_INIT, notifies 99-101, and
// the v6/v7 FUSE_IOMAP_F_* numbering.
import { extendProfile, mainline, type AbiProfile } from '../abi.js';
import { Op } from '../opcodes.js';
import type { OpSpec, ReplyBody } from '../ops.js';
import { ATTR_OUT_ATTR_OFFSET, Attr, Dirent, DIRENTPLUS_DIRENT_OFFSET, ENTRY_OUT_ATTR_OFFSET } from '../structs.js';
import { iomapOps, openUpserts, type IomapOpcodes, type IomapServerConfig, type MappingSource } from '../mapping-handlers.js';
import { FUSE_ATTR_IOMAP, IOMAP_FLAGS_V7, type IomapFlagNumbering } from '../iomap-wire.js';

/** INIT flag FUSE_IOMAP (flags2 bit 11) in the fuse-iomap series. */
export const FUSE_IOMAP = 1n << 43n;
export const IOMAP_MINOR = 99;

export const IOMAP_OPCODES: IomapOpcodes = {
  FREEZE_FS: 4089,
  UNFREEZE_FS: 4090,
  SHUTDOWN_FS: 4091,
  IOMAP_CONFIG: 4092,
  IOMAP_IOEND: 4093,
  IOMAP_BEGIN: 4094,
  IOMAP_END: 4095,
};

export const IOMAP_NOTIFY = {
  IOMAP_DEV_INVAL: 99,
  IOMAP_UPSERT_MAPPINGS: 100,
  IOMAP_INVAL_MAPPINGS: 101,
} as const;

/** The flag numbering this profile's mappings use (fuse-iomap-abi.md §1.3: never mix postings). */
export const IOMAP_PROFILE_FLAGS: IomapFlagNumbering = IOMAP_FLAGS_V7;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const MODE = Attr.offsetOf('mode');
const FLAGS = Attr.offsetOf('flags');
const NAMELEN = Dirent.offsetOf('namelen');

/** Set FUSE_ATTR_IOMAP in the fuse_attr at `at` when it describes a regular file (fuse-iomap-abi.md §1.1). */
function markAttr(buf: Buffer, at: number): void {
  if (at + Attr.size > buf.length) return;
  if ((buf.readUInt32LE(at + MODE) & S_IFMT) === S_IFREG) buf.writeUInt32LE((buf.readUInt32LE(at + FLAGS) | FUSE_ATTR_IOMAP) >>> 0, at + FLAGS);
}

/** Every fuse_direntplus of a READDIRPLUS reply (entry_out, dirent, name padded to 8). */
function markDirentplus(buf: Buffer): void {
  for (let at = 0; at + DIRENTPLUS_DIRENT_OFFSET + Dirent.size <= buf.length; ) {
    markAttr(buf, at + ENTRY_OUT_ATTR_OFFSET);
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
 * Regular files go on the iomap path when their fuse_attr carries FUSE_ATTR_IOMAP (fuse-iomap-abi.md §1.1):
 * the profile marks every reply that hands the kernel attributes, so a file system serves
 * the same attributes under every profile.
 */
const ATTR_MARKING: [number, OpSpec<unknown>][] = [
  ...[Op.LOOKUP, Op.MKNOD, Op.LINK, Op.CREATE].map((op) => marking(op, (b) => markAttr(b, ENTRY_OUT_ATTR_OFFSET))),
  ...[Op.GETATTR, Op.SETATTR].map((op) => marking(op, (b) => markAttr(b, ATTR_OUT_ATTR_OFFSET))),
  marking(Op.READDIRPLUS, markDirentplus),
];

/** OPEN that, once the open succeeded, pushes a small file's mappings (fuse-iomap-abi.md §1.4 lookup order 1). */
function upsertingOpen(source: MappingSource, cfg: IomapServerConfig, max: number): [number, OpSpec<unknown>] {
  const base = mainline.ops.get(Op.OPEN);
  if (!base) throw new Error('mainline has no OPEN');
  return [Op.OPEN, {
    ...base,
    handle: (call, a) => {
      const after = (body: ReplyBody): ReplyBody => {
        const size = cfg.upsertMaxBytes === undefined ? 0 : source.fileMap(call.ctx.nodeid)?.size ?? 0;
        if (size > (cfg.upsertMaxBytes ?? Infinity)) return body;
        for (const p of openUpserts(source, cfg, call.ctx.nodeid, max)) call.notify?.(IOMAP_NOTIFY.IOMAP_UPSERT_MAPPINGS, [p]);
        return body;
      };
      const r = base.handle(call, a);
      return r instanceof Promise ? r.then(after) : after(r);
    },
  }];
}

export function iomapProfile(source: MappingSource, cfg: IomapServerConfig): AbiProfile {
  const upsert = cfg.upsertAtOpen || cfg.upsertMaxBytes !== undefined
    ? [upsertingOpen(source, cfg, cfg.upsertAtOpen || Number.MAX_SAFE_INTEGER)] : [];
  return extendProfile(mainline, {
    name: 'iomap',
    minor: IOMAP_MINOR,
    ops: [...ATTR_MARKING, ...upsert, ...iomapOps(source, cfg, IOMAP_OPCODES)],
    wantFlags: FUSE_IOMAP,
    notify: IOMAP_NOTIFY,
    adjustInit: (kernel, reply) => {
      // The experimental minor is announced only to a kernel that speaks it; the feature
      // itself is enabled by the flag (fuse-iomap-abi.md §1.1).
      if (kernel.minor !== IOMAP_MINOR) reply.minor = Math.min(reply.minor, mainline.minor);
      if (!(kernel.flags & FUSE_IOMAP)) source.log?.('iomap: the kernel does not offer FUSE_IOMAP (INIT bit 43); files are served by READ/WRITE');
    },
  });
}
