#!/usr/bin/env node
// famfs-ts command line: commander wiring only. Each verb group lives in its own module.
import { Command } from 'commander';
import { registerLayout } from './layout.js';
import { registerImage } from './image.js';
import { registerMount } from './mount.js';
import { registerProtocol } from './protocol.js';
import { registerBpf } from './bpf.js';
import { registerStatus } from './status.js';
import { famfsArgv } from './famfs-argv.js';

const program = new Command('famfs-ts')
  .description('famfs-style shared-memory file system: layouts, famfs images, FUSE mounts, BPF resolvers')
  .version('0.1.0')
  // famfs uses -h for human sizes (fsck -h), so help is --help only.
  .helpOption('--help', 'show help')
  .showHelpAfterError();

registerLayout(program);
registerImage(program);
registerMount(program);
registerProtocol(program);
registerBpf(program);
registerStatus(program);

// famfs conventions (-h/-? help, `-h VERB`, exit 3 for an unknown verb): src/cli/famfs-argv.ts.
const args = famfsArgv(process.argv.slice(2), program.commands.map((c) => c.name()));
if ('exitCode' in args) {
  process.stderr.write(`${args.message}\n`);
  process.exit(args.exitCode);
}

program.parseAsync([...process.argv.slice(0, 2), ...args.argv]).catch((e: unknown) => {
  process.stderr.write(`famfs-ts: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
