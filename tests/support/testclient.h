/*
 * testclient.h - a plain blocking client of the gateway for tests: TLS 1.3 on a loopback
 * socket with an agency folder's certificate, frames, and the agency's real keys to seal,
 * open and receipt messages through the library. Not for production use: the `puente`
 * command is the client; this exists so tests can also send what a client never would.
 */
#ifndef PU_TESTCLIENT_H
#define PU_TESTCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <protobuf-c/protobuf-c.h>

#include "buf.h"
#include "directory.h"
#include "envelope.h"
#include "fixture.h"
#include "keyfile.h"

struct tc_agency {
	char dir[1024];
	char id[64];
	struct secret_key sign, enc;	/* enc absent for auditors */
	uint8_t root_pk[32];
	struct directory dir_loaded;
};

struct tc {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	uint8_t *in;		/* received bytes not yet framed */
	size_t in_len;
};

/* Load an agency folder written by puente-keys (keys, directory checked at now). */
int tc_agency_load(struct tc_agency *a, const char *dir);
void tc_agency_free(struct tc_agency *a);

/* TCP + TLS only (no HELLO): PU_OK, or PU_ERR_IO when the handshake fails. */
int tc_connect_tls(struct tc *c, int port, const struct tc_agency *a);
/*
 * TCP + TLS with explicit choices, for tests of what the gateway must refuse: any field
 * left 0/NULL keeps tc_connect_tls's choice, except that cert/key NULL with no_cert set
 * sends no client certificate. alpn is in wire form (length-prefixed names).
 */
struct tc_tls_opts {
	const char *cert, *key, *ca;	/* PEM files */
	int no_cert;
	int min_version, max_version;	/* TLS1_2_VERSION, TLS1_3_VERSION */
	const char *ciphersuites;	/* TLS 1.3 suites, e.g. "TLS_AES_128_CCM_8_SHA256" */
	const unsigned char *alpn;
	size_t alpn_len;
	int no_alpn;
};
int tc_connect_tls_opts(struct tc *c, int port, const struct tc_tls_opts *o);

/* TLS, HELLO, WELCOME. */
int tc_connect(struct tc *c, int port, const struct tc_agency *a);
void tc_close(struct tc *c);

int tc_send_raw(struct tc *c, const void *p, size_t n);
int tc_send(struct tc *c, uint8_t type, const ProtobufCMessage *m);
/* A frame whose body is already encoded. */
int tc_send_body(struct tc *c, uint8_t type, const uint8_t *body, size_t len);
/*
 * Next frame within timeout_ms: PU_OK with *type and *body (malloc'd), PU_ERR_AGAIN on
 * timeout, PU_ERR_IO when the gateway closed the connection.
 */
int tc_recv(struct tc *c, uint8_t *type, uint8_t **body, size_t *len, int timeout_ms);
/*
 * Wait up to seconds (to the nanosecond, not rounded to milliseconds) until tc_recv may
 * have something without waiting: 1 when a whole frame is buffered, decrypted bytes wait or
 * the socket is readable.
 */
int tc_wait_readable(struct tc *c, double seconds);
/* Receive until a frame of type want: decoded message in *out (pb_free), or the error code
 * named by an ERROR frame (its name in err_name if given). Unsolicited INBOX frames (the
 * gateway's push to a connected recipient) are skipped unless INBOX is wanted. */
int tc_expect(struct tc *c, uint8_t want, ProtobufCMessage **out, char *err_name, size_t n);

/* A sealed message in memory, ready to submit: the fixture's (free with fx_msg_free). */

/*
 * Seal a minimal case message of the type from a to the recipients (current keys from the
 * directory), with one attachment of att_size pattern bytes. params may override times,
 * msg_id, scope, type (fields left 0 keep their defaults).
 */
int tc_seal(const struct tc_agency *a, struct fx_msg *m, const char *const *to, size_t n_to,
    int type, uint64_t att_size, const struct seal_params *params);
/* SUBMIT and every chunk, without waiting for the answer (pipelining). */
int tc_send_message(struct tc *c, const struct fx_msg *m);
/* The same frames appended to b, for a sender that writes many messages at once. */
int tc_encode_message(struct buf *b, const struct fx_msg *m);
/* SUBMIT and every chunk, then wait for GATEWAY_RECEIPT (raw Signed bytes in *receipt). */
int tc_submit(struct tc *c, const struct fx_msg *m, uint8_t **receipt, size_t *receipt_len,
    char *err_name, size_t n);

/*
 * The malicious sender: decode m's SignedHeader, let edit change core and manifest, then
 * re-encode them and sign with signer's key (which need not be the sender's). m's header,
 * msg_id and header hash are replaced; the chunks stay as they are.
 */
typedef void (*tc_edit_fn)(Puente__HeaderCore *core, Puente__Manifest *man, void *arg);
void tc_resign(struct fx_msg *m, const struct tc_agency *signer, tc_edit_fn edit, void *arg);
/* The same with core and manifest given as raw bytes (e.g. not canonical). */
void tc_resign_raw(struct fx_msg *m, const struct tc_agency *signer, const uint8_t *core,
    size_t core_len, const uint8_t *manifest, size_t manifest_len);

/*
 * FETCH msg_id as agency a, open and verify it through the library, then send a recipient
 * receipt with that outcome (OPENED carries the MAC) and wait for the ACK. mac may be NULL.
 */
int tc_fetch_open_receipt(struct tc *c, const struct tc_agency *a, const uint8_t *msg_id,
    uint8_t *mac, char *err_name, size_t n);
/* The same in two steps, for a reader that waits in between: FETCH, then the rest. */
int tc_fetch_send(struct tc *c, const uint8_t *msg_id);
int tc_fetch_finish(struct tc *c, const struct tc_agency *a, uint8_t *mac, char *err_name,
    size_t n);
/* The msg_ids in the session's next INBOX answer (at most max). */
int tc_inbox(struct tc *c, uint8_t (*ids)[16], size_t max, size_t *n);

#endif
