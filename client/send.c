/*
 * send.c - puente_send, puente_reply, puente_flush: a case file becomes a sealed message in
 * the outbox (fsynced before any attempt), then the outbox drains to the gateway.
 *
 * Memory stays bounded whatever the attachments weigh: each attachment is read twice in
 * blocks (once for its size and hash, which the case message lists before the bytes, once
 * to seal it, checking that it did not change in between); sealed chunks go to the outbox
 * file as they are made and are sent from there one at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "casefile.h"
#include "casejson.h"
#include "client.h"
#include "frames.pb-c.h"
#include "fsutil.h"
#include "ids.h"
#include "media.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

#define READ_BLOCK (256u * 1024)
#define MAX_ATTACHMENTS 256

/* An attachment being sent: its file, and what the case message says of it. */
struct att {
	char path[PUENTE_PATH_MAX];
	char name[1024];		/* the base name, when the case file lists none */
	uint64_t size;
	uint8_t hash[PU_HASH_LEN];
};

struct draft {
	Puente__CaseMessage *cm;	/* as casejson_parse decoded it */
	struct att *att;
	size_t n_att;
	Puente__Attachment *made;	/* entries made from file names (case file lists none) */
	Puente__Attachment **made_ptrs;
	uint8_t *enc;			/* the encoded case message, sizes and hashes filled in */
	size_t enc_len;
	uint64_t att_total;
	const uint8_t *in_reply_to;
};

static void
draft_free(struct draft *d)
{
	if (d->made != NULL) {
		/* The entries are ours, not the decoder's: detach them before pb_free. */
		d->cm->attachments = NULL;
		d->cm->n_attachments = 0;
	}
	for (size_t i = 0; d->cm != NULL && i < d->cm->n_attachments; i++) {
		d->cm->attachments[i]->blake2b.data = NULL;
		d->cm->attachments[i]->blake2b.len = 0;
	}
	pb_free(d->cm);
	free(d->made);
	free(d->made_ptrs);
	free(d->att);
	free(d->enc);
	memset(d, 0, sizeof(*d));
}

/*
 * Size and hash of one file, read in blocks; never the whole file in memory. Errors name
 * an attachment by its number: a file name may be a child's name.
 */
static int
hash_file(struct puente_client *c, struct att *a, size_t number)
{
	crypto_generichash_blake2b_state st;
	uint8_t *block;
	struct stat sb;
	ssize_t r;
	int fd, rc = PU_OK;

	if ((fd = open(a->path, O_RDONLY | O_CLOEXEC)) < 0)
		return client_fail(c, errno == ENOENT ? PU_ERR_NOT_FOUND : PU_ERR_IO,
		    "attachment %zu: cannot open it: %s", number, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return client_fail(c, PU_ERR_IO, "attachment %zu: not a regular file", number);
	}
	if ((block = malloc(READ_BLOCK)) == NULL) {
		close(fd);
		return PU_ERR_NOMEM;
	}
	hash_stream_init(&st, PU_P_ATTACH, NULL, 0);
	a->size = 0;
	while ((r = read(fd, block, READ_BLOCK)) > 0) {
		crypto_generichash_blake2b_update(&st, block, (size_t)r);
		a->size += (uint64_t)r;
	}
	if (r < 0)
		rc = client_fail(c, PU_ERR_IO, "attachment %zu: %s", number, strerror(errno));
	crypto_generichash_blake2b_final(&st, a->hash, PU_HASH_LEN);
	free(block);
	close(fd);
	return rc;
}

/*
 * Which files: those named on the command line, in the order of the case file's list (or
 * making the list from their names when it has none); without any, the names the case file
 * lists, relative to its folder.
 */
static int
attachments_resolve(struct puente_client *c, const struct puente_send_request *r,
    struct draft *d)
{
	size_t listed = d->cm->n_attachments, n = r->n_attachments ? r->n_attachments : listed;
	char dir[PUENTE_PATH_MAX];

