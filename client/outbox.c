/* outbox.c - client.db and the outbox/ folder (see outbox.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "outbox.h"
#include "pb.h"
#include "pu_err.h"

#define BUSY_TIMEOUT_MS 10000

/*
 * One row per message each way. state of sent: 1 queued, 2 accepted, 3 refused (enum
 * puente_state). Signed objects are kept as received so that they can be verified again.
 */
static const char *const schema =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS sent ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  msg_id BLOB NOT NULL UNIQUE, header BLOB NOT NULL, header_hash BLOB NOT NULL,"
	"  receipt_mac BLOB NOT NULL, type INTEGER NOT NULL, case_id TEXT NOT NULL,"
	"  recipients TEXT NOT NULL, in_reply_to BLOB, created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL, respond_by INTEGER NOT NULL,"
	"  content_length INTEGER NOT NULL, state INTEGER NOT NULL, error INTEGER NOT NULL DEFAULT 0,"
	"  attempts INTEGER NOT NULL DEFAULT 0, gateway_receipt BLOB, gateway_id TEXT,"
	"  audit_index INTEGER, accepted_at INTEGER);"
	"CREATE TABLE IF NOT EXISTS receipts ("
	"  msg_id BLOB NOT NULL, recipient TEXT NOT NULL, outcome INTEGER NOT NULL,"
	"  at INTEGER NOT NULL, receipt BLOB NOT NULL, PRIMARY KEY (msg_id, recipient));"
	"CREATE TABLE IF NOT EXISTS non_delivery ("
	"  msg_id BLOB PRIMARY KEY, at INTEGER NOT NULL, undelivered TEXT NOT NULL,"
	"  notice BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS received ("
	"  msg_id BLOB PRIMARY KEY, header BLOB, sender TEXT NOT NULL, type INTEGER NOT NULL,"
	"  case_id TEXT NOT NULL, in_reply_to BLOB, created_at INTEGER NOT NULL,"
	"  respond_by INTEGER NOT NULL, content_length INTEGER NOT NULL,"
	"  outcome INTEGER NOT NULL, error INTEGER NOT NULL, receipt BLOB,"
	"  receipt_acked INTEGER NOT NULL DEFAULT 0, fetched_at INTEGER NOT NULL,"
	"  out_dir TEXT NOT NULL, n_attachments INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS opens ("
	"  msg_id BLOB NOT NULL, staff_id TEXT NOT NULL, purpose TEXT NOT NULL,"
	"  at INTEGER NOT NULL, statement BLOB NOT NULL, audit_index INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS checkpoints ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, seen_at INTEGER NOT NULL, source TEXT NOT NULL,"
	"  msg_id BLOB NOT NULL DEFAULT x'', note TEXT NOT NULL,"	/* x'': not about one message */
	"  UNIQUE (note, source, msg_id));"
	/* The newest verified checkpoint of the gateway's log: HELLO asks for consistency with it. */
	"CREATE TABLE IF NOT EXISTS trusted ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, note TEXT NOT NULL);";

static int
prepare(struct outbox *o, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(o->db, sql, -1, st, NULL) == SQLITE_OK ? PU_OK : PU_ERR_LOCAL_DB;
}

/* Step a statement that returns no row, then finalize it. */
static int
run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? PU_OK : PU_ERR_LOCAL_DB;

	sqlite3_finalize(st);
	return rc;
}

static void
bind_id(sqlite3_stmt *st, int col, const uint8_t msg_id[16])
{
	sqlite3_bind_blob(st, col, msg_id, 16, SQLITE_STATIC);
}

static void
column_text(sqlite3_stmt *st, int col, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, n, "%s", t != NULL ? (const char *)t : "");
}

static void
column_hex(sqlite3_stmt *st, int col, char out[PUENTE_MSG_ID_HEX])
{
	out[0] = '\0';
	if (sqlite3_column_bytes(st, col) == 16)
		sodium_bin2hex(out, PUENTE_MSG_ID_HEX, sqlite3_column_blob(st, col), 16);
}

static int
column_copy(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
	int n = sqlite3_column_bytes(st, col);

	*out = NULL;
	*len = 0;
	if (n <= 0)
		return PU_OK;
	if ((*out = malloc((size_t)n)) == NULL)
		return PU_ERR_NOMEM;
	memcpy(*out, sqlite3_column_blob(st, col), (size_t)n);
	*len = (size_t)n;
	return PU_OK;
}

