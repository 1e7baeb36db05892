/*
 * test_note.c - THREATS.md groups 11 and 19 at library level: checkpoints as C2SP signed
 * notes (PROTOCOL.md §8.1). Known answers from the C2SP and Go texts; format, sign, parse
 * and verify round trips for the gateway's signature and witnesses' cosignatures; every
 * malformed note refused with its own code; a note signed by the wrong key; and two
 * checkpoints of one size with different roots (a fork).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "buf.h"
#include "crypto.h"
#include "merkle.h"
#include "note.h"
#include "pu_err.h"

/* Compare names, so a failure reads "PU_ERR_NOTE_ROOT" != "PU_OK". */
#define assert_err(rc, want) assert_string_equal(pu_err_name(rc), pu_err_name(want))

#define DASH "\xe2\x80\x94"
#define LOG "log.puente.example/audit"
#define W1 "auditoria.puente.example/w1"
#define W2 "pfpnna.puente.example/w2"
/* SHA-256 of the empty string: the root of the empty tree, as base64. */
#define ROOT_B64 "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define TEXT LOG "\n7\n" ROOT_B64 "\n"
/* Syntactically valid, cryptographically nothing: key id 0 and 3 bytes. */
#define FAKE_SIG DASH " " LOG " AAAAAAAAAA==\n"
#define SHORT_SIG DASH " k AAAAAAAAAA==\n"
#define NOW 1790000000u

struct key {
	const char *name;
	uint8_t pk[PU_PUBLIC_KEY_LEN];
	uint8_t *sk;
};

/* Deterministic test keys: Ed25519 from a seed filled with one byte. */
static struct key log_key = { LOG, { 0 }, NULL };
static struct key w1 = { W1, { 0 }, NULL };
static struct key w2 = { W2, { 0 }, NULL };
static struct key rogue = { LOG, { 0 }, NULL };	/* someone else's key, same name */

/*
 * golang.org/x/mod sumdb/note/note_test.go: the PeterNeumann test key (the seed follows
 * the 0x01 type byte of "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKF...") and its vkey.
 */
#define GO_SKEY "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
/* sumdb/tlog/note_test.go: a checkpoint text ("go.sum database tree" is its origin). */
#define GO_TEXT "go.sum database tree\n123456789012\n" \
	"TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
/*
 * GO_TEXT signed by PeterNeumann, and cosigned by the same key as witness.example.com/w1
 * at time 1679315147: written by a separate Python script from signed-note.md and
 * tlog-cosignature.md alone (PyNaCl for Ed25519), not by note.c.
 */
#define GO_SIG_LINE DASH " PeterNeumann x08go8n2yJ15gnt9LNfAiYXVFuMmB1V6g1sVAggB2dGsPICPIogz" \
	"mKK0FPkvAQe+vwiL2Js1Yz4dH4tXvW5UhJvCsAk=\n"
#define GO_COSIG_LINE DASH " witness.example.com/w1 1GorGwAAAABkGFDLItHzCgDt1geWTX2ky/7+WMnsK" \
	"hkPzdtirzAQ24/k5zwS1OEq4IEAdoLPRzn9a6ZFDGmxE58pimvIlphXYTdjAw==\n"
/* tlog-cosignature.md: its example checkpoint with a log signature and a cosignature. */
#define C2SP_EXAMPLE "example.com/behind-the-sofa\n20852163\n" \
	"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" \
	DASH " example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe" \
	"4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n" \
	DASH " witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZC" \
	"B9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"

static void
key_make(struct key *k, uint8_t fill)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, fill, sizeof(seed));
	k->sk = secret_alloc(PU_SIGN_SECRET_LEN);
	assert_non_null(k->sk);
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

static int
setup(void **state)
{
	(void)state;
	key_make(&log_key, 1);
	key_make(&w1, 2);
	key_make(&w2, 3);
	key_make(&rogue, 4);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	secret_free(log_key.sk);
	secret_free(w1.sk);
	secret_free(w2.sk);
	secret_free(rogue.sk);
	return 0;
}

