/*
 * audit_cmd.c - `puente audit`: what an auditor runs against the gateway's log
 * (DESIGN.md §8, PROTOCOL.md §8.3), over the auditor agency's own mTLS session.
 *
 *   verify [--export FILE | --from FILE]   replay the whole log (live, or an export file
 *                                          offline), check every hash, checkpoint, chain
 *                                          and the consistency with audit.state
 *   trace --case ID [--html FILE]          the case's timeline, each entry proved in a
 *                                          signed checkpoint, the chain unbroken
 *
 * The checkpoint verified last is kept in the agency folder's audit.state (written
 * atomically); every later run insists that the log extends it. An export file is the
 * AUDIT_ANSWER frames of a full replay as received, so replaying it offline checks the
 * same signatures and hashes.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "audit_cmd.h"
#include "audit_verify.h"
#include "client.h"
#include "fsutil.h"
#include "keyfile.h"
#include "pb.h"
#include "pu_err.h"

#define STATE_FILE "audit.state"

struct audit_run {
	struct puente_client *c;
	struct averify v;
	FILE *export;			/* --export: answers are written here as received */
	const char *purpose;
};

static int
run_fail(struct audit_run *r, int rc, const char *what)
{
	fprintf(stderr, "puente: audit %s: %s\n", what, r->v.problem[0] ? r->v.problem :
	    puente_error_detail(r->c)[0] ? puente_error_detail(r->c) : pu_err_message(rc));
	return pu_err_exit_code(rc);
}

/* audit.state: the checkpoint trusted so far, or none (*note NULL). */
static int
state_load(struct puente_client *c, char **note)
{
	char path[AGENCY_PATH_MAX];
	uint8_t *text;
	size_t len;
	int rc;

	*note = NULL;
	if ((rc = agency_path(&c->ag, STATE_FILE, path, sizeof(path))) != PU_OK)
		return rc;
	rc = file_read_all(path, NOTE_MAX_LEN, &text, &len);
	if (rc == PU_ERR_NOT_FOUND)
		return PU_OK;	/* first run: trust on first use */
	if (rc != PU_OK)
		return client_fail(c, rc, "%s cannot be read", STATE_FILE);
	*note = (char *)text;	/* file_read_all NUL-terminates */
	return PU_OK;
}

static int
state_save(struct puente_client *c, const struct note *n)
{
	char path[AGENCY_PATH_MAX], text[NOTE_MAX_LEN + 1];
	int rc;

	if ((rc = averify_note_string(n, text, sizeof(text))) != PU_OK ||
	    (rc = agency_path(&c->ag, STATE_FILE, path, sizeof(path))) != PU_OK ||
	    (rc = file_write_atomic(path, text, strlen(text), 0600, FILE_REPLACE)) != PU_OK)
		return client_fail(c, rc, "%s cannot be written", STATE_FILE);
	return PU_OK;
}

/* One query, its answer decoded (pb_free); the raw answer goes to the export file too. */
static int
query(struct audit_run *r, const Puente__AuditQuery *q, Puente__AuditAnswer **out)
{
	struct puente_client *c = r->c;
	const uint8_t *body;
	ProtobufCMessage *m;
	size_t len;
	int rc;

	if ((rc = client_connect(c)) != PU_OK)
		return rc;
	if ((rc = conn_send_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_QUERY,
	    &q->base)) != PU_OK ||
	    (rc = conn_expect(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER,
	    c->conn.timeout_ms, &body, &len)) != PU_OK)
		return client_conn_fail(c, rc);
	if (r->export != NULL) {
		uint8_t hdr[PU_FRAME_HEADER_LEN];
		put_u32be(hdr, (uint32_t)len + 1);
		hdr[4] = PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER;
		if (fwrite(hdr, 1, sizeof(hdr), r->export) != sizeof(hdr) ||
		    fwrite(body, 1, len, r->export) != len)
			return client_fail(c, PU_ERR_IO, "the export file cannot be written");
	}
	if ((rc = frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER, body, len,
	    &m)) != PU_OK)
		return client_fail(c, rc, "the gateway's answer is malformed");
	*out = (Puente__AuditAnswer *)m;
	return PU_OK;
}

/* Where the replay stands after a page: done when it reached the answer's checkpoint. */
static int
page_done(const Puente__AuditAnswer *a, uint64_t *next)
{
	struct note n;

	*next = a->next_index;
	return note_parse((const uint8_t *)a->checkpoint, strlen(a->checkpoint), &n) != PU_OK ||
	    a->next_index >= n.tree_size || a->n_records == 0;
}

