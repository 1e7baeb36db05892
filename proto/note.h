/*
 * note.h - the audit log's checkpoints as C2SP signed notes (c2sp.org/signed-note,
 * c2sp.org/tlog-checkpoint), signed by the gateway's checkpoint key and cosigned by
 * witnesses with Ed25519 v1 cosignatures (c2sp.org/tlog-cosignature). The byte layout is
 * PROTOCOL.md §8.1.
 *
 * A signed note is assembled by the caller: the checkpoint text (note_checkpoint_format),
 * one blank line ("\n"), then one line per signature (note_sign, note_cosign). Parsing is
 * strict and refuses each malformation with its own code; a parsed note holds its own
 * copy of the bytes, so it may be copied and outlives the input.
 */
#ifndef PU_NOTE_H
#define PU_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "merkle.h"

#define NOTE_MAX_LEN 4096	/* a whole signed note, signatures included */
#define NOTE_MAX_SIGS 100	/* signature lines; the spec asks verifiers to accept 16 */
#define NOTE_KEY_ID_LEN 4
/* Signature type bytes of the key id (signed-note.md "Signature types"). */
#define NOTE_TYPE_ED25519 0x01
#define NOTE_TYPE_COSIGNATURE_V1 0x04
/* "— ": U+2014 EM DASH and a space, what every signature line starts with. */
#define NOTE_SIG_PREFIX "\xe2\x80\x94 "

struct note_sig {
	size_t name_off, name_len;	/* the key name, in note.buf */
	size_t b64_off, b64_len;	/* base64 of key id || signature bytes, in note.buf */
	uint32_t key_id;		/* the first 4 decoded bytes, big-endian */
};

struct note {
	uint8_t buf[NOTE_MAX_LEN];	/* the note as received */
	size_t len;
	size_t text_len;		/* the signed text: buf[0..text_len), ends in "\n" */
	size_t origin_len;		/* the origin: buf[0..origin_len) */
	uint64_t tree_size;
	uint8_t root[MERKLE_HASH_LEN];
	size_t ext_off;			/* extension lines: buf[ext_off..text_len) */
	size_t n_sigs;
	struct note_sig sigs[NOTE_MAX_SIGS];
};

/* SHA-256(key_name || "\n" || type || pk)[:4] as a big-endian number. */
uint32_t note_key_id(const char *key_name, uint8_t type, const uint8_t pk[PU_PUBLIC_KEY_LEN]);

/*
 * Append the checkpoint text "ORIGIN\nSIZE\nBASE64(ROOT)\n" to out. The origin must be a
 * non-empty single line (PU_ERR_NOTE_ORIGIN) of UTF-8 text (PU_ERR_NOTE_TEXT), short
 * enough that the text, its blank line and one signature line fit in NOTE_MAX_LEN
 * (PU_ERR_NOTE_SIZE). out is left as it was on any error.
 */
int note_checkpoint_format(const char *origin, uint64_t size, const uint8_t root[MERKLE_HASH_LEN],
    struct buf *out);

/*
 * Append the line "— KEY_NAME BASE64(key id || Ed25519(text))\n" to out. text is a
 * checkpoint text as note_parse accepts it (else its error), key_name a valid key name
 * (PU_ERR_NOTE_KEY_NAME), and pk the public half of sk (libsodium's 64-byte secret key),
 * else PU_ERR_ARG. text may lie inside out: it is read before out grows.
 */
int note_sign(const uint8_t *text, size_t text_len, const char *key_name,
    const uint8_t sk[PU_SIGN_SECRET_LEN], const uint8_t pk[PU_PUBLIC_KEY_LEN], struct buf *out);
/*
 * The same for a witness: "— KEY_NAME BASE64(key id || u64be(timestamp) || signature)\n",
 * the signature over "cosignature/v1\ntime TIMESTAMP\n" || text, key id of type 0x04.
 * PU_ERR_NOTE_TIMESTAMP when timestamp > 2^63 - 1.
 */
int note_cosign(const uint8_t *text, size_t text_len, const char *key_name,
    const uint8_t sk[PU_SIGN_SECRET_LEN], const uint8_t pk[PU_PUBLIC_KEY_LEN],
    uint64_t timestamp, struct buf *out);

/*
 * Parse a signed checkpoint (PROTOCOL.md §8.1) into n, checking every line but no
 * signature. PU_OK, or the PU_ERR_NOTE_* code of the first problem in this order: size,
 * UTF-8 and control characters, the blank line, the text's lines, the signature lines.
 */
int note_parse(const uint8_t *msg, size_t len, struct note *n);

/*
 * Check n's signature by the Ed25519 key (key_name, pk). Lines whose name or key id differ
 * are ignored (they are other keys); every line with both must verify. PU_OK with *found
 * = 1; PU_ERR_NOTE_UNSIGNED with *found = 0 when no line is by that key (a signature by
 * another key under the same name ends here); PU_ERR_NOTE_SIGNATURE with *found = 1 when
 * a line by that key does not verify. A caller counting witnesses tells a missing
 * cosignature from a bad one by *found.
 */
int note_verify(const struct note *n, const char *key_name, const uint8_t pk[PU_PUBLIC_KEY_LEN],
    int *found);
/*
 * The same for a witness's v1 cosignature; *timestamp gets its time (the latest when the
 * witness signed more than once). PU_ERR_NOTE_TIMESTAMP for a time over 2^63 - 1.
 */
int note_verify_cosignature(const struct note *n, const char *key_name,
    const uint8_t pk[PU_PUBLIC_KEY_LEN], int *found, uint64_t *timestamp);

/*
 * Whether two verified checkpoints can both be true: PU_ERR_NOTE_OTHER_LOG when their
 * origins differ, PU_ERR_NOTE_FORK when they give different roots for the same size (the
 * log showed two views: keep both notes as evidence), else PU_OK. Checkpoints of
 * different sizes need a consistency proof (merkle_verify_consistency).
 */
int note_same_tree(const struct note *a, const struct note *b);

#endif
