/*
 * fsutil.h - files that are never half-written: write to a temporary file in the same
 * folder, fsync, then rename (replace) or link (create only), and fsync the folder.
 */
#ifndef PU_FSUTIL_H
#define PU_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FILE_CREATE 0	/* fail with PU_ERR_EXISTS when path exists */
#define FILE_REPLACE 1	/* atomically replace an existing file */

int file_write_atomic(const char *path, const void *p, size_t n, mode_t mode, int how);
/* Read a whole file of at most max bytes into a malloc'd buffer. */
int file_read_all(const char *path, size_t max, uint8_t **out, size_t *out_len);
/* PU_ERR_FILE_MODE when group or others have any access (secrets must be 0600 or 0400). */
int file_check_secret(const char *path);
/* mkdir with mode; an existing directory is fine. */
int dir_ensure(const char *path, mode_t mode);
/* fsync a folder, so that the names created or renamed in it last. */
int dir_sync(const char *dir);

#endif
