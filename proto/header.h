/*
 * header.h - decoding and checking a sealed message's header (PROTOCOL.md §5.5).
 *
 * The checks are separate calls because the gateway interleaves them with its own
 * (idempotency between the signature and the key status, DESIGN.md §5):
 *   header_decode            sizes, canonical protobuf, structure, core and header hashes
 *   header_verify_signature  the sender's signing key by id, signature over received bytes
 *   header_check_keys        sender and recipients active, their keys usable now
 *   header_check_time        created_at not too far ahead, not expired, lifetime <= 7 days
 *   header_check_chunk       one ciphertext chunk: index, size, manifest hash; or in two
 *                            halves, the cheap one (header_chunk_expect) where the header
 *                            is and the costly one (header_chunk_hash_check) elsewhere
 */
#ifndef PU_HEADER_H
#define PU_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "directory.h"
#include "envelope.pb-c.h"

#define PU_VERSION 1
#define PU_MSG_ID_LEN 16
#define PU_CHUNK_SIZE (1024u * 1024)
#define PU_CHUNK_ABYTES 17u	/* crypto_secretstream_xchacha20poly1305_ABYTES */
#define PU_MAX_RECIPIENTS 16
#define PU_MAX_CHUNKS 4096u
#define PU_MAX_HEADER (160u * 1024)
#define PU_MAX_CASE_MESSAGE (4u * 1024 * 1024)
#define PU_MAX_CONTENT ((uint64_t)PU_MAX_CHUNKS * PU_CHUNK_SIZE)
#define PU_MAX_FUTURE 300
#define PU_MAX_LIFETIME (7 * 86400)
#define PU_STREAM_HEADER_LEN 24
#define PU_WRAPPED_KEY_LEN 48
/* 4-byte length of the case message, then the 64-byte content signature at the end. */
#define PU_CONTENT_OVERHEAD (4u + PU_SIG_LEN)

struct header {
	Puente__SignedHeader *signed_hdr;
	Puente__HeaderCore *core;
	Puente__Manifest *manifest;
	uint8_t core_hash[PU_HASH_LEN];
	uint8_t header_hash[PU_HASH_LEN];
};

int header_decode(struct header *h, const uint8_t *data, size_t len);
void header_free(struct header *h);
int header_verify_signature(const struct header *h, const struct directory *d);
/* Its two halves, for a check made elsewhere: the sender's key in d (PU_ERR_UNKNOWN_SENDER,
 * PU_ERR_UNKNOWN_KEY), and the bytes the signature covers (the caller frees *m). */
int header_signer_key(const struct header *h, const struct directory *d, const uint8_t **pk);
int header_signed_bytes(const struct header *h, uint8_t **m, size_t *len);
int header_check_keys(const struct header *h, const struct directory *d, int64_t now);
int header_check_time(const struct header *h, int64_t now);
/* Expected ciphertext length of chunk index. */
size_t header_chunk_len(const struct header *h, uint32_t index);
/* PU_ERR_CHUNK_EXTRA, PU_ERR_CHUNK_SIZE or PU_ERR_CHUNK_HASH; the caller checks order. */
int header_check_chunk(const struct header *h, uint32_t index, const uint8_t *ct, size_t len);
/* The first half: PU_ERR_CHUNK_EXTRA or PU_ERR_CHUNK_SIZE, else the manifest's hash in expect. */
int header_chunk_expect(const struct header *h, uint32_t index, size_t len,
    uint8_t expect[PU_HASH_LEN]);
/* The second half: PU_ERR_CHUNK_HASH unless ct hashes to expect. */
int header_chunk_hash_check(const uint8_t expect[PU_HASH_LEN], const uint8_t *ct, size_t len);
/* The stanza addressed to agency, or NULL. */
const Puente__RecipientStanza *header_find_recipient(const struct header *h, const char *agency);

/* Chunks for a content length: ceil(len / 1 MiB). */
uint64_t chunk_count_for(uint64_t content_length);
/* The header's signed byte string and hash (PROTOCOL.md §5.4). */
void header_hash_compute(uint8_t out[PU_HASH_LEN], const uint8_t *core, size_t core_len,
    const uint8_t *manifest, size_t manifest_len);

#endif
