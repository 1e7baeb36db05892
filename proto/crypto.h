/*
 * crypto.h - the few cryptographic constructions everything in Puente is built from
 * (PROTOCOL.md §4): length-prefixed fields, personalised BLAKE2b, Ed25519 signatures
 * over a context string, key ids, HKDF-SHA256, and secret memory.
 */
#ifndef PU_CRYPTO_H
#define PU_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define PU_HASH_LEN 32
#define PU_KEY_ID_LEN 16
#define PU_SIG_LEN 64
#define PU_PUBLIC_KEY_LEN 32
#define PU_SIGN_SECRET_LEN 64	/* libsodium's Ed25519 secret: seed || public key */
#define PU_BOX_SECRET_LEN 32	/* X25519 scalar */
#define PU_PERSONAL_LEN 16

/* BLAKE2b personalisations: ASCII, zero-padded to 16 bytes. */
#define PU_P_COMMIT  "puente/1 commit"
#define PU_P_CORE    "puente/1 core"
#define PU_P_CHUNK   "puente/1 chunk"
#define PU_P_KEYID   "puente/1 keyid"
#define PU_P_CONTENT "puente/1 content"
#define PU_P_ATTACH  "puente/1 attach"
#define PU_P_MAC     "puente/1 mac"

/* Signature contexts (PROTOCOL.md §4.3). */
#define PU_CTX_HEADER            "puente/1 header"
#define PU_CTX_CONTENT           "puente/1 content"
#define PU_CTX_RECIPIENT_RECEIPT "puente/1 recipient-receipt"
#define PU_CTX_OPEN              "puente/1 open"
#define PU_CTX_DIRECTORY         "puente/1 directory"
#define PU_CTX_NON_DELIVERY      "puente/1 non-delivery"
/* HKDF info labels. */
#define PU_INFO_WRAP             "puente/1 wrap"
#define PU_INFO_RECEIPT_MAC      "puente/1 receipt-mac"

struct field {
	const void *p;
	size_t len;
};

/* Call once per process before anything else; PU_ERR_CRYPTO if libsodium cannot start. */
int crypto_init(void);

/* BLAKE2b-256 with a personalisation, over raw bytes. */
void hash_raw(uint8_t out[PU_HASH_LEN], const char *personal, const void *p, size_t n);
/* BLAKE2b-256 with a personalisation, over u32be(len) || bytes for each field. */
void hash_fields(uint8_t out[PU_HASH_LEN], const char *personal, const struct field *f, size_t n);
/* Initialise a streaming BLAKE2b-256 state; key may be NULL. state is crypto_generichash_state. */
void hash_stream_init(void *state, const char *personal, const uint8_t *key, size_t key_len);

/* Key id: BLAKE2b-128, personal "puente/1 keyid", over u8 purpose || public key. */
void key_id_compute(uint8_t out[PU_KEY_ID_LEN], int purpose, const uint8_t pk[PU_PUBLIC_KEY_LEN]);

/* The signed byte string: u32be(len) || context, then u32be(len) || field for each field. */
int sig_input(const char *context, const struct field *f, size_t n, uint8_t **out, size_t *out_len);
int sig_sign(uint8_t sig[PU_SIG_LEN], const uint8_t *sk, const char *context,
    const struct field *f, size_t n);
/* PU_OK or PU_ERR_SIGNATURE. */
int sig_verify(const uint8_t *sig, size_t sig_len, const uint8_t pk[PU_PUBLIC_KEY_LEN],
    const char *context, const struct field *f, size_t n);

/* HKDF-SHA256 (RFC 5869) through OpenSSL. info is the concatenation of length-prefixed fields. */
int hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *ikm, size_t ikm_len,
    const uint8_t *salt, size_t salt_len, const struct field *info, size_t n_info);

/* Secret memory: guarded pages, locked, wiped on free. NULL when out of memory. */
void *secret_alloc(size_t n);
void secret_free(void *p);

/* Constant-time comparison; 1 when equal. */
int ct_equal(const void *a, const void *b, size_t n);

#endif
