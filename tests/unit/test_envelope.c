/*
 * test_envelope.c - sealing and opening through the real library: round trips of every
 * message type and size, and THREATS.md groups 1, 2, 3, 4, 5, 15 and 16 at library level,
 * each attack performed and its exact error asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "casefile.h"
#include "fixture.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

#define MiB (1024u * 1024)
#define TLA "MX-TLA-PPNNA"
#define NLE "MX-NLE-PPNNA"
#define TAB "MX-TAB-PPNNA"
#define FED "MX-FED-PFPNNA"

static struct fixture fx;
static const char *const to_nle_fed[] = { NLE, FED };
static const char *const to_nle[] = { NLE };

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
roundtrip_every_type(void **state)
{
	(void)state;
	for (int t = 1; t <= 19; t++) {
		struct fx_msg m;
		Puente__CaseMessage *cm;
		uint8_t mac[32];

		assert_int_equal(fx_seal(&fx, &m, TLA, to_nle_fed, 2, t, NULL, 0), PU_OK);
		assert_int_equal(fx_open(&fx, &m, NLE, &cm, mac), PU_OK);
		assert_int_equal(cm->type, t);
		assert_int_equal(cm->payload_case, 100 + t);
		assert_memory_equal(mac, m.sealed.receipt_mac, 32);
		pb_free(cm);
		assert_int_equal(fx_open(&fx, &m, FED, NULL, mac), PU_OK);
		assert_memory_equal(mac, m.sealed.receipt_mac, 32);
		fx_msg_free(&m);
	}
}

static void
roundtrip_one_size(uint64_t size)
{
	struct fx_msg m;
	struct header h;
	uint64_t sizes[2] = { size, 3 };

	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS,
	    sizes, 2), PU_OK);
	assert_int_equal(header_decode(&h, m.sealed.header, m.sealed.header_len), PU_OK);
	assert_int_equal(h.core->chunk_count, m.n_chunks);
	assert_int_equal(m.n_chunks, (h.core->content_length + MiB - 1) / MiB);
	header_free(&h);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_OK);
	fx_msg_free(&m);
}

static void
roundtrip_sizes(void **state)
{
	static const uint64_t sizes[] = { 0, 1, MiB - 1, MiB, MiB + 1, 20 * MiB };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		roundtrip_one_size(sizes[i]);
}

/* THREATS.md 16: the last data chunk exactly 1 MiB (content length a multiple of 1 MiB). */
static void
last_chunk_exactly_one_mib(void **state)
{
	Puente__CaseMessage *cm;
	struct fx_msg m;
	uint64_t att = 2 * MiB - 100;	/* same varint length as the final size */
	uint8_t *enc;
	size_t enc_len;

	(void)state;
	cm = fx_case_new(PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS, "MX-2026-7F3K9Q", &att, 1);
	pb_encode(&cm->base, &enc, &enc_len);
	free(enc);
	fx_case_free(cm);
	att = 2 * MiB - PU_CONTENT_OVERHEAD - enc_len;
	cm = fx_case_new(PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS, "MX-2026-7F3K9Q", &att, 1);
	assert_int_equal(fx_seal_case(&fx, &m, TLA, to_nle, 1, cm, NULL), PU_OK);
	assert_int_equal(m.n_chunks, 2);
	assert_int_equal(m.chunk_len[1], MiB + PU_CHUNK_ABYTES);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_OK);
	fx_msg_free(&m);
	fx_case_free(cm);
}

/* Where needle starts inside the header bytes. */
static size_t
find_in_header(const struct fx_msg *m, const uint8_t *needle, size_t n)
{
	for (size_t i = 0; i + n <= m->sealed.header_len; i++)
		if (memcmp(m->sealed.header + i, needle, n) == 0)
			return i;
	fail_msg("needle not in header");
	return 0;
}

static void
verify_header_bytes(struct fx_msg *m, int expect)
{
	struct header h;
	int rc = header_decode(&h, m->sealed.header, m->sealed.header_len);

	if (rc == PU_OK) {
		rc = header_verify_signature(&h, &fx.dir);
		header_free(&h);
	}
	assert_string_equal(pu_err_name(rc), pu_err_name(expect));
}

