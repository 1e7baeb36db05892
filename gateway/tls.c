/*
 * tls.c - TLS 1.3 with mutual authentication through memory BIOs (DESIGN.md §4, §13).
 *
 * The event loop owns the socket; this file only turns ciphertext into plaintext and back
 * (as h2o's lib/common/socket.c does through its BIO). Every failure is recorded once as a
 * short stable text so the session can log why a peer was refused without OpenSSL's
 * version-dependent wording or file:line noise.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "ids.h"
#include "pu_err.h"
#include "tls.h"

/* The same prefix keys/x509.h writes into every certificate's URI SAN. */
#define TLS_AGENCY_URI_PREFIX "urn:puente:agency:"
/* P-256 and X25519 are 128-bit: level 3 also refuses anything weaker a peer might offer. */
#define TLS_SECURITY_LEVEL 3

struct text {
	int code;
	const char *text;
};

/* Alerts the peer sent us (reason = SSL_AD_REASON_OFFSET + alert). */
static const struct text alert_texts[] = {
	{ SSL_AD_UNEXPECTED_MESSAGE, "unexpected message" },
	{ SSL_AD_BAD_RECORD_MAC, "bad record mac" },
	{ SSL_AD_RECORD_OVERFLOW, "record overflow" },
	{ SSL_AD_HANDSHAKE_FAILURE, "handshake failure" },
	{ SSL_AD_BAD_CERTIFICATE, "bad certificate" },
	{ SSL_AD_UNSUPPORTED_CERTIFICATE, "unsupported certificate" },
	{ SSL_AD_CERTIFICATE_REVOKED, "certificate revoked" },
	{ SSL_AD_CERTIFICATE_EXPIRED, "certificate expired" },
	{ SSL_AD_CERTIFICATE_UNKNOWN, "certificate unknown" },
	{ SSL_AD_ILLEGAL_PARAMETER, "illegal parameter" },
	{ SSL_AD_UNKNOWN_CA, "unknown ca" },
	{ SSL_AD_ACCESS_DENIED, "access denied" },
	{ SSL_AD_DECODE_ERROR, "decode error" },
	{ SSL_AD_DECRYPT_ERROR, "decrypt error" },
	{ SSL_AD_PROTOCOL_VERSION, "unsupported protocol" },
	{ SSL_AD_INSUFFICIENT_SECURITY, "insufficient security" },
	{ SSL_AD_INTERNAL_ERROR, "internal error" },
	{ SSL_AD_USER_CANCELLED, "user canceled" },
	{ SSL_AD_MISSING_EXTENSION, "missing extension" },
	{ SSL_AD_UNSUPPORTED_EXTENSION, "unsupported extension" },
	{ SSL_AD_CERTIFICATE_REQUIRED, "certificate required" },
	{ SSL_AD_NO_APPLICATION_PROTOCOL, "no application protocol" },
};

/* Our own refusals and failures. */
static const struct text reason_texts[] = {
	{ SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, "certificate required" },
	{ SSL_R_UNSUPPORTED_PROTOCOL, "unsupported protocol" },
	{ SSL_R_WRONG_VERSION_NUMBER, "unsupported protocol" },
	{ SSL_R_NO_PROTOCOLS_AVAILABLE, "unsupported protocol" },
	{ SSL_R_NO_SHARED_CIPHER, "no shared cipher" },
	{ SSL_R_NO_CIPHERS_AVAILABLE, "no shared cipher" },
	{ SSL_R_NO_APPLICATION_PROTOCOL, "no application protocol" },
	{ SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS, "no shared signature algorithm" },
	{ SSL_R_NO_SUITABLE_KEY_SHARE, "no shared group" },
	{ SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC, "bad record mac" },
	{ SSL_R_HTTP_REQUEST, "not tls" },
	{ SSL_R_HTTPS_PROXY_REQUEST, "not tls" },
	{ SSL_R_RECORD_LENGTH_MISMATCH, "decode error" },
	{ SSL_R_PACKET_LENGTH_TOO_LONG, "record overflow" },
	{ SSL_R_UNEXPECTED_MESSAGE, "unexpected message" },
	{ SSL_R_UNEXPECTED_RECORD, "unexpected message" },
	{ SSL_R_BAD_KEY_UPDATE, "bad key update" },
	{ SSL_R_TOO_MANY_KEY_UPDATES, "too many key updates" },
	{ SSL_R_UNEXPECTED_EOF_WHILE_READING, "unexpected eof" },
};

