// Server-side handlers for the mapping opcodes of the famfs and fuse-iomap series, as
// engine OpSpecs. They know nothing of famfs images: the mount hands in a MappingSource
// (nodeid -> FileMap, daxdev index -> path, device cookies) and every reply is computed
// from that FileMap by the encoders in famfs-fmap.ts and iomap-wire.ts, i.e. from resolve().
import type { FileMap } from '../interleave/filemap.js';
import { fuseBackingOpen } from '../sys/fuse-dev.js';
import { defineOp, type OpSpec } from '../fuse/ops.js';
import { errno, FuseError } from '../fuse/filesystem.js';
import type { IomapSeries, KernelSeries } from './series.js';
import {
  encodeDaxdevOut, FmapError, fmapReply, fmapRequestBuffer, type FmapEncoding,
} from './famfs-fmap.js';
import {
  backingMap, iomapBeginIn, iomapBeginReply, iomapConfigReply, iomapEndIn, iomapIoendIn, iomapIoendOut, IomapError,
  upsertPayloads, invalPayload, type IomapGeometry,
} from './iomap-wire.js';

/** What the mapping handlers need from the file system being served. */
export interface MappingSource {
  /** The map of a regular file, or undefined for anything else (directories, unknown nodeids). */
  fileMap(nodeid: number): FileMap | undefined;
  /** The device path GET_DAXDEV reports for a daxdev index (e.g. /dev/dax0.0 or an emulated file). */
  daxdevPath(index: number): string | undefined;
  /** GET_FMAP file_type (famfs-fmap FAMFS_FILE: REG, SUPERBLOCK, LOG); default REG. */
  fileType?(nodeid: number): number;
  /** fuse_attr.ino the server gave the node (attr_ino in iomap payloads); default nodeid. */
  attrIno?(nodeid: number): number;
  /** Told once which encoding a by-payload profile found the kernel speaks. */
  fmapEncodingChosen?(encoding: FmapEncoding): void;
  /**
   * Told at INIT which series the connection speaks and whether the kernel granted its
   * mapping bit (before the INIT reply is sent and before FileSystem.init).
   */
  negotiated?(series: KernelSeries, granted: boolean): void;
  log?(line: string): void;
}

/** GET_FMAP's encoding: fixed by the profile, or chosen per request from the payload size. */
export type FmapEncodingChoice = FmapEncoding | 'by-payload';

/** GET_FMAP: the fmap message of nodeid's FileMap, within the buffer the kernel offered (fuse-iomap-abi.md §3.2). */
export function getFmapOp(source: MappingSource, choice: FmapEncodingChoice, name = 'GET_FMAP'): OpSpec<{ buffer: number; payloadBytes: 0 | 8 }> {
  let announced = false;
  return defineOp({
    name,
    decode: (a) => {
      try {
        return fmapRequestBuffer(a.take(a.remaining, 'GET_FMAP payload'));
      } catch (e) {
        throw new FuseError(errno.EINVAL, (e as Error).message, { cause: e });
      }
    },
    handle: ({ ctx }, req) => {
      const encoding: FmapEncoding = choice !== 'by-payload' ? choice : req.payloadBytes === 8 ? 'unrolled' : 'v10';
      if (choice === 'by-payload' && !announced) {
        announced = true;
        source.log?.(`GET_FMAP payload of ${req.payloadBytes} bytes: using the ${encoding === 'v10' ? 'famfs V10 (interleaved)' : 'famfs dev-tree (unrolled)'} encoding`);
        source.fmapEncodingChosen?.(encoding);
      }
      const map = source.fileMap(ctx.nodeid);
      if (!map) throw new FuseError(errno.EINVAL, `GET_FMAP for nodeid ${ctx.nodeid}, which is not a famfs regular file`);
      try {
        return fmapReply(map, encoding, req.buffer, source.fileType?.(ctx.nodeid));
      } catch (e) {
        if (!(e instanceof FmapError)) throw e;
        // An older file this kernel cannot express: a clear errno and a log line, never a broken reply.
        source.log?.(`GET_FMAP nodeid ${ctx.nodeid}: ${e.message}`);
        throw new FuseError(e.errno, e.message, { cause: e });
      }
    },
  });
}

/** GET_DAXDEV: in_header.nodeid is the daxdev index, no payload; the reply is 280 bytes (fuse-iomap-abi.md §3.4). */
export function getDaxdevOp(source: MappingSource, name = 'GET_DAXDEV'): OpSpec<null> {
  return defineOp({
    name,
    decode: () => null,
    handle: ({ ctx }) => {
      const path = source.daxdevPath(ctx.nodeid);
      if (path === undefined) throw new FuseError(errno.ENODEV, `GET_DAXDEV ${ctx.nodeid}: no such daxdev`);
      return encodeDaxdevOut(ctx.nodeid, path);
    },
  });
}

