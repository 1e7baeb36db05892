/*
 * test_pb.c - THREATS.md group 6 (malformed protobuf) at library level: every attack is a
 * hand-built byte string fed to the real pb_decode(), and its exact error code is asserted.
 *
 * Inputs are written field by field with the small writer below, never taken from
 * protobuf-c's own encoder, so a test can make exactly one thing wrong on purpose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "casefile.pb-c.h"
#include "directory.pb-c.h"
#include "envelope.pb-c.h"
#include "frames.pb-c.h"
#include "pb.h"
#include "pu_err.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
/* Generous, so only the budget tests ever meet the budget. */
#define BUDGET (16u * MiB)
#define CREATED 1790000000u

/* Compare names, so a failure reads "PU_ERR_PB_DECODE" != "PU_ERR_PB_LIMIT". */
#define assert_err(rc, want) assert_string_equal(pu_err_name(rc), pu_err_name(want))

/* ---- a tiny protobuf writer ------------------------------------------------------------ */

enum wire { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

struct wr {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static void
wr_raw(struct wr *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 64;
		while (cap < w->len + n)
			cap *= 2;
		w->p = realloc(w->p, cap);
		assert_non_null(w->p);
		w->cap = cap;
	}
	if (n > 0)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void
wr_byte(struct wr *w, uint8_t b)
{
	wr_raw(w, &b, 1);
}

static void
wr_varint(struct wr *w, uint64_t v)
{
	while (v >= 0x80) {
		wr_byte(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	wr_byte(w, (uint8_t)v);
}

static void
wr_tag(struct wr *w, uint32_t field, enum wire t)
{
	wr_varint(w, (uint64_t)field << 3 | t);
}

static void
wr_uint(struct wr *w, uint32_t field, uint64_t v)
{
	wr_tag(w, field, WT_VARINT);
	wr_varint(w, v);
}

static void
wr_ld(struct wr *w, uint32_t field, const void *p, size_t n)
{
	wr_tag(w, field, WT_LEN);
	wr_varint(w, n);
	wr_raw(w, p, n);
}

static void
wr_str(struct wr *w, uint32_t field, const char *s)
{
	wr_ld(w, field, s, strlen(s));
}

static void
wr_sub(struct wr *w, uint32_t field, const struct wr *sub)
{
	wr_ld(w, field, sub->p, sub->len);
}

/* A length-delimited field of n copies of one byte: strings and bytes at their limits. */
static void
wr_fill(struct wr *w, uint32_t field, uint8_t byte, size_t n)
{
	uint8_t *tmp = malloc(n ? n : 1);

	assert_non_null(tmp);
	memset(tmp, byte, n);
	wr_ld(w, field, tmp, n);
	free(tmp);
}

static void
wr_free(struct wr *w)
{
	free(w->p);
	memset(w, 0, sizeof(*w));
}

static size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/*
 * depth length-delimited fields (field 1), each wrapping the next; the innermost is empty.
 * Written back to front because each prefix is the size of everything inside it.
 */
static void
wr_nested(struct wr *w, size_t depth)
{
	size_t *size = malloc((depth + 1) * sizeof(*size));
	uint8_t *blob;
	size_t pos;

	assert_non_null(size);
	size[0] = 0;
	for (size_t k = 1; k <= depth; k++)
		size[k] = 1 + varint_len(size[k - 1]) + size[k - 1];
	blob = malloc(size[depth]);
	assert_non_null(blob);
	pos = size[depth];
	for (size_t k = 1; k <= depth; k++) {
		uint64_t v = size[k - 1];
		size_t n = varint_len(v);

		pos -= n;
		for (size_t i = 0; i < n; i++, v >>= 7)
			blob[pos + i] = (uint8_t)((v & 0x7f) | (i + 1 < n ? 0x80 : 0));
		blob[--pos] = (uint8_t)(1 << 3 | WT_LEN);
	}
	assert_int_equal(pos, 0);
	wr_raw(w, blob, size[depth]);
	free(blob);
	free(size);
}

/* ---- message builders ------------------------------------------------------------------ */

static void
wr_stanza(struct wr *s, const char *agency)
{
	uint8_t kid[16], eph[32], wrapped[48];

	memset(kid, 0x21, sizeof(kid));
	memset(eph, 0x22, sizeof(eph));
	memset(wrapped, 0x23, sizeof(wrapped));
	wr_str(s, 1, agency);
	wr_ld(s, 2, kid, sizeof(kid));
	wr_ld(s, 3, eph, sizeof(eph));
	wr_ld(s, 4, wrapped, sizeof(wrapped));
}

/* A plausible HeaderCore, in field order, with the given encoded stanzas as recipients. */
static void
wr_core(struct wr *w, const struct wr *stanzas, size_t n)
{
	uint8_t msg_id[16], skid[16], sh[24], kc[32];

	memset(msg_id, 0x11, sizeof(msg_id));
	memset(skid, 0x12, sizeof(skid));
	memset(sh, 0x13, sizeof(sh));
	memset(kc, 0x14, sizeof(kc));
	wr_uint(w, 1, 1);
	wr_ld(w, 2, msg_id, sizeof(msg_id));
	wr_str(w, 3, "MX-TLA-PPNNA");
	wr_ld(w, 4, skid, sizeof(skid));
	for (size_t i = 0; i < n; i++)
		wr_sub(w, 5, &stanzas[i]);
	wr_uint(w, 6, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_REFERRAL);
	wr_str(w, 8, "MX-2026-7F3K9Q");
	wr_uint(w, 9, CREATED);
	wr_uint(w, 10, CREATED + 86400);
	wr_uint(w, 13, 1000);
	wr_uint(w, 14, 1);
	wr_ld(w, 15, sh, sizeof(sh));
	wr_ld(w, 16, kc, sizeof(kc));
}

/* ---- decoding helpers ------------------------------------------------------------------ */

static ProtobufCMessage *
expect_accepted(const ProtobufCMessageDescriptor *d, const void *p, size_t n,
    const struct pb_limits *lim)
{
	ProtobufCMessage *m = NULL;

	assert_err(pb_decode(d, p, n, lim, BUDGET, &m), PU_OK);
	assert_non_null(m);
	assert_ptr_equal(m->descriptor, d);
	return m;
}

static void
expect_refused_budget(const ProtobufCMessageDescriptor *d, const void *p, size_t n,
    const struct pb_limits *lim, size_t budget, int want)
{
	ProtobufCMessage sentinel;
	ProtobufCMessage *m = &sentinel;
	int rc = pb_decode(d, p, n, lim, budget, &m);

	if (rc == PU_OK)
		pb_free(m);
	assert_err(rc, want);
	/* A refused message leaves nothing behind for the caller to use or free. */
	assert_null(m);
}

static void
expect_refused(const ProtobufCMessageDescriptor *d, const void *p, size_t n,
    const struct pb_limits *lim, int want)
{
	expect_refused_budget(d, p, n, lim, BUDGET, want);
}

static void
expect_refused_wr(const ProtobufCMessageDescriptor *d, struct wr *w, int want)
{
	expect_refused(d, w->p, w->len, &pb_limits_wire, want);
	wr_free(w);
}

/* ---- a valid message is accepted with its values --------------------------------------- */

static void
valid_hello_decodes_to_its_values(void **state)
{
	struct wr w = { 0 };
	const char *cp = "Tlaxcala \xe2\x80\x93 ni\xc3\xb1" "ez \xe2\x9c\x93";	/* "Tlaxcala – niñez ✓" */
	Puente__Hello *h;

	(void)state;
	wr_uint(&w, 1, 1);
	wr_uint(&w, 2, 300);	/* two-byte varint 0xac 0x02 */
	wr_str(&w, 3, cp);
	h = (Puente__Hello *)expect_accepted(&puente__hello__descriptor, w.p, w.len, &pb_limits_wire);
	assert_int_equal(h->version, 1);
	assert_int_equal(h->directory_serial, 300);
	assert_string_equal(h->checkpoint, cp);
	pb_free(h);
	wr_free(&w);
}

static void
valid_header_core_decodes_nested_recipients(void **state)
{
	struct wr st[2] = { { 0 }, { 0 } }, w = { 0 };
	Puente__HeaderCore *c;

	(void)state;
	wr_stanza(&st[0], "MX-NLE-PPNNA");
	wr_stanza(&st[1], "MX-FED-PFPNNA");
	wr_core(&w, st, 2);
	c = (Puente__HeaderCore *)expect_accepted(&puente__header_core__descriptor, w.p, w.len,
	    &pb_limits_wire);
	assert_int_equal(c->version, 1);
	assert_string_equal(c->sender, "MX-TLA-PPNNA");
	assert_int_equal(c->msg_id.len, 16);
	assert_int_equal(c->msg_id.data[0], 0x11);
	assert_int_equal(c->n_recipients, 2);
	assert_string_equal(c->recipients[0]->agency_id, "MX-NLE-PPNNA");
	assert_string_equal(c->recipients[1]->agency_id, "MX-FED-PFPNNA");
	assert_int_equal(c->recipients[1]->wrapped_key.len, 48);
	assert_int_equal(c->type, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_REFERRAL);
	assert_string_equal(c->case_id, "MX-2026-7F3K9Q");
	assert_int_equal(c->created_at, CREATED);
	assert_int_equal(c->expires_at, CREATED + 86400);
	assert_int_equal(c->content_length, 1000);
	assert_int_equal(c->chunk_count, 1);
	assert_int_equal(c->key_commitment.len, 32);
	pb_free(c);
	wr_free(&w);
	wr_free(&st[0]);
	wr_free(&st[1]);
}

static void
empty_input_is_the_all_default_message(void **state)
{
	static const uint8_t none[1];
	Puente__Hello *h;

	(void)state;
	/* proto3: every field absent is a valid, canonical message. */
	h = (Puente__Hello *)expect_accepted(&puente__hello__descriptor, none, 0, &pb_limits_wire);
	assert_int_equal(h->version, 0);
	assert_string_equal(h->checkpoint, "");
	pb_free(h);
}

/* ---- truncation and lengths ------------------------------------------------------------ */

static void
truncated_hello_refused_at_every_inner_cut(void **state)
{
	struct wr w = { 0 };
	size_t boundary[4];

	(void)state;
	boundary[0] = 0;
	wr_uint(&w, 1, 1);
	boundary[1] = w.len;
	wr_uint(&w, 2, 300);
	boundary[2] = w.len;
	wr_str(&w, 3, "abcde");
	boundary[3] = w.len;
	/* A cut between fields is a shorter valid message; any other cut is malformed. */
	for (size_t cut = 1; cut < w.len; cut++) {
		int at_boundary = cut == boundary[1] || cut == boundary[2];

		if (at_boundary)
			pb_free(expect_accepted(&puente__hello__descriptor, w.p, cut, &pb_limits_wire));
		else
			expect_refused(&puente__hello__descriptor, w.p, cut, &pb_limits_wire,
			    PU_ERR_PB_DECODE);
	}
	wr_free(&w);
}

static void
truncated_tag_and_varint_refused(void **state)
{
	/* 0x88: a tag whose continuation bit promises a second byte that never comes. */
	static const uint8_t cut_tag[] = { 0x08, 0x01, 0x88 };
	/* field 2 varint whose value byte has its continuation bit set and then ends. */
	static const uint8_t cut_value[] = { 0x10, 0xac };
	/* ten continuation bytes: longer than any varint may be. */
	static const uint8_t endless[] = { 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0x01 };

	(void)state;
	expect_refused(&puente__hello__descriptor, cut_tag, sizeof(cut_tag), &pb_limits_wire,
	    PU_ERR_PB_DECODE);
	expect_refused(&puente__hello__descriptor, cut_value, sizeof(cut_value), &pb_limits_wire,
	    PU_ERR_PB_DECODE);
	expect_refused(&puente__hello__descriptor, endless, sizeof(endless), &pb_limits_wire,
	    PU_ERR_PB_DECODE);
}

static void
field_number_zero_refused(void **state)
{
	/* Tag byte 0x00 is field 0, which protobuf reserves as invalid. */
	static const uint8_t zero[] = { 0x00, 0x01 };

	(void)state;
	expect_refused(&puente__hello__descriptor, zero, sizeof(zero), &pb_limits_wire,
	    PU_ERR_PB_DECODE);
}

static void
length_beyond_input_refused(void **state)
{
	/* Hello.checkpoint declares 5 bytes; only 2 follow. */
	static const uint8_t short_by_3[] = { 0x1a, 0x05, 'a', 'b' };

	(void)state;
	expect_refused(&puente__hello__descriptor, short_by_3, sizeof(short_by_3),
	    &pb_limits_wire, PU_ERR_PB_DECODE);
}

static void
huge_length_refused_without_allocating(void **state)
{
	/* Hello.checkpoint with length 0xffffffff (4 GiB - 1) and two bytes of data. */
	static const uint8_t four_gib[] = { 0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a', 'b' };
	/* The same with a 10-byte length: more than any length prefix may take. */
	static const uint8_t ten_byte_len[] = { 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0x01, 'a' };

	(void)state;
	/*
	 * A budget far below 4 GiB: had the decoder believed the length and allocated, the
	 * answer would be PU_ERR_PB_BUDGET; the length must be judged against the input.
	 */
	expect_refused_budget(&puente__hello__descriptor, four_gib, sizeof(four_gib),
	    &pb_limits_wire, 64 * KiB, PU_ERR_PB_DECODE);
	expect_refused_budget(&puente__hello__descriptor, ten_byte_len, sizeof(ten_byte_len),
	    &pb_limits_wire, 64 * KiB, PU_ERR_PB_DECODE);
}

static void
nested_length_beyond_submessage_refused(void **state)
{
	struct wr st = { 0 }, w = { 0 };

	(void)state;
	/*
	 * A RecipientStanza of 3 bytes whose agency_id claims 5: the outer input has enough
	 * bytes after it, but a sub-message's fields must end inside the sub-message.
	 */
	wr_byte(&st, 0x0a);
	wr_byte(&st, 0x05);
	wr_byte(&st, 'M');
	wr_sub(&w, 5, &st);
	wr_raw(&w, "X-NLE", 5);
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_DECODE);
	wr_free(&st);
}

/* ---- unknown fields -------------------------------------------------------------------- */

static void
unknown_field_top_level_refused(void **state)
{
	static const enum wire kinds[] = { WT_VARINT, WT_I64, WT_LEN, WT_I32 };

	(void)state;
	/* Every wire type protobuf-c can skip must still be refused as unknown. */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct wr w = { 0 };

		wr_uint(&w, 1, 1);
		wr_tag(&w, 9, kinds[i]);
		if (kinds[i] == WT_VARINT)
			wr_varint(&w, 7);
		else if (kinds[i] == WT_LEN) {
			wr_varint(&w, 2);
			wr_raw(&w, "xy", 2);
		} else
			wr_raw(&w, "\0\0\0\0\0\0\0\0", kinds[i] == WT_I64 ? 8 : 4);
		expect_refused_wr(&puente__hello__descriptor, &w, PU_ERR_PB_UNKNOWN_FIELD);
	}
}

static void
unknown_field_with_highest_number_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	/* 2^29 - 1, the largest field number: a 5-byte tag. */
	wr_uint(&w, (1u << 29) - 1, 1);
	assert_int_equal(w.len, 6);
	expect_refused_wr(&puente__hello__descriptor, &w, PU_ERR_PB_UNKNOWN_FIELD);
}

static void
unknown_field_in_stanza_inside_core_refused(void **state)
{
	struct wr st[2] = { { 0 }, { 0 } }, w = { 0 };

	(void)state;
	wr_stanza(&st[0], "MX-NLE-PPNNA");
	wr_stanza(&st[1], "MX-FED-PFPNNA");
	/* Field 9 does not exist in RecipientStanza; the second recipient carries it. */
	wr_uint(&st[1], 9, 1);
	wr_core(&w, st, 2);
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_UNKNOWN_FIELD);
	wr_free(&st[0]);
	wr_free(&st[1]);
}

static void
unknown_field_three_levels_deep_refused(void **state)
{
	struct wr key = { 0 }, agency = { 0 }, dir = { 0 };
	uint8_t kid[16];

	(void)state;
	memset(kid, 0x31, sizeof(kid));
	/* Directory -> Agency -> Key, and the Key has a field 12 it does not define. */
	wr_ld(&key, 1, kid, sizeof(kid));
	wr_uint(&key, 2, PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING);
	wr_uint(&key, 12, 1);
	wr_str(&agency, 1, "MX-TLA-PPNNA");
	wr_sub(&agency, 9, &key);
	wr_uint(&dir, 1, 1);
	wr_sub(&dir, 8, &agency);
	expect_refused_wr(&puente__directory__descriptor, &dir, PU_ERR_PB_UNKNOWN_FIELD);
	wr_free(&agency);
	wr_free(&key);
}

/* ---- wrong wire types ------------------------------------------------------------------ */

static void
scalar_sent_length_delimited_refused(void **state)
{
	/* Hello.version (uint32, field 1) as a length-delimited field holding 0x01. */
	static const uint8_t ld_version[] = { 0x0a, 0x01, 0x01 };

	(void)state;
	/*
	 * protobuf-c checks the wire type of every non-bool scalar against its field type and
	 * fails the unpack (parse_required_member returns FALSE), which pb_decode reports
	 * as PU_ERR_PB_DECODE. Whatever the layer, it must never be accepted.
	 */
	expect_refused(&puente__hello__descriptor, ld_version, sizeof(ld_version),
	    &pb_limits_wire, PU_ERR_PB_DECODE);
}

static void
every_mismatched_wire_type_refused(void **state)
{
	static const struct {
		const char *what;
		uint8_t bytes[12];
		size_t len;
	} cases[] = {
		/* string field 3 as varint */
		{ "checkpoint as varint", { 0x18, 0x01 }, 2 },
		/* string field 3 as fixed32 */
		{ "checkpoint as i32", { 0x1d, 'a', 'b', 'c', 'd' }, 5 },
		/* uint64 field 2 as fixed64 */
		{ "serial as i64", { 0x11, 1, 0, 0, 0, 0, 0, 0, 0 }, 9 },
		/* uint64 field 2 as fixed32 */
		{ "serial as i32", { 0x15, 1, 0, 0, 0 }, 5 },
		/* uint32 field 1 with wire type 3 (start group), which protobuf-c never supports */
		{ "version as start group", { 0x0b, 0x0c }, 2 },
		/* wire type 4 (end group) with no group open */
		{ "version as end group", { 0x0c }, 1 },
		/* wire types 6 and 7 do not exist */
		{ "wire type 6", { 0x0e, 0x01 }, 2 },
		{ "wire type 7", { 0x0f, 0x01 }, 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case: %s\n", cases[i].what);
		expect_refused(&puente__hello__descriptor, cases[i].bytes, cases[i].len,
		    &pb_limits_wire, PU_ERR_PB_DECODE);
	}
}

static void
submessage_sent_as_varint_refused(void **state)
{
	/* HeaderCore.recipients (field 5, a message) as a varint. */
	static const uint8_t varint_recipient[] = { 0x08, 0x01, 0x28, 0x01 };
	/* Manifest.chunk_hashes (repeated bytes, field 1) as a varint. */
	static const uint8_t varint_hash[] = { 0x08, 0x01 };

	(void)state;
	expect_refused(&puente__header_core__descriptor, varint_recipient,
	    sizeof(varint_recipient), &pb_limits_wire, PU_ERR_PB_DECODE);
	expect_refused(&puente__manifest__descriptor, varint_hash, sizeof(varint_hash),
	    &pb_limits_wire, PU_ERR_PB_DECODE);
}

static void
bool_with_wrong_wire_type_refused_as_noncanonical(void **state)
{
	static const struct {
		const char *what;
		uint8_t bytes[6];
		size_t len;
	} cases[] = {
		/* Child.birth_date_estimated (bool, field 6) as length-delimited {0x01} */
		{ "bool as length-delimited", { 0x32, 0x01, 0x01 }, 3 },
		/* as fixed32 */
		{ "bool as i32", { 0x35, 0x01, 0x00, 0x00, 0x00 }, 5 },
		/* right wire type, but 2 is not a canonical bool */
		{ "bool varint 2", { 0x30, 0x02 }, 2 },
	};

	(void)state;
	/*
	 * protobuf-c 1.4 does not check the wire type of bool fields and reads any non-zero
	 * byte as true, so these unpack; only the canonical re-encoding (0x30 0x01) catches
	 * them. They must be refused, and PU_ERR_PB_NONCANONICAL is the code that does.
	 */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case: %s\n", cases[i].what);
		expect_refused(&puente__child__descriptor, cases[i].bytes, cases[i].len,
		    &pb_limits_case, PU_ERR_PB_NONCANONICAL);
	}
}

/* ---- deep nesting ---------------------------------------------------------------------- */

#define DEPTH 100000

static void
deep_nesting_in_unknown_field_refused(void **state)
{
	struct wr blob = { 0 }, w = { 0 };

	(void)state;
	/* 100000 nested length-delimited fields, ~390 KB, inside unknown field 15. */
	wr_nested(&blob, DEPTH);
	wr_uint(&w, 1, 1);
	wr_sub(&w, 15, &blob);
	expect_refused_wr(&puente__hello__descriptor, &w, PU_ERR_PB_UNKNOWN_FIELD);
	wr_free(&blob);
}

static void
deep_nesting_in_nested_unknown_field_refused(void **state)
{
	struct wr blob = { 0 }, st = { 0 }, w = { 0 };

	(void)state;
	wr_nested(&blob, DEPTH);
	wr_stanza(&st, "MX-NLE-PPNNA");
	wr_sub(&st, 9, &blob);
	wr_core(&w, &st, 1);
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_UNKNOWN_FIELD);
	wr_free(&st);
	wr_free(&blob);
}