static int
replay_live(struct audit_run *r)
{
	Puente__AuditQuery q = PUENTE__AUDIT_QUERY__INIT;
	Puente__AuditAnswer *a;
	uint64_t next = 0;
	int rc, done;

	q.limit = AUDIT_PAGE;
	q.purpose = (char *)r->purpose;
	do {
		q.start_index = next;
		q.known_size = r->v.has_trusted ? r->v.trusted.tree_size : 0;
		if ((rc = query(r, &q, &a)) != PU_OK)
			return rc;
		rc = averify_page(&r->v, a);
		done = page_done(a, &next);
		pb_free(a);
	} while (rc == PU_OK && !done);
	return rc;
}

/* An export file: AUDIT_ANSWER frames, replayed through the same checks. */
static int
replay_file(struct audit_run *r, const char *path)
{
	struct frame_reader fr;
	uint8_t buf[65536];
	size_t n, used, off;
	FILE *f = fopen(path, "rb");
	int rc = PU_OK, frames = 0;

	if (f == NULL)
		return client_fail(r->c, errno == ENOENT ? PU_ERR_NOT_FOUND : PU_ERR_IO,
		    "%s cannot be opened", path);
	frame_reader_init(&fr, PU_FRAME_MAX);
	while (rc == PU_OK && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		for (off = 0; rc == PU_OK && off < n; off += used) {
			ProtobufCMessage *m;
			rc = frame_reader_feed(&fr, buf + off, n - off, &used);
			if (rc == PU_ERR_AGAIN) {
				rc = PU_OK;
				break;
			}
			if (rc != PU_OK || fr.type != PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER ||
			    frame_decode_body(fr.type, fr.body.data, fr.body.len, &m) != PU_OK) {
				rc = client_fail(r->c, PU_ERR_AUDIT_EXPORT, "%s: frame %d is not an audit "
				    "answer", path, frames + 1);
				break;
			}
			rc = averify_page(&r->v, (Puente__AuditAnswer *)m);
			pb_free(m);
			frame_reader_next(&fr);
			frames++;
		}
	}
	if (rc == PU_OK && (ferror(f) || fr.hdr_have > 0 || fr.body.len > 0))
		rc = client_fail(r->c, PU_ERR_AUDIT_EXPORT, "%s ends in the middle of a frame", path);
	frame_reader_free(&fr);
	fclose(f);
	return rc;
}

static void
event_name(int event, char *out, size_t n)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &puente__audit_event__descriptor, event);
	const char *s = v != NULL ? v->name + strlen("AUDIT_EVENT_") : "unknown";

	snprintf(out, n, "%s", s);
	for (char *p = out; *p; p++)
		*p = *p == '_' ? '-' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
}

static int
cmd_verify(struct audit_run *r, const char *export_path, const char *from_path, int json)
{
	int rc;

	if (export_path != NULL && (r->export = fopen(export_path, "wb")) == NULL)
		return run_fail(r, client_fail(r->c, PU_ERR_IO, "%s cannot be created",
		    export_path), "verify");
	rc = from_path != NULL ? replay_file(r, from_path) : replay_live(r);
	if (rc == PU_OK)
		rc = averify_finish(&r->v);
	if (r->export != NULL && (fclose(r->export) != 0) && rc == PU_OK)
		rc = client_fail(r->c, PU_ERR_IO, "%s cannot be written", export_path);
	r->export = NULL;
	if (rc != PU_OK)
		return run_fail(r, rc, "verify");
	if ((rc = state_save(r->c, &r->v.newest)) != PU_OK)
		return run_fail(r, rc, "verify");
	if (json)
		printf("{\"verified\":true,\"entries\":%" PRIu64 ",\"checkpoints\":%" PRIu64
		    ",\"size\":%" PRIu64 ",\"extends_trusted\":%s,\"witnessed_size\":%" PRIu64
		    ",\"cosigners\":%zu}\n", r->v.tree.size, r->v.checkpoints,
		    r->v.newest.tree_size, r->v.has_trusted ? "true" : "false",
		    r->v.has_witnessed ? r->v.witnessed.tree_size : 0, r->v.n_cosigners);
	else
		printf("audit log verified: %" PRIu64 " entries, %" PRIu64 " signed checkpoints "
		    "checked,\n  the newest (size %" PRIu64 ") %s, kept in %s\n", r->v.tree.size,
		    r->v.checkpoints, r->v.newest.tree_size, r->v.has_trusted ?
		    "extends the one trusted before" : "is now trusted (first run)", STATE_FILE);
	if (!json && r->v.has_witnessed) {
		printf("  it extends the checkpoint of size %" PRIu64 " cosigned by",
		    r->v.witnessed.tree_size);
		for (size_t i = 0; i < r->v.n_cosigners; i++)
			printf("%s %s", i ? "," : "", r->v.cosigners[i]);
		printf("\n");
	} else if (!json) {
		printf("  no witness has cosigned a checkpoint of this log yet\n");
	}
	return 0;
}

