/*
 * client.h - inside libpuente-client: the handle behind puente.h and what its files share
 * (send.c, fetch.c, inbox.c, receipts.c): failures with a detail line, the session opened on
 * first need, msg ids in hex, progress, and where checkpoints are recorded.
 */
#ifndef PU_CLIENT_CLIENT_H
#define PU_CLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "agency.h"
#include "audit_verify.h"
#include "conn.h"
#include "outbox.h"
#include "puente.h"

#define CLIENT_DETAIL_MAX 640

struct puente_client {
	struct agency ag;
	struct outbox ob;
	struct conn conn;
	int connected;
	int ready;			/* opened: agency and outbox loaded */
	struct puente_options opt;
	char detail[CLIENT_DETAIL_MAX];
};

int client_fail(struct puente_client *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The session with the gateway, opened on first use (PU_ERR_UNAVAILABLE when it cannot be). */
int client_connect(struct puente_client *c);
/* Drop the session (after a failure it cannot be trusted to be in step). */
void client_disconnect(struct puente_client *c);
/* The conn's failure as the client's: its detail line, its code. */
int client_conn_fail(struct puente_client *c, int rc);

/* A msg id from 32 hex digits (PU_ERR_USAGE otherwise), and back. */
int client_msg_id(struct puente_client *c, const char *hex, uint8_t out[16]);
void client_hex(char out[PUENTE_MSG_ID_HEX], const uint8_t id[16]);
void client_progress(struct puente_client *c, const char *what, uint64_t done, uint64_t total);

/* The gateway's log as the directory names it: origin and CHECKPOINT public key. */
int client_gateway_log(struct puente_client *c, struct averify_log *log);

/*
 * What a receipt or ACK shows of the audit log: the leaf (entry at index) of this event,
 * with the inclusion proof in a checkpoint signed by the gateway's checkpoint key. It must
 * verify and record `event` for msg_id, or the gateway is not keeping the log it claims
 * (PU_ERR_AUDIT_LEAF with the reason in the detail). The checkpoint is kept in client.db,
 * evidence held outside the gateway. source names the answer ("receipt", "ack").
 */
int client_audit_proof(struct puente_client *c, const char *source, const uint8_t *msg_id,
    int event, const char *checkpoint, uint64_t index, const ProtobufCBinaryData *entry,
    const ProtobufCBinaryData *proof, size_t n_proof);
/* A checkpoint that proved an answer about msg_id: kept in client.db as evidence. */
void client_checkpoint_proved(struct puente_client *c, const char *source, const uint8_t *msg_id,
    const char *checkpoint, const struct note *n);
/* A checkpoint seen in WELCOME: recorded in client.db as it came. */
void client_checkpoint_seen(struct puente_client *c, const char *source, const char *note);

#endif
