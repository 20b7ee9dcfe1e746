// `famfs-ts fmap` and `famfs-ts iomap`: the exact mapping messages the server would send
// for a file (GET_FMAP, fuse_iomap_begin_out), decoded and as bytes. Commander wiring and
// terminal output only; the encoders are src/fuse/famfs-fmap.ts and iomap-wire.ts.
import type { Command } from 'commander';
import type { FileMap } from '../interleave/filemap.js';
import { loadFileMap } from '../interleave/layout-yaml.js';
import { failAndExit, sizeArg } from './run.js';
import { decodeFmap, encodeFmap, FmapError, type DecodedFmap, type FmapEncoding } from '../mapping/famfs-fmap.js';
import { decodeIomapIo, IOMAP_FLAGS_V7, IOMAP_OP, IOMAP_TYPE, iomapBeginReply, IomapError, playerCookie, type IomapMapping } from '../mapping/iomap-wire.js';
import { classifyTarget, imageFileMap } from './image.js';
import { MAP_XATTR } from '../server/control-xattrs.js';

class ProtocolCliError extends Error {}

/** A file's FileMap: `--fmap FILE.yaml`, `IMAGE:/path` (unmounted image) or a path in a famfs-ts mount. */
async function fileMapOf(spec: string | undefined, fmapYaml: string | undefined): Promise<FileMap> {
  if (fmapYaml) return loadFileMap(fmapYaml);
  if (!spec) throw new ProtocolCliError('name a file (MNT/FILE or IMAGE:/path) or give --fmap FILE.yaml');
  const t = classifyTarget(spec);
  if (t.kind === 'image') return imageFileMap(spec).map;
  let raw: Buffer;
  try {
    // Loaded only for mounted paths: the libc binding is needed nowhere else in this verb.
    const xattrModule = '../sys/xattr.js';
    const { getXattr } = (await import(xattrModule)) as { getXattr(path: string, name: string, max?: number): Buffer };
    raw = getXattr(t.path, MAP_XATTR, 16 << 20);
  } catch (e) {
    throw new ProtocolCliError(`${spec}: cannot read ${MAP_XATTR} (${(e as Error).message}); is it a file in a famfs-ts mount? For an image use IMAGE:/path`, { cause: e });
  }
  return JSON.parse(raw.toString('utf8')) as FileMap;
}

