/*
 * test_config.c - gateway.conf (gateway/config.c): the defaults, a full file, every error
 * with its exact message and line, relative paths, quoting, the "did you mean" of a
 * misspelt key, and the all-or-nothing load. Each file is written with mkstemp into a
 * folder of its own and loaded with config_load, as the daemon does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "pu_err.h"

#define assert_err(rc, want) assert_string_equal(pu_err_name(rc), pu_err_name(want))

/* A string literal and its length, for text that holds a NUL. */
#define BYTES(s) s, sizeof(s) - 1

/* The three required keys, so that a case's own line is line 4. */
#define REQ "listen 127.0.0.1:7443\nidentity_dir /etc/puente/gw\ndata_dir /var/lib/puente\n"

static char dir[] = "/tmp/puente-test-config-XXXXXX";
static char path[sizeof(dir) + 32];

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

/* A new file holding len bytes of text; its name is left in path. */
static void
write_conf(const char *text, size_t len)
{
	int fd;

	snprintf(path, sizeof(path), "%s/gw-XXXXXX", dir);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static int
load_len(const char *text, size_t len, struct gateway_config *c, char *err, size_t err_len)
{
	int rc;

	write_conf(text, len);
	rc = config_load(path, c, err, err_len);
	unlink(path);
	return rc;
}

static int
load(const char *text, struct gateway_config *c, char *err, size_t err_len)
{
	return load_len(text, strlen(text), c, err, err_len);
}

/* config_print is lossless, so two configurations are equal when they print the same. */
static char *
printed(const struct gateway_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print(c, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void
assert_config_equal(const struct gateway_config *a, const struct gateway_config *b)
{
	char *pa = printed(a), *pb = printed(b);

	assert_string_equal(pa, pb);
	free(pa);
	free(pb);
}

static void
assert_at_defaults(const struct gateway_config *c)
{
	struct gateway_config d;

	config_defaults(&d);
	assert_config_equal(c, &d);
}

/* ---- good files --------------------------------------------------------------------- */

static void
defaults_are_the_documented_ones(void **state)
{
	struct gateway_config c;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	config_defaults(&c);
	assert_string_equal(c.listen_host, "");
	assert_int_equal(c.listen_port, 0);
	assert_string_equal(c.metrics_host, "127.0.0.1");
	assert_int_equal(c.metrics_port, 9464);
	assert_int_equal(c.allow_remote_metrics, 0);
	assert_string_equal(c.identity_dir, "");
	assert_string_equal(c.data_dir, "");
	assert_int_equal(c.max_sessions, 2000);
	assert_int_equal(c.max_sessions_per_agency, 256);
	assert_int_equal(c.handshake_timeout_ms, 10000);
	assert_int_equal(c.idle_timeout_s, 300);
	assert_int_equal(c.max_inflight_per_agency, 64);
	assert_true(c.sender_quota_bytes == 8ull << 30);
	assert_int_equal(c.commit_batch_max, 256);
	assert_int_equal(c.commit_delay_us, 0);
	assert_int_equal(c.retention_days, 30);
	assert_int_equal(c.witness_max_age_s, 900);
	assert_true(c.wal_presize_bytes == 260ull << 20);
	assert_int_equal(c.log_level, LOG_INFO);
}

static void
full_file_sets_every_key(void **state)
{
	static const char text[] =
	    "# Puente gateway, Tlaxcala\n"
	    "\n"
	    "   listen\t[::1]:8443   # agencies\n"
	    "metrics_listen 0.0.0.0:9100\r\n"
	    "allow_remote_metrics yes\n"
	    "identity_dir /etc/puente/gateway\n"
	    "data_dir \"/srv/puente datos\"\n"
	    "max_sessions 100000\n"
	    "max_sessions_per_agency 1\n"
	    "handshake_timeout_ms 100\n"
	    "idle_timeout_s 86400\n"
	    "max_inflight_per_agency 4096\n"
	    "sender_quota_bytes 16T\n"
	    "commit_batch_max 1\n"
	    "commit_delay_us 100000\n"
	    "retention_days 3650\n"
	    "witness_max_age_s 604800\n"
	    "wal_presize_bytes 0\n"
	    "log_level debug";	/* no newline at the end */
	struct gateway_config c;
	char err[512];

	(void)state;
	assert_err(load(text, &c, err, sizeof(err)), PU_OK);
	assert_string_equal(err, "");
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 8443);
	assert_string_equal(c.metrics_host, "0.0.0.0");
	assert_int_equal(c.metrics_port, 9100);
	assert_int_equal(c.allow_remote_metrics, 1);
	assert_string_equal(c.identity_dir, "/etc/puente/gateway");
	assert_string_equal(c.data_dir, "/srv/puente datos");
	assert_int_equal(c.max_sessions, 100000);
	assert_int_equal(c.max_sessions_per_agency, 1);
	assert_int_equal(c.handshake_timeout_ms, 100);
	assert_int_equal(c.idle_timeout_s, 86400);
	assert_int_equal(c.max_inflight_per_agency, 4096);
	assert_true(c.sender_quota_bytes == 16ull << 40);
	assert_int_equal(c.commit_batch_max, 1);
	assert_int_equal(c.commit_delay_us, 100000);
	assert_int_equal(c.retention_days, 3650);
	assert_int_equal(c.witness_max_age_s, 604800);
	assert_true(c.wal_presize_bytes == 0);
	assert_int_equal(c.log_level, LOG_DEBUG);
}

static void
example_file_loads_at_defaults(void **state)
{
	struct gateway_config c, want;
	char err[512];

	(void)state;
	assert_err(config_load(PUENTE_CONFIG_EXAMPLE, &c, err, sizeof(err)), PU_OK);
	config_defaults(&want);
	snprintf(want.listen_host, sizeof(want.listen_host), "127.0.0.1");
	want.listen_port = 7443;
	snprintf(want.identity_dir, sizeof(want.identity_dir), "/etc/puente/gateway");
	snprintf(want.data_dir, sizeof(want.data_dir), "/var/lib/puente");
	assert_config_equal(&c, &want);
}

static void
example_file_names_every_key(void **state)
{
	struct gateway_config c;
	char *text = NULL, *line, *save = NULL;
	FILE *f;
	size_t keys = 0;
	char example[CONFIG_FILE_MAX + 1];
	size_t n;

	(void)state;
	config_defaults(&c);
	text = printed(&c);
	assert_non_null(f = fopen(PUENTE_CONFIG_EXAMPLE, "r"));
	n = fread(example, 1, sizeof(example) - 1, f);
	example[n] = '\0';
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char key[64], want[80];
		assert_int_equal(sscanf(line, "%63s", key), 1);
		snprintf(want, sizeof(want), "\n%s ", key);
		if (strstr(example, want) == NULL)
			fail_msg("gateway.conf.example does not set %s", key);
		keys++;
	}
	assert_int_equal(keys, 18);
	free(text);
}

static void
print_is_sorted_and_loads_back(void **state)
{
	static const char text[] =
	    "listen 127.0.0.1:7443\n"
	    "identity_dir /etc/puente/gw\n"
	    "metrics_listen [::1]:9100\n"
	    "sender_quota_bytes 1536M\n"	/* printed as 1536M: not a whole number of G */
	    "data_dir \"/srv/a \\\"b\\\" #c\\\\\"\n"
	    "log_level warn\n";
	struct gateway_config c, again;
	char err[512], prev[64] = "", *out, *line, *save = NULL;

	(void)state;
	assert_err(load(text, &c, err, sizeof(err)), PU_OK);
	assert_string_equal(c.data_dir, "/srv/a \"b\" #c\\");
	out = printed(&c);
	assert_non_null(strstr(out, "\nmetrics_listen [::1]:9100\n"));
	assert_non_null(strstr(out, "\nsender_quota_bytes 1536M\n"));
	assert_non_null(strstr(out, "\ndata_dir \"/srv/a \\\"b\\\" #c\\\\\"\n"));
	assert_err(load(out, &again, err, sizeof(err)), PU_OK);
	assert_config_equal(&c, &again);

	/* Keys come out in table order, so the table is sorted as bsearch needs. */
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		assert_int_equal(sscanf(line, "%63s", key), 1);
		if (strcmp(prev, key) >= 0)
			fail_msg("key %s printed after %s", key, prev);
		snprintf(prev, sizeof(prev), "%s", key);
	}
	free(out);
}

