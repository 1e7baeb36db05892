/*
 * test_receipt.c - signed statements through the real library: recipient receipts (gateway
 * receipts are proofs from the audit log: test_audit_verify), THREATS.md groups 9 (forged, misdirected, replayed receipts, wrong
 * plaintext MAC), 15 (a signature made for one purpose presented for another) and 20
 * (receipts from non-recipients and retired keys), each attack performed and its exact
 * error asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "crypto.h"
#include "fixture.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

#define TLA "MX-TLA-PPNNA"
#define NLE "MX-NLE-PPNNA"
#define TAB "MX-TAB-PPNNA"
#define FED "MX-FED-PFPNNA"
#define GW  "MX-CMX-GW01"

#define OPENED         PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED
#define CANNOT_DECRYPT PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_CANNOT_DECRYPT
#define RECEIPT_KEY    PUENTE__KEY_PURPOSE__KEY_PURPOSE_RECEIPT

/* Names, not numbers, in failure messages. */
#define assert_rc(rc, want) assert_string_equal(pu_err_name(rc), pu_err_name(want))

static struct fixture fx;
static const char *const to_nle[] = { NLE };
static const char *const to_nle_fed[] = { NLE, FED };

/* A message TLA sent, its decoded header, and the MAC a recipient computed opening it. */
struct msg {
	struct fx_msg m;
	struct header h;
	uint8_t mac[PU_HASH_LEN];
};

static int
setup(void **state)
{
	(void)state;
	fx_init(&fx);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fx_free(&fx);
	return 0;
}

static void
msg_make(struct msg *x, const char *const *to, size_t n_to)
{
	assert_rc(fx_seal(&fx, &x->m, TLA, to, n_to, 2, NULL, 0), PU_OK);
	assert_rc(fx_open(&fx, &x->m, NLE, NULL, x->mac), PU_OK);
	assert_memory_equal(x->mac, x->m.sealed.receipt_mac, PU_HASH_LEN);
	assert_rc(header_decode(&x->h, x->m.sealed.header, x->m.sealed.header_len), PU_OK);
}

static void
msg_free(struct msg *x)
{
	header_free(&x->h);
	fx_msg_free(&x->m);
}

/* A recipient receipt for h, claiming `me`, signed with `signer`'s key (id and secret). */
static void
make_receipt(uint8_t **out, size_t *len, const struct header *h, const char *me,
    Puente__ReceiptOutcome outcome, const uint8_t *mac, int64_t at, const uint8_t *kid,
    const uint8_t *sk)
{
	assert_rc(receipt_recipient_create(h, me, outcome, mac, at, kid, sk, out, len), PU_OK);
}

static int
recipient_verify(const uint8_t *p, size_t len, const struct header *h, const uint8_t *mac)
{
	Puente__RecipientReceipt *out = NULL;
	int rc = receipt_recipient_verify(p, len, &fx.dir, h, mac, &out);

	/* Output only on success, never a half-checked receipt. */
	if (rc == PU_OK)
		assert_non_null(out);
	else
		assert_null(out);
	pb_free(out);
	return rc;
}

/* An encoded Signed with exactly these parts. */
static void
signed_raw(uint8_t **out, size_t *len, const uint8_t *body, size_t body_len,
    const uint8_t *kid, const uint8_t *sig)
{
	Puente__Signed s = PUENTE__SIGNED__INIT;

	s.body.data = (uint8_t *)body;
	s.body.len = body_len;
	s.key_id.data = (uint8_t *)kid;
	s.key_id.len = PU_KEY_ID_LEN;
	s.signature.data = (uint8_t *)sig;
	s.signature.len = PU_SIG_LEN;
	assert_rc(pb_encode(&s.base, out, len), PU_OK);
}

