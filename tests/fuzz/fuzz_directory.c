/*
 * fuzz_directory.c - loading the root-signed directory, then querying what was loaded.
 *
 * Every input is loaded twice: as received, an encoded SignedDirectory checked against the
 * fixture's root key; and as the Directory inside a SignedDirectory that the fixture's root
 * signs. Only the valid seed and re-wrappings of it pass the root signature, so the second
 * load is what lets the fuzzer reach the checks behind it (version, lifetime, ids, keys,
 * policies) and the queries on a directory it shaped itself. Each load goes through both
 * directory_load_signed and directory_load, which must agree.
 */
#include <stdlib.h>

#include <sodium.h>

#include "crypto.h"
#include "directory.h"
#include "fixture.h"
#include "fuzz.h"
#include "pu_err.h"
#include "testrng.h"

/* One past the highest value of each enum: the queries also meet values nobody defined. */
#define KEY_PURPOSE_END 6
#define MESSAGE_TYPE_END 20

static struct fixture fx;
/* Not the library's own probe, so the low-order check is judged independently. */
static const uint8_t probe_scalar[32] = { 0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d };

/* Built on first use: libFuzzer has no setup hook we need, and replay calls the same way. */
static void
fixture_once(void)
{
	static int ready;

	if (ready)
		return;
	testrng_install(FUZZ_RNG_SEED);
	fx_init(&fx);
	ready = 1;
}

static void
keys_check(const Puente__Agency *a)
{
	for (size_t i = 0; i < a->n_keys; i++) {
		const Puente__Key *k = a->keys[i];
		uint8_t shared[32];
		/* Key ids are unique within an agency, so lookup finds this very key. */
		FUZZ_ASSERT(directory_find_key(a, k->key_id.data, k->key_id.len, k->purpose) == k);
		FUZZ_ASSERT_CODE(directory_key_check(k, FX_NOW));
		/* No low-order encryption key: any scalar would give senders a zero secret. */
		FUZZ_ASSERT(k->purpose != PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION ||
		    crypto_scalarmult(shared, probe_scalar, k->public_key.data) == 0);
	}
	for (int p = 0; p <= KEY_PURPOSE_END; p++) {
		const Puente__Key *k = directory_current_key(a, p, FX_NOW);
		if (k != NULL)
			FUZZ_ASSERT((int)k->purpose == p &&
			    k->status == PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE &&
			    directory_key_check(k, FX_NOW) == PU_OK);
	}
}

static void
queries_check(const struct directory *d)
{
	/* No state is called ZZZ, so no well-formed agency id can match. */
	FUZZ_ASSERT(directory_find_agency(d, "MX-ZZZ-PPNNA") == NULL);
	for (size_t i = 0; i < d->dir->n_agencies; i++) {
		const Puente__Agency *a = d->dir->agencies[i];
		int rc = directory_agency_check(a);

		FUZZ_ASSERT(directory_find_agency(d, a->id) == a);
		FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_AGENCY_SUSPENDED ||
		    rc == PU_ERR_AGENCY_REVOKED);
		keys_check(a);
		for (int t = 0; t <= MESSAGE_TYPE_END; t++) {
			int s = directory_may_send(d, a, t), r = directory_may_receive(d, a, t);
			FUZZ_ASSERT((s == 0 || s == 1) && (r == 0 || r == 1));
		}
	}
}

/* What directory_load adds to directory_load_signed, in directory.h's words. */
static int
timed_outcome(const Puente__Directory *dir)
{
	if (dir->serial == 0)
		return PU_ERR_DIR_OLDER;
	if (dir->issued_at > FX_NOW + PU_CLOCK_SKEW)
		return PU_ERR_DIR_NOT_YET_VALID;
	if (FX_NOW >= dir->expires_at)
		return PU_ERR_DIR_EXPIRED;
	return PU_OK;
}

static void
load_check(const uint8_t *data, size_t size)
{
	struct directory d, timed;
	int rc = directory_load_signed(&d, data, size, fx.root_pk);
	int rc_timed = directory_load(&timed, data, size, fx.root_pk, FX_NOW, 0);

	FUZZ_ASSERT_CODE(rc);
	FUZZ_ASSERT_CODE(rc_timed);
	FUZZ_ASSERT((rc_timed == PU_OK) == (timed.dir != NULL));
	directory_free(&timed);
	if (rc != PU_OK) {
		/* directory_load makes the same checks first, so it fails the same way. */
		FUZZ_ASSERT(rc_timed == rc && d.dir == NULL && d.signed_dir == NULL);
		return;
	}
	FUZZ_ASSERT(rc_timed == timed_outcome(d.dir));
	queries_check(&d);
	/* Everything but the serial can pass: holding that serial must refuse it as old. */
	rc = directory_load(&timed, data, size, fx.root_pk, FX_NOW, d.dir->serial);
	FUZZ_ASSERT(rc == PU_ERR_DIR_OLDER && timed.dir == NULL);
	directory_free(&d);
	FUZZ_ASSERT(d.dir == NULL && d.signed_dir == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *sd;
	size_t sd_len;

	fixture_once();
	load_check(data, size);
	if (directory_sign(data, size, fx.root_sk, fx.root_pk, &sd, &sd_len) == PU_OK) {
		load_check(sd, sd_len);
		free(sd);
	}
	return 0;
}
