/*
 * test_frame.c - THREATS.md group 7 at library level: the session framing of PROTOCOL.md §2
 * (frame_reader, frame_encode) and the bounded buffers and cursors under it. Each attack is
 * fed to the real reader and its exact error asserted, and a refused length must not have
 * reserved any memory for the body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "frame.h"
#include "frames.pb-c.h"
#include "pb.h"
#include "pu_err.h"

/* Compare names, so a failure reads "PU_ERR_AGAIN" != "PU_ERR_FRAME_TOO_LARGE". */
#define assert_err(rc, want) assert_string_equal(pu_err_name(rc), pu_err_name(want))

#define FT_HELLO PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO
#define FT_ERROR PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR
#define FT_INBOX_REQUEST PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST
#define FT_SUBMIT_CHUNK PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK

/* A frame header by hand: [u32 big-endian length][u8 type]. */
static void
put_header(uint8_t out[PU_FRAME_HEADER_LEN], uint32_t length, uint8_t type)
{
	out[0] = (uint8_t)(length >> 24);
	out[1] = (uint8_t)(length >> 16);
	out[2] = (uint8_t)(length >> 8);
	out[3] = (uint8_t)length;
	out[4] = type;
}

/* A whole frame of body_len bytes, body byte i = i * 7 so misplaced bytes show. */
static uint8_t *
make_frame(uint8_t type, size_t body_len, size_t *frame_len)
{
	uint8_t *f = malloc(PU_FRAME_HEADER_LEN + body_len);

	assert_non_null(f);
	put_header(f, (uint32_t)(body_len + 1), type);
	for (size_t i = 0; i < body_len; i++)
		f[PU_FRAME_HEADER_LEN + i] = (uint8_t)(i * 7);
	*frame_len = PU_FRAME_HEADER_LEN + body_len;
	return f;
}

static void
assert_body_pattern(const struct frame_reader *r, size_t body_len)
{
	assert_int_equal(r->body.len, body_len);
	for (size_t i = 0; i < body_len; i++)
		if (r->body.data[i] != (uint8_t)(i * 7))
			fail_msg("body byte %zu is 0x%02x", i, r->body.data[i]);
}

/* ---- whole frames ---------------------------------------------------------------------- */

static void
encoded_frame_read_whole(void **state)
{
	static const uint8_t body[] = "hola Tlaxcala";
	static const uint8_t header[] = { 0x00, 0x00, 0x00, sizeof(body) + 1, FT_HELLO };
	struct buf out;
	struct frame_reader r;
	size_t used = 0;

	(void)state;
	buf_init(&out, 1024);
	assert_err(frame_encode(&out, FT_HELLO, body, sizeof(body)), PU_OK);
	/* The bytes on the wire are exactly PROTOCOL.md §2: length counts type + body. */
	assert_int_equal(out.len, sizeof(header) + sizeof(body));
	assert_memory_equal(out.data, header, sizeof(header));
	assert_memory_equal(out.data + sizeof(header), body, sizeof(body));

	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	assert_err(frame_reader_feed(&r, out.data, out.len, &used), PU_OK);
	assert_int_equal(used, out.len);
	assert_int_equal(r.type, FT_HELLO);
	assert_int_equal(r.body.len, sizeof(body));
	assert_memory_equal(r.body.data, body, sizeof(body));
	frame_reader_free(&r);
	buf_free(&out);
}

static void
one_byte_at_a_time_yields_same_frame(void **state)
{
	struct frame_reader r;
	size_t len, used;
	uint8_t *f = make_frame(FT_HELLO, 300, &len);

	(void)state;
	/* Slow-loris shape: every byte alone; the state must carry across all of them. */
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	for (size_t i = 0; i + 1 < len; i++) {
		used = 99;
		assert_err(frame_reader_feed(&r, f + i, 1, &used), PU_ERR_AGAIN);
		assert_int_equal(used, 1);
	}
	assert_err(frame_reader_feed(&r, f + len - 1, 1, &used), PU_OK);
	assert_int_equal(used, 1);
	assert_int_equal(r.type, FT_HELLO);
	assert_body_pattern(&r, 300);
	frame_reader_free(&r);
	free(f);
}

