/* testclient.c - a blocking test client of the gateway (see testclient.h). */
#define _GNU_SOURCE	/* ppoll */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <sodium.h>

#include "casefile.h"
#include "fixture.h"
#include "frame.h"
#include "frames.pb-c.h"
#include "fsutil.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"
#include "testclient.h"

#define ALPN "\x08puente/1"

static int
path_in(char *out, size_t n, const char *dir, const char *name)
{
	return snprintf(out, n, "%s/%s", dir, name) < (int)n ? PU_OK : PU_ERR_TOO_LARGE;
}

int
tc_agency_load(struct tc_agency *a, const char *dir)
{
	char path[1200], conf[256] = "";
	uint8_t *data;
	size_t len, bin;
	int rc;

	memset(a, 0, sizeof(*a));
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	path_in(path, sizeof(path), dir, "root.pub");
	if ((rc = file_read_all(path, 256, &data, &len)) != PU_OK)
		return rc;
	rc = sodium_hex2bin(a->root_pk, 32, (char *)data, len, " \n", &bin, NULL) == 0 ? PU_OK : PU_ERR_KEY_FILE;
	free(data);
	if (rc != PU_OK)
		return rc;
	path_in(path, sizeof(path), dir, "directory.pb");
	if ((rc = file_read_all(path, 8u << 20, &data, &len)) != PU_OK)
		return rc;
	rc = directory_load(&a->dir_loaded, data, len, a->root_pk, (int64_t)time(NULL), 0);
	free(data);
	if (rc != PU_OK)
		return rc;
	path_in(path, sizeof(path), dir, "signing.key");
	if ((rc = keyfile_load(path, NULL, PUENTE__SECRET_KIND__SECRET_KIND_ED25519, &a->sign)) != PU_OK)
		return rc;
	snprintf(a->id, sizeof(a->id), "%s", a->sign.agency_id);
	path_in(path, sizeof(path), dir, "encryption.key");
	if (access(path, F_OK) == 0)
		rc = keyfile_load(path, NULL, PUENTE__SECRET_KIND__SECRET_KIND_X25519, &a->enc);
	(void)conf;
	return rc;
}

void
tc_agency_free(struct tc_agency *a)
{
	secret_key_clear(&a->sign);
	secret_key_clear(&a->enc);
	directory_free(&a->dir_loaded);
}

int
tc_connect_tls_opts(struct tc *c, int port, const struct tc_tls_opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return PU_ERR_IO;
	SSL_CTX_set_min_proto_version(c->ctx, o->min_version ? o->min_version : TLS1_3_VERSION);
	if (o->max_version)
		SSL_CTX_set_max_proto_version(c->ctx, o->max_version);
	if (o->ciphersuites != NULL && SSL_CTX_set_ciphersuites(c->ctx, o->ciphersuites) != 1)
		return PU_ERR_IO;
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(c->ctx, o->ca, NULL) != 1)
		return PU_ERR_IO;
	if (!o->no_cert && (SSL_CTX_use_certificate_file(c->ctx, o->cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c->ctx, o->key, SSL_FILETYPE_PEM) != 1))
		return PU_ERR_IO;
	if (!o->no_alpn && SSL_CTX_set_alpn_protos(c->ctx, o->alpn ? o->alpn :
	    (const unsigned char *)ALPN, o->alpn ? (unsigned)o->alpn_len : 9) != 0)
		return PU_ERR_IO;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return PU_ERR_IO;
	/* Frames are small writes: without this, Nagle and delayed ACKs add 40 ms to each. */
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(c->ctx);
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) == 1)
		return PU_OK;
	ERR_clear_error();
	return PU_ERR_IO;
}

int
tc_connect_tls(struct tc *c, int port, const struct tc_agency *a)
{
	char cert[1200], key[1200], ca[1200];
	struct tc_tls_opts o = { .cert = cert, .key = key, .ca = ca };

	path_in(cert, sizeof(cert), a->dir, "tls.crt");
	path_in(key, sizeof(key), a->dir, "tls.key");
	path_in(ca, sizeof(ca), a->dir, "ca.crt");
	return tc_connect_tls_opts(c, port, &o);
}

