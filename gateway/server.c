/* server.c - the listener, the session table, the directory in force, signals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "pu_err.h"
#include "server.h"
#include "session.h"
#include "tls.h"

#define CHECKPOINT_INTERVAL_S 5

static size_t
bucket_of(uint64_t id)
{
	return (size_t)(id % SESSION_BUCKETS);
}

void
server_add_session(struct server *srv, struct session *s)
{
	size_t b = bucket_of(s->id);

	s->bucket_next = srv->buckets[b];
	srv->buckets[b] = s;
	srv->n_sessions++;
}

void
server_remove_session(struct server *srv, struct session *s)
{
	struct session **p = &srv->buckets[bucket_of(s->id)];

	for (; *p != NULL; p = &(*p)->bucket_next) {
		if (*p == s) {
			*p = s->bucket_next;
			srv->n_sessions--;
			return;
		}
	}
}

static size_t
agency_bucket(const char *agency)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *agency; agency++)
		h = (h ^ (uint8_t)*agency) * 1099511628211ULL;
	return (size_t)(h % SESSION_BUCKETS);
}

void
server_agency_add(struct server *srv, struct session *s)
{
	size_t b = agency_bucket(s->agency);

	s->agency_next = srv->agency_buckets[b];
	srv->agency_buckets[b] = s;
	s->in_agency_index = 1;
}

void
server_agency_remove(struct server *srv, struct session *s)
{
	struct session **p;

	if (!s->in_agency_index)
		return;
	for (p = &srv->agency_buckets[agency_bucket(s->agency)]; *p != NULL; p = &(*p)->agency_next) {
		if (*p == s) {
			*p = s->agency_next;
			s->in_agency_index = 0;
			return;
		}
	}
}

void
server_agency_each(struct server *srv, const char *agency,
    void (*fn)(struct session *, void *), void *arg)
{
	struct session *s = srv->agency_buckets[agency_bucket(agency)], *next;

	for (; s != NULL; s = next) {
		next = s->agency_next;
		if (strcmp(s->agency, agency) == 0)
			fn(s, arg);
	}
}

struct session *
server_find_session(struct server *srv, uint64_t id)
{
	for (struct session *s = srv->buckets[bucket_of(id)]; s != NULL; s = s->bucket_next)
		if (s->id == id)
			return s;
	return NULL;
}

/* Call fn on every session; fn may close (and so unlink) the session it is given. */
static void
server_each_session(struct server *srv, void (*fn)(struct session *))
{
	for (size_t b = 0; b < SESSION_BUCKETS; b++) {
		struct session *s = srv->buckets[b], *next;
		for (; s != NULL; s = next) {
			next = s->bucket_next;
			fn(s);
		}
	}
}

static void
store_done_one(struct server *srv, struct store_req *r)
{
	struct session *s;

	if (r->session == 0) {
		/* The gateway's own requests: sweeps and lifecycle audit leaves. */
		if (r->kind == STORE_SWEEP && r->rc == PU_OK) {
			srv->st.expired += r->expired;
			srv->st.purged += r->purged;
			srv->st.overdue = r->overdue;
			if (r->expired > 0)
				log_info("store", "event=expired count=%llu", (unsigned long long)r->expired);
		} else if (r->rc != PU_OK) {
			log_error("store", "event=housekeeping-failed kind=%d reason=%s", (int)r->kind,
			    pu_err_name(r->rc));
		}
		store_req_free(r);
		return;
	}
	s = server_find_session(srv, r->session);

	if (s == NULL || s->state == S_CLOSING) {
		/* Its session is gone: the work is done (and durable), the answer has no taker. */
		store_req_free(r);
		return;
	}
	session_store_done(s, r);
}

void
server_store_done(void *arg, struct store_req *list)
{
	struct server *srv = arg;
	struct store_req *next;

	/* One write per session for all the answers of a commit batch. */
	server_cork(srv);
	for (; list != NULL; list = next) {
		next = list->next;
		list->next = NULL;
		store_done_one(srv, list);
	}
	server_uncork(srv);
}

void
server_cork(struct server *srv)
{
	srv->corked++;
}

