// Layout YAML: the schema, its reader, and every check that needs a position in the file.
//
//   devices:                  # memory devices (controllers); required, at least one
//     - name: cxl0            # [A-Za-z0-9_.-]+, unique among devices and regions
//       path: /dev/shm/famfs-ts/cxl0   # file, /dev/shm file, /dev/daxX.Y, /dev/pmemX;
//                                      # relative paths resolve against the YAML's directory
//       size: 1GiB            # bytes: 1073741824, 0x40000000, 1GiB, 1G
//   regions:                  # optional CXL-style hardware interleave; a region is one daxdev
//     - name: region0
//       ways: 4               # interleave ways IW: 1, 2, 3, 4, 6, 8, 12 or 16
//       granularity: 4KiB     # interleave granularity IG: a power of two, 256 B .. 16 KiB
//       devices: [cxl0, cxl1, cxl2, cxl3]   # exactly `ways` members, in position order
//       size: 4GiB            # optional; default and maximum: ways * smallest member
//   daxdevs: [region0, pmem0] # optional daxdev index order; index 0 is the primary (famfs
//                             # superblock + log). Default: every region, then every device
//                             # that is in no region, in file order.
//   policy:                   # optional placement policy for new files
//     chunk: 2MiB             # power of two, default 2MiB; famfs kernels need a 2 MiB
//                             # multiple (smaller: warning, server-side data path only)
//     strips: 4               # strips per file, 1..16 (famfs images), default 1
//     buckets: 8              # famfs strided allocation buckets, default 0 (none)
//     daxdevs: [0, 1]         # daxdev indexes strips come from, default [0]
//
// Region size rule: members may differ in size; a region uses the same span on every member,
// the smallest member's size (larger members get a warning about their unused tail). So its
// size is ways * smallest member, or the `size:` given, which must not exceed that and must
// split into whole granules per member. famfs needs every daxdev (device or region) to be a
// multiple of 2 MiB; the primary must hold the 2 MiB superblock, the 8 MiB minimum log and
// one 2 MiB allocation unit (reference famfs-format.md §1).
import path from 'node:path';
import type { Node } from 'yaml';
import type { Daxdev, Layout, MemDevice, Policy, Region } from './layout.js';
import { formatSize } from './size.js';
import { childPath, LayoutError, readSource, YamlReader, type SourceProblem } from './yaml-reader.js';
import { ALLOC_UNIT, isPowerOfTwo, MAX_NBUCKETS, MAX_STRIPS } from './famfs-limits.js';
import { chunkSizeProblem } from './interleave-params.js';

export { LayoutError, formatProblem, type Problem, type SourceProblem, type Severity } from './yaml-reader.js';
export { parseFileMap, loadFileMap, checkFileMap, formatFileMapYaml } from './filemap-yaml.js';
export { validateFileMap, famfsShapeProblems } from './filemap-check.js';

export const CXL_WAYS: readonly number[] = [1, 2, 3, 4, 6, 8, 12, 16];
export const MIN_GRANULARITY = 256;
export const MAX_GRANULARITY = 16 * 1024;
/** Superblock (2 MiB) + minimum log (8 MiB) + one allocation unit. */
export const MIN_PRIMARY_SIZE = 12 * 1024 * 1024;

export const DEFAULT_POLICY: Policy = { chunkSize: ALLOC_UNIT, nstrips: 1, nbuckets: 0, daxdevs: [0] };

const NAME = /^[A-Za-z0-9_.-]+$/;

export interface ParseOptions {
  /** Directory relative device paths resolve against (loadLayout passes the YAML's). */
  readonly baseDir?: string;
}

export interface LayoutCheck {
  /** Present when there are no errors. */
  readonly layout?: Layout;
  readonly errors: readonly SourceProblem[];
  readonly warnings: readonly SourceProblem[];
}

/** Parse and validate, collecting every error and warning; never throws on bad input. */
export function checkLayout(text: string, source: string, options: ParseOptions = {}): LayoutCheck {
  const r = new YamlReader(text, source);
  const layout = r.parsed ? readLayout(r, source, options) : undefined;
  const errors = r.errors();
  return { layout: errors.length === 0 ? layout : undefined, errors: sortProblems(errors), warnings: sortProblems(r.warnings()) };
}

