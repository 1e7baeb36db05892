/*
 * bench.c - puente-bench: throughput, acknowledgement latency and memory of the real gateway
 * on loopback, beside the machine's own ceilings measured in the same run (DESIGN.md §10).
 *
 * By default it makes a federation with the real puente-keys and starts the real
 * puente-gateway (tests/integration/gateway_harness.c); -f uses a running gateway instead.
 * Messages are sealed before timing starts. K connections (each its own thread) pipeline W
 * submissions each, as fast as acknowledgements allow or at an offered rate; each message's
 * latency runs from its send (or, at an offered rate, its due time) to its gateway receipt.
 * Client and gateway share the machine's cores: figures are of the pair.
 *
 * Each scenario ends with one line:
 *   scenario=NAME msgs_per_s=N mb_per_s=N p50_ms=N p99_ms=N rss_mb=N ratio=N
 * ratio is achieved / ceiling: for messages, min(Ed25519 verifications/s x cores, fsyncs/s x
 * messages per group commit); for attachments (> 1 MiB), MB/s against the ingest limit
 * 1 / (1/AEAD MB/s + 1/disk write+fsync MB/s).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ceilings.h"
#include "crypto.h"
#include "frame.h"
#include "frames.pb-c.h"
#include "gateway_harness.h"
#include "pb.h"
#include "pu_err.h"
#include "audit.pb-c.h"
#include "receipts.pb-c.h"

#define N_AGENCIES 4
#define T_CASE PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER
#define F_RECEIPT PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT
#define F_ERROR PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR
#define CASE_OVERHEAD 200	/* bytes the case message adds to its attachment, about */
#define ANSWER_TIMEOUT_MS 30000

struct scenario {
	char name[64];
	int conns, window;	/* connections, submissions in flight on each */
	uint64_t size;		/* bytes per message */
	int recipients, messages;
	double rate;		/* offered msgs/s over all connections; 0: as fast as possible */
	int idle;		/* sessions held open and idle throughout */
	int fetch;		/* then the first recipient fetches and opens every message */
};

/* Where the gateway is, and what can be read of it. */
struct target {
	struct harness h;	/* own federation and gateway (h.pid 0 with -f) */
	const struct tc_agency *ag[N_AGENCIES];
	struct tc_agency loaded[N_AGENCIES];	/* -f: the agencies read from the folder */
	int port, metrics_port;
	pid_t pid;
	char data_dir[1100];
	struct ceilings cl;
	int have_storage;
	long cores;
	double ceiling_s;	/* how long each ceiling is measured */
};

struct run {
	const struct scenario *sc;
	const struct target *t;
	struct fx_msg *m;
	double *sent_at, *lat, t0;
};

struct conn {
	struct run *r;
	int id;
	struct tc c;
	double finished;
	char err[192];
};

static const char *const AGENCY_IDS[N_AGENCIES] = { TLA, NLE, TAB, FED };

/* ---- the gateway's figures --------------------------------------------------------------- */

static double
gateway_mib(const struct target *t, const char *field)
{
	struct harness h = { .pid = t->pid };

	return t->pid > 0 ? harness_status_kib(&h, field) / 1024.0 : -1;
}

/* Two counters of the gateway's /metrics: group commits and messages stored. */
static int
gateway_commits(const struct target *t, double *commits, double *messages)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)t->metrics_port) };
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	char buf[65536], *p;
	size_t len = 0;
	ssize_t r;
	int fd;

	if (t->metrics_port <= 0 || (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		close(fd);
		return -1;
	}
	while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	if ((p = strstr(buf, "\npuente_store_commits_total ")) == NULL)
		return -1;
	*commits = strtod(p + 28, NULL);
	if ((p = strstr(buf, "\npuente_store_messages_total ")) == NULL)
		return -1;
	*messages = strtod(p + 29, NULL);
	return 0;
}

/*
 * CPU seconds so far of each of the gateway's threads, by name (the loop is
 * "puente-gateway", the store's threads "puente-writer" and so on), and of this process.
 */
#define CPU_THREADS 8

