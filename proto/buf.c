/* buf.c - bounded byte buffers and read cursors. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pu_err.h"

void
buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->cap);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

int
buf_reserve(struct buf *b, size_t n)
{
	if (n > b->cap || b->len > b->cap - n)
		return PU_ERR_TOO_LARGE;
	if (b->len + n <= b->alloc)
		return PU_OK;
	size_t want = b->alloc ? b->alloc : 64;
	while (want < b->len + n)
		want = want > b->cap / 2 ? b->cap : want * 2;
	uint8_t *p = realloc(b->data, want);
	if (p == NULL)
		return PU_ERR_NOMEM;
	b->data = p;
	b->alloc = want;
	return PU_OK;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);
	if (rc != PU_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return PU_OK;
}

int
buf_append_u8(struct buf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

void
put_u32be(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

uint32_t
get_u32be(const uint8_t in[4])
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
	    (uint32_t)in[2] << 8 | (uint32_t)in[3];
}

int
buf_append_u32be(struct buf *b, uint32_t v)
{
	uint8_t be[4];

	put_u32be(be, v);
	return buf_append(b, be, sizeof(be));
}

int
buf_append_lp(struct buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX)
		return PU_ERR_TOO_LARGE;
	int rc = buf_reserve(b, 4 + n);
	if (rc != PU_OK)
		return rc;
	buf_append_u32be(b, (uint32_t)n);
	return buf_append(b, p, n);
}

void
cursor_init(struct cursor *c, const void *p, size_t n)
{
	c->p = p;
	c->left = n;
}

int
cursor_read_bytes(struct cursor *c, size_t n, const uint8_t **p)
{
	if (n > c->left)
		return PU_ERR_TRUNCATED;
	*p = c->p;
	c->p += n;
	c->left -= n;
	return PU_OK;
}

int
cursor_read_u8(struct cursor *c, uint8_t *v)
{
	const uint8_t *p;
	int rc = cursor_read_bytes(c, 1, &p);
	if (rc == PU_OK)
		*v = p[0];
	return rc;
}

int
cursor_read_u32be(struct cursor *c, uint32_t *v)
{
	const uint8_t *p;
	int rc = cursor_read_bytes(c, 4, &p);
	if (rc == PU_OK)
		*v = get_u32be(p);
	return rc;
}