static void
no_edit(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	(void)c, (void)man, (void)arg;
}

/* THREATS.md 1: signatures. */
static void
signatures(void **state)
{
	struct fx_msg m;
	struct header h;

	(void)state;
	/* header signed by another agency */
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	fx_resign(&fx, &m, NLE, no_edit, NULL);
	verify_header_bytes(&m, PU_ERR_SIGNATURE);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_ERR_SIGNATURE);
	fx_msg_free(&m);

	/* one flipped bit in the core (msg_id), the manifest (a chunk hash), the signature */
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	assert_int_equal(header_decode(&h, m.sealed.header, m.sealed.header_len), PU_OK);
	uint8_t msg_id[16], chunk_hash[32], sig[64];
	memcpy(msg_id, h.core->msg_id.data, 16);
	memcpy(chunk_hash, h.manifest->chunk_hashes[0].data, 32);
	memcpy(sig, h.signed_hdr->signature.data, 64);
	header_free(&h);
	size_t at[3] = { find_in_header(&m, msg_id, 16) + 7, find_in_header(&m, chunk_hash, 32) + 9,
	    find_in_header(&m, sig, 64) + 33 };
	for (int i = 0; i < 3; i++) {
		m.sealed.header[at[i]] ^= 0x04;
		verify_header_bytes(&m, PU_ERR_SIGNATURE);
		m.sealed.header[at[i]] ^= 0x04;
		verify_header_bytes(&m, PU_OK);
	}
	fx_msg_free(&m);
}

/* THREATS.md 1: inner signature from another key (the header re-signed by the sender). */
static void
inner_signature_other_key(void **state)
{
	struct fx_agency *tla = fx_agency(&fx, TLA), *nle = fx_agency(&fx, NLE);
	uint8_t *saved = tla->sign_sk;
	struct fx_msg m;

	(void)state;
	tla->sign_sk = nle->sign_sk;	/* content signed with NLE's key */
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	tla->sign_sk = saved;
	fx_resign(&fx, &m, TLA, no_edit, NULL);	/* header signature made valid again */
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_ERR_CONTENT_SIGNATURE);
	assert_int_equal(receipt_outcome_for(PU_ERR_CONTENT_SIGNATURE),
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_BAD_SIGNATURE);
	fx_msg_free(&m);
}

/* THREATS.md 15: the core/manifest split moved under the same signature. */
static void
split_moved(void **state)
{
	struct fx_agency *tla = fx_agency(&fx, TLA);
	const uint8_t core[] = "core-bytes", man[] = "manifest";
	uint8_t sig[64];
	struct field right[2] = { { core, 10 }, { man, 8 } };
	struct field moved[2] = { { core, 11 }, { man + 1, 7 } };
	struct field joined[1] = { { "core-bytesmanifest", 18 } };

	(void)state;
	assert_int_equal(sig_sign(sig, tla->sign_sk, PU_CTX_HEADER, right, 2), PU_OK);
	assert_int_equal(sig_verify(sig, 64, tla->sign_pk, PU_CTX_HEADER, right, 2), PU_OK);
	assert_int_equal(sig_verify(sig, 64, tla->sign_pk, PU_CTX_HEADER, moved, 2), PU_ERR_SIGNATURE);
	assert_int_equal(sig_verify(sig, 64, tla->sign_pk, PU_CTX_HEADER, joined, 1), PU_ERR_SIGNATURE);
	/* the same bytes under another purpose */
	assert_int_equal(sig_verify(sig, 64, tla->sign_pk, PU_CTX_CONTENT, right, 2), PU_ERR_SIGNATURE);
}

/* THREATS.md 15: B relays A's sealed message to C, who is not a recipient. */
static void
forwarded_to_non_recipient(void **state)
{
	struct fx_msg m;

	(void)state;
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	assert_int_equal(fx_open(&fx, &m, TAB, NULL, NULL), PU_ERR_NOT_RECIPIENT);
	fx_msg_free(&m);
}

