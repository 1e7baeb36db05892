/*
 * main.c - the `puente` command: argument parsing, text and --json output, progress bar,
 * exit codes. Everything it does goes through libpuente-client (puente.h).
 *
 * Every failure is one line on stderr, "puente: <what>: <reason>", and a sysexits(3)
 * status; a bad command line exits 64 with the usage line. --json prints one JSON object
 * per result on stdout. Nothing printed ever holds personal data: ids, types, agencies,
 * dates and sizes only.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit_cmd.h"
#include "frame.h"
#include "puente.h"

#define EX_OK 0
#define EX_USAGE 64
#define MAX_ATTACHMENTS 256
#define PROGRESS_MIN (8u * 1024 * 1024)	/* smaller transfers show no bar */
#define PROGRESS_WIDTH 30

struct opts {
	const char *agency;
	int json;
	int timeout_s;
	/* command options */
	const char *to[PUENTE_MAX_RECIPIENTS];
	size_t n_to;
	const char *type, *case_id, *scope, *respond_by, *out, *staff, *purpose;
	long lifetime_days;
	const char *args[MAX_ATTACHMENTS + 2];
	size_t n_args;
};

struct command {
	const char *name;
	int (*fn)(struct puente_client *, struct opts *);
	const char *usage;
	const char *help;
	const char *options;	/* the options it takes, by long name, space-separated */
	size_t min_args, max_args;
};

static const struct command *current;

/* ---- output ------------------------------------------------------------------------ */

static void
iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, 32, "-");
	else
		strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
human_size(uint64_t n, char out[32])
{
	if (n >= 10u * 1024 * 1024)
		snprintf(out, 32, "%llu MiB", (unsigned long long)(n >> 20));
	else if (n >= 10u * 1024)
		snprintf(out, 32, "%llu KiB", (unsigned long long)(n >> 10));
	else
		snprintf(out, 32, "%llu B", (unsigned long long)n);
}

static void
json_print(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
	json_decref(o);
	fflush(stdout);
}

static json_t *
json_time(int64_t t)
{
	char s[32];

	if (t == 0)
		return json_null();
	iso_time(t, s);
	return json_string(s);
}

static int
fail(int rc, const char *what, struct puente_client *c)
{
	const char *detail = c != NULL ? puente_error_detail(c) : "";

	fprintf(stderr, "puente: %s: %s\n", what, detail[0] ? detail : puente_strerror(rc));
	return puente_exit_code(rc);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "puente: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: puente [--agency DIR] [--json] %s\n", current ? current->usage :
	    "COMMAND [ARGS]  (puente --help lists the commands)");
	return EX_USAGE;
}

/* ---- progress ---------------------------------------------------------------------- */

struct progress {
	int on;
	const char *what;		/* the stage whose bar is on the line */
	const char *finished;		/* the last stage drawn to 100 % */
	int last_pct;
};

static void
progress_end(struct progress *p)
{
	if (p->what != NULL)
		fputc('\n', stderr);
	p->what = NULL;
}

/* A bar on the terminal, redrawn at each whole percent; nothing when stderr is not one. */
static void
on_progress(void *arg, const char *what, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	char bar[PROGRESS_WIDTH + 1];
	int pct, fill;

	if (!p->on || total < PROGRESS_MIN)
		return;
	if (done > total)
		done = total;
	pct = (int)(done * 100 / total);
	if (p->what != NULL && strcmp(p->what, what) != 0)
		progress_end(p);
	if (p->what != NULL && pct == p->last_pct)
		return;
	if (p->what == NULL && p->finished != NULL && strcmp(p->finished, what) == 0)
		return;	/* this stage's bar is complete */
	p->what = what;
	p->last_pct = pct;
	fill = pct * PROGRESS_WIDTH / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(PROGRESS_WIDTH - fill));
	bar[PROGRESS_WIDTH] = '\0';
	fprintf(stderr, "\r%-6s [%s] %3d%%  %llu/%llu MiB", what, bar, pct,
	    (unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
	if (pct == 100) {
		progress_end(p);
		p->finished = what;
	}
	fflush(stderr);
}

static void
on_notice(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "puente: warning: %s\n", line);
}

