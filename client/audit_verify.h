/*
 * audit_verify.h - checking the gateway's audit log from outside it (DESIGN.md §8).
 *
 * A full replay takes the answers of a query without filter, in order, recomputes every
 * leaf hash and the whole tree from the leaves, checks each checkpoint the gateway signed
 * along the way (so a change is located to one commit batch), every case's chain, and
 * that the log extends the checkpoint the auditor already trusts. A case trace checks
 * each entry's inclusion proof in a signed checkpoint and that the entries form an
 * unbroken chain. Every failure leaves one line in problem that names what is wrong.
 *
 * Pure logic: no I/O. The caller feeds answers from a live session or an export file.
 */
#ifndef PU_AUDIT_VERIFY_H
#define PU_AUDIT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "audit.pb-c.h"
#include "frames.pb-c.h"
#include "receipts.pb-c.h"
#include "directory.h"
#include "merkle.h"
#include "note.h"

#define AVERIFY_PROBLEM_MAX 512

#define AVERIFY_MAX_WITNESSES 16

/* A witness the directory lists: its id (the cosignature's key name) and CHECKPOINT key. */
struct averify_witness {
	char name[64];
	uint8_t public_key[32];
	/* 0 while the witness is suspended or revoked: its cosignature vouches for nothing,
	 * but a line of its that does not verify still shows a rewrite */
	int counted;
};

/* Whose checkpoints these are: the gateway's log origin and CHECKPOINT public key. */
struct averify_log {
	char gateway_id[64];	/* the directory id of the gateway keeping it, or "" */
	char origin[128];
	uint8_t public_key[32];
	struct averify_witness witnesses[AVERIFY_MAX_WITNESSES];
	size_t n_witnesses;
};

/*
 * The witnesses directory d lists, each with its CHECKPOINT key current at now, into
 * log->witnesses. A suspended or revoked witness vouches for nothing meanwhile: its
 * cosignatures are not counted. A line of its that does not verify still shows a rewrite:
 * the gateway keeps only cosignatures that verified when they arrived.
 */
void averify_witnesses(struct averify_log *log, const struct directory *d, int64_t now);

struct case_table;

struct averify {
	struct averify_log log;
	struct merkle_frontier tree;		/* recomputed from the leaves */
	struct note trusted;			/* the checkpoint trusted before this run */
	int has_trusted;
	struct note newest;			/* the newest checkpoint verified in this run */
	int has_newest;
	struct note witnessed;			/* the checkpoint witnesses cosigned (first page) */
	int has_witnessed;
	char cosigners[AVERIFY_MAX_WITNESSES][64];	/* who cosigned it, verified */
	size_t n_cosigners;
	struct case_table *cases;		/* last leaf index + 1 of every case seen */
	uint64_t events[32];			/* entries per AuditEvent value */
	uint64_t checkpoints;			/* checkpoints checked against the replay */
	char problem[AVERIFY_PROBLEM_MAX];
};

/* trusted: the note kept from an earlier run (NULL: none; trust on first use). */
int averify_init(struct averify *v, const struct averify_log *log, const char *trusted);
void averify_free(struct averify *v);
/*
 * The next page of a full replay (records from index v->tree.size on). PU_OK, or the
 * first problem: PU_ERR_AUDIT_GAP, PU_ERR_AUDIT_LEAF, PU_ERR_AUDIT_CHAIN,
 * PU_ERR_AUDIT_ROLLBACK, PU_ERR_NOTE_* (a checkpoint that does not parse or verify), or
 * PU_ERR_NOTE_FORK (the log disagrees with the trusted checkpoint).
 */
int averify_page(struct averify *v, const Puente__AuditAnswer *a);
/* After the last page: the replayed tree must be exactly the newest checkpoint's. */
int averify_finish(struct averify *v);

/*
 * A filtered answer (case, agency or message): the answer's checkpoint is verified and
 * consistent with the trusted one, and every record's inclusion proof leads to its root.
 * For a case, the records must also form the case's unbroken chain: each names the one
 * before it (pass case_id, else NULL). *size_out gets the checkpoint's size.
 */
int averify_answer(struct averify *v, const Puente__AuditAnswer *a, const char *case_id);

/*
 * Parse text into n: a checkpoint of this log (its origin) signed by its key. PU_OK, or
 * PU_ERR_NOTE_* (PU_ERR_NOTE_OTHER_LOG for another log's).
 */
int averify_checkpoint(const struct averify_log *log, const char *text, struct note *n);

/*
 * One leaf as a receipt or ACK shows it: the checkpoint is this log's and signed, and proof
 * leads from entry (at index) to its root. *out gets the parsed checkpoint and *decoded the
 * entry (pb_free). PU_ERR_NOTE_* for the checkpoint, PU_ERR_PROOF_* for the proof,
 * PU_ERR_AUDIT_LEAF for an entry that does not decode.
 */
int averify_leaf_proof(const struct averify_log *log, const char *checkpoint, uint64_t index,
    const ProtobufCBinaryData *entry, const ProtobufCBinaryData *proof, size_t n_proof,
    struct note *out, Puente__AuditEntry **decoded);

/*
 * A gateway receipt (PROTOCOL.md §6.3): data decodes as a GatewayReceipt, its "store" leaf
 * is proven in its checkpoint (averify_leaf_proof), and that leaf records this message
 * stored: msg_id, header_hash, sender, outcome "ok". *n gets the checkpoint, *receipt and *entry the decoded
 * receipt and leaf (pb_free both). PU_ERR_PB_* for bytes that do not decode, the codes of
 * averify_leaf_proof, PU_ERR_RECEIPT_MISMATCH for a leaf of another event or message.
 */
int averify_gateway_receipt(const struct averify_log *log, const uint8_t *data, size_t len,
    const uint8_t msg_id[16], const uint8_t header_hash[32], const char *sender,
    struct note *n, Puente__GatewayReceipt **receipt, Puente__AuditEntry **entry);

/* A verified checkpoint's text as a NUL-terminated string (for the state file). */
int averify_note_string(const struct note *n, char *out, size_t n_out);

#endif