static void
unbase64(uint8_t *out, size_t len, const char *b64)
{
	size_t got;

	if (sodium_base642bin(out, len, b64, strlen(b64), NULL, &got, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || got != len)
		fail_msg("bad base64 constant %s", b64);
}

static void
tree_root(uint64_t n, uint8_t root[MERKLE_HASH_LEN])
{
	uint8_t leaves[16 * MERKLE_HASH_LEN];

	for (uint64_t i = 0; i < n; i++)
		merkle_leaf_hash(leaves + i * MERKLE_HASH_LEN, &i, sizeof(i));
	merkle_root(root, leaves, n);
}

/* A checkpoint of the n-leaf test tree signed by the log key, then cosigned by ws. */
static void
checkpoint_make(struct buf *b, uint64_t n, const struct key *const *ws, size_t n_ws)
{
	uint8_t root[MERKLE_HASH_LEN];
	size_t text_len;

	tree_root(n, root);
	buf_init(b, NOTE_MAX_LEN);
	assert_err(note_checkpoint_format(LOG, n, root, b), PU_OK);
	text_len = b->len;
	assert_err(buf_append_u8(b, '\n'), PU_OK);
	/* The text is read from inside b, which grows under it: note_sign allows that. */
	assert_err(note_sign(b->data, text_len, LOG, log_key.sk, log_key.pk, b), PU_OK);
	for (size_t i = 0; i < n_ws; i++)
		assert_err(note_cosign(b->data, text_len, ws[i]->name, ws[i]->sk, ws[i]->pk,
		    NOW + i, b), PU_OK);
}

static void
parse_ok(struct note *n, const void *p, size_t len)
{
	assert_err(note_parse(p, len, n), PU_OK);
}

/* ---- known answers --------------------------------------------------------------------- */

static void
key_ids_are_the_specs(void **state)
{
	uint8_t vkey[1 + PU_PUBLIC_KEY_LEN];

	(void)state;
	/* signed-note.md, "Verifier keys": example.com/foo+530d903a+Aeky... */
	unbase64(vkey, sizeof(vkey), "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k");
	assert_int_equal(vkey[0], NOTE_TYPE_ED25519);
	assert_int_equal(note_key_id("example.com/foo", NOTE_TYPE_ED25519, vkey + 1), 0x530d903a);
	unbase64(vkey, sizeof(vkey), GO_VKEY);
	assert_int_equal(note_key_id("PeterNeumann", NOTE_TYPE_ED25519, vkey + 1), 0xc74f20a3);
	/* The type byte separates a key's note signatures from its cosignatures. */
	assert_int_not_equal(note_key_id("PeterNeumann", NOTE_TYPE_COSIGNATURE_V1, vkey + 1),
	    0xc74f20a3);
}

static void
signed_checkpoint_is_byte_exact(void **state)
{
	static const char want[] = GO_TEXT "\n" GO_SIG_LINE GO_COSIG_LINE;
	uint8_t seed[1 + crypto_sign_SEEDBYTES], vkey[1 + PU_PUBLIC_KEY_LEN];
	uint8_t pk[PU_PUBLIC_KEY_LEN], *sk = secret_alloc(PU_SIGN_SECRET_LEN), root[32];
	struct note *n = malloc(sizeof(*n));
	struct buf b;
	uint64_t ts;
	int found;

	(void)state;
	assert_non_null(sk);
	assert_non_null(n);
	unbase64(seed, sizeof(seed), GO_SKEY);
	unbase64(vkey, sizeof(vkey), GO_VKEY);
	crypto_sign_seed_keypair(pk, sk, seed + 1);
	assert_memory_equal(pk, vkey + 1, PU_PUBLIC_KEY_LEN);
	unbase64(root, sizeof(root), "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=");

	buf_init(&b, NOTE_MAX_LEN);
	assert_err(note_checkpoint_format("go.sum database tree", 123456789012, root, &b), PU_OK);
	assert_int_equal(b.len, strlen(GO_TEXT));
	assert_memory_equal(b.data, GO_TEXT, b.len);
	assert_err(buf_append_u8(&b, '\n'), PU_OK);
	assert_err(note_sign((const uint8_t *)GO_TEXT, strlen(GO_TEXT), "PeterNeumann", sk, pk,
	    &b), PU_OK);
	assert_err(note_cosign((const uint8_t *)GO_TEXT, strlen(GO_TEXT),
	    "witness.example.com/w1", sk, pk, 1679315147, &b), PU_OK);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);

	parse_ok(n, want, strlen(want));
	assert_int_equal(n->tree_size, 123456789012);
	assert_memory_equal(n->root, root, sizeof(root));
	assert_err(note_verify(n, "PeterNeumann", pk, &found), PU_OK);
	assert_int_equal(found, 1);
	assert_err(note_verify_cosignature(n, "witness.example.com/w1", pk, &found, &ts), PU_OK);
	assert_int_equal(found, 1);
	assert_int_equal(ts, 1679315147);
	buf_free(&b);
	free(n);
	secret_free(sk);
}