static int
check_keys(struct fx_msg *m, int64_t now)
{
	struct header h;
	int rc = header_decode(&h, m->sealed.header, m->sealed.header_len);

	if (rc == PU_OK) {
		rc = header_verify_signature(&h, &fx.dir);
		if (rc == PU_OK)
			rc = header_check_keys(&h, &fx.dir, now);
		header_free(&h);
	}
	return rc;
}

static void
set_stanza_key(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	struct fx_agency *other = arg;

	(void)man;
	memcpy(c->recipients[0]->key_id.data, other->enc_kid, 16);
}

static void
zero_ephemeral(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	memset(c->recipients[0]->ephemeral_public.data, 0, 32);
}

static void
short_wrapped_key(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	c->recipients[0]->wrapped_key.len = 47;
}

static void
duplicate_recipient(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	free(c->recipients[1]->agency_id);
	c->recipients[1]->agency_id = strdup(c->recipients[0]->agency_id);
}

static void
seventeen_recipients(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	uint8_t *enc;
	size_t len;

	(void)man, (void)arg;
	pb_encode(&c->recipients[0]->base, &enc, &len);
	c->recipients = realloc(c->recipients, 17 * sizeof(*c->recipients));
	for (size_t i = c->n_recipients; i < 17; i++)
		c->recipients[i] = puente__recipient_stanza__unpack(NULL, len, enc);
	c->n_recipients = 17;
	free(enc);
}

/* THREATS.md 2: recipients and key wrapping. */
static void
recipients_and_wrapping(void **state)
{
	struct fx_agency *tla = fx_agency(&fx, TLA), *tab = fx_agency(&fx, TAB);
	struct fx_msg m;

	(void)state;
	/* all-zero X25519 recipient key: refused by the sealer */
	{
		struct seal_recipient r = { NLE, { 1 }, { 0 } };
		struct seal_params p = { 0 };
		struct sealer *s;
		uint8_t cm[4] = { 0 };
		p.sender = TLA;
		memcpy(p.sender_key_id, tla->sign_kid, 16);
		p.sender_sk = tla->sign_sk;
		p.recipients = &r;
		p.n_recipients = 1;
		p.type = 2;
		p.case_id = "MX-2026-7F3K9Q";
		p.created_at = fx.now;
		p.expires_at = fx.now + 3600;
		assert_int_equal(envelope_seal_begin(&s, &p, cm, sizeof(cm), 0, NULL, NULL),
		    PU_ERR_LOW_ORDER_KEY);
	}
	{
		/* recipient not in the directory */
		struct fx_msg m2;
		struct fx_agency *nle = fx_agency(&fx, NLE);
		const char *saved = nle->id;
		assert_int_equal(fx_seal(&fx, &m2, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
		nle->id = "MX-ZAC-PPNNA";
		fx_publish(&fx);
		assert_int_equal(check_keys(&m2, fx.now), PU_ERR_RECIPIENT_UNKNOWN);
		nle->id = saved;
		fx_publish(&fx);
		assert_int_equal(check_keys(&m2, fx.now), PU_OK);
		fx_msg_free(&m2);
	}
	/* stanza for a key that is not the recipient's */
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	fx_resign(&fx, &m, TLA, set_stanza_key, tab);
	assert_int_equal(check_keys(&m, fx.now), PU_ERR_STANZA_KEY);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_ERR_STANZA_KEY);
	fx_msg_free(&m);
	/* low-order ephemeral key in a stanza */
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	fx_resign(&fx, &m, TLA, zero_ephemeral, NULL);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_ERR_LOW_ORDER_KEY);
	fx_msg_free(&m);
	/* wrapped key of the wrong length */
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	fx_resign(&fx, &m, TLA, short_wrapped_key, NULL);
	verify_header_bytes(&m, PU_ERR_HEADER_FIELD);
	fx_msg_free(&m);
	/* duplicate recipients: refused when sealing and when reading */
	{
		const char *const dup[] = { NLE, NLE };
		assert_int_equal(fx_seal(&fx, &m, TLA, dup, 2, 2, NULL, 0), PU_ERR_RECIPIENT_DUPLICATE);
		fx_msg_free(&m);
	}
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle_fed, 2, 2, NULL, 0), PU_OK);
	fx_resign(&fx, &m, TLA, duplicate_recipient, NULL);
	verify_header_bytes(&m, PU_ERR_RECIPIENT_DUPLICATE);
	fx_msg_free(&m);
	/* more than 16 recipients */
	{
		const char *const seventeen[17] = { NLE, FED, TAB, NLE, FED, TAB, NLE, FED, TAB,
		    NLE, FED, TAB, NLE, FED, TAB, NLE, FED };
		assert_int_equal(fx_seal(&fx, &m, TLA, seventeen, 17, 2, NULL, 0),
		    PU_ERR_TOO_MANY_RECIPIENTS);
		fx_msg_free(&m);
	}
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	fx_resign(&fx, &m, TLA, seventeen_recipients, NULL);
	verify_header_bytes(&m, PU_ERR_PB_LIMIT);
	fx_msg_free(&m);
}

