/* envelope.c - constructions shared by sealing and opening (PROTOCOL.md §5). */
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "envelope.h"
#include "pu_err.h"

void
envelope_commit(uint8_t out[PU_HASH_LEN], const uint8_t *k, const uint8_t *stream_header,
    const uint8_t *msg_id)
{
	struct field f[3] = {
		{ k, crypto_secretstream_xchacha20poly1305_KEYBYTES },
		{ stream_header, PU_STREAM_HEADER_LEN },
		{ msg_id, PU_MSG_ID_LEN },
	};

	hash_fields(out, PU_P_COMMIT, f, 3);
}

int
envelope_wrap_key(uint8_t out[32], const uint8_t shared[32], const uint8_t eph_pk[32],
    const uint8_t recipient_pk[32], const uint8_t *msg_id, const char *sender,
    const char *recipient, const uint8_t key_id[PU_KEY_ID_LEN])
{
	uint8_t salt[64];
	struct field info[5] = {
		{ PU_INFO_WRAP, strlen(PU_INFO_WRAP) },
		{ msg_id, PU_MSG_ID_LEN },
		{ sender, strlen(sender) },
		{ recipient, strlen(recipient) },
		{ key_id, PU_KEY_ID_LEN },
	};

	memcpy(salt, eph_pk, 32);
	memcpy(salt + 32, recipient_pk, 32);
	return hkdf_sha256(out, 32, shared, 32, salt, sizeof(salt), info, 5);
}

int
envelope_mac_key(uint8_t out[32], const uint8_t *k, const uint8_t *msg_id)
{
	struct field info = { PU_INFO_RECEIPT_MAC, strlen(PU_INFO_RECEIPT_MAC) };

	return hkdf_sha256(out, 32, k, crypto_secretstream_xchacha20poly1305_KEYBYTES,
	    msg_id, PU_MSG_ID_LEN, &info, 1);
}

void
envelope_chunk_ad(uint8_t out[PU_HASH_LEN + 4], const uint8_t core_hash[PU_HASH_LEN],
    uint32_t index)
{
	memcpy(out, core_hash, PU_HASH_LEN);
	put_u32be(out + PU_HASH_LEN, index);
}

void
envelope_receipt_mac(uint8_t out[PU_HASH_LEN], const uint8_t mac_key[32],
    const uint8_t digest[PU_HASH_LEN])
{
	crypto_generichash_blake2b_state st;

	hash_stream_init(&st, PU_P_MAC, mac_key, 32);
	crypto_generichash_blake2b_update(&st, digest, PU_HASH_LEN);
	crypto_generichash_blake2b_final(&st, out, PU_HASH_LEN);
}

size_t
envelope_plain_cap(uint64_t content_length)
{
	return content_length < PU_CHUNK_SIZE ? (size_t)content_length : PU_CHUNK_SIZE;
}
