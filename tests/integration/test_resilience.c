/*
 * test_resilience.c - the real gateway when things go wrong (DESIGN.md §7, §9, §10; THREATS.md
 * 7 and 12), on loopback, each case bounded in time:
 *
 * - kill -9 at random points while two senders pipeline submissions, in several rounds: every
 *   acknowledged message is fetched and opened by both recipients with the content sent; an
 *   unacknowledged one is either whole or absent, and sending it again is acknowledged;
 * - a full disk under the data directory (a small tmpfs): a submission gets a clear ERROR
 *   and no receipt, other sessions are still served, and once space is back it is accepted;
 * - a read-only data directory and a read-only puente.db: the gateway refuses to start, or
 *   refuses submissions with a clear error, never acknowledging;
 * - a recipient that asks for a 64 MiB message and stops reading: the gateway's memory
 *   (VmRSS, VmHWM) stays bounded while another session keeps working.
 *
 * Usage: test_resilience PUENTE-KEYS PUENTE-GATEWAY WORKDIR (the gateway's log is
 * WORKDIR/gateway.log); TR_FILTER=r_full_* runs only the cases whose names match. The full
 * disk and read-only cases mount file systems and so need root (CAP_SYS_ADMIN); without it
 * they are skipped with a message saying so.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/fs.h>
#include <sodium.h>
#include <sqlite3.h>

#include "frame.h"
#include "frames.pb-c.h"
#include "gateway_harness.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"
#include "store.h"

static struct harness H;
static int g_argc;
static char **g_argv;

#define assert_rc(got, want) assert_string_equal(pu_err_name(got), pu_err_name(want))

#define T_CASE PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER
#define F_RECEIPT PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT
#define F_ERROR PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR
#define F_INBOX PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX
#define F_NEW_MESSAGE PUENTE__FRAME_TYPE__FRAME_TYPE_NEW_MESSAGE
#define MIB (1024u * 1024)

static const char *const TO_BOTH[] = { NLE, FED };

/* The mount a case made over the data directory, the file it made immutable: undone after. */
static char mounted[1200], immutable[1200];

/* ---- small utilities ----------------------------------------------------------------- */

static void
data_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/data%s%s", H.work, name[0] ? "/" : "", name);
}

static void
seal(const struct tc_agency *from, struct fx_msg *m, const char *const *to, size_t n_to,
    uint64_t att_size)
{
	assert_rc(tc_seal(from, m, to, n_to, T_CASE, att_size, NULL), PU_OK);
}

static void
connect_as(struct tc *c, const struct tc_agency *a)
{
	assert_rc(tc_connect(c, H.port, a), PU_OK);
}

static void
submit_ok(struct tc *c, const struct fx_msg *m)
{
	uint8_t *r;
	size_t len;
	char err[64];

	if (tc_submit(c, m, &r, &len, err, sizeof(err)) != PU_OK)
		fail_msg("submission refused: %s", err[0] ? err : "no answer");
	assert_rc(harness_receipt_check(&H, m, r, len, NULL), PU_OK);
	free(r);
}

/* Fetch as a, open through the library, receipt: the content is the one m was sealed with. */
static void
fetch_same(struct tc *c, const struct tc_agency *a, const struct fx_msg *m)
{
	uint8_t mac[32];
	char err[64];
	int rc;

	if ((rc = tc_fetch_open_receipt(c, a, m->sealed.msg_id, mac, err, sizeof(err))) != PU_OK)
		fail_msg("%s cannot fetch a stored message: %s %s", a->id, pu_err_name(rc), err);
	assert_memory_equal(mac, m->sealed.receipt_mac, 32);
}

/*
 * The next frame is an ERROR naming msg_id (NEW_MESSAGE notices skipped): its code, and its
 * text in why. A GATEWAY_RECEIPT instead fails the test: nothing may be acknowledged here.
 */
static void
next_error(struct tc *c, const uint8_t *msg_id, char *code, size_t code_len, char *why,
    size_t why_len)
{
	uint8_t type, *body;
	size_t len;
	ProtobufCMessage *m;
	Puente__Error *e;

	do {
		assert_rc(tc_recv(c, &type, &body, &len, 10000), PU_OK);
		if (type == F_NEW_MESSAGE)
			free(body);
	} while (type == F_NEW_MESSAGE);
	if (type == F_RECEIPT)
		fail_msg("acknowledged although it could not be stored");
	if (type != F_ERROR)
		fail_msg("wanted ERROR, got frame type %u", type);
	assert_rc(frame_decode_body(type, body, len, &m), PU_OK);
	free(body);
	e = (Puente__Error *)m;
	assert_int_equal(e->msg_id.len, PU_MSG_ID_LEN);
	assert_memory_equal(e->msg_id.data, msg_id, PU_MSG_ID_LEN);
	snprintf(code, code_len, "%s", e->code);
	snprintf(why, why_len, "%s", e->message);
	pb_free(m);
}

/* Upload files left in the spool (.part): there must be none once nothing is being sent. */
static int
spool_parts(void)
{
	int parts;

	harness_spool_files(&H, NULL, &parts);
	return parts;
}

/*
 * spool_parts() once the gateway has had up to SETTLE_POLLS to catch up: it removes a refused
 * upload's file right after its answer, not before.
 */
static int
spool_parts_settled(void)
{
	int n;

	for (int i = 0; (n = spool_parts()) > 0 && i < SETTLE_POLLS; i++)
		sleep_ms(10);
	return n;
}

/* 1 when the session's INBOX answer lists msg_id. */
static int
inbox_lists(struct tc *c, const uint8_t *msg_id)
{
	uint8_t ids[256][16];
	size_t n;
	int found = 0;

	assert_rc(tc_inbox(c, ids, 256, &n), PU_OK);
	for (size_t i = 0; i < n; i++)
		found |= memcmp(ids[i], msg_id, PU_MSG_ID_LEN) == 0;
	return found;
}

