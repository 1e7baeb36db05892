/*
 * test_freshness.c - the directory's freshness (DESIGN.md §3) through the real gateway,
 * puente-keys and the `puente` command: a newer directory reaches an agency in WELCOME; a
 * forged, older, expired or future one is not adopted; a week before expiry the gateway
 * and the client warn; on an expired one nothing is sent, accepted or delivered.
 *
 * The cases share one federation and run in order: each leaves the directory newer.
 * argv: puente-keys, puente-gateway, work folder, puente
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "agency.h"
#include "directory.h"
#include "fsutil.h"
#include "gateway_harness.h"
#include "keyfile.h"
#include "pb.h"
#include "pu_err.h"

#define DAY 86400
#define assert_rc(rc, want) assert_string_equal(pu_err_name(rc), pu_err_name(want))

static struct harness H;
static uint8_t *before_bytes;	/* an agency's directory before the first newer one */
static size_t before_len;

static void
path_of(char *out, size_t n, const char *id, const char *file)
{
	if (id == NULL)
		snprintf(out, n, "%s/fed/%s", H.work, file);
	else
		snprintf(out, n, "%s/fed/agencies/%s/%s", H.work, id, file);
}

static void
read_bytes(const char *path, uint8_t **p, size_t *n)
{
	assert_rc(file_read_all(path, AGENCY_DIRECTORY_MAX, p, n), PU_OK);
}

static void
write_bytes(const char *path, const uint8_t *p, size_t n)
{
	assert_rc(file_write_atomic(path, p, n, 0644, FILE_REPLACE), PU_OK);
}

static void
root_pk(uint8_t pk[32])
{
	char path[1200];
	uint8_t *hex;
	size_t len, bin;

	path_of(path, sizeof(path), NULL, "root.pub");
	read_bytes(path, &hex, &len);
	assert_int_equal(sodium_hex2bin(pk, 32, (const char *)hex, len, "\n", &bin, NULL), 0);
	assert_int_equal(bin, 32);
	free(hex);
}

/* The serial (and expiry) of a directory file, its root signature checked, not its time. */
static uint64_t
serial_of(const char *id, int64_t *expires)
{
	char path[1200];
	uint8_t pk[32], *p;
	size_t n;
	struct directory d;
	uint64_t serial;

	path_of(path, sizeof(path), id, "directory.pb");
	root_pk(pk);
	read_bytes(path, &p, &n);
	assert_rc(directory_load_signed(&d, p, n, pk), PU_OK);
	serial = d.dir->serial;
	if (expires != NULL)
		*expires = d.dir->expires_at;
	directory_free(&d);
	free(p);
	return serial;
}

/*
 * The federation's directory with serial + 1 and the given times, signed by sk naming pk
 * (the federation root when sk is NULL: fed/root.key, unsealed in this federation).
 */
static void
craft(int64_t issued, int64_t expires, const uint8_t *sk, const uint8_t *pk, uint8_t **out,
    size_t *out_len)
{
	char path[1200];
	uint8_t rpk[32], *p, *enc;
	size_t n, enc_len;
	struct directory d;
	struct secret_key root;
	Puente__Directory *dir;

	path_of(path, sizeof(path), NULL, "directory.pb");
	root_pk(rpk);
	read_bytes(path, &p, &n);
	assert_rc(directory_load_signed(&d, p, n, rpk), PU_OK);
	free(p);
	dir = puente__directory__unpack(NULL, d.signed_dir->directory.len,
	    d.signed_dir->directory.data);
	directory_free(&d);
	assert_non_null(dir);
	dir->serial++;
	dir->issued_at = issued;
	dir->expires_at = expires;
	assert_rc(pb_encode(&dir->base, &enc, &enc_len), PU_OK);
	puente__directory__free_unpacked(dir, NULL);
	if (sk != NULL) {
		assert_rc(directory_sign(enc, enc_len, sk, pk, out, out_len), PU_OK);
	} else {
		path_of(path, sizeof(path), NULL, "root.key");
		assert_rc(keyfile_load(path, NULL, PUENTE__SECRET_KIND__SECRET_KIND_ED25519, &root),
		    PU_OK);
		assert_rc(directory_sign(enc, enc_len, root.secret, root.public_key, out, out_len),
		    PU_OK);
		secret_key_clear(&root);
	}
	free(enc);
}

/* Install bytes as the federation's directory and in the listed agency folders. */
static void
install(const uint8_t *p, size_t n, const char *const *ids)
{
	char path[1200];

	path_of(path, sizeof(path), NULL, "directory.pb");
	write_bytes(path, p, n);
	for (; *ids != NULL; ids++) {
		path_of(path, sizeof(path), *ids, "directory.pb");
		write_bytes(path, p, n);
	}
}

