/* metrics.c - a deliberately tiny HTTP/1.0 responder for the metrics port. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "pu_err.h"
#include "server.h"

#define REQUEST_MAX 2048
#define CONN_MAX 64		/* scrapers at once; more are closed at once */
#define CONN_TIMEOUT_MS 5000	/* a connection that does not finish its request is closed */

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	int open_handles;
	struct server *srv;
	char req[REQUEST_MAX];
	size_t len;
	int answered;
	struct http_conn *next, **prevp;	/* all open connections, closed at stop */
};

static uv_tcp_t metrics_listener;
static int metrics_running;
static struct http_conn *conns;
static unsigned n_conns;

static void
on_conn_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;

	if (--c->open_handles == 0)
		free(c);
}

static void
conn_close(struct http_conn *c)
{
	if (c->prevp == NULL)
		return;	/* already closing */
	*c->prevp = c->next;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	c->prevp = NULL;
	n_conns--;
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void
on_conn_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void
on_sent(uv_write_t *w, int status)
{
	struct http_conn *c = w->data;

	(void)status;
	free(w);
	conn_close(c);
}

static size_t
render_metrics(struct server *srv, char *out, size_t n)
{
	struct store_stats ss = { 0 };
	const struct server_stats *st = &srv->st;

	if (srv->store != NULL)
		store_stats(srv->store, &ss);
	return (size_t)snprintf(out, n,
	    "# HELP puente_sessions Open client sessions.\n# TYPE puente_sessions gauge\n"
	    "puente_sessions %u\n"
	    "# TYPE puente_sessions_opened_total counter\npuente_sessions_opened_total %llu\n"
	    "# TYPE puente_sessions_refused_total counter\npuente_sessions_refused_total %llu\n"
	    "# TYPE puente_sessions_failed_total counter\npuente_sessions_failed_total %llu\n"
	    "# TYPE puente_messages_accepted_total counter\npuente_messages_accepted_total %llu\n"
	    "# TYPE puente_messages_rejected_total counter\npuente_messages_rejected_total %llu\n"
	    "# TYPE puente_messages_retried_total counter\npuente_messages_retried_total %llu\n"
	    "# TYPE puente_deliveries_total counter\npuente_deliveries_total %llu\n"
	    "# TYPE puente_recipient_receipts_total counter\npuente_recipient_receipts_total %llu\n"
	    "# TYPE puente_frames_in_total counter\npuente_frames_in_total %llu\n"
	    "# TYPE puente_frames_out_total counter\npuente_frames_out_total %llu\n"
	    "# TYPE puente_bytes_in_total counter\npuente_bytes_in_total %llu\n"
	    "# TYPE puente_bytes_out_total counter\npuente_bytes_out_total %llu\n"
	    "# TYPE puente_store_commits_total counter\npuente_store_commits_total %llu\n"
	    "# TYPE puente_store_messages_total counter\npuente_store_messages_total %llu\n"
	    "# TYPE puente_audit_leaves_total counter\npuente_audit_leaves_total %llu\n"
	    "# TYPE puente_messages_expired_total counter\npuente_messages_expired_total %llu\n"
	    "# TYPE puente_messages_purged_total counter\npuente_messages_purged_total %llu\n"
	    "# HELP puente_replies_overdue Messages whose respond_by passed without a reply.\n"
	    "# TYPE puente_replies_overdue gauge\npuente_replies_overdue %llu\n"
	    "# TYPE puente_directory_serial gauge\npuente_directory_serial %llu\n"
	    "# TYPE puente_directory_expires_seconds gauge\npuente_directory_expires_seconds %lld\n"
	    "# HELP puente_witness_age_seconds Since a witness last cosigned a checkpoint; -1: never.\n"
	    "# TYPE puente_witness_age_seconds gauge\npuente_witness_age_seconds %lld\n"
	    "# TYPE puente_uptime_seconds gauge\npuente_uptime_seconds %lld\n",
	    srv->n_sessions,
	    (unsigned long long)st->sessions_opened, (unsigned long long)st->sessions_refused,
	    (unsigned long long)st->sessions_failed, (unsigned long long)st->messages_accepted,
	    (unsigned long long)st->messages_rejected, (unsigned long long)st->messages_retried,
	    (unsigned long long)st->deliveries, (unsigned long long)st->receipts,
	    (unsigned long long)st->frames_in, (unsigned long long)st->frames_out,
	    (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out,
	    (unsigned long long)ss.commits, (unsigned long long)ss.messages,
	    (unsigned long long)ss.audit_leaves, (unsigned long long)st->expired,
	    (unsigned long long)st->purged, (unsigned long long)st->overdue,
	    (unsigned long long)srv->dir.dir->serial,
	    (long long)(srv->dir.dir->expires_at - (int64_t)time(NULL)),
	    (long long)(ss.witnessed_at > 0 ? (int64_t)time(NULL) - ss.witnessed_at : -1),
	    (long long)((int64_t)time(NULL) - srv->started_at));
}

static void
respond(struct http_conn *c)
{
	static char body[8192];
	char *resp;
	const char *status = "200 OK", *type = "text/plain; version=0.0.4";
	size_t blen;
	uv_write_t *w;
	uv_buf_t b;

	c->answered = 1;
	if (strncmp(c->req, "GET /metrics ", 13) == 0) {
		blen = render_metrics(c->srv, body, sizeof(body));
	} else if (strncmp(c->req, "GET /healthz ", 13) == 0) {
		int ok = !c->srv->draining && c->srv->store != NULL &&
		    c->srv->dir.dir->expires_at > (int64_t)time(NULL);
		status = ok ? "200 OK" : "503 Service Unavailable";
		blen = (size_t)snprintf(body, sizeof(body), "%s\n", ok ? "ok" : "unavailable");
		type = "text/plain";
	} else {
		status = "404 Not Found";
		blen = (size_t)snprintf(body, sizeof(body), "GET /metrics or GET /healthz\n");
		type = "text/plain";
	}
	if ((w = malloc(sizeof(*w) + 256 + blen)) == NULL) {
		conn_close(c);
		return;
	}
	resp = (char *)(w + 1);
	b.len = (size_t)snprintf(resp, 256, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", status, type, blen);
	memcpy(resp + b.len, body, blen);
	b.len += blen;
	b.base = resp;
	w->data = c;
	if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_sent) != 0) {
		free(w);
		conn_close(c);
	}
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct http_conn *c = h->data;

	(void)suggested;
	*b = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - 1 - c->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct http_conn *c = s->data;

	(void)b;
	if (c->answered)
		return;
	if (n < 0 || (n == 0 && c->len == sizeof(c->req) - 1)) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	/* The request line is all we look at; a request that never ends is cut at 2 KiB. */
	if (strstr(c->req, "\r\n") != NULL || strchr(c->req, '\n') != NULL ||
	    c->len == sizeof(c->req) - 1) {
		uv_read_stop(s);
		respond(c);
	}
}

static void
on_connection(uv_stream_t *l, int status)
{
	struct http_conn *c;

	if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->srv = l->data;
	uv_tcp_init(l->loop, &c->tcp);
	uv_timer_init(l->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->next = conns;
	if (conns != NULL)
		conns->prevp = &c->next;
	conns = c;
	c->prevp = &conns;
	n_conns++;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 || n_conns > CONN_MAX ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_conn_timeout, CONN_TIMEOUT_MS, 0);
}

int
metrics_start(struct server *srv)
{
	struct sockaddr_storage addr;
	int rc;

	if (uv_ip4_addr(srv->cfg.metrics_host, srv->cfg.metrics_port, (struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(srv->cfg.metrics_host, srv->cfg.metrics_port, (struct sockaddr_in6 *)&addr) != 0)
		return PU_ERR_USAGE;
	uv_tcp_init(srv->loop, &metrics_listener);
	metrics_listener.data = srv;
	if ((rc = uv_tcp_bind(&metrics_listener, (struct sockaddr *)&addr, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&metrics_listener, 64, on_connection)) != 0) {
		log_error("metrics", "event=listen-failed port=%u reason=\"%s\"", srv->cfg.metrics_port,
		    uv_strerror(rc));
		uv_close((uv_handle_t *)&metrics_listener, NULL);
		return PU_ERR_IO;
	}
	metrics_running = 1;
	return PU_OK;
}

void
metrics_stop(void)
{
	if (metrics_running)
		uv_close((uv_handle_t *)&metrics_listener, NULL);
	metrics_running = 0;
	/* A scraper that never finishes its request must not keep the gateway from stopping. */
	while (conns != NULL)
		conn_close(conns);
}
