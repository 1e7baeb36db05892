/* gateway_harness.c - a federation and a running gateway for integration tests. */
#define _DEFAULT_SOURCE	/* wait4: the peak memory of one child, not of all of them */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto.h"
#include "gateway_harness.h"
#include "pb.h"
#include "pu_err.h"

#define DIE(...) do { fprintf(stderr, "harness: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		DIE("no free port");
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void
run(const char *cmd)
{
	if (system(cmd) != 0)
		DIE("command failed: %s", cmd);
}

int
harness_keys(struct harness *h, const char *args)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "'%s' %s --dir '%s/fed' >/dev/null", h->keys_bin, args, h->work);
	return system(cmd);
}

static void
load_agency(struct harness *h, struct tc_agency *a, const char *id)
{
	char dir[1200];
	int rc;

	snprintf(dir, sizeof(dir), "%s/fed/agencies/%s", h->work, id);
	if ((rc = tc_agency_load(a, dir)) != PU_OK)
		DIE("cannot load %s: %s", id, pu_err_name(rc));
}

void
harness_init(struct harness *h, int argc, char **argv)
{
	static const char *const members[][3] = {
		{ TLA, "state", "PPNNA Tlaxcala (prueba)" }, { NLE, "state", "PPNNA Nuevo Leon (prueba)" },
		{ TAB, "state", "PPNNA Tabasco (prueba)" }, { FED, "federal", "PFPNNA (prueba)" },
		{ AUD, "auditor", "Auditoria (prueba)" },
	};
	char cmd[4096], path[1200];
	FILE *f;

	if (argc < 4)
		DIE("usage: %s PUENTE-KEYS PUENTE-GATEWAY WORKDIR", argv[0]);
	memset(h, 0, sizeof(*h));
	snprintf(h->keys_bin, sizeof(h->keys_bin), "%s", argv[1]);
	snprintf(h->gateway_bin, sizeof(h->gateway_bin), "%s", argv[2]);
	snprintf(h->work, sizeof(h->work), "%s", argv[3]);
	if (argc > 4)
		snprintf(h->puente_bin, sizeof(h->puente_bin), "%s", argv[4]);
	if (crypto_init() != PU_OK)
		DIE("crypto_init");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", h->work, h->work);
	run(cmd);
	h->port = free_port();
	h->metrics_port = free_port();
	snprintf(cmd, sizeof(cmd), "'%s' init --dir '%s/fed' --name 'Federacion de prueba' "
	    "--insecure-no-passphrase >/dev/null", h->keys_bin, h->work);
	run(cmd);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		snprintf(cmd, sizeof(cmd), "'%s' add-agency --dir '%s/fed' --id %s --role %s "
		    "--name '%s' >/dev/null", h->keys_bin, h->work, members[i][0], members[i][1],
		    members[i][2]);
		run(cmd);
	}
	snprintf(cmd, sizeof(cmd), "'%s' add-agency --dir '%s/fed' --id %s --role gateway "
	    "--name 'Pasarela (prueba)' --address 127.0.0.1:%d >/dev/null", h->keys_bin, h->work,
	    GW, h->port);
	run(cmd);
	snprintf(path, sizeof(path), "%s/gateway.conf", h->work);
	if ((f = fopen(path, "w")) == NULL)
		DIE("cannot write %s", path);
	fprintf(f, "listen 127.0.0.1:%d\nmetrics_listen 127.0.0.1:%d\nidentity_dir fed/agencies/%s\n"
	    "data_dir data\nhandshake_timeout_ms 2000\nidle_timeout_s 60\nlog_level info\n"
	    HARNESS_WAL_PRESIZE "\n",
	    h->port, h->metrics_port, GW);
	fclose(f);
	load_agency(h, &h->tla, TLA);
	load_agency(h, &h->nle, NLE);
	load_agency(h, &h->tab, TAB);
	load_agency(h, &h->fed, FED);
	load_agency(h, &h->aud, AUD);
}

