/* envelope_open.c - streaming open and verification by a recipient. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "casefile.h"
#include "buf.h"
#include "envelope.h"
#include "pb.h"
#include "pu_err.h"

/* Where the plaintext parser stands (PROTOCOL.md §5.6). */
enum stage { STAGE_LEN, STAGE_CASE, STAGE_ATTACH, STAGE_SIG, STAGE_DONE };

/* The opener's secrets share one secret allocation, sized for the message (see sealer). */
struct open_secrets {
	uint8_t k[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	uint8_t mac_key[32];
	uint8_t shared[32], wrap[32];
	crypto_secretstream_xchacha20poly1305_state stream;
	uint8_t plain[];				/* one decrypted chunk */
};

struct opener {
	const struct header *h;
	uint8_t sender_pk[PU_PUBLIC_KEY_LEN];
	struct open_secrets *sec;			/* secret memory */
	crypto_generichash_blake2b_state digest;
	crypto_generichash_blake2b_state attach_hash;
	uint32_t next;					/* next chunk index */
	uint64_t pos;					/* plaintext bytes decrypted so far */
	int failed;

	enum stage stage;
	uint8_t len_be[4];
	size_t have;					/* bytes of the current item so far */
	uint8_t *case_buf;				/* secret memory */
	size_t case_len;
	Puente__CaseMessage *case_msg;
	uint32_t attach;				/* current attachment */
	uint64_t attach_left;
	uint8_t sig[PU_SIG_LEN];
	attachment_sink_fn sink;
	void *sink_arg;
};

/* Find a key for my stanza and unwrap K into o->k. */
static int
unwrap(struct opener *o, const Puente__RecipientStanza *st, const char *me,
    const struct open_key *keys, size_t n_keys)
{
	static const uint8_t zero_nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	struct open_secrets *sec = o->sec;
	const struct open_key *key = NULL;
	unsigned long long klen;
	int rc;

	for (size_t i = 0; i < n_keys; i++)
		if (memcmp(keys[i].key_id, st->key_id.data, PU_KEY_ID_LEN) == 0)
			key = &keys[i];
	if (key == NULL)
		return PU_ERR_STANZA_KEY;
	if (crypto_scalarmult(sec->shared, key->secret_key, st->ephemeral_public.data) != 0) {
		rc = PU_ERR_LOW_ORDER_KEY;
		goto out;
	}
	rc = envelope_wrap_key(sec->wrap, sec->shared, st->ephemeral_public.data, key->public_key,
	    o->h->core->msg_id.data, o->h->core->sender, me, key->key_id);
	if (rc != PU_OK)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(sec->k, &klen, NULL, st->wrapped_key.data,
	    st->wrapped_key.len, NULL, 0, zero_nonce, sec->wrap) != 0 || klen != sizeof(sec->k))
		rc = PU_ERR_UNWRAP;
out:
	sodium_memzero(sec->shared, sizeof(sec->shared) * 2);
	return rc;
}

int
envelope_open_begin(struct opener **out, const struct header *h, const struct directory *d,
    const char *me, const struct open_key *keys, size_t n_keys,
    attachment_sink_fn sink, void *sink_arg)
{
	const Puente__HeaderCore *c = h->core;
	const Puente__RecipientStanza *st;
	const Puente__Agency *sender;
	const Puente__Key *sk;
	uint8_t commitment[PU_HASH_LEN];
	struct opener *o;
	int rc;

	*out = NULL;
	if ((rc = header_verify_signature(h, d)) != PU_OK)
		return rc;
	sender = directory_find_agency(d, c->sender);
	sk = directory_find_key(sender, c->sender_key_id.data, c->sender_key_id.len,
	    PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING);
	/* Judge the sender's key at the time it claims to have signed. */
	if ((rc = directory_key_check(sk, c->created_at)) != PU_OK)
		return rc;
	if ((st = header_find_recipient(h, me)) == NULL)
		return PU_ERR_NOT_RECIPIENT;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return PU_ERR_NOMEM;
	o->h = h;
	o->sink = sink;
	o->sink_arg = sink_arg;
	memcpy(o->sender_pk, sk->public_key.data, PU_PUBLIC_KEY_LEN);
	o->sec = secret_alloc(sizeof(*o->sec) + envelope_plain_cap(c->content_length));
	if (o->sec == NULL) {
		rc = PU_ERR_NOMEM;
		goto fail;
	}
	if ((rc = unwrap(o, st, me, keys, n_keys)) != PU_OK)
		goto fail;
	envelope_commit(commitment, o->sec->k, c->stream_header.data, c->msg_id.data);
	if (!ct_equal(commitment, c->key_commitment.data, PU_HASH_LEN)) {
		rc = PU_ERR_COMMITMENT;
		goto fail;
	}
	if ((rc = envelope_mac_key(o->sec->mac_key, o->sec->k, c->msg_id.data)) != PU_OK)
		goto fail;
	if (crypto_secretstream_xchacha20poly1305_init_pull(&o->sec->stream, c->stream_header.data,
	    o->sec->k) != 0) {
		rc = PU_ERR_CHUNK_DECRYPT;
		goto fail;
	}
	hash_stream_init(&o->digest, PU_P_CONTENT, NULL, 0);
	*out = o;
	return PU_OK;
fail:
	envelope_open_free(o);
	return rc;
}