static void
two_frames_back_to_back_read_in_turn(void **state)
{
	static const uint8_t a[] = "first";
	static const uint8_t b[] = "second frame";
	struct buf out;
	struct frame_reader r;
	size_t used, a_len = PU_FRAME_HEADER_LEN + sizeof(a);

	(void)state;
	buf_init(&out, 1024);
	assert_err(frame_encode(&out, FT_HELLO, a, sizeof(a)), PU_OK);
	assert_err(frame_encode(&out, FT_ERROR, b, sizeof(b)), PU_OK);
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);

	/* The reader stops at the end of the first frame and says how much it took. */
	assert_err(frame_reader_feed(&r, out.data, out.len, &used), PU_OK);
	assert_int_equal(used, a_len);
	assert_int_equal(r.type, FT_HELLO);
	assert_int_equal(r.body.len, sizeof(a));
	assert_memory_equal(r.body.data, a, sizeof(a));

	frame_reader_next(&r);
	assert_err(frame_reader_feed(&r, out.data + a_len, out.len - a_len, &used), PU_OK);
	assert_int_equal(used, out.len - a_len);
	assert_int_equal(r.type, FT_ERROR);
	assert_int_equal(r.body.len, sizeof(b));
	assert_memory_equal(r.body.data, b, sizeof(b));
	frame_reader_free(&r);
	buf_free(&out);
}

static void
frames_split_across_reads_at_odd_places(void **state)
{
	struct buf out;
	struct frame_reader r;
	uint8_t body[100];
	size_t pos = 0, used, frames = 0;

	(void)state;
	memset(body, 0x42, sizeof(body));
	buf_init(&out, 4096);
	for (int i = 0; i < 5; i++)
		assert_err(frame_encode(&out, FT_ERROR, body, sizeof(body)), PU_OK);
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	/* Reads of 7 bytes never line up with a 105-byte frame or its 5-byte header. */
	while (pos < out.len) {
		size_t n = out.len - pos < 7 ? out.len - pos : 7;
		int rc = frame_reader_feed(&r, out.data + pos, n, &used);

		pos += used;
		if (rc == PU_OK) {
			assert_int_equal(r.type, FT_ERROR);
			assert_int_equal(r.body.len, sizeof(body));
			assert_memory_equal(r.body.data, body, sizeof(body));
			frames++;
			frame_reader_next(&r);
		} else {
			assert_err(rc, PU_ERR_AGAIN);
			assert_int_equal(used, n);
		}
	}
	assert_int_equal(frames, 5);
	frame_reader_free(&r);
	buf_free(&out);
}

static void
length_one_is_an_empty_body(void **state)
{
	uint8_t f[PU_FRAME_HEADER_LEN];
	struct frame_reader r;
	size_t used;

	(void)state;
	/* Length 1 is the type byte alone: the smallest legal frame. */
	put_header(f, 1, FT_INBOX_REQUEST);
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	assert_err(frame_reader_feed(&r, f, sizeof(f), &used), PU_OK);
	assert_int_equal(used, sizeof(f));
	assert_int_equal(r.type, FT_INBOX_REQUEST);
	assert_int_equal(r.body.len, 0);
	frame_reader_free(&r);
}

/* ---- bad lengths ----------------------------------------------------------------------- */

static void
length_zero_refused(void **state)
{
	static const uint8_t zero[] = { 0x00, 0x00, 0x00, 0x00 };
	struct frame_reader r;
	size_t used;

	(void)state;
	/* Refused on the four length bytes alone: no type byte is waited for. */
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	assert_err(frame_reader_feed(&r, zero, sizeof(zero), &used), PU_ERR_FRAME_EMPTY);
	assert_int_equal(r.body.alloc, 0);
	frame_reader_free(&r);
}

