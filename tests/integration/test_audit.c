/*
 * test_audit.c - the audit log through the real gateway (DESIGN.md §8, THREATS.md groups
 * 10 and 11): receipts and ACKs prove their leaf in a signed checkpoint; an auditor replays
 * the whole log and traces a case with proofs; anyone else is refused; and edits of the
 * real SQLite file (a changed field, a deleted or inserted row, a truncated tail) are
 * detected, each with a message naming what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "audit_verify.h"
#include "fsutil.h"
#include "keyfile.h"
#include "buf.h"
#include "frames.pb-c.h"
#include "gateway_harness.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

static struct harness H;
static const char *g_puente;		/* the puente command (argv[4]) */
static int g_argc;
static char **g_argv;
static char g_case[] = "MX-2026-7F3K9Q";	/* tc_seal's default case id */
#define GW_ORIGIN "puente/" GW			/* the log's name, as puente-keys writes it */
static char g_trusted[NOTE_MAX_LEN + 1];	/* the checkpoint an earlier replay verified */

#define assert_rc(got, want) assert_string_equal(pu_err_name(got), pu_err_name(want))
#define T_TRANSFER PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER

/* A leaf proved in a checkpoint signed by the gateway's checkpoint key. */
static Puente__AuditEntry *
assert_proved(const char *checkpoint, uint64_t index, const ProtobufCBinaryData *entry,
    ProtobufCBinaryData *proof, size_t n_proof)
{
	uint8_t flat[MERKLE_MAX_PROOF * 32], hash[32];
	struct averify_log log = { 0 };
	struct note n;
	ProtobufCMessage *m;
	int found;

	harness_gateway_log(&H, &log);
	assert_rc(note_parse((const uint8_t *)checkpoint, strlen(checkpoint), &n), PU_OK);
	assert_rc(note_verify(&n, log.origin, log.public_key, &found), PU_OK);
	assert_true(n_proof <= MERKLE_MAX_PROOF);
	for (size_t i = 0; i < n_proof; i++) {
		assert_int_equal(proof[i].len, 32);
		memcpy(flat + 32 * i, proof[i].data, 32);
	}
	merkle_leaf_hash(hash, entry->data, entry->len);
	assert_rc(merkle_verify_inclusion(hash, index, n.tree_size, flat, n_proof, n.root), PU_OK);
	/* One more hash, or a flipped one, and the same proof fails. */
	if (n_proof > 0) {
		flat[0] ^= 1;
		assert_rc(merkle_verify_inclusion(hash, index, n.tree_size, flat, n_proof, n.root),
		    PU_ERR_PROOF_ROOT);
	}
	assert_rc(pb_decode(&puente__audit_entry__descriptor, entry->data, entry->len,
	    &pb_limits_wire, 1 << 20, &m), PU_OK);
	return (Puente__AuditEntry *)m;
}

static int
send_query(struct tc *c, const Puente__AuditQuery *q, Puente__AuditAnswer **out, char *err,
    size_t n)
{
	ProtobufCMessage *m = NULL;
	int rc;

	if ((rc = tc_send(c, PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_QUERY, &q->base)) != PU_OK)
		return rc;
	rc = tc_expect(c, PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER, &m, err, n);
	*out = (Puente__AuditAnswer *)m;
	return rc;
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
	if (harness_alive(&H))
		assert_int_equal(harness_stop(&H), 0);
	harness_free(&H);
	return 0;
}

/* A case goes from Tlaxcala to Nuevo León: every answer proves its own leaf. */
static void
receipts_and_acks_prove_their_leaf(void **state)
{
	static const char *const to_nle[] = { NLE };
	Puente__GatewayReceipt *g;
	Puente__AuditEntry *e;
	ProtobufCMessage *m;
	struct fx_msg msg;
	struct tc tla, nle;
	uint8_t *receipt, mac[32];
	size_t receipt_len;
	char err[256];

	(void)state;
	assert_rc(tc_connect(&tla, H.port, &H.tla), PU_OK);
	assert_rc(tc_connect(&nle, H.port, &H.nle), PU_OK);
	for (int i = 0; i < 3; i++) {
		assert_rc(tc_seal(&H.tla, &msg, to_nle, 1, T_TRANSFER, 100 + i * 2000000, NULL),
		    PU_OK);
		assert_rc(tc_submit(&tla, &msg, &receipt, &receipt_len, err, sizeof(err)), PU_OK);
		assert_rc(pb_decode(&puente__gateway_receipt__descriptor, receipt, receipt_len,
		    &pb_limits_wire, 1u << 20, &m), PU_OK);
		g = (Puente__GatewayReceipt *)m;
		assert_rc(harness_receipt_check(&H, &msg, receipt, receipt_len, NULL), PU_OK);
		e = assert_proved(g->checkpoint, g->audit_index, &g->audit_entry, g->inclusion_proof,
		    g->n_inclusion_proof);
		/* The leaf the receipt proves records this message's storing. */
		assert_int_equal(e->event, PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE);
		assert_memory_equal(e->msg_id.data, msg.sealed.msg_id, 16);
		assert_memory_equal(e->header_hash.data, msg.sealed.header_hash, 32);
		assert_string_equal(e->case_id, g_case);
		assert_string_equal(e->agency_id, TLA);
		pb_free(e);
		pb_free(g);
		free(receipt);
		assert_rc(tc_fetch_open_receipt(&nle, &H.nle, msg.sealed.msg_id, mac, err,
		    sizeof(err)), PU_OK);
		fx_msg_free(&msg);
	}
	tc_close(&tla);
	tc_close(&nle);
}

