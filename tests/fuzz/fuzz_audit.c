/*
 * fuzz_audit.c - an auditor's verifier on whatever a gateway answers: the input is an
 * AUDIT_ANSWER frame body, decoded as the client decodes it, then checked both as a page of
 * a full replay (averify_page, averify_finish) and as a case trace (averify_answer) against
 * a fixed log whose checkpoint key is FUZZ_AUDIT_KEY_SEED's. Invariants: every result is a
 * code of the table, and a replay that verifies recomputed exactly the signed root.
 */
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProtobufCMessage *m;
	Puente__AuditAnswer *a;
	struct averify v;
	int rc;

	log_once();
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
	pb_free(a);
	return 0;
}
