/*
 * test_audit_verify.c - the auditor's verifier against answers a lying gateway could give
 * (THREATS.md group 11): a checkpoint signed by the wrong key, smaller than or forked from
 * the trusted one, malformed; an inclusion proof for another leaf or of the wrong length; a
 * page with a leaf left out or one given twice; a case answer with its chain broken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "audit_verify.h"
#include "buf.h"
#include "pb.h"
#include "pu_err.h"

#define assert_rc(got, want) assert_string_equal(pu_err_name(got), pu_err_name(want))
#define N 6			/* leaves in the test log */
#define ORIGIN "test.example/log"
#define CASE "MX-2026-UNIT01"
#define H MERKLE_HASH_LEN

static struct {
	uint8_t sk[64], pk[32], other_sk[64], other_pk[32];
	uint8_t *leaf[N];
	size_t leaf_len[N];
	uint8_t msg_id[N][16], header_hash[N][32];	/* of the message each leaf records */
	uint8_t hash[N * H];
	struct averify_log log;
} T;

static int
setup(void **state)
{
	uint64_t prev = 0;

	(void)state;
	assert_true(sodium_init() >= 0);
	crypto_sign_seed_keypair(T.pk, T.sk, (const uint8_t *)"test_audit_verify: the log key..");
	crypto_sign_seed_keypair(T.other_pk, T.other_sk,
	    (const uint8_t *)"test_audit_verify: another key..");
	for (unsigned i = 0; i < N; i++) {
		Puente__AuditEntry e = PUENTE__AUDIT_ENTRY__INIT;

		/* The last leaf records a fetch of the message the one before it stored. */
		e.event = i == N - 1 ? PUENTE__AUDIT_EVENT__AUDIT_EVENT_FETCH :
		    PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE;
		memset(T.msg_id[i], i == N - 1 ? N - 1 : (int)i + 1, 16);
		memset(T.header_hash[i], i == N - 1 ? 0x80 + N - 1 : 0x81 + (int)i, 32);
		e.msg_id.data = T.msg_id[i];
		e.msg_id.len = 16;
		e.header_hash.data = T.header_hash[i];
		e.header_hash.len = 32;
		e.at = 1764000000 + i;
		e.agency_id = "MX-TLA-PPNNA";
		e.outcome = "ok";
		e.case_id = CASE;
		e.prev_case_index = prev;	/* every leaf is of the one case, in a chain */
		prev = i + 1;
		assert_rc(pb_encode(&e.base, &T.leaf[i], &T.leaf_len[i]), PU_OK);
		merkle_leaf_hash(T.hash + i * H, T.leaf[i], T.leaf_len[i]);
	}
	snprintf(T.log.origin, sizeof(T.log.origin), "%s", ORIGIN);
	memcpy(T.log.public_key, T.pk, 32);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < N; i++)
		free(T.leaf[i]);
	return 0;
}

/* A checkpoint of the first size leaves (root given, or the real one), signed by sk. */
static char *
checkpoint(uint64_t size, const uint8_t *root_or_null, const uint8_t sk[64],
    const uint8_t pk[32], const char *name)
{
	uint8_t root[H];
	struct buf b;
	char *out;

	if (root_or_null != NULL)
		memcpy(root, root_or_null, H);
	else
		merkle_root(root, T.hash, size);
	buf_init(&b, NOTE_MAX_LEN);
	assert_rc(note_checkpoint_format(ORIGIN, size, root, &b), PU_OK);
	assert_rc(buf_append(&b, "\n", 1), PU_OK);
	assert_rc(note_sign(b.data, b.len - 1, name, sk, pk, &b), PU_OK);
	out = calloc(1, b.len + 1);
	memcpy(out, b.data, b.len);
	buf_free(&b);
	return out;
}

static int
leaf_at(void *arg, uint64_t index, uint8_t out[H])
{
	(void)arg;
	memcpy(out, T.hash + index * H, H);
	return PU_OK;
}

