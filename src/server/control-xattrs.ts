// The extended attributes a famfs-ts mount answers on its own files and root: how the CLI
// and scripts talk to the server without a socket (README "The famfs CLI on the PATH, mounted
// paths, `status`"). Kept apart from the server so the CLI reads the names without loading it.
export const LOGPLAY_XATTR = 'user.famfs.logplay';
/** On a file: its FileMap as JSON. */
export const MAP_XATTR = 'user.famfs.map';
export const ROLE_XATTR = 'user.famfs.role';
/** On the mount root: the server's status as JSON (MountStatus); `famfs-ts status` reads it. */
export const STATUS_XATTR = 'user.famfs.status';
