/* client.c - the libpuente-client handle: open, close, errors, the session, checkpoints. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "casefile.h"
#include "client.h"
#include "crypto.h"
#include "frames.pb-c.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

int
client_fail(struct puente_client *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return rc;
}

int
client_conn_fail(struct puente_client *c, int rc)
{
	return client_fail(c, rc, "%s", c->conn.detail[0] ? c->conn.detail : pu_err_message(rc));
}

void
client_hex(char out[PUENTE_MSG_ID_HEX], const uint8_t id[16])
{
	sodium_bin2hex(out, PUENTE_MSG_ID_HEX, id, 16);
}

int
client_msg_id(struct puente_client *c, const char *hex, uint8_t out[16])
{
	size_t bin = 0;

	if (hex == NULL || strlen(hex) != 32 ||
	    sodium_hex2bin(out, 16, hex, 32, NULL, &bin, NULL) != 0 || bin != 16)
		return client_fail(c, PU_ERR_USAGE, "a message id is 32 hex digits");
	return PU_OK;
}

void
client_progress(struct puente_client *c, const char *what, uint64_t done, uint64_t total)
{
	if (c->opt.progress != NULL)
		c->opt.progress(c->opt.progress_arg, what, done, total);
}

void
client_checkpoint_seen(struct puente_client *c, const char *source, const char *note)
{
	if (note == NULL || note[0] == '\0')
		return;
	/* Kept as evidence even when the database write fails: the session itself succeeded. */
	if (outbox_checkpoint_add(&c->ob, source, NULL, note) != PU_OK && c->opt.notice != NULL)
		c->opt.notice(c->opt.notice_arg, "cannot record a checkpoint in client.db");
}

int
client_gateway_log(struct puente_client *c, struct averify_log *log)
{
	const Puente__Directory *d = c->ag.d.dir;

	for (size_t i = 0; i < d->n_agencies; i++) {
		const Puente__Agency *a = d->agencies[i];
		if (a->role != PUENTE__ROLE__ROLE_GATEWAY || a->origin[0] == '\0')
			continue;
		for (size_t k = 0; k < a->n_keys; k++) {
			const Puente__Key *key = a->keys[k];
			if (key->purpose == PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT &&
			    key->public_key.len == 32 &&
			    key->status == PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE) {
				snprintf(log->gateway_id, sizeof(log->gateway_id), "%s", a->id);
				snprintf(log->origin, sizeof(log->origin), "%s", a->origin);
				memcpy(log->public_key, key->public_key.data, 32);
				averify_witnesses(log, &c->ag.d, (int64_t)time(NULL));
				return PU_OK;
			}
		}
	}
	return client_fail(c, PU_ERR_UNKNOWN_KEY, "the directory lists no gateway checkpoint key");
}

int
client_audit_proof(struct puente_client *c, const char *source, const uint8_t *msg_id,
    int event, const char *checkpoint, uint64_t index, const ProtobufCBinaryData *entry,
    const ProtobufCBinaryData *proof, size_t n_proof)
{
	struct averify_log log = { 0 };
	Puente__AuditEntry *e = NULL;
	struct note n;
	int rc;

	if ((rc = client_gateway_log(c, &log)) != PU_OK)
		return rc;
	rc = averify_leaf_proof(&log, checkpoint, index, entry, proof, n_proof, &n, &e);
	if (rc == PU_OK && ((int)e->event != event || e->msg_id.len != 16 ||
	    memcmp(e->msg_id.data, msg_id, 16) != 0))
		rc = PU_ERR_AUDIT_LEAF;
	pb_free(e);
	if (rc != PU_OK)
		return client_fail(c, PU_ERR_AUDIT_LEAF, "the gateway's %s does not prove its audit "
		    "entry %llu (%s): its log is not the one it signs", source,
		    (unsigned long long)index, pu_err_message(rc));
	client_checkpoint_proved(c, source, msg_id, checkpoint, &n);
	return PU_OK;
}