/* ---- results ----------------------------------------------------------------------- */

static const char *
state_name(int state)
{
	return state == PUENTE_ACCEPTED ? "accepted" : state == PUENTE_REFUSED ? "refused" :
	    state == PUENTE_QUEUED ? "queued" : "none";
}

static json_t *
sent_json(const struct puente_sent *s, int rc)
{
	json_t *o = json_object(), *to = json_array();

	for (size_t i = 0; i < s->n_recipients; i++)
		json_array_append_new(to, json_string(s->recipients[i]));
	json_object_set_new(o, "msg_id", json_string(s->msg_id));
	json_object_set_new(o, "state", json_string(state_name(s->state)));
	json_object_set_new(o, "type", json_string(puente_type_name(s->type)));
	json_object_set_new(o, "case_id", json_string(s->case_id));
	json_object_set_new(o, "recipients", to);
	json_object_set_new(o, "in_reply_to", s->in_reply_to[0] ? json_string(s->in_reply_to) :
	    json_null());
	json_object_set_new(o, "created_at", json_time(s->created_at));
	json_object_set_new(o, "expires_at", json_time(s->expires_at));
	json_object_set_new(o, "respond_by", json_time(s->respond_by));
	json_object_set_new(o, "size", json_integer((json_int_t)s->content_length));
	json_object_set_new(o, "attempts", json_integer(s->attempts));
	if (s->state == PUENTE_ACCEPTED) {
		json_object_set_new(o, "gateway", json_string(s->gateway_id));
		json_object_set_new(o, "audit_index", json_integer((json_int_t)s->audit_index));
		json_object_set_new(o, "accepted_at", json_time(s->accepted_at));
		json_object_set_new(o, "receipts", json_integer(s->n_receipts));
	}
	json_object_set_new(o, "error", rc != 0 ? json_string(puente_error_name(rc)) :
	    s->error ? json_string(puente_error_name(s->error)) : json_null());
	return o;
}

static void
sent_text(const struct puente_sent *s, int rc, const char *detail)
{
	char t[32];

	switch (s->state) {
	case PUENTE_ACCEPTED:
		iso_time(s->accepted_at, t);
		printf("%s %s case %s: accepted by %s at %s (audit index %llu)\n", s->msg_id,
		    puente_type_name(s->type), s->case_id, s->gateway_id, t,
		    (unsigned long long)s->audit_index);
		break;
	case PUENTE_QUEUED:
		printf("%s %s case %s: waiting in the outbox (%s)\n", s->msg_id,
		    puente_type_name(s->type), s->case_id, detail[0] ? detail :
		    puente_strerror(rc ? rc : s->error));
		break;
	default:
		printf("%s %s case %s: refused by the gateway (%s)\n", s->msg_id,
		    puente_type_name(s->type), s->case_id, detail[0] ? detail :
		    puente_strerror(rc ? rc : s->error));
	}
}

/* ---- parsing ----------------------------------------------------------------------- */

/* YYYY-MM-DD: the end of that day, UTC (days from the civil calendar, no timegm). */
static int
parse_date_end(const char *s, int64_t *out)
{
	int y, m, d;
	char tail;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
	    m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*out = (era * 146097 + doe - 719468) * 86400 + 86399;
	return 0;
}

