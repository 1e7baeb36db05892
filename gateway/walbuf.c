/*
 * walbuf.c - a SQLite VFS that gathers the appends to a WAL file into one write (walbuf.h).
 *
 * SQLite writes a commit into its WAL with two write calls per page (the frame header, then
 * the page) and then syncs. A batch of small messages dirties hundreds of pages, and on a
 * virtual machine a system call costs more than copying a page: the writer thread made about
 * thirteen pwrite calls per message. Here the writes to a WAL file are copied into a buffer
 * while each one follows the last, and reach the file in one pwrite: when the buffer is full,
 * when a write does not follow the last one, and before anything that could look at the
 * buffered bytes (a read of them, the file's size, truncate, sync, close).
 *
 * Why SQLite's guarantees hold: SQLite never depends on the order of writes between two
 * syncs of a file (the operating system may reorder them too), and with synchronous=FULL a
 * commit is published to other connections (the wal-index header) only after the WAL is
 * synced, which flushes this buffer first. The store runs FULL and checks it (store.c).
 * A failed flush returns SQLite the error of the write that failed (SQLITE_FULL on a full
 * disk), and the transaction fails as it would have with unbuffered writes; the bytes stay
 * buffered until a flush succeeds (walbuf_flush), except when the flush was a commit's sync:
 * that commit has failed, and its frames are dropped (walbuf_sync). The caller then rolls
 * the transaction back (as the store does); it must not retry the COMMIT.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "walbuf.h"

/*
 * SQLite's unix VFS writes at most 0x1ffff bytes per call: it masks the length (os_unix.c,
 * seekAndWriteFd), so a larger write would be cut short and reported as SQLITE_FULL.
 * 124 KiB holds 30 frames of 4 KiB pages.
 */
#define WALBUF_SIZE (124 * 1024)

struct walbuf_file {
	sqlite3_file base;		/* pMethods = &walbuf_methods */
	sqlite3_file *real;		/* the underlying VFS's file, stored right after this */
	unsigned char *buf;		/* WALBUF_SIZE bytes, allocated at the first write */
	sqlite3_int64 off;		/* file offset of buf[0] */
	int len;			/* bytes in buf not yet written to the file */
};

static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *real_vfs;
static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static int walbuf_registered;

static const struct sqlite3_io_methods *
real_io(const struct walbuf_file *w)
{
	return w->real->pMethods;
}

/*
 * Write what is buffered. On failure the bytes stay buffered, so that every later flush,
 * sync or commit fails too (or succeeds once there is room): SQLite must never count
 * frames as written that the file does not hold.
 */
static int
walbuf_flush(struct walbuf_file *w)
{
	int rc;

	if (w->len == 0)
		return SQLITE_OK;
	if ((rc = real_io(w)->xWrite(w->real, w->buf, w->len, w->off)) == SQLITE_OK)
		w->len = 0;
	return rc;
}

/*
 * A flush that a read or a size query needed and that failed. SQLite answers SQLITE_FULL
 * from a read by undoing only the statement, and the transaction would go on to commit
 * without the frames earlier statements spilled into this buffer; an I/O error makes it
 * roll the whole transaction back.
 */
static int
walbuf_flush_for_read(struct walbuf_file *w)
{
	return walbuf_flush(w) == SQLITE_OK ? SQLITE_OK : SQLITE_IOERR_WRITE;
}

static int
walbuf_close(sqlite3_file *f)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc = walbuf_flush(w), close_rc;

	w->len = 0;
	close_rc = real_io(w)->xClose(w->real);
	free(w->buf);
	w->buf = NULL;
	return rc != SQLITE_OK ? rc : close_rc;
}

static int
walbuf_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc;

	/* A read of frames written before the buffer's (earlier commits) needs no flush. */
	if (w->len > 0 && off + amt > w->off && (rc = walbuf_flush_for_read(w)) != SQLITE_OK)
		return rc;
	return real_io(w)->xRead(w->real, p, amt, off);
}

static int
walbuf_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc;

	if (w->len > 0 && (off != w->off + w->len || w->len + amt > WALBUF_SIZE) &&
	    (rc = walbuf_flush(w)) != SQLITE_OK)
		return rc;
	if (amt > WALBUF_SIZE)
		return real_io(w)->xWrite(w->real, p, amt, off);
	if (w->buf == NULL && (w->buf = malloc(WALBUF_SIZE)) == NULL)
		return real_io(w)->xWrite(w->real, p, amt, off);
	if (w->len == 0)
		w->off = off;
	memcpy(w->buf + w->len, p, (size_t)amt);
	w->len += amt;
	return SQLITE_OK;
}

