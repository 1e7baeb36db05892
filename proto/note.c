/*
 * note.c - checkpoints as C2SP signed notes: strict parsing, Ed25519 signatures and
 * v1 cosignatures (libsodium). The whole note is bounded (NOTE_MAX_LEN) and checked for
 * UTF-8 and control characters before any line is looked at; each line is then parsed
 * against its own rule, so every malformation has its own error code.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "crypto.h"
#include "merkle.h"
#include "note.h"
#include "pb.h"
#include "pu_err.h"

#define SIG_PREFIX_LEN (sizeof(NOTE_SIG_PREFIX) - 1)
#define ROOT_B64_LEN 44		/* 32 bytes: 43 characters and one "=" */
#define U64_DIGITS_MAX 20	/* 18446744073709551615 */
#define TIMESTAMP_MAX ((uint64_t)INT64_MAX)	/* tlog-cosignature: at most 2^63 - 1 */
#define COSIG_HEADER "cosignature/v1\ntime "
/* Decoded signatures: key id || signature, or key id || u64be(timestamp) || signature. */
#define ED25519_RAW_LEN (NOTE_KEY_ID_LEN + PU_SIG_LEN)
#define COSIG_RAW_LEN (NOTE_KEY_ID_LEN + 8 + PU_SIG_LEN)
/* Base64 on one line of a note never decodes to more than this. */
#define SIG_RAW_MAX (NOTE_MAX_LEN / 4 * 3)
/* The shortest Ed25519 signature line: a one-byte name and base64 of 68 bytes. */
#define SIG_LINE_MIN (SIG_PREFIX_LEN + 1 + 1 + \
	sodium_base64_ENCODED_LEN(ED25519_RAW_LEN, sodium_base64_VARIANT_ORIGINAL) - 1 + 1)
/* A signature line we write: prefix, name, space, base64 with its NUL, newline. */
#define SIG_LINE_MAX (SIG_PREFIX_LEN + NOTE_MAX_LEN + 1 + \
	sodium_base64_ENCODED_LEN(COSIG_RAW_LEN, sodium_base64_VARIANT_ORIGINAL) + 1)

/*
 * Unicode White_Space outside ASCII, as Go's unicode.IsSpace (which the reference
 * implementation, golang.org/x/mod/sumdb/note, uses for key names), in UTF-8.
 */
static const char *const unicode_spaces[] = {
	"\xc2\x85", "\xc2\xa0",					/* U+0085, U+00A0 */
	"\xe1\x9a\x80",						/* U+1680 */
	"\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83",	/* U+2000.. */
	"\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87",
	"\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a",		/* ..U+200A */
	"\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",		/* U+2028, U+2029, U+202F */
	"\xe2\x81\x9f", "\xe3\x80\x80",				/* U+205F, U+3000 */
};

/* What note_parse learns from a checkpoint's text. */
struct body {
	size_t origin_len;
	uint64_t tree_size;
	uint8_t root[MERKLE_HASH_LEN];
	size_t ext_off;
};

/* signed-note.md: valid UTF-8 with no ASCII control character other than newline. */
static int
text_check(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 && p[i] != '\n')
			return PU_ERR_NOTE_TEXT;
	return pb_utf8_valid(p, n) ? PU_OK : PU_ERR_NOTE_TEXT;
}

/* signed-note.md: non-empty, without Unicode spaces or "+" (a "+" would split a vkey). */
static int
key_name_check(const uint8_t *p, size_t n)
{
	if (n == 0 || n > NOTE_MAX_LEN || text_check(p, n) != PU_OK)
		return PU_ERR_NOTE_KEY_NAME;
	for (size_t i = 0; i < n; i++) {
		/* Other ASCII spaces (tab, VT, FF, CR) are control characters, refused above. */
		if (p[i] == '+' || p[i] == ' ' || p[i] == '\n')
			return PU_ERR_NOTE_KEY_NAME;
		for (size_t k = 0; k < sizeof(unicode_spaces) / sizeof(unicode_spaces[0]); k++) {
			size_t len = strlen(unicode_spaces[k]);
			if (n - i >= len && memcmp(p + i, unicode_spaces[k], len) == 0)
				return PU_ERR_NOTE_KEY_NAME;
		}
	}
	return PU_OK;
}