/* The auditor replays every leaf, checks every batch's checkpoint, and keeps the newest. */
static void
auditor_replays_the_whole_log(void **state)
{
	struct averify v;
	char why[AVERIFY_PROBLEM_MAX] = "";

	(void)state;
	assert_rc(harness_audit_replay(&H, NULL, why, sizeof(why), &v), PU_OK);
	assert_true(v.tree.size > 10);
	assert_true(v.checkpoints > 3);
	assert_int_equal(v.events[PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE], 3);
	assert_int_equal(v.events[PUENTE__AUDIT_EVENT__AUDIT_EVENT_FETCH], 3);
	assert_int_equal(v.events[PUENTE__AUDIT_EVENT__AUDIT_EVENT_RECIPIENT_RECEIPT], 3);
	assert_true(v.events[PUENTE__AUDIT_EVENT__AUDIT_EVENT_AUDIT_QUERY] >= 1);
	assert_rc(averify_note_string(&v.newest, g_trusted, sizeof(g_trusted)), PU_OK);
	averify_free(&v);
	/* Trusting that checkpoint, a second replay proves the log only grew since. */
	assert_rc(harness_audit_replay(&H, g_trusted, why, sizeof(why), NULL), PU_OK);
}

/* A case's trail with proofs: each entry in the checkpoint, the chain unbroken. */
static void
auditor_traces_a_case_with_proofs(void **state)
{
	Puente__AuditQuery q = PUENTE__AUDIT_QUERY__INIT;
	Puente__AuditAnswer *a = NULL;
	Puente__AuditRecord *removed;
	struct averify_log log = { 0 };
	struct averify v;
	struct tc aud;
	char err[256];

	(void)state;
	harness_gateway_log(&H, &log);
	assert_rc(averify_init(&v, &log, g_trusted), PU_OK);
	assert_rc(tc_connect(&aud, H.port, &H.aud), PU_OK);
	q.case_id = g_case;
	q.limit = 1000;
	q.proofs = 1;
	q.purpose = "case-review";
	q.known_size = v.trusted.tree_size;
	assert_rc(send_query(&aud, &q, &a, err, sizeof(err)), PU_OK);
	assert_rc(averify_answer(&v, a, g_case), PU_OK);
	/* 3 x (store, fetch, receipt) + this query, which joined the case's chain */
	assert_int_equal(a->n_records, 10);
	assert_int_equal(v.events[PUENTE__AUDIT_EVENT__AUDIT_EVENT_AUDIT_QUERY], 1);
	/* An answer that leaves out an entry in the middle breaks the chain. */
	averify_free(&v);
	assert_rc(averify_init(&v, &log, g_trusted), PU_OK);
	removed = a->records[4];
	memmove(&a->records[4], &a->records[5], (a->n_records - 5) * sizeof(a->records[0]));
	a->n_records--;
	assert_rc(averify_answer(&v, a, g_case), PU_ERR_AUDIT_CHAIN);
	assert_non_null(strstr(v.problem, "chain is broken"));
	a->records[a->n_records++] = removed;	/* pb_free frees it with the rest */
	averify_free(&v);
	pb_free(a);
	tc_close(&aud);
}

/* A state agency asks the log: refused, and the attempt itself is recorded. */
static void
only_auditors_query_the_log(void **state)
{
	Puente__AuditQuery q = PUENTE__AUDIT_QUERY__INIT;
	Puente__AuditAnswer *a = NULL;
	struct averify v;
	struct tc tla;
	char name[64], why[AVERIFY_PROBLEM_MAX];
	uint64_t before;

	(void)state;
	assert_rc(harness_audit_replay(&H, g_trusted, why, sizeof(why), &v), PU_OK);
	before = v.events[PUENTE__AUDIT_EVENT__AUDIT_EVENT_AUDIT_QUERY];
	averify_free(&v);
	assert_rc(tc_connect(&tla, H.port, &H.tla), PU_OK);
	q.limit = 10;
	q.purpose = "curiosity";
	assert_rc(send_query(&tla, &q, &a, name, sizeof(name)), PU_ERR_AUDIT_ROLE);
	assert_null(a);
	tc_close(&tla);
	/* the refusal, and the replay's own queries (one per page) */
	assert_rc(harness_audit_replay(&H, g_trusted, why, sizeof(why), &v), PU_OK);
	assert_true(v.events[PUENTE__AUDIT_EVENT__AUDIT_EVENT_AUDIT_QUERY] > before + 1);
	averify_free(&v);
	/* A malformed query (two filters) is refused too. */
	assert_rc(tc_connect(&tla, H.port, &H.aud), PU_OK);
	q.case_id = g_case;
	q.agency_id = TLA;
	assert_rc(send_query(&tla, &q, &a, name, sizeof(name)), PU_ERR_AUDIT_QUERY);
	tc_close(&tla);
}

/* ---- the auditor's command ------------------------------------------------------------ */

