/*
 * audit.h - the audit log in SQLite (DESIGN.md §8, PROTOCOL.md §8): every event a leaf of
 * an RFC 9162 Merkle tree, appended in the same transaction as the change it records, and
 * a checkpoint (a C2SP signed note) signed with the gateway's CHECKPOINT key at the end
 * of every commit batch that added leaves.
 *
 * Tables: audit (leaf index, case id, encoded AuditEntry, leaf hash), audit_nodes (every
 * complete perfect subtree above the leaves, so a proof costs O(log^2 n) reads) and
 * checkpoints (one signed note per batch). The writer keeps the tree's frontier in memory;
 * a request that rolls back restores the frontier it started from (audit_log.tree is a
 * plain value for that reason). The entry is completed here with the index of the
 * previous leaf of the same case, so that a case's trail is a chain.
 */
#ifndef PU_AUDIT_H
#define PU_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

#include "audit.pb-c.h"
#include "frames.pb-c.h"
#include "crypto.h"
#include "merkle.h"
#include "note.h"

/* What checkpoints are signed with: the gateway's CHECKPOINT key, named by its origin. */
struct audit_signer {
	char origin[128];			/* the log's name and the key's name */
	const uint8_t *secret_key;		/* secret memory, owned by the caller */
	uint8_t public_key[PU_PUBLIC_KEY_LEN];
};

/*
 * The writer's recent tree nodes, so that the proofs of a batch's receipts are read from
 * memory: every leaf and subtree it appends or reads goes in (direct-mapped, newest wins),
 * and an entry counts only while it lies inside the current tree, so nodes of a rolled
 * back request or batch are never served (they are overwritten when re-appended).
 */
#define AUDIT_NODE_CACHE_BITS 12
#define AUDIT_NODE_CACHE (1u << AUDIT_NODE_CACHE_BITS)

struct audit_node {
	uint64_t key;				/* level << 58 | index, plus one; 0: empty */
	uint8_t hash[MERKLE_HASH_LEN];
};

struct audit_log {
	struct merkle_frontier tree;		/* every appended leaf, committed or not */
	struct audit_node nodes[AUDIT_NODE_CACHE];
	struct audit_signer signer;
	uint64_t signed_size;			/* size of the newest checkpoint */
	char checkpoint[NOTE_MAX_LEN + 1];	/* the newest signed note, NUL-terminated */
	char witnessed[NOTE_MAX_LEN + 1];	/* the newest cosigned one with its lines, or "" */
	int64_t witnessed_at;			/* when a witness last cosigned (atomic), 0: never */
};

int audit_schema(struct db *db);
/*
 * Load the tree of an open database and check it against its newest checkpoint: the leaf
 * count, the stored subtrees and the signed size and root must agree, or the database
 * was changed behind the gateway's back (PU_ERR_AUDIT_STATE; the gateway refuses to
 * start rather than sign a tree it cannot vouch for).
 */
int audit_open(struct audit_log *log, struct db *db, const struct audit_signer *signer);
/*
 * Append the encoded entry (malloc'd); *index is its leaf index (0-based). Inside a
 * transaction. On success *entry is replaced by the leaf as appended (completed with its
 * case and chain), which the receipt or ACK carries so the client can check its proof.
 */
int audit_append(struct audit_log *log, struct db *db, uint8_t **entry, size_t *len,
    uint64_t *index);
/* Sign and store a checkpoint of the current tree if it grew; inside the transaction. */
int audit_checkpoint(struct audit_log *log, struct db *db, int64_t now);
/* Inclusion proof of leaf index in the tree of size leaves, from the stored subtrees. */
int audit_inclusion_proof(struct db *db, uint64_t index, uint64_t size,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len);
/* The same in the writer's current tree (log->tree.size leaves), recent nodes from memory. */
int audit_writer_proof(struct audit_log *log, struct db *db, uint64_t index,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len);
int audit_consistency_proof(struct db *db, uint64_t size1, uint64_t size2,
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len);
/* The newest stored checkpoint (malloc'd, NUL-terminated) and its size; none: NULL, 0. */
int audit_newest_checkpoint(struct db *db, char **note, uint64_t *size);
/*
 * What a receipt for a leaf appended earlier carries: the newest stored checkpoint (which
 * holds every stored leaf), the leaf's inclusion proof in it and the leaf (malloc'd into
 * *leaf, freeing what was there). PU_ERR_AUDIT_STATE when the leaf is not in the log.
 */
int audit_stored_proof(struct db *db, uint64_t index, char checkpoint[NOTE_MAX_LEN + 1],
    uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], size_t *proof_len, uint8_t **leaf,
    size_t *leaf_len);

/* Entries per answer at most (AuditQuery.limit). */
#define AUDIT_QUERY_MAX 1000

/* PU_OK, or PU_ERR_AUDIT_QUERY for a query with two filters, no purpose or a bad range. */
int audit_query_check(const Puente__AuditQuery *q);
/*
 * The encoded AuditAnswer (malloc'd) to an encoded AuditQuery whose own leaf, query_index,
 * is committed: entries up to the newest checkpoint, with the proofs asked for.
 * PU_ERR_AUDIT_ROLLBACK when the auditor trusts a larger tree than the gateway holds.
 */
int audit_answer(struct db *db, const uint8_t *query, size_t query_len, uint64_t query_index,
    uint8_t **out, size_t *out_len);

/*
 * The newest checkpoint witnesses cosigned: the gateway's note followed by every stored
 * cosignature line of it (malloc'd, NUL-terminated), and when the latest came. None: NULL.
 */
int audit_witnessed(struct db *db, char **note, int64_t *at);
/*
 * Store a witness's cosignature (writer): note is one of this gateway's checkpoints, byte for
 * byte, with a valid cosignature line by witness (key witness_pk). PU_ERR_COSIGN_CHECKPOINT
 * for a checkpoint the gateway never signed; PU_ERR_NOTE_* for a cosignature that does not
 * verify.
 */
int audit_cosign(struct audit_log *log, struct db *db, const uint8_t *note, size_t len,
    const char *witness, const uint8_t witness_pk[32], int64_t now);
/* The encoded CheckpointAnswer: newest checkpoint, consistency from known_size, witnessed. */
int audit_head(struct db *db, uint64_t known_size, uint8_t **out, size_t *out_len);

/* Encode an entry built by the caller (malloc'd bytes). */
int audit_encode(const Puente__AuditEntry *e, uint8_t **out, size_t *len);

#endif