/* The case message is complete: decode it and learn where attachments and signature lie. */
static int
case_parsed(struct opener *o)
{
	const Puente__HeaderCore *c = o->h->core;
	ProtobufCMessage *m;
	uint64_t total = PU_CONTENT_OVERHEAD + o->case_len;
	int rc;

	rc = pb_decode(&puente__case_message__descriptor, o->case_buf, o->case_len,
	    &pb_limits_case, 16 * o->case_len + 65536, &m);
	if (rc != PU_OK)
		return rc;
	o->case_msg = (Puente__CaseMessage *)m;
	if ((rc = casefile_check(o->case_msg)) != PU_OK)
		return rc;
	if (o->case_msg->type != c->type || strcmp(o->case_msg->case_id, c->case_id) != 0)
		return PU_ERR_CASE_MISMATCH;
	for (size_t i = 0; i < o->case_msg->n_attachments; i++) {
		uint64_t sz = o->case_msg->attachments[i]->size;
		if (sz > PU_MAX_CONTENT || total + sz > PU_MAX_CONTENT)
			return PU_ERR_CONTENT_FORMAT;
		total += sz;
	}
	if (total != c->content_length)
		return PU_ERR_CONTENT_FORMAT;
	o->attach = 0;
	return PU_OK;
}

/* Move to the next attachment that has bytes, or to the signature. */
static void
attach_advance(struct opener *o)
{
	while (o->attach < o->case_msg->n_attachments &&
	    o->case_msg->attachments[o->attach]->size == 0) {
		o->attach++;
	}
	if (o->attach < o->case_msg->n_attachments) {
		o->attach_left = o->case_msg->attachments[o->attach]->size;
		hash_stream_init(&o->attach_hash, PU_P_ATTACH, NULL, 0);
		o->stage = STAGE_ATTACH;
	} else {
		o->stage = STAGE_SIG;
		o->have = 0;
	}
}

static int
attach_done(struct opener *o)
{
	uint8_t hash[PU_HASH_LEN];

	crypto_generichash_blake2b_final(&o->attach_hash, hash, sizeof(hash));
	if (!ct_equal(hash, o->case_msg->attachments[o->attach]->blake2b.data, PU_HASH_LEN))
		return PU_ERR_ATTACHMENT_HASH;
	o->attach++;
	attach_advance(o);
	return PU_OK;
}

/* Empty attachments have a hash too: check them as they are skipped. */
static int
attach_check_empty(const Puente__CaseMessage *cm)
{
	uint8_t empty[PU_HASH_LEN];

	hash_raw(empty, PU_P_ATTACH, NULL, 0);
	for (size_t i = 0; i < cm->n_attachments; i++) {
		if (cm->attachments[i]->blake2b.len != PU_HASH_LEN)
			return PU_ERR_CONTENT_FORMAT;
		if (cm->attachments[i]->size == 0 &&
		    !ct_equal(empty, cm->attachments[i]->blake2b.data, PU_HASH_LEN))
			return PU_ERR_ATTACHMENT_HASH;
	}
	return PU_OK;
}