/** Mount-wide iomap parameters: the geometry plus the volume identity IOMAP_CONFIG reports. */
export interface IomapServerConfig extends IomapGeometry {
  readonly uuid?: Uint8Array;
  readonly id?: string;
  /**
   * Policy: at OPEN, prepopulate the kernel's mapping cache with UPSERT_MAPPINGS for files
   * of at most this many mappings (0 or unset: never; the kernel then asks IOMAP_BEGIN).
   */
  readonly upsertAtOpen?: number;
  /** Policy: UPSERT at OPEN only for files of at most this many bytes (with or without upsertAtOpen). */
  readonly upsertMaxBytes?: number;
}

function toIomapError(e: unknown, source: MappingSource, what: string): never {
  if (e instanceof IomapError) {
    source.log?.(`${what}: ${e.message}`);
    throw new FuseError(e.errno, e.message);
  }
  throw e;
}

/** The fuse-iomap opcode handlers (fuse-iomap-abi.md §1.1), keyed by the profile's opcode numbers. */
export function iomapOps(source: MappingSource, cfg: IomapServerConfig, op: IomapSeries['opcodes']): [number, OpSpec<unknown>][] {
  const mapOf = (nodeid: number): FileMap => {
    const m = source.fileMap(nodeid);
    if (!m) throw new FuseError(errno.EINVAL, `nodeid ${nodeid} is not a file with a mapping`);
    return m;
  };
  const ack = (name: string): OpSpec<unknown> => defineOp({ name, decode: () => null, handle: () => undefined });
  return [
    [op.FREEZE_FS, ack('FREEZE_FS')],
    [op.UNFREEZE_FS, ack('UNFREEZE_FS')],
    [op.SHUTDOWN_FS, ack('SHUTDOWN_FS')],
    [op.IOMAP_CONFIG, defineOp({
      name: 'IOMAP_CONFIG',
      decode: () => null,
      handle: () => iomapConfigReply(cfg),
    })],
    [op.IOMAP_BEGIN, defineOp({
      name: 'IOMAP_BEGIN',
      decode: (a) => a.struct(iomapBeginIn),
      handle: ({ ctx }, a) => {
        try {
          if (a.pos > BigInt(Number.MAX_SAFE_INTEGER)) throw new IomapError(errno.EFBIG, `position ${a.pos} past 2^53`);
          return iomapBeginReply(mapOf(ctx.nodeid), Number(a.pos), a.opflags, cfg);
        } catch (e) {
          return toIomapError(e, source, `IOMAP_BEGIN nodeid ${ctx.nodeid}`);
        }
      },
    })],
    // Nothing to finish: mappings are preallocated and never change on I/O. END's reply is
    // the bare header (fuse-iomap-abi.md §1.4).
    [op.IOMAP_END, defineOp({ name: 'IOMAP_END', decode: (a) => a.struct(iomapEndIn), handle: () => undefined })],
    [op.IOMAP_IOEND, defineOp({
      name: 'IOMAP_IOEND',
      decode: (a) => a.struct(iomapIoendIn),
      // The on-disk size does not move under famfs files: report the size the map holds.
      handle: ({ ctx }) => iomapIoendOut.encode({ newsize: BigInt(mapOf(ctx.nodeid).size) }),
    })],
  ];
}

/**
 * The UPSERT_MAPPINGS notify payloads that prepopulate the kernel's mapping cache for a
 * small file at OPEN (policy: files of at most `maxMappings` mappings), or none.
 */
export function openUpserts(source: MappingSource, cfg: IomapGeometry, nodeid: number, maxMappings = 16): Buffer[] {
  const map = source.fileMap(nodeid);
  if (!map) return [];
  const ino = BigInt(source.attrIno?.(nodeid) ?? nodeid);
  const payloads = upsertPayloads(map, BigInt(nodeid), ino, cfg);
  return payloads.length <= maxMappings ? payloads : [];
}

/** The INVAL_MAPPINGS payload to send when nodeid's mapping changed. */
export function mappingChanged(source: MappingSource, nodeid: number): Buffer {
  return invalPayload(BigInt(nodeid), BigInt(source.attrIno?.(nodeid) ?? nodeid));
}

const FUSE_BACKING_TYPE_IOMAP = 1;

/**
 * Register an open block device with an iomap connection; returns its `dev` cookie. Only
 * a kernel with fuse-iomap negotiated answers (else EPERM), and only for block devices.
 */
export function backingOpen(fuseFd: number, deviceFd: number): number {
  const arg = backingMap.encode({ fd: deviceFd, flags: FUSE_BACKING_TYPE_IOMAP });
  return fuseBackingOpen(fuseFd, arg);
}