static void
spec_example_parses(void **state)
{
	static const char ex[] = C2SP_EXAMPLE;
	struct note *n = malloc(sizeof(*n));
	uint8_t root[32];

	(void)state;
	assert_non_null(n);
	parse_ok(n, ex, strlen(ex));
	assert_int_equal(n->origin_len, strlen("example.com/behind-the-sofa"));
	assert_memory_equal(n->buf, "example.com/behind-the-sofa", n->origin_len);
	assert_int_equal(n->tree_size, 20852163);
	unbase64(root, sizeof(root), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
	assert_memory_equal(n->root, root, sizeof(root));
	assert_int_equal(n->ext_off, n->text_len);
	assert_int_equal(n->n_sigs, 2);
	assert_int_equal(n->sigs[1].name_len, strlen("witness.example.com/w1"));
	assert_memory_equal(n->buf + n->sigs[1].name_off, "witness.example.com/w1",
	    n->sigs[1].name_len);
	assert_int_equal(n->sigs[1].key_id, 0x8d66cf3f);
	free(n);
}

/* ---- round trips ----------------------------------------------------------------------- */

static void
checkpoint_round_trip(void **state)
{
	static const struct key *const ws[] = { &w1, &w2 };
	struct note *n = malloc(sizeof(*n)), *copy = malloc(sizeof(*copy));
	uint8_t root[MERKLE_HASH_LEN];
	struct buf b;
	uint64_t ts;
	int found;

	(void)state;
	assert_non_null(n);
	assert_non_null(copy);
	checkpoint_make(&b, 11, ws, 2);
	parse_ok(n, b.data, b.len);
	tree_root(11, root);
	assert_int_equal(n->tree_size, 11);
	assert_memory_equal(n->root, root, sizeof(root));
	assert_int_equal(n->origin_len, strlen(LOG));
	assert_int_equal(n->n_sigs, 3);

	/* The note keeps its own bytes: the input may go, the struct may be copied. */
	memset(b.data, 'x', b.len);
	buf_free(&b);
	memcpy(copy, n, sizeof(*n));
	memset(n, 0, sizeof(*n));
	assert_err(note_verify(copy, LOG, log_key.pk, &found), PU_OK);
	assert_int_equal(found, 1);
	assert_err(note_verify_cosignature(copy, W1, w1.pk, &found, &ts), PU_OK);
	assert_int_equal(ts, NOW);
	assert_err(note_verify_cosignature(copy, W2, w2.pk, &found, &ts), PU_OK);
	assert_int_equal(ts, NOW + 1);
	/* A cosignature is not a note signature, nor the reverse: their key ids differ. */
	assert_err(note_verify(copy, W1, w1.pk, &found), PU_ERR_NOTE_UNSIGNED);
	assert_int_equal(found, 0);
	assert_err(note_verify_cosignature(copy, LOG, log_key.pk, &found, &ts),
	    PU_ERR_NOTE_UNSIGNED);
	free(n);
	free(copy);
}

static void
extension_lines_are_signed_too(void **state)
{
	static const char text[] = TEXT "puente extension\n";
	struct note *n = malloc(sizeof(*n));
	struct buf b;
	uint64_t ts;
	int found;

	(void)state;
	assert_non_null(n);
	buf_init(&b, NOTE_MAX_LEN);
	assert_err(buf_append(&b, text, strlen(text)), PU_OK);
	assert_err(buf_append_u8(&b, '\n'), PU_OK);
	assert_err(note_sign((const uint8_t *)text, strlen(text), LOG, log_key.sk, log_key.pk,
	    &b), PU_OK);
	assert_err(note_cosign((const uint8_t *)text, strlen(text), W1, w1.sk, w1.pk, NOW, &b),
	    PU_OK);
	parse_ok(n, b.data, b.len);
	assert_int_equal(n->text_len - n->ext_off, strlen("puente extension\n"));
	assert_memory_equal(n->buf + n->ext_off, "puente extension\n", n->text_len - n->ext_off);
	assert_err(note_verify(n, LOG, log_key.pk, &found), PU_OK);
	assert_err(note_verify_cosignature(n, W1, w1.pk, &found, &ts), PU_OK);

	/* tlog-cosignature.md: extension lines are part of the cosigned message. */
	b.data[strlen(TEXT)] = 'P';
	parse_ok(n, b.data, b.len);
	assert_err(note_verify(n, LOG, log_key.pk, &found), PU_ERR_NOTE_SIGNATURE);
	assert_err(note_verify_cosignature(n, W1, w1.pk, &found, &ts), PU_ERR_NOTE_SIGNATURE);
	assert_int_equal(found, 1);
	buf_free(&b);
	free(n);
}

/* ---- signatures that must not verify --------------------------------------------------- */

static void
signed_by_the_wrong_key(void **state)
{
	struct note *n = malloc(sizeof(*n));
	struct buf b;
	int found = 7;

	(void)state;
	assert_non_null(n);
	buf_init(&b, NOTE_MAX_LEN);
	assert_err(buf_append(&b, TEXT "\n", strlen(TEXT) + 1), PU_OK);
	/* The log's name, another key: the key id differs, so it is another key's line. */
	assert_err(note_sign((const uint8_t *)TEXT, strlen(TEXT), LOG, rogue.sk, rogue.pk, &b),
	    PU_OK);
	/* The log's key under another name. */
	assert_err(note_sign((const uint8_t *)TEXT, strlen(TEXT), "mirror.example/audit",
	    log_key.sk, log_key.pk, &b), PU_OK);
	parse_ok(n, b.data, b.len);
	assert_int_equal(n->n_sigs, 2);
	assert_err(note_verify(n, LOG, log_key.pk, &found), PU_ERR_NOTE_UNSIGNED);
	assert_int_equal(found, 0);
	/* The rogue's own line verifies for the rogue key, which nobody trusts. */
	assert_err(note_verify(n, LOG, rogue.pk, &found), PU_OK);
	buf_free(&b);
	free(n);
}

/* A line with the log's name and key id but the rogue's signature: a colliding key id. */
static void
known_key_with_a_bad_signature(void **state)
{
	uint8_t raw[NOTE_KEY_ID_LEN + PU_SIG_LEN];
	char b64[sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_ORIGINAL)];
	struct note *n = malloc(sizeof(*n));
	char msg[1024];
	int found = 7, len;

	(void)state;
	assert_non_null(n);
	put_u32be(raw, note_key_id(LOG, NOTE_TYPE_ED25519, log_key.pk));
	crypto_sign_detached(raw + NOTE_KEY_ID_LEN, NULL, (const uint8_t *)TEXT, strlen(TEXT),
	    rogue.sk);
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	len = snprintf(msg, sizeof(msg), TEXT "\n" DASH " " LOG " %s\n", b64);
	parse_ok(n, msg, (size_t)len);
	assert_err(note_verify(n, LOG, log_key.pk, &found), PU_ERR_NOTE_SIGNATURE);
	assert_int_equal(found, 1);
	free(n);
}