static void
sizes_take_suffixes_in_powers_of_1024(void **state)
{
	static const struct { const char *v; uint64_t want; } cases[] = {
		{ "1048576", 1ull << 20 }, { "1024K", 1ull << 20 }, { "1M", 1ull << 20 },
		{ "3g", 3ull << 30 }, { "2T", 2ull << 40 }, { "16384G", 16ull << 40 },
	};
	struct gateway_config c;
	char text[256], err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), REQ "sender_quota_bytes %s\n", cases[i].v);
		assert_err(load(text, &c, err, sizeof(err)), PU_OK);
		if (c.sender_quota_bytes != cases[i].want)
			fail_msg("%s gave %llu", cases[i].v, (unsigned long long)c.sender_quota_bytes);
	}
}

static void
quoted_values_and_comments(void **state)
{
	static const char text[] =
	    "listen \"localhost:7443\"   # quoted HOST:PORT\n"
	    "identity_dir \"/etc/puente/mi gateway\"#not a comment: no space before it\n";
	static const char good[] =
	    "listen \"localhost:7443\"   # quoted HOST:PORT\n"
	    "identity_dir \"/etc/puente/mi \\\"gateway\\\"\"\n"
	    "data_dir /var/lib/puente#1\n"	/* '#' inside a word is not a comment */
	    "max_sessions \"10\"\n"
	    "# identity_dir /commented/out\n"
	    "\t# indented comment\n";
	struct gateway_config c;
	char err[512], want[512];

	(void)state;
	assert_err(load(good, &c, err, sizeof(err)), PU_OK);
	assert_string_equal(c.listen_host, "localhost");
	assert_int_equal(c.listen_port, 7443);
	assert_string_equal(c.identity_dir, "/etc/puente/mi \"gateway\"");
	assert_string_equal(c.data_dir, "/var/lib/puente#1");
	assert_int_equal(c.max_sessions, 10);

	assert_err(load(text, &c, err, sizeof(err)), PU_ERR_USAGE);
	snprintf(want, sizeof(want), "%s:2: identity_dir: trailing garbage "
	    "\"#not\" after the value", path);
	assert_string_equal(err, want);
}