struct cpu_use {
	int n;
	char name[CPU_THREADS][16];
	double s[CPU_THREADS];
	double client;
};

static void
cpu_use(const struct target *t, struct cpu_use *u)
{
	char path[64], line[1024], name[16];
	struct rusage ru;
	struct dirent *e;
	DIR *d;
	FILE *f;

	memset(u, 0, sizeof(*u));
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		u->client = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	if (t->pid <= 0 || (d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		unsigned long utime, stime;
		char *close_paren, *open_paren;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stat", (int)t->pid, e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		/* "tid (comm) state ..." : utime and stime are the 14th and 15th fields */
		if (fgets(line, sizeof(line), f) != NULL &&
		    (open_paren = strchr(line, '(')) != NULL &&
		    (close_paren = strrchr(line, ')')) != NULL && close_paren > open_paren &&
		    sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		    &utime, &stime) == 2) {
			snprintf(name, sizeof(name), "%.*s", (int)(close_paren - open_paren - 1),
			    open_paren + 1);
			int i = 0;
			while (i < u->n && strcmp(u->name[i], name) != 0)
				i++;
			if (i < CPU_THREADS) {
				if (i == u->n)
					snprintf(u->name[u->n++], sizeof(u->name[0]), "%s", name);
				u->s[i] += (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
			}
		}
		fclose(f);
	}
	closedir(d);
}

/*
 * Where the CPU went, per message: each gateway thread and the load generator, against
 * one Ed25519 verification (the one a message must cost) and the cores' time.
 */
static void
cpu_report(const struct target *t, const struct cpu_use *a, const struct cpu_use *b, int n,
    double elapsed)
{
	double total = b->client - a->client;

	printf("   CPU per message (us):");
	for (int i = 0; i < b->n; i++) {
		double before = 0;
		for (int j = 0; j < a->n; j++)
			if (strcmp(a->name[j], b->name[i]) == 0)
				before = a->s[j];
		total += b->s[i] - before;
		if (b->s[i] - before > 0)
			printf(" %s %.0f,", b->name[i], (b->s[i] - before) * 1e6 / n);
	}
	printf(" load generator %.0f; one Ed25519 verify %.0f; cores %.0f%% busy\n",
	    (b->client - a->client) * 1e6 / n, 1e6 / t->cl.verify_per_s,
	    100 * total / (elapsed * (double)t->cores));
}

/* ---- one connection ------------------------------------------------------------------------- */

static double
due_at(const struct run *r, int conn, int k)
{
	double per_conn = r->sc->rate / r->sc->conns;

	/* connections are staggered so that the offered load is even */
	return r->t0 + (k + (double)conn / r->sc->conns) / per_conn;
}

/* The message a receipt acknowledges, among the connection's own in flight. */
static int
receipt_index(const struct conn *cn, const uint8_t *body, size_t len, int from, int to)
{
	Puente__GatewayReceipt *g = puente__gateway_receipt__unpack(NULL, len, body);
	Puente__AuditEntry *e = NULL;
	int found = -1;

	/* Which message: the leaf says (the proof is the client's to check, not the load's). */
	if (g != NULL)
		e = puente__audit_entry__unpack(NULL, g->audit_entry.len, g->audit_entry.data);
	for (int k = from; e != NULL && e->msg_id.len == PU_MSG_ID_LEN && k < to; k++) {
		int i = cn->id + k * cn->r->sc->conns;
		if (cn->r->lat[i] < 0 && memcmp(cn->r->m[i].sealed.msg_id, e->msg_id.data,
		    PU_MSG_ID_LEN) == 0) {
			found = i;
			break;
		}
	}
	puente__audit_entry__free_unpacked(e, NULL);
	puente__gateway_receipt__free_unpacked(g, NULL);
	return found;
}

static void
error_text(struct conn *cn, const uint8_t *body, size_t len)
{
	ProtobufCMessage *m;

	if (frame_decode_body(F_ERROR, body, len, &m) != PU_OK) {
		snprintf(cn->err, sizeof(cn->err), "an undecodable ERROR frame");
		return;
	}
	snprintf(cn->err, sizeof(cn->err), "%s: %s", ((Puente__Error *)m)->code,
	    ((Puente__Error *)m)->message);
	pb_free(m);
}

/* Messages id, id + conns, id + 2 conns ... of the run, W at a time. */
static void *
conn_main(void *arg)
{
	struct conn *cn = arg;
	struct run *r = cn->r;
	const struct scenario *sc = r->sc;
	int mine = (sc->messages - cn->id + sc->conns - 1) / sc->conns;
	int next = 0, acked = 0, first = 0;

	while (acked < mine && cn->err[0] == '\0') {
		double now = ceilings_now();
		struct buf out;
		int rc = PU_OK;

		/*
		 * The small messages due go out in one write, as a busy client's would: one
		 * system call per message would cost this process, which shares the gateway's
		 * cores, more than the gateway spends reading them.
		 */
		buf_init(&out, SIZE_MAX);
		while (rc == PU_OK && next < mine && next - acked < sc->window &&
		    (sc->rate <= 0 || due_at(r, cn->id, next) <= now)) {
			int i = cn->id + next * sc->conns;
			r->sent_at[i] = sc->rate > 0 ? due_at(r, cn->id, next) : ceilings_now();
			if (r->m[i].n_chunks > 1) {
				if (out.len > 0 && (rc = tc_send_raw(&cn->c, out.data, out.len)) == PU_OK)
					out.len = 0;
				if (rc == PU_OK)
					rc = tc_send_message(&cn->c, &r->m[i]);
			} else {
				rc = tc_encode_message(&out, &r->m[i]);
			}
			next++;
		}
		if (rc == PU_OK && out.len > 0)
			rc = tc_send_raw(&cn->c, out.data, out.len);
		buf_free(&out);
		if (rc != PU_OK) {
			snprintf(cn->err, sizeof(cn->err), "the gateway closed the connection");
			return NULL;
		}
		int wait = ANSWER_TIMEOUT_MS;
		if (sc->rate > 0 && next < mine && next - acked < sc->window) {
			/*
			 * Sleep until the next message is due or an answer comes, whichever is
			 * first: no spinning (it would take a core from the gateway), and an
			 * answer is timed when it arrives, not at the next send.
			 */
			wait = 0;
			if (!tc_wait_readable(&cn->c, due_at(r, cn->id, next) - ceilings_now()))
				continue;
		}
		uint8_t type, *body;
		size_t len;
		rc = tc_recv(&cn->c, &type, &body, &len, wait);
		if (rc == PU_ERR_AGAIN && wait == 0)
			continue;
		if (rc != PU_OK) {
			snprintf(cn->err, sizeof(cn->err), "no answer: %s", pu_err_name(rc));
			break;
		}
		if (type == F_RECEIPT) {
			int i = receipt_index(cn, body, len, first, next);
			if (i < 0) {
				snprintf(cn->err, sizeof(cn->err), "a receipt for no message in flight");
			} else {
				r->lat[i] = (ceilings_now() - r->sent_at[i]) * 1000;
				acked++;
			}
			while (first < next && r->lat[cn->id + first * sc->conns] >= 0)
				first++;
		} else if (type == F_ERROR) {
			error_text(cn, body, len);
		}
		free(body);
	}
	cn->finished = ceilings_now();
	return NULL;
}

/* ---- a scenario ---------------------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
seal_all(const struct target *t, const struct scenario *sc, struct fx_msg *m)
{
	uint64_t att = sc->size > CASE_OVERHEAD ? sc->size - CASE_OVERHEAD : 0;

	for (int i = 0; i < sc->messages; i++) {
		int from = (i % sc->conns) % N_AGENCIES;
		const char *to[N_AGENCIES];
		for (int j = 0; j < sc->recipients; j++)
			to[j] = t->ag[(from + 1 + j) % N_AGENCIES]->id;
		if (tc_seal(t->ag[from], &m[i], to, (size_t)sc->recipients, T_CASE, att, NULL) != PU_OK)
			return -1;
	}
	return 0;
}

/* Idle sessions, spread over the agencies; their count and memory are reported. */
static struct tc *
open_idle(const struct target *t, int n)
{
	struct tc *idle = calloc((size_t)(n ? n : 1), sizeof(*idle));
	double rss0 = gateway_mib(t, "VmRSS");

	for (int i = 0; idle != NULL && i < n; i++)
		if (tc_connect(&idle[i], t->port, t->ag[i % N_AGENCIES]) != PU_OK) {
			fprintf(stderr, "puente-bench: idle session %d refused\n", i);
			exit(69);
		}
	if (n > 0)
		printf("   %d idle sessions: gateway RSS %.1f -> %.1f MiB (%.1f KiB each)\n", n, rss0,
		    gateway_mib(t, "VmRSS"), (gateway_mib(t, "VmRSS") - rss0) * 1024 / n);
	return idle;
}

/* The first recipient of connection 0's messages fetches and opens them: end to end. */
static void
fetch_all(const struct target *t, const struct scenario *sc, const struct fx_msg *m)
{
	const struct tc_agency *rcpt = t->ag[1];
	struct tc c;
	uint8_t mac[32];
	double t0 = ceilings_now();
	int n = 0;

	if (tc_connect(&c, t->port, rcpt) != PU_OK)
		exit(69);
	for (int i = 0; i < sc->messages; i += sc->conns, n++)
		if (tc_fetch_open_receipt(&c, rcpt, m[i].sealed.msg_id, mac, NULL, 0) != PU_OK ||
		    memcmp(mac, m[i].sealed.receipt_mac, 32) != 0) {
			fprintf(stderr, "puente-bench: %s cannot fetch and open message %d\n", rcpt->id, i);
			exit(65);
		}
	tc_close(&c);
	printf("   fetched and opened by %s: %.1f MB/s; gateway RSS peak %.1f MiB\n", rcpt->id,
	    n * (double)sc->size / CEILING_MIB / (ceilings_now() - t0), gateway_mib(t, "VmHWM"));
}

static void
report(const struct target *t, const struct scenario *sc, struct run *r, double elapsed,
    double commits, double stored, const struct cpu_use *cpu0, const struct cpu_use *cpu1)
{
	int n = sc->messages;
	double msgs = n / elapsed, mb = n * (double)sc->size / CEILING_MIB / elapsed, ratio;
	double batch = commits > 0 ? stored / commits : 0;

	qsort(r->lat, (size_t)n, sizeof(*r->lat), cmp_double);
	printf("   %.1f msgs/s, %.1f MB/s; ack latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
	    msgs, mb, r->lat[n / 2], r->lat[n * 9 / 10], r->lat[n * 99 / 100], r->lat[n - 1]);
	printf("   gateway RSS %.1f MiB (peak %.1f); %.0f group commits, %.1f messages each\n",
	    gateway_mib(t, "VmRSS"), gateway_mib(t, "VmHWM"), commits, batch);
	if (t->pid > 0)
		cpu_report(t, cpu0, cpu1, n, elapsed);
	if (sc->size > PU_CHUNK_SIZE) {
		double ingest = t->have_storage ? 1 / (1 / t->cl.aead_mb_s + 1 / t->cl.disk_mb_s) : 0;
		ratio = ingest > 0 ? mb / ingest : 0;
		printf("   ceiling: ingest 1/(1/AEAD %.0f + 1/disk %.0f MB/s) = %.0f MB/s; "
		    "achieved/ceiling %.2f\n", t->cl.aead_mb_s, t->cl.disk_mb_s, ingest, ratio);
	} else {
		/* DESIGN.md §10: a bare SQLite store at the batch size the gateway reached. */
		unsigned per_commit = batch < 1 ? 1 : (unsigned)(batch + 0.5);
		double cpu = t->cl.verify_per_s * t->cores;
		double store = t->have_storage ?
		    ceilings_store(t->data_dir, per_commit, sc->size, t->ceiling_s) : 0;
		double ceiling = store > 0 && store < cpu ? store : cpu;
		ratio = msgs / ceiling;
		printf("   ceiling: min(Ed25519 verify %.0f/s x %ld cores, SQLite store %.0f msgs/s "
		    "at %u per commit) = %.0f msgs/s; achieved/ceiling %.2f\n", t->cl.verify_per_s,
		    t->cores, store, per_commit, ceiling, ratio);
	}
	printf("scenario=%s msgs_per_s=%.1f mb_per_s=%.1f p50_ms=%.2f p99_ms=%.2f rss_mb=%.1f "
	    "ratio=%.2f\n", sc->name, msgs, mb, r->lat[n / 2], r->lat[n * 99 / 100],
	    gateway_mib(t, "VmRSS"), ratio);
	fflush(stdout);
}

static int
run_scenario(const struct target *t, const struct scenario *sc)
{
	struct run r = { .sc = sc, .t = t };
	struct conn *cn = calloc((size_t)sc->conns, sizeof(*cn));
	pthread_t *th = calloc((size_t)sc->conns, sizeof(*th));
	double c0 = 0, s0 = 0, c1 = 0, s1 = 0, end = 0;
	struct cpu_use cpu0, cpu1;
	struct tc *idle;
	int rc = 0;

	printf("== %s: %d connection(s) x %d in flight, %llu B, %d recipient(s), %d messages, ",
	    sc->name, sc->conns, sc->window, (unsigned long long)sc->size, sc->recipients,
	    sc->messages);
	if (sc->rate > 0)
		printf("%.0f msgs/s offered\n", sc->rate);
	else
		printf("as fast as acknowledged\n");
	r.m = calloc((size_t)sc->messages, sizeof(*r.m));
	r.sent_at = calloc((size_t)sc->messages, sizeof(*r.sent_at));
	r.lat = malloc((size_t)sc->messages * sizeof(*r.lat));
	if (cn == NULL || th == NULL || r.m == NULL || r.sent_at == NULL || r.lat == NULL ||
	    seal_all(t, sc, r.m) != 0) {
		fprintf(stderr, "puente-bench: cannot seal the messages\n");
		exit(70);
	}
	for (int i = 0; i < sc->messages; i++)
		r.lat[i] = -1;
	idle = open_idle(t, sc->idle);
	for (int k = 0; k < sc->conns; k++) {
		cn[k].r = &r;
		cn[k].id = k;
		if (tc_connect(&cn[k].c, t->port, t->ag[k % N_AGENCIES]) != PU_OK) {
			fprintf(stderr, "puente-bench: cannot connect as %s to port %d\n",
			    t->ag[k % N_AGENCIES]->id, t->port);
			exit(69);
		}
		/* Receipts come many to a read, not a header and a body read per record. */
		SSL_set_read_ahead(cn[k].c.ssl, 1);
	}
	gateway_commits(t, &c0, &s0);
	printf("   sealed; sending\n");
	fflush(stdout);
	cpu_use(t, &cpu0);
	r.t0 = ceilings_now();
	for (int k = 0; k < sc->conns; k++)
		pthread_create(&th[k], NULL, conn_main, &cn[k]);
	for (int k = 0; k < sc->conns; k++) {
		pthread_join(th[k], NULL);
		if (cn[k].err[0] != '\0') {
			fprintf(stderr, "puente-bench: %s, connection %d: %s\n", sc->name, k, cn[k].err);
			rc = 65;
		}
		end = cn[k].finished > end ? cn[k].finished : end;
		tc_close(&cn[k].c);
	}
	cpu_use(t, &cpu1);
	if (rc == 0 && gateway_commits(t, &c1, &s1) != 0)
		c1 = c0;
	if (rc == 0)
		report(t, sc, &r, end - r.t0, c1 - c0, s1 - s0, &cpu0, &cpu1);
	if (rc == 0 && sc->fetch)
		fetch_all(t, sc, r.m);
	for (int i = 0; i < sc->idle; i++)
		tc_close(&idle[i]);
	for (int i = 0; i < sc->messages; i++)
		fx_msg_free(&r.m[i]);
	free(idle);
	free(r.m);
	free(r.sent_at);
	free(r.lat);
	free(cn);
	free(th);
	return rc;
}

/* ---- the standard set (make bench) ----------------------------------------------------------- */

static const struct scenario standard[] = {
	{ "4KiB-x1", 1, 1, 4096, 2, 1500, 0, 0, 0 },
	{ "4KiB-x64", 1, 64, 4096, 2, 8000, 0, 0, 0 },
	{ "4KiB-x512", 8, 64, 4096, 2, 12000, 0, 0, 0 },
	{ "4KiB-1000ps", 4, 64, 4096, 2, 3000, 1000, 0, 0 },
	{ "256MiB", 1, 1, 256u << 20, 2, 1, 0, 0, 1 },
	{ "1GiB", 1, 1, 1u << 30, 2, 1, 0, 0, 1 },
	{ "idle-1000", 1, 1, 4096, 2, 500, 0, 1000, 0 },
};

/* ---- the target ------------------------------------------------------------------------------ */

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Own federation and gateway: 512 in flight from 4 agencies needs more than 64 each. */
static void
target_own(struct target *t, char **argv)
{
	char *args[4] = { argv[0], argv[1], argv[2], argv[3] };

	harness_init(&t->h, 4, args);
	harness_conf(&t->h, "max_inflight_per_agency 512");
	/* idle-1000: 250 sessions of each of the four agencies */
	harness_conf(&t->h, "max_sessions_per_agency 1000");
	/* The gateway's own default, which the test harness lowers. */
	harness_conf(&t->h, "wal_presize_bytes 260M");
	harness_start(&t->h);
	t->ag[0] = &t->h.tla;
	t->ag[1] = &t->h.nle;
	t->ag[2] = &t->h.tab;
	t->ag[3] = &t->h.fed;
	t->port = t->h.port;
	t->metrics_port = t->h.metrics_port;
	t->pid = t->h.pid;
	snprintf(t->data_dir, sizeof(t->data_dir), "%s/data", t->h.work);
	printf("gateway: %s on 127.0.0.1:%d (pid %d), data in %s, max_inflight_per_agency 512\n",
	    t->h.gateway_bin, t->port, (int)t->pid, t->data_dir);
}

static void
target_existing(struct target *t, const char *fed)
{
	char dir[1200];

	for (int i = 0; i < N_AGENCIES; i++) {
		snprintf(dir, sizeof(dir), "%s/agencies/%s", fed, AGENCY_IDS[i]);
		if (tc_agency_load(&t->loaded[i], dir) != PU_OK) {
			fprintf(stderr, "puente-bench: cannot load the agency folder %s\n", dir);
			exit(66);
		}
		t->ag[i] = &t->loaded[i];
	}
	printf("gateway: 127.0.0.1:%d (pid %d, metrics port %d, data in %s)\n", t->port,
	    (int)t->pid, t->metrics_port, t->data_dir[0] ? t->data_dir : "?");
}

static void
measure_ceilings(struct target *t, double seconds)
{
	t->cores = sysconf(_SC_NPROCESSORS_ONLN);
	ceilings_crypto(&t->cl, seconds);
	t->have_storage = t->data_dir[0] != '\0' &&
	    ceilings_storage(&t->cl, t->data_dir, seconds, 256u << 20) == 0;
	printf("ceilings (one core): Ed25519 verify %.0f/s, X25519 %.0f/s, AEAD %.0f MB/s, "
	    "BLAKE2b %.0f MB/s; %ld cores\n", t->cl.verify_per_s, t->cl.x25519_per_s,
	    t->cl.aead_mb_s, t->cl.blake_mb_s, t->cores);
	if (t->have_storage)
		printf("ceilings (data folder): %.0f fsyncs/s (8 KiB appended each), "
		    "write+fsync %.0f MB/s\n", t->cl.fsync_per_s, t->cl.disk_mb_s);
	else
		printf("ceilings (data folder): not measured (no writable data folder; give -d)\n");
}

/* On stdout with status 0 when asked for (-h), else on stderr with 64 (EX_USAGE). */
static void
usage(int asked)
{
	fprintf(asked ? stdout : stderr,
	    "usage: puente-bench [options] PUENTE-KEYS PUENTE-GATEWAY WORKDIR\n"
	    "       puente-bench [options] -f FEDERATION -p PORT [-m METRICS_PORT] [-P PID] [-d DATA_DIR]\n"
	    "\n"
	    "  -h            this help\n"
	    "  -S            the standard set (make bench); otherwise one scenario:\n"
	    "  -N NAME       its name (default custom)\n"
	    "  -k CONNS      client connections, one thread each (1)\n"
	    "  -w IN_FLIGHT  submissions in flight per connection (1)\n"
	    "  -s SIZE       bytes per message (4096)\n"
	    "  -r N          recipients per message, 1-3 (2)\n"
	    "  -n MESSAGES   messages, sealed before timing (2000)\n"
	    "  -R RATE       offered msgs/s over all connections (0: as fast as acknowledged)\n"
	    "  -i N          idle sessions held open throughout (0)\n"
	    "  -e            then fetch and open every message (end to end)\n"
	    "  -c SECONDS    time for each ceiling measurement (0.5)\n"
	    "\n"
	    "Without -f it makes a federation in WORKDIR with PUENTE-KEYS and runs PUENTE-GATEWAY\n"
	    "on loopback; -f uses a puente-keys folder holding MX-TLA-PPNNA, MX-NLE-PPNNA,\n"
	    "MX-TAB-PPNNA and MX-FED-PFPNNA and a gateway already running on PORT.\n");
	exit(asked ? 0 : 64);
}

int
main(int argc, char **argv)
{
	struct scenario one = { "custom", 1, 1, 4096, 2, 2000, 0, 0, 0 };
	static struct target t;
	const char *fed = NULL;
	double ceiling_s = 0.5;
	int ch, std = 0, rc = 0;

	/* The benchmark's clients move chunks as the puente command does. */
	frame_malloc_tune();
	while ((ch = getopt(argc, argv, "hSN:k:w:s:r:n:R:i:ec:f:p:m:P:d:")) != -1) {
		switch (ch) {
		case 'h': usage(1); break;
		case 'S': std = 1; break;
		case 'N': snprintf(one.name, sizeof(one.name), "%s", optarg); break;
		case 'k': one.conns = atoi(optarg); break;
		case 'w': one.window = atoi(optarg); break;
		case 's': one.size = strtoull(optarg, NULL, 10); break;
		case 'r': one.recipients = atoi(optarg); break;
		case 'n': one.messages = atoi(optarg); break;
		case 'R': one.rate = atof(optarg); break;
		case 'i': one.idle = atoi(optarg); break;
		case 'e': one.fetch = 1; break;
		case 'c': ceiling_s = atof(optarg); break;
		case 'f': fed = optarg; break;
		case 'p': t.port = atoi(optarg); break;
		case 'm': t.metrics_port = atoi(optarg); break;
		case 'P': t.pid = (pid_t)atoi(optarg); break;
		case 'd': snprintf(t.data_dir, sizeof(t.data_dir), "%s", optarg); break;
		default: usage(0);
		}
	}
	if (one.conns < 1 || one.window < 1 || one.messages < one.conns || one.recipients < 1 ||
	    one.recipients >= N_AGENCIES || one.idle < 0 || ceiling_s <= 0 ||
	    (fed == NULL ? argc - optind != 3 : argc != optind || t.port <= 0))
		usage(0);
	raise_fd_limit();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fed == NULL)
		target_own(&t, argv + optind - 1);
	else if (crypto_init() != PU_OK)
		return 70;
	else
		target_existing(&t, fed);
	t.ceiling_s = ceiling_s;
	measure_ceilings(&t, ceiling_s);
	if (std) {
		for (size_t i = 0; rc == 0 && i < sizeof(standard) / sizeof(standard[0]); i++)
			rc = run_scenario(&t, &standard[i]);
	} else {
		rc = run_scenario(&t, &one);
	}
	if (fed == NULL) {
		harness_free(&t.h);
	} else {
		for (int i = 0; i < N_AGENCIES; i++)
			tc_agency_free(&t.loaded[i]);
	}
	return rc;
}
