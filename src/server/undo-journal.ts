// The bytes an open file description overwrote in a committed file, kept until its RELEASE so
// that a request famfs must refuse after them (a truncation below the size, a write past it)
// can put the file back as it was before answering: a rewriter then ends with the old content
// intact, never new bytes over an old tail (README "What a program sees through the mount").
//
// The journal lives in a SharedArrayBuffer: the serving threads answer a committed file's
// WRITEs (data-plane.ts) and the main thread its SETATTR, so both append to it and either may
// undo it. Layout: an Int32 header [state, bytes reserved], then records from RECORDS_AT, each
// [file offset f64][length u32][pad u32][the old bytes, padded to 8].
import os from 'node:os';
import { FuseError } from '../fuse/filesystem.js';
import { resolveRange, type FileMap } from '../interleave/filemap.js';
import { writeCommitted, writeMapped, type DaxdevLookup } from './file-io.js';

/**
 * At most this many old bytes are kept per open file description (held in memory). A
 * description that rewrites more cannot be undone: a later refusal through it leaves the
 * file as written so far, and says so in its message and the mount log.
 */
export const UNDO_LIMIT = 64 * 1024 * 1024;

const STATE = 0;
const RESERVED = 1;
const RECORDS_AT = 16;
const RECORD_HEAD = 16;

const enum State {
  Live = 0,
  /** More was overwritten than the journal holds: it can no longer undo. */
  Overflowed = 1,
  /** Undone (or refused while overflowed): the description writes nothing more. */
  Refused = 2,
}

/** The largest page-cache folio (PMD size, 2 MiB on x86-64; folios are aligned to their size). */
const FOLIO_MAX = 2 * 1024 * 1024;

const pad8 = (n: number): number => (n + 7) & ~7;

export class UndoJournal {
  private readonly head: Int32Array;
  private readonly view: DataView;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.head = new Int32Array(buffer, 0, 2);
    this.view = new DataView(buffer);
  }

  /** A journal for a description of a file of `size` bytes: room to save it about twice over, at most UNDO_LIMIT. */
  static forFile(size: number): UndoJournal {
    const room = Math.min(UNDO_LIMIT, 2 * size + 64 * 1024);
    return new UndoJournal(new SharedArrayBuffer(RECORDS_AT + room));
  }

  get refused(): boolean {
    return Atomics.load(this.head, STATE) === State.Refused;
  }

  get overflowed(): boolean {
    return Atomics.load(this.head, STATE) === State.Overflowed;
  }

  /** Old bytes saved so far. */
  get savedBytes(): number {
    let n = 0;
    for (const r of this.records()) n += r.length;
    return n;
  }

  /** Save file bytes [offset, offset+length) of `map` before a write stores over them. */
  save(map: FileMap, dev: DaxdevLookup, offset: number, length: number): void {
    if (length <= 0 || Atomics.load(this.head, STATE) !== State.Live) return;
    const need = RECORD_HEAD + pad8(length);
    const at = RECORDS_AT + Atomics.add(this.head, RESERVED, need);
    if (at + need > this.buffer.byteLength) {
      Atomics.compareExchange(this.head, STATE, State.Live, State.Overflowed);
      return;
    }
    const data = Buffer.from(this.buffer, at + RECORD_HEAD, length);
    for (const m of resolveRange(map, offset, length)) {
      const d = dev(m.daxdev);
      // Another host may have stored there (README "Caches on shared memory").
      d.invalidate(m.offset, m.length);
      d.read(m.offset, data.subarray(m.pos - offset, m.pos - offset + m.length));
    }
    this.view.setFloat64(at, offset, true);
    this.view.setUint32(at + 8, length, true);
  }

  private *records(): Generator<{ offset: number; length: number; at: number }> {
    const end = RECORDS_AT + Math.min(Atomics.load(this.head, RESERVED), this.buffer.byteLength - RECORDS_AT);
    for (let at = RECORDS_AT; at + RECORD_HEAD <= end; ) {
      const length = this.view.getUint32(at + 8, true);
      const offset = this.view.getFloat64(at, true);
      if (at + RECORD_HEAD + length > end) break;
      yield { offset, length, at: at + RECORD_HEAD };
      at += RECORD_HEAD + pad8(length);
    }
  }

  /**
   * Put every saved byte back (newest first, so the oldest copy of a range rewritten twice is
   * what stays) and refuse the description from now on. Returns the bytes put back and the
   * span of file offsets they cover, or undefined when the journal overflowed and the file
   * stays as written.
   */
  undo(map: FileMap, dev: DaxdevLookup): Undone | undefined {
    const was = Atomics.exchange(this.head, STATE, State.Refused);
    if (was === State.Overflowed) return undefined;
    const all = was === State.Refused ? [] : [...this.records()];
    const out: Undone = { bytes: 0, from: Infinity, to: 0 };
    for (let i = all.length - 1; i >= 0; i--) {
      const r = all[i]!;
      writeMapped(map, dev, r.offset, Buffer.from(this.buffer, r.at, r.length));
      out.bytes += r.length;
      out.from = Math.min(out.from, r.offset);
      out.to = Math.max(out.to, r.offset + r.length);
    }
    return out;
  }
}

/** What undo() put back: bytes, and the file range [from, to) they lie in. */
export interface Undone {
  bytes: number;
  from: number;
  to: number;
}

/** What a refusal through a journaled description says about the file's bytes. */
export function undoOutcome(undone: Undone | undefined): string {
  if (undone === undefined) return `this open file rewrote more than ${UNDO_LIMIT >> 20} MiB before it, which cannot be undone: the file holds what it wrote`;
  if (undone.bytes === 0) return 'the file is as it was';
  return `the ${undone.bytes} bytes this open file had rewritten were put back: the file is as it was`;
}

/**
 * A write to a committed file through a description that may hold a journal: refused (EPERM)
 * once the description was refused; a write ending past the size gets EFBIG whole, after the
 * description's earlier writes are undone (`undone` then tells the kernel to drop its cached
 * pages of the file); otherwise the old bytes are saved and the new ones stored.
 */
export function writeCommittedUndoable(
  name: string, map: FileMap, dev: DaxdevLookup, offset: number, data: Buffer, journal: UndoJournal | undefined,
  undone: (from: number, to: number) => void,
): number {
  if (!journal) return writeCommitted(name, map, dev, offset, data);
  if (journal.refused) {
    throw new FuseError(os.constants.errno.EPERM, `${name}: an earlier request through this open file was refused; it writes nothing more`);
  }
  if (offset + data.length > map.size) {
    const n = journal.undo(map, dev);
    if (n?.bytes) {
      // The kernel holds this write's folios locked until the reply: dropping them now would
      // wait for that reply (deadlock). It marks them not up to date itself when the write
      // fails; cached bytes near them are dropped at the description's next FLUSH (close).
      const lo = Math.floor(offset / FOLIO_MAX) * FOLIO_MAX;
      const hi = Math.ceil((offset + data.length) / FOLIO_MAX) * FOLIO_MAX;
      if (n.from < lo) undone(n.from, Math.min(n.to, lo));
      if (n.to > hi) undone(Math.max(n.from, hi), n.to);
    }
    throw new FuseError(
      os.constants.errno.EFBIG,
      `${name}: a write of ${data.length} bytes at ${offset} would end past the size ${map.size}: famfs files cannot grow after they are committed; ${undoOutcome(n)}`,
    );
  }
  journal.save(map, dev, offset, data.length);
  writeMapped(map, dev, offset, data);
  return data.length;
}
