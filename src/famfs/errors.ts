// Errors of image operations carry the errno famfs would return, so the CLI can exit with
// famfs's status (exit_val = min(|rc|, 127), reference §6).
import os from 'node:os';

export type Errno = 'ENOMEM' | 'EINVAL' | 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'EBUSY' | 'EPERM' | 'EROFS' | 'EIO' | 'ENAMETOOLONG' | 'ENOSPC' | 'EBADF';

export class ImageError extends Error {
  constructor(message: string, readonly errno: Errno = 'EINVAL') {
    super(message);
  }
  /** famfs exit status for this error. */
  get exitCode(): number {
    return Math.min(os.constants.errno[this.errno] ?? 1, 127);
  }
}
