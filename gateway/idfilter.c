/* idfilter.c - a Bloom filter over msg_ids. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "idfilter.h"
#include "pu_err.h"

#define HASHES 4

static void
positions(const struct idfilter *f, const uint8_t msg_id[16], uint64_t pos[HASHES])
{
	uint8_t h[crypto_shorthash_BYTES * 2];
	uint64_t a, b;

	/* keyed: a sender cannot aim its ids at the same bits (it would only cost lookups) */
	crypto_shorthash(h, msg_id, 16, f->key);
	crypto_shorthash(h + 8, h, 8, f->key);
	memcpy(&a, h, 8);
	memcpy(&b, h + 8, 8);
	/* Double hashing (Kirsch-Mitzenmacher): a + i*b gives the HASHES positions. */
	for (int i = 0; i < HASHES; i++)
		pos[i] = (a + (uint64_t)i * (b | 1)) & (f->nbits - 1);
}

int
idfilter_init(struct idfilter *f, uint64_t expected)
{
	uint64_t want = expected * 16 > (1u << 23) ? expected * 16 : (1u << 23);

	f->nbits = 1;
	while (f->nbits < want)
		f->nbits <<= 1;
	if ((f->bits = calloc(f->nbits / 64, sizeof(uint64_t))) == NULL)
		return PU_ERR_NOMEM;
	randombytes_buf(f->key, sizeof(f->key));
	return PU_OK;
}

void
idfilter_free(struct idfilter *f)
{
	free(f->bits);
	f->bits = NULL;
}

void
idfilter_add(struct idfilter *f, const uint8_t msg_id[16])
{
	uint64_t pos[HASHES];

	positions(f, msg_id, pos);
	for (int i = 0; i < HASHES; i++)
		f->bits[pos[i] / 64] |= (uint64_t)1 << (pos[i] % 64);
}

int
idfilter_maybe(const struct idfilter *f, const uint8_t msg_id[16])
{
	uint64_t pos[HASHES];

	positions(f, msg_id, pos);
	for (int i = 0; i < HASHES; i++)
		if (!(f->bits[pos[i] / 64] & ((uint64_t)1 << (pos[i] % 64))))
			return 0;
	return 1;
}