static int
walbuf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc;

	/* Bytes buffered past the new end are cut off anyway. */
	if (w->len > 0 && w->off >= size)
		w->len = 0;
	rc = walbuf_flush(w);
	return rc != SQLITE_OK ? rc : real_io(w)->xTruncate(w->real, size);
}

static int
walbuf_sync(sqlite3_file *f, int flags)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc = walbuf_flush(w);

	if (rc != SQLITE_OK) {
		/*
		 * The commit this sync was for has failed: SQLite does not index its frames
		 * and writes the next transaction over them. Kept, they would reach the file
		 * at the next flush, and a crash before that transaction's own frames followed
		 * would leave the failed commit whole in the WAL for recovery to find.
		 */
		w->len = 0;
		return rc;
	}
	return real_io(w)->xSync(w->real, flags);
}

static int
walbuf_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc = walbuf_flush_for_read(w);

	return rc != SQLITE_OK ? rc : real_io(w)->xFileSize(w->real, size);
}

/* The rest only pass the call on: a WAL file has no locks, and its shared memory is the
 * database file's. */
static int
walbuf_lock(sqlite3_file *f, int level)
{
	struct walbuf_file *w = (struct walbuf_file *)f;

	return real_io(w)->xLock(w->real, level);
}

static int
walbuf_unlock(sqlite3_file *f, int level)
{
	struct walbuf_file *w = (struct walbuf_file *)f;

	return real_io(w)->xUnlock(w->real, level);
}

static int
walbuf_check_reserved_lock(sqlite3_file *f, int *out)
{
	struct walbuf_file *w = (struct walbuf_file *)f;

	return real_io(w)->xCheckReservedLock(w->real, out);
}

static int
walbuf_file_control(sqlite3_file *f, int op, void *arg)
{
	struct walbuf_file *w = (struct walbuf_file *)f;

	return real_io(w)->xFileControl(w->real, op, arg);
}

static int
walbuf_sector_size(sqlite3_file *f)
{
	struct walbuf_file *w = (struct walbuf_file *)f;

	return real_io(w)->xSectorSize(w->real);
}

static int
walbuf_device_characteristics(sqlite3_file *f)
{
	struct walbuf_file *w = (struct walbuf_file *)f;

	return real_io(w)->xDeviceCharacteristics(w->real);
}

/* Version 1 methods: SQLite then never asks a WAL file for shared memory or mmap. */
static const struct sqlite3_io_methods walbuf_methods = {
	.iVersion = 1,
	.xClose = walbuf_close,
	.xRead = walbuf_read,
	.xWrite = walbuf_write,
	.xTruncate = walbuf_truncate,
	.xSync = walbuf_sync,
	.xFileSize = walbuf_file_size,
	.xLock = walbuf_lock,
	.xUnlock = walbuf_unlock,
	.xCheckReservedLock = walbuf_check_reserved_lock,
	.xFileControl = walbuf_file_control,
	.xSectorSize = walbuf_sector_size,
	.xDeviceCharacteristics = walbuf_device_characteristics,
};

/* Every file but a WAL is the underlying VFS's own, opened in place. */
static int
walbuf_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
	struct walbuf_file *w = (struct walbuf_file *)f;
	int rc;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL))
		return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	memset(w->real, 0, (size_t)real_vfs->szOsFile);
	rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite closes only files whose pMethods is set: ours stays NULL. */
		if (w->real->pMethods != NULL)
			w->real->pMethods->xClose(w->real);
		return rc;
	}
	w->base.pMethods = &walbuf_methods;
	return SQLITE_OK;
}

static void
walbuf_init(void)
{
	if ((real_vfs = sqlite3_vfs_find(NULL)) == NULL)
		return;
	/* The other methods are the underlying VFS's; they see a copy of its fields. */
	walbuf_vfs = *real_vfs;
	walbuf_vfs.zName = WALBUF_VFS;
	walbuf_vfs.szOsFile = (int)sizeof(struct walbuf_file) + real_vfs->szOsFile;
	walbuf_vfs.xOpen = walbuf_open;
	walbuf_vfs.pNext = NULL;
	walbuf_registered = sqlite3_vfs_register(&walbuf_vfs, 0) == SQLITE_OK;
}

int
walbuf_register(void)
{
	pthread_once(&walbuf_once, walbuf_init);
	return walbuf_registered ? SQLITE_OK : SQLITE_ERROR;
}
