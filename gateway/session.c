/* session.c - one client connection, from the TLS handshake to the last frame. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "crypto.h"
#include "frames.pb-c.h"
#include "log.h"
#include "pb.h"
#include "policy.h"
#include "pu_err.h"
#include "receipt.h"
#include "server.h"
#include "session.h"

#define READ_CHUNK_BYTES 65536
#define WRITE_HIGH_WATER (4u * 1024 * 1024)	/* stop delivering above this, resume below */
#define INBOX_DEFAULT 64
/* A session closed for a reason waits this long for its peer to close too... */
#define LINGER_MS 5000
#define LINGER_STOP_MS 1000
/* ...and drops this much of what the peer still sends; more, and it is reset. */
#define LINGER_MAX_BYTES (1u << 20)
#define INBOX_MAX 256

enum tag {
	TAG_LOOKUP = 1, TAG_CHUNK, TAG_SUBMIT, TAG_INBOX, TAG_FETCH, TAG_READ_CHUNK,
	TAG_DELIVERED, TAG_RECEIPT_HEADER, TAG_RECEIPT, TAG_RECEIPTS, TAG_AUDIT, TAG_OPEN,
	TAG_NOTICES, TAG_AUDIT_QUERY, TAG_AUDIT_ANSWER, TAG_WELCOME, TAG_LOG_HEAD, TAG_COSIGN,
};

static void session_resume(struct session *s);
static void session_linger(struct session *s);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void session_process(struct session *s);
static void delivery_next(struct session *s);
static void session_disconnected(struct session *s);
static void tell_connected_recipients(struct server *srv, const struct store_req *r,
    const struct store_inbox_entry *m);
static void submission_accept(struct session *s, const struct store_req *lookup);
static void session_audit(struct session *s, Puente__AuditEvent event, const struct header *h,
    const uint8_t *msg_id, int outcome);
static void add_inflight(struct session *s, void *arg);
static void add_uploading(struct session *s, void *arg);
static int reply_check(const struct header *h, const struct store_req *r, const char **why);

/*
 * A session may have only so many requests with the store, and only so much output unread
 * by its peer; beyond either it is not read any further until they drain. Without this a
 * peer that pipelines requests and never reads would grow the gateway without bound.
 */
#define SESSION_MAX_PENDING 8
/*
 * Chunks of an upload with the store at once: one being written, one being hashed, one
 * waiting while the loop decrypts and decodes the next. A megabyte each, so an upload's
 * memory stays bounded.
 */
#define SPOOL_WINDOW 3
/*
 * Frames read ahead of their turn: enough for the verifier to check a few signatures
 * while the loop handles the frames before them, few enough that a session holds little.
 * Before the session is ready only one frame is read, as the frame limit changes at HELLO.
 */
#define AHEAD_FRAMES 16
#define AHEAD_BYTES (64u * 1024)

static void
session_post(struct session *s, struct store_req *r)
{
	s->pending++;
	store_post(s->srv->store, r);
}

static int
backlogged(const struct session *s)
{
	/*
	 * Submissions on their way to disk have their own bound (max_inflight_per_agency).
	 * An upload whose chunks have all arrived commits when the spool has them all: the
	 * next frame may be another SUBMIT, so nothing more is read until then.
	 */
	return s->pending - s->inflight >= SESSION_MAX_PENDING || s->spooling >= SPOOL_WINDOW ||
	    (s->sub.active && s->sub.spooling > 0 && s->sub.next == s->sub.count) ||
	    uv_stream_get_write_queue_size((const uv_stream_t *)&s->tcp) > WRITE_HIGH_WATER;
}

static uint64_t
now_ms(const struct session *s)
{
	return uv_now(s->srv->loop);
}

static int64_t
wall_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- life cycle -------------------------------------------------------------------- */

static void
ahead_free(struct session *s, struct ahead_frame *f)
{
	verifier_release(&s->srv->verifier, f->job);
	header_free(&f->h);
	buf_free(&f->body);
	free(f);
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct session *s = h->data;
	struct ahead_frame *f;

	if (--s->open_handles > 0)
		return;
	while ((f = s->ahead) != NULL) {
		s->ahead = f->next;
		ahead_free(s, f);
	}
	tls_conn_free(&s->tls);
	frame_reader_free(&s->fr);
	header_free(&s->sub.h);
	free(s->sub.header_bytes);
	free(s->sub.chunk0);
	free(s->in);
	free(s);
}

static void
session_close(struct session *s)
{
	if (s->state == S_CLOSING)
		return;
	if (s->output_corked) {
		/* What it was told before closing is handed to the socket (a failed write closes it). */
		s->output_corked = 0;
		session_flush(s);
		if (s->state == S_CLOSING)
			return;
	}
	if (s->sub.active && s->sub.count > 1 && s->sub.next > 0) {
		/* Nothing half-stored: the upload's partial spool file goes, whoever closed. */
		struct store_req *r = store_req_new(STORE_ABORT, s->id, 0);
		if (r != NULL) {
			memcpy(r->msg_id, s->sub.msg_id, PU_MSG_ID_LEN);
			r->upload = s->sub.upload;
			store_post(s->srv->store, r);
		}
	}
	s->state = S_CLOSING;
	server_remove_session(s->srv, s);
	server_agency_remove(s->srv, s);
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
}

struct write_req {
	uv_write_t req;
	struct session *s;
	uint8_t data[];
};

static void
on_written(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct session *s = wr->s;

	free(wr);
	if (s->state == S_CLOSING)
		return;
	if (status < 0) {
		/* The peer is gone: nothing more can be said to it. */
		session_close(s);
		return;
	}
	/* Lingering: the end is the peer's EOF or the deadline, not our last write. */
	if (s->closing_after_flush)
		return;
	/* Output drains: the peer is alive (only once ready: the handshake deadline stands). */
	if (s->state == S_READY)
		s->deadline_ms = now_ms(s) + (uint64_t)s->srv->cfg.idle_timeout_s * 1000;
	if (s->dlv.active && !s->dlv.reading)
		delivery_next(s);
	if (s->read_stopped && !backlogged(s))
		session_resume(s);
}

/* Move TLS output to the socket now. */
void
session_flush(struct session *s)
{
	uint8_t tmp[READ_CHUNK_BYTES];
	size_t n;

	if (s->state == S_CLOSING)
		return;
	while ((n = tls_conn_pending(&s->tls, tmp, sizeof(tmp))) > 0) {
		struct write_req *wr = malloc(sizeof(*wr) + n);
		uv_buf_t b;
		if (wr == NULL) {
			session_close(s);
			return;
		}
		wr->s = s;
		memcpy(wr->data, tmp, n);
		b = uv_buf_init((char *)wr->data, (unsigned)n);
		s->srv->st.bytes_out += n;
		if (uv_write(&wr->req, (uv_stream_t *)&s->tcp, &b, 1, on_written) != 0) {
			free(wr);
			session_close(s);
			return;
		}
	}
}

/* Move TLS output to the socket, at the server's uncork when it is corked. */
static void
session_output(struct session *s)
{
	if (s->state == S_CLOSING)
		return;
	if (s->srv->corked == 0) {
		session_flush(s);
	} else if (!s->output_corked) {
		s->output_corked = 1;
		s->corked_next = s->srv->corked_sessions;
		s->srv->corked_sessions = s;
	}
}

/* Write a frame encoded into b (rc: how encoding went), or close a session that cannot. */
static void
session_write_frame(struct session *s, struct buf *b, int rc)
{
	if (rc == PU_OK && tls_conn_write(&s->tls, b->data, b->len) == PU_OK) {
		s->srv->st.frames_out++;
		session_output(s);
	} else {
		log_error("session", "event=send-failed session=%llu", (unsigned long long)s->id);
		session_close(s);
	}
	buf_free(b);
}

static void
session_send(struct session *s, uint8_t type, const ProtobufCMessage *m)
{
	struct buf b;

	buf_init(&b, PU_FRAME_MAX);
	session_write_frame(s, &b, frame_encode_msg(&b, type, m));
}

/* A frame whose body the store encoded already. */
static void
session_send_body(struct session *s, uint8_t type, const uint8_t *body, size_t len)
{
	struct buf b;

	buf_init(&b, PU_FRAME_MAX);
	session_write_frame(s, &b, frame_encode(&b, type, body, len));
}

static void
session_error(struct session *s, int rc, const uint8_t *msg_id, const char *why)
{
	Puente__Error e = PUENTE__ERROR__INIT;
	char text[512];

	snprintf(text, sizeof(text), "%s%s%s", pu_err_message(rc), why ? ": " : "", why ? why : "");
	e.code = (char *)pu_err_name(rc);
	e.message = text;
	if (msg_id != NULL) {
		e.msg_id.data = (uint8_t *)msg_id;
		e.msg_id.len = PU_MSG_ID_LEN;
	}
	session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR, &e.base);
}