/* Why a certificate chain did not verify (ours rejecting theirs). */
static const struct text verify_texts[] = {
	{ X509_V_ERR_CERT_HAS_EXPIRED, "certificate expired" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, "certificate not yet valid" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown ca" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "unknown ca" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "unknown ca" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "unknown ca" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "unknown ca" },
	{ X509_V_ERR_CERT_UNTRUSTED, "unknown ca" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE, "bad certificate signature" },
	{ X509_V_ERR_INVALID_PURPOSE, "wrong certificate purpose" },
	{ X509_V_ERR_CERT_CHAIN_TOO_LONG, "certificate chain too long" },
	{ X509_V_ERR_CERT_REVOKED, "certificate revoked" },
	{ X509_V_ERR_INVALID_CA, "invalid ca" },
	{ X509_V_ERR_EE_KEY_TOO_SMALL, "certificate key too weak" },
	{ X509_V_ERR_CA_MD_TOO_WEAK, "certificate signature too weak" },
};

static const char *
text_find(const struct text *t, size_t n, int code, const char *fallback)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].text;
	return fallback;
}

static const char *
reason_text(const struct tls_conn *c, unsigned long e)
{
	int reason = ERR_GET_REASON(e);
	const char *s;

	if (e == 0)
		return "tls error";
	if (ERR_SYSTEM_ERROR(e) || ERR_GET_LIB(e) != ERR_LIB_SSL)
		return "tls library error";
	if (reason >= SSL_AD_REASON_OFFSET)
		return text_find(alert_texts, sizeof(alert_texts) / sizeof(alert_texts[0]),
		    reason - SSL_AD_REASON_OFFSET, "alert");
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
		return text_find(verify_texts, sizeof(verify_texts) / sizeof(verify_texts[0]),
		    (int)SSL_get_verify_result(c->ssl), "certificate verify failed");
	s = text_find(reason_texts, sizeof(reason_texts) / sizeof(reason_texts[0]), reason, NULL);
	if (s == NULL)
		s = ERR_reason_error_string(e);
	return s != NULL ? s : "tls error";
}

/*
 * Records why the connection failed (the first SSL error on the queue is the cause; what
 * follows is context) unless a callback already said so, and empties the thread's queue so
 * the next connection starts clean.
 */
static void
conn_fail(struct tls_conn *c)
{
	unsigned long e, first = 0, first_ssl = 0;

	while ((e = ERR_get_error()) != 0) {
		if (first == 0)
			first = e;
		if (first_ssl == 0 && !ERR_SYSTEM_ERROR(e) && ERR_GET_LIB(e) == ERR_LIB_SSL)
			first_ssl = e;
	}
	if (c->error == NULL)
		c->error = reason_text(c, first_ssl != 0 ? first_ssl : first);
	c->closed = TLS_CONN_FAILED;
}

/* From inside an OpenSSL callback: the refusal's reason, when we know it better. */
static void
conn_note(SSL *s, const char *why)
{
	struct tls_conn *c = SSL_get_app_data(s);

	if (c != NULL && c->error == NULL)
		c->error = why;
}

/* ---- contexts -------------------------------------------------------------------------- */

/* Key files are never encrypted here: refuse instead of prompting on a terminal. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static int
alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned int inlen, void *arg)
{
	static const unsigned char want[] = PU_ALPN;
	const size_t want_len = sizeof(want) - 1;
	size_t i = 0;

	(void)arg;
	/* OpenSSL has checked the list's framing; the bounds are checked again anyway. */
	while (i < inlen) {
		size_t len = in[i];

		if (len == 0 || len > inlen - i - 1)
			break;
		if (len == want_len && memcmp(in + i + 1, want, want_len) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)len;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + len;
	}
	conn_note(s, "no application protocol");
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Does the ClientHello's supported_versions list TLS 1.3? */
static int
offers_tls13(SSL *s)
{
	const unsigned char *p;
	size_t len;

	if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_supported_versions, &p, &len) != 1 ||
	    len < 1 || (size_t)p[0] != len - 1)
		return 0;
	for (size_t i = 1; i + 1 < len; i += 2)
		if (p[i] == (TLS1_3_VERSION >> 8) && p[i + 1] == (TLS1_3_VERSION & 0xff))
			return 1;
	return 0;
}

/*
 * The ALPN callback only runs when the client sent the extension: a ClientHello without it
 * is refused here. A client that cannot speak TLS 1.3 is left to version negotiation, so the
 * log says "unsupported protocol" for it rather than the ALPN it also lacks.
 */