int
tc_connect(struct tc *c, int port, const struct tc_agency *a)
{
	Puente__Hello h = PUENTE__HELLO__INIT;
	ProtobufCMessage *m;
	int rc;

	if ((rc = tc_connect_tls(c, port, a)) != PU_OK)
		return rc;
	h.version = 1;
	h.directory_serial = a->dir_loaded.dir->serial;
	if ((rc = tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, &h.base)) != PU_OK)
		return rc;
	if ((rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_WELCOME, &m, NULL, 0)) != PU_OK)
		return rc;
	pb_free(m);
	return PU_OK;
}

void
tc_close(struct tc *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	SSL_CTX_free(c->ctx);
	free(c->in);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int
tc_send_raw(struct tc *c, const void *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		int w = SSL_write(c->ssl, (const uint8_t *)p + done, (int)(n - done));
		if (w <= 0)
			return PU_ERR_IO;
		done += (size_t)w;
	}
	return PU_OK;
}

int
tc_send(struct tc *c, uint8_t type, const ProtobufCMessage *m)
{
	struct buf b;
	int rc;

	buf_init(&b, PU_FRAME_MAX);
	rc = frame_encode_msg(&b, type, m);
	if (rc == PU_OK)
		rc = tc_send_raw(c, b.data, b.len);
	buf_free(&b);
	return rc;
}

int
tc_send_body(struct tc *c, uint8_t type, const uint8_t *body, size_t len)
{
	struct buf b;
	int rc;

	buf_init(&b, PU_FRAME_MAX);
	rc = frame_encode(&b, type, body, len);
	if (rc == PU_OK)
		rc = tc_send_raw(c, b.data, b.len);
	buf_free(&b);
	return rc;
}

int
tc_recv(struct tc *c, uint8_t *type, uint8_t **body, size_t *len, int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (c->in_len >= 5) {
			uint32_t flen = get_u32be(c->in);
			if (flen == 0 || flen > PU_FRAME_MAX)
				return PU_ERR_FRAME_TOO_LARGE;
			if (c->in_len >= 4 + (size_t)flen) {
				*type = c->in[4];
				*len = flen - 1;
				*body = malloc(*len ? *len : 1);
				memcpy(*body, c->in + 5, *len);
				memmove(c->in, c->in + 4 + flen, c->in_len - 4 - flen);
				c->in_len -= 4 + flen;
				return PU_OK;
			}
		}
		/* SSL_has_pending: with read-ahead, whole records may wait unread in OpenSSL. */
		if (!SSL_has_pending(c->ssl)) {
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			clock_gettime(CLOCK_MONOTONIC, &now);
			long left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
			    (now.tv_nsec - start.tv_nsec) / 1000000);
			/* Even out of time, what has already arrived is read. */
			if (poll(&p, 1, left > 0 ? (int)left : 0) == 0)
				return PU_ERR_AGAIN;
		}
		uint8_t tmp[65536];
		int r = SSL_read(c->ssl, tmp, sizeof(tmp));
		if (r <= 0)
			return PU_ERR_IO;
		c->in = realloc(c->in, c->in_len + (size_t)r);
		memcpy(c->in + c->in_len, tmp, (size_t)r);
		c->in_len += (size_t)r;
	}
}

int
tc_wait_readable(struct tc *c, double seconds)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	struct timespec ts;

	/* A whole frame buffered, or decrypted bytes waiting: a part of a frame needs more. */
	if ((c->in_len >= 4 && c->in_len >= 4 + (size_t)get_u32be(c->in)) ||
	    SSL_has_pending(c->ssl))
		return 1;
	if (seconds < 0)
		seconds = 0;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	return ppoll(&p, 1, &ts, NULL) > 0;
}