void
client_checkpoint_proved(struct puente_client *c, const char *source, const uint8_t *msg_id,
    const char *checkpoint, const struct note *n)
{
	/*
	 * Kept as evidence even when the database write fails: the proof itself held. A larger
	 * checkpoint becomes the one the next HELLO asks the gateway to extend.
	 */
	if ((outbox_checkpoint_add(&c->ob, source, msg_id, checkpoint) != PU_OK ||
	    outbox_trusted_set(&c->ob, checkpoint, n->tree_size) != PU_OK) && c->opt.notice != NULL)
		c->opt.notice(c->opt.notice_arg, "cannot record a checkpoint in client.db");
}

/* A NON_DELIVERY the gateway sends a returning sender: verified, then recorded. */
static void
on_unsolicited(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
	struct puente_client *c = arg;
	const Puente__Agency *gw = NULL;
	Puente__Signed *sg;
	ProtobufCMessage *m = NULL;
	Puente__NonDeliveryNotice *nd;
	char list[PUENTE_MAX_RECIPIENTS * PUENTE_ID_MAX] = "", hex[PUENTE_MSG_ID_HEX];
	char line[sizeof(list) + 128];

	if (type != PUENTE__FRAME_TYPE__FRAME_TYPE_NON_DELIVERY ||
	    frame_decode_body(type, body, len, &m) != PU_OK)
		return;
	sg = (Puente__Signed *)m;
	/* The claimed gateway is in the body; signed_verify checks its RECEIPT key. */
	nd = puente__non_delivery_notice__unpack(NULL, sg->body.len, sg->body.data);
	if (nd != NULL)
		gw = directory_find_agency(&c->ag.d, nd->gateway_id);
	if (nd != NULL)
		puente__non_delivery_notice__free_unpacked(nd, NULL);
	pb_free(sg);
	if (gw == NULL || gw->role != PUENTE__ROLE__ROLE_GATEWAY ||
	    signed_verify(body, len, PU_CTX_NON_DELIVERY, &puente__non_delivery_notice__descriptor,
	    gw, PUENTE__KEY_PURPOSE__KEY_PURPOSE_RECEIPT, &m) != PU_OK)
		return;
	nd = (Puente__NonDeliveryNotice *)m;
	for (size_t i = 0; i < nd->n_undelivered; i++) {
		size_t used = strlen(list);
		snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "", nd->undelivered[i]);
	}
	if (nd->msg_id.len == PU_MSG_ID_LEN) {
		outbox_non_delivery_add(&c->ob, nd->msg_id.data, nd->at, list, body, len);
		client_hex(hex, nd->msg_id.data);
		snprintf(line, sizeof(line), "message %s expired undelivered to %s", hex, list);
		if (c->opt.notice != NULL)
			c->opt.notice(c->opt.notice_arg, line);
	}
	pb_free(nd);
}

/* The gateway refuses messages dated more than 300 s ahead: say so before it does. */
static void
warn_clock_skew(struct puente_client *c)
{
	int64_t skew = (int64_t)time(NULL) - c->conn.gateway_now;
	char line[128];

	if (c->conn.gateway_now != 0 && (skew > PU_MAX_FUTURE / 2 || skew < -PU_MAX_FUTURE / 2) &&
	    c->opt.notice != NULL) {
		snprintf(line, sizeof(line), "this machine's clock differs from the gateway's by "
		    "%lld s", (long long)skew);
		c->opt.notice(c->opt.notice_arg, line);
	}
}

/*
 * The gateway's WELCOME checkpoint against the newest one this agency held: signed by the
 * gateway's checkpoint key, never smaller, and proved to extend it. A fork or rollback is
 * kept in client.db as evidence and ends the session: nothing is sent to or taken from a
 * gateway whose log was rewritten.
 */
