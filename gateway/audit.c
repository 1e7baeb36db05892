/* audit.c - appending audit leaves. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"
#include "pb.h"
#include "pu_err.h"

int
audit_schema(sqlite3 *db)
{
	static const char sql[] =
	    "CREATE TABLE IF NOT EXISTS audit ("
	    "  idx INTEGER PRIMARY KEY,"		/* leaf index, from 0 */
	    "  case_id TEXT,"
	    "  leaf BLOB NOT NULL,"
	    "  leaf_hash BLOB NOT NULL);"
	    "CREATE INDEX IF NOT EXISTS audit_by_case ON audit(case_id, idx);";

	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? PU_OK : PU_ERR_STORE;
}

void
audit_leaf_hash(uint8_t out[32], const uint8_t *leaf, size_t len)
{
	static const uint8_t zero = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 32;

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, &zero, 1);
	EVP_DigestUpdate(c, leaf, len);
	EVP_DigestFinal_ex(c, out, &n);
	EVP_MD_CTX_free(c);
}

int
audit_encode(const Puente__AuditEntry *e, uint8_t **out, size_t *len)
{
	return pb_encode(&e->base, out, len);
}

static int
audit_next_index(sqlite3 *db, const char *case_id, uint64_t *next, uint64_t *prev_case)
{
	sqlite3_stmt *st = NULL;
	int rc = PU_ERR_STORE;

	if (sqlite3_prepare_v2(db, "SELECT (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit), "
	    "(SELECT COALESCE(MAX(idx) + 1, 0) FROM audit WHERE case_id = ?)", -1, &st,
	    NULL) != SQLITE_OK)
		return rc;
	if (case_id != NULL && case_id[0])
		sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*next = (uint64_t)sqlite3_column_int64(st, 0);
		*prev_case = (uint64_t)sqlite3_column_int64(st, 1);
		rc = PU_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Events that name only a message (fetch, open) join the chain of its case. */
static int
case_of_message(sqlite3 *db, Puente__AuditEntry *e)
{
	sqlite3_stmt *st = NULL;
	int rc = PU_OK;

	if (sqlite3_prepare_v2(db, "SELECT case_id, type FROM messages WHERE msg_id = ?", -1, &st,
	    NULL) != SQLITE_OK)
		return PU_ERR_STORE;
	sqlite3_bind_blob(st, 1, e->msg_id.data, (int)e->msg_id.len, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		char *id = strdup((const char *)sqlite3_column_text(st, 0));
		if (id == NULL) {
			rc = PU_ERR_NOMEM;
		} else {
			/* the decoded entry owns its strings (default allocator) */
			if (e->case_id != protobuf_c_empty_string)
				free(e->case_id);
			e->case_id = id;
			e->type = sqlite3_column_int(st, 1);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int
audit_append(sqlite3 *db, const uint8_t *entry, size_t len, uint64_t *index)
{
	ProtobufCMessage *m;
	Puente__AuditEntry *e;
	sqlite3_stmt *st = NULL;
	uint8_t *leaf = NULL, hash[32];
	size_t leaf_len;
	uint64_t next, prev_case;
	int rc;

	if ((rc = pb_decode(&puente__audit_entry__descriptor, entry, len, &pb_limits_wire,
	    4 * len + 65536, &m)) != PU_OK)
		return rc;
	e = (Puente__AuditEntry *)m;
	if (e->case_id[0] == '\0' && e->msg_id.len > 0 && (rc = case_of_message(db, e)) != PU_OK)
		goto out;
	if ((rc = audit_next_index(db, e->case_id, &next, &prev_case)) != PU_OK)
		goto out;
	/* index + 1 of the previous leaf of this case; 0 for the first or for no case */
	e->prev_case_index = e->case_id[0] ? prev_case : 0;
	if ((rc = audit_encode(e, &leaf, &leaf_len)) != PU_OK)
		goto out;
	audit_leaf_hash(hash, leaf, leaf_len);
	rc = PU_ERR_STORE;
	if (sqlite3_prepare_v2(db, "INSERT INTO audit (idx, case_id, leaf, leaf_hash) "
	    "VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)next);
	if (e->case_id[0])
		sqlite3_bind_text(st, 2, e->case_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, leaf, (int)leaf_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, hash, sizeof(hash), SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE) {
		*index = next;
		rc = PU_OK;
	}
out:
	sqlite3_finalize(st);
	free(leaf);
	pb_free(e);
	return rc;
}