	if (r->n_attachments > 0 && listed > 0 && r->n_attachments != listed)
		return client_fail(c, PU_ERR_USAGE, "case file: $.attachments lists %zu files but "
		    "%zu were given", listed, r->n_attachments);
	if (n > MAX_ATTACHMENTS)
		return client_fail(c, PU_ERR_USAGE, "at most %d attachments", MAX_ATTACHMENTS);
	if (n == 0)
		return PU_OK;
	if ((d->att = calloc(n, sizeof(*d->att))) == NULL)
		return PU_ERR_NOMEM;
	d->n_att = n;
	snprintf(dir, sizeof(dir), "%s", r->case_file);
	for (size_t i = 0; i < n; i++) {
		struct att *a = &d->att[i];
		int w;
		if (r->n_attachments > 0)
			w = snprintf(a->path, sizeof(a->path), "%s", r->attachments[i]);
		else
			w = snprintf(a->path, sizeof(a->path), "%s/%s", dirname(dir),
			    d->cm->attachments[i]->name);
		if (w < 0 || (size_t)w >= sizeof(a->path))
			return client_fail(c, PU_ERR_USAGE, "attachment %zu: path too long", i + 1);
		if (r->n_attachments == 0 && d->cm->attachments[i]->name[0] == '\0')
			return client_fail(c, PU_ERR_CASE_JSON, "case file: $.attachments[%zu].name: "
			    "required when no files are given", i);
		snprintf(dir, sizeof(dir), "%s", r->case_file);	/* dirname() may write in it */
		/* Attachment.name holds at most 1024 bytes (PROTOCOL.md §3) */
		snprintf(a->name, sizeof(a->name), "%.1000s", strrchr(a->path, '/') ?
		    strrchr(a->path, '/') + 1 : a->path);
	}
	return PU_OK;
}

/* Fill in each attachment's size and hash (entries made here when the file lists none). */
static int
attachments_fill(struct puente_client *c, struct draft *d)
{
	int rc;

	for (size_t i = 0; i < d->n_att; i++) {
		if ((rc = hash_file(c, &d->att[i], i + 1)) != PU_OK)
			return rc;
		d->att_total += d->att[i].size;
	}
	if (d->n_att > 0 && d->cm->n_attachments == 0) {
		if ((d->made = calloc(d->n_att, sizeof(*d->made))) == NULL ||
		    (d->made_ptrs = calloc(d->n_att, sizeof(*d->made_ptrs))) == NULL)
			return PU_ERR_NOMEM;
		for (size_t i = 0; i < d->n_att; i++) {
			puente__attachment__init(&d->made[i]);
			d->made[i].name = d->att[i].name;
			d->made[i].media_type = (char *)media_type_of(d->att[i].name);
			d->made_ptrs[i] = &d->made[i];
		}
		d->cm->attachments = d->made_ptrs;
		d->cm->n_attachments = d->n_att;
	}
	for (size_t i = 0; i < d->n_att; i++) {
		Puente__Attachment *a = d->cm->attachments[i];
		a->size = d->att[i].size;
		a->blake2b.data = d->att[i].hash;
		a->blake2b.len = PU_HASH_LEN;
	}
	if ((rc = pb_encode(&d->cm->base, &d->enc, &d->enc_len)) != PU_OK)
		return rc;
	if (d->enc_len > PU_MAX_CASE_MESSAGE)
		return client_fail(c, PU_ERR_TOO_LARGE, "the case message encodes to more than 4 MiB");
	return PU_OK;
}

static int
case_file_load(struct puente_client *c, const struct puente_send_request *r, struct draft *d)
{
	char err[CASEJSON_ERR_MAX];
	uint8_t *text;
	size_t len;
	int rc;

	if (r->case_file == NULL)
		return client_fail(c, PU_ERR_USAGE, "no case file given");
	if ((rc = file_read_all(r->case_file, CASEJSON_MAX_INPUT, &text, &len)) != PU_OK)
		return client_fail(c, rc, "case file: %s", rc == PU_ERR_TOO_LARGE ?
		    "larger than 8 MiB" : pu_err_message(rc));
	rc = casejson_parse((const char *)text, len, &d->cm, err, sizeof(err));
	sodium_memzero(text, len);
	free(text);
	if (rc != PU_OK)
		return client_fail(c, rc, "case file: %s", err);
	if (r->type != 0 && (int)d->cm->type != r->type)
		return client_fail(c, PU_ERR_CASE_MISMATCH, "case file: $.type: the file says %s, "
		    "the command says %s", puente_type_name(d->cm->type),
		    puente_type_name(r->type));
	if (r->case_id != NULL && strcmp(r->case_id, d->cm->case_id) != 0)
		return client_fail(c, PU_ERR_CASE_MISMATCH, "case file: $.case_id: the file names "
		    "case %s, the command another", d->cm->case_id);
	return PU_OK;
}

