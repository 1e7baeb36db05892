/*
 * fuzz_audit.c - an auditor's verifier on whatever a gateway answers: the input is an
 * AUDIT_ANSWER frame body, decoded as the client decodes it, then checked both as a page of
 * a full replay (averify_page, averify_finish) and as a case trace (averify_answer) against
 * a fixed log whose checkpoint key is FUZZ_AUDIT_KEY_SEED's. Each record is also shown as
 * a gateway receipt would show it (averify_gateway_receipt), and so are the input bytes.
 * Invariants: every result is a code of the table, a replay that verifies recomputed
 * exactly the signed root, and a receipt that verifies is of the leaf it was asked about.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit_verify.h"
#include "frame.h"
#include "fuzz.h"
#include "pb.h"

static struct averify_log fuzz_log;

static void
log_once(void)
{
	static int ready;
	uint8_t sk[crypto_sign_SECRETKEYBYTES];

	if (ready)
		return;
	if (sodium_init() < 0)
		abort();
	crypto_sign_seed_keypair(fuzz_log.public_key, sk,
	    (const uint8_t *)FUZZ_AUDIT_KEY_SEED);
	snprintf(fuzz_log.origin, sizeof(fuzz_log.origin), "%s", FUZZ_AUDIT_ORIGIN);
	ready = 1;
}

/* The receipt for record r of answer a, checked for the message its own leaf names. */
static void
receipt_of_record(const Puente__AuditAnswer *a, const Puente__AuditRecord *r)
{
	Puente__GatewayReceipt g = PUENTE__GATEWAY_RECEIPT__INIT;
	Puente__GatewayReceipt *got;
	Puente__AuditEntry *leaf, *e;
	uint8_t *enc, id[16] = { 0 }, hh[32] = { 0 };
	const char *sender = "";
	struct note n;
	size_t len;
	int rc;

	leaf = puente__audit_entry__unpack(NULL, r->entry.len, r->entry.data);
	if (leaf != NULL && leaf->msg_id.len == 16)
		memcpy(id, leaf->msg_id.data, 16);
	if (leaf != NULL && leaf->header_hash.len == 32)
		memcpy(hh, leaf->header_hash.data, 32);
	if (leaf != NULL)
		sender = leaf->agency_id;
	g.audit_index = r->index;
	g.checkpoint = a->checkpoint;
	g.inclusion_proof = r->inclusion_proof;
	g.n_inclusion_proof = r->n_inclusion_proof;
	g.audit_entry = r->entry;
	if (pb_encode(&g.base, &enc, &len) == PU_OK) {
		rc = averify_gateway_receipt(&fuzz_log, enc, len, id, hh, sender, &n, &got, &e);
		FUZZ_ASSERT_CODE(rc);
		if (rc == PU_OK) {
			FUZZ_ASSERT(got->audit_index == r->index && n.tree_size > r->index);
			FUZZ_ASSERT(memcmp(e->msg_id.data, id, 16) == 0);
			pb_free(got);
			pb_free(e);
		}
		free(enc);
	}
	if (leaf != NULL)
		puente__audit_entry__free_unpacked(leaf, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *m;
	Puente__AuditAnswer *a;
	struct averify v;
	int rc;

	log_once();
	{
		static const uint8_t id[16], hh[32];
		Puente__GatewayReceipt *got;
		Puente__AuditEntry *e;
		struct note n;

		rc = averify_gateway_receipt(&fuzz_log, data, size, id, hh, "", &n, &got, &e);
		FUZZ_ASSERT_CODE(rc);
		if (rc == PU_OK) {
			pb_free(got);
			pb_free(e);
		}
	}
	if (frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER, data, size, &m) != PU_OK)
		return 0;
	a = (Puente__AuditAnswer *)m;
	FUZZ_ASSERT(averify_init(&v, &fuzz_log, NULL) == PU_OK);
	rc = averify_page(&v, a);
	FUZZ_ASSERT_CODE(rc);
	if (rc == PU_OK && (rc = averify_finish(&v)) == PU_OK) {
		uint8_t root[MERKLE_HASH_LEN];
		merkle_frontier_root(&v.tree, root);
		FUZZ_ASSERT(v.tree.size == v.newest.tree_size && v.tree.size == a->n_records);
		FUZZ_ASSERT(memcmp(root, v.newest.root, MERKLE_HASH_LEN) == 0);
	}
	FUZZ_ASSERT_CODE(rc);
	averify_free(&v);
	FUZZ_ASSERT(averify_init(&v, &fuzz_log, NULL) == PU_OK);
	FUZZ_ASSERT_CODE(averify_answer(&v, a, FUZZ_AUDIT_CASE));
	averify_free(&v);
	for (size_t i = 0; i < a->n_records; i++)
		receipt_of_record(a, a->records[i]);
	pb_free(a);
	return 0;
}