void
session_fail(struct session *s, int rc, const char *why)
{
	if (s->state == S_CLOSING)
		return;
	if (s->closing_after_flush) {
		/* Already told; a second reason (a drain) just closes it. */
		session_close(s);
		return;
	}
	log_info("session", "event=close session=%llu agency=%s peer=%s reason=%s",
	    (unsigned long long)s->id, s->agency[0] ? s->agency : "-", s->peer, pu_err_name(rc));
	/* A session ended by the gateway for a reason is a failure worth an audit leaf. */
	if (s->tls.handshake_done && rc != PU_ERR_SHUTTING_DOWN)
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_FAILURE, NULL, NULL, rc);
	if (s->tls.handshake_done) {
		session_error(s, rc, NULL, why);
		tls_conn_shutdown(&s->tls);
		session_flush(s);
		if (s->state == S_CLOSING)
			return;
		s->closing_after_flush = 1;
		s->dlv.active = 0;
		/* A stopping gateway waits less: its peers retry, and the stop should be quick. */
		s->deadline_ms = now_ms(s) + (rc == PU_ERR_SHUTTING_DOWN ? LINGER_STOP_MS : LINGER_MS);
		session_linger(s);
		return;
	}
	session_close(s);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	struct session *s = req->data;

	/* Cancelled: the session closed meanwhile. Failed: the peer is gone. */
	if (status < 0 && status != UV_ECANCELED)
		session_close(s);
}

static void
on_linger_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
	struct session *s = stream->data;

	(void)b;
	if (n < 0 || (s->linger_bytes += (size_t)n) > LINGER_MAX_BYTES)
		session_close(s);
}

/*
 * A lingering close, as web servers make: the ERROR and close_notify go out, then our FIN
 * (uv_shutdown waits for the writes), and what the peer still sends is read and dropped
 * until it closes too, LINGER_MS at most. Closing with its input unread would answer it
 * with a reset, which discards what the kernel has not yet sent (the ERROR, on a slow
 * link) and may make the peer's stack drop what it received but was not yet read.
 */
static void
session_linger(struct session *s)
{
	uv_stream_t *st = (uv_stream_t *)&s->tcp;

	/* It no longer counts among its agency's sessions, nor is told of anything. */
	server_agency_remove(s->srv, s);
	s->shutdown.data = s;
	uv_read_stop(st);
	s->read_stopped = 1;
	if (uv_shutdown(&s->shutdown, st, on_shutdown) != 0 ||
	    uv_read_start(st, on_alloc, on_linger_read) != 0)
		session_close(s);
}

/* ---- audit ------------------------------------------------------------------------- */

/* Who, when, where and how of an entry, the same for every event of the session. */
static void
entry_init(struct session *s, Puente__AuditEntry *e, Puente__AuditEvent event, int outcome)
{
	puente__audit_entry__init(e);
	e->event = event;
	e->at = wall_now();
	e->agency_id = s->agency[0] ? s->agency : "";
	e->peer = s->peer;
	e->outcome = (char *)(outcome == PU_OK ? "ok" : pu_err_name(outcome));
	e->directory_serial = s->srv->dir.dir->serial;
}

/* The request goes to the store with e as its leaf; it is answered either way. */
static void
post_with_entry(struct session *s, struct store_req *r, const Puente__AuditEntry *e)
{
	if (audit_encode(e, &r->audit_leaf, &r->audit_leaf_len) != PU_OK) {
		store_req_free(r);
		session_error(s, PU_ERR_NOMEM, NULL, NULL);
		return;
	}
	session_post(s, r);
}

static uint8_t *
audit_entry(struct session *s, Puente__AuditEvent event, const struct header *h,
    const uint8_t *msg_id, int outcome, const uint8_t *statement, size_t statement_len,
    size_t *len)
{
	Puente__AuditEntry e;
	uint8_t *out = NULL;

	entry_init(s, &e, event, outcome);
	if (h != NULL) {
		e.msg_id = h->core->msg_id;
		e.case_id = h->core->case_id;
		e.type = h->core->type;
		e.header_hash.data = (uint8_t *)h->header_hash;
		e.header_hash.len = PU_HASH_LEN;
	} else if (msg_id != NULL) {
		e.msg_id.data = (uint8_t *)msg_id;
		e.msg_id.len = PU_MSG_ID_LEN;
	}
	if (statement != NULL) {
		e.statement.data = (uint8_t *)statement;
		e.statement.len = statement_len;
	}
	if (audit_encode(&e, &out, len) != PU_OK)
		return NULL;
	return out;
}

/* An event with no other change to commit: its own audit request. */
static void
session_audit(struct session *s, Puente__AuditEvent event, const struct header *h,
    const uint8_t *msg_id, int outcome)
{
	struct store_req *r = store_req_new(STORE_AUDIT, s->id, TAG_AUDIT);

	if (r == NULL || (r->audit_leaf = audit_entry(s, event, h, msg_id, outcome, NULL, 0,
	    &r->audit_leaf_len)) == NULL) {
		store_req_free(r);
		log_error("audit", "event=append-failed session=%llu", (unsigned long long)s->id);
		return;
	}
	session_post(s, r);
}

/* ---- submissions ------------------------------------------------------------------- */

static void
submission_reset(struct session *s)
{
	header_free(&s->sub.h);
	free(s->sub.header_bytes);
	free(s->sub.chunk0);
	memset(&s->sub, 0, sizeof(s->sub));
}

/* Refuse the message being received: ERROR, audit, and drop its remaining chunks. */
static void
submission_refuse(struct session *s, int rc, const char *why)
{
	uint8_t id[PU_MSG_ID_LEN];
	uint32_t next = s->sub.next, count = s->sub.count;
	uint64_t upload = s->sub.upload;

	memcpy(id, s->sub.msg_id, sizeof(id));
	s->srv->st.messages_rejected++;
	log_info("submit", "event=reject session=%llu agency=%s reason=%s", (unsigned long long)s->id,
	    s->agency, pu_err_name(rc));
	session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_REJECT, s->sub.h.core ? &s->sub.h : NULL,
	    id, rc);
	session_error(s, rc, id, why);
	if (count > 1 && next > 0) {
		struct store_req *r = store_req_new(STORE_ABORT, s->id, 0);
		if (r != NULL) {
			memcpy(r->msg_id, id, sizeof(id));
			r->upload = upload;
			session_post(s, r);
		}
	}
	submission_reset(s);
	if (next < count) {
		s->sub.discard = 1;
		memcpy(s->sub.msg_id, id, sizeof(id));
		s->sub.next = next;
		s->sub.count = count;
	}
}

/*
 * The header's signature: checked ahead by the verifier when the frame was read, if the
 * directory still gives the key it was checked with; else here.
 */
static int
submission_signature(struct session *s, const struct ahead_frame *f)
{
	const uint8_t *pk;

	if (f->job != NULL && header_signer_key(&s->sub.h, &s->srv->dir, &pk) == PU_OK &&
	    sodium_memcmp(pk, f->job->pk, sizeof(f->job->pk)) == 0)
		return f->job->rc;
	return header_verify_signature(&s->sub.h, &s->srv->dir);
}

static void
on_submit_frame(struct session *s, struct ahead_frame *f)
{
	const uint8_t *body = f->body.data;
	size_t len = f->body.len;
	struct store_req *r;
	int rc = PU_OK;

	if (s->sub.active) {
		session_fail(s, PU_ERR_FRAME_UNEXPECTED, "SUBMIT before the previous message's chunks");
		return;
	}
	submission_reset(s);
	s->sub.upload = ++s->uploads;
	if (f->job != NULL) {
		/* Decoded when it was read ahead. */
		s->sub.h = f->h;
		memset(&f->h, 0, sizeof(f->h));
	} else {
		rc = header_decode(&s->sub.h, body, len);
	}
	if (rc != PU_OK) {
		/* Without a header there is no msg_id to name: drop chunks until the next SUBMIT. */
		s->srv->st.messages_rejected++;
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_REJECT, NULL, NULL, rc);
		session_error(s, rc, NULL, "the header was refused");
		s->sub.discard_any = 1;
		return;
	}
	memcpy(s->sub.msg_id, s->sub.h.core->msg_id.data, PU_MSG_ID_LEN);
	s->sub.count = s->sub.h.core->chunk_count;
	s->sub.active = 1;
	if (strcmp(s->sub.h.core->sender, s->agency) != 0) {
		submission_refuse(s, PU_ERR_NOT_SENDER, NULL);
		return;
	}
	if ((rc = submission_signature(s, f)) != PU_OK) {
		submission_refuse(s, rc, NULL);
		return;
	}
	if ((s->sub.header_bytes = malloc(len)) == NULL) {
		submission_refuse(s, PU_ERR_NOMEM, NULL);
		return;
	}
	memcpy(s->sub.header_bytes, body, len);
	s->sub.header_len = len;
	/*
	 * Idempotency comes before anything that time or the directory may have changed. A
	 * msg_id the filter has never seen needs no lookup, unless the message is a reply:
	 * then the store tells us about the original.
	 */
	if (!idfilter_maybe(&s->srv->ids, s->sub.msg_id) &&
	    s->sub.h.core->in_reply_to.len == 0) {
		submission_accept(s, NULL);
		return;
	}
	if ((r = store_req_new(STORE_LOOKUP, s->id, TAG_LOOKUP)) == NULL) {
		submission_refuse(s, PU_ERR_NOMEM, NULL);
		return;
	}
	memcpy(r->msg_id, s->sub.msg_id, PU_MSG_ID_LEN);
	memcpy(r->header_hash, s->sub.h.header_hash, PU_HASH_LEN);
	snprintf(r->agency, sizeof(r->agency), "%s", s->agency);
	if (s->sub.h.core->in_reply_to.len == PU_MSG_ID_LEN) {
		memcpy(r->in_reply_to, s->sub.h.core->in_reply_to.data, PU_MSG_ID_LEN);
		r->has_reply = 1;
	}
	s->paused = 1;
	session_post(s, r);
}