/* ---- trace ------------------------------------------------------------------------- */

/* Text for HTML: the five characters that could start markup, escaped. */
static void
html_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

struct trace_row {
	char when[32], event[32], msg[17], type[40];
	const Puente__AuditEntry *e;
	uint64_t index;
};

static void
trace_row(const Puente__AuditEntry *e, uint64_t index, struct trace_row *row)
{
	time_t t = (time_t)e->at;
	struct tm tm;

	row->e = e;
	row->index = index;
	if (gmtime_r(&t, &tm) != NULL)
		strftime(row->when, sizeof(row->when), "%Y-%m-%d %H:%M:%SZ", &tm);
	else
		snprintf(row->when, sizeof(row->when), "-");
	event_name(e->event, row->event, sizeof(row->event));
	row->msg[0] = '\0';
	for (size_t i = 0; i < e->msg_id.len && i < 8; i++)
		snprintf(row->msg + 2 * i, 3, "%02x", e->msg_id.data[i]);
	snprintf(row->type, sizeof(row->type), "%s", e->type ? puente_type_name(e->type) : "");
}

/* One JSON object per entry; jansson escapes whatever the strings hold. */
static void
json_row(const struct trace_row *row)
{
	const Puente__AuditEntry *e = row->e;
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "index",
	    (json_int_t)row->index, "at", row->when, "event", row->event, "agency", e->agency_id,
	    "staff", e->staff_id, "purpose", e->purpose, "type", row->type, "msg", row->msg,
	    "outcome", e->outcome);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	if (text != NULL)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"es\"><head><meta charset=\"utf-8\">\n"
	"<title>Puente: audit trail of case %s</title>\n<style>\n"
	"body{font-family:sans-serif;margin:2em;color:#111}\n"
	"table{border-collapse:collapse;width:100%%;font-size:0.9em}\n"
	"th,td{border:1px solid #999;padding:0.3em 0.5em;text-align:left;vertical-align:top}\n"
	"th{background:#e8e8e8}\n.bad{color:#a00;font-weight:bold}\n"
	"code{font-size:0.85em;word-break:break-all}\n"
	"@media print{body{margin:0}th{background:none}}\n"
	"</style></head><body>\n";