static int
has_option(const struct command *cmd, const char *name)
{
	size_t n = strlen(name);
	const char *p = cmd->options;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == cmd->options || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

/* One option with its value; returns 0, or EX_USAGE after saying why. */
static int
set_option(struct opts *o, const char *name, const char *value)
{
	char *end;

	if (strcmp(name, "to") == 0) {
		if (o->n_to == PUENTE_MAX_RECIPIENTS)
			return usage_error("at most %d recipients", PUENTE_MAX_RECIPIENTS);
		o->to[o->n_to++] = value;
	} else if (strcmp(name, "type") == 0)
		o->type = value;
	else if (strcmp(name, "case") == 0)
		o->case_id = value;
	else if (strcmp(name, "scope") == 0)
		o->scope = value;
	else if (strcmp(name, "respond-by") == 0)
		o->respond_by = value;
	else if (strcmp(name, "out") == 0)
		o->out = value;
	else if (strcmp(name, "staff") == 0)
		o->staff = value;
	else if (strcmp(name, "purpose") == 0)
		o->purpose = value;
	else if (strcmp(name, "lifetime-days") == 0) {
		o->lifetime_days = strtol(value, &end, 10);
		if (*end != '\0' || o->lifetime_days < 1 || o->lifetime_days > 7)
			return usage_error("--lifetime-days: 1 to 7");
	} else if (strcmp(name, "agency") == 0)
		o->agency = value;
	else if (strcmp(name, "timeout") == 0) {
		o->timeout_s = (int)strtol(value, &end, 10);
		if (*end != '\0' || o->timeout_s < 1 || o->timeout_s > 3600)
			return usage_error("--timeout: 1 to 3600 seconds");
	}
	return 0;
}

static void command_help(const struct command *cmd);

/*
 * The command's options and arguments, in any order; "--" ends the options. The global
 * --agency, --json and --timeout are taken here too.
 */
static int
parse_args(const struct command *cmd, int argc, char **argv, struct opts *o)
{
	int rc;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *value = NULL, *eq;
		char name[32];
		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++)
				if (o->n_args < sizeof(o->args) / sizeof(o->args[0]))
					o->args[o->n_args++] = argv[i];
			break;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (o->n_args == sizeof(o->args) / sizeof(o->args[0]))
				return usage_error("too many arguments");
			o->args[o->n_args++] = a;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			command_help(cmd);
			exit(EX_OK);
		}
		if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		}
		eq = strchr(a + 2, '=');
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a - 2) : 31, a + 2);
		if (!has_option(cmd, name) && strcmp(name, "agency") != 0 &&
		    strcmp(name, "timeout") != 0)
			return usage_error("%s: unknown option --%s", cmd->name, name);
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return usage_error("%s: --%s needs a value", cmd->name, name);
		if ((rc = set_option(o, name, value)) != 0)
			return rc;
	}
	if (o->n_args < cmd->min_args || o->n_args > cmd->max_args)
		return usage_error("%s: wrong number of arguments", cmd->name);
	return 0;
}

/* ---- commands ---------------------------------------------------------------------- */

static int
request_fill(struct opts *o, struct puente_send_request *r)
{
	memset(r, 0, sizeof(*r));
	r->adoption_scope = PUENTE_SCOPE_DEFAULT;
	if (o->type != NULL && (r->type = puente_type_from_name(o->type)) == 0)
		return usage_error("--type: unknown message type (e.g. case-transfer, "
		    "follow-up-report; see puente(1))");
	if (o->scope != NULL) {
		if (strcmp(o->scope, "none") == 0)
			r->adoption_scope = PUENTE_SCOPE_NONE;
		else if (strcmp(o->scope, "domestic") == 0)
			r->adoption_scope = PUENTE_SCOPE_DOMESTIC;
		else if (strcmp(o->scope, "international") == 0)
			r->adoption_scope = PUENTE_SCOPE_INTERNATIONAL;
		else
			return usage_error("--scope: none, domestic or international");
	}
	if (o->respond_by != NULL && parse_date_end(o->respond_by, &r->respond_by) != 0)
		return usage_error("--respond-by: a date YYYY-MM-DD");
	r->lifetime_s = o->lifetime_days * 86400;
	r->case_id = o->case_id;
	r->to = o->to;
	r->n_to = o->n_to;
	return 0;
}