/*
 * A reply comes from a recipient of the original, goes to its sender, and concerns the
 * same case (DESIGN.md §6).
 */
static int
reply_check(const struct header *h, const struct store_req *r, const char **why)
{
	if (!r->has_reply)
		return PU_OK;
	*why = "a reply must answer a message this agency received, to its sender, same case";
	if (!r->original_found || !r->original_to_me ||
	    strcmp(r->original_case, h->core->case_id) != 0 ||
	    header_find_recipient(h, r->original_sender) == NULL)
		return PU_ERR_POLICY;
	*why = NULL;
	return PU_OK;
}

/* The message is not stored yet (lookup, or the filter's certain "no"): the remaining checks. */
static void
submission_accept(struct session *s, const struct store_req *lookup)
{
	struct store_req none = { .kind = STORE_LOOKUP };
	const struct store_req *r = lookup ? lookup : &none;
	const char *why = NULL;
	int rc;

	const struct header *h = &s->sub.h;
	if ((rc = header_check_keys(h, &s->srv->dir, wall_now())) != PU_OK ||
	    (rc = policy_check(&s->srv->dir, h, &why)) != PU_OK ||
	    (rc = reply_check(h, r, &why)) != PU_OK ||
	    (rc = header_check_time(h, wall_now())) != PU_OK) {
		submission_refuse(s, rc, why);
		return;
	}
	unsigned agency_inflight = 0;
	server_agency_each(s->srv, s->agency, add_inflight, &agency_inflight);
	if (agency_inflight >= s->srv->cfg.max_inflight_per_agency) {
		submission_refuse(s, PU_ERR_BUSY, NULL);
		return;
	}
	/*
	 * Uploads in progress take disk too: what an agency is sending at once may not exceed
	 * its quota (what it has queued is checked again at commit).
	 */
	uint64_t uploading = 0;
	server_agency_each(s->srv, s->agency, add_uploading, &uploading);
	if (uploading > s->srv->cfg.sender_quota_bytes) {
		submission_refuse(s, PU_ERR_QUOTA, NULL);
		return;
	}
}

/* Bytes an agency is uploading, over all its sessions (this one included). */
static void
add_uploading(struct session *s, void *arg)
{
	if (s->sub.active)
		*(uint64_t *)arg += s->sub.h.core->content_length;
}

/* Messages an agency has with the store, over all its sessions. */
static void
add_inflight(struct session *s, void *arg)
{
	*(unsigned *)arg += s->inflight;
}

static void
on_lookup_done(struct session *s, struct store_req *r)
{
	int rc = r->rc;

	s->paused = 0;
	if (!s->sub.active || memcmp(r->msg_id, s->sub.msg_id, PU_MSG_ID_LEN) != 0)
		return;
	if (rc == PU_OK && r->found && r->same_header) {
		/* A retry: a receipt for the stored leaf, nothing stored, the chunks ignored. */
		s->srv->st.messages_retried++;
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_RETRY, &s->sub.h, NULL, PU_OK);
		session_send_body(s, PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT, r->receipt,
		    r->receipt_len);
		uint32_t count = s->sub.count;
		uint8_t id[PU_MSG_ID_LEN];
		memcpy(id, s->sub.msg_id, sizeof(id));
		submission_reset(s);
		s->sub.discard = 1;
		memcpy(s->sub.msg_id, id, sizeof(id));
		s->sub.count = count;
		return;
	}
	if (rc != PU_OK) {
		submission_refuse(s, rc, NULL);
		return;
	}
	submission_accept(s, r);
}

static void
submission_commit(struct session *s)
{
	const Puente__HeaderCore *c = s->sub.h.core;
	const char *why = NULL;
	struct store_req *r;
	int rc = PU_OK;

	/* The directory may have changed during the upload: keys and policy once more. */
	if ((rc = header_check_keys(&s->sub.h, &s->srv->dir, wall_now())) != PU_OK ||
	    (rc = policy_check(&s->srv->dir, &s->sub.h, &why)) != PU_OK) {
		submission_refuse(s, rc, why);
		return;
	}
	if ((r = store_req_new(STORE_SUBMIT, s->id, TAG_SUBMIT)) == NULL) {
		submission_refuse(s, PU_ERR_NOMEM, NULL);
		return;
	}
	/* From now on a retry must find it, even if this session dies before the answer. */
	idfilter_add(&s->srv->ids, s->sub.msg_id);
	memcpy(r->msg_id, s->sub.msg_id, PU_MSG_ID_LEN);
	r->upload = s->sub.upload;
	memcpy(r->header_hash, s->sub.h.header_hash, PU_HASH_LEN);
	snprintf(r->agency, sizeof(r->agency), "%s", c->sender);
	r->type = c->type;
	r->adoption_scope = c->adoption_scope;
	snprintf(r->case_id, sizeof(r->case_id), "%s", c->case_id);
	r->created_at = c->created_at;
	r->expires_at = c->expires_at;
	r->respond_by = c->respond_by;
	if (c->in_reply_to.len == PU_MSG_ID_LEN) {
		memcpy(r->in_reply_to, c->in_reply_to.data, PU_MSG_ID_LEN);
		r->has_reply = 1;
	}
	r->content_length = c->content_length;
	r->chunk_count = c->chunk_count;
	for (size_t i = 0; i < c->n_recipients; i++)
		snprintf(r->recipients[i], sizeof(r->recipients[i]), "%s", c->recipients[i]->agency_id);
	r->n_recipients = c->n_recipients;
	if (policy_needs_federal_review(&s->sub.h)) {
		for (size_t i = 0; i < c->n_recipients; i++) {
			const Puente__Agency *a = directory_find_agency(&s->srv->dir,
			    c->recipients[i]->agency_id);
			if (a != NULL && a->role == PUENTE__ROLE__ROLE_FEDERAL) {
				snprintf(r->hold_for, sizeof(r->hold_for), "%s", a->id);
				break;
			}
		}
	}
	r->directory_serial = s->srv->dir.dir->serial;
	r->header = s->sub.header_bytes;
	r->header_len = s->sub.header_len;
	s->sub.header_bytes = NULL;
	r->data = s->sub.chunk0;
	r->data_len = s->sub.chunk0_len;
	s->sub.chunk0 = NULL;
	r->audit_leaf = audit_entry(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE, &s->sub.h, NULL,
	    PU_OK, NULL, 0, &r->audit_leaf_len);
	if (r->audit_leaf == NULL) {
		store_req_free(r);
		submission_refuse(s, PU_ERR_NOMEM, NULL);
		return;
	}
	s->inflight++;
	submission_reset(s);
	session_post(s, r);
}

/*
 * Once until the session next asks for its inbox, whose answer lists this message and any
 * stored after it: however many messages arrive, a session that does not ask costs one
 * frame, not one per message (an agency's idle sessions would otherwise multiply the
 * work of every message sent to it).
 */
void
session_tell_new_message(struct session *s, void *entry)
{
	Puente__Inbox in = PUENTE__INBOX__INIT;
	Puente__InboxEntry *e = entry;

	if (s->state != S_READY || s->closing_after_flush || s->told_of_new)
		return;
	s->told_of_new = 1;
	in.n_entries = 1;
	in.entries = &e;
	/* Its own type: a client waiting for the answer to INBOX_REQUEST must not take this. */
	session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_NEW_MESSAGE, &in.base);
}

/*
 * Connected recipients hear of message m at once: r's recipients, but while it is held
 * only the reviewer (r->hold_for); the others when the review releases it.
 */
static void
tell_connected_recipients(struct server *srv, const struct store_req *r,
    const struct store_inbox_entry *m)
{
	Puente__InboxEntry e = PUENTE__INBOX_ENTRY__INIT;

	e.msg_id.data = (uint8_t *)m->msg_id;
	e.msg_id.len = PU_MSG_ID_LEN;
	e.sender = (char *)m->sender;
	e.type = (uint32_t)m->type;
	e.case_id = (char *)m->case_id;
	e.created_at = m->created_at;
	e.respond_by = m->respond_by;
	e.content_length = m->content_length;
	for (size_t i = 0; i < r->n_recipients; i++)
		if (r->hold_for[0] == '\0' || strcmp(r->hold_for, r->recipients[i]) == 0)
			server_agency_each(srv, r->recipients[i],
			    session_tell_new_message, &e);
}

