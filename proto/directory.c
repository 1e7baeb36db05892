/* directory.c - loading, verifying and querying the signed directory. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto.h"
#include "directory.h"
#include "ids.h"
#include "pb.h"
#include "pu_err.h"

#define DIRECTORY_BUDGET (64u * 1024 * 1024)

static int
key_consistent(const Puente__Key *k)
{
	uint8_t id[PU_KEY_ID_LEN];

	if (k->key_id.len != PU_KEY_ID_LEN || k->public_key.len != PU_PUBLIC_KEY_LEN)
		return 0;
	if (k->purpose == PUENTE__KEY_PURPOSE__KEY_PURPOSE_UNSPECIFIED ||
	    k->status == PUENTE__KEY_STATUS__KEY_STATUS_UNSPECIFIED)
		return 0;
	key_id_compute(id, k->purpose, k->public_key.data);
	if (memcmp(id, k->key_id.data, PU_KEY_ID_LEN) != 0 || k->not_after <= k->not_before)
		return 0;
	/* A low-order X25519 point gives every sender the all-zero shared secret. */
	if (k->purpose == PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION) {
		static const uint8_t probe[32] = { 0x48, 0x12, 0x7f };
		uint8_t out[32];
		if (crypto_scalarmult(out, probe, k->public_key.data) != 0)
			return 0;
	}
	return 1;
}

/* Witness w: listed once, an auditor or federal agency of dir that has a CHECKPOINT key. */
static int
witness_consistent(const Puente__Directory *dir, size_t w)
{
	const Puente__Agency *a = NULL;

	/* Listed twice, one witness would count twice toward a verifier's quorum. */
	for (size_t j = 0; j < w; j++)
		if (strcmp(dir->witnesses[j], dir->witnesses[w]) == 0)
			return 0;
	for (size_t i = 0; i < dir->n_agencies && a == NULL; i++)
		if (strcmp(dir->agencies[i]->id, dir->witnesses[w]) == 0)
			a = dir->agencies[i];
	if (a == NULL || (a->role != PUENTE__ROLE__ROLE_AUDITOR &&
	    a->role != PUENTE__ROLE__ROLE_FEDERAL))
		return 0;
	for (size_t k = 0; k < a->n_keys; k++)
		if (a->keys[k]->purpose == PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT)
			return 1;
	return 0;
}

/*
 * Key k of agency i is listed nowhere before it, in its own agency or another: a key
 * belongs to one agency, once. A TLS pin listed twice would bind either agency's sessions
 * to the first that lists it (and refuse them), a signing key twice would make a header's
 * sender a matter of listing order.
 */
static int
key_listed_once(const Puente__Directory *dir, size_t i, size_t k)
{
	const uint8_t *id = dir->agencies[i]->keys[k]->key_id.data;

	for (size_t j = 0; j <= i; j++)
		for (size_t l = 0; l < (j < i ? dir->agencies[j]->n_keys : k); l++)
			if (memcmp(dir->agencies[j]->keys[l]->key_id.data, id, PU_KEY_ID_LEN) == 0)
				return 0;
	return 1;
}

static int
directory_consistent(const Puente__Directory *dir)
{
	if (dir->ca_cert_sha256.len != 32 || dir->federation[0] == '\0')
		return 0;
	for (size_t i = 0; i < dir->n_agencies; i++) {
		const Puente__Agency *a = dir->agencies[i];
		char state[4];

		if (agency_id_state(a->id, state) != PU_OK || strcmp(state, a->state) != 0)
			return 0;
		if (a->role == PUENTE__ROLE__ROLE_UNSPECIFIED ||
		    a->status == PUENTE__AGENCY_STATUS__AGENCY_STATUS_UNSPECIFIED)
			return 0;
		for (size_t j = 0; j < i; j++)
			if (strcmp(dir->agencies[j]->id, a->id) == 0)
				return 0;
		for (size_t k = 0; k < a->n_keys; k++)
			if (!key_consistent(a->keys[k]) || !key_listed_once(dir, i, k))
				return 0;
	}
	for (size_t i = 0; i < dir->n_role_policies; i++)
		for (size_t j = 0; j < i; j++)
			if (dir->role_policies[i]->role == dir->role_policies[j]->role)
				return 0;
	for (size_t w = 0; w < dir->n_witnesses; w++)
		if (!witness_consistent(dir, w))
			return 0;
	return 1;
}

