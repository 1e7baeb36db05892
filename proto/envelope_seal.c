/* envelope_seal.c - streaming seal: constant memory whatever the attachments' size. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.h"
#include "ids.h"
#include "pb.h"
#include "pu_err.h"

/*
 * All the sealer's secrets share one secret allocation: guarded, locked pages are costly
 * to map, and a small message should not pay for a whole chunk.
 */
struct seal_secrets {
	uint8_t k[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	uint8_t mac_key[32];
	uint8_t eph_sk[32], shared[32], wrap[32];	/* one stanza at a time */
	crypto_secretstream_xchacha20poly1305_state stream;
	uint8_t plain[];			/* the chunk being filled */
};

struct sealer {
	struct seal_secrets *sec;		/* secret memory */

	const uint8_t *sender_sk;
	uint8_t sender_key_id[PU_KEY_ID_LEN];
	uint8_t msg_id[PU_MSG_ID_LEN];
	uint8_t *core;				/* encoded HeaderCore */
	size_t core_len;
	uint8_t core_hash[PU_HASH_LEN];
	uint8_t *ct;				/* ciphertext of one chunk */
	uint8_t (*manifest)[PU_HASH_LEN];	/* chunk_count hashes */

	crypto_generichash_blake2b_state digest;	/* plaintext before the signature */

	uint64_t content_length;
	uint64_t user_end;			/* offset where the content signature starts */
	uint64_t written;			/* plaintext bytes fed so far */
	uint32_t chunk_count;
	uint32_t index;				/* next chunk to emit */
	size_t plain_len;
	chunk_sink_fn sink;
	void *sink_arg;
	int failed;
};

static int
params_check(const struct seal_params *p, size_t case_len, uint64_t attachments_len)
{
	if (agency_id_check(p->sender) != PU_OK)
		return PU_ERR_AGENCY_ID;
	if (case_id_check(p->case_id) != PU_OK)
		return PU_ERR_CASE_ID;
	if (p->n_recipients == 0)
		return PU_ERR_NO_RECIPIENTS;
	if (p->n_recipients > PU_MAX_RECIPIENTS)
		return PU_ERR_TOO_MANY_RECIPIENTS;
	for (size_t i = 0; i < p->n_recipients; i++) {
		if (agency_id_check(p->recipients[i].agency_id) != PU_OK)
			return PU_ERR_AGENCY_ID;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->recipients[i].agency_id, p->recipients[j].agency_id) == 0)
				return PU_ERR_RECIPIENT_DUPLICATE;
	}
	if (p->type == PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED || p->created_at <= 0 ||
	    p->expires_at <= p->created_at || p->respond_by < 0 ||
	    (p->respond_by != 0 && p->respond_by <= p->created_at))
		return PU_ERR_HEADER_FIELD;
	if (p->expires_at - p->created_at > PU_MAX_LIFETIME)
		return PU_ERR_EXPIRY_TOO_LONG;
	if (case_len > PU_MAX_CASE_MESSAGE || attachments_len > PU_MAX_CONTENT ||
	    PU_CONTENT_OVERHEAD + case_len + attachments_len > PU_MAX_CONTENT)
		return PU_ERR_TOO_LARGE;
	return PU_OK;
}

/* One stanza: ephemeral X25519 with the recipient's key, HKDF, XChaCha20-Poly1305 of K. */
static int
stanza_make(Puente__RecipientStanza *st, uint8_t eph_pk[32], uint8_t wrapped[48],
    const struct seal_recipient *r, const struct sealer *s, const char *sender)
{
	struct seal_secrets *sec = s->sec;
	static const uint8_t zero_nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	unsigned long long wlen;
	int rc;

	randombytes_buf(sec->eph_sk, 32);
	crypto_scalarmult_base(eph_pk, sec->eph_sk);
	if (crypto_scalarmult(sec->shared, sec->eph_sk, r->public_key) != 0) {
		rc = PU_ERR_LOW_ORDER_KEY;
		goto fail;
	}
	rc = envelope_wrap_key(sec->wrap, sec->shared, eph_pk, r->public_key, s->msg_id, sender,
	    r->agency_id, r->key_id);
	if (rc != PU_OK)
		goto fail;
	/* The wrap key is used once, so a fixed nonce is safe (PROTOCOL.md §5.3). */
	crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped, &wlen, sec->k, 32, NULL, 0, NULL,
	    zero_nonce, sec->wrap);
	st->agency_id = (char *)r->agency_id;
	st->key_id.data = (uint8_t *)r->key_id;
	st->key_id.len = PU_KEY_ID_LEN;
	st->ephemeral_public.data = eph_pk;
	st->ephemeral_public.len = 32;
	st->wrapped_key.data = wrapped;
	st->wrapped_key.len = PU_WRAPPED_KEY_LEN;
fail:
	sodium_memzero(sec->eph_sk, sizeof(sec->eph_sk) * 3);
	return rc;
}

