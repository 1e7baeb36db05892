/*
 * fuzz_header.c - a sealed message's header as the gateway receives it in SUBMIT: decode,
 * then every check against the directory (signature, keys, time) and the chunk checks
 * against its manifest. Input: the encoded SignedHeader.
 */
#include <string.h>

#include "fixture.h"
#include "fuzz.h"
#include "header.h"
#include "pu_err.h"
#include "testrng.h"

static struct fixture fx;

/* Built on first use: libFuzzer has no setup hook we need, and replay calls the same way. */
static void
fixture_once(void)
{
	static int ready;

	if (ready)
		return;
	testrng_install(FUZZ_RNG_SEED);
	fx_init(&fx);
	ready = 1;
}

/* What header_decode promises about a header it accepts. */
static void
structure_check(const struct header *h)
{
	const Puente__HeaderCore *c = h->core;

	FUZZ_ASSERT(h->signed_hdr != NULL && c != NULL && h->manifest != NULL);
	FUZZ_ASSERT(h->signed_hdr->signature.len == PU_SIG_LEN && c->version == PU_VERSION);
	FUZZ_ASSERT(c->msg_id.len == PU_MSG_ID_LEN && c->sender_key_id.len == PU_KEY_ID_LEN);
	FUZZ_ASSERT(c->n_recipients >= 1 && c->n_recipients <= PU_MAX_RECIPIENTS);
	for (size_t i = 0; i < c->n_recipients; i++) {
		const Puente__RecipientStanza *s = c->recipients[i];
		FUZZ_ASSERT(s->key_id.len == PU_KEY_ID_LEN &&
		    s->ephemeral_public.len == PU_PUBLIC_KEY_LEN &&
		    s->wrapped_key.len == PU_WRAPPED_KEY_LEN);
		/* Recipients are distinct, so lookup by id finds this very stanza. */
		FUZZ_ASSERT(header_find_recipient(h, s->agency_id) == s);
	}
	FUZZ_ASSERT(c->content_length >= PU_CONTENT_OVERHEAD &&
	    c->content_length <= PU_MAX_CONTENT);
	FUZZ_ASSERT(c->chunk_count == chunk_count_for(c->content_length));
	FUZZ_ASSERT(h->manifest->n_chunk_hashes == c->chunk_count);
}

static void
time_check(const struct header *h)
{
	const Puente__HeaderCore *c = h->core;
	int rc = header_check_time(h, FX_NOW);

	FUZZ_ASSERT_CODE(rc);
	if (rc == PU_OK)
		FUZZ_ASSERT(c->created_at <= FX_NOW + PU_MAX_FUTURE && FX_NOW < c->expires_at &&
		    c->expires_at - c->created_at <= PU_MAX_LIFETIME);
}

/*
 * Every chunk the manifest lists, checked against the input's first bytes: the right
 * size only when the input is long enough, and then almost surely the wrong hash.
 */
static void
chunks_check(const struct header *h, const uint8_t *data, size_t size)
{
	uint32_t n = h->core->chunk_count;
	uint64_t total = 0;
	int rc;

	for (uint32_t i = 0; i < n; i++) {
		size_t want = header_chunk_len(h, i);
		size_t len = want <= size ? want : size;

		FUZZ_ASSERT(want > PU_CHUNK_ABYTES && want <= PU_CHUNK_SIZE + PU_CHUNK_ABYTES);
		FUZZ_ASSERT(i + 1 == n || want == PU_CHUNK_SIZE + PU_CHUNK_ABYTES);
		total += want - PU_CHUNK_ABYTES;
		rc = header_check_chunk(h, i, data, len);
		if (len == want)
			FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_CHUNK_HASH);
		else
			FUZZ_ASSERT(rc == PU_ERR_CHUNK_SIZE);
	}
	FUZZ_ASSERT(total == h->core->content_length);
	FUZZ_ASSERT(header_check_chunk(h, n, data, size) == PU_ERR_CHUNK_EXTRA);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct header h;
	int rc;

	fixture_once();
	rc = header_decode(&h, data, size);
	FUZZ_ASSERT_CODE(rc);
	if (rc != PU_OK) {
		FUZZ_ASSERT(h.signed_hdr == NULL && h.core == NULL && h.manifest == NULL);
		return 0;
	}
	structure_check(&h);
	rc = header_verify_signature(&h, &fx.dir);
	FUZZ_ASSERT_CODE(rc);
	rc = header_check_keys(&h, &fx.dir, FX_NOW);
	FUZZ_ASSERT_CODE(rc);
	time_check(&h);
	chunks_check(&h, data, size);
	header_free(&h);
	FUZZ_ASSERT(h.signed_hdr == NULL && h.core == NULL && h.manifest == NULL);
	return 0;
}
