/* frame.c - length-prefixed framing with limits checked before allocation. */
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "frame.h"
#include "envelope.pb-c.h"
#include "frames.pb-c.h"
#include "pb.h"
#include "receipts.pb-c.h"
#include "pu_err.h"

#define FRAME_KEEP_ALLOC (64u * 1024)

void
frame_malloc_tune(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
#endif
}

void
frame_reader_init(struct frame_reader *r, size_t max_len)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, PU_FRAME_MAX);
	r->max_len = max_len;
}

void
frame_reader_set_max(struct frame_reader *r, size_t max_len)
{
	r->max_len = max_len;
}

void
frame_reader_free(struct frame_reader *r)
{
	buf_free(&r->body);
}

void
frame_reader_next(struct frame_reader *r)
{
	r->hdr_have = 0;
	r->body_len = 0;
	/* An idle session should not keep the megabyte its last chunk needed. */
	if (r->body.alloc > FRAME_KEEP_ALLOC)
		buf_free(&r->body);
	else
		buf_reset(&r->body);
}

int
frame_type_known(uint8_t type)
{
	return type != PUENTE__FRAME_TYPE__FRAME_TYPE_UNSPECIFIED &&
	    protobuf_c_enum_descriptor_get_value(&puente__frame_type__descriptor, type) != NULL;
}

/* A refused stream stays refused: its later bytes must never be read as frames. */
static int
frame_reader_fail(struct frame_reader *r, int err)
{
	r->err = err;
	return err;
}

int
frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t len, size_t *consumed)
{
	size_t used = 0;
	int rc;

	*consumed = 0;
	if (r->err != PU_OK)
		return r->err;
	if (r->hdr_have < PU_FRAME_HEADER_LEN) {
		size_t take = PU_FRAME_HEADER_LEN - r->hdr_have;
		if (take > len)
			take = len;
		if (take > 0)
			memcpy(r->hdr + r->hdr_have, data, take);
		r->hdr_have += take;
		used += take;
		if (r->hdr_have < 4) {
			*consumed = used;
			return PU_ERR_AGAIN;
		}
		/* The length is judged as soon as its four bytes are in, before the type. */
		uint32_t length = get_u32be(r->hdr);
		if (length == 0)
			return frame_reader_fail(r, PU_ERR_FRAME_EMPTY);
		if (length > r->max_len)
			return frame_reader_fail(r, PU_ERR_FRAME_TOO_LARGE);
		if (r->hdr_have < PU_FRAME_HEADER_LEN) {
			*consumed = used;
			return PU_ERR_AGAIN;
		}
		r->type = r->hdr[4];
		if (!frame_type_known(r->type))
			return frame_reader_fail(r, PU_ERR_FRAME_TYPE);
		r->body_len = length - 1;
		if ((rc = buf_reserve(&r->body, r->body_len)) != PU_OK)
			return frame_reader_fail(r, rc);
	}
	size_t need = r->body_len - r->body.len;
	size_t take = len - used < need ? len - used : need;
	if (take > 0) {
		buf_append(&r->body, data + used, take);
		used += take;
	}
	*consumed = used;
	return r->body.len == r->body_len ? PU_OK : PU_ERR_AGAIN;
}

int
frame_encode(struct buf *out, uint8_t type, const uint8_t *body, size_t body_len)
{
	int rc;

	if (body_len > PU_FRAME_MAX - 1)
		return PU_ERR_FRAME_TOO_LARGE;
	if ((rc = buf_reserve(out, PU_FRAME_HEADER_LEN + body_len)) != PU_OK)
		return rc;
	buf_append_u32be(out, (uint32_t)(body_len + 1));
	buf_append_u8(out, type);
	return buf_append(out, body, body_len);
}

/* Indexed by FrameType: one row per type, the single place that says what a body holds. */
static const ProtobufCMessageDescriptor *const frame_bodies[] = {
	[PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO] = &puente__hello__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_WELCOME] = &puente__welcome__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR] = &puente__error__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT] = &puente__signed_header__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK] = &puente__chunk__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT] = &puente__gateway_receipt__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST] = &puente__inbox_request__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX] = &puente__inbox__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH] = &puente__fetch__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER] = &puente__signed_header__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK] = &puente__chunk__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT] = &puente__signed__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_OPEN_STATEMENT] = &puente__signed__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_NON_DELIVERY] = &puente__signed__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_ACK] = &puente__ack__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS_REQUEST] = &puente__receipts_request__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS] = &puente__receipts__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_QUERY] = &puente__audit_query__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_AUDIT_ANSWER] = &puente__audit_answer__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT_REQUEST] = &puente__checkpoint_request__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_CHECKPOINT] = &puente__checkpoint_answer__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_COSIGNATURE] = &puente__cosignature__descriptor,
	[PUENTE__FRAME_TYPE__FRAME_TYPE_NEW_MESSAGE] = &puente__inbox__descriptor,
};

const ProtobufCMessageDescriptor *
frame_body_descriptor(uint8_t type)
{
	if (!frame_type_known(type) || type >= sizeof(frame_bodies) / sizeof(frame_bodies[0]))
		return NULL;
	return frame_bodies[type];
}

int
frame_decode_body(uint8_t type, const uint8_t *body, size_t len, ProtobufCMessage **out)
{
	const ProtobufCMessageDescriptor *d = frame_body_descriptor(type);

	*out = NULL;
	if (d == NULL)
		return PU_ERR_FRAME_TYPE;
	/* A body never needs more than a few times its size once decoded. */
	return pb_decode(d, body, len, &pb_limits_wire, 4 * len + 65536, out);
}

int
frame_encode_msg(struct buf *out, uint8_t type, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	int rc;

	if (n > PU_FRAME_MAX - 1)
		return PU_ERR_FRAME_TOO_LARGE;
	if ((rc = buf_reserve(out, PU_FRAME_HEADER_LEN + n)) != PU_OK)
		return rc;
	buf_append_u32be(out, (uint32_t)(n + 1));
	buf_append_u8(out, type);
	protobuf_c_message_pack(m, out->data + out->len);
	out->len += n;
	return PU_OK;
}
