/*
 * log.h - the gateway's log: one line per event,
 *
 *   2026-11-23T09:30:00Z info session accepted peer=127.0.0.1:50412 session=17
 *
 * time (UTC), level, component, event, then key=value pairs. A line is at most
 * LOG_LINE_MAX bytes (longer ones end in "...") and never holds a newline or another
 * control character, so one event is always one line.
 *
 * No personal data, by design: callers pass ids (agency, message, session), error codes
 * (pu_err_name) and numbers, never a name, a CURP, a case title, key material or a
 * decrypted byte. Text that comes from a peer (addresses, certificate names, ERROR frame
 * details) goes through log_escape() first, so it cannot forge a key=value pair or a line.
 *
 * Include this file without <syslog.h>: both define LOG_INFO and LOG_DEBUG.
 */
#ifndef PU_LOG_H
#define PU_LOG_H

#include <stddef.h>
#include <stdio.h>

#if defined(LOG_INFO) || defined(LOG_DEBUG)
#error "log.h and <syslog.h> cannot be used in the same file"
#endif

#define LOG_LINE_MAX 2048	/* bytes, newline included */

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Lines of level <= level go to out (NULL: stderr). Before log_init: stderr, info. */
void log_init(int level, FILE *out);
void log_set_level(int level);
/* "error", "warn", "info" or "debug" into *level: 0, else PU_ERR_ARG. */
int log_level_parse(const char *s, int *level);
/* The name log_level_parse accepts for level; "unknown" for a value out of the enum. */
const char *log_level_name(int level);

/* One event; fmt starts with the event name. errno is the same after the call. */
void log_msg(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(comp, ...)	log_msg(LOG_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...)	log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...)	log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...)	log_msg(LOG_DEBUG, comp, __VA_ARGS__)

/*
 * Untrusted text for a log line: printable ASCII is kept, anything else (space, '"', '\\',
 * '=', controls, bytes >= 0x80) becomes \xHH. When the result does not fit in out_len
 * bytes it is cut at a whole character and ends in "...". Always NUL-terminated when
 * out_len > 0. Returns out.
 */
const char *log_escape(char *out, size_t out_len, const char *in, size_t in_len);

#endif
