/*
 * testrng.h - a deterministic randombytes implementation for vectors and fuzz seeds.
 * NEVER for real keys: the stream is the ChaCha20 keystream (original variant, 64-bit
 * nonce 0, block counter from 0) under key = BLAKE2b-256(seed), read sequentially.
 * Install before crypto_init() (libsodium requires it before sodium_init).
 */
#ifndef PU_TESTRNG_H
#define PU_TESTRNG_H

void testrng_install(const char *seed);

#endif
