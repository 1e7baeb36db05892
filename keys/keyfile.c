/* keyfile.c - secret key files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto.h"
#include "fsutil.h"
#include "keyfile.h"
#include "pb.h"
#include "pu_err.h"

#define KEYFILE_VERSION 1
/* Refuse absurd costs in a file, which would turn a load into a denial of service. */
#define KEYFILE_MAX_OPSLIMIT 64u
#define KEYFILE_MAX_MEMLIMIT (2048ull * 1024 * 1024)
#define KEYFILE_AD "puente/1 keyfile"

void
secret_key_clear(struct secret_key *k)
{
	secret_free(k->secret);
	memset(k, 0, sizeof(*k));
}

int
secret_key_generate(struct secret_key *k, Puente__SecretKind kind, const char *agency_id,
    uint32_t purpose, int64_t now)
{
	memset(k, 0, sizeof(*k));
	if (strlen(agency_id) >= sizeof(k->agency_id))
		return PU_ERR_AGENCY_ID;
	k->kind = kind;
	k->purpose = purpose;
	k->created_at = now;
	snprintf(k->agency_id, sizeof(k->agency_id), "%s", agency_id);
	if (kind == PUENTE__SECRET_KIND__SECRET_KIND_ED25519) {
		k->secret_len = crypto_sign_SECRETKEYBYTES;
		if ((k->secret = secret_alloc(k->secret_len)) == NULL)
			return PU_ERR_NOMEM;
		crypto_sign_keypair(k->public_key, k->secret);
	} else if (kind == PUENTE__SECRET_KIND__SECRET_KIND_X25519) {
		k->secret_len = crypto_box_SECRETKEYBYTES;
		if ((k->secret = secret_alloc(k->secret_len)) == NULL)
			return PU_ERR_NOMEM;
		crypto_box_keypair(k->public_key, k->secret);
	} else {
		return PU_ERR_ARG;
	}
	key_id_compute(k->key_id, (int)purpose, k->public_key);
	return PU_OK;
}

int
secret_key_from_bytes(struct secret_key *k, Puente__SecretKind kind, const uint8_t *p,
    size_t n, int64_t now)
{
	memset(k, 0, sizeof(*k));
	if ((k->secret = secret_alloc(n)) == NULL)
		return PU_ERR_NOMEM;
	memcpy(k->secret, p, n);
	k->secret_len = n;
	k->kind = kind;
	k->created_at = now;
	return PU_OK;
}

static int
has_public_key(Puente__SecretKind kind)
{
	return kind == PUENTE__SECRET_KIND__SECRET_KIND_ED25519 ||
	    kind == PUENTE__SECRET_KIND__SECRET_KIND_X25519;
}

/* The sealed secret is bound to what the file says it is: kind, owner, key id. */
static void
seal_ad(uint8_t out[32], const Puente__SecretKeyFile *f)
{
	uint8_t kind = (uint8_t)f->kind;
	struct field fl[5] = {
		{ KEYFILE_AD, strlen(KEYFILE_AD) },
		{ &kind, 1 },
		{ f->agency_id, strlen(f->agency_id) },
		{ f->key_id.data, f->key_id.len },
		{ f->public_key.data, f->public_key.len },
	};

	hash_fields(out, PU_P_CORE, fl, 5);
}

static int
derive(uint8_t key[32], const char *passphrase, const uint8_t salt[16], uint64_t ops,
    uint64_t mem)
{
	if (crypto_pwhash(key, 32, passphrase, strlen(passphrase), salt, ops, (size_t)mem,
	    crypto_pwhash_ALG_ARGON2ID13) != 0)
		return PU_ERR_NOMEM;
	return PU_OK;
}

int
keyfile_save(const char *path, const struct secret_key *k, const char *passphrase, int how)
{
	Puente__SecretKeyFile f = PUENTE__SECRET_KEY_FILE__INIT;
	uint8_t salt[16], nonce[24], ad[32], *key = NULL, *ct = NULL, *enc = NULL;
	size_t enc_len = 0;
	int rc;

	f.version = KEYFILE_VERSION;
	f.kind = k->kind;
	f.agency_id = (char *)k->agency_id;
	f.purpose = k->purpose;
	f.created_at = k->created_at;
	if (has_public_key(k->kind)) {
		f.key_id.data = (uint8_t *)k->key_id;
		f.key_id.len = 16;
		f.public_key.data = (uint8_t *)k->public_key;
		f.public_key.len = 32;
	}
	f.secret.data = k->secret;
	f.secret.len = k->secret_len;
	if (passphrase != NULL) {
		if ((key = secret_alloc(32)) == NULL || (ct = malloc(k->secret_len + 16)) == NULL) {
			rc = PU_ERR_NOMEM;
			goto out;
		}
		randombytes_buf(salt, sizeof(salt));
		randombytes_buf(nonce, sizeof(nonce));
		if ((rc = derive(key, passphrase, salt, KEYFILE_OPSLIMIT, KEYFILE_MEMLIMIT)) != PU_OK)
			goto out;
		f.kdf = PUENTE__KDF_KIND__KDF_KIND_ARGON2ID;
		f.opslimit = KEYFILE_OPSLIMIT;
		f.memlimit = KEYFILE_MEMLIMIT;
		f.salt.data = salt;
		f.salt.len = sizeof(salt);
		f.nonce.data = nonce;
		f.nonce.len = sizeof(nonce);
		seal_ad(ad, &f);
		crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, k->secret, k->secret_len,
		    ad, sizeof(ad), NULL, nonce, key);
		f.secret.data = ct;
		f.secret.len = k->secret_len + 16;
	}
	if ((rc = pb_encode(&f.base, &enc, &enc_len)) != PU_OK)
		goto out;
	rc = file_write_atomic(path, enc, enc_len, 0600, how);