/* Run `puente --agency DIR ARGS`; exit status, stdout and stderr in files. */
static int
puente_as(const struct tc_agency *a, const char *args)
{
	char cmd[8192];
	int status;

	/* in the work folder, where the files the commands name go */
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' --agency '%s' %s >out.txt 2>err.txt",
	    H.work, g_puente, a->dir, args);
	status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
puente_audit(const char *args)
{
	char full[2048];

	snprintf(full, sizeof(full), "audit %s", args);
	return puente_as(&H.aud, full);
}

/* 1 when the file of the last run (out.txt, err.txt) holds text. */
static int
said(const char *file, const char *text)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "grep -q -- '%s' '%s/%s'", text, H.work, file);
	return system(cmd) == 0;
}

/* Flip the low bit of one byte (at < 0: the middle one, inside some entry or note). */
static void
flip_byte(const char *path, long at)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	if (at < 0) {
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		at = ftell(f) / 2;
	}
	assert_int_equal(fseek(f, at, SEEK_SET), 0);
	assert_true((c = fgetc(f)) != EOF);
	assert_int_equal(fseek(f, at, SEEK_SET), 0);
	assert_int_equal(fputc(c ^ 0x01, f), c ^ 0x01);
	assert_int_equal(fclose(f), 0);
}

static void
puente_audit_verifies_exports_and_traces(void **state)
{
	char cmd[8192];

	(void)state;
	assert_int_equal(puente_audit("verify"), 0);
	assert_true(said("out.txt", "audit log verified"));
	assert_true(said("out.txt", "is now trusted (first run)"));
	/* The next run insists on the state it kept, and an export replays offline. */
	assert_int_equal(puente_audit("export export.bin --purpose annual-review"), 0);
	assert_true(said("out.txt", "extends the one trusted before"));
	assert_int_equal(puente_audit("verify --from export.bin"), 0);
	/* One byte changed in the export: the offline replay names what is wrong. */
	snprintf(cmd, sizeof(cmd), "%s/export.bin", H.work);
	flip_byte(cmd, -1);
	assert_int_equal(puente_audit("verify --from export.bin"), 65);
	assert_true(said("err.txt", "puente: audit verify: "));
	/* The case's timeline, and the page an oversight office prints. */
	assert_int_equal(puente_audit("report --case MX-2026-7F3K9Q --html report.html "
	    "--purpose case-review"), 0);
	assert_true(said("out.txt", "recipient-receipt"));
	assert_true(said("out.txt", "the chain is unbroken"));
	snprintf(cmd, sizeof(cmd), "'%s' --json --agency '%s' audit trace --case MX-2026-7F3K9Q "
	    "| grep -c '^{\"index\":' | grep -qx 12", g_puente, H.aud.dir);
	assert_int_equal(system(cmd), 0);	/* 9 + the trace queries (case-review x2, this) */
	/* Headless Chromium reads the page: a table row per entry, none of it scripted. */
	snprintf(cmd, sizeof(cmd), "cd '%s' && timeout 120 chromium --headless --no-sandbox "
	    "--disable-gpu --dump-dom 'file://%s/report.html' 2>/dev/null >dom.html && "
	    "test \"$(grep -c '<tr><td>' dom.html)\" -ge 10 && "
	    "grep -q 'Audit trail of case' dom.html && ! grep -qi '<script' dom.html",
	    H.work, H.work);
	assert_int_equal(system(cmd), 0);
	/* Bad use: a clear line and EX_USAGE. */
	assert_int_equal(puente_audit("trace"), 64);
	assert_true(said("err.txt", "trace takes --case ID"));
	assert_int_equal(puente_audit("verify --from"), 64);
	assert_int_equal(puente_audit("report --case MX-2026-7F3K9Q"), 64);
	assert_int_equal(puente_audit("export"), 64);
	assert_int_equal(puente_audit("rewrite"), 64);
}

/* What the insider with the gateway's checkpoint key signs: a checkpoint note of any tree. */
static void
insider_checkpoint(const char *origin, uint64_t size, const uint8_t root[32], struct buf *note)
{
	struct secret_key ck;
	char path[1200];

	snprintf(path, sizeof(path), "%s/fed/agencies/%s/checkpoint.key", H.work, GW);
	assert_rc(keyfile_load(path, NULL, PUENTE__SECRET_KIND__SECRET_KIND_ED25519, &ck), PU_OK);
	buf_init(note, NOTE_MAX_LEN);
	assert_rc(note_checkpoint_format(origin, size, root, note), PU_OK);
	assert_rc(buf_append(note, "\n", 1), PU_OK);
	assert_rc(note_sign(note->data, note->len - 1, origin, ck.secret, ck.public_key, note),
	    PU_OK);
	secret_key_clear(&ck);
}

/* ---- witnesses ---------------------------------------------------------------------- */

