// One declaration per C struct: a table of fields with explicit offsets (fixed arrays and
// nested structs included, so a struct reads like its C header). The encoder,
// decoder and size check are derived from that table, so a struct's layout is written
// exactly once and a test can pin its size against the reference.
//
// Integers up to 32 bits decode to numbers; u64/s64 decode to numbers in the safe range
// (the core works in JS numbers, exact to 2^53) and the decoder throws past it, unless
// the field is declared 'u64big', which keeps the raw BigInt (wire fields like flags).
import { InvalidError } from './errno.js';

export type FieldType =
  | 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64' | 'u64big'
  | { readonly bytes: number } // raw bytes (uuids, reserved areas)
  | { readonly cstring: number } // NUL-padded string of fixed capacity
  | { readonly struct: CStruct<Fields> } // a nested struct, declared once on its own
  | { readonly array: FieldType; readonly count: number }; // T name[count]

export interface Field<N extends string = string> {
  readonly name: N;
  readonly offset: number;
  readonly type: FieldType;
}

type ValueOf<T extends FieldType> = T extends 'u64big'
  ? bigint
  : T extends { bytes: number }
    ? Uint8Array
    : T extends { cstring: number }
      ? string
      : T extends { struct: CStruct<infer G> }
        ? StructValue<G>
        : T extends { array: infer E extends FieldType }
          ? ValueOf<E>[]
          : number;

/** What encode takes for a field: nested structs and array elements may be left out too. */
type InputOf<T extends FieldType> = T extends { struct: CStruct<infer G> }
  ? StructInput<G>
  : T extends { array: infer E extends FieldType }
    ? readonly (InputOf<E> | undefined)[]
    : ValueOf<T>;

type Fields = readonly Field[];
export type StructValue<F extends Fields> = { [K in F[number] as K['name']]: ValueOf<K['type']> };
/** A struct value with any field (at any depth) left out: those bytes are not written. */
export type StructInput<F extends Fields> = { [K in F[number] as K['name']]?: InputOf<K['type']> };

export function fieldSize(t: FieldType): number {
  if (typeof t === 'object') {
    if ('bytes' in t) return t.bytes;
    if ('cstring' in t) return t.cstring;
    if ('struct' in t) return t.struct.size;
    return fieldSize(t.array) * t.count;
  }
  switch (t) {
    case 'u8': return 1;
    case 'u16': return 2;
    case 'u32': case 's32': return 4;
    case 'u64': case 's64': case 'u64big': return 8;
  }
}

export class StructError extends InvalidError {}

export interface CStruct<F extends Fields> {
  readonly name: string;
  readonly size: number;
  readonly fields: F;
  /** Decode from `buf` at `at`; throws StructError when the buffer is too short. */
  decode(buf: Uint8Array, at?: number): StructValue<F>;
  /** Encode into a new zeroed buffer of `size` bytes (fields left out stay zero). */
  encode(value: StructInput<F>): Buffer;
  /** Encode into `buf` at `at`; bytes the struct does not name are left as they are. */
  encodeInto(buf: Uint8Array, value: StructInput<F>, at?: number): void;
  /** Byte offset of a field, for CRC ranges and partial updates. */
  offsetOf(name: F[number]['name']): number;
}

/**
 * `size` zero bytes from Node's buffer pool (a slice of a shared 8 KiB buffer): Buffer.alloc
 * gives each small buffer an ArrayBuffer of its own for the GC to track and free, and the
 * mount makes several per request (reply bodies, struct encodes, log entries).
 */
export function zeroed(size: number): Buffer {
  return Buffer.allocUnsafe(size).fill(0);
}

// A DataView over a whole ArrayBuffer, kept for the next call on the same buffer: every FUSE
// request decodes a struct from one of the few receive buffers the session reuses, and a new
// DataView per call was a measurable share of a request's cost (bench/meta-mount/README.md).
// Reads and writes go through it at buf.byteOffset + offset.
// Four are kept, most recent first: a request is decoded from a receive buffer while its reply
// is encoded into Node's buffer pool, and one slot made a new DataView at every switch.
const VIEWS = 4;
const viewedBuffers: (ArrayBufferLike | undefined)[] = new Array<ArrayBufferLike | undefined>(VIEWS).fill(undefined);
const viewedAs: (DataView | undefined)[] = new Array<DataView | undefined>(VIEWS).fill(undefined);
function view(buf: Uint8Array): DataView {
  const b = buf.buffer;
  if (viewedBuffers[0] === b) return viewedAs[0]!;
  let i = 1;
  while (i < VIEWS && viewedBuffers[i] !== b) i++;
  const dv = i < VIEWS ? viewedAs[i]! : new DataView(b);
  // Move it to the front (the last slot falls out when it is new).
  for (let k = Math.min(i, VIEWS - 1); k > 0; k--) {
    viewedBuffers[k] = viewedBuffers[k - 1];
    viewedAs[k] = viewedAs[k - 1];
  }
  viewedBuffers[0] = b;
  viewedAs[0] = dv;
  return dv;
}