static void
every_line_by_the_key_must_verify(void **state)
{
	struct note *n = malloc(sizeof(*n));
	struct buf b;
	uint8_t *c;
	int found;

	(void)state;
	assert_non_null(n);
	checkpoint_make(&b, 3, NULL, 0);
	parse_ok(n, b.data, b.len);
	assert_err(note_sign(n->buf, n->text_len, LOG, log_key.sk, log_key.pk, &b), PU_OK);
	parse_ok(n, b.data, b.len);
	assert_err(note_verify(n, LOG, log_key.pk, &found), PU_OK);
	/* A second line by the key that does not verify spoils the good first one. */
	c = &b.data[b.len - 6];		/* a base64 digit of the signature, not its last */
	*c = *c == 'A' ? 'B' : 'A';
	parse_ok(n, b.data, b.len);
	assert_err(note_verify(n, LOG, log_key.pk, &found), PU_ERR_NOTE_SIGNATURE);
	buf_free(&b);
	free(n);
}

static void
altered_checkpoint_fails_its_signature(void **state)
{
	struct note *n = malloc(sizeof(*n));
	struct buf b;
	int found;

	(void)state;
	assert_non_null(n);
	checkpoint_make(&b, 7, NULL, 0);
	/* The size line "7" becomes "8": a well-formed checkpoint the key never signed. */
	assert_int_equal(b.data[strlen(LOG) + 1], '7');
	b.data[strlen(LOG) + 1] = '8';
	parse_ok(n, b.data, b.len);
	assert_int_equal(n->tree_size, 8);
	assert_err(note_verify(n, LOG, log_key.pk, &found), PU_ERR_NOTE_SIGNATURE);
	assert_int_equal(found, 1);
	buf_free(&b);
	free(n);
}

static void
unknown_signatures_are_ignored(void **state)
{
	static const char msg[] = TEXT "\n"
	    DASH " someone.example/else AAAAAAAAAA==\n"
	    DASH " " LOG " AAAAAAAAAA==\n";		/* the log's name, key id 0 */
	struct note *n = malloc(sizeof(*n));
	struct buf b;
	int found;

	(void)state;
	assert_non_null(n);
	buf_init(&b, NOTE_MAX_LEN);
	assert_err(buf_append(&b, msg, strlen(msg)), PU_OK);
	assert_err(note_sign((const uint8_t *)TEXT, strlen(TEXT), LOG, log_key.sk, log_key.pk,
	    &b), PU_OK);
	parse_ok(n, b.data, b.len);
	assert_int_equal(n->n_sigs, 3);
	assert_err(note_verify(n, LOG, log_key.pk, &found), PU_OK);
	buf_free(&b);
	free(n);
}

/* A cosignature line of the witness's key id, raw bytes given, signed over message. */
static void
cosig_line(char *out, size_t cap, const uint8_t *raw_tail, size_t tail_len)
{
	uint8_t raw[NOTE_KEY_ID_LEN + 8 + PU_SIG_LEN];
	char b64[sodium_base64_ENCODED_LEN(sizeof(raw), sodium_base64_VARIANT_ORIGINAL)];

	put_u32be(raw, note_key_id(W1, NOTE_TYPE_COSIGNATURE_V1, w1.pk));
	memcpy(raw + NOTE_KEY_ID_LEN, raw_tail, tail_len);
	sodium_bin2base64(b64, sizeof(b64), raw, NOTE_KEY_ID_LEN + tail_len,
	    sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, cap, TEXT "\n" DASH " " W1 " %s\n", b64);
}

