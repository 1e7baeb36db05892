/*
 * test_gateway.c - the real gateway on loopback with real certificates: messages end to end
 * with receipts both ways, retries, conflicts, and the attacks of THREATS.md groups 1-9, 12
 * and 13 that the gateway must refuse. Each attack goes through the real gateway and asserts
 * the exact outcome (the ERROR frame's code, or the connection closed), that nothing was
 * stored or acknowledged when it was refused, and that a well-behaved client is still served
 * afterwards (assert_still_serving).
 *
 * Usage: test_gateway PUENTE-KEYS PUENTE-GATEWAY WORKDIR (the gateway's log is
 * WORKDIR/gateway.log); TG_FILTER=g7_* runs only the tests whose names match.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <sodium.h>
#include <sqlite3.h>

#include "audit.pb-c.h"
#include "frame.h"
#include "frames.pb-c.h"
#include "gateway_harness.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

static struct harness H;
static int g_argc;
static char **g_argv;

#define assert_rc(got, want) assert_string_equal(pu_err_name(got), pu_err_name(want))

#define T_CASE PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER
#define F_SUBMIT PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT
#define F_CHUNK PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK
#define F_ERROR PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR
#define F_INBOX PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX
#define F_NEW_MESSAGE PUENTE__FRAME_TYPE__FRAME_TYPE_NEW_MESSAGE
#define MIB (1024u * 1024)
/* The gateway's max_sessions_per_agency here: above g7_many_idle_sessions' 100 per agency. */
#define SESSIONS_PER_AGENCY 120

static const char *const TO_NLE[] = { NLE };

/* ---- small utilities ----------------------------------------------------------------- */

/* Sleep until the wall clock's second changes: what follows has ~1 s of one "now". */
static void
wait_second_start(void)
{
	time_t t = time(NULL);

	while (time(NULL) == t)
		sleep_ms(5);
}

/* The gateway's resident memory in KiB (/proc/PID/status VmRSS). */
static long
gateway_rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)H.pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/*
 * 1 when the gateway runs under AddressSanitizer: its quarantine keeps freed memory resident,
 * so RSS bounds say nothing about the gateway's own memory use there.
 */
static int
gateway_sanitized(void)
{
	char path[64], line[512];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)H.pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "libasan") != NULL;
	fclose(f);
	return found;
}

/* RSS growth in KiB stays under limit_kib (not checked under ASan, see above). */
static void
assert_rss_growth_below(long before, long after, long limit_kib)
{
	assert_true(before > 0 && after > 0);
	if (gateway_sanitized()) {
		print_message("    (ASan gateway: RSS bound of %ld KiB not checked)\n", limit_kib);
		return;
	}
	if (after - before >= limit_kib)
		fail_msg("gateway RSS grew by %ld KiB, limit %ld KiB", after - before, limit_kib);
}

/* How many lines of the gateway's log contain needle; *last gets the last one. */
static int
log_count(const char *needle, char *last, size_t last_len)
{
	char path[1200], line[4096];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/gateway.log", H.work);
	if (last != NULL && last_len > 0)
		last[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, needle) == NULL)
			continue;
		n++;
		if (last != NULL)
			snprintf(last, last_len, "%s", line);
	}
	fclose(f);
	return n;
}

/* Wait (SETTLE_POLLS) for one more log line with needle than before; it must contain want. */
static void
expect_log_line(const char *needle, int before, const char *want)
{
	char last[4096];
	int n = 0;

	for (int i = 0; i < SETTLE_POLLS && (n = log_count(needle, last, sizeof(last))) == before;
	    i++)
		sleep_ms(10);
	if (n != before + 1 || strstr(last, want) == NULL)
		fail_msg("gateway.log: wanted one new '%s' line with '%s'; %d new, last: %s", needle,
		    want, n - before, last);
}

/* The session id the gateway logged at the last "event=open" of agency (0: none). */
static unsigned long
last_session_of(const char *agency)
{
	char needle[128], last[4096];
	const char *p;

	snprintf(needle, sizeof(needle), "agency=%s ", agency);
	if (log_count("event=open", NULL, 0) == 0)
		return 0;
	/* the last open line of this agency */
	{
		char path[1200], line[4096];
		FILE *f;
		snprintf(path, sizeof(path), "%s/gateway.log", H.work);
		last[0] = '\0';
		if ((f = fopen(path, "r")) == NULL)
			return 0;
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "event=open") != NULL && strstr(line, needle) != NULL)
				snprintf(last, sizeof(last), "%s", line);
		fclose(f);
	}
	if ((p = strstr(last, "session=")) == NULL)
		return 0;
	return strtoul(p + 8, NULL, 10);
}

static int
tcp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Wait for the peer to close a plain socket: 1 when it did within timeout_ms. */
static int
tcp_wait_closed(int fd, int timeout_ms)
{
	long end = mono_ms() + timeout_ms;
	char b[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = end - mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		ssize_t r = read(fd, b, sizeof(b));
		if (r <= 0)
			return 1;
	}
}

/* ---- the database, read as an auditor with file access would ----------------------------- */

static sqlite3 *
db_open_ro(void)
{
	char path[1200];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/data/puente.db", H.work);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int
db_count_message(sqlite3 *db, const uint8_t *msg_id)
{
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM messages WHERE msg_id = ?",
	    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, msg_id, PU_MSG_ID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int64_t
audit_size(void)
{
	sqlite3 *db = db_open_ro();
	sqlite3_stmt *st;
	int64_t n = -1;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM audit", -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * Audit leaves from index `since` on with this event, outcome ("ok" or an error name; NULL
 * any) and msg_id (NULL: any; a zero-length id is matched by passing no_id).
 */
static int
audit_count_of(int64_t since, Puente__AuditEvent event, const char *outcome,
    const uint8_t *msg_id, int no_id, const char *agency)
{
	sqlite3 *db = db_open_ro();
	sqlite3_stmt *st;
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT leaf FROM audit WHERE idx >= ? ORDER BY idx",
	    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, since);
	while (sqlite3_step(st) == SQLITE_ROW) {
		Puente__AuditEntry *e = puente__audit_entry__unpack(NULL,
		    (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 0));
		assert_non_null(e);
		if (e->event == event && (outcome == NULL || strcmp(e->outcome, outcome) == 0) &&
		    (msg_id == NULL || (e->msg_id.len == PU_MSG_ID_LEN &&
		    memcmp(e->msg_id.data, msg_id, PU_MSG_ID_LEN) == 0)) &&
		    (!no_id || e->msg_id.len == 0) &&
		    (agency == NULL || strcmp(e->agency_id, agency) == 0))
			n++;
		puente__audit_entry__free_unpacked(e, NULL);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static int
audit_count(int64_t since, Puente__AuditEvent event, const char *outcome, const uint8_t *msg_id,
    int no_id)
{
	return audit_count_of(since, event, outcome, msg_id, no_id, NULL);
}

/*
 * A session the gateway ends for a protocol violation or a directory change is audited as a
 * SESSION_FAILURE of that agency with the reason (DESIGN.md §8: session open/close/failure).
 */
static void
expect_session_failure_audited(int64_t since, const char *code, const char *agency)
{
	int n = 0;

	for (int i = 0; i < SETTLE_POLLS; i++) {
		if ((n = audit_count_of(since, PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_FAILURE, code,
		    NULL, 1, agency)) > 0)
			break;
		sleep_ms(10);
	}
	if (n != 1)
		fail_msg("wanted one SESSION_FAILURE audit leaf of %s with outcome %s, found %d",
		    agency, code, n);
}

/* The refusal is audited (THREATS.md: "an audit entry for the rejection where a session
 * exists"); the leaf is committed a moment after the ERROR is sent, so wait for it. */
static void
expect_reject_audited(int64_t since, const char *code, const uint8_t *msg_id)
{
	int n = 0;

	for (int i = 0; i < SETTLE_POLLS; i++) {
		if ((n = audit_count(since, PUENTE__AUDIT_EVENT__AUDIT_EVENT_REJECT, code, msg_id,
		    msg_id == NULL)) > 0)
			break;
		sleep_ms(10);
	}
	if (n != 1)
		fail_msg("wanted one REJECT audit leaf with outcome %s, found %d", code, n);
}

/* ---- frames ------------------------------------------------------------------------ */

static void
connect_as(struct tc *c, const struct tc_agency *a)
{
	assert_rc(tc_connect(c, H.port, a), PU_OK);
}

/*
 * The next frame must be an ERROR with this code; it names msg_id, or no message at all when
 * msg_id is NULL. NEW_MESSAGE notices are skipped.
 */
static void
expect_error(struct tc *c, const char *code, const uint8_t *msg_id)
{
	uint8_t type, *body;
	size_t len;
	ProtobufCMessage *m;
	Puente__Error *e;

	do {
		assert_rc(tc_recv(c, &type, &body, &len, 10000), PU_OK);
		if (type == F_NEW_MESSAGE)
			free(body);
	} while (type == F_NEW_MESSAGE);
	if (type != F_ERROR)
		fail_msg("wanted ERROR %s, got frame type %u", code, type);
	assert_rc(frame_decode_body(type, body, len, &m), PU_OK);
	free(body);
	e = (Puente__Error *)m;
	assert_string_equal(e->code, code);
	if (msg_id == NULL) {
		assert_int_equal(e->msg_id.len, 0);
	} else {
		assert_int_equal(e->msg_id.len, PU_MSG_ID_LEN);
		assert_memory_equal(e->msg_id.data, msg_id, PU_MSG_ID_LEN);
	}
	pb_free(m);
}

/* The gateway closed the connection (not a timeout, not another frame). */
static void
expect_closed(struct tc *c, int timeout_ms)
{
	uint8_t type, *body = NULL;
	size_t len;
	int rc = tc_recv(c, &type, &body, &len, timeout_ms);

	if (rc == PU_OK) {
		free(body);
		fail_msg("wanted the connection closed, got frame type %u", type);
	}
	assert_rc(rc, PU_ERR_IO);
}

/* Nothing arrives for ms, and the connection is still open. */
static void
expect_quiet(struct tc *c, int ms)
{
	uint8_t type, *body = NULL;
	size_t len;
	int rc = tc_recv(c, &type, &body, &len, ms);

	if (rc == PU_OK) {
		free(body);
		fail_msg("wanted silence, got frame type %u", type);
	}
	assert_rc(rc, PU_ERR_AGAIN);
}

static void
send_header(struct tc *c, const struct fx_msg *m)
{
	assert_rc(tc_send_body(c, F_SUBMIT, m->sealed.header, m->sealed.header_len), PU_OK);
}

static void
send_chunk_data(struct tc *c, const uint8_t *msg_id, uint32_t index, const uint8_t *data,
    size_t len)
{
	Puente__Chunk ch = PUENTE__CHUNK__INIT;

	ch.msg_id.data = (uint8_t *)msg_id;
	ch.msg_id.len = PU_MSG_ID_LEN;
	ch.index = index;
	ch.data.data = (uint8_t *)data;
	ch.data.len = len;
	assert_rc(tc_send(c, F_CHUNK, &ch.base), PU_OK);
}

static void
send_chunk(struct tc *c, const struct fx_msg *m, uint32_t index)
{
	send_chunk_data(c, m->sealed.msg_id, index, m->chunk[index], m->chunk_len[index]);
}

/* ---- messages ---------------------------------------------------------------------- */

static void
seal(const struct tc_agency *from, struct fx_msg *m, const char *const *to, size_t n_to,
    int type, uint64_t att_size, const struct seal_params *p)
{
	assert_rc(tc_seal(from, m, to, n_to, type, att_size, p), PU_OK);
}

/* A small case transfer from `from` to NLE. */
static void
seal_small(const struct tc_agency *from, struct fx_msg *m)
{
	seal(from, m, TO_NLE, 1, T_CASE, 1000, NULL);
}

/* Submit, get the gateway receipt and check it against the header (signer, id, hash). */
static void
submit_ok(struct tc *c, const struct fx_msg *m, uint8_t **receipt, size_t *receipt_len)
{
	uint8_t *r;
	size_t r_len;
	char err[64];

	if (tc_submit(c, m, &r, &r_len, err, sizeof(err)) != PU_OK)
		fail_msg("submission refused: %s", err[0] ? err : "no answer");
	assert_rc(harness_receipt_check(&H, m, r, r_len, NULL), PU_OK);
	if (receipt != NULL) {
		*receipt = r;
		*receipt_len = r_len;
	} else {
		free(r);
	}
}

/* Submit (header and every chunk as sealed) and expect this error naming the message. */
static void
submit_refused(struct tc *c, const struct fx_msg *m, const char *code)
{
	int64_t since = audit_size();

	send_header(c, m);
	for (uint32_t i = 0; i < m->n_chunks; i++)
		send_chunk(c, m, i);
	expect_error(c, code, m->sealed.msg_id);
	expect_reject_audited(since, code, m->sealed.msg_id);
}

/* The same from a fresh session of `as`, closed afterwards. */
static void
submit_refused_as(const struct tc_agency *as, const struct fx_msg *m, const char *code)
{
	struct tc c;

	connect_as(&c, as);
	submit_refused(&c, m, code);
	tc_close(&c);
}

/* Entries for msg_id in a's inbox (a fresh session, up to 256 entries). */
static int
inbox_count(const struct tc_agency *a, const uint8_t *msg_id)
{
	Puente__InboxRequest q = PUENTE__INBOX_REQUEST__INIT;
	ProtobufCMessage *out;
	struct tc c;
	int n = 0;

	connect_as(&c, a);
	q.limit = 256;
	assert_rc(tc_send(&c, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &q.base), PU_OK);
	assert_rc(tc_expect(&c, F_INBOX, &out, NULL, 0), PU_OK);
	Puente__Inbox *in = (Puente__Inbox *)out;
	for (size_t i = 0; i < in->n_entries; i++)
		if (in->entries[i]->msg_id.len == PU_MSG_ID_LEN &&
		    memcmp(in->entries[i]->msg_id.data, msg_id, PU_MSG_ID_LEN) == 0)
			n++;
	pb_free(out);
	tc_close(&c);
	return n;
}

/* Wait until msg_id's upload file exists: a chunk of it is on disk. */
static void
wait_for_part(const uint8_t *msg_id)
{
	int parts = 0;

	for (int i = 0; i < SETTLE_POLLS && (harness_spool_files(&H, msg_id, &parts), parts == 0); i++)
		sleep_ms(10);
	assert_int_equal(parts, 1);
}

/*
 * Nothing of msg_id is stored: no row, no spool file, no inbox entry for NLE. A refused
 * upload's file goes a moment after the refusal is answered (the spool removes it after the
 * chunks still in flight), so that is waited for.
 */
static void
assert_nothing_stored(const uint8_t *msg_id)
{
	sqlite3 *db = db_open_ro();
	int files;

	assert_int_equal(db_count_message(db, msg_id), 0);
	sqlite3_close(db);
	for (int i = 0; i < SETTLE_POLLS && (files = harness_spool_files(&H, msg_id, NULL)) > 0; i++)
		sleep_ms(10);
	assert_int_equal(files, 0);
	assert_int_equal(inbox_count(&H.nle, msg_id), 0);
}

static void
fetch_send(struct tc *c, const uint8_t *msg_id)
{
	Puente__Fetch f = PUENTE__FETCH__INIT;

	f.msg_id.data = (uint8_t *)msg_id;
	f.msg_id.len = 16;
	assert_rc(tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH, &f.base), PU_OK);
}

/* After FETCH: DELIVER and every chunk, opened as agency a; the MAC in mac; header in *h. */
static int
fetch_finish(struct tc *c, const struct tc_agency *a, uint8_t mac[32], struct header *h)
{
	ProtobufCMessage *m;
	struct opener *o = NULL;
	struct open_key key;
	Puente__CaseMessage *cm = NULL;
	uint8_t *hdr;
	size_t hdr_len;
	int rc;

	if ((rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER, &m, NULL, 0)) != PU_OK)
		return rc;
	pb_encode(m, &hdr, &hdr_len);
	pb_free(m);
	rc = header_decode(h, hdr, hdr_len);
	free(hdr);
	if (rc != PU_OK)
		return rc;
	memcpy(key.key_id, a->enc.key_id, 16);
	memcpy(key.public_key, a->enc.public_key, 32);
	key.secret_key = a->enc.secret;
	rc = envelope_open_begin(&o, h, &a->dir_loaded, a->id, &key, 1, NULL, NULL);
	for (uint32_t i = 0; rc == PU_OK && i < h->core->chunk_count; i++) {
		if ((rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK, &m, NULL, 0)) != PU_OK)
			break;
		Puente__Chunk *ch = (Puente__Chunk *)m;
		rc = ch->index == i ? envelope_open_chunk(o, ch->index, ch->data.data, ch->data.len) :
		    PU_ERR_CHUNK_ORDER;
		pb_free(m);
	}
	if (rc == PU_OK)
		rc = envelope_open_finish(o, &cm, mac);
	envelope_open_free(o);
	pb_free(cm);
	if (rc != PU_OK)
		header_free(h);
	return rc;
}

