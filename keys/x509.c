/* x509.c - CA and certificates with OpenSSL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "pu_err.h"
#include "x509.h"

int
tls_key_generate(EVP_PKEY **out)
{
	*out = EVP_EC_gen("P-256");
	return *out != NULL ? PU_OK : PU_ERR_X509;
}

static int
add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(subject, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static int
cert_base(X509 *c, const char *cn, const char *org, int64_t now, int days)
{
	X509_NAME *name = X509_get_subject_name(c);
	unsigned char serial[16];
	BIGNUM *bn;
	int ok;

	/* A random positive 127-bit serial (RFC 5280: unique, at most 20 bytes). */
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		return 0;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) != NULL;
	BN_free(bn);
	ok = ok && X509_set_version(c, 2);
	/* Backdate a little for clocks that run slightly behind. */
	ok = ok && ASN1_TIME_set(X509_getm_notBefore(c), (time_t)(now - 300)) != NULL;
	ok = ok && ASN1_TIME_set(X509_getm_notAfter(c), (time_t)(now + (int64_t)days * 86400)) != NULL;
	ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)org, -1, -1, 0);
	ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	return ok;
}

int
ca_create(const char *federation, EVP_PKEY *key, int64_t now, X509 **out)
{
	X509 *c = X509_new();
	int ok;

	*out = NULL;
	ok = c != NULL && cert_base(c, "Puente federation CA", federation, now, PU_CA_DAYS);
	ok = ok && X509_set_issuer_name(c, X509_get_subject_name(c));
	ok = ok && X509_set_pubkey(c, key);
	ok = ok && add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	ok = ok && add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
	ok = ok && add_ext(c, c, NID_subject_key_identifier, "hash");
	ok = ok && add_ext(c, c, NID_authority_key_identifier, "keyid:always");
	ok = ok && X509_sign(c, key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(c);
		return PU_ERR_X509;
	}
	*out = c;
	return PU_OK;
}

int
cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *subject, const char *agency_id,
    int server, int64_t now, int days, X509 **out)
{
	char san[128];
	X509 *c;
	const char *org;
	int ok, idx;

	*out = NULL;
	if (days < 1 || days > PU_CERT_MAX_DAYS)
		return PU_ERR_ARG;
	idx = X509_NAME_get_index_by_NID(X509_get_subject_name(ca_cert), NID_organizationName, -1);
	org = idx >= 0 ? (const char *)ASN1_STRING_get0_data(X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(X509_get_subject_name(ca_cert), idx))) : "Puente";
	snprintf(san, sizeof(san), "URI:%s%s", PU_AGENCY_URI_PREFIX, agency_id);
	c = X509_new();
	ok = c != NULL && cert_base(c, agency_id, org, now, days);
	ok = ok && X509_set_issuer_name(c, X509_get_subject_name(ca_cert));
	ok = ok && X509_set_pubkey(c, subject);
	ok = ok && add_ext(ca_cert, c, NID_basic_constraints, "critical,CA:FALSE");
	ok = ok && add_ext(ca_cert, c, NID_key_usage, "critical,digitalSignature");
	ok = ok && add_ext(ca_cert, c, NID_ext_key_usage, server ? "clientAuth,serverAuth" : "clientAuth");
	ok = ok && add_ext(ca_cert, c, NID_subject_alt_name, san);
	ok = ok && add_ext(ca_cert, c, NID_subject_key_identifier, "hash");
	ok = ok && add_ext(ca_cert, c, NID_authority_key_identifier, "keyid:always");
	ok = ok && X509_sign(c, ca_key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(c);
		return PU_ERR_X509;
	}
	*out = c;
	return PU_OK;
}

int
spki_sha256(EVP_PKEY *k, uint8_t out[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	unsigned int len = 32;
	int ok;

	if (n <= 0)
		return PU_ERR_X509;
	ok = EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok ? PU_OK : PU_ERR_X509;
}

int
cert_sha256(X509 *c, uint8_t out[32])
{
	unsigned int len = 32;

	return X509_digest(c, EVP_sha256(), out, &len) == 1 ? PU_OK : PU_ERR_X509;
}

static int
bio_take(BIO *b, char **out, size_t *len)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	int rc = PU_OK;

	if (n < 0 || (*out = malloc((size_t)n + 1)) == NULL) {
		rc = PU_ERR_NOMEM;
	} else {
		memcpy(*out, p, (size_t)n);
		(*out)[n] = '\0';
		*len = (size_t)n;
	}
	/* The BIO may have held a private key: wipe it before it goes back to the heap. */
	if (n > 0)
		OPENSSL_cleanse(p, (size_t)n);
	BIO_free(b);
	return rc;
}

int
pem_from_cert(X509 *c, char **out, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (b == NULL || PEM_write_bio_X509(b, c) != 1) {
		BIO_free(b);
		return PU_ERR_X509;
	}
	return bio_take(b, out, len);
}

int
pem_from_key(EVP_PKEY *k, char **out, size_t *len)
{
	BIO *b = BIO_new(BIO_s_secmem());

	if (b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(b);
		return PU_ERR_X509;
	}
	return bio_take(b, out, len);
}

int
cert_from_pem(const char *pem, size_t len, X509 **out)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);

	*out = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return *out ? PU_OK : PU_ERR_X509;
}

int
key_from_pem(const char *pem, size_t len, EVP_PKEY **out)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);

	*out = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return *out ? PU_OK : PU_ERR_X509;
}

int
key_to_der(EVP_PKEY *k, uint8_t **der, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_PrivateKey(k, &p);

	*der = NULL;
	if (n <= 0)
		return PU_ERR_X509;
	if ((*der = secret_alloc((size_t)n)) != NULL) {
		memcpy(*der, p, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_clear_free(p, (size_t)n);
	return *der ? PU_OK : PU_ERR_NOMEM;
}

int
key_from_der(const uint8_t *der, size_t len, EVP_PKEY **out)
{
	const unsigned char *p = der;

	*out = d2i_AutoPrivateKey(NULL, &p, (long)len);
	return *out ? PU_OK : PU_ERR_X509;
}
