/*
 * db.c - one SQLite connection and its prepared statements (see db.h).
 */
#include <stddef.h>

#include "db.h"
#include "pu_err.h"

int
db_open(struct db *db, const char *path, int flags, const char *vfs)
{
	db->n_cached = 0;
	if (sqlite3_open_v2(path, &db->h, flags | SQLITE_OPEN_NOMUTEX, vfs) != SQLITE_OK)
		return PU_ERR_STORE;
	return PU_OK;
}

void
db_close(struct db *db)
{
	for (unsigned i = 0; i < db->n_cached; i++)
		sqlite3_finalize(db->cached[i].st);
	db->n_cached = 0;
	sqlite3_close(db->h);
	db->h = NULL;
}

sqlite3_stmt *
db_stmt(struct db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	for (unsigned i = 0; i < db->n_cached; i++) {
		/* One in use already (the same SQL run inside its own loop) gets another copy. */
		if (db->cached[i].sql == sql && !db->cached[i].in_use) {
			db->cached[i].in_use = 1;
			return db->cached[i].st;
		}
	}
	if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return NULL;
	}
	if (db->n_cached < DB_CACHED_MAX)
		db->cached[db->n_cached++] = (struct db_cached){ sql, st, 1 };
	return st;
}

void
db_done(struct db *db, sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	for (unsigned i = 0; i < db->n_cached; i++) {
		if (db->cached[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			db->cached[i].in_use = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

int
db_run(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	int rc;

	if (st == NULL)
		return PU_ERR_STORE;
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	return rc;
}

int
db_script(struct db *db, const char *sql)
{
	return sqlite3_exec(db->h, sql, NULL, NULL, NULL) == SQLITE_OK ? PU_OK : PU_ERR_STORE;
}