/* Recipients: known, active, allowed to receive the type; the sender allowed to send it. */
static int
recipients_check(struct puente_client *c, const char *const *to, size_t n_to, int type,
    struct seal_recipient *out, int64_t now)
{
	const Puente__Agency *me = directory_find_agency(&c->ag.d, c->ag.id);
	uint64_t serial = c->ag.d.dir->serial;

	if (n_to == 0)
		return client_fail(c, PU_ERR_NO_RECIPIENTS, "no recipient (--to)");
	if (n_to > PUENTE_MAX_RECIPIENTS)
		return client_fail(c, PU_ERR_TOO_MANY_RECIPIENTS, "at most %d recipients",
		    PUENTE_MAX_RECIPIENTS);
	if (!directory_may_send(&c->ag.d, me, type))
		return client_fail(c, PU_ERR_POLICY, "%s may not send %s (directory serial %llu)",
		    c->ag.id, puente_type_name(type), (unsigned long long)serial);
	for (size_t i = 0; i < n_to; i++) {
		const Puente__Agency *a;
		const Puente__Key *k;
		if (agency_id_check(to[i]) != PU_OK)
			return client_fail(c, PU_ERR_AGENCY_ID, "recipient %zu: not an agency id of "
			    "the form MX-<STATE>-<UNIT>", i + 1);
		for (size_t j = 0; j < i; j++)
			if (strcmp(to[i], to[j]) == 0)
				return client_fail(c, PU_ERR_RECIPIENT_DUPLICATE, "recipient %s is "
				    "listed twice", to[i]);
		if ((a = directory_find_agency(&c->ag.d, to[i])) == NULL)
			return client_fail(c, PU_ERR_RECIPIENT_UNKNOWN, "recipient %s is not in the "
			    "directory (serial %llu)", to[i], (unsigned long long)serial);
		if (directory_agency_check(a) != PU_OK)
			return client_fail(c, directory_agency_check(a), "recipient %s is %s "
			    "(directory serial %llu)", to[i], a->status ==
			    PUENTE__AGENCY_STATUS__AGENCY_STATUS_REVOKED ? "revoked" : "suspended",
			    (unsigned long long)serial);
		if (strcmp(to[i], c->ag.id) == 0 || !directory_may_receive(&c->ag.d, a, type))
			return client_fail(c, PU_ERR_POLICY, "recipient %s may not receive %s "
			    "(directory serial %llu)", to[i], puente_type_name(type),
			    (unsigned long long)serial);
		k = directory_current_key(a, PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION, now);
		if (k == NULL)
			return client_fail(c, PU_ERR_STANZA_KEY, "recipient %s has no usable "
			    "encryption key (directory serial %llu)", to[i], (unsigned long long)serial);
		out[i].agency_id = to[i];
		memcpy(out[i].key_id, k->key_id.data, PU_KEY_ID_LEN);
		memcpy(out[i].public_key, k->public_key.data, PU_PUBLIC_KEY_LEN);
	}
	return PU_OK;
}

struct sink {
	struct puente_client *c;
	int fd;
	uint64_t written, total;
};

