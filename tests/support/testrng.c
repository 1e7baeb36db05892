/* testrng.c - deterministic randomness for tests (see testrng.h). */
#include <string.h>

#include <sodium.h>

#include "testrng.h"

static struct {
	uint8_t key[crypto_stream_chacha20_KEYBYTES];
	uint8_t block[64];
	size_t used;		/* bytes of block already handed out */
	uint64_t counter;	/* next block */
} rng;

static void
next_block(void)
{
	static const uint8_t zero[64], nonce[crypto_stream_chacha20_NONCEBYTES];

	crypto_stream_chacha20_xor_ic(rng.block, zero, sizeof(zero), nonce, rng.counter++, rng.key);
	rng.used = 0;
}

static void
rng_buf(void *const buf, const size_t size)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < size; i++) {
		if (rng.used == sizeof(rng.block))
			next_block();
		p[i] = rng.block[rng.used++];
	}
}

static uint32_t
rng_random(void)
{
	uint32_t v;

	rng_buf(&v, sizeof(v));
	return v;
}

static const char *
rng_name(void)
{
	return "puente-test-deterministic";
}

static struct randombytes_implementation impl = {
	.implementation_name = rng_name,
	.random = rng_random,
	.stir = NULL,
	.uniform = NULL,
	.buf = rng_buf,
	.close = NULL,
};

void
testrng_install(const char *seed)
{
	crypto_generichash(rng.key, sizeof(rng.key), (const uint8_t *)seed, strlen(seed), NULL, 0);
	rng.counter = 0;
	rng.used = sizeof(rng.block);
	randombytes_set_implementation(&impl);
}
