/*
 * ids.h - the shapes of identifiers that appear in clear (PROTOCOL.md §4.4).
 *
 * Agency id: "MX-" + an ISO 3166-2:MX state code or "FED" + "-" + 2..32 of [A-Z0-9].
 * Case id:   "MX-" + 4 digits (year) + "-" + 4..16 of [0-9A-Z]: opaque, never a name or CURP.
 */
#ifndef PU_IDS_H
#define PU_IDS_H

#define PU_AGENCY_ID_MAX 40

/* PU_OK or PU_ERR_AGENCY_ID. */
int agency_id_check(const char *id);
/* The state part ("TLA", "FED") copied into out[4]; PU_ERR_AGENCY_ID when malformed. */
int agency_id_state(const char *id, char out[4]);
/* PU_OK or PU_ERR_CASE_ID. */
int case_id_check(const char *id);

#endif
