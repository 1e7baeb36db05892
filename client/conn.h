/*
 * conn.h - one blocking session with the gateway (PROTOCOL.md §2.1): TCP, TLS 1.3 with the
 * agency's certificate, the gateway's certificate checked against ca.crt AND its SPKI pin in
 * the directory, then HELLO / WELCOME. Every wait is bounded by a poll timeout; whatever the
 * gateway sends is framed by proto/frame.c's reader and decoded canonically before use.
 */
#ifndef PU_CLIENT_CONN_H
#define PU_CLIENT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <protobuf-c/protobuf-c.h>

#include "agency.h"
#include "buf.h"
#include "frame.h"
#include "merkle.h"

#define CONN_DETAIL_MAX 512

/* A frame the gateway sent unasked (a NON_DELIVERY notice); the conn skips it after. */
typedef void (*conn_unsolicited_fn)(void *arg, uint8_t type, const uint8_t *body, size_t len);

struct conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	struct frame_reader fr;
	int frame_held;			/* fr holds a frame the caller may still read */
	uint8_t in[16384];		/* decrypted bytes not yet framed */
	size_t in_pos, in_len;
	struct buf out;			/* one encoded frame on its way out */
	int timeout_ms;
	char detail[CONN_DETAIL_MAX];	/* the last failure, one line */
	uint8_t err_msg_id[16];		/* the message the last ERROR frame named */
	int err_has_msg_id;
	char *checkpoint;		/* the WELCOME's checkpoint note, or NULL */
	uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN];	/* WELCOME: consistency from */
	size_t proof_len;		/* the checkpoint HELLO carried to the one above */
	int64_t gateway_now;
	conn_unsolicited_fn unsolicited;
	void *unsolicited_arg;
};

/*
 * Connect, handshake, HELLO (with known, the newest checkpoint the client holds, or NULL),
 * WELCOME (a newer directory it carries replaces a's; its checkpoint and consistency proof
 * are kept in c for the caller to judge).
 */
int conn_open(struct conn *c, struct agency *a, const char *known, int timeout_ms,
    conn_unsolicited_fn fn, void *arg);
void conn_close(struct conn *c);

int conn_send_msg(struct conn *c, uint8_t type, const ProtobufCMessage *m);
int conn_send_body(struct conn *c, uint8_t type, const uint8_t *body, size_t len);

/*
 * The next frame of type want. Pushed INBOX notices are skipped (unless want is INBOX),
 * NON_DELIVERY frames go to the unsolicited callback; an ERROR frame returns its code
 * (detail: the gateway's reason, msg_id in err_msg_id when it names one), any other frame
 * PU_ERR_PROTOCOL. *body stays valid until the next receive. timeout_ms 0: do not wait,
 * PU_ERR_AGAIN when no whole frame is there yet.
 */
int conn_expect(struct conn *c, uint8_t want, int timeout_ms, const uint8_t **body, size_t *len);
/* The same, decoded (pb_free the result). */
int conn_expect_msg(struct conn *c, uint8_t want, ProtobufCMessage **out);

#endif
