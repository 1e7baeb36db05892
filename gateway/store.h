/*
 * store.h - the durable queue in SQLite (DESIGN.md §7).
 *
 * Two threads own the database: a writer that commits in groups (many messages per fsync,
 * each message with its queue rows and its audit leaf, one signed checkpoint per batch)
 * and a reader for lookups, inbox listings and deliveries, so reads never wait for an
 * fsync. The event loop never touches the disk: it posts a request and gets it back,
 * completed, through a uv_async callback. A request carries the session's id, never a
 * pointer into the loop's objects; whoever holds a request owns it.
 *
 * A one-chunk message lives in its row; a larger one in a spool file per message, written
 * chunk by chunk and fsynced (then renamed into place) before the commit that references
 * it. Recovery deletes spool files no row references. Two more threads check each chunk
 * against its manifest hash and then write it, in the order posted: neither the loop nor
 * the writer spends a megabyte's hashing and copying on a large upload, and hashing one
 * chunk overlaps writing the one before.
 */
#ifndef PU_STORE_H
#define PU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "audit.h"
#include "header.h"

/*
 * A recipient's inbox, oldest first: (recipient, now, limit). It walks deliveries_inbox in
 * arrival order and stops at the limit, whatever the backlog; here so that a test can ask
 * SQLite for its plan (test_resilience).
 */
#define STORE_INBOX_COLUMNS \
	"m.msg_id, m.sender, m.type, m.case_id, m.created_at, m.respond_by, m.content_length"
#define STORE_INBOX_SQL \
	"SELECT " STORE_INBOX_COLUMNS " FROM deliveries d CROSS JOIN messages m " \
	"ON m.seq = d.seq AND m.msg_id = d.msg_id " \
	"WHERE d.recipient = ? AND d.state < 2 AND m.expires_at > ? ORDER BY d.seq LIMIT ?"

#define STORE_AGENCY_MAX 40
#define STORE_CASE_MAX 64
/* A SUBMIT request comes with this much room for its receipt (a usual one is under 2 KiB). */
#define STORE_RECEIPT_ROOM 4096

enum store_kind {
	STORE_LOOKUP,		/* reader: is this msg_id stored?  -> found, same_header, receipt */
	STORE_CHUNK,		/* spool: check chunk `index` of a multi-chunk message against
				 * chunk_hash, then write it to the message's spool file */
	STORE_SUBMIT,		/* writer: store, enqueue, audit, sign the receipt -> receipt */
	STORE_ABORT,		/* spool: forget a half-received message's spool file */
	STORE_INBOX,		/* reader: messages queued for agency -> entries */
	STORE_FETCH,		/* reader: a queued message's header for agency -> data */
	STORE_READ_CHUNK,	/* reader: chunk `index` of msg_id -> data */
	STORE_DELIVERED,	/* writer: mark delivered to agency and audit the fetch */
	STORE_RECEIPT,		/* writer: record a verified recipient receipt -> audit_index */
	STORE_RECEIPTS,		/* reader: recorded receipts of a message sent by agency -> list */
	STORE_AUDIT,		/* writer: append an audit leaf (session events) */
	STORE_SWEEP,		/* writer: expire, notify non-delivery, purge past retention */
	STORE_NOTICES,		/* reader: unsent non-delivery notices for a sender -> list */
	STORE_NOTICES_SENT,	/* writer: mark agency's notices as sent */
	STORE_CHECKPOINT,	/* reader: a PASSIVE WAL checkpoint, off the writer's path */
	STORE_OPEN,		/* writer: audit an open statement of a message delivered to agency */
	STORE_AUDIT_ANSWER,	/* reader: data = an AuditQuery whose leaf is audit_index -> data =
				 * the encoded AuditAnswer */
	STORE_LOG_HEAD,		/* reader: audit_index = a size the asker holds -> data = the
				 * encoded CheckpointAnswer */
	STORE_COSIGN,		/* writer: data = a cosigned checkpoint note by witness agency
				 * (key witness_pk) -> stored */
};

struct store_inbox_entry {
	uint8_t msg_id[PU_MSG_ID_LEN];
	char sender[STORE_AGENCY_MAX];
	int type;
	char case_id[STORE_CASE_MAX];
	int64_t created_at, respond_by;
	uint64_t content_length;
};

struct store_req {
	enum store_kind kind;
	uint64_t session;		/* the session that asked: an id, never a pointer */
	uint64_t tag;			/* the asker's own correlation value */
	struct store_req *next;		/* queue link, owned by whichever queue holds it */

	uint8_t msg_id[PU_MSG_ID_LEN];
	uint8_t header_hash[PU_HASH_LEN];
	char agency[STORE_AGENCY_MAX];	/* sender (SUBMIT, RECEIPTS) or recipient */
	uint32_t index;			/* CHUNK, READ_CHUNK; CHECKPOINT: who asked */
	uint8_t chunk_hash[PU_HASH_LEN];	/* CHUNK: the manifest's hash of this chunk */
	uint64_t upload;		/* CHUNK, ABORT, SUBMIT: which of the session's uploads */
	uint32_t limit;			/* INBOX */

