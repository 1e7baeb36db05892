/* audit.c - audit leaves, the Merkle tree's stored subtrees and signed checkpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "buf.h"
#include "log.h"
#include "pb.h"
#include "pu_err.h"

int
audit_schema(struct db *db)
{
	static const char sql[] =
	    /* case_id, agency, msg_id, at: copied from the leaf for auditors' queries only */
	    "CREATE TABLE IF NOT EXISTS audit ("
	    "  idx INTEGER PRIMARY KEY,"		/* leaf index, from 0 */
	    "  case_id TEXT, agency TEXT, msg_id BLOB, at INTEGER NOT NULL,"
	    "  leaf BLOB NOT NULL,"
	    "  leaf_hash BLOB NOT NULL);"
	    "CREATE INDEX IF NOT EXISTS audit_by_case ON audit(case_id, idx);"
	    "CREATE INDEX IF NOT EXISTS audit_by_agency ON audit(agency, idx);"
	    "CREATE INDEX IF NOT EXISTS audit_by_msg ON audit(msg_id, idx) WHERE msg_id IS NOT NULL;"
	    /* Perfect subtrees of 2^level leaves (level >= 1) starting at leaf idx << level. */
	    "CREATE TABLE IF NOT EXISTS audit_nodes ("
	    "  level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
	    "  PRIMARY KEY (level, idx)) WITHOUT ROWID;"
	    "CREATE TABLE IF NOT EXISTS checkpoints ("
	    "  size INTEGER PRIMARY KEY, at INTEGER NOT NULL, note TEXT NOT NULL);"
	    /* A witness's cosignature line of the checkpoint of that size (its newest time). */
	    "CREATE TABLE IF NOT EXISTS cosignatures ("
	    "  size INTEGER NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL,"
	    "  at INTEGER NOT NULL, PRIMARY KEY (size, witness)) WITHOUT ROWID;";

	return db_script(db, sql);
}

int
audit_encode(const Puente__AuditEntry *e, uint8_t **out, size_t *len)
{
	return pb_encode(&e->base, out, len);
}

/* merkle_node_fn over the database: level 0 from the leaves, the rest from audit_nodes. */
static int
stored_node(void *arg, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct db *db = arg;
	sqlite3_stmt *st = NULL;
	int rc = PU_ERR_AUDIT_STATE;

	if (level == 0)
		st = db_stmt(db, "SELECT leaf_hash FROM audit WHERE idx = ?2");
	else
		st = db_stmt(db, "SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2");
	if (st == NULL)
		return PU_ERR_STORE;
	if (level > 0)
		sqlite3_bind_int(st, 1, (int)level);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
	/* A missing or misshapen node is a database changed behind the gateway's back. */
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == MERKLE_HASH_LEN) {
		memcpy(out, sqlite3_column_blob(st, 0), MERKLE_HASH_LEN);
		rc = PU_OK;
	}
	db_done(db, st);
	return rc;
}

static struct audit_node *
node_slot(struct audit_log *log, unsigned level, uint64_t index, uint64_t *key)
{
	*key = ((uint64_t)level << 58 | index) + 1;
	/* Fibonacci hashing: consecutive indexes spread over the whole table. */
	return &log->nodes[(*key * 0x9E3779B97F4A7C15ull) >> (64 - AUDIT_NODE_CACHE_BITS)];
}

static void
node_remember(struct audit_log *log, unsigned level, uint64_t index,
    const uint8_t hash[MERKLE_HASH_LEN])
{
	uint64_t key;
	struct audit_node *n = node_slot(log, level, index, &key);

	n->key = key;
	memcpy(n->hash, hash, MERKLE_HASH_LEN);
}

struct writer_nodes {
	struct audit_log *log;
	struct db *db;
};