/* Lines of the gateway's log since byte offset `from` that contain needle; *last gets one. */
static int
log_lines(long from, const char *needle, char *last, size_t last_len)
{
	char path[1200], line[4096];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/gateway.log", H.work);
	if (last_len > 0)
		last[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	fseek(f, from, SEEK_SET);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL) {
			n++;
			snprintf(last, last_len, "%s", line);
		}
	fclose(f);
	return n;
}

static long
log_size(void)
{
	char path[1200];
	long n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/gateway.log", H.work);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

/* ---- per case: a fresh data directory, maybe on a mount of the case's own ----------------- */

static int
setup(void **state)
{
	(void)state;
	harness_init(&H, g_argc, g_argv);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	harness_free(&H);
	return 0;
}

static void
fresh_data_dir(void)
{
	char cmd[2600], dir[1200];

	data_path(dir, sizeof(dir), "");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -m 0700 '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
}

static int
case_up(void **state)
{
	(void)state;
	fresh_data_dir();
	harness_start(&H);
	return 0;
}

static void set_immutable(const char *path, int on);

/* The case's gateway is stopped (SIGTERM drains: exit 0) and its mount undone. */
static int
case_down(void **state)
{
	(void)state;
	if (harness_alive(&H))
		assert_int_equal(harness_stop(&H), 0);
	H.pid = 0;
	if (immutable[0] != '\0') {
		set_immutable(immutable, 0);
		immutable[0] = '\0';
	}
	if (mounted[0] != '\0') {
		if (umount2(mounted, MNT_DETACH) != 0)
			fail_msg("cannot unmount %s: %s", mounted, strerror(errno));
		mounted[0] = '\0';
	}
	return 0;
}

/* A tmpfs of size_mib over the (empty) data directory: 0, or -1 when mounting is refused. */
static int
mount_small_fs(int size_mib)
{
	char dir[1200], opts[64];

	data_path(dir, sizeof(dir), "");
	snprintf(opts, sizeof(opts), "size=%dm,mode=0700", size_mib);
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
		return -1;
	snprintf(mounted, sizeof(mounted), "%s", dir);
	return 0;
}

static void
need_mount(int rc, const char *what)
{
	if (rc == 0)
		return;
	print_message("    cannot mount %s (%s; needs root or CAP_SYS_ADMIN): skipped\n", what,
	    strerror(errno));
	skip();
}

/* ---- kill -9 at random points under load ------------------------------------------------ */

#define KILL_ROUNDS 3
#define KILL_POOL 96		/* messages sealed per sender and round */
#define KILL_AFTER_MAX 48	/* the kill comes 0-20 ms after 1..48 receipts */
#define KILL_JITTER_US 20000
#define KILL_WINDOW 16		/* submissions a sender has in flight */
#define KILL_BIG_ONE_IN 12	/* that many messages have two chunks (the spool path) */

struct sender {
	const struct tc_agency *a;
	struct fx_msg m[KILL_POOL];
	int sent, answered;
	uint8_t acked[KILL_POOL];
	char bad[192];		/* anything but the kill that went wrong; must stay empty */
};

static atomic_int kill_acked;	/* receipts both senders have verified */
static atomic_int senders_ready;	/* senders that have tried to connect */
static atomic_int senders_done;

static int
pool_index(const struct sender *s, const uint8_t *msg_id)
{
	for (int i = 0; i < s->sent; i++)
		if (memcmp(s->m[i].sealed.msg_id, msg_id, PU_MSG_ID_LEN) == 0)
			return i;
	return -1;
}

/* A receipt frame: which message it acknowledges, checked against that message's header. */
static void
take_receipt(struct sender *s, const uint8_t *body, size_t len)
{
	Puente__GatewayReceipt *g = puente__gateway_receipt__unpack(NULL, len, body);
	Puente__AuditEntry *e = NULL;
	int i = -1;

	if (g != NULL)
		e = puente__audit_entry__unpack(NULL, g->audit_entry.len, g->audit_entry.data);
	if (e != NULL && e->msg_id.len == PU_MSG_ID_LEN)
		i = pool_index(s, e->msg_id.data);
	if (i < 0 || s->acked[i] || harness_receipt_check(&H, &s->m[i], body, len, NULL) != PU_OK)
		snprintf(s->bad, sizeof(s->bad), "a receipt that is not for a message in flight");
	else
		s->acked[i] = 1;
	puente__audit_entry__free_unpacked(e, NULL);
	puente__gateway_receipt__free_unpacked(g, NULL);
	atomic_fetch_add(&kill_acked, 1);
}

static void
take_error(struct sender *s, const uint8_t *body, size_t len)
{
	ProtobufCMessage *m;

	if (frame_decode_body(F_ERROR, body, len, &m) != PU_OK) {
		snprintf(s->bad, sizeof(s->bad), "an undecodable ERROR frame");
		return;
	}
	snprintf(s->bad, sizeof(s->bad), "ERROR %s: %s", ((Puente__Error *)m)->code,
	    ((Puente__Error *)m)->message);
	pb_free(m);
}

/* Pipeline the pool until every message is answered or the gateway is gone. */
static void *
sender_main(void *arg)
{
	struct sender *s = arg;
	struct tc c;

	if (tc_connect(&c, H.port, s->a) != PU_OK)
		snprintf(s->bad, sizeof(s->bad), "cannot connect before the kill");
	/*
	 * Neither sends before both are connected: the kill comes after a few receipts, and
	 * could otherwise land while the other is still in its handshake.
	 */
	atomic_fetch_add(&senders_ready, 1);
	for (int i = 0; i < SETTLE_POLLS && atomic_load(&senders_ready) < 2; i++)
		sleep_ms(10);
	while (s->answered < KILL_POOL && s->bad[0] == '\0') {
		uint8_t type, *body;
		size_t len;
		int rc;
		while (s->sent < KILL_POOL && s->sent - s->answered < KILL_WINDOW)
			if (tc_send_message(&c, &s->m[s->sent++]) != PU_OK)
				goto out;	/* the kill */
		if ((rc = tc_recv(&c, &type, &body, &len, 10000)) != PU_OK) {
			if (rc != PU_ERR_IO)
				snprintf(s->bad, sizeof(s->bad), "no answer within 10 s");
			break;
		}
		if (type == F_RECEIPT) {
			take_receipt(s, body, len);
			s->answered++;
		} else if (type == F_ERROR) {
			take_error(s, body, len);
		} else if (type != F_NEW_MESSAGE) {
			snprintf(s->bad, sizeof(s->bad), "unexpected frame type %u", type);
		}
		free(body);
	}
out:
	tc_close(&c);
	atomic_fetch_add(&senders_done, 1);
	return NULL;
}

/*
 * kill -9 once `after` receipts are in, then 0-20 ms later: receipts come in bursts (one
 * group commit each), the jitter puts the kill anywhere between and inside them.
 */
static void *
killer_main(void *arg)
{
	int after = *(int *)arg;
	long jitter_us = (long)randombytes_uniform(KILL_JITTER_US);
	struct timespec ts = { 0, jitter_us * 1000 };

	while (atomic_load(&kill_acked) < after && atomic_load(&senders_done) < 2)
		sleep_ms(1);
	nanosleep(&ts, NULL);
	harness_kill9(&H);
	return NULL;
}

/*
 * After the restart: an acknowledged message opens for both recipients; one that was sent
 * but not acknowledged is whole (it opens) or absent, and sending it again gets a receipt
 * (the original one, or a fresh acceptance) - never a conflict or a half-stored message.
 */
static void
check_after_restart(struct sender *s, struct tc *nle, struct tc *fed, int *n_whole)
{
	uint8_t absent[KILL_POOL] = { 0 }, mac[32];
	struct tc c;
	char err[64];

	for (int i = 0; i < s->sent; i++) {
		if (s->acked[i]) {
			fetch_same(nle, &H.nle, &s->m[i]);
			continue;
		}
		int rc = tc_fetch_open_receipt(nle, &H.nle, s->m[i].sealed.msg_id, mac, err,
		    sizeof(err));
		if (rc == PU_OK) {
			assert_memory_equal(mac, s->m[i].sealed.receipt_mac, 32);
			(*n_whole)++;
		} else if (rc == PU_ERR_NOT_QUEUED) {
			absent[i] = 1;
		} else {
			fail_msg("unacknowledged message neither whole nor absent: %s %s",
			    pu_err_name(rc), err);
		}
	}
	connect_as(&c, s->a);
	for (int i = 0; i < s->sent; i++)
		if (!s->acked[i])
			submit_ok(&c, &s->m[i]);
	tc_close(&c);
	for (int i = 0; i < s->sent; i++) {
		if (absent[i])
			fetch_same(nle, &H.nle, &s->m[i]);
		fetch_same(fed, &H.fed, &s->m[i]);
	}
}

static void
kill_round(int round)
{
	struct sender *s = calloc(2, sizeof(*s));
	int after = 1 + (int)randombytes_uniform(KILL_AFTER_MAX), n_whole = 0;
	pthread_t th[3];
	struct tc nle, fed;
	long t0;

	assert_non_null(s);
	s[0].a = &H.tla;
	s[1].a = &H.tab;
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < KILL_POOL; i++)
			seal(s[k].a, &s[k].m[i], TO_BOTH, 2,
			    randombytes_uniform(KILL_BIG_ONE_IN) == 0 ? MIB + 4096 : 4096);
	atomic_store(&kill_acked, 0);
	atomic_store(&senders_ready, 0);
	atomic_store(&senders_done, 0);
	t0 = mono_ms();
	assert_int_equal(pthread_create(&th[0], NULL, sender_main, &s[0]), 0);
	assert_int_equal(pthread_create(&th[1], NULL, sender_main, &s[1]), 0);
	assert_int_equal(pthread_create(&th[2], NULL, killer_main, &after), 0);
	for (int k = 0; k < 3; k++)
		pthread_join(th[k], NULL);
	for (int k = 0; k < 2; k++)
		if (s[k].bad[0] != '\0')
			fail_msg("round %d, %s: %s", round, s[k].a->id, s[k].bad);
	int acked = atomic_load(&kill_acked), sent = s[0].sent + s[1].sent;
	/* the kill must have landed with work in flight, or the round proved nothing */
	assert_true(acked < sent);

	harness_start(&H);
	assert_int_equal(spool_parts(), 0);
	connect_as(&nle, &H.nle);
	connect_as(&fed, &H.fed);
	for (int k = 0; k < 2; k++)
		check_after_restart(&s[k], &nle, &fed, &n_whole);
	tc_close(&nle);
	tc_close(&fed);
	/* The log the killed gateway left verifies: every hash, checkpoint and chain. */
	{
		char why[AVERIFY_PROBLEM_MAX] = "";
		if (harness_audit_replay(&H, NULL, why, sizeof(why), NULL) != PU_OK)
			fail_msg("round %d: the audit log does not verify: %s", round, why);
	}
	print_message("    round %d: kill -9 after %d receipts: %d sent, %d acknowledged, %d more "
	    "stored whole; all delivered (%ld ms)\n", round, after, sent, acked, n_whole,
	    mono_ms() - t0);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < KILL_POOL; i++)
			fx_msg_free(&s[k].m[i]);
	free(s);
}

