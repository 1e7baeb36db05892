/*
 * fuzz_frame.c - the session frame reader (frame.h) and the decoding of every frame body.
 *
 * Input: one byte that decides where the rest is cut into reads, then the bytes a peer
 * sends on the TLS stream. The reader keeps its state across reads, so each frame it
 * returns is compared with the stream itself and each error with the header that caused
 * it, whatever the cuts. The first frame is held to the HELLO limit, later ones to
 * PU_FRAME_MAX. Each body is decoded as the message its type names, and the statement
 * inside a Signed body in turn; frame.c's own body decoder must agree.
 */
#include <stdlib.h>
#include <string.h>

#include "envelope.pb-c.h"
#include "frame.h"
#include "frames.pb-c.h"
#include "fuzz.h"
#include "pb.h"
#include "pu_err.h"
#include "receipts.pb-c.h"

#define BODY_BUDGET(len) (8 * (len) + 65536)

struct body_type {
	const ProtobufCMessageDescriptor *outer;
	/* The statement in Signed.body, or in each Receipts entry (a Signed too); or NULL. */
	const ProtobufCMessageDescriptor *statement;
};

/*
 * frames.proto, written out again: the body of each frame type. It is checked against
 * frame.c's own table, and a type added there without a row here stops the fuzzer.
 */
static const struct body_type body_types[] = {
	[PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO] = { &puente__hello__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_WELCOME] = { &puente__welcome__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR] = { &puente__error__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT] = { &puente__signed_header__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK] = { &puente__chunk__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT] =
	    { &puente__gateway_receipt__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST] =
	    { &puente__inbox_request__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX] = { &puente__inbox__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH] = { &puente__fetch__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER] = { &puente__signed_header__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK] = { &puente__chunk__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT] =
	    { &puente__signed__descriptor, &puente__recipient_receipt__descriptor },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_OPEN_STATEMENT] =
	    { &puente__signed__descriptor, &puente__open_statement__descriptor },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_NON_DELIVERY] =
	    { &puente__signed__descriptor, &puente__non_delivery_notice__descriptor },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_ACK] = { &puente__ack__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS_REQUEST] =
	    { &puente__receipts_request__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS] =
	    { &puente__receipts__descriptor, &puente__recipient_receipt__descriptor },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_QUERY] = { &puente__audit_query__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER] = { &puente__audit_answer__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT_REQUEST] =
	    { &puente__checkpoint_request__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT] = { &puente__checkpoint_answer__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_COSIGNATURE] = { &puente__cosignature__descriptor, NULL },
	[PUENTE__FRAME_TYPE__FRAME_TYPE_NEW_MESSAGE] = { &puente__inbox__descriptor, NULL },
};

struct session {
	struct frame_reader r;
	const uint8_t *stream;	/* everything the peer sends */
	size_t given;		/* bytes of stream handed to the reader so far */
	size_t frame_start;	/* offset in stream of the frame being read */
	size_t max;		/* the limit the reader holds this frame to */
	uint32_t cut_state;
	uint8_t cut_max;	/* reads are 1..cut_max bytes; 0: one read for everything */
};

static size_t
cut_next(struct session *s, size_t left)
{
	size_t n;

	if (s->cut_max == 0)
		return left;
	s->cut_state = s->cut_state * 1103515245u + 12345u;
	n = 1 + (s->cut_state >> 16) % s->cut_max;
	return n < left ? n : left;
}

/*
 * pb_decode promises the bytes re-encode exactly (signatures are checked over received
 * bytes): check it with protobuf-c's own packer.
 */
static void
reencode_check(const ProtobufCMessage *m, const uint8_t *data, size_t len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *re;

	FUZZ_ASSERT(n == len);
	if (len == 0)
		return;
	FUZZ_ASSERT((re = malloc(len)) != NULL);
	FUZZ_ASSERT(protobuf_c_message_pack(m, re) == len && memcmp(re, data, len) == 0);
	free(re);
}

static int
decode_one(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
    const ProtobufCMessageDescriptor *statement)
{
	ProtobufCMessage *m;
	int rc = pb_decode(d, data, len, &pb_limits_wire, BODY_BUDGET(len), &m);

	FUZZ_ASSERT_CODE(rc);
	if (rc != PU_OK) {
		FUZZ_ASSERT(m == NULL);
		return rc;
	}
	reencode_check(m, data, len);
	if (d == &puente__signed__descriptor) {
		const Puente__Signed *s = (const Puente__Signed *)m;
		decode_one(statement, s->body.data, s->body.len, NULL);
	} else if (d == &puente__receipts__descriptor) {
		const Puente__Receipts *r = (const Puente__Receipts *)m;
		for (size_t i = 0; i < r->n_receipts; i++)
			decode_one(&puente__signed__descriptor, r->receipts[i].data,
			    r->receipts[i].len, statement);
	}
	pb_free(m);
	return PU_OK;
}

