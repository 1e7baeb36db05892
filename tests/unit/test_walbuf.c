/*
 * test_walbuf.c - the VFS that gathers WAL writes (gateway/walbuf.c) keeps SQLite's
 * guarantees: a commit is in the file when COMMIT returns (a process that dies right after
 * loses nothing), other connections see every commit, pages spilled mid-transaction read
 * back as written, a transaction that did not commit leaves nothing behind, and a disk that
 * fills up mid-transaction fails the whole transaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "walbuf.h"

#define ROW_LEN 4000

static char dir[] = "/tmp/puente-walbuf-XXXXXX";
static char path[sizeof(dir) + 16];

/* Row n's content: its bytes depend on n, so a page from another row is noticed. */
static void
row_fill(uint8_t *row, int n)
{
	for (int i = 0; i < ROW_LEN; i++)
		row[i] = (uint8_t)(n * 31 + i * 7);
}

static sqlite3 *
open_db(const char *vfs, const char *pragmas)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    vfs), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "PRAGMA wal_autocheckpoint=0;", NULL, NULL, NULL), SQLITE_OK);
	if (pragmas != NULL)
		assert_int_equal(sqlite3_exec(db, pragmas, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY,"
	    " body BLOB NOT NULL)", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

enum end { ROLLBACK, COMMIT, LEAVE_OPEN };

/* Rows first..first+count-1, in one transaction, then rolled back, committed or left open. */
static void
insert_rows(sqlite3 *db, int first, int count, enum end end)
{
	uint8_t row[ROW_LEN];
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?)", -1, &st, NULL),
	    SQLITE_OK);
	for (int n = first; n < first + count; n++) {
		row_fill(row, n);
		sqlite3_bind_int(st, 1, n);
		sqlite3_bind_blob(st, 2, row, ROW_LEN, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (end != LEAVE_OPEN)
		assert_int_equal(sqlite3_exec(db, end == COMMIT ? "COMMIT" : "ROLLBACK", NULL, NULL,
		    NULL), SQLITE_OK);
}

/* Every row present is whole and right; returns how many there are. */
static int
check_rows(sqlite3 *db)
{
	uint8_t want[ROW_LEN];
	sqlite3_stmt *st;
	int count = 0, rc;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT n, body FROM t ORDER BY n", -1, &st,
	    NULL), SQLITE_OK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int n = sqlite3_column_int(st, 0);

		row_fill(want, n);
		assert_int_equal(sqlite3_column_bytes(st, 1), ROW_LEN);
		assert_memory_equal(sqlite3_column_blob(st, 1), want, ROW_LEN);
		count++;
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	return count;
}

/*
 * Under walbuf, a default VFS whose writes to a WAL file fail with SQLITE_FULL while
 * wal_full is set: a disk that fills up in the middle of a transaction. With die_at_write
 * set to n, the process dies (as by kill -9) at its n-th write to a WAL file.
 */
static int wal_full, die_at_write;
static sqlite3_vfs faulty_vfs, *unix_vfs;
static sqlite3_io_methods faulty_methods;
static int (*unix_write)(sqlite3_file *, const void *, int, sqlite3_int64);

static int
faulty_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
	if (die_at_write > 0 && --die_at_write == 0)
		_exit(0);
	return wal_full ? SQLITE_FULL : unix_write(f, p, amt, off);
}

