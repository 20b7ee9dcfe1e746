// Tier-2 helpers for famfs-ts mounts: a scratch directory on /dev/shm with emulated devices,
// the CLI run as a child (`node dist/src/cli/main.js`), mount servers as child processes
// (`mount --foreground --ready-fd 3`), and cleanup that always unmounts (umount -l as the
// fallback) and deletes every file, even after a failure.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { threadPoolEnv } from '../../src/fuse/session.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

/** Why the mount suites cannot run here (undefined: they can). */
export function mountUnavailable(): string | undefined {
  if (!fs.existsSync('/dev/fuse')) return 'no /dev/fuse';
  if (!fs.existsSync(CLI)) return `${CLI} is missing: build first (npx tsc -p .)`;
  return undefined;
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function asRun(r: SpawnSyncReturns<string>): Run {
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A shell command (bash -c), never throwing on a non-zero status. */
export function sh(cmd: string, timeoutMs = 120_000): Run {
  return asRun(spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 }));
}

/** A shell command that must succeed. */
export function must(cmd: string, timeoutMs = 120_000): string {
  const r = sh(cmd, timeoutMs);
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function cli(args: readonly string[], timeoutMs = 120_000): Run {
  return asRun(spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 }));
}

export function mustCli(args: readonly string[], timeoutMs = 120_000): string {
  const r = cli(args, timeoutMs);
  if (r.status !== 0) throw new Error(`famfs-ts ${args.join(' ')}: exit ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function isMounted(mnt: string): boolean {
  const real = path.resolve(mnt);
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === real);
}

/** Unmount if mounted: plain first, `umount -l` when busy or the server is gone. */
export function forceUnmount(mnt: string): void {
  if (!isMounted(mnt)) return;
  if (sh(`umount ${JSON.stringify(mnt)}`).status === 0 && !isMounted(mnt)) return;
  sh(`umount -l ${JSON.stringify(mnt)}`);
}

export class MountServer {
  private exited: Promise<number | null>;
  constructor(readonly child: ChildProcess, readonly mountpoint: string, readonly logFile: string) {
    this.exited = new Promise((r) => {
      if (child.exitCode !== null || child.signalCode !== null) r(child.exitCode);
      else child.once('exit', (code) => r(code));
    });
  }
  get pid(): number {
    return this.child.pid!;
  }
  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
  /** SIGTERM (clean unmount); after `ms` the mount is forced off. */
  async stop(ms = 10_000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(t);
    forceUnmount(this.mountpoint);
  }
  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }
  waitExit(): Promise<number | null> {
    return this.exited;
  }
}

export class Scratch {
  readonly dir: string;
  readonly uuidFile: string;
  private readonly servers: MountServer[] = [];
  private readonly mounts: string[] = [];
  private counter = 0;

  constructor(tag: string) {
    this.dir = fs.mkdtempSync(`/dev/shm/famfs-ts-${tag}-`);
    this.uuidFile = this.hostUuid('master');
  }

  /** A system UUID file: each name is a different host. */
  hostUuid(name: string): string {
    const f = path.join(this.dir, `${name}.uuid`);
    if (!fs.existsSync(f)) {
      const hex = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString('hex');
      fs.writeFileSync(f, `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}\n`);
    }
    return f;
  }

  path(...p: string[]): string {
    return path.join(this.dir, ...p);
  }

  mountpoint(name = `mnt${this.counter++}`): string {
    const m = this.path(name);
    fs.mkdirSync(m, { recursive: true });
    this.mounts.push(m);
    return m;
  }

  /** An emulated device of `size` bytes, made a famfs image by `famfs-ts mkfs --small`. */
  device(name: string, size: number): string {
    const d = this.path(name);
    fs.writeFileSync(d, '');
    fs.truncateSync(d, size);
    mustCli(['mkfs', '--small', '-f', '--system-uuid', this.uuidFile, d]);
    return d;
  }

  /** Serve `source` at `mnt` in a child process; resolves once the mount is live. */
  async serve(source: string, mnt: string, extra: readonly string[] = [], uuidFile = this.uuidFile): Promise<MountServer> {
    const logFile = this.path(`${path.basename(mnt)}.${this.counter++}.log`);
    const logFd = fs.openSync(logFile, 'a');
    const child = spawn(process.execPath, [CLI, 'mount', source, mnt, '--foreground', '--ready-fd', '3', '--system-uuid', uuidFile, ...extra], {
      stdio: ['ignore', logFd, logFd, 'pipe'],
      env: threadPoolEnv(4),
    });
    fs.closeSync(logFd);
    const server = new MountServer(child, mnt, logFile);
    this.servers.push(server);
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    const line = await new Promise<string>((resolve) => {
      let text = '';
      const timer = setTimeout(() => resolve('timeout'), 60_000);
      pipe.on('data', (b: Buffer) => {
        text += b.toString();
        if (text.includes('\n')) {
          clearTimeout(timer);
          resolve(text.split('\n')[0]!);
        }
      });
      pipe.on('end', () => {
        clearTimeout(timer);
        resolve(text || 'exited');
      });
    });
    if (line !== 'ready') {
      await server.stop(2000);
      throw new Error(`mount of ${source} at ${mnt} failed (${line}):\n${server.log()}`);
    }
    return server;
  }

  /** Stop every server, unmount everything, delete the scratch directory. */
  async cleanup(): Promise<void> {
    for (const s of this.servers) {
      try {
        await s.stop(5000);
      } catch {
        // keep cleaning
      }
    }
    for (const m of this.mounts) forceUnmount(m);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A Scratch for the enclosing describe block: made before its tests, and afterwards every
 * server it started stopped, every mount removed and its directory deleted. `set` receives it.
 */
export function useScratch(tag: string, set: (s: Scratch) => void): void {
  let made: Scratch | undefined;
  beforeAll(() => {
    made = new Scratch(tag);
    set(made);
  });
  afterAll(async () => {
    await made?.cleanup();
  }, 60_000);
}

/** One famfs device served at one mount point (a master), as useServedMount makes it. */
export interface ServedMount {
  readonly s: Scratch;
  readonly dev: string;
  readonly mnt: string;
  readonly server: MountServer;
}

/**
 * useScratch plus a device of `bytes` (mkfs'd) served at mount point `master` with `extra`
 * mount options, live before the block's tests run; `set` receives all four.
 */
export function useServedMount(tag: string, bytes: number, extra: readonly string[], set: (m: ServedMount) => void): void {
  let made: Scratch | undefined;
  beforeAll(async () => {
    const s = (made = new Scratch(tag));
    const dev = s.device('dev0', bytes);
    const mnt = s.mountpoint('master');
    set({ s, dev, mnt, server: await s.serve(dev, mnt, extra) });
  }, 60_000);
  afterAll(async () => {
    await made?.cleanup();
  }, 60_000);
}