void
server_uncork(struct server *srv)
{
	struct session *s;

	if (--srv->corked > 0)
		return;
	while ((s = srv->corked_sessions) != NULL) {
		srv->corked_sessions = s->corked_next;
		s->corked_next = NULL;
		/* A session closed meanwhile has had its output flushed already. */
		if (s->output_corked) {
			s->output_corked = 0;
			session_flush(s);
		}
	}
}

static int
read_file_path(const char *dir, const char *name, char *out, size_t n)
{
	return snprintf(out, n, "%s/%s", dir, name) < (int)n ? PU_OK : PU_ERR_TOO_LARGE;
}

static int
load_directory(struct server *srv, struct directory *out, uint64_t held)
{
	char path[4200];
	uint8_t *data;
	size_t len;
	int rc;

	if ((rc = read_file_path(srv->cfg.identity_dir, "directory.pb", path, sizeof(path))) != PU_OK ||
	    (rc = file_read_all(path, 8u << 20, &data, &len)) != PU_OK)
		return rc;
	rc = directory_load(out, data, len, srv->root_pk, (int64_t)time(NULL), held);
	free(data);
	return rc;
}

static void
recheck_one(struct session *s)
{
	session_recheck(s);
}

int
server_reload_directory(struct server *srv)
{
	struct directory d;
	uint64_t old = srv->dir.dir->serial;
	int rc = load_directory(srv, &d, old);

	if (rc == PU_ERR_DIR_OLDER) {
		log_info("directory", "event=reload serial=%llu result=unchanged", (unsigned long long)old);
		return PU_OK;
	}
	if (rc != PU_OK) {
		log_warn("directory", "event=reload-refused reason=%s", pu_err_name(rc));
		return rc;
	}
	directory_free(&srv->dir);
	srv->dir = d;
	log_info("directory", "event=reload old_serial=%llu serial=%llu", (unsigned long long)old,
	    (unsigned long long)d.dir->serial);
	server_audit_lifecycle(srv, PUENTE__AUDIT_EVENT__AUDIT_EVENT_DIRECTORY_CHANGE);
	/* Suspended, revoked or re-keyed agencies lose their sessions now. */
	server_each_session(srv, recheck_one);
	return PU_OK;
}

static void
expire_one(struct session *s)
{
	session_fail(s, PU_ERR_DIR_EXPIRED, "the gateway's directory expired");
}

static void
on_connection(uv_stream_t *listener, int status)
{
	struct server *srv = listener->data;

	if (status < 0)
		return;
	if (srv->draining || srv->dir_expired || srv->n_sessions >= srv->cfg.max_sessions) {
		/* Accept and close at once: the client learns now, not after a timeout. */
		uv_tcp_t *t = malloc(sizeof(*t));
		if (t != NULL) {
			uv_tcp_init(srv->loop, t);
			if (uv_accept(listener, (uv_stream_t *)t) == 0)
				srv->st.sessions_refused++;
			uv_close((uv_handle_t *)t, (uv_close_cb)free);
		}
		return;
	}
	if (session_accept(srv) != PU_OK)
		srv->st.sessions_failed++;
}

static void
sweep(struct server *srv)
{
	struct store_req *r = store_req_new(STORE_SWEEP, 0, 0);

	if (r == NULL)
		return;
	r->retention_days = srv->cfg.retention_days;
	store_post(srv->store, r);
}

/*
 * A log nobody outside the gateway cosigns protects little against its own operators:
 * warn, once per witness_max_age_s, while no witness has cosigned for longer than that.
 */
static void
witness_check(struct server *srv)
{
	static int64_t warned_at;
	struct store_stats ss;
	int64_t now = (int64_t)time(NULL), since;

	if (srv->dir.dir->n_witnesses == 0 || srv->store == NULL)
		return;
	store_stats(srv->store, &ss);
	since = ss.witnessed_at > 0 ? ss.witnessed_at : srv->started_at;
	if (now - since > (int64_t)srv->cfg.witness_max_age_s &&
	    now - warned_at > (int64_t)srv->cfg.witness_max_age_s) {
		warned_at = now;
		log_warn("witness", "event=unwitnessed seconds=%lld witnesses=%zu",
		    (long long)(now - since), srv->dir.dir->n_witnesses);
	}
}