void
harness_conf(struct harness *h, const char *line)
{
	char path[1200], old[8192], kept[8192] = "", *save = NULL;
	size_t key_len = strcspn(line, " "), n;
	FILE *f;

	/* The line replaces any of the same key: the gateway refuses a key given twice. */
	snprintf(path, sizeof(path), "%s/gateway.conf", h->work);
	if ((f = fopen(path, "r")) == NULL || (n = fread(old, 1, sizeof(old), f)) == 0 ||
	    fclose(f) != 0)
		DIE("cannot read %s", path);
	if (n == sizeof(old))
		DIE("%s is longer than the %zu bytes harness_conf handles", path, sizeof(old) - 1);
	old[n] = '\0';
	for (char *l = strtok_r(old, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		size_t used = strlen(kept);
		if (strncmp(l, line, key_len) == 0 && l[key_len] == ' ')
			continue;
		if ((size_t)snprintf(kept + used, sizeof(kept) - used, "%s\n", l) >= sizeof(kept) - used)
			DIE("%s is longer than the %zu bytes harness_conf handles", path, sizeof(kept) - 1);
	}
	if ((f = fopen(path, "w")) == NULL || fprintf(f, "%s%s\n", kept, line) < 0 ||
	    fclose(f) != 0)
		DIE("cannot write %s", path);
}

static int
can_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

void
harness_spawn(struct harness *h)
{
	char conf[1200], log[1200];

	snprintf(conf, sizeof(conf), "%s/gateway.conf", h->work);
	snprintf(log, sizeof(log), "%s/gateway.log", h->work);
	if ((h->pid = fork()) == 0) {
		FILE *lf = freopen(log, "a", stderr);
		(void)lf;
		execl(h->gateway_bin, h->gateway_bin, "-c", conf, (char *)NULL);
		_exit(127);
	}
}

void
harness_start(struct harness *h)
{
	char log[1200];

	snprintf(log, sizeof(log), "%s/gateway.log", h->work);
	harness_spawn(h);
	for (int i = 0; i < 500; i++) {
		if (can_connect(h->port))
			return;
		if (!harness_alive(h))
			DIE("the gateway exited at start; see %s", log);
		sleep_ms(10);
	}
	DIE("the gateway did not start listening; see %s", log);
}

int
harness_alive(struct harness *h)
{
	int status;

	return h->pid > 0 && waitpid(h->pid, &status, WNOHANG) == 0;
}

int
harness_stop(struct harness *h)
{
	int status = -1;

	if (h->pid <= 0)
		return -1;
	kill(h->pid, SIGTERM);
	waitpid(h->pid, &status, 0);
	h->pid = 0;
	return status;
}

void
harness_kill9(struct harness *h)
{
	int status;

	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, &status, 0);
	h->pid = 0;
}

long
harness_status_kib(const struct harness *h, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)h->pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			kib = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kib;
}

int
harness_sanitized(const struct harness *h)
{
	char path[64], line[512];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)h->pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "libasan") != NULL;
	fclose(f);
	return found;
}

void
harness_publish(struct harness *h)
{
	/* puente-keys refreshes every agency folder; the gateway rereads on SIGHUP */
	if (h->pid > 0)
		kill(h->pid, SIGHUP);
	sleep_ms(200);
}

void
harness_free(struct harness *h)
{
	if (h->pid > 0)
		harness_stop(h);
	tc_agency_free(&h->tla);
	tc_agency_free(&h->nle);
	tc_agency_free(&h->tab);
	tc_agency_free(&h->fed);
	tc_agency_free(&h->aud);
}

void
harness_gateway_log(struct harness *h, struct averify_log *log)
{
	const Puente__Agency *gw = directory_find_agency(&h->aud.dir_loaded, GW);

	for (size_t i = 0; gw != NULL && i < gw->n_keys; i++) {
		const Puente__Key *k = gw->keys[i];
		if (k->purpose == PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT &&
		    k->public_key.len == 32) {
			snprintf(log->origin, sizeof(log->origin), "%s", gw->origin);
			memcpy(log->public_key, k->public_key.data, 32);
			averify_witnesses(log, &h->aud.dir_loaded, (int64_t)time(NULL));
			return;
		}
	}
	DIE("the directory has no checkpoint key for %s", GW);
}

int
harness_receipt_check(struct harness *h, const struct fx_msg *m, const uint8_t *receipt,
    size_t len, Puente__AuditEntry **entry)
{
	struct averify_log log = { 0 };
	Puente__GatewayReceipt *g = NULL;
	Puente__AuditEntry *e = NULL;
	struct header hdr;
	struct note n;
	int rc;

	harness_gateway_log(h, &log);
	if ((rc = header_decode(&hdr, m->sealed.header, m->sealed.header_len)) == PU_OK) {
		rc = averify_gateway_receipt(&log, receipt, len, m->sealed.msg_id,
		    m->sealed.header_hash, hdr.core->sender, &n, &g, &e);
		header_free(&hdr);
	}
	pb_free(g);
	if (entry != NULL)
		*entry = e;
	else
		pb_free(e);
	return rc;
}

int
harness_same_leaf(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	Puente__GatewayReceipt *ga = puente__gateway_receipt__unpack(NULL, a_len, a);
	Puente__GatewayReceipt *gb = puente__gateway_receipt__unpack(NULL, b_len, b);
	int same = ga != NULL && gb != NULL && ga->audit_index == gb->audit_index &&
	    ga->audit_entry.len == gb->audit_entry.len &&
	    memcmp(ga->audit_entry.data, gb->audit_entry.data, ga->audit_entry.len) == 0;

	puente__gateway_receipt__free_unpacked(ga, NULL);
	puente__gateway_receipt__free_unpacked(gb, NULL);
	return same;
}

int
harness_audit_replay(struct harness *h, const char *trusted, char *why, size_t n,
    struct averify *out)
{
	Puente__AuditQuery q = PUENTE__AUDIT_QUERY__INIT;
	struct averify_log log = { 0 };
	struct averify v;
	struct tc aud;
	int rc;

