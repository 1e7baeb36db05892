/* pb.c - canonical, bounded protobuf decoding (PROTOCOL.md §3). */
#include <stdlib.h>
#include <string.h>

#include "audit.pb-c.h"
#include "casefile.pb-c.h"
#include "directory.pb-c.h"
#include "envelope.pb-c.h"
#include "frames.pb-c.h"
#include "keyfile.pb-c.h"
#include "pb.h"
#include "pu_err.h"
#include "receipts.pb-c.h"

const struct pb_limits pb_limits_wire = { 256, 64, 16 };
const struct pb_limits pb_limits_case = { 16384, 64, 1024 };

/*
 * Fields whose bound differs from the defaults. Matched on the message's descriptor (a
 * misspelt message does not compile) and the field name (pb_limits_self_check finds a
 * misspelt one); max applies to a string or bytes length, count to a repeated field.
 */
struct field_limit {
	const ProtobufCMessageDescriptor *message;
	const char *field;
	size_t max;
	size_t count;
};

#define KiB 1024u
#define MiB (1024u * 1024u)

static const struct field_limit field_limits[] = {
	{ &puente__signed_header__descriptor, "core", 16 * KiB, 0 },
	{ &puente__signed_header__descriptor, "manifest", 4096 * 34, 0 },
	{ &puente__manifest__descriptor, "chunk_hashes", 32, 4096 },
	{ &puente__chunk__descriptor, "data", 1 * MiB + 17, 0 },
	{ &puente__signed__descriptor, "body", 64 * KiB, 0 },
	{ &puente__gateway_receipt__descriptor, "checkpoint", 4 * KiB, 0 },
	{ &puente__gateway_receipt__descriptor, "inclusion_proof", 32, 64 },
	{ &puente__gateway_receipt__descriptor, "audit_entry", 64 * KiB + 1024, 0 },
	{ &puente__ack__descriptor, "audit_entry", 64 * KiB + 1024, 0 },
	{ &puente__non_delivery_notice__descriptor, "undelivered", 256, 16 },
	{ &puente__signed_directory__descriptor, "directory", 4 * MiB, 0 },
	{ &puente__directory__descriptor, "agencies", 0, 4096 },
	{ &puente__directory__descriptor, "witnesses", 256, 64 },
	{ &puente__agency__descriptor, "may_send", 0, 64 },
	{ &puente__agency__descriptor, "may_receive", 0, 64 },
	{ &puente__agency__descriptor, "keys", 0, 64 },
	{ &puente__role_policy__descriptor, "may_send", 0, 64 },
	{ &puente__role_policy__descriptor, "may_receive", 0, 64 },
	{ &puente__hello__descriptor, "checkpoint", 4 * KiB, 0 },
	{ &puente__welcome__descriptor, "directory", 4 * MiB, 0 },
	{ &puente__welcome__descriptor, "checkpoint", 4 * KiB, 0 },
	{ &puente__welcome__descriptor, "consistency_proof", 32, 65 },
	{ &puente__error__descriptor, "message", 1 * KiB, 0 },
	{ &puente__ack__descriptor, "checkpoint", 4 * KiB, 0 },
	{ &puente__ack__descriptor, "inclusion_proof", 32, 64 },
	{ &puente__audit_answer__descriptor, "checkpoint", 4 * KiB, 0 },
	{ &puente__audit_answer__descriptor, "consistency_proof", 32, 65 },
	{ &puente__audit_answer__descriptor, "records", 0, 1000 },
	{ &puente__audit_answer__descriptor, "checkpoints", 4 * KiB, 1000 },
	{ &puente__audit_record__descriptor, "entry", 64 * KiB + 1024, 0 },
	{ &puente__audit_answer__descriptor, "witnessed", 4 * KiB, 0 },
	{ &puente__gateway_receipt__descriptor, "witnessed", 4 * KiB, 0 },
	{ &puente__checkpoint_answer__descriptor, "checkpoint", 4 * KiB, 0 },
	{ &puente__checkpoint_answer__descriptor, "consistency_proof", 32, 65 },
	{ &puente__checkpoint_answer__descriptor, "witnessed", 4 * KiB, 0 },
	{ &puente__cosignature__descriptor, "note", 4 * KiB, 0 },
	{ &puente__audit_record__descriptor, "inclusion_proof", 32, 64 },
	{ &puente__inbox__descriptor, "entries", 0, 256 },
	{ &puente__receipts__descriptor, "receipts", 64 * KiB, 16 },
	{ &puente__audit_entry__descriptor, "statement", 64 * KiB, 0 },
	{ &puente__case_message__descriptor, "summary", 64 * KiB, 0 },
	{ &puente__case_message__descriptor, "attachments", 0, 256 },
	{ &puente__attachment__descriptor, "name", 1 * KiB, 0 },
	{ &puente__secret_key_file__descriptor, "secret", 4 * KiB, 0 },
};

#define N_FIELD_LIMITS (sizeof(field_limits) / sizeof(field_limits[0]))

/*
 * The limits of one message type, found once per message rather than once per field: the
 * table was scanned for every field of every decoded message, a visible share of the
 * gateway's loop thread.
 */
struct message_limits {
	const struct field_limit *of[N_FIELD_LIMITS];
	size_t n;
};

