/* receipt.c - signing and verifying receipts and statements. */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

#define SIGNED_BUDGET (1024u * 1024)

int
signed_create(const char *context, const ProtobufCMessage *body,
    const uint8_t key_id[PU_KEY_ID_LEN], const uint8_t *sk, uint8_t **out, size_t *out_len)
{
	Puente__Signed s = PUENTE__SIGNED__INIT;
	uint8_t *enc, sig[PU_SIG_LEN];
	size_t enc_len;
	int rc;

	if ((rc = pb_encode(body, &enc, &enc_len)) != PU_OK)
		return rc;
	struct field f = { enc, enc_len };
	if ((rc = sig_sign(sig, sk, context, &f, 1)) == PU_OK) {
		s.body.data = enc;
		s.body.len = enc_len;
		s.key_id.data = (uint8_t *)key_id;
		s.key_id.len = PU_KEY_ID_LEN;
		s.signature.data = sig;
		s.signature.len = PU_SIG_LEN;
		rc = pb_encode(&s.base, out, out_len);
	}
	free(enc);
	return rc;
}

int
signed_verify(const uint8_t *data, size_t len, const char *context,
    const ProtobufCMessageDescriptor *d, const Puente__Agency *signer,
    Puente__KeyPurpose purpose, ProtobufCMessage **body)
{
	Puente__Signed *s;
	const Puente__Key *k;
	ProtobufCMessage *m;
	int rc;

	*body = NULL;
	rc = pb_decode(&puente__signed__descriptor, data, len, &pb_limits_wire, SIGNED_BUDGET, &m);
	if (rc != PU_OK)
		return rc;
	s = (Puente__Signed *)m;
	k = directory_find_key(signer, s->key_id.data, s->key_id.len, purpose);
	if (k == NULL) {
		rc = PU_ERR_RECEIPT_SIGNER;
		goto out;
	}
	struct field f = { s->body.data, s->body.len };
	if ((rc = sig_verify(s->signature.data, s->signature.len, k->public_key.data, context,
	    &f, 1)) != PU_OK)
		goto out;
	rc = pb_decode(d, s->body.data, s->body.len, &pb_limits_wire, SIGNED_BUDGET, body);
out:
	pb_free(s);
	return rc;
}

/* Decode only far enough to learn who claims to have signed, then verify properly. */
static int
signer_of(const uint8_t *data, size_t len, const ProtobufCMessageDescriptor *d,
    ProtobufCMessage **body)
{
	Puente__Signed *s;
	ProtobufCMessage *m;
	int rc;

	rc = pb_decode(&puente__signed__descriptor, data, len, &pb_limits_wire, SIGNED_BUDGET, &m);
	if (rc != PU_OK)
		return rc;
	s = (Puente__Signed *)m;
	rc = pb_decode(d, s->body.data, s->body.len, &pb_limits_wire, SIGNED_BUDGET, body);
	pb_free(s);
	return rc;
}

/* The signing key of a verified Signed must have been usable at time at. */
static int
signed_key_check(const uint8_t *data, size_t len, const Puente__Agency *signer,
    Puente__KeyPurpose purpose, int64_t at)
{
	ProtobufCMessage *m;
	Puente__Signed *s;
	const Puente__Key *k;
	int rc;

	rc = pb_decode(&puente__signed__descriptor, data, len, &pb_limits_wire, SIGNED_BUDGET, &m);
	if (rc != PU_OK)
		return rc;
	s = (Puente__Signed *)m;
	k = directory_find_key(signer, s->key_id.data, s->key_id.len, purpose);
	rc = k != NULL ? directory_key_check(k, at) : PU_ERR_RECEIPT_SIGNER;
	pb_free(s);
	return rc;
}

static int
same_message(const ProtobufCBinaryData *msg_id, const ProtobufCBinaryData *hh,
    const struct header *h)
{
	return msg_id->len == PU_MSG_ID_LEN && hh->len == PU_HASH_LEN &&
	    memcmp(msg_id->data, h->core->msg_id.data, PU_MSG_ID_LEN) == 0 &&
	    memcmp(hh->data, h->header_hash, PU_HASH_LEN) == 0;
}