/* THREATS.md 9: the receipt NLE returns for what TLA sent it verifies, MAC included. */
static void
recipient_receipt_verifies(void **state)
{
	struct fx_agency *nle = fx_agency(&fx, NLE), *fed = fx_agency(&fx, FED);
	Puente__RecipientReceipt *r;
	uint8_t *p, fed_mac[PU_HASH_LEN];
	size_t len;
	struct msg x;

	(void)state;
	msg_make(&x, to_nle_fed, 2);
	make_receipt(&p, &len, &x.h, NLE, OPENED, x.mac, fx.now + 60, nle->sign_kid, nle->sign_sk);
	assert_rc(receipt_recipient_verify(p, len, &fx.dir, &x.h, x.m.sealed.receipt_mac, &r),
	    PU_OK);
	assert_string_equal(r->recipient, NLE);
	assert_int_equal(r->outcome, OPENED);
	assert_int_equal(r->at, fx.now + 60);
	assert_memory_equal(r->msg_id.data, x.m.sealed.msg_id, 16);
	assert_memory_equal(r->header_hash.data, x.m.sealed.header_hash, PU_HASH_LEN);
	assert_memory_equal(r->plaintext_mac.data, x.m.sealed.receipt_mac, PU_HASH_LEN);
	pb_free(r);
	free(p);

	/* The other recipient's receipt too: every recipient computes the same MAC. */
	assert_rc(fx_open(&fx, &x.m, FED, NULL, fed_mac), PU_OK);
	make_receipt(&p, &len, &x.h, FED, OPENED, fed_mac, fx.now + 60, fed->sign_kid, fed->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, x.m.sealed.receipt_mac), PU_OK);
	free(p);

	/* A negative receipt carries no MAC, so there is none to compare. */
	make_receipt(&p, &len, &x.h, NLE, CANNOT_DECRYPT, NULL, fx.now + 60, nle->sign_kid,
	    nle->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, x.m.sealed.receipt_mac), PU_OK);
	free(p);
	msg_free(&x);
}

/* THREATS.md 9: a wrong plaintext MAC is caught by the sender, not by the gateway. */
static void
recipient_receipt_wrong_mac(void **state)
{
	struct fx_agency *nle = fx_agency(&fx, NLE);
	uint8_t *p, bad[PU_HASH_LEN];
	size_t len;
	struct msg x;

	(void)state;
	msg_make(&x, to_nle, 1);
	memcpy(bad, x.mac, sizeof(bad));
	bad[31] ^= 0x01;
	make_receipt(&p, &len, &x.h, NLE, OPENED, bad, fx.now + 60, nle->sign_kid, nle->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, x.m.sealed.receipt_mac), PU_ERR_RECEIPT_MAC);
	/* The gateway cannot know the MAC: it passes NULL and the receipt verifies. */
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_OK);
	free(p);

	/* The right MAC checked against something else than what was sent. */
	make_receipt(&p, &len, &x.h, NLE, OPENED, x.mac, fx.now + 60, nle->sign_kid, nle->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, bad), PU_ERR_RECEIPT_MAC);
	assert_rc(recipient_verify(p, len, &x.h, x.m.sealed.receipt_mac), PU_OK);
	free(p);
	msg_free(&x);
}

/* THREATS.md 9 and 20: receipts from someone the message was not for, or the wrong key. */
static void
recipient_receipt_signer(void **state)
{
	struct fx_agency *nle = fx_agency(&fx, NLE), *tab = fx_agency(&fx, TAB);
	struct fx_agency *tla = fx_agency(&fx, TLA);
	uint8_t *p;
	size_t len;
	struct msg x;

	(void)state;
	msg_make(&x, to_nle, 1);
	/* TAB, validly signing as itself, for a message that was only for NLE */
	make_receipt(&p, &len, &x.h, TAB, OPENED, x.mac, fx.now + 60, tab->sign_kid, tab->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_RECEIPT_SIGNER);
	free(p);
	/* the sender receipting its own message: not a recipient either */
	make_receipt(&p, &len, &x.h, TLA, OPENED, x.mac, fx.now + 60, tla->sign_kid, tla->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_RECEIPT_SIGNER);
	free(p);
	/* claiming to be NLE, signed by TAB under TAB's key id: not one of NLE's keys */
	make_receipt(&p, &len, &x.h, NLE, OPENED, x.mac, fx.now + 60, tab->sign_kid, tab->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_RECEIPT_SIGNER);
	free(p);
	/* NLE's key id, TAB's signature bytes: the key is found, the signature fails */
	make_receipt(&p, &len, &x.h, NLE, OPENED, x.mac, fx.now + 60, nle->sign_kid, tab->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_SIGNATURE);
	free(p);
	/* NLE's encryption key id: a listed key, but not a signing key */
	make_receipt(&p, &len, &x.h, NLE, OPENED, x.mac, fx.now + 60, nle->enc_kid, nle->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_RECEIPT_SIGNER);
	free(p);
	msg_free(&x);
}

