/*
 * puente.h - libpuente-client, the stable interface of an agency's Puente client
 * (DESIGN.md §5, §7, §12): send case files, keep them in a local outbox until the gateway
 * has them, list and fetch what waits for the agency, and read the receipts.
 *
 * One handle per agency folder (the one `puente-keys add-agency` writes). Every call is
 * blocking and returns 0 or a negative error code of the project's table (proto/pu_err.h);
 * puente_error_detail() then says more in one line, never with personal data. Message ids
 * are 32 lowercase hex digits. Nothing here exposes OpenSSL, protobuf or SQLite types.
 * A program using it should ignore SIGPIPE: a gateway that hangs up mid-write is then an
 * error the call returns (PU_ERR_UNAVAILABLE), not the end of the program.
 *
 *	struct puente_client *c;
 *	if (puente_open(&c, "/srv/puente/MX-TLA-PPNNA", NULL) == 0) {
 *		puente_send(c, &req, &sent);
 *		puente_close(c);
 *	}
 */
#ifndef PUENTE_H
#define PUENTE_H

#include <stddef.h>
#include <stdint.h>

#define PUENTE_MSG_ID_HEX 33		/* 32 hex digits and the NUL */
#define PUENTE_ID_MAX 64		/* an agency or case id and the NUL */
#define PUENTE_PATH_MAX 4096
#define PUENTE_MAX_RECIPIENTS 16
#define PUENTE_DEFAULT_TIMEOUT_MS 30000

struct puente_client;

/* A long transfer advances: what is "seal", "send" or "fetch"; bytes done of total. */
typedef void (*puente_progress_fn)(void *arg, const char *what, uint64_t done, uint64_t total);
/* Something the user should know (a directory about to expire): one line, no personal data. */
typedef void (*puente_notice_fn)(void *arg, const char *line);

struct puente_options {
	const char *passphrase;		/* sealed key files; NULL: PUENTE_PASSPHRASE or /dev/tty */
	int timeout_ms;			/* longest wait for the gateway; 0: the default */
	puente_progress_fn progress;
	void *progress_arg;
	puente_notice_fn notice;
	void *notice_arg;
};

/*
 * Open the agency folder: keys, root key, directory (verified), gateway address, and the
 * local database client.db with its outbox/ folder (created 0700 when absent). o may be NULL.
 * Like sqlite3_open, *out is set even on failure, for puente_error_detail: close it always.
 */
int puente_open(struct puente_client **out, const char *agency_dir, const struct puente_options *o);
void puente_close(struct puente_client *c);
const char *puente_agency_id(const struct puente_client *c);
/* The last failure of c in one line (a JSON path and reason, the gateway's reason...). */
const char *puente_error_detail(const struct puente_client *c);
/* Stable name ("PU_ERR_POLICY"), human message, and sysexits(3) status of an error code. */
const char *puente_error_name(int code);
const char *puente_strerror(int code);
int puente_exit_code(int code);

/* Message types by CLI name ("case-transfer"; "case_transfer" too): 0 when unknown. */
int puente_type_from_name(const char *name);
/* "case_transfer" (the case file's spelling) for a MessageType value, "unknown" for none. */
const char *puente_type_name(int type);

enum puente_scope {
	PUENTE_SCOPE_DEFAULT = -1,	/* international for a review request, else none */
	PUENTE_SCOPE_NONE = 0,
	PUENTE_SCOPE_DOMESTIC = 1,
	PUENTE_SCOPE_INTERNATIONAL = 2,
};

struct puente_send_request {
	const char *const *to;		/* recipient agency ids (ignored by puente_reply) */
	size_t n_to;
	int type;			/* 0: the case file's */
	const char *case_id;		/* NULL: the case file's */
	const char *case_file;		/* the JSON case file (client/examples/README.md) */
	const char *const *attachments;	/* files, in the order of the case file's list */
	size_t n_attachments;
	int adoption_scope;		/* enum puente_scope */
	int64_t respond_by;		/* Unix time the recipient should answer by; 0: none */
	int64_t lifetime_s;		/* how long the gateway keeps trying; 0: 7 days (the most) */
};

enum puente_state {
	PUENTE_QUEUED = 1,		/* sealed in the outbox, not yet accepted */
	PUENTE_ACCEPTED = 2,		/* the gateway's verified receipt is held */
	PUENTE_REFUSED = 3,		/* the gateway refused it for good; error says why */
};

/* A message this agency sent, as its outbox knows it. */
struct puente_sent {
	char msg_id[PUENTE_MSG_ID_HEX];
	int state;			/* enum puente_state */
	int error;			/* refused: why; queued: the last attempt's failure, or 0 */
	int type;
	char case_id[PUENTE_ID_MAX];
	char recipients[PUENTE_MAX_RECIPIENTS][PUENTE_ID_MAX];
	size_t n_recipients;
	char in_reply_to[PUENTE_MSG_ID_HEX];	/* "" for none */
	int64_t created_at, expires_at, respond_by;
	uint64_t content_length;
	unsigned attempts;
	char gateway_id[PUENTE_ID_MAX];	/* from the gateway receipt, once accepted */
	uint64_t audit_index;
	int64_t accepted_at;
	unsigned n_receipts;		/* verified recipient receipts held */
};