static void
relative_paths_resolved_against_config_folder(void **state)
{
	static const char text[] =
	    "listen 127.0.0.1:7443\n"
	    "identity_dir ./identity/../gw\n"
	    "data_dir spool\n";
	struct gateway_config c;
	char err[512], want[2 * CONFIG_PATH_MAX], cwd[CONFIG_PATH_MAX];

	(void)state;
	assert_err(load(text, &c, err, sizeof(err)), PU_OK);
	snprintf(want, sizeof(want), "%s/identity/../gw", dir);
	assert_string_equal(c.identity_dir, want);
	snprintf(want, sizeof(want), "%s/spool", dir);
	assert_string_equal(c.data_dir, want);

	/* "." is the folder itself. */
	assert_err(load("listen 127.0.0.1:7443\nidentity_dir .\ndata_dir ./\n", &c, err,
	    sizeof(err)), PU_OK);
	assert_string_equal(c.identity_dir, dir);
	assert_string_equal(c.data_dir, dir);

	/* A config file named relative to the current folder: paths still come out absolute. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_err(config_parse_buffer("conf/gateway.conf", text, strlen(text), &c, err,
	    sizeof(err)), PU_OK);
	snprintf(want, sizeof(want), "%s%sconf/spool", cwd, strcmp(cwd, "/") ? "/" : "");
	assert_string_equal(c.data_dir, want);
	assert_err(config_parse_buffer("gateway.conf", text, strlen(text), &c, err,
	    sizeof(err)), PU_OK);
	snprintf(want, sizeof(want), "%s%sspool", cwd, strcmp(cwd, "/") ? "/" : "");
	assert_string_equal(c.data_dir, want);
	assert_err(config_parse_buffer("/gateway.conf", text, strlen(text), &c, err,
	    sizeof(err)), PU_OK);
	assert_string_equal(c.data_dir, "/spool");
}

static void
line_of_exactly_1024_bytes_accepted(void **state)
{
	char text[2048], err[512];
	struct gateway_config c;
	int n;

	(void)state;
	/* "data_dir /" + 1014 bytes = 1024, then a CRLF that is not counted. */
	n = snprintf(text, sizeof(text), "listen 127.0.0.1:7443\nidentity_dir /i\ndata_dir /");
	memset(text + n, 'd', 1014);
	memcpy(text + n + 1014, "\r\n", 3);
	assert_err(load(text, &c, err, sizeof(err)), PU_OK);
	assert_int_equal(strlen(c.data_dir), 1015);
}

