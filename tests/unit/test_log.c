/*
 * test_log.c - the gateway log (gateway/log.c): escaping of untrusted text, level names and
 * filtering, the exact shape of a line, truncation at LOG_LINE_MAX, errno left as it was,
 * and whole lines from concurrent threads. Lines are captured with open_memstream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "pu_err.h"

struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void
capture_start(struct capture *cap, int level)
{
	cap->buf = NULL;
	cap->len = 0;
	assert_non_null(cap->f = open_memstream(&cap->buf, &cap->len));
	log_init(level, cap->f);
}

/* Everything logged since capture_start, as a string the caller frees. */
static char *
capture_end(struct capture *cap)
{
	log_init(LOG_INFO, NULL);
	assert_int_equal(fclose(cap->f), 0);
	return cap->buf;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* "2026-11-23T09:30:00Z " */
static void
assert_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ ";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			fail_msg("timestamp \"%.21s\" differs at byte %zu", s, i);
	}
}

/* ---- log_escape --------------------------------------------------------------------- */

static void
escape_keeps_printable_ascii(void **state)
{
	static const char in[] = "MX-TLX-PPNNA_01.peer:443/[x]{y}~!#$%&'()*+,;<>?@^`|";
	char out[128];

	(void)state;
	assert_string_equal(log_escape(out, sizeof(out), in, strlen(in)), in);
}

static void
escape_hides_separators(void **state)
{
	char out[128];

	(void)state;
	/* A peer string cannot add a key=value pair, a quoted field or an escape of its own. */
	assert_string_equal(log_escape(out, sizeof(out), "a b\"c\\d=e", 9),
	    "a\\x20b\\x22c\\x5cd\\x3de");
}

static void
escape_hides_controls(void **state)
{
	char out[128];

	(void)state;
	assert_string_equal(log_escape(out, sizeof(out), "\n\r\t\0\x1b\x7f", 6),
	    "\\x0a\\x0d\\x09\\x00\\x1b\\x7f");
	/* A forged second line stays on the first. */
	assert_string_equal(log_escape(out, sizeof(out), "x\n2026 error", 12),
	    "x\\x0a2026\\x20error");
}

static void
escape_hides_utf8_bytes(void **state)
{
	char out[128];

	(void)state;
	assert_string_equal(log_escape(out, sizeof(out), "Le\xc3\xb3n", 5), "Le\\xc3\\xb3n");
	assert_string_equal(log_escape(out, sizeof(out), "\xff\x80", 2), "\\xff\\x80");
}

static void
escape_truncates_at_a_whole_character(void **state)
{
	char out[16];

	(void)state;
	/* Fits exactly: 15 bytes and the NUL. */
	assert_string_equal(log_escape(out, sizeof(out), "abcdefghijklmno", 15),
	    "abcdefghijklmno");
	/* One more: 12 bytes, then "...". */
	assert_string_equal(log_escape(out, sizeof(out), "abcdefghijklmnop", 16),
	    "abcdefghijkl...");
	/* An escape is never cut: "\x20" needs 4 bytes and only 2 are left before "...". */
	assert_string_equal(log_escape(out, sizeof(out), "abcdefghij klmnop", 17),
	    "abcdefghij...");
	assert_string_equal(log_escape(out, 8, "abcdefgh", 8), "abcd...");
	assert_string_equal(log_escape(out, 4, "abc", 3), "abc");
	assert_string_equal(log_escape(out, 4, "abcd", 4), "...");
	assert_string_equal(log_escape(out, 3, "abcd", 4), "..");
	assert_string_equal(log_escape(out, 1, "abcd", 4), "");
	/* Only as long as in_len says, and nothing for no input. */
	assert_string_equal(log_escape(out, sizeof(out), "abcdef", 3), "abc");
	assert_string_equal(log_escape(out, sizeof(out), "", 0), "");
	assert_string_equal(log_escape(out, sizeof(out), NULL, 5), "");
	/* No room at all: out is not touched. */
	out[0] = 'z';
	assert_ptr_equal(log_escape(out, 0, "abc", 3), out);
	assert_int_equal(out[0], 'z');
}

/* ---- levels ------------------------------------------------------------------------- */

static void
level_names_parse(void **state)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	int level;

	(void)state;
	for (int i = 0; i < 4; i++) {
		level = -1;
		assert_int_equal(log_level_parse(names[i], &level), PU_OK);
		assert_int_equal(level, i);
		assert_string_equal(log_level_name(i), names[i]);
	}
	assert_int_equal(LOG_ERROR, 0);
	assert_int_equal(LOG_DEBUG, 3);
	level = 7;
	assert_int_equal(log_level_parse("verbose", &level), PU_ERR_ARG);
	assert_int_equal(log_level_parse("INFO", &level), PU_ERR_ARG);
	assert_int_equal(log_level_parse("warning", &level), PU_ERR_ARG);
	assert_int_equal(log_level_parse("", &level), PU_ERR_ARG);
	assert_int_equal(level, 7);
	assert_string_equal(log_level_name(4), "unknown");
	assert_string_equal(log_level_name(-1), "unknown");
}

static void
levels_below_the_threshold_are_dropped(void **state)
{
	struct capture cap;
	char *out;

	(void)state;
	capture_start(&cap, LOG_WARN);
	log_error("store", "e1");
	log_warn("store", "w1");
	log_info("store", "i1");
	log_debug("store", "d1");
	log_set_level(LOG_DEBUG);
	log_debug("store", "d2");
	log_set_level(LOG_ERROR);
	log_warn("store", "w2");
	log_error("store", "e2");
	out = capture_end(&cap);
	assert_int_equal(count_lines(out), 4);
	assert_non_null(strstr(out, " error store e1\n"));
	assert_non_null(strstr(out, " warn store w1\n"));
	assert_null(strstr(out, "i1"));
	assert_null(strstr(out, "d1"));
	assert_non_null(strstr(out, " debug store d2\n"));
	assert_null(strstr(out, "w2"));
	assert_non_null(strstr(out, " error store e2\n"));
	free(out);
}

