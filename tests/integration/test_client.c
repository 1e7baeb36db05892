/*
 * test_client.c - the `puente` command against the real gateway on loopback: every message
 * type sent and fetched, the outbox surviving a gateway that is down (no duplicates once it
 * drains), refused case files (exit 65, the JSON path, nothing stored), tampered messages
 * refused with nothing written and a negative receipt, and the command line itself.
 * With "large" as last argument: a 1 GiB attachment with the client's memory bounded.
 *
 * argv: puente-keys, puente-gateway, work folder, puente [large]
 */
#define _DEFAULT_SOURCE	/* wait4: the peak memory of one child, not of all of them */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "gateway_harness.h"
#include "puente.h"
#include "pb.h"
#include "pu_err.h"

static struct harness H;
static int g_argc;
static char **g_argv;
static unsigned case_seq;

#define GIB (1024ull * 1024 * 1024)

static void
agency_dir(const char *id, char *out, size_t n)
{
	snprintf(out, n, "%s/fed/agencies/%s", H.work, id);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A fresh case id per message: the audit trail of each stays its own. */
static void
next_case(char out[32])
{
	snprintf(out, 32, "MX-2026-TC%04u", ++case_seq);
}

/* The smallest case file of a type, in the work folder. */
static void
case_file(char *path, size_t n, const char *type, const char *case_id)
{
	char text[512];

	snprintf(path, n, "%s/case-%s.json", H.work, case_id);
	snprintf(text, sizeof(text), "{\"type\": \"%s\", \"case_id\": \"%s\", \"summary\": "
	    "\"NIÑA DE PRUEBA (ficticia)\", \"%s\": {}}\n", type, case_id, type);
	write_file(path, text);
}

/* A pattern file of size bytes (sparse beyond the first block when big). */
static void
pattern_file(const char *path, uint64_t size, uint8_t seed)
{
	uint8_t block[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	uint64_t head = size < sizeof(block) ? size : sizeof(block);

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (uint8_t)(seed + i * 7);
	assert_int_equal(write(fd, block, (size_t)head), (ssize_t)head);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static int
files_equal(const char *a, const char *b)
{
	uint8_t x[65536], y[65536];
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	size_t na, nb;
	int same = fa != NULL && fb != NULL;

	while (same) {
		na = fread(x, 1, sizeof(x), fa);
		nb = fread(y, 1, sizeof(y), fb);
		if (na != nb || memcmp(x, y, na) != 0)
			same = 0;
		if (na == 0)
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

/* A field of the first JSON object printed. */
static void
json_field(const char *out, const char *key, char *val, size_t n)
{
	json_error_t e;
	json_t *o = json_loadb(out, strcspn(out, "\n"), 0, &e), *v;

	val[0] = '\0';
	assert_non_null(o);
	v = json_object_get(o, key);
	if (json_is_string(v))
		snprintf(val, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(val, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(val, n, "%s", json_is_true(v) ? "true" : "false");
	json_decref(o);
}

static size_t
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static size_t
outbox_files(const char *agency)
{
	char dir[1300];

	agency_dir(agency, dir, sizeof(dir));
	strcat(dir, "/outbox");
	return count_entries(dir);
}

static long long
db_count(const char *agency, const char *sql)
{
	char path[1300];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n = -1;

	agency_dir(agency, path, sizeof(path));
	strcat(path, "/client.db");
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* How many inbox lines name msg_id. */
static int
inbox_count(const char *agency, const char *msg_id)
{
	struct puente_run r;
	int n = 0;

	assert_int_equal(PUENTE(&r, agency, "inbox", "--json"), 0);
	for (const char *p = r.out; (p = strstr(p, msg_id)) != NULL; p++)
		n++;
	return n;
}

/* Send with --json; the msg id of the result in msg_id. Returns the exit status. */
static int
send_json(struct puente_run *r, const char *from, char msg_id[33], const char *const *args)
{
	const char *argv[40] = { "send", "--json" };
	size_t n = 2;
	int rc;

	while (*args != NULL && n < 39)
		argv[n++] = *args++;
	argv[n] = NULL;
	rc = harness_puente(&H, r, from, argv);
	msg_id[0] = '\0';
	if (r->out[0] == '{')
		json_field(r->out, "msg_id", msg_id, 33);
	return rc;
}

static void
out_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", H.work, name);
}

static int
setup(void **state)
{
	(void)state;
	harness_init(&H, g_argc, g_argv);
	harness_start(&H);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(harness_stop(&H), 0);
	harness_free(&H);
	return 0;
}

/* ---- round trips ----------------------------------------------------------------------- */

/*
 * Who sends each type to whom, by the role policy (gateway/policy.c): states may not send a
 * federal decision; an international review request goes to the federal procuraduría.
 */
static void
route_for(int type, const char **from, const char **to, const char **to2)
{
	*from = TLA;
	*to = NLE;
	*to2 = NULL;
	if (type == PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FEDERAL_DECISION) {
		*from = FED;
		*to = TAB;
	} else if (type == PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_INTL_ADOPTION_REVIEW_REQUEST) {
		*from = TAB;
		*to = FED;
		*to2 = NLE;
	}
}

static const char *const type_names[] = {
	NULL, "referral", "case_transfer", "information_request", "information_response",
	"home_study_request", "home_study_result", "protection_measure_notice",
	"restitution_plan", "placement_notice", "follow_up_report", "periodic_review",
	"documents", "case_closure", "adoption_suitability_certificate",
	"adoption_assignment_proposal", "adoption_acceptance", "adoption_judgment_notice",
	"intl_adoption_review_request", "federal_decision",
};

static void
fetch_and_check(const char *who, const char *msg_id, const char *dir_name, const char *att,
    const char *media_ext)
{
	char out_dir[1200], path[1300], val[64];
	struct puente_run r;
	struct stat sb;

	out_path(out_dir, sizeof(out_dir), dir_name);
	assert_int_equal(PUENTE(&r, who, "fetch", msg_id, "--out", out_dir, "--staff",
	    "TS-0042", "--purpose", "case-assessment", "--json"), 0);
	json_field(r.out, "outcome", val, sizeof(val));
	assert_string_equal(val, "opened");
	json_field(r.out, "receipt_sent", val, sizeof(val));
	assert_string_equal(val, "true");
	snprintf(path, sizeof(path), "%s/case.json", out_dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	if (att != NULL) {
		snprintf(path, sizeof(path), "%s/attachment-01.%s", out_dir, media_ext);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		assert_true(files_equal(path, att));
	}
}

/*
 * The recipient rotates its keys while a message sealed to its old encryption key waits
 * for it (THREATS.md group 17): it still fetches and opens it (the old key stays in its
 * folder through the overlap), and its receipt, signed with its new signing key, is taken.
 * What is sent after the rotation opens too.
 */
static void
recipient_keys_rotated_while_a_message_waits(void **state)
{
	char before[33], after[33], cid[32], path[1200];
	struct puente_run r;

	(void)state;
	next_case(cid);
	case_file(path, sizeof(path), "case_transfer", cid);
	assert_int_equal(send_json(&r, TLA, before, (const char *const[]){ "--to", NLE, path,
	    NULL }), 0);
	assert_int_equal(harness_keys(&H, "rotate --id " NLE), 0);
	harness_publish(&H);
	fetch_and_check(NLE, before, "rotated-before", NULL, NULL);
	next_case(cid);
	case_file(path, sizeof(path), "case_transfer", cid);
	assert_int_equal(send_json(&r, TLA, after, (const char *const[]){ "--to", NLE, path,
	    NULL }), 0);
	fetch_and_check(NLE, after, "rotated-after", NULL, NULL);
}

/*
 * An attachment's original name is the sender's to choose, and may carry a child's name or
 * a path (THREATS.md group 14): the recipient writes attachment-01.pdf in its --out folder
 * and nothing anywhere else, and the name travels only inside case.json.
 */
static void
attachment_name_never_a_file_name(void **state)
{
	static const char hostile[] = "../../fuera-NINA-DE-PRUEBA.pdf";
	char att[1200], msg[33], cid[32], path[1200], out_dir[1200], text[1024], got[1300];
	struct puente_run r;
	struct stat sb;

	(void)state;
	next_case(cid);
	snprintf(path, sizeof(path), "%s/case-%s.json", H.work, cid);
	snprintf(text, sizeof(text), "{\"type\": \"case_transfer\", \"case_id\": \"%s\", "
	    "\"summary\": \"NIÑA DE PRUEBA (ficticia)\", \"case_transfer\": {}, "
	    "\"attachments\": [{\"name\": \"%s\", \"media_type\": \"application/pdf\"}]}\n",
	    cid, hostile);
	write_file(path, text);
	out_path(att, sizeof(att), "anexo.pdf");
	pattern_file(att, 5000, 9);
	assert_int_equal(send_json(&r, TLA, msg, (const char *const[]){ "--to", NLE, path, att,
	    NULL }), 0);
	out_path(out_dir, sizeof(out_dir), "names-in");
	assert_int_equal(PUENTE(&r, NLE, "fetch", msg, "--out", out_dir), 0);
	snprintf(got, sizeof(got), "%s/attachment-01.pdf", out_dir);
	assert_true(files_equal(got, att));
	/* where the name points, from the folder: nothing */
	snprintf(got, sizeof(got), "%s/%s", out_dir, hostile);
	assert_int_equal(stat(got, &sb), -1);
	snprintf(got, sizeof(got), "%s/case.json", out_dir);
	harness_slurp(got, text, sizeof(text));
	assert_non_null(strstr(text, "fuera-NINA-DE-PRUEBA.pdf"));
	assert_null(strstr(r.out, "NINA"));
	assert_null(strstr(r.err, "NINA"));
}

/* Each of the 19 types: sent with an attachment, fetched, opened, receipted both ways. */
static void
every_type_round_trip(void **state)
{
	char att[1200], msg[33], cid[32], path[1200], dir_name[64], val[64];
	struct puente_run r;

	(void)state;
	out_path(att, sizeof(att), "informe.pdf");
	pattern_file(att, 70000, 3);
	for (int t = 1; t <= 19; t++) {
		const char *from, *to, *to2;
		route_for(t, &from, &to, &to2);
		next_case(cid);
		case_file(path, sizeof(path), type_names[t], cid);
		if (to2 != NULL)
			assert_int_equal(send_json(&r, from, msg, (const char *const[]){ "--to", to,
			    "--to", to2, path, att, NULL }), 0);
		else
			assert_int_equal(send_json(&r, from, msg, (const char *const[]){ "--to", to,
			    "--type", type_names[t], "--case", cid, path, att, NULL }), 0);
		json_field(r.out, "state", val, sizeof(val));
		assert_string_equal(val, "accepted");
		assert_int_equal(inbox_count(to, msg), 1);
		if (to2 != NULL)	/* held for federal review: not yet for the other state */
			assert_int_equal(inbox_count(to2, msg), 0);
		snprintf(dir_name, sizeof(dir_name), "in-%d-a", t);
		fetch_and_check(to, msg, dir_name, att, "pdf");
		if (to2 != NULL) {
			snprintf(dir_name, sizeof(dir_name), "in-%d-b", t);
			fetch_and_check(to2, msg, dir_name, att, "pdf");
		}
		assert_int_equal(PUENTE(&r, from, "receipts", msg, "--json"), 0);
		json_field(r.out, "outcome", val, sizeof(val));
		assert_string_equal(val, "opened");
	}
	assert_int_equal(outbox_files(TLA), 0);
}

/* A reply goes to the sender, same case, in_reply_to set; both sides see the receipts. */
static void
reply_round_trip(void **state)
{
	char msg[33], reply[33], cid[32], path[1200], out_dir[1200], val[64];
	struct puente_run r;

	(void)state;
	next_case(cid);
	case_file(path, sizeof(path), "case_transfer", cid);
	assert_int_equal(send_json(&r, TLA, msg, (const char *const[]){ "--to", NLE, path, NULL }), 0);
	fetch_and_check(NLE, msg, "reply-in", NULL, NULL);
	case_file(path, sizeof(path), "follow_up_report", cid);
	assert_int_equal(PUENTE(&r, NLE, "reply", msg, path, "--json"), 0);
	json_field(r.out, "msg_id", reply, sizeof(reply));
	json_field(r.out, "in_reply_to", val, sizeof(val));
	assert_string_equal(val, msg);
	out_path(out_dir, sizeof(out_dir), "reply-back");
	assert_int_equal(PUENTE(&r, TLA, "fetch", reply, "--out", out_dir), 0);
	assert_int_equal(PUENTE(&r, TLA, "status", reply, "--json"), 0);
	json_field(r.out, "in_reply_to", val, sizeof(val));
	assert_string_equal(val, msg);
	assert_int_equal(PUENTE(&r, NLE, "receipts", reply, "--json"), 0);
	json_field(r.out, "recipient", val, sizeof(val));
	assert_string_equal(val, TLA);
	/* The same message fetched again: refused, nothing overwritten (73). */
	assert_int_equal(PUENTE(&r, TLA, "fetch", reply, "--out", out_dir), 73);
	assert_non_null(strstr(r.err, "already fetched"));
	/* A reply to a message never received is refused before anything is stored. */
	assert_int_equal(PUENTE(&r, TAB, "reply", msg, path), 66);
	assert_int_equal(outbox_files(TAB), 0);
}

/* ---- the role policy ------------------------------------------------------------------- */

static void
policy_refusals(void **state)
{
	char msg[33], cid[32], path[1200], val[64];
	struct puente_run r;

	(void)state;
	/* A state may not send a federal decision: refused before anything is stored. */
	next_case(cid);
	case_file(path, sizeof(path), "federal_decision", cid);
	assert_int_equal(PUENTE(&r, TLA, "send", "--to", NLE, path), 65);
	assert_non_null(strstr(r.err, "puente: cannot send: MX-TLA-PPNNA may not send federal_decision"));
	assert_int_equal(outbox_files(TLA), 0);
	/* An international review without the federal procuraduría: the gateway refuses it. */
	next_case(cid);
	case_file(path, sizeof(path), "intl_adoption_review_request", cid);
	assert_int_equal(send_json(&r, TLA, msg, (const char *const[]){ "--to", NLE, path, NULL }),
	    65);
	json_field(r.out, "state", val, sizeof(val));
	assert_string_equal(val, "refused");
	json_field(r.out, "error", val, sizeof(val));
	assert_string_equal(val, "PU_ERR_POLICY");
	assert_int_equal(outbox_files(TLA), 0);
	assert_int_equal(inbox_count(NLE, msg), 0);
	/* An unknown recipient. */
	assert_int_equal(PUENTE(&r, TLA, "send", "--to", "MX-ZAC-PPNNA", path), 65);
	assert_non_null(strstr(r.err, "not in the directory"));
}

/* ---- the outbox ------------------------------------------------------------------------ */

/* Gateway down: stored (75); up again: flush drains it; a resubmission is no duplicate. */
static void
gateway_down_then_up(void **state)
{
	char msg1[33], msg2[33], cid[32], path[1200], dir[1300], file[1400], keep[1400], val[64],
	    sql[256], idx_before[32], cmd[3000];
	struct puente_run r;
	size_t before = (size_t)db_count(TLA, "SELECT COUNT(*) FROM sent");

	(void)state;
	assert_int_equal(harness_stop(&H), 0);
	next_case(cid);
	case_file(path, sizeof(path), "referral", cid);
	assert_int_equal(send_json(&r, TLA, msg1, (const char *const[]){ "--to", NLE, path, NULL }), 75);
	assert_non_null(strstr(r.err, "waits in the outbox"));
	json_field(r.out, "state", val, sizeof(val));
	assert_string_equal(val, "queued");
	assert_int_equal(send_json(&r, TLA, msg2, (const char *const[]){ "--to", NLE, path, NULL }), 75);
	assert_int_equal(outbox_files(TLA), 2);
	assert_int_equal(PUENTE(&r, TLA, "flush"), 75);
	/* The sealed file is named by the msg id only. */
	agency_dir(TLA, dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/outbox/%s.msg", dir, msg1);
	snprintf(keep, sizeof(keep), "%s/kept.msg", H.work);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", file, keep);
	assert_int_equal(system(cmd), 0);

	harness_start(&H);
	assert_int_equal(PUENTE(&r, TLA, "flush", "--json"), 0);
	assert_non_null(strstr(r.out, msg1));
	assert_non_null(strstr(r.out, msg2));
	assert_null(strstr(r.out, "\"queued\""));
	assert_int_equal(outbox_files(TLA), 0);
	assert_int_equal(db_count(TLA, "SELECT COUNT(*) FROM sent WHERE state = 1"), 0);
	assert_int_equal(db_count(TLA, "SELECT COUNT(*) FROM sent"), (long long)before + 2);
	assert_int_equal(inbox_count(NLE, msg1), 1);
	assert_int_equal(inbox_count(NLE, msg2), 1);

	/* The receipt was lost (as if the gateway died after storing): same msg id again. */
	assert_int_equal(PUENTE(&r, TLA, "status", msg1, "--json"), 0);
	json_field(r.out, "audit_index", idx_before, sizeof(idx_before));
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", keep, file);
	assert_int_equal(system(cmd), 0);
	snprintf(sql, sizeof(sql), "UPDATE sent SET state = 1 WHERE hex(msg_id) = upper('%s')", msg1);
	db_count(TLA, sql);
	assert_int_equal(PUENTE(&r, TLA, "flush", "--json"), 0);
	json_field(r.out, "audit_index", val, sizeof(val));
	assert_string_equal(val, idx_before);	/* the original receipt */
	assert_int_equal(inbox_count(NLE, msg1), 1);
	fetch_and_check(NLE, msg1, "after-flush", NULL, NULL);
	assert_int_equal(inbox_count(NLE, msg1), 0);
	fetch_and_check(NLE, msg2, "after-flush-2", NULL, NULL);
}

/* ---- refused case files ---------------------------------------------------------------- */

static const struct {
	const char *json;
	const char *path;	/* what stderr must name */
} bad_cases[] = {
	/* missing fields */
	{ "{\"case_id\": \"MX-2026-7F3K9Q\", \"referral\": {}}", "$.type: missing" },
	{ "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\"}", "$.referral: missing" },
	/* wrong types */
	{ "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\", \"referral\": {\"expediente\":"
	  " {\"child\": {\"sex\": 2}}}}", "$.referral.expediente.child.sex: expected" },
	{ "{\"type\": \"case_transfer\", \"case_id\": \"MX-2026-7F3K9Q\", \"case_transfer\":"
	  " {\"expediente\": {\"restitution_plan\": {\"version\": \"2\"}}}}",
	  "$.case_transfer.expediente.restitution_plan.version: expected an integer" },
	/* CURP */
	{ "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\", \"referral\": {\"expediente\":"
	  " {\"child\": {\"curp\": \"PUEA150614MTLRJNA4\"}}}}", "$.referral.expediente.child.curp: "
	  "not a valid CURP" },
	/* dates */
	{ "{\"type\": \"case_transfer\", \"case_id\": \"MX-2026-7F3K9Q\", \"case_transfer\":"
	  " {\"effective_date\": \"2023-02-29\"}}", "$.case_transfer.effective_date: not a real" },
	{ "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\", \"referral\": {\"expediente\":"
	  " {\"child\": {\"birth_date\": \"2999-01-01\"}}}}", "child.birth_date: in the future" },
	/* unknown fields */
	{ "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\", \"sumary\": \"x\", \"referral\":"
	  " {}}", "$.sumary: unknown key" },
	/* a payload that is not the type's */
	{ "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\", \"case_closure\": {}}",
	  "$.case_closure: does not match" },
	/* invalid UTF-8 */
	{ "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\", \"summary\": \"\xc3\x28\","
	  " \"referral\": {}}", "$.summary: invalid UTF-8" },
	/* not JSON at all */
	{ "{\"type\": \"referral\",", "$: " },
	/* size and hash of an attachment come from the file, never the input */
	{ "{\"type\": \"documents\", \"case_id\": \"MX-2026-7F3K9Q\", \"attachments\": [{\"name\":"
	  " \"a.pdf\", \"size\": 3}], \"documents\": {}}", "$.attachments[0].size: not allowed" },
};

static void
refused_case_files(void **state)
{
	char path[1200], big[20000 + 200];
	long long sent_before = db_count(TLA, "SELECT COUNT(*) FROM sent");
	struct puente_run r;

	(void)state;
	out_path(path, sizeof(path), "bad.json");
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		write_file(path, bad_cases[i].json);
		assert_int_equal(PUENTE(&r, TLA, "send", "--to", NLE, path), 65);
		if (strstr(r.err, bad_cases[i].path) == NULL)
			fail_msg("case %zu: stderr lacks \"%s\": %s", i, bad_cases[i].path, r.err);
		assert_non_null(strstr(r.err, "puente: cannot send: "));
		assert_int_equal(strchr(r.err, '\n') - r.err + 1, (long)strlen(r.err));	/* one line */
	}
	/* An oversized string: 16385 bytes where 16384 is the most. */
	snprintf(big, sizeof(big), "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\", "
	    "\"referral\": {\"reason\": \"%0*d\"}}", 16385, 0);
	write_file(path, big);
	assert_int_equal(PUENTE(&r, TLA, "send", "--to", NLE, path), 65);
	assert_non_null(strstr(r.err, "$.referral.reason: longer than 16384 bytes"));
	/* Nothing of any of them reached the outbox. */
	assert_int_equal(outbox_files(TLA), 0);
	assert_int_equal(db_count(TLA, "SELECT COUNT(*) FROM sent"), sent_before);
	/* No value from the file ever reaches the error line (no CURP, no name). */
	write_file(path, "{\"type\": \"referral\", \"case_id\": \"MX-2026-7F3K9Q\", \"referral\":"
	    " {\"expediente\": {\"child\": {\"given_names\": \"NIÑA DE PRUEBA\", \"curp\":"
	    " \"PUEA150614MTLRJNA4\"}}}}");
	assert_int_equal(PUENTE(&r, TLA, "send", "--to", NLE, path), 65);
	assert_null(strstr(r.err, "PUEA150614MTLRJNA4"));
	assert_null(strstr(r.err, "PRUEBA"));
}

/* ---- tampering ------------------------------------------------------------------------- */

/* A ciphertext byte flipped in the gateway's spool: refused, nothing written, receipt says so. */
static void
tampered_at_gateway(void **state)
{
	char msg[33], cid[32], path[1200], att[1200], spool[1400], out_dir[1200], val[64];
	struct puente_run r;
	FILE *f;
	int ch;

	(void)state;
	next_case(cid);
	case_file(path, sizeof(path), "documents", cid);
	out_path(att, sizeof(att), "scan.png");
	pattern_file(att, 3u * 1024 * 1024, 9);	/* several chunks: a spool file */
	assert_int_equal(send_json(&r, TLA, msg, (const char *const[]){ "--to", NLE, path, att,
	    NULL }), 0);
	snprintf(spool, sizeof(spool), "%s/data/spool/%s.msg", H.work, msg);
	assert_non_null(f = fopen(spool, "r+b"));
	fseek(f, (long)(1024 * 1024 + 17) + 4242, SEEK_SET);	/* inside chunk 1 */
	ch = fgetc(f);
	fseek(f, -1, SEEK_CUR);
	fputc(ch ^ 0x20, f);
	fclose(f);
	out_path(out_dir, sizeof(out_dir), "tampered-spool");
	assert_int_equal(PUENTE(&r, NLE, "fetch", msg, "--out", out_dir), 65);
	assert_non_null(strstr(r.err, "refused message"));
	assert_non_null(strstr(r.err, "nothing was written"));
	assert_non_null(strstr(r.err, "cannot-decrypt"));
	assert_int_equal(access(out_dir, F_OK), -1);	/* not even the folder */
	/* The sender sees the negative receipt; the message is not delivered again. */
	assert_int_equal(PUENTE(&r, TLA, "receipts", msg, "--json"), 0);
	json_field(r.out, "outcome", val, sizeof(val));
	assert_string_equal(val, "cannot-decrypt");
	assert_int_equal(inbox_count(NLE, msg), 0);
}

static void
flip_commitment(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man;
	(void)arg;
	core->key_commitment.data[0] ^= 1;
}

/* A sender that commits to another key (THREATS: two recipients, two plaintexts). */
static void
tampered_by_sender(void **state)
{
	static const char *const to_nle[] = { NLE };
	char msg[33], out_dir[1200], val[64];
	struct fx_msg m;
	struct tc tab;
	struct puente_run r;

	(void)state;
	assert_int_equal(tc_connect(&tab, H.port, &H.tab), PU_OK);
	assert_int_equal(tc_seal(&H.tab, &m, to_nle, 1,
	    PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER, 5000, NULL), PU_OK);
	tc_resign(&m, &H.tab, flip_commitment, NULL);
	assert_int_equal(tc_submit(&tab, &m, NULL, NULL, NULL, 0), PU_OK);
	sodium_bin2hex(msg, sizeof(msg), m.sealed.msg_id, 16);
	out_path(out_dir, sizeof(out_dir), "tampered-sender");
	assert_int_equal(PUENTE(&r, NLE, "fetch", msg, "--out", out_dir), 65);
	assert_non_null(strstr(r.err, "commitment"));
	assert_int_equal(access(out_dir, F_OK), -1);
	assert_int_equal(PUENTE(&r, NLE, "status", msg, "--json"), 0);
	json_field(r.out, "outcome", val, sizeof(val));
	assert_string_equal(val, "commitment-mismatch");
	json_field(r.out, "receipt_sent", val, sizeof(val));
	assert_string_equal(val, "true");
	assert_int_equal(inbox_count(NLE, msg), 0);
	fx_msg_free(&m);
	tc_close(&tab);
}

/* ---- the command line ------------------------------------------------------------------ */

static void
command_line(void **state)
{
	static const char *const cmds[] = { "send", "reply", "flush", "inbox", "fetch",
		"receipts", "status" };
	char cid[32], path[1200], att[1200];
	struct puente_run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		assert_int_equal(PUENTE(&r, TLA, cmds[i], "--help"), 0);
		assert_non_null(strstr(r.out, "usage: puente"));
	}
	assert_int_equal(PUENTE(&r, TLA, "--help"), 0);
	assert_int_equal(PUENTE(&r, TLA, "frobnicate"), 64);
	assert_non_null(strstr(r.err, "usage:"));
	assert_int_equal(PUENTE(&r, TLA, "send", "--bogus", "x", "case.json"), 64);
	assert_non_null(strstr(r.err, "usage: puente"));
	assert_int_equal(PUENTE(&r, TLA, "fetch", "00"), 64);
	assert_int_equal(PUENTE(&r, TLA, "status", "zz"), 64);
	assert_int_equal(PUENTE(&r, TLA, "status", "00112233445566778899aabbccddeeff"), 66);
	assert_int_equal(PUENTE(&r, TLA, "send", "--to", NLE, "/nonexistent/case.json"), 66);
	/* Piped output gets no progress bar, even for a transfer that would have one. */
	next_case(cid);
	case_file(path, sizeof(path), "documents", cid);
	out_path(att, sizeof(att), "big.pdf");
	pattern_file(att, 12u * 1024 * 1024, 1);
	assert_int_equal(PUENTE(&r, TLA, "send", "--to", NLE, path, att), 0);
	assert_string_equal(r.err, "");
	assert_int_equal(PUENTE(&r, NLE, "inbox"), 0);
	assert_non_null(strstr(r.out, "documents"));
}

/* ---- 1 GiB ----------------------------------------------------------------------------- */

/*
 * Under the sanitizers the point is the streaming path's memory safety, not its scale:
 * a quarter of the size keeps `make test` bounded in time; shadow memory and the allocator
 * then get more room, still far below the attachment.
 */
#ifdef PUENTE_TEST_SANITIZED
#define LARGE_SIZE (GIB / 4)
#define LARGE_RSS_BOUND_KIB (160L * 1024)
#else
#define LARGE_SIZE GIB
#define LARGE_RSS_BOUND_KIB (64L * 1024)
#endif

/* A 1 GiB attachment sent and fetched; the client's memory stays far below its size. */
static void
one_gib_attachment(void **state)
{
	char msg[33], cid[32], path[1200], att[1200], out_dir[1200], got[1300];
	const long bound_kib = LARGE_RSS_BOUND_KIB;
	struct puente_run r;

	(void)state;
	next_case(cid);
	case_file(path, sizeof(path), "documents", cid);
	out_path(att, sizeof(att), "expediente-completo.pdf");
	pattern_file(att, LARGE_SIZE, 5);
	assert_int_equal(send_json(&r, TLA, msg, (const char *const[]){ "--to", NLE, path, att,
	    NULL }), 0);
	fprintf(stderr, "%llu MiB send: %.1f s, client max RSS %ld MiB\n",
	    (unsigned long long)(LARGE_SIZE >> 20), r.secs, r.maxrss_kib / 1024);
	assert_true(r.maxrss_kib < bound_kib);
	assert_int_equal(outbox_files(TLA), 0);	/* accepted: the sealed copy is gone */
	out_path(out_dir, sizeof(out_dir), "gib");
	assert_int_equal(PUENTE(&r, NLE, "fetch", msg, "--out", out_dir), 0);
	fprintf(stderr, "%llu MiB fetch: %.1f s, client max RSS %ld MiB\n",
	    (unsigned long long)(LARGE_SIZE >> 20), r.secs, r.maxrss_kib / 1024);
	assert_true(r.maxrss_kib < bound_kib);
	snprintf(got, sizeof(got), "%s/attachment-01.pdf", out_dir);
	assert_true(files_equal(got, att));
	unlink(got);
	unlink(att);
}

/* 1 when the list holds msg_id (32 hex digits). */
static int
inbox_has(const struct puente_inbox_entry *e, size_t n, const char *msg_id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].msg_id, msg_id) == 0)
			return 1;
	return 0;
}

/*
 * libpuente-client held open by a program, as a caseworkers' application would: the
 * gateway tells the open session of each new message at once, and a later puente_inbox on
 * the same handle still gets the whole inbox, never that notice in its place.
 */
static void
library_inbox_on_a_session_told_of_new_messages(void **state)
{
	static const char *const to_nle[] = { NLE };
	struct puente_client *c = NULL;
	struct puente_inbox_entry *e = NULL;
	struct fx_msg m[2];
	struct tc tab;
	char id[2][33];
	size_t n0, n;

	(void)state;
	assert_int_equal(puente_open(&c, H.nle.dir, NULL), 0);
	assert_int_equal(puente_inbox(c, &e, &n0), 0);
	puente_free(e);
	assert_int_equal(tc_connect(&tab, H.port, &H.tab), PU_OK);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(tc_seal(&H.tab, &m[i], to_nle, 1,
		    PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER, 2000, NULL), PU_OK);
		assert_int_equal(tc_submit(&tab, &m[i], NULL, NULL, NULL, 0), PU_OK);
		sodium_bin2hex(id[i], sizeof(id[i]), m[i].sealed.msg_id, 16);
	}
	tc_close(&tab);
	sleep_ms(200);	/* the notices are in the client's socket, unread */
	assert_int_equal(puente_inbox(c, &e, &n), 0);
	print_message("    inbox: %zu entries before, %zu after two messages\n", n0, n);
	assert_int_equal(n, n0 + 2);
	assert_true(inbox_has(e, n, id[0]));
	assert_true(inbox_has(e, n, id[1]));
	puente_free(e);
	puente_close(c);
	for (int i = 0; i < 2; i++)
		fx_msg_free(&m[i]);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(command_line),
		cmocka_unit_test(every_type_round_trip),
		cmocka_unit_test(reply_round_trip),
		cmocka_unit_test(policy_refusals),
		cmocka_unit_test(refused_case_files),
		cmocka_unit_test(tampered_at_gateway),
		cmocka_unit_test(tampered_by_sender),
		cmocka_unit_test(gateway_down_then_up),
		cmocka_unit_test(library_inbox_on_a_session_told_of_new_messages),
		cmocka_unit_test(recipient_keys_rotated_while_a_message_waits),
		cmocka_unit_test(attachment_name_never_a_file_name),
	};
	const struct CMUnitTest large[] = {
		cmocka_unit_test(one_gib_attachment),
	};

	if (argc < 5) {
		fprintf(stderr, "usage: %s PUENTE-KEYS PUENTE-GATEWAY WORKDIR PUENTE [large]\n", argv[0]);
		return 2;
	}
	g_argc = argc;
	g_argv = argv;
	if (argc > 5 && strcmp(argv[5], "large") == 0)
		return cmocka_run_group_tests(large, setup, teardown);
	return cmocka_run_group_tests(tests, setup, teardown);
}
