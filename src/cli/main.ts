#!/usr/bin/env node
// famfs-ts command line: commander wiring only. Each verb group lives in its own module.
import { Command } from 'commander';
import { registerLayout } from './layout.js';
import { registerImage } from './image.js';
import { registerMount } from './mount.js';
import { registerProtocol } from './protocol.js';
import { registerBpf } from './bpf.js';
import { parseCacheMode, setCacheMode } from '../device/cache.js';

const program = new Command('famfs-ts')
  .description('famfs-style shared-memory file system: layouts, famfs images, FUSE mounts, BPF resolvers')
  .version('0.1.0')
  // famfs uses -h for human sizes (fsck -h), so help is --help only.
  .helpOption('--help', 'show help')
  .showHelpAfterError()
  // README "Caches on shared memory": set in the environment so mount servers and serving
  // threads started from here use the same mode.
  .option('--cache-maintenance <mode>', 'flush/invalidate CPU caches around shared-memory access: on, off, or auto (on for devdax and pmem devices, off for files)')
  .hook('preAction', (cmd) => {
    const mode = cmd.opts<{ cacheMaintenance?: string }>().cacheMaintenance;
    if (mode !== undefined) setCacheMode(parseCacheMode(mode, '--cache-maintenance'));
  });

registerLayout(program);
registerImage(program);
registerMount(program);
registerProtocol(program);
registerBpf(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`famfs-ts: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
