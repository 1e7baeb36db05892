/*
 * merkle.h - the audit log's Merkle tree (RFC 9162 §2.1, the same hashing as RFC 6962):
 * leaf and node hashes, tree heads, an in-memory frontier for the writer, and inclusion and
 * consistency proofs, generated from leaf hashes fetched through a callback and verified
 * by small pure functions that check index, sizes and exact proof length before hashing.
 *
 * No I/O and no globals. Sizes and indexes are uint64_t as in RFC 9162. A proof is
 * proof_len hashes of MERKLE_HASH_LEN bytes laid end to end (hash i at proof + 32 * i),
 * lowest level first; a flat byte array, so const-qualified pointers pass without casts.
 */
#ifndef PU_MERKLE_H
#define PU_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
/* A tree of at most 2^64 - 1 leaves has at most 64 levels below its root. */
#define MERKLE_MAX_LEVELS 64
/* Longest proof: one hash per level, plus the old root's subtree in a consistency proof. */
#define MERKLE_MAX_PROOF (MERKLE_MAX_LEVELS + 1)

/*
 * Where a proof generator reads leaf hashes: store the hash of leaf `index` in out and
 * return PU_OK, or return a negative pu_err (e.g. the database failed), which the
 * generator hands back unchanged. Called only for index < the tree size asked about.
 */
typedef int (*merkle_leaf_fn)(void *arg, uint64_t index, uint8_t out[MERKLE_HASH_LEN]);

/*
 * Where generators read a tree that keeps its perfect subtrees: the hash of the subtree of
 * 2^level leaves that starts at leaf index << level (level 0 is the leaf hash itself).
 * Called only for subtrees inside the tree size asked about.
 */
typedef int (*merkle_node_fn)(void *arg, unsigned level, uint64_t index,
    uint8_t out[MERKLE_HASH_LEN]);

/* SHA-256(0x00 || leaf). */
void merkle_leaf_hash(uint8_t out[MERKLE_HASH_LEN], const void *leaf, size_t len);
/* SHA-256(0x01 || left || right). out may alias left or right. */
void merkle_node_hash(uint8_t out[MERKLE_HASH_LEN], const uint8_t left[MERKLE_HASH_LEN],
    const uint8_t right[MERKLE_HASH_LEN]);

/*
 * MTH of the n leaves whose hashes lie end to end in leaf_hashes: SHA-256 of the empty string when
 * n is 0, else split at the largest power of two below n (RFC 9162 §2.1.1).
 */
void merkle_root(uint8_t out[MERKLE_HASH_LEN], const uint8_t *leaf_hashes, uint64_t n);
/* The same over leaves read through get; PU_OK or get's error. */
int merkle_root_from(uint8_t out[MERKLE_HASH_LEN], merkle_leaf_fn get, void *arg, uint64_t n);

/*
 * The writer's view of the tree: the roots of the perfect subtrees that make up the first
 * `size` leaves, largest (leftmost) first, one per set bit of size. Appending costs
 * O(log n) hashes and the whole state is at most 64 hashes.
 */
struct merkle_frontier {
	uint64_t size;
	unsigned n_nodes;
	uint8_t nodes[MERKLE_MAX_LEVELS][MERKLE_HASH_LEN];
};

void merkle_frontier_init(struct merkle_frontier *f);
/* PU_OK, or PU_ERR_TOO_LARGE when the tree already holds 2^64 - 1 leaves. */
int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf_hash[MERKLE_HASH_LEN]);
/*
 * The same, telling which perfect subtrees the leaf completed, for a store that keeps
 * them: made[l - 1] is the subtree of level l, for l = 1 .. *n_made, whose index is
 * (f->size >> l) - 1 after the append.
 */
int merkle_frontier_append_nodes(struct merkle_frontier *f,
    const uint8_t leaf_hash[MERKLE_HASH_LEN], uint8_t made[MERKLE_MAX_LEVELS][MERKLE_HASH_LEN],
    unsigned *n_made);
/* The frontier of a tree of size leaves from its stored perfect subtrees; PU_OK or get's error. */
int merkle_frontier_load(struct merkle_frontier *f, uint64_t size, merkle_node_fn get, void *arg);
/* The root of the first f->size leaves, equal to merkle_root() over them. */
void merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[MERKLE_HASH_LEN]);

/*
 * The exact number of hashes in a valid proof. PU_ERR_PROOF_INDEX when index >= size;
 * for consistency PU_ERR_PROOF_EMPTY_TREE when size1 is 0 and PU_ERR_PROOF_SHRINK when
 * size1 > size2.
 */
int merkle_inclusion_proof_len(uint64_t index, uint64_t size, size_t *len);
int merkle_consistency_proof_len(uint64_t size1, uint64_t size2, size_t *len);

/*
 * PATH(index, D[0:size]) of RFC 9162 §2.1.3.1: *proof_len hashes into proof, leaves read
 * through get. Reads every leaf of the tree once (O(size) hashes).
 */
int merkle_inclusion_proof(merkle_leaf_fn get, void *arg, uint64_t index, uint64_t size,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len);
/* PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1; empty when size1 == size2. */
int merkle_consistency_proof(merkle_leaf_fn get, void *arg, uint64_t size1, uint64_t size2,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len);
/* The same two from stored perfect subtrees: O(log^2 size) reads instead of size. */
int merkle_inclusion_proof_nodes(merkle_node_fn get, void *arg, uint64_t index, uint64_t size,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len);
int merkle_consistency_proof_nodes(merkle_node_fn get, void *arg, uint64_t size1,
    uint64_t size2, uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len);

/*
 * RFC 9162 §2.1.3.2: PU_OK when proof shows leaf_hash at index in the tree of that size
 * and root. Else, checked in this order and before any hashing, PU_ERR_PROOF_INDEX
 * (index >= size) or PU_ERR_PROOF_LENGTH (not exactly the expected number of hashes);
 * then PU_ERR_PROOF_ROOT.
 */
int merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_LEN], uint64_t index,
    uint64_t size, const uint8_t *proof, size_t proof_len,
    const uint8_t root[MERKLE_HASH_LEN]);
/*
 * RFC 9162 §2.1.4.2: PU_OK when proof shows the tree (size1, root1) is a prefix of
 * (size2, root2). Else, before any hashing, PU_ERR_PROOF_SHRINK (size1 > size2),
 * PU_ERR_PROOF_EMPTY_TREE (size1 == 0: there is nothing to prove) or PU_ERR_PROOF_LENGTH;
 * then PU_ERR_PROOF_ROOT when either root does not match. Equal sizes need an empty proof
 * and equal roots.
 */
int merkle_verify_consistency(uint64_t size1, uint64_t size2,
    const uint8_t *proof, size_t proof_len,
    const uint8_t root1[MERKLE_HASH_LEN], const uint8_t root2[MERKLE_HASH_LEN]);

#endif