static void
message_limits_find(const ProtobufCMessageDescriptor *d, struct message_limits *ml)
{
	ml->n = 0;
	for (size_t i = 0; i < N_FIELD_LIMITS; i++)
		if (field_limits[i].message == d)
			ml->of[ml->n++] = &field_limits[i];
}

int
pb_limits_self_check(void)
{
	for (size_t i = 0; i < N_FIELD_LIMITS; i++)
		if (protobuf_c_message_descriptor_get_field_by_name(field_limits[i].message,
		    field_limits[i].field) == NULL)
			return PU_ERR_INTERNAL;
	return PU_OK;
}

static const struct field_limit *
field_limit_find(const struct message_limits *ml, const ProtobufCFieldDescriptor *f)
{
	for (size_t i = 0; i < ml->n; i++)
		if (strcmp(ml->of[i]->field, f->name) == 0)
			return ml->of[i];
	return NULL;
}

int
pb_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t extra;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			extra = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			extra = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			extra = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (extra > n - i - 1)
			return 0;
		for (size_t k = 1; k <= extra; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += extra + 1;
	}
	return 1;
}

/* Budgeted allocator: decoding stops once the input made it allocate more than allowed. */
struct budget {
	size_t left;
	int exceeded;
};

static void *
budget_alloc(void *data, size_t size)
{
	struct budget *b = data;

	if (size > b->left) {
		b->exceeded = 1;
		return NULL;
	}
	b->left -= size;
	return malloc(size);
}

static void
budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

static size_t
field_elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

static int validate_message(const ProtobufCMessage *m, const struct pb_limits *lim);

static int
validate_value(const ProtobufCFieldDescriptor *f, const void *v, size_t max_len,
    const struct pb_limits *lim)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t e;
		memcpy(&e, v, sizeof(e));
		if (protobuf_c_enum_descriptor_get_value(f->descriptor, e) == NULL)
			return PU_ERR_PB_ENUM;
		return PU_OK;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		if (s == NULL)
			return PU_OK;
		size_t n = strlen(s);
		if (n > max_len)
			return PU_ERR_PB_LIMIT;
		return pb_utf8_valid((const uint8_t *)s, n) ? PU_OK : PU_ERR_PB_UTF8;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = v;
		return bd->len > max_len ? PU_ERR_PB_LIMIT : PU_OK;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;
		return sub ? validate_message(sub, lim) : PU_OK;
	}
	default:
		return PU_OK;
	}
}

/* Walks one message; recursion depth is bounded by the schema, which has no cycles. */
static int
validate_message(const ProtobufCMessage *m, const struct pb_limits *lim)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	struct message_limits ml;

	if (m->n_unknown_fields != 0)
		return PU_ERR_PB_UNKNOWN_FIELD;
	message_limits_find(d, &ml);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const struct field_limit *fl = field_limit_find(&ml, f);
		size_t max_len = f->type == PROTOBUF_C_TYPE_STRING ? lim->max_string : lim->max_bytes;
		size_t max_count = lim->max_repeated;
		int rc;

		if (fl != NULL) {
			if (fl->max)
				max_len = fl->max;
			if (fl->count)
				max_count = fl->count;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which;
			memcpy(&which, base + f->quantifier_offset, sizeof(which));
			if (which != f->id)
				continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n;
			const char *arr;
			memcpy(&n, base + f->quantifier_offset, sizeof(n));
			memcpy(&arr, base + f->offset, sizeof(arr));
			if (n > max_count)
				return PU_ERR_PB_LIMIT;
			for (size_t k = 0; k < n; k++) {
				rc = validate_value(f, arr + k * field_elem_size(f), max_len, lim);
				if (rc != PU_OK)
					return rc;
			}
		} else {
			rc = validate_value(f, base + f->offset, max_len, lim);
			if (rc != PU_OK)
				return rc;
		}
	}
	return PU_OK;
}

int
pb_encode(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(n ? n : 1);

	if (p == NULL)
		return PU_ERR_NOMEM;
	if (protobuf_c_message_pack(m, p) != n) {
		free(p);
		return PU_ERR_INTERNAL;
	}
	*out = p;
	*out_len = n;
	return PU_OK;
}

static int
check_canonical(const ProtobufCMessage *m, const uint8_t *data, size_t len)
{
	uint8_t *re;
	size_t re_len;
	int rc;

	if (protobuf_c_message_get_packed_size(m) != len)
		return PU_ERR_PB_NONCANONICAL;
	if ((rc = pb_encode(m, &re, &re_len)) != PU_OK)
		return rc;
	/* An empty input may come as NULL, which memcmp must never see. */
	rc = re_len == len && (len == 0 || memcmp(re, data, len) == 0) ? PU_OK :
	    PU_ERR_PB_NONCANONICAL;
	free(re);
	return rc;
}

int
pb_decode(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
    const struct pb_limits *lim, size_t budget, ProtobufCMessage **out)
{
	struct budget b = { budget, 0 };
	ProtobufCAllocator a = { budget_alloc, budget_free, &b };
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	m = protobuf_c_message_unpack(d, &a, len, data);
	if (m == NULL)
		return b.exceeded ? PU_ERR_PB_BUDGET : PU_ERR_PB_DECODE;
	rc = validate_message(m, lim);
	if (rc == PU_OK)
		rc = check_canonical(m, data, len);
	if (rc != PU_OK) {
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	*out = m;
	return PU_OK;
}

void
pb_free(void *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}
