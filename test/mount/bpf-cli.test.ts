// `famfs-ts bpf emit|verify|run` from dist/ (npm test builds first), the ELF export (our
// struct tables, llvm-objdump and bpftool when installed), on fixture FileMaps and on the
// image the real famfs tools wrote.
import path from 'node:path';
import { FIXTURE } from '../famfs-support.js';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTier2 } from '../support/tier.js';
import { Elf64Ehdr, Elf64Shdr, Elf64Sym, toElf } from '../../src/bpf-policy/elf.js';
import { emitGenericProgram, emitLayoutProgram, programBytes } from '../../src/bpf-policy/program.js';
import { loadFileMap } from '../../src/interleave/layout-yaml.js';
import { resolve } from '../../src/interleave/filemap.js';

const CLI = 'dist/src/cli/main.js';
const FMAP = 'fixtures/fmaps/striped-4.yaml';
const TMP = `/dev/shm/famfs-ts-bpf-cli-${process.pid}`;
const IMG = `${TMP}.img`;
const run = (...args: string[]) => execFileSync('node', [CLI, ...args], { encoding: 'utf8' });
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

describe('bpf CLI', () => {
  beforeAll(() => {
    fs.mkdirSync(TMP, { recursive: true });
    fs.writeFileSync(IMG, zlib.gunzipSync(fs.readFileSync(path.join(FIXTURE, 'head-16MiB.bin.gz'))));
    fs.truncateSync(IMG, 4 * 2 ** 30);
  });
  afterAll(() => {
    fs.rmSync(TMP, { recursive: true, force: true });
    fs.rmSync(IMG, { force: true });
  });

  it('emit --format asm prints a listing; raw is the bytecode', () => {
    const asm = run('bpf', 'emit', '--fmap', FMAP);
    expect(asm).toMatch(/famfs_layout: layout resolver, syscall shell, \d+ instructions/);
    expect(asm).toMatch(/r2 >>= 0x15/); // 2 MiB chunks by shift, no division
    expect(asm).not.toMatch(/\/=|%=/);
    run('bpf', 'emit', '--fmap', FMAP, '--format', 'raw', '-o', `${TMP}/p.bin`);
    expect(fs.readFileSync(`${TMP}/p.bin`).equals(programBytes(emitLayoutProgram(loadFileMap(FMAP))))).toBe(true);
  });

  it('reads IMAGE:PATH from an image written by the real famfs tools', () => {
    const j = JSON.parse(run('bpf', 'run', `${IMG}:/striped`, '--offset', '15M', '--json')) as { interpreter: { offset: number }; agree: boolean }[];
    expect(j[0]!.agree).toBe(true);
    expect(j[0]!.interpreter.offset).toBe(0xc0300000);
  });

  it('refuses bad input with a clear message', () => {
    const r = spawnSync('node', [CLI, 'bpf', 'emit', '--fmap', FMAP, '--shell', 'xdp'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--shell xdp: choose one of syscall/);
    const g = spawnSync('node', [CLI, 'bpf', 'emit', '--generic', '--format', 'elf'], { encoding: 'utf8' });
    expect(g.status).toBe(1);
    expect(g.stderr).toMatch(/references a map by fd/);
  });

  it('ELF export: header, sections and symbols as bpf-tooling.md §2.1 lists them', () => {
    const elf = toElf(emitLayoutProgram(loadFileMap(FMAP)));
    const h = Elf64Ehdr.decode(elf);
    expect([h.e_machine, h.e_type, h.e_shnum, h.e_shstrndx, h.e_shentsize]).toEqual([247, 1, 6, 5, 64]);
    const sh = (k: number) => Elf64Shdr.decode(elf, h.e_shoff + k * 64);
    const strAt = (tab: number, off: number) => { const s = sh(tab); const b = elf.subarray(s.sh_offset + off); return b.toString('latin1', 0, b.indexOf(0)); };
    expect([1, 2, 3, 4, 5].map((k) => strAt(5, sh(k).sh_name))).toEqual(['.strtab', 'syscall', 'license', '.symtab', '.shstrtab']);
    const code = sh(2);
    expect(elf.subarray(code.sh_offset, code.sh_offset + code.sh_size).equals(programBytes(emitLayoutProgram(loadFileMap(FMAP))))).toBe(true);
    const prog = Elf64Sym.decode(elf, sh(4).sh_offset + 2 * 24);
    expect([strAt(1, prog.st_name), prog.st_info, prog.st_shndx, prog.st_size]).toEqual(['famfs_layout', 0x12, 2, code.sh_size]);
    expect(() => toElf(emitGenericProgram(3))).toThrow(/map/);
  });

});

describeTier2('bpf CLI in the kernel', () => (has('bpftool') && has('llvm-objdump') ? undefined : 'bpftool or llvm-objdump is not installed'), () => {
  const PIN = `/sys/fs/bpf/famfs_ts_cli_${process.pid}`;
  afterAll(() => {
    fs.rmSync(PIN, { force: true });
    fs.rmSync(TMP, { recursive: true, force: true });
  });
  beforeAll(() => fs.mkdirSync(TMP, { recursive: true }));

  it('llvm-objdump reads the ELF ', () => {
    run('bpf', 'emit', '--fmap', FMAP, '--format', 'elf', '-o', `${TMP}/p.o`);
    const out = execFileSync('llvm-objdump', ['-d', `${TMP}/p.o`], { encoding: 'utf8' });
    expect(out).toMatch(/<famfs_layout>:/);
    expect(out).toMatch(/r9 = r1/);
  });

  it('bpftool prog load accepts the ELF export', () => {
    run('bpf', 'emit', '--fmap', FMAP, '--format', 'elf', '-o', `${TMP}/k.o`);
    execFileSync('bpftool', ['prog', 'load', `${TMP}/k.o`, PIN]);
    const info = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', PIN], { encoding: 'utf8' })) as { type: string; name: string };
    expect(info.type).toBe('syscall');
    expect(info.name).toBe('famfs_layout');
  });

  it('verify reports instructions and processed counts; run agrees three ways', () => {
    const v = JSON.parse(run('bpf', 'verify', '--fmap', FMAP, '--json')) as { instructions: number; processed: number };
    expect(v.instructions).toBeLessThanOrEqual(64);
    expect(v.processed).toBeLessThanOrEqual(100);
    const map = loadFileMap(FMAP);
    const offs = ['0', '15M', '0x1fffff', '20M', '19999999'];
    for (const shell of ['syscall', 'bpf_dummy_ops']) {
      for (const generic of [[], ['--generic']]) {
        if (shell === 'bpf_dummy_ops' && generic.length) continue; // no map helpers for dummy ops
        const rows = JSON.parse(run('bpf', 'run', '--fmap', FMAP, '--shell', shell, ...generic, ...offs.flatMap((o) => ['--offset', o]), '--json')) as { offset: number; kernel: unknown; agree: boolean }[];
        for (const r of rows) {
          expect(r.agree).toBe(true);
          expect(typeof r.kernel).toBe('object');
          const m = resolve(map, r.offset);
          if (m) expect((r.kernel as { offset: number }).offset).toBe(m.offset);
        }
      }
    }
  });

  it('verify shows the verifier log for a program the kernel refuses', () => {
    const r = spawnSync('node', [CLI, 'bpf', 'verify', '--generic', '--shell', 'bpf_dummy_ops'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/verifier rejected/);
    expect(r.stderr).toMatch(/cannot use helper bpf_map_lookup_elem/);
  });
});