static void
r_kill9_at_random_points_under_load(void **state)
{
	(void)state;
	for (int round = 1; round <= KILL_ROUNDS; round++)
		kill_round(round);
}

/* ---- a recipient that stops reading ------------------------------------------------------ */

#define SLOW_SIZE (64u * MIB)
#define SLOW_STALL_MS 2000
#define SLOW_GROWTH_KIB (32 * 1024)

static void
assert_growth_below(const char *what, long before, long after)
{
	assert_true(before > 0 && after > 0);
	print_message("    %s %ld -> %ld KiB\n", what, before, after);
	if (harness_sanitized(&H)) {
		print_message("    (ASan gateway: the bound of %d KiB is not checked)\n",
		    SLOW_GROWTH_KIB);
		return;
	}
	if (after - before >= SLOW_GROWTH_KIB)
		fail_msg("gateway %s grew by %ld KiB, limit %d KiB", what, after - before,
		    SLOW_GROWTH_KIB);
}

/*
 * NLE asks for a 64 MiB message and reads nothing for 2 s while TAB and FED exchange
 * messages: the gateway holds the delivery back instead of buffering it.
 */
static void
r_slow_reader_memory_bounded(void **state)
{
	static const char *const to_fed[] = { FED };
	static const char *const to_nle[] = { NLE };
	struct tc tla, nle, tab, fed;
	struct fx_msg big;
	long rss0, hwm0, rss_max, t0;
	uint8_t mac[32];
	int served = 0;

	(void)state;
	seal(&H.tla, &big, to_nle, 1, SLOW_SIZE);
	connect_as(&tla, &H.tla);
	submit_ok(&tla, &big);
	tc_close(&tla);
	connect_as(&nle, &H.nle);
	connect_as(&tab, &H.tab);
	connect_as(&fed, &H.fed);
	rss0 = rss_max = harness_status_kib(&H, "VmRSS");
	hwm0 = harness_status_kib(&H, "VmHWM");
	assert_rc(tc_fetch_send(&nle, big.sealed.msg_id), PU_OK);
	for (t0 = mono_ms(); mono_ms() - t0 < SLOW_STALL_MS; served++) {
		struct fx_msg m;
		seal(&H.tab, &m, to_fed, 1, 4096);
		submit_ok(&tab, &m);
		fetch_same(&fed, &H.fed, &m);
		fx_msg_free(&m);
		long rss = harness_status_kib(&H, "VmRSS");
		rss_max = rss > rss_max ? rss : rss_max;
		sleep_ms(20);
	}
	print_message("    while a 64 MiB delivery was not read for %d ms: %d other exchanges\n",
	    SLOW_STALL_MS, served);
	assert_true(served >= 10);
	assert_growth_below("VmRSS (highest sample)", rss0, rss_max);
	assert_growth_below("VmHWM", hwm0, harness_status_kib(&H, "VmHWM"));
	/* the reader resumes and gets every byte */
	assert_rc(tc_fetch_finish(&nle, &H.nle, mac, NULL, 0), PU_OK);
	assert_memory_equal(mac, big.sealed.receipt_mac, 32);
	tc_close(&nle);
	tc_close(&tab);
	tc_close(&fed);
	fx_msg_free(&big);
}

