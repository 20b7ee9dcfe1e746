// A reader of kernel BTF (/sys/kernel/btf/vmlinux and module split BTF), enough to find
// struct_ops types, their members and offsets, and kfuncs by name (bpf-tooling.md §6 step 1).
// Format: include/uapi/linux/btf.h; a 24-byte header, type records, a string section.
import { defineStruct } from '../cstruct.js';
import { InvalidError } from '../errno.js';

export const BtfHeader = defineStruct('btf_header', 24, [
  { name: 'magic', offset: 0, type: 'u16' },
  { name: 'version', offset: 2, type: 'u8' },
  { name: 'flags', offset: 3, type: 'u8' },
  { name: 'hdr_len', offset: 4, type: 'u32' },
  { name: 'type_off', offset: 8, type: 'u32' },
  { name: 'type_len', offset: 12, type: 'u32' },
  { name: 'str_off', offset: 16, type: 'u32' },
  { name: 'str_len', offset: 20, type: 'u32' },
] as const);

export const BTF_MAGIC = 0xeb9f;
export const BTF_KIND = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16,
  DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

export class BtfError extends InvalidError {}

export interface BtfMember {
  readonly name: string;
  readonly type: number;
  /** Byte offset in the struct (bitfields are not needed here and are reported floored). */
  readonly offset: number;
}

export interface BtfType {
  readonly id: number;
  readonly kind: number;
  readonly name: string;
  /** Size for INT/STRUCT/UNION/ENUM; referenced type for PTR/TYPEDEF/FUNC/... */
  readonly sizeOrType: number;
  readonly members?: readonly BtfMember[];
}

export class Btf {
  private readonly byName = new Map<string, BtfType[]>();
  constructor(readonly types: readonly (BtfType | undefined)[], readonly base?: Btf) {
    for (const t of types) {
      if (!t || !t.name) continue;
      const list = this.byName.get(t.name);
      if (list) list.push(t);
      else this.byName.set(t.name, [t]);
    }
  }

  /** Type by id, looking through to the base BTF for split (module) BTF. */
  type(id: number): BtfType | undefined {
    return this.types[id] ?? this.base?.type(id);
  }

  find(kind: number, name: string): BtfType | undefined {
    return this.byName.get(name)?.find((t) => t.kind === kind) ?? this.base?.find(kind, name);
  }

  struct(name: string): BtfType | undefined {
    return this.find(BTF_KIND.STRUCT, name);
  }

  /** Member index and byte offset of `member` in struct `name`. */
  member(structName: string, member: string): { index: number; offset: number } | undefined {
    const t = this.struct(structName);
    const index = t?.members?.findIndex((m) => m.name === member) ?? -1;
    if (!t || index < 0) return undefined;
    return { index, offset: t.members![index]!.offset };
  }

  /** Number of type ids this BTF (with its base) spans, for the next split BTF's first id. */
  get count(): number {
    return this.types.length;
  }
}

/**
 * Parse BTF bytes. `base` is vmlinux's BTF when parsing a module's split BTF: ids then
 * continue after the base's, and string offsets past the base's strings are the module's.
 */
export function parseBtf(bytes: Uint8Array, base?: Btf, baseStrings?: Uint8Array): Btf {
  const h = BtfHeader.decode(bytes);
  if (h.magic !== BTF_MAGIC) throw new BtfError(`BTF magic 0x${h.magic.toString(16)}, expected 0x${BTF_MAGIC.toString(16)}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tStart = h.hdr_len + h.type_off;
  const tEnd = tStart + h.type_len;
  const sStart = h.hdr_len + h.str_off;
  if (tEnd > bytes.byteLength || sStart + h.str_len > bytes.byteLength) throw new BtfError('BTF sections run past the data');
  const baseLen = baseStrings?.byteLength ?? 0;
  const str = (off: number): string => {
    const [buf, at] = off < baseLen ? [baseStrings!, off] : [bytes, sStart + off - baseLen];
    let end = at;
    while (end < buf.byteLength && buf[end] !== 0) end++;
    return Buffer.from(buf.buffer, buf.byteOffset + at, end - at).toString('latin1');
  };
  const types: (BtfType | undefined)[] = base ? new Array<BtfType | undefined>(base.count) : [undefined];
  let o = tStart;
  while (o < tEnd) {
    const nameOff = dv.getUint32(o, true);
    const info = dv.getUint32(o + 4, true);
    const sizeOrType = dv.getUint32(o + 8, true);
    const vlen = info & 0xffff;
    const kind = (info >>> 24) & 0x1f;
    const kflag = info >>> 31;
    o += 12;
    const id = types.length;
    let members: BtfMember[] | undefined;
    switch (kind) {
      case BTF_KIND.INT: case BTF_KIND.VAR: case BTF_KIND.DECL_TAG: o += 4; break;
      case BTF_KIND.ARRAY: o += 12; break;
      case BTF_KIND.STRUCT: case BTF_KIND.UNION:
        members = [];
        for (let k = 0; k < vlen; k++, o += 12) {
          const bits = dv.getUint32(o + 8, true);
          const bitOff = kflag ? bits & 0xffffff : bits;
          members.push({ name: str(dv.getUint32(o, true)), type: dv.getUint32(o + 4, true), offset: Math.floor(bitOff / 8) });
        }
        break;
      case BTF_KIND.ENUM: o += 8 * vlen; break;
      case BTF_KIND.FUNC_PROTO: o += 8 * vlen; break;
      case BTF_KIND.DATASEC: o += 12 * vlen; break;
      case BTF_KIND.ENUM64: o += 12 * vlen; break;
      case BTF_KIND.PTR: case BTF_KIND.FWD: case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST:
      case BTF_KIND.RESTRICT: case BTF_KIND.FUNC: case BTF_KIND.FLOAT: case BTF_KIND.TYPE_TAG:
        break;
      default:
        throw new BtfError(`BTF type ${id}: unknown kind ${kind}`);
    }
    types.push({ id, kind, name: str(nameOff), sizeOrType, ...(members ? { members } : {}) });
  }
  return new Btf(types, base);
}

/** The string section of a BTF blob (a module's split BTF resolves names against it). */
export function btfStrings(bytes: Uint8Array): Uint8Array {
  const h = BtfHeader.decode(bytes);
  return bytes.subarray(h.hdr_len + h.str_off, h.hdr_len + h.str_off + h.str_len);
}

/**
 * The smallest valid BTF (one 32-bit INT "int"): the kernel wants a btf_fd on a STRUCT_OPS
 * map even though the value type is the kernel's (bpf-tooling.md §5.10). 45 bytes.
 */
export function tinyBtf(): Buffer {
  const strings = Buffer.from('\0int\0', 'latin1');
  const type = Buffer.alloc(16);
  type.writeUInt32LE(1, 0); // name "int"
  type.writeUInt32LE(BTF_KIND.INT << 24, 4);
  type.writeUInt32LE(4, 8); // size
  type.writeUInt32LE(32, 12); // encoding: 32 bits, offset 0, unsigned
  const hdr = BtfHeader.encode({ magic: BTF_MAGIC, version: 1, flags: 0, hdr_len: 24, type_off: 0, type_len: 16, str_off: 16, str_len: strings.byteLength });
  return Buffer.concat([hdr, type, strings]);
}