/* merkle_node_fn for the writer: a remembered node inside the current tree, else stored. */
static int
writer_node(void *arg, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct writer_nodes *w = arg;
	uint64_t key;
	struct audit_node *n = node_slot(w->log, level, index, &key);
	int rc;

	if (n->key == key && (index + 1) << level <= w->log->tree.size) {
		memcpy(out, n->hash, MERKLE_HASH_LEN);
		return PU_OK;
	}
	if ((rc = stored_node(w->db, level, index, out)) == PU_OK)
		node_remember(w->log, level, index, out);
	return rc;
}

int
audit_writer_proof(struct audit_log *log, struct db *db, uint64_t index,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len)
{
	struct writer_nodes w = { log, db };

	return merkle_inclusion_proof_nodes(writer_node, &w, index, log->tree.size, proof,
	    proof_len);
}

int
audit_inclusion_proof(struct db *db, uint64_t index, uint64_t size,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len)
{
	return merkle_inclusion_proof_nodes(stored_node, db, index, size, proof, proof_len);
}

int
audit_consistency_proof(struct db *db, uint64_t size1, uint64_t size2,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len)
{
	return merkle_consistency_proof_nodes(stored_node, db, size1, size2, proof, proof_len);
}

int
audit_newest_checkpoint(struct db *db, char **note, uint64_t *size)
{
	sqlite3_stmt *st = NULL;
	int rc = PU_OK;

	*note = NULL;
	*size = 0;
	if ((st = db_stmt(db, "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")) == NULL)
		return PU_ERR_STORE;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*size = (uint64_t)sqlite3_column_int64(st, 0);
		if ((*note = strdup((const char *)sqlite3_column_text(st, 1))) == NULL)
			rc = PU_ERR_NOMEM;
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = PU_ERR_STORE;
	}
	db_done(db, st);
	return rc;
}

int
audit_stored_proof(struct db *db, uint64_t index, char checkpoint[NOTE_MAX_LEN + 1],
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len, uint8_t **leaf,
    size_t *leaf_len)
{
	sqlite3_stmt *st = NULL;
	char *note = NULL;
	uint64_t size;
	int rc;

	if ((rc = audit_newest_checkpoint(db, &note, &size)) != PU_OK)
		return rc;
	if (note == NULL || index >= size || strlen(note) > NOTE_MAX_LEN) {
		free(note);
		return PU_ERR_AUDIT_STATE;
	}
	memcpy(checkpoint, note, strlen(note) + 1);
	free(note);
	if ((rc = audit_inclusion_proof(db, index, size, proof, proof_len)) != PU_OK)
		return rc;
	if ((st = db_stmt(db, "SELECT leaf FROM audit WHERE idx = ?")) == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
	rc = PU_ERR_AUDIT_STATE;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > 0) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		uint8_t *copy = malloc(len);
		rc = PU_ERR_NOMEM;
		if (copy != NULL) {
			memcpy(copy, sqlite3_column_blob(st, 0), len);
			free(*leaf);
			*leaf = copy;
			*leaf_len = len;
			rc = PU_OK;
		}
	}
	db_done(db, st);
	return rc;
}

static int
leaf_count(struct db *db, uint64_t *n, uint64_t *max_plus_one)
{
	sqlite3_stmt *st = NULL;
	int rc = PU_ERR_STORE;

	if ((st = db_stmt(db, "SELECT COUNT(*), COALESCE(MAX(idx) + 1, 0) FROM audit")) == NULL)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*n = (uint64_t)sqlite3_column_int64(st, 0);
		*max_plus_one = (uint64_t)sqlite3_column_int64(st, 1);
		rc = PU_OK;
	}
	db_done(db, st);
	return rc;
}

static int witnessed_load(struct audit_log *log, struct db *db);

