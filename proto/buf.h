/*
 * buf.h - bounded byte buffers and read cursors.
 *
 * A buf grows on demand but never beyond its cap, so every buffer has an owner and a bound.
 * A cursor reads big-endian integers and byte runs, checking what is left before every read.
 */
#ifndef PU_BUF_H
#define PU_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t alloc;
	size_t cap;	/* hard bound on len */
};

struct cursor {
	const uint8_t *p;
	size_t left;
};

void buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Make room for n more bytes; PU_ERR_TOO_LARGE past the cap. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_u8(struct buf *b, uint8_t v);
int buf_append_u32be(struct buf *b, uint32_t v);
/* u32 big-endian length, then the bytes (the length prefix of PROTOCOL.md §4.1). */
int buf_append_lp(struct buf *b, const void *p, size_t n);

void put_u32be(uint8_t out[4], uint32_t v);
uint32_t get_u32be(const uint8_t in[4]);

void cursor_init(struct cursor *c, const void *p, size_t n);
int cursor_read_u8(struct cursor *c, uint8_t *v);
int cursor_read_u32be(struct cursor *c, uint32_t *v);
/* Point *p at the next n bytes without copying. */
int cursor_read_bytes(struct cursor *c, size_t n, const uint8_t **p);

#endif
