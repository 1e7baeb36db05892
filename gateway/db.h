/*
 * db.h - one SQLite connection and its prepared statements.
 *
 * The store's hot path runs the same few dozen statements for every message; parsing them
 * each time cost more than executing them. A connection therefore keeps every statement
 * it has prepared, keyed by the address of its SQL text, which must be a string constant
 * (or otherwise outlive the connection). Dynamic SQL goes through sqlite3_prepare_v2 on
 * db->h and sqlite3_finalize as usual.
 *
 * A connection belongs to one thread at a time, like the sqlite3 handle inside it.
 */
#ifndef PU_DB_H
#define PU_DB_H

#include <sqlite3.h>

#define DB_CACHED_MAX 64

struct db {
	sqlite3 *h;
	unsigned n_cached;
	struct db_cached {
		const char *sql;
		sqlite3_stmt *st;
		int in_use;		/* handed out by db_stmt, not yet given back */
	} cached[DB_CACHED_MAX];
};

/* sqlite3_open_v2 with flags and vfs (NULL: the default); NOMUTEX is added. */
int db_open(struct db *db, const char *path, int flags, const char *vfs);
/* Finalize every statement and close; a closed or zeroed db is fine. */
void db_close(struct db *db);
/* A prepared statement for sql (a constant): ready to bind, NULL on error. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);
/* Done with a statement from db_stmt: reset and unbound for its next use. */
void db_done(struct db *db, sqlite3_stmt *st);
/* Run one statement without results (BEGIN, SAVEPOINT x, ...): PU_OK or PU_ERR_STORE. */
int db_run(struct db *db, const char *sql);
/* Run a script of several statements, not cached (schema, pragmas): PU_OK or PU_ERR_STORE. */
int db_script(struct db *db, const char *sql);

#endif