int
audit_open(struct audit_log *log, struct db *db, const struct audit_signer *signer)
{
	uint8_t root[MERKLE_HASH_LEN];
	struct note n;
	char *note;
	uint64_t size, count, max_plus_one;
	int rc, found;

	memset(log, 0, sizeof(*log));
	log->signer = *signer;
	merkle_frontier_init(&log->tree);
	if ((rc = leaf_count(db, &count, &max_plus_one)) != PU_OK ||
	    (rc = audit_newest_checkpoint(db, &note, &size)) != PU_OK)
		return rc;
	/* Leaves are only ever appended, each batch ending in a checkpoint of its size. */
	if (count != max_plus_one || count != size) {
		free(note);
		return PU_ERR_AUDIT_STATE;
	}
	if (note == NULL)
		return witnessed_load(log, db);	/* a new log */
	rc = note_parse((const uint8_t *)note, strlen(note), &n);
	if (rc == PU_OK)
		rc = note_verify(&n, signer->origin, signer->public_key, &found);
	if (rc == PU_OK)
		rc = merkle_frontier_load(&log->tree, size, stored_node, db);
	if (rc == PU_OK) {
		merkle_frontier_root(&log->tree, root);
		if (n.tree_size != size || memcmp(root, n.root, MERKLE_HASH_LEN) != 0)
			rc = PU_ERR_AUDIT_STATE;
	}
	if (rc == PU_OK) {
		log->signed_size = size;
		memcpy(log->checkpoint, note, strlen(note) + 1);
		rc = witnessed_load(log, db);
	} else if (rc != PU_ERR_STORE) {
		rc = PU_ERR_AUDIT_STATE;
	}
	free(note);
	return rc;
}

static int
audit_next_index(struct db *db, const char *case_id, uint64_t *prev_case)
{
	sqlite3_stmt *st = NULL;
	int rc = PU_ERR_STORE;

	*prev_case = 0;
	if (case_id[0] == '\0')
		return PU_OK;
	if ((st = db_stmt(db, "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit WHERE case_id = ?")) == NULL)
		return rc;
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*prev_case = (uint64_t)sqlite3_column_int64(st, 0);
		rc = PU_OK;
	}
	db_done(db, st);
	return rc;
}

/* Events that name only a message (fetch, open) join the chain of its case. */
static int
case_of_message(struct db *db, Puente__AuditEntry *e)
{
	sqlite3_stmt *st = NULL;
	int rc = PU_OK;

	if ((st = db_stmt(db, "SELECT case_id, type FROM messages WHERE msg_id = ?")) == NULL)
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
	db_done(db, st);
	return rc;
}