static void
deep_nesting_in_bytes_is_opaque(void **state)
{
	struct wr blob = { 0 }, w = { 0 };
	uint8_t msg_id[16];
	Puente__Chunk *c;

	(void)state;
	/*
	 * Chunk.data is ciphertext (limit 1 MiB + 17): nested-looking bytes inside it are
	 * never parsed, so there is no recursion to exhaust and the bytes come back intact.
	 */
	memset(msg_id, 0x41, sizeof(msg_id));
	wr_nested(&blob, DEPTH);
	assert_true(blob.len <= MiB);
	wr_ld(&w, 1, msg_id, sizeof(msg_id));
	wr_sub(&w, 3, &blob);
	c = (Puente__Chunk *)expect_accepted(&puente__chunk__descriptor, w.p, w.len,
	    &pb_limits_wire);
	assert_int_equal(c->data.len, blob.len);
	assert_memory_equal(c->data.data, blob.p, blob.len);
	pb_free(c);
	wr_free(&w);
	wr_free(&blob);
}

static void
deep_nesting_in_small_bytes_field_refused(void **state)
{
	struct wr blob = { 0 }, w = { 0 };

	(void)state;
	/* Fetch.msg_id has the default 64-byte limit. */
	wr_nested(&blob, DEPTH);
	wr_sub(&w, 1, &blob);
	expect_refused_wr(&puente__fetch__descriptor, &w, PU_ERR_PB_LIMIT);
	wr_free(&blob);
}

