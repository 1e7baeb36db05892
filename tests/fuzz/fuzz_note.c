/*
 * fuzz_note.c - a signed checkpoint as a client, a witness or the verifier receives it:
 * parse, then the gateway's signature and a witness's cosignature checked with the keys
 * they hold, and what parse promises about a note it accepts. Input: the note.
 *
 * Signatures made by the fixture's keys rarely survive a mutation, so every accepted text
 * is also signed and cosigned afresh and must then verify: the fuzzer's own texts reach
 * the success paths too. The fixture's gateway and auditor signing keys stand in for the
 * checkpoint and witness keys (same key type, same seed as puente-make-corpus).
 */
#include <string.h>

#include "buf.h"
#include "fixture.h"
#include "fuzz.h"
#include "merkle.h"
#include "note.h"
#include "pu_err.h"
#include "testrng.h"

/* The same names as puente-make-corpus, so its valid seeds verify here. */
#define LOG_NAME "mx-cmx-gw01.puente.example/log"
#define WITNESS_NAME "mx-fed-auditoria.puente.example/witness"
#define COSIGN_TIME 1790000000u

static struct fixture fx;
static const struct fx_agency *gw, *auditor;

/* Built on first use: libFuzzer has no setup hook we need, and replay calls the same way. */
static void
fixture_once(void)
{
	static int ready;

	if (ready)
		return;
	testrng_install(FUZZ_RNG_SEED);
	fx_init(&fx);
	gw = fx_agency(&fx, "MX-CMX-GW01");
	auditor = fx_agency(&fx, "MX-FED-AUDITORIA");
	FUZZ_ASSERT(gw != NULL && auditor != NULL);
	ready = 1;
}

/* What note_parse promises about a note it accepts. */
static void
structure_check(const struct note *n, const uint8_t *data, size_t size)
{
	FUZZ_ASSERT(n->len == size && size <= NOTE_MAX_LEN && memcmp(n->buf, data, size) == 0);
	/* The text ends in a newline, then the blank line, then signature lines. */
	FUZZ_ASSERT(n->text_len >= 1 && n->text_len + 1 < n->len);
	FUZZ_ASSERT(n->buf[n->text_len - 1] == '\n' && n->buf[n->text_len] == '\n');
	FUZZ_ASSERT(n->buf[n->len - 1] == '\n');
	FUZZ_ASSERT(n->origin_len >= 1 && n->origin_len < n->text_len);
	FUZZ_ASSERT(memchr(n->buf, '\n', n->origin_len) == NULL);
	FUZZ_ASSERT(n->ext_off <= n->text_len);
	FUZZ_ASSERT(n->n_sigs >= 1 && n->n_sigs <= NOTE_MAX_SIGS);
	for (size_t i = 0; i < n->n_sigs; i++) {
		const struct note_sig *s = &n->sigs[i];

		FUZZ_ASSERT(s->name_off > n->text_len && s->name_len >= 1);
		FUZZ_ASSERT(s->b64_off == s->name_off + s->name_len + 1);
		FUZZ_ASSERT(s->b64_len >= 8 && s->b64_off + s->b64_len < n->len);
		FUZZ_ASSERT(memchr(n->buf + s->name_off, ' ', s->name_len) == NULL);
		FUZZ_ASSERT(memchr(n->buf + s->name_off, '+', s->name_len) == NULL);
		FUZZ_ASSERT(n->buf[s->b64_off + s->b64_len] == '\n');
	}
}

/* Without extension lines, the text is exactly what note_checkpoint_format writes. */
static void
canonical_check(const struct note *n)
{
	char origin[NOTE_MAX_LEN + 1];
	struct buf b;
	int rc;

	if (n->ext_off != n->text_len)
		return;
	memcpy(origin, n->buf, n->origin_len);
	origin[n->origin_len] = '\0';
	buf_init(&b, NOTE_MAX_LEN);
	rc = note_checkpoint_format(origin, n->tree_size, n->root, &b);
	/* A note may be accepted whose text leaves too little room to sign it again. */
	FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_NOTE_SIZE);
	if (rc == PU_OK)
		FUZZ_ASSERT(b.len == n->text_len && memcmp(b.data, n->buf, b.len) == 0);
	buf_free(&b);
}

/* Verification outcomes and what found must say with each. */
static void
verify_check(const struct note *n)
{
	uint64_t ts = 0;
	int found = -1, rc;

	rc = note_verify(n, LOG_NAME, gw->sign_pk, &found);
	FUZZ_ASSERT_CODE(rc);
	FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_NOTE_UNSIGNED || rc == PU_ERR_NOTE_SIGNATURE);
	FUZZ_ASSERT(found == (rc != PU_ERR_NOTE_UNSIGNED));
	rc = note_verify_cosignature(n, WITNESS_NAME, auditor->sign_pk, &found, &ts);
	FUZZ_ASSERT_CODE(rc);
	FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_NOTE_UNSIGNED || rc == PU_ERR_NOTE_SIGNATURE ||
	    rc == PU_ERR_NOTE_TIMESTAMP);
	FUZZ_ASSERT(found == (rc != PU_ERR_NOTE_UNSIGNED));
	if (rc == PU_OK)
		FUZZ_ASSERT(ts <= (uint64_t)INT64_MAX);
	FUZZ_ASSERT(note_same_tree(n, n) == PU_OK);
}

/* Whatever text is accepted can be signed and cosigned, and then verifies. */
static void
resign_check(const struct note *n)
{
	static struct note again;
	struct buf b;
	uint64_t ts;
	int found, rc;

	buf_init(&b, NOTE_MAX_LEN);
	FUZZ_ASSERT(buf_append(&b, n->buf, n->text_len + 1) == PU_OK);
	rc = note_sign(n->buf, n->text_len, LOG_NAME, gw->sign_sk, gw->sign_pk, &b);
	FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_NOTE_SIZE);
	if (rc == PU_OK)
		rc = note_cosign(n->buf, n->text_len, WITNESS_NAME, auditor->sign_sk,
		    auditor->sign_pk, COSIGN_TIME, &b);
	/* The two lines may not both fit in the buffer's NOTE_MAX_LEN. */
	FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_NOTE_SIZE || rc == PU_ERR_TOO_LARGE);
	if (rc == PU_OK) {
		FUZZ_ASSERT(note_parse(b.data, b.len, &again) == PU_OK);
		FUZZ_ASSERT(again.tree_size == n->tree_size && again.text_len == n->text_len);
		FUZZ_ASSERT(memcmp(again.root, n->root, MERKLE_HASH_LEN) == 0);
		FUZZ_ASSERT(note_verify(&again, LOG_NAME, gw->sign_pk, &found) == PU_OK);
		FUZZ_ASSERT(note_verify_cosignature(&again, WITNESS_NAME, auditor->sign_pk, &found,
		    &ts) == PU_OK && ts == COSIGN_TIME);
		FUZZ_ASSERT(note_same_tree(n, &again) == PU_OK);
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Static: a note is 8 KiB, and libFuzzer's stack is better left to the library. */
	static struct note n;
	int rc;

	fixture_once();
	rc = note_parse(data, size, &n);
	FUZZ_ASSERT_CODE(rc);
	if (rc != PU_OK) {
		FUZZ_ASSERT(n.len == 0 && n.n_sigs == 0);
		return 0;
	}
	structure_check(&n, data, size);
	canonical_check(&n);
	verify_check(&n);
	resign_check(&n);
	return 0;
}
