/* ceilings.c - the machine's own limits (see ceilings.h). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "ceilings.h"
#include "ids.h"

#define CHUNK (1u << 20)

double
ceilings_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
verify_rate(double seconds)
{
	uint8_t pk[32], sk[64], sig[64], msg[256] = { 1 };
	size_t n = 0;
	double t0;

	crypto_sign_keypair(pk, sk);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	for (t0 = ceilings_now(); ceilings_now() - t0 < seconds; n++)
		if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0)
			abort();
	return n / (ceilings_now() - t0);
}

static double
x25519_rate(double seconds)
{
	uint8_t pk[32], sk[32], shared[32];
	size_t n = 0;
	double t0;

	crypto_box_keypair(pk, sk);
	for (t0 = ceilings_now(); ceilings_now() - t0 < seconds; n++)
		if (crypto_scalarmult(shared, sk, pk) != 0)
			abort();
	return n / (ceilings_now() - t0);
}

void
ceilings_crypto(struct ceilings *c, double seconds)
{
	uint8_t *in = calloc(1, CHUNK), *out = malloc(CHUNK + 32), key[32], hdr[24];
	crypto_secretstream_xchacha20poly1305_state st;
	size_t n;
	double t0;

	if (in == NULL || out == NULL)
		abort();
	c->verify_per_s = verify_rate(seconds);
	c->x25519_per_s = x25519_rate(seconds);
	crypto_secretstream_xchacha20poly1305_keygen(key);
	crypto_secretstream_xchacha20poly1305_init_push(&st, hdr, key);
	for (n = 0, t0 = ceilings_now(); ceilings_now() - t0 < seconds; n++)
		crypto_secretstream_xchacha20poly1305_push(&st, out, NULL, in, CHUNK, NULL, 0, 0);
	c->aead_mb_s = n * (CHUNK / CEILING_MIB) / (ceilings_now() - t0);
	for (n = 0, t0 = ceilings_now(); ceilings_now() - t0 < seconds; n++)
		crypto_generichash(out, 32, in, CHUNK, NULL, 0);
	c->blake_mb_s = n * (CHUNK / CEILING_MIB) / (ceilings_now() - t0);
	free(in);
	free(out);
}

double
ceilings_store(const char *dir, unsigned batch, size_t size, double seconds)
{
	char path[1200], side[1300];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint8_t key[16], *body = malloc(size);
	double t0, rate = 0;
	unsigned long n = 0;
	int ok = body != NULL;

	snprintf(path, sizeof(path), "%s/.puente-bench-store.db", dir);
	unlink(path);
	ok = ok && sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "CREATE TABLE m (seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, body BLOB)",
	    NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "INSERT INTO m (id, body) VALUES (?, ?)", -1, &st, NULL) ==
	    SQLITE_OK;
	if (ok)
		randombytes_buf(body, size);
	for (t0 = ceilings_now(); ok && ceilings_now() - t0 < seconds; ) {
		ok = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
		for (unsigned i = 0; ok && i < batch; i++, n++) {
			msg_id_new(key);	/* keys made as the messages' are */
			sqlite3_bind_blob(st, 1, key, sizeof(key), SQLITE_STATIC);
			sqlite3_bind_blob(st, 2, body, (int)size, SQLITE_STATIC);
			ok = sqlite3_step(st) == SQLITE_DONE;
			sqlite3_reset(st);
		}
		ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	}
	if (ok)
		rate = n / (ceilings_now() - t0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(body);
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	return rate;
}

int
ceilings_storage(struct ceilings *c, const char *dir, double seconds, size_t disk_bytes)
{
	static uint8_t block[CHUNK];
	char path[1200];
	size_t n;
	double t0;
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/.puente-bench-ceiling", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	/* A group commit appends its WAL frames and makes them durable with one fsync. */
	for (n = 0, t0 = ceilings_now(); ceilings_now() - t0 < seconds; n++)
		if (write(fd, block, 8192) != 8192 || fsync(fd) != 0)
			goto out;
	c->fsync_per_s = n / (ceilings_now() - t0);
	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		goto out;
	t0 = ceilings_now();
	for (n = 0; n < disk_bytes; n += CHUNK)
		if (write(fd, block, CHUNK) != (ssize_t)CHUNK)
			goto out;
	if (fsync(fd) != 0)
		goto out;
	c->disk_mb_s = n / CEILING_MIB / (ceilings_now() - t0);
	rc = 0;
out:
	close(fd);
	unlink(path);
	return rc;
}
