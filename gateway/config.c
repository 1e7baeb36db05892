/*
 * config.c - gateway.conf, after OpenSMTPD's parse.y: errors as "file:line: message", a
 * sorted keyword table searched with bsearch, and an all-or-nothing load (the caller's
 * configuration changes only when the whole file is good).
 *
 * The file is "key value" lines. '#' starts a comment at the start of a line or after
 * whitespace; blank lines and whitespace around a line are ignored; a value holding spaces
 * is written in double quotes, with \" and \\ as its only escapes. Relative paths are taken
 * from the config file's folder. At most 64 KiB, lines of at most 1024 bytes, UTF-8 without
 * control characters (tab separates words but is refused inside a quoted value).
 *
 * key                      value          default         meaning
 * ------------------------ -------------- --------------- ----------------------------------
 * allow_remote_metrics     yes|no         no              serve metrics on a non-loopback address
 * commit_batch_max         1..4096        256             messages made durable by one commit
 * commit_delay_us          0..100000      0               how long the writer may wait to fill a batch
 * data_dir                 PATH           (required)      the SQLite database and the spool
 * handshake_timeout_ms     100..60000     10000           TLS handshake and HELLO must finish in this
 * identity_dir             PATH           (required)      the gateway's folder from
 *                                                         puente-keys add-agency --role gateway
 * idle_timeout_s           5..86400       300             a session without a frame is closed
 * listen                   HOST:PORT      (required)      address of the agencies' mTLS port
 * log_level                error|warn|    info            least severe level that is logged
 *                          info|debug
 * max_inflight_per_agency  1..4096        64              messages one agency may send at once
 * max_sessions             1..100000      2000            open sessions; more wait in the backlog
 * max_sessions_per_agency  1..100000      256             sessions one agency may hold open at once
 * metrics_listen           HOST:PORT      127.0.0.1:9464  Prometheus metrics and health endpoint
 * retention_days           1..3650        30              days a delivered message is kept
 * sender_quota_bytes       1M..16T        8G              bytes one agency may have queued
 *                                                         (suffixes K M G T are powers of 1024)
 * sweep_interval_s         1..3600        60              seconds between housekeeping runs:
 *                                                         expiry notices, retention, overdue
 * wal_presize_bytes        0..1G          260M            the size the WAL file is given at start
 *                                                         (at most a quarter of the free space)
 * witness_max_age_s        60..604800     900             warn when no witness cosigned for longer
 *
 * HOST is an IPv4 address (dotted quad), an IPv6 address in brackets ([::1]) or localhost;
 * PORT is 1..65535. A number is decimal digits only: no sign, no spaces, no 0x.
 * The file names no secret: the keys stay in identity_dir, with their own 0600 modes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "pu_err.h"

#define KEYWORD_COUNT 18
#define SUGGEST_DISTANCE 2	/* farthest misspelling that still gets a "did you mean" */
#define SUGGEST_KEY_MAX 32	/* longer unknown keys get no suggestion */
#define ECHO_MAX 48		/* bytes of a bad value repeated in a message */
#define WHY_MAX 256

struct parser {
	const char *name;		/* the file, as messages name it */
	unsigned line;			/* 1-based number of the line being read */
	unsigned seen[KEYWORD_COUNT];	/* line that gave each key; 0: not given */
	char why[WHY_MAX];		/* what a value parser found wrong */
	char *err;
	size_t err_len;
};

struct keyword;
typedef int keyword_parse_fn(struct parser *, const struct keyword *, const char *,
    struct gateway_config *);
typedef void keyword_print_fn(const struct keyword *, const struct gateway_config *, FILE *);

struct keyword {
	const char *name;
	keyword_parse_fn *parse;
	keyword_print_fn *print;
	size_t field;		/* offsetof the value in struct gateway_config */
	size_t port;		/* HOST:PORT keys: offsetof the port */
	uint64_t min, max;	/* numbers: inclusive bounds */
	const char *def;	/* default, as it would be written in the file; NULL: required */
};