static void
html_report(FILE *f, const char *case_id, const struct trace_row *rows, size_t n,
    const struct audit_run *r)
{
	char note[NOTE_MAX_LEN + 1] = "";

	averify_note_string(&r->v.newest, note, sizeof(note));
	fprintf(f, html_head, case_id);
	fputs("<h1>Audit trail of case <code>", f);
	html_text(f, case_id);
	fputs("</code></h1>\n<p>Every entry below was checked against the gateway's signed "
	    "checkpoint with an inclusion proof, and the entries form the case's unbroken "
	    "chain. No personal data is recorded in the audit log.</p>\n", f);
	fprintf(f, "<p>%zu entries; checkpoint of size %" PRIu64 "%s.</p>\n<table>\n<tr><th>#"
	    "</th><th>When (UTC)</th><th>Event</th><th>Agency</th><th>Staff</th><th>Purpose</th>"
	    "<th>Type</th><th>Message</th><th>Outcome</th></tr>\n", n, r->v.newest.tree_size,
	    r->v.has_trusted ? ", consistent with the checkpoint trusted before" : "");
	for (size_t i = 0; i < n; i++) {
		const Puente__AuditEntry *e = rows[i].e;
		fprintf(f, "<tr><td>%" PRIu64 "</td><td>%s</td><td>%s</td><td>", rows[i].index,
		    rows[i].when, rows[i].event);
		html_text(f, e->agency_id);
		fputs("</td><td>", f);
		html_text(f, e->staff_id);
		fputs("</td><td>", f);
		html_text(f, e->purpose);
		fprintf(f, "</td><td>%s</td><td><code>%s</code></td><td%s>", rows[i].type,
		    rows[i].msg, strcmp(e->outcome, "ok") == 0 ? "" : " class=\"bad\"");
		html_text(f, e->outcome);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n<h2>Checkpoint</h2>\n<pre>", f);
	html_text(f, note);
	fputs("</pre>\n</body></html>\n", f);
}

static int
cmd_trace(struct audit_run *r, const char *case_id, const char *html_path, int json)
{
	Puente__AuditQuery q = PUENTE__AUDIT_QUERY__INIT;
	Puente__AuditAnswer *pages[64];
	struct trace_row *rows = NULL;
	ProtobufCMessage *m;
	size_t n_pages = 0, n_rows = 0;
	uint64_t next = 0;
	int rc = PU_OK, done = 0;

	q.case_id = (char *)case_id;
	q.limit = AUDIT_PAGE;
	q.proofs = 1;
	q.purpose = (char *)r->purpose;
	while (rc == PU_OK && !done && n_pages < 64) {
		q.start_index = next;
		q.known_size = r->v.has_trusted ? r->v.trusted.tree_size : 0;
		if ((rc = query(r, &q, &pages[n_pages])) != PU_OK)
			break;
		rc = averify_answer(&r->v, pages[n_pages], case_id);
		done = page_done(pages[n_pages], &next);
		n_pages++;
	}
	if (rc == PU_OK && !done)
		rc = client_fail(r->c, PU_ERR_TOO_LARGE, "the case has more than %d pages of entries",
		    64 * AUDIT_PAGE);
	for (size_t p = 0; rc == PU_OK && p < n_pages; p++) {
		struct trace_row *grown = realloc(rows, (n_rows + pages[p]->n_records + 1) *
		    sizeof(*rows));
		if (grown == NULL) {
			rc = PU_ERR_NOMEM;
			break;
		}
		rows = grown;
		for (size_t i = 0; rc == PU_OK && i < pages[p]->n_records; i++) {
			const Puente__AuditRecord *rec = pages[p]->records[i];
			/* Already decoded once by the verifier; decoded again here to print. */
			if ((rc = pb_decode(&puente__audit_entry__descriptor, rec->entry.data,
			    rec->entry.len, &pb_limits_wire, 4 * rec->entry.len + 65536, &m)) == PU_OK)
				trace_row((Puente__AuditEntry *)m, rec->index, &rows[n_rows++]);
		}
	}
	if (rc == PU_OK && (rc = state_save(r->c, &r->v.newest)) == PU_OK) {
		if (html_path != NULL) {
			FILE *f = fopen(html_path, "w");
			if (f == NULL) {
				rc = client_fail(r->c, PU_ERR_IO, "%s cannot be created", html_path);
			} else {
				html_report(f, case_id, rows, n_rows, r);
				if (fclose(f) != 0)
					rc = client_fail(r->c, PU_ERR_IO, "%s cannot be written", html_path);
			}
		}
		if (rc == PU_OK && !json)
			printf("%-21s %-18s %-16s %-12s %-18s %-22s %-16s %s\n", "WHEN (UTC)", "EVENT",
			    "AGENCY", "STAFF", "PURPOSE", "TYPE", "MESSAGE", "OUTCOME");
		for (size_t i = 0; rc == PU_OK && i < n_rows; i++) {
			const Puente__AuditEntry *e = rows[i].e;
			if (json)
				json_row(&rows[i]);
			else
				printf("%-21s %-18s %-16s %-12s %-18s %-22s %-16s %s\n", rows[i].when,
				    rows[i].event, e->agency_id, e->staff_id[0] ? e->staff_id : "-",
				    e->purpose[0] ? e->purpose : "-", rows[i].type[0] ? rows[i].type :
				    "-", rows[i].msg[0] ? rows[i].msg : "-", e->outcome);
		}
		if (rc == PU_OK && !json)
			printf("%zu entries of case %s, each proved in the checkpoint of size %"
			    PRIu64 "; the chain is unbroken.\n", n_rows, case_id,
			    r->v.newest.tree_size);
	}
	for (size_t i = 0; i < n_rows; i++)
		pb_free((void *)rows[i].e);
	free(rows);
	for (size_t p = 0; p < n_pages; p++)
		pb_free(pages[p]);
	return rc == PU_OK ? 0 : run_fail(r, rc, "trace");
}

/* ---- witness ----------------------------------------------------------------------- */

#define WITNESS_STATE "witness.state"
#define WITNESS_KEY "witness.key"

static volatile sig_atomic_t witness_stop;

static void
on_stop_signal(int sig)
{
	(void)sig;
	witness_stop = 1;
}

/* witness.key: this agency's CHECKPOINT key, the one the directory lists for it now. */
static int
witness_key_load(struct puente_client *c, struct secret_key *k)
{
	const Puente__Agency *me = directory_find_agency(&c->ag.d, c->ag.id);
	const Puente__Key *listed;
	char path[AGENCY_PATH_MAX];
	int rc, is_witness = 0;

	for (size_t i = 0; i < c->ag.d.dir->n_witnesses; i++)
		is_witness |= strcmp(c->ag.d.dir->witnesses[i], c->ag.id) == 0;
	if (!is_witness)
		return client_fail(c, PU_ERR_NOT_WITNESS, "%s is not a witness in the directory",
		    c->ag.id);
	if ((rc = agency_path(&c->ag, WITNESS_KEY, path, sizeof(path))) != PU_OK ||
	    (rc = keyfile_load(path, getenv("PUENTE_PASSPHRASE"),
	    PUENTE__SECRET_KIND__SECRET_KIND_ED25519, k)) != PU_OK)
		return client_fail(c, rc, "%s cannot be loaded: %s", WITNESS_KEY, pu_err_message(rc));
	listed = me != NULL ? directory_current_key(me, PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT,
	    (int64_t)time(NULL)) : NULL;
	if (listed == NULL || listed->public_key.len != 32 ||
	    memcmp(listed->public_key.data, k->public_key, 32) != 0) {
		secret_key_clear(k);
		return client_fail(c, PU_ERR_UNKNOWN_KEY, "%s is not %s's witness key in the "
		    "directory", WITNESS_KEY, c->ag.id);
	}
	return PU_OK;
}

/* witness.state: the gateway's checkpoint this witness cosigned last, checked again. */
static int
witness_state_load(struct puente_client *c, const struct averify_log *log, struct note *n,
    int *have)
{
	char path[AGENCY_PATH_MAX];
	uint8_t *text;
	size_t len;
	int rc;

	*have = 0;
	if ((rc = agency_path(&c->ag, WITNESS_STATE, path, sizeof(path))) != PU_OK)
		return rc;
	if ((rc = file_read_all(path, NOTE_MAX_LEN, &text, &len)) == PU_ERR_NOT_FOUND)
		return PU_OK;	/* the first round: this witness trusts what it first sees */
	/* (a NUL inside would hide what follows it from the parser) */
	if (rc == PU_OK && (strlen((const char *)text) != len ||
	    averify_checkpoint(log, (const char *)text, n) != PU_OK))
		rc = PU_ERR_WITNESS_STATE;
	free(text);
	if (rc != PU_OK)
		return client_fail(c, PU_ERR_WITNESS_STATE, "%s is damaged or not of this gateway; "
		    "restore it from a backup - cosigning without it could bless a rewritten log",
		    WITNESS_STATE);
	*have = 1;
	return PU_OK;
}

/*
 * The gateway's witnessed checkpoint may carry this witness's own earlier cosignature: if
 * it is of a larger tree than the state file's, the state file was rolled back.
 */
static int
witness_state_current(struct puente_client *c, const struct secret_key *k, const char *witnessed,
    const struct note *state, int have)
{
	struct note w;
	uint64_t ts;
	int found;

	if (witnessed[0] == '\0' || note_parse((const uint8_t *)witnessed, strlen(witnessed),
	    &w) != PU_OK)
		return PU_OK;
	if (note_verify_cosignature(&w, c->ag.id, k->public_key, &found, &ts) == PU_OK &&
	    (!have || w.tree_size > state->tree_size))
		return client_fail(c, PU_ERR_WITNESS_STATE, "%s is older than the checkpoint of "
		    "size %llu this witness already cosigned: it was rolled back or lost",
		    WITNESS_STATE, (unsigned long long)w.tree_size);
	return PU_OK;
}

/* One round: fetch, check against the state, cosign, store the state. */
static int
witness_round(struct puente_client *c, const struct secret_key *k, int json)
{
	Puente__CheckpointRequest q = PUENTE__CHECKPOINT_REQUEST__INIT;
	Puente__Cosignature cs = PUENTE__COSIGNATURE__INIT;
	struct averify_log log = { 0 };
	Puente__CheckpointAnswer *a = NULL;
	uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN];
	struct note state, now;
	const uint8_t *body;
	ProtobufCMessage *m;
	struct buf note;
	char path[AGENCY_PATH_MAX];
	size_t len;
	int rc, have;

	if ((rc = client_gateway_log(c, &log)) != PU_OK ||
	    (rc = witness_state_load(c, &log, &state, &have)) != PU_OK ||
	    (rc = client_connect(c)) != PU_OK)
		return rc;
	q.known_size = have ? state.tree_size : 0;
	if ((rc = conn_send_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT_REQUEST,
	    &q.base)) != PU_OK || (rc = conn_expect(&c->conn,
	    PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT, c->conn.timeout_ms, &body, &len)) != PU_OK)
		return client_conn_fail(c, rc);
	if ((rc = frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT, body, len, &m)) !=
	    PU_OK)
		return client_fail(c, rc, "the gateway's checkpoint answer is malformed");
	a = (Puente__CheckpointAnswer *)m;
	if ((rc = averify_checkpoint(&log, a->checkpoint, &now)) != PU_OK) {
		rc = client_fail(c, rc, "the gateway's checkpoint does not verify: %s",
		    pu_err_message(rc));
		goto out;
	}
	if ((rc = witness_state_current(c, k, a->witnessed, &state, have)) != PU_OK)
		goto out;
	if (have && now.tree_size < state.tree_size) {
		rc = client_fail(c, PU_ERR_AUDIT_ROLLBACK, "the gateway shows a log of %llu entries, "
		    "smaller than the %llu this witness cosigned: refused",
		    (unsigned long long)now.tree_size, (unsigned long long)state.tree_size);
		goto out;
	}
	if (have && now.tree_size == state.tree_size && note_same_tree(&now, &state) != PU_OK) {
		rc = client_fail(c, PU_ERR_NOTE_FORK, "the gateway shows another tree of size %llu "
		    "than the one this witness cosigned: refused (fork)",
		    (unsigned long long)now.tree_size);
		goto out;
	}
	if (have && now.tree_size > state.tree_size) {
		int malformed = a->n_consistency_proof > MERKLE_MAX_PROOF;
		for (size_t i = 0; !malformed && i < a->n_consistency_proof; i++) {
			malformed = a->consistency_proof[i].len != MERKLE_HASH_LEN;
			if (!malformed)
				memcpy(proof + i * MERKLE_HASH_LEN, a->consistency_proof[i].data,
				    MERKLE_HASH_LEN);
		}
		if (malformed || merkle_verify_consistency(state.tree_size, now.tree_size, proof,
		    a->n_consistency_proof, state.root, now.root) != PU_OK) {
			rc = client_fail(c, PU_ERR_NOTE_FORK, "the checkpoint of size %llu does not "
			    "extend the one of size %llu this witness cosigned: refused, the log was "
			    "rewritten (fork)", (unsigned long long)now.tree_size,
			    (unsigned long long)state.tree_size);
			goto out;
		}
	}
	/* Cosign the gateway's note: its text, its signature, and this witness's line. */
	buf_init(&note, NOTE_MAX_LEN);
	rc = buf_append(&note, now.buf, now.len);
	if (rc == PU_OK)
		rc = note_cosign(now.buf, now.text_len, c->ag.id, k->secret, k->public_key,
		    (uint64_t)time(NULL), &note);
	if (rc == PU_OK && (rc = buf_append(&note, "", 1)) == PU_OK) {
		ProtobufCMessage *ans;
		cs.note = (char *)note.data;
		if ((rc = conn_send_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_COSIGNATURE,
		    &cs.base)) != PU_OK || (rc = conn_expect_msg(&c->conn,
		    PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT, &ans)) != PU_OK)
			rc = client_conn_fail(c, rc);
		else
			pb_free(ans);
	}
	buf_free(&note);
	if (rc != PU_OK)
		goto out;
	if ((rc = agency_path(&c->ag, WITNESS_STATE, path, sizeof(path))) != PU_OK ||
	    (rc = file_write_atomic(path, now.buf, now.len, 0600, FILE_REPLACE)) != PU_OK) {
		rc = client_fail(c, rc, "%s cannot be written", WITNESS_STATE);
		goto out;
	}
	if (json)
		printf("{\"cosigned\":true,\"size\":%llu}\n", (unsigned long long)now.tree_size);
	else
		printf("cosigned the gateway's checkpoint of size %llu%s\n",
		    (unsigned long long)now.tree_size, have ? ", consistent with the last one" : "");
	fflush(stdout);
