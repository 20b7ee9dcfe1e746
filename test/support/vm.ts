// Tier 4: boot a kernel from ../shared/kernels in qemu (TCG), run a bash script in it, get its
// output and exit status back. Facts used here are in ../shared/kernels/README.md: TCG only
// (KVM cannot run these kernels on this machine), qemu 7.2, NVDIMMs as memory-backend-file
// share=on over /dev/shm files, the host root shared read-only over 9p with multidevs=remap.
//
// The guest's root IS the host's root (9p, read-only, page cache on: it does not change during
// a run), so the script runs the host's bash, node, ndctl and fio and this repository's dist/.
// PID 1 is scripts/vm-init.sh (busybox-static); it mounts proc/sys/dev/tmpfs, runs the job from
// the writable share (tag vmout, /tmp/vm-out in the guest) and resets; qemu runs -no-reboot,
// so the reset (or a panic, panic=-1) ends qemu. The host kills qemu at the deadline.
//
// API: runVm(options) -> VmResult; vmUnavailable(kernel) -> reason or undefined;
// vmFailure(result) -> a readable error. CLI: scripts/vm-run.sh.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (holds package.json), from this file's place in test/support or dist/test/support. */
export const repoRoot: string = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) || !existsSync(join(d, 'scripts', 'vm-init.sh'))) {
    const up = dirname(d);
    if (up === d) throw new Error('vm: cannot find the repository root above ' + fileURLToPath(import.meta.url));
    d = up;
  }
  return d;
})();

export const kernelsDir: string = process.env.FAMFS_TS_KERNELS ?? resolve(repoRoot, '..', 'shared', 'kernels');

/** The kernels of ../shared/kernels (README.md there says what each has). */
export type KernelName = 'stock-7.3' | 'famfs-v10-7.3' | 'fuse-iomap-7.3';
export const kernelNames: readonly KernelName[] = ['stock-7.3', 'famfs-v10-7.3', 'fuse-iomap-7.3'];

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

export interface NvdimmSpec {
  /** Bytes (a multiple of 2 MiB). famfs refuses devices below 4 GiB. */
  size: number;
  /**
   * An existing file to back it (e.g. one /dev/shm file shared by two guests): the harness
   * neither creates nor removes it. Without it the harness makes a sparse /dev/shm file and
   * removes it at the end, whatever happens.
   */
  path?: string;
}

export interface VmOptions {
  /** A name under ../shared/kernels, or a path to a bzImage. */
  kernel: KernelName | string;
  /** Bash, run in the guest with cwd = the repository, after scripts/vm-guest-lib.sh is sourced. */
  script: string;
  /** NVDIMMs in slot order: nmemN / regionN / raw /dev/pmemN in the guest. Sizes as numbers or "8G". */
  nvdimms?: (NvdimmSpec | number | string)[];
  /** brd ram disk size (/dev/ram0), bytes or "512M"; kernels with brd only (stock, fuse-iomap). */
  ramdisk?: number | string;
  /** Guest RAM in MiB (default 1024). NVDIMMs do not count against it. */
  memMiB?: number;
  /** Guest CPUs (default 2: the serving threads, the kernel's FUSE path and V8's compiler run beside each other). */
  cpus?: number;
  /** Hard bound on the whole run, host side (qemu is killed). Default 300 s. */
  timeoutMs?: number;
  /** Exported to the script. */
  env?: Record<string, string>;
  /** More kernel command line. */
  cmdline?: string;
  /** Copy the guest console to this stream while it runs (the CLI's --verbose). */
  console?: NodeJS.WritableStream;
  /** Also copy the job's output to the console (kernel command line vm_echo=1). */
  echo?: boolean;
  /**
   * Copy dist/ and the production node_modules into the guest's tmpfs, bound over the
   * repository's (default true): node then loads modules from memory instead of over 9p.
   * The guest sees dist/ as it was when the run started.
   */
  copyRuntime?: boolean;
  /**
   * Extra writable host directories, mounted in the guest at `guestPath` (under /tmp, made
   * before the script runs): e.g. one directory two guests use to signal each other.
   */
  shares?: { hostPath: string; guestPath: string }[];
  /** Keep the run's directory (console.log, output, files the script left in $VM_OUT) even on success. */
  keep?: boolean;
}