int
tc_expect(struct tc *c, uint8_t want, ProtobufCMessage **out, char *err_name, size_t n)
{
	uint8_t type, *body;
	size_t len;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (err_name != NULL && n > 0)
		err_name[0] = '\0';
	if ((rc = tc_recv(c, &type, &body, &len, 10000)) != PU_OK)
		return rc;
	/* A gateway may tell a connected recipient of a new message at any time. */
	while (type == PUENTE__FRAME_TYPE__FRAME_TYPE_NEW_MESSAGE && want != type) {
		free(body);
		if ((rc = tc_recv(c, &type, &body, &len, 10000)) != PU_OK)
			return rc;
	}
	if (type == PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR && want != type) {
		ProtobufCMessage *m;
		rc = frame_decode_body(type, body, len, &m);
		free(body);
		if (rc != PU_OK)
			return rc;
		rc = pu_err_from_name(((Puente__Error *)m)->code);
		if (err_name != NULL)
			snprintf(err_name, n, "%s", ((Puente__Error *)m)->code);
		pb_free(m);
		return rc;
	}
	if (type != want) {
		free(body);
		return PU_ERR_FRAME_UNEXPECTED;
	}
	rc = out != NULL ? frame_decode_body(type, body, len, out) : PU_OK;
	free(body);
	return rc;
}

int
tc_seal(const struct tc_agency *a, struct fx_msg *m, const char *const *to, size_t n_to,
    int type, uint64_t att_size, const struct seal_params *ov)
{
	struct seal_recipient r[PU_MAX_RECIPIENTS];
	struct seal_params p = { 0 };
	struct sealer *s = NULL;
	Puente__CaseMessage *cm = fx_case_new(ov && ov->type ? (int)ov->type : type,
	    ov && ov->case_id ? ov->case_id : "MX-2026-7F3K9Q", &att_size, 1);
	uint8_t *enc, block[65536];
	size_t enc_len;
	int64_t now = (int64_t)time(NULL);
	int rc;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n_to && i < PU_MAX_RECIPIENTS; i++) {
		const Puente__Agency *ag = directory_find_agency(&a->dir_loaded, to[i]);
		const Puente__Key *k = ag ? directory_current_key(ag,
		    PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION, now) : NULL;
		r[i].agency_id = to[i];
		if (k != NULL) {
			memcpy(r[i].key_id, k->key_id.data, 16);
			memcpy(r[i].public_key, k->public_key.data, 32);
		} else {
			/* not in the directory: a key of our own, so the gateway can refuse it */
			memcpy(r[i].key_id, a->enc.key_id, 16);
			memcpy(r[i].public_key, a->enc.public_key, 32);
		}
	}
	p.sender = a->id;
	memcpy(p.sender_key_id, a->sign.key_id, 16);
	p.sender_sk = a->sign.secret;
	p.recipients = r;
	p.n_recipients = n_to;
	p.type = type;
	p.case_id = cm->case_id;
	p.created_at = now;
	p.expires_at = now + 3 * 86400;
	if (ov != NULL) {
		if (ov->type) p.type = ov->type;
		if (ov->adoption_scope) p.adoption_scope = ov->adoption_scope;
		if (ov->created_at) p.created_at = ov->created_at;
		if (ov->expires_at) p.expires_at = ov->expires_at;
		if (ov->msg_id) p.msg_id = ov->msg_id;
		if (ov->in_reply_to) p.in_reply_to = ov->in_reply_to;
	}
	pb_encode(&cm->base, &enc, &enc_len);
	rc = envelope_seal_begin(&s, &p, enc, enc_len, att_size, fx_collect_chunk, m);
	free(enc);
	for (uint64_t off = 0; rc == PU_OK && off < att_size; ) {
		size_t n = att_size - off < sizeof(block) ? (size_t)(att_size - off) : sizeof(block);
		for (size_t k = 0; k < n; k++)
			block[k] = fx_att_byte(0, off + k);
		rc = envelope_seal_write(s, block, n);
		off += n;
	}
	if (rc == PU_OK)
		rc = envelope_seal_finish(s, &m->sealed);
	envelope_seal_free(s);
	fx_case_free(cm);
	return rc;
}