out:
	pb_free(a);
	return rc;
}

/* Every interval seconds until SIGTERM or SIGINT (or once); a fork or rollback ends it. */
static int
cmd_witness(struct puente_client *c, int once, long interval, int json)
{
	struct secret_key k = { 0 };
	struct sigaction sa;
	int rc;

	if ((rc = witness_key_load(c, &k)) != PU_OK)
		return rc;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (;;) {
		rc = witness_round(c, &k, json);
		client_disconnect(c);
		if (once || rc == PU_ERR_NOTE_FORK || rc == PU_ERR_AUDIT_ROLLBACK ||
		    rc == PU_ERR_WITNESS_STATE || rc == PU_ERR_NOT_WITNESS)
			break;
		if (rc != PU_OK)	/* the gateway unreachable: said, and tried again later */
			fprintf(stderr, "puente: audit witness: %s\n", puente_error_detail(c));
		for (long t = 0; t < interval && !witness_stop; t++)
			sleep(1);
		if (witness_stop) {
			rc = PU_OK;
			break;
		}
	}
	secret_key_clear(&k);
	return rc;
}

/* ---- the command ------------------------------------------------------------------- */

static const char audit_usage[] =
	"usage: puente [--agency DIR] [--json] audit verify [--export FILE | --from FILE] "
	"[--purpose TEXT]\n"
	"       puente [--agency DIR] [--json] audit export FILE [--purpose TEXT]\n"
	"       puente [--agency DIR] [--json] audit trace --case ID [--html FILE] "
	"[--purpose TEXT]\n"
	"       puente [--agency DIR] [--json] audit report --case ID --html FILE "
	"[--purpose TEXT]\n"
	"       puente [--agency DIR] [--json] audit witness [--once] [--interval SECONDS]\n";