static void
on_chunk_frame(struct session *s, const uint8_t *body, size_t len)
{
	ProtobufCMessage *m;
	Puente__Chunk *ch;
	int rc;

	if ((rc = frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK, body, len, &m)) != PU_OK) {
		session_fail(s, rc, "malformed chunk frame");
		return;
	}
	ch = (Puente__Chunk *)m;
	if (s->sub.discard_any)
		goto out;
	if (ch->msg_id.len != PU_MSG_ID_LEN || (!s->sub.active && !s->sub.discard) ||
	    memcmp(ch->msg_id.data, s->sub.msg_id, PU_MSG_ID_LEN) != 0) {
		session_fail(s, PU_ERR_FRAME_UNEXPECTED, "a chunk of no message being submitted");
		goto out;
	}
	if (s->sub.discard) {
		/* Already answered: read and drop, without looking. */
		if (ch->index + 1 >= s->sub.count)
			submission_reset(s);
		goto out;
	}
	if (ch->index != s->sub.next) {
		submission_refuse(s, ch->index >= s->sub.count ? PU_ERR_CHUNK_EXTRA : PU_ERR_CHUNK_ORDER, NULL);
		goto out;
	}
	/* A larger message's chunks are hashed by the spool, off the loop. */
	uint8_t expect[PU_HASH_LEN];
	if ((rc = header_chunk_expect(&s->sub.h, ch->index, ch->data.len, expect)) != PU_OK ||
	    (s->sub.count == 1 &&
	    (rc = header_chunk_hash_check(expect, ch->data.data, ch->data.len)) != PU_OK)) {
		submission_refuse(s, rc, NULL);
		goto out;
	}
	s->sub.next++;
	if (s->sub.count == 1) {
		/* A one-chunk message travels to the store with its row. */
		s->sub.chunk0 = ch->data.data;
		s->sub.chunk0_len = ch->data.len;
		ch->data.data = NULL;
		ch->data.len = 0;
		submission_commit(s);
		goto out;
	}
	struct store_req *r = store_req_new(STORE_CHUNK, s->id, TAG_CHUNK);
	if (r == NULL) {
		submission_refuse(s, PU_ERR_NOMEM, NULL);
		goto out;
	}
	memcpy(r->msg_id, s->sub.msg_id, PU_MSG_ID_LEN);
	r->index = ch->index;
	memcpy(r->chunk_hash, expect, PU_HASH_LEN);
	r->upload = s->sub.upload;
	r->data = ch->data.data;
	r->data_len = ch->data.len;
	ch->data.data = NULL;
	ch->data.len = 0;
	/* At most SPOOL_WINDOW on their way to disk (backlogged): memory stays bounded. */
	s->spooling++;
	s->sub.spooling++;
	session_post(s, r);
out:
	pb_free(ch);
}

static void
on_chunk_done(struct session *s, struct store_req *r)
{
	s->spooling--;
	/* A chunk of an upload refused meanwhile: the spool removes its file after it. */
	if (!s->sub.active || r->upload != s->sub.upload)
		return;
	s->sub.spooling--;
	if (r->rc != PU_OK) {
		submission_refuse(s, r->rc, r->rc == PU_ERR_CHUNK_HASH ? NULL :
		    "the chunk could not be written");
		return;
	}
	if (s->sub.next == s->sub.count && s->sub.spooling == 0)
		submission_commit(s);
}

static void
on_submit_done(struct session *s, struct store_req *r)
{
	if (s->inflight > 0)
		s->inflight--;
	if (r->rc != PU_OK) {
		s->srv->st.messages_rejected++;
		log_warn("submit", "event=store-failed session=%llu agency=%s reason=%s",
		    (unsigned long long)s->id, s->agency, pu_err_name(r->rc));
		session_error(s, r->rc, r->msg_id, NULL);
		return;
	}
	if (!r->found)
		s->srv->st.messages_accepted++;
	idfilter_add(&s->srv->ids, r->msg_id);
	log_debug("submit", "event=stored session=%llu agency=%s audit_index=%llu",
	    (unsigned long long)s->id, s->agency, (unsigned long long)r->audit_index);
	session_send_body(s, PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT, r->receipt,
	    r->receipt_len);
	if (!r->found) {
		struct store_inbox_entry m = {
			.type = r->type, .created_at = r->created_at, .respond_by = r->respond_by,
			.content_length = r->content_length,
		};
		memcpy(m.msg_id, r->msg_id, PU_MSG_ID_LEN);
		snprintf(m.sender, sizeof(m.sender), "%s", r->agency);
		snprintf(m.case_id, sizeof(m.case_id), "%s", r->case_id);
		tell_connected_recipients(s->srv, r, &m);
	}
}

/* ---- receiving --------------------------------------------------------------------- */

static void
on_inbox_frame(struct session *s, const Puente__InboxRequest *q)
{
	struct store_req *r = store_req_new(STORE_INBOX, s->id, TAG_INBOX);

	if (r == NULL) {
		session_error(s, PU_ERR_NOMEM, NULL, NULL);
		return;
	}
	snprintf(r->agency, sizeof(r->agency), "%s", s->agency);
	r->limit = q->limit == 0 ? INBOX_DEFAULT : q->limit > INBOX_MAX ? INBOX_MAX : q->limit;
	/* The listing reads what is stored from now on: a message stored later is told again. */
	s->told_of_new = 0;
	session_post(s, r);
}

static void
on_inbox_done(struct session *s, struct store_req *r)
{
	Puente__Inbox in = PUENTE__INBOX__INIT;
	Puente__InboxEntry e[INBOX_MAX], *ep[INBOX_MAX];

	if (r->rc != PU_OK) {
		session_error(s, r->rc, NULL, NULL);
		return;
	}
	for (size_t i = 0; i < r->n_entries && i < INBOX_MAX; i++) {
		const struct store_inbox_entry *x = &r->entries[i];
		puente__inbox_entry__init(&e[i]);
		e[i].msg_id.data = (uint8_t *)x->msg_id;
		e[i].msg_id.len = PU_MSG_ID_LEN;
		e[i].sender = (char *)x->sender;
		e[i].type = (uint32_t)x->type;
		e[i].case_id = (char *)x->case_id;
		e[i].created_at = x->created_at;
		e[i].respond_by = x->respond_by;
		e[i].content_length = x->content_length;
		ep[i] = &e[i];
	}
	in.n_entries = r->n_entries;
	in.entries = ep;
	session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX, &in.base);
}

static void
on_fetch_frame(struct session *s, const Puente__Fetch *f)
{
	struct store_req *r;

	if (f->msg_id.len != PU_MSG_ID_LEN) {
		session_error(s, PU_ERR_HEADER_FIELD, NULL, "msg_id is 16 bytes");
		return;
	}
	if (s->dlv.active) {
		session_error(s, PU_ERR_BUSY, f->msg_id.data, "one fetch at a time");
		return;
	}
	if ((r = store_req_new(STORE_FETCH, s->id, TAG_FETCH)) == NULL) {
		session_error(s, PU_ERR_NOMEM, f->msg_id.data, NULL);
		return;
	}
	memcpy(r->msg_id, f->msg_id.data, PU_MSG_ID_LEN);
	snprintf(r->agency, sizeof(r->agency), "%s", s->agency);
	s->dlv.active = 1;
	memcpy(s->dlv.msg_id, f->msg_id.data, PU_MSG_ID_LEN);
	session_post(s, r);
}

/*
 * A message whose sender's key was marked compromised since before the gateway accepted it
 * is held: its signature proves nothing any more (DESIGN.md §5). Later compromises do not
 * touch messages accepted before them.
 */
static int
sender_key_still_trusted(struct session *s, const struct store_req *r)
{
	struct header h;
	const Puente__Agency *a;
	const Puente__Key *k;
	int rc;

	if ((rc = header_decode(&h, r->header, r->header_len)) != PU_OK)
		return rc;
	a = directory_find_agency(&s->srv->dir, h.core->sender);
	k = a ? directory_find_key(a, h.core->sender_key_id.data, h.core->sender_key_id.len,
	    PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING) : NULL;
	if (k == NULL)
		rc = PU_ERR_UNKNOWN_KEY;
	else if (k->status == PUENTE__KEY_STATUS__KEY_STATUS_COMPROMISED &&
	    k->status_since <= r->accepted_at)
		rc = PU_ERR_KEY_COMPROMISED;
	header_free(&h);
	return rc;
}

/*
 * The message is there for us: record (and audit) the fetch before anything leaves. The
 * same request goes on to the writer, whose answer starts the delivery: 1 when it did.
 */
static int
on_fetch_done(struct session *s, struct store_req *r)
{
	int rc = r->rc;

	if (rc == PU_OK)
		rc = sender_key_still_trusted(s, r);
	if (rc != PU_OK) {
		s->dlv.active = 0;
		/* A refused fetch is audited too: asking for another agency's message is telling. */
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_FETCH, NULL, r->msg_id, rc);
		session_error(s, rc, r->msg_id, NULL);
		return 0;
	}
	s->dlv.count = r->chunk_count;
	r->audit_leaf = audit_entry(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_FETCH, NULL, r->msg_id,
	    PU_OK, NULL, 0, &r->audit_leaf_len);
	if (r->audit_leaf == NULL) {
		s->dlv.active = 0;
		session_error(s, PU_ERR_NOMEM, r->msg_id, NULL);
		return 0;
	}
	r->kind = STORE_DELIVERED;
	r->tag = TAG_DELIVERED;
	session_post(s, r);
	return 1;
}

static void
on_delivered_done(struct session *s, struct store_req *r)
{
	Puente__SignedHeader *sh;

	if (r->rc != PU_OK) {
		s->dlv.active = 0;
		session_error(s, r->rc, r->msg_id, "the fetch could not be recorded");
		return;
	}
	if ((sh = puente__signed_header__unpack(NULL, r->header_len, r->header)) == NULL) {
		s->dlv.active = 0;
		session_error(s, PU_ERR_INTERNAL, r->msg_id, NULL);
		return;
	}
	s->srv->st.deliveries++;
	session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER, &sh->base);
	puente__signed_header__free_unpacked(sh, NULL);
	s->dlv.next = 0;
	delivery_next(s);
}

