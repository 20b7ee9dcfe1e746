// Extended attributes through libc: the mount's control attributes (user.famfs.logplay,
// user.famfs.interleave, user.famfs.map) are read and set with these.
import { libc, check } from './libc.js';

const getxattrFn = libc.func('int64_t getxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)');
const setxattrFn = libc.func('int setxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)');

/** The value of attribute `name` of `path` (up to `max` bytes); throws SysError (ENODATA, ...). */
export function getXattr(path: string, name: string, max = 64 * 1024): Buffer {
  const buf = Buffer.alloc(max);
  const n = check('getxattr', getxattrFn(path, name, buf, buf.length) as number, `${name} of ${path}`);
  return buf.subarray(0, n);
}

export function setXattr(path: string, name: string, value: string | Uint8Array, flags = 0): void {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  check('setxattr', setxattrFn(path, name, v, v.byteLength, flags) as number, `${name} of ${path}`);
}
