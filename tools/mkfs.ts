#!/usr/bin/env node
// mkfs.famfs-ts: the same as `famfs-ts mkfs` (mkfs.famfs flags; exit 0 or 2).
import { Command } from 'commander';
import { registerMkfs } from '../src/cli/mkfs.js';
import { famfsArgv } from '../src/cli/famfs-argv.js';

const program = new Command('mkfs.famfs-ts').helpOption('--help', 'show help');
registerMkfs(program);
// mkfs.famfs exits 2 on any failure, usage errors included (famfs-format.md §5).
for (const c of program.commands) c.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
// -h and -? are help, as in mkfs.famfs.
const args = famfsArgv(['mkfs', ...process.argv.slice(2)], ['mkfs'], 'mkfs.famfs-ts');
if ('exitCode' in args) {
  process.stderr.write(`${args.message}\n`);
  process.exit(2);
}
program.parseAsync([process.argv[0]!, process.argv[1]!, ...args.argv]).catch((e: unknown) => {
  process.stderr.write(`mkfs.famfs-ts: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