enum puente_outcome {
	PUENTE_OUTCOME_NONE = 0,	/* no verdict (yet) */
	PUENTE_OUTCOME_OPENED = 1,
	PUENTE_OUTCOME_CANNOT_DECRYPT = 2,
	PUENTE_OUTCOME_COMMITMENT_MISMATCH = 3,
	PUENTE_OUTCOME_BAD_SIGNATURE = 4,
};
/* "opened", "cannot-decrypt", "commitment-mismatch", "bad-signature", "none". */
const char *puente_outcome_name(int outcome);

/* A recipient receipt whose signature, signer, message and MAC were verified. */
struct puente_receipt {
	char recipient[PUENTE_ID_MAX];
	int outcome;			/* enum puente_outcome */
	int64_t at;
};

/* What waits at the gateway: ids, types, agencies, dates, sizes, never personal data. */
struct puente_inbox_entry {
	char msg_id[PUENTE_MSG_ID_HEX];
	char sender[PUENTE_ID_MAX];
	int type;
	char case_id[PUENTE_ID_MAX];
	int64_t created_at, respond_by;
	uint64_t content_length;
	int fetched;			/* 1 when this client already fetched it */
};

/* A message this agency received, as its local records know it. */
struct puente_received {
	char msg_id[PUENTE_MSG_ID_HEX];
	char sender[PUENTE_ID_MAX];
	int type;
	char case_id[PUENTE_ID_MAX];
	char in_reply_to[PUENTE_MSG_ID_HEX];
	int64_t created_at, respond_by;
	uint64_t content_length;
	int outcome;			/* the verdict of our recipient receipt */
	int error;			/* why it was refused, when it was */
	int receipt_acked;		/* the gateway recorded our receipt */
	int64_t fetched_at;
	char out_dir[PUENTE_PATH_MAX];	/* where it was written ("" when refused) */
	size_t n_attachments;
	unsigned opens;			/* access statements reported */
};

/*
 * Map the case file and attachments onto a sealed message, store it in the outbox (fsynced)
 * and submit it with whatever else waits there. Invalid input is refused before anything is
 * stored. 0: accepted, out->state ACCEPTED. PU_ERR_UNAVAILABLE: stored, the gateway cannot
 * be reached now (out->state QUEUED; puente_flush retries with the same msg id). Another
 * code with out->state REFUSED: the gateway refused it; with out->msg_id "": nothing stored.
 */
int puente_send(struct puente_client *c, const struct puente_send_request *r,
    struct puente_sent *out);
/* A reply to a received message: to its sender, same case, in_reply_to set. */
int puente_reply(struct puente_client *c, const char *msg_id, const struct puente_send_request *r,
    struct puente_sent *out);

/* Called once per outbox message puente_flush tried, with the result of that attempt. */
typedef void (*puente_sent_fn)(void *arg, const struct puente_sent *s, int rc);
/*
 * Submit every queued message, oldest first. *left: how many stay queued. Returns 0, or
 * PU_ERR_UNAVAILABLE when the gateway could not be reached (nothing is lost).
 */
int puente_flush(struct puente_client *c, puente_sent_fn cb, void *arg, size_t *left);

/* The gateway's inbox for this agency (at most 256 entries); free *out with puente_free. */
int puente_inbox(struct puente_client *c, struct puente_inbox_entry **out, size_t *n);

struct puente_fetch_request {
	const char *msg_id;
	const char *out_dir;		/* created 0700; must be absent or empty */
	const char *staff_id;		/* with purpose: report a signed access statement */
	const char *purpose;
};
/*
 * Fetch, verify everything, write out_dir/case.json and attachment-NN.EXT (0600), send
 * the recipient receipt and, with staff_id and purpose, the access statement. A message
 * that does not verify writes nothing, and gets a negative receipt when the protocol
 * gives a verdict for its fault (PROTOCOL.md §5.6).
 */
int puente_fetch(struct puente_client *c, const struct puente_fetch_request *r,
    struct puente_received *out);

/*
 * The recipient receipts of a message sent (asked of the gateway, each one verified and
 * recorded), or the receipt this agency gave for a message received. *list: puente_free.
 */
int puente_receipts(struct puente_client *c, const char *msg_id, struct puente_receipt **list,
    size_t *n);

/* What the local records know of a message: *direction 1 sent (s filled), 2 received (r). */
#define PUENTE_DIRECTION_SENT 1
#define PUENTE_DIRECTION_RECEIVED 2
int puente_status(struct puente_client *c, const char *msg_id, int *direction,
    struct puente_sent *s, struct puente_received *r);

void puente_free(void *p);

#endif