struct stanza_swap {
	const uint8_t *header;
	size_t header_len;
};

/* Replace NLE's stanza with the one of another message that wraps a different key. */
static void
swap_stanza(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	struct stanza_swap *sw = arg;
	Puente__SignedHeader *sh = puente__signed_header__unpack(NULL, sw->header_len, sw->header);
	Puente__HeaderCore *other = puente__header_core__unpack(NULL, sh->core.len, sh->core.data);

	(void)man;
	memcpy(c->recipients[0]->ephemeral_public.data, other->recipients[0]->ephemeral_public.data, 32);
	memcpy(c->recipients[0]->wrapped_key.data, other->recipients[0]->wrapped_key.data, 48);
	puente__header_core__free_unpacked(other, NULL);
	puente__signed_header__free_unpacked(sh, NULL);
}

/* THREATS.md 2 and 17: a sender shows NLE a different content key than FED (commitment). */
static void
key_commitment_mismatch(void **state)
{
	static const uint8_t id[16] = { 0x42 };
	struct seal_params ov = { 0 };
	Puente__CaseMessage *cm = fx_case_new(2, "MX-2026-7F3K9Q", NULL, 0);
	struct fx_msg a, b;

	(void)state;
	ov.msg_id = id;
	assert_int_equal(fx_seal_case(&fx, &a, TLA, to_nle_fed, 2, cm, &ov), PU_OK);
	assert_int_equal(fx_seal_case(&fx, &b, TLA, to_nle_fed, 2, cm, &ov), PU_OK);
	struct stanza_swap sw = { b.sealed.header, b.sealed.header_len };
	fx_resign(&fx, &a, TLA, swap_stanza, &sw);
	assert_int_equal(fx_open(&fx, &a, NLE, NULL, NULL), PU_ERR_COMMITMENT);
	/* Any edit of the core changes the chunks' associated data: FED's chunks fail too. */
	assert_int_equal(fx_open(&fx, &a, FED, NULL, NULL), PU_ERR_CHUNK_DECRYPT);
	assert_int_equal(receipt_outcome_for(PU_ERR_COMMITMENT),
	    PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_COMMITMENT_MISMATCH);
	fx_msg_free(&a);
	fx_msg_free(&b);
	fx_case_free(cm);
}

static void
set_version(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	(void)man;
	c->version = *(uint32_t *)arg;
}

static void
alter_stream_header(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	c->stream_header.data[0] ^= 0x80;
}