static void
deep_start_groups_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	/* 100000 "start group" tags for unknown field 15 (0x7b): protobuf-c has no groups. */
	for (size_t i = 0; i < DEPTH; i++)
		wr_tag(&w, 15, WT_SGROUP);
	expect_refused_wr(&puente__hello__descriptor, &w, PU_ERR_PB_DECODE);
}

/* ---- repeated fields ------------------------------------------------------------------- */

static void
wr_manifest(struct wr *w, size_t n_hashes, size_t hash_len)
{
	uint8_t hash[64];

	memset(hash, 0x5a, sizeof(hash));
	for (size_t i = 0; i < n_hashes; i++)
		wr_ld(w, 1, hash, hash_len);
}

static void
manifest_4096_hashes_accepted(void **state)
{
	struct wr w = { 0 };
	Puente__Manifest *m;

	(void)state;
	wr_manifest(&w, 4096, 32);
	m = (Puente__Manifest *)expect_accepted(&puente__manifest__descriptor, w.p, w.len,
	    &pb_limits_wire);
	assert_int_equal(m->n_chunk_hashes, 4096);
	pb_free(m);
	wr_free(&w);
}

static void
manifest_4097_hashes_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	wr_manifest(&w, 4097, 32);
	expect_refused_wr(&puente__manifest__descriptor, &w, PU_ERR_PB_LIMIT);
}