/* A signed recipient receipt with the fields given (a malicious recipient may mix them). */
static void
make_receipt(const struct tc_agency *signer, const char *recipient, const uint8_t *msg_id,
    const uint8_t *header_hash, const uint8_t *mac, uint8_t **out, size_t *len)
{
	Puente__RecipientReceipt r = PUENTE__RECIPIENT_RECEIPT__INIT;

	r.recipient = (char *)recipient;
	r.msg_id.data = (uint8_t *)msg_id;
	r.msg_id.len = PU_MSG_ID_LEN;
	r.header_hash.data = (uint8_t *)header_hash;
	r.header_hash.len = PU_HASH_LEN;
	r.outcome = PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED;
	r.plaintext_mac.data = (uint8_t *)mac;
	r.plaintext_mac.len = PU_HASH_LEN;
	r.at = (int64_t)time(NULL);
	assert_rc(signed_create(PU_CTX_RECIPIENT_RECEIPT, &r.base, signer->sign.key_id,
	    signer->sign.secret, out, len), PU_OK);
}

static int
send_receipt(struct tc *c, const struct tc_agency *a, const struct header *h, const uint8_t *mac)
{
	uint8_t *rcpt;
	size_t rcpt_len;
	int rc;

	make_receipt(a, a->id, h->core->msg_id.data, h->header_hash, mac, &rcpt, &rcpt_len);
	rc = tc_send_body(c, PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT, rcpt, rcpt_len);
	free(rcpt);
	if (rc == PU_OK)
		rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, NULL, NULL, 0);
	return rc;
}

/* Fetch msg_id as agency a, open it, send the receipt; returns the MAC it computed. */
static int
fetch_open_receipt(struct tc *c, const struct tc_agency *a, const uint8_t *msg_id, uint8_t mac[32])
{
	struct header h;
	int rc;

	fetch_send(c, msg_id);
	if ((rc = fetch_finish(c, a, mac, &h)) != PU_OK)
		return rc;
	rc = send_receipt(c, a, &h, mac);
	header_free(&h);
	return rc;
}

/*
 * A well-behaved client still gets service: TLA submits a small message to NLE and gets a
 * valid gateway receipt; NLE fetches, opens and receipts it.
 */
static void
assert_still_serving(void)
{
	struct tc tla, nle;
	struct fx_msg m;
	uint8_t mac[32];

	assert_true(harness_alive(&H));
	connect_as(&tla, &H.tla);
	seal_small(&H.tla, &m);
	submit_ok(&tla, &m, NULL, NULL);
	connect_as(&nle, &H.nle);
	assert_rc(fetch_open_receipt(&nle, &H.nle, m.sealed.msg_id, mac), PU_OK);
	assert_memory_equal(mac, m.sealed.receipt_mac, 32);
	tc_close(&nle);
	tc_close(&tla);
	fx_msg_free(&m);
}

/* ---- header editing (the malicious sender) -------------------------------------------- */

static void
edit_version(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man;
	core->version = *(uint32_t *)arg;
}

static void
edit_expires(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man;
	core->expires_at = core->created_at + *(int64_t *)arg;
}

static void
edit_sender_key(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man;
	memcpy(core->sender_key_id.data, arg, 16);
}

static void
edit_stanza_key(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man;
	memcpy(core->recipients[0]->key_id.data, arg, 16);
}

static void
edit_duplicate_recipient(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man;
	(void)arg;
	/* the second stanza names the first recipient again */
	free(core->recipients[1]->agency_id);
	core->recipients[1]->agency_id = strdup(core->recipients[0]->agency_id);
}

/* Flip one bit of the encoded SignedHeader's field (1 core, 2 manifest, 3 signature). */
static void
flip_signed_header_bit(struct fx_msg *m, int field)
{
	Puente__SignedHeader *sh = puente__signed_header__unpack(NULL, m->sealed.header_len,
	    m->sealed.header);
	ProtobufCBinaryData *b;

	assert_non_null(sh);
	b = field == 1 ? &sh->core : field == 2 ? &sh->manifest : &sh->signature;
	/* the last byte: inside the signature, or inside the last chunk hash of the manifest */
	b->data[b->len - 1] ^= 0x01;
	free(m->sealed.header);
	assert_rc(pb_encode(&sh->base, &m->sealed.header, &m->sealed.header_len), PU_OK);
	puente__signed_header__free_unpacked(sh, NULL);
}

/* ---- setup ------------------------------------------------------------------------- */

static int
setup(void **state)
{
	char line[64];

	(void)state;
	harness_init(&H, g_argc, g_argv);
	snprintf(line, sizeof(line), "max_sessions_per_agency %d", SESSIONS_PER_AGENCY);
	harness_conf(&H, line);
	harness_start(&H);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(harness_stop(&H), 0);	/* SIGTERM drains and exits 0 */
	harness_free(&H);
	return 0;
}

/* Before each test: a gateway that died in the previous one is a failure there, not here. */
static int
gateway_up(void **state)
{
	(void)state;
	if (!harness_alive(&H)) {
		fprintf(stderr, "test_gateway: the gateway is gone (see gateway.log); restarting\n");
		H.pid = 0;
		harness_start(&H);
	}
	return 0;
}

/* ---- end to end -------------------------------------------------------------------- */

static void
end_to_end_with_receipts(void **state)
{
	static const char *const to[] = { NLE, FED };
	struct tc tla, nle;
	struct fx_msg m;
	struct header h;
	ProtobufCMessage *out;
	uint8_t *receipt, mac[32];
	size_t receipt_len;

	(void)state;
	assert_rc(tc_connect(&tla, H.port, &H.tla), PU_OK);
	assert_rc(tc_seal(&H.tla, &m, to, 2, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER,
	    3 * 1024 * 1024, NULL), PU_OK);
	assert_rc(tc_submit(&tla, &m, &receipt, &receipt_len, NULL, 0), PU_OK);
	assert_rc(header_decode(&h, m.sealed.header, m.sealed.header_len), PU_OK);
	assert_rc(harness_receipt_check(&H, &m, receipt, receipt_len, NULL), PU_OK);

	/* NLE sees it in its inbox, fetches, opens, receipts */
	assert_rc(tc_connect(&nle, H.port, &H.nle), PU_OK);
	Puente__InboxRequest q = PUENTE__INBOX_REQUEST__INIT;
	assert_rc(tc_send(&nle, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &q.base), PU_OK);
	assert_rc(tc_expect(&nle, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX, &out, NULL, 0), PU_OK);
	Puente__Inbox *in = (Puente__Inbox *)out;
	assert_int_equal(in->n_entries, 1);
	assert_memory_equal(in->entries[0]->msg_id.data, m.sealed.msg_id, 16);
	assert_string_equal(in->entries[0]->sender, TLA);
	pb_free(out);
	assert_rc(fetch_open_receipt(&nle, &H.nle, m.sealed.msg_id, mac), PU_OK);
	assert_memory_equal(mac, m.sealed.receipt_mac, 32);

	/* TLA gets NLE's receipt and checks its MAC */
	Puente__ReceiptsRequest rq = PUENTE__RECEIPTS_REQUEST__INIT;
	rq.msg_id.data = m.sealed.msg_id;
	rq.msg_id.len = 16;
	assert_rc(tc_send(&tla, PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS_REQUEST, &rq.base), PU_OK);
	assert_rc(tc_expect(&tla, PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS, &out, NULL, 0), PU_OK);
	Puente__Receipts *rs = (Puente__Receipts *)out;
	assert_int_equal(rs->n_receipts, 1);
	Puente__RecipientReceipt *rr;
	assert_rc(receipt_recipient_verify(rs->receipts[0].data, rs->receipts[0].len,
	    &H.tla.dir_loaded, &h, m.sealed.receipt_mac, &rr), PU_OK);
	assert_string_equal(rr->recipient, NLE);
	pb_free(rr);
	pb_free(out);

	/* a receipted message leaves NLE's inbox; a second receipt is refused */
	assert_rc(tc_send(&nle, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &q.base), PU_OK);
	assert_rc(tc_expect(&nle, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX, &out, NULL, 0), PU_OK);
	assert_int_equal(((Puente__Inbox *)out)->n_entries, 0);
	pb_free(out);

	/* the same message again: a receipt that proves the same leaf */
	uint8_t *again;
	size_t again_len;
	assert_rc(tc_submit(&tla, &m, &again, &again_len, NULL, 0), PU_OK);
	assert_rc(harness_receipt_check(&H, &m, again, again_len, NULL), PU_OK);
	assert_true(harness_same_leaf(again, again_len, receipt, receipt_len));
	free(again);
	free(receipt);
	header_free(&h);
	fx_msg_free(&m);
	tc_close(&tla);
	tc_close(&nle);
}

/* ---- groups 1-3: signatures, recipients, versions and keys ---------------------------- */

