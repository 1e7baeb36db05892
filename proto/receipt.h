/*
 * receipt.h - signed statements (PROTOCOL.md §6): recipient receipts,
 * non-delivery notices and open statements, each a body carried as bytes in Signed so
 * that its signature is checked over the bytes received.
 */
#ifndef PU_RECEIPT_H
#define PU_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "directory.h"
#include "header.h"
#include "receipts.pb-c.h"

/* Sign an encoded body under context: an encoded Signed in *out. */
int signed_create(const char *context, const ProtobufCMessage *body,
    const uint8_t key_id[PU_KEY_ID_LEN], const uint8_t *sk, uint8_t **out, size_t *out_len);

/*
 * Verify a Signed whose body is of type d and signed under context by the agency's key of
 * the given purpose, usable at the time the body claims (at_offset: the int64 field in the
 * body with that time, read by the caller-supplied accessor below). On success *body is
 * the decoded body (pb_free).
 */
int signed_verify(const uint8_t *data, size_t len, const char *context,
    const ProtobufCMessageDescriptor *d, const Puente__Agency *signer,
    Puente__KeyPurpose purpose, ProtobufCMessage **body);

/*
 * A recipient receipt for h: from a listed recipient's signing key, usable when it says it
 * was made, for this msg_id and header hash. When expected_mac is not NULL, an OPENED
 * receipt must carry exactly that MAC (the sender's check, THREATS.md 9).
 */
int receipt_recipient_verify(const uint8_t *data, size_t len, const struct directory *d,
    const struct header *h, const uint8_t *expected_mac, Puente__RecipientReceipt **out);

/* Build and sign a recipient receipt. mac is NULL unless the outcome is OPENED. */
int receipt_recipient_create(const struct header *h, const char *me,
    Puente__ReceiptOutcome outcome, const uint8_t *mac, int64_t at,
    const uint8_t key_id[PU_KEY_ID_LEN], const uint8_t *sk, uint8_t **out, size_t *out_len);

/*
 * The outcome a recipient reports for an error from envelope_open_*; UNSPECIFIED for a
 * local failure (memory, disk, not a recipient), which is no verdict: send no receipt.
 */
Puente__ReceiptOutcome receipt_outcome_for(int err);

#endif