static void
file_of_exactly_64_kib_accepted(void **state)
{
	char *text = malloc(CONFIG_FILE_MAX);
	struct gateway_config c;
	char err[512];
	size_t n = strlen(REQ), i;

	(void)state;
	assert_non_null(text);
	memcpy(text, REQ, n);
	/* Comment lines of 99 '#' and a newline, then blanks to the exact size. */
	for (i = n; i + 100 <= CONFIG_FILE_MAX; i += 100) {
		memset(text + i, '#', 99);
		text[i + 99] = '\n';
	}
	memset(text + i, '\n', CONFIG_FILE_MAX - i);
	assert_err(load_len(text, CONFIG_FILE_MAX, &c, err, sizeof(err)), PU_OK);
	free(text);
}

/* ---- errors ------------------------------------------------------------------------- */

struct bad_case {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	const char *want;	/* the message after the file name */
};

static const struct bad_case bad_cases[] = {
	/* unknown keys, with a suggestion within two edits */
	{ REQ "max_session 10\n", 0,
	    ":4: unknown key \"max_session\" (did you mean \"max_sessions\"?)" },
	{ "listne 127.0.0.1:7443\n", 0, ":1: unknown key \"listne\" (did you mean \"listen\"?)" },
	{ REQ "data-dir /x\n", 0, ":4: unknown key \"data-dir\" (did you mean \"data_dir\"?)" },
	{ REQ "Log_Level info\n", 0,
	    ":4: unknown key \"Log_Level\" (did you mean \"log_level\"?)" },
	{ REQ "metrics_lisen 127.0.0.1:1\n", 0,
	    ":4: unknown key \"metrics_lisen\" (did you mean \"metrics_listen\"?)" },
	{ REQ "listen_address 127.0.0.1:7443\n", 0, ":4: unknown key \"listen_address\"" },
	{ REQ "frobnicate\n", 0, ":4: unknown key \"frobnicate\"" },
	/* missing value */
	{ "listen\n", 0, ":1: listen: missing value" },
	{ REQ "max_sessions   # to be decided\n", 0, ":4: max_sessions: missing value" },
	/* trailing garbage */
	{ REQ "max_sessions 10 20\n", 0, ":4: max_sessions: trailing garbage \"20\" after the value" },
	{ "listen 127.0.0.1:7443\nidentity_dir /etc/puente/mi gateway\n", 0,
	    ":2: identity_dir: trailing garbage \"gateway\" after the value" },
	{ REQ "log_level \"info\"x\n", 0, ":4: log_level: trailing garbage \"x\" after the value" },
	/* numbers out of range */
	{ REQ "max_sessions 0\n", 0, ":4: max_sessions: 0 is not in 1..100000" },
	{ REQ "max_sessions 100001\n", 0, ":4: max_sessions: 100001 is not in 1..100000" },
	{ REQ "handshake_timeout_ms 99\n", 0, ":4: handshake_timeout_ms: 99 is not in 100..60000" },
	{ REQ "idle_timeout_s 86401\n", 0, ":4: idle_timeout_s: 86401 is not in 5..86400" },
	{ REQ "max_inflight_per_agency 4097\n", 0,
	    ":4: max_inflight_per_agency: 4097 is not in 1..4096" },
	{ REQ "commit_batch_max 0\n", 0, ":4: commit_batch_max: 0 is not in 1..4096" },
	{ REQ "commit_delay_us 100001\n", 0, ":4: commit_delay_us: 100001 is not in 0..100000" },
	{ REQ "retention_days 3651\n", 0, ":4: retention_days: 3651 is not in 1..3650" },
	{ REQ "witness_max_age_s 59\n", 0, ":4: witness_max_age_s: 59 is not in 60..604800" },
	{ REQ "wal_presize_bytes 2G\n", 0, ":4: wal_presize_bytes: 2G is not in 0..1G" },
	{ REQ "sender_quota_bytes 1023K\n", 0, ":4: sender_quota_bytes: 1023K is not in 1M..16T" },
	{ REQ "sender_quota_bytes 17T\n", 0, ":4: sender_quota_bytes: 17T is not in 1M..16T" },
	{ REQ "sender_quota_bytes 0\n", 0, ":4: sender_quota_bytes: 0 is not in 1M..16T" },
	/* not a number */
	{ REQ "max_sessions ten\n", 0, ":4: max_sessions: \"ten\" is not a number" },
	{ REQ "max_sessions -1\n", 0, ":4: max_sessions: \"-1\" is not a number" },
	{ REQ "max_sessions +5\n", 0, ":4: max_sessions: \"+5\" is not a number" },
	{ REQ "max_sessions 0x10\n", 0, ":4: max_sessions: \"0x10\" is not a number" },
	{ REQ "max_sessions 10K\n", 0, ":4: max_sessions: \"10K\" is not a number" },
	{ REQ "max_sessions \"\"\n", 0, ":4: max_sessions: \"\" is not a number" },
	{ REQ "sender_quota_bytes 8GiB\n", 0, ":4: sender_quota_bytes: \"8GiB\" is not a size "
	    "(a number with an optional K, M, G or T)" },
	{ REQ "sender_quota_bytes G\n", 0, ":4: sender_quota_bytes: \"G\" is not a size "
	    "(a number with an optional K, M, G or T)" },
	/* overflow */
	{ REQ "max_sessions 18446744073709551616\n", 0,
	    ":4: max_sessions: 18446744073709551616 is too large (not in 1..100000)" },
	{ REQ "max_sessions 4294967297\n", 0, ":4: max_sessions: 4294967297 is not in 1..100000" },
	{ REQ "sender_quota_bytes 16777216T\n", 0,
	    ":4: sender_quota_bytes: 16777216T is too large (not in 1M..16T)" },
	{ REQ "retention_days 99999999999999999999999999999999999999999999999999999999999\n", 0,
	    ":4: retention_days: 999999999999999999999999999999999999999999999999... "
	    "is too large (not in 1..3650)" },
	/* HOST:PORT */
	{ "listen 127.0.0.1\n", 0, ":1: listen: missing port in \"127.0.0.1\" (expected HOST:PORT)" },
	{ "listen 127.0.0.1:0\n", 0, ":1: listen: port 0 is not in 1..65535" },
	{ "listen 127.0.0.1:65536\n", 0, ":1: listen: port 65536 is not in 1..65535" },
	{ "listen 127.0.0.1:99999999999999999999\n", 0,
	    ":1: listen: port 99999999999999999999 is not in 1..65535" },
	{ "listen 127.0.0.1:https\n", 0, ":1: listen: port \"https\" is not a number" },
	{ "listen 127.0.0.1:\n", 0, ":1: listen: port \"\" is not a number" },
	{ "listen gw.example.mx:7443\n", 0, ":1: listen: bad host \"gw.example.mx\" "
	    "(expected an IPv4 address, [IPv6] or localhost)" },
	{ "listen 127.0.0.256:7443\n", 0, ":1: listen: bad host \"127.0.0.256\" "
	    "(expected an IPv4 address, [IPv6] or localhost)" },
	{ "listen 127.1:7443\n", 0, ":1: listen: bad host \"127.1\" "
	    "(expected an IPv4 address, [IPv6] or localhost)" },
	{ "listen :7443\n", 0, ":1: listen: bad host \"\" "
	    "(expected an IPv4 address, [IPv6] or localhost)" },
	{ "listen ::1:7443\n", 0,
	    ":1: listen: IPv6 address in \"::1:7443\" must be in brackets, as in [::1]:7443" },
	{ "listen [::1:7443\n", 0, ":1: listen: missing \"]\" in \"[::1:7443\"" },
	{ "listen [::1]\n", 0, ":1: listen: missing port in \"[::1]\" (expected [IPv6]:PORT)" },
	{ "listen [fe80::1%eth0]:7443\n", 0, ":1: listen: bad host \"fe80::1%eth0\" "
	    "(expected an IPv4 address, [IPv6] or localhost)" },
	{ "listen [127.0.0.1]:7443\n", 0, ":1: listen: bad host \"127.0.0.1\" "
	    "(expected an IPv4 address, [IPv6] or localhost)" },
	/* metrics stay on this host unless allowed */
	{ REQ "metrics_listen 0.0.0.0:9464\n", 0, ":4: metrics_listen: 0.0.0.0 is not a loopback "
	    "address (add \"allow_remote_metrics yes\" to serve metrics to other hosts)" },
	{ REQ "metrics_listen [::]:9464\nallow_remote_metrics no\n", 0, ":4: metrics_listen: :: "
	    "is not a loopback address (add \"allow_remote_metrics yes\" to serve metrics to other "
	    "hosts)" },
	/* other values */
	{ REQ "allow_remote_metrics true\n", 0, ":4: allow_remote_metrics: \"true\" is not yes or no" },
	{ REQ "log_level verbose\n", 0,
	    ":4: log_level: \"verbose\" is not error, warn, info or debug" },
	{ REQ "log_level INFO\n", 0, ":4: log_level: \"INFO\" is not error, warn, info or debug" },
	{ "listen 127.0.0.1:7443\nidentity_dir \"\"\n", 0, ":2: identity_dir: empty path" },
	/* quoting */
	{ REQ "log_level \"info\n", 0, ":4: log_level: unterminated quoted value" },
	{ REQ "log_level \"in\\fo\"\n", 0,
	    ":4: log_level: invalid escape in quoted value (only \\\" and \\\\ are allowed)" },
	{ REQ "log_level \"info\\\"\n", 0, ":4: log_level: unterminated quoted value" },
	{ "listen 127.0.0.1:7443\ndata_dir /a\"b\"\n", 0,
	    ":2: data_dir: '\"' in an unquoted value (quote the whole value)" },
	{ "listen 127.0.0.1:7443\ndata_dir \"/a\tb\"\n", 0,
	    ":2: data_dir: control character 0x09 in quoted value" },
	/* duplicates */
	{ "# gateway\n\nlisten 127.0.0.1:7443\nidentity_dir /i\nlisten 127.0.0.1:7444\n", 0,
	    ":5: listen given twice (first at line 3)" },
	{ REQ "log_level info\nlog_level debug\n", 0, ":5: log_level given twice (first at line 4)" },
	/* bytes */
	{ BYTES(REQ "# a comment with a NUL \0 inside\n"), ":4: line contains a NUL byte" },
	{ BYTES(REQ "log_level info\0\n"), ":4: line contains a NUL byte" },
	{ REQ "# bell \a\n", 0, ":4: line contains control character 0x07" },
	{ REQ "# escape \x1b[31m\n", 0, ":4: line contains control character 0x1b" },
	{ REQ "# delete \x7f\n", 0, ":4: line contains control character 0x7f" },
	{ REQ "# lone carriage \r return\n", 0, ":4: line contains control character 0x0d" },
	{ REQ "# C1 next line \xc2\x85\n", 0, ":4: line contains control character U+0085" },
	{ REQ "# Le\xf3n in Latin-1\n", 0, ":4: line is not valid UTF-8" },
	{ REQ "# continuation \x80\n", 0, ":4: line is not valid UTF-8" },
	{ REQ "# overlong \xc0\xaf\n", 0, ":4: line is not valid UTF-8" },
	{ REQ "# overlong \xe0\x80\xaf\n", 0, ":4: line is not valid UTF-8" },
	{ REQ "# surrogate \xed\xa0\x80\n", 0, ":4: line is not valid UTF-8" },
	{ REQ "# beyond U+10FFFF \xf4\x90\x80\x80\n", 0, ":4: line is not valid UTF-8" },
	{ REQ "# cut at the end of the line \xe2\x82\n", 0, ":4: line is not valid UTF-8" },
	{ REQ "data_dir /srv/\xff\n", 0, ":4: line is not valid UTF-8" },
	/* required keys, in table order */
	{ "", 0, ": missing required key \"data_dir\"" },
	{ "listen 127.0.0.1:7443\ndata_dir /d\n", 0, ": missing required key \"identity_dir\"" },
	{ "# only comments\nidentity_dir /i\ndata_dir /d\n", 0, ": missing required key \"listen\"" },
};

