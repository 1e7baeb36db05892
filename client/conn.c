/* conn.c - a blocking, deadline-bounded session with the gateway (see conn.h). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "conn.h"
#include "frames.pb-c.h"
#include "header.h"
#include "pb.h"
#include "pu_err.h"

/* The gateway's choices (gateway/tls.h), restated: the client offers nothing else. */
#define CONN_ALPN "puente/1"
#define CONN_SUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

static int conn_fail(struct conn *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
conn_fail(struct conn *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return rc;
}

/* Wait for fd to be readable (POLLIN) or writable: 1 ready, 0 timed out. */
static int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

static int
tcp_connect(struct conn *c, const struct agency *a)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	int err = 0, one = 1, gai;

	if ((gai = getaddrinfo(a->gw_host, a->gw_port, &hints, &res)) != 0)
		return conn_fail(c, PU_ERR_UNAVAILABLE, "cannot resolve the gateway %s: %s",
		    a->gw_host, gai_strerror(gai));
	for (ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			err = 0;
		else if (errno != EINPROGRESS)
			err = errno;
		else if (!wait_fd(fd, POLLOUT, c->timeout_ms))
			err = ETIMEDOUT;
		else {
			socklen_t len = sizeof(err);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
		}
		if (err != 0) {
			close(fd);
			continue;
		}
		/* Frames are small writes: no Nagle delay on each. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		return conn_fail(c, PU_ERR_UNAVAILABLE, "cannot connect to the gateway at %s:%s: %s",
		    a->gw_host, a->gw_port, strerror(err ? err : ECONNREFUSED));
	return PU_OK;
}

static int
tls_context(struct conn *c, const struct agency *a)
{
	static const unsigned char alpn[] = "\x08" CONN_ALPN;
	char cert[AGENCY_PATH_MAX + 16], key[AGENCY_PATH_MAX + 16], ca[AGENCY_PATH_MAX + 16];

	if (agency_path(a, "tls.crt", cert, sizeof(cert)) != PU_OK ||
	    agency_path(a, "tls.key", key, sizeof(key)) != PU_OK ||
	    agency_path(a, "ca.crt", ca, sizeof(ca)) != PU_OK)
		return conn_fail(c, PU_ERR_TOO_LARGE, "agency folder path too long");
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(c->ctx, CONN_SUITES) != 1 ||
	    SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof(alpn) - 1) != 0)
		return conn_fail(c, PU_ERR_CRYPTO, "cannot set up TLS");
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1)
		return conn_fail(c, PU_ERR_CONFIG, "%s: not a CA certificate", ca);
	if (SSL_CTX_use_certificate_file(c->ctx, cert, SSL_FILETYPE_PEM) != 1)
		return conn_fail(c, PU_ERR_CONFIG, "%s: not a certificate", cert);
	if (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c->ctx) != 1)
		return conn_fail(c, PU_ERR_CONFIG, "%s: not the key of tls.crt", key);
	return PU_OK;
}

/* Drive a non-blocking SSL call's WANT_READ / WANT_WRITE through poll, within the timeout. */
static int
tls_wait(struct conn *c, int ret, int timeout_ms)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(c->fd, POLLIN, timeout_ms) ? PU_OK : PU_ERR_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(c->fd, POLLOUT, timeout_ms) ? PU_OK : PU_ERR_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return conn_fail(c, PU_ERR_UNAVAILABLE, "the gateway closed the connection");
	default:
		ERR_clear_error();
		return conn_fail(c, PU_ERR_UNAVAILABLE, "the connection to the gateway failed");
	}
}

/* The certificate chains to ca.crt (OpenSSL did that) and its key is a gateway's pin. */
static int
check_gateway(struct conn *c, const struct agency *a)
{
	const unsigned char *sel = NULL;
	unsigned char *der = NULL;
	unsigned int sel_len = 0, md_len = 0;
	uint8_t pin[32];
	X509 *cert = SSL_get0_peer_certificate(c->ssl);
	int len, rc;

	if (cert == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return conn_fail(c, PU_ERR_GATEWAY_IDENTITY, "the gateway's certificate is not "
		    "issued by the federation's CA (ca.crt)");
	SSL_get0_alpn_selected(c->ssl, &sel, &sel_len);
	if (sel_len != sizeof(CONN_ALPN) - 1 || memcmp(sel, CONN_ALPN, sel_len) != 0)
		return conn_fail(c, PU_ERR_PROTOCOL, "the gateway does not speak %s", CONN_ALPN);
	if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der)) <= 0)
		return conn_fail(c, PU_ERR_GATEWAY_IDENTITY, "unreadable gateway certificate");
	rc = EVP_Digest(der, (size_t)len, pin, &md_len, EVP_sha256(), NULL) == 1 && md_len == 32 ?
	    PU_OK : PU_ERR_CRYPTO;
	OPENSSL_free(der);
	if (rc == PU_OK && (rc = agency_gateway_pinned(a, pin, (int64_t)time(NULL))) != PU_OK)
		return conn_fail(c, rc, "the gateway at %s:%s presents a key the directory does not "
		    "pin for an active gateway", a->gw_host, a->gw_port);
	return rc == PU_OK ? PU_OK : conn_fail(c, rc, "cannot hash the gateway's key");
}

