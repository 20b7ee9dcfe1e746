// famfs creat, cp, mkdir and clone: on `IMAGE:/path` (an unmounted image, written by this
// process as the master) or on a path inside a famfs-ts mount (through the mount). Flags,
// messages and exit statuses follow famfs's src/famfs_cli.c. Commander wiring and output.
import fs from 'node:fs';
import type { Command } from 'commander';
import type { FamfsImage } from '../famfs/image.js';
import type { FileNode } from '../famfs/namespace.js';
import type { InterleaveParams } from '../famfs/alloc.js';
import { MAX_STRIPS } from '../famfs/constants.js';
import { getmapText } from '../famfs/shadow.js';
import { randomizeFile } from '../famfs/verify.js';
import { policyDefaults } from '../famfs/alloc-defaults.js';
import { CliError, collect, intArg, octalArg, out, progress, run, sizeArg, threadArg } from './run.js';
import { hostOptions, lookupNode, resolveTarget, withImage, type HostOpts, type Resolved } from './target.js';
import { copyTree, hostSource, type CopyError, type CopySink, type CopySource, type Stat } from './copy-tree.js';
import { logNow, mkdirMounted, mountedFileMap, mountedSink, openForSize, refuseUnmappable, type MountedCreateOptions } from './mounted-verbs.js';
import { isFamfsModeImage } from './famfs-mode-image.js';
import { destinationOf, isMountedDir, notADirectory } from './destination.js';

type Opts = HostOpts & Record<string, string | string[] | boolean | undefined>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function interleaveOf(o: Opts): InterleaveParams | undefined {
  const n = str(o.nstrips);
  const b = str(o.nbuckets);
  const c = str(o.chunksize);
  if (n === undefined && b === undefined && c === undefined) return undefined;
  const nstrips = n === undefined ? 0 : intArg('-N', n);
  if (nstrips > MAX_STRIPS) throw new CliError(`famfs: nstrips(${nstrips}) > ${MAX_STRIPS}`, 1);
  // creat and cp initialise chunk_size to 2 MiB (src/famfs_cli.c).
  return { nstrips, nbuckets: b === undefined ? 0 : intArg('-B', b), chunkSize: c === undefined ? 2 * 1024 * 1024 : sizeArg('-C', c) };
}

function owner(o: Opts): { uid?: number; gid?: number } {
  return { uid: str(o.uid) === undefined ? undefined : intArg('-u', str(o.uid)!), gid: str(o.gid) === undefined ? undefined : intArg('-g', str(o.gid)!) };
}

interface CreatResult {
  readonly path: string;
  readonly size: number;
  readonly created: boolean;
  readonly seed?: number;
  readonly error?: string;
}

/** famfs creat_one + randomize_one for one file, wherever it is. size 0 = an existing file's size. */
function creatOne(arg: string, size: number, seed: number, o: Opts): CreatResult {
  // Host paths, '..' out of famfs, /.meta, over-long paths and a trailing slash are refused here.
  const t = destinationOf('creat', arg);
  const mode = str(o.mode) === undefined ? 0o644 & ~process.umask() : octalArg('-m', str(o.mode)!) & ~process.umask();
  const interleave = interleaveOf(o);
  const say = (s: string) => {
    if (!o.json) out(s);
  };
  if (t.kind === 'mounted') {
    const { fd, created } = openNewOrExisting(t, size, { mode, ...owner(o), interleave, host: o });
    try {
      const st = fs.fstatSync(fd);
      if (seed) {
        randomizeFile(st.size, seed, (pos, b) => void fs.writeSync(fd, b, 0, b.length, pos), (d, n) => progress(`randomize ${arg}`, d, n));
        say(`randomized ${st.size} bytes: ${arg}\n`);
      }
      if (!created && o.verbose) say(`famfs creat: re-create (${arg}) is nop\n`);
      return { path: arg, size: st.size, created, seed: seed || undefined };
    } finally {
      fs.closeSync(fd);
      logNow(t.path);
    }
  }
  return withImage(t.image, o, true, (img) => {
    let f: FileNode;
    const existing = lookupNode(img, t.path);
    let created = false;
    if (existing) {
      if (existing.kind !== 'file') throw new CliError(`famfs creat: Error: file ${arg} exists and is not a regular file`, 1);
      if (size && existing.size !== size) throw new CliError(`famfs creat: Error: file ${arg} exists and is not the same size`, 1);
      if (existing.id < 0) throw new CliError(`famfs creat: ${arg} is a famfs meta file`, 1);
      f = existing;
      if (o.verbose) say(`famfs creat: re-create (${arg}) is nop\n`);
    } else {
      if (!size) throw new CliError(`famfs creat: Error: new file size=zero (${arg})`, 1);
      const defaults = policyDefaults(img);
      if (isFamfsModeImage(t.image)) refuseUnmappable(arg, interleave ?? defaults.interleave, defaults.daxdevs);
      f = img.creat(t.path, size, {
        mode, ...owner(o), interleave: interleave ?? defaults.interleave, daxdevs: defaults.daxdevs,
        seed: str(o.allocSeed) === undefined ? undefined : intArg('--alloc-seed', str(o.allocSeed)!), relaxBuckets: !!o.small,
      });
      created = true;
    }
    if (seed) {
      randomizeFile(f.size, seed, (pos, b) => void img.write(f, pos, b), (d, n) => progress(`randomize ${arg}`, d, n));
      say(`randomized ${f.size} bytes: ${arg}\n`);
    }
    if (o.verbose) say(getmapText(arg, f));
    return { path: arg, size: f.size, created, seed: seed || undefined };
  });
}