out:
	if (enc != NULL) {
		sodium_memzero(enc, enc_len);
		free(enc);
	}
	free(ct);
	secret_free(key);
	return rc;
}

static int
unseal(const Puente__SecretKeyFile *f, const char *passphrase, struct secret_key *k)
{
	uint8_t ad[32], *key = NULL;
	int rc;

	if (passphrase == NULL)
		return PU_ERR_PASSPHRASE;
	if (f->salt.len != 16 || f->nonce.len != 24 || f->secret.len < 16 ||
	    f->opslimit < crypto_pwhash_OPSLIMIT_MIN || f->opslimit > KEYFILE_MAX_OPSLIMIT ||
	    f->memlimit < crypto_pwhash_MEMLIMIT_MIN || f->memlimit > KEYFILE_MAX_MEMLIMIT)
		return PU_ERR_KEY_FILE;
	if ((key = secret_alloc(32)) == NULL)
		return PU_ERR_NOMEM;
	k->secret_len = f->secret.len - 16;
	if ((k->secret = secret_alloc(k->secret_len ? k->secret_len : 1)) == NULL) {
		rc = PU_ERR_NOMEM;
		goto out;
	}
	if ((rc = derive(key, passphrase, f->salt.data, f->opslimit, f->memlimit)) != PU_OK)
		goto out;
	seal_ad(ad, f);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(k->secret, NULL, NULL, f->secret.data,
	    f->secret.len, ad, sizeof(ad), f->nonce.data, key) != 0)
		rc = PU_ERR_PASSPHRASE;
out:
	secret_free(key);
	return rc;
}

/* The secret must be the one of the public key and key id the file names. */
static int
secret_matches(const struct secret_key *k)
{
	uint8_t pk[32], id[16];

	if (k->kind == PUENTE__SECRET_KIND__SECRET_KIND_ED25519) {
		if (k->secret_len != crypto_sign_SECRETKEYBYTES)
			return 0;
		crypto_sign_ed25519_sk_to_pk(pk, k->secret);
	} else if (k->kind == PUENTE__SECRET_KIND__SECRET_KIND_X25519) {
		if (k->secret_len != crypto_box_SECRETKEYBYTES)
			return 0;
		crypto_scalarmult_base(pk, k->secret);
	} else {
		return k->secret_len > 0;
	}
	key_id_compute(id, (int)k->purpose, k->public_key);
	return sodium_memcmp(pk, k->public_key, 32) == 0 && memcmp(id, k->key_id, 16) == 0;
}

int
keyfile_load(const char *path, const char *passphrase, Puente__SecretKind kind,
    struct secret_key *k)
{
	Puente__SecretKeyFile *f = NULL;
	ProtobufCMessage *m;
	uint8_t *raw;
	size_t raw_len;
	int rc;

	memset(k, 0, sizeof(*k));
	if ((rc = file_check_secret(path)) != PU_OK)
		return rc;
	if ((rc = file_read_all(path, KEYFILE_MAX, &raw, &raw_len)) != PU_OK)
		return rc;
	rc = pb_decode(&puente__secret_key_file__descriptor, raw, raw_len, &pb_limits_wire,
	    64 * 1024, &m);
	sodium_memzero(raw, raw_len);
	free(raw);
	if (rc != PU_OK)
		return PU_ERR_KEY_FILE;
	f = (Puente__SecretKeyFile *)m;
	if (f->version != KEYFILE_VERSION || f->kind != kind ||
	    strlen(f->agency_id) >= sizeof(k->agency_id) ||
	    (has_public_key(kind) && (f->key_id.len != 16 || f->public_key.len != 32))) {
		rc = PU_ERR_KEY_FILE;
		goto out;
	}
	k->kind = f->kind;
	k->purpose = f->purpose;
	k->created_at = f->created_at;
	snprintf(k->agency_id, sizeof(k->agency_id), "%s", f->agency_id);
	if (has_public_key(kind)) {
		memcpy(k->key_id, f->key_id.data, 16);
		memcpy(k->public_key, f->public_key.data, 32);
	}
	if (f->kdf == PUENTE__KDF_KIND__KDF_KIND_ARGON2ID) {
		rc = unseal(f, passphrase, k);
	} else {
		k->secret_len = f->secret.len;
		if ((k->secret = secret_alloc(k->secret_len ? k->secret_len : 1)) == NULL)
			rc = PU_ERR_NOMEM;
		else
			memcpy(k->secret, f->secret.data, k->secret_len);
	}
	if (rc == PU_OK && !secret_matches(k))
		rc = PU_ERR_KEY_FILE;
out:
	if (f != NULL) {
		sodium_memzero(f->secret.data, f->secret.len);
		pb_free(f);
	}
	if (rc != PU_OK)
		secret_key_clear(k);
	return rc;
}

int
keyfile_is_sealed(const char *path)
{
	Puente__SecretKeyFile *f;
	uint8_t *raw;
	size_t raw_len;
	int sealed;

	if (file_read_all(path, KEYFILE_MAX, &raw, &raw_len) != PU_OK)
		return 0;
	f = puente__secret_key_file__unpack(NULL, raw_len, raw);
	sodium_memzero(raw, raw_len);
	free(raw);
	sealed = f != NULL && f->kdf == PUENTE__KDF_KIND__KDF_KIND_ARGON2ID;
	if (f != NULL) {
		sodium_memzero(f->secret.data, f->secret.len);
		puente__secret_key_file__free_unpacked(f, NULL);
	}
	return sealed;
}