/**
 * A u64 wire field as a BigInt, read through the cached DataView: Buffer's readBigUInt64LE
 * builds it from several intermediate BigInts, and every request's unique is one.
 */
export function getU64Big(buf: Uint8Array, at: number): bigint {
  return view(buf).getBigUint64(buf.byteOffset + at, true);
}

/** Store a u64 BigInt (a reply's unique) through the cached DataView, with no intermediate BigInts. */
export function setU64Big(buf: Uint8Array, at: number, v: bigint): void {
  view(buf).setBigUint64(buf.byteOffset + at, v, true);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** The largest high half of a u64 that is still a safe integer (2^53 - 1 >> 32). */
export const HI_SAFE = 0x1fffff;

/**
 * The little-endian u64 at byte `p` of `dv` as a number, or undefined past 2^53: read as two
 * 32-bit halves, so no BigInt is made for the common (safe) value.
 */
export function readU64(dv: DataView, p: number): number | undefined {
  const hi = dv.getUint32(p + 4, true);
  return hi > HI_SAFE ? undefined : hi * 0x1_0000_0000 + dv.getUint32(p, true);
}

/** Store a safe non-negative integer as a little-endian u64 at byte `p`, as two 32-bit halves. */
export function writeU64(dv: DataView, p: number, v: number): void {
  dv.setUint32(p, v % 0x1_0000_0000, true);
  dv.setUint32(p + 4, Math.floor(v / 0x1_0000_0000), true);
}

/**
 * Store a safe non-negative integer as a little-endian u64 at byte `at` of a Buffer, as two
 * 32-bit halves (for encoders that write into a Buffer, not a DataView; no range check).
 */
export function putU64(buf: Buffer, at: number, v: number): void {
  buf.writeUInt32LE(v % 0x1_0000_0000, at);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), at + 4);
}

/** readU64 of a buffer's bytes `at`, through the cached DataView. */
export function getU64(buf: Uint8Array, at: number): number | undefined {
  return readU64(view(buf), buf.byteOffset + at);
}

/**
 * Define a little-endian C struct. `size` is the sizeof the reference gives; the table
 * is checked against it (no field may overlap another or run past the end).
 */
export function defineStruct<const F extends Fields>(name: string, size: number, fields: F): CStruct<F> {
  const sorted = [...fields].sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const f of sorted) {
    if (f.offset < end) throw new StructError(`${name}.${f.name} at ${f.offset} overlaps the previous field`);
    end = f.offset + fieldSize(f.type);
  }
  if (end > size) throw new StructError(`${name}: fields end at ${end}, past sizeof ${size}`);
  const byName = new Map(fields.map((f) => [f.name, f]));
  // Each field's name for error messages, made once (a string built per field per call was
  // a share of every request's garbage).
  const labels = fields.map((f) => `${name}.${f.name}`);

  // The last value decoded, held to keep its shape (a chain of maps no live object may hold
  // between bursts) alive, and the code compiled for it (Dispatcher.lastRequest).
  let last: unknown;
  const decode = (buf: Uint8Array, at = 0): StructValue<F> => {
    if (at < 0 || buf.byteLength - at < size) {
      throw new StructError(`${name}: need ${size} bytes at ${at}, have ${Math.max(0, buf.byteLength - at)}`);
    }
    const dv = view(buf);
    const base = buf.byteOffset;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      out[f.name] = readField(buf, dv, base, at + f.offset, f.type, labels[i]!);
    }
    last = out;
    return out as StructValue<F>;
  };

  const encodeInto = (buf: Uint8Array, value: StructInput<F>, at = 0): void => {
    if (at < 0 || buf.byteLength - at < size) throw new StructError(`${name}: no room for ${size} bytes at ${at}`);
    const dv = view(buf);
    const base = buf.byteOffset;
    const vals = value as Record<string, unknown>;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = vals[f.name];
      if (v !== undefined) writeField(buf, dv, base, at + f.offset, f.type, v, labels[i]!);
    }
  };

  void last;
  return {
    name,
    size,
    fields,
    decode,
    encodeInto,
    encode(value: StructInput<F>) {
      const buf = zeroed(size);
      encodeInto(buf, value, 0);
      return buf;
    },
    offsetOf(n) {
      const f = byName.get(n);
      if (!f) throw new StructError(`${name} has no field ${n}`);
      return f.offset;
    },
  };
}