static void
on_tick(uv_timer_t *t)
{
	struct server *srv = t->data;
	int64_t left = srv->dir.dir->expires_at - (int64_t)time(NULL);
	static int64_t warned_at;

	if (++srv->ticks % srv->cfg.sweep_interval_s == 0)
		sweep(srv);
	/* The writer never checkpoints the WAL (it would stall commits); the reader does. */
	if (srv->ticks % CHECKPOINT_INTERVAL_S == 0) {
		struct store_req *r = store_req_new(STORE_CHECKPOINT, 0, 0);
		if (r != NULL)
			store_post(srv->store, r);
	}

	if (left <= 0 && !srv->dir_expired) {
		/*
		 * An expired directory: nothing is sent, accepted or delivered on it. The gateway
		 * stays up, refusing sessions and answering /healthz 503, until SIGHUP brings a
		 * newer directory (one that is already in identity_dir is taken now).
		 */
		server_reload_directory(srv);
		if (srv->dir.dir->expires_at <= (int64_t)time(NULL)) {
			srv->dir_expired = 1;
			log_error("directory", "event=expired serial=%llu action=closing-sessions "
			    "until=sighup-with-a-newer-directory",
			    (unsigned long long)srv->dir.dir->serial);
			server_each_session(srv, expire_one);
		}
	} else if (left > 0 && srv->dir_expired) {
		srv->dir_expired = 0;
		log_info("directory", "event=valid-again serial=%llu",
		    (unsigned long long)srv->dir.dir->serial);
	} else if (left < PU_DIRECTORY_WARN_BEFORE && time(NULL) - warned_at > 3600) {
		warned_at = time(NULL);
		log_warn("directory", "event=expires-soon serial=%llu seconds_left=%lld",
		    (unsigned long long)srv->dir.dir->serial, (long long)left);
	}
	witness_check(srv);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct server *srv = h->data;

	if (signum == SIGHUP) {
		server_reload_directory(srv);
		return;
	}
	log_info("gateway", "event=drain signal=%d sessions=%u", signum, srv->n_sessions);
	server_drain(srv);
}

/*
 * One of the gateway's Ed25519 keys: its file must be an active key of the given purpose
 * of this gateway in the directory. The first key loaded names the gateway.
 */
static int
load_gateway_key(struct server *srv, const char *file, Puente__KeyPurpose purpose,
    struct secret_key *out)
{
	char path[4200];
	const Puente__Agency *gw;
	const Puente__Key *k;
	int rc;

	if ((rc = read_file_path(srv->cfg.identity_dir, file, path, sizeof(path))) != PU_OK ||
	    (rc = keyfile_load(path, NULL, PUENTE__SECRET_KIND__SECRET_KIND_ED25519, out)) != PU_OK) {
		log_error("gateway", "event=start-failed file=%s reason=%s", file, pu_err_name(rc));
		return rc;
	}
	if (srv->gateway_id[0] == '\0') {
		if (strlen(out->agency_id) >= sizeof(srv->gateway_id))
			return PU_ERR_AGENCY_ID;
		memcpy(srv->gateway_id, out->agency_id, strlen(out->agency_id) + 1);
	}
	gw = directory_find_agency(&srv->dir, srv->gateway_id);
	k = gw ? directory_find_key(gw, out->key_id, PU_KEY_ID_LEN, purpose) : NULL;
	if (strcmp(out->agency_id, srv->gateway_id) != 0 || gw == NULL ||
	    gw->role != PUENTE__ROLE__ROLE_GATEWAY || k == NULL ||
	    directory_key_check(k, (int64_t)time(NULL)) != PU_OK) {
		log_error("gateway", "event=start-failed file=%s reason=\"not an active key of this "
		    "gateway in the directory\"", file);
		return PU_ERR_UNKNOWN_KEY;
	}
	return PU_OK;
}

