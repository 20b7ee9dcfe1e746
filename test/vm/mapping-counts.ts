// Reads the server's "requests on the main thread: LOOKUP 3, GET_FMAP 2, ..." line (logged at
// unmount, src/server/serve.ts) into counts by opcode name.
export function parseCounts(line: string): Record<string, number> {
  const m = /requests on the main thread: (.*)$/m.exec(line);
  if (!m || m[1] === 'none') return {};
  const out: Record<string, number> = {};
  for (const part of m[1].split(', ')) {
    const k = part.lastIndexOf(' ');
    out[part.slice(0, k)] = Number(part.slice(k + 1));
  }
  return out;
}

/**
 * Requests the kernel sent, by opcode, from a dump of the fuse:fuse_request_send tracepoint
 * ("... fuse_request_send: connection 29 req 6 opcode 3 (FUSE_GETATTR) len 56"): the
 * kernel's own count, independent of the server's.
 */
export function kernelOpcodes(dump: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of dump.matchAll(/ fuse_request_send: .* opcode (\d+) /g)) {
    const op = Number(m[1]);
    out.set(op, (out.get(op) ?? 0) + 1);
  }
  return out;
}

/** FUSE_READ and FUSE_WRITE (fuse-iomap-abi.md §2). */
export const FUSE_READ = 15;
export const FUSE_WRITE = 16;