static int
sink_chunk(void *arg, uint32_t index, const uint8_t *ct, size_t len)
{
	struct sink *s = arg;
	size_t done = 0;

	(void)index;	/* chunks come in order: each at the end of the file */
	while (done < len) {
		ssize_t w = write(s->fd, ct + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return PU_ERR_IO;
		done += (size_t)w;
	}
	s->written += len - PU_CHUNK_ABYTES;
	client_progress(s->c, "seal", s->written, s->total);
	return PU_OK;
}

/* Stream each attachment into the sealer, checking it is still the file that was hashed. */
static int
seal_attachments(struct puente_client *c, struct sealer *s, const struct draft *d)
{
	crypto_generichash_blake2b_state st;
	uint8_t *block, hash[PU_HASH_LEN];
	int rc = PU_OK;

	if ((block = malloc(READ_BLOCK)) == NULL)
		return PU_ERR_NOMEM;
	for (size_t i = 0; rc == PU_OK && i < d->n_att; i++) {
		uint64_t seen = 0;
		ssize_t r;
		int fd = open(d->att[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = client_fail(c, PU_ERR_IO, "attachment %zu: %s", i + 1, strerror(errno));
			break;
		}
		hash_stream_init(&st, PU_P_ATTACH, NULL, 0);
		while (rc == PU_OK && (r = read(fd, block, READ_BLOCK)) > 0) {
			seen += (uint64_t)r;
			if (seen > d->att[i].size)
				break;
			crypto_generichash_blake2b_update(&st, block, (size_t)r);
			rc = envelope_seal_write(s, block, (size_t)r);
		}
		close(fd);
		crypto_generichash_blake2b_final(&st, hash, sizeof(hash));
		if (rc == PU_OK && (seen != d->att[i].size || sodium_memcmp(hash, d->att[i].hash,
		    sizeof(hash)) != 0))
			rc = client_fail(c, PU_ERR_ATTACHMENT_HASH, "attachment %zu changed while it "
			    "was being sealed; nothing was stored", i + 1);
	}
	free(block);
	return rc;
}

/* Seal into outbox/HEX.tmp, fsync, rename to HEX.msg, then queue it in client.db. */
static int
seal_to_outbox(struct puente_client *c, const struct seal_params *p, const struct draft *d)
{
	char tmp[OUTBOX_PATH_MAX + 48], final[OUTBOX_PATH_MAX + 48];
	struct sink sk = { c, -1, 0, 0 };
	struct sealer *s = NULL;
	struct sealed out = { 0 };
	struct header h = { 0 };
	int rc;

	sk.total = PU_CONTENT_OVERHEAD + d->enc_len + d->att_total;
	if ((rc = outbox_file(&c->ob, p->msg_id, "tmp", tmp, sizeof(tmp))) != PU_OK ||
	    (rc = outbox_file(&c->ob, p->msg_id, "msg", final, sizeof(final))) != PU_OK)
		return rc;
	if ((sk.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return client_fail(c, PU_ERR_IO, "%s: %s", tmp, strerror(errno));
	if ((rc = envelope_seal_begin(&s, p, d->enc, d->enc_len, d->att_total, sink_chunk,
	    &sk)) == PU_OK &&
	    (rc = seal_attachments(c, s, d)) == PU_OK)
		rc = envelope_seal_finish(s, &out);
	envelope_seal_free(s);
	if (rc == PU_OK && fsync(sk.fd) != 0)
		rc = PU_ERR_IO;
	if (close(sk.fd) != 0 && rc == PU_OK)
		rc = PU_ERR_IO;
	if (rc == PU_OK && (rename(tmp, final) != 0 || dir_sync(c->ob.dir) != PU_OK))
		rc = PU_ERR_IO;
	if (rc == PU_OK)
		rc = header_decode(&h, out.header, out.header_len);
	if (rc == PU_OK && (rc = outbox_add(&c->ob, &h, out.receipt_mac)) != PU_OK)
		client_fail(c, rc, "cannot queue the message in client.db");
	header_free(&h);
	sealed_free(&out);
	if (rc != PU_OK) {
		unlink(tmp);
		unlink(final);
		if (c->detail[0] == '\0')
			client_fail(c, rc, "cannot seal the message into %s", c->ob.dir);
	}
	return rc;
}

static int
scope_for(const struct puente_send_request *r, int type)
{
	if (r->adoption_scope != PUENTE_SCOPE_DEFAULT)
		return r->adoption_scope;
	return type == PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_INTL_ADOPTION_REVIEW_REQUEST ?
	    PUENTE_SCOPE_INTERNATIONAL : PUENTE_SCOPE_NONE;
}

/* Everything up to a queued message; nothing is stored unless all of it succeeds. */
static int
prepare_and_seal(struct puente_client *c, const struct puente_send_request *r,
    const char *const *to, size_t n_to, const uint8_t *in_reply_to, uint8_t msg_id[16])
{
	struct seal_recipient rcpt[PUENTE_MAX_RECIPIENTS];
	struct seal_params p = { 0 };
	struct draft d = { 0 };
	int64_t now = (int64_t)time(NULL);
	int rc;

	if ((rc = case_file_load(c, r, &d)) != PU_OK ||
	    (rc = recipients_check(c, to, n_to, (int)d.cm->type, rcpt, now)) != PU_OK ||
	    (rc = attachments_resolve(c, r, &d)) != PU_OK ||
	    (rc = attachments_fill(c, &d)) != PU_OK)
		goto out;
	if (r->lifetime_s < 0 || r->lifetime_s > PU_MAX_LIFETIME ||
	    (r->respond_by != 0 && r->respond_by <= now)) {
		rc = client_fail(c, PU_ERR_USAGE, r->lifetime_s < 0 || r->lifetime_s > PU_MAX_LIFETIME ?
		    "a message lives at most 7 days" : "--respond-by is not in the future");
		goto out;
	}
	msg_id_new(msg_id);
	p.sender = c->ag.id;
	memcpy(p.sender_key_id, c->ag.sign.key_id, PU_KEY_ID_LEN);
	p.sender_sk = c->ag.sign.secret;
	p.recipients = rcpt;
	p.n_recipients = n_to;
	p.type = d.cm->type;
	p.adoption_scope = scope_for(r, (int)d.cm->type);
	p.case_id = d.cm->case_id;
	p.created_at = now;
	p.expires_at = now + (r->lifetime_s ? r->lifetime_s : PU_MAX_LIFETIME);
	p.respond_by = r->respond_by;
	p.in_reply_to = in_reply_to;
	p.msg_id = msg_id;
	rc = seal_to_outbox(c, &p, &d);
out:
	draft_free(&d);
	return rc;
}

/* ---- submitting ---------------------------------------------------------------------- */

/* Failures after which the same message may well be accepted later. */
static int
retryable(int rc)
{
	switch (rc) {
	case PU_ERR_UNAVAILABLE:
	case PU_ERR_BUSY:
	case PU_ERR_SHUTTING_DOWN:
	case PU_ERR_STORE:
	case PU_ERR_QUOTA:
	case PU_ERR_DEADLINE:
	case PU_ERR_PROTOCOL:
	case PU_ERR_GATEWAY_IDENTITY:
	case PU_ERR_NOMEM:
	case PU_ERR_IO:
	case PU_ERR_LOCAL_DB:
	/* a receipt that does not verify: the message may be stored; retrying gets it again */
	case PU_ERR_RECEIPT_MISMATCH:
	case PU_ERR_RECEIPT_FIELD:
	case PU_ERR_AUDIT_LEAF:
		return 1;
	default:
		return 0;
	}
}

/* SUBMIT and the chunks from the outbox file; stops early if the gateway already answered. */
static int
send_chunks(struct puente_client *c, const struct header *h, const uint8_t *hdr, size_t hdr_len,
    int fd, int *answered, int *early_rc)
{
	Puente__Chunk ch = PUENTE__CHUNK__INIT;
	const uint8_t *body;
	size_t len;
	uint8_t *data;
	uint64_t off = 0;
	int rc;

	*answered = 0;
	if ((data = malloc(PU_CHUNK_SIZE + PU_CHUNK_ABYTES)) == NULL)
		return PU_ERR_NOMEM;
	rc = conn_send_body(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT, hdr, hdr_len);
	for (uint32_t i = 0; rc == PU_OK && i < h->core->chunk_count; i++) {
		size_t want = header_chunk_len(h, i);
		if (pread(fd, data, want, (off_t)off) != (ssize_t)want) {
			rc = client_fail(c, PU_ERR_IO, "the outbox file of this message is damaged");
			break;
		}
		ch.msg_id = h->core->msg_id;
		ch.index = i;
		ch.data.data = data;
		ch.data.len = want;
		rc = conn_send_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK, &ch.base);
		off += want;
		client_progress(c, "send", off, h->core->content_length);
		/* A retry of a stored message is answered at once: the rest need not travel. */
		if (rc == PU_OK && i + 1 < h->core->chunk_count &&
		    (*early_rc = conn_expect(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT,
		    0, &body, &len)) != PU_ERR_AGAIN) {
			*answered = 1;
			break;
		}
	}
	free(data);
	return rc;
}

/*
 * The code a receipt that does not verify is reported with: PU_ERR_RECEIPT_FIELD for bytes
 * that do not decode, PU_ERR_RECEIPT_MISMATCH for another message's leaf, PU_ERR_AUDIT_LEAF
 * for a checkpoint or proof that fails (the reason goes in the detail); local trouble keeps
 * its own code. Each is retried: the message may be stored, and a retry gets its receipt.
 */
static int
receipt_failure(int rc)
{
	if (rc == PU_ERR_RECEIPT_MISMATCH || rc == PU_ERR_NOMEM)
		return rc;
	if (rc <= PU_ERR_PB_DECODE && rc >= PU_ERR_PB_BUDGET)	/* -30..-36: does not decode */
		return PU_ERR_RECEIPT_FIELD;
	return PU_ERR_AUDIT_LEAF;
}

/*
 * The gateway's answer: its verified receipt (recorded), or its refusal. early: the answer
 * came while chunks were still going, early_rc what reading it gave.
 */
static int
take_answer(struct puente_client *c, const struct header *h, int early, int early_rc)
{
	const uint8_t *body = NULL;
	size_t len = 0;
	struct averify_log log = { 0 };
	Puente__GatewayReceipt *gr = NULL;
	Puente__AuditEntry *e = NULL;
	struct note n;
	int rc = early_rc;

	if (early && rc == PU_OK) {
		body = c->conn.fr.body.data;	/* the frame conn_expect left held */
		len = c->conn.fr.body.len;
	} else if (!early)
		rc = conn_expect(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT,
		    c->opt.timeout_ms, &body, &len);
	if (rc != PU_OK)
		return client_conn_fail(c, rc);
	if ((rc = client_gateway_log(c, &log)) != PU_OK)
		return rc;
	/* The receipt is the message's "store" leaf, proven in a checkpoint the gateway signed. */
	if ((rc = averify_gateway_receipt(&log, body, len, h->core->msg_id.data, h->header_hash,
	    h->core->sender, &n, &gr, &e)) != PU_OK)
		return client_fail(c, receipt_failure(rc), "the gateway's receipt does not prove "
		    "this message stored: %s", pu_err_message(rc));
	client_checkpoint_proved(c, "receipt", h->core->msg_id.data, gr->checkpoint, &n);
	rc = outbox_accepted(&c->ob, h->core->msg_id.data, body, len, log.gateway_id,
	    gr->audit_index, e->at);
	pb_free(e);
	pb_free(gr);
	return rc == PU_OK ? PU_OK : client_fail(c, rc, "cannot record the receipt in client.db");
}

static int
submit_one(struct puente_client *c, const uint8_t msg_id[16], struct puente_sent *info)
{
	char path[OUTBOX_PATH_MAX + 48];
	struct header h = { 0 };
	uint8_t *hdr = NULL;
	size_t hdr_len = 0;
	int fd = -1, answered = 0, early_rc = PU_OK, rc, db_rc;

	c->detail[0] = '\0';
	if ((rc = outbox_sent(&c->ob, msg_id, info, &hdr, &hdr_len, NULL)) != PU_OK)
		return client_fail(c, rc, "cannot read the outbox");
	if ((rc = header_decode(&h, hdr, hdr_len)) != PU_OK ||
	    (rc = outbox_file(&c->ob, msg_id, "msg", path, sizeof(path))) != PU_OK ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = client_fail(c, rc != PU_OK ? rc : PU_ERR_IO, "the outbox file of %s is "
		    "missing or damaged", info->msg_id);
		goto out;
	}
	if ((rc = client_connect(c)) == PU_OK) {
		c->conn.err_has_msg_id = 0;
		if ((rc = send_chunks(c, &h, hdr, hdr_len, fd, &answered, &early_rc)) == PU_OK)
			rc = take_answer(c, &h, answered, early_rc);
		else if (c->detail[0] == '\0')
			client_conn_fail(c, rc);
	}
	/* After an early answer the gateway still expects the rest: start afresh next time. */
	if (answered || (rc != PU_OK && !c->conn.err_has_msg_id))
		client_disconnect(c);
	if (rc != PU_OK) {
		db_rc = retryable(rc) ? outbox_attempt_failed(&c->ob, msg_id, rc) :
		    outbox_refused(&c->ob, msg_id, rc);
		if (db_rc != PU_OK)
			rc = client_fail(c, db_rc, "cannot record the attempt in client.db");
	}
out:
	if (fd >= 0)
		close(fd);
	header_free(&h);
	free(hdr);
	outbox_sent(&c->ob, msg_id, info, NULL, NULL, NULL);
	return rc;
}

int
puente_flush(struct puente_client *c, puente_sent_fn cb, void *arg, size_t *left)
{
	uint8_t (*ids)[16];
	struct puente_sent info;
	size_t n, i;
	int rc, worst = PU_OK;

	*left = 0;
	if (!c->ready)
		return PU_ERR_ARG;
	if ((rc = outbox_queued(&c->ob, &ids, &n)) != PU_OK)
		return client_fail(c, rc, "cannot read the outbox in client.db");
	for (i = 0; i < n; i++) {
		rc = submit_one(c, ids[i], &info);
		if (cb != NULL)
			cb(arg, &info, rc);
		if (info.state == PUENTE_QUEUED)
			(*left)++;
		/* No gateway: the rest would fail the same way; they wait for the next flush. */
		if (rc == PU_ERR_UNAVAILABLE) {
			*left += n - i - 1;
			worst = rc;
			break;
		}
	}
	free(ids);
	return worst;
}

/* Seal, then drain the outbox (older messages first); *out tells this message's fate. */
static int
send_common(struct puente_client *c, const struct puente_send_request *r, const char *const *to,
    size_t n_to, const uint8_t *in_reply_to, struct puente_sent *out)
{
	char mine_detail[CLIENT_DETAIL_MAX] = "";
	uint8_t msg_id[16], (*ids)[16];
	struct puente_sent info;
	size_t n;
	int rc, mine = PU_ERR_UNAVAILABLE;

	memset(out, 0, sizeof(*out));
	c->detail[0] = '\0';
	if ((rc = prepare_and_seal(c, r, to, n_to, in_reply_to, msg_id)) != PU_OK)
		return rc;
	if ((rc = outbox_queued(&c->ob, &ids, &n)) != PU_OK)
		return client_fail(c, rc, "cannot read the outbox in client.db");
	for (size_t i = 0; i < n; i++) {
		int is_mine = memcmp(ids[i], msg_id, 16) == 0;
		rc = submit_one(c, ids[i], &info);
		if (is_mine || rc == PU_ERR_UNAVAILABLE) {
			/* Ours, or the gateway is away and ours waits with the rest. */
			mine = rc;
			memcpy(mine_detail, c->detail, sizeof(mine_detail));
		}
		if (is_mine || rc == PU_ERR_UNAVAILABLE)
			break;
	}
	free(ids);
	if ((rc = outbox_sent(&c->ob, msg_id, out, NULL, NULL, NULL)) != PU_OK)
		return client_fail(c, rc, "cannot read the outbox in client.db");
	memcpy(c->detail, mine_detail, sizeof(mine_detail));
	return mine;
}

int
puente_send(struct puente_client *c, const struct puente_send_request *r,
    struct puente_sent *out)
{
	if (!c->ready)
		return PU_ERR_ARG;
	return send_common(c, r, r->to, r->n_to, NULL, out);
}

int
puente_reply(struct puente_client *c, const char *msg_id, const struct puente_send_request *r,
    struct puente_sent *out)
{
	struct puente_received orig;
	struct puente_send_request rr = *r;
	uint8_t id[16];
	const char *to[1];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!c->ready)
		return PU_ERR_ARG;
	if ((rc = client_msg_id(c, msg_id, id)) != PU_OK)
		return rc;
	if ((rc = outbox_received(&c->ob, id, &orig, NULL, NULL)) != PU_OK)
		return client_fail(c, rc, "%s: not a message this agency fetched", msg_id);
	if (orig.outcome != PUENTE_OUTCOME_OPENED)
		return client_fail(c, PU_ERR_UNKNOWN_MESSAGE, "%s was refused when fetched: there "
		    "is nothing to reply to", msg_id);
	if (r->case_id != NULL && strcmp(r->case_id, orig.case_id) != 0)
		return client_fail(c, PU_ERR_CASE_MISMATCH, "a reply concerns the same case (%s)",
		    orig.case_id);
	rr.case_id = orig.case_id;
	to[0] = orig.sender;
	return send_common(c, &rr, to, 1, id, out);
}