/*
 * The body as frames.proto says, then through frame.c's decoder, which the gateway uses:
 * with its tighter budget it may only refuse what is refused anyway.
 */
static void
body_check(uint8_t type, const uint8_t *body, size_t len)
{
	const struct body_type *bt = &body_types[type];
	ProtobufCMessage *m;
	int rc = decode_one(bt->outer, body, len, bt->statement);
	int rc_lib = frame_decode_body(type, body, len, &m);

	FUZZ_ASSERT(frame_body_descriptor(type) == bt->outer);
	FUZZ_ASSERT(rc == PU_OK ? rc_lib == PU_OK : rc_lib == rc || rc_lib == PU_ERR_PB_BUDGET);
	FUZZ_ASSERT((rc_lib == PU_OK) == (m != NULL));
	pb_free(m);
}

/* A frame the reader accepted is exactly the one the stream holds at that place. */
static void
frame_check(const struct session *s)
{
	const struct frame_reader *r = &s->r;
	const uint8_t *hdr = s->stream + s->frame_start;
	uint32_t length = get_u32be(hdr);

	FUZZ_ASSERT(s->given - s->frame_start == PU_FRAME_HEADER_LEN + (size_t)r->body_len);
	FUZZ_ASSERT(length >= 1 && length <= s->max);
	FUZZ_ASSERT(r->body_len == length - 1 && r->body.len == r->body_len);
	FUZZ_ASSERT(r->type == hdr[4] && frame_type_known(r->type));
	FUZZ_ASSERT(r->body_len == 0 ||
	    memcmp(r->body.data, hdr + PU_FRAME_HEADER_LEN, r->body_len) == 0);
	/* frame.c knows the type, so body_types must have its row (see above). */
	FUZZ_ASSERT(r->type < sizeof(body_types) / sizeof(body_types[0]) &&
	    body_types[r->type].outer != NULL);
}

/* A refused stream is refused for the reason its header gives; have: bytes the reader saw. */
static void
error_check(const struct session *s, int rc, size_t have)
{
	const uint8_t *hdr = s->stream + s->frame_start;
	uint32_t length;

	/* The length is judged on its four bytes, the type on the fifth. */
	FUZZ_ASSERT(have >= 4);
	length = get_u32be(hdr);
	switch (rc) {
	case PU_ERR_FRAME_EMPTY:
		FUZZ_ASSERT(length == 0);
		break;
	case PU_ERR_FRAME_TOO_LARGE:
		FUZZ_ASSERT(length > s->max);
		break;
	case PU_ERR_FRAME_TYPE:
		FUZZ_ASSERT(have >= 5 && length >= 1 && length <= s->max &&
		    !frame_type_known(hdr[4]));
		break;
	default:
		FUZZ_ASSERT(!"frame_reader_feed returned an error it does not document");
	}
}

/* One read of n bytes, which may hold the ends and starts of several frames. */
static int
session_read(struct session *s, size_t n)
{
	const uint8_t *p = s->stream + s->given;
	size_t used;
	int rc;

	while (n > 0) {
		rc = frame_reader_feed(&s->r, p, n, &used);
		if (rc == PU_ERR_AGAIN) {
			FUZZ_ASSERT(used == n);
			s->given += n;
			return PU_OK;
		}
		if (rc != PU_OK) {
			error_check(s, rc, s->given + n - s->frame_start);
			/* Refused stays refused: no later byte may be read as a frame. */
			FUZZ_ASSERT(frame_reader_feed(&s->r, p, n, &used) == rc && used == 0);
			return rc;
		}
		FUZZ_ASSERT(used <= n);
		s->given += used;
		p += used;
		n -= used;
		frame_check(s);
		body_check(s->r.type, s->r.body.data, s->r.body.len);
		frame_reader_next(&s->r);
		s->frame_start = s->given;
		s->max = PU_FRAME_MAX;
		frame_reader_set_max(&s->r, s->max);
	}
	return PU_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session s;
	size_t len;

	if (size == 0)
		return 0;
	memset(&s, 0, sizeof(s));
	s.cut_max = data[0];
	s.cut_state = data[0];
	s.stream = data + 1;
	len = size - 1;
	s.max = PU_FRAME_MAX_HELLO;
	frame_reader_init(&s.r, s.max);
	while (s.given < len && session_read(&s, cut_next(&s, len - s.given)) == PU_OK)
		continue;
	frame_reader_free(&s.r);
	return 0;
}