	harness_gateway_log(h, &log);
	if ((rc = averify_init(&v, &log, trusted)) != PU_OK ||
	    (rc = tc_connect(&aud, h->port, &h->aud)) != PU_OK) {
		snprintf(why, n, "%s", v.problem[0] ? v.problem : pu_err_name(rc));
		averify_free(&v);
		return rc;
	}
	q.limit = 7;	/* small pages: a replay crosses many of them */
	q.purpose = "integrity-check";
	for (;;) {
		ProtobufCMessage *m;
		Puente__AuditAnswer *a;
		struct note cp;
		int done;

		q.known_size = v.has_trusted ? v.trusted.tree_size : 0;
		if ((rc = tc_send(&aud, PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_QUERY, &q.base)) != PU_OK ||
		    (rc = tc_expect(&aud, PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER, &m, why,
		    n)) != PU_OK)
			break;
		a = (Puente__AuditAnswer *)m;
		rc = averify_page(&v, a);
		done = note_parse((const uint8_t *)a->checkpoint, strlen(a->checkpoint), &cp) !=
		    PU_OK || a->next_index >= cp.tree_size;
		q.start_index = a->next_index;
		pb_free(a);
		if (rc != PU_OK || done)
			break;
	}
	if (rc == PU_OK)
		rc = averify_finish(&v);
	if (rc != PU_OK && v.problem[0])
		snprintf(why, n, "%s", v.problem);
	tc_close(&aud);
	if (out != NULL)
		*out = v;
	else
		averify_free(&v);
	return rc;
}

int
harness_http_get(struct harness *h, const char *path, char *out, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)h->metrics_port) };
	char req[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0), code = -1;
	size_t have = 0;
	ssize_t got;

	if (fd < 0)
		DIE("socket");
	out[0] = '\0';
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
		if (write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
			/* HTTP/1.0: the gateway closes when the answer is whole */
			while (have + 1 < n && (got = read(fd, out + have, n - 1 - have)) > 0)
				have += (size_t)got;
			out[have] = '\0';
			if (sscanf(out, "HTTP/1.%*d %d", &code) != 1)
				code = -1;
		}
	}
	close(fd);
	return code;
}

/* Files in the gateway's spool named after msg_id (.part while receiving, .msg stored). */
int
harness_spool_files(struct harness *h, const uint8_t *msg_id, int *parts)
{
	char dir[1200], hex[PU_MSG_ID_LEN * 2 + 1];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (parts != NULL)
		*parts = 0;
	snprintf(dir, sizeof(dir), "%s/data/spool", h->work);
	if (msg_id != NULL)
		sodium_bin2hex(hex, sizeof(hex), msg_id, PU_MSG_ID_LEN);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (msg_id != NULL && strncmp(e->d_name, hex, strlen(hex)) != 0)
			continue;
		n++;
		if (parts != NULL && strstr(e->d_name, ".part") != NULL)
			(*parts)++;
	}
	closedir(d);
	return n;
}

int
harness_metric(struct harness *h, const char *name, long *value)
{
	static char text[65536];
	char needle[128];
	const char *p;

	snprintf(needle, sizeof(needle), "\n%s ", name);
	if (harness_http_get(h, "/metrics", text, sizeof(text)) != 200 ||
	    (p = strstr(text, needle)) == NULL)
		return -1;
	return sscanf(p + strlen(needle), "%ld", value) == 1 ? 0 : -1;
}

void
harness_slurp(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t len = 0;

	if (f != NULL) {
		len = fread(out, 1, n - 1, f);
		fclose(f);
	}
	out[len] = '\0';
}

int
harness_puente(struct harness *h, struct puente_run *r, const char *agency,
    const char *const *args)
{
	char dir[1200], out[1200], err[1200];
	const char *argv[64];
	struct rusage ru;
	struct timespec t0, t1;
	size_t n = 0;
	pid_t pid;
	int st;

	if (h->puente_bin[0] == '\0')
		DIE("no puente command given (argv[4])");
	snprintf(dir, sizeof(dir), "%s/fed/agencies/%s", h->work, agency);
	snprintf(out, sizeof(out), "%s/puente.out", h->work);
	snprintf(err, sizeof(err), "%s/puente.err", h->work);
	argv[n++] = h->puente_bin;
	while (*args != NULL && n < 63)
		argv[n++] = *args++;
	argv[n] = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) == 0) {
		int in = open("/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		setenv("PUENTE_AGENCY", dir, 1);
		/* ASan's quarantine would keep every freed chunk buffer resident (256 MiB). */
		setenv("ASAN_OPTIONS", "quarantine_size_mb=8", 0);
		execv(h->puente_bin, (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || wait4(pid, &st, 0, &ru) != pid)
		DIE("cannot run %s", h->puente_bin);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->maxrss_kib = ru.ru_maxrss;
	r->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	harness_slurp(out, r->out, sizeof(r->out));
	harness_slurp(err, r->err, sizeof(r->err));
	if (getenv("PUENTE_TEST_VERBOSE") != NULL)
		fprintf(stderr, "[puente %s] exit %d\n%s%s", argv[1], r->status, r->out, r->err);
	return r->status;
}
