/*
 * directory.h - the root-signed directory (DESIGN.md §3, PROTOCOL.md §7): who exists,
 * in which role and status, with which keys, allowed to send and receive what.
 */
#ifndef PU_DIRECTORY_H
#define PU_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "directory.pb-c.h"

#define PU_DIRECTORY_VERSION 1
#define PU_DIRECTORY_MAX_LIFETIME (30 * 86400)
#define PU_DIRECTORY_WARN_BEFORE (7 * 86400)
#define PU_CLOCK_SKEW 300

struct directory {
	Puente__SignedDirectory *signed_dir;
	Puente__Directory *dir;
};

/*
 * Decode and verify a SignedDirectory: root signature over the received bytes, canonical
 * encoding, version, lifetime at most 30 days, not expired and not issued in the future at
 * now, serial above held_serial (0 when none is held), and consistent content (unique,
 * well-formed ids; keys of the right sizes and ids). On success d owns the decoded form.
 */
int directory_load(struct directory *d, const uint8_t *data, size_t len,
    const uint8_t root_pk[32], int64_t now, uint64_t held_serial);
/*
 * The same checks except serial and time: what the federation's own tool needs to renew
 * an expired directory. Never use it to decide whom to trust.
 */
int directory_load_signed(struct directory *d, const uint8_t *data, size_t len,
    const uint8_t root_pk[32]);
void directory_free(struct directory *d);

/* Sign an encoded Directory with the root key: an encoded SignedDirectory in *out. */
int directory_sign(const uint8_t *dir, size_t dir_len, const uint8_t root_sk[64],
    const uint8_t root_pk[32], uint8_t **out, size_t *out_len);

const Puente__Agency *directory_find_agency(const struct directory *d, const char *id);
/* The key with that id and purpose, whatever its status; NULL when absent. */
const Puente__Key *directory_find_key(const Puente__Agency *a, const uint8_t *key_id,
    size_t key_id_len, Puente__KeyPurpose purpose);
/* The newest key of that purpose usable at now, or NULL. */
const Puente__Key *directory_current_key(const Puente__Agency *a, Puente__KeyPurpose purpose,
    int64_t now);
/*
 * May this key be trusted for an object made at time t? PU_OK, or PU_ERR_KEY_NOT_YET_VALID,
 * PU_ERR_KEY_EXPIRED, PU_ERR_KEY_RETIRED (retired at or before t), PU_ERR_KEY_COMPROMISED
 * (compromised at or before t).
 */
int directory_key_check(const Puente__Key *k, int64_t t);
/* PU_OK, PU_ERR_AGENCY_SUSPENDED or PU_ERR_AGENCY_REVOKED. */
int directory_agency_check(const Puente__Agency *a);
/* 1 when the agency, by its role's list narrowed by its own, may send / receive type. */
int directory_may_send(const struct directory *d, const Puente__Agency *a, int type);
int directory_may_receive(const struct directory *d, const Puente__Agency *a, int type);

#endif
