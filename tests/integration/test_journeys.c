/*
 * test_journeys.c - the journeys Puente exists for, through the real gateway: an inter-state
 * case transfer answered by a follow-up report, and an international adoption held for
 * federal review. Every step is asserted; the audit table holds each step of the case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>
#include <sqlite3.h>

#include "frames.pb-c.h"
#include "gateway_harness.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

static struct harness H;
static int g_argc;
static char **g_argv;

#define assert_rc(got, want) assert_string_equal(pu_err_name(got), pu_err_name(want))
#define T_TRANSFER PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER
#define T_FOLLOW_UP PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FOLLOW_UP_REPORT
#define T_REVIEW PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_INTL_ADOPTION_REVIEW_REQUEST
#define T_DECISION PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FEDERAL_DECISION
#define INTERNATIONAL PUENTE__ADOPTION_SCOPE__ADOPTION_SCOPE_INTERNATIONAL

static int
setup(void **state)
{
	(void)state;
	harness_init(&H, g_argc, g_argv);
	harness_start(&H);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(harness_stop(&H), 0);
	harness_free(&H);
	return 0;
}

static int
inbox_has(struct tc *c, const uint8_t *msg_id)
{
	uint8_t ids[64][16];
	size_t n;

	assert_rc(tc_inbox(c, ids, 64, &n), PU_OK);
	for (size_t i = 0; i < n; i++)
		if (memcmp(ids[i], msg_id, 16) == 0)
			return 1;
	return 0;
}

/* The recipient receipts the gateway holds for a message its sender asks about. */
static size_t
receipts_of(struct tc *c, const uint8_t *msg_id)
{
	Puente__ReceiptsRequest q = PUENTE__RECEIPTS_REQUEST__INIT;
	ProtobufCMessage *m;
	size_t n;

	q.msg_id.data = (uint8_t *)msg_id;
	q.msg_id.len = 16;
	assert_rc(tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS_REQUEST, &q.base), PU_OK);
	assert_rc(tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS, &m, NULL, 0), PU_OK);
	n = ((Puente__Receipts *)m)->n_receipts;
	pb_free(m);
	return n;
}

static size_t
audit_leaves_of_case(const char *case_id)
{
	char path[1200];
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/data/puente.db", H.work);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM audit WHERE case_id = ?", -1,
	    &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* A caseworker of agency a opened msg_id: the agency's signed statement of access. */
static int
send_open_statement(struct tc *c, const struct tc_agency *a, const struct fx_msg *m,
    const char *staff, const char *purpose, char *err, size_t n)
{
	Puente__OpenStatement os = PUENTE__OPEN_STATEMENT__INIT;
	uint8_t *body;
	size_t len;
	int rc;

	os.agency_id = (char *)a->id;
	os.msg_id.data = (uint8_t *)m->sealed.msg_id;
	os.msg_id.len = 16;
	os.header_hash.data = (uint8_t *)m->sealed.header_hash;
	os.header_hash.len = 32;
	os.staff_id = (char *)staff;
	os.purpose = (char *)purpose;
	os.at = (int64_t)time(NULL);
	if ((rc = signed_create(PU_CTX_OPEN, &os.base, a->sign.key_id, a->sign.secret, &body,
	    &len)) != PU_OK)
		return rc;
	rc = tc_send_body(c, PUENTE__FRAME_TYPE__FRAME_TYPE_OPEN_STATEMENT, body, len);
	free(body);
	return rc == PU_OK ? tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, NULL, err, n) : rc;
}

