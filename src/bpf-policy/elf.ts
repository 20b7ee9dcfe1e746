// A minimal relocatable BPF ELF object that libbpf 1.1 / bpftool 7.1 accept
// (reference bpf-tooling.md §2.1): .strtab, the program section, license, .symtab (the
// program as a GLOBAL FUNC symbol), .shstrtab. No BTF and no relocations, so programs that
// name a map (the generic program) are refused: libbpf would need BTF-defined .maps.
import { defineStruct } from '../cstruct.js';
import { PSEUDO_MAP_FD, isLddw } from './isa.js';
import { programBytes, type BpfProgram } from './program.js';
import { InvalidError } from '../errno.js';

export const Elf64Ehdr = defineStruct('Elf64_Ehdr', 64, [
  { name: 'e_ident', offset: 0, type: { bytes: 16 } },
  { name: 'e_type', offset: 16, type: 'u16' },
  { name: 'e_machine', offset: 18, type: 'u16' },
  { name: 'e_version', offset: 20, type: 'u32' },
  { name: 'e_entry', offset: 24, type: 'u64' },
  { name: 'e_phoff', offset: 32, type: 'u64' },
  { name: 'e_shoff', offset: 40, type: 'u64' },
  { name: 'e_flags', offset: 48, type: 'u32' },
  { name: 'e_ehsize', offset: 52, type: 'u16' },
  { name: 'e_phentsize', offset: 54, type: 'u16' },
  { name: 'e_phnum', offset: 56, type: 'u16' },
  { name: 'e_shentsize', offset: 58, type: 'u16' },
  { name: 'e_shnum', offset: 60, type: 'u16' },
  { name: 'e_shstrndx', offset: 62, type: 'u16' },
] as const);

export const Elf64Shdr = defineStruct('Elf64_Shdr', 64, [
  { name: 'sh_name', offset: 0, type: 'u32' },
  { name: 'sh_type', offset: 4, type: 'u32' },
  { name: 'sh_flags', offset: 8, type: 'u64' },
  { name: 'sh_addr', offset: 16, type: 'u64' },
  { name: 'sh_offset', offset: 24, type: 'u64' },
  { name: 'sh_size', offset: 32, type: 'u64' },
  { name: 'sh_link', offset: 40, type: 'u32' },
  { name: 'sh_info', offset: 44, type: 'u32' },
  { name: 'sh_addralign', offset: 48, type: 'u64' },
  { name: 'sh_entsize', offset: 56, type: 'u64' },
] as const);

export const Elf64Sym = defineStruct('Elf64_Sym', 24, [
  { name: 'st_name', offset: 0, type: 'u32' },
  { name: 'st_info', offset: 4, type: 'u8' },
  { name: 'st_other', offset: 5, type: 'u8' },
  { name: 'st_shndx', offset: 6, type: 'u16' },
  { name: 'st_value', offset: 8, type: 'u64' },
  { name: 'st_size', offset: 16, type: 'u64' },
] as const);

const EM_BPF = 247;
const ET_REL = 1;
const SHT = { PROGBITS: 1, SYMTAB: 2, STRTAB: 3 } as const;
const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4 } as const;
const STB_GLOBAL = 1;
const STT = { OBJECT: 1, FUNC: 2 } as const;

export class ElfError extends InvalidError {}

/** A string table under construction: offsets of added names. */
class StrTab {
  private readonly parts: Buffer[] = [Buffer.from([0])];
  private size = 1;
  add(s: string): number {
    const at = this.size;
    const b = Buffer.from(`${s}\0`, 'latin1');
    this.parts.push(b);
    this.size += b.byteLength;
    return at;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** The program as an ELF object for `bpftool prog load` / llvm-objdump. */
export function toElf(p: BpfProgram): Buffer {
  if (p.insns.some((i) => isLddw(i.code) && i.src === PSEUDO_MAP_FD)) {
    throw new ElfError(`${p.name} references a map by fd; an ELF object would need BTF-defined .maps, which famfs-ts does not write (load it with \`famfs-ts bpf verify\` instead)`);
  }
  const code = programBytes(p);
  const license = Buffer.from(`${p.shell.license}\0`, 'latin1');
  const strtab = new StrTab();
  const licenseSym = strtab.add('_license');
  const progSym = strtab.add(p.name);
  const shstr = new StrTab();
  const names = ['.strtab', p.shell.section, 'license', '.symtab', '.shstrtab'].map((n) => shstr.add(n));
  const symtab = Buffer.concat([
    Elf64Sym.encode({}),
    Elf64Sym.encode({ st_name: licenseSym, st_info: (STB_GLOBAL << 4) | STT.OBJECT, st_shndx: 3, st_size: license.byteLength }),
    Elf64Sym.encode({ st_name: progSym, st_info: (STB_GLOBAL << 4) | STT.FUNC, st_shndx: 2, st_size: code.byteLength }),
  ]);
  const strBytes = strtab.bytes();
  const shstrBytes = shstr.bytes();
  // Layout: header, then sections 8-aligned, then the section header table.
  const bodies = [strBytes, code, license, symtab, shstrBytes];
  const offsets: number[] = [];
  let at = Elf64Ehdr.size;
  for (const b of bodies) {
    at = align(at, 8);
    offsets.push(at);
    at += b.byteLength;
  }
  const shoff = align(at, 8);
  const out = Buffer.alloc(shoff + 6 * Elf64Shdr.size);
  const ident = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2 /* 64-bit */, 1 /* LSB */, 1 /* EV_CURRENT */, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  Elf64Ehdr.encodeInto(out, {
    e_ident: ident, e_type: ET_REL, e_machine: EM_BPF, e_version: 1, e_shoff: shoff, e_ehsize: Elf64Ehdr.size,
    e_shentsize: Elf64Shdr.size, e_shnum: 6, e_shstrndx: 5,
  });
  bodies.forEach((b, k) => b.copy(out, offsets[k]!));
  const sh = (k: number, v: Parameters<typeof Elf64Shdr.encode>[0]) => Elf64Shdr.encodeInto(out, v, shoff + k * Elf64Shdr.size);
  sh(1, { sh_name: names[0]!, sh_type: SHT.STRTAB, sh_offset: offsets[0]!, sh_size: strBytes.byteLength, sh_addralign: 1 });
  sh(2, { sh_name: names[1]!, sh_type: SHT.PROGBITS, sh_flags: SHF.ALLOC | SHF.EXECINSTR, sh_offset: offsets[1]!, sh_size: code.byteLength, sh_addralign: 8 });
  sh(3, { sh_name: names[2]!, sh_type: SHT.PROGBITS, sh_flags: SHF.ALLOC | SHF.WRITE, sh_offset: offsets[2]!, sh_size: license.byteLength, sh_addralign: 1 });
  sh(4, { sh_name: names[3]!, sh_type: SHT.SYMTAB, sh_offset: offsets[3]!, sh_size: symtab.byteLength, sh_link: 1, sh_info: 1, sh_addralign: 8, sh_entsize: Elf64Sym.size });
  sh(5, { sh_name: names[4]!, sh_type: SHT.STRTAB, sh_offset: offsets[4]!, sh_size: shstrBytes.byteLength, sh_addralign: 1 });
  return out;
}
