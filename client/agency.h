/*
 * agency.h - an agency folder as `puente-keys add-agency` writes it: signing.key,
 * encryption.key (and rotated encryption-KEYID.key), tls.key, tls.crt, ca.crt, root.pub,
 * directory.pb, agency.conf. Loading verifies the directory with the root key and finds
 * the gateway to talk to.
 */
#ifndef PU_CLIENT_AGENCY_H
#define PU_CLIENT_AGENCY_H

#include <stddef.h>
#include <stdint.h>

#include "directory.h"
#include "envelope.h"
#include "keyfile.h"

#define AGENCY_MAX_ENC_KEYS 8		/* the current encryption key and rotated ones */
#define AGENCY_PATH_MAX 4096
#define AGENCY_DIRECTORY_MAX (8u * 1024 * 1024)

struct agency {
	char dir[AGENCY_PATH_MAX];
	char id[64];
	struct secret_key sign;
	struct secret_key enc[AGENCY_MAX_ENC_KEYS];
	size_t n_enc;
	uint8_t root_pk[32];
	struct directory d;
	int role;			/* Role: auditors hold no encryption key */
	char gw_host[256];		/* where the gateway listens */
	char gw_port[8];
	int dir_expired;		/* d is root-signed but expired: good only to reach the
					 * gateway and ask it for the directory in force */
};

/*
 * Load and check the folder at now. passphrase may be NULL (then PUENTE_PASSPHRASE, then a
 * prompt on /dev/tty, only for sealed key files). detail gets one line on failure.
 */
int agency_load(struct agency *a, const char *dir, const char *passphrase, int64_t now,
    char *detail, size_t detail_len);
void agency_free(struct agency *a);
/* dir/name into out. */
int agency_path(const struct agency *a, const char *name, char *out, size_t n);
/* A newer directory (from the gateway's WELCOME): verified, then saved and used (and
 * dir_expired cleared). */
int agency_update_directory(struct agency *a, const uint8_t *p, size_t n, int64_t now);
/* PU_OK when pin (SHA-256 of an SPKI) is the usable TLS key of an active gateway. */
int agency_gateway_pinned(const struct agency *a, const uint8_t pin[32], int64_t now);
/* The keys envelope_open_begin may try, in keys[AGENCY_MAX_ENC_KEYS]. */
size_t agency_open_keys(const struct agency *a, struct open_key *keys);

#endif
