// famfs verbs on unmounted images: mkfs, creat, cp, mkdir, ls, cat, getmap, verify,
// logplay, fsck, with famfs's flags, messages and exit statuses (reference §5, §6). A file
// inside an image is IMAGE:/path, IMAGE being a device path or a layout YAML. Commander
// wiring and terminal output only; the work is in src/famfs.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { FileMap } from '../interleave/filemap.js';
import type { Layout } from '../interleave/layout.js';
import { copyTree } from './copy-tree.js';
import { destinationOf, isMountedDir, notADirectory } from './destination.js';
import { DestinationError } from '../famfs/destination.js';
import { commandName, errorText, exitStatusOf, isBrokenPipe, withPrefix } from './errors.js';
import { cpMounted, creatMounted, isInFamfsMount, logplayMounted, mkdirMounted } from './mounted-verbs.js';
import { loadLayout, LayoutError, formatProblem } from '../interleave/layout-yaml.js';
import { parseSize, SizeError } from '../interleave/size.js';
import { MappedDevice, openDaxdev, deviceSize, type DaxdevMemory } from '../device/memory.js';
import { flock, LOCK_EX, LOCK_NB } from '../sys/libc.js';
import { setFileMapSource } from './layout.js';
import { FamfsImage, type OpenOptions } from '../famfs/image.js';
import { ImageError } from '../famfs/errors.js';
import { mkfs } from '../famfs/mkfs.js';
import { checkLayoutDevices } from '../famfs/device-check.js';
import { fsck } from '../famfs/fsck.js';
import { fileJson, getmapText, shadowYaml } from '../famfs/shadow.js';
import { fileMapProblems } from '../famfs/file-check.js';
import { FamfsRandom } from '../famfs/prng.js';
import { systemUuid, SYSTEM_UUID_FILE } from '../famfs/host.js';
import type { FileNode, Node } from '../famfs/namespace.js';
import type { InterleaveParams } from '../famfs/alloc.js';
import { LOG_LEN, MIN_DEVICE_SIZE } from '../famfs/constants.js';

/** A command-line error with famfs's exit status. */
class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Where a verb's file argument points. Mounted paths are left to the mount verbs. */
export type Target =
  | { readonly kind: 'image'; readonly image: string; readonly path: string }
  | { readonly kind: 'mounted'; readonly path: string };

/**
 * `IMAGE:/path` addresses a file in an unmounted image; anything else is a path in a
 * mount. The image part ends at the first ':' that is followed by '/' (or at the last ':'
 * when the path is relative).
 */
export function classifyTarget(arg: string): Target {
  const at = arg.indexOf(':/');
  if (at > 0) return { kind: 'image', image: arg.slice(0, at), path: arg.slice(at + 1) };
  const colon = arg.lastIndexOf(':');
  if (colon > 0 && fs.existsSync(arg.slice(0, colon)) && !fs.existsSync(arg)) return { kind: 'image', image: arg.slice(0, colon), path: `/${arg.slice(colon + 1)}` };
  return { kind: 'mounted', path: arg };
}

function imageTarget(arg: string): { image: string; path: string } {
  const t = classifyTarget(arg);
  if (t.kind === 'mounted') {
    throw new CliError(`${arg}: not an IMAGE:/path (paths inside a famfs-ts mount are served by the mount; give DEVICE:/path or LAYOUT.yaml:/path)`, 1);
  }
  return t;
}

function isLayoutFile(p: string): boolean {
  return /\.ya?ml$/i.test(p);
}

interface HostOpts {
  /** A file holding the host UUID, or the raw UUID (read-only helpers pass zeros). */
  systemUuid?: string | Uint8Array;
  client?: boolean;
  layout?: string;
  /** Write on a log with bad entries (FamfsImage force). */
  force?: boolean;
}

function loadLayoutOrFail(file: string): Layout {
  try {
    return loadLayout(file);
  } catch (e) {
    if (e instanceof LayoutError) throw new CliError(e.problems.map((p) => formatProblem(p)).join('\n'), 1);
    throw e;
  }
}

/** Open IMAGE (device path or layout YAML). */
export function openImage(image: string, host: HostOpts, writable: boolean): FamfsImage {
  const sys = host.systemUuid ?? SYSTEM_UUID_FILE;
  if (writable) {
    // Offline writers refuse while the image is mounted read-write (DESIGN.md "Roles");
    // the mount's exclusive flock on the primary catches the rest.
    const m = mountedDevice(isLayoutFile(image) ? '' : image, true);
    if (m) throw new CliError(`famfs-ts: cannot write to ${image} while it is mounted read-write on ${m}`, 16);
  }
  const base: Omit<OpenOptions, 'device' | 'layout'> = { writable, systemUuid: sys, client: host.client, force: host.force };
  if (host.layout) return FamfsImage.open({ ...base, layout: loadLayoutOrFail(host.layout) });
  if (isLayoutFile(image)) return FamfsImage.open({ ...base, layout: loadLayoutOrFail(image) });
  return FamfsImage.open({ ...base, device: image });
}