/* ---- lines -------------------------------------------------------------------------- */

static void
line_is_time_level_component_event_pairs(void **state)
{
	static const char peer[] = "127.0.0.1:50412 \"evil\"";
	struct capture cap;
	char esc[64], *out;

	(void)state;
	capture_start(&cap, LOG_INFO);
	log_info("session", "accepted peer=%s session=%u code=%s",
	    log_escape(esc, sizeof(esc), peer, strlen(peer)), 17u, pu_err_name(PU_ERR_SIGNATURE));
	out = capture_end(&cap);
	assert_int_equal(strlen(out), 20 + strlen(" info session accepted "
	    "peer=127.0.0.1:50412\\x20\\x22evil\\x22 session=17 code=PU_ERR_SIGNATURE\n"));
	assert_timestamp(out);
	assert_string_equal(out + 20, " info session accepted "
	    "peer=127.0.0.1:50412\\x20\\x22evil\\x22 session=17 code=PU_ERR_SIGNATURE\n");
	free(out);
}

static void
unescaped_newline_cannot_split_a_line(void **state)
{
	struct capture cap;
	char *out;

	(void)state;
	capture_start(&cap, LOG_INFO);
	log_warn("tls", "handshake_failed name=%s", "x\n2026-01-01T00:00:00Z error forged\r");
	log_info(NULL, "no_component");
	out = capture_end(&cap);
	assert_int_equal(count_lines(out), 2);
	assert_non_null(strstr(out, " warn tls handshake_failed name=x?2026-01-01T00:00:00Z "
	    "error forged?\n"));
	assert_non_null(strstr(out, " info - no_component\n"));
	free(out);
}

static void
long_line_is_cut_to_line_max(void **state)
{
	struct capture cap;
	char *big = malloc(3 * LOG_LINE_MAX), *out;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', 3 * LOG_LINE_MAX - 1);
	big[3 * LOG_LINE_MAX - 1] = '\0';
	capture_start(&cap, LOG_INFO);
	log_info("store", "big v=%s", big);
	log_info("store", "after");
	out = capture_end(&cap);
	assert_int_equal(count_lines(out), 2);
	assert_int_equal(strchr(out, '\n') - out + 1, LOG_LINE_MAX);
	assert_memory_equal(out + LOG_LINE_MAX - 4, "...\n", 4);
	assert_string_equal(out + LOG_LINE_MAX + 20, " info store after\n");

	/* A line that fits exactly is not marked. */
	capture_start(&cap, LOG_INFO);
	big[LOG_LINE_MAX - 1 - strlen("2026-11-23T09:30:00Z info c ")] = '\0';
	log_info("c", "%s", big);
	free(out);
	out = capture_end(&cap);
	assert_int_equal(strlen(out), LOG_LINE_MAX);
	assert_memory_equal(out + LOG_LINE_MAX - 4, "aaa\n", 4);
	free(out);
	free(big);
}

static void
errno_is_preserved(void **state)
{
	struct capture cap;
	char *out;

	(void)state;
	capture_start(&cap, LOG_INFO);
	errno = EACCES;
	log_error("store", "open_failed errno=%d", errno);
	assert_int_equal(errno, EACCES);
	errno = ENOSPC;
	log_debug("store", "dropped");	/* below the level: errno kept as well */
	assert_int_equal(errno, ENOSPC);
	out = capture_end(&cap);
	assert_non_null(strstr(out, " error store open_failed errno=13\n"));
	free(out);
}

#define THREADS 4
#define LINES_PER_THREAD 2000

static void *
writer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < LINES_PER_THREAD; i++)
		log_info("bench", "line thread=%u i=%u pad=%s", id, i,
		    "0123456789012345678901234567890123456789");
	return NULL;
}

static void
threads_write_whole_lines(void **state)
{
	struct capture cap;
	pthread_t t[THREADS];
	char *out, *line, *save = NULL;
	size_t n = 0;

	(void)state;
	capture_start(&cap, LOG_INFO);
	for (uintptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	out = capture_end(&cap);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		unsigned id, i;
		char pad[64];
		assert_timestamp(line);
		if (sscanf(line + 20, " info bench line thread=%u i=%u pad=%63s", &id, &i, pad) != 3 ||
		    id >= THREADS || i >= LINES_PER_THREAD ||
		    strcmp(pad, "0123456789012345678901234567890123456789") != 0)
			fail_msg("torn line: %s", line);
		n++;
	}
	assert_int_equal(n, THREADS * LINES_PER_THREAD);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escape_keeps_printable_ascii),
		cmocka_unit_test(escape_hides_separators),
		cmocka_unit_test(escape_hides_controls),
		cmocka_unit_test(escape_hides_utf8_bytes),
		cmocka_unit_test(escape_truncates_at_a_whole_character),
		cmocka_unit_test(level_names_parse),
		cmocka_unit_test(levels_below_the_threshold_are_dropped),
		cmocka_unit_test(line_is_time_level_component_event_pairs),
		cmocka_unit_test(unescaped_newline_cannot_split_a_line),
		cmocka_unit_test(long_line_is_cut_to_line_max),
		cmocka_unit_test(errno_is_preserved),
		cmocka_unit_test(threads_write_whole_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