static void
every_error_names_its_line(void **state)
{
	struct gateway_config c;
	char err[512], want[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		size_t len = b->len != 0 ? b->len : strlen(b->text);
		int rc;

		memset(&c, 0x5a, sizeof(c));
		rc = load_len(b->text, len, &c, err, sizeof(err));
		snprintf(want, sizeof(want), "%s%s", path, b->want);
		if (rc != PU_ERR_USAGE || strcmp(err, want) != 0)
			fail_msg("case %zu: got %s \"%s\"\n       want PU_ERR_USAGE \"%s\"", i,
			    pu_err_name(rc), err, want);
		assert_null(strchr(err, '\n'));
		assert_at_defaults(&c);
	}
}

static void
line_longer_than_1024_bytes_refused(void **state)
{
	char text[2048], err[512], want[512];
	struct gateway_config c;
	int n;

	(void)state;
	n = snprintf(text, sizeof(text), "listen 127.0.0.1:7443\nidentity_dir /i\n#");
	memset(text + n, '#', 1024);	/* a comment line of 1025 bytes */
	memcpy(text + n + 1024, "\ndata_dir /d\n", 14);
	assert_err(load(text, &c, err, sizeof(err)), PU_ERR_USAGE);
	snprintf(want, sizeof(want), "%s:3: line is longer than 1024 bytes", path);
	assert_string_equal(err, want);
}