/** Parse a layout; throws LayoutError carrying every error. */
export function parseLayout(text: string, source: string, options: ParseOptions = {}): Layout {
  const c = checkLayout(text, source, options);
  if (c.layout === undefined) throw new LayoutError(c.errors, c.warnings);
  return c.layout;
}

/** A path names a layout YAML (not a device or image file): the CLI and the mount tell them apart by it. */
export function isLayoutPath(p: string): boolean {
  return /\.ya?ml$/i.test(p);
}

/** Read a layout file; relative device paths resolve against its directory. */
export function loadLayout(file: string): Layout {
  return parseLayout(readSource(file), file, { baseDir: path.dirname(path.resolve(file)) });
}

export function loadLayoutChecked(file: string): LayoutCheck {
  return checkLayout(readSource(file), file, { baseDir: path.dirname(path.resolve(file)) });
}

function sortProblems(ps: SourceProblem[]): SourceProblem[] {
  return ps.map((p, i) => [p, i] as const).sort((a, b) => a[0].line - b[0].line || a[0].col - b[0].col || a[1] - b[1]).map(([p]) => p);
}

interface Named {
  readonly kind: 'device' | 'region';
  readonly path: string;
}

function readLayout(r: YamlReader, source: string, options: ParseOptions): Layout | undefined {
  const top = r.map(r.root, '', ['devices', 'regions', 'daxdevs', 'policy']);
  if (top === undefined) return undefined;
  r.require(top, '', ['devices']);
  const names = new Map<string, Named>();
  const claim = (name: string, p: string, kind: Named['kind']): boolean => {
    const prior = names.get(name);
    if (prior !== undefined) {
      r.error(p, `duplicate name "${name}" (already a ${prior.kind} at line ${r.lineOf(prior.path)})`);
      return false;
    }
    names.set(name, { kind, path: p });
    return true;
  };
  const scope: LayoutScope = { r, top, names, claim };
  const devices = readDevices(scope, options);
  const regs = readRegions(scope, devices);
  const daxdevs = readDaxdevs(scope, devices, regs);
  const policy = top.get('policy') === undefined ? DEFAULT_POLICY : readPolicy(r, top.get('policy')!, daxdevs.length);
  if (r.hasErrors() || policy === undefined) return undefined;
  return { devices, regions: regs.regions, daxdevs, policy, source };
}

/** What the sections of a layout share while it is read: the reader, its top map, the names claimed so far. */
interface LayoutScope {
  readonly r: YamlReader;
  readonly top: Map<string, Node | null>;
  readonly names: Map<string, Named>;
  /** Take `name` for a device or region; false (and an error at `p`) when it is taken. */
  claim(name: string, p: string, kind: Named['kind']): boolean;
}

/** The regions read, with their member devices and each member's region. */
interface ReadRegions {
  readonly regions: Region[];
  readonly regionMembers: Map<string, MemDevice[]>;
  readonly memberOf: Map<string, string>;
}