static void
length_over_hello_limit_refused_before_allocation(void **state)
{
	uint8_t f[PU_FRAME_HEADER_LEN];
	struct frame_reader r;
	size_t used;

	(void)state;
	put_header(f, PU_FRAME_MAX_HELLO + 1, FT_HELLO);
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	/* Only the four length bytes have arrived: that is already enough to refuse. */
	assert_err(frame_reader_feed(&r, f, 4, &used), PU_ERR_FRAME_TOO_LARGE);
	assert_int_equal(r.body.alloc, 0);
	assert_null(r.body.data);
	frame_reader_free(&r);
}

static void
length_over_limit_refused_when_it_trickles_in(void **state)
{
	uint8_t f[PU_FRAME_HEADER_LEN];
	struct frame_reader r;
	size_t used;

	(void)state;
	/* 0xffffffff, one byte per read: waiting for 4 GiB is refused at the fourth byte. */
	put_header(f, UINT32_MAX, FT_HELLO);
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	for (int i = 0; i < 3; i++) {
		assert_err(frame_reader_feed(&r, f + i, 1, &used), PU_ERR_AGAIN);
		assert_int_equal(used, 1);
	}
	assert_err(frame_reader_feed(&r, f + 3, 1, &used), PU_ERR_FRAME_TOO_LARGE);
	assert_int_equal(r.body.alloc, 0);
	frame_reader_free(&r);
}

static void
length_over_limit_refused_with_body_following(void **state)
{
	struct frame_reader r;
	size_t len, used;
	uint8_t *f = make_frame(FT_HELLO, PU_FRAME_MAX_HELLO, &len);

	(void)state;
	/* The whole oversized frame in one read: still refused, still nothing reserved. */
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	assert_err(frame_reader_feed(&r, f, len, &used), PU_ERR_FRAME_TOO_LARGE);
	assert_int_equal(r.body.alloc, 0);
	frame_reader_free(&r);
	free(f);
}

static void
frame_at_hello_limit_accepted(void **state)
{
	struct frame_reader r;
	size_t len, used;
	/* length = PU_FRAME_MAX_HELLO exactly: the type byte plus 4095 bytes of body. */
	uint8_t *f = make_frame(FT_HELLO, PU_FRAME_MAX_HELLO - 1, &len);

	(void)state;
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	assert_err(frame_reader_feed(&r, f, len, &used), PU_OK);
	assert_int_equal(used, len);
	assert_body_pattern(&r, PU_FRAME_MAX_HELLO - 1);
	frame_reader_free(&r);
	free(f);
}

static void
raised_limit_accepts_chunk_frames(void **state)
{
	struct frame_reader r;
	size_t len, used;
	/* A 1 MiB + 17 chunk plus some room: over the FT_HELLO limit, under PU_FRAME_MAX. */
	uint8_t *f = make_frame(FT_SUBMIT_CHUNK, 1024 * 1024 + 100, &len);

	(void)state;
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	frame_reader_set_max(&r, PU_FRAME_MAX);
	assert_err(frame_reader_feed(&r, f, len, &used), PU_OK);
	assert_int_equal(used, len);
	assert_int_equal(r.type, FT_SUBMIT_CHUNK);
	assert_body_pattern(&r, 1024 * 1024 + 100);
	frame_reader_free(&r);
	free(f);
}

static void
frame_at_session_max_accepted(void **state)
{
	struct frame_reader r;
	size_t len, used;
	uint8_t *f = make_frame(FT_SUBMIT_CHUNK, PU_FRAME_MAX - 1, &len);

	(void)state;
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	frame_reader_set_max(&r, PU_FRAME_MAX);
	assert_err(frame_reader_feed(&r, f, len, &used), PU_OK);
	assert_body_pattern(&r, PU_FRAME_MAX - 1);
	frame_reader_free(&r);
	free(f);
}

static void
length_over_session_max_refused_before_allocation(void **state)
{
	uint8_t f[PU_FRAME_HEADER_LEN];
	struct frame_reader r;
	size_t used;

	(void)state;
	put_header(f, PU_FRAME_MAX + 1, FT_SUBMIT_CHUNK);
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	frame_reader_set_max(&r, PU_FRAME_MAX);
	assert_err(frame_reader_feed(&r, f, 4, &used), PU_ERR_FRAME_TOO_LARGE);
	assert_int_equal(r.body.alloc, 0);
	frame_reader_free(&r);
}