/* The line starting at *off: *line and *len without its newline; 0 when none is left. */
static int
line_next(const uint8_t *p, size_t n, size_t *off, const uint8_t **line, size_t *len)
{
	const uint8_t *nl;

	if (*off >= n || (nl = memchr(p + *off, '\n', n - *off)) == NULL)
		return 0;
	*line = p + *off;
	*len = (size_t)(nl - *line);
	*off += *len + 1;
	return 1;
}

/* tlog-checkpoint.md: ASCII decimal, no leading zero unless the size is 0. */
static int
tree_size_parse(const uint8_t *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > U64_DIGITS_MAX || (p[0] == '0' && n > 1))
		return PU_ERR_NOTE_TREE_SIZE;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)p[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return PU_ERR_NOTE_TREE_SIZE;
		v = v * 10 + d;
	}
	*out = v;
	return PU_OK;
}

/*
 * Standard padded base64 into out[0..*out_len), at most cap bytes. libsodium refuses
 * missing or extra padding, ASCII outside the alphabet and non-zero trailing bits, so
 * every value has exactly one accepted spelling. But libsodium 1.0.18 takes every byte
 * from 0x80 up for some digit (found by fuzz_note): only ASCII may reach it.
 */
static int
base64_decode(const uint8_t *p, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 0x80)
			return 0;
	return sodium_base642bin(out, cap, (const char *)p, n, NULL, out_len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) == 0;
}

/* The three mandatory lines of tlog-checkpoint.md, then non-empty extension lines. */
static int
body_parse(const uint8_t *text, size_t text_len, struct body *b)
{
	const uint8_t *line;
	size_t off = 0, len, root_len;

	if (!line_next(text, text_len, &off, &line, &len) || len == 0)
		return PU_ERR_NOTE_ORIGIN;
	b->origin_len = len;
	if (!line_next(text, text_len, &off, &line, &len) ||
	    tree_size_parse(line, len, &b->tree_size) != PU_OK)
		return PU_ERR_NOTE_TREE_SIZE;
	if (!line_next(text, text_len, &off, &line, &len) || len != ROOT_B64_LEN ||
	    !base64_decode(line, len, b->root, sizeof(b->root), &root_len) ||
	    root_len != sizeof(b->root))
		return PU_ERR_NOTE_ROOT;
	b->ext_off = off;
	while (line_next(text, text_len, &off, &line, &len))
		if (len == 0)
			return PU_ERR_NOTE_EXTENSION;
	return PU_OK;
}

/* Whether a text and its blank line leave room in a note for at least one signature. */
static int
text_fits(size_t text_len)
{
	return text_len <= NOTE_MAX_LEN - 1 - SIG_LINE_MIN;
}

/* A text we may sign: one note_parse would accept, with room left for a signature. */
static int
text_parse(const uint8_t *text, size_t text_len, struct body *b)
{
	int rc;

	if (!text_fits(text_len))
		return PU_ERR_NOTE_SIZE;
	if ((rc = text_check(text, text_len)) != PU_OK)
		return rc;
	if (text_len == 0 || text[text_len - 1] != '\n')
		return PU_ERR_NOTE_FORMAT;
	return body_parse(text, text_len, b);
}

/* "— NAME BASE64\n": the line without its newline, at buf[off..off + len). */
static int
sig_parse(const uint8_t *buf, size_t off, size_t len, struct note_sig *s)
{
	uint8_t raw[SIG_RAW_MAX];
	const uint8_t *p = buf + off, *space;
	size_t raw_len;

	if (len < SIG_PREFIX_LEN || memcmp(p, NOTE_SIG_PREFIX, SIG_PREFIX_LEN) != 0)
		return PU_ERR_NOTE_SIG_LINE;
	p += SIG_PREFIX_LEN;
	len -= SIG_PREFIX_LEN;
	if ((space = memchr(p, ' ', len)) == NULL)
		return PU_ERR_NOTE_SIG_LINE;
	s->name_off = (size_t)(p - buf);
	s->name_len = (size_t)(space - p);
	if (key_name_check(p, s->name_len) != PU_OK)
		return PU_ERR_NOTE_KEY_NAME;
	s->b64_off = s->name_off + s->name_len + 1;
	s->b64_len = len - s->name_len - 1;
	/* A key id and at least one byte of signature; a second space is not base64. */
	if (!base64_decode(buf + s->b64_off, s->b64_len, raw, sizeof(raw), &raw_len) ||
	    raw_len <= NOTE_KEY_ID_LEN)
		return PU_ERR_NOTE_SIG_BASE64;
	s->key_id = get_u32be(raw);
	return PU_OK;
}

