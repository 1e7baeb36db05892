/*
 * journeys.c - the narrated part of `make demo`: a throw-away federation, the real gateway on
 * loopback, and the journeys Puente exists for, played by agencies through the real protocol.
 * Every name, CURP and case in it is generated and fictional.
 *
 * Usage: puente-demo PUENTE-KEYS PUENTE-GATEWAY DEMO_DIR
 * With DEMO_KEEP=1 the gateway is left running.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gateway_harness.h"
#include "pu_err.h"

static int step_no;

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	printf("  %2d. ", ++step_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void
check(int rc, const char *what)
{
	if (rc != PU_OK) {
		fprintf(stderr, "puente-demo: %s failed: %s (%s)\n", what, pu_err_message(rc), pu_err_name(rc));
		exit(70);
	}
}

static void
expect_refusal(int rc, int want, const char *what)
{
	if (rc != want) {
		fprintf(stderr, "puente-demo: %s: expected %s, got %s\n", what, pu_err_name(want),
		    pu_err_name(rc));
		exit(70);
	}
	printf("      refused by the gateway: %s (%s)\n", pu_err_message(rc), pu_err_name(rc));
}

static const char *
hex(const uint8_t *id)
{
	static char out[33];

	sodium_bin2hex(out, sizeof(out), id, 16);
	return out;
}

int
main(int argc, char **argv)
{
	static const char *const to_nle[] = { NLE }, *const to_tla[] = { TLA },
	    *const to_nle_only[] = { NLE }, *const with_fed[] = { FED, NLE }, *const to_tab[] = { TAB };
	struct harness h;
	struct tc tla, nle, tab, fed;
	struct fx_msg transfer, report, bad, review, decision, fake;
	struct seal_params reply = { 0 }, intl = { 0 }, answer = { 0 };
	uint8_t mac[32];
	char err[64];

	harness_init(&h, argc, argv);
	printf("Federation: root key, X.509 CA, signed directory, and the agencies "
	    "%s, %s, %s, %s, %s; gateway %s\n", TLA, NLE, TAB, FED, AUD, GW);
	harness_start(&h);
	printf("Gateway listening on 127.0.0.1:%d (metrics on 127.0.0.1:%d)\n\n", h.port, h.metrics_port);
	check(tc_connect(&tla, h.port, &h.tla), "connect TLA");
	check(tc_connect(&nle, h.port, &h.nle), "connect NLE");
	check(tc_connect(&tab, h.port, &h.tab), "connect TAB");
	check(tc_connect(&fed, h.port, &h.fed), "connect FED");

	printf("Journey 1 - inter-state transfer of responsibility\n");
	check(tc_seal(&h.tla, &transfer, to_nle, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER,
	    3 * 400 * 1024, NULL), "seal");
	say("%s seals the case file of MX-2026-7F3K9Q for %s (names and CURP only inside the encryption)",
	    TLA, NLE);
	check(tc_submit(&tla, &transfer, NULL, NULL, err, sizeof(err)), "submit");
	say("the gateway verifies signature, keys, policy and every chunk, stores it, signs a receipt: msg %s%s",
	    hex(transfer.sealed.msg_id), "");
	check(tc_fetch_open_receipt(&nle, &h.nle, transfer.sealed.msg_id, mac, err, sizeof(err)), "fetch");
	say("%s fetches and opens it, checks the key commitment and the sender's signature, and %s",
	    NLE, "returns a signed receipt");
	say("the receipt's MAC %s what %s sealed: proof it read exactly that content",
	    memcmp(mac, transfer.sealed.receipt_mac, 32) == 0 ? "matches" : "DOES NOT MATCH", TLA);
	reply.in_reply_to = transfer.sealed.msg_id;
	check(tc_seal(&h.nle, &report, to_tla, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FOLLOW_UP_REPORT,
	    2000, &reply), "seal report");
	check(tc_submit(&nle, &report, NULL, NULL, err, sizeof(err)), "submit report");
	check(tc_fetch_open_receipt(&tla, &h.tla, report.sealed.msg_id, NULL, err, sizeof(err)), "fetch report");
	say("%s replies with a follow-up report; %s opens it and receipts it", NLE, TLA);

	printf("\nJourney 2 - international adoption under federal review\n");
	intl.adoption_scope = PUENTE__ADOPTION_SCOPE__ADOPTION_SCOPE_INTERNATIONAL;
	check(tc_seal(&h.tab, &bad, to_nle_only, 1,
	    PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_INTL_ADOPTION_REVIEW_REQUEST, 3000, &intl), "seal");
	say("%s sends an international adoption review request without %s...", TAB, FED);
	expect_refusal(tc_submit(&tab, &bad, NULL, NULL, err, sizeof(err)), PU_ERR_POLICY, "review without FED");
	check(tc_seal(&h.tab, &review, with_fed, 2,
	    PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_INTL_ADOPTION_REVIEW_REQUEST, 3000, &intl), "seal");
	check(tc_submit(&tab, &review, NULL, NULL, err, sizeof(err)), "submit review");
	say("corrected, to %s and %s: stored and held; only the federal procuraduria sees it", FED, NLE);
	check(tc_fetch_open_receipt(&fed, &h.fed, review.sealed.msg_id, NULL, err, sizeof(err)), "FED fetch");
	say("%s opens it: its receipt releases the message to %s", FED, NLE);
	check(tc_fetch_open_receipt(&nle, &h.nle, review.sealed.msg_id, NULL, err, sizeof(err)), "NLE fetch");
	answer.in_reply_to = review.sealed.msg_id;
	check(tc_seal(&h.fed, &decision, to_tab, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FEDERAL_DECISION,
	    800, &answer), "seal decision");
	check(tc_submit(&fed, &decision, NULL, NULL, err, sizeof(err)), "submit decision");
	check(tc_fetch_open_receipt(&tab, &h.tab, decision.sealed.msg_id, NULL, err, sizeof(err)), "fetch decision");
	say("%s answers with its decision; %s receives it", FED, TAB);
	check(tc_seal(&h.nle, &fake, to_tab, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FEDERAL_DECISION,
	    800, &answer), "seal fake");
	say("%s, a state, tries to send a federal decision%s...", NLE, "");
	expect_refusal(tc_submit(&nle, &fake, NULL, NULL, err, sizeof(err)), PU_ERR_POLICY, "state decision");

	printf("\nJourney 3 - the audit trail\n");
	say("every step above is a leaf of the gateway's audit log (%s/data/puente.db, table audit)%s",
	    h.work, "");
	say("no leaf holds a name or CURP: only agencies, message ids, the case id, outcome, time%s%s", "", "");

	fx_msg_free(&transfer);
	fx_msg_free(&report);
	fx_msg_free(&bad);
	fx_msg_free(&review);
	fx_msg_free(&decision);
	fx_msg_free(&fake);
	tc_close(&tla);
	tc_close(&nle);
	tc_close(&tab);
	tc_close(&fed);
	printf("\nWhere things are:\n"
	    "  %s/fed/            the federation (puente-keys show --dir %s/fed)\n"
	    "  %s/gateway.conf    the gateway's configuration; its log: %s/gateway.log\n"
	    "  %s/data/puente.db  queue and audit log (sqlite3 %s/data/puente.db 'select idx, case_id from audit')\n",
	    h.work, h.work, h.work, h.work, h.work, h.work);
	if (getenv("DEMO_KEEP") != NULL && strcmp(getenv("DEMO_KEEP"), "1") == 0) {
		printf("  the gateway keeps running (pid %d): curl 127.0.0.1:%d/metrics; kill %d to stop\n",
		    (int)h.pid, h.metrics_port, (int)h.pid);
		h.pid = 0;	/* not stopped by harness_free */
	} else {
		printf("  the gateway was stopped cleanly (DEMO_KEEP=1 leaves it running)\n");
	}
	harness_free(&h);
	return 0;
}