static int
welcome_check(struct puente_client *c, const char *known, uint64_t known_size)
{
	struct averify_log log = { 0 };
	struct note now, before;
	int rc;

	if (c->conn.checkpoint == NULL)
		return client_fail(c, PU_ERR_AUDIT_STATE, "the gateway sent no checkpoint");
	if ((rc = client_gateway_log(c, &log)) != PU_OK)
		return rc;
	if ((rc = averify_checkpoint(&log, c->conn.checkpoint, &now)) != PU_OK)
		return client_fail(c, rc, "the gateway's checkpoint does not verify: %s",
		    pu_err_message(rc));
	if (known != NULL && note_parse((const uint8_t *)known, strlen(known), &before) == PU_OK) {
		if (now.tree_size < known_size)
			rc = PU_ERR_AUDIT_ROLLBACK;
		else if (now.tree_size == known_size)
			rc = note_same_tree(&now, &before);
		else
			rc = merkle_verify_consistency(known_size, now.tree_size, c->conn.proof,
			    c->conn.proof_len, before.root, now.root) == PU_OK ? PU_OK : PU_ERR_NOTE_FORK;
		if (rc != PU_OK) {
			outbox_checkpoint_add(&c->ob, "fork-evidence", NULL, c->conn.checkpoint);
			return client_fail(c, rc, "the gateway's audit log (size %llu) does not extend "
			    "the checkpoint this agency holds (size %llu): %s; both are kept in "
			    "client.db as evidence", (unsigned long long)now.tree_size,
			    (unsigned long long)known_size, rc == PU_ERR_AUDIT_ROLLBACK ?
			    "entries were removed" : "the log was rewritten (fork)");
		}
	}
	client_checkpoint_seen(c, "welcome", c->conn.checkpoint);
	if (outbox_trusted_set(&c->ob, c->conn.checkpoint, now.tree_size) != PU_OK &&
	    c->opt.notice != NULL)
		c->opt.notice(c->opt.notice_arg, "cannot record a checkpoint in client.db");
	return PU_OK;
}

int
client_connect(struct puente_client *c)
{
	char *known = NULL;
	uint64_t known_size = 0;
	int rc;

	if (c->connected)
		return PU_OK;
	/* Only directory_renew speaks to the gateway with an expired directory. */
	if (c->ag.dir_expired)
		return client_fail(c, PU_ERR_DIR_EXPIRED, "directory.pb: directory has expired");
	if ((rc = outbox_trusted_get(&c->ob, &known, &known_size)) != PU_OK)
		return client_fail(c, rc, "cannot read client.db");
	if ((rc = conn_open(&c->conn, &c->ag, known, c->opt.timeout_ms, on_unsolicited, c)) !=
	    PU_OK) {
		free(known);
		return client_conn_fail(c, rc);
	}
	c->connected = 1;
	rc = welcome_check(c, known, known_size);
	free(known);
	if (rc != PU_OK) {
		client_disconnect(c);
		return rc;
	}
	warn_clock_skew(c);
	return PU_OK;
}

void
client_disconnect(struct puente_client *c)
{
	if (c->connected)
		conn_close(&c->conn);
	c->connected = 0;
}

static void
warn_directory_expiry(struct puente_client *c)
{
	int64_t left = c->ag.d.dir->expires_at - (int64_t)time(NULL);
	char line[160];

	if (left < PU_DIRECTORY_WARN_BEFORE && c->opt.notice != NULL) {
		snprintf(line, sizeof(line), "the directory (serial %llu) expires in %lld hours; ask "
		    "the federation for a new one", (unsigned long long)c->ag.d.dir->serial,
		    (long long)(left / 3600));
		c->opt.notice(c->opt.notice_arg, line);
	}
}

/*
 * The agency's directory has expired. Its one use left is to reach the gateway (address,
 * TLS pin) and send HELLO with its serial: the WELCOME then carries the directory in
 * force, installed only if root-signed, newer and valid (agency_update_directory). Nothing
 * else is sent, nothing the session brings is kept (no checkpoint, no notice), and the
 * session is closed: the command connects again, checking the gateway against the new
 * directory (its TLS key may be one that directory marks compromised).
 */