/* Ask the store for the next chunk, unless the peer is not reading fast enough. */
static void
delivery_next(struct session *s)
{
	struct store_req *r;

	if (!s->dlv.active || s->dlv.reading || s->state == S_CLOSING)
		return;
	if (uv_stream_get_write_queue_size((const uv_stream_t *)&s->tcp) > WRITE_HIGH_WATER)
		return;	/* on_written calls again once the socket drains */
	if (s->dlv.next == s->dlv.count) {
		s->dlv.active = 0;	/* every chunk is on its way; the fetch was recorded first */
		return;
	}
	if ((r = store_req_new(STORE_READ_CHUNK, s->id, TAG_READ_CHUNK)) == NULL)
		return;
	memcpy(r->msg_id, s->dlv.msg_id, PU_MSG_ID_LEN);
	r->index = s->dlv.next;
	s->dlv.reading = 1;
	session_post(s, r);
}

static void
on_read_chunk_done(struct session *s, struct store_req *r)
{
	Puente__Chunk ch = PUENTE__CHUNK__INIT;

	s->dlv.reading = 0;
	if (r->rc != PU_OK) {
		s->dlv.active = 0;
		session_error(s, r->rc, r->msg_id, "the message could not be read");
		return;
	}
	ch.msg_id.data = r->msg_id;
	ch.msg_id.len = PU_MSG_ID_LEN;
	ch.index = r->index;
	ch.data.data = r->data;
	ch.data.len = r->data_len;
	session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK, &ch.base);
	s->dlv.next++;
	delivery_next(s);
}

/* ---- receipts and statements ------------------------------------------------------- */

static void
on_recipient_receipt_frame(struct session *s, const uint8_t *body, size_t len)
{
	ProtobufCMessage *m;
	Puente__Signed *sg;
	Puente__RecipientReceipt *rr = NULL;
	struct store_req *r;
	int rc;

	if ((rc = frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT, body, len, &m)) != PU_OK) {
		session_error(s, rc, NULL, "malformed receipt");
		return;
	}
	sg = (Puente__Signed *)m;
	rc = pb_decode(&puente__recipient_receipt__descriptor, sg->body.data, sg->body.len,
	    &pb_limits_wire, 65536, &m);
	pb_free(sg);
	if (rc != PU_OK) {
		session_error(s, rc, NULL, "malformed receipt");
		return;
	}
	rr = (Puente__RecipientReceipt *)m;
	if (strcmp(rr->recipient, s->agency) != 0 || rr->msg_id.len != PU_MSG_ID_LEN) {
		const uint8_t *id = rr->msg_id.len == PU_MSG_ID_LEN ? rr->msg_id.data : NULL;
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_REJECT, NULL, id, PU_ERR_RECEIPT_SIGNER);
		session_error(s, PU_ERR_RECEIPT_SIGNER, id, "a receipt is sent by its recipient");
		pb_free(rr);
		return;
	}
	/* First the header, to check the receipt against the message it names. */
	if ((r = store_req_new(STORE_FETCH, s->id, TAG_RECEIPT_HEADER)) == NULL ||
	    (r->data = malloc(len)) == NULL) {
		store_req_free(r);
		pb_free(rr);
		session_error(s, PU_ERR_NOMEM, NULL, NULL);
		return;
	}
	memcpy(r->msg_id, rr->msg_id.data, PU_MSG_ID_LEN);
	snprintf(r->agency, sizeof(r->agency), "%s", s->agency);
	memcpy(r->data, body, len);
	r->data_len = len;
	r->outcome = rr->outcome;
	/* Only the federal procuraduria's OPENED receipt releases a message held for review. */
	const Puente__Agency *me = directory_find_agency(&s->srv->dir, s->agency);
	r->releases_hold = me != NULL && me->role == PUENTE__ROLE__ROLE_FEDERAL &&
	    rr->outcome == PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED;
	pb_free(rr);
	session_post(s, r);
}

static void
on_receipt_header_done(struct session *s, struct store_req *r)
{
	Puente__RecipientReceipt *rr = NULL;
	struct header h;
	int rc = r->rc;

	if (rc != PU_OK) {
		rc = rc == PU_ERR_NOT_QUEUED ? PU_ERR_NOT_DELIVERED : rc;
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_REJECT, NULL, r->msg_id, rc);
		session_error(s, rc, r->msg_id, NULL);
		store_req_free(r);
		return;
	}
	if ((rc = header_decode(&h, r->header, r->header_len)) == PU_OK) {
		rc = receipt_recipient_verify(r->data, r->data_len, &s->srv->dir, &h, NULL, &rr);
		if (rc == PU_OK)
			r->audit_leaf = audit_entry(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_RECIPIENT_RECEIPT,
			    &h, NULL, PU_OK, r->data, r->data_len, &r->audit_leaf_len);
		header_free(&h);
	}
	pb_free(rr);
	if (rc != PU_OK) {
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_REJECT, NULL, r->msg_id, rc);
		session_error(s, rc, r->msg_id, NULL);
		store_req_free(r);
		return;
	}
	/* Same request, now to record it. */
	free(r->header);
	r->header = NULL;
	r->header_len = 0;
	r->kind = STORE_RECEIPT;
	r->tag = TAG_RECEIPT;
	session_post(s, r);
}

/* The recorded object's leaf, shown in the checkpoint of the batch that committed it. */
static void
send_ack(struct session *s, const struct store_req *r)
{
	Puente__Ack a = PUENTE__ACK__INIT;
	ProtobufCBinaryData proof[MERKLE_MAX_PROOF];

	a.msg_id.data = (uint8_t *)r->msg_id;
	a.msg_id.len = PU_MSG_ID_LEN;
	a.audit_index = r->audit_index;
	if (r->checkpoint[0] != '\0')
		a.checkpoint = (char *)r->checkpoint;
	for (size_t i = 0; i < r->proof_len; i++) {
		proof[i].data = (uint8_t *)r->proof + i * MERKLE_HASH_LEN;
		proof[i].len = MERKLE_HASH_LEN;
	}
	a.inclusion_proof = proof;
	a.n_inclusion_proof = r->proof_len;
	if (r->checkpoint[0] != '\0') {
		a.audit_entry.data = r->audit_leaf;
		a.audit_entry.len = r->audit_leaf_len;
	}
	session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, &a.base);
}

static void
on_receipt_done(struct session *s, struct store_req *r)
{
	if (r->rc != PU_OK) {
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_REJECT, NULL, r->msg_id, r->rc);
		session_error(s, r->rc, r->msg_id, NULL);
		return;
	}
	s->srv->st.receipts++;
	send_ack(s, r);
	/* A federal review's OPENED receipt released the message to the other recipients. */
	if (r->n_recipients > 0)
		tell_connected_recipients(s->srv, r, &r->released);
}

static void
on_receipts_frame(struct session *s, const Puente__ReceiptsRequest *q)
{
	struct store_req *r;

	if (q->msg_id.len != PU_MSG_ID_LEN) {
		session_error(s, PU_ERR_HEADER_FIELD, NULL, "msg_id is 16 bytes");
		return;
	}
	if ((r = store_req_new(STORE_RECEIPTS, s->id, TAG_RECEIPTS)) == NULL) {
		session_error(s, PU_ERR_NOMEM, NULL, NULL);
		return;
	}
	memcpy(r->msg_id, q->msg_id.data, PU_MSG_ID_LEN);
	snprintf(r->agency, sizeof(r->agency), "%s", s->agency);
	session_post(s, r);
}

static void
on_receipts_done(struct session *s, struct store_req *r)
{
	Puente__Receipts out = PUENTE__RECEIPTS__INIT;
	ProtobufCBinaryData list[PU_MAX_RECIPIENTS];

	if (r->rc != PU_OK) {
		session_error(s, r->rc, r->msg_id, NULL);
		return;
	}
	for (size_t i = 0; i < r->n_list; i++) {
		list[i].data = r->list[i];
		list[i].len = r->list_len[i];
	}
	out.msg_id.data = r->msg_id;
	out.msg_id.len = PU_MSG_ID_LEN;
	out.n_receipts = r->n_list;
	out.receipts = list;
	session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS, &out.base);
}

/* A caseworker opened a fetched message: the agency's signed statement, audited as is. */
static void
on_open_statement_frame(struct session *s, const uint8_t *body, size_t len)
{
	const Puente__Agency *a = directory_find_agency(&s->srv->dir, s->agency);
	Puente__OpenStatement *os = NULL;
	ProtobufCMessage *m;
	struct store_req *r;
	int rc;

	rc = signed_verify(body, len, PU_CTX_OPEN, &puente__open_statement__descriptor, a,
	    PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING, &m);
	if (rc != PU_OK) {
		session_error(s, rc, NULL, "open statement refused");
		return;
	}
	os = (Puente__OpenStatement *)m;
	if (strcmp(os->agency_id, s->agency) != 0 || os->msg_id.len != PU_MSG_ID_LEN ||
	    os->header_hash.len != PU_HASH_LEN || os->staff_id[0] == '\0' || os->purpose[0] == '\0') {
		session_error(s, PU_ERR_RECEIPT_FIELD, NULL, "an open statement names its agency, "
		    "message, staff member and purpose");
		pb_free(os);
		return;
	}
	if ((r = store_req_new(STORE_OPEN, s->id, TAG_OPEN)) == NULL) {
		session_error(s, PU_ERR_NOMEM, NULL, NULL);
	} else {
		Puente__AuditEntry e;
		snprintf(r->agency, sizeof(r->agency), "%s", s->agency);
		memcpy(r->header_hash, os->header_hash.data, PU_HASH_LEN);
		memcpy(r->msg_id, os->msg_id.data, PU_MSG_ID_LEN);
		entry_init(s, &e, PUENTE__AUDIT_EVENT__AUDIT_EVENT_OPEN, PU_OK);
		e.staff_id = os->staff_id;
		e.msg_id = os->msg_id;
		e.purpose = os->purpose;
		e.header_hash = os->header_hash;
		e.statement.data = (uint8_t *)body;
		e.statement.len = len;
		post_with_entry(s, r, &e);
	}
	pb_free(os);
}