static void
file_larger_than_64_kib_refused(void **state)
{
	char *text = malloc(CONFIG_FILE_MAX + 1);
	struct gateway_config c;
	char err[512], want[512];

	(void)state;
	assert_non_null(text);
	memcpy(text, REQ, strlen(REQ));
	memset(text + strlen(REQ), '\n', CONFIG_FILE_MAX + 1 - strlen(REQ));
	assert_err(load_len(text, CONFIG_FILE_MAX + 1, &c, err, sizeof(err)), PU_ERR_USAGE);
	snprintf(want, sizeof(want), "%s: file is larger than 65536 bytes", path);
	assert_string_equal(err, want);
	assert_at_defaults(&c);
	/* The same limit holds for text handed over directly. */
	assert_err(config_parse_buffer("gateway.conf", text, CONFIG_FILE_MAX + 1, &c, err,
	    sizeof(err)), PU_ERR_USAGE);
	assert_string_equal(err, "gateway.conf: file is larger than 65536 bytes");
	free(text);
}

static void
missing_file_is_not_found(void **state)
{
	struct gateway_config c;
	char err[512], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/no-such.conf", dir);
	memset(&c, 0x5a, sizeof(c));
	assert_err(config_load(path, &c, err, sizeof(err)), PU_ERR_NOT_FOUND);
	snprintf(want, sizeof(want), "%s: cannot read: no such file or directory", path);
	assert_string_equal(err, want);
	assert_at_defaults(&c);

	/* A folder is not a config file. */
	assert_err(config_load(dir, &c, err, sizeof(err)), PU_ERR_USAGE);
	snprintf(want, sizeof(want), "%s: not a regular file", dir);
	assert_string_equal(err, want);
}