function withImage<T>(image: string, host: HostOpts, writable: boolean, fn: (img: FamfsImage) => T, reportsDamage = false): T {
  const img = openImage(image, host, writable);
  // Readers say when the namespace they show misses a bad entry's files (README "Damaged logs").
  if (!writable && !reportsDamage && img.damage) process.stderr.write(`famfs-ts: ${img.damage}\n`);
  try {
    return fn(img);
  } finally {
    img.close();
  }
}

/** A single-device image's layout, derived from its superblock (for `layout map`). */
export function imageLayout(img: FamfsImage, image: string): Layout {
  const dev = { name: img.sb.daxdevPath || image, path: image, size: img.sb.ddSize };
  return {
    devices: [dev], regions: [],
    daxdevs: [{ index: 0, name: dev.name, size: dev.size, backing: { kind: 'device', device: dev } }],
    policy: { chunkSize: 2 * 1024 * 1024, nstrips: 1, nbuckets: 0, daxdevs: [0] },
    source: `image ${image}`,
  };
}

/** `layout map IMAGE:/path`: the file's FileMap and the layout its daxdev indexes mean. */
export function imageFileMap(spec: string, host: HostOpts = { systemUuid: new Uint8Array(16) }): { map: FileMap; layout?: Layout } {
  const t = imageTarget(spec);
  return withImage(t.image, host, false, (img) => {
    const f = img.file(t.path);
    const layout = isLayoutFile(t.image) ? loadLayoutOrFail(t.image) : imageLayout(img, t.image);
    return { map: f.map, layout };
  });
}

function out(s: string): void {
  process.stdout.write(s);
}

function num(what: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new CliError(`${what}: "${v}" is not a non-negative integer`, 22);
  return n;
}

function octal(what: string, v: string): number {
  if (!/^[0-7]{1,4}$/.test(v)) throw new CliError(`${what}: "${v}" is not an octal mode`, 22);
  return parseInt(v, 8);
}

function bytes(what: string, v: string): number {
  try {
    return parseSize(v);
  } catch (e) {
    if (e instanceof SizeError) throw new CliError(`${what}: ${e.message}`, 22);
    throw e;
  }
}

/** Run a verb: famfs's exit statuses (min(|errno|, 127)), messages on stderr. */
function run(fn: () => number | void): void {
  try {
    const rc = fn();
    if (typeof rc === 'number' && rc !== 0) process.exitCode = rc;
  } catch (e) {
    if (isBrokenPipe(e)) process.exit(0);
    if (e instanceof CliError || e instanceof DestinationError) {
      process.stderr.write(`${withPrefix(commandName(), e.message)}\n`);
      process.exitCode = e.exitCode;
    } else if (e instanceof ImageError) {
      process.stderr.write(`${withPrefix(commandName(), e.message)}\n`);
      process.exitCode = e.exitCode;
    } else {
      process.stderr.write(`${withPrefix(commandName(), errorText(e))}\n`);
      process.exitCode = exitStatusOf(e);
    }
  }
}

function hostOptions(cmd: Command): Command {
  return cmd
    .option('--system-uuid <file>', `the host identity file (default ${SYSTEM_UUID_FILE}, created like famfs when missing)`)
    .option('--client', 'act as a client even on the master host')
    .option('--layout <yaml>', 'the layout YAML mapping daxdev indexes to local devices');
}

/**
 * The layout's policy as famfs-style defaults (like `.meta/.alloc.cfg`, reference §8.2):
 * used when none of -N/-B/-C is given. One strip and no buckets means contiguous.
 */
function policyDefaults(img: FamfsImage): { interleave?: InterleaveParams; daxdevs?: readonly number[] } {
  const p = img.layoutPolicy;
  if (!p) return {};
  const daxdevs = p.daxdevs.filter((d) => img.scan.daxdevs.has(d));
  if (p.nstrips <= 1 && p.nbuckets === 0) return { daxdevs: daxdevs.length ? [daxdevs[0]!] : undefined };
  return { interleave: { nstrips: p.nstrips, nbuckets: p.nbuckets, chunkSize: p.chunkSize }, daxdevs: daxdevs.length ? daxdevs : undefined };
}