/* ---- auditors' queries ------------------------------------------------------------ */

/*
 * An auditor's query: first its own leaf (AUDIT_QUERY, with the purpose) is committed, then
 * the reader answers from the newest checkpoint, which covers that leaf (DESIGN.md §8).
 * Anyone else is refused, and the attempt audited.
 */
static void
on_audit_query_frame(struct session *s, const uint8_t *body, size_t len)
{
	const Puente__Agency *a = directory_find_agency(&s->srv->dir, s->agency);
	Puente__AuditEntry e;
	Puente__AuditQuery *q;
	ProtobufCMessage *m;
	struct store_req *r;
	int rc;

	if ((rc = frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_QUERY, body, len,
	    &m)) != PU_OK) {
		session_fail(s, rc, "malformed frame");
		return;
	}
	q = (Puente__AuditQuery *)m;
	if (a == NULL || a->role != PUENTE__ROLE__ROLE_AUDITOR)
		rc = PU_ERR_AUDIT_ROLE;
	else
		rc = audit_query_check(q);
	if (rc != PU_OK) {
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_AUDIT_QUERY, NULL, NULL, rc);
		session_error(s, rc, NULL, NULL);
		pb_free(q);
		return;
	}
	if ((r = store_req_new(STORE_AUDIT, s->id, TAG_AUDIT_QUERY)) == NULL ||
	    (r->data = malloc(len ? len : 1)) == NULL) {
		store_req_free(r);
		session_error(s, PU_ERR_NOMEM, NULL, NULL);
		pb_free(q);
		return;
	}
	memcpy(r->data, body, len);
	r->data_len = len;
	entry_init(s, &e, PUENTE__AUDIT_EVENT__AUDIT_EVENT_AUDIT_QUERY, PU_OK);
	e.case_id = q->case_id;
	e.msg_id = q->msg_id;
	e.purpose = q->purpose;
	post_with_entry(s, r, &e);
	pb_free(q);
}

/* The query's leaf is committed: now the answer. 1 when r went back to the store. */
static int
on_audit_query_done(struct session *s, struct store_req *r)
{
	if (r->rc != PU_OK) {
		session_error(s, r->rc, NULL, "the query was not recorded, so it is not answered");
		return 0;
	}
	r->kind = STORE_AUDIT_ANSWER;
	r->tag = TAG_AUDIT_ANSWER;
	session_post(s, r);
	return 1;
}

/* An answer the store encoded (AUDIT_ANSWER, CHECKPOINT), or its refusal. */
static void
on_encoded_answer(struct session *s, struct store_req *r, uint8_t type)
{
	if (r->rc != PU_OK) {
		session_error(s, r->rc, NULL, NULL);
		return;
	}
	session_send_body(s, type, r->data, r->data_len);
}

/* ---- checkpoints and witnesses ------------------------------------------------------ */

/* The newest checkpoint, proved consistent with the size the asker holds (PROTOCOL §8.4). */
static void
post_log_head(struct session *s, uint64_t known_size, uint64_t tag)
{
	struct store_req *r = store_req_new(STORE_LOG_HEAD, s->id, tag);

	if (r == NULL) {
		session_error(s, PU_ERR_NOMEM, NULL, NULL);
		return;
	}
	r->audit_index = known_size;
	session_post(s, r);
}

static void
on_checkpoint_request_frame(struct session *s, const Puente__CheckpointRequest *q)
{
	post_log_head(s, q->known_size, TAG_LOG_HEAD);
}

/* Only an agency the directory lists as a witness cosigns, with its CHECKPOINT key. */
static void
on_cosignature_frame(struct session *s, const Puente__Cosignature *c)
{
	const struct directory *d = &s->srv->dir;
	const Puente__Agency *a = directory_find_agency(d, s->agency);
	const Puente__Key *k = NULL;
	struct store_req *r;
	int listed = 0;

	for (size_t i = 0; i < d->dir->n_witnesses; i++)
		listed |= strcmp(d->dir->witnesses[i], s->agency) == 0;
	if (listed && a != NULL)
		k = directory_current_key(a, PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT, wall_now());
	if (k == NULL || k->public_key.len != 32) {
		session_error(s, PU_ERR_NOT_WITNESS, NULL, NULL);
		return;
	}
	if ((r = store_req_new(STORE_COSIGN, s->id, TAG_COSIGN)) == NULL ||
	    (r->data = malloc(strlen(c->note) + 1)) == NULL) {
		store_req_free(r);
		session_error(s, PU_ERR_NOMEM, NULL, NULL);
		return;
	}
	r->data_len = strlen(c->note);
	memcpy(r->data, c->note, r->data_len);
	snprintf(r->agency, sizeof(r->agency), "%s", s->agency);
	memcpy(r->witness_pk, k->public_key.data, 32);
	session_post(s, r);
}

/* Stored: the witness gets the gateway's head, which now shows its cosignature. */
static void
on_cosign_done(struct session *s, struct store_req *r)
{
	if (r->rc != PU_OK) {
		log_warn("witness", "event=cosignature-refused witness=%s reason=%s", s->agency,
		    pu_err_name(r->rc));
		session_error(s, r->rc, NULL, "the cosignature was not stored");
		return;
	}
	log_info("witness", "event=cosigned witness=%s", s->agency);
	post_log_head(s, 0, TAG_LOG_HEAD);
}

/* ---- handshake, identity, HELLO ---------------------------------------------------- */

/* The TLS key must be pinned, active and usable now, for an active agency. */
static int
identity_bind(struct session *s)
{
	const struct directory *d = &s->srv->dir;
	uint8_t pin[32], id[PU_KEY_ID_LEN];
	char cert_agency[STORE_AGENCY_MAX];
	int rc;

	if ((rc = tls_peer_spki_sha256(&s->tls, pin)) != PU_OK)
		return PU_ERR_TLS_IDENTITY;
	key_id_compute(id, PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS, pin);
	for (size_t i = 0; i < d->dir->n_agencies; i++) {
		const Puente__Agency *a = d->dir->agencies[i];
		const Puente__Key *k = directory_find_key(a, id, sizeof(id),
		    PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS);
		if (k == NULL)
			continue;
		/*
		 * Whoever it is, the log names it, even when it is refused. A bound session
		 * never changes agency (it is indexed under its name), whatever a directory says.
		 */
		if (s->state == S_HANDSHAKE)
			snprintf(s->agency, sizeof(s->agency), "%s", a->id);
		else if (strcmp(s->agency, a->id) != 0)
			return PU_ERR_TLS_IDENTITY;
		if ((rc = directory_agency_check(a)) != PU_OK ||
		    (rc = directory_key_check(k, wall_now())) != PU_OK)
			return rc;
		/* The certificate must name the agency that pinned its key. */
		if (tls_peer_agency(&s->tls, cert_agency, sizeof(cert_agency)) != PU_OK ||
		    strcmp(cert_agency, a->id) != 0)
			return PU_ERR_TLS_IDENTITY;
		snprintf(s->agency, sizeof(s->agency), "%s", a->id);
		return PU_OK;
	}
	return PU_ERR_TLS_IDENTITY;
}

static void
count_session(struct session *s, void *n)
{
	(void)s;
	(*(unsigned *)n)++;
}

static void
on_handshake_done(struct session *s)
{
	unsigned open = 0;
	int rc = identity_bind(s);

	if (rc != PU_OK) {
		s->srv->st.sessions_refused++;
		session_fail(s, rc, NULL);	/* audited there */
		return;
	}
	/*
	 * Counted from the moment the agency is known, so that no two can both be the last
	 * one allowed, and sessions that never say HELLO hold places too. Without a bound,
	 * one agency could hold every session of the gateway, and each message to it would
	 * cost a notice per session.
	 */
	server_agency_each(s->srv, s->agency, count_session, &open);
	if (open >= s->srv->cfg.max_sessions_per_agency) {
		s->srv->st.sessions_refused++;
		session_fail(s, PU_ERR_BUSY, "this agency has max_sessions_per_agency sessions "
		    "open; close one or retry later");
		return;
	}
	server_agency_add(s->srv, s);
	s->state = S_HELLO;
	s->srv->st.sessions_opened++;
	log_info("session", "event=open session=%llu agency=%s peer=%s", (unsigned long long)s->id,
	    s->agency, s->peer);
	session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_OPEN, NULL, NULL, PU_OK);
}

/*
 * HELLO: the answer waits for the store, which proves the gateway's newest checkpoint
 * consistent with the one the client holds (HELLO.checkpoint), so a client that saw the
 * log before notices a rewrite at once. Nothing else is read meanwhile.
 */
static void
on_hello(struct session *s, const uint8_t *body, size_t len)
{
	Puente__Hello *h;
	ProtobufCMessage *m;
	struct note n;
	int rc;

	if ((rc = frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, body, len, &m)) != PU_OK) {
		session_fail(s, rc, "malformed HELLO");
		return;
	}
	h = (Puente__Hello *)m;
	if (h->version != PU_VERSION) {
		pb_free(h);
		session_fail(s, PU_ERR_VERSION, "this gateway speaks version 1");
		return;
	}
	s->hello_serial = h->directory_serial;
	/* Only its size matters here; the client judges the answer against its own note. */
	s->hello_size = h->checkpoint[0] != '\0' && note_parse((const uint8_t *)h->checkpoint,
	    strlen(h->checkpoint), &n) == PU_OK ? n.tree_size : 0;
	pb_free(h);
	s->paused = 1;
	post_log_head(s, s->hello_size, TAG_WELCOME);
}