function hexDump(buf: Uint8Array): string {
  const lines: string[] = [];
  for (let at = 0; at < buf.byteLength; at += 16) {
    const row = Buffer.from(buf.subarray(at, Math.min(at + 16, buf.byteLength)));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    lines.push(`${at.toString(16).padStart(8, '0')}  ${hex.slice(0, 8).join(' ')}  ${hex.slice(8).join(' ')}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`) : v instanceof Uint8Array ? undefined : v);

function fmapText(d: DecodedFmap, bytes: number, enc: FmapEncoding): string {
  const h = d.header;
  const lines = [
    `GET_FMAP reply (${enc}): ${bytes} bytes`,
    `header: file_type ${h.file_type} fmap_version ${h.fmap_version} ext_type ${h.ext_type === 0 ? 'SIMPLE' : 'INTERLEAVE'} nextents ${h.nextents} ` +
      `${enc === 'unrolled' ? `fmap_size ${h.fmap_size} ` : ''}file_size ${h.file_size}`,
  ];
  d.extents.forEach((e, i) => {
    if (e.kind === 'simple') {
      lines.push(`  ext ${i}: devindex ${e.run.se_devindex} offset 0x${e.run.se_offset.toString(16)} len 0x${e.run.se_len.toString(16)}`);
      return;
    }
    lines.push(`  iext ${i}: nstrips ${e.iext.ie_nstrips} chunk 0x${e.iext.ie_chunk_size.toString(16)} nbytes 0x${e.iext.ie_nbytes.toString(16)}`);
    e.strips.forEach((s, j) => lines.push(`    strip ${j}: devindex ${s.se_devindex} offset 0x${s.se_offset.toString(16)} len 0x${s.se_len.toString(16)}`));
  });
  return `${lines.join('\n')}\n`;
}

const TYPE_NAMES = new Map<number, string>(Object.entries(IOMAP_TYPE).map(([k, v]) => [v, k]));

function flagNames(flags: number): string {
  const names = Object.entries(IOMAP_FLAGS_V7).filter(([k, v]) => k !== 'beginMask' && flags & v).map(([k]) => k);
  return names.length ? names.join('|') : '0';
}

function ioText(slot: string, m: IomapMapping): string {
  const addr = m.addr === 0xffffffffffffffffn ? 'NULL' : `0x${m.addr.toString(16)}`;
  return `  ${slot}: offset 0x${m.offset.toString(16)} length 0x${m.length.toString(16)} addr ${addr} type ${TYPE_NAMES.get(m.type) ?? m.type} flags ${flagNames(m.flags)} dev ${m.dev}`;
}

const fail = (e: unknown): never => failAndExit(e, e instanceof FmapError || e instanceof IomapError ? 1 : 2);

export function registerProtocol(program: Command): void {
  program
    .command('fmap')
    .description('print the exact GET_FMAP message the server sends for a file (famfs-over-FUSE, fuse-iomap-abi.md §3.2)')
    .argument('[file]', 'MNT/FILE in a famfs-ts mount, or IMAGE:/path')
    .option('--encoding <enc>', 'v10 (posted series: interleaved extents) or unrolled (dev tree: simple extents)', 'v10')
    .option('--fmap <yaml>', 'take the FileMap from a FileMap YAML instead of a file')
    .option('--hex', 'print only the message bytes, as hex')
    .option('--json', 'print the decoded message and its hex as JSON')
    .action(async (file: string | undefined, o: { encoding: string; fmap?: string; hex?: boolean; json?: boolean }) => {
      try {
        if (o.encoding !== 'v10' && o.encoding !== 'unrolled') throw new ProtocolCliError(`--encoding ${o.encoding}: use v10 or unrolled`);
        const enc: FmapEncoding = o.encoding;
        const msg = encodeFmap(await fileMapOf(file, o.fmap), { encoding: enc });
        const d = decodeFmap(msg);
        if (o.hex) process.stdout.write(`${msg.toString('hex')}\n`);
        else if (o.json) process.stdout.write(`${JSON.stringify({ encoding: enc, bytes: msg.byteLength, header: d.header, extents: d.extents, hex: msg.toString('hex') }, big, 2)}\n`);
        else process.stdout.write(fmapText(d, msg.byteLength, enc) + hexDump(msg));
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('iomap')
    .description('print the fuse_iomap_begin_out the server sends for FUSE_IOMAP_BEGIN at an offset (fuse-iomap, fuse-iomap-abi.md §1.4)')
    .argument('[file]', 'MNT/FILE in a famfs-ts mount, or IMAGE:/path')
    .argument('[offset]', 'file offset (4096, 2M, 0x200000)')
    .option('--offset <x>', 'file offset; repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--fmap <yaml>', 'take the FileMap from a FileMap YAML instead of a file')
    .option('--block-size <n>', 'i_blocksize announced in IOMAP_CONFIG', '4096')
    .option('--write', 'a write (IOMAP_OP_WRITE) rather than a read')
    .option('--json', 'print the decoded reply and its hex as JSON')
    .action(async (file: string | undefined, offset: string | undefined, o: { offset: string[]; fmap?: string; blockSize: string; write?: boolean; json?: boolean }) => {
      try {
        // With --fmap the single positional is the offset.
        if (o.fmap && offset === undefined && file !== undefined) {
          offset = file;
          file = undefined;
        }
        const offsets = [...(offset !== undefined ? [offset] : []), ...o.offset].map((s) => sizeArg('--offset', s));
        if (offsets.length === 0) throw new ProtocolCliError('give an OFFSET (or --offset X)');
        const map = await fileMapOf(file, o.fmap);
        const geometry = { blockSize: sizeArg('--block-size', o.blockSize), maxBytes: Number.MAX_SAFE_INTEGER, cookie: playerCookie };
        const results = offsets.map((pos) => {
          const reply = iomapBeginReply(map, pos, o.write ? IOMAP_OP.WRITE : 0, geometry);
          return { pos, read: decodeIomapIo(reply, 0), write: decodeIomapIo(reply, 32), hex: reply.toString('hex'), reply };
        });
        if (o.json) {
          process.stdout.write(`${JSON.stringify(results.map(({ reply: _r, ...r }) => r), big, 2)}\n`);
          return;
        }
        for (const r of results) {
          process.stdout.write(`FUSE_IOMAP_BEGIN reply for pos 0x${r.pos.toString(16)} (64 bytes; dev = daxdev + 1 where BACKING_OPEN ids are not in play)\n`);
          process.stdout.write(`${ioText('read ', r.read)}\n${ioText('write', r.write)}\n${hexDump(r.reply)}`);
        }
      } catch (e) {
        fail(e);
      }
    });
}
