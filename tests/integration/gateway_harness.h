/*
 * gateway_harness.h - integration tests run the real puente-gateway on loopback with a
 * real federation made by the real puente-keys, in a fresh folder per test program.
 */
#ifndef PU_GATEWAY_HARNESS_H
#define PU_GATEWAY_HARNESS_H

#include <sys/types.h>

#include "audit_verify.h"
#include "testclient.h"

#define TLA "MX-TLA-PPNNA"
#define NLE "MX-NLE-PPNNA"
#define TAB "MX-TAB-PPNNA"
#define FED "MX-FED-PFPNNA"
#define AUD "MX-FED-AUDITORIA"
#define GW "MX-CMX-GW01"

struct harness {
	char keys_bin[1024], gateway_bin[1024], work[1024];
	char puente_bin[1024];		/* argv[4] when given: the puente command */
	int port, metrics_port;
	pid_t pid;
	struct tc_agency tla, nle, tab, fed, aud;
};

/* Sleep ms milliseconds (whatever signals come); a monotonic clock in milliseconds. */
void sleep_ms(long ms);
long mono_ms(void);
/*
 * How many 10 ms polls a test gives the gateway's asynchronous work (an audit leaf, a
 * spool file removed) to show: 10 s, only ever used up when it fails to happen. A shorter
 * bound fails on a loaded machine (sanitizers, tests running side by side) while nothing
 * is wrong.
 */
#define SETTLE_POLLS 1000

/*
 * The WAL's size at start in the tests' gateways: the gateway's own 260M at every start
 * would make the tests write gigabytes.
 */
#define HARNESS_WAL_PRESIZE "wal_presize_bytes 4M"

/* argv: puente-keys, puente-gateway, work folder. Makes the federation, writes the config. */
void harness_init(struct harness *h, int argc, char **argv);
/* Set a line ("key value") of the gateway's configuration, replacing one of the same key. */
void harness_conf(struct harness *h, const char *line);
/* Start the gateway and wait until it accepts connections. */
void harness_start(struct harness *h);
/* Start the gateway and return at once (for a start that is expected to fail). */
void harness_spawn(struct harness *h);
/* SIGTERM and wait; returns the exit status. */
int harness_stop(struct harness *h);
void harness_kill9(struct harness *h);
/* 1 while the gateway process is alive. */
int harness_alive(struct harness *h);
/* A "VmRSS"/"VmHWM" line of the gateway's /proc/PID/status in KiB, or -1. */
long harness_status_kib(const struct harness *h, const char *field);
/*
 * 1 when the gateway runs under AddressSanitizer: its quarantine keeps freed memory resident,
 * so RSS bounds say nothing about the gateway's own memory use there.
 */
int harness_sanitized(const struct harness *h);
void harness_free(struct harness *h);
/* Run a puente-keys command line in the federation folder ("suspend --id X"). */
int harness_keys(struct harness *h, const char *args);
/* Copy the federation's directory into the gateway's and every agency's folder, SIGHUP. */
void harness_publish(struct harness *h);

/* One run of the puente command: exit status (or 128 + signal), output, peak memory. */
struct puente_run {
	int status;
	char out[1 << 16];
	char err[1 << 13];
	long maxrss_kib;
	double secs;
};

/*
 * Run h->puente_bin as the agency (PUENTE_AGENCY = its folder), stdin /dev/null, with the
 * arguments (NULL-terminated); r gets what it did. Returns r->status.
 * PUENTE_TEST_VERBOSE=1 prints every run.
 */
int harness_puente(struct harness *h, struct puente_run *r, const char *agency,
    const char *const *args);
#define PUENTE(r, agency, ...) \
	harness_puente(&H, (r), (agency), (const char *const[]){ __VA_ARGS__, NULL })

/* The file at path into out, NUL-terminated (empty when it cannot be read). */
void harness_slurp(const char *path, char *out, size_t n);

/* GET path on the metrics port: the HTTP status (-1: nothing answers), the answer in out. */
int harness_http_get(struct harness *h, const char *path, char *out, size_t n);
/*
 * Files in the gateway's spool named after msg_id (all of them when NULL): .part while
 * receiving, .msg stored; *parts, when not NULL, gets how many are .part.
 */
int harness_spool_files(struct harness *h, const uint8_t *msg_id, int *parts);
/* The value of one metric in GET /metrics into *value: 0, or -1 when it cannot be read. */
int harness_metric(struct harness *h, const char *name, long *value);
/* The gateway's log (origin and checkpoint key) as the auditor's directory lists it. */
void harness_gateway_log(struct harness *h, struct averify_log *log);
/*
 * A GATEWAY_RECEIPT body that proves m stored for the sender its header names
 * (averify_gateway_receipt against the gateway's log): PU_OK or what the check says.
 * *entry (NULL: not wanted) gets the leaf.
 */
int harness_receipt_check(struct harness *h, const struct fx_msg *m, const uint8_t *receipt,
    size_t len, Puente__AuditEntry **entry);
/*
 * 1 when two gateway receipts prove the same leaf (a retry's receipt: the same audit index
 * and entry, maybe in a later checkpoint), else 0.
 */
int harness_same_leaf(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);
/*
 * The auditor replays the whole log through averify (audit_verify.h), trusting the
 * checkpoint note trusted (NULL: none). PU_OK, or the first problem, described in why.
 * out (may be NULL) receives the verifier, to read and then averify_free.
 */
int harness_audit_replay(struct harness *h, const char *trusted, char *why, size_t n,
    struct averify *out);

#endif
