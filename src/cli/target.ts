// Where a verb's path argument points: a file in an unmounted image (`IMAGE:/path`, IMAGE
// being a device or a layout YAML), a path inside a famfs-ts mount, or anything else (not
// famfs). Opening images with the host options every image verb takes.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { FileMap } from '../interleave/filemap.js';
import type { Layout } from '../interleave/layout.js';
import { isLayoutPath, loadLayout } from '../interleave/layout-yaml.js';
import { FamfsImage, type OpenOptions } from '../famfs/image.js';
import { imageLayout } from '../famfs/image-layout.js';
import { metaLookup } from '../famfs/meta-files.js';
import type { Node } from '../famfs/namespace.js';
import { SYSTEM_UUID_FILE } from '../famfs/host.js';
import { FAMFS_TS_FSTYPE, mountContaining, mountOfSource, type MountEntry } from '../famfs/proc-mounts.js';
import { CliError } from './run.js';
import { isFamfsModeImage, withFamfsModeImage } from './famfs-mode-image.js';

export type Target =
  | { readonly kind: 'image'; readonly image: string; readonly path: string }
  | { readonly kind: 'mounted'; readonly path: string };

/**
 * `IMAGE:/path` addresses a file in an unmounted image; anything else is a host path. The
 * image part ends at the first ':' followed by '/' (or at the last ':' when the path is
 * relative and the image exists).
 */
export function classifyTarget(arg: string): Target {
  const at = arg.indexOf(':/');
  if (at > 0) return { kind: 'image', image: arg.slice(0, at), path: arg.slice(at + 1) };
  const colon = arg.lastIndexOf(':');
  if (colon > 0 && fs.existsSync(arg.slice(0, colon)) && !fs.existsSync(arg)) return { kind: 'image', image: arg.slice(0, colon), path: `/${arg.slice(colon + 1)}` };
  return { kind: 'mounted', path: arg };
}

export type Resolved =
  | { readonly kind: 'image'; readonly arg: string; readonly image: string; readonly path: string }
  /** A path in a famfs-ts mount: `source` is what the mount serves, `rel` the path in it. */
  | { readonly kind: 'mounted'; readonly arg: string; readonly path: string; readonly mount: MountEntry; readonly rel: string }
  | { readonly kind: 'other'; readonly arg: string; readonly path: string };

/** Resolve a path argument; '..' and '.' are resolved first, as the kernel would. */
export function resolveTarget(arg: string): Resolved {
  const t = classifyTarget(arg);
  if (t.kind === 'image') return { kind: 'image', arg, image: t.image, path: t.path };
  const abs = path.resolve(arg);
  const m = mountContaining(abs);
  if (m && m.entry.fstype === FAMFS_TS_FSTYPE) return { kind: 'mounted', arg, path: abs, mount: m.entry, rel: m.rel };
  return { kind: 'other', arg, path: abs };
}

export interface HostOpts {
  /** A file holding the host UUID, or the raw UUID (read-only helpers pass zeros). */
  systemUuid?: string | Uint8Array;
  client?: boolean;
  layout?: string;
  /** Write on a log with bad entries (FamfsImage force; writers' --force). */
  force?: boolean;
  /** A master may be appending now: a half-written last entry is not yet there (FamfsImage tailInFlight). */
  tailInFlight?: boolean;
}

export function hostOptions(cmd: Command): Command {
  return cmd
    .option('--system-uuid <file>', `the host identity file (default ${SYSTEM_UUID_FILE}, created like famfs when missing)`)
    .option('--client', 'act as a client even on the master host')
    .option('--layout <yaml>', 'the layout YAML mapping daxdev indexes to local devices');
}

/** Open IMAGE (device path or layout YAML). Writers refuse while it is mounted read-write. */
export function openImage(image: string, host: HostOpts, writable: boolean): FamfsImage {
  const sys = host.systemUuid ?? SYSTEM_UUID_FILE;
  if (writable && !isLayoutPath(image)) {
    // Offline writers refuse while the image is mounted read-write (DESIGN.md "Roles");
    // the mount's exclusive flock on the primary catches the rest.
    const m = mountOfSource(image, { rwOnly: true });
    if (m) throw new CliError(`famfs-ts: cannot write to ${image} while it is mounted read-write on ${m.mountpoint}`, 16);
  }
  const base: Omit<OpenOptions, 'device' | 'layout'> = { writable, systemUuid: sys, client: host.client, force: host.force, tailInFlight: host.tailInFlight };
  if (host.layout) return FamfsImage.open({ ...base, layout: loadLayout(host.layout) });
  if (isLayoutPath(image)) return FamfsImage.open({ ...base, layout: loadLayout(image) });
  return FamfsImage.open({ ...base, device: image });
}

/**
 * Open IMAGE, run `fn`, close. A reader warns on stderr when the namespace it shows misses
 * the files of bad log entries (README "Damaged logs"), unless it reports them itself
 * (`reportsDamage`: fsck, logplay).
 */
export function withImage<T>(image: string, host: HostOpts, writable: boolean, fn: (img: FamfsImage) => T, reportsDamage = false): T {
  // famfs mode: through the device's mount, or a temporary one (famfs-mode-image.ts).
  if (!host.layout && isFamfsModeImage(image)) {
    return withFamfsModeImage(image, host, writable, (img) => {
      if (!writable && !reportsDamage && img.damage) process.stderr.write(`famfs-ts: ${img.damage}\n`);
      return fn(img);
    });
  }
  const img = openImage(image, host, writable);
  if (!writable && !reportsDamage && img.damage) process.stderr.write(`famfs-ts: ${img.damage}\n`);
  try {
    return fn(img);
  } finally {
    img.close();
  }
}

/** The image a famfs-ts mount serves, opened read-only (its server keeps the write lock). */
export function withMountImage<T>(mount: MountEntry, host: HostOpts, fn: (img: FamfsImage) => T, reportsDamage = false): T {
  return withImage(mount.source, { ...host, systemUuid: host.systemUuid ?? new Uint8Array(16) }, false, fn, reportsDamage);
}

/** lookup() that also knows `.meta/.superblock` and `.meta/.log`, as a mount shows them. */
export function lookupNode(img: FamfsImage, p: string): Node | undefined {
  const meta = metaLookup(img.sb, p);
  if (meta !== undefined) return meta ?? undefined;
  return img.lookup(p);
}

/** `layout map IMAGE:/path`: the file's FileMap and the layout its daxdev indexes mean. */
export function imageFileMap(spec: string, host: HostOpts = { systemUuid: new Uint8Array(16) }): { map: FileMap; layout?: Layout } {
  const t = resolveTarget(spec);
  if (t.kind === 'other') throw new CliError(`${spec}: not in famfs (give IMAGE:/path or a path in a famfs-ts mount)`, 1);
  const image = t.kind === 'image' ? t.image : t.mount.source;
  const rel = t.kind === 'image' ? t.path : t.rel;
  return withImage(image, host, false, (img) => {
    const n = lookupNode(img, rel);
    if (!n) throw new CliError(`${spec}: no such file`, 2);
    if (n.kind !== 'file') throw new CliError(`${spec}: not a regular file`, 21);
    const layout = isLayoutPath(image) ? loadLayout(image) : imageLayout(img, image);
    return { map: n.map, layout };
  });
}
