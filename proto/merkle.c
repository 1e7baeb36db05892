/*
 * merkle.c - RFC 9162 §2.1 Merkle trees over SHA-256 (libsodium).
 *
 * The verifiers follow transparency-dev/merkle proof/verify.go: a proof is split where the
 * paths to leaf `index` and to the last leaf diverge. Below that level ("inner") a proof
 * hash may be a left or a right sibling, as the index's bits say; above it ("border") the
 * path runs along the tree's right edge and every proof hash is a left sibling. Both
 * lengths follow from index and size alone, so a proof of the wrong length is refused
 * before anything is hashed, and no proof can make the verifier walk past its end.
 */
#include <string.h>

#include <sodium.h>

#include "crypto.h"
#include "merkle.h"
#include "pu_err.h"

#define H MERKLE_HASH_LEN

/* Where a valid proof's hashes go: inner ones, then border ones (see the top comment). */
struct shape {
	unsigned inner;
	unsigned border;
	unsigned seed_in_proof;	/* consistency: the proof opens with an old-tree subtree */
};

/* Bits needed to write x: 0 for 0, 64 for x >= 2^63. */
static unsigned
bit_len(uint64_t x)
{
	unsigned n = 0;

	for (; x != 0; x >>= 1)
		n++;
	return n;
}

static unsigned
ones(uint64_t x)
{
	unsigned n = 0;

	for (; x != 0; x &= x - 1)
		n++;
	return n;
}

/* x != 0. */
static unsigned
trailing_zeros(uint64_t x)
{
	unsigned n = 0;

	for (; (x & 1) == 0; x >>= 1)
		n++;
	return n;
}

/* x >> n, also for n == 64 (paths in trees over 2^63 leaves), which C leaves undefined. */
static uint64_t
shr(uint64_t x, unsigned n)
{
	return n < 64 ? x >> n : 0;
}

/* Where RFC 9162 splits a tree of n >= 2 leaves: the largest power of two below n. */
static uint64_t
split_point(uint64_t n)
{
	return (uint64_t)1 << (bit_len(n - 1) - 1);
}

void
merkle_leaf_hash(uint8_t out[H], const void *leaf, size_t len)
{
	static const uint8_t prefix = 0x00;
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	if (len > 0)
		crypto_hash_sha256_update(&st, leaf, len);
	crypto_hash_sha256_final(&st, out);
}

void
merkle_node_hash(uint8_t out[H], const uint8_t left[H], const uint8_t right[H])
{
	static const uint8_t prefix = 0x01;
	crypto_hash_sha256_state st;

	/* Both inputs are absorbed before out is written, so out may alias either. */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &prefix, 1);
	crypto_hash_sha256_update(&st, left, H);
	crypto_hash_sha256_update(&st, right, H);
	crypto_hash_sha256_final(&st, out);
}

static void
empty_root(uint8_t out[H])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_final(&st, out);
}

/*
 * Where a generator reads the tree: leaf hashes only (every subtree recomputed), or
 * stored perfect subtrees (one read per subtree, so a proof costs O(log^2 n) reads).
 */
struct source {
	merkle_leaf_fn leaf;
	merkle_node_fn node;
	void *arg;
};

/* MTH(D[lo:hi]) for hi > lo; recursion depth is the subtree's height, at most 64. */
static int
subtree_hash(const struct source *src, uint64_t lo, uint64_t hi, uint8_t out[H])
{
	uint8_t left[H];
	uint64_t k, n = hi - lo;
	int rc;

	/*
	 * RFC 9162 only ever splits off perfect subtrees at multiples of their size, so a
	 * power-of-two range here is one stored node.
	 */
	if (src->node != NULL && (n & (n - 1)) == 0)
		return src->node(src->arg, bit_len(n) - 1, lo >> (bit_len(n) - 1), out);
	if (n == 1)
		return src->leaf(src->arg, lo, out);
	k = split_point(n);
	if ((rc = subtree_hash(src, lo, lo + k, left)) != PU_OK)
		return rc;
	if ((rc = subtree_hash(src, lo + k, hi, out)) != PU_OK)
		return rc;
	merkle_node_hash(out, left, out);
	return PU_OK;
}

