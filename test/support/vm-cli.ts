// scripts/vm-run.sh: boot one tier-4 guest by hand (test/support/vm.ts does the work).
//   scripts/vm-run.sh [--kernel stock-7.3] [--nvdimm 8G]... [--ramdisk 512M] [--mem 1024]
//                     [--cpus 2] [--timeout 300] [--env NAME=VALUE]... [--verbose] [--keep] (-c SCRIPT | SCRIPT-FILE)
// Prints the script's output; exits with its status (124 on timeout, 125 when it never finished).
import { readFileSync } from 'node:fs';
import { runVm, vmFailure, type VmOptions } from './vm.js';

function usage(msg: string): never {
  process.stderr.write(`vm-run: ${msg}\nusage: scripts/vm-run.sh [--kernel NAME|PATH] [--nvdimm SIZE]... [--ramdisk SIZE] ` +
    `[--mem MiB] [--cpus N] [--timeout SECONDS] [--env NAME=VALUE]... [--verbose] [--echo] [--keep] (-c SCRIPT | SCRIPT-FILE)\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const opts: VmOptions = { kernel: 'stock-7.3', script: '', nvdimms: [] };
let script: string | undefined;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = (): string => { const v = argv[++i]; if (v === undefined) usage(`${a} needs a value`); return v; };
  switch (a) {
    case '--kernel': opts.kernel = val(); break;
    case '--nvdimm': opts.nvdimms!.push(val()); break;
    case '--ramdisk': opts.ramdisk = val(); break;
    case '--mem': opts.memMiB = Number(val()); break;
    case '--cpus': opts.cpus = Number(val()); break;
    case '--timeout': opts.timeoutMs = Number(val()) * 1000; break;
    case '--verbose': opts.console = process.stderr; break;
    case '--echo': opts.echo = true; opts.console = process.stderr; break;
    case '--keep': opts.keep = true; break;
    case '--env': {
      const kv = val();
      const eq = kv.indexOf('=');
      if (eq <= 0) usage(`--env wants NAME=VALUE, not ${kv}`);
      opts.env = { ...(opts.env ?? {}), [kv.slice(0, eq)]: kv.slice(eq + 1) };
      break;
    }
    case '-c': script = val(); break;
    case '-h': case '--help': usage('help');
    default:
      if (a.startsWith('-') || script !== undefined) usage(`unexpected argument ${a}`);
      script = readFileSync(a, 'utf8');
  }
}
if (script === undefined) usage('no script');
opts.script = script;
try {
  const r = await runVm(opts);
  if (!opts.echo) process.stdout.write(r.output);
  process.stderr.write(`vm-run: ${r.kernel}: ${r.status === null ? 'did not finish' : `exit ${r.status}`} in ${r.seconds.toFixed(1)} s` +
    (r.bootSeconds !== undefined ? ` (guest: boot ${r.bootSeconds.toFixed(1)} s, script ${r.guestSeconds?.toFixed(1) ?? '?'} s)` : '') +
    (r.keptDir ? `; kept ${r.keptDir}` : '') + '\n');
  if (r.status !== 0 && r.status !== null) process.exit(r.status);
  if (r.status === null) { process.stderr.write(vmFailure(r).message + '\n'); process.exit(r.timedOut ? 124 : 125); }
} catch (e) {
  process.stderr.write(`vm-run: ${(e as Error).message}\n`);
  process.exit(125);
}
