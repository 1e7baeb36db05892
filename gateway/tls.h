/*
 * tls.h - TLS 1.3 with mutual authentication as a pure memory-BIO engine (DESIGN.md §4, §13).
 *
 * No sockets here: the event loop feeds ciphertext that arrived from the network with
 * tls_conn_feed(), drives tls_conn_handshake() / tls_conn_read() / tls_conn_write(), and sends
 * whatever tls_conn_pending() hands back. After every call that may produce output (feed +
 * handshake, read, write, shutdown, and a failure: the fatal alert goes out too) the loop
 * drains tls_conn_pending() before waiting again.
 *
 * Identity is not decided here: after the handshake the caller compares tls_peer_spki_sha256()
 * with the directory pin and takes tls_peer_agency() as the session's agency id. Time is not
 * kept here either: the handshake deadline is the event loop's timer, and a socket EOF before
 * closed == TLS_CONN_PEER_CLOSED is a truncation, not a clean close.
 *
 * TLS 1.3 reports a refused client certificate only after the client's handshake has finished:
 * a client learns it on its first tls_conn_read() (write, then read).
 */
#ifndef PU_TLS_H
#define PU_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#define PU_ALPN "puente/1"
/* TLS 1.3 AEAD suites, strongest first; never CCM_8 (64-bit tag). */
#define PU_TLS_SUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
/* The federation CA issues every leaf itself: no intermediate is ever legitimate. */
#define PU_TLS_VERIFY_DEPTH 1
#define PU_TLS_SPKI_HASH_LEN 32

/* Server context: TLS 1.3 only, the suites above, client certificate required and verified
 * against ca_file, ALPN exactly "puente/1" (anything else or nothing: no_application_protocol),
 * no session tickets, no 0-RTT, no renegotiation, no compression. NULL and one line in err on
 * failure. */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, const char *ca_file,
    char *err, size_t err_len);
/* Client context: same version and suites, verifies the server certificate (serverAuth)
 * against ca_file, sends its own certificate, offers "puente/1" and fails the handshake when
 * the server does not select it. */
SSL_CTX *tls_client_ctx(const char *cert_file, const char *key_file, const char *ca_file,
    char *err, size_t err_len);

/* Values of struct tls_conn.closed. */
#define TLS_CONN_OPEN 0
#define TLS_CONN_PEER_CLOSED 1	/* clean: the peer's close_notify arrived */
#define TLS_CONN_FAILED 2	/* fatal error; only pending output (the alert) remains useful */

/*
 * One connection. The struct must stay at the same address from tls_conn_init() to
 * tls_conn_free() (OpenSSL's callbacks find it through the SSL object). The memory BIOs grow
 * as needed: the caller bounds what it feeds and checks BIO_ctrl_pending(net_out) for
 * back-pressure.
 */
struct tls_conn {
	SSL *ssl;
	BIO *net_in;		/* ciphertext from the network, owned by ssl */
	BIO *net_out;		/* ciphertext for the network, owned by ssl */
	int handshake_done;
	int closed;		/* TLS_CONN_* */
	const char *error;	/* static text for tls_conn_error(), NULL when none */
};

/* PU_OK, PU_ERR_NOMEM, or PU_ERR_ARG. */
int tls_conn_init(struct tls_conn *c, SSL_CTX *ctx, int is_server);
/* Frees everything; send close_notify first (tls_conn_shutdown + tls_conn_pending). */
void tls_conn_free(struct tls_conn *c);
/* Ciphertext that arrived from the network. PU_OK, PU_ERR_IO after a failure. */
int tls_conn_feed(struct tls_conn *c, const uint8_t *p, size_t n);
/* PU_OK when the handshake is complete (TLS 1.3, ALPN "puente/1", peer certificate verified),
 * PU_ERR_AGAIN when more input is needed (send tls_conn_pending() output first), PU_ERR_IO on
 * failure (tls_conn_error() says why; the alert is in the pending output). */
int tls_conn_handshake(struct tls_conn *c);
/* Plaintext, after the handshake: fills p as far as the buffered input allows, across records.
 * Returns the count (> 0), 0 when more input is needed, or PU_ERR_IO when the connection is
 * closed (closed == TLS_CONN_PEER_CLOSED: clean) or failed (TLS_CONN_FAILED). A full buffer
 * may leave more plaintext behind: call again until it returns 0. Reading can produce output
 * (post-handshake messages): drain tls_conn_pending() afterwards. */
long tls_conn_read(struct tls_conn *c, uint8_t *p, size_t n);
/* Encrypts all n bytes into the pending output. PU_OK, PU_ERR_ARG before the handshake,
 * PU_ERR_IO after a failure or a shutdown. */
int tls_conn_write(struct tls_conn *c, const uint8_t *p, size_t n);
/* Copies up to n bytes of ciphertext for the network; the count, 0 when none. */
size_t tls_conn_pending(struct tls_conn *c, uint8_t *p, size_t n);
/* Queues close_notify (after a completed handshake, once); reading stays possible until the
 * peer's close_notify arrives. */
void tls_conn_shutdown(struct tls_conn *c);
/* SHA-256 of the peer certificate's DER SubjectPublicKeyInfo: the directory's TLS pin.
 * PU_OK, PU_ERR_ARG before the handshake, PU_ERR_X509 without a verified peer certificate. */
int tls_peer_spki_sha256(struct tls_conn *c, uint8_t out[PU_TLS_SPKI_HASH_LEN]);
/* The peer's agency id: its only URI SAN is "urn:puente:agency:ID", ID is well formed and
 * equals the subject's only CN. PU_OK, PU_ERR_AGENCY_ID otherwise, PU_ERR_ARG before the
 * handshake or when out_len is too small (PU_AGENCY_ID_MAX + 1 always suffices). */
int tls_peer_agency(struct tls_conn *c, char *out, size_t out_len);
/* Why the connection failed or closed, as a short stable text for logs ("certificate required",
 * "unknown ca", "certificate expired", "no application protocol", "unsupported protocol",
 * "no shared cipher", "close notify", ...); "none" when nothing went wrong. */
const char *tls_conn_error(const struct tls_conn *c);

#endif