static int
send_result(struct puente_client *c, struct opts *o, const struct puente_sent *s, int rc,
    const char *what)
{
	if (s->msg_id[0] == '\0')	/* refused before anything was stored */
		return fail(rc, what, c);
	if (o->json)
		json_print(sent_json(s, rc));
	else if (rc == 0)
		sent_text(s, rc, "");
	if (rc == 0)
		return EX_OK;
	if (s->state == PUENTE_QUEUED)
		fprintf(stderr, "puente: %s: message %s waits in the outbox: %s; `puente flush` "
		    "sends it later\n", what, s->msg_id, puente_error_detail(c));
	else
		fprintf(stderr, "puente: %s: %s\n", what, puente_error_detail(c));
	return puente_exit_code(rc);
}

static int
cmd_send(struct puente_client *c, struct opts *o)
{
	struct puente_send_request r;
	struct puente_sent s;
	int rc;

	if ((rc = request_fill(o, &r)) != 0)
		return rc;
	if (o->n_to == 0)
		return usage_error("send: at least one --to AGENCY");
	r.case_file = o->args[0];
	r.attachments = o->args + 1;
	r.n_attachments = o->n_args - 1;
	rc = puente_send(c, &r, &s);
	return send_result(c, o, &s, rc, "cannot send");
}

static int
cmd_reply(struct puente_client *c, struct opts *o)
{
	struct puente_send_request r;
	struct puente_sent s;
	int rc;

	if ((rc = request_fill(o, &r)) != 0)
		return rc;
	r.case_file = o->args[1];
	r.attachments = o->args + 2;
	r.n_attachments = o->n_args - 2;
	rc = puente_reply(c, o->args[0], &r, &s);
	return send_result(c, o, &s, rc, "cannot reply");
}

struct flush_out {
	struct opts *o;
	struct puente_client *c;
};

static void
on_flushed(void *arg, const struct puente_sent *s, int rc)
{
	struct flush_out *f = arg;

	if (f->o->json)
		json_print(sent_json(s, rc));
	else
		sent_text(s, rc, rc ? puente_error_detail(f->c) : "");
}

static int
cmd_flush(struct puente_client *c, struct opts *o)
{
	struct flush_out f = { o, c };
	size_t left;
	int rc = puente_flush(c, on_flushed, &f, &left);

	if (rc != 0)
		return fail(rc, "cannot flush the outbox", c);
	if (!o->json)
		printf("%zu message%s still in the outbox\n", left, left == 1 ? "" : "s");
	return EX_OK;
}

static int
cmd_inbox(struct puente_client *c, struct opts *o)
{
	struct puente_inbox_entry *e;
	size_t n;
	int rc = puente_inbox(c, &e, &n);

	if (rc != 0)
		return fail(rc, "cannot read the inbox", c);
	if (!o->json && n == 0)
		printf("nothing waiting for %s\n", puente_agency_id(c));
	else if (!o->json)
		printf("%-32s  %-28s  %-14s  %-18s  %-20s  %-20s  %s\n", "MESSAGE", "TYPE", "FROM",
		    "CASE", "SENT", "RESPOND BY", "SIZE");
	for (size_t i = 0; i < n; i++) {
		char t1[32], t2[32], sz[32];
		if (o->json) {
			json_t *j = json_object();
			json_object_set_new(j, "msg_id", json_string(e[i].msg_id));
			json_object_set_new(j, "type", json_string(puente_type_name(e[i].type)));
			json_object_set_new(j, "sender", json_string(e[i].sender));
			json_object_set_new(j, "case_id", json_string(e[i].case_id));
			json_object_set_new(j, "created_at", json_time(e[i].created_at));
			json_object_set_new(j, "respond_by", json_time(e[i].respond_by));
			json_object_set_new(j, "size", json_integer((json_int_t)e[i].content_length));
			json_object_set_new(j, "fetched", json_boolean(e[i].fetched));
			json_print(j);
			continue;
		}
		iso_time(e[i].created_at, t1);
		iso_time(e[i].respond_by, t2);
		human_size(e[i].content_length, sz);
		printf("%-32s  %-28s  %-14s  %-18s  %-20s  %-20s  %s%s\n", e[i].msg_id,
		    puente_type_name(e[i].type), e[i].sender, e[i].case_id, t1, t2, sz,
		    e[i].fetched ? "  (fetched)" : "");
	}
	puente_free(e);
	return EX_OK;
}