/* Files a crash left half-written (outbox/HEX.tmp) were never queued: they go. */
static void
remove_partial(struct outbox *o)
{
	char path[OUTBOX_PATH_MAX + 64];
	DIR *dh = opendir(o->dir);
	struct dirent *e;

	if (dh == NULL)
		return;
	while ((e = readdir(dh)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len == 36 && strcmp(e->d_name + 32, ".tmp") == 0 &&
		    snprintf(path, sizeof(path), "%s/%s", o->dir, e->d_name) <
		    (int)sizeof(path))
			unlink(path);
	}
	closedir(dh);
}

int
outbox_open(struct outbox *o, const char *agency_dir, char *detail, size_t n)
{
	char path[OUTBOX_PATH_MAX];
	int w;

	memset(o, 0, sizeof(*o));
	w = snprintf(o->dir, sizeof(o->dir), "%s/outbox", agency_dir);
	if (w < 0 || (size_t)w >= sizeof(o->dir) || dir_ensure(o->dir, 0700) != PU_OK) {
		snprintf(detail, n, "%s: cannot create the outbox folder", o->dir);
		return PU_ERR_IO;
	}
	snprintf(path, sizeof(path), "%s/client.db", agency_dir);
	if (sqlite3_open_v2(path, &o->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK ||
	    chmod(path, 0600) != 0 ||
	    sqlite3_busy_timeout(o->db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
	    sqlite3_exec(o->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(detail, n, "%s: %s", path, o->db ? sqlite3_errmsg(o->db) : "cannot open");
		outbox_close(o);
		return PU_ERR_LOCAL_DB;
	}
	remove_partial(o);
	return PU_OK;
}

void
outbox_close(struct outbox *o)
{
	if (o->db != NULL)
		sqlite3_close(o->db);
	o->db = NULL;
}

int
outbox_file(const struct outbox *o, const uint8_t msg_id[16], const char *suffix, char *out,
    size_t n)
{
	char hex[PUENTE_MSG_ID_HEX];
	int w;

	sodium_bin2hex(hex, sizeof(hex), msg_id, 16);
	w = snprintf(out, n, "%s/%s.%s", o->dir, hex, suffix);
	return w >= 0 && (size_t)w < n ? PU_OK : PU_ERR_TOO_LARGE;
}

static void
recipients_csv(const Puente__HeaderCore *c, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n_recipients; i++) {
		int w = snprintf(out + len, n - len, "%s%s", i ? "," : "", c->recipients[i]->agency_id);
		if (w < 0 || (size_t)w >= n - len)
			break;
		len += (size_t)w;
	}
}

int
outbox_add(struct outbox *o, const struct header *h, const uint8_t receipt_mac[32])
{
	const Puente__HeaderCore *c = h->core;
	char to[PUENTE_MAX_RECIPIENTS * PUENTE_ID_MAX];
	uint8_t *enc;
	size_t enc_len;
	sqlite3_stmt *st;
	int rc;

	if ((rc = pb_encode(&h->signed_hdr->base, &enc, &enc_len)) != PU_OK)
		return rc;
	recipients_csv(c, to, sizeof(to));
	if ((rc = prepare(o, "INSERT INTO sent (msg_id, header, header_hash, receipt_mac, type,"
	    " case_id, recipients, in_reply_to, created_at, expires_at, respond_by, content_length,"
	    " state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,1)", &st)) != PU_OK) {
		free(enc);
		return rc;
	}
	sqlite3_bind_blob(st, 1, c->msg_id.data, (int)c->msg_id.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, enc, (int)enc_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, h->header_hash, PU_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, receipt_mac, 32, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, c->type);
	sqlite3_bind_text(st, 6, c->case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, to, -1, SQLITE_STATIC);
	if (c->in_reply_to.len == 16)
		sqlite3_bind_blob(st, 8, c->in_reply_to.data, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, c->created_at);
	sqlite3_bind_int64(st, 10, c->expires_at);
	sqlite3_bind_int64(st, 11, c->respond_by);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)c->content_length);
	rc = run(st);
	free(enc);
	return rc;
}

int
outbox_queued(struct outbox *o, uint8_t (**ids)[16], size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 16;
	int rc;

	*n = 0;
	if ((*ids = malloc(cap * 16)) == NULL)
		return PU_ERR_NOMEM;
	if ((rc = prepare(o, "SELECT msg_id FROM sent WHERE state = 1 ORDER BY seq", &st)) != PU_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != 16)
			continue;
		if (*n == cap) {
			void *more = realloc(*ids, cap * 2 * 16);
			if (more == NULL) {
				sqlite3_finalize(st);
				rc = PU_ERR_NOMEM;
				goto fail;
			}
			*ids = more;
			cap *= 2;
		}
		memcpy((*ids)[(*n)++], sqlite3_column_blob(st, 0), 16);
	}
	rc = rc == SQLITE_DONE ? PU_OK : PU_ERR_LOCAL_DB;
	sqlite3_finalize(st);
	if (rc == PU_OK)
		return PU_OK;