function openNewOrExisting(t: Extract<Resolved, { kind: 'mounted' }>, size: number, o: MountedCreateOptions): { fd: number; created: boolean } {
  if (!fs.existsSync(t.path) && !size) throw new CliError(`famfs creat: Error: new file size=zero (${t.arg})`, 1);
  return openForSize(t.path, size, o);
}

function creatVerb(file: string | undefined, o: Opts): number {
  const multi = (o.multi as string[] | undefined) ?? [];
  const seed = str(o.seed) === undefined ? 0 : intArg('-S', str(o.seed)!);
  if (multi.length && seed) throw new CliError('famfs creat: -S and --multi are incompatible', 1);
  if (seed && !o.randomize) throw new CliError('famfs creat: Error seed (-S) without randomize (-r) argument', 1);
  interleaveOf(o);
  const threads = str(o.threadct) === undefined ? 0 : threadArg('-t', str(o.threadct)!);
  void threads; // one thread does the work: randomizing is memory-bound on these hosts
  if (!multi.length) {
    if (file === undefined) throw new CliError('famfs creat: Must specify filename', 1);
    const size = str(o.size) === undefined ? 0 : sizeArg('-s', str(o.size)!);
    const r = creatOne(file, size, o.randomize ? seed : 0, o);
    if (o.json) out(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  if (file !== undefined) throw new CliError(`famfs creat: ${file}: a file argument and --multi are incompatible`, 1);
  const specs = multi.map((m) => {
    const f = m.split(',');
    if (f.length < 2 || f.length > 3 || !f[0]) throw new CliError(`famfs creat: bad multi arg: ${m} (NAME,SIZE[,SEED])`, 1);
    return { name: f[0], size: sizeArg('--multi size', f[1]!), seed: f[2] === undefined ? 0 : intArg('--multi seed', f[2]) };
  });
  const results: CreatResult[] = [];
  for (const s of specs) {
    try {
      results.push(creatOne(s.name, s.size, s.seed, o));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(`${msg}\n`);
      results.push({ path: s.name, size: s.size, created: false, error: msg });
    }
  }
  const errs = results.filter((r) => r.error).length;
  if (o.json) out(JSON.stringify({ files: results, errors: errs }, null, 2) + '\n');
  else {
    out(`Create complete for ${results.filter((r) => r.created).length} of ${specs.length} files with ${errs} errs\n`);
    out(`Randomize complete for ${results.filter((r) => r.seed && !r.error).length} of ${specs.length} files with ${errs} errs\n`);
  }
  return Math.min(errs, 127);
}

/** Files of an image as `famfs cp` sources (`IMAGE:/a` to `IMAGE:/b`). */
function imageSource(img: FamfsImage): CopySource {
  const node = (p: string) => lookupNode(img, p);
  return {
    stat(p): Stat {
      const n = node(p);
      if (!n) return undefined;
      return { kind: n.kind === 'dir' ? 'dir' : 'file', size: n.kind === 'file' ? n.size : 0, mode: n.mode };
    },
    readdir: (p) => img.readdir(p).map((c) => c.name).sort(),
    open(p) {
      const n = node(p);
      if (!n || n.kind !== 'file') throw new CliError(`${p}: not a file`, 21);
      return { read: (pos, dst) => img.read(n, pos, dst.subarray(0, Math.min(dst.length, n.size - pos))), close: () => undefined };
    },
    join: (d, name) => `${d.replace(/\/+$/, '')}/${name}`,
    basename: (p) => p.replace(/\/+$/, '').split('/').pop() ?? p,
  };
}

/** famfsMode: the image is a famfs-mode daxdev reached through a mount (V10's limits apply). */
function imageSink(img: FamfsImage, o: Opts, hooks: Pick<CopySink, 'progress' | 'done'>, famfsMode = false): CopySink {
  const opt = { ...owner(o), interleave: interleaveOf(o), seed: str(o.allocSeed) === undefined ? undefined : intArg('--alloc-seed', str(o.allocSeed)!), relaxBuckets: !!o.small };
  const defaults = policyDefaults(img);
  return {
    ...hooks,
    join: (dir, name) => `${dir.replace(/\/+$/, '')}/${name}`,
    ensureDir(to, mode) {
      const ex = lookupNode(img, to);
      if (ex && ex.kind !== 'dir') throw new CliError(`${to} exists and is not a directory`, 20);
      if (!ex) img.mkdir(to, { mode, uid: opt.uid, gid: opt.gid });
    },
    openFile(to, size, mode) {
      const ex = lookupNode(img, to);
      let f: FileNode;
      if (ex) {
        if (ex.kind !== 'file' || ex.size !== size || ex.id < 0) throw new CliError(`${to} exists with a different size or type`, 17);
        f = ex; // restartable: a same-size destination is reused
      } else {
        if (famfsMode) refuseUnmappable(to, opt.interleave ?? defaults.interleave, defaults.daxdevs);
        f = img.creat(to, size, { ...opt, interleave: opt.interleave ?? defaults.interleave, daxdevs: defaults.daxdevs, mode: str(o.mode) === undefined ? mode : octalArg('-m', str(o.mode)!) });
      }
      return { write: (pos, data) => void img.write(f, pos, data), close: () => undefined };
    },
    openExisting(to, size) {
      const ex = lookupNode(img, to);
      if (!ex || ex.kind !== 'file' || ex.size !== size) throw new CliError(`${to}: not a file of ${size} bytes`, 22);
      return { read: (pos, dst) => img.read(ex, pos, dst), close: () => undefined };
    },
  };
}

function cpVerb(paths: string[], o: Opts): number {
  if (paths.length < 2) throw new CliError('famfs cp error: source and dest args required', 1);
  interleaveOf(o);
  if (str(o.threadct) !== undefined) threadArg('-t', str(o.threadct)!);
  const destArg = paths[paths.length - 1]!;
  const srcArgs = paths.slice(0, -1);
  const dest = destinationOf('cp', destArg);
  const copied: { path: string; verb: string }[] = [];
  const hooks: Pick<CopySink, 'progress' | 'done'> = {
    progress: (to, done, total) => progress(`famfs cp ${to}`, done, total),
    done(to, verb) {
      copied.push({ path: to, verb });
      if (o.verbose && !o.json) out(`famfs ${verb}: 100%: ${to}\n`);
    },
  };
  const report = (e: CopyError) => process.stderr.write(`${e.message}\n`);
  let errors: CopyError[];
  if (dest.kind === 'mounted') {
    const destIsDir = isMountedDir(dest.path);
    if (dest.dir && !destIsDir) throw notADirectory(destArg);
    if (srcArgs.length > 1 && !destIsDir) throw new CliError(`famfs cp: destination ${destArg} is not a directory`, 20);
    if (!destIsDir && !fs.existsSync(dest.path) && !fs.existsSync(dest.path.replace(/\/[^/]*$/, '') || '/')) throw new CliError(`famfs cp: ${destArg}: parent directory does not exist`, 2);
    const owner_ = owner(o);
    const sink = mountedSink({ mode: str(o.mode) === undefined ? undefined : octalArg('-m', str(o.mode)!) & ~process.umask(), ...owner_, interleave: interleaveOf(o), host: o }, hooks);
    errors = copyTree(srcArgs, dest.path, destIsDir, { recursive: !!o.recursive, compare: !!o.compare }, sourceFor(srcArgs, o), sink, report);
  } else {
    errors = withImage(dest.image, o, true, (img) => {
      const destNode = lookupNode(img, dest.path);
      const destIsDir = destNode?.kind === 'dir';
      if (dest.dir && !destIsDir) throw notADirectory(destArg);
      if (srcArgs.length > 1 && !destIsDir) throw new CliError(`famfs cp: destination ${dest.path} is not a directory`, 20);
      const images = srcArgs.map((s) => resolveTarget(s));
      const fromImage = images.every((s) => s.kind === 'image' && s.image === dest.image);
      if (!fromImage && images.some((s) => s.kind === 'image')) throw new CliError('famfs cp: image sources must be in the destination image (IMAGE:/a IMAGE:/b)', 22);
      const srcs = fromImage ? images.map((s) => (s.kind === 'image' ? s.path : s.path)) : srcArgs;
      return copyTree(srcs, dest.path, destIsDir, { recursive: !!o.recursive, compare: !!o.compare }, fromImage ? imageSource(img) : hostSource, imageSink(img, o, hooks, isFamfsModeImage(dest.image)), report);
    });
  }
  if (o.json) out(JSON.stringify({ files: copied, errors: errors.map((e) => e.message) }, null, 2) + '\n');
  if (!errors.length) return 0;
  // famfs cp returns the last failure's errno (-EINVAL for a character device, ...).
  return new Map(Object.entries({ ENOENT: 2, EINVAL: 22, EISDIR: 21, EEXIST: 17, ENOTDIR: 20, EIO: 5 })).get(errors[errors.length - 1]!.errno) ?? 1;
}

/** Sources of a cp into a mount: host files (files in the mount are host files too). */
function sourceFor(srcArgs: readonly string[], _o: Opts): CopySource {
  if (srcArgs.some((s) => resolveTarget(s).kind === 'image')) throw new CliError('famfs cp: an IMAGE:/path source is copied within its image only', 22);
  return hostSource;
}

function mkdirVerb(dir: string, o: Opts): void {
  const t = destinationOf('mkdir', dir, { parents: !!o.parents });
  const mode = str(o.mode) === undefined ? undefined : octalArg('-m', str(o.mode)!);
  const made: string[] = [];
  if (t.kind === 'mounted') made.push(...mkdirMounted(t.path, { parents: !!o.parents, mode, ...owner(o), host: o }));
  else {
    withImage(t.image, o, true, (img) => {
      if (t.path === '/') return; // mkdir -p of the root: there already
      const before = lookupNode(img, t.path);
      if (before && before.kind === 'dir' && o.parents) return;
      const d = img.mkdir(t.path, { parents: !!o.parents, mode, ...owner(o) });
      made.push(d.path);
    });
  }
  if (o.json) out(JSON.stringify({ created: made }, null, 2) + '\n');
  else if (o.verbose) for (const d of made) out(`famfs mkdir: created ${d}\n`);
}

function cloneVerb(src: string, dest: string, o: Opts): void {
  const s = resolveTarget(src);
  const d = resolveTarget(dest);
  if (s.kind === 'other') throw new CliError(`famfs clone: ${src} is not a famfs file`, 1);
  if (s.kind === 'mounted') {
    const map = mountedFileMap(s.path);
    if (!map) throw new CliError(`famfs clone: ${src} is not a famfs file`, 1);
    throw new CliError(`famfs clone: ${dest}: a famfs-ts mount logs only files it allocated; clone offline (IMAGE:/path) to make a cross-linked file for fsck tests`, 95);
  }
  if (d.kind !== 'image' || d.image !== s.image) throw new CliError(`famfs clone: ${dest} must be in the same image as ${src} (IMAGE:/path)`, 22);
  withImage(s.image, o, true, (img) => {
    const n = lookupNode(img, s.path);
    if (!n) throw new CliError(`famfs clone: bad source path ${src}`, 1);
    if (n.kind !== 'file' || n.id < 0) throw new CliError(`famfs clone: ${src} is not a regular famfs file`, 1);
    if (lookupNode(img, d.path)) throw new CliError(`famfs clone: ${dest} exists`, 17);
    img.logFile(d.path, n.map, { mode: n.mode, uid: n.uid, gid: n.gid });
    if (o.verbose) out(`famfs clone: ${src} -> ${dest} (${n.map.extents.length} extents, cross-linked)\n`);
  });
}

/** Writers may log on a damaged log with --force (FamfsImage force; README "Damaged logs"). */
const forceFlag = (c: Command): Command => c
  .option('--force', 'log even when the log has bad entries (their extents are unknown; see fsck)');

const interleaveFlags = (c: Command): Command => c
  .option('-N, --nstrips <n>', 'interleave: strips per file')
  .option('-B, --nbuckets <n>', 'interleave: buckets the device is split into')
  .option('-C, --chunksize <size>', 'interleave: chunk size (default 2M)')
  .option('--alloc-seed <n>', 'srand() seed for the bucket order (famfs uses time(NULL)): repeatable placement')
  .option('--small', 'relax the 1 GiB bucket minimum (small emulated devices)');

export function registerFileVerbs(program: Command): void {
  forceFlag(interleaveFlags(hostOptions(program.command('creat'))))
    .description('create files and allocate their space (famfs creat); FILE is MNT/path or IMAGE:/path')
    .argument('[file]', 'the file (single-file mode)')
    .option('-s, --size <size>', 'file size (k/m/g suffixes, 0x hex); an existing file of this size is kept')
    .option('-r, --randomize', 'fill with famfs test data from -S SEED (an existing file is re-randomized)')
    .option('-S, --seed <seed>', 'seed for -r (famfs PRNG)')
    .option('-m, --mode <octal>', 'permission bits (default 0644, less the umask)')
    .option('-u, --uid <uid>', 'owner (default: effective uid)')
    .option('-g, --gid <gid>', 'group (default: effective gid)')
    .option('-M, --multi <name,size[,seed]>', 'create several files (repeat); a seed randomizes; size 0 = the existing size', collect)
    .option('-t, --threadct <n>', 'threads for --multi randomizing, 0..256 (accepted; famfs-ts fills files one at a time)')
    .option('-v, --verbose', 'print the map')
    .option('--json', 'JSON: what was created')
    .action((file: string | undefined, o: Opts) => run(() => creatVerb(file, o)));

  forceFlag(interleaveFlags(hostOptions(program.command('cp'))))
    .description('copy files into famfs (famfs cp): into a famfs-ts mount, or into an image (IMAGE:/path, sources host files or files of that image)')
    .argument('[paths...]', 'SRC... DEST')
    .option('-r, --recursive', 'copy directories')
    .option('-c, --compare', 'compare the sources with existing destinations instead of copying')
    .option('-t, --threadct <n>', 'copy threads, 0..256 (accepted; famfs-ts copies one file at a time)')
    .option('-m, --mode <octal>', 'permission bits (default: the source mode)')
    .option('-u, --uid <uid>', 'owner')
    .option('-g, --gid <gid>', 'group')
    .option('-v, --verbose', 'print each copied file')
    .option('--json', 'JSON: the files copied and the errors')
    .action((paths: string[], o: Opts) => run(() => cpVerb(paths, o)));

  forceFlag(hostOptions(program.command('mkdir')))
    .description('create a directory (famfs mkdir): MNT/path or IMAGE:/path')
    .argument('<dir>', 'the directory')
    .option('-p, --parents', 'create missing parents; no error if it exists')
    .option('-m, --mode <octal>', 'permission bits (default 0755)')
    .option('-u, --uid <uid>', 'owner')
    .option('-g, --gid <gid>', 'group')
    .option('-v, --verbose', 'say what was created')
    .option('--json', 'JSON: the directories created')
    .action((dir: string, o: Opts) => run(() => mkdirVerb(dir, o)));

  forceFlag(hostOptions(program.command('clone')))
    .description('log a second file with the same extents as SRC (famfs clone: cross-links files, for fsck tests only); offline images only')
    .argument('<src>', 'IMAGE:/path of a file')
    .argument('<dest>', 'IMAGE:/path of the new file (same image)')
    .option('-v, --verbose', 'say what was cloned')
    .action((src: string, dest: string, o: Opts) => run(() => cloneVerb(src, dest, o)));
}
