/*
 * ceilings.h - the machine's own limits, measured in the same run as a benchmark so that its
 * figures can be read as a fraction of what this machine can do at all (DESIGN.md §10).
 */
#ifndef PU_BENCH_CEILINGS_H
#define PU_BENCH_CEILINGS_H

#include <stddef.h>

struct ceilings {
	double verify_per_s;	/* Ed25519 verifications, one core */
	double x25519_per_s;	/* X25519 scalar multiplications, one core */
	double aead_mb_s;	/* secretstream XChaCha20-Poly1305 push of 1 MiB chunks, one core */
	double blake_mb_s;	/* BLAKE2b-256 of 1 MiB, one core */
	double fsync_per_s;	/* append 8 KiB + fsync in the measured folder: one group commit */
	double disk_mb_s;	/* write in 1 MiB blocks + fsync in the measured folder */
};

/* MiB per second is what every MB/s figure here means. */
#define CEILING_MIB (1024.0 * 1024.0)

/* Monotonic seconds. */
double ceilings_now(void);
/* The crypto ceilings, each measured for `seconds`. */
void ceilings_crypto(struct ceilings *c, double seconds);
/*
 * The storage ceilings of the file system holding dir: fsyncs per second for `seconds`, and
 * the write rate of disk_bytes made durable. 0 on success, -1 if dir cannot be written.
 */
int ceilings_storage(struct ceilings *c, const char *dir, double seconds, size_t disk_bytes);
/*
 * Messages per second a bare SQLite store makes durable at `batch` per commit: one row of
 * `size` bytes under a random 16-byte key each, WAL and synchronous=FULL as in the gateway,
 * in a scratch database in dir, for `seconds`. What a store on this machine and file system
 * does at that batch size before the gateway's own work (deliveries, audit, receipts).
 * 0 if dir cannot be written.
 */
double ceilings_store(const char *dir, unsigned batch, size_t size, double seconds);

#endif
