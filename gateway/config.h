/*
 * config.h - gateway.conf: one "key value" per line, every key documented in config.c and
 * gateway.conf.example. Loading is all-or-nothing: a file with any error leaves the
 * configuration at its defaults and names the first error as "FILE:LINE: message".
 */
#ifndef PU_GATEWAY_CONFIG_H
#define PU_GATEWAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_FILE_MAX (64 * 1024)	/* bytes in gateway.conf */
#define CONFIG_LINE_MAX 1024		/* bytes in one line, without its newline */
#define CONFIG_HOST_MAX 64		/* host text, without brackets, with its NUL */
#define CONFIG_PATH_MAX 4096		/* a resolved path, with its NUL */

struct gateway_config {
	char listen_host[CONFIG_HOST_MAX];	/* "listen 127.0.0.1:7443" (required) */
	uint16_t listen_port;
	char metrics_host[CONFIG_HOST_MAX];	/* "metrics_listen", loopback unless */
	uint16_t metrics_port;
	int allow_remote_metrics;		/* ... this is 1 */
	char identity_dir[CONFIG_PATH_MAX];	/* from puente-keys add-agency --role gateway */
	char data_dir[CONFIG_PATH_MAX];		/* SQLite database and spool */
	unsigned max_sessions;
	unsigned max_sessions_per_agency;	/* one agency cannot take every session */
	unsigned handshake_timeout_ms;
	unsigned idle_timeout_s;
	unsigned max_inflight_per_agency;	/* messages received at once per agency */
	uint64_t sender_quota_bytes;
	unsigned commit_batch_max;		/* messages per group commit */
	unsigned commit_delay_us;		/* how long the writer may wait to fill a batch */
	unsigned retention_days;
	unsigned sweep_interval_s;		/* housekeeping: expiry, retention, overdue */
	uint64_t wal_presize_bytes;		/* the WAL file's size at start (store.c) */
	unsigned witness_max_age_s;		/* warn when no witness cosigned for longer */
	int log_level;				/* enum log_level */
};

void config_defaults(struct gateway_config *c);

/*
 * Load path into *c. On failure return a negative enum pu_err (PU_ERR_USAGE for any error
 * in the file, PU_ERR_NOT_FOUND when there is no file, PU_ERR_IO when it cannot be read),
 * leave *c at its defaults and write one line, "PATH:LINE: message" or "PATH: message",
 * without a newline, into err.
 */
int config_load(const char *path, struct gateway_config *c, char *err, size_t err_len);

/*
 * The same on text already in memory (len bytes, NULs included); name is the file name
 * the messages give, and relative paths are resolved against its folder.
 */
int config_parse_buffer(const char *name, const char *text, size_t len,
    struct gateway_config *c, char *err, size_t err_len);

/* The effective configuration, one "key value" per line in key order; it loads back. */
void config_print(const struct gateway_config *c, FILE *out);

#endif
