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
