/*
 * pb.h - the only way Puente decodes a protobuf.
 *
 * pb_decode() unpacks through a budgeted allocator, then walks the message with its
 * descriptors: no unknown fields (at any depth), enum values defined, strings valid UTF-8,
 * every string, bytes and repeated field within its limit, and the bytes re-encode to
 * exactly the input (canonical form). Anything else is refused with a specific code.
 */
#ifndef PU_PB_H
#define PU_PB_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

/* Limits applied to fields that have no row of their own in pb.c's table. */
struct pb_limits {
	size_t max_string;	/* bytes of UTF-8 */
	size_t max_bytes;
	size_t max_repeated;	/* elements */
};

/* Wire objects: headers, receipts, frames, directory. */
extern const struct pb_limits pb_limits_wire;
/* The case file (encrypted payload): longer free text and lists. */
extern const struct pb_limits pb_limits_case;

/*
 * Decode len bytes as a message of type d. On success *out owns the message (free with
 * pb_free). budget bounds the memory the decoder may allocate.
 */
/* PU_OK when every field the table of bounds names is a field of its message. */
int pb_limits_self_check(void);
int pb_decode(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
    const struct pb_limits *lim, size_t budget, ProtobufCMessage **out);
void pb_free(void *msg);

/* Encode into a new malloc'd buffer. */
int pb_encode(const ProtobufCMessage *m, uint8_t **out, size_t *out_len);

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
int pb_utf8_valid(const uint8_t *s, size_t n);

#endif
