/*
 * ids.h - the shapes of identifiers that appear in clear (PROTOCOL.md §4.4).
 *
 * Agency id: "MX-" + an ISO 3166-2:MX state code or "FED" + "-" + 2..32 of [A-Z0-9].
 * Case id:   "MX-" + 4 digits (year) + "-" + 4..16 of [0-9A-Z]: opaque, never a name or CURP.
 * Message id: 16 bytes; any value is valid, new ones are made time-ordered (msg_id_new).
 */
#ifndef PU_IDS_H
#define PU_IDS_H

#include <stdint.h>

#define PU_AGENCY_ID_MAX 40

/* PU_OK or PU_ERR_AGENCY_ID. */
int agency_id_check(const char *id);
/* The state part ("TLA", "FED") copied into out[4]; PU_ERR_AGENCY_ID when malformed. */
int agency_id_state(const char *id, char out[4]);
/* PU_OK or PU_ERR_CASE_ID. */
int case_id_check(const char *id);
/*
 * A new message id (PROTOCOL.md §5.4): the Unix time in milliseconds (48 bits, big-endian),
 * then 80 random bits, as a UUIDv7 is made. Ids made later sort later, so the gateway's
 * indexes by msg_id grow at their end instead of touching a random page per message; the
 * random part keeps ids unguessable and unique (2^40 ids in one millisecond before a
 * collision is even likely).
 */
void msg_id_new(uint8_t out[16]);
/* The same, made as at Unix time ms (a fixture's fixed clock: repeatable ids). */
void msg_id_at(uint8_t out[16], uint64_t ms);

#endif