static int
encode_chunk(struct buf *b, const struct fx_msg *m, uint32_t i)
{
	Puente__Chunk ch = PUENTE__CHUNK__INIT;

	ch.msg_id.data = (uint8_t *)m->sealed.msg_id;
	ch.msg_id.len = 16;
	ch.index = i;
	ch.data.data = m->chunk[i];
	ch.data.len = m->chunk_len[i];
	return frame_encode_msg(b, PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK, &ch.base);
}

int
tc_encode_message(struct buf *b, const struct fx_msg *m)
{
	int rc = frame_encode(b, PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT, m->sealed.header,
	    m->sealed.header_len);

	for (uint32_t i = 0; rc == PU_OK && i < m->n_chunks; i++)
		rc = encode_chunk(b, m, i);
	return rc;
}

int
tc_send_message(struct tc *c, const struct fx_msg *m)
{
	int rc;

	/* Frame by frame: an attachment of any size is never held whole. */
	rc = tc_send_body(c, PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT, m->sealed.header, m->sealed.header_len);
	for (uint32_t i = 0; rc == PU_OK && i < m->n_chunks; i++) {
		struct buf b;
		buf_init(&b, PU_FRAME_MAX);
		if ((rc = encode_chunk(&b, m, i)) == PU_OK)
			rc = tc_send_raw(c, b.data, b.len);
		buf_free(&b);
	}
	return rc;
}

int
tc_submit(struct tc *c, const struct fx_msg *m, uint8_t **receipt, size_t *receipt_len,
    char *err_name, size_t n)
{
	ProtobufCMessage *out;
	int rc;

	if ((rc = tc_send_message(c, m)) != PU_OK)
		return rc;
	if ((rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT, &out, err_name, n)) != PU_OK)
		return rc;
	if (receipt != NULL && pb_encode(out, receipt, receipt_len) != PU_OK)
		rc = PU_ERR_NOMEM;
	pb_free(out);
	return rc;
}

void
tc_resign_raw(struct fx_msg *m, const struct tc_agency *signer, const uint8_t *core,
    size_t core_len, const uint8_t *manifest, size_t manifest_len)
{
	Puente__SignedHeader sh = PUENTE__SIGNED_HEADER__INIT;
	Puente__HeaderCore *c;
	struct field fl[2] = { { core, core_len }, { manifest, manifest_len } };
	uint8_t sig[64];

	sig_sign(sig, signer->sign.secret, PU_CTX_HEADER, fl, 2);
	sh.core.data = (uint8_t *)core;
	sh.core.len = core_len;
	sh.manifest.data = (uint8_t *)manifest;
	sh.manifest.len = manifest_len;
	sh.signature.data = sig;
	sh.signature.len = sizeof(sig);
	free(m->sealed.header);
	pb_encode(&sh.base, &m->sealed.header, &m->sealed.header_len);
	header_hash_compute(m->sealed.header_hash, core, core_len, manifest, manifest_len);
	/* The msg_id the chunks must name is the (possibly edited) core's. */
	c = puente__header_core__unpack(NULL, core_len, core);
	if (c != NULL && c->msg_id.len == PU_MSG_ID_LEN)
		memcpy(m->sealed.msg_id, c->msg_id.data, PU_MSG_ID_LEN);
	if (c != NULL)
		puente__header_core__free_unpacked(c, NULL);
}

void
tc_resign(struct fx_msg *m, const struct tc_agency *signer, tc_edit_fn edit, void *arg)
{
	Puente__SignedHeader *sh;
	Puente__HeaderCore *core;
	Puente__Manifest *man;
	uint8_t *c, *mn;
	size_t c_len, mn_len;

	sh = puente__signed_header__unpack(NULL, m->sealed.header_len, m->sealed.header);
	if (sh == NULL)
		abort();
	core = puente__header_core__unpack(NULL, sh->core.len, sh->core.data);
	man = puente__manifest__unpack(NULL, sh->manifest.len, sh->manifest.data);
	if (core == NULL || man == NULL)
		abort();
	if (edit != NULL)
		edit(core, man, arg);
	pb_encode(&core->base, &c, &c_len);
	pb_encode(&man->base, &mn, &mn_len);
	tc_resign_raw(m, signer, c, c_len, mn, mn_len);
	free(c);
	free(mn);
	puente__manifest__free_unpacked(man, NULL);
	puente__header_core__free_unpacked(core, NULL);
	puente__signed_header__free_unpacked(sh, NULL);
}