static int
core_build(struct sealer *s, const struct seal_params *p, const uint8_t stream_header[24],
    const uint8_t commitment[32])
{
	Puente__HeaderCore c = PUENTE__HEADER_CORE__INIT;
	Puente__RecipientStanza st[PU_MAX_RECIPIENTS];
	Puente__RecipientStanza *stp[PU_MAX_RECIPIENTS];
	uint8_t eph[PU_MAX_RECIPIENTS][32], wrapped[PU_MAX_RECIPIENTS][PU_WRAPPED_KEY_LEN];
	int rc;

	for (size_t i = 0; i < p->n_recipients; i++) {
		puente__recipient_stanza__init(&st[i]);
		stp[i] = &st[i];
		if ((rc = stanza_make(&st[i], eph[i], wrapped[i], &p->recipients[i], s,
		    p->sender)) != PU_OK)
			return rc;
	}
	c.version = PU_VERSION;
	c.msg_id.data = s->msg_id;
	c.msg_id.len = PU_MSG_ID_LEN;
	c.sender = (char *)p->sender;
	c.sender_key_id.data = s->sender_key_id;
	c.sender_key_id.len = PU_KEY_ID_LEN;
	c.n_recipients = p->n_recipients;
	c.recipients = stp;
	c.type = p->type;
	c.adoption_scope = p->adoption_scope;
	c.case_id = (char *)p->case_id;
	c.created_at = p->created_at;
	c.expires_at = p->expires_at;
	if (p->in_reply_to != NULL) {
		c.in_reply_to.data = (uint8_t *)p->in_reply_to;
		c.in_reply_to.len = PU_MSG_ID_LEN;
	}
	c.respond_by = p->respond_by;
	c.content_length = s->content_length;
	c.chunk_count = s->chunk_count;
	c.stream_header.data = (uint8_t *)stream_header;
	c.stream_header.len = PU_STREAM_HEADER_LEN;
	c.key_commitment.data = (uint8_t *)commitment;
	c.key_commitment.len = PU_HASH_LEN;
	if ((rc = pb_encode(&c.base, &s->core, &s->core_len)) != PU_OK)
		return rc;
	hash_raw(s->core_hash, PU_P_CORE, s->core, s->core_len);
	return PU_OK;
}

static int
chunk_emit(struct sealer *s, unsigned char tag)
{
	uint8_t ad[PU_HASH_LEN + 4];
	unsigned long long ct_len;

	envelope_chunk_ad(ad, s->core_hash, s->index);
	crypto_secretstream_xchacha20poly1305_push(&s->sec->stream, s->ct, &ct_len, s->sec->plain,
	    s->plain_len, ad, sizeof(ad), tag);
	hash_raw(s->manifest[s->index], PU_P_CHUNK, s->ct, (size_t)ct_len);
	int rc = s->sink(s->sink_arg, s->index, s->ct, (size_t)ct_len);
	sodium_memzero(s->sec->plain, s->plain_len);
	s->plain_len = 0;
	s->index++;
	return rc;
}

/* Append plaintext; a full chunk that is not the last is encrypted and emitted at once. */
static int
plain_feed(struct sealer *s, const uint8_t *data, size_t len, int digest)
{
	int rc;

	if (digest)
		crypto_generichash_blake2b_update(&s->digest, data, len);
	s->written += len;
	while (len > 0) {
		size_t take = PU_CHUNK_SIZE - s->plain_len;
		if (take > len)
			take = len;
		memcpy(s->sec->plain + s->plain_len, data, take);
		s->plain_len += take;
		data += take;
		len -= take;
		if (s->plain_len == PU_CHUNK_SIZE && s->index + 1 < s->chunk_count)
			if ((rc = chunk_emit(s, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)) != PU_OK)
				return rc;
	}
	return PU_OK;
}