function readDevices({ r, top, claim }: LayoutScope, options: ParseOptions): MemDevice[] {
  const devices: MemDevice[] = [];
  const devicePaths = new Map<string, string>();
  const devNodes = top.get('devices') === undefined ? [] : (r.seq(top.get('devices'), 'devices', 'devices') ?? []);
  if (top.has('devices') && devNodes.length === 0 && r.nodeAt('devices') !== undefined && !r.hasErrors()) r.error('devices', 'at least one device is needed');
  devNodes.forEach((n, i) => {
    const p = childPath('devices', i);
    const m = r.map(n, p, ['name', 'path', 'size']);
    if (m === undefined) return;
    r.require(m, p, ['name', 'path', 'size']);
    // Claim the name first, so later references to a broken device do not also say "no such device".
    const name = m.get('name') ? readName(r, m.get('name'), childPath(p, 'name')) : undefined;
    if (name !== undefined && !claim(name, childPath(p, 'name'), 'device')) return;
    const devPath = m.get('path') ? r.string(m.get('path'), childPath(p, 'path')) : undefined;
    const size = m.get('size') ? r.size(m.get('size'), childPath(p, 'size')) : undefined;
    if (size === 0) r.error(childPath(p, 'size'), 'a device cannot be empty');
    if (name === undefined || devPath === undefined || size === undefined || size === 0) return;
    const resolved = options.baseDir !== undefined && !path.isAbsolute(devPath) ? path.resolve(options.baseDir, devPath) : devPath;
    const prior = devicePaths.get(path.normalize(resolved));
    if (prior !== undefined) {
      r.error(childPath(p, 'path'), `${devPath} is already the path of ${prior}`);
      return;
    }
    devicePaths.set(path.normalize(resolved), `device "${name}" (line ${r.lineOf(childPath(p, 'path'))})`);
    devices.push({ name, path: resolved, size });
  });
  return devices;
}

function readRegions({ r, top, names, claim }: LayoutScope, devices: readonly MemDevice[]): ReadRegions {
  const deviceByName = new Map(devices.map((d) => [d.name, d]));
  const regions: Region[] = [];
  const regionMembers = new Map<string, MemDevice[]>();
  const memberOf = new Map<string, string>();
  const regNodes = top.get('regions') === undefined ? [] : (r.seq(top.get('regions'), 'regions', 'regions') ?? []);
  regNodes.forEach((n, i) => {
    const p = childPath('regions', i);
    const m = r.map(n, p, ['name', 'ways', 'granularity', 'devices', 'size']);
    if (m === undefined) return;
    let ok = r.require(m, p, ['name', 'ways', 'granularity', 'devices']);
    const name = m.get('name') ? readName(r, m.get('name'), childPath(p, 'name')) : undefined;
    if (name !== undefined && !claim(name, childPath(p, 'name'), 'region')) return;
    const ways = m.get('ways') ? r.int(m.get('ways'), childPath(p, 'ways'), 0, 2 ** 31) : undefined;
    ok &&= name !== undefined && ways !== undefined;
    if (ways !== undefined && !CXL_WAYS.includes(ways)) {
      r.error(childPath(p, 'ways'), `${ways} is not a CXL interleave way (${CXL_WAYS.join(',')})`);
      ok = false;
    }
    const ig = m.get('granularity') ? r.size(m.get('granularity'), childPath(p, 'granularity')) : undefined;
    if (ig !== undefined && (!isPowerOfTwo(ig) || ig < MIN_GRANULARITY || ig > MAX_GRANULARITY)) {
      r.error(childPath(p, 'granularity'), `${ig} is not a CXL interleave granularity (a power of two from 256 to 16384 bytes)`);
      ok = false;
    }
    const memberNodes = m.get('devices') ? (r.seq(m.get('devices'), childPath(p, 'devices'), 'device names') ?? []) : [];
    const members: MemDevice[] = [];
    memberNodes.forEach((mn, j) => {
      const mp = childPath(childPath(p, 'devices'), j);
      const dn = r.string(mn, mp);
      if (dn === undefined) return void (ok = false);
      const dev = deviceByName.get(dn);
      if (dev === undefined) {
        const known = names.get(dn);
        // A device with errors of its own was already reported.
        if (known?.kind !== 'device') r.error(mp, known !== undefined ? `"${dn}" is a region; region members are devices` : `no device named "${dn}"`);
        ok = false;
        return;
      }
      const other = memberOf.get(dn);
      if (other !== undefined) {
        r.error(mp, `device "${dn}" is already a member of region "${other}"`);
        ok = false;
        return;
      }
      memberOf.set(dn, name ?? `regions[${i}]`);
      members.push(dev);
    });
    if (ways !== undefined && m.get('devices') && memberNodes.length !== ways && CXL_WAYS.includes(ways)) {
      r.error(childPath(p, 'devices'), `${memberNodes.length} device${memberNodes.length === 1 ? '' : 's'} listed for ${ways}-way interleave`);
      ok = false;
    }
    const declared = m.has('size') ? r.size(m.get('size'), childPath(p, 'size')) : undefined;
    if (m.has('size') && declared === undefined) ok = false;
    if (!ok || name === undefined || ways === undefined || ig === undefined || members.length !== ways) return;
    const smallest = Math.min(...members.map((d) => d.size));
    for (const [j, d] of members.entries()) {
      if (d.size > smallest) {
        r.warn(childPath(childPath(p, 'devices'), j), `"${d.name}" (${formatSize(d.size)}) is larger than the smallest member (${formatSize(smallest)}); its last ${formatSize(d.size - smallest)} go unused`);
      }
    }
    let size = ways * smallest;
    if (declared !== undefined) {
      if (declared > size) {
        r.error(childPath(p, 'size'), `${formatSize(declared)} does not fit: ${ways} members of at most ${formatSize(smallest)} hold ${formatSize(size)}`);
        return;
      }
      size = declared;
    }
    const span = size / ways;
    if (!Number.isInteger(span) || span % ig !== 0) {
      const at = declared !== undefined ? childPath(p, 'size') : childPath(p, 'devices');
      r.error(at, `each member's span (${declared !== undefined ? `${formatSize(size)} / ${ways}` : formatSize(smallest)}) is not a whole number of ${formatSize(ig)} granules`);
      return;
    }
    if (size === 0) {
      r.error(childPath(p, 'size'), 'a region cannot be empty');
      return;
    }
    const region: Region = { name, ways, granularity: ig, devices: members.map((d) => d.name), size };
    regions.push(region);
    regionMembers.set(name, members);
  });
  return { regions, regionMembers, memberOf };
}

