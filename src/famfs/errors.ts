// Errors of image operations carry the errno famfs would return, so the CLI can exit with
// famfs's status (exit_val = min(|rc|, 127), famfs-format.md §6).
import { ErrnoError } from '../errno.js';

export type Errno = 'ENOMEM' | 'EINVAL' | 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'EBUSY' | 'EPERM' | 'EROFS' | 'EIO' | 'ENAMETOOLONG' | 'ENOSPC' | 'EBADF';

export class ImageError extends ErrnoError {
  constructor(message: string, readonly errno: Errno = 'EINVAL', options?: ErrorOptions) {
    super(message, errno, options);
  }
  /** famfs exit status for this error. */
  get exitCode(): number {
    return this.errnoValue.exitCode;
  }
}
