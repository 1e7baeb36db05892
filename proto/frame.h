/*
 * frame.h - the session framing of PROTOCOL.md §2.
 *
 * A frame is [u32 big-endian length][u8 type][body]; length counts the type byte and the
 * body, so it is at least 1. The reader checks the length against the session's current
 * limit before it allocates anything, and keeps its state across reads.
 */
#ifndef PU_FRAME_H
#define PU_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "buf.h"

#define PU_FRAME_HEADER_LEN 5
#define PU_FRAME_MAX_HELLO (4u * 1024)			/* before HELLO is accepted */
#define PU_FRAME_MAX (1024u * 1024 + 4096)		/* a chunk frame with room to spare */

struct frame_reader {
	uint8_t hdr[PU_FRAME_HEADER_LEN];
	size_t hdr_have;
	uint8_t type;
	uint32_t body_len;
	struct buf body;
	size_t max_len;	/* current limit on length, changed with frame_reader_set_max */
	int err;	/* first error returned; every later feed returns it again */
};

void frame_reader_init(struct frame_reader *r, size_t max_len);
void frame_reader_set_max(struct frame_reader *r, size_t max_len);
void frame_reader_free(struct frame_reader *r);

/*
 * Consume bytes from data. Returns PU_OK with *consumed set when a whole frame is ready
 * (r->type, r->body.data, r->body.len), PU_ERR_AGAIN when all input was consumed and the
 * frame is incomplete, or an error for a bad length or type: the stream is then unusable.
 * After a frame is handled, call frame_reader_next before feeding more.
 */
int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t len, size_t *consumed);
void frame_reader_next(struct frame_reader *r);

/* 1 for a type this version knows. */
int frame_type_known(uint8_t type);

/*
 * For programs that move chunks (the gateway, the puente command), called once at start:
 * keep chunk-sized blocks in glibc's heap. Left alone, glibc gives every 1 MiB block its
 * own mmap, or trims the heap after each, and the page faults on fresh zeroed memory cost
 * more than the copies themselves (a 1 GiB upload measured 62 MB/s before, 208 after).
 * Blocks up to 4 MiB come from the heap, and up to 16 MiB of free heap is kept.
 */
void frame_malloc_tune(void);

/* The message a frame type's body holds (PROTOCOL.md §2), or NULL for an unknown type. */
const ProtobufCMessageDescriptor *frame_body_descriptor(uint8_t type);
/* Decode a frame body as its type's message, canonically and within limits (pb_decode). */
int frame_decode_body(uint8_t type, const uint8_t *body, size_t len, ProtobufCMessage **out);
/* Encode m as the body of a frame of that type, appended to out. */
int frame_encode_msg(struct buf *out, uint8_t type, const ProtobufCMessage *m);

/* Append a whole frame to out. */
int frame_encode(struct buf *out, uint8_t type, const uint8_t *body, size_t body_len);

#endif
