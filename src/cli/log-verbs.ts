// famfs logplay, fsck and mkmeta: on an unmounted image (device or layout YAML) or on a
// famfs-ts mount (its server replays; fsck reads the image the mount serves). famfs's
// flags, text and exit statuses (src/famfs_cli.c, famfs_lib.c). Commander wiring and output.
import fs from 'node:fs';
import type { Command } from 'commander';
import type { FamfsImage } from '../famfs/image.js';
import { fsck } from '../famfs/fsck.js';
import { bucketStats, bucketText, fsckVerboseText } from '../famfs/fsck-buckets.js';
import { fileJson } from '../famfs/shadow.js';
import { writeShadowTree } from '../famfs/shadow-tree.js';
import { mountOfSource } from '../famfs/proc-mounts.js';
import { ALLOC_UNIT } from '../famfs/constants.js';
import { deviceCapacity } from '../famfs/scan.js';
import { isLayoutPath, loadLayout } from '../interleave/layout-yaml.js';
import { CliError, intArg, out, run } from './run.js';
import { hostOptions, resolveTarget, withImage, type HostOpts } from './target.js';
import { logplayMounted } from './mounted-verbs.js';

type Opts = HostOpts & Record<string, string | string[] | boolean | undefined>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Which image a logplay/fsck argument names: a device or YAML, or the one a mount serves. */
function imageOf(arg: string): { image: string; mountpoint?: string } {
  const t = resolveTarget(arg);
  if (t.kind === 'mounted') return { image: t.mount.source, mountpoint: t.mount.mountpoint };
  if (t.kind === 'image') return { image: t.image };
  let st: fs.Stats;
  try {
    st = fs.statSync(arg);
  } catch (e) {
    throw new CliError(`famfs: failed to stat path ${arg} (No such file or directory)`, 2, { cause: e });
  }
  if (st.isDirectory()) throw new CliError(`famfs: ${arg} is not in a famfs file system (not mounted?)`, 22);
  return { image: arg };
}