	/* SUBMIT: what the header says, copied */
	int type, adoption_scope;
	char case_id[STORE_CASE_MAX];
	int64_t created_at, expires_at, respond_by;
	uint8_t in_reply_to[PU_MSG_ID_LEN];
	int has_reply;
	uint64_t content_length;
	uint32_t chunk_count;
	/* SUBMIT: the header's recipients; RECEIPT out: those a federal review released */
	char recipients[PU_MAX_RECIPIENTS][STORE_AGENCY_MAX];
	size_t n_recipients;
	struct store_inbox_entry released;	/* RECEIPT out, with n_recipients > 0 */
	uint64_t directory_serial;
	int outcome;			/* RECEIPT: ReceiptOutcome */
	int releases_hold;		/* RECEIPT: PFPNNA opened it: other recipients may now fetch */
	char hold_for[STORE_AGENCY_MAX];	/* SUBMIT: the federal recipient that must open it first */
	uint8_t *audit_leaf;		/* SUBMIT, RECEIPT, DELIVERED, AUDIT: encoded AuditEntry */
	size_t audit_leaf_len;

	uint8_t *header;		/* SUBMIT in, FETCH out: the encoded SignedHeader */
	size_t header_len;
	/* chunk data (CHUNK, SUBMIT of a one-chunk message, READ_CHUNK out) or the recipient
	 * receipt (RECEIPT) */
	uint8_t *data;
	size_t data_len;

	/* results */
	int rc;				/* PU_OK or a negative enum pu_err */
	int found, same_header;		/* LOOKUP */
	/* LOOKUP with has_reply: what the gateway knows of the message answered */
	int original_found, original_to_me;
	char original_sender[STORE_AGENCY_MAX];
	char original_case[STORE_CASE_MAX];
	uint64_t audit_index;
	int64_t accepted_at;
	uint8_t *receipt;		/* the gateway receipt (SUBMIT, LOOKUP), receipt_cap bytes */
	size_t receipt_cap;		/* a SUBMIT's comes allocated by the loop (see checkpoint) */
	/* RECEIPT, OPEN (and inside a SUBMIT's receipt): the batch's checkpoint and the
	 * inclusion proof of the request's leaf in it. Held in the request, not allocated by
	 * the writer: a block one thread allocates and another frees makes the two contend
	 * for the first one's malloc arena. */
	char checkpoint[NOTE_MAX_LEN + 1];
	uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN];
	size_t proof_len;
	uint8_t witness_pk[32];		/* COSIGN */
	size_t receipt_len;		/* bytes of receipt used */
	struct store_inbox_entry *entries;	/* INBOX */
	size_t n_entries;
	uint64_t expired, purged, overdue;	/* SWEEP */
	uint32_t retention_days;	/* SWEEP */
	uint8_t **list;			/* RECEIPTS, NOTICES: encoded Signed objects */
	size_t *list_len;
	size_t n_list;
};

/* What the writer signs receipts with (the gateway's RECEIPT key) and checkpoints with. */
struct store_signer {
	char gateway_id[STORE_AGENCY_MAX];
	uint8_t key_id[PU_KEY_ID_LEN];
	const uint8_t *secret_key;	/* secret memory, owned by the caller, outlives the store */
	struct audit_signer audit;	/* the CHECKPOINT key, likewise */
};

struct store_limits {
	unsigned batch_max;		/* messages per group commit */
	unsigned delay_us;		/* how long the writer may wait to fill a batch */
	uint64_t sender_quota;		/* queued ciphertext bytes per sender */
	uint64_t wal_presize;		/* bytes the WAL file is given at start, at most */
};

/*
 * Called on the loop thread with the requests completed since the last call, linked by
 * next (so that their answers can leave in one write per session); the callee owns them.
 */
typedef void (*store_done_fn)(void *arg, struct store_req *list);

struct store;

int store_open(struct store **out, const char *data_dir, uv_loop_t *loop,
    const struct store_signer *signer, const struct store_limits *lim,
    store_done_fn done, void *arg);
/* Finish every queued request, stop the threads, close the database. */
void store_close(struct store *s);
/* Hand a request over (the store owns it until it comes back through done). */
void store_post(struct store *s, struct store_req *r);

struct store_req *store_req_new(enum store_kind kind, uint64_t session, uint64_t tag);
void store_req_free(struct store_req *r);

/* Counters for metrics (read on the loop thread; updated atomically). */
struct store_stats {
	uint64_t commits, messages, audit_leaves;
	int64_t witnessed_at;		/* when a witness last cosigned; 0: never */
};
void store_stats(struct store *s, struct store_stats *out);

/* At start, before the threads: call fn with every stored msg_id (for the id filter). */
int store_each_msg_id(const char *data_dir, void (*fn)(void *, const uint8_t *), void *arg);

#endif