static keyword_parse_fn parse_bool, parse_hostport, parse_level, parse_path, parse_size,
    parse_uint;
static keyword_print_fn print_bool, print_hostport, print_level, print_path, print_size,
    print_uint;

#define FIELD(f) offsetof(struct gateway_config, f)
#define KW_BOOL(name, def) { #name, parse_bool, print_bool, FIELD(name), 0, 0, 1, def }
#define KW_UINT(name, lo, hi, def) { #name, parse_uint, print_uint, FIELD(name), 0, lo, hi, def }
#define KW_SIZE(name, lo, hi, def) { #name, parse_size, print_size, FIELD(name), 0, lo, hi, def }
#define KW_PATH(name) { #name, parse_path, print_path, FIELD(name), 0, 0, 0, NULL }
#define KW_HOSTPORT(name, host, port, def) \
	{ #name, parse_hostport, print_hostport, FIELD(host), FIELD(port), 1, 65535, def }
#define KIB 1024ull
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
#define TIB (1024 * GIB)

/* Sorted by name (strcmp) for bsearch; the top of this file documents each row. */
static const struct keyword keywords[] = {
	KW_BOOL(allow_remote_metrics, "no"),
	KW_UINT(commit_batch_max, 1, 4096, "256"),
	KW_UINT(commit_delay_us, 0, 100000, "0"),
	KW_PATH(data_dir),
	KW_UINT(handshake_timeout_ms, 100, 60000, "10000"),
	KW_PATH(identity_dir),
	KW_UINT(idle_timeout_s, 5, 86400, "300"),
	KW_HOSTPORT(listen, listen_host, listen_port, NULL),
	{ "log_level", parse_level, print_level, FIELD(log_level), 0, 0, 0, "info" },
	KW_UINT(max_inflight_per_agency, 1, 4096, "64"),
	KW_UINT(max_sessions, 1, 100000, "2000"),
	KW_UINT(max_sessions_per_agency, 1, 100000, "256"),
	KW_HOSTPORT(metrics_listen, metrics_host, metrics_port, "127.0.0.1:9464"),
	KW_UINT(retention_days, 1, 3650, "30"),
	KW_SIZE(sender_quota_bytes, MIB, 16 * TIB, "8G"),
	KW_UINT(sweep_interval_s, 1, 3600, "60"),
	KW_SIZE(wal_presize_bytes, 0, GIB, "260M"),
	KW_UINT(witness_max_age_s, 60, 604800, "900"),
};
_Static_assert(sizeof(keywords) / sizeof(keywords[0]) == KEYWORD_COUNT,
    "KEYWORD_COUNT is the number of rows of keywords[]");

/* ---- messages ----------------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3)))
err_printf(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err == NULL || p->err_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, p->err_len, fmt, ap);
	va_end(ap);
}

/* "NAME:LINE: message"; returns the code of every error in the file. */
static int __attribute__((format(printf, 2, 3)))
line_error(struct parser *p, const char *fmt, ...)
{
	char msg[WHY_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_printf(p, "%s:%u: %s", p->name, p->line, msg);
	return PU_ERR_USAGE;
}

/* A value parser's reason, without the place: the caller adds "NAME:LINE: key: ". */
static int __attribute__((format(printf, 2, 3)))
value_error(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	return PU_ERR_USAGE;
}

/* At most ECHO_MAX bytes of s, cut before a UTF-8 continuation byte, then "...". */
static const char *
echo(char out[ECHO_MAX + 4], const char *s, size_t n)
{
	size_t k = n;

	if (n > ECHO_MAX) {
		k = ECHO_MAX;
		while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
			k--;
	}
	memcpy(out, s, k);
	memcpy(out + k, n > k ? "..." : "", n > k ? 4 : 1);
	return out;
}

/* ---- values ------------------------------------------------------------------------- */

static void *
field_of(struct gateway_config *c, size_t off)
{
	return (char *)c + off;
}

static const void *
field_of_const(const struct gateway_config *c, size_t off)
{
	return (const char *)c + off;
}

/* Leading decimal digits of s into *v; *overflow when they exceed 64 bits. */
static const char *
digits_parse(const char *s, uint64_t *v, int *overflow)
{
	*v = 0;
	*overflow = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (*v > (UINT64_MAX - d) / 10)
			*overflow = 1;
		else
			*v = *v * 10 + d;
	}
	return s;
}

/* "8G" for 8 GiB: the largest suffix that divides v exactly. */
static const char *
size_format(char out[24], uint64_t v)
{
	static const struct { uint64_t unit; char suffix; } units[] = {
		{ TIB, 'T' }, { GIB, 'G' }, { MIB, 'M' }, { KIB, 'K' },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v != 0 && v % units[i].unit == 0) {
			snprintf(out, 24, "%" PRIu64 "%c", v / units[i].unit, units[i].suffix);
			return out;
		}
	}
	snprintf(out, 24, "%" PRIu64, v);
	return out;
}