static int
insert_leaf(struct db *db, uint64_t index, const Puente__AuditEntry *e, const uint8_t *leaf,
    size_t leaf_len, const uint8_t hash[MERKLE_HASH_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc = PU_ERR_STORE;

	if ((st = db_stmt(db, "INSERT INTO audit (idx, case_id, agency, msg_id, at, leaf, "
	    "leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?)")) == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
	if (e->case_id[0])
		sqlite3_bind_text(st, 2, e->case_id, -1, SQLITE_STATIC);
	if (e->agency_id[0])
		sqlite3_bind_text(st, 3, e->agency_id, -1, SQLITE_STATIC);
	if (e->msg_id.len > 0)
		sqlite3_bind_blob(st, 4, e->msg_id.data, (int)e->msg_id.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, e->at);
	sqlite3_bind_blob(st, 6, leaf, (int)leaf_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, hash, MERKLE_HASH_LEN, SQLITE_STATIC);
	int src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		rc = PU_OK;
	else if (src == SQLITE_CONSTRAINT)
		/* Only this gateway appends: a row where its next leaf goes was written behind it. */
		log_error("audit", "event=leaf-index-taken index=%llu", (unsigned long long)index);
	db_done(db, st);
	return rc;
}

/*
 * The perfect subtrees the newest leaf completed, stored and remembered for the batch's
 * proofs: in a tree of `size` leaves, level l has index (size >> l) - 1.
 */
static int
insert_nodes(struct audit_log *log, struct db *db, uint8_t made[][MERKLE_HASH_LEN],
    unsigned n_made)
{
	uint64_t size = log->tree.size;
	sqlite3_stmt *st = NULL;
	int rc = PU_OK;

	if (n_made == 0)
		return PU_OK;
	if ((st = db_stmt(db, "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)")) == NULL)
		return PU_ERR_STORE;
	for (unsigned l = 1; l <= n_made && rc == PU_OK; l++) {
		uint64_t index = (size >> l) - 1;
		sqlite3_bind_int(st, 1, (int)l);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
		sqlite3_bind_blob(st, 3, made[l - 1], MERKLE_HASH_LEN, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PU_ERR_STORE;
		else
			node_remember(log, l, index, made[l - 1]);
		sqlite3_reset(st);
	}
	db_done(db, st);
	return rc;
}

int
audit_append(struct audit_log *log, struct db *db, uint8_t **entry, size_t *len,
    uint64_t *index)
{
	uint8_t made[MERKLE_MAX_LEVELS][MERKLE_HASH_LEN], hash[MERKLE_HASH_LEN];
	ProtobufCMessage *m;
	Puente__AuditEntry *e;
	uint8_t *leaf = NULL;
	size_t leaf_len;
	uint64_t next = log->tree.size, prev_case;
	unsigned n_made;
	int rc;

	if ((rc = pb_decode(&puente__audit_entry__descriptor, *entry, *len, &pb_limits_wire,
	    4 * *len + 65536, &m)) != PU_OK)
		return rc;
	e = (Puente__AuditEntry *)m;
	if (e->case_id[0] == '\0' && e->msg_id.len > 0 && (rc = case_of_message(db, e)) != PU_OK)
		goto out;
	if ((rc = audit_next_index(db, e->case_id, &prev_case)) != PU_OK)
		goto out;
	/* index + 1 of the previous leaf of this case; 0 for the first or for no case */
	e->prev_case_index = prev_case;
	if ((rc = audit_encode(e, &leaf, &leaf_len)) != PU_OK)
		goto out;
	merkle_leaf_hash(hash, leaf, leaf_len);
	if ((rc = insert_leaf(db, next, e, leaf, leaf_len, hash)) != PU_OK ||
	    (rc = merkle_frontier_append_nodes(&log->tree, hash, made, &n_made)) != PU_OK)
		goto out;
	/* The caller restores the frontier if the transaction does not keep these rows. */
	if ((rc = insert_nodes(log, db, made, n_made)) != PU_OK)
		goto out;
	node_remember(log, 0, next, hash);
	*index = next;
	/* The caller gets the leaf as appended, for the receipt that proves it. */
	free(*entry);
	*entry = leaf;
	*len = leaf_len;
	leaf = NULL;
out:
	free(leaf);
	pb_free(e);
	return rc;
}

int
audit_checkpoint(struct audit_log *log, struct db *db, int64_t now)
{
	uint8_t root[MERKLE_HASH_LEN];
	sqlite3_stmt *st = NULL;
	struct buf note;
	int rc;

	if (log->tree.size == log->signed_size)
		return PU_OK;
	merkle_frontier_root(&log->tree, root);
	buf_init(&note, NOTE_MAX_LEN);
	if ((rc = note_checkpoint_format(log->signer.origin, log->tree.size, root, &note)) != PU_OK)
		goto out;
	if ((rc = buf_append(&note, "\n", 1)) != PU_OK ||
	    (rc = note_sign(note.data, note.len - 1, log->signer.origin, log->signer.secret_key,
	    log->signer.public_key, &note)) != PU_OK)
		goto out;
	rc = PU_ERR_STORE;
	if ((st = db_stmt(db, "INSERT INTO checkpoints (size, at, note) VALUES (?, ?, ?)")) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)log->tree.size);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, (const char *)note.data, (int)note.len, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE) {
		/* Not yet committed: the writer restores both on a failed commit. */
		memcpy(log->checkpoint, note.data, note.len);
		log->checkpoint[note.len] = '\0';
		log->signed_size = log->tree.size;
		rc = PU_OK;
	}
out:
	db_done(db, st);
	buf_free(&note);
	return rc;
}

/* ---- auditors' queries ------------------------------------------------------------- */

/* An answer stays well inside one frame (PROTOCOL.md §2: 1 MiB + 4 KiB). */
#define ANSWER_BUDGET (768u * 1024u)

int
audit_query_check(const Puente__AuditQuery *q)
{
	int filters = (q->case_id[0] != '\0') + (q->agency_id[0] != '\0') + (q->msg_id.len > 0);

	if (filters > 1 || q->limit < 1 || q->limit > AUDIT_QUERY_MAX ||
	    (q->msg_id.len > 0 && q->msg_id.len != 16) || q->from < 0 || q->to < 0 ||
	    (q->to > 0 && q->to <= q->from) || q->purpose[0] == '\0')
		return PU_ERR_AUDIT_QUERY;
	return PU_OK;
}

/* The leaves a query selects, from start_index up to the checkpoint's size. */
static sqlite3_stmt *
query_prepare(struct db *db, const Puente__AuditQuery *q, uint64_t size)
{
	char sql[512];
	sqlite3_stmt *st = NULL;

	snprintf(sql, sizeof(sql), "SELECT idx, leaf FROM audit WHERE idx >= ?1 AND idx < ?2%s%s%s "
	    "ORDER BY idx LIMIT ?3",
	    q->case_id[0] ? " AND case_id = ?4" : q->agency_id[0] ? " AND agency = ?4" :
	    q->msg_id.len ? " AND msg_id = ?4" : "",
	    q->from > 0 ? " AND at >= ?5" : "", q->to > 0 ? " AND at < ?6" : "");
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)q->start_index);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int(st, 3, (int)q->limit);
	if (q->case_id[0])
		sqlite3_bind_text(st, 4, q->case_id, -1, SQLITE_STATIC);
	else if (q->agency_id[0])
		sqlite3_bind_text(st, 4, q->agency_id, -1, SQLITE_STATIC);
	else if (q->msg_id.len)
		sqlite3_bind_blob(st, 4, q->msg_id.data, (int)q->msg_id.len, SQLITE_STATIC);
	if (q->from > 0)
		sqlite3_bind_int64(st, 5, q->from);
	if (q->to > 0)
		sqlite3_bind_int64(st, 6, q->to);
	return st;
}