static const char audit_help[] =
	"\nFor the auditor agency. Every query is itself recorded in the log, with its purpose.\n"
	"\n  verify   replay the whole log: every entry's hash, the tree, every checkpoint the\n"
	"           gateway signed, every case's chain, and that the log extends the checkpoint\n"
	"           kept in the agency folder's audit.state (then updated)\n"
	"    --export FILE   also write what was received, for an offline replay\n"
	"    --from FILE     replay an export file instead of asking the gateway\n"
	"  export FILE  the same as verify --export FILE\n"
	"  trace    the timeline of one case: when, which agency, which staff member, what,\n"
	"           why, outcome; each entry proved in a signed checkpoint, the chain unbroken\n"
	"    --case ID       the case\n"
	"    --html FILE     also write a self-contained page to read and print\n"
	"  report   the same as trace, --html FILE required\n"
	"  witness  for the witnesses the directory lists (the auditor body, PFPNNA): check\n"
	"           the gateway's newest checkpoint against the one cosigned last (kept in\n"
	"           witness.state), then cosign it with witness.key; every 300 s until\n"
	"           SIGTERM, or once with --once (cron). A fork or a smaller log is refused\n"
	"           and ends it with status 65.\n"
	"    --interval SECONDS  between rounds (60..3600, default 300)\n"
	"  --purpose TEXT    why the auditor asks (default \"audit\")\n"
	"\nExit 0 verified; 65 the log fails a check (the message names it); 75 the gateway\n"
	"cannot be reached.\n";