int
envelope_seal_begin(struct sealer **out, const struct seal_params *p,
    const uint8_t *case_msg, size_t case_len, uint64_t attachments_len,
    chunk_sink_fn sink, void *sink_arg)
{
	uint8_t stream_header[PU_STREAM_HEADER_LEN], commitment[PU_HASH_LEN];
	uint8_t be[4];
	struct sealer *s;
	int rc;

	*out = NULL;
	if ((rc = params_check(p, case_len, attachments_len)) != PU_OK)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PU_ERR_NOMEM;
	s->content_length = PU_CONTENT_OVERHEAD + case_len + attachments_len;
	s->user_end = s->content_length - PU_SIG_LEN;
	s->chunk_count = (uint32_t)chunk_count_for(s->content_length);
	s->sender_sk = p->sender_sk;
	memcpy(s->sender_key_id, p->sender_key_id, PU_KEY_ID_LEN);
	s->sink = sink;
	s->sink_arg = sink_arg;
	size_t cap = envelope_plain_cap(s->content_length);
	s->sec = secret_alloc(sizeof(*s->sec) + cap);
	s->ct = malloc(cap + PU_CHUNK_ABYTES);
	s->manifest = calloc(s->chunk_count, PU_HASH_LEN);
	if (!s->sec || !s->ct || !s->manifest) {
		rc = PU_ERR_NOMEM;
		goto fail;
	}
	if (p->msg_id != NULL)
		memcpy(s->msg_id, p->msg_id, PU_MSG_ID_LEN);
	else
		msg_id_new(s->msg_id);
	crypto_secretstream_xchacha20poly1305_keygen(s->sec->k);
	crypto_secretstream_xchacha20poly1305_init_push(&s->sec->stream, stream_header, s->sec->k);
	envelope_commit(commitment, s->sec->k, stream_header, s->msg_id);
	if ((rc = core_build(s, p, stream_header, commitment)) != PU_OK)
		goto fail;
	if ((rc = envelope_mac_key(s->sec->mac_key, s->sec->k, s->msg_id)) != PU_OK)
		goto fail;
	hash_stream_init(&s->digest, PU_P_CONTENT, NULL, 0);
	put_u32be(be, (uint32_t)case_len);
	if ((rc = plain_feed(s, be, sizeof(be), 1)) != PU_OK ||
	    (rc = plain_feed(s, case_msg, case_len, 1)) != PU_OK)
		goto fail;
	*out = s;
	return PU_OK;
fail:
	envelope_seal_free(s);
	return rc;
}

int
envelope_seal_write(struct sealer *s, const uint8_t *data, size_t len)
{
	int rc;

	if (s->failed)
		return PU_ERR_ARG;
	if (len > s->user_end - s->written)
		return PU_ERR_CONTENT_LENGTH;
	if ((rc = plain_feed(s, data, len, 1)) != PU_OK)
		s->failed = 1;
	return rc;
}

static int
header_build(struct sealer *s, struct sealed *out)
{
	Puente__Manifest m = PUENTE__MANIFEST__INIT;
	Puente__SignedHeader sh = PUENTE__SIGNED_HEADER__INIT;
	ProtobufCBinaryData *hashes = calloc(s->chunk_count, sizeof(*hashes));
	uint8_t *man = NULL, sig[PU_SIG_LEN];
	size_t man_len;
	int rc;

	if (hashes == NULL)
		return PU_ERR_NOMEM;
	for (uint32_t i = 0; i < s->chunk_count; i++) {
		hashes[i].data = s->manifest[i];
		hashes[i].len = PU_HASH_LEN;
	}
	m.n_chunk_hashes = s->chunk_count;
	m.chunk_hashes = hashes;
	if ((rc = pb_encode(&m.base, &man, &man_len)) != PU_OK)
		goto fail;
	struct field f[2] = { { s->core, s->core_len }, { man, man_len } };
	if ((rc = sig_sign(sig, s->sender_sk, PU_CTX_HEADER, f, 2)) != PU_OK)
		goto fail;
	sh.core.data = s->core;
	sh.core.len = s->core_len;
	sh.manifest.data = man;
	sh.manifest.len = man_len;
	sh.signature.data = sig;
	sh.signature.len = PU_SIG_LEN;
	if ((rc = pb_encode(&sh.base, &out->header, &out->header_len)) != PU_OK)
		goto fail;
	header_hash_compute(out->header_hash, s->core, s->core_len, man, man_len);
fail:
	free(man);
	free(hashes);
	return rc;
}

int
envelope_seal_finish(struct sealer *s, struct sealed *out)
{
	uint8_t digest[PU_HASH_LEN], sig[PU_SIG_LEN];
	int rc;

	memset(out, 0, sizeof(*out));
	if (s->failed)
		return PU_ERR_ARG;
	if (s->written != s->user_end)
		return PU_ERR_CONTENT_LENGTH;
	s->failed = 1;	/* finish runs once */
	crypto_generichash_blake2b_final(&s->digest, digest, sizeof(digest));
	struct field f[2] = { { s->core_hash, PU_HASH_LEN }, { digest, PU_HASH_LEN } };
	if ((rc = sig_sign(sig, s->sender_sk, PU_CTX_CONTENT, f, 2)) != PU_OK)
		return rc;
	if ((rc = plain_feed(s, sig, sizeof(sig), 0)) != PU_OK)
		return rc;
	if ((rc = chunk_emit(s, crypto_secretstream_xchacha20poly1305_TAG_FINAL)) != PU_OK)
		return rc;
	envelope_receipt_mac(out->receipt_mac, s->sec->mac_key, digest);
	memcpy(out->msg_id, s->msg_id, PU_MSG_ID_LEN);
	return header_build(s, out);
}

void
envelope_seal_free(struct sealer *s)
{
	if (s == NULL)
		return;
	secret_free(s->sec);
	sodium_memzero(&s->digest, sizeof(s->digest));
	free(s->ct);
	free(s->manifest);
	free(s->core);
	free(s);
}

void
sealed_free(struct sealed *s)
{
	free(s->header);
	s->header = NULL;
}