static int
directory_renew(struct puente_client *c)
{
	unsigned long long old = (unsigned long long)c->ag.d.dir->serial;
	char line[160], why[sizeof(c->conn.detail)];
	int rc = conn_open(&c->conn, &c->ag, NULL, c->opt.timeout_ms, NULL, NULL);

	snprintf(why, sizeof(why), "%s", c->conn.detail[0] ? c->conn.detail : pu_err_message(rc));
	if (rc == PU_OK)
		conn_close(&c->conn);
	if (!c->ag.dir_expired) {
		if (c->opt.notice != NULL) {
			snprintf(line, sizeof(line), "the directory (serial %llu) had expired; the "
			    "gateway's (serial %llu) is installed", old,
			    (unsigned long long)c->ag.d.dir->serial);
			c->opt.notice(c->opt.notice_arg, line);
		}
		return PU_OK;
	}
	if (rc == PU_OK)
		return client_fail(c, PU_ERR_DIR_EXPIRED, "directory.pb (serial %llu): directory "
		    "has expired, and the gateway has no newer one; ask the federation for a new "
		    "one", old);
	return client_fail(c, PU_ERR_DIR_EXPIRED, "directory.pb (serial %llu): directory has "
	    "expired, and no newer one could be had from the gateway (%.200s)", old, why);
}

int
puente_open(struct puente_client **out, const char *agency_dir, const struct puente_options *o)
{
	struct puente_client *c;
	int rc;

	if ((*out = c = calloc(1, sizeof(*c))) == NULL)
		return PU_ERR_NOMEM;
	if (o != NULL)
		c->opt = *o;
	if (c->opt.timeout_ms <= 0)
		c->opt.timeout_ms = PUENTE_DEFAULT_TIMEOUT_MS;
	c->conn.fd = -1;
	if (crypto_init() != PU_OK)
		return client_fail(c, PU_ERR_CRYPTO, "libsodium cannot start");
	if ((rc = agency_load(&c->ag, agency_dir, c->opt.passphrase, (int64_t)time(NULL),
	    c->detail, sizeof(c->detail))) != PU_OK)
		return rc;
	if ((rc = outbox_open(&c->ob, agency_dir, c->detail, sizeof(c->detail))) != PU_OK) {
		agency_free(&c->ag);
		return rc;
	}
	if (c->ag.dir_expired && (rc = directory_renew(c)) != PU_OK) {
		outbox_close(&c->ob);
		agency_free(&c->ag);
		return rc;
	}
	c->ready = 1;
	warn_directory_expiry(c);
	return PU_OK;
}

void
puente_close(struct puente_client *c)
{
	if (c == NULL)
		return;
	client_disconnect(c);
	outbox_close(&c->ob);
	agency_free(&c->ag);
	free(c);
}

const char *
puente_agency_id(const struct puente_client *c)
{
	return c->ag.id;
}

const char *
puente_error_detail(const struct puente_client *c)
{
	return c->detail;
}

const char *
puente_error_name(int code)
{
	return pu_err_name(code);
}

const char *
puente_strerror(int code)
{
	return pu_err_message(code);
}

int
puente_exit_code(int code)
{
	return pu_err_exit_code(code);
}

int
puente_type_from_name(const char *name)
{
	char want[64];
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof(want); i++)
		want[i] = name[i] == '-' ? '_' : (char)(name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] - 'A' + 'a' : name[i]);
	want[i] = '\0';
	for (int t = 1; casefile_payload_field(t) != NULL; t++)
		if (strcmp(casefile_payload_field(t)->name, want) == 0)
			return t;
	return 0;
}

const char *
puente_type_name(int type)
{
	const ProtobufCFieldDescriptor *f = casefile_payload_field(type);

	return f != NULL ? f->name : "unknown";
}

const char *
puente_outcome_name(int outcome)
{
	switch (outcome) {
	case PUENTE_OUTCOME_OPENED:
		return "opened";
	case PUENTE_OUTCOME_CANNOT_DECRYPT:
		return "cannot-decrypt";
	case PUENTE_OUTCOME_COMMITMENT_MISMATCH:
		return "commitment-mismatch";
	case PUENTE_OUTCOME_BAD_SIGNATURE:
		return "bad-signature";
	default:
		return "none";
	}
}

void
puente_free(void *p)
{
	free(p);
}
