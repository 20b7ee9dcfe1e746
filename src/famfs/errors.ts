// Errors of image operations carry the errno famfs would return, so the CLI can exit with
// famfs's status (exit_val = min(|rc|, 127), famfs-format.md §6).
import { ErrnoError } from '../errno.js';

/** The errnos image operations fail with (each is also an ErrnoError's Errno). */
export type ImageErrno = 'ENOMEM' | 'EINVAL' | 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'EBUSY' | 'EPERM' | 'EROFS' | 'EIO' | 'ENAMETOOLONG' | 'ENOSPC' | 'EBADF';

/** The former name of ImageErrno, kept so code written against it still compiles. */
export type Errno = ImageErrno;

export class ImageError extends ErrnoError {
  constructor(message: string, readonly errno: ImageErrno = 'EINVAL', options?: ErrorOptions) {
    super(message, errno, options);
  }
  /** famfs exit status for this error. */
  get exitCode(): number {
    return this.errnoValue.exitCode;
  }
}