static void
on_welcome_ready(struct session *s, struct store_req *r)
{
	Puente__Welcome w = PUENTE__WELCOME__INIT;
	Puente__CheckpointAnswer *head = NULL;
	ProtobufCMessage *m;

	s->paused = 0;
	/* Failed meanwhile (a directory reload): it is on its way out. */
	if (s->closing_after_flush)
		return;
	if (r->rc != PU_OK || pb_decode(&puente__checkpoint_answer__descriptor, r->data,
	    r->data_len, &pb_limits_wire, 4 * r->data_len + 65536, &m) != PU_OK) {
		session_fail(s, r->rc != PU_OK ? r->rc : PU_ERR_INTERNAL, "the audit log is unavailable");
		return;
	}
	head = (Puente__CheckpointAnswer *)m;
	w.version = PU_VERSION;
	w.agency_id = s->agency;
	w.directory_serial = s->srv->dir.dir->serial;
	if (s->hello_serial < w.directory_serial) {
		/* The client's directory is older: hand it the one in force, root-signed. */
		uint8_t *enc;
		size_t enc_len;
		if (pb_encode(&s->srv->dir.signed_dir->base, &enc, &enc_len) == PU_OK) {
			w.directory.data = enc;
			w.directory.len = enc_len;
		}
	}
	w.checkpoint = head->checkpoint;
	w.consistency_proof = head->consistency_proof;
	w.n_consistency_proof = head->n_consistency_proof;
	w.now = wall_now();
	s->state = S_READY;
	frame_reader_set_max(&s->fr, PU_FRAME_MAX);
	s->deadline_ms = now_ms(s) + (uint64_t)s->srv->cfg.idle_timeout_s * 1000;
	session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_WELCOME, &w.base);
	free(w.directory.data);
	pb_free(head);
	/* Tell a returning sender about messages that expired undelivered. */
	struct store_req *nr = store_req_new(STORE_NOTICES, s->id, TAG_NOTICES);
	if (nr != NULL) {
		snprintf(nr->agency, sizeof(nr->agency), "%s", s->agency);
		session_post(s, nr);
	}
}

static void
on_notices_done(struct session *s, struct store_req *r)
{
	if (r->rc != PU_OK)
		return;
	for (size_t i = 0; i < r->n_list; i++) {
		Puente__Signed *sg = puente__signed__unpack(NULL, r->list_len[i], r->list[i]);
		Puente__NonDeliveryNotice *n = sg ? puente__non_delivery_notice__unpack(NULL,
		    sg->body.len, sg->body.data) : NULL;
		struct store_req *sent;
		if (n != NULL && n->msg_id.len == PU_MSG_ID_LEN) {
			session_send(s, PUENTE__FRAME_TYPE__FRAME_TYPE_NON_DELIVERY, &sg->base);
			/* marked one by one: a notice added meanwhile is not marked unsent */
			if ((sent = store_req_new(STORE_NOTICES_SENT, s->id, 0)) != NULL) {
				snprintf(sent->agency, sizeof(sent->agency), "%s", s->agency);
				memcpy(sent->msg_id, n->msg_id.data, PU_MSG_ID_LEN);
				session_post(s, sent);
			}
		}
		if (n != NULL)
			puente__non_delivery_notice__free_unpacked(n, NULL);
		if (sg != NULL)
			puente__signed__free_unpacked(sg, NULL);
	}
}

static void
dispatch(struct session *s, struct ahead_frame *f)
{
	uint8_t type = f->type;
	const uint8_t *body = f->body.data;
	size_t len = f->body.len;
	ProtobufCMessage *m = NULL;
	int rc;

	s->srv->st.frames_in++;
	if (s->state == S_HELLO) {
		if (type != PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO)
			session_fail(s, PU_ERR_FRAME_UNEXPECTED, "HELLO first");
		else
			on_hello(s, body, len);
		return;
	}
	s->deadline_ms = now_ms(s) + (uint64_t)s->srv->cfg.idle_timeout_s * 1000;
	switch (type) {
	case PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT:
		on_submit_frame(s, f);
		return;
	case PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK:
		on_chunk_frame(s, body, len);
		return;
	case PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT:
		on_recipient_receipt_frame(s, body, len);
		return;
	case PUENTE__FRAME_TYPE__FRAME_TYPE_OPEN_STATEMENT:
		on_open_statement_frame(s, body, len);
		return;
	case PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_QUERY:
		on_audit_query_frame(s, body, len);
		return;
	case PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST:
	case PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH:
	case PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS_REQUEST:
	case PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT_REQUEST:
	case PUENTE__FRAME_TYPE__FRAME_TYPE_COSIGNATURE:
		break;
	default:
		session_fail(s, PU_ERR_FRAME_UNEXPECTED, "a frame only the gateway sends");
		return;
	}
	if ((rc = frame_decode_body(type, body, len, &m)) != PU_OK) {
		session_fail(s, rc, "malformed frame");
		return;
	}
	if (type == PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST)
		on_inbox_frame(s, (Puente__InboxRequest *)m);
	else if (type == PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH)
		on_fetch_frame(s, (Puente__Fetch *)m);
	else if (type == PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT_REQUEST)
		on_checkpoint_request_frame(s, (Puente__CheckpointRequest *)m);
	else if (type == PUENTE__FRAME_TYPE__FRAME_TYPE_COSIGNATURE)
		on_cosignature_frame(s, (Puente__Cosignature *)m);
	else
		on_receipts_frame(s, (Puente__ReceiptsRequest *)m);
	pb_free(m);
}

/* ---- reading ----------------------------------------------------------------------- */

/* A SUBMIT read ahead: decoded now, its signature given to the verifier. */
static void
ahead_check_signature(struct session *s, struct ahead_frame *f)
{
	const uint8_t *pk;
	struct sig_job *j = NULL;

	/*
	 * Only what would reach the check: anything refused before it (a header that does
	 * not decode, another sender, an unknown key) is decoded again when its turn comes
	 * and answered as it always is.
	 */
	if (header_decode(&f->h, f->body.data, f->body.len) != PU_OK ||
	    strcmp(f->h.core->sender, s->agency) != 0 ||
	    f->h.signed_hdr->signature.len != PU_SIG_LEN ||
	    header_signer_key(&f->h, &s->srv->dir, &pk) != PU_OK ||
	    (j = calloc(1, sizeof(*j))) == NULL ||
	    header_signed_bytes(&f->h, &j->msg, &j->msg_len) != PU_OK) {
		free(j);
		header_free(&f->h);
		return;
	}
	memcpy(j->pk, pk, sizeof(j->pk));
	memcpy(j->sig, f->h.signed_hdr->signature.data, sizeof(j->sig));
	j->owner = s;
	f->job = j;
	verifier_post(&s->srv->verifier, j);
}

static int session_can_read(const struct session *s);

static int
ahead_has_room(const struct session *s)
{
	/* Before it is ready, a frame at a time: HELLO changes what the next may be. */
	if (s->state != S_READY)
		return s->ahead == NULL && session_can_read(s);
	return s->ahead == NULL ||
	    (s->n_ahead < AHEAD_FRAMES && s->ahead_bytes < AHEAD_BYTES);
}

/* Decrypt and frame what has arrived, while there is room ahead; the end is kept for later. */
static void
read_ahead(struct session *s)
{
	while (s->input_end == INPUT_OPEN && ahead_has_room(s)) {
		if (s->in_pos == s->in_len) {
			long n = tls_conn_read(&s->tls, s->in, READ_CHUNK_BYTES);
			if (n == 0)
				return;
			if (n < 0) {
				s->input_end = s->tls.closed == TLS_CONN_PEER_CLOSED ?
				    INPUT_PEER_CLOSED : INPUT_TLS_ERROR;
				return;
			}
			s->in_len = (size_t)n;
			s->in_pos = 0;
		}
		size_t used;
		int rc = frame_reader_feed(&s->fr, s->in + s->in_pos, s->in_len - s->in_pos, &used);
		s->in_pos += used;
		if (rc == PU_ERR_AGAIN)
			continue;
		if (rc != PU_OK) {
			s->input_end = INPUT_FRAME_ERROR;
			s->input_rc = rc;
			return;
		}
		struct ahead_frame *f = calloc(1, sizeof(*f));
		if (f == NULL) {
			s->input_end = INPUT_FRAME_ERROR;
			s->input_rc = PU_ERR_NOMEM;
			return;
		}
		/* The body changes hands; the reader allocates the next one. */
		f->type = s->fr.type;
		f->body = s->fr.body;
		buf_init(&s->fr.body, PU_FRAME_MAX);
		frame_reader_next(&s->fr);
		*s->ahead_tail = f;
		s->ahead_tail = &f->next;
		s->n_ahead++;
		s->ahead_bytes += f->body.len;
		/*
		 * A SUBMIT with nothing before it is handled now, on the loop: the verifier
		 * would only be woken for nothing. Those behind it are the verifier's to take.
		 */
		if (f->type == PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT && s->state == S_READY &&
		    s->srv->verifier.running && !(s->ahead == f && session_can_read(s)))
			ahead_check_signature(s, f);
	}
}