/* ---- frame types ----------------------------------------------------------------------- */

static void
unknown_frame_type_refused(void **state)
{
	static const uint8_t types[] = { 0, 24, 200, 255 };

	(void)state;
	for (size_t i = 0; i < sizeof(types); i++) {
		uint8_t f[PU_FRAME_HEADER_LEN + 3];
		struct frame_reader r;
		size_t used;

		print_message("type %u\n", types[i]);
		put_header(f, 4, types[i]);
		memcpy(f + PU_FRAME_HEADER_LEN, "abc", 3);
		frame_reader_init(&r, PU_FRAME_MAX_HELLO);
		assert_err(frame_reader_feed(&r, f, sizeof(f), &used), PU_ERR_FRAME_TYPE);
		/* The type is judged before the body is reserved, too. */
		assert_int_equal(r.body.alloc, 0);
		frame_reader_free(&r);
	}
}

static void
known_frame_types_are_exactly_the_schema(void **state)
{
	(void)state;
	/* FrameType defines 1..23; 0 is UNSPECIFIED and never sent. */
	for (int t = 0; t <= 255; t++) {
		if (frame_type_known((uint8_t)t) != (t >= 1 && t <= 23))
			fail_msg("frame_type_known(%d) = %d", t, frame_type_known((uint8_t)t));
		/* every known type says what its body holds, and no other does */
		if ((frame_body_descriptor((uint8_t)t) != NULL) != (t >= 1 && t <= 23))
			fail_msg("frame_body_descriptor(%d)", t);
	}
}

/* A body encoded for its type decodes back through the same table. */
static void
body_round_trip_through_the_type_table(void **state)
{
	Puente__Fetch f = PUENTE__FETCH__INIT;
	uint8_t id[16] = { 7 };
	ProtobufCMessage *m;
	struct buf b;

	(void)state;
	f.msg_id.data = id;
	f.msg_id.len = sizeof(id);
	buf_init(&b, PU_FRAME_MAX);
	assert_int_equal(frame_encode_msg(&b, PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH, &f.base), PU_OK);
	assert_int_equal(b.data[4], PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH);
	assert_int_equal(frame_decode_body(b.data[4], b.data + 5, b.len - 5, &m), PU_OK);
	assert_memory_equal(((Puente__Fetch *)m)->msg_id.data, id, 16);
	pb_free(m);
	/* the same bytes are not a Hello: field 1 of Hello is a varint */
	assert_int_equal(frame_decode_body(PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, b.data + 5,
	    b.len - 5, &m), PU_ERR_PB_DECODE);
	assert_int_equal(frame_decode_body(99, b.data + 5, b.len - 5, &m), PU_ERR_FRAME_TYPE);
	buf_free(&b);
}

/* ---- frame_encode ---------------------------------------------------------------------- */

static void
encode_refuses_body_over_max(void **state)
{
	struct buf out;
	uint8_t *body = calloc(1, PU_FRAME_MAX);

	(void)state;
	assert_non_null(body);
	buf_init(&out, 2 * PU_FRAME_MAX);
	/* length = body + 1 must fit PU_FRAME_MAX: one byte more is refused, nothing written. */
	assert_err(frame_encode(&out, FT_SUBMIT_CHUNK, body, PU_FRAME_MAX), PU_ERR_FRAME_TOO_LARGE);
	assert_int_equal(out.len, 0);
	assert_err(frame_encode(&out, FT_SUBMIT_CHUNK, body, PU_FRAME_MAX - 1), PU_OK);
	assert_int_equal(out.len, PU_FRAME_HEADER_LEN + PU_FRAME_MAX - 1);
	buf_free(&out);
	free(body);
}

