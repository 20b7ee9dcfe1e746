// famfs's smoke tests through a real famfs-ts mount: every step of
// test/support/famfs-smoke-steps.ts with `$MPT/path` a path in the mount, mounts and
// unmounts as the scripts do them. Each step must give famfs's answer, or the answer
// docs/famfs-differences.md gives for it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { mountUnavailable } from '../support/mount-harness.js';
import { report, runSteps, unmountIfMounted, type Ctx, type Outcome } from '../support/famfs-smoke.js';
import { SMOKE_DEVICE_SIZE, SMOKE_STEPS } from '../support/famfs-smoke-steps.js';

describeTier2('famfs smoke steps through a famfs-ts mount', mountUnavailable, () => {
  let dir: string;
  let c: Ctx;
  const tmpdir = process.env.TMPDIR;
  beforeAll(() => {
    dir = fs.mkdtempSync('/dev/shm/famfs-smoke-m-');
    for (const d of ['tmp', 'mnt', 'logs']) fs.mkdirSync(path.join(dir, d));
    // Daemonized mounts log to $TMPDIR/famfs-ts-mount-*.log: keep those inside what is removed.
    process.env.TMPDIR = path.join(dir, 'logs');
    c = { mode: 'mounted', dir, dev: path.join(dir, 'dev'), mnt: path.join(dir, 'mnt'), tmp: path.join(dir, 'tmp') };
  });
  afterAll(() => {
    unmountIfMounted(c.mnt);
    unmountIfMounted(path.join(c.tmp, 'famfs'));
    fs.rmSync(dir, { recursive: true, force: true });
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  });

  it('meets famfs\'s expectation (or the documented difference) in every step', () => {
    const outcomes: Outcome[] = runSteps(SMOKE_STEPS, c, SMOKE_DEVICE_SIZE, process.env.FAMFS_SMOKE_LOG ? (l) => fs.appendFileSync(process.env.FAMFS_SMOKE_LOG!, `${l}\n`) : undefined);
    process.stdout.write(`${report('mounted', outcomes)}\n`);
    const missed = outcomes.filter((o) => !o.metOurs).map((o) => `[${o.step.script}] ${o.step.expect} ${o.step.cmd} -> exit ${o.status}\n${o.output}`);
    expect(missed).toEqual([]);
  }, 3_600_000);
});
