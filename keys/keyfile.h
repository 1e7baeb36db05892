/*
 * keyfile.h - secret key files (proto/keyfile.proto): one secret per file, mode 0600,
 * created with O_EXCL and never overwritten; optionally sealed under a passphrase with
 * Argon2id and XChaCha20-Poly1305. Secrets are held in libsodium's guarded memory.
 */
#ifndef PU_KEYFILE_H
#define PU_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "keyfile.pb-c.h"

#define KEYFILE_MAX (16u * 1024)
/* Argon2id cost for sealed keys: libsodium's "moderate" (256 MiB, about a second). */
#define KEYFILE_OPSLIMIT 3u
#define KEYFILE_MEMLIMIT (256u * 1024 * 1024)

struct secret_key {
	Puente__SecretKind kind;
	char agency_id[64];
	uint32_t purpose;		/* KeyPurpose, 0 for the CA */
	uint8_t key_id[16];
	uint8_t public_key[32];
	uint8_t *secret;		/* secret memory */
	size_t secret_len;
	int64_t created_at;
};

/* A fresh Ed25519 (purpose signing, receipt, checkpoint) or X25519 (encryption) key. */
int secret_key_generate(struct secret_key *k, Puente__SecretKind kind, const char *agency_id,
    uint32_t purpose, int64_t now);
/* Take ownership of a secret copied into secret memory (the CA's PKCS#8 DER). */
int secret_key_from_bytes(struct secret_key *k, Puente__SecretKind kind, const uint8_t *p,
    size_t n, int64_t now);
void secret_key_clear(struct secret_key *k);

/* passphrase NULL: stored in clear (the file mode protects it). how: FILE_CREATE/REPLACE. */
int keyfile_save(const char *path, const struct secret_key *k, const char *passphrase, int how);
/*
 * Load and check a key file: mode 0600 or stricter, canonical, of the expected kind, and
 * (for Ed25519/X25519) a secret that matches its public key and key id. A sealed file
 * needs the passphrase (PU_ERR_PASSPHRASE when it is wrong or the file was altered).
 */
int keyfile_load(const char *path, const char *passphrase, Puente__SecretKind kind,
    struct secret_key *k);
/* 1 when the file at path is sealed under a passphrase. */
int keyfile_is_sealed(const char *path);

#endif