/* All frames before the end of the input are handled: now the end. */
static void
input_ended(struct session *s)
{
	if (s->input_end == INPUT_PEER_CLOSED)
		session_disconnected(s);
	else if (s->input_end == INPUT_TLS_ERROR)
		session_fail(s, PU_ERR_IO, tls_conn_error(&s->tls));
	else
		session_fail(s, s->input_rc, NULL);
}

static int
session_can_read(const struct session *s)
{
	return !s->paused && !backlogged(s) && s->state != S_CLOSING && !s->closing_after_flush;
}

/* Handle frames in order until the session must wait for the store or for a signature. */
static void
session_process(struct session *s)
{
	while (session_can_read(s)) {
		read_ahead(s);
		struct ahead_frame *f = s->ahead;
		if (f == NULL) {
			if (s->input_end != INPUT_OPEN) {
				input_ended(s);
				return;
			}
			break;
		}
		/* Its signature is being checked: session_signature_checked comes back here. */
		if (f->job != NULL && !verifier_claim(&s->srv->verifier, f->job))
			break;
		s->ahead = f->next;
		if (s->ahead == NULL)
			s->ahead_tail = &s->ahead;
		s->n_ahead--;
		s->ahead_bytes -= f->body.len;
		dispatch(s, f);
		ahead_free(s, f);
	}
	/* Waiting or not, the verifier gets the signatures of what has arrived meanwhile. */
	if (s->state != S_CLOSING && !s->closing_after_flush)
		read_ahead(s);
	session_output(s);
	/* While the store has our last frame, the kernel's buffers hold the peer back. */
	if ((!session_can_read(s) || !ahead_has_room(s)) && !s->read_stopped &&
	    s->state != S_CLOSING) {
		uv_read_stop((uv_stream_t *)&s->tcp);
		s->read_stopped = 1;
	}
}

void
session_signature_checked(struct sig_job *j)
{
	struct session *s = j->owner;

	if (s->ahead != NULL && s->ahead->job == j) {
		server_cork(s->srv);
		session_resume(s);
		server_uncork(s->srv);
	}
}

/* The peer went away (EOF, reset or close_notify): nothing half-stored, the end audited. */
static void
session_disconnected(struct session *s)
{
	if (s->state == S_CLOSING)
		return;
	log_info("session", "event=disconnect session=%llu agency=%s", (unsigned long long)s->id,
	    s->agency[0] ? s->agency : "-");
	if (s->state >= S_HELLO)
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_CLOSE, NULL, NULL, PU_OK);
	session_close(s);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char slab[READ_CHUNK_BYTES];	/* the loop reads one socket at a time */

	(void)h;
	(void)suggested;
	*b = uv_buf_init(slab, sizeof(slab));
}

static void
session_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
	struct session *s = stream->data;
	int rc;

	if (n == 0)
		return;
	if (n < 0) {
		session_disconnected(s);
		return;
	}
	s->srv->st.bytes_in += (uint64_t)n;
	if (tls_conn_feed(&s->tls, (const uint8_t *)b->base, (size_t)n) != PU_OK) {
		session_fail(s, PU_ERR_IO, "TLS input");
		return;
	}
	if (s->state == S_HANDSHAKE) {
		rc = tls_conn_handshake(&s->tls);
		session_flush(s);
		if (rc == PU_ERR_AGAIN)
			return;
		if (rc != PU_OK) {
			s->srv->st.sessions_failed++;
			log_info("session", "event=tls-failed session=%llu peer=%s reason=\"%s\"",
			    (unsigned long long)s->id, s->peer, tls_conn_error(&s->tls));
			session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_FAILURE, NULL, NULL, PU_ERR_IO);
			session_close(s);
			return;
		}
		on_handshake_done(s);
		if (s->state != S_HELLO)
			return;
	}
	session_process(s);
}

/* What the frames of one read are answered at once leaves in one flush. */
static void
on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
	struct server *srv = ((struct session *)stream->data)->srv;

	server_cork(srv);
	session_read(stream, n, b);
	server_uncork(srv);
}

static void
session_resume(struct session *s)
{
	if (s->state == S_CLOSING)
		return;
	session_process(s);
	if (session_can_read(s) && ahead_has_room(s) && s->read_stopped) {
		uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
		s->read_stopped = 0;
	}
}

/* ---- entry points ------------------------------------------------------------------ */

static void
on_timer(uv_timer_t *t)
{
	struct session *s = t->data;

	session_tick(s, now_ms(s));
}

void
session_tick(struct session *s, uint64_t now)
{
	if (s->state == S_CLOSING || now < s->deadline_ms)
		return;
	if (s->state == S_HANDSHAKE || s->state == S_HELLO) {
		s->srv->st.sessions_failed++;
		log_info("session", "event=deadline session=%llu peer=%s state=%s",
		    (unsigned long long)s->id, s->peer, s->state == S_HANDSHAKE ? "handshake" : "hello");
		session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_FAILURE, NULL, NULL,
		    PU_ERR_DEADLINE);
		session_close(s);
	} else if (s->closing_after_flush) {
		/* A peer that neither takes its ERROR nor closes is not waited for longer. */
		session_close(s);
	} else if (s->inflight == 0 && s->spooling == 0 && !s->paused) {
		/* Idle: no frame, and no output taken (on_written moves the deadline too). */
		session_fail(s, PU_ERR_DEADLINE, "idle");
	}
}

int
session_accept(struct server *srv)
{
	struct session *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char addr[64] = "?";

	if (s == NULL || (s->in = malloc(READ_CHUNK_BYTES)) == NULL) {
		free(s);
		return PU_ERR_NOMEM;
	}
	s->srv = srv;
	s->id = ++srv->next_session_id;
	s->ahead_tail = &s->ahead;
	uv_tcp_init(srv->loop, &s->tcp);
	uv_timer_init(srv->loop, &s->timer);
	s->tcp.data = s->timer.data = s;
	s->open_handles = 2;
	frame_reader_init(&s->fr, PU_FRAME_MAX_HELLO);
	if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&s->tcp) != 0 ||
	    tls_conn_init(&s->tls, srv->tls, 1) != PU_OK) {
		s->state = S_HANDSHAKE;
		uv_close((uv_handle_t *)&s->timer, on_handle_closed);
		uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
		return PU_ERR_IO;
	}
	if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, addr, sizeof(addr));
		else if (ss.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&ss, addr, sizeof(addr));
	}
	log_escape(s->peer, sizeof(s->peer), addr, strlen(addr));
	uv_tcp_nodelay(&s->tcp, 1);
	s->state = S_HANDSHAKE;
	s->deadline_ms = uv_now(srv->loop) + srv->cfg.handshake_timeout_ms;
	server_add_session(srv, s);
	uv_timer_start(&s->timer, on_timer, srv->cfg.handshake_timeout_ms, 1000);
	uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
	return PU_OK;
}

void
session_store_done(struct session *s, struct store_req *r)
{
	if (s->pending > 0)
		s->pending--;
	switch (r->tag) {
	case TAG_LOOKUP: on_lookup_done(s, r); break;
	case TAG_CHUNK: on_chunk_done(s, r); break;
	case TAG_SUBMIT: on_submit_done(s, r); break;
	case TAG_INBOX: on_inbox_done(s, r); break;
	case TAG_FETCH:
		if (on_fetch_done(s, r)) {
			session_resume(s);
			return;	/* it owns r now */
		}
		break;
	case TAG_DELIVERED: on_delivered_done(s, r); break;
	case TAG_READ_CHUNK: on_read_chunk_done(s, r); break;
	case TAG_RECEIPT_HEADER:
		on_receipt_header_done(s, r);
		return;	/* it owns r now */
	case TAG_RECEIPT: on_receipt_done(s, r); break;
	case TAG_RECEIPTS: on_receipts_done(s, r); break;
	case TAG_NOTICES: on_notices_done(s, r); break;
	case TAG_AUDIT_QUERY:
		if (on_audit_query_done(s, r)) {
			session_resume(s);
			return;	/* it owns r now */
		}
		break;
	case TAG_AUDIT_ANSWER:
		on_encoded_answer(s, r, PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER);
		break;
	case TAG_LOG_HEAD: on_encoded_answer(s, r, PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT); break;
	case TAG_COSIGN: on_cosign_done(s, r); break;
	case TAG_WELCOME: on_welcome_ready(s, r); break;
	case TAG_OPEN:
		if (r->rc == PU_OK) {
			send_ack(s, r);
		} else {
			session_audit(s, PUENTE__AUDIT_EVENT__AUDIT_EVENT_REJECT, NULL, r->msg_id, r->rc);
			session_error(s, r->rc, r->msg_id, "an open statement is about a message delivered to this agency");
		}
		break;
	default:
		break;
	}
	store_req_free(r);
	session_resume(s);
}

void
session_recheck(struct session *s)
{
	const Puente__Agency *a;
	int rc;

	if (s->state == S_HANDSHAKE || s->state == S_CLOSING || s->agency[0] == '\0')
		return;
	a = directory_find_agency(&s->srv->dir, s->agency);
	rc = a == NULL ? PU_ERR_TLS_IDENTITY : directory_agency_check(a);
	if (rc == PU_OK)
		rc = identity_bind(s);
	if (rc != PU_OK)
		session_fail(s, rc, "the directory no longer allows this session");
}
