/* header.c - the sealed message header: structure, signature, keys, time, chunks. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "header.h"
#include "ids.h"
#include "pb.h"
#include "pu_err.h"

#define HEADER_BUDGET (2u * 1024 * 1024)

uint64_t
chunk_count_for(uint64_t content_length)
{
	return (content_length + PU_CHUNK_SIZE - 1) / PU_CHUNK_SIZE;
}

void
header_hash_compute(uint8_t out[PU_HASH_LEN], const uint8_t *core, size_t core_len,
    const uint8_t *manifest, size_t manifest_len)
{
	struct field f[2] = { { core, core_len }, { manifest, manifest_len } };
	uint8_t *m;
	size_t m_len;

	/* Inputs are bounded by the decoder's limits, far below the signing-input cap. */
	if (sig_input(PU_CTX_HEADER, f, 2, &m, &m_len) != PU_OK) {
		memset(out, 0, PU_HASH_LEN);
		return;
	}
	crypto_generichash(out, PU_HASH_LEN, m, m_len, NULL, 0);
	free(m);
}

static int
stanzas_check(const Puente__HeaderCore *c)
{
	if (c->n_recipients == 0)
		return PU_ERR_NO_RECIPIENTS;
	if (c->n_recipients > PU_MAX_RECIPIENTS)
		return PU_ERR_TOO_MANY_RECIPIENTS;
	for (size_t i = 0; i < c->n_recipients; i++) {
		const Puente__RecipientStanza *s = c->recipients[i];
		if (agency_id_check(s->agency_id) != PU_OK)
			return PU_ERR_AGENCY_ID;
		if (s->key_id.len != PU_KEY_ID_LEN || s->ephemeral_public.len != PU_PUBLIC_KEY_LEN ||
		    s->wrapped_key.len != PU_WRAPPED_KEY_LEN)
			return PU_ERR_HEADER_FIELD;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->recipients[j]->agency_id, s->agency_id) == 0)
				return PU_ERR_RECIPIENT_DUPLICATE;
	}
	return PU_OK;
}

static int
core_check(const Puente__HeaderCore *c, const Puente__Manifest *m)
{
	int rc;

	if (c->version != PU_VERSION)
		return PU_ERR_VERSION;
	if (c->msg_id.len != PU_MSG_ID_LEN || c->sender_key_id.len != PU_KEY_ID_LEN ||
	    c->stream_header.len != PU_STREAM_HEADER_LEN || c->key_commitment.len != PU_HASH_LEN ||
	    (c->in_reply_to.len != 0 && c->in_reply_to.len != PU_MSG_ID_LEN) ||
	    c->type == PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED ||
	    c->created_at <= 0 || c->expires_at <= c->created_at || c->respond_by < 0 ||
	    (c->respond_by != 0 && c->respond_by <= c->created_at))
		return PU_ERR_HEADER_FIELD;
	if (agency_id_check(c->sender) != PU_OK)
		return PU_ERR_AGENCY_ID;
	if (case_id_check(c->case_id) != PU_OK)
		return PU_ERR_CASE_ID;
	if ((rc = stanzas_check(c)) != PU_OK)
		return rc;
	if (c->content_length < PU_CONTENT_OVERHEAD || c->content_length > PU_MAX_CONTENT ||
	    c->chunk_count != chunk_count_for(c->content_length) ||
	    m->n_chunk_hashes != c->chunk_count)
		return PU_ERR_CHUNK_COUNT;
	for (size_t i = 0; i < m->n_chunk_hashes; i++)
		if (m->chunk_hashes[i].len != PU_HASH_LEN)
			return PU_ERR_HEADER_FIELD;
	return PU_OK;
}

int
header_decode(struct header *h, const uint8_t *data, size_t len)
{
	ProtobufCMessage *m;
	int rc;

	memset(h, 0, sizeof(*h));
	if (len > PU_MAX_HEADER)
		return PU_ERR_TOO_LARGE;
	rc = pb_decode(&puente__signed_header__descriptor, data, len, &pb_limits_wire,
	    HEADER_BUDGET, &m);
	if (rc != PU_OK)
		return rc;
	h->signed_hdr = (Puente__SignedHeader *)m;
	if (h->signed_hdr->signature.len != PU_SIG_LEN) {
		rc = PU_ERR_HEADER_FIELD;
		goto fail;
	}
	rc = pb_decode(&puente__header_core__descriptor, h->signed_hdr->core.data,
	    h->signed_hdr->core.len, &pb_limits_wire, HEADER_BUDGET, &m);
	if (rc != PU_OK)
		goto fail;
	h->core = (Puente__HeaderCore *)m;
	rc = pb_decode(&puente__manifest__descriptor, h->signed_hdr->manifest.data,
	    h->signed_hdr->manifest.len, &pb_limits_wire, HEADER_BUDGET, &m);
	if (rc != PU_OK)
		goto fail;
	h->manifest = (Puente__Manifest *)m;
	if ((rc = core_check(h->core, h->manifest)) != PU_OK)
		goto fail;
	hash_raw(h->core_hash, PU_P_CORE, h->signed_hdr->core.data, h->signed_hdr->core.len);
	header_hash_compute(h->header_hash, h->signed_hdr->core.data, h->signed_hdr->core.len,
	    h->signed_hdr->manifest.data, h->signed_hdr->manifest.len);
	return PU_OK;
fail:
	header_free(h);
	return rc;
}