function readDaxdevs({ r, top, names }: LayoutScope, devices: readonly MemDevice[], { regions, regionMembers, memberOf }: ReadRegions): Daxdev[] {
  const deviceByName = new Map(devices.map((d) => [d.name, d]));
  const deviceIndex = new Map(devices.map((d, i) => [d.name, i]));
  const regionByName = new Map(regions.map((g) => [g.name, g]));
  const daxdevs: Daxdev[] = [];
  const toDaxdev = (name: string, p: string | undefined): Daxdev | undefined => {
    const region = regionByName.get(name);
    if (region !== undefined) {
      return { index: daxdevs.length, name, size: region.size, backing: { kind: 'region', region, members: regionMembers.get(name)! } };
    }
    const device = deviceByName.get(name);
    if (device === undefined) return undefined;
    const owner = memberOf.get(name);
    if (owner !== undefined && p !== undefined) {
      r.error(p, `"${name}" is a member of region "${owner}"; list the region instead`);
      return undefined;
    }
    return { index: daxdevs.length, name, size: device.size, backing: { kind: 'device', device } };
  };
  if (top.get('daxdevs') !== undefined) {
    const seen = new Map<string, number>();
    const listed = r.seq(top.get('daxdevs'), 'daxdevs', 'region or device names') ?? [];
    listed.forEach((n, i) => {
      const p = childPath('daxdevs', i);
      const name = r.string(n, p);
      if (name === undefined) return;
      if (seen.has(name)) {
        r.error(p, `"${name}" is already daxdev ${seen.get(name)}`);
        return;
      }
      if (!names.has(name)) {
        r.error(p, `no region or device named "${name}"`);
        return;
      }
      // A named region or device with errors of its own was already reported.
      if (!regionByName.has(name) && !deviceByName.has(name)) return;
      const d = toDaxdev(name, p);
      if (d === undefined) return;
      seen.set(name, d.index);
      daxdevs.push(d);
    });
    for (const d of devices) {
      if (!seen.has(d.name) && !memberOf.has(d.name)) r.warn('daxdevs', `device "${d.name}" is in no region and not listed: it is unused`);
    }
    for (const g of regions) {
      if (!seen.has(g.name)) r.warn('daxdevs', `region "${g.name}" is not listed: it is unused`);
    }
  } else {
    for (const g of regions) daxdevs.push(toDaxdev(g.name, undefined)!);
    for (const d of devices) if (!memberOf.has(d.name)) daxdevs.push(toDaxdev(d.name, undefined)!);
  }
  for (const d of daxdevs) {
    const where = d.backing.kind === 'region' ? namePath(names, d.name) : childPath(`devices[${deviceIndex.get(d.name)}]`, 'size');
    if (d.size % ALLOC_UNIT !== 0) {
      r.error(where, `daxdev "${d.name}" is ${d.size} bytes, not a multiple of 2 MiB as famfs needs`);
    }
  }
  const primary = daxdevs[0];
  if (primary !== undefined && primary.size < MIN_PRIMARY_SIZE) {
    r.error(namePath(names, primary.name), `primary daxdev "${primary.name}" (${formatSize(primary.size)}) cannot hold the 2 MiB superblock, an 8 MiB log and a 2 MiB allocation unit (12 MiB)`);
  }
  if (daxdevs.length === 0 && !r.hasErrors()) r.error('daxdevs', 'no daxdevs: list at least one region or device');
  return daxdevs;
}

