/*
 * walbuf.h - a SQLite VFS that gathers the appends to a WAL file into one write.
 *
 * Open a database with the VFS named WALBUF_VFS (sqlite3_open_v2's last argument) after
 * walbuf_register() succeeded. Only WAL files are buffered; every other file is the default
 * VFS's own. Sound only with PRAGMA synchronous=FULL or EXTRA, and when a failed COMMIT is
 * rolled back, never retried (see walbuf.c).
 */
#ifndef PU_WALBUF_H
#define PU_WALBUF_H

#include <sqlite3.h>

#define WALBUF_VFS "puente-walbuf"

/* Register the VFS once per process (thread-safe): SQLITE_OK, or an SQLite error code. */
int walbuf_register(void);

#endif
