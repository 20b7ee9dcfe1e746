// The `user.famfs.interleave` xattr (DESIGN.md "Interleave parameters for a file created
// through a mount"): `nstrips=4,chunk=2M[,nbuckets=8]`, set before the first write.
import { parseSize, formatSize } from '../interleave/size.js';
import type { InterleaveParams } from '../famfs/alloc.js';
import type { FileMap } from '../interleave/filemap.js';

export const INTERLEAVE_XATTR = 'user.famfs.interleave';

export class InterleaveParamError extends Error {}

/** Parse the xattr value; nbuckets defaults to nstrips (every strip in its own bucket). */
export function parseInterleaveParam(text: string): InterleaveParams {
  const fields = new Map<string, string>();
  for (const part of text.replace(/\0+$/, '').trim().split(',')) {
    if (!part.trim()) continue;
    const m = /^\s*([a-z_]+)\s*=\s*(\S+)\s*$/.exec(part);
    if (!m) throw new InterleaveParamError(`${INTERLEAVE_XATTR}: "${part}" is not key=value (want nstrips=4,chunk=2M[,nbuckets=8])`);
    const key = m[1]!;
    if (!['nstrips', 'chunk', 'chunk_size', 'nbuckets'].includes(key)) {
      throw new InterleaveParamError(`${INTERLEAVE_XATTR}: unknown key "${key}" (known: nstrips, chunk, nbuckets)`);
    }
    fields.set(key === 'chunk_size' ? 'chunk' : key, m[2]!);
  }
  const int = (k: string): number | undefined => {
    const v = fields.get(k);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new InterleaveParamError(`${INTERLEAVE_XATTR}: ${k}=${v} is not a whole number`);
    return Number(v);
  };
  const nstrips = int('nstrips');
  const chunkText = fields.get('chunk');
  if (nstrips === undefined || chunkText === undefined) throw new InterleaveParamError(`${INTERLEAVE_XATTR}: needs nstrips and chunk (e.g. nstrips=4,chunk=2M)`);
  let chunkSize: number;
  try {
    chunkSize = parseSize(chunkText);
  } catch (e) {
    throw new InterleaveParamError(`${INTERLEAVE_XATTR}: chunk=${chunkText}: ${(e as Error).message}`);
  }
  const nbuckets = int('nbuckets') ?? nstrips;
  if (nstrips < 1 || nstrips > 16) throw new InterleaveParamError(`${INTERLEAVE_XATTR}: nstrips=${nstrips} (famfs allows 1..16)`);
  if (chunkSize < 2 * 1024 * 1024 || !Number.isInteger(Math.log2(chunkSize))) {
    throw new InterleaveParamError(`${INTERLEAVE_XATTR}: chunk=${chunkText} must be a power-of-two multiple of 2 MiB`);
  }
  if (nbuckets < nstrips || nbuckets > 64) throw new InterleaveParamError(`${INTERLEAVE_XATTR}: nbuckets=${nbuckets} must be in nstrips..64`);
  return { nstrips, chunkSize, nbuckets };
}

export function formatInterleaveParam(p: InterleaveParams): string {
  return `nstrips=${p.nstrips},chunk=${formatSize(p.chunkSize).replace(/iB$/, '')},nbuckets=${p.nbuckets}`;
}

/** The parameters a committed map was written with (undefined for simple extents). */
export function interleaveOfMap(map: FileMap): string | undefined {
  const e = map.extents[0];
  if (!e || e.type !== 'interleave') return undefined;
  return `nstrips=${e.strips.length},chunk=${e.chunkSize}`;
}