static void
later_expiry(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	c->expires_at += 60;
}

/* THREATS.md 9: a valid receipt replayed for another message or another header. */
static void
recipient_receipt_replayed(void **state)
{
	struct fx_agency *nle = fx_agency(&fx, NLE);
	struct header h2;
	uint8_t *p;
	size_t len;
	struct msg a, b;

	(void)state;
	msg_make(&a, to_nle, 1);
	msg_make(&b, to_nle, 1);
	make_receipt(&p, &len, &a.h, NLE, OPENED, a.mac, fx.now + 60, nle->sign_kid, nle->sign_sk);
	assert_rc(recipient_verify(p, len, &a.h, NULL), PU_OK);
	assert_rc(recipient_verify(p, len, &b.h, NULL), PU_ERR_RECEIPT_MISMATCH);
	assert_rc(recipient_verify(p, len, &b.h, b.m.sealed.receipt_mac), PU_ERR_RECEIPT_MISMATCH);
	/* Same msg_id, different header (the sender re-signed an edited core): still refused. */
	fx_resign(&fx, &a.m, TLA, later_expiry, NULL);
	assert_rc(header_decode(&h2, a.m.sealed.header, a.m.sealed.header_len), PU_OK);
	assert_memory_equal(h2.core->msg_id.data, a.h.core->msg_id.data, 16);
	assert_memory_not_equal(h2.header_hash, a.h.header_hash, PU_HASH_LEN);
	assert_rc(recipient_verify(p, len, &h2, NULL), PU_ERR_RECEIPT_MISMATCH);
	header_free(&h2);
	free(p);
	msg_free(&a);
	msg_free(&b);
}

/* THREATS.md 20: a receipt from a retired or compromised key, judged at its `at`. */
static void
recipient_receipt_key_status(void **state)
{
	static const struct { Puente__KeyStatus st; int want; } cases[] = {
		{ PUENTE__KEY_STATUS__KEY_STATUS_RETIRED, PU_ERR_KEY_RETIRED },
		{ PUENTE__KEY_STATUS__KEY_STATUS_COMPROMISED, PU_ERR_KEY_COMPROMISED },
	};
	struct fx_agency *nle = fx_agency(&fx, NLE);
	uint8_t *before, *at_t, *after;
	size_t before_len, at_len, after_len;
	const int64_t T = fx.now + 100;
	int rc[2][3];
	struct msg x;

	(void)state;
	msg_make(&x, to_nle, 1);
	make_receipt(&before, &before_len, &x.h, NLE, OPENED, x.mac, T - 1, nle->sign_kid,
	    nle->sign_sk);
	make_receipt(&at_t, &at_len, &x.h, NLE, OPENED, x.mac, T, nle->sign_kid, nle->sign_sk);
	make_receipt(&after, &after_len, &x.h, NLE, OPENED, x.mac, T + 60, nle->sign_kid,
	    nle->sign_sk);
	/* Codes first; the fixture is restored before any assertion can stop the test. */
	for (size_t i = 0; i < 2; i++) {
		nle->sign_status = cases[i].st;
		nle->sign_status_since = T;
		fx_publish(&fx);
		rc[i][0] = recipient_verify(before, before_len, &x.h, x.mac);
		rc[i][1] = recipient_verify(at_t, at_len, &x.h, x.mac);
		rc[i][2] = recipient_verify(after, after_len, &x.h, x.mac);
	}
	nle->sign_status = PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE;
	nle->sign_status_since = 0;
	fx_publish(&fx);
	for (size_t i = 0; i < 2; i++) {
		/* made before T: past keys stay listed so old receipts still verify */
		assert_rc(rc[i][0], PU_OK);
		assert_rc(rc[i][1], cases[i].want);
		assert_rc(rc[i][2], cases[i].want);
	}
	assert_rc(recipient_verify(after, after_len, &x.h, x.mac), PU_OK);
	free(before);
	free(at_t);
	free(after);
	msg_free(&x);
}

/*
 * THREATS.md 15: NLE's signature over the very bytes of a valid receipt body, but made for
 * another purpose (content, header, open statement, non-delivery), does not pass as a
 * recipient receipt: the context string is part of what is signed.
 */