static json_t *
received_json(const struct puente_received *r)
{
	json_t *j = json_object();

	json_object_set_new(j, "msg_id", json_string(r->msg_id));
	json_object_set_new(j, "sender", json_string(r->sender));
	json_object_set_new(j, "type", json_string(puente_type_name(r->type)));
	json_object_set_new(j, "case_id", json_string(r->case_id));
	json_object_set_new(j, "in_reply_to", r->in_reply_to[0] ? json_string(r->in_reply_to) :
	    json_null());
	json_object_set_new(j, "created_at", json_time(r->created_at));
	json_object_set_new(j, "respond_by", json_time(r->respond_by));
	json_object_set_new(j, "size", json_integer((json_int_t)r->content_length));
	json_object_set_new(j, "outcome", json_string(puente_outcome_name(r->outcome)));
	json_object_set_new(j, "error", r->error ? json_string(puente_error_name(r->error)) :
	    json_null());
	json_object_set_new(j, "receipt_sent", json_boolean(r->receipt_acked));
	json_object_set_new(j, "fetched_at", json_time(r->fetched_at));
	json_object_set_new(j, "out_dir", r->out_dir[0] ? json_string(r->out_dir) : json_null());
	json_object_set_new(j, "attachments", json_integer((json_int_t)r->n_attachments));
	json_object_set_new(j, "access_statements", json_integer(r->opens));
	return j;
}

static int
cmd_fetch(struct puente_client *c, struct opts *o)
{
	struct puente_fetch_request r = { o->args[0], o->out, o->staff, o->purpose };
	struct puente_received got;
	int rc;

	if (o->out == NULL)
		return usage_error("fetch: --out DIR is required");
	if ((o->staff == NULL) != (o->purpose == NULL))
		return usage_error("fetch: --staff and --purpose go together");
	rc = puente_fetch(c, &r, &got);
	if (o->json && got.msg_id[0] != '\0' && (rc == 0 || got.outcome != PUENTE_OUTCOME_NONE))
		json_print(received_json(&got));
	if (rc != 0)
		return fail(rc, "cannot fetch", c);
	if (!o->json)
		printf("%s %s case %s from %s: written to %s (case.json and %zu attachment%s), "
		    "receipt sent%s\n", got.msg_id, puente_type_name(got.type), got.case_id,
		    got.sender, got.out_dir, got.n_attachments, got.n_attachments == 1 ? "" : "s",
		    got.opens ? ", access reported" : "");
	return EX_OK;
}

static int
cmd_receipts(struct puente_client *c, struct opts *o)
{
	struct puente_receipt *list;
	size_t n;
	int rc = puente_receipts(c, o->args[0], &list, &n);

	if (rc != 0 && list == NULL)
		return fail(rc, "cannot read receipts", c);
	for (size_t i = 0; i < n; i++) {
		char t[32];
		if (o->json) {
			json_t *j = json_object();
			json_object_set_new(j, "msg_id", json_string(o->args[0]));
			json_object_set_new(j, "recipient", json_string(list[i].recipient));
			json_object_set_new(j, "outcome", json_string(puente_outcome_name(list[i].outcome)));
			json_object_set_new(j, "at", json_time(list[i].at));
			json_print(j);
			continue;
		}
		iso_time(list[i].at, t);
		printf("%-16s  %-20s  %s\n", list[i].recipient, puente_outcome_name(list[i].outcome), t);
	}
	if (!o->json && n == 0)
		printf("no receipts yet\n");
	puente_free(list);
	return rc != 0 ? fail(rc, "receipts may be incomplete", c) : EX_OK;
}