/* The auditor body and PFPNNA cosign; the auditor's verify names them. */
static void
witnesses_cosign_and_verify_names_them(void **state)
{
	(void)state;
	assert_int_equal(puente_as(&H.aud, "audit witness --once"), 0);
	assert_true(said("out.txt", "cosigned the gateway"));
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 0);
	/* a second round extends the first: consistency checked against witness.state */
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 0);
	assert_true(said("out.txt", "consistent with the last one"));
	assert_int_equal(puente_audit("verify"), 0);
	assert_true(said("out.txt", "cosigned by"));
	assert_true(said("out.txt", FED));
	/* the gateway's metric: seconds since the last cosignature, no longer -1 (never) */
	{
		long age = -1;
		assert_int_equal(harness_metric(&H, "puente_witness_age_seconds", &age), 0);
		assert_true(age >= 0 && age < 600);
	}
	/* only listed witnesses cosign */
	assert_int_equal(puente_as(&H.tla, "audit witness --once"), 65);
	assert_true(said("err.txt", "not a witness"));
	/* the long-lived witness: a round at once, then a clean stop on SIGTERM (exit 0) */
	{
		char cmd[8192];
		snprintf(cmd, sizeof(cmd), "cd '%s' && { '%s' --agency '%s' audit witness "
		    "--interval 60 >out.txt 2>err.txt & pid=$!; i=0; while [ $i -lt 100 ] && "
		    "! grep -q cosigned out.txt; do sleep 0.1; i=$((i + 1)); done; "
		    "kill -TERM $pid; wait $pid; }", H.work, g_puente, H.aud.dir);
		assert_int_equal(system(cmd), 0);
		assert_true(said("out.txt", "cosigned the gateway"));
	}
}

/* A suspended witness's cosignature no longer counts; reinstated, it counts again. */
static void
suspended_witness_is_not_counted(void **state)
{
	(void)state;
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 0);
	assert_int_equal(puente_audit("verify"), 0);
	assert_true(said("out.txt", "cosigned by.*" FED));
	assert_int_equal(harness_keys(&H, "suspend --id " FED), 0);
	harness_publish(&H);
	assert_int_equal(puente_audit("verify"), 0);
	assert_false(said("out.txt", FED));
	assert_int_equal(harness_keys(&H, "reinstate --id " FED), 0);
	harness_publish(&H);
	assert_int_equal(puente_audit("verify"), 0);
	assert_true(said("out.txt", "cosigned by.*" FED));
}

/* After it, even when it failed half-way: FED active again for the tests that follow. */
static int
fed_reinstated(void **state)
{
	(void)state;
	if (harness_keys(&H, "reinstate --id " FED) == 0)
		harness_publish(&H);
	return 0;
}

static void db_exec(const char *sql);

/* The gateway's log from byte `from` on (at most n - 1 bytes of it). */
static void
gateway_log_since(long from, char *out, size_t n)
{
	char path[1200];
	FILE *f;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/gateway.log", H.work);
	if ((f = fopen(path, "r")) != NULL) {
		if (fseek(f, from, SEEK_SET) == 0)
			len = fread(out, 1, n - 1, f);
		fclose(f);
	}
	out[len] = '\0';
}

/* The gateway started again (it was stopped); returns where its log then stood. */
static long
gateway_started_again(void)
{
	char path[1200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/gateway.log", H.work);
	assert_int_equal(stat(path, &st), 0);
	harness_start(&H);
	return (long)st.st_size;
}

/*
 * No witness has cosigned for longer than witness_max_age_s (900 s here, the default): the
 * gateway warns in its log, with how long, and its metric says the same. A recent
 * cosignature brings no warning.
 */
static void
silent_witnesses_are_warned_of(void **state)
{
	static char log[65536];
	const char *w = NULL;
	long from, age = -1;

	(void)state;
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 0);
	assert_int_equal(harness_stop(&H), 0);
	from = gateway_started_again();
	sleep_ms(2500);		/* two ticks at least: the check runs every second */
	gateway_log_since(from, log, sizeof(log));
	assert_null(strstr(log, "event=unwitnessed"));
	assert_int_equal(harness_metric(&H, "puente_witness_age_seconds", &age), 0);
	assert_true(age >= 0 && age < 600);

	/* The same cosignatures, an hour older: the last one 3,600 s ago. */
	assert_int_equal(harness_stop(&H), 0);
	db_exec("UPDATE cosignatures SET at = at - 3600");
	from = gateway_started_again();
	for (int i = 0; i < 50; i++) {
		gateway_log_since(from, log, sizeof(log));
		if ((w = strstr(log, "event=unwitnessed")) != NULL)
			break;
		sleep_ms(100);
	}
	if (w == NULL)
		fail_msg("no event=unwitnessed in the gateway's log after 5 s");
	print_message("    %.*s\n", (int)strcspn(w, "\n"), w);
	assert_true(atol(strstr(w, "seconds=") + strlen("seconds=")) >= 3600);
	assert_non_null(strstr(w, "witnesses=2"));
	assert_int_equal(harness_metric(&H, "puente_witness_age_seconds", &age), 0);
	assert_true(age >= 3600 && age < 4200);
}