export interface VmResult {
  kernel: string;
  /** The script's exit status; null when it never finished (timeout, panic, boot failure). */
  status: number | null;
  /** The script's stdout and stderr, interleaved. */
  output: string;
  /** The whole serial console (kernel log). */
  console: string;
  timedOut: boolean;
  /** Host wall time of the run, and guest uptime when the script started / ended (TCG: slow). */
  seconds: number;
  bootSeconds?: number;
  guestSeconds?: number;
  /** Files the script wrote to $VM_OUT (besides the harness's own), by name. */
  files: Map<string, Buffer>;
  /** Where console.log, output and the script's files were kept (failed runs, or keep: true). */
  keptDir?: string;
  /** Why each earlier boot of this run died before init (empty: the first boot ran the script). */
  bootRetries: string[];
}

export function parseSize(s: number | string): number {
  if (typeof s === 'number') return s;
  const m = /^(\d+)\s*([KMGT]?)(i?B)?$/i.exec(s.trim());
  if (!m) throw new Error(`vm: bad size "${s}" (use e.g. 8G, 512M, 4096)`);
  const unit = { '': 1, K: 1024, M: MiB, G: GiB, T: 1024 * GiB }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * unit;
}

export function kernelImage(kernel: string): string {
  return isAbsolute(kernel) || kernel.includes('/') ? resolve(kernel) : join(kernelsDir, kernel, 'bzImage');
}