function namePath(names: Map<string, Named>, name: string): string {
  return names.get(name)?.path ?? '';
}

function readName(r: YamlReader, node: Node | null | undefined, p: string): string | undefined {
  const s = r.string(node, p);
  if (s !== undefined && !NAME.test(s)) {
    r.error(p, `"${s}" is not a name (letters, digits, _ . -)`);
    return undefined;
  }
  return s;
}

function readPolicy(r: YamlReader, node: Node, ndaxdevs: number): Policy | undefined {
  const m = r.map(node, 'policy', ['chunk', 'strips', 'buckets', 'daxdevs']);
  if (m === undefined) return undefined;
  let ok = true;
  let chunkSize = DEFAULT_POLICY.chunkSize;
  if (m.has('chunk')) {
    const c = r.size(m.get('chunk'), 'policy.chunk');
    if (c === undefined) ok = false;
    else if (chunkSizeProblem(c, true)) {
      r.error('policy.chunk', `${c} is not a chunk size (a power of two from 4KiB to 2GiB)`);
      ok = false;
    } else {
      // The model serves any such chunk; a famfs image or kernel needs the famfs rule.
      if (chunkSizeProblem(c)) r.warn('policy.chunk', `${formatSize(c)} is below 2 MiB: famfs kernels cannot map it; only the server-side data path (FUSE READ/WRITE) can`);
      chunkSize = c;
    }
  }
  let nstrips = DEFAULT_POLICY.nstrips;
  if (m.has('strips')) {
    const s = r.int(m.get('strips'), 'policy.strips', 1, MAX_STRIPS);
    if (s === undefined) ok = false;
    else nstrips = s;
  }
  let nbuckets = DEFAULT_POLICY.nbuckets;
  if (m.has('buckets')) {
    const b = r.int(m.get('buckets'), 'policy.buckets', 0, MAX_NBUCKETS);
    if (b === undefined) ok = false;
    else nbuckets = b;
  }
  let daxdevs = DEFAULT_POLICY.daxdevs;
  if (m.has('daxdevs')) {
    const list: number[] = [];
    (r.seq(m.get('daxdevs'), 'policy.daxdevs', 'daxdev indexes') ?? []).forEach((n, i) => {
      const p = childPath('policy.daxdevs', i);
      const d = r.int(n, p, 0);
      if (d === undefined) return void (ok = false);
      if (d >= ndaxdevs) {
        r.error(p, `daxdev ${d} does not exist (there ${ndaxdevs === 1 ? 'is 1 daxdev' : `are ${ndaxdevs} daxdevs`})`);
        ok = false;
      } else if (list.includes(d)) {
        r.error(p, `daxdev ${d} is listed twice`);
        ok = false;
      } else list.push(d);
    });
    if (list.length === 0 && ok) {
      r.error('policy.daxdevs', 'at least one daxdev is needed');
      ok = false;
    }
    daxdevs = list;
  } else if (ndaxdevs === 0) ok = false;
  return ok ? { chunkSize, nstrips, nbuckets, daxdevs } : undefined;
}