static int
cmd_status(struct puente_client *c, struct opts *o)
{
	struct puente_sent s;
	struct puente_received r;
	char t[32];
	int dir, rc = puente_status(c, o->args[0], &dir, &s, &r);

	if (rc != 0)
		return fail(rc, "no status", c);
	if (o->json) {
		json_t *j = dir == PUENTE_DIRECTION_SENT ? sent_json(&s, 0) : received_json(&r);
		json_object_set_new(j, "direction", json_string(dir == PUENTE_DIRECTION_SENT ?
		    "sent" : "received"));
		json_print(j);
		return EX_OK;
	}
	if (dir == PUENTE_DIRECTION_SENT) {
		sent_text(&s, 0, "");
		printf("  to:       ");
		for (size_t i = 0; i < s.n_recipients; i++)
			printf("%s%s", i ? ", " : "", s.recipients[i]);
		iso_time(s.created_at, t);
		printf("\n  created:  %s\n  attempts: %u\n  receipts: %u of %zu (puente receipts %s)\n",
		    t, s.attempts, s.n_receipts, s.n_recipients, s.msg_id);
		return EX_OK;
	}
	iso_time(r.fetched_at, t);
	printf("%s %s case %s from %s: %s, fetched %s%s%s\n", r.msg_id, puente_type_name(r.type),
	    r.case_id, r.sender, puente_outcome_name(r.outcome), t, r.out_dir[0] ? " into " : "",
	    r.out_dir);
	printf("  receipt sent: %s\n  access statements: %u\n", r.receipt_acked ? "yes" : "no",
	    r.opens);
	return EX_OK;
}