int
directory_load_signed(struct directory *d, const uint8_t *data, size_t len,
    const uint8_t root_pk[32])
{
	uint8_t root_id[PU_KEY_ID_LEN];
	ProtobufCMessage *m;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = pb_decode(&puente__signed_directory__descriptor, data, len, &pb_limits_wire,
	    DIRECTORY_BUDGET, &m);
	if (rc != PU_OK)
		return rc;
	d->signed_dir = (Puente__SignedDirectory *)m;
	key_id_compute(root_id, PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING, root_pk);
	if (d->signed_dir->root_key_id.len != PU_KEY_ID_LEN ||
	    memcmp(d->signed_dir->root_key_id.data, root_id, PU_KEY_ID_LEN) != 0) {
		rc = PU_ERR_DIR_SIGNATURE;
		goto fail;
	}
	struct field f = { d->signed_dir->directory.data, d->signed_dir->directory.len };
	rc = sig_verify(d->signed_dir->signature.data, d->signed_dir->signature.len, root_pk,
	    PU_CTX_DIRECTORY, &f, 1);
	if (rc != PU_OK) {
		rc = PU_ERR_DIR_SIGNATURE;
		goto fail;
	}
	rc = pb_decode(&puente__directory__descriptor, f.p, f.len, &pb_limits_wire,
	    DIRECTORY_BUDGET, &m);
	if (rc != PU_OK)
		goto fail;
	d->dir = (Puente__Directory *)m;
	if (d->dir->version != PU_DIRECTORY_VERSION) {
		rc = PU_ERR_VERSION;
		goto fail;
	}
	if (d->dir->expires_at <= d->dir->issued_at ||
	    /* unsigned: issued_at may be negative, and expires_at > issued_at was checked */
	    (uint64_t)d->dir->expires_at - (uint64_t)d->dir->issued_at > PU_DIRECTORY_MAX_LIFETIME ||
	    !directory_consistent(d->dir)) {
		rc = PU_ERR_DIR_INVALID;
		goto fail;
	}
	return PU_OK;
fail:
	directory_free(d);
	return rc;
}

int
directory_load(struct directory *d, const uint8_t *data, size_t len,
    const uint8_t root_pk[32], int64_t now, uint64_t held_serial)
{
	int rc = directory_load_signed(d, data, len, root_pk);

	if (rc != PU_OK)
		return rc;
	if (d->dir->serial <= held_serial)
		rc = PU_ERR_DIR_OLDER;
	else if (d->dir->issued_at > now + PU_CLOCK_SKEW)
		rc = PU_ERR_DIR_NOT_YET_VALID;
	else if (now >= d->dir->expires_at)
		rc = PU_ERR_DIR_EXPIRED;
	if (rc != PU_OK)
		directory_free(d);
	return rc;
}

void
directory_free(struct directory *d)
{
	pb_free(d->dir);
	pb_free(d->signed_dir);
	d->dir = NULL;
	d->signed_dir = NULL;
}

int
directory_sign(const uint8_t *dir, size_t dir_len, const uint8_t root_sk[64],
    const uint8_t root_pk[32], uint8_t **out, size_t *out_len)
{
	Puente__SignedDirectory sd = PUENTE__SIGNED_DIRECTORY__INIT;
	uint8_t root_id[PU_KEY_ID_LEN], sig[PU_SIG_LEN];
	struct field f = { dir, dir_len };
	int rc;

	key_id_compute(root_id, PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING, root_pk);
	if ((rc = sig_sign(sig, root_sk, PU_CTX_DIRECTORY, &f, 1)) != PU_OK)
		return rc;
	sd.directory.data = (uint8_t *)dir;
	sd.directory.len = dir_len;
	sd.root_key_id.data = root_id;
	sd.root_key_id.len = sizeof(root_id);
	sd.signature.data = sig;
	sd.signature.len = sizeof(sig);
	return pb_encode(&sd.base, out, out_len);
}