/* ---- a full disk ------------------------------------------------------------------------- */

#define FULL_FS_MIB 16
/* The WAL's room given at start (wal_presize_bytes, a quarter of the free space at most)
 * takes some tens of small messages before the first refusal (about 70 measured). */
#define FULL_SMALL_TRIES 1024

/* Fill the file system of the data directory: the filler is unlinked to free the space. */
static void
fill_disk(const char *filler)
{
	static uint8_t block[65536];
	int fd = open(filler, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	for (;;) {
		ssize_t w = write(fd, block, sizeof(block));
		if (w < 0 && errno == ENOSPC)
			break;
		assert_true(w > 0);
	}
	/* the last pages: smaller writes until not a byte more fits */
	while (write(fd, block, 1) == 1)
		;
	assert_int_equal(errno, ENOSPC);
	close(fd);
}

/* Submit m and expect an ERROR naming it, no receipt; the code is returned in code. */
static void
submit_refused(struct tc *c, const struct fx_msg *m, char *code, size_t code_len)
{
	char why[512];

	assert_rc(tc_send_message(c, m), PU_OK);
	next_error(c, m->sealed.msg_id, code, code_len, why, sizeof(why));
	print_message("    refused: %s \"%s\"\n", code, why);
}

static void
r_full_disk(void **state)
{
	struct tc tla, nle, fed;
	struct fx_msg before, big, *small = calloc(FULL_SMALL_TRIES, sizeof(*small));
	char filler[1200], wal[1200], code[64];
	struct stat st;
	int n_small = 0, refused = 0;

	(void)state;
	/* the case's own gateway, on a small file system of its own */
	assert_int_equal(harness_stop(&H), 0);
	fresh_data_dir();
	need_mount(mount_small_fs(FULL_FS_MIB), "a tmpfs");
	/* Asked for more than the file system holds, the WAL gets a quarter of the free space. */
	harness_conf(&H, "wal_presize_bytes 1G");
	harness_start(&H);
	harness_conf(&H, HARNESS_WAL_PRESIZE);	/* for the starts after */
	assert_non_null(small);
	data_path(wal, sizeof(wal), "puente.db-wal");
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size >= MIB && st.st_size <= FULL_FS_MIB * MIB / 4);
	data_path(filler, sizeof(filler), "filler");
	seal(&H.tla, &before, TO_BOTH, 2, MIB + MIB / 2);
	seal(&H.tla, &big, TO_BOTH, 2, MIB + MIB / 2);
	connect_as(&tla, &H.tla);
	submit_ok(&tla, &before);

	fill_disk(filler);
	/*
	 * A two-chunk message needs a spool file: refused with the code that says "full,
	 * retry later", no upload left behind.
	 */
	submit_refused(&tla, &big, code, sizeof(code));
	assert_string_equal(code, "PU_ERR_STORE_FULL");
	/*
	 * A one-chunk message goes into the database's write-ahead log, which may still have
	 * room from earlier commits: some are accepted (durably), until one is refused.
	 */
	for (; n_small < FULL_SMALL_TRIES && !refused; n_small++) {
		uint8_t *r;
		size_t len;
		seal(&H.tla, &small[n_small], TO_BOTH, 2, 4096);
		int rc = tc_submit(&tla, &small[n_small], &r, &len, code, sizeof(code));
		if (rc == PU_OK) {
			assert_rc(harness_receipt_check(&H, &small[n_small], r, len, NULL), PU_OK);
			free(r);
		} else {
			assert_string_equal(code, "PU_ERR_STORE_FULL");
			refused = 1;
		}
	}
	print_message("    full disk: %d small messages accepted before one was refused\n",
	    n_small - 1);
	assert_true(refused);
	assert_true(harness_alive(&H));
	assert_int_equal(spool_parts_settled(), 0);
	/* other sessions are served: NLE's inbox still answers */
	connect_as(&nle, &H.nle);
	assert_true(inbox_lists(&nle, before.sealed.msg_id));

	/* space again: the refused messages are accepted, everything stored opens */
	assert_int_equal(unlink(filler), 0);
	submit_ok(&tla, &big);
	submit_ok(&tla, &small[n_small - 1]);
	tc_close(&tla);
	connect_as(&fed, &H.fed);
	fetch_same(&nle, &H.nle, &before);
	fetch_same(&nle, &H.nle, &big);
	fetch_same(&fed, &H.fed, &big);
	for (int i = 0; i < n_small; i++) {
		fetch_same(&nle, &H.nle, &small[i]);
		fx_msg_free(&small[i]);
	}
	tc_close(&nle);
	tc_close(&fed);
	fx_msg_free(&before);
	fx_msg_free(&big);
	free(small);
}