function logplayVerb(arg: string | undefined, o: Opts): number {
  if (o.mmap && o.read) throw new CliError('Error: The --mmap and --read arguments are mutually exclusive', 1);
  const shadows = (o.shadow as string[] | undefined) ?? [];
  if (shadows.length > 1) throw new CliError('famfs logplay: don\'t specify more than one shadowpath', 22);
  const shadow = shadows[0];
  const daxdev = str(o.daxdev);
  if (daxdev && !shadow) throw new CliError('Error: daxdev only used with shadow logplay', 1);
  if (!daxdev && arg === undefined) throw new CliError('famfs logplay: Must specify mount_point (any path within a famfs file system, or a device)', 1);
  const where = daxdev ? { image: daxdev } : imageOf(arg!);
  let added: number | undefined;
  if (where.mountpoint && !shadow && !o.dryrun) {
    // A famfs-ts mount: its server replays the log (a client picks up new entries).
    const reply = logplayMounted(where.mountpoint);
    const m = /logplay: (\d+) new/.exec(reply);
    added = m ? Number(m[1]) : 0;
  }
  // Through a mount (a client's, whose master may be appending right now) an entry still being
  // written at the end of the log is not yet there, as the server's own replay takes it.
  const host = where.mountpoint || daxdev ? { ...o, systemUuid: o.systemUuid ?? new Uint8Array(16), client: o.client || !!where.mountpoint, tailInFlight: !!where.mountpoint } : o;
  return withImage(where.image, host, false, (img) => {
    const ns = img.namespace;
    const say = (line: string) => {
      if (o.verbose && !o.json) out(`${line}\n`);
    };
    let yaml = { yamlChecked: 0, yamlErrors: 0 };
    if (shadow && !o.dryrun) yaml = writeShadowTree(ns, shadow, img.role, { test: !!o.shadowtest, say });
    else for (const n of ns.walk()) say(`famfs logplay: ${n.kind === 'dir' ? 'directory' : 'file'} ${n.path}`);
    for (const e of ns.stats.errors) process.stderr.write(`famfs_logplay: ${e}\n`);
    // A bad entry is skipped and the replay goes on (README "Damaged logs"); each one counts as an error.
    const bad = img.badEntries;
    for (const b of bad) process.stderr.write(`famfs_logplay: skipped invalid ${b.message}\n`);
    if (img.inFlight) process.stderr.write(`famfs_logplay: log entry ${img.inFlight.index} is still being appended (${img.inFlight.message}); left out until it is whole\n`);
    const s = ns.stats;
    // Through a mount, "new" is what this replay added to the server's namespace.
    let newFiles = s.filesCreated;
    let newDirs = s.dirsCreated;
    if (added !== undefined) {
      const from = s.entries - added;
      newFiles = 0;
      newDirs = 0;
      for (const n of ns.walk()) if (n.index >= from) n.kind === 'dir' ? newDirs++ : newFiles++;
    }
    const rc = bad.length + s.fileErrors + s.dirErrors + yaml.yamlErrors;
    if (o.json) {
      out(JSON.stringify({
        mode: shadow ? 'shadow' : 'v1', entries: s.entries, filesCreated: newFiles, dirsCreated: newDirs, filesExisted: s.filesCreated - newFiles, dirsExisted: s.dirsCreated - newDirs,
        fileErrors: s.fileErrors, dirErrors: s.dirErrors, errors: s.errors, badEntries: bad, yamlChecked: yaml.yamlChecked, yamlErrors: yaml.yamlErrors,
        nodes: [...ns.walk()].map((n) => (n.kind === 'file' ? { type: 'file', ...(fileJson(n) as object) } : { type: 'dir', path: n.path, mode: `0${n.mode.toString(8)}`, uid: n.uid, gid: n.gid, nodeid: n.id })),
      }, null, 2) + '\n');
      return Math.min(rc, 127);
    }
    if (o.dryrun) out('Logplay: dry_run selected\n');
    out(`famfs_logplay(${shadow ? 'shadow' : 'v1'}): ${s.entries} log entries; ${newFiles} new files; ${newDirs} new directories\n`);
    if (o.verbose) {
      out(`\tCreated:  ${newFiles} files, ${newDirs} directories\n`);
      out(`\tExisted: ${s.filesCreated - newFiles} files, ${s.dirsCreated - newDirs} directories\n`);
    }
    if (s.fileErrors || s.dirErrors) out(`\t${s.fileErrors} file errors and ${s.dirErrors} dir errors\n`);
    if (yaml.yamlChecked) out(`\tshadow yaml checked for ${yaml.yamlChecked} files\n\tthere were ${yaml.yamlErrors} yaml errors detected\n`);
    return Math.min(rc, 127);
  }, true);
}

function fsckImage(img: FamfsImage, image: string, o: Opts, nbuckets: number): number {
  const names = new Map<number, string>();
  const layout = o.layout ? loadLayout(o.layout) : isLayoutPath(image) ? loadLayout(image) : undefined;
  for (const d of layout?.daxdevs ?? []) names.set(d.index, d.name);
  const r = fsck({ sb: img.sb, header: img.header, scan: img.scan, role: img.role, daxdevNames: names }, { human: !!o.human });
  const buckets = nbuckets ? bucketStats(img.scan.bitmaps.get(0)!, deviceCapacity(img.scan), ALLOC_UNIT, nbuckets) : undefined;
  if (o.json) {
    out(JSON.stringify({ ...(r.json as object), buckets: buckets?.buckets }, null, 2) + '\n');
    return r.exitCode;
  }
  out(r.text);
  if (buckets) out(bucketText(buckets, ALLOC_UNIT, !!o.human));
  if (o.verbose) out(fsckVerboseText({ logOffset: img.sb.logOffset, logLen: img.sb.logLen, lastIndex: img.header.lastIndex }));
  return r.exitCode;
}

function fsckVerb(arg: string, o: Opts): number {
  if (o.mmap && o.read) throw new CliError('Error: The --mmap and --read arguments are mutually exclusive', 1);
  const nbuckets = str(o.nbuckets) === undefined ? 0 : intArg('-B', str(o.nbuckets)!);
  const t = resolveTarget(arg);
  if (t.kind === 'other') {
    let st: fs.Stats;
    try {
      st = fs.statSync(arg);
    } catch (e) {
      throw new CliError(`famfs_fsck: failed to stat path ${arg} (No such file or directory)`, 2, { cause: e });
    }
    if (st.isDirectory()) throw new CliError(`famfs_fsck: ${arg} is not in a famfs file system (not mounted?)`, 22);
    // A device (or an image file): famfs checks it by device only while it is not mounted.
    const m = mountOfSource(arg);
    if (m) throw new CliError(`famfs_fsck: error: cannot fsck by device (${arg}) when mounted`, 16);
    return withImage(arg, o, false, (img) => fsckImage(img, arg, o, nbuckets), true);
  }
  if (t.kind === 'image') return withImage(t.image, o, false, (img) => fsckImage(img, t.image, o, nbuckets), true);
  const source = t.mount.source;
  return withImage(source, { ...o, systemUuid: o.systemUuid ?? undefined }, false, (img) => fsckImage(img, source, o, nbuckets), true);
}