fail:
	free(*ids);
	*ids = NULL;
	*n = 0;
	return rc;
}

static void
split_recipients(const char *csv, struct puente_sent *s)
{
	const char *p = csv;

	s->n_recipients = 0;
	while (*p != '\0' && s->n_recipients < PUENTE_MAX_RECIPIENTS) {
		size_t len = strcspn(p, ",");
		if (len < PUENTE_ID_MAX) {
			memcpy(s->recipients[s->n_recipients], p, len);
			s->recipients[s->n_recipients++][len] = '\0';
		}
		p += len + (p[len] == ',');
	}
}

int
outbox_sent(struct outbox *o, const uint8_t msg_id[16], struct puente_sent *s,
    uint8_t **header, size_t *header_len, uint8_t receipt_mac[32])
{
	char to[PUENTE_MAX_RECIPIENTS * PUENTE_ID_MAX];
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "SELECT msg_id, state, error, type, case_id, recipients, in_reply_to,"
	    " created_at, expires_at, respond_by, content_length, attempts, gateway_id, audit_index,"
	    " accepted_at, header, receipt_mac,"
	    " (SELECT COUNT(*) FROM receipts r WHERE r.msg_id = sent.msg_id)"
	    " FROM sent WHERE msg_id = ?", &st)) != PU_OK)
		return rc;
	bind_id(st, 1, msg_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? PU_ERR_UNKNOWN_MESSAGE : PU_ERR_LOCAL_DB;
	}
	memset(s, 0, sizeof(*s));
	column_hex(st, 0, s->msg_id);
	s->state = sqlite3_column_int(st, 1);
	s->error = sqlite3_column_int(st, 2);
	s->type = sqlite3_column_int(st, 3);
	column_text(st, 4, s->case_id, sizeof(s->case_id));
	column_text(st, 5, to, sizeof(to));
	split_recipients(to, s);
	column_hex(st, 6, s->in_reply_to);
	s->created_at = sqlite3_column_int64(st, 7);
	s->expires_at = sqlite3_column_int64(st, 8);
	s->respond_by = sqlite3_column_int64(st, 9);
	s->content_length = (uint64_t)sqlite3_column_int64(st, 10);
	s->attempts = (unsigned)sqlite3_column_int(st, 11);
	column_text(st, 12, s->gateway_id, sizeof(s->gateway_id));
	s->audit_index = (uint64_t)sqlite3_column_int64(st, 13);
	s->accepted_at = sqlite3_column_int64(st, 14);
	s->n_receipts = (unsigned)sqlite3_column_int(st, 17);
	rc = PU_OK;
	if (header != NULL && header_len != NULL)
		rc = column_copy(st, 15, header, header_len);
	if (receipt_mac != NULL && sqlite3_column_bytes(st, 16) == 32)
		memcpy(receipt_mac, sqlite3_column_blob(st, 16), 32);
	sqlite3_finalize(st);
	return rc;
}

int
outbox_attempt_failed(struct outbox *o, const uint8_t msg_id[16], int err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "UPDATE sent SET attempts = attempts + 1, error = ? WHERE msg_id = ?",
	    &st)) != PU_OK)
		return rc;
	sqlite3_bind_int(st, 1, err);
	bind_id(st, 2, msg_id);
	return run(st);
}

/* The sealed file is no longer needed once the gateway has the message, or never will. */
static void
drop_file(struct outbox *o, const uint8_t msg_id[16])
{
	char path[OUTBOX_PATH_MAX + 48];

	if (outbox_file(o, msg_id, "msg", path, sizeof(path)) == PU_OK)
		unlink(path);
}

int
outbox_accepted(struct outbox *o, const uint8_t msg_id[16], const uint8_t *receipt,
    size_t len, const char *gateway_id, uint64_t audit_index, int64_t accepted_at)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "UPDATE sent SET state = 2, error = 0, attempts = attempts + 1,"
	    " gateway_receipt = ?, gateway_id = ?, audit_index = ?, accepted_at = ?"
	    " WHERE msg_id = ?", &st)) != PU_OK)
		return rc;
	sqlite3_bind_blob(st, 1, receipt, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, gateway_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)audit_index);
	sqlite3_bind_int64(st, 4, accepted_at);
	bind_id(st, 5, msg_id);
	if ((rc = run(st)) == PU_OK)
		drop_file(o, msg_id);
	return rc;
}