/* signed-note.md: the text ends at the last blank line; *split is that line's newline. */
static int
last_blank_line(const uint8_t *msg, size_t len, size_t *split)
{
	for (size_t i = len; i >= 2; i--) {
		if (msg[i - 2] == '\n' && msg[i - 1] == '\n') {
			*split = i - 2;
			return 1;
		}
	}
	return 0;
}

static int
sigs_parse(const uint8_t *msg, size_t off, size_t len, struct note *n)
{
	const uint8_t *line;
	size_t line_len;

	while (line_next(msg, len, &off, &line, &line_len)) {
		int rc;

		if (n->n_sigs == NOTE_MAX_SIGS)
			return PU_ERR_NOTE_TOO_MANY_SIGS;
		rc = sig_parse(msg, (size_t)(line - msg), line_len, &n->sigs[n->n_sigs]);
		if (rc != PU_OK)
			return rc;
		n->n_sigs++;
	}
	return PU_OK;
}

int
note_parse(const uint8_t *msg, size_t len, struct note *n)
{
	struct body b;
	size_t split;
	int rc;

	n->len = 0;
	n->n_sigs = 0;
	if (len > NOTE_MAX_LEN)
		return PU_ERR_NOTE_SIZE;
	if ((rc = text_check(msg, len)) != PU_OK)
		return rc;
	/* One or more signature lines follow the blank line, the last one ends the note. */
	if (!last_blank_line(msg, len, &split) || split + 2 == len || msg[len - 1] != '\n')
		return PU_ERR_NOTE_FORMAT;
	if ((rc = body_parse(msg, split + 1, &b)) != PU_OK)
		return rc;
	if ((rc = sigs_parse(msg, split + 2, len, n)) != PU_OK) {
		n->n_sigs = 0;
		return rc;
	}
	memcpy(n->buf, msg, len);
	n->len = len;
	n->text_len = split + 1;
	n->origin_len = b.origin_len;
	n->tree_size = b.tree_size;
	memcpy(n->root, b.root, sizeof(n->root));
	n->ext_off = b.ext_off;
	return PU_OK;
}

uint32_t
note_key_id(const char *key_name, uint8_t type, const uint8_t pk[PU_PUBLIC_KEY_LEN])
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	static const uint8_t nl = '\n';

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)key_name, strlen(key_name));
	crypto_hash_sha256_update(&st, &nl, 1);
	crypto_hash_sha256_update(&st, &type, 1);
	crypto_hash_sha256_update(&st, pk, PU_PUBLIC_KEY_LEN);
	crypto_hash_sha256_final(&st, h);
	return get_u32be(h);
}

/* "cosignature/v1\ntime T\n" || text: what a v1 cosignature signs. */
static size_t
cosig_message(uint8_t *out, size_t cap, uint64_t timestamp, const uint8_t *text,
    size_t text_len)
{
	int n = snprintf((char *)out, cap, COSIG_HEADER "%" PRIu64 "\n", timestamp);

	/* cap is sized for the longest header; text_len <= NOTE_MAX_LEN. */
	memcpy(out + n, text, text_len);
	return (size_t)n + text_len;
}

#define COSIG_MESSAGE_MAX (sizeof(COSIG_HEADER) + U64_DIGITS_MAX + 1 + NOTE_MAX_LEN)