static void
encode_into_full_buf_writes_nothing(void **state)
{
	static const uint8_t body[] = "0123456789";
	struct buf out;

	(void)state;
	/* Room for the header and 9 of the 11 body bytes: no half frame may be left behind. */
	buf_init(&out, PU_FRAME_HEADER_LEN + 9);
	assert_err(frame_encode(&out, FT_HELLO, body, sizeof(body)), PU_ERR_TOO_LARGE);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

/* ---- bounded buffers and cursors ------------------------------------------------------- */

static void
buf_at_cap_refuses_growth(void **state)
{
	struct buf b;
	uint8_t sixteen[16];

	(void)state;
	memset(sixteen, 0x5c, sizeof(sixteen));
	buf_init(&b, sizeof(sixteen));
	assert_err(buf_append(&b, sixteen, sizeof(sixteen)), PU_OK);
	assert_err(buf_append_u8(&b, 1), PU_ERR_TOO_LARGE);
	assert_err(buf_reserve(&b, 1), PU_ERR_TOO_LARGE);
	/* A refused append changes nothing that was already there. */
	assert_int_equal(b.len, sizeof(sixteen));
	assert_memory_equal(b.data, sixteen, sizeof(sixteen));
	buf_free(&b);
}

static void
buf_refuses_partial_append_near_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 6);
	assert_err(buf_append(&b, "abc", 3), PU_OK);
	/* 4 bytes into 3 of room: all or nothing. */
	assert_err(buf_append_u32be(&b, 0x01020304), PU_ERR_TOO_LARGE);
	assert_err(buf_append_lp(&b, "", 0), PU_ERR_TOO_LARGE);
	assert_int_equal(b.len, 3);
	buf_free(&b);
}

static void
buf_reserve_does_not_overflow(void **state)
{
	struct buf b;

	(void)state;
	/* len + n would wrap around SIZE_MAX: must be refused, not allocated small. */
	buf_init(&b, SIZE_MAX);
	assert_err(buf_append(&b, "x", 1), PU_OK);
	assert_err(buf_reserve(&b, SIZE_MAX), PU_ERR_TOO_LARGE);
	assert_int_equal(b.len, 1);
	buf_free(&b);
}

static void
cursor_read_past_end_refused_without_moving(void **state)
{
	static const uint8_t three[] = { 0xa1, 0xa2, 0xa3 };
	struct cursor c;
	const uint8_t *p = NULL;
	uint32_t v32 = 0xdeadbeef;
	uint8_t v8 = 0x5a;

	(void)state;
	cursor_init(&c, three, sizeof(three));
	assert_err(cursor_read_u32be(&c, &v32), PU_ERR_TRUNCATED);
	assert_err(cursor_read_bytes(&c, 4, &p), PU_ERR_TRUNCATED);
	assert_err(cursor_read_bytes(&c, SIZE_MAX, &p), PU_ERR_TRUNCATED);
	/* Nothing moved and nothing was written: the caller can report, not guess. */
	assert_ptr_equal(c.p, three);
	assert_int_equal(c.left, 3);
	assert_int_equal(v32, 0xdeadbeef);
	assert_null(p);

	assert_err(cursor_read_bytes(&c, 2, &p), PU_OK);
	assert_ptr_equal(p, three);
	assert_err(cursor_read_u8(&c, &v8), PU_OK);
	assert_int_equal(v8, 0xa3);
	assert_int_equal(c.left, 0);
	assert_err(cursor_read_u8(&c, &v8), PU_ERR_TRUNCATED);
	assert_int_equal(v8, 0xa3);
	assert_ptr_equal(c.p, three + 3);
	assert_int_equal(c.left, 0);
}

static void
cursor_reads_big_endian(void **state)
{
	static const uint8_t be[] = { 0x01, 0x02, 0x03, 0x04, 0xff };
	struct cursor c;
	uint32_t v = 0;

	(void)state;
	cursor_init(&c, be, sizeof(be));
	assert_err(cursor_read_u32be(&c, &v), PU_OK);
	assert_int_equal(v, 0x01020304);
	assert_int_equal(c.left, 1);
}

/* ---- a refused stream and empty reads -------------------------------------------------- */