static int
load_identity(struct server *srv)
{
	char path[4200], cert[4200], key[4200], ca[4200], err[256];
	uint8_t *text;
	size_t len, bin_len;
	const Puente__Agency *gw;
	int rc;

	if ((rc = read_file_path(srv->cfg.identity_dir, "root.pub", path, sizeof(path))) != PU_OK ||
	    (rc = file_read_all(path, 256, &text, &len)) != PU_OK) {
		log_error("gateway", "event=start-failed file=root.pub reason=%s", pu_err_name(rc));
		return rc;
	}
	rc = sodium_hex2bin(srv->root_pk, 32, (const char *)text, len, " \n", &bin_len, NULL) == 0 &&
	    bin_len == 32 ? PU_OK : PU_ERR_KEY_FILE;
	free(text);
	if (rc != PU_OK || (rc = load_directory(srv, &srv->dir, 0)) != PU_OK) {
		log_error("gateway", "event=start-failed file=directory.pb reason=%s", pu_err_name(rc));
		return rc;
	}
	if ((rc = load_gateway_key(srv, "receipt.key", PUENTE__KEY_PURPOSE__KEY_PURPOSE_RECEIPT,
	    &srv->receipt_key)) != PU_OK ||
	    (rc = load_gateway_key(srv, "checkpoint.key",
	    PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT, &srv->checkpoint_key)) != PU_OK)
		return rc;
	/* Its directory entry names the log its checkpoints sign. */
	gw = directory_find_agency(&srv->dir, srv->gateway_id);
	if (gw->origin[0] == '\0' || strlen(gw->origin) >= sizeof(srv->origin)) {
		log_error("gateway", "event=start-failed reason=\"the gateway's directory entry has "
		    "no usable log origin\"");
		return PU_ERR_DIR_INVALID;
	}
	memcpy(srv->origin, gw->origin, strlen(gw->origin) + 1);
	read_file_path(srv->cfg.identity_dir, "tls.crt", cert, sizeof(cert));
	read_file_path(srv->cfg.identity_dir, "tls.key", key, sizeof(key));
	read_file_path(srv->cfg.identity_dir, "ca.crt", ca, sizeof(ca));
	if ((rc = file_check_secret(key)) != PU_OK) {
		log_error("gateway", "event=start-failed file=tls.key reason=%s", pu_err_name(rc));
		return rc;
	}
	if ((srv->tls = tls_server_ctx(cert, key, ca, err, sizeof(err))) == NULL) {
		log_error("gateway", "event=start-failed reason=\"%s\"", err);
		return PU_ERR_X509;
	}
	return PU_OK;
}

static void
add_known_id(void *arg, const uint8_t *msg_id)
{
	idfilter_add(arg, msg_id);
}

int
server_check(struct server *srv, const struct gateway_config *cfg)
{
	int rc;

	/* Identity, keys and directory only: the data directory is not touched. */
	memset(srv, 0, sizeof(*srv));
	srv->cfg = *cfg;
	rc = load_identity(srv);
	server_free(srv);
	return rc;
}

int
server_init(struct server *srv, uv_loop_t *loop, const struct gateway_config *cfg)
{
	struct store_signer signer;
	struct store_limits lim;
	int rc;

	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->cfg = *cfg;
	srv->started_at = (int64_t)time(NULL);
	if ((rc = load_identity(srv)) != PU_OK) {
		server_free(srv);
		return rc;
	}
	snprintf(signer.gateway_id, sizeof(signer.gateway_id), "%s", srv->gateway_id);
	memcpy(signer.key_id, srv->receipt_key.key_id, PU_KEY_ID_LEN);
	signer.secret_key = srv->receipt_key.secret;
	snprintf(signer.audit.origin, sizeof(signer.audit.origin), "%s", srv->origin);
	signer.audit.secret_key = srv->checkpoint_key.secret;
	memcpy(signer.audit.public_key, srv->checkpoint_key.public_key, PU_PUBLIC_KEY_LEN);
	lim.batch_max = cfg->commit_batch_max;
	lim.delay_us = cfg->commit_delay_us;
	lim.wal_presize = cfg->wal_presize_bytes;
	lim.sender_quota = cfg->sender_quota_bytes;
	if ((rc = store_open(&srv->store, cfg->data_dir, loop, &signer, &lim, server_store_done,
	    srv)) != PU_OK) {
		log_error("gateway", "event=start-failed component=store data_dir=\"%s\" "
		    "data_dir_error=%s reason=\"%s\"", cfg->data_dir, pu_err_name(rc),
		    pu_err_message(rc));
		server_free(srv);
		return rc;
	}
	if ((rc = idfilter_init(&srv->ids, 1u << 20)) != PU_OK ||
	    (rc = store_each_msg_id(cfg->data_dir, add_known_id, &srv->ids)) != PU_OK) {
		log_error("gateway", "event=start-failed component=id-filter reason=%s", pu_err_name(rc));
		store_close(srv->store);
		srv->store = NULL;
		server_free(srv);
		return rc;
	}
	if (verifier_start(&srv->verifier, loop, session_signature_checked) != PU_OK)
		log_warn("gateway", "event=verifier-unavailable reason=\"signatures are checked "
		    "on the loop thread\"");
	uv_signal_init(loop, &srv->sig_term);
	uv_signal_init(loop, &srv->sig_int);
	uv_signal_init(loop, &srv->sig_hup);
	srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
	uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
	uv_signal_start(&srv->sig_int, on_signal, SIGINT);
	uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
	uv_timer_init(loop, &srv->tick);
	srv->tick.data = srv;
	uv_timer_start(&srv->tick, on_tick, 1000, 1000);
	return PU_OK;
}