static int
faulty_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
	int rc = unix_vfs->xOpen(unix_vfs, name, f, flags, out);

	(void)vfs;
	if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL)) {
		if (unix_write == NULL) {
			faulty_methods = *f->pMethods;
			unix_write = faulty_methods.xWrite;
			faulty_methods.xWrite = faulty_write;
		}
		f->pMethods = &faulty_methods;
	}
	return rc;
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	/* walbuf wraps whatever is the default VFS when it registers: the faulty one. */
	unix_vfs = sqlite3_vfs_find(NULL);
	faulty_vfs = *unix_vfs;
	faulty_vfs.zName = "faulty";
	faulty_vfs.xOpen = faulty_open;
	faulty_vfs.pNext = NULL;
	if (sqlite3_vfs_register(&faulty_vfs, 1) != SQLITE_OK)
		return -1;
	return walbuf_register() == SQLITE_OK ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[sizeof(dir) + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void
remove_db(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[sizeof(path) + 8];

	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
}

/* Many commits larger than the buffer, seen whole by a connection without walbuf. */
static void
test_commits_seen_by_other_connection(void **state)
{
	sqlite3 *w, *r;

	(void)state;
	remove_db();
	w = open_db(WALBUF_VFS, NULL);
	r = open_db(NULL, NULL);
	for (int batch = 0; batch < 10; batch++) {
		insert_rows(w, batch * 100, 100, COMMIT);
		assert_int_equal(check_rows(r), (batch + 1) * 100);
	}
	sqlite3_close(r);
	sqlite3_close(w);
}

/* Once the child pid has exited 0 (its way of dying), the database as it left it. */
static sqlite3 *
reopen_after(pid_t pid)
{
	int status;

	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return open_db(NULL, NULL);
}

/*
 * A process that dies (no close, no exit handlers) right after COMMIT returned, and one
 * that dies in the middle of a later transaction whose pages no longer fit the page cache:
 * the commit is whole in the WAL, and nothing of the unfinished transaction is visible.
 */
static void
die_after_commit(int then_begin_another)
{
	sqlite3 *db;
	pid_t pid;

	remove_db();
	sqlite3_close(open_db(NULL, NULL));
	if ((pid = fork()) == 0) {
		db = open_db(WALBUF_VFS, "PRAGMA cache_size=20");
		insert_rows(db, 0, 300, COMMIT);
		if (then_begin_another)
			insert_rows(db, 1000, 200, LEAVE_OPEN);
		_exit(0);
	}
	db = reopen_after(pid);
	assert_int_equal(check_rows(db), 300);
	sqlite3_close(db);
}

static void
test_commit_survives_process_death(void **state)
{
	(void)state;
	die_after_commit(0);
	die_after_commit(1);
}

/* A page cache too small for the transaction: spilled pages are read back as written. */
static void
test_spilled_pages_read_back(void **state)
{
	sqlite3 *db, *r;

	(void)state;
	remove_db();
	db = open_db(WALBUF_VFS, "PRAGMA cache_size=16");
	insert_rows(db, 0, 500, LEAVE_OPEN);
	assert_int_equal(check_rows(db), 500);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	insert_rows(db, 500, 500, ROLLBACK);
	assert_int_equal(check_rows(db), 500);
	/* A checkpoint copies the WAL into the database: the same rows again. */
	assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
	    NULL), SQLITE_OK);
	insert_rows(db, 500, 200, COMMIT);
	r = open_db(NULL, NULL);
	assert_int_equal(check_rows(r), 700);
	sqlite3_close(r);
	sqlite3_close(db);
}

/*
 * The disk fills while a transaction has pages spilled into walbuf's buffer, and a
 * statement inside a savepoint (as each gateway request is) reads them back; then there
 * is room again. SQLite must roll the whole transaction back: had walbuf dropped the buffer
 * and answered the read with SQLITE_FULL, SQLite would undo only that statement and then
 * commit a transaction whose earlier frames never reached the file. Afterwards: the earlier
 * commit whole, nothing of the failed transaction, a sound file, and commits work again.
 */
static void
test_full_disk_mid_transaction(void **state)
{
	sqlite3 *db, *r;
	int rc;

	(void)state;
	remove_db();
	db = open_db(WALBUF_VFS, "PRAGMA cache_size=10");
	insert_rows(db, 0, 50, COMMIT);
	insert_rows(db, 100, 200, LEAVE_OPEN);
	assert_int_equal(sqlite3_exec(db, "SAVEPOINT req", NULL, NULL, NULL), SQLITE_OK);
	wal_full = 1;
	/* Newest rows first: their pages are the ones still in the buffer. */
	rc = sqlite3_exec(db, "INSERT INTO t SELECT n + 1000, body FROM t WHERE n >= 100 "
	    "ORDER BY n DESC", NULL, NULL, NULL);
	wal_full = 0;
	assert_int_not_equal(rc, SQLITE_OK);
	sqlite3_exec(db, "ROLLBACK TO req", NULL, NULL, NULL);
	sqlite3_exec(db, "RELEASE req", NULL, NULL, NULL);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	r = open_db(NULL, NULL);
	assert_int_equal(check_rows(r), 50);
	insert_rows(db, 400, 100, COMMIT);
	assert_int_equal(check_rows(r), 150);
	sqlite3_close(r);
	sqlite3_close(db);
}

/*
 * A COMMIT whose sync fails (the disk full when the buffer is written) has failed, and
 * stays failed. The next commit writes its frames where the failed one's were; a process
 * that dies before they are written must not leave the failed commit whole in the WAL,
 * where recovery would find it.
 */
static void
test_failed_commit_stays_failed(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	pid_t pid;

	(void)state;
	remove_db();
	sqlite3_close(open_db(NULL, NULL));
	if ((pid = fork()) == 0) {
		int rc;
		db = open_db(WALBUF_VFS, NULL);
		insert_rows(db, 0, 50, COMMIT);
		/* small enough to stay in the buffer until the sync */
		insert_rows(db, 100, 5, LEAVE_OPEN);
		wal_full = 1;
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		wal_full = 0;
		if (rc == SQLITE_OK)
			_exit(2);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		/* the next commit: the process dies at its second write to the WAL */
		die_at_write = 2;
		insert_rows(db, 200, 1, COMMIT);
		_exit(0);
	}
	db = reopen_after(pid);
	assert_true(check_rows(db) >= 50);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM t WHERE n BETWEEN 100 AND 104",
	    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commits_seen_by_other_connection),
		cmocka_unit_test(test_commit_survives_process_death),
		cmocka_unit_test(test_spilled_pages_read_back),
		cmocka_unit_test(test_full_disk_mid_transaction),
		cmocka_unit_test(test_failed_commit_stays_failed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