function interleaveOf(o: { nstrips?: string; nbuckets?: string; chunksize?: string }): InterleaveParams | undefined {
  if (o.nstrips === undefined && o.nbuckets === undefined && o.chunksize === undefined) return undefined;
  const nstrips = o.nstrips === undefined ? 0 : num('-N', o.nstrips);
  if (nstrips > 16) throw new CliError(`famfs creat: nstrips (${nstrips}) must be <= 16`, 22);
  // creat and cp initialise chunk_size to 2 MiB (src/famfs_cli.c).
  return { nstrips, nbuckets: o.nbuckets === undefined ? 0 : num('-B', o.nbuckets), chunkSize: o.chunksize === undefined ? 2 * 1024 * 1024 : bytes('-C', o.chunksize) };
}

function progress(label: string, done: number, total: number): void {
  if (!process.stdout.isTTY || total < 64 * 1024 * 1024) return;
  const pct = Math.floor((100 * done) / total);
  process.stdout.write(`\r${label}: ${pct}%${done >= total ? '\n' : ''}`);
}

/** Fill a file with famfs's PRNG stream for `seed` (creat -r). */
function randomize(img: FamfsImage, f: FileNode, seed: number): void {
  const rng = new FamfsRandom(seed);
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (let pos = 0; pos < f.size; pos += chunk.length) {
    const n = Math.min(chunk.length, f.size - pos);
    rng.fill(chunk.subarray(0, n));
    img.write(f, pos, chunk.subarray(0, n));
    progress(`randomize ${f.path}`, pos + n, f.size);
  }
}

function modeString(n: Node): string {
  const m = n.mode;
  const r = (b: number, c: string) => (m & b ? c : '-');
  return (n.kind === 'dir' ? 'd' : '-') + r(0o400, 'r') + r(0o200, 'w') + r(0o100, 'x') + r(0o40, 'r') + r(0o20, 'w') + r(0o10, 'x') + r(0o4, 'r') + r(0o2, 'w') + r(0o1, 'x');
}

function mountedDevice(dev: string, rwOnly = false): string | undefined {
  if (!dev) return undefined;
  let real: string;
  try {
    real = fs.realpathSync(dev);
  } catch {
    return undefined;
  }
  let mounts = '';
  try {
    mounts = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of mounts.split('\n')) {
    const [src, mpt, , opts] = line.split(' ');
    if (rwOnly && !(opts ?? '').split(',').includes('rw')) continue;
    if (src && mpt && (src === dev || src === real)) return mpt;
  }
  return undefined;
}