const Puente__Agency *
directory_find_agency(const struct directory *d, const char *id)
{
	for (size_t i = 0; i < d->dir->n_agencies; i++)
		if (strcmp(d->dir->agencies[i]->id, id) == 0)
			return d->dir->agencies[i];
	return NULL;
}

const Puente__Key *
directory_find_key(const Puente__Agency *a, const uint8_t *key_id, size_t key_id_len,
    Puente__KeyPurpose purpose)
{
	if (key_id_len != PU_KEY_ID_LEN)
		return NULL;
	for (size_t i = 0; i < a->n_keys; i++)
		if (a->keys[i]->purpose == purpose &&
		    memcmp(a->keys[i]->key_id.data, key_id, PU_KEY_ID_LEN) == 0)
			return a->keys[i];
	return NULL;
}

int
directory_key_check(const Puente__Key *k, int64_t t)
{
	if (k->status == PUENTE__KEY_STATUS__KEY_STATUS_COMPROMISED && k->status_since <= t)
		return PU_ERR_KEY_COMPROMISED;
	if (k->status == PUENTE__KEY_STATUS__KEY_STATUS_RETIRED && k->status_since <= t)
		return PU_ERR_KEY_RETIRED;
	if (t < k->not_before)
		return PU_ERR_KEY_NOT_YET_VALID;
	if (t >= k->not_after)
		return PU_ERR_KEY_EXPIRED;
	return PU_OK;
}

const Puente__Key *
directory_current_key(const Puente__Agency *a, Puente__KeyPurpose purpose, int64_t now)
{
	const Puente__Key *best = NULL;

	for (size_t i = 0; i < a->n_keys; i++) {
		const Puente__Key *k = a->keys[i];
		if (k->purpose != purpose || k->status != PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE ||
		    directory_key_check(k, now) != PU_OK)
			continue;
		if (best == NULL || k->not_before > best->not_before)
			best = k;
	}
	return best;
}

int
directory_agency_check(const Puente__Agency *a)
{
	switch (a->status) {
	case PUENTE__AGENCY_STATUS__AGENCY_STATUS_ACTIVE:
		return PU_OK;
	case PUENTE__AGENCY_STATUS__AGENCY_STATUS_SUSPENDED:
		return PU_ERR_AGENCY_SUSPENDED;
	default:
		return PU_ERR_AGENCY_REVOKED;
	}
}

static int
type_listed(const Puente__MessageType *list, size_t n, int type)
{
	for (size_t i = 0; i < n; i++)
		if ((int)list[i] == type)
			return 1;
	return 0;
}

static const Puente__RolePolicy *
role_policy(const struct directory *d, Puente__Role role)
{
	for (size_t i = 0; i < d->dir->n_role_policies; i++)
		if (d->dir->role_policies[i]->role == role)
			return d->dir->role_policies[i];
	return NULL;
}

int
directory_may_send(const struct directory *d, const Puente__Agency *a, int type)
{
	const Puente__RolePolicy *rp = role_policy(d, a->role);

	if (rp == NULL || !type_listed(rp->may_send, rp->n_may_send, type))
		return 0;
	return a->n_may_send == 0 || type_listed(a->may_send, a->n_may_send, type);
}

int
directory_may_receive(const struct directory *d, const Puente__Agency *a, int type)
{
	const Puente__RolePolicy *rp = role_policy(d, a->role);

	if (rp == NULL || !type_listed(rp->may_receive, rp->n_may_receive, type))
		return 0;
	return a->n_may_receive == 0 || type_listed(a->may_receive, a->n_may_receive, type);
}