/* A good configuration stays untouched by a bad file, even when most lines were good. */
static void
all_or_nothing(void **state)
{
	static const char bad[] =
	    "listen 127.0.0.1:8000\n"
	    "identity_dir /other\n"
	    "data_dir /other\n"
	    "max_sessions 7\n"
	    "log_level debug\n"
	    "retention_days 0\n";
	struct gateway_config c;
	char err[512], want[512];

	(void)state;
	assert_err(load(REQ "max_sessions 9\n", &c, err, sizeof(err)), PU_OK);
	assert_int_equal(c.max_sessions, 9);
	assert_err(load(bad, &c, err, sizeof(err)), PU_ERR_USAGE);
	snprintf(want, sizeof(want), "%s:6: retention_days: 0 is not in 1..3650", path);
	assert_string_equal(err, want);
	assert_at_defaults(&c);
}

static void
error_buffer_is_bounded(void **state)
{
	struct gateway_config c;
	char err[16];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_err(config_parse_buffer("gateway.conf", "max_sessions 0\n", 15, &c, err,
	    sizeof(err)), PU_ERR_USAGE);
	assert_string_equal(err, "gateway.conf:1:");
	/* No buffer at all is allowed too. */
	assert_err(config_parse_buffer("gateway.conf", "max_sessions 0\n", 15, &c, NULL, 0),
	    PU_ERR_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_the_documented_ones),
		cmocka_unit_test(full_file_sets_every_key),
		cmocka_unit_test(example_file_loads_at_defaults),
		cmocka_unit_test(example_file_names_every_key),
		cmocka_unit_test(print_is_sorted_and_loads_back),
		cmocka_unit_test(sizes_take_suffixes_in_powers_of_1024),
		cmocka_unit_test(quoted_values_and_comments),
		cmocka_unit_test(relative_paths_resolved_against_config_folder),
		cmocka_unit_test(line_of_exactly_1024_bytes_accepted),
		cmocka_unit_test(file_of_exactly_64_kib_accepted),
		cmocka_unit_test(every_error_names_its_line),
		cmocka_unit_test(line_longer_than_1024_bytes_refused),
		cmocka_unit_test(file_larger_than_64_kib_refused),
		cmocka_unit_test(missing_file_is_not_found),
		cmocka_unit_test(all_or_nothing),
		cmocka_unit_test(error_buffer_is_bounded),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
