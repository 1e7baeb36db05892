/*
 * federation.h - the federation folder that puente-keys administers:
 *
 *   DIR/root.key      federation root (Ed25519), sealed under the passphrase
 *   DIR/root.pub      its public key, hex: what every gateway and client trusts
 *   DIR/ca.key        X.509 CA key (ECDSA P-256), sealed under the passphrase
 *   DIR/ca.crt        CA certificate (PEM)
 *   DIR/directory.pb  the current signed directory
 *   DIR/agencies/ID/  one folder per agency or gateway, ready to hand over
 *
 * Every change produces a new directory with a higher serial, signed by the root.
 */
#ifndef PU_FEDERATION_H
#define PU_FEDERATION_H

#include <limits.h>
#include <stdint.h>

#include "directory.pb-c.h"

#define PU_KEY_DAYS 730			/* validity of agency keys in the directory */
#define PU_DEFAULT_CERT_DAYS 30
#define PU_DEFAULT_OVERLAP_DAYS 7

struct federation {
	char dir[PATH_MAX];
	uint8_t root_pk[32];
	Puente__Directory *d;		/* working copy; published by federation_publish */
	int64_t now;
	const char *passphrase;		/* for the sealed root and CA keys; NULL when none */
};

struct agency_spec {
	const char *id;
	Puente__Role role;
	const char *name;
	const char *address;		/* gateways: host:port */
	const char *out_dir;		/* NULL: DIR/agencies/ID */
	int cert_days;
};

int federation_init(const char *dir, const char *name, const char *passphrase, int64_t now);
int federation_open(struct federation *f, const char *dir, const char *passphrase, int64_t now);
void federation_close(struct federation *f);
/* Sign the working copy as serial + 1, valid for days (<= 30), and write it everywhere. */
int federation_publish(struct federation *f, int days);

int federation_add_agency(struct federation *f, const struct agency_spec *spec, char *out_dir,
    size_t out_len);
int federation_renew_cert(struct federation *f, const char *id, int days, int new_key);
int federation_rotate(struct federation *f, const char *id, int overlap_days);
/* status: SUSPENDED, ACTIVE (reinstate) or REVOKED. */
int federation_set_status(struct federation *f, const char *id, Puente__AgencyStatus status);
/* Mark one key compromised since a time (the keys of a leaked device). */
int federation_compromise_key(struct federation *f, const char *id, const uint8_t key_id[16],
    int64_t since);
Puente__Agency *federation_find(struct federation *f, const char *id);
const char *role_name(Puente__Role role);

#endif