static void
refused_stream_stays_refused(void **state)
{
	static const uint32_t lengths[] = { 0, PU_FRAME_MAX_HELLO + 1 };
	static const int codes[] = { PU_ERR_FRAME_EMPTY, PU_ERR_FRAME_TOO_LARGE };

	(void)state;
	/*
	 * frame.h: after an error "the stream is then unusable". A second feed must not turn
	 * the refused header into a frame: PU_OK here would hand the caller a type-0 frame that
	 * never existed, and the refused frame's body would then be read as frame headers.
	 */
	for (size_t i = 0; i < 2; i++) {
		uint8_t f[PU_FRAME_HEADER_LEN + 3];
		struct frame_reader r;
		size_t used;

		put_header(f, lengths[i], FT_HELLO);
		memcpy(f + PU_FRAME_HEADER_LEN, "abc", 3);
		frame_reader_init(&r, PU_FRAME_MAX_HELLO);
		assert_err(frame_reader_feed(&r, f, sizeof(f), &used), codes[i]);
		assert_err(frame_reader_feed(&r, f + PU_FRAME_HEADER_LEN, 3, &used), codes[i]);
		assert_int_equal(r.body.alloc, 0);
		frame_reader_free(&r);
	}
}

static void
empty_read_is_harmless(void **state)
{
	struct frame_reader r;
	size_t len, used = 99;
	uint8_t *f = make_frame(FT_HELLO, 10, &len);

	(void)state;
	/*
	 * A read of zero bytes (NULL, 0) before and in the middle of a frame: nothing is
	 * consumed, and no NULL pointer reaches memcpy (UBSan reports that as undefined).
	 */
	frame_reader_init(&r, PU_FRAME_MAX_HELLO);
	assert_err(frame_reader_feed(&r, NULL, 0, &used), PU_ERR_AGAIN);
	assert_int_equal(used, 0);
	assert_err(frame_reader_feed(&r, f, 7, &used), PU_ERR_AGAIN);
	assert_err(frame_reader_feed(&r, NULL, 0, &used), PU_ERR_AGAIN);
	assert_int_equal(used, 0);
	assert_err(frame_reader_feed(&r, f + 7, len - 7, &used), PU_OK);
	assert_body_pattern(&r, 10);
	frame_reader_free(&r);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encoded_frame_read_whole),
		cmocka_unit_test(one_byte_at_a_time_yields_same_frame),
		cmocka_unit_test(two_frames_back_to_back_read_in_turn),
		cmocka_unit_test(frames_split_across_reads_at_odd_places),
		cmocka_unit_test(length_one_is_an_empty_body),
		cmocka_unit_test(length_zero_refused),
		cmocka_unit_test(length_over_hello_limit_refused_before_allocation),
		cmocka_unit_test(length_over_limit_refused_when_it_trickles_in),
		cmocka_unit_test(length_over_limit_refused_with_body_following),
		cmocka_unit_test(frame_at_hello_limit_accepted),
		cmocka_unit_test(raised_limit_accepts_chunk_frames),
		cmocka_unit_test(frame_at_session_max_accepted),
		cmocka_unit_test(length_over_session_max_refused_before_allocation),
		cmocka_unit_test(unknown_frame_type_refused),
		cmocka_unit_test(known_frame_types_are_exactly_the_schema),
		cmocka_unit_test(body_round_trip_through_the_type_table),
		cmocka_unit_test(encode_refuses_body_over_max),
		cmocka_unit_test(encode_into_full_buf_writes_nothing),
		cmocka_unit_test(buf_at_cap_refuses_growth),
		cmocka_unit_test(buf_refuses_partial_append_near_cap),
		cmocka_unit_test(buf_reserve_does_not_overflow),
		cmocka_unit_test(cursor_read_past_end_refused_without_moving),
		cmocka_unit_test(cursor_reads_big_endian),
		cmocka_unit_test(refused_stream_stays_refused),
		/* Last: under UBSan (-fno-sanitize-recover) the known bug ends the process. */
		cmocka_unit_test(empty_read_is_harmless),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