static int
tls_connect(struct conn *c, const struct agency *a)
{
	int rc, r;

	if ((rc = tls_context(c, a)) != PU_OK)
		return rc;
	if ((c->ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return conn_fail(c, PU_ERR_CRYPTO, "cannot set up TLS");
	while ((r = SSL_connect(c->ssl)) != 1) {
		long verify = SSL_get_verify_result(c->ssl);
		if (SSL_get_error(c->ssl, r) == SSL_ERROR_SSL && verify != X509_V_OK) {
			ERR_clear_error();
			return conn_fail(c, PU_ERR_GATEWAY_IDENTITY, "the gateway's certificate does "
			    "not verify with ca.crt: %s", X509_verify_cert_error_string(verify));
		}
		if ((rc = tls_wait(c, r, c->timeout_ms)) == PU_ERR_AGAIN)
			return conn_fail(c, PU_ERR_UNAVAILABLE, "TLS handshake with the gateway "
			    "timed out");
		if (rc != PU_OK)
			return conn_fail(c, rc, "TLS handshake with the gateway at %s:%s failed",
			    a->gw_host, a->gw_port);
	}
	return check_gateway(c, a);
}

static int
write_all(struct conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		int rc;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if ((rc = tls_wait(c, w, c->timeout_ms)) == PU_ERR_AGAIN)
			return conn_fail(c, PU_ERR_UNAVAILABLE, "the gateway stopped reading");
		if (rc != PU_OK)
			return rc;
	}
	return PU_OK;
}

int
conn_send_body(struct conn *c, uint8_t type, const uint8_t *body, size_t len)
{
	int rc;

	buf_reset(&c->out);
	if ((rc = frame_encode(&c->out, type, body, len)) != PU_OK)
		return conn_fail(c, rc, "frame too large");
	return write_all(c, c->out.data, c->out.len);
}

int
conn_send_msg(struct conn *c, uint8_t type, const ProtobufCMessage *m)
{
	int rc;

	buf_reset(&c->out);
	if ((rc = frame_encode_msg(&c->out, type, m)) != PU_OK)
		return conn_fail(c, rc, "frame too large");
	return write_all(c, c->out.data, c->out.len);
}

/* The next whole frame into c->fr, waiting at most timeout_ms at each step. */
static int
read_frame(struct conn *c, int timeout_ms)
{
	if (c->frame_held) {
		frame_reader_next(&c->fr);
		c->frame_held = 0;
	}
	for (;;) {
		if (c->in_pos < c->in_len) {
			size_t used;
			int rc = frame_reader_feed(&c->fr, c->in + c->in_pos, c->in_len - c->in_pos,
			    &used);
			c->in_pos += used;
			if (rc == PU_OK) {
				c->frame_held = 1;
				return PU_OK;
			}
			if (rc != PU_ERR_AGAIN)
				return conn_fail(c, PU_ERR_PROTOCOL, "bad frame from the gateway: %s",
				    pu_err_message(rc));
			continue;
		}
		int r = SSL_read(c->ssl, c->in, sizeof(c->in)), rc;
		if (r > 0) {
			c->in_pos = 0;
			c->in_len = (size_t)r;
			continue;
		}
		if ((rc = tls_wait(c, r, timeout_ms)) == PU_ERR_AGAIN)
			return timeout_ms == 0 ? PU_ERR_AGAIN : conn_fail(c, PU_ERR_UNAVAILABLE,
			    "the gateway did not answer within %d s", timeout_ms / 1000);
		if (rc != PU_OK)
			return rc;
	}
}

/* Printable ASCII only: the gateway's text reaches a terminal. */
static void
copy_clean(char *out, size_t n, const char *s)
{
	size_t i = 0;

	for (; s != NULL && *s != '\0' && i + 1 < n; s++)
		out[i++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
	out[i] = '\0';
}

static int
gateway_error(struct conn *c, const uint8_t *body, size_t len)
{
	ProtobufCMessage *m;
	Puente__Error *e;
	char text[256];
	int rc;

	if ((rc = frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR, body, len, &m)) != PU_OK)
		return conn_fail(c, PU_ERR_PROTOCOL, "malformed ERROR frame from the gateway");
	e = (Puente__Error *)m;
	rc = pu_err_from_name(e->code);
	if (rc == PU_OK || (rc == PU_ERR_INTERNAL && strcmp(e->code, "PU_ERR_INTERNAL") != 0))
		rc = PU_ERR_PROTOCOL;	/* a name this client does not know */
	c->err_has_msg_id = e->msg_id.len == PU_MSG_ID_LEN;
	if (c->err_has_msg_id)
		memcpy(c->err_msg_id, e->msg_id.data, PU_MSG_ID_LEN);
	copy_clean(text, sizeof(text), e->message);
	conn_fail(c, rc, "the gateway refused: %s", text[0] ? text : pu_err_message(rc));
	pb_free(e);
	return rc;
}

int
conn_expect(struct conn *c, uint8_t want, int timeout_ms, const uint8_t **body, size_t *len)
{
	int rc;

	for (;;) {
		if ((rc = read_frame(c, timeout_ms)) != PU_OK)
			return rc;
		uint8_t type = c->fr.type;
		if (type == want) {
			*body = c->fr.body.data;
			*len = c->fr.body.len;
			return PU_OK;
		}
		if (type == PUENTE__FRAME_TYPE__FRAME_TYPE_NEW_MESSAGE)
			continue;	/* the gateway tells a connected recipient; INBOX lists it */
		if (type == PUENTE__FRAME_TYPE__FRAME_TYPE_NON_DELIVERY) {
			if (c->unsolicited != NULL)
				c->unsolicited(c->unsolicited_arg, type, c->fr.body.data, c->fr.body.len);
			continue;
		}
		if (type == PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR)
			return gateway_error(c, c->fr.body.data, c->fr.body.len);
		return conn_fail(c, PU_ERR_PROTOCOL, "the gateway sent frame type %u where %u was "
		    "due", type, want);
	}
}

int
conn_expect_msg(struct conn *c, uint8_t want, ProtobufCMessage **out)
{
	const uint8_t *body;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = conn_expect(c, want, c->timeout_ms, &body, &len)) != PU_OK)
		return rc;
	if ((rc = frame_decode_body(want, body, len, out)) != PU_OK)
		return conn_fail(c, PU_ERR_PROTOCOL, "malformed frame from the gateway: %s",
		    pu_err_message(rc));
	return PU_OK;
}