static int
plain_consume(struct opener *o, const uint8_t *p, size_t n)
{
	int rc;

	while (n > 0) {
		size_t take;
		switch (o->stage) {
		case STAGE_LEN:
			take = 4 - o->have < n ? 4 - o->have : n;
			memcpy(o->len_be + o->have, p, take);
			o->have += take;
			if (o->have == 4) {
				o->case_len = get_u32be(o->len_be);
				if (o->case_len > PU_MAX_CASE_MESSAGE ||
				    PU_CONTENT_OVERHEAD + o->case_len > o->h->core->content_length)
					return PU_ERR_CONTENT_FORMAT;
				if ((o->case_buf = secret_alloc(o->case_len ? o->case_len : 1)) == NULL)
					return PU_ERR_NOMEM;
				o->have = 0;
				o->stage = STAGE_CASE;
			}
			break;
		case STAGE_CASE:
			take = o->case_len - o->have < n ? o->case_len - o->have : n;
			memcpy(o->case_buf + o->have, p, take);
			o->have += take;
			break;
		case STAGE_ATTACH:
			take = o->attach_left < n ? (size_t)o->attach_left : n;
			crypto_generichash_blake2b_update(&o->attach_hash, p, take);
			if (o->sink && (rc = o->sink(o->sink_arg, o->attach, p, take)) != PU_OK)
				return rc;
			o->attach_left -= take;
			if (o->attach_left == 0 && (rc = attach_done(o)) != PU_OK)
				return rc;
			break;
		case STAGE_SIG:
			take = PU_SIG_LEN - o->have < n ? PU_SIG_LEN - o->have : n;
			memcpy(o->sig + o->have, p, take);
			o->have += take;
			if (o->have == PU_SIG_LEN)
				o->stage = STAGE_DONE;
			break;
		default:
			return PU_ERR_CONTENT_FORMAT;
		}
		p += take;
		n -= take;
		if (o->stage == STAGE_CASE && o->have == o->case_len) {
			if ((rc = case_parsed(o)) != PU_OK ||
			    (rc = attach_check_empty(o->case_msg)) != PU_OK)
				return rc;
			attach_advance(o);
		}
	}
	return PU_OK;
}

int
envelope_open_chunk(struct opener *o, uint32_t index, const uint8_t *ct, size_t len)
{
	const Puente__HeaderCore *c = o->h->core;
	uint64_t sig_at = c->content_length - PU_SIG_LEN;
	uint8_t ad[PU_HASH_LEN + 4];
	unsigned long long plen;
	unsigned char tag;
	int rc;

	if (o->failed)
		return PU_ERR_ARG;
	o->failed = 1;	/* cleared on success: a stream that failed once stays failed */
	if (index >= c->chunk_count)
		return PU_ERR_CHUNK_EXTRA;
	if (index != o->next)
		return PU_ERR_CHUNK_ORDER;
	if ((rc = header_check_chunk(o->h, index, ct, len)) != PU_OK)
		return rc;
	envelope_chunk_ad(ad, o->h->core_hash, index);
	if (crypto_secretstream_xchacha20poly1305_pull(&o->sec->stream, o->sec->plain, &plen, &tag,
	    ct, len, ad, sizeof(ad)) != 0)
		return PU_ERR_CHUNK_DECRYPT;
	/* libsodium accepts PUSH and REKEY, and chunks after FINAL: the tag is ours to check. */
	if (tag != (index + 1 == c->chunk_count ? crypto_secretstream_xchacha20poly1305_TAG_FINAL :
	    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE))
		return PU_ERR_CHUNK_TAG;
	if (o->pos < sig_at) {
		uint64_t before = sig_at - o->pos;
		crypto_generichash_blake2b_update(&o->digest, o->sec->plain,
		    before < plen ? (size_t)before : (size_t)plen);
	}
	o->pos += plen;
	rc = plain_consume(o, o->sec->plain, (size_t)plen);
	sodium_memzero(o->sec->plain, (size_t)plen);
	if (rc != PU_OK)
		return rc;
	o->next++;
	o->failed = 0;
	return PU_OK;
}

int
envelope_open_finish(struct opener *o, Puente__CaseMessage **case_msg,
    uint8_t receipt_mac[PU_HASH_LEN])
{
	uint8_t digest[PU_HASH_LEN];
	int rc;

	*case_msg = NULL;
	if (o->failed)
		return PU_ERR_ARG;
	if (o->next != o->h->core->chunk_count || o->stage != STAGE_DONE)
		return PU_ERR_STREAM_INCOMPLETE;
	o->failed = 1;	/* finish runs once */
	crypto_generichash_blake2b_final(&o->digest, digest, sizeof(digest));
	struct field f[2] = { { o->h->core_hash, PU_HASH_LEN }, { digest, PU_HASH_LEN } };
	rc = sig_verify(o->sig, PU_SIG_LEN, o->sender_pk, PU_CTX_CONTENT, f, 2);
	if (rc != PU_OK)
		return PU_ERR_CONTENT_SIGNATURE;
	envelope_receipt_mac(receipt_mac, o->sec->mac_key, digest);
	*case_msg = o->case_msg;
	o->case_msg = NULL;
	return PU_OK;
}

void
envelope_open_free(struct opener *o)
{
	if (o == NULL)
		return;
	secret_free(o->sec);
	secret_free(o->case_buf);
	pb_free(o->case_msg);
	sodium_memzero(&o->digest, sizeof(o->digest));
	sodium_memzero(&o->attach_hash, sizeof(o->attach_hash));
	free(o);
}