static void
receipt_context_separation(void **state)
{
	static const char *const other[] = {
		PU_CTX_CONTENT, PU_CTX_HEADER, PU_CTX_OPEN, PU_CTX_NON_DELIVERY, PU_CTX_DIRECTORY,
	};
	struct fx_agency *nle = fx_agency(&fx, NLE);
	Puente__RecipientReceipt r = PUENTE__RECIPIENT_RECEIPT__INIT;
	uint8_t *body, *p, sig[PU_SIG_LEN];
	size_t body_len, len;
	struct msg x;

	(void)state;
	msg_make(&x, to_nle, 1);
	r.recipient = (char *)NLE;
	r.msg_id = x.h.core->msg_id;
	r.header_hash.data = x.h.header_hash;
	r.header_hash.len = PU_HASH_LEN;
	r.outcome = OPENED;
	r.plaintext_mac.data = x.mac;
	r.plaintext_mac.len = PU_HASH_LEN;
	r.at = fx.now + 60;
	assert_rc(pb_encode(&r.base, &body, &body_len), PU_OK);
	struct field f = { body, body_len };

	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_rc(sig_sign(sig, nle->sign_sk, other[i], &f, 1), PU_OK);
		signed_raw(&p, &len, body, body_len, nle->sign_kid, sig);
		assert_rc(recipient_verify(p, len, &x.h, x.mac), PU_ERR_SIGNATURE);
		free(p);
	}
	/* The control: the same body and key under the right context verifies. */
	assert_rc(sig_sign(sig, nle->sign_sk, PU_CTX_RECIPIENT_RECEIPT, &f, 1), PU_OK);
	signed_raw(&p, &len, body, body_len, nle->sign_kid, sig);
	assert_rc(recipient_verify(p, len, &x.h, x.mac), PU_OK);
	free(p);
	free(body);
	msg_free(&x);
}

/* THREATS.md 6 at the receipt entry point, and receipt fields of the wrong shape. */
static void
malformed_receipts(void **state)
{
	struct fx_agency *nle = fx_agency(&fx, NLE);
	Puente__RecipientReceipt r = PUENTE__RECIPIENT_RECEIPT__INIT;
	uint8_t *p, *q;
	size_t len;
	struct msg x;

	(void)state;
	msg_make(&x, to_nle, 1);
	make_receipt(&p, &len, &x.h, NLE, OPENED, x.mac, fx.now + 60, nle->sign_kid, nle->sign_sk);
	/* One byte short: the signature's declared length runs past the end. */
	assert_rc(recipient_verify(p, len - 1, &x.h, NULL), PU_ERR_PB_DECODE);
	/*
	 * Every shorter prefix is refused too (some end on a field boundary and decode). The
	 * empty one is left to empty_signed below.
	 */
	for (size_t n = 1; n < len; n++)
		assert_true(recipient_verify(p, n, &x.h, NULL) != PU_OK);
	/* An unknown field after the signature. */
	q = malloc(len + 2);
	memcpy(q, p, len);
	q[len] = 0x78;		/* field 15, varint */
	q[len + 1] = 0x01;
	assert_rc(recipient_verify(q, len + 2, &x.h, NULL), PU_ERR_PB_UNKNOWN_FIELD);
	free(q);
	free(p);

	/* An unknown field inside the body, validly signed: refused all the same. */
	r.recipient = (char *)NLE;
	r.msg_id = x.h.core->msg_id;
	r.header_hash.data = x.h.header_hash;
	r.header_hash.len = PU_HASH_LEN;
	r.outcome = OPENED;
	r.plaintext_mac.data = x.mac;
	r.plaintext_mac.len = PU_HASH_LEN;
	r.at = fx.now + 60;
	{
		uint8_t *body, sig[PU_SIG_LEN];
		size_t body_len;
		assert_rc(pb_encode(&r.base, &body, &body_len), PU_OK);
		uint8_t *grown = realloc(body, body_len + 2);
		assert_non_null(grown);
		body = grown;
		body[body_len++] = 0x78;
		body[body_len++] = 0x01;
		struct field f = { body, body_len };
		assert_rc(sig_sign(sig, nle->sign_sk, PU_CTX_RECIPIENT_RECEIPT, &f, 1), PU_OK);
		signed_raw(&p, &len, body, body_len, nle->sign_kid, sig);
		assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_PB_UNKNOWN_FIELD);
		free(p);
		free(body);
	}

	/* OPENED without a MAC; a negative outcome with one; a MAC of 31 bytes; no outcome */
	make_receipt(&p, &len, &x.h, NLE, OPENED, NULL, fx.now + 60, nle->sign_kid, nle->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_RECEIPT_FIELD);
	free(p);
	make_receipt(&p, &len, &x.h, NLE, CANNOT_DECRYPT, x.mac, fx.now + 60, nle->sign_kid,
	    nle->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_RECEIPT_FIELD);
	free(p);
	r.plaintext_mac.len = PU_HASH_LEN - 1;
	assert_rc(signed_create(PU_CTX_RECIPIENT_RECEIPT, &r.base, nle->sign_kid, nle->sign_sk,
	    &p, &len), PU_OK);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_RECEIPT_FIELD);
	free(p);
	r.plaintext_mac.len = 0;
	r.outcome = PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED;
	assert_rc(signed_create(PU_CTX_RECIPIENT_RECEIPT, &r.base, nle->sign_kid, nle->sign_sk,
	    &p, &len), PU_OK);
	assert_rc(recipient_verify(p, len, &x.h, NULL), PU_ERR_RECEIPT_FIELD);
	free(p);

	msg_free(&x);
}

