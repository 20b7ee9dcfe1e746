// The `user.famfs.interleave` xattr (docs/design.md "Interleave parameters for a file created
// through a mount"): `nstrips=4,chunk=2M[,nbuckets=8]`, set before the first write.
import { parseSize, formatSize } from '../interleave/size.js';
import { interleaveParamProblems, type InterleaveParams } from '../interleave/interleave-params.js';
import type { FileMap } from '../interleave/filemap.js';
import { InvalidError } from '../errno.js';

export const INTERLEAVE_XATTR = 'user.famfs.interleave';

export class InterleaveParamError extends InvalidError {}

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
    throw new InterleaveParamError(`${INTERLEAVE_XATTR}: chunk=${chunkText}: ${(e as Error).message}`, { cause: e });
  }
  const params = { nstrips, chunkSize, nbuckets: int('nbuckets') ?? nstrips };
  // The device's bucket size is the allocator's to check, when the file gets its space.
  const problems = interleaveParamProblems(params);
  if (problems.length) throw new InterleaveParamError(`${INTERLEAVE_XATTR}: ${problems.join('; ')}`);
  return params;
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