function mkmetaVerb(dev: string): number {
  if (!fs.existsSync(dev)) throw new CliError(`famfs mkmeta: unable to rationalize daxdev path from (${dev})`, 1);
  const m = mountOfSource(dev);
  if (m) out(`famfs mkmeta: ${m.mountpoint}/.meta is served by the famfs-ts mount of ${dev}\n`);
  else out(`famfs mkmeta: ${dev} is not mounted; a famfs-ts mount serves .meta itself\n`);
  return 0;
}

export function registerLogVerbs(program: Command): void {
  program.command('logplay')
    .description('replay the log (famfs logplay): of a famfs-ts mount (its server replays), of an image, or of --daxdev into --shadow')
    .argument('[path]', 'a path in a famfs-ts mount, or a device / layout YAML')
    .option('-n, --dryrun', 'process the log, write nothing')
    .option('-v, --verbose', 'print each entry, and the created/existed counts')
    .option('-S, --shadow <dir>', 'write one shadow YAML per file under DIR/root (DIR must be a writable directory)', (v: string, p: string[] = []) => [...p, v])
    .option('-s, --shadowtest', 'with --shadow: read each YAML back and compare')
    .option('-d, --daxdev <dev>', 'with --shadow: read the log from this device instead of a mount')
    .option('-m, --mmap', 'read the log by mmap (famfs\'s default; famfs-ts reads mapped memory either way)')
    .option('-r, --read', 'read the log with read(2) (accepted; same result)')
    .option('-c, --client', 'replay as a client')
    .option('-M, --set-daxmode', 'accepted for famfs compatibility (famfs-ts needs no dax mode switch)')
    .option('--json', 'JSON: the namespace and the replay statistics')
    .option('--system-uuid <file>', 'the host identity file')
    .option('--layout <yaml>', 'the layout YAML mapping daxdev indexes to local devices')
    .action((p: string | undefined, o: Opts) => run(() => logplayVerb(p, o)));

  program.command('fsck')
    .description('check a famfs file system (famfs fsck): a device or layout YAML not mounted, or a famfs-ts mount point; exit status = errors found')
    .argument('<path>', 'device, layout YAML, IMAGE:/, or a path in a famfs-ts mount')
    .option('-h, --human', 'human sizes')
    .option('-v, --verbose', 'the log layout too')
    .option('-B, --nbuckets <n>', 'bucket usage of the primary in N buckets')
    .option('-m, --mmap', 'read by mmap (famfs\'s default; accepted)')
    .option('-r, --read', 'read with read(2) (accepted; same result)')
    .option('-F, --nofuse', 'accepted: famfs-ts has no famfs v1 kernel path; fsck reads the image directly')
    .option('--fuse', 'accepted: fsck reads the image directly')
    .option('-M, --set-daxmode', 'accepted (no dax mode switch is needed)')
    .option('-L, --load-module', 'accepted (famfs-ts loads no kernel module)')
    .option('-D, --nodax', 'accepted (famfs-ts maps the device directly)')
    .option('--json', 'JSON report')
    .option('--system-uuid <file>', 'the host identity file')
    .option('--client', 'report as a client')
    .option('--layout <yaml>', 'the layout YAML naming the daxdevs')
    .action((p: string, o: Opts) => run(() => fsckVerb(p, o)));

  program.command('mkmeta')
    .description('famfs mkmeta: famfs-ts mounts serve .meta themselves; checks the device and says where .meta is')
    .argument('<device>', 'memory device')
    .option('-v, --verbose', 'accepted')
    .action((dev: string) => run(() => mkmetaVerb(dev)));
}