/* What a recipient reports for each result of envelope_open_*. */
static void
outcome_for(void **state)
{
	(void)state;
	assert_int_equal(receipt_outcome_for(PU_OK), OPENED);
	assert_int_equal(receipt_outcome_for(PU_ERR_COMMITMENT),
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_COMMITMENT_MISMATCH);
	assert_int_equal(receipt_outcome_for(PU_ERR_CONTENT_SIGNATURE),
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_BAD_SIGNATURE);
	assert_int_equal(receipt_outcome_for(PU_ERR_UNWRAP), CANNOT_DECRYPT);
	assert_int_equal(receipt_outcome_for(PU_ERR_CHUNK_DECRYPT), CANNOT_DECRYPT);
	/* Local failures are no verdict: a negative receipt would stop redelivery for good. */
	assert_int_equal(receipt_outcome_for(PU_ERR_NOMEM),
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED);
	assert_int_equal(receipt_outcome_for(PU_ERR_IO),
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED);
	assert_int_equal(receipt_outcome_for(PU_ERR_NOT_RECIPIENT),
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED);
}

/* A receipt dated before the message existed is refused: a stolen key cannot backdate it. */
static void
recipient_receipt_backdated(void **state)
{
	struct fx_agency *nle = fx_agency(&fx, NLE);
	uint8_t *p;
	size_t len;
	struct msg x;

	(void)state;
	msg_make(&x, to_nle_fed, 2);
	make_receipt(&p, &len, &x.h, NLE, OPENED, x.mac, x.h.core->created_at - 301,
	    nle->sign_kid, nle->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, x.m.sealed.receipt_mac), PU_ERR_RECEIPT_FIELD);
	free(p);
	make_receipt(&p, &len, &x.h, NLE, OPENED, x.mac, x.h.core->created_at - 300,
	    nle->sign_kid, nle->sign_sk);
	assert_rc(recipient_verify(p, len, &x.h, x.m.sealed.receipt_mac), PU_OK);
	free(p);
	msg_free(&x);
}

/*
 * An empty Signed (zero bytes: every field absent) names no signer and must be refused as
 * such. Its absent body is a NULL pointer of length 0, which pb_decode passes to memcmp:
 * undefined behaviour, so UBSan stops here. Kept last so the other results are printed.
 */
static void
empty_signed(void **state)
{
	static const uint8_t nothing[1];
	struct msg x;
	int rc_recipient;

	(void)state;
	msg_make(&x, to_nle, 1);
	rc_recipient = recipient_verify(nothing, 0, &x.h, NULL);
	msg_free(&x);
	assert_rc(rc_recipient, PU_ERR_RECEIPT_SIGNER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recipient_receipt_verifies),
		cmocka_unit_test(recipient_receipt_wrong_mac),
		cmocka_unit_test(recipient_receipt_signer),
		cmocka_unit_test(recipient_receipt_replayed),
		cmocka_unit_test(recipient_receipt_key_status),
		cmocka_unit_test(receipt_context_separation),
		cmocka_unit_test(malformed_receipts),
		cmocka_unit_test(outcome_for),
		cmocka_unit_test(recipient_receipt_backdated),
		cmocka_unit_test(empty_signed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
