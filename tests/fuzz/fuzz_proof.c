/*
 * fuzz_proof.c - inclusion and consistency proofs as a client, witness or auditor receives
 * them: merkle_verify_inclusion and merkle_verify_consistency on sizes, hashes and proofs
 * the input chooses. Input layout:
 *
 *   u8 flags || u64be a || u64be b || [32-byte h1 || 32-byte h2 if RAW] || proof hashes
 *
 * flags bit 0 picks consistency (a = size1, b = size2) over inclusion (a = index,
 * b = size); trailing bytes short of a hash are ignored. With RAW the leaf hash and root
 * (or the two roots) are h1 and h2, and the verifier's answer is checked against the
 * order of its checks: range, then exact length, then roots. Without RAW and with
 * b <= TREE_LEAVES, they are the real ones of a fixed tree: the generator's proof must
 * verify, and the input's proof must verify exactly when it is that proof.
 */
#include <string.h>

#include "fuzz.h"
#include "merkle.h"
#include "pu_err.h"

#define FLAG_CONSISTENCY 0x01
#define FLAG_RAW 0x02
#define HEAD_LEN 17
#define H MERKLE_HASH_LEN
#define TREE_LEAVES 64

static uint8_t leaves[TREE_LEAVES * H];
static uint8_t roots[TREE_LEAVES + 1][H];

/* The fixed tree: leaf i is u64be(i), roots of every size from a frontier. */
static void
tree_once(void)
{
	static int ready;
	struct merkle_frontier f;
	uint8_t in[8], check[H];

	if (ready)
		return;
	merkle_frontier_init(&f);
	merkle_frontier_root(&f, roots[0]);
	for (uint64_t i = 0; i < TREE_LEAVES; i++) {
		for (unsigned k = 0; k < 8; k++)
			in[k] = (uint8_t)(i >> (56 - 8 * k));
		merkle_leaf_hash(leaves + i * H, in, sizeof(in));
		FUZZ_ASSERT(merkle_frontier_append(&f, leaves + i * H) == PU_OK);
		merkle_frontier_root(&f, roots[i + 1]);
		/* The writer's frontier and the verifier's recursion agree. */
		merkle_root(check, leaves, i + 1);
		FUZZ_ASSERT(memcmp(check, roots[i + 1], H) == 0);
	}
	ready = 1;
}

struct limit {
	uint64_t size;
};

/* The generator may only read leaves of the tree it was asked about. */
static int
tree_leaf(void *arg, uint64_t index, uint8_t out[H])
{
	const struct limit *l = arg;

	FUZZ_ASSERT(index < l->size && index < TREE_LEAVES);
	memcpy(out, leaves + index * H, H);
	return PU_OK;
}

static uint64_t
get_u64be(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned k = 0; k < 8; k++)
		v = v << 8 | p[k];
	return v;
}

/* Range, then exact length, then roots: the verifier's answer, worked out beforehand. */
static void
raw_check(int consistency, uint64_t a, uint64_t b, const uint8_t *h1, const uint8_t *h2,
    const uint8_t *proof, size_t n)
{
	size_t want_len;
	int rc, shape;

	if (consistency) {
		shape = merkle_consistency_proof_len(a, b, &want_len);
		rc = merkle_verify_consistency(a, b, proof, n, h1, h2);
		FUZZ_ASSERT(shape == (a > b ? PU_ERR_PROOF_SHRINK :
		    a == 0 ? PU_ERR_PROOF_EMPTY_TREE : PU_OK));
		if (shape == PU_OK && a == b)
			FUZZ_ASSERT(want_len == 0 && (rc == PU_OK) ==
			    (n == 0 && memcmp(h1, h2, H) == 0));
	} else {
		shape = merkle_inclusion_proof_len(a, b, &want_len);
		rc = merkle_verify_inclusion(h1, a, b, proof, n, h2);
		FUZZ_ASSERT(shape == (a < b ? PU_OK : PU_ERR_PROOF_INDEX));
	}
	FUZZ_ASSERT_CODE(rc);
	FUZZ_ASSERT(want_len <= MERKLE_MAX_PROOF);
	if (shape != PU_OK)
		FUZZ_ASSERT(rc == shape);
	else if (n != want_len)
		FUZZ_ASSERT(rc == PU_ERR_PROOF_LENGTH);
	else
		FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_PROOF_ROOT);
}

/* In the fixed tree: the input's proof verifies exactly when it is the real one. */
static void
tree_check(int consistency, uint64_t a, uint64_t b, const uint8_t *proof, size_t n)
{
	uint8_t real[MERKLE_MAX_PROOF * H];
	struct limit l = { b };
	size_t real_n, want_len;
	int rc, ok;

	if (consistency) {
		rc = merkle_consistency_proof(tree_leaf, &l, a, b, real, &real_n);
		if (rc != PU_OK) {
			FUZZ_ASSERT(rc == (a > b ? PU_ERR_PROOF_SHRINK : PU_ERR_PROOF_EMPTY_TREE));
			raw_check(consistency, a, b, roots[a < b ? a : b], roots[b], proof, n);
			return;
		}
		FUZZ_ASSERT(merkle_consistency_proof_len(a, b, &want_len) == PU_OK);
		FUZZ_ASSERT(merkle_verify_consistency(a, b, real, real_n, roots[a], roots[b]) ==
		    PU_OK);
		rc = merkle_verify_consistency(a, b, proof, n, roots[a], roots[b]);
	} else {
		rc = merkle_inclusion_proof(tree_leaf, &l, a, b, real, &real_n);
		if (rc != PU_OK) {
			FUZZ_ASSERT(rc == PU_ERR_PROOF_INDEX && a >= b);
			raw_check(consistency, a, b, leaves, roots[b], proof, n);
			return;
		}
		FUZZ_ASSERT(merkle_inclusion_proof_len(a, b, &want_len) == PU_OK);
		FUZZ_ASSERT(merkle_verify_inclusion(leaves + a * H, a, b, real, real_n, roots[b]) ==
		    PU_OK);
		rc = merkle_verify_inclusion(leaves + a * H, a, b, proof, n, roots[b]);
	}
	FUZZ_ASSERT(real_n == want_len);
	FUZZ_ASSERT_CODE(rc);
	/* Another proof reaching the same roots would be a SHA-256 collision. */
	ok = n == real_n && memcmp(proof, real, n * H) == 0;
	FUZZ_ASSERT((rc == PU_OK) == ok);
	if (n != real_n)
		FUZZ_ASSERT(rc == PU_ERR_PROOF_LENGTH);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zeros[2 * H];
	const uint8_t *h1 = zeros, *h2 = zeros + H, *proof;
	uint64_t a, b;
	int consistency;

	tree_once();
	if (size < HEAD_LEN)
		return 0;
	consistency = data[0] & FLAG_CONSISTENCY;
	a = get_u64be(data + 1);
	b = get_u64be(data + 9);
	proof = data + HEAD_LEN;
	size -= HEAD_LEN;
	if (data[0] & FLAG_RAW) {
		if (size < 2 * H)
			return 0;
		h1 = proof;
		h2 = proof + H;
		proof += 2 * H;
		size -= 2 * H;
	} else if (b <= TREE_LEAVES) {
		tree_check(consistency, a, b, proof, size / H);
		return 0;
	}
	raw_check(consistency, a, b, h1, h2, proof, size / H);
	return 0;
}
