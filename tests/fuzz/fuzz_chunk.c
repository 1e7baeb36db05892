/*
 * fuzz_chunk.c - a recipient opening a chunk stream in which one chunk is the input.
 *
 * Two messages from MX-TLA-PPNNA to MX-NLE-PPNNA are sealed once with the deterministic
 * fixture: a one-chunk one and a two-chunk one (an attachment of 1.5 MiB). Input: a
 * selector byte, then the ciphertext. Bit 7 of the selector picks the two-chunk message,
 * the rest modulo 3 the chunk index to replace; an index past the last chunk sends the
 * input as an extra chunk after the final one. The other chunks are the sealed ones, in
 * order. Seeds stay small: only the one-chunk message's chunk can be a whole valid chunk.
 *
 * The header pins every chunk by hash, so the stream opens exactly when the input is the
 * chunk it replaces, and no attachment byte other than the sealed ones reaches the sink.
 */
#include <string.h>

#include "fixture.h"
#include "fuzz.h"
#include "pb.h"
#include "pu_err.h"
#include "testrng.h"

#define NLE "MX-NLE-PPNNA"
#define TLA "MX-TLA-PPNNA"
#define SELECT_TWO_CHUNKS 0x80
#define INDEX_CHOICES 3		/* 0..2 */

struct target {
	struct fx_msg m;
	struct header h;
	uint64_t attachment_size;
};

static struct fixture fx;
static struct target one_chunk, two_chunks;
static struct open_key nle_key;

static void
target_seal(struct target *t, uint64_t attachment_size)
{
	static const char *const to[] = { NLE };

	t->attachment_size = attachment_size;
	FUZZ_ASSERT(fx_seal(&fx, &t->m, TLA, to, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS,
	    &t->attachment_size, 1) == PU_OK);
	FUZZ_ASSERT(header_decode(&t->h, t->m.sealed.header, t->m.sealed.header_len) == PU_OK);
}

/* Built on first use; make_corpus.c seals the one-chunk message in the same order. */
static void
fixture_once(void)
{
	static int ready;
	struct fx_agency *nle;

	if (ready)
		return;
	testrng_install(FUZZ_RNG_SEED);
	fx_init(&fx);
	target_seal(&one_chunk, 1000);
	target_seal(&two_chunks, 1536 * 1024);
	FUZZ_ASSERT(one_chunk.m.n_chunks == 1 && two_chunks.m.n_chunks == 2);
	nle = fx_agency(&fx, NLE);
	memcpy(nle_key.key_id, nle->enc_kid, sizeof(nle_key.key_id));
	memcpy(nle_key.public_key, nle->enc_pk, sizeof(nle_key.public_key));
	nle_key.secret_key = nle->enc_sk;
	ready = 1;
}

/* Only authenticated plaintext reaches the sink: the fixture's pattern, in order. */
static int
attachment_sink(void *arg, uint32_t index, const uint8_t *p, size_t len)
{
	uint64_t *off = arg;

	FUZZ_ASSERT(index == 0);
	for (size_t k = 0; k < len; k++)
		FUZZ_ASSERT(p[k] == fx_att_byte(0, *off + k));
	*off += len;
	return PU_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct target *t;
	struct opener *o;
	Puente__CaseMessage *cm = NULL;
	uint8_t mac[PU_HASH_LEN];
	uint64_t delivered = 0;
	uint32_t index, i;
	int rc, same;

	fixture_once();
	if (size == 0)
		return 0;
	t = data[0] & SELECT_TWO_CHUNKS ? &two_chunks : &one_chunk;
	index = (data[0] & ~SELECT_TWO_CHUNKS) % INDEX_CHOICES;
	data++;
	size--;
	same = index < t->m.n_chunks && size == t->m.chunk_len[index] &&
	    memcmp(data, t->m.chunk[index], size) == 0;

	rc = envelope_open_begin(&o, &t->h, &fx.dir, NLE, &nle_key, 1, attachment_sink,
	    &delivered);
	FUZZ_ASSERT(rc == PU_OK);
	for (i = 0; i < t->m.n_chunks && rc == PU_OK; i++) {
		if (i == index)
			rc = envelope_open_chunk(o, i, data, size);
		else
			rc = envelope_open_chunk(o, i, t->m.chunk[i], t->m.chunk_len[i]);
		FUZZ_ASSERT_CODE(rc);
	}
	if (index >= t->m.n_chunks) {
		FUZZ_ASSERT(rc == PU_OK);
		FUZZ_ASSERT(envelope_open_chunk(o, index, data, size) == PU_ERR_CHUNK_EXTRA);
		/* A stream that saw a bad chunk stays failed, even after the final one. */
		FUZZ_ASSERT(envelope_open_finish(o, &cm, mac) != PU_OK && cm == NULL);
	} else {
		FUZZ_ASSERT((rc == PU_OK) == same);
		if (rc == PU_OK) {
			rc = envelope_open_finish(o, &cm, mac);
			FUZZ_ASSERT(rc == PU_OK && cm != NULL);
			FUZZ_ASSERT(memcmp(mac, t->m.sealed.receipt_mac, sizeof(mac)) == 0);
			FUZZ_ASSERT(delivered == t->attachment_size);
			pb_free(cm);
		}
	}
	envelope_open_free(o);
	return 0;
}