static int
client_hello_check(SSL *s, int *al, void *arg)
{
	const unsigned char *p;
	size_t len;

	(void)arg;
	if (!offers_tls13(s) ||
	    SSL_client_hello_get0_ext(s, TLSEXT_TYPE_application_layer_protocol_negotiation,
	    &p, &len) == 1)
		return SSL_CLIENT_HELLO_SUCCESS;
	conn_note(s, "no application protocol");
	*al = SSL_AD_NO_APPLICATION_PROTOCOL;
	return SSL_CLIENT_HELLO_ERROR;
}

/* One line: what failed, on which file, and the root cause (the oldest queued error). */
static void
ctx_error(char *err, size_t err_len, const char *what, const char *file)
{
	unsigned long e = ERR_peek_error();
	char sys[128] = "";
	const char *why = NULL;

	if (e != 0 && ERR_SYSTEM_ERROR(e)) {
		if (strerror_r(ERR_GET_REASON(e), sys, sizeof(sys)) == 0)
			why = sys;
	} else if (e != 0) {
		why = ERR_reason_error_string(e);
	}
	if (err != NULL && err_len > 0)
		snprintf(err, err_len, "%s%s%s%s%s", what, file != NULL ? " " : "",
		    file != NULL ? file : "", why != NULL ? ": " : "", why != NULL ? why : "");
	ERR_clear_error();
}

static SSL_CTX *
ctx_new(int server, const char *cert_file, const char *key_file, const char *ca_file,
    char *err, size_t err_len)
{
	static const unsigned char alpn_wire[] = "\x08" PU_ALPN;
	static const unsigned char sid_ctx[] = PU_ALPN;
	SSL_CTX *ctx = NULL;
	STACK_OF(X509_NAME) *names = NULL;
	const char *what = "cannot set up TLS", *file = NULL;

	ERR_clear_error();
	if (cert_file == NULL || key_file == NULL || ca_file == NULL) {
		what = "TLS needs a certificate, its key and the CA certificate";
		goto fail;
	}
	if ((ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method())) == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, PU_TLS_SUITES) != 1)
		goto fail;
	SSL_CTX_set_security_level(ctx, TLS_SECURITY_LEVEL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1 || SSL_CTX_set_max_early_data(ctx, 0) != 1 ||
	    SSL_CTX_set_recv_max_early_data(ctx, 0) != 1)
		goto fail;
	/* Thousands of idle sessions should not each hold 2 x 16 KiB of record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);

	what = "cannot load certificate";
	file = cert_file;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		goto fail;
	what = "cannot load private key";
	file = key_file;
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		/* Loading already compares the key with the certificate. */
		if (ERR_GET_LIB(ERR_peek_error()) == ERR_LIB_X509 &&
		    ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH)
			what = "private key does not match certificate";
		goto fail;
	}
	what = "private key does not match certificate";
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	what = "cannot load CA certificate";
	file = ca_file;
	if (SSL_CTX_load_verify_file(ctx, ca_file) != 1)
		goto fail;

	what = "cannot set up TLS";
	file = NULL;
	if (X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT) != 1)
		goto fail;
	SSL_CTX_set_verify_depth(ctx, PU_TLS_VERIFY_DEPTH);
	if (server) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1 ||
		    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1)
			goto fail;
		/* CertificateRequest names the federation CA, so a client picks the right cert. */
		what = "cannot load CA certificate";
		file = ca_file;
		if ((names = SSL_load_client_CA_file(ca_file)) == NULL)
			goto fail;
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
		SSL_CTX_set_client_hello_cb(ctx, client_hello_check, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1)
			goto fail;
		/* Unlike everything else in OpenSSL, 0 is success here. */
		if (SSL_CTX_set_alpn_protos(ctx, alpn_wire, sizeof(alpn_wire) - 1) != 0)
			goto fail;
	}
	ERR_clear_error();
	return ctx;
fail:
	ctx_error(err, err_len, what, file);
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_server_ctx(const char *cert_file, const char *key_file, const char *ca_file, char *err,
    size_t err_len)
{
	return ctx_new(1, cert_file, key_file, ca_file, err, err_len);
}

SSL_CTX *
tls_client_ctx(const char *cert_file, const char *key_file, const char *ca_file, char *err,
    size_t err_len)
{
	return ctx_new(0, cert_file, key_file, ca_file, err, err_len);
}

/* ---- connections ----------------------------------------------------------------------- */