static int
range_check(struct parser *p, const struct keyword *kw, const char *v, uint64_t n,
    int overflow, int is_size)
{
	char lo[24], hi[24], e[ECHO_MAX + 4];

	if (is_size) {
		size_format(lo, kw->min);
		size_format(hi, kw->max);
	} else {
		snprintf(lo, sizeof(lo), "%" PRIu64, kw->min);
		snprintf(hi, sizeof(hi), "%" PRIu64, kw->max);
	}
	if (overflow)
		return value_error(p, "%s is too large (not in %s..%s)", echo(e, v, strlen(v)),
		    lo, hi);
	if (n < kw->min || n > kw->max)
		return value_error(p, "%s is not in %s..%s", echo(e, v, strlen(v)), lo, hi);
	return PU_OK;
}

static int
parse_uint(struct parser *p, const struct keyword *kw, const char *v, struct gateway_config *c)
{
	char e[ECHO_MAX + 4];
	uint64_t n;
	int overflow, rc;
	const char *end = digits_parse(v, &n, &overflow);

	if (end == v || *end != '\0')
		return value_error(p, "\"%s\" is not a number", echo(e, v, strlen(v)));
	if ((rc = range_check(p, kw, v, n, overflow, 0)) != PU_OK)
		return rc;
	*(unsigned *)field_of(c, kw->field) = (unsigned)n;
	return PU_OK;
}

static int
parse_size(struct parser *p, const struct keyword *kw, const char *v, struct gateway_config *c)
{
	static const char suffixes[] = "KMGT";
	char e[ECHO_MAX + 4];
	const char *s;
	uint64_t n;
	int overflow, rc;
	const char *end = digits_parse(v, &n, &overflow);

	if (end != v && *end != '\0' && end[1] == '\0' &&
	    (s = strchr(suffixes, *end >= 'a' ? *end - 'a' + 'A' : *end)) != NULL) {
		unsigned shift = 10 * (unsigned)(s - suffixes + 1);
		if (n > UINT64_MAX >> shift)
			overflow = 1;
		n <<= shift;
		end++;
	}
	if (end == v || *end != '\0')
		return value_error(p, "\"%s\" is not a size (a number with an optional K, M, G "
		    "or T)", echo(e, v, strlen(v)));
	if ((rc = range_check(p, kw, v, n, overflow, 1)) != PU_OK)
		return rc;
	*(uint64_t *)field_of(c, kw->field) = n;
	return PU_OK;
}

static int
parse_bool(struct parser *p, const struct keyword *kw, const char *v, struct gateway_config *c)
{
	char e[ECHO_MAX + 4];
	int *field = field_of(c, kw->field);

	if (strcmp(v, "yes") == 0)
		*field = 1;
	else if (strcmp(v, "no") == 0)
		*field = 0;
	else
		return value_error(p, "\"%s\" is not yes or no", echo(e, v, strlen(v)));
	return PU_OK;
}

static int
parse_level(struct parser *p, const struct keyword *kw, const char *v, struct gateway_config *c)
{
	char e[ECHO_MAX + 4];

	if (log_level_parse(v, field_of(c, kw->field)) != PU_OK)
		return value_error(p, "\"%s\" is not error, warn, info or debug",
		    echo(e, v, strlen(v)));
	return PU_OK;
}