export function registerImage(program: Command): void {
  // `famfs-ts layout map IMAGE:/path --offset X` reads the map from the image (read-only;
  // the role does not matter, so no system UUID file is read or created).
  setFileMapSource((spec) => {
    try {
      return imageFileMap(spec);
    } catch (e) {
      if (e instanceof CliError || e instanceof ImageError) throw new Error(e.message);
      throw e;
    }
  });
  hostOptions(program.command('mkfs'))
    .description('make a famfs file system on a memory device or a layout (exit 2 on any failure, as mkfs.famfs)')
    .argument('[device]', 'memory device: file, /dev/shm file, loop device, /dev/daxX.Y, /dev/pmemX')
    .option('-f, --force', 'overwrite an existing famfs superblock')
    .option('-k, --kill', 'with -f: zero the superblock magic only')
    .option('-l, --loglen <len>', 'log length, a power of two >= 8M', '8M')
    .option('--small', `allow devices smaller than 4 GiB (famfs refuses them; for emulated devices)`)
    .option('-h, --human', 'human sizes in the report')
    .action((device: string | undefined, o: HostOpts & { force?: boolean; kill?: boolean; loglen: string; small?: boolean; human?: boolean }) => {
      process.exitCode = mkfsVerb(device, o);
    });

  hostOptions(program.command('creat'))
    .option('--force', 'log even when the log has bad entries (their extents are unknown; see fsck)')
    .description('create a file in an image and allocate its space (famfs creat)')
    .argument('<file>', 'IMAGE:/path')
    .requiredOption('-s, --size <size>', 'file size (k/m/g suffixes)')
    .option('-r, --randomize', 'fill with famfs test data (needs -S)')
    .option('-S, --seed <seed>', 'seed for -r (famfs PRNG)')
    .option('-m, --mode <octal>', 'permission bits (default 0644 & ~umask)')
    .option('-u, --uid <uid>', 'owner (default: effective uid)')
    .option('-g, --gid <gid>', 'group (default: effective gid)')
    .option('-N, --nstrips <n>', 'interleave: strips per file')
    .option('-B, --nbuckets <n>', 'interleave: buckets the device is split into')
    .option('-C, --chunksize <size>', 'interleave: chunk size (default 2M)')
    .option('--alloc-seed <n>', 'srand() seed for the bucket order (famfs uses time(NULL)): repeatable placement')
    .option('--small', 'relax the 1 GiB bucket minimum (small emulated devices)')
    .option('-v, --verbose', 'print the map')
    .action((file: string, o: HostOpts & Record<string, string | boolean | undefined>) => run(() => creatVerb(file, o)));

  hostOptions(program.command('cp'))
    .option('--force', 'log even when the log has bad entries (their extents are unknown; see fsck)')
    .description('copy files into an image (famfs cp)')
    .argument('<paths...>', 'SRC... DEST, DEST being IMAGE:/path')
    .option('-r, --recursive', 'copy directories')
    .option('-m, --mode <octal>', 'permission bits (default: the source mode)')
    .option('-u, --uid <uid>', 'owner')
    .option('-g, --gid <gid>', 'group')
    .option('-N, --nstrips <n>', 'interleave: strips per file')
    .option('-B, --nbuckets <n>', 'interleave: buckets')
    .option('-C, --chunksize <size>', 'interleave: chunk size (default 2M)')
    .option('--alloc-seed <n>', 'srand() seed for the bucket order')
    .option('--small', 'relax the 1 GiB bucket minimum')
    .option('-v, --verbose', 'print each copied file')
    .action((paths: string[], o: HostOpts & Record<string, string | boolean | undefined>) => run(() => cpVerb(paths, o)));

  hostOptions(program.command('mkdir'))
    .option('--force', 'log even when the log has bad entries (their extents are unknown; see fsck)')
    .description('create a directory in an image (famfs mkdir)')
    .argument('<dir>', 'IMAGE:/path')
    .option('-p, --parents', 'create missing parents; no error if it exists')
    .option('-m, --mode <octal>', 'permission bits (default 0755)')
    .option('-u, --uid <uid>', 'owner')
    .option('-g, --gid <gid>', 'group')
    .option('-v, --verbose', 'say what was created')
    .action((dir: string, o: HostOpts & { parents?: boolean; mode?: string; uid?: string; gid?: string; verbose?: boolean }) => run(() => {
      const t = destinationOf('mkdir', dir, o);
      if (t.kind === 'mounted') {
        // A path inside a famfs-ts mount: the server logs it (src/cli/mounted-verbs.ts).
        mkdirMounted(t.abs, { parents: o.parents, mode: o.mode === undefined ? undefined : octal('-m', o.mode) });
        if (o.verbose) out(`famfs mkdir: created ${dir}\n`);
        return;
      }
      withImage(t.image, o, true, (img) => {
        if (t.rel === '') return; // mkdir -p of the root: there already
        const d = img.mkdir(t.rel, { parents: o.parents, mode: o.mode === undefined ? undefined : octal('-m', o.mode), uid: o.uid === undefined ? undefined : num('-u', o.uid), gid: o.gid === undefined ? undefined : num('-g', o.gid) });
        if (o.verbose) out(`famfs mkdir: created ${d.path}\n`);
      });
    }));

  hostOptions(program.command('ls'))
    .description('list a directory or file of an image')
    .argument('<path>', 'IMAGE:/path')
    .option('-l, --long', 'mode, owner, size')
    .option('--json', 'JSON output')
    .action((p: string, o: HostOpts & { long?: boolean; json?: boolean }) => run(() => {
      const t = imageTarget(p);
      withImage(t.image, o, false, (img) => {
        const n = img.lookup(t.path);
        if (!n) throw new ImageError(`${p}: No such file or directory`, 'ENOENT');
        const items = n.kind === 'dir' ? img.readdir(t.path) : [n];
        if (o.json) {
          out(JSON.stringify(items.map((c) => (c.kind === 'file' ? { name: c.name, type: 'file', ...(fileJson(c) as object) } : { name: c.name, type: 'dir', path: c.path, mode: `0${c.mode.toString(8)}`, uid: c.uid, gid: c.gid, nodeid: c.id })), null, 2) + '\n');
          return;
        }
        for (const c of items) {
          if (!o.long) out(`${c.name}\n`);
          else out(`${modeString(c)} ${String(c.uid).padStart(5)} ${String(c.gid).padStart(5)} ${String(c.kind === 'file' ? c.size : 0).padStart(12)} ${c.name}${c.kind === 'dir' ? '/' : ''}\n`);
        }
      });
    }));

  hostOptions(program.command('cat'))
    .description('write files of an image to stdout')
    .argument('<files...>', 'IMAGE:/path ...')
    .action((files: string[], o: HostOpts) => run(() => {
      for (const file of files) {
        const t = imageTarget(file);
        withImage(t.image, o, false, (img) => {
          const f = img.file(t.path);
          const buf = Buffer.alloc(Math.min(f.size, 4 * 1024 * 1024));
          for (let pos = 0; pos < f.size; pos += buf.length) {
            const n = img.read(f, pos, buf);
            writeAll(1, buf.subarray(0, n));
          }
        });
      }
    }));

  hostOptions(program.command('getmap'))
    .description('print the extents of a file in an image (famfs getmap)')
    .argument('<files...>', 'IMAGE:/path ...')
    .option('-q, --quiet', 'only the exit status says whether the file is a mapped famfs file')
    .option('-c, --continue', 'continue after an error')
    .option('--json', 'JSON output')
    .action((files: string[], o: HostOpts & { quiet?: boolean; continue?: boolean; json?: boolean }) => run(() => {
      let rc = 0;
      const js: unknown[] = [];
      for (const file of files) {
        try {
          const t = imageTarget(file);
          withImage(t.image, o, false, (img) => {
            const n = img.lookup(t.path);
            if (!n) throw new CliError(`famfs_getmap: file not found (${file})`, 2);
            if (n.kind !== 'file') throw new CliError(`famfs_getmap: ${file} is not a regular file`, 21);
            const problems = fileMapProblems(n, img.scan.daxdevs);
            if (problems.length) throw new CliError(`famfs_getmap: bad file ${file}: ${problems.join('; ')}`, 5);
            if (o.json) js.push(fileJson(n));
            else if (o.quiet) out(`famfs_getmap: good file ${file}\n`);
            else out(getmapText(file, n));
          });
        } catch (e) {
          if (!o.continue) throw e;
          process.stderr.write(`${(e as Error).message}\n`);
          rc = e instanceof CliError ? e.exitCode : 1;
        }
      }
      if (o.json) out(JSON.stringify(files.length === 1 ? js[0] : js, null, 2) + '\n');
      return rc;
    }));

  hostOptions(program.command('verify'))
    .description('check a file against famfs test data (famfs verify)')
    .requiredOption('-S, --seed <seed>', 'the seed it was created with')
    .requiredOption('-f, --filename <file>', 'IMAGE:/path')
    .option('-q, --quiet', 'no success message')
    .action((o: HostOpts & { seed: string; filename: string; quiet?: boolean }) => run(() => {
      const seed = num('-S', o.seed);
      if (seed === 0) throw new CliError('famfs verify: seed 0 means a time-based seed, which cannot be verified', 22);
      const t = imageTarget(o.filename);
      return withImage(t.image, o, false, (img) => {
        const f = img.file(t.path);
        const rng = new FamfsRandom(seed);
        const want = Buffer.alloc(Math.min(f.size, 4 * 1024 * 1024));
        const got = Buffer.alloc(want.length);
        for (let pos = 0; pos < f.size; pos += want.length) {
          const n = Math.min(want.length, f.size - pos);
          rng.fill(want.subarray(0, n));
          img.read(f, pos, got.subarray(0, n));
          if (!want.subarray(0, n).equals(got.subarray(0, n))) {
            let k = 0;
            while (want[k] === got[k]) k++;
            process.stderr.write(`Miscompare at offset ${pos + k} in file ${o.filename}\n`);
            return 1;
          }
          progress(`verify ${o.filename}`, pos + n, f.size);
        }
        if (!o.quiet) out(`Success: verified ${f.size} bytes in file ${o.filename}\n`);
        return 0;
      });
    }));

  hostOptions(program.command('logplay'))
    .description('replay the log of an image (famfs logplay); --shadow writes famfs shadow YAML')
    .argument('<image>', 'device or layout YAML')
    .option('--shadow <dir>', 'write one shadow YAML per file under DIR/root')
    .option('-n, --dryrun', 'process the log, write nothing')
    .option('-v, --verbose', 'print each entry')
    .option('--json', 'JSON: the namespace and the replay statistics')
    .action((image: string, o: HostOpts & { shadow?: string; dryrun?: boolean; verbose?: boolean; json?: boolean }) => run(() => logplayVerb(image, o)));

  hostOptions(program.command('fsck'))
    .description('check an image (famfs fsck); exit status = number of allocation collisions')
    .argument('<image>', 'device or layout YAML')
    .option('-h, --human', 'human sizes')
    .option('-v, --verbose', 'struct sizes too')
    .option('--json', 'JSON report')
    .action((image: string, o: HostOpts & { human?: boolean; verbose?: boolean; json?: boolean }) => run(() => {
      return withImage(image, o, false, (img) => {
        const names = new Map<number, string>();
        const layout = o.layout ? loadLayoutOrFail(o.layout) : isLayoutFile(image) ? loadLayoutOrFail(image) : undefined;
        for (const d of layout?.daxdevs ?? []) names.set(d.index, d.name);
        const r = fsck({ sb: img.sb, header: img.header, scan: img.scan, role: img.role, daxdevNames: names }, { human: o.human });
        if (o.json) out(JSON.stringify(r.json, null, 2) + '\n');
        else {
          out(r.text);
          if (o.verbose) out(`Verbose:\n  log_offset:        ${img.sb.logOffset}\n  log_len:           ${img.sb.logLen}\n  sizeof(log header) 48\n  sizeof(log_entry)  544\n  last_log_index:    ${img.header.lastIndex}\n\n`);
        }
        return r.exitCode;
      }, true);
    }));
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.byteLength) {
    try {
      off += fs.writeSync(fd, b, off, b.byteLength - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

function mkfsVerb(device: string | undefined, o: HostOpts & { force?: boolean; kill?: boolean; loglen: string; small?: boolean; human?: boolean }): number {
  // mkfs.famfs exits 2 on any failure (reference §5).
  const opened: DaxdevMemory[] = [];
  let lockFd: number | undefined;
  try {
    let logLen: number;
    try {
      logLen = parseSize(o.loglen);
    } catch {
      throw new CliError(`famfs_mkfs: Error: invalid log length (${o.loglen})`);
    }
    const layoutFile = o.layout ?? (device && isLayoutFile(device) ? device : undefined);
    const layout = layoutFile ? loadLayoutOrFail(layoutFile) : undefined;
    let devPath: string;
    let lockPath: string;
    let primary: DaxdevMemory;
    const secondaries: { mem: DaxdevMemory; name: string }[] = [];
    if (layout) {
      const d0 = layout.daxdevs[0]!;
      lockPath = d0.backing.kind === 'device' ? d0.backing.device.path : d0.backing.members[0]!.path;
      devPath = d0.backing.kind === 'device' ? d0.backing.device.path : d0.name;
      // Every device is checked before a byte is written (src/famfs/device-check.ts).
      const problems = checkLayoutDevices(layout);
      if (problems.length) throw new CliError(`famfs_mkfs: ${layoutFile}: nothing written: ${problems.map((p) => p.message).join('; ')}`);
      primary = openDaxdev(d0, { writable: true });
      opened.push(primary);
      for (const d of layout.daxdevs.slice(1)) {
        const m = openDaxdev(d, { writable: true });
        opened.push(m);
        secondaries.push({ mem: m, name: d.name });
      }
    } else {
      if (!device) throw new CliError('famfs mkfs: a device or --layout is required');
      if (!fs.existsSync(device)) throw new CliError(`famfs_mkfs: device ${device} not found`);
      const m = mountedDevice(device);
      if (m) throw new CliError(`famfs_mkfs: cannot mkfs while ${device} is mounted on ${m}`);
      devPath = device;
      lockPath = device;
      let size: number;
      try {
        size = deviceSize(device);
      } catch (e) {
        throw new CliError(`famfs_mkfs: ${(e as Error).message}`);
      }
      if (size < MIN_DEVICE_SIZE && !o.small) throw new CliError(`famfs_mkfs: unsupported memory device size (<4GiB)`);
      primary = MappedDevice.open(device, { writable: true, size });
      opened.push(primary);
    }
    lockFd = fs.openSync(lockPath, 'r');
    if (!flock(lockFd, LOCK_EX | LOCK_NB)) throw new CliError(`famfs_mkfs: ${lockPath} is in use (a famfs-ts mount or writer holds it)`);
    const sys = o.systemUuid instanceof Uint8Array ? o.systemUuid : systemUuid(o.systemUuid ?? SYSTEM_UUID_FILE);
    if (o.small && primary.size < MIN_DEVICE_SIZE) process.stderr.write(`famfs_mkfs: --small: ${primary.size}-byte device accepted below famfs's 4 GiB minimum\n`);
    const r = mkfs(primary, { devPath, systemUuid: sys, logLen: logLen ?? LOG_LEN, force: o.force, kill: o.kill, allowSmall: o.small, secondaries });
    if (r.killed) {
      out('Famfs superblock killed\n');
      return 0;
    }
    out(`devsize: ${r.devSize}\n`);
    for (const m of opened) m.close();
    opened.length = 0;
    const img = layout ? FamfsImage.open({ layout, systemUuid: sys }) : FamfsImage.open({ device: devPath, systemUuid: sys });
    try {
      const names = new Map((layout?.daxdevs ?? []).map((d) => [d.index, d.name] as [number, string]));
      out(fsck({ sb: img.sb, header: img.header, scan: img.scan, role: img.role, daxdevNames: names }, { human: o.human ?? true }).text);
    } finally {
      img.close();
    }
    return 0;
  } catch (e) {
    const msg = withPrefix('famfs_mkfs', errorText(e));
    process.stderr.write(`${msg}\n`);
    return 2;
  } finally {
    for (const m of opened) m.close();
    if (lockFd !== undefined) fs.closeSync(lockFd);
  }
}

function creatVerb(file: string, o: HostOpts & Record<string, string | boolean | undefined>): number {
  const size = bytes('-s', String(o.size));
  if (o.seed !== undefined && !o.randomize) throw new CliError('famfs creat: -S (seed) requires -r (randomize)', 22);
  const seed = o.seed === undefined ? Math.floor(Date.now() / 1000) >>> 0 : num('-S', String(o.seed));
  if (size === 0) throw new CliError(`famfs creat: Creating empty file (${file}) not allowed`, 22);
  const t = destinationOf('creat', file);
  if (t.kind === 'mounted') {
    // A path inside a famfs-ts mount: open, xattr, ftruncate, write (src/cli/mounted-verbs.ts).
    creatMounted(t.abs, size, {
      mode: o.mode === undefined ? 0o644 & ~process.umask() : octal('-m', String(o.mode)),
      interleave: interleaveOf(o as { nstrips?: string; nbuckets?: string; chunksize?: string }), seed: o.randomize ? seed : undefined,
    });
    if (o.randomize) out(`randomized ${size} bytes: ${file}\n`);
    return 0;
  }
  return withImage(t.image, o, true, (img) => {
    let f: FileNode;
    const existing = img.lookup(t.rel);
    if (existing) {
      // famfs: an existing file of the same size is a no-op (re-randomised with -r).
      if (existing.kind !== 'file' || existing.size !== size) throw new CliError(`famfs creat: file ${file} exists with a different size or type`, 17);
      f = existing;
    } else {
      const umask = process.umask();
      const given = interleaveOf(o as { nstrips?: string; nbuckets?: string; chunksize?: string });
      const defaults = policyDefaults(img);
      f = img.creat(t.rel, size, {
        mode: o.mode === undefined ? 0o644 & ~umask : octal('-m', String(o.mode)),
        uid: o.uid === undefined ? undefined : num('-u', String(o.uid)),
        gid: o.gid === undefined ? undefined : num('-g', String(o.gid)),
        interleave: given ?? defaults.interleave,
        daxdevs: defaults.daxdevs,
        seed: o.allocSeed === undefined ? undefined : num('--alloc-seed', String(o.allocSeed)),
        relaxBuckets: !!o.small,
      });
    }
    if (o.randomize) {
      randomize(img, f, seed);
      out(`randomized ${f.size} bytes: ${file}\n`);
    }
    if (o.verbose) out(getmapText(file, f));
    return 0;
  });
}

function cpVerb(paths: string[], o: HostOpts & Record<string, string | boolean | undefined>): number {
  if (paths.length < 2) throw new CliError('famfs cp: need SRC... DEST', 22);
  const destArg = paths[paths.length - 1]!;
  const dest = destinationOf('cp', destArg);
  if (dest.kind === 'mounted') {
    if (dest.dir && !isMountedDir(dest.abs)) throw notADirectory(destArg);
    // Into a famfs-ts mount (src/cli/mounted-verbs.ts).
    return cpMounted(paths.slice(0, -1), dest.abs, {
      recursive: !!o.recursive, verbose: !!o.verbose, mode: o.mode === undefined ? undefined : octal('-m', String(o.mode)),
      interleave: interleaveOf(o as { nstrips?: string; nbuckets?: string; chunksize?: string }),
    });
  }
  const srcs = paths.slice(0, -1);
  const interleave = interleaveOf(o as { nstrips?: string; nbuckets?: string; chunksize?: string });
  const opt: { uid?: number; gid?: number; interleave?: InterleaveParams; daxdevs?: readonly number[]; seed?: number; relaxBuckets: boolean } = {
    uid: o.uid === undefined ? undefined : num('-u', String(o.uid)),
    gid: o.gid === undefined ? undefined : num('-g', String(o.gid)),
    interleave, seed: o.allocSeed === undefined ? undefined : num('--alloc-seed', String(o.allocSeed)), relaxBuckets: !!o.small,
  };
  return withImage(dest.image, o, true, (img) => {
    const defaults = policyDefaults(img);
    opt.interleave ??= defaults.interleave;
    opt.daxdevs = defaults.daxdevs;
    const destNode = img.lookup(dest.rel);
    const destIsDir = destNode?.kind === 'dir';
    if (dest.dir && !destIsDir) throw notADirectory(destArg);
    if (srcs.length > 1 && !destIsDir) throw new CliError(`famfs cp: destination ${destArg} is not a directory`, 20);
    const errors = copyTree(srcs, dest.rel, destIsDir, !!o.recursive, {
      join: (dir, name) => `${dir}/${name}`,
      ensureDir(to, mode) {
        if (!img.lookup(to)) img.mkdir(to, { mode, uid: opt.uid, gid: opt.gid });
      },
      openFile(_src, to, st) {
        let f: FileNode;
        const ex = img.lookup(to);
        if (ex) {
          if (ex.kind !== 'file' || ex.size !== st.size) {
            process.stderr.write(`famfs cp: ${to} exists with a different size\n`);
            return undefined;
          }
          f = ex; // restartable: reuse a same-size destination
        } else {
          f = img.creat(to, st.size, { ...opt, mode: o.mode === undefined ? st.mode & 0o777 : octal('-m', String(o.mode)) });
        }
        return (pos, data) => img.write(f, pos, data);
      },
      progress: (to, done, total) => progress(`famfs cp ${to}`, done, total),
      closeFile(to) {
        if (o.verbose) out(`famfs cp: 100%: ${to}\n`);
      },
    });
    return errors ? 1 : 0;
  });
}

function logplayVerb(image: string, o: HostOpts & { shadow?: string; dryrun?: boolean; verbose?: boolean; json?: boolean }): number {
  if (fs.existsSync(image) && fs.statSync(image).isDirectory() && isInFamfsMount(image)) {
    // A famfs-ts mount: its server replays the log (src/cli/mounted-verbs.ts).
    out(`${logplayMounted(image)}\n`);
    return 0;
  }
  return withImage(image, o, false, (img) => {
    const ns = img.namespace;
    const mode = o.shadow ? 'shadow' : 'v1';
    if (o.shadow && !o.dryrun) {
      if (!fs.existsSync(o.shadow) || !fs.statSync(o.shadow).isDirectory()) throw new CliError(`famfs logplay: shadow path ${o.shadow} is not a directory`, 22);
      const root = path.join(o.shadow, 'root');
      fs.mkdirSync(root, { recursive: true });
      for (const n of ns.walk()) {
        const p = path.join(root, n.path);
        if (n.kind === 'dir') fs.mkdirSync(p, { recursive: true, mode: n.mode });
        else fs.writeFileSync(p, shadowYaml(n), { mode: img.role === 'master' ? 0o644 : 0o444 });
        if (o.verbose) out(`famfs logplay: creating ${n.kind === 'dir' ? 'directory' : 'file'} ${n.path}\n`);
      }
    } else if (o.verbose) {
      for (const n of ns.walk()) out(`famfs logplay: ${n.kind === 'dir' ? 'directory' : 'file'} ${n.path}\n`);
    }
    for (const e of ns.stats.errors) process.stderr.write(`famfs_logplay: ${e}\n`);
    const bad = img.badEntries;
    for (const b of bad) process.stderr.write(`famfs_logplay: skipped invalid ${b.message}\n`);
    const s = ns.stats;
    if (o.json) {
      out(JSON.stringify({ entries: s.entries, filesCreated: s.filesCreated, dirsCreated: s.dirsCreated, fileErrors: s.fileErrors, dirErrors: s.dirErrors, errors: s.errors, badEntries: bad,
        nodes: [...ns.walk()].map((n) => (n.kind === 'file' ? { type: 'file', ...(fileJson(n) as object) } : { type: 'dir', path: n.path, mode: `0${n.mode.toString(8)}`, uid: n.uid, gid: n.gid, nodeid: n.id })) }, null, 2) + '\n');
    } else {
      out(`famfs_logplay(${mode}): ${s.entries} log entries; ${s.filesCreated} new files; ${s.dirsCreated} new directories\n`);
      if (s.fileErrors || s.dirErrors) out(`\t${s.fileErrors} file errors and ${s.dirErrors} dir errors\n`);
    }
    return Math.min(s.fileErrors + s.dirErrors + bad.length, 127);
  }, true);
}