static void
cosignature_time_and_length_checked(void **state)
{
	static const char signed_msg[] = "cosignature/v1\ntime 9223372036854775808\n" TEXT;
	uint8_t tail[8 + PU_SIG_LEN];
	struct note *n = malloc(sizeof(*n));
	struct buf b;
	char msg[1024];
	uint64_t ts = 5;
	int found;

	(void)state;
	assert_non_null(n);
	/* Time 2^63, properly signed: still over the spec's limit. */
	memset(tail, 0, 8);
	tail[0] = 0x80;
	crypto_sign_detached(tail + 8, NULL, (const uint8_t *)signed_msg, strlen(signed_msg),
	    w1.sk);
	cosig_line(msg, sizeof(msg), tail, sizeof(tail));
	parse_ok(n, msg, strlen(msg));
	assert_err(note_verify_cosignature(n, W1, w1.pk, &found, &ts), PU_ERR_NOTE_TIMESTAMP);
	assert_int_equal(found, 1);
	/* A cosignature without its timestamp: 68 bytes where 76 are due. */
	cosig_line(msg, sizeof(msg), tail + 8, PU_SIG_LEN);
	parse_ok(n, msg, strlen(msg));
	assert_err(note_verify_cosignature(n, W1, w1.pk, &found, &ts), PU_ERR_NOTE_SIGNATURE);

	buf_init(&b, NOTE_MAX_LEN);
	assert_err(note_cosign((const uint8_t *)TEXT, strlen(TEXT), W1, w1.sk, w1.pk,
	    (uint64_t)INT64_MAX + 1, &b), PU_ERR_NOTE_TIMESTAMP);
	assert_int_equal(b.len, 0);
	assert_err(note_cosign((const uint8_t *)TEXT, strlen(TEXT), W1, w1.sk, w1.pk,
	    INT64_MAX, &b), PU_OK);
	buf_free(&b);
	free(n);
}

/* ---- malformed notes ------------------------------------------------------------------- */

struct bad_note {
	const char *what;
	const char *msg;
	size_t len;
	int want;
};