int
tls_conn_init(struct tls_conn *c, SSL_CTX *ctx, int is_server)
{
	BIO *in = NULL, *out = NULL;

	if (c == NULL)
		return PU_ERR_ARG;
	memset(c, 0, sizeof(*c));
	if (ctx == NULL)
		return PU_ERR_ARG;
	ERR_clear_error();
	if ((c->ssl = SSL_new(ctx)) == NULL || (in = BIO_new(BIO_s_mem())) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL)
		goto fail;
	/* An empty input BIO means "wait for the network", not end of stream. */
	BIO_set_mem_eof_return(in, -1);
	SSL_set_bio(c->ssl, in, out);
	c->net_in = in;
	c->net_out = out;
	SSL_set_app_data(c->ssl, c);
	if (is_server)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);
	return PU_OK;
fail:
	BIO_free(out);
	BIO_free(in);
	SSL_free(c->ssl);
	ERR_clear_error();
	memset(c, 0, sizeof(*c));
	return PU_ERR_NOMEM;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);	/* frees both BIOs */
	memset(c, 0, sizeof(*c));
}

int
tls_conn_feed(struct tls_conn *c, const uint8_t *p, size_t n)
{
	size_t done = 0;

	if (c == NULL || c->ssl == NULL || (p == NULL && n > 0))
		return PU_ERR_ARG;
	if (c->closed == TLS_CONN_FAILED)
		return PU_ERR_IO;
	if (n == 0)
		return PU_OK;
	if (BIO_write_ex(c->net_in, p, n, &done) != 1 || done != n) {
		ERR_clear_error();
		return PU_ERR_NOMEM;
	}
	return PU_OK;
}

/* What the handshake must have produced, checked even though the context asks for it. */
static int
handshake_check(struct tls_conn *c)
{
	static const unsigned char want[] = PU_ALPN;
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	long v;

	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	if (SSL_version(c->ssl) != TLS1_3_VERSION)
		c->error = "unsupported protocol";
	else if (alpn_len != sizeof(want) - 1 || memcmp(alpn, want, alpn_len) != 0)
		c->error = "no application protocol";
	else if (SSL_get0_peer_certificate(c->ssl) == NULL)
		c->error = "certificate required";
	else if ((v = SSL_get_verify_result(c->ssl)) != X509_V_OK)
		c->error = text_find(verify_texts, sizeof(verify_texts) / sizeof(verify_texts[0]),
		    (int)v, "certificate verify failed");
	if (c->error != NULL) {
		c->closed = TLS_CONN_FAILED;
		return PU_ERR_IO;
	}
	c->handshake_done = 1;
	return PU_OK;
}

int
tls_conn_handshake(struct tls_conn *c)
{
	int r;

	if (c == NULL || c->ssl == NULL)
		return PU_ERR_ARG;
	if (c->closed != TLS_CONN_OPEN)
		return PU_ERR_IO;
	if (c->handshake_done)
		return PU_OK;
	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1)
		return handshake_check(c);
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return PU_ERR_AGAIN;
	default:
		conn_fail(c);
		return PU_ERR_IO;
	}
}

/*
 * Reads record after record until p is full or the input BIO runs dry: one SSL_read_ex()
 * returns at most one record, and a record left half-read stays in SSL_pending(), which no
 * network event will ever announce again.
 */
long
tls_conn_read(struct tls_conn *c, uint8_t *p, size_t n)
{
	size_t total = 0, got;

	if (c == NULL || c->ssl == NULL || (p == NULL && n > 0) || !c->handshake_done)
		return PU_ERR_ARG;
	if (c->closed != TLS_CONN_OPEN)
		return PU_ERR_IO;
	if (n > LONG_MAX)
		n = LONG_MAX;
	while (total < n) {
		int e;

		got = 0;
		ERR_clear_error();
		if (SSL_read_ex(c->ssl, p + total, n - total, &got) == 1) {
			total += got;
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			c->closed = TLS_CONN_PEER_CLOSED;
			if (c->error == NULL)
				c->error = "close notify";
			ERR_clear_error();
		} else {
			conn_fail(c);
		}
		break;
	}
	/* Plaintext that arrived before a close or an error is delivered first. */
	if (total > 0)
		return (long)total;
	return c->closed != TLS_CONN_OPEN ? PU_ERR_IO : 0;
}

int
tls_conn_write(struct tls_conn *c, const uint8_t *p, size_t n)
{
	size_t done = 0;

	if (c == NULL || c->ssl == NULL || (p == NULL && n > 0) || !c->handshake_done)
		return PU_ERR_ARG;
	if (c->closed == TLS_CONN_FAILED || (SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN))
		return PU_ERR_IO;
	if (n == 0)
		return PU_OK;
	ERR_clear_error();
	/* Without SSL_MODE_ENABLE_PARTIAL_WRITE this is all or nothing, and a memory BIO
	 * never pushes back. */
	if (SSL_write_ex(c->ssl, p, n, &done) == 1 && done == n)
		return PU_OK;
	conn_fail(c);
	return PU_ERR_IO;
}