static void
answer_free(Puente__AuditAnswer *a)
{
	for (size_t i = 0; i < a->n_records; i++) {
		free(a->records[i]->entry.data);
		if (a->records[i]->n_inclusion_proof > 0)
			free(a->records[i]->inclusion_proof[0].data);
		free(a->records[i]->inclusion_proof);
		free(a->records[i]);
	}
	free(a->records);
	for (size_t i = 0; i < a->n_checkpoints; i++)
		free(a->checkpoints[i]);
	free(a->checkpoints);
	free(a->consistency_proof);
}

/* Point n hashes of 32 bytes laid end to end at by a repeated bytes field. */
static ProtobufCBinaryData *
proof_field(const uint8_t *proof, size_t n)
{
	ProtobufCBinaryData *f = calloc(n ? n : 1, sizeof(*f));

	for (size_t i = 0; f != NULL && i < n; i++) {
		f[i].data = (uint8_t *)proof + i * MERKLE_HASH_LEN;
		f[i].len = MERKLE_HASH_LEN;
	}
	return f;
}

/* One selected leaf, with its inclusion proof in the tree of size leaves when asked. */
static int
answer_add_record(Puente__AuditAnswer *a, struct db *db, sqlite3_stmt *st, int proofs,
    uint64_t size, uint8_t *proof_store, size_t *used)
{
	Puente__AuditRecord *r = calloc(1, sizeof(*r));
	size_t len = (size_t)sqlite3_column_bytes(st, 1), n_proof = 0;
	uint8_t *copy;
	int rc;

	if (r == NULL)
		return PU_ERR_NOMEM;
	puente__audit_record__init(r);
	a->records[a->n_records++] = r;
	r->index = (uint64_t)sqlite3_column_int64(st, 0);
	if ((r->entry.data = malloc(len ? len : 1)) == NULL)
		return PU_ERR_NOMEM;
	memcpy(r->entry.data, sqlite3_column_blob(st, 1), len);
	r->entry.len = len;
	*used += len + 16;
	if (!proofs)
		return PU_OK;
	if ((rc = audit_inclusion_proof(db, r->index, size, proof_store, &n_proof)) != PU_OK)
		return rc;
	/* One copy per record, which its first hash points at (answer_free frees it). */
	if (n_proof == 0)
		return PU_OK;
	if ((copy = malloc(n_proof * MERKLE_HASH_LEN)) == NULL)
		return PU_ERR_NOMEM;
	memcpy(copy, proof_store, n_proof * MERKLE_HASH_LEN);
	if ((r->inclusion_proof = proof_field(copy, n_proof)) == NULL) {
		free(copy);
		return PU_ERR_NOMEM;
	}
	r->n_inclusion_proof = n_proof;
	*used += n_proof * (MERKLE_HASH_LEN + 2);
	return PU_OK;
}