#define BAD(what, msg, want) { what, msg, sizeof(msg) - 1, want }
static const struct bad_note bad_notes[] = {
	BAD("empty", "", PU_ERR_NOTE_FORMAT),
	BAD("CR before a newline", LOG "\r\n7\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TEXT),
	BAD("CRLF line ends", LOG "\r\n7\r\n" ROOT_B64 "\r\n\r\n" FAKE_SIG, PU_ERR_NOTE_TEXT),
	BAD("tab", TEXT "a\tb\n\n" FAKE_SIG, PU_ERR_NOTE_TEXT),
	BAD("NUL byte", LOG "\0\n7\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TEXT),
	BAD("byte 0xff", LOG "\xff\n7\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TEXT),
	BAD("overlong '/'", "log\xc0\xaf\n7\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TEXT),
	BAD("UTF-16 surrogate", "log\xed\xa0\x80\n7\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TEXT),
	BAD("cut inside an em dash", TEXT "\n\xe2\x80", PU_ERR_NOTE_TEXT),
	BAD("no blank line", TEXT FAKE_SIG, PU_ERR_NOTE_FORMAT),
	BAD("no signature line", TEXT "\n", PU_ERR_NOTE_FORMAT),
	BAD("blank line at the end", TEXT "\n" FAKE_SIG "\n", PU_ERR_NOTE_FORMAT),
	BAD("no final newline", TEXT "\n" DASH " " LOG " AAAAAAAAAA==", PU_ERR_NOTE_FORMAT),
	BAD("empty origin", "\n7\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_ORIGIN),
	BAD("only a blank line", "\n\n" FAKE_SIG, PU_ERR_NOTE_ORIGIN),
	BAD("no size line", LOG "\n\n" FAKE_SIG, PU_ERR_NOTE_TREE_SIZE),
	BAD("empty size", LOG "\n\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TREE_SIZE),
	BAD("size with a leading zero", LOG "\n07\n" ROOT_B64 "\n\n" FAKE_SIG,
	    PU_ERR_NOTE_TREE_SIZE),
	BAD("size 00", LOG "\n00\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TREE_SIZE),
	BAD("size with a sign", LOG "\n+7\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TREE_SIZE),
	BAD("negative size", LOG "\n-1\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TREE_SIZE),
	BAD("size with a space", LOG "\n7 \n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TREE_SIZE),
	BAD("hex size", LOG "\n0x7\n" ROOT_B64 "\n\n" FAKE_SIG, PU_ERR_NOTE_TREE_SIZE),
	BAD("size 2^64", LOG "\n18446744073709551616\n" ROOT_B64 "\n\n" FAKE_SIG,
	    PU_ERR_NOTE_TREE_SIZE),
	BAD("size of 21 digits", LOG "\n100000000000000000000\n" ROOT_B64 "\n\n" FAKE_SIG,
	    PU_ERR_NOTE_TREE_SIZE),
	BAD("no root line", LOG "\n7\n\n" FAKE_SIG, PU_ERR_NOTE_ROOT),
	BAD("root without padding", LOG "\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n\n"
	    FAKE_SIG, PU_ERR_NOTE_ROOT),
	BAD("root with extra padding", LOG "\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU==\n\n"
	    FAKE_SIG, PU_ERR_NOTE_ROOT),
	BAD("root with non-zero trailing bits", LOG "\n7\n"
	    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n\n" FAKE_SIG, PU_ERR_NOTE_ROOT),
	BAD("root in URL-safe base64", LOG "\n7\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"
	    FAKE_SIG, PU_ERR_NOTE_ROOT),
	BAD("root of 31 bytes", LOG "\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA==\n\n"
	    FAKE_SIG, PU_ERR_NOTE_ROOT),
	BAD("root of 33 bytes", LOG "\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA\n\n"
	    FAKE_SIG, PU_ERR_NOTE_ROOT),
	/* libsodium 1.0.18 decodes bytes >= 0x80 as digits (fuzz_note found it). */
	BAD("root with a non-ASCII character", LOG "\n8\n"
	    "e5mAoXxtoZgToio2B9A6c8rjPOZMKS+FyplHG\xe3\x80\x80MOQ=\n\n" FAKE_SIG, PU_ERR_NOTE_ROOT),
	BAD("root with a byte 0xff", LOG "\n8\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF\xff=\n\n"
	    FAKE_SIG, PU_ERR_NOTE_TEXT),
	BAD("root in hex", LOG "\n7\n"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\n" FAKE_SIG,
	    PU_ERR_NOTE_ROOT),
	BAD("extra blank line before signatures", TEXT "\n\n" FAKE_SIG, PU_ERR_NOTE_EXTENSION),
	BAD("empty extension line", TEXT "\next\n\n" FAKE_SIG, PU_ERR_NOTE_EXTENSION),
	BAD("blank line between signatures", TEXT "\n" FAKE_SIG "\n" FAKE_SIG,
	    PU_ERR_NOTE_EXTENSION),
	BAD("hyphen for em dash", TEXT "\n- " LOG " AAAAAAAAAA==\n", PU_ERR_NOTE_SIG_LINE),
	BAD("en dash for em dash", TEXT "\n\xe2\x80\x93 " LOG " AAAAAAAAAA==\n",
	    PU_ERR_NOTE_SIG_LINE),
	BAD("no space after the dash", TEXT "\n" DASH LOG " AAAAAAAAAA==\n", PU_ERR_NOTE_SIG_LINE),
	BAD("no space before the signature", TEXT "\n" DASH " " LOG "AAAAAAAAAA==\n",
	    PU_ERR_NOTE_SIG_LINE),
	BAD("line after the signatures", TEXT "\n" FAKE_SIG "trailer\n", PU_ERR_NOTE_SIG_LINE),
	BAD("dash alone", TEXT "\n" DASH "\n", PU_ERR_NOTE_SIG_LINE),
	BAD("empty key name", TEXT "\n" DASH "  AAAAAAAAAA==\n", PU_ERR_NOTE_KEY_NAME),
	BAD("plus in key name", TEXT "\n" DASH " log+1 AAAAAAAAAA==\n", PU_ERR_NOTE_KEY_NAME),
	BAD("no-break space in key name", TEXT "\n" DASH " log\xc2\xa0x AAAAAAAAAA==\n",
	    PU_ERR_NOTE_KEY_NAME),
	BAD("next-line (U+0085) in key name", TEXT "\n" DASH " log\xc2\x85x AAAAAAAAAA==\n",
	    PU_ERR_NOTE_KEY_NAME),
	BAD("ideographic space in key name", TEXT "\n" DASH " log\xe3\x80\x80x AAAAAAAAAA==\n",
	    PU_ERR_NOTE_KEY_NAME),
	BAD("signature not base64", TEXT "\n" DASH " " LOG " !!!!AAAAAA==\n",
	    PU_ERR_NOTE_SIG_BASE64),
	BAD("signature with a non-ASCII character", TEXT "\n" DASH " " LOG " AA\xc3\xa9" "AAAA\n",
	    PU_ERR_NOTE_SIG_BASE64),
	BAD("signature without padding", TEXT "\n" DASH " " LOG " AAAAAAAAAA\n",
	    PU_ERR_NOTE_SIG_BASE64),
	BAD("signature of 4 bytes", TEXT "\n" DASH " " LOG " AAAAAA==\n", PU_ERR_NOTE_SIG_BASE64),
	BAD("empty signature", TEXT "\n" DASH " " LOG " \n", PU_ERR_NOTE_SIG_BASE64),
	BAD("two spaces before the signature", TEXT "\n" DASH " " LOG "  AAAAAAAAAA==\n",
	    PU_ERR_NOTE_SIG_BASE64),
	BAD("space after the signature", TEXT "\n" DASH " " LOG " AAAAAAAAAA== \n",
	    PU_ERR_NOTE_SIG_BASE64),
};

static void
malformed_notes_refused_each_with_its_code(void **state)
{
	struct note *n = malloc(sizeof(*n));

	(void)state;
	assert_non_null(n);
	for (size_t i = 0; i < sizeof(bad_notes) / sizeof(bad_notes[0]); i++) {
		const struct bad_note *c = &bad_notes[i];
		int rc;

		n->len = 99;
		n->n_sigs = 99;
		rc = note_parse((const uint8_t *)c->msg, c->len, n);
		if (rc != c->want)
			fail_msg("%s: %s, want %s", c->what, pu_err_name(rc), pu_err_name(c->want));
		/* A refused note leaves nothing a careless caller could use. */
		assert_int_equal(n->len, 0);
		assert_int_equal(n->n_sigs, 0);
	}
	free(n);
}

static void
edge_values_accepted(void **state)
{
	static const char zero[] = LOG "\n0\n" ROOT_B64 "\n\n" FAKE_SIG;
	static const char max[] = LOG "\n18446744073709551615\n" ROOT_B64 "\n\n" FAKE_SIG;
	static const char spaced[] = "go.sum database tree\n7\n" ROOT_B64 "\n\n" FAKE_SIG;
	struct note *n = malloc(sizeof(*n));

	(void)state;
	assert_non_null(n);
	parse_ok(n, zero, strlen(zero));
	assert_int_equal(n->tree_size, 0);
	parse_ok(n, max, strlen(max));
	assert_int_equal(n->tree_size, UINT64_MAX);
	/* An origin is opaque: spaces are only discouraged. */
	parse_ok(n, spaced, strlen(spaced));
	free(n);
}

/* pad bytes of origin, TEXT, a blank line, then count copies of SHORT_SIG. */
static size_t
note_of(uint8_t *out, size_t count, size_t pad)
{
	size_t n = 0;

	memset(out, 'a', pad);
	n += pad;
	memcpy(out + n, TEXT "\n", strlen(TEXT) + 1);
	n += strlen(TEXT) + 1;
	for (size_t i = 0; i < count; i++) {
		memcpy(out + n, SHORT_SIG, strlen(SHORT_SIG));
		n += strlen(SHORT_SIG);
	}
	return n;
}

static void
limits_on_size_and_signature_count(void **state)
{
	static uint8_t msg[2 * NOTE_MAX_LEN];
	struct note *n = malloc(sizeof(*n));
	size_t base = note_of(msg, 1, 0), len;

	(void)state;
	assert_non_null(n);
	/* Exactly NOTE_MAX_LEN bytes (a longer origin) pass; one more does not. */
	len = note_of(msg, 1, NOTE_MAX_LEN - base);
	assert_int_equal(len, NOTE_MAX_LEN);
	parse_ok(n, msg, len);
	len = note_of(msg, 1, NOTE_MAX_LEN - base + 1);
	assert_err(note_parse(msg, len, n), PU_ERR_NOTE_SIZE);

	/* The signed-note spec asks for at least 16; 100 is the cap. */
	len = note_of(msg, 16, 0);
	parse_ok(n, msg, len);
	len = note_of(msg, NOTE_MAX_SIGS, 0);
	assert_true(len <= NOTE_MAX_LEN);
	parse_ok(n, msg, len);
	assert_int_equal(n->n_sigs, NOTE_MAX_SIGS);
	len = note_of(msg, NOTE_MAX_SIGS + 1, 0);
	assert_true(len <= NOTE_MAX_LEN);
	assert_err(note_parse(msg, len, n), PU_ERR_NOTE_TOO_MANY_SIGS);
	free(n);
}

/* ---- writing --------------------------------------------------------------------------- */

static void
format_refuses_bad_origins(void **state)
{
	char origin[NOTE_MAX_LEN + 1];
	uint8_t root[MERKLE_HASH_LEN] = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, NOTE_MAX_LEN);
	assert_err(note_checkpoint_format("", 1, root, &b), PU_ERR_NOTE_ORIGIN);
	assert_err(note_checkpoint_format("log\n2\nroot", 1, root, &b), PU_ERR_NOTE_ORIGIN);
	assert_err(note_checkpoint_format("log\r", 1, root, &b), PU_ERR_NOTE_TEXT);
	assert_err(note_checkpoint_format("log\xff", 1, root, &b), PU_ERR_NOTE_TEXT);
	memset(origin, 'o', sizeof(origin) - 1);
	origin[sizeof(origin) - 1] = '\0';
	assert_err(note_checkpoint_format(origin, 1, root, &b), PU_ERR_NOTE_SIZE);
	/* The longest origin that still leaves room for one signature line. */
	origin[NOTE_MAX_LEN - 1 - 99 - (1 + 20 + 1 + 44 + 1)] = '\0';
	assert_err(note_checkpoint_format(origin, UINT64_MAX, root, &b), PU_OK);
	buf_reset(&b);
	origin[strlen(origin)] = 'o';
	origin[NOTE_MAX_LEN - 99 - (1 + 20 + 1 + 44 + 1)] = '\0';
	assert_err(note_checkpoint_format(origin, UINT64_MAX, root, &b), PU_ERR_NOTE_SIZE);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
sign_refuses_what_parse_would(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, NOTE_MAX_LEN);
#define SIGN(text, name, k) note_sign((const uint8_t *)(text), strlen(text), name, (k)->sk, \
	(k)->pk, &b)
	assert_err(SIGN(TEXT, "", &log_key), PU_ERR_NOTE_KEY_NAME);
	assert_err(SIGN(TEXT, "log example", &log_key), PU_ERR_NOTE_KEY_NAME);
	assert_err(SIGN(TEXT, "log+example", &log_key), PU_ERR_NOTE_KEY_NAME);
	assert_err(SIGN(TEXT, "log\nexample", &log_key), PU_ERR_NOTE_KEY_NAME);
	assert_err(SIGN(LOG "\n7\n" ROOT_B64, LOG, &log_key), PU_ERR_NOTE_FORMAT);
	assert_err(SIGN(LOG "\n07\n" ROOT_B64 "\n", LOG, &log_key), PU_ERR_NOTE_TREE_SIZE);
	assert_err(SIGN(LOG "\r\n7\n" ROOT_B64 "\n", LOG, &log_key), PU_ERR_NOTE_TEXT);
	assert_err(SIGN("", LOG, &log_key), PU_ERR_NOTE_FORMAT);
#undef SIGN
	/* The public key must be the secret key's, or the key id would name another key. */
	assert_err(note_sign((const uint8_t *)TEXT, strlen(TEXT), LOG, log_key.sk, rogue.pk, &b),
	    PU_ERR_ARG);
	assert_err(note_cosign((const uint8_t *)TEXT, strlen(TEXT), W1, w1.sk, w2.pk, NOW, &b),
	    PU_ERR_ARG);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
full_buffer_is_left_unchanged(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 50);
	assert_err(buf_append(&b, "prefix", 6), PU_OK);
	assert_err(note_sign((const uint8_t *)TEXT, strlen(TEXT), LOG, log_key.sk, log_key.pk,
	    &b), PU_ERR_TOO_LARGE);
	assert_int_equal(b.len, 6);
	buf_free(&b);
}

static void
verify_refuses_an_invalid_key_name(void **state)
{
	struct note *n = malloc(sizeof(*n));
	struct buf b;
	uint64_t ts;
	int found;

	(void)state;
	assert_non_null(n);
	checkpoint_make(&b, 2, NULL, 0);
	parse_ok(n, b.data, b.len);
	assert_err(note_verify(n, "", log_key.pk, &found), PU_ERR_NOTE_KEY_NAME);
	assert_err(note_verify_cosignature(n, "w 1", w1.pk, &found, &ts), PU_ERR_NOTE_KEY_NAME);
	assert_int_equal(found, 0);
	buf_free(&b);
	free(n);
}

/* ---- two checkpoints ------------------------------------------------------------------- */

static void
checkpoints_of_one_size_must_agree(void **state)
{
	struct note *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	uint8_t other_root[MERKLE_HASH_LEN];
	struct buf ba, bb;
	int found;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	checkpoint_make(&ba, 9, NULL, 0);
	parse_ok(a, ba.data, ba.len);
	assert_err(note_same_tree(a, a), PU_OK);

	/* Two auditors shown different checkpoints of size 9, both signed by the log key. */
	merkle_leaf_hash(other_root, "fork", 4);
	buf_init(&bb, NOTE_MAX_LEN);
	assert_err(note_checkpoint_format(LOG, 9, other_root, &bb), PU_OK);
	assert_err(buf_append_u8(&bb, '\n'), PU_OK);
	assert_err(note_sign(bb.data, bb.len - 1, LOG, log_key.sk, log_key.pk, &bb), PU_OK);
	parse_ok(b, bb.data, bb.len);
	assert_err(note_verify(b, LOG, log_key.pk, &found), PU_OK);
	assert_err(note_same_tree(a, b), PU_ERR_NOTE_FORK);
	assert_err(note_same_tree(b, a), PU_ERR_NOTE_FORK);
	buf_free(&bb);

	/* Different sizes: only a consistency proof can tell. */
	checkpoint_make(&bb, 10, NULL, 0);
	parse_ok(b, bb.data, bb.len);
	assert_err(note_same_tree(a, b), PU_OK);
	buf_free(&bb);

	/* Another log's checkpoint is no evidence about this one. */
	buf_init(&bb, NOTE_MAX_LEN);
	assert_err(note_checkpoint_format("other.example/log", 9, other_root, &bb), PU_OK);
	assert_err(buf_append(&bb, "\n" FAKE_SIG, strlen(FAKE_SIG) + 1), PU_OK);
	parse_ok(b, bb.data, bb.len);
	assert_err(note_same_tree(a, b), PU_ERR_NOTE_OTHER_LOG);
	buf_free(&bb);
	buf_free(&ba);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_ids_are_the_specs),
		cmocka_unit_test(signed_checkpoint_is_byte_exact),
		cmocka_unit_test(spec_example_parses),
		cmocka_unit_test(checkpoint_round_trip),
		cmocka_unit_test(extension_lines_are_signed_too),
		cmocka_unit_test(signed_by_the_wrong_key),
		cmocka_unit_test(known_key_with_a_bad_signature),
		cmocka_unit_test(every_line_by_the_key_must_verify),
		cmocka_unit_test(altered_checkpoint_fails_its_signature),
		cmocka_unit_test(unknown_signatures_are_ignored),
		cmocka_unit_test(cosignature_time_and_length_checked),
		cmocka_unit_test(malformed_notes_refused_each_with_its_code),
		cmocka_unit_test(edge_values_accepted),
		cmocka_unit_test(limits_on_size_and_signature_count),
		cmocka_unit_test(format_refuses_bad_origins),
		cmocka_unit_test(sign_refuses_what_parse_would),
		cmocka_unit_test(full_buffer_is_left_unchanged),
		cmocka_unit_test(verify_refuses_an_invalid_key_name),
		cmocka_unit_test(checkpoints_of_one_size_must_agree),
	};

	if (crypto_init() != PU_OK)
		return 70;
	return cmocka_run_group_tests(tests, setup, teardown);
}
