// The destination of creat, cp and mkdir as the CLI sees it: the rules are in
// src/famfs/destination.ts; this adds what needs the host (the famfs-ts mounts in
// /proc/mounts via src/famfs/proc-mounts.ts, symlinks of the part of the path that exists,
// whether a directory is there) and answers in target.ts's Resolved form.
import fs from 'node:fs';
import path from 'node:path';
import { withPrefix } from './errors.js';
import { classifyTarget, type Resolved } from './target.js';
import { famfsTsMounts } from '../famfs/proc-mounts.js';
import { checkNewPath, classifyDestination, DestinationError, hostPathRefusal } from '../famfs/destination.js';

/** Real path of `abs`: symlinks resolved in the longest part that exists (and answers). */
function canonical(abs: string): string {
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = fs.realpathSync(head);
      return tail.length ? path.join(real, ...tail.reverse()) : real;
    } catch {
      if (head === '/') return abs;
      tail.push(path.basename(head));
      head = path.dirname(head);
    }
  }
}

/** A destination in famfs; `dir`: the argument ended in '/' (it must be a directory). */
export type Destination = Extract<Resolved, { kind: 'image' | 'mounted' }> & { readonly dir: boolean };

/**
 * Where `arg` of `verb` points, refused (DestinationError) when it is a host path, climbs
 * out of famfs, names /.meta, is too long, or (creat) ends in a slash.
 */
export function destinationOf(verb: 'creat' | 'cp' | 'mkdir', arg: string, o: { parents?: boolean } = {}): Destination {
  try {
    return destination(verb, arg, o);
  } catch (e) {
    if (e instanceof DestinationError) throw new DestinationError(withPrefix(`famfs ${verb}`, e.message), e.errno, e.exitCode, { cause: e });
    throw e;
  }
}

function destination(verb: 'creat' | 'cp' | 'mkdir', arg: string, o: { parents?: boolean }): Destination {
  // `IMAGE:path` without the slash (IMAGE exists, the whole argument does not) means IMAGE:/path.
  const t = classifyTarget(arg);
  const spelled = t.kind === 'image' ? `${t.image}:${t.path}` : arg;
  const mounts = famfsTsMounts();
  const d = classifyDestination(spelled, { cwd: process.cwd(), mountpoints: mounts.map((m) => m.mountpoint), canonical });
  if (d.kind === 'host') throw hostPathRefusal(verb, arg);
  // cp's destination may be an existing directory, the root included; mkdir -p may name one.
  if (!(d.rel === '' && (verb === 'cp' || o.parents))) checkNewPath(d, arg);
  if (verb === 'creat' && d.dir) throw new DestinationError(`famfs creat: ${arg}: Is a directory (a trailing slash names a directory)`, 'EISDIR', 21);
  if (d.kind === 'image') return { kind: 'image', arg, image: d.image, path: `/${d.rel}`, dir: d.dir };
  // The last entry at a mount point is the one on top (a stacked mount hides the earlier).
  const mount = mounts.filter((m) => m.mountpoint === d.mountpoint).pop()!;
  return { kind: 'mounted', arg, path: d.abs, mount, rel: `/${d.rel}`, dir: d.dir };
}

/** GNU cp's refusal of `dest/` that is not a directory. */
export function notADirectory(arg: string): DestinationError {
  return new DestinationError(`famfs cp: cannot create regular file '${arg}': Not a directory`, 'ENOTDIR', 20);
}

/** Whether a mounted destination is an existing directory (through the mount). */
export function isMountedDir(abs: string): boolean {
  try {
    return fs.statSync(abs).isDirectory();
  } catch {
    return false;
  }
}