/* Journey 1: Tlaxcala transfers a case to Nuevo León, which opens it and reports back. */
static void
interstate_transfer(void **state)
{
	static const char *const to_nle[] = { NLE }, *const to_tla[] = { TLA };
	struct seal_params reply = { 0 }, other_case = { 0 };
	struct tc tla, nle, tab;
	struct fx_msg transfer, follow_up, stray;
	uint8_t mac[32];
	char err[64];

	(void)state;
	assert_rc(tc_connect(&tla, H.port, &H.tla), PU_OK);
	assert_rc(tc_connect(&nle, H.port, &H.nle), PU_OK);
	assert_rc(tc_connect(&tab, H.port, &H.tab), PU_OK);
	assert_rc(tc_seal(&H.tla, &transfer, to_nle, 1, T_TRANSFER, 1536 * 1024, NULL), PU_OK);
	assert_rc(tc_submit(&tla, &transfer, NULL, NULL, NULL, 0), PU_OK);
	assert_true(inbox_has(&nle, transfer.sealed.msg_id));
	assert_false(inbox_has(&tab, transfer.sealed.msg_id));
	assert_rc(tc_fetch_open_receipt(&nle, &H.nle, transfer.sealed.msg_id, mac, err, sizeof(err)), PU_OK);
	assert_memory_equal(mac, transfer.sealed.receipt_mac, 32);
	assert_int_equal(receipts_of(&tla, transfer.sealed.msg_id), 1);
	/* A caseworker opens the file: the access is on record; nobody else can claim one. */
	assert_rc(send_open_statement(&nle, &H.nle, &transfer, "NLE-TS-0042", "case-assessment",
	    err, sizeof(err)), PU_OK);
	assert_rc(send_open_statement(&tab, &H.tab, &transfer, "TAB-TS-0007", "curiosity", err,
	    sizeof(err)), PU_ERR_NOT_DELIVERED);

	/* Nuevo León answers with a follow-up report on the same case, to its sender. */
	reply.in_reply_to = transfer.sealed.msg_id;
	assert_rc(tc_seal(&H.nle, &follow_up, to_tla, 1, T_FOLLOW_UP, 1000, &reply), PU_OK);
	assert_rc(tc_submit(&nle, &follow_up, NULL, NULL, err, sizeof(err)), PU_OK);
	assert_rc(tc_fetch_open_receipt(&tla, &H.tla, follow_up.sealed.msg_id, NULL, err, sizeof(err)), PU_OK);
	assert_int_equal(receipts_of(&nle, follow_up.sealed.msg_id), 1);

	/* Tabasco never received the transfer: its "reply" is refused. */
	assert_rc(tc_seal(&H.tab, &stray, to_tla, 1, T_FOLLOW_UP, 10, &reply), PU_OK);
	assert_rc(tc_submit(&tab, &stray, NULL, NULL, err, sizeof(err)), PU_ERR_POLICY);
	fx_msg_free(&stray);
	/* A reply about another case is refused too. */
	other_case.in_reply_to = transfer.sealed.msg_id;
	other_case.case_id = "MX-2026-0THER1";
	assert_rc(tc_seal(&H.nle, &stray, to_tla, 1, T_FOLLOW_UP, 10, &other_case), PU_OK);
	assert_rc(tc_submit(&nle, &stray, NULL, NULL, err, sizeof(err)), PU_ERR_POLICY);
	fx_msg_free(&stray);

	/* The case's trail: stored, fetched, receipted twice each, one open (at least). */
	assert_true(audit_leaves_of_case("MX-2026-7F3K9Q") >= 7);
	fx_msg_free(&transfer);
	fx_msg_free(&follow_up);
	tc_close(&tla);
	tc_close(&nle);
	tc_close(&tab);
}

/* A receipt that is not OPENED (the reviewer's stanza did not open, say). */
static void
fetch_and_refuse(struct tc *c, const struct tc_agency *a, const uint8_t *msg_id)
{
	Puente__Fetch f = PUENTE__FETCH__INIT;
	ProtobufCMessage *m;
	struct header h;
	uint8_t *hdr, *rcpt;
	size_t hdr_len, rcpt_len;

	f.msg_id.data = (uint8_t *)msg_id;
	f.msg_id.len = 16;
	assert_rc(tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH, &f.base), PU_OK);
	assert_rc(tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER, &m, NULL, 0), PU_OK);
	assert_rc(pb_encode(m, &hdr, &hdr_len), PU_OK);
	pb_free(m);
	assert_rc(header_decode(&h, hdr, hdr_len), PU_OK);
	free(hdr);
	for (uint32_t i = 0; i < h.core->chunk_count; i++) {
		assert_rc(tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK, &m, NULL, 0), PU_OK);
		pb_free(m);
	}
	assert_rc(receipt_recipient_create(&h, a->id,
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_COMMITMENT_MISMATCH, NULL, (int64_t)time(NULL),
	    a->sign.key_id, a->sign.secret, &rcpt, &rcpt_len), PU_OK);
	assert_rc(tc_send_body(c, PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT, rcpt, rcpt_len), PU_OK);
	assert_rc(tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, NULL, NULL, 0), PU_OK);
	free(rcpt);
	header_free(&h);
}