/* An answer over records [from, to), each with its inclusion proof in size leaves. */
struct answer {
	Puente__AuditAnswer a;
	Puente__AuditRecord rec[N], *rp[N];
	uint8_t proof[N][MERKLE_MAX_PROOF * H], cproof[MERKLE_MAX_PROOF * H];
	ProtobufCBinaryData pf[N][MERKLE_MAX_PROOF + 1], cpf[MERKLE_MAX_PROOF];
	char *cp;
};

static void
answer_make(struct answer *x, unsigned from, unsigned to, uint64_t size, uint64_t known)
{
	size_t n;

	memset(x, 0, sizeof(*x));
	puente__audit_answer__init(&x->a);
	x->cp = checkpoint(size, NULL, T.sk, T.pk, ORIGIN);
	x->a.checkpoint = x->cp;
	x->a.next_index = to;
	for (unsigned i = from; i < to; i++) {
		Puente__AuditRecord *r = &x->rec[i - from];
		puente__audit_record__init(r);
		r->index = i;
		r->entry.data = T.leaf[i];
		r->entry.len = T.leaf_len[i];
		assert_rc(merkle_inclusion_proof(leaf_at, NULL, i, size, x->proof[i - from], &n),
		    PU_OK);
		for (size_t k = 0; k < n; k++) {
			x->pf[i - from][k].data = x->proof[i - from] + k * H;
			x->pf[i - from][k].len = H;
		}
		r->inclusion_proof = x->pf[i - from];
		r->n_inclusion_proof = n;
		x->rp[i - from] = r;
	}
	x->a.records = x->rp;
	x->a.n_records = to - from;
	if (known > 0 && known < size) {
		assert_rc(merkle_consistency_proof(leaf_at, NULL, known, size, x->cproof, &n), PU_OK);
		for (size_t k = 0; k < n; k++) {
			x->cpf[k].data = x->cproof + k * H;
			x->cpf[k].len = H;
		}
		x->a.consistency_proof = x->cpf;
		x->a.n_consistency_proof = n;
	}
}

static void
answer_free(struct answer *x)
{
	free(x->cp);
}

static void
verify_page(const char *trusted, struct answer *x, int want)
{
	struct averify v;
	int rc;

	assert_rc(averify_init(&v, &T.log, trusted), PU_OK);
	rc = averify_page(&v, &x->a);
	if (rc == PU_OK)
		rc = averify_finish(&v);
	if (rc != want)
		fail_msg("got %s (%s), want %s", pu_err_name(rc), v.problem, pu_err_name(want));
	if (want != PU_OK)
		assert_true(v.problem[0] != '\0');	/* every refusal says what is wrong */
	averify_free(&v);
}

static void
verify_case(const char *trusted, struct answer *x, int want)
{
	struct averify v;
	int rc;

	assert_rc(averify_init(&v, &T.log, trusted), PU_OK);
	rc = averify_answer(&v, &x->a, CASE);
	if (rc != want)
		fail_msg("got %s (%s), want %s", pu_err_name(rc), v.problem, pu_err_name(want));
	averify_free(&v);
}

static void
honest_answers_verify(void **state)
{
	struct answer x;
	char *trusted = checkpoint(3, NULL, T.sk, T.pk, ORIGIN);

	(void)state;
	answer_make(&x, 0, N, N, 3);
	verify_page(NULL, &x, PU_OK);
	verify_page(trusted, &x, PU_OK);	/* extends the trusted size 3 */
	verify_case(trusted, &x, PU_OK);
	answer_free(&x);
	free(trusted);
}