int
outbox_refused(struct outbox *o, const uint8_t msg_id[16], int err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "UPDATE sent SET state = 3, error = ?, attempts = attempts + 1"
	    " WHERE msg_id = ?", &st)) != PU_OK)
		return rc;
	sqlite3_bind_int(st, 1, err);
	bind_id(st, 2, msg_id);
	if ((rc = run(st)) == PU_OK)
		drop_file(o, msg_id);
	return rc;
}

int
outbox_receipt_add(struct outbox *o, const uint8_t msg_id[16], const Puente__RecipientReceipt *rr,
    const uint8_t *signed_bytes, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "INSERT OR REPLACE INTO receipts (msg_id, recipient, outcome, at,"
	    " receipt) VALUES (?,?,?,?,?)", &st)) != PU_OK)
		return rc;
	bind_id(st, 1, msg_id);
	sqlite3_bind_text(st, 2, rr->recipient, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, rr->outcome);
	sqlite3_bind_int64(st, 4, rr->at);
	sqlite3_bind_blob(st, 5, signed_bytes, (int)len, SQLITE_STATIC);
	return run(st);
}

int
outbox_receipts(struct outbox *o, const uint8_t msg_id[16], struct puente_receipt **list,
    size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if ((*list = calloc(PUENTE_MAX_RECIPIENTS, sizeof(**list))) == NULL)
		return PU_ERR_NOMEM;
	if ((rc = prepare(o, "SELECT recipient, outcome, at FROM receipts WHERE msg_id = ?"
	    " ORDER BY recipient", &st)) != PU_OK)
		return rc;
	bind_id(st, 1, msg_id);
	while (*n < PUENTE_MAX_RECIPIENTS && sqlite3_step(st) == SQLITE_ROW) {
		struct puente_receipt *r = &(*list)[(*n)++];
		column_text(st, 0, r->recipient, sizeof(r->recipient));
		r->outcome = sqlite3_column_int(st, 1);
		r->at = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return PU_OK;
}

int
outbox_non_delivery_add(struct outbox *o, const uint8_t msg_id[16], int64_t at,
    const char *undelivered, const uint8_t *signed_bytes, size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "INSERT OR REPLACE INTO non_delivery (msg_id, at, undelivered, notice)"
	    " VALUES (?,?,?,?)", &st)) != PU_OK)
		return rc;
	bind_id(st, 1, msg_id);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_text(st, 3, undelivered, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, signed_bytes, (int)len, SQLITE_STATIC);
	return run(st);
}

int
outbox_received(struct outbox *o, const uint8_t msg_id[16], struct puente_received *r,
    uint8_t **receipt, size_t *receipt_len)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "SELECT msg_id, sender, type, case_id, in_reply_to, created_at,"
	    " respond_by, content_length, outcome, error, receipt_acked, fetched_at, out_dir,"
	    " n_attachments, receipt, (SELECT COUNT(*) FROM opens p WHERE p.msg_id = r.msg_id)"
	    " FROM received r WHERE msg_id = ?", &st)) != PU_OK)
		return rc;
	bind_id(st, 1, msg_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? PU_ERR_UNKNOWN_MESSAGE : PU_ERR_LOCAL_DB;
	}
	memset(r, 0, sizeof(*r));
	column_hex(st, 0, r->msg_id);
	column_text(st, 1, r->sender, sizeof(r->sender));
	r->type = sqlite3_column_int(st, 2);
	column_text(st, 3, r->case_id, sizeof(r->case_id));
	column_hex(st, 4, r->in_reply_to);
	r->created_at = sqlite3_column_int64(st, 5);
	r->respond_by = sqlite3_column_int64(st, 6);
	r->content_length = (uint64_t)sqlite3_column_int64(st, 7);
	r->outcome = sqlite3_column_int(st, 8);
	r->error = sqlite3_column_int(st, 9);
	r->receipt_acked = sqlite3_column_int(st, 10);
	r->fetched_at = sqlite3_column_int64(st, 11);
	column_text(st, 12, r->out_dir, sizeof(r->out_dir));
	r->n_attachments = (size_t)sqlite3_column_int64(st, 13);
	r->opens = (unsigned)sqlite3_column_int(st, 15);
	rc = receipt != NULL && receipt_len != NULL ? column_copy(st, 14, receipt, receipt_len) :
	    PU_OK;
	sqlite3_finalize(st);
	return rc;
}