int
receipt_recipient_verify(const uint8_t *data, size_t len, const struct directory *d,
    const struct header *h, const uint8_t *expected_mac, Puente__RecipientReceipt **out)
{
	Puente__RecipientReceipt *r;
	const Puente__Agency *a;
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	if ((rc = signer_of(data, len, &puente__recipient_receipt__descriptor, &m)) != PU_OK)
		return rc;
	r = (Puente__RecipientReceipt *)m;
	a = header_find_recipient(h, r->recipient) ? directory_find_agency(d, r->recipient) : NULL;
	pb_free(r);
	if (a == NULL)
		return PU_ERR_RECEIPT_SIGNER;
	rc = signed_verify(data, len, PU_CTX_RECIPIENT_RECEIPT,
	    &puente__recipient_receipt__descriptor, a, PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING, &m);
	if (rc != PU_OK)
		return rc;
	r = (Puente__RecipientReceipt *)m;
	/* The key must have been usable when the receipt says it was made. */
	if ((rc = signed_key_check(data, len, a, PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING,
	    r->at)) != PU_OK)
		goto fail;
	/* Nobody receipts a message before it existed: a stolen key cannot backdate past it. */
	if (r->at < h->core->created_at - PU_MAX_FUTURE) {
		rc = PU_ERR_RECEIPT_FIELD;
		goto fail;
	}
	if (!same_message(&r->msg_id, &r->header_hash, h)) {
		rc = PU_ERR_RECEIPT_MISMATCH;
		goto fail;
	}
	if (r->outcome == PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED ||
	    (r->outcome == PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED) !=
	    (r->plaintext_mac.len == PU_HASH_LEN) || r->at <= 0) {
		rc = PU_ERR_RECEIPT_FIELD;
		goto fail;
	}
	if (expected_mac != NULL && r->outcome == PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED &&
	    !ct_equal(r->plaintext_mac.data, expected_mac, PU_HASH_LEN)) {
		rc = PU_ERR_RECEIPT_MAC;
		goto fail;
	}
	*out = r;
	return PU_OK;
fail:
	pb_free(r);
	return rc;
}

int
receipt_recipient_create(const struct header *h, const char *me,
    Puente__ReceiptOutcome outcome, const uint8_t *mac, int64_t at,
    const uint8_t key_id[PU_KEY_ID_LEN], const uint8_t *sk, uint8_t **out, size_t *out_len)
{
	Puente__RecipientReceipt r = PUENTE__RECIPIENT_RECEIPT__INIT;

	r.recipient = (char *)me;
	r.msg_id = h->core->msg_id;
	r.header_hash.data = (uint8_t *)h->header_hash;
	r.header_hash.len = PU_HASH_LEN;
	r.outcome = outcome;
	if (mac != NULL) {
		r.plaintext_mac.data = (uint8_t *)mac;
		r.plaintext_mac.len = PU_HASH_LEN;
	}
	r.at = at;
	return signed_create(PU_CTX_RECIPIENT_RECEIPT, &r.base, key_id, sk, out, out_len);
}

Puente__ReceiptOutcome
receipt_outcome_for(int err)
{
	switch (err) {
	case PU_ERR_NOMEM:
	case PU_ERR_IO:
	case PU_ERR_INTERNAL:
	case PU_ERR_CRYPTO:
	case PU_ERR_ARG:
	case PU_ERR_NOT_RECIPIENT:
		/* Local trouble, not a verdict on the message: no receipt, try again later. */
		return PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_UNSPECIFIED;
	case PU_OK:
		return PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED;
	case PU_ERR_COMMITMENT:
		return PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_COMMITMENT_MISMATCH;
	case PU_ERR_CONTENT_SIGNATURE:
	case PU_ERR_SIGNATURE:
		return PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_BAD_SIGNATURE;
	default:
		return PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_CANNOT_DECRYPT;
	}
}