/* The signed checkpoints of sizes in (lo, hi], oldest first: a replay checks each. */
static int
answer_add_checkpoints(Puente__AuditAnswer *a, struct db *db, uint64_t lo, uint64_t hi,
    size_t *used)
{
	sqlite3_stmt *st = NULL;
	int rc = PU_OK, step;

	if ((st = db_stmt(db, "SELECT note FROM checkpoints WHERE size > ? AND size <= ? "
	    "ORDER BY size")) == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)hi);
	while (rc == PU_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
		/* Every batch ends in a checkpoint, so there are never more than leaves. */
		if (a->n_checkpoints == AUDIT_QUERY_MAX) {
			rc = PU_ERR_AUDIT_STATE;
			break;
		}
		if ((a->checkpoints[a->n_checkpoints] = strdup((const char *)
		    sqlite3_column_text(st, 0))) == NULL)
			rc = PU_ERR_NOMEM;
		else
			*used += strlen(a->checkpoints[a->n_checkpoints++]) + 4;
	}
	if (rc == PU_OK && step != SQLITE_DONE)
		rc = PU_ERR_STORE;
	db_done(db, st);
	return rc;
}

/* Inside one read transaction, so the checkpoint and every node are of one state. */
static int
answer_build(struct db *db, const Puente__AuditQuery *q, uint64_t query_index,
    Puente__AuditAnswer *a, uint8_t *proof, char **note, char **witnessed)
{
	sqlite3_stmt *st = NULL;
	int64_t at;
	uint64_t size;
	size_t used = 0, n_proof = 0;
	int rc, step, full = !q->case_id[0] && !q->agency_id[0] && !q->msg_id.len &&
	    q->from == 0 && q->to == 0;

	if ((rc = audit_newest_checkpoint(db, note, &size)) != PU_OK)
		return rc;
	if (*note == NULL || size <= query_index)
		return PU_ERR_AUDIT_STATE;	/* the query's own leaf is committed by now */
	a->checkpoint = *note;
	a->query_index = query_index;
	if ((rc = audit_witnessed(db, witnessed, &at)) != PU_OK)
		return rc;
	if (*witnessed != NULL)
		a->witnessed = *witnessed;
	if (q->known_size > size)
		return PU_ERR_AUDIT_ROLLBACK;
	if (q->known_size > 0) {
		if ((rc = audit_consistency_proof(db, q->known_size, size, proof, &n_proof)) != PU_OK)
			return rc;
		if ((a->consistency_proof = proof_field(proof, n_proof)) == NULL)
			return PU_ERR_NOMEM;
		a->n_consistency_proof = n_proof;
	}
	a->next_index = size;
	if (q->start_index >= size)
		return PU_OK;
	if ((a->records = calloc(q->limit, sizeof(*a->records))) == NULL ||
	    (full && (a->checkpoints = calloc(AUDIT_QUERY_MAX, sizeof(char *))) == NULL))
		return PU_ERR_NOMEM;
	if ((st = query_prepare(db, q, size)) == NULL)
		return PU_ERR_STORE;
	/* The consistency proof lives in proof; inclusion proofs go past it. */
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = answer_add_record(a, db, st, q->proofs, size,
		    proof + MERKLE_MAX_PROOF * MERKLE_HASH_LEN, &used)) != PU_OK)
			break;
		if (a->n_records == q->limit || used >= ANSWER_BUDGET) {
			a->next_index = a->records[a->n_records - 1]->index + 1;
			break;
		}
	}
	if (rc == PU_OK && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = PU_ERR_STORE;
	db_done(db, st);
	if (rc == PU_OK && full)
		rc = answer_add_checkpoints(a, db, q->start_index, a->next_index, &used);
	return rc;
}

