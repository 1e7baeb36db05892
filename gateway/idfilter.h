/*
 * idfilter.h - which msg_ids might already be stored, answered on the loop thread without
 * touching the disk. A Bloom filter: "no" is certain, so a new message skips the database
 * lookup that a retry needs; "maybe" asks the store. A message stored by a racing session
 * after the check is still caught by the database's uniqueness constraint, so the filter
 * only ever saves work and never decides an answer.
 */
#ifndef PU_IDFILTER_H
#define PU_IDFILTER_H

#include <stddef.h>
#include <stdint.h>

struct idfilter {
	uint64_t *bits;
	uint64_t nbits;		/* a power of two */
	uint8_t key[16];	/* msg_ids are the senders' choice: hash them with a secret key */
};

/* Sized for about `expected` ids at a low false-positive rate (at least 2^23 bits). */
int idfilter_init(struct idfilter *f, uint64_t expected);
void idfilter_free(struct idfilter *f);
void idfilter_add(struct idfilter *f, const uint8_t msg_id[16]);
/* 0: certainly never added; 1: maybe. */
int idfilter_maybe(const struct idfilter *f, const uint8_t msg_id[16]);

#endif