/* ---- a read-only database ---------------------------------------------------------------- */

/* Run the gateway expecting it to stop by itself within 10 s: its exit status. */
static int
start_expecting_exit(void)
{
	int status;

	harness_spawn(&H);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(H.pid, &status, WNOHANG) == H.pid) {
			H.pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		sleep_ms(10);
	}
	return -1;
}

/* A data directory with one stored message in it, the gateway stopped. */
static void
data_dir_with_a_message(struct fx_msg *m)
{
	struct tc tla;

	seal(&H.tla, m, TO_BOTH, 2, 4096);
	connect_as(&tla, &H.tla);
	submit_ok(&tla, m);
	tc_close(&tla);
	assert_int_equal(harness_stop(&H), 0);
}

/* The salts (8 bytes) at off of a WAL: its header's, which each frame must carry to count. */
static void
wal_salts_at(int fd, off_t off, uint8_t salts[8])
{
	assert_int_equal(pread(fd, salts, 8, off), 8);
}

/*
 * A clean stop leaves the WAL at its presized length, holding one frame: the frames behind
 * it carry older salts, so SQLite reads no further at the next start, which writes no
 * zeros either. Everything stored is there after it, and it stops and starts so again.
 */
static void
r_clean_stop_leaves_the_wal_sized_with_one_frame(void **state)
{
	char wal[1200], db[1200], why[AVERIFY_PROBLEM_MAX];
	uint8_t head[8], first[8], second[8], page_size[4];
	struct fx_msg m;
	struct stat st;
	struct tc nle;
	int fd;

	(void)state;
	data_dir_with_a_message(&m);
	data_path(wal, sizeof(wal), "puente.db-wal");
	data_path(db, sizeof(db), "puente.db");
	for (int round = 0; round < 2; round++) {
		assert_int_equal(stat(wal, &st), 0);
		assert_true(st.st_size >= 4 * MIB);	/* HARNESS_WAL_PRESIZE */
		assert_int_equal(st.st_mode & 0777, 0600);	/* the gateway's user's alone */
		assert_int_equal(stat(db, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_true((fd = open(wal, O_RDONLY | O_CLOEXEC)) >= 0);
		assert_int_equal(pread(fd, page_size, 4, 8), 4);
		/* a 32-byte header, then frames: a 24-byte header (salts at 8) and a page */
		off_t frame = 24 + ((off_t)page_size[0] << 24 | (off_t)page_size[1] << 16 |
		    (off_t)page_size[2] << 8 | page_size[3]);
		wal_salts_at(fd, 16, head);
		wal_salts_at(fd, 32 + 8, first);
		wal_salts_at(fd, 32 + frame + 8, second);
		close(fd);
		assert_memory_equal(first, head, 8);
		assert_memory_not_equal(second, head, 8);

		long log0 = log_size();
		harness_start(&H);
		assert_int_equal(log_lines(log0, "event=wal-presized", NULL, 0), 0);
		connect_as(&nle, &H.nle);
		assert_true(inbox_lists(&nle, m.sealed.msg_id));
		tc_close(&nle);
		assert_int_equal(harness_stop(&H), 0);
	}
	harness_start(&H);
	connect_as(&nle, &H.nle);
	fetch_same(&nle, &H.nle, &m);
	tc_close(&nle);
	assert_rc(harness_audit_replay(&H, NULL, why, sizeof(why), NULL), PU_OK);
	fx_msg_free(&m);
}

/*
 * One sender cannot fill the disk (THREATS.md group 20): past sender_quota_bytes of queued
 * ciphertext its messages are refused (PU_ERR_QUOTA, nothing stored) while another agency
 * still sends, and an upload larger than the whole quota is refused at its header, before
 * a chunk reaches the disk. Once the recipient receipts one, there is room again.
 */
static void
r_sender_over_its_quota_others_unaffected(void **state)
{
	static const char *const to_nle[] = { NLE };
	struct fx_msg m[4], other, big;
	struct tc tla, tab, nle;
	char code[64];

	(void)state;
	assert_int_equal(harness_stop(&H), 0);
	harness_conf(&H, "sender_quota_bytes 1M");
	harness_start(&H);
	harness_conf(&H, "sender_quota_bytes 8G");	/* for the starts after */
	connect_as(&tla, &H.tla);
	for (int i = 0; i < 4; i++)
		seal(&H.tla, &m[i], to_nle, 1, 300 * 1024);
	for (int i = 0; i < 3; i++)
		submit_ok(&tla, &m[i]);
	submit_refused(&tla, &m[3], code, sizeof(code));
	assert_string_equal(code, "PU_ERR_QUOTA");
	seal(&H.tla, &big, to_nle, 1, 2 * MIB);
	submit_refused(&tla, &big, code, sizeof(code));
	assert_string_equal(code, "PU_ERR_QUOTA");
	assert_int_equal(spool_parts(), 0);

	connect_as(&tab, &H.tab);
	seal(&H.tab, &other, to_nle, 1, 300 * 1024);
	submit_ok(&tab, &other);
	tc_close(&tab);

	connect_as(&nle, &H.nle);
	assert_false(inbox_lists(&nle, m[3].sealed.msg_id));
	assert_false(inbox_lists(&nle, big.sealed.msg_id));
	assert_true(inbox_lists(&nle, other.sealed.msg_id));
	fetch_same(&nle, &H.nle, &m[0]);
	submit_ok(&tla, &m[3]);
	assert_true(inbox_lists(&nle, m[3].sealed.msg_id));
	tc_close(&nle);
	tc_close(&tla);
	for (int i = 0; i < 4; i++)
		fx_msg_free(&m[i]);
	fx_msg_free(&other);
	fx_msg_free(&big);
}

/*
 * A message that expires in the queue (THREATS.md group 20): it leaves the recipient's
 * inbox, and its sender's next session is sent a NON_DELIVERY, signed with the gateway's
 * RECEIPT key, naming it and the recipient that never receipted. A retry of it after its
 * expiry (group 18) gets the original receipt, not PU_ERR_EXPIRED.
 */
static void
r_message_expired_in_the_queue(void **state)
{
	static const char *const to_nle[] = { NLE };
	struct seal_params p = { 0 };
	const Puente__Agency *gw = directory_find_agency(&H.tla.dir_loaded, GW);
	Puente__NonDeliveryNotice *nd = NULL;
	ProtobufCMessage *body;
	uint8_t *r1, *r2, type, *frame = NULL;
	size_t l1, l2, len;
	struct fx_msg m;
	struct tc tla, nle;
	char err[64];
	long expired = 0;

	(void)state;
	assert_int_equal(harness_stop(&H), 0);
	harness_conf(&H, "sweep_interval_s 1");
	harness_start(&H);
	harness_conf(&H, "sweep_interval_s 60");	/* for the starts after */
	p.expires_at = (int64_t)time(NULL) + 6;	/* time to submit and list it, even under ASan */
	assert_rc(tc_seal(&H.tla, &m, to_nle, 1, T_CASE, 4096, &p), PU_OK);
	connect_as(&tla, &H.tla);
	assert_rc(tc_submit(&tla, &m, &r1, &l1, err, sizeof(err)), PU_OK);
	tc_close(&tla);
	connect_as(&nle, &H.nle);
	assert_true(inbox_lists(&nle, m.sealed.msg_id));
	tc_close(&nle);

	/* each session after the sweep took it is told, right after WELCOME */
	for (int tries = 0; nd == NULL && tries < 20; tries++) {
		sleep_ms(500);
		connect_as(&tla, &H.tla);
		if (tc_recv(&tla, &type, &frame, &len, 300) == PU_OK) {
			assert_int_equal(type, PUENTE__FRAME_TYPE__FRAME_TYPE_NON_DELIVERY);
			assert_non_null(gw);
			assert_rc(signed_verify(frame, len, PU_CTX_NON_DELIVERY,
			    &puente__non_delivery_notice__descriptor, gw,
			    PUENTE__KEY_PURPOSE__KEY_PURPOSE_RECEIPT, &body), PU_OK);
			nd = (Puente__NonDeliveryNotice *)body;
			free(frame);
		} else {
			tc_close(&tla);
		}
	}
	assert_non_null(nd);
	assert_int_equal(nd->msg_id.len, PU_MSG_ID_LEN);
	assert_memory_equal(nd->msg_id.data, m.sealed.msg_id, PU_MSG_ID_LEN);
	assert_int_equal(nd->n_undelivered, 1);
	assert_string_equal(nd->undelivered[0], NLE);
	pb_free(nd);
	assert_int_equal(harness_metric(&H, "puente_messages_expired_total", &expired), 0);
	assert_int_equal(expired, 1);

	assert_rc(tc_submit(&tla, &m, &r2, &l2, err, sizeof(err)), PU_OK);
	assert_true(harness_same_leaf(r1, l1, r2, l2));
	tc_close(&tla);
	connect_as(&nle, &H.nle);
	assert_false(inbox_lists(&nle, m.sealed.msg_id));
	tc_close(&nle);
	free(r1);
	free(r2);
	fx_msg_free(&m);
}

static void
set_immutable(const char *path, int on)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), flags, rc;

	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
	flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
	rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	close(fd);
	/* Setting it needs CAP_LINUX_IMMUTABLE (root) and a file system that has the flag. */
	if (rc != 0 && on) {
		print_message("    cannot make %s immutable (%s): skipped\n", path, strerror(errno));
		immutable[0] = '\0';
		skip();
	}
	assert_int_equal(rc, 0);
}