int
merkle_root_from(uint8_t out[H], merkle_leaf_fn get, void *arg, uint64_t n)
{
	struct source src = { get, NULL, arg };

	if (n == 0) {
		empty_root(out);
		return PU_OK;
	}
	return subtree_hash(&src, 0, n, out);
}

struct leaf_array {
	const uint8_t *hashes;
};

static int
array_leaf(void *arg, uint64_t index, uint8_t out[H])
{
	const struct leaf_array *a = arg;

	memcpy(out, a->hashes + index * H, H);
	return PU_OK;
}

void
merkle_root(uint8_t out[H], const uint8_t *leaf_hashes, uint64_t n)
{
	struct leaf_array a = { leaf_hashes };

	/* array_leaf cannot fail, so neither can this. */
	(void)merkle_root_from(out, array_leaf, &a, n);
}

void
merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int
merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf_hash[H])
{
	unsigned n_made;

	return merkle_frontier_append_nodes(f, leaf_hash, NULL, &n_made);
}

int
merkle_frontier_append_nodes(struct merkle_frontier *f, const uint8_t leaf_hash[H],
    uint8_t made[MERKLE_MAX_LEVELS][H], unsigned *n_made)
{
	uint8_t node[H];

	*n_made = 0;
	if (f->size == UINT64_MAX)
		return PU_ERR_TOO_LARGE;
	memcpy(node, leaf_hash, H);
	/*
	 * Like a binary counter's carry: each trailing 1 bit of the old size is a perfect
	 * subtree as tall as the one being built, now complete with its right sibling.
	 */
	for (uint64_t s = f->size; s & 1; s >>= 1) {
		merkle_node_hash(node, f->nodes[--f->n_nodes], node);
		if (made != NULL)
			memcpy(made[*n_made], node, H);
		(*n_made)++;
	}
	memcpy(f->nodes[f->n_nodes++], node, H);
	f->size++;
	return PU_OK;
}

int
merkle_frontier_load(struct merkle_frontier *f, uint64_t size, merkle_node_fn get, void *arg)
{
	uint64_t start = 0;
	int rc;

	merkle_frontier_init(f);
	/* One perfect subtree per set bit of size, the largest (leftmost) first. */
	for (unsigned level = 64; level-- > 0;) {
		if (!(size >> level & 1))
			continue;
		if ((rc = get(arg, level, start >> level, f->nodes[f->n_nodes])) != PU_OK) {
			merkle_frontier_init(f);
			return rc;
		}
		f->n_nodes++;
		start += (uint64_t)1 << level;
	}
	f->size = size;
	return PU_OK;
}

void
merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[H])
{
	if (f->n_nodes == 0) {
		empty_root(out);
		return;
	}
	/*
	 * The leftmost node is the left child of the root (the largest power of two below
	 * size); the rest of the tree hangs to its right the same way, so fold from the right.
	 */
	memcpy(out, f->nodes[f->n_nodes - 1], H);
	for (unsigned i = f->n_nodes - 1; i-- > 0;)
		merkle_node_hash(out, f->nodes[i], out);
}

static int
inclusion_shape(uint64_t index, uint64_t size, struct shape *s)
{
	if (index >= size)
		return PU_ERR_PROOF_INDEX;
	s->inner = bit_len(index ^ (size - 1));
	s->border = ones(shr(index, s->inner));
	s->seed_in_proof = 0;
	return PU_OK;
}

static int
consistency_shape(uint64_t size1, uint64_t size2, struct shape *s)
{
	unsigned shift;

	if (size1 > size2)
		return PU_ERR_PROOF_SHRINK;
	if (size1 == 0)
		return PU_ERR_PROOF_EMPTY_TREE;
	memset(s, 0, sizeof(*s));
	if (size1 == size2)
		return PU_OK;
	/*
	 * The proof is the inclusion proof of leaf size1 - 1 in the new tree, starting at the
	 * level of the largest perfect subtree that ends the old tree (2^shift leaves). That
	 * subtree's hash comes first, unless it is the whole old tree, whose root the
	 * verifier already holds. The paths diverge above level shift, as size2 > size1.
	 */
	shift = trailing_zeros(size1);
	s->inner = bit_len((size1 - 1) ^ (size2 - 1)) - shift;
	s->border = ones(shr(size1 - 1, s->inner + shift));
	s->seed_in_proof = size1 != (uint64_t)1 << shift;
	return PU_OK;
}