static int
hello(struct conn *c, struct agency *a, const char *known)
{
	Puente__Hello h = PUENTE__HELLO__INIT;
	Puente__Welcome *w;
	ProtobufCMessage *m;
	int rc;

	h.version = PU_VERSION;
	h.directory_serial = a->d.dir->serial;
	if (known != NULL)
		h.checkpoint = (char *)known;
	if ((rc = conn_send_msg(c, PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, &h.base)) != PU_OK ||
	    (rc = conn_expect_msg(c, PUENTE__FRAME_TYPE__FRAME_TYPE_WELCOME, &m)) != PU_OK)
		return rc;
	w = (Puente__Welcome *)m;
	if (w->version != PU_VERSION)
		rc = conn_fail(c, PU_ERR_VERSION, "the gateway speaks protocol version %u",
		    w->version);
	else if (strcmp(w->agency_id, a->id) != 0)
		rc = conn_fail(c, PU_ERR_PROTOCOL, "the gateway bound this session to another agency");
	else if (w->directory.len > 0 &&
	    (rc = agency_update_directory(a, w->directory.data, w->directory.len, (int64_t)time(NULL))) != PU_OK)
		rc = conn_fail(c, rc, "the gateway's newer directory is refused: %s",
		    pu_err_message(rc));
	if (rc == PU_OK && w->checkpoint[0] != '\0' && (c->checkpoint = strdup(w->checkpoint)) == NULL)
		rc = PU_ERR_NOMEM;
	/* The proof that the gateway's log extends the checkpoint sent, judged by the caller. */
	for (size_t i = 0; rc == PU_OK && i < w->n_consistency_proof; i++) {
		if (w->consistency_proof[i].len != MERKLE_HASH_LEN || i >= MERKLE_MAX_PROOF) {
			rc = conn_fail(c, PU_ERR_PROOF_LENGTH, "the gateway's consistency proof is "
			    "malformed");
			break;
		}
		memcpy(c->proof + i * MERKLE_HASH_LEN, w->consistency_proof[i].data,
		    MERKLE_HASH_LEN);
		c->proof_len = i + 1;
	}
	c->gateway_now = w->now;
	pb_free(w);
	return rc;
}

int
conn_open(struct conn *c, struct agency *a, const char *known, int timeout_ms,
    conn_unsolicited_fn fn, void *arg)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->unsolicited = fn;
	c->unsolicited_arg = arg;
	frame_reader_init(&c->fr, PU_FRAME_MAX);
	buf_init(&c->out, PU_FRAME_MAX + PU_FRAME_HEADER_LEN);
	if ((rc = tcp_connect(c, a)) != PU_OK || (rc = tls_connect(c, a)) != PU_OK ||
	    (rc = hello(c, a, known)) != PU_OK) {
		char keep[CONN_DETAIL_MAX];
		memcpy(keep, c->detail, sizeof(keep));
		conn_close(c);
		memcpy(c->detail, keep, sizeof(keep));
		return rc;
	}
	return PU_OK;
}

void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		/* close_notify, without waiting for the gateway's */
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	ERR_clear_error();
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	frame_reader_free(&c->fr);
	buf_free(&c->out);
	free(c->checkpoint);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}