/* 1 when the spool holds msg_id's stored file (msg_id.msg): a file of it not a .part. */
static int
spool_has_msg(const uint8_t *msg_id)
{
	int parts, files = harness_spool_files(&H, msg_id, &parts);

	return files - parts == 1;
}

/*
 * The commit fails after a two-chunk message's upload was moved into place (the WAL cannot
 * be written: made immutable under the running gateway). No receipt, no upload left; the
 * file under the message's name stays (a failed commit may yet prove durable after a
 * crash), and once writes work again the same message is accepted over it and opens.
 */
static void
r_commit_fails_after_the_upload(void **state)
{
	struct tc tla, nle;
	struct fx_msg big;
	char code[64];

	(void)state;
	seal(&H.tla, &big, TO_BOTH, 2, MIB + MIB / 2);
	connect_as(&tla, &H.tla);
	data_path(immutable, sizeof(immutable), "puente.db-wal");
	set_immutable(immutable, 1);
	submit_refused(&tla, &big, code, sizeof(code));
	set_immutable(immutable, 0);
	immutable[0] = '\0';
	assert_string_equal(code, "PU_ERR_STORE");
	assert_int_equal(spool_parts_settled(), 0);
	submit_ok(&tla, &big);
	assert_true(spool_has_msg(big.sealed.msg_id));
	tc_close(&tla);
	connect_as(&nle, &H.nle);
	fetch_same(&nle, &H.nle, &big);
	tc_close(&nle);
	fx_msg_free(&big);
}

