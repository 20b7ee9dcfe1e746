// How the CLI words a failure (src/cli/errors.ts): one prefix, Node's system errors as
// "syscall path: Description", famfs's exit status for them.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commandName, errorText, exitStatusOf, isBrokenPipe, withPrefix } from '../../src/cli/errors.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
}

describe('CLI error text', () => {
  it('turns a system error into syscall, path and strerror text', () => {
    const e = thrown(() => fs.statSync('/nonexistent/famfs-ts-x'));
    expect(errorText(e)).toBe('stat /nonexistent/famfs-ts-x: No such file or directory');
    expect(exitStatusOf(e)).toBe(2);
    const r = thrown(() => fs.renameSync('/nonexistent/a', '/nonexistent/b'));
    expect(errorText(r)).toBe('rename /nonexistent/a -> /nonexistent/b: No such file or directory');
    expect(errorText(new Error('plain'))).toBe('plain');
    expect(exitStatusOf(new Error('plain'))).toBe(1);
  });

  it('adds a prefix once, and never mistakes a path for one', () => {
    expect(withPrefix('famfs-ts ls', 'famfs_getmap: file not found')).toBe('famfs_getmap: file not found');
    expect(withPrefix('famfs-ts ls', 'famfs cp: x')).toBe('famfs cp: x');
    expect(withPrefix('famfs_mkfs', 'famfs_mkfs: Error: invalid log length (3)')).toBe('famfs_mkfs: Error: invalid log length (3)');
    expect(withPrefix('famfs-ts ls', 'famfs-ts: cannot write')).toBe('famfs-ts: cannot write');
    expect(withPrefix('famfs-ts ls', 'famfs.img: device not found')).toBe('famfs-ts ls: famfs.img: device not found');
    expect(withPrefix('famfs-ts ls', 'D: device not found')).toBe('famfs-ts ls: D: device not found');
  });

  it('names the verb only when run as the CLI', () => {
    expect(commandName(['node', '/x/dist/src/cli/main.js', 'fsck', '-h', 'D'])).toBe('famfs-ts fsck');
    expect(commandName(['node', '/x/vitest.mjs', 'run'])).toBe('famfs-ts');
    expect(isBrokenPipe(Object.assign(new Error('x'), { code: 'EPIPE' }))).toBe(true);
  });
});