/* 1 when the gateway's log has a line with both strings, within about wait_ms. */
static int
gateway_logged(const char *a, const char *b, int wait_ms)
{
	static char text[1 << 20];
	char path[1200];

	snprintf(path, sizeof(path), "%s/gateway.log", H.work);
	for (int waited = 0;; waited += 100) {
		harness_slurp(path, text, sizeof(text));
		for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"))
			if (strstr(line, a) != NULL && strstr(line, b) != NULL)
				return 1;
		if (waited >= wait_ms)
			return 0;
		sleep_ms(100);
	}
}

/* The HTTP status of GET path on the metrics port, or -1 when nothing answers. */
static int
http_status(const char *path)
{
	char body[256];

	return harness_http_get(&H, path, body, sizeof(body));
}

static void
case_file(char *path, size_t n, const char *case_id)
{
	FILE *f;

	snprintf(path, n, "%s/case-%s.json", H.work, case_id);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "{\"type\": \"case_transfer\", \"case_id\": \"%s\", \"summary\": "
	    "\"Expediente ficticio de prueba\", \"case_transfer\": {}}\n", case_id);
	fclose(f);
}

static int
setup(void **state)
{
	(void)state;
	harness_start(&H);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	harness_free(&H);
	free(before_bytes);
	return 0;
}

/* a. The operator's newer directory, given to the gateway only, reaches TLA in WELCOME. */
static void
newer_directory_through_welcome(void **state)
{
	char path[1200], want[64];
	uint8_t *p, *fed;
	size_t n, fed_len;
	uint64_t s0;
	struct puente_run r;

	(void)state;
	assert_int_equal(PUENTE(&r, TLA, "inbox"), 0);
	s0 = serial_of(TLA, NULL);
	path_of(path, sizeof(path), TLA, "directory.pb");
	read_bytes(path, &before_bytes, &before_len);
	/* puente-keys refreshes every folder: put TLA's older directory back. */
	assert_int_equal(harness_keys(&H, "sign-directory --days 30"), 0);
	write_bytes(path, before_bytes, before_len);
	assert_int_equal(serial_of(GW, NULL), s0 + 1);
	assert_int_equal(serial_of(TLA, NULL), s0);
	harness_publish(&H);
	snprintf(want, sizeof(want), "serial=%llu", (unsigned long long)(s0 + 1));
	assert_true(gateway_logged("event=reload", want, 3000));

	assert_int_equal(PUENTE(&r, TLA, "inbox"), 0);
	assert_int_equal(serial_of(TLA, NULL), s0 + 1);
	/* The very bytes the root signed: what the agency saved is the federation's file. */
	read_bytes(path, &p, &n);
	path_of(path, sizeof(path), NULL, "directory.pb");
	read_bytes(path, &fed, &fed_len);
	assert_int_equal(n, fed_len);
	assert_memory_equal(p, fed, n);
	free(p);
	free(fed);
}

/*
 * b. The gateway only ever serves the directory it verified itself, so the client's own
 * check is tested directly: agency_update_directory, as WELCOME calls it, refuses a
 * forged, an older, a replayed, an expired and a future directory, and keeps its own.
 */