void
header_free(struct header *h)
{
	pb_free(h->manifest);
	pb_free(h->core);
	pb_free(h->signed_hdr);
	memset(h, 0, sizeof(*h));
}

int
header_signer_key(const struct header *h, const struct directory *d, const uint8_t **pk)
{
	const Puente__Agency *a = directory_find_agency(d, h->core->sender);
	const Puente__Key *k;

	if (a == NULL)
		return PU_ERR_UNKNOWN_SENDER;
	k = directory_find_key(a, h->core->sender_key_id.data, h->core->sender_key_id.len,
	    PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING);
	if (k == NULL)
		return PU_ERR_UNKNOWN_KEY;
	*pk = k->public_key.data;
	return PU_OK;
}

/* What the signature covers: core and manifest, as received. */
static void
header_signed_fields(const struct header *h, struct field f[2])
{
	f[0] = (struct field){ h->signed_hdr->core.data, h->signed_hdr->core.len };
	f[1] = (struct field){ h->signed_hdr->manifest.data, h->signed_hdr->manifest.len };
}

int
header_signed_bytes(const struct header *h, uint8_t **m, size_t *len)
{
	struct field f[2];

	header_signed_fields(h, f);
	return sig_input(PU_CTX_HEADER, f, 2, m, len);
}

int
header_verify_signature(const struct header *h, const struct directory *d)
{
	const uint8_t *pk;
	struct field f[2];
	int rc;

	if ((rc = header_signer_key(h, d, &pk)) != PU_OK)
		return rc;
	header_signed_fields(h, f);
	return sig_verify(h->signed_hdr->signature.data, h->signed_hdr->signature.len, pk,
	    PU_CTX_HEADER, f, 2);
}

int
header_check_keys(const struct header *h, const struct directory *d, int64_t now)
{
	const Puente__HeaderCore *c = h->core;
	const Puente__Agency *a = directory_find_agency(d, c->sender);
	const Puente__Key *k;
	int rc;

	if (a == NULL)
		return PU_ERR_UNKNOWN_SENDER;
	if ((rc = directory_agency_check(a)) != PU_OK)
		return rc;
	k = directory_find_key(a, c->sender_key_id.data, c->sender_key_id.len,
	    PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING);
	if (k == NULL)
		return PU_ERR_UNKNOWN_KEY;
	if ((rc = directory_key_check(k, now)) != PU_OK)
		return rc;
	for (size_t i = 0; i < c->n_recipients; i++) {
		const Puente__RecipientStanza *s = c->recipients[i];
		const Puente__Agency *r = directory_find_agency(d, s->agency_id);
		if (r == NULL)
			return PU_ERR_RECIPIENT_UNKNOWN;
		if ((rc = directory_agency_check(r)) != PU_OK)
			return rc;
		k = directory_find_key(r, s->key_id.data, s->key_id.len,
		    PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION);
		if (k == NULL)
			return PU_ERR_STANZA_KEY;
		if ((rc = directory_key_check(k, now)) != PU_OK)
			return rc;
	}
	return PU_OK;
}

int
header_check_time(const struct header *h, int64_t now)
{
	const Puente__HeaderCore *c = h->core;

	if (c->expires_at - c->created_at > PU_MAX_LIFETIME)
		return PU_ERR_EXPIRY_TOO_LONG;
	if (c->created_at > now + PU_MAX_FUTURE)
		return PU_ERR_FUTURE;
	if (now >= c->expires_at)
		return PU_ERR_EXPIRED;
	return PU_OK;
}

size_t
header_chunk_len(const struct header *h, uint32_t index)
{
	uint64_t cl = h->core->content_length;
	uint64_t plain = index + 1 < h->core->chunk_count ? PU_CHUNK_SIZE :
	    cl - (uint64_t)index * PU_CHUNK_SIZE;

	return (size_t)plain + PU_CHUNK_ABYTES;
}

int
header_chunk_expect(const struct header *h, uint32_t index, size_t len,
    uint8_t expect[PU_HASH_LEN])
{
	if (index >= h->core->chunk_count)
		return PU_ERR_CHUNK_EXTRA;
	if (len != header_chunk_len(h, index))
		return PU_ERR_CHUNK_SIZE;
	memcpy(expect, h->manifest->chunk_hashes[index].data, PU_HASH_LEN);
	return PU_OK;
}

int
header_chunk_hash_check(const uint8_t expect[PU_HASH_LEN], const uint8_t *ct, size_t len)
{
	uint8_t hash[PU_HASH_LEN];

	hash_raw(hash, PU_P_CHUNK, ct, len);
	return ct_equal(hash, expect, PU_HASH_LEN) ? PU_OK : PU_ERR_CHUNK_HASH;
}

int
header_check_chunk(const struct header *h, uint32_t index, const uint8_t *ct, size_t len)
{
	uint8_t expect[PU_HASH_LEN];
	int rc;

	if ((rc = header_chunk_expect(h, index, len, expect)) != PU_OK)
		return rc;
	return header_chunk_hash_check(expect, ct, len);
}

const Puente__RecipientStanza *
header_find_recipient(const struct header *h, const char *agency)
{
	for (size_t i = 0; i < h->core->n_recipients; i++)
		if (strcmp(h->core->recipients[i]->agency_id, agency) == 0)
			return h->core->recipients[i];
	return NULL;
}