static int
host_is_loopback(const char *host)
{
	unsigned char a[16];

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const unsigned char one[16] = { [15] = 1 };
		static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };
		return memcmp(a, one, 16) == 0 || (memcmp(a, v4mapped, 12) == 0 && a[12] == 127);
	}
	return 0;
}

/* HOST:PORT, HOST an IPv4 dotted quad, [IPv6] or localhost; the host is kept unbracketed. */
static int
parse_hostport(struct parser *p, const struct keyword *kw, const char *v,
    struct gateway_config *c)
{
	char host[CONFIG_HOST_MAX], e[ECHO_MAX + 4];
	unsigned char addr[16];
	const char *colon, *end;
	size_t hlen;
	uint64_t port;
	int overflow, v6 = v[0] == '[';

	if (v6) {
		const char *close = strchr(v, ']');
		if (close == NULL)
			return value_error(p, "missing \"]\" in \"%s\"", echo(e, v, strlen(v)));
		if (close[1] != ':')
			return value_error(p, "missing port in \"%s\" (expected [IPv6]:PORT)",
			    echo(e, v, strlen(v)));
		colon = close + 1;
		hlen = (size_t)(close - v - 1);
	} else {
		if ((colon = strrchr(v, ':')) == NULL)
			return value_error(p, "missing port in \"%s\" (expected HOST:PORT)",
			    echo(e, v, strlen(v)));
		if (memchr(v, ':', (size_t)(colon - v)) != NULL)
			return value_error(p, "IPv6 address in \"%s\" must be in brackets, as in "
			    "[::1]:7443", echo(e, v, strlen(v)));
		hlen = (size_t)(colon - v);
	}
	if (hlen >= sizeof(host))
		return value_error(p, "host in \"%s\" is longer than %d bytes",
		    echo(e, v, strlen(v)), CONFIG_HOST_MAX - 1);
	memcpy(host, v + v6, hlen);
	host[hlen] = '\0';
	if (v6 ? inet_pton(AF_INET6, host, addr) != 1 :
	    strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, addr) != 1)
		return value_error(p, "bad host \"%s\" (expected an IPv4 address, [IPv6] or "
		    "localhost)", echo(e, host, hlen));

	end = digits_parse(colon + 1, &port, &overflow);
	if (end == colon + 1 || *end != '\0')
		return value_error(p, "port \"%s\" is not a number",
		    echo(e, colon + 1, strlen(colon + 1)));
	if (overflow || port < kw->min || port > kw->max)
		return value_error(p, "port %s is not in %" PRIu64 "..%" PRIu64,
		    echo(e, colon + 1, strlen(colon + 1)), kw->min, kw->max);

	memcpy(field_of(c, kw->field), host, hlen + 1);
	*(uint16_t *)field_of(c, kw->port) = (uint16_t)port;
	return PU_OK;
}

/* v, or for a relative v the config file's folder joined with v: an absolute path. */
static int
parse_path(struct parser *p, const struct keyword *kw, const char *v, struct gateway_config *c)
{
	char *out = field_of(c, kw->field), cwd[CONFIG_PATH_MAX];
	const char *slash = strrchr(p->name, '/');
	int dirlen = slash == NULL ? 0 : slash == p->name ? 1 : (int)(slash - p->name);
	int n;

	if (v[0] == '\0')
		return value_error(p, "empty path");
	if (v[0] == '/') {
		n = snprintf(out, CONFIG_PATH_MAX, "%s", v);
		goto check;
	}
	while (v[0] == '.' && v[1] == '/')
		v += 2;
	if (strcmp(v, ".") == 0)
		v += 1;
	if (dirlen > 0 && p->name[0] == '/') {
		n = snprintf(out, CONFIG_PATH_MAX, "%.*s%s%s", dirlen, p->name,
		    dirlen > 1 && v[0] != '\0' ? "/" : "", v);
		goto check;
	}
	/* A relative config path: the daemon may chdir later, so pin the folder now. */
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return value_error(p, "cannot resolve a relative path: current folder unknown");
	if (dirlen > 0)
		n = snprintf(out, CONFIG_PATH_MAX, "%s%s%.*s%s%s", cwd,
		    strcmp(cwd, "/") != 0 ? "/" : "", dirlen, p->name, v[0] != '\0' ? "/" : "", v);
	else
		n = snprintf(out, CONFIG_PATH_MAX, "%s%s%s", cwd,
		    strcmp(cwd, "/") != 0 && v[0] != '\0' ? "/" : "", v);
check:
	if (n < 0 || n >= CONFIG_PATH_MAX) {
		out[0] = '\0';
		return value_error(p, "path is longer than %d bytes", CONFIG_PATH_MAX - 1);
	}
	return PU_OK;
}

