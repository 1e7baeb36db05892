/*
 * fuzz.h - what every fuzz target shares: the libFuzzer entry point, which both libFuzzer
 * and replay_main.c call, and the invariant check that turns a violation into a crash the
 * fuzzer reports.
 */
#ifndef PU_FUZZ_H
#define PU_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pu_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Seed of testrng for the fixture of every target and of puente-make-corpus: the same
 * federation keys on both sides, so the valid seeds verify in the targets.
 */
#define FUZZ_RNG_SEED "puente fuzz"

/* Not assert(): the RelWithDebInfo build defines NDEBUG, and replay must check too. */
#define FUZZ_ASSERT(cond) do {							\
	if (!(cond)) {								\
		fprintf(stderr, "%s:%d: invariant violated: %s\n",		\
		    __FILE__, __LINE__, #cond);					\
		abort();							\
	}									\
} while (0)

/* fuzz_audit's log: its origin and the seed of its checkpoint key (32 bytes). */
#define FUZZ_AUDIT_ORIGIN "fuzz.example/log"
#define FUZZ_AUDIT_KEY_SEED "puente fuzz audit checkpoint key"
#define FUZZ_AUDIT_CASE "MX-2026-FUZZ01"

/* A library call returns PU_OK or a code from pu_err.h's table, never a stray value. */
#define FUZZ_ASSERT_CODE(rc) \
	FUZZ_ASSERT((rc) <= 0 && strcmp(pu_err_name(rc), "PU_ERR_UNKNOWN") != 0)

#endif