/* A damaged or rolled-back witness.state makes the witness refuse, not re-trust. */
static void
witness_state_damaged_or_rolled_back_is_refused(void **state)
{
	char cmd[4096];

	(void)state;
	snprintf(cmd, sizeof(cmd), "cp '%s/witness.state' '%s/witness.keep'", H.fed.dir, H.work);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 0);
	/* one byte of the state changed */
	snprintf(cmd, sizeof(cmd), "%s/witness.state", H.fed.dir);
	flip_byte(cmd, 20);
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 65);
	assert_true(said("err.txt", "witness.state is damaged"));
	/* the older state put back: the gateway shows this witness's newer cosignature */
	snprintf(cmd, sizeof(cmd), "cp '%s/witness.keep' '%s/witness.state'", H.work, H.fed.dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 65);
	assert_true(said("err.txt", "rolled back"));
	/* the newest one again, so the witness can go on */
	assert_int_equal(puente_as(&H.aud, "audit witness --once"), 0);
	snprintf(cmd, sizeof(cmd), "cp '%s/witness.state' '%s/witness.state'", H.aud.dir, H.fed.dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 0);
}

/*
 * Two witnesses shown two trees of the same size: the auditor body cosigned the real one;
 * PFPNNA's state holds another of that size, signed with the gateway's real key. From then
 * on PFPNNA refuses every checkpoint, since none extends what it holds.
 */
static void
two_views_of_one_size_are_refused(void **state)
{
	uint8_t other[32];
	struct note real;
	struct buf forged;
	char path[2600];
	uint8_t *text;
	size_t len;

	(void)state;
	assert_int_equal(puente_as(&H.aud, "audit witness --once"), 0);
	snprintf(path, sizeof(path), "%s/witness.state", H.aud.dir);
	assert_rc(file_read_all(path, NOTE_MAX_LEN, &text, &len), PU_OK);
	assert_rc(note_parse(text, len, &real), PU_OK);
	free(text);
	memcpy(other, real.root, 32);
	other[0] ^= 1;
	insider_checkpoint(GW_ORIGIN, real.tree_size, other, &forged);
	snprintf(path, sizeof(path), "%s/witness.state", H.fed.dir);
	assert_rc(file_write_atomic(path, forged.data, forged.len, 0600, FILE_REPLACE), PU_OK);
	buf_free(&forged);
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 65);
	assert_true(said("err.txt", "refused, the log was rewritten (fork)"));
	/* the real one back, so PFPNNA goes on */
	snprintf(path, sizeof(path), "cp '%s/witness.state' '%s/witness.state'", H.aud.dir,
	    H.fed.dir);
	assert_int_equal(system(path), 0);
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 0);
}

/* ---- tampering with the real database ------------------------------------------------- */

static void
db_path(char *out, size_t n)
{
	snprintf(out, n, "%s/data/puente.db", H.work);
}