int
audit_answer(struct db *db, const uint8_t *query, size_t query_len, uint64_t query_index,
    uint8_t **out, size_t *out_len)
{
	Puente__AuditAnswer a = PUENTE__AUDIT_ANSWER__INIT;
	uint8_t proof[2 * MERKLE_MAX_PROOF * MERKLE_HASH_LEN];
	ProtobufCMessage *m;
	char *note = NULL, *witnessed = NULL;
	int rc;

	if ((rc = pb_decode(&puente__audit_query__descriptor, query, query_len, &pb_limits_wire,
	    4 * query_len + 4096, &m)) != PU_OK)
		return rc;
	if (db_run(db, "BEGIN") != PU_OK) {
		pb_free(m);
		return PU_ERR_STORE;
	}
	rc = answer_build(db, (const Puente__AuditQuery *)m, query_index, &a, proof, &note,
	    &witnessed);
	db_run(db, "COMMIT");
	if (rc == PU_OK)
		rc = pb_encode(&a.base, out, out_len);
	answer_free(&a);
	free(note);
	free(witnessed);
	pb_free(m);
	return rc;
}

/* ---- witnesses --------------------------------------------------------------------- */

int
audit_witnessed(struct db *db, char **note, int64_t *at)
{
	sqlite3_stmt *st = NULL;
	struct buf b;
	int rc = PU_OK, step;

	*note = NULL;
	*at = 0;
	/* The largest cosigned size: its checkpoint, then every witness's line for it. */
	if ((st = db_stmt(db, "SELECT c.note, w.line, w.at FROM checkpoints c "
	    "JOIN cosignatures w ON w.size = c.size "
	    "WHERE c.size = (SELECT MAX(size) FROM cosignatures) ORDER BY w.witness")) == NULL)
		return PU_ERR_STORE;
	buf_init(&b, NOTE_MAX_LEN + 1);
	while (rc == PU_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (b.len == 0)
			rc = buf_append(&b, sqlite3_column_text(st, 0),
			    (size_t)sqlite3_column_bytes(st, 0));
		if (rc == PU_OK)
			rc = buf_append(&b, sqlite3_column_text(st, 1),
			    (size_t)sqlite3_column_bytes(st, 1));
		if (sqlite3_column_int64(st, 2) > *at)
			*at = sqlite3_column_int64(st, 2);
	}
	if (rc == PU_OK && step != SQLITE_DONE)
		rc = PU_ERR_STORE;
	db_done(db, st);
	if (rc == PU_OK && b.len > 0 && (rc = buf_append(&b, "", 1)) == PU_OK) {
		*note = (char *)b.data;
		return PU_OK;
	}
	buf_free(&b);
	return rc == PU_ERR_TOO_LARGE ? PU_OK : rc;	/* too many witnesses to serve: none */
}

/* Where in n the signature line of key_name starts and how long it is. */
static int
sig_line_of(const struct note *n, const char *key_name, size_t *off, size_t *len)
{
	for (size_t i = 0; i < n->n_sigs; i++) {
		const struct note_sig *g = &n->sigs[i];
		if (g->name_len == strlen(key_name) &&
		    memcmp(n->buf + g->name_off, key_name, g->name_len) == 0) {
			/* the line: "— " NAME " " BASE64 "\n" */
			*off = g->name_off - strlen(NOTE_SIG_PREFIX);
			*len = g->b64_off + g->b64_len + 1 - *off;
			return PU_OK;
		}
	}
	return PU_ERR_NOTE_UNSIGNED;
}