int
outbox_received_put(struct outbox *o, const uint8_t msg_id[16], const struct puente_received *r,
    const struct header *h, const uint8_t *receipt, size_t receipt_len)
{
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	sqlite3_stmt *st;
	int rc;

	if (h != NULL && (rc = pb_encode(&h->signed_hdr->base, &enc, &enc_len)) != PU_OK)
		return rc;
	if ((rc = prepare(o, "INSERT OR REPLACE INTO received (msg_id, header, sender, type,"
	    " case_id, in_reply_to, created_at, respond_by, content_length, outcome, error, receipt,"
	    " receipt_acked, fetched_at, out_dir, n_attachments)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,?)", &st)) != PU_OK) {
		free(enc);
		return rc;
	}
	bind_id(st, 1, msg_id);
	if (enc != NULL)
		sqlite3_bind_blob(st, 2, enc, (int)enc_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->sender, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, r->type);
	sqlite3_bind_text(st, 5, r->case_id, -1, SQLITE_STATIC);
	if (h != NULL && h->core->in_reply_to.len == 16)
		sqlite3_bind_blob(st, 6, h->core->in_reply_to.data, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, r->created_at);
	sqlite3_bind_int64(st, 8, r->respond_by);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)r->content_length);
	sqlite3_bind_int(st, 10, r->outcome);
	sqlite3_bind_int(st, 11, r->error);
	if (receipt != NULL)
		sqlite3_bind_blob(st, 12, receipt, (int)receipt_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 13, r->fetched_at);
	sqlite3_bind_text(st, 14, r->out_dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 15, (sqlite3_int64)r->n_attachments);
	rc = run(st);
	free(enc);
	return rc;
}

int
outbox_received_acked(struct outbox *o, const uint8_t msg_id[16])
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "UPDATE received SET receipt_acked = 1 WHERE msg_id = ?", &st)) != PU_OK)
		return rc;
	bind_id(st, 1, msg_id);
	return run(st);
}

int
outbox_open_add(struct outbox *o, const uint8_t msg_id[16], const char *staff,
    const char *purpose, int64_t at, const uint8_t *statement, size_t len, uint64_t audit_index)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(o, "INSERT INTO opens (msg_id, staff_id, purpose, at, statement,"
	    " audit_index) VALUES (?,?,?,?,?,?)", &st)) != PU_OK)
		return rc;
	bind_id(st, 1, msg_id);
	sqlite3_bind_text(st, 2, staff, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, purpose, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, at);
	sqlite3_bind_blob(st, 5, statement, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)audit_index);
	return run(st);
}

int
outbox_checkpoint_add(struct outbox *o, const char *source, const uint8_t *msg_id,
    const char *note)
{
	sqlite3_stmt *st;
	int rc;

	/* Each session's WELCOME repeats the newest checkpoint: kept once. */
	if ((rc = prepare(o, "INSERT OR IGNORE INTO checkpoints (seen_at, source, msg_id, note)"
	    " VALUES (?,?,?,?)", &st)) != PU_OK)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
	if (msg_id != NULL)
		bind_id(st, 3, msg_id);
	else
		sqlite3_bind_blob(st, 3, "", 0, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, note, -1, SQLITE_STATIC);
	return run(st);
}

int
outbox_trusted_get(struct outbox *o, char **note, uint64_t *size)
{
	sqlite3_stmt *st;
	int rc, step;

	*note = NULL;
	*size = 0;
	if ((rc = prepare(o, "SELECT note, size FROM trusted WHERE id = 1", &st)) != PU_OK)
		return rc;
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(st, 1);
		if ((*note = strdup((const char *)sqlite3_column_text(st, 0))) == NULL)
			rc = PU_ERR_NOMEM;
	} else if (step != SQLITE_DONE) {
		rc = PU_ERR_LOCAL_DB;
	}
	sqlite3_finalize(st);
	return rc;
}

int
outbox_trusted_set(struct outbox *o, const char *note, uint64_t size)
{
	sqlite3_stmt *st;
	int rc;

	/* Only ever forward: a smaller checkpoint never replaces a larger one. */
	if ((rc = prepare(o, "INSERT INTO trusted (id, size, note) VALUES (1, ?, ?) "
	    "ON CONFLICT (id) DO UPDATE SET size = excluded.size, note = excluded.note "
	    "WHERE excluded.size > trusted.size", &st)) != PU_OK)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	sqlite3_bind_text(st, 2, note, -1, SQLITE_STATIC);
	return run(st);
}
