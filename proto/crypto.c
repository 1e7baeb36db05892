/* crypto.c - constructions of PROTOCOL.md §4 on libsodium and OpenSSL. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include "buf.h"
#include "crypto.h"
#include "pu_err.h"

/* Largest signed byte string: a directory (4 MiB) plus its framing. */
#define SIG_INPUT_CAP (4u * 1024 * 1024 + 4096)

/*
 * OpenSSL's algorithm fetch takes locks and walks provider tables on every call; the HKDF
 * implementation is fetched once and then only read, from any thread.
 */
static EVP_KDF *hkdf_impl;
static pthread_once_t hkdf_once = PTHREAD_ONCE_INIT;

static void
hkdf_fetch(void)
{
	hkdf_impl = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

int
crypto_init(void)
{
	if (sodium_init() < 0)
		return PU_ERR_CRYPTO;
	pthread_once(&hkdf_once, hkdf_fetch);
	return hkdf_impl != NULL ? PU_OK : PU_ERR_CRYPTO;
}

static void
personal_pad(uint8_t out[PU_PERSONAL_LEN], const char *personal)
{
	size_t n = strlen(personal);

	memset(out, 0, PU_PERSONAL_LEN);
	memcpy(out, personal, n < PU_PERSONAL_LEN ? n : PU_PERSONAL_LEN);
}

void
hash_stream_init(void *state, const char *personal, const uint8_t *key, size_t key_len)
{
	uint8_t pers[PU_PERSONAL_LEN];

	personal_pad(pers, personal);
	crypto_generichash_blake2b_init_salt_personal(state, key, key_len, PU_HASH_LEN,
	    NULL, pers);
}

void
hash_raw(uint8_t out[PU_HASH_LEN], const char *personal, const void *p, size_t n)
{
	crypto_generichash_blake2b_state st;

	hash_stream_init(&st, personal, NULL, 0);
	crypto_generichash_blake2b_update(&st, p, n);
	crypto_generichash_blake2b_final(&st, out, PU_HASH_LEN);
}

void
hash_fields(uint8_t out[PU_HASH_LEN], const char *personal, const struct field *f, size_t n)
{
	crypto_generichash_blake2b_state st;
	uint8_t be[4];

	hash_stream_init(&st, personal, NULL, 0);
	for (size_t i = 0; i < n; i++) {
		put_u32be(be, (uint32_t)f[i].len);
		crypto_generichash_blake2b_update(&st, be, sizeof(be));
		crypto_generichash_blake2b_update(&st, f[i].p, f[i].len);
	}
	crypto_generichash_blake2b_final(&st, out, PU_HASH_LEN);
}

void
key_id_compute(uint8_t out[PU_KEY_ID_LEN], int purpose, const uint8_t pk[PU_PUBLIC_KEY_LEN])
{
	crypto_generichash_blake2b_state st;
	uint8_t pers[PU_PERSONAL_LEN], p = (uint8_t)purpose;

	personal_pad(pers, PU_P_KEYID);
	crypto_generichash_blake2b_init_salt_personal(&st, NULL, 0, PU_KEY_ID_LEN, NULL, pers);
	crypto_generichash_blake2b_update(&st, &p, 1);
	crypto_generichash_blake2b_update(&st, pk, PU_PUBLIC_KEY_LEN);
	crypto_generichash_blake2b_final(&st, out, PU_KEY_ID_LEN);
}

int
sig_input(const char *context, const struct field *f, size_t n, uint8_t **out, size_t *out_len)
{
	struct buf b;
	int rc;

	buf_init(&b, SIG_INPUT_CAP);
	rc = buf_append_lp(&b, context, strlen(context));
	for (size_t i = 0; rc == PU_OK && i < n; i++)
		rc = buf_append_lp(&b, f[i].p, f[i].len);
	if (rc != PU_OK) {
		buf_free(&b);
		return rc;
	}
	*out = b.data;
	*out_len = b.len;
	return PU_OK;
}

int
sig_sign(uint8_t sig[PU_SIG_LEN], const uint8_t *sk, const char *context,
    const struct field *f, size_t n)
{
	uint8_t *m;
	size_t m_len;
	int rc = sig_input(context, f, n, &m, &m_len);

	if (rc != PU_OK)
		return rc;
	if (crypto_sign_detached(sig, NULL, m, m_len, sk) != 0)
		rc = PU_ERR_CRYPTO;
	free(m);
	return rc;
}

int
sig_verify(const uint8_t *sig, size_t sig_len, const uint8_t pk[PU_PUBLIC_KEY_LEN],
    const char *context, const struct field *f, size_t n)
{
	uint8_t *m;
	size_t m_len;
	int rc;

	if (sig_len != PU_SIG_LEN)
		return PU_ERR_SIGNATURE;
	if ((rc = sig_input(context, f, n, &m, &m_len)) != PU_OK)
		return rc;
	rc = crypto_sign_verify_detached(sig, m, m_len, pk) == 0 ? PU_OK : PU_ERR_SIGNATURE;
	free(m);
	return rc;
}

int
hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *ikm, size_t ikm_len,
    const uint8_t *salt, size_t salt_len, const struct field *info, size_t n_info)
{
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	uint8_t *info_bytes = NULL;
	size_t info_len = 0;
	struct buf b;
	int rc = PU_ERR_CRYPTO;

	buf_init(&b, 4096);
	for (size_t i = 0; i < n_info; i++)
		if ((rc = buf_append_lp(&b, info[i].p, info[i].len)) != PU_OK)
			goto fail;
	info_bytes = b.data;
	info_len = b.len;
	rc = PU_ERR_CRYPTO;
	if (hkdf_impl == NULL || (kctx = EVP_KDF_CTX_new(hkdf_impl)) == NULL)
		goto fail;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_bytes, info_len);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) == 1)
		rc = PU_OK;
fail:
	EVP_KDF_CTX_free(kctx);
	buf_free(&b);
	return rc;
}

void *
secret_alloc(size_t n)
{
	return sodium_malloc(n);
}

void
secret_free(void *p)
{
	if (p != NULL)
		sodium_free(p);
}

int
ct_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}
