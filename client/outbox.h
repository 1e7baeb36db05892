/*
 * outbox.h - the agency's local records in SQLite (client.db, beside the keys) and the
 * outbox/ folder of sealed messages, one file per message named by its msg id in hex.
 *
 * What is sent is sealed and fsynced here before the first attempt, and stays until the
 * gateway's verified receipt (or a final refusal): a gateway that is down loses nothing.
 * What is received, the receipts both ways, access statements and checkpoints are recorded
 * too. No column holds personal data: ids, types, agencies, dates, sizes, signed objects
 * (themselves free of it) and the folder a message was written to.
 */
#ifndef PU_CLIENT_OUTBOX_H
#define PU_CLIENT_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "header.h"
#include "puente.h"
#include "receipts.pb-c.h"

#define OUTBOX_PATH_MAX 4200

struct outbox {
	sqlite3 *db;
	char dir[OUTBOX_PATH_MAX];	/* the outbox/ folder */
};

int outbox_open(struct outbox *o, const char *agency_dir, char *detail, size_t n);
void outbox_close(struct outbox *o);

/* outbox/HEX.SUFFIX ("msg" when stored, "tmp" while sealing). */
int outbox_file(const struct outbox *o, const uint8_t msg_id[16], const char *suffix, char *out,
    size_t n);

/* A sealed message whose file outbox/HEX.msg is in place and fsynced: now queued. */
int outbox_add(struct outbox *o, const struct header *h, const uint8_t receipt_mac[32]);
/* Queued msg ids, oldest first (*ids: free()). */
int outbox_queued(struct outbox *o, uint8_t (**ids)[16], size_t *n);
/* A sent message: what is known of it; header (free()) and MAC when wanted. */
int outbox_sent(struct outbox *o, const uint8_t msg_id[16], struct puente_sent *s,
    uint8_t **header, size_t *header_len, uint8_t receipt_mac[32]);
/* An attempt failed in a way worth retrying. */
int outbox_attempt_failed(struct outbox *o, const uint8_t msg_id[16], int err);
/*
 * Accepted (the verified gateway receipt, what its leaf records: by which gateway, at which
 * index, when) or refused for good: its file goes.
 */
int outbox_accepted(struct outbox *o, const uint8_t msg_id[16], const uint8_t *receipt,
    size_t len, const char *gateway_id, uint64_t audit_index, int64_t accepted_at);
int outbox_refused(struct outbox *o, const uint8_t msg_id[16], int err);

/* A verified recipient receipt of a message sent (kept once per recipient). */
int outbox_receipt_add(struct outbox *o, const uint8_t msg_id[16],
    const Puente__RecipientReceipt *rr, const uint8_t *signed_bytes, size_t len);
int outbox_receipts(struct outbox *o, const uint8_t msg_id[16], struct puente_receipt **list,
    size_t *n);
/* A non-delivery notice (verified) for a message sent. */
int outbox_non_delivery_add(struct outbox *o, const uint8_t msg_id[16], int64_t at,
    const char *undelivered, const uint8_t *signed_bytes, size_t len);

/* A received message: PU_ERR_UNKNOWN_MESSAGE when never fetched. receipt: free(). */
int outbox_received(struct outbox *o, const uint8_t msg_id[16], struct puente_received *r,
    uint8_t **receipt, size_t *receipt_len);
int outbox_received_put(struct outbox *o, const uint8_t msg_id[16],
    const struct puente_received *r, const struct header *h, const uint8_t *receipt,
    size_t receipt_len);
int outbox_received_acked(struct outbox *o, const uint8_t msg_id[16]);
int outbox_open_add(struct outbox *o, const uint8_t msg_id[16], const char *staff,
    const char *purpose, int64_t at, const uint8_t *statement, size_t len, uint64_t audit_index);

/* The newest verified checkpoint held (*note malloc'd), or none (NULL, 0). */
int outbox_trusted_get(struct outbox *o, char **note, uint64_t *size);
/* Keep note (of that size) as the newest verified checkpoint, if it is larger. */
int outbox_trusted_set(struct outbox *o, const char *note, uint64_t size);

/* A checkpoint note as received (from a receipt or WELCOME), kept as evidence. */
int outbox_checkpoint_add(struct outbox *o, const char *source, const uint8_t *msg_id,
    const char *note);

#endif