static void
inbox_over_256_entries_refused(void **state)
{
	struct wr w = { 0 };
	Puente__Inbox *in;

	(void)state;
	/* Each entry is an empty InboxEntry: tag 0x0a, length 0. */
	for (int i = 0; i < 256; i++)
		wr_ld(&w, 1, NULL, 0);
	in = (Puente__Inbox *)expect_accepted(&puente__inbox__descriptor, w.p, w.len,
	    &pb_limits_wire);
	assert_int_equal(in->n_entries, 256);
	pb_free(in);
	wr_ld(&w, 1, NULL, 0);
	expect_refused_wr(&puente__inbox__descriptor, &w, PU_ERR_PB_LIMIT);
}

static void
seventeen_recipients_refused(void **state)
{
	struct wr st[17], w = { 0 };
	static const char *const states[] = { "AGU", "BCN", "BCS", "CAM", "CHP", "CHH", "COA",
	    "COL", "DUR", "GUA", "GRO", "HID", "JAL", "MEX", "MIC", "MOR", "NAY" };

	(void)state;
	/* HeaderCore.recipients has no row in the table: the wire default of 16 applies. */
	for (int i = 0; i < 17; i++) {
		char id[32];

		memset(&st[i], 0, sizeof(st[i]));
		snprintf(id, sizeof(id), "MX-%s-PPNNA", states[i]);
		wr_stanza(&st[i], id);
	}
	wr_core(&w, st, 16);
	pb_free(expect_accepted(&puente__header_core__descriptor, w.p, w.len, &pb_limits_wire));
	wr_free(&w);
	wr_core(&w, st, 17);
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_LIMIT);
	for (int i = 0; i < 17; i++)
		wr_free(&st[i]);
}