/* THREATS.md 3 (header side) and 16: versions, key status, stream header. */
static void
versions_and_keys(void **state)
{
	struct fx_agency *tla = fx_agency(&fx, TLA);
	struct fx_msg m;
	uint32_t v2 = 2;

	(void)state;
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	fx_resign(&fx, &m, TLA, set_version, &v2);
	verify_header_bytes(&m, PU_ERR_VERSION);
	fx_msg_free(&m);

	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	/* key valid from now - 1 day to now + 365 days */
	assert_int_equal(check_keys(&m, fx.now), PU_OK);
	assert_int_equal(check_keys(&m, fx.now - 2 * 86400), PU_ERR_KEY_NOT_YET_VALID);
	assert_int_equal(check_keys(&m, fx.now + 400 * 86400), PU_ERR_KEY_EXPIRED);
	tla->status = PUENTE__AGENCY_STATUS__AGENCY_STATUS_SUSPENDED;
	fx_publish(&fx);
	assert_int_equal(check_keys(&m, fx.now), PU_ERR_AGENCY_SUSPENDED);
	tla->status = PUENTE__AGENCY_STATUS__AGENCY_STATUS_REVOKED;
	fx_publish(&fx);
	assert_int_equal(check_keys(&m, fx.now), PU_ERR_AGENCY_REVOKED);
	tla->status = PUENTE__AGENCY_STATUS__AGENCY_STATUS_ACTIVE;
	/* compromised since before the message: gateway and recipient both refuse */
	tla->sign_status = PUENTE__KEY_STATUS__KEY_STATUS_COMPROMISED;
	tla->sign_status_since = fx.now - 10;
	fx_publish(&fx);
	assert_int_equal(check_keys(&m, fx.now), PU_ERR_KEY_COMPROMISED);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_ERR_KEY_COMPROMISED);
	/* compromised only after the message was made: the recipient still opens it */
	tla->sign_status_since = fx.now + 10;
	fx_publish(&fx);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_OK);
	/* retired: old messages verify, new ones are refused */
	tla->sign_status = PUENTE__KEY_STATUS__KEY_STATUS_RETIRED;
	tla->sign_status_since = fx.now + 10;
	fx_publish(&fx);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_OK);
	assert_int_equal(check_keys(&m, fx.now + 20), PU_ERR_KEY_RETIRED);
	tla->sign_status = PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE;
	tla->sign_status_since = 0;
	fx_publish(&fx);
	fx_msg_free(&m);

	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	fx_resign(&fx, &m, TLA, alter_stream_header, NULL);
	assert_int_equal(fx_open(&fx, &m, NLE, NULL, NULL), PU_ERR_COMMITMENT);
	fx_msg_free(&m);
}

static void
set_times(Puente__HeaderCore *c, Puente__Manifest *man, void *arg)
{
	const int64_t *t = arg;

	(void)man;
	c->created_at = t[0];
	c->expires_at = t[1];
}

static int
check_time(struct fx_msg *m, int64_t now)
{
	struct header h;
	int rc = header_decode(&h, m->sealed.header, m->sealed.header_len);

	if (rc == PU_OK) {
		rc = header_check_time(&h, now);
		header_free(&h);
	}
	return rc;
}

/* THREATS.md 4 (library side): time rules. */
static void
time_rules(void **state)
{
	struct seal_params ov = { 0 };
	Puente__CaseMessage *cm = fx_case_new(2, "MX-2026-7F3K9Q", NULL, 0);
	struct fx_msg m;

	(void)state;
	ov.created_at = fx.now;
	ov.expires_at = fx.now + 7 * 86400 + 1;
	assert_int_equal(fx_seal_case(&fx, &m, TLA, to_nle, 1, cm, &ov), PU_ERR_EXPIRY_TOO_LONG);
	fx_msg_free(&m);
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 2, NULL, 0), PU_OK);
	assert_int_equal(check_time(&m, fx.now), PU_OK);
	assert_int_equal(check_time(&m, fx.now - 300), PU_OK);
	assert_int_equal(check_time(&m, fx.now - 301), PU_ERR_FUTURE);
	assert_int_equal(check_time(&m, fx.now + 3 * 86400), PU_ERR_EXPIRED);
	int64_t long_life[2] = { fx.now, fx.now + 7 * 86400 + 1 };
	fx_resign(&fx, &m, TLA, set_times, long_life);
	assert_int_equal(check_time(&m, fx.now), PU_ERR_EXPIRY_TOO_LONG);
	fx_msg_free(&m);
	fx_case_free(cm);
}