int
server_listen(struct server *srv)
{
	struct sockaddr_storage addr;
	int rc;

	if (uv_ip4_addr(srv->cfg.listen_host, srv->cfg.listen_port, (struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(srv->cfg.listen_host, srv->cfg.listen_port, (struct sockaddr_in6 *)&addr) != 0)
		return PU_ERR_USAGE;
	uv_tcp_init(srv->loop, &srv->listener);
	srv->listener.data = srv;
	srv->listening = 1;
	if ((rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&srv->listener, 1024, on_connection)) != 0) {
		log_error("gateway", "event=listen-failed address=%s port=%u reason=\"%s\"",
		    srv->cfg.listen_host, srv->cfg.listen_port, uv_strerror(rc));
		return PU_ERR_IO;
	}
	log_info("gateway", "event=listening id=%s address=%s port=%u directory_serial=%llu",
	    srv->gateway_id, srv->cfg.listen_host, srv->cfg.listen_port,
	    (unsigned long long)srv->dir.dir->serial);
	return PU_OK;
}

void
server_audit_lifecycle(struct server *srv, Puente__AuditEvent event)
{
	Puente__AuditEntry e = PUENTE__AUDIT_ENTRY__INIT;
	struct store_req *r = store_req_new(STORE_AUDIT, 0, 0);

	if (r == NULL)
		return;
	e.event = event;
	e.at = (int64_t)time(NULL);
	e.agency_id = srv->gateway_id;
	e.outcome = "ok";
	e.directory_serial = srv->dir.dir->serial;
	if (audit_encode(&e, &r->audit_leaf, &r->audit_leaf_len) != PU_OK) {
		store_req_free(r);
		return;
	}
	store_post(srv->store, r);
}

static void
drain_one(struct session *s)
{
	session_fail(s, PU_ERR_SHUTTING_DOWN, NULL);
}

void
server_drain(struct server *srv)
{
	if (srv->draining)
		return;
	srv->draining = 1;
	metrics_stop();
	if (srv->listening)
		uv_close((uv_handle_t *)&srv->listener, NULL);
	uv_timer_stop(&srv->tick);
	uv_close((uv_handle_t *)&srv->tick, NULL);
	uv_close((uv_handle_t *)&srv->sig_term, NULL);
	uv_close((uv_handle_t *)&srv->sig_int, NULL);
	uv_close((uv_handle_t *)&srv->sig_hup, NULL);
	/* The stop is audited; commits already with the writer finish; sessions are told. */
	server_audit_lifecycle(srv, PUENTE__AUDIT_EVENT__AUDIT_EVENT_GATEWAY_STOP);
	store_close(srv->store);
	srv->store = NULL;
	server_each_session(srv, drain_one);
	verifier_stop(&srv->verifier);
}

void
server_free(struct server *srv)
{
	verifier_free(&srv->verifier);
	directory_free(&srv->dir);
	idfilter_free(&srv->ids);
	SSL_CTX_free(srv->tls);
	srv->tls = NULL;
	secret_key_clear(&srv->receipt_key);
	secret_key_clear(&srv->checkpoint_key);
}