/*
 * The gateway must not start on the data folder: it exits with status, and its log has one
 * start-failed line, from the store, naming code.
 */
static void
refused_to_start(const char *what, int status, const char *code)
{
	char last[4096];
	long log0 = log_size();
	int got = start_expecting_exit();

	print_message("    %s: exit status %d\n", what, got);
	assert_int_equal(got, status);
	assert_int_equal(log_lines(log0, "event=start-failed", last, sizeof(last)), 1);
	print_message("    log: %s", last);
	assert_non_null(strstr(last, "component=store"));
	assert_non_null(strstr(last, code));
}

/*
 * The data directory on a read-only mount (a read-only bind mount over itself): the gateway
 * cannot take its lock or write anything, and must not start.
 */
static void
r_read_only_data_dir(void **state)
{
	struct fx_msg m;
	char dir[1200];

	(void)state;
	data_dir_with_a_message(&m);
	data_path(dir, sizeof(dir), "");
	need_mount(mount(dir, dir, NULL, MS_BIND, NULL), "a bind mount");
	snprintf(mounted, sizeof(mounted), "%s", dir);
	assert_int_equal(mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);
	refused_to_start("read-only data_dir", 74, "PU_ERR_STORE_READONLY");	/* EX_IOERR */
	fx_msg_free(&m);
}

/*
 * puente.db itself read-only (immutable) in a writable folder: SQLite would open it
 * read-only without a word; the gateway notices and refuses to start, naming why.
 */
static void
r_read_only_database(void **state)
{
	struct fx_msg m;

	(void)state;
	data_dir_with_a_message(&m);
	data_path(immutable, sizeof(immutable), "puente.db");
	set_immutable(immutable, 1);
	refused_to_start("read-only puente.db", 74, "PU_ERR_STORE_READONLY");	/* EX_IOERR */
	fx_msg_free(&m);
}