static void
packed_enum_count_over_limit_refused(void **state)
{
	struct wr w = { 0 };
	uint8_t types[65];

	(void)state;
	/* Agency.may_send, packed: 64 values are allowed, 65 are one too many. */
	for (int i = 0; i < 65; i++)
		types[i] = (uint8_t)(1 + i % 19);
	wr_str(&w, 1, "MX-TLA-PPNNA");
	wr_ld(&w, 7, types, 64);
	pb_free(expect_accepted(&puente__agency__descriptor, w.p, w.len, &pb_limits_wire));
	wr_free(&w);
	wr_str(&w, 1, "MX-TLA-PPNNA");
	wr_ld(&w, 7, types, 65);
	expect_refused_wr(&puente__agency__descriptor, &w, PU_ERR_PB_LIMIT);
}

/* ---- strings and bytes over their limits ----------------------------------------------- */

/* One length-delimited field of n bytes: accepted at limit, refused at limit + 1. */
static void
check_length_limit(const ProtobufCMessageDescriptor *d, uint32_t field, size_t limit,
    const struct pb_limits *lim)
{
	struct wr w = { 0 };

	wr_fill(&w, field, 'a', limit);
	pb_free(expect_accepted(d, w.p, w.len, lim));
	wr_free(&w);
	wr_fill(&w, field, 'a', limit + 1);
	expect_refused(d, w.p, w.len, lim, PU_ERR_PB_LIMIT);
	wr_free(&w);
}

static void
hello_checkpoint_over_4k_refused(void **state)
{
	(void)state;
	check_length_limit(&puente__hello__descriptor, 3, 4 * KiB, &pb_limits_wire);
}

static void
error_message_over_1k_refused(void **state)
{
	(void)state;
	check_length_limit(&puente__error__descriptor, 2, 1 * KiB, &pb_limits_wire);
}

static void
default_string_over_256_refused(void **state)
{
	(void)state;
	/* Error.code has no row: pb_limits_wire.max_string applies. */
	check_length_limit(&puente__error__descriptor, 1, 256, &pb_limits_wire);
}

static void
string_limit_counts_bytes_not_characters(void **state)
{
	struct wr w = { 0 };
	char s[2 * 129 + 1];

	(void)state;
	/* "ñ" is two bytes: 128 of them fill 256 bytes, 129 overflow with only 129 characters. */
	for (int i = 0; i < 129; i++)
		memcpy(s + 2 * i, "\xc3\xb1", 2);
	s[2 * 129] = '\0';
	wr_ld(&w, 1, s, 2 * 128);
	pb_free(expect_accepted(&puente__error__descriptor, w.p, w.len, &pb_limits_wire));
	wr_free(&w);
	wr_ld(&w, 1, s, 2 * 129);
	expect_refused_wr(&puente__error__descriptor, &w, PU_ERR_PB_LIMIT);
}

/* Every field the table of bounds names exists: a misspelt one would bound nothing. */
static void
limit_table_names_real_fields(void **state)
{
	(void)state;
	assert_int_equal(pb_limits_self_check(), PU_OK);
}

static void
case_limits_allow_longer_text_than_wire_limits(void **state)
{
	struct wr w = { 0 };

	(void)state;
	/* Child.given_names, 300 bytes: over the wire default, under the case-file default. */
	wr_fill(&w, 1, 'a', 300);
	pb_free(expect_accepted(&puente__child__descriptor, w.p, w.len, &pb_limits_case));
	expect_refused(&puente__child__descriptor, w.p, w.len, &pb_limits_wire, PU_ERR_PB_LIMIT);
	wr_free(&w);
	check_length_limit(&puente__child__descriptor, 1, 16384, &pb_limits_case);
}

static void
default_bytes_over_64_refused(void **state)
{
	(void)state;
	/* Fetch.msg_id has no row: pb_limits_wire.max_bytes applies. */
	check_length_limit(&puente__fetch__descriptor, 1, 64, &pb_limits_wire);
}

static void
manifest_hash_over_32_bytes_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	wr_manifest(&w, 1, 33);
	expect_refused_wr(&puente__manifest__descriptor, &w, PU_ERR_PB_LIMIT);
}

static void
chunk_data_over_1mib_17_refused(void **state)
{
	(void)state;
	check_length_limit(&puente__chunk__descriptor, 3, MiB + 17, &pb_limits_wire);
}

/* ---- UTF-8 ----------------------------------------------------------------------------- */

static const struct {
	const char *what;
	const char *bytes;
	size_t len;
} bad_utf8[] = {
	{ "overlong '/' (C0 AF)", "\xc0\xaf", 2 },
	{ "overlong 3-byte (E0 80 AF)", "\xe0\x80\xaf", 3 },
	{ "overlong 4-byte (F0 80 80 AF)", "\xf0\x80\x80\xaf", 4 },
	{ "surrogate U+D800", "\xed\xa0\x80", 3 },
	{ "surrogate U+DFFF", "\xed\xbf\xbf", 3 },
	{ "above U+10FFFF", "\xf4\x90\x80\x80", 4 },
	{ "lead byte F5", "\xf5\x80\x80\x80", 4 },
	{ "5-byte form", "\xf8\x88\x80\x80\x80", 5 },
	{ "lone continuation", "\x80", 1 },
	{ "continuation after ASCII", "a\xbf", 2 },
	{ "truncated at end", "\xe2\x82", 2 },
	{ "truncated before ASCII", "\xe2\x82" "A", 3 },
	{ "byte FF", "\xff", 1 },
	{ "byte FE", "\xfe", 1 },
};

static void
invalid_utf8_in_string_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		struct wr w = { 0 }, s = { 0 };

		print_message("case: %s\n", bad_utf8[i].what);
		/* Valid text around the bad sequence: the check must look inside the string. */
		wr_raw(&s, "Tlaxcala ", 9);
		wr_raw(&s, bad_utf8[i].bytes, bad_utf8[i].len);
		wr_raw(&s, " ok", 3);
		wr_sub(&w, 3, &s);
		expect_refused_wr(&puente__hello__descriptor, &w, PU_ERR_PB_UTF8);
		wr_free(&s);
	}
}

