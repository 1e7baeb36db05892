/*
 * log.c - one line per event, written whole. After OpenBSD vmd's log.c: a small API with
 * printf-format checking, and errno left as the caller had it, so a caller can log and
 * then report errno.
 *
 * A line is formatted in a stack buffer and written with one fputs under a mutex, so the
 * lines of concurrent threads never interleave. The level is an atomic: a debug call
 * below the current level costs one load and takes no lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pu_err.h"

#define LOG_TIME_LEN 20		/* "2026-11-23T09:30:00Z" */

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};
#define LEVEL_COUNT (sizeof(level_names) / sizeof(level_names[0]))

static atomic_int log_level_now = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_out;		/* NULL: stderr, which is not a constant initializer */

static int
level_clamp(int level)
{
	if (level < LOG_ERROR)
		return LOG_ERROR;
	if (level > LOG_DEBUG)
		return LOG_DEBUG;
	return level;
}

void
log_init(int level, FILE *out)
{
	pthread_mutex_lock(&log_lock);
	log_out = out;
	pthread_mutex_unlock(&log_lock);
	log_set_level(level);
}

void
log_set_level(int level)
{
	atomic_store_explicit(&log_level_now, level_clamp(level), memory_order_relaxed);
}

int
log_level_parse(const char *s, int *level)
{
	for (size_t i = 0; i < LEVEL_COUNT; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*level = (int)i;
			return PU_OK;
		}
	}
	return PU_ERR_ARG;
}

const char *
log_level_name(int level)
{
	if (level < 0 || (size_t)level >= LEVEL_COUNT)
		return "unknown";
	return level_names[level];
}

/* A caller that forgot log_escape() must still not be able to split the line. */
static void
line_sanitize(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x20 || ch == 0x7f)
			p[i] = '?';
	}
}

void
log_msg(int level, const char *component, const char *fmt, ...)
{
	char line[LOG_LINE_MAX + 1];		/* + NUL */
	const size_t room = LOG_LINE_MAX - 1;	/* before the newline */
	char stamp[LOG_TIME_LEN + 1];
	int saved_errno = errno;
	time_t now;
	struct tm tm;
	size_t len;
	va_list ap;
	int n, cut;

	level = level_clamp(level);
	if (level > atomic_load_explicit(&log_level_now, memory_order_relaxed))
		goto out;

	now = time(NULL);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) != LOG_TIME_LEN)
		snprintf(stamp, sizeof(stamp), "0000-00-00T00:00:00Z");

	n = snprintf(line, room + 1, "%s %s %s ", stamp, level_names[level],
	    component != NULL ? component : "-");
	len = n < 0 ? 0 : (size_t)n;
	cut = len >= room;	/* no room left for the event */
	if (!cut) {
		va_start(ap, fmt);
		n = vsnprintf(line + len, room + 1 - len, fmt, ap);
		va_end(ap);
		if (n < 0)
			n = snprintf(line + len, room + 1 - len, "log_format_error");
		len += n < 0 ? 0 : (size_t)n;
		cut = len > room;
	}
	if (cut) {
		len = room;
		memcpy(line + len - 3, "...", 3);
	}
	line_sanitize(line, len);
	line[len++] = '\n';
	line[len] = '\0';

	pthread_mutex_lock(&log_lock);
	fputs(line, log_out != NULL ? log_out : stderr);
	fflush(log_out != NULL ? log_out : stderr);
	pthread_mutex_unlock(&log_lock);
out:
	errno = saved_errno;
}

static int
escape_keeps(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\' && ch != '=';
}

const char *
log_escape(char *out, size_t out_len, const char *in, size_t in_len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t need = 0, budget, used = 0, i;
	int cut;

	if (out_len == 0)
		return out;
	if (in == NULL)
		in_len = 0;
	for (i = 0; i < in_len; i++)
		need += escape_keeps(p[i]) ? 1 : 4;
	cut = need > out_len - 1;
	/* A cut output keeps room for "..." (as much of it as fits in a tiny buffer). */
	budget = !cut ? need : out_len > 4 ? out_len - 4 : 0;

	for (i = 0; i < in_len; i++) {
		if (escape_keeps(p[i])) {
			if (used + 1 > budget)
				break;
			out[used++] = (char)p[i];
		} else {
			if (used + 4 > budget)
				break;
			out[used++] = '\\';
			out[used++] = 'x';
			out[used++] = hex[p[i] >> 4];
			out[used++] = hex[p[i] & 0xf];
		}
	}
	if (cut)
		for (i = 0; i < 3 && used < out_len - 1; i++)
			out[used++] = '.';
	out[used] = '\0';
	return out;
}