static int
open_order(struct fx_msg *m, const char *me, const int *order, size_t n, int finish)
{
	struct fx_agency *a = fx_agency(&fx, me);
	struct open_key key;
	struct header h;
	struct opener *o;
	Puente__CaseMessage *cm = NULL;
	uint8_t mac[32];
	int rc;

	memcpy(key.key_id, a->enc_kid, 16);
	memcpy(key.public_key, a->enc_pk, 32);
	key.secret_key = a->enc_sk;
	assert_int_equal(header_decode(&h, m->sealed.header, m->sealed.header_len), PU_OK);
	assert_int_equal(envelope_open_begin(&o, &h, &fx.dir, me, &key, 1, NULL, NULL), PU_OK);
	rc = PU_OK;
	for (size_t i = 0; i < n && rc == PU_OK; i++) {
		uint32_t idx = (uint32_t)order[i];
		rc = envelope_open_chunk(o, idx, m->chunk[idx % m->n_chunks],
		    m->chunk_len[idx % m->n_chunks]);
	}
	if (rc == PU_OK && finish)
		rc = envelope_open_finish(o, &cm, mac);
	pb_free(cm);
	envelope_open_free(o);
	header_free(&h);
	return rc;
}

/* THREATS.md 5: the chunk stream. */
static void
chunk_stream(void **state)
{
	uint64_t att = 2 * MiB + 10;	/* three chunks */
	struct fx_msg m;
	struct header h;

	(void)state;
	assert_int_equal(fx_seal(&fx, &m, TLA, to_nle, 1, 12, &att, 1), PU_OK);
	assert_int_equal(m.n_chunks, 3);
	assert_int_equal(open_order(&m, NLE, (int[]){ 0, 1, 2 }, 3, 1), PU_OK);
	assert_int_equal(open_order(&m, NLE, (int[]){ 1 }, 1, 0), PU_ERR_CHUNK_ORDER);
	assert_int_equal(open_order(&m, NLE, (int[]){ 0, 0 }, 2, 0), PU_ERR_CHUNK_ORDER);
	assert_int_equal(open_order(&m, NLE, (int[]){ 0, 2 }, 2, 0), PU_ERR_CHUNK_ORDER);
	assert_int_equal(open_order(&m, NLE, (int[]){ 0, 1 }, 2, 1), PU_ERR_STREAM_INCOMPLETE);
	assert_int_equal(open_order(&m, NLE, (int[]){ 0, 1, 2, 3 }, 4, 0), PU_ERR_CHUNK_EXTRA);
	/* a chunk one byte longer than declared */
	m.chunk[1] = realloc(m.chunk[1], m.chunk_len[1] + 1);
	m.chunk_len[1]++;
	assert_int_equal(open_order(&m, NLE, (int[]){ 0, 1 }, 2, 0), PU_ERR_CHUNK_SIZE);
	assert_int_equal(header_decode(&h, m.sealed.header, m.sealed.header_len), PU_OK);
	assert_int_equal(header_check_chunk(&h, 1, m.chunk[1], m.chunk_len[1]), PU_ERR_CHUNK_SIZE);
	m.chunk_len[1]--;
	/* a flipped byte: not the chunk the manifest names */
	m.chunk[1][100] ^= 1;
	assert_int_equal(header_check_chunk(&h, 1, m.chunk[1], m.chunk_len[1]), PU_ERR_CHUNK_HASH);
	assert_int_equal(open_order(&m, NLE, (int[]){ 0, 1 }, 2, 0), PU_ERR_CHUNK_HASH);
	m.chunk[1][100] ^= 1;
	assert_int_equal(header_check_chunk(&h, 1, m.chunk[1], m.chunk_len[1]), PU_OK);
	assert_int_equal(header_check_chunk(&h, 3, m.chunk[1], m.chunk_len[1]), PU_ERR_CHUNK_EXTRA);
	header_free(&h);
	fx_msg_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip_every_type),
		cmocka_unit_test(roundtrip_sizes),
		cmocka_unit_test(last_chunk_exactly_one_mib),
		cmocka_unit_test(signatures),
		cmocka_unit_test(inner_signature_other_key),
		cmocka_unit_test(split_moved),
		cmocka_unit_test(forwarded_to_non_recipient),
		cmocka_unit_test(recipients_and_wrapping),
		cmocka_unit_test(key_commitment_mismatch),
		cmocka_unit_test(versions_and_keys),
		cmocka_unit_test(time_rules),
		cmocka_unit_test(chunk_stream),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