size_t
tls_conn_pending(struct tls_conn *c, uint8_t *p, size_t n)
{
	size_t got = 0;

	if (c == NULL || c->net_out == NULL || p == NULL || n == 0)
		return 0;
	if (BIO_read_ex(c->net_out, p, n, &got) != 1)
		return 0;
	return got;
}

void
tls_conn_shutdown(struct tls_conn *c)
{
	if (c == NULL || c->ssl == NULL || !c->handshake_done || c->closed == TLS_CONN_FAILED)
		return;
	if (SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)
		return;
	ERR_clear_error();
	/* 0: close_notify queued, the peer's still to come; 1: both done. Either is fine. */
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
}

/* The peer certificate, only if the handshake verified it. */
static int
peer_cert(struct tls_conn *c, X509 **out)
{
	X509 *cert;

	if (c == NULL || c->ssl == NULL || !c->handshake_done)
		return PU_ERR_ARG;
	cert = SSL_get0_peer_certificate(c->ssl);
	if (cert == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return PU_ERR_X509;
	*out = cert;
	return PU_OK;
}

int
tls_peer_spki_sha256(struct tls_conn *c, uint8_t out[PU_TLS_SPKI_HASH_LEN])
{
	X509 *cert = NULL;
	unsigned char *der = NULL;
	unsigned int md_len = 0;
	int len, rc;

	if ((rc = peer_cert(c, &cert)) != PU_OK)
		return rc;
	rc = PU_ERR_X509;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0)
		goto done;
	rc = PU_ERR_CRYPTO;
	if (EVP_Digest(der, (size_t)len, out, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != PU_TLS_SPKI_HASH_LEN)
		goto done;
	rc = PU_OK;
done:
	OPENSSL_free(der);
	ERR_clear_error();
	return rc;
}

/* The id from the certificate's only URI SAN, into id[PU_AGENCY_ID_MAX + 1]. */
static int
san_agency(X509 *cert, char *id)
{
	static const char prefix[] = TLS_AGENCY_URI_PREFIX;
	const size_t plen = sizeof(prefix) - 1;
	GENERAL_NAMES *names;
	int crit = -1, uris = 0, rc = PU_ERR_AGENCY_ID;

	/* NULL with crit == -2: the extension appears twice. */
	if ((names = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL)) == NULL)
		return PU_ERR_AGENCY_ID;
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const unsigned char *d;
		size_t len;

		if (g->type != GEN_URI)
			continue;
		if (++uris > 1) {
			rc = PU_ERR_AGENCY_ID;
			break;
		}
		d = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		len = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (d == NULL || len <= plen || len - plen > PU_AGENCY_ID_MAX ||
		    memcmp(d, prefix, plen) != 0 || memchr(d, 0, len) != NULL)
			continue;
		memcpy(id, d + plen, len - plen);
		id[len - plen] = '\0';
		rc = agency_id_check(id);
	}
	GENERAL_NAMES_free(names);
	return rc == PU_OK ? PU_OK : PU_ERR_AGENCY_ID;
}

/* The subject has exactly one CN and it is exactly id. */
static int
cn_matches(X509 *cert, const char *id)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	const ASN1_STRING *cn;
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);

	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return 0;
	cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	return cn != NULL && (size_t)ASN1_STRING_length(cn) == strlen(id) &&
	    memcmp(ASN1_STRING_get0_data(cn), id, strlen(id)) == 0;
}

int
tls_peer_agency(struct tls_conn *c, char *out, size_t out_len)
{
	char id[PU_AGENCY_ID_MAX + 1];
	X509 *cert = NULL;
	int rc;

	if (out == NULL)
		return PU_ERR_ARG;
	if ((rc = peer_cert(c, &cert)) != PU_OK)
		return rc == PU_ERR_X509 ? PU_ERR_AGENCY_ID : rc;
	rc = san_agency(cert, id);
	ERR_clear_error();
	if (rc != PU_OK)
		return rc;
	if (!cn_matches(cert, id))
		return PU_ERR_AGENCY_ID;
	if (strlen(id) >= out_len)
		return PU_ERR_ARG;
	memcpy(out, id, strlen(id) + 1);
	return PU_OK;
}

const char *
tls_conn_error(const struct tls_conn *c)
{
	if (c == NULL || c->error == NULL)
		return "none";
	return c->error;
}