static void
checkpoint_by_another_key_is_refused(void **state)
{
	struct answer x;

	(void)state;
	answer_make(&x, 0, N, N, 0);
	free(x.cp);
	x.cp = x.a.checkpoint = checkpoint(N, NULL, T.other_sk, T.other_pk, ORIGIN);
	/* (a note's key id hashes name and key: another key is simply not the log's) */
	verify_page(NULL, &x, PU_ERR_NOTE_UNSIGNED);
	verify_case(NULL, &x, PU_ERR_NOTE_UNSIGNED);
	free(x.cp);
	/* the right key under another name: no signature by the log's key at all */
	x.cp = x.a.checkpoint = checkpoint(N, NULL, T.sk, T.pk, "someone-else");
	verify_page(NULL, &x, PU_ERR_NOTE_UNSIGNED);
	answer_free(&x);
}

static void
smaller_or_forked_than_trusted_is_refused(void **state)
{
	uint8_t other_root[H];
	struct answer x;
	char *trusted = checkpoint(N, NULL, T.sk, T.pk, ORIGIN), *fork;

	(void)state;
	answer_make(&x, 0, 4, 4, 0);
	verify_page(trusted, &x, PU_ERR_AUDIT_ROLLBACK);	/* the log went back to 4 */
	answer_free(&x);
	/* the same size as trusted, another root: validly signed, still a fork */
	memset(other_root, 0x5a, H);
	fork = checkpoint(N, other_root, T.sk, T.pk, ORIGIN);
	answer_make(&x, 0, N, N, 0);
	free(x.cp);
	x.cp = x.a.checkpoint = fork;
	verify_case(trusted, &x, PU_ERR_NOTE_FORK);
	answer_free(&x);
	free(trusted);
	/* larger than trusted, with a consistency proof from a different history */
	trusted = checkpoint(3, other_root, T.sk, T.pk, ORIGIN);
	answer_make(&x, 0, N, N, 3);
	verify_case(trusted, &x, PU_ERR_NOTE_FORK);
	verify_page(trusted, &x, PU_ERR_NOTE_FORK);
	answer_free(&x);
	free(trusted);
}

static void
malformed_checkpoints_are_refused(void **state)
{
	static const char *const bad[] = {
		"test.example/log\n6\nnot base64!\n\n",
		"test.example/log\n6\n",				/* no signature lines */
		"test.example/log\n06\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 x AAAA\n",
	};
	struct answer x;

	(void)state;
	answer_make(&x, 0, N, N, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct averify v;
		const char *keep = x.a.checkpoint;
		int rc;

		x.a.checkpoint = (char *)bad[i];
		assert_rc(averify_init(&v, &T.log, NULL), PU_OK);
		rc = averify_page(&v, &x.a);
		assert_true(rc <= PU_ERR_NOTE_SIZE && rc >= PU_ERR_NOTE_OTHER_LOG);
		assert_non_null(strstr(v.problem, "malformed"));
		averify_free(&v);
		x.a.checkpoint = (char *)keep;
	}
	answer_free(&x);
}

static void
proofs_for_another_leaf_or_of_the_wrong_length_fail(void **state)
{
	struct answer x;

	(void)state;
	answer_make(&x, 0, N, N, 0);
	/* record 2 carries record 3's proof */
	x.rec[2].inclusion_proof = x.pf[3];
	x.rec[2].n_inclusion_proof = x.rec[3].n_inclusion_proof;
	verify_case(NULL, &x, PU_ERR_AUDIT_LEAF);
	answer_free(&x);
	answer_make(&x, 0, N, N, 0);
	/* one hash too many */
	x.pf[1][x.rec[1].n_inclusion_proof] = x.pf[1][0];
	x.rec[1].n_inclusion_proof++;
	verify_case(NULL, &x, PU_ERR_AUDIT_LEAF);
	answer_free(&x);
}