const QEMU = 'qemu-system-x86_64';
const BUSYBOX = '/bin/busybox';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why a guest with this kernel cannot be booted here, or undefined when it can. */
export function vmUnavailable(kernel: string = 'stock-7.3'): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'needs x86_64 Linux';
  if (!existsSync(kernelsDir)) return `no kernels at ${kernelsDir} (../shared/kernels)`;
  if (!existsSync(kernelImage(kernel))) return `no kernel image ${kernelImage(kernel)}`;
  if (!onPath(QEMU)) return `${QEMU} not installed (scripts/setup.sh installs qemu-system-x86)`;
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} missing (scripts/setup.sh installs busybox-static)`;
  if (!onPath('ndctl')) return 'ndctl not installed (scripts/setup.sh installs it)';
  if (!existsSync(join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) return 'dist/ not built (npx tsc -p .)';
  // The guest sees the host's root over 9p but mounts a tmpfs of its own on /tmp (vm-init.sh).
  if (repoRoot === '/tmp' || repoRoot.startsWith('/tmp/')) return `the checkout ${repoRoot} is under /tmp, which a guest covers with its own tmpfs: check it out elsewhere`;
  return undefined;
}

// /dev/shm files this process made: removed at exit even when a run is abandoned mid-way.
// Likewise qemu processes still running when this process exits (a test runner's timeout).
const liveShm = new Set<string>();
const liveQemu = new Set<ChildProcess>();
process.once('exit', () => {
  for (const q of liveQemu) q.kill('SIGKILL');
  for (const f of liveShm) try { unlinkSync(f); } catch { /* already gone */ }
});

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function tail(s: string, lines: number): string {
  const l = s.trimEnd().split('\n');
  return l.slice(Math.max(0, l.length - lines)).join('\n');
}

/** An Error naming what failed, with the tails of the script's output and of the console. */
export function vmFailure(r: VmResult, what = 'guest script'): Error {
  const why = r.timedOut ? `timed out after ${r.seconds.toFixed(0)} s`
    : r.status === null ? 'never finished (boot failure or kernel panic: see the console)'
      : `exited ${r.status}`;
  const retried = r.bootRetries.length ? ` after ${r.bootRetries.length} boot(s) that died before init (${r.bootRetries.join('; ')})` : '';
  return new Error(`${what} on ${r.kernel} ${why}${retried}` + (r.keptDir ? ` (console and output kept in ${r.keptDir})` : '') +
    `\n--- output (last 40 lines) ---\n${tail(r.output, 40)}\n--- console (last 30 lines) ---\n${tail(r.console, 30)}`);
}

/** runVm and throw vmFailure unless the script exited 0. */
export async function runVmOk(opts: VmOptions, what?: string): Promise<VmResult> {
  const r = await runVm(opts);
  if (r.status !== 0) throw vmFailure(r, what);
  return r;
}

/**
 * The kernel's own words when the console shows it died: the first Oops, BUG or panic line.
 * Undefined when it shows none (the guest ran, or qemu itself failed).
 */
export function earlyBootDeath(console: string): string | undefined {
  const m = /^\[\s*[\d.]+\] ((?:Oops|BUG|Kernel panic)[^\n]*)$/m.exec(console);
  return m?.[1].trim();
}

const HARNESS_FILES = new Set(['job.sh', 'script.sh', 'output', 'status', 'job-status', 'boot-uptime', 'end-uptime', 'console.log', 'runtime.tar']);

export async function runVm(opts: VmOptions): Promise<VmResult> {
  const image = kernelImage(opts.kernel);
  const why = vmUnavailable(opts.kernel);
  if (why) throw new Error(`vm: cannot boot ${opts.kernel}: ${why}`);
  const kernel = opts.kernel;
  const dir = mkdtempSync(join(tmpdir(), 'famfs-ts-vm-'));
  const outDir = join(dir, 'out');
  rmSync(outDir, { recursive: true, force: true });
  // mkdtemp's mode is 0700; the guest writes as root, fine.
  spawnSync('mkdir', ['-p', outDir]);
  const made: string[] = [];
  const started = Date.now();
  let keep = opts.keep === true;
  let lastCode: number | null = null;
  try {
    const nvdimms = (opts.nvdimms ?? []).map((n): NvdimmSpec =>
      typeof n === 'object' ? n : { size: parseSize(n) });
    const tag = `${process.pid}-${dir.slice(-6)}`;
    const backing = nvdimms.map((n, i) => {
      if (n.size % (2 * MiB) !== 0) throw new Error(`vm: NVDIMM ${i} size ${n.size} is not a multiple of 2 MiB`);
      if (n.path) {
        if (!existsSync(n.path)) throw new Error(`vm: NVDIMM ${i} backing file ${n.path} does not exist`);
        return n.path;
      }
      const f = `/dev/shm/famfs-ts-vm-${tag}-nv${i}`;
      liveShm.add(f);
      made.push(f);
      const fd = openSync(f, 'wx', 0o600);
      try { ftruncateSync(fd, n.size); } finally { closeSync(fd); }
      return f;
    });

    const env: Record<string, string> = {
      VM_OUT: '/tmp/vm-out', VM_REPO: repoRoot, VM_KERNEL: kernel,
      // The tests' setting of the mounts' warm-up (vitest.config.ts): under TCG it is seconds a mount.
      ...(process.env.FAMFS_TS_WARM_UP === undefined ? {} : { FAMFS_TS_WARM_UP: process.env.FAMFS_TS_WARM_UP }),
      ...(opts.env ?? {}),
    };
    writeFileSync(join(outDir, 'script.sh'),
      Object.entries(env).map(([k, v]) => `export ${k}=${shq(v)}`).join('\n') +
      `\ncd "$VM_REPO" || exit 125\n. "$VM_REPO/scripts/vm-guest-lib.sh"\n` + opts.script + '\n');
    // Loading node modules over 9p costs one round trip per stat and open, through qemu under
    // TCG: importing the CLI took 10-20 s a command. The job unpacks one tar of dist/ and the
    // production node_modules into the guest's tmpfs and binds it over the repository's.
    let unpack = '';
    if (opts.copyRuntime !== false) {
      const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages?: Record<string, { dev?: boolean }> };
      const mods = Object.entries(lock.packages ?? {})
        .filter(([k, v]) => k.startsWith('node_modules/') && v.dev !== true && existsSync(join(repoRoot, k)))
        .map(([k]) => k);
      const tar = spawnSync('tar', ['-cf', join(outDir, 'runtime.tar'), '-C', repoRoot, 'dist', ...mods], { encoding: 'utf8' });
      if (tar.status !== 0) throw new Error(`vm: tar of dist/ and node_modules failed: ${tar.stderr}`);
      unpack = 'rt=/tmp/.famfs-ts-runtime; mkdir -p $rt && tar -xf /tmp/vm-out/runtime.tar -C $rt && ' +
        `mount --bind $rt/dist ${shq(join(repoRoot, 'dist'))} && mount --bind $rt/node_modules ${shq(join(repoRoot, 'node_modules'))} ` +
        '|| { echo "vm: cannot unpack the runtime copy" >&2; exit 125; }\n';
    }
    const shares = opts.shares ?? [];
    shares.forEach((sh, i) => {
      if (!sh.guestPath.startsWith('/tmp/')) throw new Error(`vm: share guest path ${sh.guestPath} is not under /tmp`);
      if (!existsSync(sh.hostPath)) throw new Error(`vm: share ${sh.hostPath} does not exist`);
    });
    const mountShares = shares.map((sh, i) =>
      `mkdir -p ${shq(sh.guestPath)} && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share${i} ${shq(sh.guestPath)} ` +
      `|| { echo "vm: cannot mount share ${i}" >&2; exit 125; }\n`).join('');
    writeFileSync(join(outDir, 'job.sh'),
      mountShares + unpack + '/bin/bash /tmp/vm-out/script.sh\nst=$?\necho $st > /tmp/vm-out/job-status\nexit $st\n');

    const memMiB = opts.memMiB ?? 1024;
    const nvTotal = nvdimms.reduce((a, n) => a + n.size, 0);
    // One host thread runs every vCPU (thread=single). With a thread per vCPU (MTTCG, the default)
    // the 7.3 kernels died of "Oops: int3" while patching their own text (static keys,
    // alternatives): 2 boots in 36 on this machine under load, 4 in one CI run, three of them in
    // a row. That fits a vCPU running a stale translation of the bytes another one patches (not
    // traced in qemu). In thread=single none died in 72; the VM tier takes a fifth longer
    // (README "VM tier").
    const args = ['-accel', 'tcg,thread=single', '-cpu', 'max', '-smp', String(opts.cpus ?? 2),
      '-nodefaults', '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
      '-machine', nvdimms.length ? 'pc,nvdimm=on' : 'pc',
      '-m', nvdimms.length ? `${memMiB}M,slots=${nvdimms.length},maxmem=${memMiB * MiB + nvTotal + GiB}` : `${memMiB}M`,
      '-kernel', image,
      '-append', [
        'console=ttyS0', 'panic=-1', 'oops=panic',
        'root=hostroot', 'rootfstype=9p', 'rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose', 'ro',
        `init=${join(repoRoot, 'scripts', 'vm-init.sh')}`,
        ...(opts.ramdisk !== undefined ? [`brd.rd_nr=1`, `brd.rd_size=${Math.ceil(parseSize(opts.ramdisk) / 1024)}`] : []),
        ...(opts.echo ? ['vm_echo=1'] : []),
        ...(opts.cmdline ? [opts.cmdline] : []),
      ].join(' '),
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${outDir},mount_tag=vmout,security_model=none,multidevs=remap`,
    ];
    shares.forEach((sh, i) => args.push('-virtfs', `local,path=${sh.hostPath},mount_tag=share${i},security_model=none,multidevs=remap`));
    backing.forEach((f, i) => {
      args.push('-object', `memory-backend-file,id=mem${i},share=on,mem-path=${f},size=${nvdimms[i].size},align=128M`,
        '-device', `nvdimm,memdev=mem${i},id=nv${i},label-size=128K`);
    });

    const consolePath = join(dir, 'console.log');
    const consoleFile = createWriteStream(consolePath);
    const timeoutMs = opts.timeoutMs ?? 300_000;
    let timedOut = false;
    let chunks: Buffer[] = [];
    const bootRetries: string[] = [];
    for (let boot = 1; ; boot++) {
      chunks = [];
      lastCode = await new Promise<number | null>((resolveRun, reject) => {
        const q = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        liveQemu.add(q);
        const onData = (b: Buffer): void => { chunks.push(b); consoleFile.write(b); opts.console?.write(b); };
        q.stdout.on('data', onData);
        q.stderr.on('data', onData);
        const timer = setTimeout(() => { timedOut = true; q.kill('SIGKILL'); }, timeoutMs);
        q.on('error', (e) => { clearTimeout(timer); reject(new Error(`vm: cannot start ${QEMU}: ${e.message}`)); });
        q.on('close', (c) => { clearTimeout(timer); liveQemu.delete(q); resolveRun(c); });
      });
      // A kernel that dies before init wrote boot-uptime ran none of our code and touched no
      // device: under multi-threaded TCG the 7.3 kernels hit "Oops: int3" while patching their
      // own text (../shared/kernels/README.md; CI, in famfs-v10-7.3 at "sched_clock: Marking
      // stable"). thread=single (above) ends that; should a boot still die, boot it again, at
      // most twice, and say so.
      const died = earlyBootDeath(Buffer.concat(chunks).toString('utf8'));
      if (timedOut || existsSync(join(outDir, 'boot-uptime')) || died === undefined || boot >= 3) break;
      bootRetries.push(died);
      const note = `\nvm: ${kernel} died before init (${died}); booting it again (boot ${boot + 1} of at most 3)\n`;
      process.stderr.write(note);
      consoleFile.write(note);
    }
    await new Promise<void>((r) => consoleFile.end(r));
    const consoleText = bootRetries.length ? readFileSync(consolePath, 'utf8') : Buffer.concat(chunks).toString('utf8');
    const read = (n: string): string | undefined => {
      try { return readFileSync(join(outDir, n), 'utf8'); } catch { return undefined; }
    };
    const statusText = read('status');
    const status = statusText === undefined || timedOut ? null : Number(statusText.trim());
    const up = (n: string): number | undefined => {
      const t = read(n);
      return t === undefined ? undefined : Number(t.split(' ')[0]);
    };
    const bootSeconds = up('boot-uptime');
    const end = up('end-uptime');
    const files = new Map<string, Buffer>();
    for (const n of readdirSync(outDir)) {
      if (!HARNESS_FILES.has(n)) try { files.set(n, readFileSync(join(outDir, n))); } catch { /* a directory */ }
    }
    if (status !== 0 || (lastCode !== 0 && lastCode !== null && status === null)) keep = true;
    return {
      kernel, status, timedOut, files,
      output: read('output') ?? '',
      console: consoleText,
      seconds: (Date.now() - started) / 1000,
      bootSeconds,
      guestSeconds: end !== undefined && bootSeconds !== undefined ? end - bootSeconds : undefined,
      keptDir: keep ? dir : undefined,
      bootRetries,
    };
  } finally {
    for (const f of made) {
      try { unlinkSync(f); } catch { /* gone */ }
      liveShm.delete(f);
    }
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** FUSE opcodes counted in guest scripts (include/uapi/linux/fuse.h numbers). */
export const FuseOp = { READ: 15, WRITE: 16 } as const;

export interface FuseStepCounts {
  /** Requests the kernel sent, by opcode number. */
  ops: Map<number, number>;
  /** WRITE payload bytes. */
  wbytes: number;
}

/** The "FUSE LABEL op=N ... wbytes=B" lines vm_fuse_counts printed, by label. */
export function fuseCounts(output: string): Map<string, FuseStepCounts> {
  const steps = new Map<string, FuseStepCounts>();
  for (const line of output.split('\n')) {
    const m = /^FUSE (\S+)((?: \d+=\d+)*) wbytes=(\d+)$/.exec(line.trim());
    if (!m) continue;
    const ops = new Map<number, number>();
    for (const kv of m[2].trim().split(/\s+/).filter(Boolean)) {
      const [op, n] = kv.split('=').map(Number);
      ops.set(op, n);
    }
    steps.set(m[1], { ops, wbytes: Number(m[3]) });
  }
  return steps;
}
