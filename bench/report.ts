// The closing table of `npm run bench`: every ratio the benchmarks recorded in $BENCH_RATIOS
// (one line each: bench, metric, peer, ratio, target; see bench/lib/peers.sh bench_ratio), with
// the target it meets or misses. Ratios are famfs-ts over the peer measured in the same run,
// oriented so that more is better (times are inverted by the bench that records them).
import fs from 'node:fs';
import os from 'node:os';

const file = process.argv[2];
if (!file) throw new Error('usage: report RATIOS_FILE');
const rows = fs.existsSync(file)
  ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => l.split('\t'))
  : [];
const when = new Date().toISOString().replace('T', ' ').slice(0, 16);
console.log(`\n== famfs-ts against its peers: ${when} UTC, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ` +
  `kernel ${os.release()}, load ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
if (rows.length === 0) {
  console.log('no ratios were recorded (every peer skipped?)');
  process.exit(0);
}
const w = [10, Math.max(...rows.map((r) => (r[1] ?? '').length)), Math.max(...rows.map((r) => (r[2] ?? '').length)), 8, 8];
const line = (c: string[]): string => `| ${c.map((v, i) => v.padEnd(w[i] ?? 8)).join(' | ')} |`;
console.log(line(['bench', 'metric', 'vs', 'ratio', 'target']) + ' verdict');
let missed = 0;
for (const [bench = '', metric = '', peer = '', ratio = '0', target = '0'] of rows) {
  const r = Number(ratio);
  const t = Number(target);
  const verdict = t > 0 ? (r >= t ? 'met' : 'MISSED') : '(shown)';
  if (verdict === 'MISSED') missed++;
  console.log(line([bench, metric, peer, `${r.toFixed(2)}x`, t > 0 ? `>= ${t.toFixed(2)}x` : '-']) + ` ${verdict}`);
}
console.log(missed ? `${missed} target(s) missed` : 'every target met');
