/*
 * session.h - one client connection: TCP through libuv, TLS through memory BIOs, frames,
 * and the protocol of PROTOCOL.md §2.1. A session is freed only in the close callback of
 * its last handle; store requests refer to it by id, so a late completion for a session
 * that is gone is simply dropped.
 */
#ifndef PU_SESSION_H
#define PU_SESSION_H

#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "frame.h"
#include "header.h"
#include "store.h"
#include "tls.h"
#include "verifier.h"

struct server;

enum session_state {
	S_HANDSHAKE,	/* TLS handshake under its deadline */
	S_HELLO,	/* TLS done, identity bound, waiting for HELLO */
	S_READY,
	S_CLOSING,
};

/* The message being received on this session. */
struct submission {
	int active;			/* header accepted, chunks expected */
	int discard;			/* answered already: drop the chunks of msg_id */
	int discard_any;		/* a header we could not read: drop chunks until SUBMIT */
	uint8_t msg_id[PU_MSG_ID_LEN];
	struct header h;
	uint8_t *header_bytes;
	size_t header_len;
	uint32_t next;			/* next chunk index */
	uint32_t count;
	uint8_t *chunk0;		/* the single chunk of a one-chunk message */
	size_t chunk0_len;
	uint64_t upload;		/* which of the session's uploads this is */
	unsigned spooling;		/* its chunks with the spool */
};

/*
 * A frame read before its turn, so that a SUBMIT's signature is checked off the loop while
 * the frames before it are handled. Frames are still handled one by one, in order.
 */
struct ahead_frame {
	struct ahead_frame *next;
	uint8_t type;
	struct buf body;
	struct header h;		/* a SUBMIT with a job: its header, decoded once */
	struct sig_job *job;		/* a SUBMIT's signature, with the verifier */
};

/* Why a session's input ended, once the frames read before the end are handled. */
enum input_end { INPUT_OPEN, INPUT_PEER_CLOSED, INPUT_TLS_ERROR, INPUT_FRAME_ERROR };

/* The message being delivered on this session. */
struct delivery {
	int active;
	uint8_t msg_id[PU_MSG_ID_LEN];
	uint32_t next, count;
	int reading;			/* a READ_CHUNK is with the store */
};

struct session {
	uint64_t id;
	struct session *bucket_next;
	struct session *agency_next;	/* in srv->agency_buckets once its agency is known */
	int in_agency_index;
	struct server *srv;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shutdown;		/* the lingering close's half-close */
	int open_handles;
	struct session *corked_next;	/* in srv->corked_sessions while output_corked */
	int output_corked;
	enum session_state state;
	struct tls_conn tls;
	struct frame_reader fr;
	uint8_t *in;			/* decrypted bytes not yet given to the frame reader */
	size_t in_len, in_pos;
	struct ahead_frame *ahead, **ahead_tail;	/* read, not yet handled */
	unsigned n_ahead;
	size_t ahead_bytes;
	enum input_end input_end;
	int input_rc;			/* INPUT_FRAME_ERROR: the frame reader's error */
	int paused;			/* waiting for the store before reading on */
	int told_of_new;		/* sent NEW_MESSAGE since its last INBOX_REQUEST */
	uint64_t hello_serial;		/* HELLO: the client's directory serial */
	uint64_t hello_size;		/* HELLO: the size of the checkpoint the client holds */
	int read_stopped;
	char agency[STORE_AGENCY_MAX];
	char peer[64];			/* escaped, for logs */
	uint64_t deadline_ms;		/* handshake, then idle */
	unsigned inflight;		/* submissions with the store */
	unsigned pending;		/* requests of any kind with the store */
	unsigned spooling;		/* chunks with the spool, of this upload or refused ones */
	uint64_t uploads;		/* uploads begun: each submission's number */
	struct submission sub;
	struct delivery dlv;
	int closing_after_flush;	/* told why, lingering until the peer closes too */
	size_t linger_bytes;		/* dropped since then */
};

int session_accept(struct server *srv);
void session_store_done(struct session *s, struct store_req *r);
/* Close now (after an ERROR frame when there is a TLS channel to carry it). */
void session_fail(struct session *s, int rc, const char *why);
/* Move the session's TLS output to its socket now (server_uncork calls it). */
void session_flush(struct session *s);
void session_tick(struct session *s, uint64_t now_ms);
/* The directory changed: 0 when the session's agency may stay, else it is closed. */
void session_recheck(struct session *s);
/*
 * Tell a connected recipient that a message waits for it (NEW_MESSAGE, naming it), once
 * until its next INBOX_REQUEST: entry is a Puente__InboxEntry.
 */
void session_tell_new_message(struct session *s, void *entry);
/* The verifier is back with a signature read ahead (verifier.h's done). */
void session_signature_checked(struct sig_job *j);

#endif