int
tc_inbox(struct tc *c, uint8_t (*ids)[16], size_t max, size_t *n)
{
	Puente__InboxRequest q = PUENTE__INBOX_REQUEST__INIT;
	ProtobufCMessage *m;
	int rc;

	*n = 0;
	if ((rc = tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &q.base)) != PU_OK ||
	    (rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX, &m, NULL, 0)) != PU_OK)
		return rc;
	for (size_t i = 0; i < ((Puente__Inbox *)m)->n_entries && *n < max; i++)
		memcpy(ids[(*n)++], ((Puente__Inbox *)m)->entries[i]->msg_id.data, 16);
	pb_free(m);
	return PU_OK;
}

int
tc_fetch_send(struct tc *c, const uint8_t *msg_id)
{
	Puente__Fetch f = PUENTE__FETCH__INIT;

	f.msg_id.data = (uint8_t *)msg_id;
	f.msg_id.len = 16;
	return tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH, &f.base);
}

int
tc_fetch_open_receipt(struct tc *c, const struct tc_agency *a, const uint8_t *msg_id,
    uint8_t *mac, char *err_name, size_t n)
{
	int rc = tc_fetch_send(c, msg_id);

	return rc == PU_OK ? tc_fetch_finish(c, a, mac, err_name, n) : rc;
}

int
tc_fetch_finish(struct tc *c, const struct tc_agency *a, uint8_t *mac, char *err_name, size_t n)
{
	ProtobufCMessage *m;
	struct header h;
	struct opener *o = NULL;
	struct open_key key;
	Puente__CaseMessage *cm = NULL;
	uint8_t *hdr, *rcpt, mac_buf[32];
	size_t hdr_len, rcpt_len;
	int rc;

	if ((rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER, &m, err_name, n)) != PU_OK)
		return rc;
	rc = pb_encode(m, &hdr, &hdr_len);
	pb_free(m);
	if (rc != PU_OK)
		return rc;
	rc = header_decode(&h, hdr, hdr_len);
	free(hdr);
	if (rc != PU_OK)
		return rc;
	memcpy(key.key_id, a->enc.key_id, 16);
	memcpy(key.public_key, a->enc.public_key, 32);
	key.secret_key = a->enc.secret;
	rc = envelope_open_begin(&o, &h, &a->dir_loaded, a->id, &key, 1, NULL, NULL);
	for (uint32_t i = 0; rc == PU_OK && i < h.core->chunk_count; i++) {
		if ((rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK, &m, err_name, n)) != PU_OK)
			break;
		rc = envelope_open_chunk(o, ((Puente__Chunk *)m)->index,
		    ((Puente__Chunk *)m)->data.data, ((Puente__Chunk *)m)->data.len);
		pb_free(m);
	}
	if (rc == PU_OK)
		rc = envelope_open_finish(o, &cm, mac ? mac : mac_buf);
	envelope_open_free(o);
	pb_free(cm);
	if (rc == PU_OK)
		rc = receipt_recipient_create(&h, a->id, PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED,
		    mac ? mac : mac_buf, (int64_t)time(NULL), a->sign.key_id, a->sign.secret, &rcpt,
		    &rcpt_len);
	header_free(&h);
	if (rc != PU_OK)
		return rc;
	rc = tc_send_body(c, PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT, rcpt, rcpt_len);
	free(rcpt);
	if (rc == PU_OK)
		rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, NULL, err_name, n);
	return rc;
}