static const struct command commands[] = {
	{ "send", cmd_send,
	  "send --to AGENCY [--to AGENCY ...] [--type TYPE] [--case ID] [--scope SCOPE] "
	  "[--respond-by YYYY-MM-DD] [--lifetime-days N] CASE.json [ATTACHMENT ...]",
	  "seal a case file and its attachments into the outbox and send it",
	  "to type case scope respond-by lifetime-days", 1, MAX_ATTACHMENTS + 1 },
	{ "reply", cmd_reply,
	  "reply MSGID [--type TYPE] [--respond-by YYYY-MM-DD] [--lifetime-days N] CASE.json "
	  "[ATTACHMENT ...]",
	  "answer a message received: to its sender, about the same case",
	  "type case scope respond-by lifetime-days", 2, MAX_ATTACHMENTS + 2 },
	{ "flush", cmd_flush, "flush",
	  "send what waits in the outbox (after the gateway was unreachable)", "", 0, 0 },
	{ "inbox", cmd_inbox, "inbox",
	  "list what waits at the gateway: type, sender, case, dates, size", "", 0, 0 },
	{ "fetch", cmd_fetch, "fetch MSGID --out DIR [--staff ID --purpose TEXT]",
	  "fetch, verify and write a message, send its receipt, report the access",
	  "out staff purpose", 1, 1 },
	{ "receipts", cmd_receipts, "receipts MSGID",
	  "the verified recipient receipts of a message sent (or the one given)", "", 1, 1 },
	{ "status", cmd_status, "status MSGID",
	  "what the local records say of a message, sent or received", "", 1, 1 },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
command_help(const struct command *cmd)
{
	printf("usage: puente [--agency DIR] [--json] [--timeout SECONDS] %s\n\n%s.\n", cmd->usage,
	    cmd->help);
	if (strcmp(cmd->name, "send") == 0 || strcmp(cmd->name, "reply") == 0)
		printf("\n  --to AGENCY          a recipient (send; up to 16)\n"
		    "  --type TYPE          the message type, checked against the case file\n"
		    "                       (case-transfer, referral, follow-up-report, ...)\n"
		    "  --case ID            the case id, checked against the case file\n"
		    "  --scope SCOPE        adoption scope: none, domestic, international\n"
		    "                       (default: international for a review request, else none)\n"
		    "  --respond-by DATE    the date an answer is due (YYYY-MM-DD, UTC)\n"
		    "  --lifetime-days N    how long the gateway keeps it for the recipients (1-7, 7)\n"
		    "\nThe case file is JSON (client/examples/README.md). Attachments are read from\n"
		    "the files given, in the order of the case file's \"attachments\" list.\n"
		    "Exit 0 accepted, 65 refused, 75 stored in the outbox (gateway unreachable).\n");
	else if (strcmp(cmd->name, "fetch") == 0)
		printf("\n  --out DIR            where case.json and attachment-NN.EXT go (new or empty)\n"
		    "  --staff ID           the staff member opening it (an internal id, not a name)\n"
		    "  --purpose TEXT       why (e.g. case-assessment): with --staff, a signed\n"
		    "                       access statement is reported to the gateway's audit log\n");
	printf("\nCommon options: --agency DIR (or PUENTE_AGENCY), --json (one JSON object per\n"
	    "result), --timeout SECONDS (longest wait for the gateway, default 30).\n");
}

static void
main_help(FILE *f)
{
	fprintf(f, "usage: puente [--agency DIR] [--json] [--timeout SECONDS] COMMAND [ARGS]\n\n"
	    "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "  %-9s %s\n", "audit", "verify the audit log, or trace a case (auditors)");
	fprintf(f, "\n`puente COMMAND --help` for each; man puente for everything.\n");
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct progress prog = { 0 };
	struct puente_options popt = { 0 };
	struct puente_client *c = NULL;
	int i = 1, rc;

	/* A gateway that hangs up mid-write is an error to report, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	frame_malloc_tune();
	/* Global options before the command. */
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			main_help(stdout);
			return EX_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("puente 0.1.0 (protocol 1)\n");
			return EX_OK;
		}
		if (strcmp(argv[i], "--json") == 0)
			o.json = 1;
		else if ((strcmp(argv[i], "--agency") == 0 || strcmp(argv[i], "--timeout") == 0) &&
		    i + 1 < argc) {
			if ((rc = set_option(&o, argv[i] + 2, argv[i + 1])) != 0)
				return rc;
			i++;
		} else
			return usage_error("unknown option %s", argv[i]);
	}
	if (i == argc)
		return usage_error("no command");
	if (strcmp(argv[i], "help") == 0) {
		for (size_t k = 0; i + 1 < argc && k < N_COMMANDS; k++)
			if (strcmp(commands[k].name, argv[i + 1]) == 0) {
				command_help(&commands[k]);
				return EX_OK;
			}
		main_help(stdout);
		return EX_OK;
	}
	/* The auditor's commands parse their own options (audit_cmd.c). */
	if (strcmp(argv[i], "audit") == 0)
		return audit_main(argc - i - 1, argv + i + 1, o.agency, o.json, o.timeout_s);
	for (size_t k = 0; k < N_COMMANDS; k++)
		if (strcmp(commands[k].name, argv[i]) == 0)
			current = &commands[k];
	if (current == NULL)
		return usage_error("unknown command \"%.32s\"", argv[i]);
	if ((rc = parse_args(current, argc - i - 1, argv + i + 1, &o)) != 0)
		return rc;
	if (o.agency == NULL)
		o.agency = getenv("PUENTE_AGENCY");
	if (o.agency == NULL || o.agency[0] == '\0')
		return usage_error("no agency folder: give --agency DIR or set PUENTE_AGENCY");
	prog.on = !o.json && isatty(STDERR_FILENO);
	popt.timeout_ms = o.timeout_s * 1000;
	popt.progress = on_progress;
	popt.progress_arg = &prog;
	popt.notice = on_notice;
	if ((rc = puente_open(&c, o.agency, &popt)) != 0) {
		rc = fail(rc, "cannot open the agency folder", c);
		puente_close(c);
		return rc;
	}
	rc = current->fn(c, &o);
	progress_end(&prog);
	puente_close(c);
	return rc;
}
