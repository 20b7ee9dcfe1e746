// The destination of creat, cp and mkdir as the CLI sees it: the rules are in
// src/famfs/destination.ts; this adds what needs the host (the famfs-ts mounts in
// /proc/mounts, symlinks of the part of the path that exists, whether a directory is there).
import fs from 'node:fs';
import path from 'node:path';
import { withPrefix } from './errors.js';
import { checkNewPath, classifyDestination, DestinationError, hostPathRefusal, type Destination } from '../famfs/destination.js';

/** Mount points of famfs-ts mounts (fuse.famfs-ts), as /proc/mounts spells them. */
export function famfsMountPoints(): string[] {
  let text = '';
  try {
    text = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'fuse.famfs-ts' && f[1]) out.push(f[1].replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

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

export type Target = Exclude<Destination, { kind: 'host' }>;

/**
 * Where `arg` of `verb` points, refused (DestinationError) when it is a host path, climbs
 * out of famfs, names /.meta, is too long, or (creat) ends in a slash.
 */
export function destinationOf(verb: 'creat' | 'cp' | 'mkdir', arg: string, o: { parents?: boolean } = {}): Target {
  try {
    return destination(verb, arg, o);
  } catch (e) {
    if (e instanceof DestinationError) throw new DestinationError(withPrefix(`famfs ${verb}`, e.message), e.errno, e.exitCode);
    throw e;
  }
}

/** `IMAGE:path` without the slash (IMAGE exists, the whole argument does not) means IMAGE:/path. */
function imageShorthand(arg: string): string {
  const colon = arg.lastIndexOf(':');
  if (arg.includes(':/') || colon <= 0 || !fs.existsSync(arg.slice(0, colon)) || fs.existsSync(arg)) return arg;
  return `${arg.slice(0, colon)}:/${arg.slice(colon + 1)}`;
}

function destination(verb: 'creat' | 'cp' | 'mkdir', arg: string, o: { parents?: boolean }): Target {
  const d = classifyDestination(imageShorthand(arg), { cwd: process.cwd(), mountpoints: famfsMountPoints(), canonical });
  if (d.kind === 'host') throw hostPathRefusal(verb, arg);
  // cp's destination may be an existing directory, the root included; mkdir -p may name one.
  if (!(d.rel === '' && (verb === 'cp' || o.parents))) checkNewPath(d, arg);
  if (verb === 'creat' && d.dir) throw new DestinationError(`famfs creat: ${arg}: Is a directory (a trailing slash names a directory)`, 'EISDIR', 21);
  return d;
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