int
merkle_inclusion_proof_len(uint64_t index, uint64_t size, size_t *len)
{
	struct shape s;
	int rc = inclusion_shape(index, size, &s);

	*len = rc == PU_OK ? s.inner + s.border : 0;
	return rc;
}

int
merkle_consistency_proof_len(uint64_t size1, uint64_t size2, size_t *len)
{
	struct shape s;
	int rc = consistency_shape(size1, size2, &s);

	*len = rc == PU_OK ? s.seed_in_proof + s.inner + s.border : 0;
	return rc;
}

/* Hashes were found root-first; a proof lists them leaf-first. */
static void
reverse(uint8_t *proof, size_t n)
{
	uint8_t t[H];

	for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
		memcpy(t, proof + i * H, H);
		memcpy(proof + i * H, proof + (j - 1) * H, H);
		memcpy(proof + (j - 1) * H, t, H);
	}
}

static int
inclusion_proof(const struct source *src, uint64_t index, uint64_t size,
    uint8_t proof[MERKLE_MAX_PROOF * H], size_t *proof_len)
{
	uint64_t lo = 0, hi = size;
	size_t n = 0;
	int rc;

	*proof_len = 0;
	if (index >= size)
		return PU_ERR_PROOF_INDEX;
	/* Down from the root: each subtree left aside is the sibling of the leaf's path. */
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);

		if (index < lo + k) {
			rc = subtree_hash(src, lo + k, hi, proof + n * H);
			hi = lo + k;
		} else {
			rc = subtree_hash(src, lo, lo + k, proof + n * H);
			lo += k;
		}
		if (rc != PU_OK)
			return rc;
		n++;
	}
	reverse(proof, n);
	*proof_len = n;
	return PU_OK;
}

static int
consistency_proof(const struct source *src, uint64_t size1, uint64_t size2,
    uint8_t proof[MERKLE_MAX_PROOF * H], size_t *proof_len)
{
	uint64_t lo = 0, hi = size2, m = size1;
	size_t n = 0;
	int whole = 1, rc;	/* whole: RFC 9162's b, the old tree is D[0:m] itself */

	*proof_len = 0;
	if (size1 > size2)
		return PU_ERR_PROOF_SHRINK;
	if (size1 == 0)
		return PU_ERR_PROOF_EMPTY_TREE;
	/* SUBPROOF(m, D[lo:hi], whole), unrolled; m counts the old leaves from lo. */
	while (m != hi - lo) {
		uint64_t k = split_point(hi - lo);

		if (m <= k) {
			rc = subtree_hash(src, lo + k, hi, proof + n * H);
			hi = lo + k;
		} else {
			rc = subtree_hash(src, lo, lo + k, proof + n * H);
			lo += k;
			m -= k;
			whole = 0;
		}
		if (rc != PU_OK)
			return rc;
		n++;
	}
	if (!whole) {
		if ((rc = subtree_hash(src, lo, hi, proof + n * H)) != PU_OK)
			return rc;
		n++;
	}
	reverse(proof, n);
	*proof_len = n;
	return PU_OK;
}

int
merkle_inclusion_proof(merkle_leaf_fn get, void *arg, uint64_t index, uint64_t size,
    uint8_t proof[MERKLE_MAX_PROOF * H], size_t *proof_len)
{
	struct source src = { get, NULL, arg };

	return inclusion_proof(&src, index, size, proof, proof_len);
}