/* Append "— NAME BASE64(raw)\n" to out in one piece, so a failure leaves out as it was. */
static int
sig_line_append(struct buf *out, const char *key_name, const uint8_t *raw, size_t raw_len)
{
	uint8_t line[SIG_LINE_MAX];
	size_t name_len = strlen(key_name), n = 0;

	memcpy(line, NOTE_SIG_PREFIX, SIG_PREFIX_LEN);
	n += SIG_PREFIX_LEN;
	memcpy(line + n, key_name, name_len);
	n += name_len;
	line[n++] = ' ';
	sodium_bin2base64((char *)line + n, sizeof(line) - n, raw, raw_len,
	    sodium_base64_VARIANT_ORIGINAL);
	n += strlen((const char *)line + n);
	line[n++] = '\n';
	return buf_append(out, line, n);
}

/* What note_sign and note_cosign refuse before using the secret key. */
static int
sign_check(const uint8_t *text, size_t text_len, const char *key_name,
    const uint8_t sk[PU_SIGN_SECRET_LEN], const uint8_t pk[PU_PUBLIC_KEY_LEN])
{
	struct body b;
	int rc;

	if ((rc = key_name_check((const uint8_t *)key_name, strlen(key_name))) != PU_OK)
		return rc;
	/* libsodium's secret key ends with its public key: the key id must name this key. */
	if (memcmp(sk + PU_SIGN_SECRET_LEN - PU_PUBLIC_KEY_LEN, pk, PU_PUBLIC_KEY_LEN) != 0)
		return PU_ERR_ARG;
	return text_parse(text, text_len, &b);
}

int
note_checkpoint_format(const char *origin, uint64_t size, const uint8_t root[MERKLE_HASH_LEN],
    struct buf *out)
{
	char text[NOTE_MAX_LEN + U64_DIGITS_MAX + ROOT_B64_LEN + 4];
	size_t origin_len = strlen(origin), n;
	int rc;

