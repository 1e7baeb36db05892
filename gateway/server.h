/*
 * server.h - the gateway's state on the loop thread: listener, sessions by id, the
 * directory in force, the store, counters. Only the loop thread touches it.
 */
#ifndef PU_SERVER_H
#define PU_SERVER_H

#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "audit.pb-c.h"
#include "config.h"
#include "directory.h"
#include "idfilter.h"
#include "keyfile.h"
#include "store.h"
#include "verifier.h"

#define SESSION_BUCKETS 4096

struct session;

struct server_stats {
	uint64_t sessions_opened, sessions_refused, sessions_failed;
	uint64_t messages_accepted, messages_rejected, messages_retried;
	uint64_t deliveries, receipts, frames_in, frames_out;
	uint64_t bytes_in, bytes_out;
	uint64_t expired, purged, overdue;	/* from the last sweep */
};

struct server {
	uv_loop_t *loop;
	struct gateway_config cfg;
	char gateway_id[STORE_AGENCY_MAX];
	uint8_t root_pk[32];
	struct directory dir;			/* the directory in force */
	SSL_CTX *tls;
	struct store *store;
	struct verifier verifier;		/* header signatures read ahead */
	struct idfilter ids;			/* msg_ids that may be stored already */
	struct secret_key receipt_key;
	struct secret_key checkpoint_key;	/* signs the audit log's checkpoints */
	char origin[128];			/* the log's name, from the directory */
	uv_tcp_t listener;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t tick;			/* once a second: deadlines, directory expiry */
	struct session *buckets[SESSION_BUCKETS];
	struct session *agency_buckets[SESSION_BUCKETS];	/* sessions by agency, from the handshake */
	unsigned n_sessions;
	uint64_t next_session_id;
	int draining;
	int dir_expired;			/* sessions refused until a newer directory */
	int listening;
	unsigned ticks;
	unsigned corked;			/* server_cork depth */
	struct session *corked_sessions;	/* with output waiting for server_uncork */
	int64_t started_at;
	struct server_stats st;
};

int server_init(struct server *srv, uv_loop_t *loop, const struct gateway_config *cfg);
/* What -n checks: identity, keys, TLS context and directory; never the data directory. */
int server_check(struct server *srv, const struct gateway_config *cfg);
int server_listen(struct server *srv);
/* Stop accepting, let in-flight commits finish, close every session, then the store. */
void server_drain(struct server *srv);
void server_free(struct server *srv);
/* Load identity_dir/directory.pb if it is newer; drop sessions it no longer allows. */
int server_reload_directory(struct server *srv);

/* The session table (sessions are referred to by id across threads). */
void server_add_session(struct server *srv, struct session *s);
void server_remove_session(struct server *srv, struct session *s);
struct session *server_find_session(struct server *srv, uint64_t id);
/* Sessions by agency, for pushing news to connected recipients. */
void server_agency_add(struct server *srv, struct session *s);
void server_agency_remove(struct server *srv, struct session *s);
void server_agency_each(struct server *srv, const char *agency,
    void (*fn)(struct session *, void *), void *arg);

/* Append a GATEWAY_START, GATEWAY_STOP or DIRECTORY_CHANGE leaf (with the serial in force). */
void server_audit_lifecycle(struct server *srv, Puente__AuditEvent event);

/* Store completions are routed here, then to the session that asked. */
void server_store_done(void *arg, struct store_req *list);
/*
 * While corked (calls nest), what sessions send waits in their TLS buffers and leaves in
 * one flush per session (64 KiB writes) at the last uncork, within the same loop callback.
 */
void server_cork(struct server *srv);
void server_uncork(struct server *srv);

#endif