static void
invalid_utf8_in_nested_string_refused(void **state)
{
	struct wr st = { 0 }, w = { 0 };

	(void)state;
	wr_str(&st, 1, "MX-NLE-\xc0\xaf");
	wr_core(&w, &st, 1);
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_UTF8);
	wr_free(&st);
}

static void
invalid_utf8_in_repeated_string_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	/* Directory.witnesses: the first element is fine, the second a surrogate. */
	wr_uint(&w, 1, 1);
	wr_str(&w, 9, "MX-FED-PFPNNA");
	wr_str(&w, 9, "MX-\xed\xa0\x80");
	expect_refused_wr(&puente__directory__descriptor, &w, PU_ERR_PB_UTF8);
}

static void
valid_multibyte_utf8_accepted(void **state)
{
	struct wr w = { 0 };
	/* "Tlaxcala – niñez ✓ 👧": 3-, 2-, 3- and 4-byte sequences. */
	const char *text = "Tlaxcala \xe2\x80\x93 ni\xc3\xb1" "ez \xe2\x9c\x93 \xf0\x9f\x91\xa7";
	Puente__Hello *h;

	(void)state;
	wr_str(&w, 3, text);
	h = (Puente__Hello *)expect_accepted(&puente__hello__descriptor, w.p, w.len,
	    &pb_limits_wire);
	assert_string_equal(h->checkpoint, text);
	pb_free(h);
	wr_free(&w);
}

static void
utf8_valid_accepts_every_boundary(void **state)
{
	static const struct {
		const char *what;
		const char *s;
		size_t len;
	} ok[] = {
		{ "empty", "", 0 },
		{ "U+0000", "\0", 1 },
		{ "U+007F", "\x7f", 1 },
		{ "U+0080", "\xc2\x80", 2 },
		{ "U+07FF", "\xdf\xbf", 2 },
		{ "U+0800", "\xe0\xa0\x80", 3 },
		{ "U+D7FF", "\xed\x9f\xbf", 3 },
		{ "U+E000", "\xee\x80\x80", 3 },
		{ "U+FFFF", "\xef\xbf\xbf", 3 },
		{ "U+10000", "\xf0\x90\x80\x80", 4 },
		{ "U+10FFFF", "\xf4\x8f\xbf\xbf", 4 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		print_message("case: %s\n", ok[i].what);
		assert_true(pb_utf8_valid((const uint8_t *)ok[i].s, ok[i].len));
	}
}

static void
utf8_valid_refuses_just_past_each_boundary(void **state)
{
	static const struct {
		const char *what;
		const char *s;
		size_t len;
	} bad[] = {
		{ "U+007F as 2 bytes", "\xc1\xbf", 2 },
		{ "U+07FF as 3 bytes", "\xe0\x9f\xbf", 3 },
		{ "U+FFFF as 4 bytes", "\xf0\x8f\xbf\xbf", 4 },
		{ "U+D800", "\xed\xa0\x80", 3 },
		{ "U+DFFF", "\xed\xbf\xbf", 3 },
		{ "U+110000", "\xf4\x90\x80\x80", 4 },
		{ "U+1FFFFF", "\xf7\xbf\xbf\xbf", 4 },
		{ "2-byte lead, ASCII after", "\xc2\x41", 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("case: %s\n", bad[i].what);
		assert_false(pb_utf8_valid((const uint8_t *)bad[i].s, bad[i].len));
	}
	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		print_message("case: %s\n", bad_utf8[i].what);
		assert_false(pb_utf8_valid((const uint8_t *)bad_utf8[i].bytes, bad_utf8[i].len));
	}
}

static void
utf8_valid_reads_only_n_bytes(void **state)
{
	/* A lead byte at the very end of an exactly-sized heap block: ASan sees any over-read. */
	uint8_t *p = malloc(3);

	(void)state;
	assert_non_null(p);
	memcpy(p, "ab\xf0", 3);
	assert_false(pb_utf8_valid(p, 3));
	/* And n, not the bytes, decides: the valid prefix alone is accepted. */
	assert_true(pb_utf8_valid(p, 2));
	free(p);
}

/* ---- enums ----------------------------------------------------------------------------- */

static void
undefined_enum_value_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	wr_uint(&w, 6, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FEDERAL_DECISION);	/* 19: last defined */
	pb_free(expect_accepted(&puente__header_core__descriptor, w.p, w.len, &pb_limits_wire));
	wr_free(&w);
	wr_uint(&w, 6, 20);
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_ENUM);
	wr_uint(&w, 7, 3);	/* AdoptionScope has 0..2 */
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_ENUM);
}

static void
negative_enum_value_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	/* -1 as an int32 enum: ten bytes, sign-extended, as protobuf writes negatives. */
	wr_uint(&w, 6, UINT64_MAX);
	assert_int_equal(w.len, 11);
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_ENUM);
}

static void
undefined_enum_in_packed_list_refused(void **state)
{
	struct wr w = { 0 };
	static const uint8_t types[] = { 1, 2, 99, 3 };

	(void)state;
	wr_str(&w, 1, "MX-TLA-PPNNA");
	wr_ld(&w, 7, types, sizeof(types));
	expect_refused_wr(&puente__agency__descriptor, &w, PU_ERR_PB_ENUM);
}

static void
undefined_enum_in_nested_message_refused(void **state)
{
	struct wr agency = { 0 }, dir = { 0 };

	(void)state;
	/* Directory -> Agency.role = 9; Role has 0..4. */
	wr_str(&agency, 1, "MX-TLA-PPNNA");
	wr_uint(&agency, 2, 9);
	wr_uint(&dir, 1, 1);
	wr_sub(&dir, 8, &agency);
	expect_refused_wr(&puente__directory__descriptor, &dir, PU_ERR_PB_ENUM);
	wr_free(&agency);
}

/* ---- non-canonical encodings ----------------------------------------------------------- */