static void
missing_repeated_or_unchained_entries_fail(void **state)
{
	struct answer x;

	(void)state;
	answer_make(&x, 0, N, N, 0);
	x.rp[2] = x.rp[3];		/* 2 left out: 3 comes where 2 should */
	verify_page(NULL, &x, PU_ERR_AUDIT_GAP);
	x.rp[2] = x.rp[1];		/* 1 given twice */
	verify_page(NULL, &x, PU_ERR_AUDIT_GAP);
	answer_free(&x);
	/* a case answer without entry 2: entry 3 names 2 as its previous one */
	answer_make(&x, 0, N, N, 0);
	memmove(&x.rp[2], &x.rp[3], (N - 3) * sizeof(x.rp[0]));
	x.a.n_records = N - 1;
	verify_case(NULL, &x, PU_ERR_AUDIT_CHAIN);
	answer_free(&x);
}

static void
leaf_proof_of_a_receipt(void **state)
{
	struct answer x;
	struct note n;
	Puente__AuditEntry *e;

	(void)state;
	answer_make(&x, 0, N, N, 0);
	assert_rc(averify_leaf_proof(&T.log, x.cp, 4, &x.rec[4].entry, x.rec[4].inclusion_proof,
	    x.rec[4].n_inclusion_proof, &n, &e), PU_OK);
	assert_string_equal(e->case_id, CASE);
	pb_free(e);
	/* the same proof claimed for another index: 5 takes as many hashes, 3 more */
	assert_rc(averify_leaf_proof(&T.log, x.cp, 5, &x.rec[4].entry, x.rec[4].inclusion_proof,
	    x.rec[4].n_inclusion_proof, &n, &e), PU_ERR_PROOF_ROOT);
	assert_null(e);
	assert_rc(averify_leaf_proof(&T.log, x.cp, 3, &x.rec[4].entry, x.rec[4].inclusion_proof,
	    x.rec[4].n_inclusion_proof, &n, &e), PU_ERR_PROOF_LENGTH);
	answer_free(&x);
}

/* Record i of answer x as the gateway's GATEWAY_RECEIPT body (encoded, free it). */
static uint8_t *
receipt_make(const struct answer *x, unsigned i, size_t *len)
{
	Puente__GatewayReceipt g = PUENTE__GATEWAY_RECEIPT__INIT;
	uint8_t *enc;

	g.audit_index = i;
	g.checkpoint = x->cp;
	g.audit_entry = x->rec[i].entry;
	g.inclusion_proof = x->rec[i].inclusion_proof;
	g.n_inclusion_proof = x->rec[i].n_inclusion_proof;
	assert_rc(pb_encode(&g.base, &enc, len), PU_OK);
	return enc;
}

static int
receipt_check(const uint8_t *p, size_t len, const uint8_t *msg_id, const uint8_t *hh,
    const char *sender)
{
	Puente__GatewayReceipt *g;
	Puente__AuditEntry *e;
	struct note n;
	int rc = averify_gateway_receipt(&T.log, p, len, msg_id, hh, sender, &n, &g, &e);

	if (rc != PU_OK) {
		assert_null(g);
		assert_null(e);
	} else {
		assert_int_equal(n.tree_size, N);
		assert_memory_equal(e->msg_id.data, msg_id, 16);
	}
	pb_free(g);
	pb_free(e);
	return rc;
}

/*
 * THREATS.md 4, 9 and 19: a gateway receipt is its "store" leaf proven in a checkpoint the
 * gateway's log key signed. The genuine one verifies; replayed for another message, header
 * or sender, the leaf of another event, a leaf altered, a checkpoint by another key, bytes
 * cut short or with an unknown field: each refused with its code.
 */