static void
forged_or_older_not_adopted(void **state)
{
	char dir[1200], path[1200], detail[256];
	uint8_t fed_pk[32], other_pk[32], other_sk[64], *held, *now_held, *bad;
	size_t held_len, now_len, bad_len;
	int64_t now = (int64_t)time(NULL);
	struct agency a;
	uint64_t serial;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/fed/agencies/%s", H.work, TLA);
	assert_rc(agency_load(&a, dir, NULL, now, detail, sizeof(detail)), PU_OK);
	serial = a.d.dir->serial;
	path_of(path, sizeof(path), TLA, "directory.pb");
	read_bytes(path, &held, &held_len);

	root_pk(fed_pk);
	crypto_sign_keypair(other_pk, other_sk);
	/* Signed by another key naming the root, and by another root naming itself. */
	craft(now - 60, now + 20 * DAY, other_sk, fed_pk, &bad, &bad_len);
	assert_rc(agency_update_directory(&a, bad, bad_len, now), PU_ERR_DIR_SIGNATURE);
	free(bad);
	craft(now - 60, now + 20 * DAY, other_sk, other_pk, &bad, &bad_len);
	assert_rc(agency_update_directory(&a, bad, bad_len, now), PU_ERR_DIR_SIGNATURE);
	free(bad);
	/* Older (the one before case a), and the very one held, replayed. */
	assert_non_null(before_bytes);
	assert_rc(agency_update_directory(&a, before_bytes, before_len, now), PU_ERR_DIR_OLDER);
	assert_rc(agency_update_directory(&a, held, held_len, now), PU_ERR_DIR_OLDER);
	/* Newer and root-signed, but expired, or issued in the future. */
	craft(now - 3 * DAY, now - DAY, NULL, NULL, &bad, &bad_len);
	assert_rc(agency_update_directory(&a, bad, bad_len, now), PU_ERR_DIR_EXPIRED);
	free(bad);
	craft(now + DAY, now + 20 * DAY, NULL, NULL, &bad, &bad_len);
	assert_rc(agency_update_directory(&a, bad, bad_len, now), PU_ERR_DIR_NOT_YET_VALID);
	free(bad);

	/* Nothing changed: neither the directory in use nor the file. */
	assert_int_equal(a.d.dir->serial, serial);
	read_bytes(path, &now_held, &now_len);
	assert_int_equal(now_len, held_len);
	assert_memory_equal(now_held, held, held_len);
	free(now_held);
	free(held);
	sodium_memzero(other_sk, sizeof(other_sk));
	agency_free(&a);
}

/* d. Three days before expiry: the gateway logs expires-soon, `puente` warns on stderr. */
static void
warning_a_week_before(void **state)
{
	char serial[32], hours[64], hours_after[64];
	struct puente_run r;
	uint64_t s;
	int64_t exp, t0;

	(void)state;
	assert_int_equal(harness_keys(&H, "sign-directory --days 3"), 0);
	harness_publish(&H);
	s = serial_of(GW, &exp);
	snprintf(serial, sizeof(serial), "serial=%llu", (unsigned long long)s);
	assert_true(gateway_logged("event=expires-soon", serial, 3000));

	/* Whole hours left when puente looked: 72, or 71 once a second has passed. */
	t0 = (int64_t)time(NULL);
	assert_int_equal(PUENTE(&r, TLA, "inbox"), 0);
	snprintf(serial, sizeof(serial), "(serial %llu)", (unsigned long long)s);
	snprintf(hours, sizeof(hours), "expires in %lld hours", (long long)((exp - t0) / 3600));
	snprintf(hours_after, sizeof(hours_after), "expires in %lld hours",
	    (long long)((exp - (int64_t)time(NULL)) / 3600));
	if (strstr(r.err, "puente: warning: the directory ") == NULL ||
	    strstr(r.err, serial) == NULL ||
	    (strstr(r.err, hours) == NULL && strstr(r.err, hours_after) == NULL))
		fail_msg("no expiry warning naming %s and \"%s\" on stderr: %s", serial, hours,
		    r.err);
	/* A directory that does not expire within the week: no warning. */
	assert_int_equal(harness_keys(&H, "sign-directory --days 30"), 0);
	harness_publish(&H);
	assert_int_equal(PUENTE(&r, TLA, "inbox"), 0);
	assert_null(strstr(r.err, "warning"));
}

/*
 * c. A directory that expires a few seconds after it is installed: before, TLA sends to
 * NLE; after, TLA's `puente` refuses to send, and NLE, still holding the previous (valid)
 * directory so that its own client does not stop it first, gets nothing from the gateway.
 */
#define EXPIRES_IN 6

static int64_t expired_at;

static void
expired_directory_stops_everything(void **state)
{
	static const char *const all[] = { GW, TLA, NULL };
	char case_path[1200], want[64];
	uint8_t *p;
	size_t n;
	int64_t now = (int64_t)time(NULL);
	struct puente_run r;

	(void)state;
	craft(now - 60, now + EXPIRES_IN, NULL, NULL, &p, &n);
	install(p, n, all);
	free(p);
	expired_at = now + EXPIRES_IN;
	harness_publish(&H);
	snprintf(want, sizeof(want), "serial=%llu", (unsigned long long)serial_of(GW, NULL));
	assert_true(gateway_logged("event=reload", want, 3000));

	case_file(case_path, sizeof(case_path), "MX-2026-FR0001");
	assert_int_equal(PUENTE(&r, TLA, "send", "--to", NLE, case_path), 0);
	assert_non_null(strstr(r.err, "puente: warning: the directory"));

	while ((int64_t)time(NULL) < expired_at + 2)
		sleep(1);
	assert_true(gateway_logged("event=expired", want, 3000));

	/* The client: one line naming the expired directory, exit 65, nothing queued. */
	case_file(case_path, sizeof(case_path), "MX-2026-FR0002");
	assert_int_equal(PUENTE(&r, TLA, "send", "--to", NLE, case_path), 65);
	assert_non_null(strstr(r.err, "directory has expired"));

	/* The gateway: NLE's session is refused, the queued message is not delivered. */
	assert_int_not_equal(PUENTE(&r, NLE, "inbox"), 0);
	assert_null(strstr(r.out, "MX-2026-FR0001"));
}

