/*
 * fetch.c - puente_fetch: FETCH, verify everything envelope_open checks while the chunks
 * stream in, write the case file and attachments, answer with the recipient receipt and
 * report the access.
 *
 * Attachment bytes reach disk before the content signature is checked, so they are written
 * as hidden .part files and renamed only after envelope_open_finish succeeds; any failure
 * removes them (and the folder, when this call made it): a message that does not verify
 * leaves nothing behind. Names are attachment-NN.EXT, the extension from the media type:
 * the sender's file names may hold anything ("../", a child's name) and stay in case.json.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "casejson.h"
#include "client.h"
#include "frames.pb-c.h"
#include "fsutil.h"
#include "media.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

#define MAX_ATTACHMENTS 256

struct out {
	char dir[PUENTE_PATH_MAX];
	int made_dir;			/* this fetch created dir: remove it on failure */
	int fd;				/* the .part file being written */
	int64_t current;		/* its attachment index, -1 before the first */
	uint8_t written[MAX_ATTACHMENTS];	/* .part files that exist */
};

static int
part_path(const struct out *o, size_t index, char *path, size_t n)
{
	int w = snprintf(path, n, "%s/.attachment-%02zu.part", o->dir, index + 1);

	return w >= 0 && (size_t)w < n ? PU_OK : PU_ERR_TOO_LARGE;
}

static int
close_part(struct out *o)
{
	int rc = PU_OK;

	if (o->fd < 0)
		return PU_OK;
	if (fsync(o->fd) != 0)
		rc = PU_ERR_IO;
	if (close(o->fd) != 0)
		rc = PU_ERR_IO;
	o->fd = -1;
	return rc;
}