static int
audit_usage_error(const char *why, const char *arg)
{
	fprintf(stderr, "puente: audit: %s%s%s\n%s", why, arg ? " " : "", arg ? arg : "",
	    audit_usage);
	return 64;	/* EX_USAGE */
}

int
audit_main(int argc, char **argv, const char *agency, int json, int timeout_s)
{
	const char *sub, *case_id = NULL, *html = NULL, *export_path = NULL, *from = NULL,
	    *purpose = "audit", *interval_arg = NULL;
	long interval = 300;
	int once = 0;
	struct puente_options popt = { 0 };
	struct puente_client *c = NULL;
	struct audit_run r = { 0 };
	struct averify_log log = { 0 };
	char *trusted = NULL;
	int rc, first;

	if (argc < 1 || strcmp(argv[0], "--help") == 0) {
		printf("%s%s", audit_usage, audit_help);
		return argc < 1 ? 64 : 0;
	}
	sub = argv[0];
	if (strcmp(sub, "verify") != 0 && strcmp(sub, "trace") != 0 &&
	    strcmp(sub, "export") != 0 && strcmp(sub, "report") != 0 &&
	    strcmp(sub, "witness") != 0)
		return audit_usage_error("unknown audit command", sub);
	first = 1;
	if (strcmp(sub, "export") == 0) {
		if (argc < 2 || argv[1][0] == '\0' || argv[1][0] == '-')
			return audit_usage_error("export needs the FILE to write", NULL);
		export_path = argv[first++];
	}
	for (int i = first; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--case") == 0 ? &case_id :
		    strcmp(argv[i], "--html") == 0 ? &html :
		    strcmp(argv[i], "--export") == 0 ? &export_path :
		    strcmp(argv[i], "--from") == 0 ? &from :
		    strcmp(argv[i], "--purpose") == 0 ? &purpose : NULL;
		if (strcmp(argv[i], "--help") == 0) {
			printf("%s%s", audit_usage, audit_help);
			return 0;
		}
		if (strcmp(argv[i], "--once") == 0) {
			once = 1;
			continue;
		}
		if (strcmp(argv[i], "--interval") == 0)
			slot = &interval_arg;
		if (slot == NULL)
			return audit_usage_error("unknown argument", argv[i]);
		if (i + 1 == argc || argv[i + 1][0] == '\0')
			return audit_usage_error("a value is missing after", argv[i]);
		*slot = argv[++i];
	}
	if (strcmp(sub, "witness") == 0) {
		char *end = NULL;
		if (case_id || html || export_path || from)
			return audit_usage_error("witness takes --once and --interval SECONDS", NULL);
		if (interval_arg != NULL && ((interval = strtol(interval_arg, &end, 10)) < 60 ||
		    interval > 3600 || *end != '\0'))
			return audit_usage_error("--interval takes 60..3600 seconds, not", interval_arg);
	} else if (once || interval_arg) {
		return audit_usage_error("--once and --interval are for witness", NULL);
	}
	if (strcmp(sub, "report") == 0 && html == NULL)
		return audit_usage_error("report needs --html FILE", NULL);
	if (strcmp(sub, "report") == 0)
		sub = "trace";
	if (strcmp(sub, "export") == 0 && (from || case_id || html))
		return audit_usage_error("export takes only FILE and --purpose", NULL);
	if (strcmp(sub, "export") == 0)
		sub = "verify";
	if (strcmp(sub, "trace") == 0 && (case_id == NULL || export_path || from))
		return audit_usage_error("trace takes --case ID and optionally --html FILE", NULL);
	if (strcmp(sub, "verify") == 0 && (case_id || html || (export_path && from)))
		return audit_usage_error("verify takes --export FILE or --from FILE", NULL);
	if (agency == NULL || agency[0] == '\0')
		agency = getenv("PUENTE_AGENCY");
	if (agency == NULL || agency[0] == '\0')
		return audit_usage_error("no agency folder: give --agency DIR or set PUENTE_AGENCY",
		    NULL);
	popt.timeout_ms = timeout_s * 1000;
	r.purpose = purpose;
	if ((rc = puente_open(&c, agency, &popt)) != PU_OK) {
		fprintf(stderr, "puente: audit: cannot open the agency folder: %s\n",
		    puente_error_detail(c)[0] ? puente_error_detail(c) : pu_err_message(rc));
		puente_close(c);
		return pu_err_exit_code(rc);
	}
	r.c = c;
	if (strcmp(sub, "witness") == 0) {
		rc = cmd_witness(c, once, interval, json);
		if (rc != PU_OK)
			fprintf(stderr, "puente: audit witness: %s\n", puente_error_detail(c));
		puente_close(c);
		return pu_err_exit_code(rc);
	}
	if ((rc = client_gateway_log(c, &log)) != PU_OK || (rc = state_load(c, &trusted)) != PU_OK) {
		rc = run_fail(&r, rc, sub);
	} else if ((rc = averify_init(&r.v, &log, trusted)) != PU_OK) {
		rc = run_fail(&r, rc, sub);
	} else if (strcmp(sub, "verify") == 0) {
		rc = cmd_verify(&r, export_path, from, json);
	} else {
		rc = cmd_trace(&r, case_id, html, json);
	}
	free(trusted);
	averify_free(&r.v);
	puente_close(c);
	return rc;
}