/**
 * The name of element i of an array field, for error messages: made once per element, not
 * at every encode and decode (famfs log entries carry arrays of extents and strips).
 */
const elementLabels = new Map<string, string[]>();
function elementLabel(what: string, i: number): string {
  let labels = elementLabels.get(what);
  if (!labels) elementLabels.set(what, (labels = []));
  return (labels[i] ??= `${what}[${i}]`);
}

/** Field `t` at buf offset `o`; `dv` views buf's whole ArrayBuffer, where buf starts at `base`. */
function readField(buf: Uint8Array, dv: DataView, base: number, o: number, t: FieldType, what: string): unknown {
  if (typeof t === 'object') {
    if ('struct' in t) return t.struct.decode(buf, o);
    if ('array' in t) {
      const step = fieldSize(t.array);
      const items = new Array<unknown>(t.count);
      for (let i = 0; i < t.count; i++) items[i] = readField(buf, dv, base, o + i * step, t.array, elementLabel(what, i));
      return items;
    }
    const n = fieldSize(t);
    if ('bytes' in t) return Uint8Array.prototype.slice.call(buf, o, o + n);
    const raw = buf.subarray(o, o + n);
    const nul = raw.indexOf(0);
    return Buffer.from(raw.buffer, raw.byteOffset, nul < 0 ? n : nul).toString('utf8');
  }
  const p = base + o;
  switch (t) {
    case 'u8': return dv.getUint8(p);
    case 'u16': return dv.getUint16(p, true);
    case 'u32': return dv.getUint32(p, true);
    case 's32': return dv.getInt32(p, true);
    case 'u64big': return dv.getBigUint64(p, true);
    case 'u64': {
      const v = readU64(dv, p);
      if (v === undefined) throw new StructError(`${what} = ${dv.getBigUint64(p, true)} is past 2^53, which famfs-ts cannot address exactly`);
      return v;
    }
    case 's64': {
      const v = dv.getBigInt64(p, true);
      if (v > MAX_SAFE || v < -MAX_SAFE) throw new StructError(`${what} = ${v} is outside ±2^53`);
      return Number(v);
    }
  }
}

function writeField(buf: Uint8Array, dv: DataView, base: number, o: number, t: FieldType, v: unknown, what: string): void {
  if (typeof t === 'object') {
    if ('struct' in t) return t.struct.encodeInto(buf, v as StructInput<Fields>, o);
    if ('array' in t) {
      const items = v as readonly unknown[];
      if (items.length > t.count) throw new StructError(`${what}: ${items.length} elements do not fit in ${t.count}`);
      const step = fieldSize(t.array);
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        if (item !== undefined) writeField(buf, dv, base, o + i * step, t.array, item, elementLabel(what, i));
      }
      return;
    }
    const n = fieldSize(t);
    const bytes = 'bytes' in t ? (v as Uint8Array) : Buffer.from(v as string, 'utf8');
    // A cstring keeps room for its NUL; raw bytes must fit exactly.
    const cap = 'bytes' in t ? n : n - 1;
    if (bytes.byteLength > cap) throw new StructError(`${what}: ${bytes.byteLength} bytes do not fit in ${cap}`);
    buf.fill(0, o, o + n);
    buf.set(bytes, o);
    return;
  }
  const num = v as number | bigint;
  const p = base + o;
  switch (t) {
    case 'u8': dv.setUint8(p, checked(num, 0, 0xff, t, what)); break;
    case 'u16': dv.setUint16(p, checked(num, 0, 0xffff, t, what), true); break;
    case 'u32': dv.setUint32(p, checked(num, 0, 0xffffffff, t, what), true); break;
    case 's32': dv.setInt32(p, checked(num, -0x80000000, 0x7fffffff, t, what), true); break;
    case 'u64':
    case 'u64big': {
      if (typeof num === 'number' && Number.isSafeInteger(num) && num >= 0) {
        // No BigInt made for a number (every nodeid, size and offset).
        writeU64(dv, p, num);
        break;
      }
      const b = BigInt(num);
      if (b < 0n || b > 0xffffffffffffffffn) throw new StructError(`${what}: ${num} does not fit u64`);
      dv.setBigUint64(p, b, true);
      break;
    }
    case 's64': dv.setBigInt64(p, BigInt(num), true); break;
  }
}

/** `num` as a number within [lo, hi], or a StructError naming the field. */
function checked(num: number | bigint, lo: number, hi: number, t: FieldType, what: string): number {
  const x = Number(num);
  if (!Number.isInteger(x) || x < lo || x > hi) throw new StructError(`${what}: ${num} does not fit ${String(t)}`);
  return x;
}