/* Journey 2: Tabasco asks for an international adoption; PFPNNA reviews before anyone else sees it. */
static void
international_adoption_review(void **state)
{
	static const char *const no_fed[] = { NLE }, *const with_fed[] = { FED, NLE },
	    *const to_tab[] = { TAB };
	struct seal_params intl = { 0 }, decision = { 0 };
	struct tc tab, nle, fed;
	struct fx_msg m, ok, second, dec, fake;
	char err[64];

	(void)state;
	intl.adoption_scope = INTERNATIONAL;
	assert_rc(tc_connect(&tab, H.port, &H.tab), PU_OK);
	assert_rc(tc_connect(&nle, H.port, &H.nle), PU_OK);
	assert_rc(tc_connect(&fed, H.port, &H.fed), PU_OK);
	/* Without the federal procuraduría among the recipients: refused. */
	assert_rc(tc_seal(&H.tab, &m, no_fed, 1, T_REVIEW, 2000, &intl), PU_OK);
	assert_rc(tc_submit(&tab, &m, NULL, NULL, err, sizeof(err)), PU_ERR_POLICY);
	fx_msg_free(&m);
	/* Corrected: stored, but held for PFPNNA. */
	assert_rc(tc_seal(&H.tab, &ok, with_fed, 2, T_REVIEW, 2000, &intl), PU_OK);
	assert_rc(tc_submit(&tab, &ok, NULL, NULL, err, sizeof(err)), PU_OK);
	assert_true(inbox_has(&fed, ok.sealed.msg_id));
	assert_false(inbox_has(&nle, ok.sealed.msg_id));
	assert_rc(tc_fetch_open_receipt(&nle, &H.nle, ok.sealed.msg_id, NULL, err, sizeof(err)),
	    PU_ERR_NOT_QUEUED);
	/* PFPNNA opens it: only now does the receiving party see it. */
	assert_rc(tc_fetch_open_receipt(&fed, &H.fed, ok.sealed.msg_id, NULL, err, sizeof(err)), PU_OK);
	assert_true(inbox_has(&nle, ok.sealed.msg_id));
	assert_rc(tc_fetch_open_receipt(&nle, &H.nle, ok.sealed.msg_id, NULL, err, sizeof(err)), PU_OK);
	assert_int_equal(receipts_of(&tab, ok.sealed.msg_id), 2);

	/* A negative receipt from PFPNNA (its key did not open) does not release the hold. */
	assert_rc(tc_seal(&H.tab, &second, with_fed, 2, T_REVIEW, 2000, &intl), PU_OK);
	assert_rc(tc_submit(&tab, &second, NULL, NULL, err, sizeof(err)), PU_OK);
	fetch_and_refuse(&fed, &H.fed, second.sealed.msg_id);
	assert_false(inbox_has(&nle, second.sealed.msg_id));

	/* PFPNNA decides; a state may not send a federal decision. */
	decision.in_reply_to = ok.sealed.msg_id;
	assert_rc(tc_seal(&H.fed, &dec, to_tab, 1, T_DECISION, 500, &decision), PU_OK);
	assert_rc(tc_submit(&fed, &dec, NULL, NULL, err, sizeof(err)), PU_OK);
	assert_rc(tc_fetch_open_receipt(&tab, &H.tab, dec.sealed.msg_id, NULL, err, sizeof(err)), PU_OK);
	assert_rc(tc_seal(&H.nle, &fake, to_tab, 1, T_DECISION, 500, &decision), PU_OK);
	assert_rc(tc_submit(&nle, &fake, NULL, NULL, err, sizeof(err)), PU_ERR_POLICY);

	fx_msg_free(&ok);
	fx_msg_free(&second);
	fx_msg_free(&dec);
	fx_msg_free(&fake);
	tc_close(&tab);
	tc_close(&nle);
	tc_close(&fed);
}

/* THREATS 17: the sender's key is found compromised since before acceptance: held. */
static void
sender_key_compromised_after_acceptance(void **state)
{
	static const char *const to_nle[] = { NLE };
	struct tc tab, nle;
	struct fx_msg m;
	char err[64], hex[33], args[256];

	(void)state;
	assert_rc(tc_connect(&tab, H.port, &H.tab), PU_OK);
	assert_rc(tc_connect(&nle, H.port, &H.nle), PU_OK);
	assert_rc(tc_seal(&H.tab, &m, to_nle, 1, T_TRANSFER, 100, NULL), PU_OK);
	assert_rc(tc_submit(&tab, &m, NULL, NULL, err, sizeof(err)), PU_OK);
	sodium_bin2hex(hex, sizeof(hex), H.tab.sign.key_id, 16);
	snprintf(args, sizeof(args), "revoke --id %s --key-id %s --since %lld", TAB, hex,
	    (long long)time(NULL) - 3600);
	assert_int_equal(harness_keys(&H, args), 0);
	harness_publish(&H);
	/* TAB's session is not dropped (its TLS key is fine) but its message is held. */
	assert_rc(tc_fetch_open_receipt(&nle, &H.nle, m.sealed.msg_id, NULL, err, sizeof(err)),
	    PU_ERR_KEY_COMPROMISED);
	fx_msg_free(&m);
	tc_close(&tab);
	tc_close(&nle);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(interstate_transfer),
		cmocka_unit_test(international_adoption_review),
		cmocka_unit_test(sender_key_compromised_after_acceptance),	/* last: TAB's key is gone */
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, setup, teardown);
}
