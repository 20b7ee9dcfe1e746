// Struct tables pinned to the references: bpf_attr pieces (bpf-tooling.md §2.3), ELF
// (bpf-tooling.md §2.1), the BPF ctx and out structs (docs/design.md; fuse-iomap-abi.md §1.2, §4.1), BTF.
import { describe, expect, it } from 'vitest';
import { BtfLoadAttr, LinkCreateAttr, MapCreateAttr, MapElemAttr, ProgLoadAttr, TestRunAttr } from '../../src/sys/bpf.js';
import { Elf64Ehdr, Elf64Shdr, Elf64Sym } from '../../src/bpf-policy/elf.js';
import { FuseIomapIo, JoanneIomapIo, SyscallCtx } from '../../src/bpf-policy/shells.js';
import { GENERIC_VALUE_SIZE, GenericExtent, GenericHeader, GenericStrip } from '../../src/bpf-policy/generic-program.js';
import { BTF_KIND, BtfHeader, parseBtf, tinyBtf } from '../../src/bpf-policy/btf.js';

describe('BPF struct tables', () => {
  it('bpf_attr pieces have the reference offsets', () => {
    expect([ProgLoadAttr.offsetOf('log_buf'), ProgLoadAttr.offsetOf('prog_name'), ProgLoadAttr.offsetOf('expected_attach_type'),
      ProgLoadAttr.offsetOf('attach_btf_id'), ProgLoadAttr.offsetOf('log_true_size'), ProgLoadAttr.offsetOf('fd_array_cnt')]).toEqual([32, 48, 68, 108, 140, 148]);
    expect(TestRunAttr.size).toBe(80);
    expect([TestRunAttr.offsetOf('retval'), TestRunAttr.offsetOf('ctx_size_in'), TestRunAttr.offsetOf('ctx_in'), TestRunAttr.offsetOf('batch_size')]).toEqual([4, 40, 48, 72]);
    expect([MapCreateAttr.offsetOf('map_name'), MapCreateAttr.offsetOf('btf_fd'), MapCreateAttr.offsetOf('btf_vmlinux_value_type_id'), MapCreateAttr.offsetOf('value_type_btf_obj_fd')]).toEqual([28, 48, 60, 72]);
    expect([MapElemAttr.offsetOf('key'), MapElemAttr.offsetOf('value'), MapElemAttr.offsetOf('flags')]).toEqual([8, 16, 24]);
    expect(LinkCreateAttr.offsetOf('attach_type')).toBe(8);
    expect([BtfLoadAttr.offsetOf('btf_size'), BtfLoadAttr.offsetOf('btf_log_level')]).toEqual([16, 24]);
  });

  it('ELF64 headers are 64, 64 and 24 bytes', () => {
    expect([Elf64Ehdr.size, Elf64Shdr.size, Elf64Sym.size]).toEqual([64, 64, 24]);
    expect([Elf64Ehdr.offsetOf('e_shoff'), Elf64Ehdr.offsetOf('e_shstrndx'), Elf64Shdr.offsetOf('sh_entsize'), Elf64Sym.offsetOf('st_value')]).toEqual([40, 62, 56, 8]);
  });

  it('ctx and out structs', () => {
    expect(SyscallCtx.size).toBe(40);
    expect([SyscallCtx.offsetOf('daxdev'), SyscallCtx.offsetOf('nodeid')]).toEqual([8, 32]);
    expect(FuseIomapIo.size).toBe(32);
    expect([FuseIomapIo.offsetOf('addr'), FuseIomapIo.offsetOf('type'), FuseIomapIo.offsetOf('dev')]).toEqual([16, 24, 28]);
    expect(JoanneIomapIo.size).toBe(40);
    expect(JoanneIomapIo.offsetOf('id')).toBe(32);
    expect(JoanneIomapIo.offsetOf('io')).toBe(0);
    expect([GenericHeader.size, GenericExtent.size, GenericStrip.size, GENERIC_VALUE_SIZE]).toEqual([16, 32, 16, 16 + 32 * 32 + 64 * 16]);
  });

  it('the tiny BTF is the 45-byte one the kernel accepted (bpf-tooling.md §5.10) and parses back', () => {
    const b = tinyBtf();
    expect(BtfHeader.size).toBe(24);
    expect(b.byteLength).toBe(45);
    const btf = parseBtf(b);
    expect(btf.find(BTF_KIND.INT, 'int')?.sizeOrType).toBe(4);
    expect(() => parseBtf(Buffer.alloc(24))).toThrow(/magic/);
  });
});
