/*
 * envelope.h - sealing and opening case messages, streaming in constant memory
 * (DESIGN.md §5, PROTOCOL.md §5).
 *
 * Seal: envelope_seal_begin (the case message), envelope_seal_write (attachment bytes, as
 * many calls as needed), envelope_seal_finish (content signature, final chunk, manifest,
 * header signature). Ciphertext chunks go to the caller's sink as they are made; the
 * header comes last, because its manifest hashes every chunk.
 *
 * Open: envelope_open_begin (verifies the header and unwraps the content key),
 * envelope_open_chunk for each chunk in order, envelope_open_finish (inner signature).
 * Attachment bytes reach the sink before the content signature is checked: the caller
 * keeps them provisional (temporary files) until envelope_open_finish returns PU_OK.
 */
#ifndef PU_ENVELOPE_H
#define PU_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "casefile.pb-c.h"
#include "directory.h"
#include "header.h"

typedef int (*chunk_sink_fn)(void *arg, uint32_t index, const uint8_t *ct, size_t len);
typedef int (*attachment_sink_fn)(void *arg, uint32_t index, const uint8_t *p, size_t len);

struct seal_recipient {
	const char *agency_id;
	uint8_t key_id[PU_KEY_ID_LEN];		/* its current encryption key */
	uint8_t public_key[PU_PUBLIC_KEY_LEN];
};

struct seal_params {
	const char *sender;
	uint8_t sender_key_id[PU_KEY_ID_LEN];
	const uint8_t *sender_sk;		/* PU_SIGN_SECRET_LEN bytes, secret memory */
	const struct seal_recipient *recipients;
	size_t n_recipients;
	Puente__MessageType type;
	Puente__AdoptionScope adoption_scope;
	const char *case_id;
	int64_t created_at;
	int64_t expires_at;
	int64_t respond_by;			/* 0: none */
	const uint8_t *in_reply_to;		/* PU_MSG_ID_LEN bytes, or NULL */
	const uint8_t *msg_id;			/* PU_MSG_ID_LEN bytes, or NULL for a new one */
};

struct sealed {
	uint8_t *header;			/* encoded SignedHeader, malloc'd */
	size_t header_len;
	uint8_t msg_id[PU_MSG_ID_LEN];
	uint8_t header_hash[PU_HASH_LEN];
	uint8_t receipt_mac[PU_HASH_LEN];	/* what an OPENED recipient receipt must carry */
};

struct sealer;

int envelope_seal_begin(struct sealer **out, const struct seal_params *p,
    const uint8_t *case_msg, size_t case_len, uint64_t attachments_len,
    chunk_sink_fn sink, void *sink_arg);
int envelope_seal_write(struct sealer *s, const uint8_t *data, size_t len);
int envelope_seal_finish(struct sealer *s, struct sealed *out);
void envelope_seal_free(struct sealer *s);
void sealed_free(struct sealed *s);

/* One of the recipient's encryption keys (current or rotated out but still held). */
struct open_key {
	uint8_t key_id[PU_KEY_ID_LEN];
	uint8_t public_key[PU_PUBLIC_KEY_LEN];
	const uint8_t *secret_key;		/* PU_BOX_SECRET_LEN bytes, secret memory */
};

struct opener;

/*
 * Verify the header's signature against the directory and the sender's key at the
 * message's creation time, find me among the recipients, unwrap K with one of keys and
 * check the key commitment.
 */
int envelope_open_begin(struct opener **out, const struct header *h, const struct directory *d,
    const char *me, const struct open_key *keys, size_t n_keys,
    attachment_sink_fn sink, void *sink_arg);
int envelope_open_chunk(struct opener *o, uint32_t index, const uint8_t *ct, size_t len);
/*
 * After the last chunk: checks the content signature. On success *case_msg (free with
 * pb_free) is the decoded case message and receipt_mac the MAC for the recipient receipt.
 */
int envelope_open_finish(struct opener *o, Puente__CaseMessage **case_msg,
    uint8_t receipt_mac[PU_HASH_LEN]);
void envelope_open_free(struct opener *o);

/* Key commitment of PROTOCOL.md §5.2. */
void envelope_commit(uint8_t out[PU_HASH_LEN], const uint8_t *k, const uint8_t *stream_header,
    const uint8_t *msg_id);
/* Wrap key for one stanza (PROTOCOL.md §5.3). */
int envelope_wrap_key(uint8_t out[32], const uint8_t shared[32], const uint8_t eph_pk[32],
    const uint8_t recipient_pk[32], const uint8_t *msg_id, const char *sender,
    const char *recipient, const uint8_t key_id[PU_KEY_ID_LEN]);
/* Key of the receipt MAC, derived from K (PROTOCOL.md §6.2). */
int envelope_mac_key(uint8_t out[32], const uint8_t *k, const uint8_t *msg_id);
/* The receipt MAC: keyed BLAKE2b over the content digest (PROTOCOL.md §6.2). */
void envelope_receipt_mac(uint8_t out[PU_HASH_LEN], const uint8_t mac_key[32],
    const uint8_t digest[PU_HASH_LEN]);
/* Bytes of plaintext buffer a message needs: one chunk, or less for a small message. */
size_t envelope_plain_cap(uint64_t content_length);
/* AD of chunk i: core hash || u32be(i). */
void envelope_chunk_ad(uint8_t out[PU_HASH_LEN + 4], const uint8_t core_hash[PU_HASH_LEN],
    uint32_t index);

#endif
