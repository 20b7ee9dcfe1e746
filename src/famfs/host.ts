// The host identity that decides master or client (famfs-format.md §2.3): the text UUID in
// /opt/famfs/system_uuid, created like famfs when missing (dir 0755, file 0444, the UUID
// text plus a NUL). `--system-uuid FILE` points elsewhere so one machine can play several hosts.
import fs from 'node:fs';
import path from 'node:path';
import { formatUuid, parseUuid, randomUuid, UuidError } from './uuid.js';

export const SYSTEM_UUID_FILE = '/opt/famfs/system_uuid';

export type Role = 'master' | 'client';

/** Read the system UUID from `file`, creating it (as famfs does) when it does not exist. */
export function systemUuid(file = SYSTEM_UUID_FILE, create = true): Uint8Array {
  if (!fs.existsSync(file)) {
    if (!create) throw new UuidError(`${file}: no system UUID file`);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(file, Buffer.concat([Buffer.from(formatUuid(randomUuid())), Buffer.from([0])]), { mode: 0o444, flag: 'wx' });
  }
  // fscanf("%36s"): the first whitespace-delimited token, at most 36 characters.
  const text = fs.readFileSync(file).toString('latin1').replace(/\0.*$/s, '');
  const token = (text.trim().split(/\s+/)[0] ?? '').slice(0, 36);
  try {
    return parseUuid(token);
  } catch (e) {
    throw new UuidError(`${file}: Error parsing UUID (${token})`, { cause: e });
  }
}
