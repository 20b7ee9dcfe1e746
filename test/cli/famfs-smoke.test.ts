// famfs's smoke tests, offline: every step of test/support/famfs-smoke-steps.ts that does
// not need a mount, run against an image with `IMAGE:/path` for `$MPT/path`. Each step must
// give famfs's answer, or the answer docs/famfs-differences.md gives for it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { report, runSteps, type Ctx, type Outcome } from '../support/famfs-smoke.js';
import { SMOKE_DEVICE_SIZE, SMOKE_STEPS } from '../support/famfs-smoke-steps.js';
import { ROOT } from '../support/mount-harness.js';

describe('famfs smoke steps offline (IMAGE:/path)', () => {
  let dir: string;
  let c: Ctx;
  beforeAll(() => {
    if (!fs.existsSync(path.join(ROOT, 'dist/src/cli/main.js'))) execFileSync('npx', ['tsc', '-p', ROOT], { stdio: 'ignore' });
    // RAM-backed and sparse: the steps write about 1.5 GiB of file data at most.
    dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'famfs-smoke-'));
    fs.mkdirSync(path.join(dir, 'tmp'));
    c = { mode: 'offline', dir, dev: path.join(dir, 'dev'), mnt: path.join(dir, 'mnt'), tmp: path.join(dir, 'tmp') };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('meets famfs\'s expectation (or the documented difference) in every step', () => {
    const outcomes: Outcome[] = runSteps(SMOKE_STEPS, c, SMOKE_DEVICE_SIZE, process.env.FAMFS_SMOKE_LOG ? (l) => fs.appendFileSync(process.env.FAMFS_SMOKE_LOG!, `${l}\n`) : undefined);
    process.stdout.write(`${report('offline', outcomes)}\n`);
    const missed = outcomes.filter((o) => !o.metOurs).map((o) => `[${o.step.script}] ${o.step.expect} ${o.step.cmd} -> exit ${o.status}\n${o.output}`);
    expect(missed).toEqual([]);
  }, 3_600_000);
});