/* c. /healthz answers 503 while the directory is expired (the gateway is still there). */
static void
expired_directory_healthz_503(void **state)
{
	int code;

	(void)state;
	assert_true(expired_at != 0 && (int64_t)time(NULL) >= expired_at);
	code = http_status("/healthz");
	if (code != 503)
		fail_msg("GET /healthz on an expired directory: %d (-1: nothing answers), "
		    "wanted 503; gateway %s", code, harness_alive(&H) ? "alive" : "gone");
}

/* c. A newer directory (SIGHUP) ends it: the gateway never went away, and serves again. */
static void
newer_directory_by_sighup_ends_the_expiry(void **state)
{
	static const char *const all[] = { GW, NLE, NULL };
	int64_t now = (int64_t)time(NULL);
	struct puente_run r;
	uint8_t *p;
	size_t n;

	(void)state;
	assert_true(harness_alive(&H));
	craft(now - 60, now + 20 * 86400, NULL, NULL, &p, &n);
	install(p, n, all);
	free(p);
	harness_publish(&H);
	assert_true(gateway_logged("event=valid-again", "serial=", 5000));
	assert_int_equal(http_status("/healthz"), 200);
	/* the message accepted before the expiry is delivered now */
	assert_int_equal(PUENTE(&r, NLE, "inbox"), 0);
	assert_non_null(strstr(r.out, "MX-2026-FR0001"));
}

/*
 * c. TLA still holds the expired directory, the gateway the newer one: TLA's `puente` asks
 * the gateway for it (HELLO with the expired serial), installs it, says so, and works.
 */
static void
expired_agency_directory_renewed_by_the_gateway(void **state)
{
	struct puente_run r;
	int64_t expires;

	(void)state;
	assert_true(serial_of(TLA, &expires) < serial_of(GW, NULL));
	assert_true(expires <= (int64_t)time(NULL));
	assert_int_equal(PUENTE(&r, TLA, "inbox"), 0);
	assert_non_null(strstr(r.err, "had expired; the gateway's (serial"));
	assert_int_equal(serial_of(TLA, &expires), serial_of(GW, NULL));
	assert_true(expires > (int64_t)time(NULL));
	/* and the next run needs nothing of the kind */
	assert_int_equal(PUENTE(&r, TLA, "inbox"), 0);
	assert_null(strstr(r.err, "had expired"));
}

/* c. Restarted on an expired directory, the gateway refuses to start at all. */
static void
expired_directory_no_start(void **state)
{
	static const char *const all[] = { GW, NULL };
	int64_t now = (int64_t)time(NULL);
	uint8_t *p;
	size_t n;

	(void)state;
	if (harness_alive(&H))
		harness_stop(&H);
	H.pid = 0;
	craft(now - 7200, now - 3600, NULL, NULL, &p, &n);
	install(p, n, all);
	free(p);
	harness_spawn(&H);
	for (int i = 0; i < SETTLE_POLLS && harness_alive(&H); i++)
		sleep_ms(10);
	assert_false(harness_alive(&H));
	H.pid = 0;
	assert_true(gateway_logged("event=start-failed file=directory.pb", "PU_ERR_DIR_EXPIRED", 0));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(newer_directory_through_welcome),
		cmocka_unit_test(forged_or_older_not_adopted),
		cmocka_unit_test(warning_a_week_before),
		cmocka_unit_test(expired_directory_stops_everything),
		cmocka_unit_test(expired_directory_healthz_503),
		cmocka_unit_test(newer_directory_by_sighup_ends_the_expiry),
		cmocka_unit_test(expired_agency_directory_renewed_by_the_gateway),
		cmocka_unit_test(expired_directory_no_start),
	};

	if (argc < 5) {
		fprintf(stderr, "usage: %s PUENTE-KEYS PUENTE-GATEWAY WORKDIR PUENTE\n", argv[0]);
		return 2;
	}
	harness_init(&H, argc, argv);
	return cmocka_run_group_tests(tests, setup, teardown);
}