static void
print_uint(const struct keyword *kw, const struct gateway_config *c, FILE *out)
{
	fprintf(out, "%u", *(const unsigned *)field_of_const(c, kw->field));
}

static void
print_size(const struct keyword *kw, const struct gateway_config *c, FILE *out)
{
	char s[24];

	fputs(size_format(s, *(const uint64_t *)field_of_const(c, kw->field)), out);
}

static void
print_bool(const struct keyword *kw, const struct gateway_config *c, FILE *out)
{
	fputs(*(const int *)field_of_const(c, kw->field) ? "yes" : "no", out);
}

static void
print_level(const struct keyword *kw, const struct gateway_config *c, FILE *out)
{
	fputs(log_level_name(*(const int *)field_of_const(c, kw->field)), out);
}

static void
print_hostport(const struct keyword *kw, const struct gateway_config *c, FILE *out)
{
	const char *host = field_of_const(c, kw->field);
	unsigned port = *(const uint16_t *)field_of_const(c, kw->port);

	if (strchr(host, ':') != NULL)
		fprintf(out, "[%s]:%u", host, port);
	else
		fprintf(out, "%s:%u", host, port);
}

/* Quoted when needed, so that what config_print writes loads back. */
static void
print_path(const struct keyword *kw, const struct gateway_config *c, FILE *out)
{
	const char *s = field_of_const(c, kw->field);

	if (s[0] != '\0' && strpbrk(s, " \"\\#") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* ---- lines -------------------------------------------------------------------------- */

static int
keyword_cmp(const void *key, const void *row)
{
	return strcmp(key, ((const struct keyword *)row)->name);
}

/* Optimal string alignment distance: a swap of two neighbours counts as one edit. */
static size_t
edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t d[SUGGEST_KEY_MAX + 1][SUGGEST_KEY_MAX + 1];

	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* The nearest key within SUGGEST_DISTANCE edits, the first in table order on a tie. */
static const struct keyword *
keyword_suggest(const char *key, size_t len)
{
	const struct keyword *best = NULL;
	size_t best_d = SUGGEST_DISTANCE + 1;

	if (len > SUGGEST_KEY_MAX)
		return NULL;
	for (size_t i = 0; i < KEYWORD_COUNT; i++) {
		size_t klen = strlen(keywords[i].name), d;
		if (klen > SUGGEST_KEY_MAX || klen + SUGGEST_DISTANCE < len ||
		    len + SUGGEST_DISTANCE < klen)
			continue;
		if ((d = edit_distance(key, len, keywords[i].name, klen)) < best_d) {
			best_d = d;
			best = &keywords[i];
		}
	}
	return best;
}

/* Length of the UTF-8 character at s (n bytes left), or 0 when it is not valid UTF-8. */
static size_t
utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, min = 0x80, *cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, min = 0x800, *cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, min = 0x10000, *cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/* NUL, control characters (C0, DEL, C1) and invalid UTF-8 anywhere in a line are refused. */
static int
line_check_bytes(struct parser *p, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if ((k = utf8_char(u + i, n - i, &cp)) == 0)
			return line_error(p, "line is not valid UTF-8");
		if (cp == 0)
			return line_error(p, "line contains a NUL byte");
		if ((cp < 0x20 && cp != '\t') || cp == 0x7f)
			return line_error(p, "line contains control character 0x%02x", (unsigned)cp);
		if (cp >= 0x80 && cp <= 0x9f)
			return line_error(p, "line contains control character U+%04X", (unsigned)cp);
		i += k;
	}
	return PU_OK;
}

static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A double-quoted value starting at s[*i] into out; *i ends after the closing quote. */
static int
value_quoted(struct parser *p, const struct keyword *kw, const char *s, size_t n, size_t *i,
    char *out)
{
	size_t j = *i + 1, o = 0;

	for (;;) {
		if (j == n)
			return line_error(p, "%s: unterminated quoted value", kw->name);
		if (s[j] == '"')
			break;
		if (s[j] == '\t')
			return line_error(p, "%s: control character 0x09 in quoted value",
			    kw->name);
		if (s[j] == '\\') {
			if (j + 1 == n || (s[j + 1] != '"' && s[j + 1] != '\\'))
				return line_error(p, "%s: invalid escape in quoted value (only \\\" "
				    "and \\\\ are allowed)", kw->name);
			j++;
		}
		out[o++] = s[j++];
	}
	out[o] = '\0';
	*i = j + 1;
	return PU_OK;
}

/* One line (n bytes, no newline, at most CONFIG_LINE_MAX) into c. */
static int
line_parse(struct parser *p, const char *s, size_t n, struct gateway_config *c)
{
	char key[CONFIG_LINE_MAX + 1], value[CONFIG_LINE_MAX + 1], e[ECHO_MAX + 4];
	const struct keyword *kw;
	size_t i = 0, start, idx;
	int rc;

	if ((rc = line_check_bytes(p, s, n)) != PU_OK)
		return rc;
	while (n > 0 && is_space(s[n - 1]))
		n--;
	while (i < n && is_space(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return PU_OK;

	for (start = i; i < n && !is_space(s[i]); i++)
		continue;
	memcpy(key, s + start, i - start);
	key[i - start] = '\0';
	kw = bsearch(key, keywords, KEYWORD_COUNT, sizeof(keywords[0]), keyword_cmp);
	if (kw == NULL) {
		const struct keyword *near = keyword_suggest(key, i - start);
		if (near != NULL)
			return line_error(p, "unknown key \"%s\" (did you mean \"%s\"?)",
			    echo(e, key, i - start), near->name);
		return line_error(p, "unknown key \"%s\"", echo(e, key, i - start));
	}
	idx = (size_t)(kw - keywords);
	if (p->seen[idx] != 0)
		return line_error(p, "%s given twice (first at line %u)", kw->name, p->seen[idx]);
	p->seen[idx] = p->line;

	while (i < n && is_space(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return line_error(p, "%s: missing value", kw->name);
	if (s[i] == '"') {
		if ((rc = value_quoted(p, kw, s, n, &i, value)) != PU_OK)
			return rc;
	} else {
		for (start = i; i < n && !is_space(s[i]); i++)
			if (s[i] == '"')
				return line_error(p, "%s: '\"' in an unquoted value (quote the whole "
				    "value)", kw->name);
		memcpy(value, s + start, i - start);
		value[i - start] = '\0';
	}

	/* After the value: the end of the line, or whitespace and then a comment. */
	for (start = i; i < n && is_space(s[i]); i++)
		continue;
	if (i < n && (i == start || s[i] != '#')) {
		for (start = i; i < n && !is_space(s[i]); i++)
			continue;
		return line_error(p, "%s: trailing garbage \"%s\" after the value", kw->name,
		    echo(e, s + start, i - start));
	}

	if ((rc = kw->parse(p, kw, value, c)) != PU_OK)
		return line_error(p, "%s: %s", kw->name, p->why);
	return PU_OK;
}

/* What no single line can tell: required keys, and rules that join two keys. */
static int
config_check(struct parser *p, const struct gateway_config *c)
{
	const struct keyword *metrics;

	for (size_t i = 0; i < KEYWORD_COUNT; i++) {
		if (keywords[i].def == NULL && p->seen[i] == 0) {
			err_printf(p, "%s: missing required key \"%s\"", p->name, keywords[i].name);
			return PU_ERR_USAGE;
		}
	}
	/* Metrics name peers and queue sizes: not for the network unless asked for. */
	if (!c->allow_remote_metrics && !host_is_loopback(c->metrics_host)) {
		metrics = bsearch("metrics_listen", keywords, KEYWORD_COUNT, sizeof(keywords[0]),
		    keyword_cmp);
		p->line = p->seen[metrics - keywords];
		return line_error(p, "metrics_listen: %s is not a loopback address (add "
		    "\"allow_remote_metrics yes\" to serve metrics to other hosts)", c->metrics_host);
	}
	return PU_OK;
}

/* ---- public ------------------------------------------------------------------------- */

void
config_defaults(struct gateway_config *c)
{
	struct parser p;

	memset(c, 0, sizeof(*c));
	memset(&p, 0, sizeof(p));
	p.name = "";
	for (size_t i = 0; i < KEYWORD_COUNT; i++)
		if (keywords[i].def != NULL)
			keywords[i].parse(&p, &keywords[i], keywords[i].def, c);
}

int
config_parse_buffer(const char *name, const char *text, size_t len, struct gateway_config *c,
    char *err, size_t err_len)
{
	struct gateway_config tmp;
	struct parser p;
	size_t pos = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.err = err;
	p.err_len = err_len;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	config_defaults(&tmp);

	if (len > CONFIG_FILE_MAX) {
		err_printf(&p, "%s: file is larger than %d bytes", name, CONFIG_FILE_MAX);
		rc = PU_ERR_USAGE;
		goto fail;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		size_t next = pos + n + (nl != NULL);

		p.line++;
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX) {
			rc = line_error(&p, "line is longer than %d bytes", CONFIG_LINE_MAX);
			goto fail;
		}
		if ((rc = line_parse(&p, text + pos, n, &tmp)) != PU_OK)
			goto fail;
		pos = next;
	}
	if ((rc = config_check(&p, &tmp)) != PU_OK)
		goto fail;
	*c = tmp;
	return PU_OK;
fail:
	config_defaults(c);
	return rc;
}

int
config_load(const char *path, struct gateway_config *c, char *err, size_t err_len)
{
	struct parser p;
	struct stat st;
	uint8_t *text = NULL;
	size_t len;
	int rc;

	memset(&p, 0, sizeof(p));
	p.err = err;
	p.err_len = err_len;
	if (stat(path, &st) != 0) {
		rc = errno == ENOENT || errno == ENOTDIR ? PU_ERR_NOT_FOUND : PU_ERR_IO;
		err_printf(&p, "%s: cannot read: %s", path,
		    rc == PU_ERR_NOT_FOUND ? pu_err_message(rc) : strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err_printf(&p, "%s: not a regular file", path);
		rc = PU_ERR_USAGE;
		goto fail;
	}
	errno = 0;
	if ((rc = file_read_all(path, CONFIG_FILE_MAX, &text, &len)) != PU_OK) {
		if (rc == PU_ERR_TOO_LARGE) {
			err_printf(&p, "%s: file is larger than %d bytes", path, CONFIG_FILE_MAX);
			rc = PU_ERR_USAGE;
		} else {
			err_printf(&p, "%s: cannot read: %s", path,
			    errno != 0 ? strerror(errno) : pu_err_message(rc));
		}
		goto fail;
	}
	rc = config_parse_buffer(path, (const char *)text, len, c, err, err_len);
	free(text);
	return rc;
fail:
	config_defaults(c);
	return rc;
}

void
config_print(const struct gateway_config *c, FILE *out)
{
	for (size_t i = 0; i < KEYWORD_COUNT; i++) {
		fprintf(out, "%s ", keywords[i].name);
		keywords[i].print(&keywords[i], c, out);
		fputc('\n', out);
	}
}