static void
gateway_receipts(void **state)
{
	const uint8_t *id = T.msg_id[2], *hh = T.header_hash[2];
	Puente__GatewayReceipt *g;
	struct answer x;
	uint8_t *p, *q;
	size_t len;

	(void)state;
	answer_make(&x, 0, N, N, 0);
	p = receipt_make(&x, 2, &len);
	assert_rc(receipt_check(p, len, id, hh, "MX-TLA-PPNNA"), PU_OK);
	assert_rc(receipt_check(p, len, T.msg_id[3], hh, "MX-TLA-PPNNA"),
	    PU_ERR_RECEIPT_MISMATCH);
	assert_rc(receipt_check(p, len, id, T.header_hash[3], "MX-TLA-PPNNA"),
	    PU_ERR_RECEIPT_MISMATCH);
	assert_rc(receipt_check(p, len, id, hh, "MX-NLE-PPNNA"), PU_ERR_RECEIPT_MISMATCH);
	/* Cut short anywhere, or grown by an unknown field: never accepted. */
	for (size_t n = 0; n < len; n++)
		assert_true(receipt_check(p, n, id, hh, "MX-TLA-PPNNA") != PU_OK);
	q = malloc(len + 2);
	memcpy(q, p, len);
	q[len] = 0x78;		/* field 15, varint */
	q[len + 1] = 0x01;
	assert_rc(receipt_check(q, len + 2, id, hh, "MX-TLA-PPNNA"), PU_ERR_PB_UNKNOWN_FIELD);
	free(q);
	free(p);

	/* The fetch of message N-1 is proven, but it is no acknowledgement of storing it. */
	p = receipt_make(&x, N - 1, &len);
	assert_rc(receipt_check(p, len, T.msg_id[N - 1], T.header_hash[N - 1], "MX-TLA-PPNNA"),
	    PU_ERR_RECEIPT_MISMATCH);
	free(p);

	/* Leaf 3 presented with leaf 2's proof and index: the root differs. */
	x.rec[2].entry = x.rec[3].entry;
	p = receipt_make(&x, 2, &len);
	assert_rc(receipt_check(p, len, T.msg_id[3], T.header_hash[3], "MX-TLA-PPNNA"),
	    PU_ERR_PROOF_ROOT);
	free(p);
	answer_free(&x);

	/* A checkpoint that does not cover the receipt's index (THREATS.md group 19). */
	answer_make(&x, 0, N, N, 0);
	free(x.cp);
	x.cp = checkpoint(2, NULL, T.sk, T.pk, ORIGIN);
	p = receipt_make(&x, 2, &len);
	assert_rc(receipt_check(p, len, id, hh, "MX-TLA-PPNNA"), PU_ERR_PROOF_INDEX);
	free(p);
	answer_free(&x);

	/* The right leaf and proof under a checkpoint signed by another key. */
	answer_make(&x, 0, N, N, 0);
	free(x.cp);
	x.cp = checkpoint(N, NULL, T.other_sk, T.other_pk, ORIGIN);
	p = receipt_make(&x, 2, &len);
	assert_rc(receipt_check(p, len, id, hh, "MX-TLA-PPNNA"), PU_ERR_NOTE_UNSIGNED);
	/* What a verified receipt hands back is the leaf's, ready for the outbox. */
	free(x.cp);
	x.cp = checkpoint(N, NULL, T.sk, T.pk, ORIGIN);
	free(p);
	p = receipt_make(&x, 2, &len);
	{
		Puente__AuditEntry *e;
		struct note n;
		assert_rc(averify_gateway_receipt(&T.log, p, len, id, hh, "MX-TLA-PPNNA", &n, &g,
		    &e), PU_OK);
		assert_int_equal(g->audit_index, 2);
		assert_int_equal(e->at, 1764000000 + 2);
		pb_free(g);
		pb_free(e);
	}
	free(p);
	answer_free(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(honest_answers_verify),
		cmocka_unit_test(checkpoint_by_another_key_is_refused),
		cmocka_unit_test(smaller_or_forked_than_trusted_is_refused),
		cmocka_unit_test(malformed_checkpoints_are_refused),
		cmocka_unit_test(proofs_for_another_leaf_or_of_the_wrong_length_fail),
		cmocka_unit_test(missing_repeated_or_unchained_entries_fail),
		cmocka_unit_test(leaf_proof_of_a_receipt),
		cmocka_unit_test(gateway_receipts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