	if (origin_len == 0 || memchr(origin, '\n', origin_len) != NULL)
		return PU_ERR_NOTE_ORIGIN;
	if ((rc = text_check((const uint8_t *)origin, origin_len)) != PU_OK)
		return rc;
	if (origin_len > NOTE_MAX_LEN)
		return PU_ERR_NOTE_SIZE;
	n = (size_t)snprintf(text, sizeof(text), "%s\n%" PRIu64 "\n", origin, size);
	sodium_bin2base64(text + n, sizeof(text) - n, root, MERKLE_HASH_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
	n += ROOT_B64_LEN;
	text[n++] = '\n';
	if (!text_fits(n))
		return PU_ERR_NOTE_SIZE;
	return buf_append(out, text, n);
}

int
note_sign(const uint8_t *text, size_t text_len, const char *key_name,
    const uint8_t sk[PU_SIGN_SECRET_LEN], const uint8_t pk[PU_PUBLIC_KEY_LEN], struct buf *out)
{
	uint8_t raw[ED25519_RAW_LEN];
	int rc;

	if ((rc = sign_check(text, text_len, key_name, sk, pk)) != PU_OK)
		return rc;
	put_u32be(raw, note_key_id(key_name, NOTE_TYPE_ED25519, pk));
	crypto_sign_detached(raw + NOTE_KEY_ID_LEN, NULL, text, text_len, sk);
	return sig_line_append(out, key_name, raw, sizeof(raw));
}

static void
put_u64be(uint8_t out[8], uint64_t v)
{
	put_u32be(out, (uint32_t)(v >> 32));
	put_u32be(out + 4, (uint32_t)v);
}

static uint64_t
get_u64be(const uint8_t in[8])
{
	return (uint64_t)get_u32be(in) << 32 | get_u32be(in + 4);
}

int
note_cosign(const uint8_t *text, size_t text_len, const char *key_name,
    const uint8_t sk[PU_SIGN_SECRET_LEN], const uint8_t pk[PU_PUBLIC_KEY_LEN],
    uint64_t timestamp, struct buf *out)
{
	uint8_t raw[COSIG_RAW_LEN], msg[COSIG_MESSAGE_MAX];
	size_t msg_len;
	int rc;

	if ((rc = sign_check(text, text_len, key_name, sk, pk)) != PU_OK)
		return rc;
	if (timestamp > TIMESTAMP_MAX)
		return PU_ERR_NOTE_TIMESTAMP;
	msg_len = cosig_message(msg, sizeof(msg), timestamp, text, text_len);
	put_u32be(raw, note_key_id(key_name, NOTE_TYPE_COSIGNATURE_V1, pk));
	put_u64be(raw + NOTE_KEY_ID_LEN, timestamp);
	crypto_sign_detached(raw + NOTE_KEY_ID_LEN + 8, NULL, msg, msg_len, sk);
	return sig_line_append(out, key_name, raw, sizeof(raw));
}

/* One line by the expected key: PU_OK, PU_ERR_NOTE_SIGNATURE or PU_ERR_NOTE_TIMESTAMP. */
static int
sig_line_verify(const struct note *n, const struct note_sig *s, uint8_t type,
    const uint8_t pk[PU_PUBLIC_KEY_LEN], uint64_t *timestamp)
{
	uint8_t raw[SIG_RAW_MAX], msg[COSIG_MESSAGE_MAX];
	size_t raw_len, msg_len;

	/* note_parse checked the base64; the length is the key type's. */
	if (!base64_decode(n->buf + s->b64_off, s->b64_len, raw, sizeof(raw), &raw_len))
		return PU_ERR_NOTE_SIGNATURE;
	if (type == NOTE_TYPE_ED25519) {
		if (raw_len != ED25519_RAW_LEN || crypto_sign_verify_detached(
		    raw + NOTE_KEY_ID_LEN, n->buf, n->text_len, pk) != 0)
			return PU_ERR_NOTE_SIGNATURE;
		return PU_OK;
	}
	if (raw_len != COSIG_RAW_LEN)
		return PU_ERR_NOTE_SIGNATURE;
	*timestamp = get_u64be(raw + NOTE_KEY_ID_LEN);
	if (*timestamp > TIMESTAMP_MAX)
		return PU_ERR_NOTE_TIMESTAMP;
	msg_len = cosig_message(msg, sizeof(msg), *timestamp, n->buf, n->text_len);
	if (crypto_sign_verify_detached(raw + NOTE_KEY_ID_LEN + 8, msg, msg_len, pk) != 0)
		return PU_ERR_NOTE_SIGNATURE;
	return PU_OK;
}

/*
 * signed-note.md: a line is by a known key when both its name and its key id match;
 * others are ignored, and every line by the key must verify.
 */
static int
verify_by_key(const struct note *n, const char *key_name, uint8_t type,
    const uint8_t pk[PU_PUBLIC_KEY_LEN], int *found, uint64_t *latest)
{
	size_t name_len = strlen(key_name);
	uint32_t id;
	uint64_t t = 0;
	int rc;

	*found = 0;
	*latest = 0;
	if ((rc = key_name_check((const uint8_t *)key_name, name_len)) != PU_OK)
		return rc;
	id = note_key_id(key_name, type, pk);
	for (size_t i = 0; i < n->n_sigs; i++) {
		const struct note_sig *s = &n->sigs[i];

		if (s->key_id != id || s->name_len != name_len ||
		    memcmp(n->buf + s->name_off, key_name, name_len) != 0)
			continue;
		*found = 1;
		if ((rc = sig_line_verify(n, s, type, pk, &t)) != PU_OK)
			return rc;
		if (t > *latest)
			*latest = t;
	}
	return *found ? PU_OK : PU_ERR_NOTE_UNSIGNED;
}

int
note_verify(const struct note *n, const char *key_name, const uint8_t pk[PU_PUBLIC_KEY_LEN],
    int *found)
{
	uint64_t unused;

	return verify_by_key(n, key_name, NOTE_TYPE_ED25519, pk, found, &unused);
}

int
note_verify_cosignature(const struct note *n, const char *key_name,
    const uint8_t pk[PU_PUBLIC_KEY_LEN], int *found, uint64_t *timestamp)
{
	return verify_by_key(n, key_name, NOTE_TYPE_COSIGNATURE_V1, pk, found, timestamp);
}

int
note_same_tree(const struct note *a, const struct note *b)
{
	if (a->origin_len != b->origin_len || memcmp(a->buf, b->buf, a->origin_len) != 0)
		return PU_ERR_NOTE_OTHER_LOG;
	if (a->tree_size == b->tree_size && !ct_equal(a->root, b->root, MERKLE_HASH_LEN))
		return PU_ERR_NOTE_FORK;
	return PU_OK;
}