/* TLA's header (sender TLA, TLA's key id) signed with TAB's key. */
static void
g1_header_signed_by_another_agency(void **state)
{
	struct fx_msg m;

	(void)state;
	seal_small(&H.tla, &m);
	tc_resign(&m, &H.tab, NULL, NULL);
	submit_refused_as(&H.tla, &m, "PU_ERR_SIGNATURE");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* Signed by TAB and naming TAB's signing key id, but the sender is still TLA. */
static void
g1_header_names_another_agencys_key(void **state)
{
	struct fx_msg m;

	(void)state;
	seal_small(&H.tla, &m);
	tc_resign(&m, &H.tab, edit_sender_key, H.tab.sign.key_id);
	submit_refused_as(&H.tla, &m, "PU_ERR_UNKNOWN_KEY");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g1_flipped_bit_in_signature(void **state)
{
	struct fx_msg m;

	(void)state;
	seal_small(&H.tla, &m);
	flip_signed_header_bit(&m, 3);
	submit_refused_as(&H.tla, &m, "PU_ERR_SIGNATURE");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* A chunk hash in the manifest changed after signing: the signature covers the manifest. */
static void
g1_flipped_bit_in_manifest(void **state)
{
	struct fx_msg m;

	(void)state;
	seal_small(&H.tla, &m);
	flip_signed_header_bit(&m, 2);
	submit_refused_as(&H.tla, &m, "PU_ERR_SIGNATURE");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/*
 * Messages written in one go are read ahead, and their signatures checked off the loop
 * while the loop handles the ones before them: forgeries among them are still refused,
 * each by its msg_id, and the others stored.
 */
#define PIPELINED 12

/* PIPELINED small messages from TLA, forged[i] the header field flipped in the i-th (if any),
 * their frames in one buffer to be written at once. */
static void
seal_pipelined(struct fx_msg m[PIPELINED], const int *forged, struct buf *out)
{
	buf_init(out, SIZE_MAX);
	for (int i = 0; i < PIPELINED; i++) {
		seal_small(&H.tla, &m[i]);
		if (forged != NULL && forged[i])
			flip_signed_header_bit(&m[i], forged[i]);
		assert_rc(tc_encode_message(out, &m[i]), PU_OK);
	}
}

/* The next GATEWAY_RECEIPT on c (NEW_MESSAGE notices skipped): malloc'd into *r. */
static void
next_receipt(struct tc *c, uint8_t **r, size_t *len)
{
	uint8_t type;

	for (;;) {
		assert_rc(tc_recv(c, &type, r, len, 10000), PU_OK);
		if (type != F_NEW_MESSAGE)
			break;
		free(*r);
	}
	if (type != PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT)
		fail_msg("wanted a receipt, got frame type %u", type);
}

/*
 * Which of the messages m a receipt proves stored (it must prove one): answers to pipelined
 * submissions need not come in their order (PROTOCOL.md §2.1 step 3).
 */
static int
receipt_of(const struct fx_msg m[PIPELINED], const uint8_t *r, size_t len)
{
	for (int j = 0; j < PIPELINED; j++)
		if (harness_receipt_check(&H, &m[j], r, len, NULL) == PU_OK)
			return j;
	fail_msg("a receipt that proves none of the messages sent");
	return -1;
}

/*
 * The same messages sent on two sessions at once (THREATS.md group 18), most in one commit
 * batch: each stored once, and both sessions get one receipt for each that verifies, both
 * for the same leaf (the later finds the earlier's row, in the batch's own transaction or
 * a committed one, and is answered as a retry).
 */
static void
g4_same_messages_on_two_sessions_at_once(void **state)
{
	struct fx_msg m[PIPELINED];
	uint8_t *got[2][PIPELINED] = { { NULL } };
	size_t len[2][PIPELINED];
	struct buf out;
	struct tc c[2];

	(void)state;
	seal_pipelined(m, NULL, &out);
	for (int k = 0; k < 2; k++)
		connect_as(&c[k], &H.tla);
	for (int k = 0; k < 2; k++)
		assert_rc(tc_send_raw(&c[k], out.data, out.len), PU_OK);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < PIPELINED; i++) {
			uint8_t *r;
			size_t n;
			next_receipt(&c[k], &r, &n);
			int j = receipt_of(m, r, n);
			assert_null(got[k][j]);		/* one answer per submission */
			got[k][j] = r;
			len[k][j] = n;
		}
		tc_close(&c[k]);
	}
	sqlite3 *db = db_open_ro();
	for (int j = 0; j < PIPELINED; j++) {
		assert_true(harness_same_leaf(got[0][j], len[0][j], got[1][j], len[1][j]));
		assert_int_equal(db_count_message(db, m[j].sealed.msg_id), 1);
		free(got[0][j]);
		free(got[1][j]);
		fx_msg_free(&m[j]);
	}
	sqlite3_close(db);
	buf_free(&out);
	assert_still_serving();
}

static void
g1_forgeries_among_pipelined_messages(void **state)
{
	struct fx_msg m[PIPELINED];
	int forged[PIPELINED] = { [3] = 3, [4] = 2, [10] = 3 };	/* signature, manifest */
	int receipts = 0, errors = 0;
	struct buf out;
	struct tc c;

	(void)state;
	seal_pipelined(m, forged, &out);
	connect_as(&c, &H.tla);
	assert_rc(tc_send_raw(&c, out.data, out.len), PU_OK);
	while (receipts + errors < PIPELINED) {
		uint8_t type, *body;
		size_t len;
		ProtobufCMessage *e;
		assert_rc(tc_recv(&c, &type, &body, &len, 10000), PU_OK);
		if (type == F_ERROR) {
			assert_rc(frame_decode_body(F_ERROR, body, len, &e), PU_OK);
			Puente__Error *err = (Puente__Error *)e;
			assert_string_equal(err->code, "PU_ERR_SIGNATURE");
			assert_int_equal(err->msg_id.len, 16);
			int i = 0;
			while (i < PIPELINED && memcmp(m[i].sealed.msg_id, err->msg_id.data, 16) != 0)
				i++;
			assert_true(i < PIPELINED && forged[i]);
			pb_free(e);
			errors++;
		} else {
			assert_int_equal(type, PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT);
			receipts++;
		}
		free(body);
	}
	assert_int_equal(errors, 3);
	tc_close(&c);
	sqlite3 *db = db_open_ro();
	for (int i = 0; i < PIPELINED; i++)
		if (!forged[i])
			assert_int_equal(db_count_message(db, m[i].sealed.msg_id), 1);
	sqlite3_close(db);
	for (int i = 0; i < PIPELINED; i++) {
		if (forged[i])
			assert_nothing_stored(m[i].sealed.msg_id);
		fx_msg_free(&m[i]);
	}
	buf_free(&out);
	assert_still_serving();
}

/* A session that goes while its signatures are with the verifier: nothing is left behind. */
static void
g7_session_gone_with_signatures_pending(void **state)
{
	struct fx_msg m[PIPELINED];
	struct buf out;
	struct tc c;

	(void)state;
	seal_pipelined(m, NULL, &out);
	for (int round = 0; round < 20; round++) {
		connect_as(&c, &H.tla);
		/* Reset, not closed: the gateway learns of it with the frames still ahead. */
		struct linger hard = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
		assert_rc(tc_send_raw(&c, out.data, out.len), PU_OK);
		SSL_set_quiet_shutdown(c.ssl, 1);	/* nothing more is written to the socket */
		close(c.fd);
		c.fd = -1;
		tc_close(&c);
	}
	for (int i = 0; i < PIPELINED; i++)
		fx_msg_free(&m[i]);
	buf_free(&out);
	assert_still_serving();
}

/* TAB's session submits a valid header whose sender is TLA. */
static void submit_undecodable(const struct tc_agency *as, const uint8_t *hdr, size_t len,
    const struct fx_msg *chunks_of, const char *code);

/*
 * The core re-encoded non-canonically (version as the two-byte varint 81 00) and signed over
 * those very bytes: valid signature, refused for its encoding (a gateway that verified a
 * re-serialisation, or accepted any encoding, would let two byte strings name one message).
 */
static void
g1_signature_over_noncanonical_core(void **state)
{
	Puente__SignedHeader *sh;
	struct fx_msg m;
	uint8_t *core;

	(void)state;
	seal_small(&H.tla, &m);
	sh = puente__signed_header__unpack(NULL, m.sealed.header_len, m.sealed.header);
	assert_non_null(sh);
	assert_true(sh->core.len > 2 && sh->core.data[0] == 0x08 && sh->core.data[1] == 0x01);
	core = malloc(sh->core.len + 1);
	core[0] = 0x08;
	core[1] = 0x81;
	core[2] = 0x00;
	memcpy(core + 3, sh->core.data + 2, sh->core.len - 2);
	tc_resign_raw(&m, &H.tla, core, sh->core.len + 1, sh->manifest.data, sh->manifest.len);
	submit_undecodable(&H.tla, m.sealed.header, m.sealed.header_len, &m,
	    "PU_ERR_PB_NONCANONICAL");
	assert_nothing_stored(m.sealed.msg_id);
	free(core);
	puente__signed_header__free_unpacked(sh, NULL);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g1_sender_is_not_the_tls_identity(void **state)
{
	struct fx_msg m;

	(void)state;
	seal_small(&H.tla, &m);
	submit_refused_as(&H.tab, &m, "PU_ERR_NOT_SENDER");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g2_recipient_not_in_directory(void **state)
{
	static const char *const to[] = { "MX-JAL-PPNNA" };
	struct fx_msg m;

	(void)state;
	seal(&H.tla, &m, to, 1, T_CASE, 1000, NULL);
	submit_refused_as(&H.tla, &m, "PU_ERR_RECIPIENT_UNKNOWN");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* NLE's stanza names TAB's encryption key. */
static void
g2_stanza_key_of_another_agency(void **state)
{
	struct fx_msg m;

	(void)state;
	seal_small(&H.tla, &m);
	tc_resign(&m, &H.tla, edit_stanza_key, H.tab.enc.key_id);
	submit_refused_as(&H.tla, &m, "PU_ERR_STANZA_KEY");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* A header the gateway cannot accept structurally has no msg_id to name in the ERROR. */
static void
submit_undecodable(const struct tc_agency *as, const uint8_t *hdr, size_t len,
    const struct fx_msg *chunks_of, const char *code)
{
	int64_t since = audit_size();
	struct tc c;

	connect_as(&c, as);
	assert_rc(tc_send_body(&c, F_SUBMIT, hdr, len), PU_OK);
	/* its chunks are dropped without a word until the next SUBMIT */
	for (uint32_t i = 0; chunks_of != NULL && i < chunks_of->n_chunks; i++)
		send_chunk(&c, chunks_of, i);
	expect_error(&c, code, NULL);
	expect_reject_audited(since, code, NULL);
	/* the session goes on */
	struct fx_msg ok;
	seal_small(as, &ok);
	submit_ok(&c, &ok, NULL, NULL);
	fx_msg_free(&ok);
	tc_close(&c);
}

static void
g2_duplicate_recipient(void **state)
{
	static const char *const to[] = { NLE, FED };
	struct fx_msg m;

	(void)state;
	seal(&H.tla, &m, to, 2, T_CASE, 1000, NULL);
	tc_resign(&m, &H.tla, edit_duplicate_recipient, NULL);
	submit_undecodable(&H.tla, m.sealed.header, m.sealed.header_len, &m,
	    "PU_ERR_RECIPIENT_DUPLICATE");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g3_unknown_protocol_version(void **state)
{
	uint32_t v = 2;
	struct fx_msg m;

	(void)state;
	seal_small(&H.tla, &m);
	tc_resign(&m, &H.tla, edit_version, &v);
	submit_undecodable(&H.tla, m.sealed.header, m.sealed.header_len, &m, "PU_ERR_VERSION");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/*
 * Suspension is a new directory (SIGHUP): TAB's open session is told and dropped, a new TLS
 * connection is refused after the handshake, and messages to TAB are refused. Reinstated,
 * TAB is served again.
 */
static void
g3_suspended_agency(void **state)
{
	static const char *const to_tab[] = { TAB };
	struct tc open_tab, c;
	struct fx_msg m;

	(void)state;
	int64_t since = audit_size();

	connect_as(&open_tab, &H.tab);
	assert_int_equal(harness_keys(&H, "suspend --id " TAB), 0);
	harness_publish(&H);

	/* the open session: ERROR (no message named), then closed */
	expect_error(&open_tab, "PU_ERR_AGENCY_SUSPENDED", NULL);
	expect_closed(&open_tab, 3000);
	tc_close(&open_tab);

	/* a new connection: TLS completes (the certificate is valid), then ERROR and close */
	assert_rc(tc_connect_tls(&c, H.port, &H.tab), PU_OK);
	expect_error(&c, "PU_ERR_AGENCY_SUSPENDED", NULL);
	expect_closed(&c, 3000);
	tc_close(&c);
	/* and through the ordinary client: HELLO is answered with the ERROR */
	assert_rc(tc_connect(&c, H.port, &H.tab), PU_ERR_AGENCY_SUSPENDED);
	tc_close(&c);

	/* a message to the suspended agency */
	seal(&H.tla, &m, to_tab, 1, T_CASE, 1000, NULL);
	submit_refused_as(&H.tla, &m, "PU_ERR_AGENCY_SUSPENDED");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();

	assert_int_equal(harness_keys(&H, "reinstate --id " TAB), 0);
	harness_publish(&H);
	connect_as(&c, &H.tab);
	seal_small(&H.tab, &m);
	submit_ok(&c, &m, NULL, NULL);
	fx_msg_free(&m);
	tc_close(&c);
	assert_still_serving();
	/*
	 * Audited: the two refused connections (at the handshake) and the session dropped at
	 * the reload, each a SESSION_FAILURE of TAB naming the suspension.
	 */
	for (int i = 0; i < SETTLE_POLLS && audit_count_of(since,
	    PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_FAILURE, "PU_ERR_AGENCY_SUSPENDED", NULL, 1,
	    TAB) < 3; i++)
		sleep_ms(10);
	assert_int_equal(audit_count_of(since, PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_FAILURE,
	    "PU_ERR_AGENCY_SUSPENDED", NULL, 1, TAB), 3);
}

/* ---- group 4: replay and time ------------------------------------------------------- */

static void
g4_retry_same_header(void **state)
{
	struct tc c;
	struct fx_msg m;
	uint8_t *r1, *r2;
	size_t r1_len, r2_len;
	int64_t since;

	(void)state;
	connect_as(&c, &H.tla);
	seal_small(&H.tla, &m);
	submit_ok(&c, &m, &r1, &r1_len);
	since = audit_size();
	submit_ok(&c, &m, &r2, &r2_len);
	assert_true(harness_same_leaf(r1, r1_len, r2, r2_len));
	/* on another session too */
	tc_close(&c);
	free(r2);
	connect_as(&c, &H.tla);
	submit_ok(&c, &m, &r2, &r2_len);
	assert_true(harness_same_leaf(r1, r1_len, r2, r2_len));
	tc_close(&c);
	/* one message, one queue entry; the retries are audited as retries, not stored again */
	assert_int_equal(inbox_count(&H.nle, m.sealed.msg_id), 1);
	{
		sqlite3 *db = db_open_ro();
		assert_int_equal(db_count_message(db, m.sealed.msg_id), 1);
		sqlite3_close(db);
	}
	for (int i = 0; i < SETTLE_POLLS && audit_count(since, PUENTE__AUDIT_EVENT__AUDIT_EVENT_RETRY,
	    "ok", m.sealed.msg_id, 0) < 2; i++)
		sleep_ms(10);
	assert_int_equal(audit_count(since, PUENTE__AUDIT_EVENT__AUDIT_EVENT_RETRY, "ok",
	    m.sealed.msg_id, 0), 2);
	assert_int_equal(audit_count(since, PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE, NULL,
	    m.sealed.msg_id, 0), 0);
	free(r1);
	free(r2);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g4_same_msg_id_other_header(void **state)
{
	struct seal_params p = { 0 };
	struct tc c;
	struct fx_msg a, b;

	(void)state;
	connect_as(&c, &H.tla);
	seal_small(&H.tla, &a);
	submit_ok(&c, &a, NULL, NULL);
	p.msg_id = a.sealed.msg_id;
	seal(&H.tla, &b, TO_NLE, 1, T_CASE, 2000, &p);
	assert_memory_equal(a.sealed.msg_id, b.sealed.msg_id, PU_MSG_ID_LEN);
	submit_refused(&c, &b, "PU_ERR_CONFLICT");
	tc_close(&c);
	assert_int_equal(inbox_count(&H.nle, a.sealed.msg_id), 1);
	fx_msg_free(&a);
	fx_msg_free(&b);
	assert_still_serving();
}

static void
g4_msg_id_reused_by_another_agency(void **state)
{
	struct seal_params p = { 0 };
	struct tc c;
	struct fx_msg a, b;

	(void)state;
	connect_as(&c, &H.tla);
	seal_small(&H.tla, &a);
	submit_ok(&c, &a, NULL, NULL);
	tc_close(&c);
	p.msg_id = a.sealed.msg_id;
	seal(&H.tab, &b, TO_NLE, 1, T_CASE, 1000, &p);
	submit_refused_as(&H.tab, &b, "PU_ERR_CONFLICT");
	assert_int_equal(inbox_count(&H.nle, a.sealed.msg_id), 1);
	fx_msg_free(&a);
	fx_msg_free(&b);
	assert_still_serving();
}

static void
g4_created_too_far_in_the_future(void **state)
{
	struct seal_params p = { 0 };
	struct tc c;
	struct fx_msg m, edge;

	(void)state;
	connect_as(&c, &H.tla);
	/* within one wall-clock second, so "now" is the same here and at the gateway */
	wait_second_start();
	p.created_at = (int64_t)time(NULL) + 301;
	seal_small(&H.tla, &m);
	fx_msg_free(&m);
	seal(&H.tla, &m, TO_NLE, 1, T_CASE, 1000, &p);
	submit_refused(&c, &m, "PU_ERR_FUTURE");
	assert_nothing_stored(m.sealed.msg_id);
	/* 300 s ahead is still accepted (the gateway's clock can only be later than ours) */
	p.created_at = (int64_t)time(NULL) + 300;
	seal(&H.tla, &edge, TO_NLE, 1, T_CASE, 1000, &p);
	submit_ok(&c, &edge, NULL, NULL);
	tc_close(&c);
	fx_msg_free(&m);
	fx_msg_free(&edge);
	assert_still_serving();
}

static void
g4_already_expired(void **state)
{
	struct seal_params p = { 0 };
	struct fx_msg m;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	p.created_at = now - 86400;
	p.expires_at = now - 1;
	seal(&H.tla, &m, TO_NLE, 1, T_CASE, 1000, &p);
	submit_refused_as(&H.tla, &m, "PU_ERR_EXPIRED");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* The sealer refuses a lifetime over 7 days: a sender who edits and re-signs its header. */
static void
g4_lifetime_over_seven_days(void **state)
{
	struct seal_params p = { 0 };
	struct fx_msg m;
	int64_t now = (int64_t)time(NULL), life = 7 * 86400 + 1;

	(void)state;
	p.expires_at = now + life;
	assert_int_not_equal(tc_seal(&H.tla, &m, TO_NLE, 1, T_CASE, 1000, &p), PU_OK);
	fx_msg_free(&m);
	seal_small(&H.tla, &m);
	tc_resign(&m, &H.tla, edit_expires, &life);
	submit_refused_as(&H.tla, &m, "PU_ERR_EXPIRY_TOO_LONG");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* ---- group 5: the chunk stream ------------------------------------------------------- */

/* 2.5 MiB of attachment: three chunks. */
#define THREE_CHUNKS (2u * MIB + MIB / 2)

static void
g5_chunk_hash_not_in_manifest(void **state)
{
	struct tc c;
	struct fx_msg m;
	int64_t since = audit_size();

	(void)state;
	seal(&H.tla, &m, TO_NLE, 1, T_CASE, THREE_CHUNKS, NULL);
	assert_int_equal(m.n_chunks, 3);
	m.chunk[1][1000] ^= 0x01;
	connect_as(&c, &H.tla);
	send_header(&c, &m);
	send_chunk(&c, &m, 0);	/* good: written to the spool */
	wait_for_part(m.sealed.msg_id);
	send_chunk(&c, &m, 1);	/* bad */
	send_chunk(&c, &m, 2);	/* dropped */
	expect_error(&c, "PU_ERR_CHUNK_HASH", m.sealed.msg_id);
	expect_reject_audited(since, "PU_ERR_CHUNK_HASH", m.sealed.msg_id);
	/* the session goes on */
	expect_quiet(&c, 200);
	tc_close(&c);
	/* chunk 0's spool file is gone too */
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* The next frame that is not a NEW_MESSAGE notice must be a receipt for m. */
static void
expect_receipt_for(struct tc *c, const struct fx_msg *m)
{
	uint8_t type, *r;
	size_t n;

	do {
		assert_rc(tc_recv(c, &type, &r, &n, 10000), PU_OK);
		if (type == F_NEW_MESSAGE)
			free(r);
	} while (type == F_NEW_MESSAGE);
	assert_int_equal(type, PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT);
	assert_rc(harness_receipt_check(&H, m, r, n, NULL), PU_OK);
	free(r);
}

/* Nothing more on c, which closes; m (to NLE) opens for NLE; m is freed. */
static void
settled_and_opens(struct tc *c, struct fx_msg *m)
{
	struct tc nle;
	uint8_t mac[32];

	expect_quiet(c, 200);
	tc_close(c);
	connect_as(&nle, &H.nle);
	assert_rc(fetch_open_receipt(&nle, &H.nle, m->sealed.msg_id, mac), PU_OK);
	assert_memory_equal(mac, m->sealed.receipt_mac, 32);
	tc_close(&nle);
	fx_msg_free(m);
	assert_still_serving();
}

/*
 * A chunk refused by the store while later ones are still on their way, and the same
 * upload sent again at once, without waiting for the answer: the second is stored whole
 * and opens. The first attempt's late chunks neither refuse nor complete the second.
 */
static void
g5_chunk_refused_then_resent(void **state)
{
	struct tc c;
	struct fx_msg m;
	uint8_t *bad;

	(void)state;
	seal(&H.tla, &m, TO_NLE, 1, T_CASE, THREE_CHUNKS, NULL);
	assert_int_equal(m.n_chunks, 3);
	bad = malloc(m.chunk_len[0]);
	assert_non_null(bad);
	memcpy(bad, m.chunk[0], m.chunk_len[0]);
	bad[5] ^= 0x80;
	connect_as(&c, &H.tla);
	send_header(&c, &m);
	send_chunk_data(&c, m.sealed.msg_id, 0, bad, m.chunk_len[0]);
	send_chunk(&c, &m, 1);
	send_chunk(&c, &m, 2);
	assert_rc(tc_send_message(&c, &m), PU_OK);
	expect_error(&c, "PU_ERR_CHUNK_HASH", m.sealed.msg_id);
	expect_receipt_for(&c, &m);
	free(bad);
	settled_and_opens(&c, &m);
}

/*
 * The directory replaced between the checks at the header and the commit (THREATS.md group
 * 17): the recipient is suspended while the chunks are on their way. Keys and policy are
 * checked again at the last chunk against the directory then in force: refused, nothing
 * stored, no upload file left behind.
 */
static void
g17_recipient_suspended_during_the_upload(void **state)
{
	static const char *const to_tab[] = { TAB };
	long serial = 0, now_serial = 0;
	struct fx_msg m;
	struct tc c;

	(void)state;
	seal(&H.tla, &m, to_tab, 1, T_CASE, THREE_CHUNKS, NULL);
	connect_as(&c, &H.tla);
	send_header(&c, &m);
	send_chunk(&c, &m, 0);
	assert_int_equal(harness_metric(&H, "puente_directory_serial", &serial), 0);
	assert_int_equal(harness_keys(&H, "suspend --id " TAB), 0);
	harness_publish(&H);
	for (int i = 0; i < SETTLE_POLLS && now_serial <= serial; i++) {
		assert_int_equal(harness_metric(&H, "puente_directory_serial", &now_serial), 0);
		sleep_ms(10);
	}
	assert_true(now_serial > serial);
	send_chunk(&c, &m, 1);
	send_chunk(&c, &m, 2);
	expect_error(&c, "PU_ERR_AGENCY_SUSPENDED", m.sealed.msg_id);
	tc_close(&c);
	assert_nothing_stored(m.sealed.msg_id);
	assert_int_equal(harness_keys(&H, "reinstate --id " TAB), 0);
	harness_publish(&H);
	fx_msg_free(&m);
	assert_still_serving();
}

/*
 * The same upload sent twice at once on one session: the second is received while the
 * first is being committed, in a spool file of its own, and both get the receipt.
 */
static void
g5_upload_sent_twice_at_once(void **state)
{
	struct tc c;
	struct fx_msg m;

	(void)state;
	seal(&H.tla, &m, TO_NLE, 1, T_CASE, THREE_CHUNKS, NULL);
	connect_as(&c, &H.tla);
	assert_rc(tc_send_message(&c, &m), PU_OK);
	assert_rc(tc_send_message(&c, &m), PU_OK);
	expect_receipt_for(&c, &m);
	expect_receipt_for(&c, &m);
	settled_and_opens(&c, &m);
}

static void
g5_chunk_out_of_order(void **state)
{
	struct tc c;
	struct fx_msg m;
	int64_t since = audit_size();

	(void)state;
	seal(&H.tla, &m, TO_NLE, 1, T_CASE, THREE_CHUNKS, NULL);
	assert_int_equal(m.n_chunks, 3);
	connect_as(&c, &H.tla);
	send_header(&c, &m);
	send_chunk(&c, &m, 1);
	send_chunk(&c, &m, 0);
	send_chunk(&c, &m, 2);
	expect_error(&c, "PU_ERR_CHUNK_ORDER", m.sealed.msg_id);
	expect_reject_audited(since, "PU_ERR_CHUNK_ORDER", m.sealed.msg_id);
	/* exactly one answer for the message; the rest of its chunks were dropped */
	expect_quiet(&c, 200);
	tc_close(&c);
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g5_chunk_larger_than_declared(void **state)
{
	struct tc c;
	struct fx_msg m;
	uint8_t *big;
	int64_t since = audit_size();

	(void)state;
	seal_small(&H.tla, &m);
	assert_int_equal(m.n_chunks, 1);
	big = calloc(1, m.chunk_len[0] + 1);
	memcpy(big, m.chunk[0], m.chunk_len[0]);
	connect_as(&c, &H.tla);
	send_header(&c, &m);
	send_chunk_data(&c, m.sealed.msg_id, 0, big, m.chunk_len[0] + 1);
	expect_error(&c, "PU_ERR_CHUNK_SIZE", m.sealed.msg_id);
	expect_reject_audited(since, "PU_ERR_CHUNK_SIZE", m.sealed.msg_id);
	/* the right bytes afterwards are a new submission, and accepted */
	submit_ok(&c, &m, NULL, NULL);
	tc_close(&c);
	free(big);
	fx_msg_free(&m);
	assert_still_serving();
}

/* ---- group 6: malformed protobuf ----------------------------------------------------- */

static void
g6_submit_not_protobuf(void **state)
{
	uint8_t junk[64];

	(void)state;
	memset(junk, 0xff, sizeof(junk));
	submit_undecodable(&H.tla, junk, sizeof(junk), NULL, "PU_ERR_PB_DECODE");
	assert_still_serving();
}

/* An unknown field (number 15, varint) after the SignedHeader's fields. */
static void
g6_submit_unknown_field(void **state)
{
	struct fx_msg m;
	uint8_t *b;

	(void)state;
	seal_small(&H.tla, &m);
	b = malloc(m.sealed.header_len + 2);
	memcpy(b, m.sealed.header, m.sealed.header_len);
	b[m.sealed.header_len] = 0x78;
	b[m.sealed.header_len + 1] = 0x01;
	submit_undecodable(&H.tla, b, m.sealed.header_len + 2, &m, "PU_ERR_PB_UNKNOWN_FIELD");
	assert_nothing_stored(m.sealed.msg_id);
	free(b);
	fx_msg_free(&m);
	assert_still_serving();
}

/* The same inside the signed core: the signature is valid over those bytes. */
static void
g6_core_unknown_field_signed(void **state)
{
	Puente__SignedHeader *sh;
	struct fx_msg m;
	uint8_t *core;

	(void)state;
	seal_small(&H.tla, &m);
	sh = puente__signed_header__unpack(NULL, m.sealed.header_len, m.sealed.header);
	assert_non_null(sh);
	core = malloc(sh->core.len + 3);
	memcpy(core, sh->core.data, sh->core.len);
	/* field 100, varint 1: tag 0xa0 0x06 */
	core[sh->core.len] = 0xa0;
	core[sh->core.len + 1] = 0x06;
	core[sh->core.len + 2] = 0x01;
	tc_resign_raw(&m, &H.tla, core, sh->core.len + 3, sh->manifest.data, sh->manifest.len);
	submit_undecodable(&H.tla, m.sealed.header, m.sealed.header_len, &m,
	    "PU_ERR_PB_UNKNOWN_FIELD");
	assert_nothing_stored(m.sealed.msg_id);
	free(core);
	puente__signed_header__free_unpacked(sh, NULL);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g6_submit_truncated(void **state)
{
	struct fx_msg m;

	(void)state;
	seal_small(&H.tla, &m);
	submit_undecodable(&H.tla, m.sealed.header, m.sealed.header_len - 10, &m,
	    "PU_ERR_PB_DECODE");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* ---- group 7: frames and sessions --------------------------------------------------- */

static void
g7_submit_before_hello(void **state)
{
	struct tc c;
	struct fx_msg m;

	(void)state;
	int64_t since = audit_size();
	seal_small(&H.tla, &m);
	assert_rc(tc_connect_tls(&c, H.port, &H.tla), PU_OK);
	send_header(&c, &m);
	expect_error(&c, "PU_ERR_FRAME_UNEXPECTED", NULL);
	expect_closed(&c, 3000);
	tc_close(&c);
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
	expect_session_failure_audited(since, "PU_ERR_FRAME_UNEXPECTED", TLA);
}

/*
 * A peer refused while it is still sending: the gateway drops what follows, sends FIN and
 * waits for the peer to close, so the peer reads its ERROR and then an orderly end of the
 * TCP stream. Had it closed with that input unread, its kernel would have sent a reset
 * (which discards whatever of the ERROR it had not sent yet): recv() below would fail with
 * ECONNRESET instead of returning 0.
 */
static void
g7_refused_while_sending_closed_without_reset(void **state)
{
	static uint8_t more[128 * 1024];
	struct timeval tv = { .tv_sec = 10 };
	struct tc c;
	struct fx_msg m;
	char byte;

	(void)state;
	seal_small(&H.tla, &m);
	assert_rc(tc_connect_tls(&c, H.port, &H.tla), PU_OK);
	send_header(&c, &m);
	assert_rc(tc_send_raw(&c, more, sizeof(more)), PU_OK);
	expect_error(&c, "PU_ERR_FRAME_UNEXPECTED", NULL);
	expect_closed(&c, 3000);
	assert_int_equal(setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	errno = 0;
	assert_int_equal(recv(c.fd, &byte, 1, 0), 0);
	assert_int_equal(errno, 0);
	tc_close(&c);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g7_empty_frame_before_hello(void **state)
{
	static const uint8_t empty[4] = { 0, 0, 0, 0 };
	struct tc c;

	(void)state;
	int64_t since = audit_size();
	assert_rc(tc_connect_tls(&c, H.port, &H.tla), PU_OK);
	assert_rc(tc_send_raw(&c, empty, sizeof(empty)), PU_OK);
	expect_error(&c, "PU_ERR_FRAME_EMPTY", NULL);
	expect_closed(&c, 3000);
	tc_close(&c);
	assert_still_serving();
	expect_session_failure_audited(since, "PU_ERR_FRAME_EMPTY", TLA);
}

/* Only the length is sent: it is judged before any body arrives or memory is reserved. */
static void
g7_oversized_frame_before_hello(void **state)
{
	static const uint8_t len5000[4] = { 0, 0, 0x13, 0x88 };
	struct tc c;

	(void)state;
	int64_t since = audit_size();
	assert_rc(tc_connect_tls(&c, H.port, &H.tla), PU_OK);
	assert_rc(tc_send_raw(&c, len5000, sizeof(len5000)), PU_OK);
	expect_error(&c, "PU_ERR_FRAME_TOO_LARGE", NULL);
	expect_closed(&c, 3000);
	tc_close(&c);
	assert_still_serving();
	expect_session_failure_audited(since, "PU_ERR_FRAME_TOO_LARGE", TLA);
}

static void
g7_unknown_frame_type_after_hello(void **state)
{
	static const uint8_t f99[6] = { 0, 0, 0, 2, 99, 0 };
	struct tc c;

	(void)state;
	int64_t since = audit_size();
	connect_as(&c, &H.tla);
	assert_rc(tc_send_raw(&c, f99, sizeof(f99)), PU_OK);
	expect_error(&c, "PU_ERR_FRAME_TYPE", NULL);
	expect_closed(&c, 3000);
	tc_close(&c);
	assert_still_serving();
	expect_session_failure_audited(since, "PU_ERR_FRAME_TYPE", TLA);
}

/* A frame only the gateway sends (WELCOME), from a client. */
static void
g7_gateway_frame_from_client(void **state)
{
	Puente__Welcome w = PUENTE__WELCOME__INIT;
	struct tc c;

	(void)state;
	int64_t since = audit_size();
	connect_as(&c, &H.tla);
	w.version = 1;
	assert_rc(tc_send(&c, PUENTE__FRAME_TYPE__FRAME_TYPE_WELCOME, &w.base), PU_OK);
	expect_error(&c, "PU_ERR_FRAME_UNEXPECTED", NULL);
	expect_closed(&c, 3000);
	tc_close(&c);
	assert_still_serving();
	expect_session_failure_audited(since, "PU_ERR_FRAME_UNEXPECTED", TLA);
}

/* A HELLO frame in clear over TCP: not TLS, closed. */
static void
g7_frame_without_tls(void **state)
{
	static const uint8_t hello[9] = { 0, 0, 0, 5, 1, 0x08, 0x01, 0x10, 0x07 };
	int fd;

	(void)state;
	fd = tcp_connect(H.port);
	assert_int_equal(write(fd, hello, sizeof(hello)), (ssize_t)sizeof(hello));
	assert_true(tcp_wait_closed(fd, 3000));
	close(fd);
	assert_still_serving();
}

/* Connects and never sends: closed at the handshake deadline (2000 ms in the harness). */
static void
g7_silent_client_closed_at_deadline(void **state)
{
	struct tc c;
	long t0, dt;
	int fd;

	(void)state;
	t0 = mono_ms();
	fd = tcp_connect(H.port);
	assert_true(tcp_wait_closed(fd, 5000));
	dt = mono_ms() - t0;
	close(fd);
	if (dt < 1500 || dt > 3200)
		fail_msg("silent TCP client closed after %ld ms, wanted ~2000", dt);

	/* TLS done, then silence: the same deadline covers HELLO */
	t0 = mono_ms();
	assert_rc(tc_connect_tls(&c, H.port, &H.tla), PU_OK);
	expect_closed(&c, 5000);
	dt = mono_ms() - t0;
	tc_close(&c);
	if (dt < 1500 || dt > 3200)
		fail_msg("silent TLS client closed after %ld ms, wanted ~2000", dt);
	assert_still_serving();
}

/*
 * HELLO one byte at a time, each its own TLS record. The deadline runs from the accept to
 * the accepted HELLO: a whole HELLO before it is served; one still unfinished is closed.
 */
static int
slow_hello(int ms_per_byte, long *closed_after)
{
	Puente__Hello h = PUENTE__HELLO__INIT;
	struct buf b;
	struct tc c;
	uint8_t type, *body = NULL;
	size_t len;
	long t0 = mono_ms();
	int rc = PU_OK;

	h.version = 1;
	h.directory_serial = H.tla.dir_loaded.dir->serial;
	buf_init(&b, PU_FRAME_MAX);
	assert_rc(frame_encode_msg(&b, PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, &h.base), PU_OK);
	assert_rc(tc_connect_tls(&c, H.port, &H.tla), PU_OK);
	for (size_t i = 0; i < b.len && rc == PU_OK; i++) {
		if ((rc = tc_send_raw(&c, b.data + i, 1)) != PU_OK)
			break;
		if (i + 1 < b.len) {
			/* wait between bytes, watching for the gateway closing */
			rc = tc_recv(&c, &type, &body, &len, ms_per_byte);
			if (rc == PU_ERR_AGAIN)
				rc = PU_OK;
			else if (rc == PU_OK)
				fail_msg("a frame before the HELLO was complete: type %u", type);
		}
	}
	if (rc == PU_OK)
		rc = tc_expect(&c, PUENTE__FRAME_TYPE__FRAME_TYPE_WELCOME, NULL, NULL, 0);
	*closed_after = mono_ms() - t0;
	buf_free(&b);
	tc_close(&c);
	return rc;
}

static void
g7_slow_loris_hello(void **state)
{
	long t;

	(void)state;
	/* 9 bytes at 100 ms: ~0.8 s, within the 2 s deadline */
	assert_rc(slow_hello(100, &t), PU_OK);
	/* 9 bytes at 400 ms: ~3.2 s, the gateway closes at ~2 s */
	assert_rc(slow_hello(400, &t), PU_ERR_IO);
	if (t < 1500 || t > 3000)
		fail_msg("slow HELLO closed after %ld ms, wanted ~2000", t);
	assert_still_serving();
}

/* SUBMIT and the first of three chunks, then gone: nothing is stored, the spool is clean. */
static void
disconnect_mid_message(int abrupt)
{
	struct tc c;
	struct fx_msg m;
	char needle[96];
	unsigned long sid;

	seal(&H.tla, &m, TO_NLE, 1, T_CASE, THREE_CHUNKS, NULL);
	connect_as(&c, &H.tla);
	assert_true((sid = last_session_of(TLA)) > 0);
	snprintf(needle, sizeof(needle), "event=disconnect session=%lu ", sid);
	send_header(&c, &m);
	send_chunk(&c, &m, 0);
	/*
	 * Chunk 0 on disk before the end: then the file's going proves the abort. Without the
	 * wait, a reset may discard the chunk unread (nothing to test), or the test may look
	 * before the spool has written the chunk that the abort follows.
	 */
	wait_for_part(m.sealed.msg_id);
	if (abrupt) {
		/* a reset, no close_notify */
		struct linger l = { 1, 0 };
		setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(c.fd);
		c.fd = -1;
		SSL_free(c.ssl);
		c.ssl = NULL;
	}
	tc_close(&c);
	/* the gateway saw the end of this session */
	expect_log_line(needle, 0, "agency=" TLA);
	/* the spool removes the upload's file after the chunk it follows */
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
}

static void
g7_disconnect_mid_message(void **state)
{
	(void)state;
	disconnect_mid_message(0);
	disconnect_mid_message(1);
	assert_still_serving();
}

#define IDLE_SESSIONS 200

/* Wait until the gateway counts at most n open sessions (it sees a close a moment late). */
static void
wait_open_sessions(long n)
{
	long open = n + 1;

	for (int i = 0; i < SETTLE_POLLS && open > n; i++)
		if (harness_metric(&H, "puente_sessions", &open) != 0 || open > n)
			sleep_ms(10);
	assert_true(open <= n);
}

/* Sessions of the bound that stop after the TLS handshake, never saying HELLO. */
#define SESSIONS_BEFORE_HELLO 8

/*
 * One agency holds max_sessions_per_agency sessions, the last few not past their TLS
 * handshake (they have not sent HELLO): one more is refused with PU_ERR_BUSY (and
 * audited); other agencies are served; once one of the agency's sessions has ended, it may
 * open another.
 */
static void
g7_sessions_per_agency_bounded(void **state)
{
	struct tc *c = calloc(SESSIONS_PER_AGENCY, sizeof(*c)), extra;
	int64_t since = audit_size();

	(void)state;
	assert_non_null(c);
	wait_open_sessions(0);	/* the sessions of earlier tests are gone */
	for (int i = 0; i < SESSIONS_PER_AGENCY - SESSIONS_BEFORE_HELLO; i++)
		connect_as(&c[i], &H.tab);
	/* Opened last: the handshake deadline (2 s here) would close them. */
	for (int i = SESSIONS_PER_AGENCY - SESSIONS_BEFORE_HELLO; i < SESSIONS_PER_AGENCY; i++)
		assert_rc(tc_connect_tls(&c[i], H.port, &H.tab), PU_OK);
	assert_rc(tc_connect(&extra, H.port, &H.tab), PU_ERR_BUSY);
	tc_close(&extra);
	/*
	 * Those would end at the handshake deadline: sessions that say HELLO take their places,
	 * so that below only the one closed frees a place.
	 */
	for (int i = SESSIONS_PER_AGENCY - SESSIONS_BEFORE_HELLO; i < SESSIONS_PER_AGENCY; i++)
		tc_close(&c[i]);
	wait_open_sessions(SESSIONS_PER_AGENCY - SESSIONS_BEFORE_HELLO);
	for (int i = SESSIONS_PER_AGENCY - SESSIONS_BEFORE_HELLO; i < SESSIONS_PER_AGENCY; i++)
		connect_as(&c[i], &H.tab);
	expect_session_failure_audited(since, "PU_ERR_BUSY", TAB);
	assert_still_serving();
	tc_close(&c[0]);
	wait_open_sessions(SESSIONS_PER_AGENCY - 1);
	connect_as(&extra, &H.tab);
	tc_close(&extra);
	for (int i = 1; i < SESSIONS_PER_AGENCY; i++)
		tc_close(&c[i]);
	free(c);
	wait_open_sessions(0);	/* nor do this test's stay for the next */
}

static void
g7_many_idle_sessions(void **state)
{
	struct tc *c = calloc(IDLE_SESSIONS, sizeof(*c));
	long rss0 = gateway_rss_kib(), rss1;

	(void)state;
	for (int i = 0; i < IDLE_SESSIONS; i++)
		connect_as(&c[i], i % 2 ? &H.tab : &H.fed);
	rss1 = gateway_rss_kib();
	assert_still_serving();
	/* past the handshake deadline: idle but authenticated sessions stay */
	sleep_ms(2200);
	assert_still_serving();
	for (int i = 0; i < IDLE_SESSIONS; i++)
		expect_quiet(&c[i], 0);
	print_message("    %d idle sessions: gateway RSS %ld -> %ld KiB\n", IDLE_SESSIONS, rss0, rss1);
	for (int i = 0; i < IDLE_SESSIONS; i++)
		tc_close(&c[i]);
	free(c);
	assert_rss_growth_below(rss0, rss1, 64 * 1024);
	assert_still_serving();
}

/* NLE asks for 20 MiB and does not read for 2 s: the gateway holds back, others are served. */
static void
g7_peer_that_never_reads(void **state)
{
	struct tc tla, nle;
	struct fx_msg m;
	struct header h;
	uint8_t mac[32];
	long rss0, rss1, t0;

	(void)state;
	seal(&H.tla, &m, TO_NLE, 1, T_CASE, 20u * MIB, NULL);
	assert_int_equal(m.n_chunks, 21);
	connect_as(&tla, &H.tla);
	submit_ok(&tla, &m, NULL, NULL);
	tc_close(&tla);
	connect_as(&nle, &H.nle);
	rss0 = gateway_rss_kib();
	fetch_send(&nle, m.sealed.msg_id);
	t0 = mono_ms();
	assert_still_serving();
	sleep_ms(2000 - (mono_ms() - t0));
	rss1 = gateway_rss_kib();
	print_message("    stalled 20 MiB delivery: gateway RSS %ld -> %ld KiB\n", rss0, rss1);
	assert_rss_growth_below(rss0, rss1, 64 * 1024);
	assert_rc(fetch_finish(&nle, &H.nle, mac, &h), PU_OK);
	assert_memory_equal(mac, m.sealed.receipt_mac, 32);
	assert_rc(send_receipt(&nle, &H.nle, &h, mac), PU_OK);
	header_free(&h);
	tc_close(&nle);
	fx_msg_free(&m);
	assert_still_serving();
}

/*
 * A peer that pipelines requests and never reads: TAB has 100 messages queued (an INBOX
 * answer of ~7 KB) and sends INBOX_REQUEST after INBOX_REQUEST without reading any answer
 * for 2 s. The gateway must stop reading it (back-pressure), not buffer every answer.
 */
#define PIPELINE_QUEUED 100
#define PIPELINE_REQUESTS 20000

struct pipeliner {
	struct tc *c;
	int sent;
};

static void *
pipeliner_main(void *arg)
{
	struct pipeliner *p = arg;
	Puente__InboxRequest q = PUENTE__INBOX_REQUEST__INIT;

	q.limit = 256;
	while (p->sent < PIPELINE_REQUESTS &&
	    tc_send(p->c, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &q.base) == PU_OK)
		p->sent++;
	return NULL;
}

static void
g7_pipelining_peer_that_never_reads(void **state)
{
	static const char *const to_tab[] = { TAB };
	struct pipeliner p = { 0 };
	pthread_t writer;
	struct tc tla, tab;
	long rss0, rss1;

	(void)state;
	connect_as(&tla, &H.tla);
	for (int i = 0; i < PIPELINE_QUEUED; i++) {
		struct fx_msg m;
		seal(&H.tla, &m, to_tab, 1, T_CASE, 100, NULL);
		submit_ok(&tla, &m, NULL, NULL);
		fx_msg_free(&m);
	}
	tc_close(&tla);
	connect_as(&tab, &H.tab);
	rss0 = gateway_rss_kib();
	p.c = &tab;
	assert_int_equal(pthread_create(&writer, NULL, pipeliner_main, &p), 0);
	sleep_ms(2000);
	rss1 = gateway_rss_kib();
	/* others are served meanwhile */
	assert_still_serving();
	/* unblock the writer (its socket may be full) and end the session */
	shutdown(tab.fd, SHUT_RDWR);
	pthread_join(writer, NULL);
	tc_close(&tab);
	print_message("    %d pipelined INBOX requests unread: gateway RSS %ld -> %ld KiB\n", p.sent,
	    rss0, rss1);
	assert_true(harness_alive(&H));
	assert_rss_growth_below(rss0, rss1, 64 * 1024);
	assert_still_serving();
}

/* ---- group 8: policy ----------------------------------------------------------------- */

static void
g8_auditor_sends_a_case_message(void **state)
{
	struct fx_msg m;

	(void)state;
	seal_small(&H.aud, &m);
	submit_refused_as(&H.aud, &m, "PU_ERR_POLICY");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g8_state_sends_a_federal_decision(void **state)
{
	struct fx_msg m;

	(void)state;
	seal(&H.tla, &m, TO_NLE, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FEDERAL_DECISION, 1000, NULL);
	submit_refused_as(&H.tla, &m, "PU_ERR_POLICY");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

static void
g8_international_adoption_needs_the_federal_procuraduria(void **state)
{
	static const char *const with_fed[] = { NLE, FED };
	struct seal_params p = { 0 };
	struct tc c, fed, nle;
	struct fx_msg m, ok;
	uint8_t mac[32];

	(void)state;
	p.adoption_scope = PUENTE__ADOPTION_SCOPE__ADOPTION_SCOPE_INTERNATIONAL;
	seal(&H.tla, &m, TO_NLE, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_ADOPTION_ASSIGNMENT_PROPOSAL,
	    1000, &p);
	submit_refused_as(&H.tla, &m, "PU_ERR_POLICY");
	assert_nothing_stored(m.sealed.msg_id);

	/* with PFPNNA among the recipients: accepted, and held for its review */
	seal(&H.tla, &ok, with_fed, 2,
	    PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_ADOPTION_ASSIGNMENT_PROPOSAL, 1000, &p);
	connect_as(&c, &H.tla);
	submit_ok(&c, &ok, NULL, NULL);
	tc_close(&c);
	assert_int_equal(inbox_count(&H.nle, ok.sealed.msg_id), 0);
	connect_as(&nle, &H.nle);
	fetch_send(&nle, ok.sealed.msg_id);
	expect_error(&nle, "PU_ERR_NOT_QUEUED", ok.sealed.msg_id);
	tc_close(&nle);
	assert_int_equal(inbox_count(&H.fed, ok.sealed.msg_id), 1);
	connect_as(&fed, &H.fed);
	assert_rc(fetch_open_receipt(&fed, &H.fed, ok.sealed.msg_id, mac), PU_OK);
	tc_close(&fed);
	/* released by PFPNNA's OPENED receipt */
	assert_int_equal(inbox_count(&H.nle, ok.sealed.msg_id), 1);
	connect_as(&nle, &H.nle);
	assert_rc(fetch_open_receipt(&nle, &H.nle, ok.sealed.msg_id, mac), PU_OK);
	tc_close(&nle);
	fx_msg_free(&m);
	fx_msg_free(&ok);
	assert_still_serving();
}

/*
 * The first frame a connected session reads after asking for its inbox: NEW_MESSAGE
 * notices come before the answer, since they were written when the message was stored.
 * Returns the frame's type; *told is set when it is a notice naming msg_id.
 */
static uint8_t
first_frame_after_inbox_request(struct tc *c, const struct fx_msg *m, int *told)
{
	Puente__InboxRequest q = PUENTE__INBOX_REQUEST__INIT;
	ProtobufCMessage *out;
	uint8_t type, *body;
	size_t len;

	*told = 0;
	q.limit = 256;
	assert_rc(tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &q.base), PU_OK);
	assert_rc(tc_recv(c, &type, &body, &len, 10000), PU_OK);
	assert_rc(frame_decode_body(type, body, len, &out), PU_OK);
	if (type == F_NEW_MESSAGE) {
		Puente__Inbox *in = (Puente__Inbox *)out;
		assert_int_equal(in->n_entries, 1);
		*told = memcmp(in->entries[0]->msg_id.data, m->sealed.msg_id, PU_MSG_ID_LEN) == 0;
		assert_string_equal(in->entries[0]->sender, TLA);
		/* then the answer, which is INBOX and lists it too */
		pb_free(out);
		free(body);
		assert_rc(tc_expect(c, F_INBOX, &out, NULL, 0), PU_OK);
		in = (Puente__Inbox *)out;
		assert_true(in->n_entries >= 1);
		pb_free(out);
		return F_NEW_MESSAGE;
	}
	pb_free(out);
	free(body);
	return type;
}

/*
 * Connected recipients are told of a new message at once, in a NEW_MESSAGE frame of its
 * own (an INBOX is only ever the answer to INBOX_REQUEST), once until they next ask for
 * their inbox. A message held for federal review is told only to the federal
 * procuraduria, and to the other recipients when its OPENED receipt releases it.
 */
static void
g8_connected_recipients_told_held_messages_only_to_the_reviewer(void **state)
{
	static const char *const with_fed[] = { NLE, FED };
	struct seal_params p = { 0 };
	struct tc c, fed, nle;
	struct fx_msg m, held, more[2];
	uint8_t mac[32];
	int told;

	(void)state;
	connect_as(&nle, &H.nle);
	connect_as(&fed, &H.fed);
	seal(&H.tla, &m, with_fed, 2, T_CASE, 1000, NULL);
	p.adoption_scope = PUENTE__ADOPTION_SCOPE__ADOPTION_SCOPE_INTERNATIONAL;
	seal(&H.tla, &held, with_fed, 2,
	    PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_ADOPTION_ASSIGNMENT_PROPOSAL, 1000, &p);
	connect_as(&c, &H.tla);
	submit_ok(&c, &m, NULL, NULL);
	assert_int_equal(first_frame_after_inbox_request(&nle, &m, &told), F_NEW_MESSAGE);
	assert_true(told);
	assert_int_equal(first_frame_after_inbox_request(&fed, &m, &told), F_NEW_MESSAGE);
	assert_true(told);
	submit_ok(&c, &held, NULL, NULL);
	tc_close(&c);
	assert_int_equal(first_frame_after_inbox_request(&fed, &held, &told), F_NEW_MESSAGE);
	assert_true(told);
	assert_int_equal(first_frame_after_inbox_request(&nle, &held, &told), F_INBOX);
	/* PFPNNA's OPENED receipt releases it: NLE is told then */
	assert_rc(fetch_open_receipt(&fed, &H.fed, held.sealed.msg_id, mac), PU_OK);
	assert_int_equal(first_frame_after_inbox_request(&nle, &held, &told), F_NEW_MESSAGE);
	assert_true(told);
	assert_int_equal(first_frame_after_inbox_request(&fed, &held, &told), F_INBOX);

	/* two more before NLE asks again: told of the first only; its listing has both */
	connect_as(&c, &H.tla);
	for (int i = 0; i < 2; i++) {
		seal(&H.tla, &more[i], TO_NLE, 1, T_CASE, 1000, NULL);
		submit_ok(&c, &more[i], NULL, NULL);
	}
	tc_close(&c);
	assert_int_equal(first_frame_after_inbox_request(&nle, &more[0], &told), F_NEW_MESSAGE);
	assert_true(told);
	assert_int_equal(inbox_count(&H.nle, more[1].sealed.msg_id), 1);
	assert_int_equal(first_frame_after_inbox_request(&nle, &more[1], &told), F_INBOX);
	tc_close(&nle);
	tc_close(&fed);
	fx_msg_free(&m);
	fx_msg_free(&held);
	for (int i = 0; i < 2; i++)
		fx_msg_free(&more[i]);
	assert_still_serving();
}

/*
 * The auditor as a recipient. It has no encryption key, so no stanza can name one of its
 * keys: the key checks (PROTOCOL.md §5.6 step 6, PU_ERR_STANZA_KEY) come before policy
 * (step 7) and stop there. Either way nothing is stored.
 */
static void
g8_auditor_as_recipient(void **state)
{
	static const char *const to[] = { NLE, AUD };
	struct fx_msg m;

	(void)state;
	seal(&H.tla, &m, to, 2, T_CASE, 1000, NULL);
	submit_refused_as(&H.tla, &m, "PU_ERR_STANZA_KEY");
	assert_nothing_stored(m.sealed.msg_id);
	fx_msg_free(&m);
	assert_still_serving();
}

/* ---- group 9: receipts --------------------------------------------------------------- */

/* A stored TLA -> NLE message, its header decoded. */
static void
stored_message(struct fx_msg *m, struct header *h)
{
	struct tc c;

	seal_small(&H.tla, m);
	connect_as(&c, &H.tla);
	submit_ok(&c, m, NULL, NULL);
	tc_close(&c);
	assert_rc(header_decode(h, m->sealed.header, m->sealed.header_len), PU_OK);
}

static void
send_receipt_bytes(struct tc *c, const uint8_t *r, size_t len)
{
	assert_rc(tc_send_body(c, PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT, r, len), PU_OK);
}

static void
g9_receipt_from_a_non_recipient(void **state)
{
	struct tc tab, nle;
	struct fx_msg m;
	struct header h;
	uint8_t *r, mac[32];
	size_t len;

	(void)state;
	stored_message(&m, &h);
	int64_t since = audit_size();
	connect_as(&tab, &H.tab);
	/*
	 * TAB's own signed receipt for TLA -> NLE. The gateway looks for a delivery of that
	 * message to the session's agency before it reads the signature against the header,
	 * and TAB has none: PU_ERR_NOT_DELIVERED (PU_ERR_RECEIPT_SIGNER is kept for a receipt
	 * naming another recipient than the session's agency, below).
	 */
	make_receipt(&H.tab, TAB, m.sealed.msg_id, h.header_hash, m.sealed.receipt_mac, &r, &len);
	send_receipt_bytes(&tab, r, len);
	expect_error(&tab, "PU_ERR_NOT_DELIVERED", m.sealed.msg_id);
	free(r);
	/* TAB signs a receipt in NLE's name */
	make_receipt(&H.tab, NLE, m.sealed.msg_id, h.header_hash, m.sealed.receipt_mac, &r, &len);
	send_receipt_bytes(&tab, r, len);
	expect_error(&tab, "PU_ERR_RECEIPT_SIGNER", m.sealed.msg_id);
	free(r);
	tc_close(&tab);
	/* NLE's delivery is untouched */
	connect_as(&nle, &H.nle);
	assert_rc(fetch_open_receipt(&nle, &H.nle, m.sealed.msg_id, mac), PU_OK);
	tc_close(&nle);
	header_free(&h);
	assert_still_serving();
	/* both refusals are audited, naming the message */
	expect_reject_audited(since, "PU_ERR_NOT_DELIVERED", m.sealed.msg_id);
	expect_reject_audited(since, "PU_ERR_RECEIPT_SIGNER", m.sealed.msg_id);
	fx_msg_free(&m);
}

/* NLE's receipt of A relabelled with B's msg_id (A's header hash): checked against B. */
static void
g9_receipt_replayed_for_another_message(void **state)
{
	struct tc nle;
	struct fx_msg a, b;
	struct header ha, hb, fa, fb;
	uint8_t *r, mac_a[32], mac_b[32];
	size_t len;

	(void)state;
	stored_message(&a, &ha);
	stored_message(&b, &hb);
	connect_as(&nle, &H.nle);
	fetch_send(&nle, a.sealed.msg_id);
	assert_rc(fetch_finish(&nle, &H.nle, mac_a, &fa), PU_OK);
	fetch_send(&nle, b.sealed.msg_id);
	assert_rc(fetch_finish(&nle, &H.nle, mac_b, &fb), PU_OK);
	int64_t since = audit_size();
	make_receipt(&H.nle, NLE, b.sealed.msg_id, ha.header_hash, mac_a, &r, &len);
	send_receipt_bytes(&nle, r, len);
	expect_error(&nle, "PU_ERR_RECEIPT_MISMATCH", b.sealed.msg_id);
	free(r);
	/* B is still waiting for its real receipt */
	assert_int_equal(inbox_count(&H.nle, b.sealed.msg_id), 1);
	assert_rc(send_receipt(&nle, &H.nle, &fa, mac_a), PU_OK);
	assert_rc(send_receipt(&nle, &H.nle, &fb, mac_b), PU_OK);
	tc_close(&nle);
	header_free(&fa);
	header_free(&fb);
	header_free(&ha);
	header_free(&hb);
	assert_still_serving();
	expect_reject_audited(since, "PU_ERR_RECEIPT_MISMATCH", b.sealed.msg_id);
	fx_msg_free(&a);
	fx_msg_free(&b);
}

static void
g9_receipt_before_fetch(void **state)
{
	struct tc nle;
	struct fx_msg m;
	struct header h;
	uint8_t *r, mac[32];
	size_t len;

	(void)state;
	stored_message(&m, &h);
	int64_t since = audit_size();
	connect_as(&nle, &H.nle);
	make_receipt(&H.nle, NLE, m.sealed.msg_id, h.header_hash, m.sealed.receipt_mac, &r, &len);
	send_receipt_bytes(&nle, r, len);
	expect_error(&nle, "PU_ERR_NOT_DELIVERED", m.sealed.msg_id);
	free(r);
	assert_int_equal(inbox_count(&H.nle, m.sealed.msg_id), 1);
	assert_rc(fetch_open_receipt(&nle, &H.nle, m.sealed.msg_id, mac), PU_OK);
	tc_close(&nle);
	header_free(&h);
	assert_still_serving();
	expect_reject_audited(since, "PU_ERR_NOT_DELIVERED", m.sealed.msg_id);
	fx_msg_free(&m);
}

/* ---- group 13: TLS --------------------------------------------------------------------- */

enum tls_outcome { TLS_REFUSED_IN_HANDSHAKE, TLS_REFUSED_AT_FIRST_READ, TLS_SERVED };

/* Handshake, then write HELLO and read (TLS 1.3 reports client-certificate failures there). */
static enum tls_outcome
tls_try(const struct tc_tls_opts *o)
{
	Puente__Hello h = PUENTE__HELLO__INIT;
	struct tc c;
	uint8_t type, *body = NULL;
	size_t len;
	int rc;

	if (tc_connect_tls_opts(&c, H.port, o) != PU_OK) {
		tc_close(&c);
		return TLS_REFUSED_IN_HANDSHAKE;
	}
	h.version = 1;
	h.directory_serial = 1;
	(void)tc_send(&c, PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, &h.base);
	rc = tc_recv(&c, &type, &body, &len, 5000);
	tc_close(&c);
	if (rc == PU_OK) {
		free(body);
		return TLS_SERVED;
	}
	assert_rc(rc, PU_ERR_IO);
	return TLS_REFUSED_AT_FIRST_READ;
}

/* The attempt fails at the stage given, and the gateway logs why. */
static void
expect_tls_refused(const struct tc_tls_opts *o, enum tls_outcome stage, const char *reason)
{
	char want[128];
	int before = log_count("event=tls-failed", NULL, 0);
	enum tls_outcome got = tls_try(o);

	if (got != stage)
		fail_msg("TLS attempt (%s): outcome %d, wanted %d", reason, got, stage);
	snprintf(want, sizeof(want), "reason=\"%s\"", reason);
	expect_log_line("event=tls-failed", before, want);
}

static void
g13_tls_negatives(void **state)
{
	char cert[1200], key[1200], ca[1200], cmd[8192], cert2[1200], key2[1200];
	struct tc_tls_opts o;
	static const unsigned char h2[] = "\x02h2";

	(void)state;
	snprintf(cert, sizeof(cert), "%s/tls.crt", H.tla.dir);
	snprintf(key, sizeof(key), "%s/tls.key", H.tla.dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", H.tla.dir);

	/* the baseline: these files and options are served */
	o = (struct tc_tls_opts){ .cert = cert, .key = key, .ca = ca };
	assert_int_equal(tls_try(&o), TLS_SERVED);

	o = (struct tc_tls_opts){ .ca = ca, .no_cert = 1 };
	expect_tls_refused(&o, TLS_REFUSED_AT_FIRST_READ, "certificate required");

	/* a second federation (its own CA) with an agency of the same id */
	snprintf(cmd, sizeof(cmd), "'%s' init --dir '%s/fed2' --name 'Otra federacion' "
	    "--insecure-no-passphrase >/dev/null && '%s' add-agency --dir '%s/fed2' --id %s "
	    "--role state --name 'Impostor' >/dev/null", H.keys_bin, H.work, H.keys_bin, H.work, TLA);
	assert_int_equal(system(cmd), 0);
	snprintf(cert2, sizeof(cert2), "%s/fed2/agencies/%s/tls.crt", H.work, TLA);
	snprintf(key2, sizeof(key2), "%s/fed2/agencies/%s/tls.key", H.work, TLA);
	o = (struct tc_tls_opts){ .cert = cert2, .key = key2, .ca = ca };
	expect_tls_refused(&o, TLS_REFUSED_AT_FIRST_READ, "unknown ca");

	o = (struct tc_tls_opts){ .cert = cert, .key = key, .ca = ca,
	    .min_version = TLS1_2_VERSION, .max_version = TLS1_2_VERSION };
	expect_tls_refused(&o, TLS_REFUSED_IN_HANDSHAKE, "unsupported protocol");

	o = (struct tc_tls_opts){ .cert = cert, .key = key, .ca = ca,
	    .ciphersuites = "TLS_AES_128_CCM_8_SHA256" };
	expect_tls_refused(&o, TLS_REFUSED_IN_HANDSHAKE, "no shared cipher");

	o = (struct tc_tls_opts){ .cert = cert, .key = key, .ca = ca, .alpn = h2, .alpn_len = 3 };
	expect_tls_refused(&o, TLS_REFUSED_IN_HANDSHAKE, "no application protocol");

	o = (struct tc_tls_opts){ .cert = cert, .key = key, .ca = ca, .no_alpn = 1 };
	expect_tls_refused(&o, TLS_REFUSED_IN_HANDSHAKE, "no application protocol");
	assert_still_serving();
}

/* The same refusals seen by `openssl s_client` (tests/integration/tls_negatives.sh). */
static void
g13_tls_negatives_openssl_cli(void **state)
{
	char script[1200], cmd[8192];
	const char *slash = strrchr(__FILE__, '/');

	(void)state;
	snprintf(script, sizeof(script), "%.*s/tls_negatives.sh",
	    slash != NULL ? (int)(slash - __FILE__) : 1, slash != NULL ? __FILE__ : ".");
	if (access(script, R_OK) != 0 || system("command -v openssl >/dev/null 2>&1") != 0) {
		print_message("    %s or openssl missing: skipped\n", script);
		skip();
	}
	snprintf(cmd, sizeof(cmd), "TLS_WAIT=1 sh '%s' 127.0.0.1:%d '%s/ca.crt' '%s/tls.crt' "
	    "'%s/tls.key' >'%s/tls_negatives.out' 2>&1", script, H.port, H.tla.dir, H.tla.dir,
	    H.tla.dir, H.work);
	if (system(cmd) != 0)
		fail_msg("tls_negatives.sh failed; see %s/tls_negatives.out", H.work);
	assert_still_serving();
}

/*
 * A certificate signed by the real CA whose key is no longer pinned as active: TAB's TLS key
 * is renewed (--new-key); the old key stays in the directory as RETIRED. TAB's open session
 * (bound to the old key) is dropped at the reload, and the old certificate gets an ERROR
 * naming the key's status after the handshake. The new certificate is served.
 */
static void
g13_tls_key_not_pinned(void **state)
{
	struct tc_agency old;
	struct tc open_tab, c;
	struct fx_msg m;
	char cmd[8192], dir[1200];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tab-old-tls", H.work);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", dir, H.tab.dir, dir);
	assert_int_equal(system(cmd), 0);
	assert_rc(tc_agency_load(&old, dir), PU_OK);
	int64_t since = audit_size();
	connect_as(&open_tab, &H.tab);

	assert_int_equal(harness_keys(&H, "renew-cert --id " TAB " --new-key"), 0);
	harness_publish(&H);
	expect_error(&open_tab, "PU_ERR_KEY_RETIRED", NULL);
	expect_closed(&open_tab, 3000);
	tc_close(&open_tab);

	assert_rc(tc_connect_tls(&c, H.port, &old), PU_OK);
	expect_error(&c, "PU_ERR_KEY_RETIRED", NULL);
	expect_closed(&c, 3000);
	tc_close(&c);

	/* the new certificate (written into TAB's folder) is served */
	connect_as(&c, &H.tab);
	seal_small(&H.tab, &m);
	submit_ok(&c, &m, NULL, NULL);
	tc_close(&c);
	fx_msg_free(&m);
	tc_agency_free(&old);
	assert_still_serving();
	/* audited: the dropped session and the refused connection */
	for (int i = 0; i < SETTLE_POLLS && audit_count_of(since,
	    PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_FAILURE, "PU_ERR_KEY_RETIRED", NULL, 1,
	    TAB) < 2; i++)
		sleep_ms(10);
	assert_int_equal(audit_count_of(since, PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_FAILURE,
	    "PU_ERR_KEY_RETIRED", NULL, 1, TAB), 2);
}

/* ---- group 12: kill -9 during group commits -------------------------------------------- */

#define CRASH_MSGS 50
#define CRASH_AFTER 25

static atomic_int crash_acked;

static void *
killer_main(void *arg)
{
	(void)arg;
	struct timespec jitter = { 0, (long)randombytes_uniform(4000) * 1000 };

	while (atomic_load(&crash_acked) < CRASH_AFTER)
		sleep_ms(1);
	/* 0-4 ms later: the kill lands anywhere in the next submissions and their commits */
	nanosleep(&jitter, NULL);
	harness_kill9(&H);
	return NULL;
}

static int
msg_index(struct fx_msg *m, const uint8_t *msg_id)
{
	for (int i = 0; i < CRASH_MSGS; i++)
		if (memcmp(m[i].sealed.msg_id, msg_id, PU_MSG_ID_LEN) == 0)
			return i;
	return -1;
}

static void
g12_kill9_during_commits(void **state)
{
	struct fx_msg *m = calloc(CRASH_MSGS, sizeof(*m));
	int acked[CRASH_MSGS] = { 0 }, listed[CRASH_MSGS] = { 0 }, n_acked = 0, n_listed = 0;
	pthread_t killer;
	struct tc tla, nle;
	ProtobufCMessage *out;
	uint8_t mac[32];

	(void)state;
	/* sealed beforehand, so the loop is only submissions; every tenth one has 2 chunks */
	for (int i = 0; i < CRASH_MSGS; i++)
		seal(&H.tla, &m[i], TO_NLE, 1, T_CASE, i % 10 == 7 ? MIB + MIB / 2 : 4096, NULL);
	atomic_store(&crash_acked, 0);
	connect_as(&tla, &H.tla);
	assert_int_equal(pthread_create(&killer, NULL, killer_main, NULL), 0);
	for (int i = 0; i < CRASH_MSGS; i++) {
		uint8_t *r;
		size_t r_len;
		if (tc_submit(&tla, &m[i], &r, &r_len, NULL, 0) != PU_OK)
			break;
		assert_rc(harness_receipt_check(&H, &m[i], r, r_len, NULL), PU_OK);
		free(r);
		acked[i] = 1;
		n_acked++;
		atomic_fetch_add(&crash_acked, 1);
	}
	if (n_acked < CRASH_AFTER)	/* let the killer go if the loop ended early */
		atomic_store(&crash_acked, CRASH_AFTER);
	pthread_join(killer, NULL);
	tc_close(&tla);
	print_message("    %d of %d acknowledged before kill -9\n", n_acked, CRASH_MSGS);
	assert_true(n_acked >= CRASH_AFTER && n_acked < CRASH_MSGS);

	harness_start(&H);

	/* the spool holds no leftovers: no .part, and no .msg without its row */
	{
		int parts;
		sqlite3 *db = db_open_ro();
		harness_spool_files(&H, NULL, &parts);
		assert_int_equal(parts, 0);
		for (int i = 0; i < CRASH_MSGS; i++) {
			int rows = db_count_message(db, m[i].sealed.msg_id);
			assert_true(rows == 0 || rows == 1);
			if (rows == 0)
				assert_int_equal(harness_spool_files(&H, m[i].sealed.msg_id, NULL), 0);
			if (acked[i])
				assert_int_equal(rows, 1);
		}
		sqlite3_close(db);
	}

	/* NLE's inbox: every acknowledged message exactly once; nothing else of ours half there */
	connect_as(&nle, &H.nle);
	Puente__InboxRequest q = PUENTE__INBOX_REQUEST__INIT;
	q.limit = 256;
	assert_rc(tc_send(&nle, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &q.base), PU_OK);
	assert_rc(tc_expect(&nle, F_INBOX, &out, NULL, 0), PU_OK);
	Puente__Inbox *in = (Puente__Inbox *)out;
	for (size_t k = 0; k < in->n_entries; k++) {
		int i = msg_index(m, in->entries[k]->msg_id.data);
		if (i >= 0) {
			listed[i]++;
			n_listed++;
		}
	}
	pb_free(out);
	print_message("    after restart: %d of ours listed for NLE (%d acknowledged)\n", n_listed,
	    n_acked);
	for (int i = 0; i < CRASH_MSGS; i++) {
		assert_true(listed[i] <= 1);
		if (acked[i])
			assert_int_equal(listed[i], 1);
	}
	/* the rows of ours in the database are exactly the inbox entries of ours */
	{
		sqlite3 *db = db_open_ro();
		int rows = 0;
		for (int i = 0; i < CRASH_MSGS; i++)
			rows += db_count_message(db, m[i].sealed.msg_id);
		sqlite3_close(db);
		assert_int_equal(rows, n_listed);
	}
	/* one STORE audit leaf for every stored message of ours; the leaves are intact */
	for (int i = 0; i < CRASH_MSGS; i++)
		assert_int_equal(audit_count(0, PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE, "ok",
		    m[i].sealed.msg_id, 0), listed[i]);
	{
		sqlite3 *db = db_open_ro();
		sqlite3_stmt *st;
		int64_t expect = 0;
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT idx, leaf, leaf_hash FROM audit "
		    "ORDER BY idx", -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			uint8_t hash[32], zero = 0;
			unsigned hl = 32;
			EVP_MD_CTX *x = EVP_MD_CTX_new();
			assert_int_equal(sqlite3_column_int64(st, 0), expect++);
			EVP_DigestInit_ex(x, EVP_sha256(), NULL);
			EVP_DigestUpdate(x, &zero, 1);
			EVP_DigestUpdate(x, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
			EVP_DigestFinal_ex(x, hash, &hl);
			EVP_MD_CTX_free(x);
			assert_int_equal(sqlite3_column_bytes(st, 2), 32);
			assert_memory_equal(sqlite3_column_blob(st, 2), hash, 32);
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	/* every listed message of ours (acknowledged or not) is fetchable and opens */
	for (int i = 0; i < CRASH_MSGS; i++) {
		if (!listed[i])
			continue;
		assert_rc(fetch_open_receipt(&nle, &H.nle, m[i].sealed.msg_id, mac), PU_OK);
		assert_memory_equal(mac, m[i].sealed.receipt_mac, 32);
	}
	tc_close(&nle);
	/* an unacknowledged message sent again is stored now (or was: its original receipt) */
	connect_as(&tla, &H.tla);
	for (int i = 0; i < CRASH_MSGS; i++)
		if (!acked[i])
			submit_ok(&tla, &m[i], NULL, NULL);
	tc_close(&tla);
	for (int i = 0; i < CRASH_MSGS; i++)
		fx_msg_free(&m[i]);
	free(m);
	assert_still_serving();
}

int
main(int argc, char **argv)
{
#define T(f) cmocka_unit_test_setup(f, gateway_up)
	const struct CMUnitTest tests[] = {
		T(end_to_end_with_receipts),
		/* groups 1-3 */
		T(g1_header_signed_by_another_agency),
		T(g1_header_names_another_agencys_key),
		T(g1_flipped_bit_in_signature),
		T(g1_flipped_bit_in_manifest),
		T(g1_forgeries_among_pipelined_messages),
		T(g1_signature_over_noncanonical_core),
		T(g1_sender_is_not_the_tls_identity),
		T(g2_recipient_not_in_directory),
		T(g2_stanza_key_of_another_agency),
		T(g2_duplicate_recipient),
		T(g3_unknown_protocol_version),
		T(g3_suspended_agency),
		/* group 4 */
		T(g4_retry_same_header),
		T(g4_same_msg_id_other_header),
		T(g4_msg_id_reused_by_another_agency),
		T(g4_same_messages_on_two_sessions_at_once),
		T(g4_created_too_far_in_the_future),
		T(g4_already_expired),
		T(g4_lifetime_over_seven_days),
		/* group 5 */
		T(g5_chunk_hash_not_in_manifest),
		T(g5_chunk_refused_then_resent),
		T(g5_upload_sent_twice_at_once),
		T(g17_recipient_suspended_during_the_upload),
		T(g5_chunk_out_of_order),
		T(g5_chunk_larger_than_declared),
		/* group 6 */
		T(g6_submit_not_protobuf),
		T(g6_submit_unknown_field),
		T(g6_core_unknown_field_signed),
		T(g6_submit_truncated),
		/* group 7 */
		T(g7_submit_before_hello),
		T(g7_refused_while_sending_closed_without_reset),
		T(g7_empty_frame_before_hello),
		T(g7_oversized_frame_before_hello),
		T(g7_unknown_frame_type_after_hello),
		T(g7_gateway_frame_from_client),
		T(g7_frame_without_tls),
		T(g7_silent_client_closed_at_deadline),
		T(g7_slow_loris_hello),
		T(g7_disconnect_mid_message),
		T(g7_many_idle_sessions),
		T(g7_sessions_per_agency_bounded),
		T(g7_peer_that_never_reads),
		T(g7_pipelining_peer_that_never_reads),
		T(g7_session_gone_with_signatures_pending),
		/* group 8 */
		T(g8_auditor_sends_a_case_message),
		T(g8_state_sends_a_federal_decision),
		T(g8_international_adoption_needs_the_federal_procuraduria),
		T(g8_connected_recipients_told_held_messages_only_to_the_reviewer),
		T(g8_auditor_as_recipient),
		/* group 9 */
		T(g9_receipt_from_a_non_recipient),
		T(g9_receipt_replayed_for_another_message),
		T(g9_receipt_before_fetch),
		/* group 13 */
		T(g13_tls_negatives),
		T(g13_tls_negatives_openssl_cli),
		T(g13_tls_key_not_pinned),
		/* group 12: kills and restarts the gateway, so last */
		T(g12_kill9_during_commits),
	};
#undef T

	g_argc = argc;
	g_argv = argv;
	/* a peer that closed first must not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	/* TG_FILTER=g7_* runs only the tests matching the pattern (the setup always runs) */
	if (getenv("TG_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TG_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