/* Run SQL on puente.db, the gateway stopped. */
static void
data_db_exec(const char *sql)
{
	char path[1200];
	sqlite3 *db = NULL;

	data_path(path, sizeof(path), "puente.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* One integer SQL answers on puente.db, the gateway stopped. */
static int
data_db_int(const char *sql)
{
	char path[1200];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v;

	data_path(path, sizeof(path), "puente.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/*
 * puente.db of a layout this gateway does not know (a newer one, or one that says 1 but
 * is not): the gateway refuses to start, naming why, and changes nothing. Given back its
 * own version, the same database serves the message it held.
 */
static void
r_database_of_another_layout(void **state)
{
	struct fx_msg m;
	struct tc nle;

	(void)state;
	data_dir_with_a_message(&m);
	/* 78: EX_CONFIG */
	data_db_exec("PRAGMA user_version = 99");
	refused_to_start("layout 99", 78, "PU_ERR_STORE_SCHEMA");
	data_db_exec("PRAGMA user_version = 4");
	refused_to_start("layout 4", 78, "PU_ERR_STORE_SCHEMA");
	/* says 1 but lacks layout 1's receipt column: not upgraded */
	data_db_exec("PRAGMA user_version = 1");
	refused_to_start("layout 1 without its receipt column", 78, "PU_ERR_STORE_SCHEMA");
	assert_int_equal(data_db_int("PRAGMA user_version"), 1);
	/* says 2 but its deliveries already have layout 3's seq: not upgraded */
	data_db_exec("PRAGMA user_version = 2");
	refused_to_start("layout 2 with layout 3's deliveries", 78, "PU_ERR_STORE_SCHEMA");
	data_db_exec("PRAGMA user_version = 3");
	harness_start(&H);
	connect_as(&nle, &H.nle);
	fetch_same(&nle, &H.nle, &m);
	tc_close(&nle);
	fx_msg_free(&m);
}

/* Layout 2's deliveries, made from this gateway's: no seq, an index by (recipient, state). */
#define LAYOUT_2_DELIVERIES \
	"DROP INDEX deliveries_inbox; ALTER TABLE deliveries DROP COLUMN seq; " \
	"CREATE INDEX deliveries_by_recipient ON deliveries(recipient, state); "

/*
 * The inbox listing walks deliveries_inbox in arrival order and looks each message up by
 * its seq: no sort of the recipient's backlog, whatever its length (SQLite's own plan).
 */
static void
inbox_listing_walks_its_index(void)
{
	char path[1200], plan[1024] = "";
	size_t used = 0;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	data_path(path, sizeof(path), "puente.db");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN " STORE_INBOX_SQL, -1, &st,
	    NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		used += (size_t)snprintf(plan + used, sizeof(plan) - used, "%s; ",
		    (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_close(db);
	print_message("    inbox plan: %s\n", plan);
	assert_non_null(strstr(plan, "SEARCH d USING INDEX deliveries_inbox (recipient=?)"));
	assert_non_null(strstr(plan, "SEARCH m USING INTEGER PRIMARY KEY (rowid=?)"));
	assert_null(strstr(plan, "TEMP B-TREE"));
}

/*
 * Every delivery carries its message's seq (one count of those that do not), and the
 * layouts' indexes are the new ones.
 */
static void
deliveries_of_layout_3(void)
{
	assert_int_equal(data_db_int("SELECT COUNT(*) FROM deliveries d WHERE NOT EXISTS "
	    "(SELECT 1 FROM messages m WHERE m.seq = d.seq AND m.msg_id = d.msg_id)"), 0);
	assert_int_equal(data_db_int("SELECT COUNT(*) FROM sqlite_schema "
	    "WHERE name = 'deliveries_by_recipient'"), 0);
	inbox_listing_walks_its_index();
}

/*
 * A database of layout 2 (deliveries without their message's seq, an inbox that sorted its
 * whole backlog) is upgraded in place: each delivery gets its seq, and the message is still
 * listed and fetched by both recipients.
 */
static void
r_database_of_layout_2_upgraded(void **state)
{
	struct fx_msg m;
	struct tc nle, fed;

	(void)state;
	data_dir_with_a_message(&m);
	deliveries_of_layout_3();
	data_db_exec(LAYOUT_2_DELIVERIES "PRAGMA user_version = 2");
	harness_start(&H);
	assert_int_equal(harness_stop(&H), 0);
	assert_int_equal(data_db_int("PRAGMA user_version"), 3);
	assert_int_equal(data_db_int("SELECT COUNT(*) FROM deliveries"), 2);
	deliveries_of_layout_3();
	harness_start(&H);
	connect_as(&nle, &H.nle);
	assert_true(inbox_lists(&nle, m.sealed.msg_id));
	fetch_same(&nle, &H.nle, &m);
	tc_close(&nle);
	connect_as(&fed, &H.fed);
	assert_true(inbox_lists(&fed, m.sealed.msg_id));
	tc_close(&fed);
	fx_msg_free(&m);
}

/*
 * A database of layout 1 (each message's receipt in its row, an index by sender; its
 * user_version 1, or 0 from before versions were recorded) is upgraded in place, through
 * layout 2: it keeps its message, whose retry gets a receipt that verifies, and says 3
 * afterwards.
 */
static void
r_database_of_layout_1_upgraded(void **state)
{
	static const int says[] = { 1, 0 };
	struct fx_msg m;
	struct tc tla, nle;

	(void)state;
	data_dir_with_a_message(&m);
	for (size_t i = 0; i < sizeof(says) / sizeof(says[0]); i++) {
		char sql[512];
		snprintf(sql, sizeof(sql), LAYOUT_2_DELIVERIES "ALTER TABLE messages ADD COLUMN "
		    "receipt BLOB NOT NULL DEFAULT x'00'; CREATE INDEX messages_by_sender ON "
		    "messages(sender, state); PRAGMA user_version = %d", says[i]);
		data_db_exec(sql);
		harness_start(&H);
		assert_int_equal(harness_stop(&H), 0);
		assert_int_equal(data_db_int("PRAGMA user_version"), 3);
		deliveries_of_layout_3();
		assert_int_equal(data_db_int("SELECT COUNT(*) FROM pragma_table_info('messages') "
		    "WHERE name = 'receipt'"), 0);
		assert_int_equal(data_db_int("SELECT COUNT(*) FROM sqlite_schema "
		    "WHERE name = 'messages_by_sender'"), 0);
	}
	harness_start(&H);
	connect_as(&tla, &H.tla);
	submit_ok(&tla, &m);	/* a retry: its receipt proves the stored leaf */
	tc_close(&tla);
	connect_as(&nle, &H.nle);
	fetch_same(&nle, &H.nle, &m);
	tc_close(&nle);
	fx_msg_free(&m);
}

int
main(int argc, char **argv)
{
#define T(f) cmocka_unit_test_setup_teardown(f, case_up, case_down)
	const struct CMUnitTest tests[] = {
		T(r_kill9_at_random_points_under_load),
		T(r_slow_reader_memory_bounded),
		T(r_full_disk),
		T(r_commit_fails_after_the_upload),
		T(r_clean_stop_leaves_the_wal_sized_with_one_frame),
		T(r_sender_over_its_quota_others_unaffected),
		T(r_message_expired_in_the_queue),
		T(r_read_only_data_dir),
		T(r_read_only_database),
		T(r_database_of_another_layout),
		T(r_database_of_layout_1_upgraded),
		T(r_database_of_layout_2_upgraded),
	};
#undef T

	g_argc = argc;
	g_argv = argv;
	/* a peer that closed first must not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("TR_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TR_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
