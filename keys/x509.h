/*
 * x509.h - the federation's TLS certificate authority (ECDSA P-256, OpenSSL's API).
 * Certificates name the agency in the subject CN and in a URI SAN
 * "urn:puente:agency:<ID>"; the directory pins the SHA-256 of each TLS public key (SPKI),
 * so a renewed certificate for the same key keeps its pin.
 */
#ifndef PU_X509_H
#define PU_X509_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define PU_CERT_MAX_DAYS 90
#define PU_CA_DAYS (5 * 365)
#define PU_AGENCY_URI_PREFIX "urn:puente:agency:"

int tls_key_generate(EVP_PKEY **out);
int ca_create(const char *federation, EVP_PKEY *key, int64_t now, X509 **out);
/* server: also serverAuth (gateways); every certificate has clientAuth. */
int cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *subject, const char *agency_id,
    int server, int64_t now, int days, X509 **out);
/* SHA-256 of the DER SubjectPublicKeyInfo: the directory's TLS pin. */
int spki_sha256(EVP_PKEY *k, uint8_t out[32]);
/* SHA-256 of the DER certificate: the directory's pin of the CA. */
int cert_sha256(X509 *c, uint8_t out[32]);

/* PEM to memory (malloc'd, NUL-terminated); private keys as unencrypted PKCS#8. */
int pem_from_cert(X509 *c, char **out, size_t *len);
int pem_from_key(EVP_PKEY *k, char **out, size_t *len);
int cert_from_pem(const char *pem, size_t len, X509 **out);
int key_from_pem(const char *pem, size_t len, EVP_PKEY **out);
/* DER PKCS#8 of a private key into secret memory (for the sealed CA key file). */
int key_to_der(EVP_PKEY *k, uint8_t **der, size_t *len);
int key_from_der(const uint8_t *der, size_t len, EVP_PKEY **out);

#endif