int
merkle_inclusion_proof_nodes(merkle_node_fn get, void *arg, uint64_t index, uint64_t size,
    uint8_t proof[MERKLE_MAX_PROOF * H], size_t *proof_len)
{
	struct source src = { NULL, get, arg };

	return inclusion_proof(&src, index, size, proof, proof_len);
}

int
merkle_consistency_proof(merkle_leaf_fn get, void *arg, uint64_t size1, uint64_t size2,
    uint8_t proof[MERKLE_MAX_PROOF * H], size_t *proof_len)
{
	struct source src = { get, NULL, arg };

	return consistency_proof(&src, size1, size2, proof, proof_len);
}

int
merkle_consistency_proof_nodes(merkle_node_fn get, void *arg, uint64_t size1, uint64_t size2,
    uint8_t proof[MERKLE_MAX_PROOF * H], size_t *proof_len)
{
	struct source src = { NULL, get, arg };

	return consistency_proof(&src, size1, size2, proof, proof_len);
}

/* Up a path whose direction at level i is bit i of index. */
static void
chain_inner(uint8_t seed[H], const uint8_t *proof, unsigned n, uint64_t index)
{
	for (unsigned i = 0; i < n; i++, proof += H) {
		if ((index >> i) & 1)
			merkle_node_hash(seed, proof, seed);
		else
			merkle_node_hash(seed, seed, proof);
	}
}

/*
 * The same path, keeping only the left siblings: what the subtree was before the leaves to
 * the right of index were added, i.e. the old tree's side of a consistency proof.
 */
static void
chain_inner_right(uint8_t seed[H], const uint8_t *proof, unsigned n, uint64_t index)
{
	for (unsigned i = 0; i < n; i++, proof += H)
		if ((index >> i) & 1)
			merkle_node_hash(seed, proof, seed);
}

/* Along the right edge of the tree every sibling is on the left. */
static void
chain_border_right(uint8_t seed[H], const uint8_t *proof, unsigned n)
{
	for (unsigned i = 0; i < n; i++, proof += H)
		merkle_node_hash(seed, proof, seed);
}

static int
root_match(const uint8_t got[H], const uint8_t want[H])
{
	return ct_equal(got, want, H) ? PU_OK : PU_ERR_PROOF_ROOT;
}

int
merkle_verify_inclusion(const uint8_t leaf_hash[H], uint64_t index, uint64_t size,
    const uint8_t *proof, size_t proof_len, const uint8_t root[H])
{
	struct shape s;
	uint8_t h[H];
	int rc;

	if ((rc = inclusion_shape(index, size, &s)) != PU_OK)
		return rc;
	if (proof_len != (size_t)s.inner + s.border)
		return PU_ERR_PROOF_LENGTH;
	memcpy(h, leaf_hash, H);
	chain_inner(h, proof, s.inner, index);
	chain_border_right(h, proof + (size_t)s.inner * H, s.border);
	return root_match(h, root);
}

int
merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t *proof,
    size_t proof_len, const uint8_t root1[H], const uint8_t root2[H])
{
	struct shape s;
	uint8_t seed[H], h[H];
	uint64_t mask;
	unsigned shift;
	int rc;

	if ((rc = consistency_shape(size1, size2, &s)) != PU_OK)
		return rc;
	if (proof_len != (size_t)s.seed_in_proof + s.inner + s.border)
		return PU_ERR_PROOF_LENGTH;
	if (size1 == size2)
		return root_match(root1, root2);
	if (s.seed_in_proof) {
		memcpy(seed, proof, H);
		proof += H;
	} else {
		memcpy(seed, root1, H);
	}
	/* The seed is a node at level shift on the path to leaf size1 - 1. */
	shift = trailing_zeros(size1);
	mask = (size1 - 1) >> shift;
	memcpy(h, seed, H);
	chain_inner_right(h, proof, s.inner, mask);
	chain_border_right(h, proof + (size_t)s.inner * H, s.border);
	if ((rc = root_match(h, root1)) != PU_OK)
		return rc;
	memcpy(h, seed, H);
	chain_inner(h, proof, s.inner, mask);
	chain_border_right(h, proof + (size_t)s.inner * H, s.border);
	return root_match(h, root2);
}