static void
explicit_default_values_refused(void **state)
{
	static const struct {
		const char *what;
		const ProtobufCMessageDescriptor *d;
		uint8_t bytes[4];
		size_t len;
	} cases[] = {
		/* proto3: a zero value is written by leaving the field out */
		{ "Hello.version = 0", &puente__hello__descriptor, { 0x08, 0x00 }, 2 },
		{ "Hello.directory_serial = 0", &puente__hello__descriptor, { 0x10, 0x00 }, 2 },
		{ "Hello.checkpoint = \"\"", &puente__hello__descriptor, { 0x1a, 0x00 }, 2 },
		{ "Fetch.msg_id = empty", &puente__fetch__descriptor, { 0x0a, 0x00 }, 2 },
		{ "HeaderCore.type = UNSPECIFIED", &puente__header_core__descriptor, { 0x30, 0x00 }, 2 },
		{ "Agency.may_send = packed []", &puente__agency__descriptor, { 0x3a, 0x00 }, 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case: %s\n", cases[i].what);
		expect_refused(cases[i].d, cases[i].bytes, cases[i].len, &pb_limits_wire,
		    PU_ERR_PB_NONCANONICAL);
	}
}

static void
fields_out_of_order_refused(void **state)
{
	/* directory_serial = 5, then version = 1: both valid, in the wrong order. */
	static const uint8_t swapped[] = { 0x10, 0x05, 0x08, 0x01 };

	(void)state;
	expect_refused(&puente__hello__descriptor, swapped, sizeof(swapped), &pb_limits_wire,
	    PU_ERR_PB_NONCANONICAL);
}

static void
singular_field_twice_refused(void **state)
{
	/* The same value twice, and two values where protobuf-c would keep the last. */
	static const uint8_t same[] = { 0x08, 0x01, 0x08, 0x01 };
	static const uint8_t differ[] = { 0x08, 0x02, 0x08, 0x01 };
	/* Hello.checkpoint = "a" then "b": the first string must also be freed (ASan). */
	static const uint8_t strings[] = { 0x1a, 0x01, 'a', 0x1a, 0x01, 'b' };

	(void)state;
	expect_refused(&puente__hello__descriptor, same, sizeof(same), &pb_limits_wire,
	    PU_ERR_PB_NONCANONICAL);
	expect_refused(&puente__hello__descriptor, differ, sizeof(differ), &pb_limits_wire,
	    PU_ERR_PB_NONCANONICAL);
	expect_refused(&puente__hello__descriptor, strings, sizeof(strings), &pb_limits_wire,
	    PU_ERR_PB_NONCANONICAL);
}

static void
non_minimal_varints_refused(void **state)
{
	static const struct {
		const char *what;
		uint8_t bytes[12];
		size_t len;
	} cases[] = {
		/* version = 1 as 0x81 0x00 */
		{ "value 0x81 0x00", { 0x08, 0x81, 0x00 }, 3 },
		/* tag of field 1 varint as 0x88 0x00 */
		{ "tag 0x88 0x00", { 0x88, 0x00, 0x01 }, 3 },
		/* checkpoint "a" with length 1 as 0x81 0x00 */
		{ "length 0x81 0x00", { 0x1a, 0x81, 0x00, 'a' }, 4 },
		/* version = 2^32 + 1: protobuf-c keeps the low 32 bits, 1, and re-encodes 08 01 */
		{ "uint32 overflow 2^32+1", { 0x08, 0x81, 0x80, 0x80, 0x80, 0x10 }, 6 },
		/* version = 2^64 - 1: ten bytes for a uint32 */
		{ "uint32 as 10 bytes", { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0x01 }, 11 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case: %s\n", cases[i].what);
		expect_refused(&puente__hello__descriptor, cases[i].bytes, cases[i].len,
		    &pb_limits_wire, PU_ERR_PB_NONCANONICAL);
	}
}

static void
unpacked_repeated_enum_refused(void **state)
{
	/* Agency.may_send = [REFERRAL, CASE_TRANSFER], packed: tag 0x3a, length 2. */
	static const uint8_t packed[] = { 0x3a, 0x02, 0x01, 0x02 };
	/* The same list unpacked, one tag 0x38 per element. */
	static const uint8_t unpacked[] = { 0x38, 0x01, 0x38, 0x02 };
	/* Packed, but split into two runs. */
	static const uint8_t split[] = { 0x3a, 0x01, 0x01, 0x3a, 0x01, 0x02 };
	Puente__Agency *a;

	(void)state;
	a = (Puente__Agency *)expect_accepted(&puente__agency__descriptor, packed, sizeof(packed),
	    &pb_limits_wire);
	assert_int_equal(a->n_may_send, 2);
	assert_int_equal(a->may_send[1], PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER);
	pb_free(a);
	expect_refused(&puente__agency__descriptor, unpacked, sizeof(unpacked), &pb_limits_wire,
	    PU_ERR_PB_NONCANONICAL);
	expect_refused(&puente__agency__descriptor, split, sizeof(split), &pb_limits_wire,
	    PU_ERR_PB_NONCANONICAL);
}

static void
truncated_varint_in_packed_list_refused(void **state)
{
	/* Packed may_send of 2 bytes whose last varint has its continuation bit set. */
	static const uint8_t cut[] = { 0x3a, 0x02, 0x01, 0x81 };

	(void)state;
	expect_refused(&puente__agency__descriptor, cut, sizeof(cut), &pb_limits_wire,
	    PU_ERR_PB_DECODE);
}

static void
noncanonical_inside_submessage_refused(void **state)
{
	struct wr st = { 0 }, w = { 0 };

	(void)state;
	/* The stanza writes key_id as explicit empty bytes: the outer message is fine. */
	wr_str(&st, 1, "MX-NLE-PPNNA");
	wr_ld(&st, 2, NULL, 0);
	wr_core(&w, &st, 1);
	expect_refused_wr(&puente__header_core__descriptor, &w, PU_ERR_PB_NONCANONICAL);
	wr_free(&st);
}

static void
embedded_nul_in_string_refused(void **state)
{
	/* checkpoint = "a\0b": C strings end at the NUL, so it cannot round-trip. */
	static const uint8_t nul[] = { 0x1a, 0x03, 'a', 0x00, 'b' };
	/* An invalid sequence hidden behind a NUL must not come back accepted either. */
	static const uint8_t hidden[] = { 0x1a, 0x03, 0x00, 0xc0, 0xaf };

	(void)state;
	/*
	 * The limit and UTF-8 checks use strlen and see only "a"; the re-encoding is shorter
	 * than the input, so the refusal comes from the canonical check.
	 */
	expect_refused(&puente__hello__descriptor, nul, sizeof(nul), &pb_limits_wire,
	    PU_ERR_PB_NONCANONICAL);
	expect_refused(&puente__hello__descriptor, hidden, sizeof(hidden), &pb_limits_wire,
	    PU_ERR_PB_NONCANONICAL);
}

static void
encode_reproduces_canonical_input(void **state)
{
	struct wr st = { 0 }, w = { 0 };
	ProtobufCMessage *m;
	uint8_t *re;
	size_t re_len;

	(void)state;
	wr_stanza(&st, "MX-NLE-PPNNA");
	wr_core(&w, &st, 1);
	m = expect_accepted(&puente__header_core__descriptor, w.p, w.len, &pb_limits_wire);
	assert_err(pb_encode(m, &re, &re_len), PU_OK);
	assert_int_equal(re_len, w.len);
	assert_memory_equal(re, w.p, w.len);
	free(re);
	pb_free(m);
	wr_free(&w);
	wr_free(&st);
}

/* ---- memory budget --------------------------------------------------------------------- */

static void
budget_exceeded_by_string_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	wr_fill(&w, 3, 'a', 4000);
	/* The same bytes pass with room to spare, so only the budget can refuse them. */
	pb_free(expect_accepted(&puente__hello__descriptor, w.p, w.len, &pb_limits_wire));
	expect_refused_budget(&puente__hello__descriptor, w.p, w.len, &pb_limits_wire, 1 * KiB,
	    PU_ERR_PB_BUDGET);
	wr_free(&w);
}

static void
budget_below_message_size_refused(void **state)
{
	static const uint8_t none[1];

	(void)state;
	/* Even the empty message needs its struct; a budget below that is exceeded at once. */
	expect_refused_budget(&puente__hello__descriptor, none, 0, &pb_limits_wire,
	    sizeof(Puente__Hello) - 1, PU_ERR_PB_BUDGET);
	expect_refused_budget(&puente__hello__descriptor, none, 0, &pb_limits_wire, 0,
	    PU_ERR_PB_BUDGET);
}

static void
budget_of_exactly_the_message_size_suffices(void **state)
{
	static const uint8_t none[1];
	ProtobufCMessage *m = NULL;

	(void)state;
	/*
	 * For an empty input protobuf-c 1.4 allocates only the struct: the budget is a
	 * precise count of bytes, not a rough guess, so exactly that much is enough.
	 */
	assert_err(pb_decode(&puente__hello__descriptor, none, 0, &pb_limits_wire,
	    sizeof(Puente__Hello), &m), PU_OK);
	pb_free(m);
}

static void
budget_exceeded_by_repeated_field_refused(void **state)
{
	struct wr w = { 0 };

	(void)state;
	/*
	 * 4096 hashes are within the Manifest limits but need 128 KiB of copies: a 64 KiB
	 * budget stops the decoder before it allocates them all.
	 */
	wr_manifest(&w, 4096, 32);
	expect_refused_budget(&puente__manifest__descriptor, w.p, w.len, &pb_limits_wire,
	    64 * KiB, PU_ERR_PB_BUDGET);
	wr_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_hello_decodes_to_its_values),
		cmocka_unit_test(valid_header_core_decodes_nested_recipients),
		cmocka_unit_test(empty_input_is_the_all_default_message),
		cmocka_unit_test(encode_reproduces_canonical_input),
		cmocka_unit_test(truncated_hello_refused_at_every_inner_cut),
		cmocka_unit_test(truncated_tag_and_varint_refused),
		cmocka_unit_test(field_number_zero_refused),
		cmocka_unit_test(length_beyond_input_refused),
		cmocka_unit_test(huge_length_refused_without_allocating),
		cmocka_unit_test(nested_length_beyond_submessage_refused),
		cmocka_unit_test(unknown_field_top_level_refused),
		cmocka_unit_test(unknown_field_with_highest_number_refused),
		cmocka_unit_test(unknown_field_in_stanza_inside_core_refused),
		cmocka_unit_test(unknown_field_three_levels_deep_refused),
		cmocka_unit_test(scalar_sent_length_delimited_refused),
		cmocka_unit_test(every_mismatched_wire_type_refused),
		cmocka_unit_test(submessage_sent_as_varint_refused),
		cmocka_unit_test(bool_with_wrong_wire_type_refused_as_noncanonical),
		cmocka_unit_test(deep_nesting_in_unknown_field_refused),
		cmocka_unit_test(deep_nesting_in_nested_unknown_field_refused),
		cmocka_unit_test(deep_nesting_in_bytes_is_opaque),
		cmocka_unit_test(deep_nesting_in_small_bytes_field_refused),
		cmocka_unit_test(deep_start_groups_refused),
		cmocka_unit_test(manifest_4096_hashes_accepted),
		cmocka_unit_test(manifest_4097_hashes_refused),
		cmocka_unit_test(inbox_over_256_entries_refused),
		cmocka_unit_test(seventeen_recipients_refused),
		cmocka_unit_test(packed_enum_count_over_limit_refused),
		cmocka_unit_test(hello_checkpoint_over_4k_refused),
		cmocka_unit_test(error_message_over_1k_refused),
		cmocka_unit_test(default_string_over_256_refused),
		cmocka_unit_test(string_limit_counts_bytes_not_characters),
		cmocka_unit_test(limit_table_names_real_fields),
		cmocka_unit_test(case_limits_allow_longer_text_than_wire_limits),
		cmocka_unit_test(default_bytes_over_64_refused),
		cmocka_unit_test(manifest_hash_over_32_bytes_refused),
		cmocka_unit_test(chunk_data_over_1mib_17_refused),
		cmocka_unit_test(invalid_utf8_in_string_refused),
		cmocka_unit_test(invalid_utf8_in_nested_string_refused),
		cmocka_unit_test(invalid_utf8_in_repeated_string_refused),
		cmocka_unit_test(valid_multibyte_utf8_accepted),
		cmocka_unit_test(utf8_valid_accepts_every_boundary),
		cmocka_unit_test(utf8_valid_refuses_just_past_each_boundary),
		cmocka_unit_test(utf8_valid_reads_only_n_bytes),
		cmocka_unit_test(undefined_enum_value_refused),
		cmocka_unit_test(negative_enum_value_refused),
		cmocka_unit_test(undefined_enum_in_packed_list_refused),
		cmocka_unit_test(undefined_enum_in_nested_message_refused),
		cmocka_unit_test(explicit_default_values_refused),
		cmocka_unit_test(fields_out_of_order_refused),
		cmocka_unit_test(singular_field_twice_refused),
		cmocka_unit_test(non_minimal_varints_refused),
		cmocka_unit_test(unpacked_repeated_enum_refused),
		cmocka_unit_test(truncated_varint_in_packed_list_refused),
		cmocka_unit_test(noncanonical_inside_submessage_refused),
		cmocka_unit_test(embedded_nul_in_string_refused),
		cmocka_unit_test(budget_exceeded_by_string_refused),
		cmocka_unit_test(budget_below_message_size_refused),
		cmocka_unit_test(budget_of_exactly_the_message_size_suffices),
		cmocka_unit_test(budget_exceeded_by_repeated_field_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