static int
open_part(struct out *o, size_t index)
{
	char path[PUENTE_PATH_MAX + 32];
	int rc;

	if (index >= MAX_ATTACHMENTS)
		return PU_ERR_CONTENT_FORMAT;
	if ((rc = close_part(o)) != PU_OK || (rc = part_path(o, index, path, sizeof(path))) != PU_OK)
		return rc;
	if ((o->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return PU_ERR_IO;
	o->written[index] = 1;
	o->current = (int64_t)index;
	return PU_OK;
}

/* The opener's attachment sink: bytes of attachment index, in order. */
static int
sink_attachment(void *arg, uint32_t index, const uint8_t *p, size_t len)
{
	struct out *o = arg;
	int rc;

	if ((int64_t)index != o->current && (rc = open_part(o, index)) != PU_OK)
		return rc;
	while (len > 0) {
		ssize_t w = write(o->fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return PU_ERR_IO;
		p += w;
		len -= (size_t)w;
	}
	return PU_OK;
}

/* Absent: made 0700. Present: must be an empty folder (nothing is ever overwritten). */
static int
out_prepare(struct puente_client *c, struct out *o, const char *dir)
{
	struct stat sb;
	DIR *dh;
	struct dirent *e;
	int empty = 1;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->current = -1;
	if (strlen(dir) >= sizeof(o->dir) - 32)
		return client_fail(c, PU_ERR_USAGE, "--out: path too long");
	snprintf(o->dir, sizeof(o->dir), "%s", dir);
	if (mkdir(dir, 0700) == 0) {
		o->made_dir = 1;
		return PU_OK;
	}
	if (errno != EEXIST || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return client_fail(c, errno == ENOENT ? PU_ERR_NOT_FOUND : PU_ERR_EXISTS,
		    "--out: cannot make this folder");
	if ((dh = opendir(dir)) == NULL)
		return client_fail(c, PU_ERR_IO, "--out: cannot read this folder");
	while ((e = readdir(dh)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(dh);
	return empty ? PU_OK : client_fail(c, PU_ERR_EXISTS, "--out: the folder is not empty (a "
	    "fetch never overwrites)");
}

/* Undo: every file this fetch wrote, and the folder if it made it. */
static void
out_discard(struct out *o)
{
	char path[PUENTE_PATH_MAX + 32];

	if (o->dir[0] == '\0')
		return;
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	for (size_t i = 0; i < MAX_ATTACHMENTS; i++)
		if (o->written[i] && part_path(o, i, path, sizeof(path)) == PU_OK)
			unlink(path);
	if (o->made_dir)
		rmdir(o->dir);
}

/* Verified: the parts become attachment-NN.EXT, then case.json is written. */
static int
out_commit(struct out *o, const Puente__CaseMessage *cm)
{
	char part[PUENTE_PATH_MAX + 32], final[PUENTE_PATH_MAX + 32], *json = NULL;
	size_t json_len;
	int rc;

	if ((rc = close_part(o)) != PU_OK)
		return rc;
	for (size_t i = 0; i < cm->n_attachments && i < MAX_ATTACHMENTS; i++) {
		/* an empty attachment never reached the sink */
		if (!o->written[i] && (rc = open_part(o, i)) == PU_OK)
			rc = close_part(o);
		if (rc != PU_OK || (rc = part_path(o, i, part, sizeof(part))) != PU_OK)
			return rc;
		if (snprintf(final, sizeof(final), "%s/attachment-%02zu.%s", o->dir, i + 1,
		    media_ext_of(cm->attachments[i]->media_type)) >= (int)sizeof(final))
			return PU_ERR_TOO_LARGE;
		if (link(part, final) != 0)
			return errno == EEXIST ? PU_ERR_EXISTS : PU_ERR_IO;
		unlink(part);
		o->written[i] = 0;
	}
	if ((rc = casejson_write(cm, &json, &json_len)) != PU_OK)
		return rc;
	if (snprintf(final, sizeof(final), "%s/case.json", o->dir) >= (int)sizeof(final))
		rc = PU_ERR_TOO_LARGE;
	else
		rc = file_write_atomic(final, json, json_len, 0600, FILE_CREATE);
	sodium_memzero(json, json_len);
	free(json);
	return rc == PU_OK ? dir_sync(o->dir) : rc;
}

/* The header of a DELIVER, kept: the next frame reuses the reader's buffer. */
static int
take_header(struct puente_client *c, const uint8_t id[16], struct header *h)
{
	Puente__Fetch f = PUENTE__FETCH__INIT;
	const uint8_t *body;
	size_t len;
	int rc;

	f.msg_id.data = (uint8_t *)id;
	f.msg_id.len = PU_MSG_ID_LEN;
	if ((rc = conn_send_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH, &f.base)) != PU_OK ||
	    (rc = conn_expect(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER, c->opt.timeout_ms,
	    &body, &len)) != PU_OK)
		return client_conn_fail(c, rc);
	if ((rc = header_decode(h, body, len)) != PU_OK)
		return client_fail(c, rc, "the message's header is malformed: %s", pu_err_message(rc));
	if (h->core->msg_id.len != PU_MSG_ID_LEN || memcmp(h->core->msg_id.data, id, 16) != 0)
		return client_fail(c, PU_ERR_PROTOCOL, "the gateway delivered another message");
	return PU_OK;
}

/* Every chunk through the opener; the first failure stops it (the session is then dropped). */
static int
open_chunks(struct puente_client *c, const struct header *h, struct opener *o)
{
	uint64_t done = 0;
	int rc = PU_OK;

	for (uint32_t i = 0; rc == PU_OK && i < h->core->chunk_count; i++) {
		ProtobufCMessage *m;
		Puente__Chunk *ch;
		if ((rc = conn_expect_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK,
		    &m)) != PU_OK)
			return client_conn_fail(c, rc);
		ch = (Puente__Chunk *)m;
		if (ch->msg_id.len != PU_MSG_ID_LEN ||
		    memcmp(ch->msg_id.data, h->core->msg_id.data, PU_MSG_ID_LEN) != 0)
			rc = PU_ERR_CHUNK_ORDER;
		else
			rc = envelope_open_chunk(o, ch->index, ch->data.data, ch->data.len);
		done += ch->data.len > PU_CHUNK_ABYTES ? ch->data.len - PU_CHUNK_ABYTES : 0;
		pb_free(ch);
		client_progress(c, "fetch", done, h->core->content_length);
	}
	return rc;
}

/* The ACK's leaf records this event for this message, in a signed checkpoint. */
static int
ack_proof(struct puente_client *c, const uint8_t id[16], int event, const Puente__Ack *a)
{
	return client_audit_proof(c, "ack", id, event, a->checkpoint, a->audit_index,
	    &a->audit_entry, a->inclusion_proof, a->n_inclusion_proof);
}

/* Sign and send a recipient receipt; recorded before it leaves, marked once acknowledged. */
static int
send_receipt(struct puente_client *c, const uint8_t id[16], const uint8_t *rcpt, size_t len)
{
	ProtobufCMessage *ack;
	int rc;

	if ((rc = client_connect(c)) != PU_OK)
		return rc;
	if ((rc = conn_send_body(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT, rcpt,
	    len)) != PU_OK ||
	    (rc = conn_expect_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, &ack)) != PU_OK)
		return client_conn_fail(c, rc);
	rc = ack_proof(c, id, PUENTE__AUDIT_EVENT__AUDIT_EVENT_RECIPIENT_RECEIPT,
	    (Puente__Ack *)ack);
	pb_free(ack);
	return rc == PU_OK ? outbox_received_acked(&c->ob, id) : rc;
}

static int
send_open_statement(struct puente_client *c, const struct header *h, const char *staff,
    const char *purpose)
{
	Puente__OpenStatement os = PUENTE__OPEN_STATEMENT__INIT;
	ProtobufCMessage *ack;
	uint8_t *body;
	size_t len;
	int rc;

	os.agency_id = c->ag.id;
	os.msg_id = h->core->msg_id;
	os.header_hash.data = (uint8_t *)h->header_hash;
	os.header_hash.len = PU_HASH_LEN;
	os.staff_id = (char *)staff;
	os.purpose = (char *)purpose;
	os.at = (int64_t)time(NULL);
	if ((rc = signed_create(PU_CTX_OPEN, &os.base, c->ag.sign.key_id, c->ag.sign.secret, &body,
	    &len)) != PU_OK)
		return client_fail(c, rc, "cannot sign the access statement");
	if ((rc = conn_send_body(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_OPEN_STATEMENT, body,
	    len)) != PU_OK ||
	    (rc = conn_expect_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, &ack)) != PU_OK) {
		free(body);
		return client_conn_fail(c, rc);
	}
	if ((rc = ack_proof(c, h->core->msg_id.data, PUENTE__AUDIT_EVENT__AUDIT_EVENT_OPEN,
	    (Puente__Ack *)ack)) == PU_OK)
		rc = outbox_open_add(&c->ob, h->core->msg_id.data, staff, purpose, os.at, body,
		    len, ((Puente__Ack *)ack)->audit_index);
	pb_free(ack);
	free(body);
	return rc;
}

static void
received_from_header(struct puente_received *r, const struct header *h)
{
	const Puente__HeaderCore *k = h->core;

	memset(r, 0, sizeof(*r));
	client_hex(r->msg_id, k->msg_id.data);
	snprintf(r->sender, sizeof(r->sender), "%s", k->sender);
	r->type = k->type;
	snprintf(r->case_id, sizeof(r->case_id), "%s", k->case_id);
	if (k->in_reply_to.len == PU_MSG_ID_LEN)
		client_hex(r->in_reply_to, k->in_reply_to.data);
	r->created_at = k->created_at;
	r->respond_by = k->respond_by;
	r->content_length = k->content_length;
	r->fetched_at = (int64_t)time(NULL);
}

/*
 * The verdict a failure gives (PROTOCOL.md §5.6): none for trouble on the way or on this
 * machine - the network, the gateway, the disk - which says nothing about the message.
 */
static Puente__ReceiptOutcome
verdict(int err)
{
	switch (err) {
	case PU_ERR_UNAVAILABLE:
	case PU_ERR_PROTOCOL:
	case PU_ERR_GATEWAY_IDENTITY:
	case PU_ERR_LOCAL_DB:
	case PU_ERR_EXISTS:
	case PU_ERR_TOO_LARGE:
	case PU_ERR_DEADLINE:
	case PU_ERR_BUSY:
	case PU_ERR_SHUTTING_DOWN:
	case PU_ERR_STORE:
	case PU_ERR_NOT_QUEUED:
		return PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED;
	default:
		return receipt_outcome_for(err);
	}
}

/*
 * The message failed: record why and, when the protocol gives a verdict for the fault, say
 * so in a negative receipt on a fresh session (the one in use is out of step).
 */
static int
refuse(struct puente_client *c, const struct header *h, int err, struct puente_received *r)
{
	Puente__ReceiptOutcome outcome = verdict(err);
	char why[CLIENT_DETAIL_MAX];
	uint8_t *rcpt = NULL;
	size_t len = 0;
	int rc;

	snprintf(why, sizeof(why), "%s", c->detail[0] ? c->detail : pu_err_message(err));
	client_disconnect(c);
	r->outcome = (int)outcome;
	r->error = err;
	if (outcome != PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED &&
	    receipt_recipient_create(h, c->ag.id, outcome, NULL, (int64_t)time(NULL),
	    c->ag.sign.key_id, c->ag.sign.secret, &rcpt, &len) != PU_OK)
		outcome = PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED;
	if (outcome == PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED)
		return client_fail(c, err, "message %s from %s: %s; nothing was written, it stays "
		    "queued at the gateway", r->msg_id, r->sender, why);
	rc = outbox_received_put(&c->ob, h->core->msg_id.data, r, h, rcpt, len);
	if (rc == PU_OK)
		rc = send_receipt(c, h->core->msg_id.data, rcpt, len);
	free(rcpt);
	r->receipt_acked = rc == PU_OK;
	return client_fail(c, err, "refused message %s from %s: %s; nothing was written%s%s",
	    r->msg_id, r->sender, why, rc == PU_OK ? "; the sender is told: " :
	    "; the negative receipt could not be sent yet: ", rc == PU_OK ?
	    puente_outcome_name((int)outcome) : pu_err_message(rc));
}

/* A message fetched before: finish its receipt if the gateway never acknowledged it. */
static int
fetched_before(struct puente_client *c, const uint8_t id[16], struct puente_received *r)
{
	uint8_t *rcpt = NULL;
	size_t len = 0;
	int rc;

	if ((rc = outbox_received(&c->ob, id, r, &rcpt, &len)) != PU_OK)
		return rc;
	if (!r->receipt_acked && rcpt != NULL && send_receipt(c, id, rcpt, len) == PU_OK)
		r->receipt_acked = 1;
	free(rcpt);
	if (r->outcome == PUENTE_OUTCOME_OPENED)
		return client_fail(c, PU_ERR_EXISTS, "%s was already fetched into %s", r->msg_id,
		    r->out_dir);
	return client_fail(c, r->error ? r->error : PU_ERR_EXISTS, "%s was refused when "
	    "fetched (%s)", r->msg_id, puente_outcome_name(r->outcome));
}

static int
open_and_write(struct puente_client *c, const struct header *h, struct out *o,
    Puente__CaseMessage **cm, uint8_t mac[PU_HASH_LEN])
{
	struct open_key keys[AGENCY_MAX_ENC_KEYS];
	struct opener *op = NULL;
	size_t n_keys = agency_open_keys(&c->ag, keys);
	int rc;

	if ((rc = envelope_open_begin(&op, h, &c->ag.d, c->ag.id, keys, n_keys, sink_attachment,
	    o)) == PU_OK &&
	    (rc = open_chunks(c, h, op)) == PU_OK)
		rc = envelope_open_finish(op, cm, mac);
	envelope_open_free(op);
	if (rc == PU_OK && (rc = out_commit(o, *cm)) != PU_OK)
		client_fail(c, rc, "--out: cannot write the fetched files");
	return rc;
}

int
puente_fetch(struct puente_client *c, const struct puente_fetch_request *r,
    struct puente_received *out)
{
	Puente__CaseMessage *cm = NULL;
	struct header h = { 0 };
	struct out o = { 0 };
	uint8_t id[16], mac[PU_HASH_LEN], *rcpt = NULL;
	char why[CLIENT_DETAIL_MAX];
	size_t rcpt_len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	c->detail[0] = '\0';
	if (!c->ready)
		return PU_ERR_ARG;
	if ((rc = client_msg_id(c, r->msg_id, id)) != PU_OK)
		return rc;
	if (r->out_dir == NULL || ((r->staff_id == NULL) != (r->purpose == NULL)))
		return client_fail(c, PU_ERR_USAGE, "--out is required; --staff and --purpose go "
		    "together");
	if ((rc = fetched_before(c, id, out)) != PU_ERR_UNKNOWN_MESSAGE)
		return rc;
	c->detail[0] = '\0';
	memset(out, 0, sizeof(*out));
	if ((rc = out_prepare(c, &o, r->out_dir)) != PU_OK)
		return rc;
	if ((rc = client_connect(c)) != PU_OK || (rc = take_header(c, id, &h)) != PU_OK) {
		if (h.core == NULL)
			client_disconnect(c);	/* nothing to answer: a header we cannot read */
		out_discard(&o);
		if (h.core != NULL) {
			received_from_header(out, &h);
			rc = refuse(c, &h, rc, out);
		}
		header_free(&h);
		return rc;
	}
	received_from_header(out, &h);
	if ((rc = open_and_write(c, &h, &o, &cm, mac)) != PU_OK) {
		out_discard(&o);
		rc = refuse(c, &h, rc, out);
		goto done;
	}
	out->outcome = PUENTE_OUTCOME_OPENED;
	out->n_attachments = cm->n_attachments;
	snprintf(out->out_dir, sizeof(out->out_dir), "%s", o.dir);
	/* On record before the receipt leaves: a crash then is finished by the next fetch. */
	if ((rc = receipt_recipient_create(&h, c->ag.id,
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED, mac, (int64_t)time(NULL),
	    c->ag.sign.key_id, c->ag.sign.secret, &rcpt, &rcpt_len)) != PU_OK ||
	    (rc = outbox_received_put(&c->ob, id, out, &h, rcpt, rcpt_len)) != PU_OK) {
		client_fail(c, rc, "cannot record the fetch in client.db");
		goto done;
	}
	if ((rc = send_receipt(c, id, rcpt, rcpt_len)) != PU_OK) {
		snprintf(why, sizeof(why), "%s", c->detail);
		client_fail(c, rc, "written to %s, but the receipt could not be sent (%s); run the "
		    "same fetch again to send it", o.dir, why);
		goto done;
	}
	out->receipt_acked = 1;
	if (r->staff_id != NULL) {
		if ((rc = send_open_statement(c, &h, r->staff_id, r->purpose)) != PU_OK) {
			snprintf(why, sizeof(why), "%s", c->detail);
			client_fail(c, rc, "written to %s and receipted, but the access statement "
			    "was refused: %s", o.dir, why);
			goto done;
		}
		out->opens = 1;
	}
done:
	free(rcpt);
	pb_free(cm);
	header_free(&h);
	return rc;
}