/* The newest witnessed checkpoint into log, for the receipts the writer signs. */
static int
witnessed_load(struct audit_log *log, struct db *db)
{
	char *note;
	int64_t at;
	int rc;

	if ((rc = audit_witnessed(db, &note, &at)) != PU_OK)
		return rc;
	log->witnessed[0] = '\0';
	if (note != NULL && strlen(note) < sizeof(log->witnessed))
		memcpy(log->witnessed, note, strlen(note) + 1);
	__atomic_store_n(&log->witnessed_at, at, __ATOMIC_RELAXED);
	free(note);
	return PU_OK;
}

int
audit_cosign(struct audit_log *log, struct db *db, const uint8_t *note, size_t len,
    const char *witness, const uint8_t witness_pk[32], int64_t now)
{
	sqlite3_stmt *st = NULL;
	struct note n, mine;
	size_t off, line_len;
	uint64_t ts;
	int rc, found;
	const char *stored;

	if ((rc = note_parse(note, len, &n)) != PU_OK)
		return rc;
	if ((rc = note_verify_cosignature(&n, witness, witness_pk, &found, &ts)) != PU_OK)
		return rc;
	/* It must be a checkpoint this gateway signed, byte for byte. */
	if ((st = db_stmt(db, "SELECT note FROM checkpoints WHERE size = ?")) == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)n.tree_size);
	rc = PU_ERR_COSIGN_CHECKPOINT;
	if (sqlite3_step(st) == SQLITE_ROW && (stored = (const char *)sqlite3_column_text(st, 0))
	    != NULL && note_parse((const uint8_t *)stored, strlen(stored), &mine) == PU_OK &&
	    mine.text_len == n.text_len && memcmp(mine.buf, n.buf, n.text_len) == 0)
		rc = PU_OK;
	db_done(db, st);
	st = NULL;
	if (rc != PU_OK || (rc = sig_line_of(&n, witness, &off, &line_len)) != PU_OK)
		return rc;
	if ((st = db_stmt(db, "INSERT OR REPLACE INTO cosignatures (size, witness, line, at) "
	    "VALUES (?, ?, ?, ?)")) == NULL)
		return PU_ERR_STORE;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)n.tree_size);
	sqlite3_bind_text(st, 2, witness, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, (const char *)n.buf + off, (int)line_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_STORE;
	db_done(db, st);
	return rc == PU_OK ? witnessed_load(log, db) : rc;
}

int
audit_head(struct db *db, uint64_t known_size, uint8_t **out, size_t *out_len)
{
	Puente__CheckpointAnswer a = PUENTE__CHECKPOINT_ANSWER__INIT;
	uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN];
	ProtobufCBinaryData fields[MERKLE_MAX_PROOF];
	char *note = NULL, *witnessed = NULL;
	uint64_t size;
	size_t n = 0;
	int64_t at;
	int rc;

	if (db_run(db, "BEGIN") != PU_OK)
		return PU_ERR_STORE;
	if ((rc = audit_newest_checkpoint(db, &note, &size)) == PU_OK &&
	    (rc = audit_witnessed(db, &witnessed, &at)) == PU_OK && note != NULL) {
		a.checkpoint = note;
		if (witnessed != NULL)
			a.witnessed = witnessed;
		/* A size the gateway does not have gets no proof: the asker sees the rollback. */
		if (known_size > 0 && known_size <= size &&
		    (rc = audit_consistency_proof(db, known_size, size, proof, &n)) == PU_OK) {
			for (size_t i = 0; i < n; i++) {
				fields[i].data = proof + i * MERKLE_HASH_LEN;
				fields[i].len = MERKLE_HASH_LEN;
			}
			a.consistency_proof = fields;
			a.n_consistency_proof = n;
		}
	}
	db_run(db, "COMMIT");
	if (rc == PU_OK && note == NULL)
		rc = PU_ERR_AUDIT_STATE;	/* every gateway signs a checkpoint when it starts */
	if (rc == PU_OK)
		rc = pb_encode(&a.base, out, out_len);
	free(note);
	free(witnessed);
	return rc;
}