static void
db_exec(const char *sql)
{
	char path[1200];
	sqlite3 *db;

	db_path(path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	/* a running gateway's writer may hold the lock for a commit: wait for it */
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* An agency client's newest checkpoint, forgotten (the auditor's by default). */
static void
forget_trusted_of(const struct tc_agency *a)
{
	char path[1200];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/client.db", a->dir);
	if (access(path, F_OK) != 0)
		return;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM trusted", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
forget_trusted(void)
{
	forget_trusted_of(&H.aud);
}

/* Save the database aside, or put the saved copy back (the gateway is stopped). */
static void
db_save(const char *suffix, int restore)
{
	char cmd[8000], path[1200];

	db_path(path, sizeof(path));
	/*
	 * The main file and the WAL a clean stop leaves (the index, -shm, is rebuilt from
	 * them). Putting an older copy back forks the log from what the auditor's client saw
	 * of the tampered one, so its client.db forgets that checkpoint (audit.state is kept:
	 * the runs that failed never updated it).
	 */
	if (restore)
		forget_trusted();
	if (restore)
		snprintf(cmd, sizeof(cmd), "rm -f '%s-shm' && cp '%s.%s' '%s' && "
		    "cp '%s-wal.%s' '%s-wal'", path, path, suffix, path, path, suffix, path);
	else
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s.%s' && cp '%s-wal' '%s-wal.%s'", path, path,
		    suffix, path, path, suffix);
	assert_int_equal(system(cmd), 0);
}

static uint64_t
db_int(const char *sql)
{
	char path[1200];
	sqlite3 *db;
	sqlite3_stmt *st;
	uint64_t v;

	db_path(path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* What an insider with the database does: rewrite one leaf and its hash column. */
static void
db_edit_leaf(uint64_t index)
{
	char path[1200];
	sqlite3 *db;
	sqlite3_stmt *st;
	ProtobufCMessage *m;
	Puente__AuditEntry *e;
	uint8_t *leaf, hash[32];
	size_t len;

	db_path(path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT leaf FROM audit WHERE idx = ?", -1, &st,
	    NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_rc(pb_decode(&puente__audit_entry__descriptor, sqlite3_column_blob(st, 0),
	    (size_t)sqlite3_column_bytes(st, 0), &pb_limits_wire, 1 << 20, &m), PU_OK);
	sqlite3_finalize(st);
	e = (Puente__AuditEntry *)m;
	e->at -= 3600;	/* an hour earlier */
	assert_rc(pb_encode(&e->base, &leaf, &len), PU_OK);
	merkle_leaf_hash(hash, leaf, len);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit SET leaf = ?, leaf_hash = ?, at = ? "
	    "WHERE idx = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, leaf, (int)len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, e->at);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)index);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(leaf);
	pb_free(e);
}

/* Start the gateway and expect it to refuse: exit status and the log's reason. */
static void
assert_gateway_refuses_to_start(const char *reason)
{
	char cmd[4000];
	int status;

	snprintf(cmd, sizeof(cmd), "timeout 20 '%s' -c '%s/gateway.conf' 2>'%s/refused.log'",
	    H.gateway_bin, H.work, H.work);
	status = system(cmd);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 124);
	snprintf(cmd, sizeof(cmd), "grep -q '%s' '%s/refused.log'", reason, H.work);
	if (system(cmd) != 0)
		fail_msg("the gateway's refusal does not say %s", reason);
}

/* An insider edits one field of one leaf: the replay names the batch it was in. */
static void
edited_entry_is_located(void **state)
{
	char why[AVERIFY_PROBLEM_MAX] = "";

	(void)state;
	assert_int_equal(harness_stop(&H), 0);
	db_save("clean", 0);
	db_edit_leaf(5);
	harness_start(&H);
	assert_rc(harness_audit_replay(&H, NULL, why, sizeof(why), NULL), PU_ERR_AUDIT_LEAF);
	assert_non_null(strstr(why, "do not hash to the checkpoint"));
	/* "entries A to B": the batch that holds leaf 5 */
	{
		unsigned long long a, b;
		assert_int_equal(sscanf(strstr(why, "entries "), "entries %llu to %llu", &a, &b), 2);
		assert_true(a <= 5 && 5 <= b);
	}
	/* The auditor's command says the same, and keeps its trusted state unchanged. */
	assert_int_equal(puente_audit("verify"), 65);
	assert_true(said("err.txt", "do not hash to the checkpoint signed at size"));
	assert_int_equal(harness_stop(&H), 0);
	db_save("clean", 1);
}

/* Two entries swapped (leaf and hash columns both): the replay names their batch. */
static void
reordered_entries_are_located(void **state)
{
	char why[AVERIFY_PROBLEM_MAX] = "";
	int rc;

	(void)state;
	db_exec("CREATE TEMP TABLE two AS SELECT idx, leaf, leaf_hash FROM audit WHERE idx IN (7, 8);"
	    "UPDATE audit SET leaf = (SELECT leaf FROM two WHERE two.idx = 15 - audit.idx), "
	    "leaf_hash = (SELECT leaf_hash FROM two WHERE two.idx = 15 - audit.idx) "
	    "WHERE idx IN (7, 8);");
	harness_start(&H);
	/* the first check to notice: a case's chain out of order, or its batch's root */
	rc = harness_audit_replay(&H, NULL, why, sizeof(why), NULL);
	print_message("    swapped entries 7 and 8: %s\n", why);
	assert_true(rc == PU_ERR_AUDIT_LEAF || rc == PU_ERR_AUDIT_CHAIN);
	assert_true(strstr(why, "reordered") != NULL || strstr(why, "chain is broken") != NULL);
	assert_int_equal(harness_stop(&H), 0);
	db_save("clean", 1);
}

/* Deleting or inserting a row: the gateway will not sign on top of it. */
static void
deleted_or_inserted_rows_stop_the_gateway(void **state)
{
	(void)state;
	db_exec("DELETE FROM audit WHERE idx = 3");
	assert_gateway_refuses_to_start("PU_ERR_AUDIT_STATE");
	db_save("clean", 1);
	db_exec("INSERT INTO audit (idx, at, leaf, leaf_hash) SELECT MAX(idx) + 1, 0, leaf, "
	    "leaf_hash FROM audit");
	assert_gateway_refuses_to_start("PU_ERR_AUDIT_STATE");
	db_save("clean", 1);
	/* A stored subtree rewritten: the tree no longer has the signed root. */
	db_exec("UPDATE audit_nodes SET hash = zeroblob(32) WHERE idx = 0 AND "
	    "level = (SELECT MAX(level) FROM audit_nodes)");
	assert_gateway_refuses_to_start("PU_ERR_AUDIT_STATE");
	db_save("clean", 1);
	harness_start(&H);
}

/*
 * A row inserted behind the running gateway's back, where its next leaf goes (THREATS.md
 * group 19): the gateway fails closed. It acknowledges nothing it cannot append (no
 * receipt without its leaf, no audit answer without the query's own), signs no checkpoint
 * over the row, says why in its log, and will not start on the database again.
 */
static void
row_inserted_while_the_gateway_runs(void **state)
{
	static const char *const to_nle[] = { NLE };
	static char log[65536];
	char err[256], why[AVERIFY_PROBLEM_MAX] = "";
	uint64_t rows, signed_size, messages;
	struct fx_msg msg;
	struct tc tla;
	uint8_t *receipt = NULL;
	size_t receipt_len;

	(void)state;
	assert_int_equal(harness_stop(&H), 0);
	db_save("clean", 0);
	long log0 = gateway_started_again();
	db_exec("INSERT INTO audit (idx, at, leaf, leaf_hash) SELECT MAX(idx) + 1, 0, leaf, "
	    "leaf_hash FROM audit");
	rows = db_int("SELECT COUNT(*) FROM audit");
	signed_size = db_int("SELECT MAX(size) FROM checkpoints");
	messages = db_int("SELECT COUNT(*) FROM messages");
	assert_rc(tc_seal(&H.tla, &msg, to_nle, 1, T_TRANSFER, 100, NULL), PU_OK);
	assert_rc(tc_connect(&tla, H.port, &H.tla), PU_OK);
	assert_rc(tc_submit(&tla, &msg, &receipt, &receipt_len, err, sizeof(err)), PU_ERR_STORE);
	assert_null(receipt);
	tc_close(&tla);
	assert_int_equal(db_int("SELECT COUNT(*) FROM audit"), rows);
	assert_int_equal(db_int("SELECT MAX(size) FROM checkpoints"), signed_size);
	assert_int_equal(db_int("SELECT COUNT(*) FROM messages"), messages);
	assert_rc(harness_audit_replay(&H, NULL, why, sizeof(why), NULL), PU_ERR_STORE);
	gateway_log_since(log0, log, sizeof(log));
	assert_non_null(strstr(log, "event=leaf-index-taken"));
	fx_msg_free(&msg);
	assert_int_equal(harness_stop(&H), 0);
	assert_gateway_refuses_to_start("PU_ERR_AUDIT_STATE");
	db_save("clean", 1);
	harness_start(&H);
}

/*
 * The insider who holds the database and the checkpoint key: one past entry rewritten, the
 * whole tree recomputed and every checkpoint re-signed with the gateway's real key. The
 * gateway starts and every answer verifies on its own - only a checkpoint held outside the
 * gateway (the auditor's audit.state, or one trusted earlier) shows the fork.
 */
static void
rewritten_and_resigned_log_is_a_fork(void **state)
{
	uint8_t made[MERKLE_MAX_LEVELS][32], root[32];
	struct merkle_frontier f;
	struct averify v;
	char path[1200], why[AVERIFY_PROBLEM_MAX] = "", origin[128];
	sqlite3 *db;
	sqlite3_stmt *leaves, *node, *cp;
	unsigned n_made;

	(void)state;
	/* What the auditor trusts now, before the rewrite. */
	assert_rc(harness_audit_replay(&H, g_trusted, why, sizeof(why), &v), PU_OK);
	assert_rc(averify_note_string(&v.newest, g_trusted, sizeof(g_trusted)), PU_OK);
	snprintf(origin, sizeof(origin), "%s", v.log.origin);
	averify_free(&v);
	assert_int_equal(puente_audit("verify"), 0);
	assert_int_equal(puente_as(&H.tla, "inbox"), 0);	/* Tlaxcala's client sees the log */
	assert_int_equal(harness_stop(&H), 0);
	db_save("clean", 0);
	db_edit_leaf(5);
	db_path(path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN; DELETE FROM audit_nodes;", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT leaf_hash FROM audit ORDER BY idx", -1,
	    &leaves, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO audit_nodes VALUES (?, ?, ?)", -1,
	    &node, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE checkpoints SET note = ? WHERE size = ?",
	    -1, &cp, NULL), SQLITE_OK);
	merkle_frontier_init(&f);
	while (sqlite3_step(leaves) == SQLITE_ROW) {
		struct buf note;

		assert_rc(merkle_frontier_append_nodes(&f, sqlite3_column_blob(leaves, 0), made,
		    &n_made), PU_OK);
		for (unsigned l = 1; l <= n_made; l++) {
			sqlite3_bind_int(node, 1, (int)l);
			sqlite3_bind_int64(node, 2, (sqlite3_int64)((f.size >> l) - 1));
			sqlite3_bind_blob(node, 3, made[l - 1], 32, SQLITE_STATIC);
			assert_int_equal(sqlite3_step(node), SQLITE_DONE);
			sqlite3_reset(node);
		}
		/* every stored checkpoint re-signed over the rewritten tree */
		merkle_frontier_root(&f, root);
		insider_checkpoint(origin, f.size, root, &note);
		sqlite3_bind_text(cp, 1, (const char *)note.data, (int)note.len, SQLITE_STATIC);
		sqlite3_bind_int64(cp, 2, (sqlite3_int64)f.size);
		assert_int_equal(sqlite3_step(cp), SQLITE_DONE);
		sqlite3_reset(cp);
		buf_free(&note);
	}
	sqlite3_finalize(leaves);
	sqlite3_finalize(node);
	sqlite3_finalize(cp);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	harness_start(&H);	/* consistent with itself: the gateway starts */
	/* the witness refuses to cosign the rewritten log: at HELLO (its client's checkpoint) */
	assert_int_equal(puente_as(&H.aud, "audit witness --once"), 65);
	assert_true(said("err.txt", "the log was rewritten (fork)"));
	/* ... and from witness.state alone, when its client.db has lost that checkpoint */
	forget_trusted_of(&H.fed);
	assert_int_equal(puente_as(&H.fed, "audit witness --once"), 65);
	assert_true(said("err.txt", "this witness cosigned: refused, the log was rewritten"));
	/* a replay with no checkpoint of its own still sees the re-signed, witnessed one */
	{
		struct averify_log lw = { 0 };
		harness_gateway_log(&H, &lw);
		assert_true(lw.n_witnesses > 0);
	}
	assert_rc(harness_audit_replay(&H, NULL, why, sizeof(why), NULL), PU_ERR_NOTE_FORK);
	assert_non_null(strstr(why, "signed again after the witness saw it"));
	assert_rc(harness_audit_replay(&H, g_trusted, why, sizeof(why), NULL), PU_ERR_NOTE_FORK);
	assert_non_null(strstr(why, "rewritten"));
	assert_int_equal(puente_audit("verify"), 65);
	assert_true(said("err.txt", "the log was rewritten"));
	/* and a caseworker's client refuses the gateway at HELLO, keeping the evidence */
	assert_int_equal(puente_as(&H.tla, "inbox"), 65);
	assert_true(said("err.txt", "does not extend the checkpoint this agency holds"));
	{
		sqlite3 *cdb;
		sqlite3_stmt *st;
		snprintf(path, sizeof(path), "%s/client.db", H.tla.dir);
		assert_int_equal(sqlite3_open(path, &cdb), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(cdb, "SELECT COUNT(*) FROM checkpoints WHERE "
		    "source = 'fork-evidence'", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_true(sqlite3_column_int(st, 0) >= 1);
		sqlite3_finalize(st);
		sqlite3_close(cdb);
	}
	assert_int_equal(harness_stop(&H), 0);
	db_save("clean", 1);
	forget_trusted_of(&H.fed);
	harness_start(&H);
}

/* The tail cut off consistently (leaves, nodes, checkpoints): only a trusted checkpoint sees it. */
static void
truncated_tail_is_caught_by_the_trusted_checkpoint(void **state)
{
	struct averify v;
	struct note t;
	char sql[512], why[AVERIFY_PROBLEM_MAX] = "";
	uint64_t keep;

	(void)state;
	/*
	 * The auditor's newest trusted checkpoints, after all so far: this replay's, then its
	 * command's, which is later still (each query grows the log), so that both lie past
	 * the cut below.
	 */
	assert_rc(harness_audit_replay(&H, g_trusted, why, sizeof(why), &v), PU_OK);
	assert_rc(averify_note_string(&v.newest, g_trusted, sizeof(g_trusted)), PU_OK);
	averify_free(&v);
	assert_int_equal(puente_audit("verify"), 0);
	assert_int_equal(harness_stop(&H), 0);
	assert_rc(note_parse((const uint8_t *)g_trusted, strlen(g_trusted), &t), PU_OK);
	/*
	 * A batch boundary far enough before the trusted size that the leaves added after
	 * the restart (sessions, queries) do not reach it again: then it is a fork instead.
	 */
	assert_true(t.tree_size > 30);
	snprintf(sql, sizeof(sql), "SELECT size FROM checkpoints WHERE size <= %llu ORDER BY size "
	    "DESC LIMIT 1", (unsigned long long)t.tree_size - 25);
	keep = db_int(sql);
	snprintf(sql, sizeof(sql), "DELETE FROM audit WHERE idx >= %llu; "
	    "DELETE FROM audit_nodes WHERE ((idx + 1) << level) > %llu; "
	    "DELETE FROM checkpoints WHERE size > %llu;", (unsigned long long)keep,
	    (unsigned long long)keep, (unsigned long long)keep);
	db_exec(sql);
	harness_start(&H);
	/*
	 * Against the checkpoint the auditor kept, the shorter log is a rollback (the gateway
	 * itself answers so to a query that names the larger known size). First, while the
	 * log is short: every page a replay asks for is audited, and grows it again.
	 */
	assert_true(t.tree_size > keep);
	assert_rc(harness_audit_replay(&H, g_trusted, why, sizeof(why), NULL), PU_ERR_AUDIT_ROLLBACK);
	/* Without history the shorter log verifies on its own ... */
	assert_rc(harness_audit_replay(&H, NULL, why, sizeof(why), NULL), PU_OK);
	/*
	 * ... and the auditor's command, from the audit.state of its earlier runs: a rollback,
	 * or a fork once the shortened log has grown past the size it trusted
	 */
	assert_int_equal(puente_audit("verify"), 65);
	assert_true(said("err.txt", "behind a checkpoint already trusted") ||
	    said("err.txt", "entries were removed") || said("err.txt", "the log was rewritten"));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(receipts_and_acks_prove_their_leaf),
		cmocka_unit_test(auditor_replays_the_whole_log),
		cmocka_unit_test(auditor_traces_a_case_with_proofs),
		cmocka_unit_test(only_auditors_query_the_log),
		cmocka_unit_test(puente_audit_verifies_exports_and_traces),
		cmocka_unit_test(witnesses_cosign_and_verify_names_them),
		cmocka_unit_test_teardown(suspended_witness_is_not_counted, fed_reinstated),
		cmocka_unit_test(witness_state_damaged_or_rolled_back_is_refused),
		cmocka_unit_test(silent_witnesses_are_warned_of),
		cmocka_unit_test(two_views_of_one_size_are_refused),
		cmocka_unit_test(edited_entry_is_located),
		cmocka_unit_test(reordered_entries_are_located),
		cmocka_unit_test(deleted_or_inserted_rows_stop_the_gateway),
		cmocka_unit_test(row_inserted_while_the_gateway_runs),
		cmocka_unit_test(rewritten_and_resigned_log_is_a_fork),
		cmocka_unit_test(truncated_tail_is_caught_by_the_trusted_checkpoint),
	};

	if (argc < 5) {
		fprintf(stderr, "usage: test_audit PUENTE-KEYS PUENTE-GATEWAY WORKDIR PUENTE\n");
		return 64;
	}
	g_puente = argv[4];
	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, setup, teardown);
}
