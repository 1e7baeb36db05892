/* federation.c - the operations of puente-keys on a federation folder. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include "crypto.h"
#include "directory.h"
#include "federation.h"
#include "fsutil.h"
#include "ids.h"
#include "keyfile.h"
#include "pb.h"
#include "pu_err.h"
#include "x509.h"

#define N_TYPES 19	/* MessageType values 1..19; FEDERAL_DECISION (19) is federal only */

/* Format a path; PU_ERR_TOO_LARGE rather than a silently shortened one. */
static int __attribute__((format(printf, 3, 4)))
pathf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	return len >= 0 && (size_t)len < n ? PU_OK : PU_ERR_TOO_LARGE;
}

static int
path_join(char *out, size_t n, const char *a, const char *b)
{
	return pathf(out, n, "%s/%s", a, b);
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (p == NULL)
		abort();	/* allocation failure while editing: nothing written yet */
	return p;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		abort();
	return p;
}

const char *
role_name(Puente__Role role)
{
	switch (role) {
	case PUENTE__ROLE__ROLE_STATE: return "state";
	case PUENTE__ROLE__ROLE_FEDERAL: return "federal";
	case PUENTE__ROLE__ROLE_AUDITOR: return "auditor";
	case PUENTE__ROLE__ROLE_GATEWAY: return "gateway";
	default: return "unspecified";
	}
}

static Puente__RolePolicy *
policy_new(Puente__Role role, int n_send)
{
	Puente__RolePolicy *p = xcalloc(1, sizeof(*p));

	puente__role_policy__init(p);
	p->role = role;
	p->n_may_send = (size_t)n_send;
	p->may_send = xcalloc(N_TYPES, sizeof(*p->may_send));
	p->n_may_receive = N_TYPES;
	p->may_receive = xcalloc(N_TYPES, sizeof(*p->may_receive));
	for (int t = 1; t <= N_TYPES; t++) {
		if (t <= n_send)
			p->may_send[t - 1] = t;
		p->may_receive[t - 1] = t;
	}
	return p;
}

static Puente__Key *
key_new(Puente__KeyPurpose purpose, const uint8_t pk[32], int64_t now)
{
	Puente__Key *k = xcalloc(1, sizeof(*k));

	puente__key__init(k);
	k->purpose = purpose;
	k->public_key.data = xcalloc(1, 32);
	k->public_key.len = 32;
	memcpy(k->public_key.data, pk, 32);
	k->key_id.data = xcalloc(1, PU_KEY_ID_LEN);
	k->key_id.len = PU_KEY_ID_LEN;
	key_id_compute(k->key_id.data, purpose, pk);
	k->not_before = now - PU_CLOCK_SKEW;
	k->not_after = now + (int64_t)PU_KEY_DAYS * 86400;
	k->status = PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE;
	return k;
}

static void
agency_push_key(Puente__Agency *a, Puente__Key *k)
{
	Puente__Key **keys = realloc(a->keys, (a->n_keys + 1) * sizeof(*keys));

	if (keys == NULL)
		abort();
	keys[a->n_keys++] = k;
	a->keys = keys;
}

/* The auditor body and PFPNNA cosign the gateway's checkpoints (DESIGN.md §8). */
static int
role_witnesses(Puente__Role role)
{
	return role == PUENTE__ROLE__ROLE_AUDITOR || role == PUENTE__ROLE__ROLE_FEDERAL;
}

static void
witness_add(Puente__Directory *d, const char *id)
{
	char **list;

	for (size_t i = 0; i < d->n_witnesses; i++)
		if (strcmp(d->witnesses[i], id) == 0)
			return;
	if ((list = realloc(d->witnesses, (d->n_witnesses + 1) * sizeof(*list))) == NULL)
		abort();
	list[d->n_witnesses++] = xstrdup(id);
	d->witnesses = list;
}

static void
witness_remove(Puente__Directory *d, const char *id)
{
	size_t j = 0;

	for (size_t i = 0; i < d->n_witnesses; i++) {
		if (strcmp(d->witnesses[i], id) == 0)
			free(d->witnesses[i]);
		else
			d->witnesses[j++] = d->witnesses[i];
	}
	d->n_witnesses = j;
}

Puente__Agency *
federation_find(struct federation *f, const char *id)
{
	for (size_t i = 0; i < f->d->n_agencies; i++)
		if (strcmp(f->d->agencies[i]->id, id) == 0)
			return f->d->agencies[i];
	return NULL;
}

static int
write_text(const char *dir, const char *name, const char *text, mode_t mode, int how)
{
	char path[PATH_MAX];
	int rc = path_join(path, sizeof(path), dir, name);

	return rc == PU_OK ? file_write_atomic(path, text, strlen(text), mode, how) : rc;
}

static int
load_secret(struct federation *f, const char *name, Puente__SecretKind kind, struct secret_key *k)
{
	char path[PATH_MAX];
	int rc = path_join(path, sizeof(path), f->dir, name);

	return rc == PU_OK ? keyfile_load(path, f->passphrase, kind, k) : rc;
}

static int
load_ca(struct federation *f, EVP_PKEY **key, X509 **cert)
{
	struct secret_key k;
	char path[PATH_MAX];
	uint8_t *pem = NULL;
	size_t pem_len;
	int rc;

	*key = NULL;
	*cert = NULL;
	if ((rc = load_secret(f, "ca.key", PUENTE__SECRET_KIND__SECRET_KIND_PKCS8_DER, &k)) != PU_OK)
		return rc;
	rc = key_from_der(k.secret, k.secret_len, key);
	secret_key_clear(&k);
	if (rc == PU_OK && (rc = path_join(path, sizeof(path), f->dir, "ca.crt")) == PU_OK &&
	    (rc = file_read_all(path, 65536, &pem, &pem_len)) == PU_OK)
		rc = cert_from_pem((const char *)pem, pem_len, cert);
	free(pem);
	if (rc != PU_OK) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	return rc;
}

/* Copy the federation's public files into an agency folder. */
static int
agency_refresh(struct federation *f, const char *agency_dir, const uint8_t *dir_bytes,
    size_t dir_len)
{
	char src[PATH_MAX], dst[PATH_MAX];
	uint8_t *p;
	size_t n;
	int rc;

	if ((rc = path_join(dst, sizeof(dst), agency_dir, "directory.pb")) != PU_OK ||
	    (rc = file_write_atomic(dst, dir_bytes, dir_len, 0644, FILE_REPLACE)) != PU_OK)
		return rc;
	static const char *const copies[] = { "root.pub", "ca.crt" };
	for (size_t i = 0; i < 2; i++) {
		if ((rc = path_join(src, sizeof(src), f->dir, copies[i])) != PU_OK ||
		    (rc = path_join(dst, sizeof(dst), agency_dir, copies[i])) != PU_OK ||
		    (rc = file_read_all(src, 65536, &p, &n)) != PU_OK)
			return rc;
		rc = file_write_atomic(dst, p, n, 0644, FILE_REPLACE);
		free(p);
		if (rc != PU_OK)
			return rc;
	}
	return PU_OK;
}

static int
sign_and_write(struct federation *f, const uint8_t *root_sk, int days)
{
	char path[PATH_MAX];
	uint8_t *enc = NULL, *signed_dir = NULL;
	size_t enc_len, signed_len;
	struct directory check;
	int rc;

	f->d->serial++;
	f->d->issued_at = f->now;
	f->d->expires_at = f->now + (int64_t)days * 86400;
	if ((rc = pb_encode(&f->d->base, &enc, &enc_len)) != PU_OK)
		goto out;
	if ((rc = directory_sign(enc, enc_len, root_sk, f->root_pk, &signed_dir, &signed_len)) != PU_OK)
		goto out;
	/* What we publish must load as any reader would load it. */
	if ((rc = directory_load(&check, signed_dir, signed_len, f->root_pk, f->now,
	    f->d->serial - 1)) != PU_OK)
		goto out;
	directory_free(&check);
	if ((rc = path_join(path, sizeof(path), f->dir, "directory.pb")) != PU_OK ||
	    (rc = file_write_atomic(path, signed_dir, signed_len, 0644, FILE_REPLACE)) != PU_OK)
		goto out;
	for (size_t i = 0; i < f->d->n_agencies; i++) {
		char adir[PATH_MAX];
		struct stat st;
		if ((rc = pathf(adir, sizeof(adir), "%s/agencies/%s", f->dir,
		    f->d->agencies[i]->id)) != PU_OK)
			goto out;
		if (stat(adir, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (rc = agency_refresh(f, adir, signed_dir, signed_len)) != PU_OK)
			goto out;
	}
out:
	free(enc);
	free(signed_dir);
	return rc;
}

int
federation_publish(struct federation *f, int days)
{
	struct secret_key root;
	int rc;

	if (days < 1 || days * 86400 > PU_DIRECTORY_MAX_LIFETIME)
		return PU_ERR_ARG;
	if ((rc = load_secret(f, "root.key", PUENTE__SECRET_KIND__SECRET_KIND_ED25519, &root)) != PU_OK)
		return rc;
	if (sodium_memcmp(root.public_key, f->root_pk, 32) != 0)
		rc = PU_ERR_KEY_FILE;
	else
		rc = sign_and_write(f, root.secret, days);
	secret_key_clear(&root);
	return rc;
}

static int
root_pub_read(const char *dir, uint8_t pk[32])
{
	char path[PATH_MAX];
	uint8_t *text;
	size_t len, bin_len;
	int rc;

	if ((rc = path_join(path, sizeof(path), dir, "root.pub")) != PU_OK ||
	    (rc = file_read_all(path, 256, &text, &len)) != PU_OK)
		return rc;
	rc = sodium_hex2bin(pk, 32, (const char *)text, len, " \n", &bin_len, NULL) == 0 &&
	    bin_len == 32 ? PU_OK : PU_ERR_KEY_FILE;
	free(text);
	return rc;
}

int
federation_open(struct federation *f, const char *dir, const char *passphrase, int64_t now)
{
	char path[PATH_MAX];
	struct directory cur;
	uint8_t *bytes;
	size_t len;
	int rc;

	memset(f, 0, sizeof(*f));
	if (pathf(f->dir, sizeof(f->dir), "%s", dir) != PU_OK)
		return PU_ERR_TOO_LARGE;
	f->now = now;
	f->passphrase = passphrase;
	if ((rc = root_pub_read(dir, f->root_pk)) != PU_OK)
		return rc;
	if ((rc = path_join(path, sizeof(path), dir, "directory.pb")) != PU_OK ||
	    (rc = file_read_all(path, 8u << 20, &bytes, &len)) != PU_OK)
		return rc;
	rc = directory_load_signed(&cur, bytes, len, f->root_pk);
	free(bytes);
	if (rc != PU_OK)
		return rc;
	/* A private, malloc-owned copy to edit. */
	f->d = puente__directory__unpack(NULL, cur.signed_dir->directory.len,
	    cur.signed_dir->directory.data);
	directory_free(&cur);
	return f->d != NULL ? PU_OK : PU_ERR_NOMEM;
}

void
federation_close(struct federation *f)
{
	if (f->d != NULL)
		protobuf_c_message_free_unpacked(&f->d->base, NULL);
	f->d = NULL;
}

int
federation_init(const char *dir, const char *name, const char *passphrase, int64_t now)
{
	static const char *const made[] = { "root.key", "root.pub", "ca.key", "ca.crt", "directory.pb" };
	struct federation f;
	struct secret_key root = { 0 }, ca = { 0 };
	Puente__RolePolicy *pol[2];
	EVP_PKEY *ca_key = NULL;
	X509 *ca_cert = NULL;
	char path[PATH_MAX], hex[66], *pem = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0, pem_len;
	int rc;

	if (name == NULL || name[0] == '\0' || strlen(name) > 200)
		return PU_ERR_USAGE;
	if ((rc = dir_ensure(dir, 0700)) != PU_OK)
		return rc;
	/* Refuse before writing anything: an existing federation is never overwritten. */
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		if ((rc = path_join(path, sizeof(path), dir, made[i])) != PU_OK)
			return rc;
		if (access(path, F_OK) == 0)
			return PU_ERR_EXISTS;
	}
	memset(&f, 0, sizeof(f));
	if ((rc = pathf(f.dir, sizeof(f.dir), "%s", dir)) != PU_OK)
		return rc;
	f.now = now;
	f.passphrase = passphrase;
	if ((rc = secret_key_generate(&root, PUENTE__SECRET_KIND__SECRET_KIND_ED25519, "",
	    PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING, now)) != PU_OK)
		goto out;
	memcpy(f.root_pk, root.public_key, 32);
	if ((rc = tls_key_generate(&ca_key)) != PU_OK ||
	    (rc = ca_create(name, ca_key, now, &ca_cert)) != PU_OK ||
	    (rc = key_to_der(ca_key, &der, &der_len)) != PU_OK ||
	    (rc = secret_key_from_bytes(&ca, PUENTE__SECRET_KIND__SECRET_KIND_PKCS8_DER, der,
	    der_len, now)) != PU_OK ||
	    (rc = pem_from_cert(ca_cert, &pem, &pem_len)) != PU_OK)
		goto out;
	f.d = xcalloc(1, sizeof(*f.d));
	puente__directory__init(f.d);
	f.d->version = PU_DIRECTORY_VERSION;
	f.d->federation = xstrdup(name);
	f.d->ca_cert_sha256.data = xcalloc(1, 32);
	f.d->ca_cert_sha256.len = 32;
	if ((rc = cert_sha256(ca_cert, f.d->ca_cert_sha256.data)) != PU_OK)
		goto out;
	pol[0] = policy_new(PUENTE__ROLE__ROLE_STATE, N_TYPES - 1);
	pol[1] = policy_new(PUENTE__ROLE__ROLE_FEDERAL, N_TYPES);
	f.d->n_role_policies = 2;
	f.d->role_policies = xcalloc(2, sizeof(*pol));
	memcpy(f.d->role_policies, pol, sizeof(pol));
	sodium_bin2hex(hex, sizeof(hex), root.public_key, 32);
	strcat(hex, "\n");
	if ((rc = path_join(path, sizeof(path), dir, "root.key")) != PU_OK ||
	    (rc = keyfile_save(path, &root, passphrase, FILE_CREATE)) != PU_OK ||
	    (rc = write_text(dir, "root.pub", hex, 0644, FILE_CREATE)) != PU_OK ||
	    (rc = path_join(path, sizeof(path), dir, "ca.key")) != PU_OK ||
	    (rc = keyfile_save(path, &ca, passphrase, FILE_CREATE)) != PU_OK ||
	    (rc = write_text(dir, "ca.crt", pem, 0644, FILE_CREATE)) != PU_OK ||
	    (rc = path_join(path, sizeof(path), dir, "agencies")) != PU_OK ||
	    (rc = dir_ensure(path, 0700)) != PU_OK)
		goto out;
	rc = sign_and_write(&f, root.secret, PU_DIRECTORY_MAX_LIFETIME / 86400);
out:
	if (rc != PU_OK) {
		/* Leave no half federation behind: remove what this call created. */
		for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
			if (path_join(path, sizeof(path), dir, made[i]) == PU_OK)
				unlink(path);
	}
	federation_close(&f);
	secret_key_clear(&root);
	secret_key_clear(&ca);
	secret_free(der);
	free(pem);
	EVP_PKEY_free(ca_key);
	X509_free(ca_cert);
	return rc;
}

/* Remove a folder this program filled (regular files only, one level). */
static void
dir_remove(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
		    (e->d_name[1] == '.' && e->d_name[2] == '\0')))
			continue;
		if (path_join(p, sizeof(p), path, e->d_name) == PU_OK)
			unlink(p);
	}
	closedir(d);
	rmdir(path);
}

static int
dir_is_empty_or_absent(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (d == NULL)
		return errno == ENOENT;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	return empty;
}

/* Generate an Ed25519/X25519 key, save it in folder as name, list it in the agency entry. */
static int
agency_new_key(struct federation *f, Puente__Agency *a, const char *folder, const char *name,
    Puente__SecretKind kind, Puente__KeyPurpose purpose)
{
	struct secret_key k;
	char path[PATH_MAX];
	int rc;

	if ((rc = secret_key_generate(&k, kind, a->id, purpose, f->now)) != PU_OK)
		return rc;
	if ((rc = path_join(path, sizeof(path), folder, name)) == PU_OK &&
	    (rc = keyfile_save(path, &k, NULL, FILE_CREATE)) == PU_OK)
		agency_push_key(a, key_new(purpose, k.public_key, f->now));
	secret_key_clear(&k);
	return rc;
}

/* A TLS key and certificate in folder, and its SPKI pin in the agency entry. */
static int
agency_new_tls(struct federation *f, Puente__Agency *a, const char *folder, int days,
    int replace)
{
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca_cert = NULL, *cert = NULL;
	char path[PATH_MAX], *pem = NULL;
	size_t pem_len;
	uint8_t pin[32];
	int rc;

	if ((rc = load_ca(f, &ca_key, &ca_cert)) != PU_OK ||
	    (rc = tls_key_generate(&key)) != PU_OK ||
	    (rc = cert_issue(ca_key, ca_cert, key, a->id, a->role == PUENTE__ROLE__ROLE_GATEWAY,
	    f->now, days, &cert)) != PU_OK ||
	    (rc = spki_sha256(key, pin)) != PU_OK ||
	    (rc = pem_from_key(key, &pem, &pem_len)) != PU_OK ||
	    (rc = path_join(path, sizeof(path), folder, replace ? "tls.key.new" : "tls.key")) != PU_OK ||
	    (rc = file_write_atomic(path, pem, pem_len, 0600, FILE_CREATE)) != PU_OK)
		goto out;
	OPENSSL_cleanse(pem, pem_len);
	free(pem);
	pem = NULL;
	if ((rc = pem_from_cert(cert, &pem, &pem_len)) != PU_OK ||
	    (rc = path_join(path, sizeof(path), folder, replace ? "tls.crt.new" : "tls.crt")) != PU_OK ||
	    (rc = file_write_atomic(path, pem, pem_len, 0644, FILE_CREATE)) != PU_OK)
		goto out;
	agency_push_key(a, key_new(PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS, pin, f->now));
out:
	if (pem != NULL) {
		OPENSSL_cleanse(pem, pem_len);
		free(pem);
	}
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	X509_free(ca_cert);
	X509_free(cert);
	return rc;
}

static int
agency_write_conf(const char *folder, const Puente__Agency *a)
{
	char conf[512];

	snprintf(conf, sizeof(conf), "# Written by puente-keys add-agency.\nagency_id %s\nrole %s\n",
	    a->id, role_name(a->role));
	return write_text(folder, "agency.conf", conf, 0644, FILE_CREATE);
}

int
federation_add_agency(struct federation *f, const struct agency_spec *spec, char *out_dir,
    size_t out_len)
{
	char staging[PATH_MAX], state[4];
	Puente__Agency *a;
	int rc;

	if ((rc = agency_id_state(spec->id, state)) != PU_OK)
		return rc;
	if (spec->name == NULL || spec->name[0] == '\0' || strlen(spec->name) > 200 ||
	    spec->role == PUENTE__ROLE__ROLE_UNSPECIFIED)
		return PU_ERR_USAGE;
	if ((spec->role == PUENTE__ROLE__ROLE_FEDERAL) != (strcmp(state, "FED") == 0) &&
	    spec->role != PUENTE__ROLE__ROLE_AUDITOR && spec->role != PUENTE__ROLE__ROLE_GATEWAY)
		return PU_ERR_AGENCY_ID;	/* a state agency under MX-FED, or federal under a state */
	if (federation_find(f, spec->id) != NULL)
		return PU_ERR_AGENCY_EXISTS;
	if (spec->out_dir != NULL)
		rc = pathf(out_dir, out_len, "%s", spec->out_dir);
	else
		rc = pathf(out_dir, out_len, "%s/agencies/%s", f->dir, spec->id);
	if (rc != PU_OK)
		return rc;
	if (!dir_is_empty_or_absent(out_dir))
		return PU_ERR_EXISTS;
	/* Build the folder beside its final place, move it in only when complete. */
	if (pathf(staging, sizeof(staging), "%s.tmp-XXXXXX", out_dir) != PU_OK)
		return PU_ERR_TOO_LARGE;
	if (mkdtemp(staging) == NULL)
		return errno == ENOENT ? PU_ERR_NOT_FOUND : PU_ERR_IO;

	a = xcalloc(1, sizeof(*a));
	puente__agency__init(a);
	a->id = xstrdup(spec->id);
	a->role = spec->role;
	a->state = xstrdup(state);
	a->name = xstrdup(spec->name);
	a->status = PUENTE__AGENCY_STATUS__AGENCY_STATUS_ACTIVE;
	a->status_since = f->now;
	if (spec->role == PUENTE__ROLE__ROLE_GATEWAY) {
		char origin[128];
		snprintf(origin, sizeof(origin), "puente/%s", spec->id);
		a->origin = xstrdup(origin);
		a->address = xstrdup(spec->address);
		rc = agency_new_key(f, a, staging, "receipt.key", PUENTE__SECRET_KIND__SECRET_KIND_ED25519,
		    PUENTE__KEY_PURPOSE__KEY_PURPOSE_RECEIPT);
		if (rc == PU_OK)
			rc = agency_new_key(f, a, staging, "checkpoint.key",
			    PUENTE__SECRET_KIND__SECRET_KIND_ED25519, PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT);
	} else {
		rc = agency_new_key(f, a, staging, "signing.key", PUENTE__SECRET_KIND__SECRET_KIND_ED25519,
		    PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING);
		/* Auditors never receive case messages: they have no encryption key. */
		if (rc == PU_OK && spec->role != PUENTE__ROLE__ROLE_AUDITOR)
			rc = agency_new_key(f, a, staging, "encryption.key",
			    PUENTE__SECRET_KIND__SECRET_KIND_X25519, PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION);
		if (rc == PU_OK && role_witnesses(spec->role))
			rc = agency_new_key(f, a, staging, "witness.key",
			    PUENTE__SECRET_KIND__SECRET_KIND_ED25519, PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT);
	}
	if (rc == PU_OK)
		rc = agency_new_tls(f, a, staging, spec->cert_days, 0);
	if (rc == PU_OK)
		rc = agency_write_conf(staging, a);
	if (rc != PU_OK) {
		protobuf_c_message_free_unpacked(&a->base, NULL);
		dir_remove(staging);
		return rc;
	}
	Puente__Agency **list = realloc(f->d->agencies, (f->d->n_agencies + 1) * sizeof(*list));
	if (list == NULL)
		abort();
	list[f->d->n_agencies++] = a;
	f->d->agencies = list;
	if (role_witnesses(a->role))
		witness_add(f->d, a->id);
	rmdir(out_dir);	/* an empty folder the operator prepared */
	if (rename(staging, out_dir) != 0) {
		dir_remove(staging);
		return PU_ERR_IO;
	}
	if ((rc = federation_publish(f, PU_DIRECTORY_MAX_LIFETIME / 86400)) != PU_OK) {
		dir_remove(out_dir);
		return rc;
	}
	if (spec->out_dir != NULL) {
		/* Outside DIR/agencies the refresh above did not reach it. */
		char path[PATH_MAX];
		uint8_t *bytes;
		size_t len;
		if ((rc = path_join(path, sizeof(path), f->dir, "directory.pb")) == PU_OK &&
		    (rc = file_read_all(path, 8u << 20, &bytes, &len)) == PU_OK) {
			rc = agency_refresh(f, out_dir, bytes, len);
			free(bytes);
		}
	}
	return rc;
}

static int
agency_folder(struct federation *f, const char *id, char *out, size_t n)
{
	return pathf(out, n, "%s/agencies/%s", f->dir, id);
}

/* Retire the active keys of a purpose from a time on. */
static void
retire_keys(Puente__Agency *a, Puente__KeyPurpose purpose, int64_t since, const uint8_t *keep)
{
	for (size_t i = 0; i < a->n_keys; i++) {
		Puente__Key *k = a->keys[i];
		if (k->purpose == purpose && k->status == PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE &&
		    (keep == NULL || memcmp(k->key_id.data, keep, PU_KEY_ID_LEN) != 0)) {
			k->status = PUENTE__KEY_STATUS__KEY_STATUS_RETIRED;
			k->status_since = since;
		}
	}
}

/* Move folder/name to folder/<stem>-<key id>.key (old keys stay to open queued messages). */
static int
archive_key(const char *folder, const char *name)
{
	char from[PATH_MAX], to[PATH_MAX], hex[33], stem[64];
	struct secret_key k;
	Puente__SecretKind kind = strcmp(name, "encryption.key") == 0 ?
	    PUENTE__SECRET_KIND__SECRET_KIND_X25519 : PUENTE__SECRET_KIND__SECRET_KIND_ED25519;
	int rc;

	if ((rc = path_join(from, sizeof(from), folder, name)) != PU_OK ||
	    (rc = keyfile_load(from, NULL, kind, &k)) != PU_OK)
		return rc;
	sodium_bin2hex(hex, sizeof(hex), k.key_id, 16);
	secret_key_clear(&k);
	snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(name) - 4), name);
	if ((rc = pathf(to, sizeof(to), "%s/%s-%s.key", folder, stem, hex)) != PU_OK)
		return rc;
	/* link + unlink, not rename: never replace an archived key of the same name. */
	if (link(from, to) != 0)
		return errno == EEXIST ? PU_ERR_EXISTS : PU_ERR_IO;
	return unlink(from) == 0 ? PU_OK : PU_ERR_IO;
}

static int
promote(const char *folder, const char *name)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (pathf(from, sizeof(from), "%s/%s.new", folder, name) != PU_OK ||
	    pathf(to, sizeof(to), "%s/%s", folder, name) != PU_OK)
		return PU_ERR_TOO_LARGE;
	return rename(from, to) == 0 ? PU_OK : PU_ERR_IO;
}

int
federation_rotate(struct federation *f, const char *id, int overlap_days)
{
	Puente__Agency *a = federation_find(f, id);
	const char *names[3];
	Puente__KeyPurpose purposes[3];
	Puente__SecretKind kinds[3];
	char folder[PATH_MAX], newname[64];
	size_t n = 0, before;
	int rc, had_witness = 0;

	if (a == NULL)
		return PU_ERR_AGENCY_UNKNOWN;
	if (a->status == PUENTE__AGENCY_STATUS__AGENCY_STATUS_REVOKED)
		return PU_ERR_AGENCY_FINAL;
	if (overlap_days < 0 || overlap_days > 90)
		return PU_ERR_USAGE;
	if ((rc = agency_folder(f, id, folder, sizeof(folder))) != PU_OK)
		return rc;
	if (a->role == PUENTE__ROLE__ROLE_GATEWAY) {
		names[n] = "receipt.key", purposes[n] = PUENTE__KEY_PURPOSE__KEY_PURPOSE_RECEIPT;
		kinds[n++] = PUENTE__SECRET_KIND__SECRET_KIND_ED25519;
		names[n] = "checkpoint.key", purposes[n] = PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT;
		kinds[n++] = PUENTE__SECRET_KIND__SECRET_KIND_ED25519;
	} else {
		names[n] = "signing.key", purposes[n] = PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING;
		kinds[n++] = PUENTE__SECRET_KIND__SECRET_KIND_ED25519;
		if (a->role != PUENTE__ROLE__ROLE_AUDITOR) {
			names[n] = "encryption.key", purposes[n] = PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION;
			kinds[n++] = PUENTE__SECRET_KIND__SECRET_KIND_X25519;
		}
		if (role_witnesses(a->role)) {
			names[n] = "witness.key", purposes[n] = PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT;
			kinds[n++] = PUENTE__SECRET_KIND__SECRET_KIND_ED25519;
			/*
			 * An auditor or PFPNNA added before witnesses existed has no witness key:
			 * this rotation gives it its first one and makes it a witness.
			 */
			for (size_t i = 0; i < a->n_keys; i++)
				had_witness |= a->keys[i]->purpose ==
				    PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT;
			witness_add(f->d, a->id);
		}
	}
	before = a->n_keys;
	for (size_t i = 0; i < n; i++) {
		retire_keys(a, purposes[i], f->now + (int64_t)overlap_days * 86400, NULL);
		snprintf(newname, sizeof(newname), "%s.new", names[i]);
		if ((rc = agency_new_key(f, a, folder, newname, kinds[i], purposes[i])) != PU_OK)
			goto undo;
	}
	if ((rc = federation_publish(f, PU_DIRECTORY_MAX_LIFETIME / 86400)) != PU_OK)
		goto undo;
	for (size_t i = 0; i < n && rc == PU_OK; i++) {
		if (strcmp(names[i], "witness.key") != 0 || had_witness)
			rc = archive_key(folder, names[i]);
		if (rc == PU_OK)
			rc = promote(folder, names[i]);
	}
	return rc;
undo:
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		if (pathf(path, sizeof(path), "%s/%s.new", folder, names[i]) == PU_OK)
			unlink(path);
	}
	(void)before;
	return rc;
}

int
federation_renew_cert(struct federation *f, const char *id, int days, int new_key)
{
	Puente__Agency *a = federation_find(f, id);
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca_cert = NULL, *cert = NULL;
	char folder[PATH_MAX], path[PATH_MAX], *pem = NULL;
	uint8_t *key_pem = NULL, pin[32];
	size_t pem_len, key_len = 0;
	int rc;

	if (a == NULL)
		return PU_ERR_AGENCY_UNKNOWN;
	if (a->status == PUENTE__AGENCY_STATUS__AGENCY_STATUS_REVOKED)
		return PU_ERR_AGENCY_FINAL;
	if (days < 1 || days > PU_CERT_MAX_DAYS)
		return PU_ERR_USAGE;
	if ((rc = agency_folder(f, id, folder, sizeof(folder))) != PU_OK)
		return rc;
	if (new_key) {
		/* A new TLS key: new pin, the old one retired at once (sessions must reconnect). */
		uint8_t old_pin_id[PU_KEY_ID_LEN] = { 0 };
		retire_keys(a, PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS, f->now, NULL);
		(void)old_pin_id;
		if ((rc = agency_new_tls(f, a, folder, days, 1)) != PU_OK)
			goto out;
		if ((rc = federation_publish(f, PU_DIRECTORY_MAX_LIFETIME / 86400)) != PU_OK) {
			if (pathf(path, sizeof(path), "%s/tls.key.new", folder) == PU_OK)
				unlink(path);
			if (pathf(path, sizeof(path), "%s/tls.crt.new", folder) == PU_OK)
				unlink(path);
			goto out;
		}
		if ((rc = promote(folder, "tls.key")) == PU_OK)
			rc = promote(folder, "tls.crt");
		goto out;
	}
	/* Same key, same pin: only the certificate changes; the directory does not. */
	if ((rc = path_join(path, sizeof(path), folder, "tls.key")) != PU_OK ||
	    (rc = file_check_secret(path)) != PU_OK ||
	    (rc = file_read_all(path, 65536, &key_pem, &key_len)) != PU_OK ||
	    (rc = key_from_pem((const char *)key_pem, key_len, &key)) != PU_OK ||
	    (rc = spki_sha256(key, pin)) != PU_OK)
		goto out;
	{
		uint8_t pin_id[PU_KEY_ID_LEN];
		const Puente__Key *k;
		key_id_compute(pin_id, PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS, pin);
		k = NULL;
		for (size_t i = 0; i < a->n_keys; i++)
			if (a->keys[i]->purpose == PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS &&
			    memcmp(a->keys[i]->key_id.data, pin_id, PU_KEY_ID_LEN) == 0)
				k = a->keys[i];
		if (k == NULL || k->status != PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE) {
			rc = PU_ERR_UNKNOWN_KEY;	/* tls.key is not the pinned key */
			goto out;
		}
	}
	if ((rc = load_ca(f, &ca_key, &ca_cert)) != PU_OK ||
	    (rc = cert_issue(ca_key, ca_cert, key, a->id, a->role == PUENTE__ROLE__ROLE_GATEWAY,
	    f->now, days, &cert)) != PU_OK ||
	    (rc = pem_from_cert(cert, &pem, &pem_len)) != PU_OK ||
	    (rc = path_join(path, sizeof(path), folder, "tls.crt")) != PU_OK)
		goto out;
	rc = file_write_atomic(path, pem, pem_len, 0644, FILE_REPLACE);
out:
	if (key_pem != NULL) {
		OPENSSL_cleanse(key_pem, key_len);
		free(key_pem);
	}
	free(pem);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	X509_free(ca_cert);
	X509_free(cert);
	return rc;
}

int
federation_set_status(struct federation *f, const char *id, Puente__AgencyStatus status)
{
	Puente__Agency *a = federation_find(f, id);

	if (a == NULL)
		return PU_ERR_AGENCY_UNKNOWN;
	if (a->status == PUENTE__AGENCY_STATUS__AGENCY_STATUS_REVOKED)
		return PU_ERR_AGENCY_FINAL;
	if (a->status == status)
		return PU_OK;	/* nothing to change, no new serial */
	a->status = status;
	a->status_since = f->now;
	/*
	 * A revoked witness cosigns no more: off the list, for good. A suspended one stays
	 * listed (it may be reinstated); its status keeps it out of the gateway meanwhile.
	 */
	if (status == PUENTE__AGENCY_STATUS__AGENCY_STATUS_REVOKED)
		witness_remove(f->d, id);
	return federation_publish(f, PU_DIRECTORY_MAX_LIFETIME / 86400);
}

int
federation_compromise_key(struct federation *f, const char *id, const uint8_t key_id[16],
    int64_t since)
{
	Puente__Agency *a = federation_find(f, id);

	if (a == NULL)
		return PU_ERR_AGENCY_UNKNOWN;
	for (size_t i = 0; i < a->n_keys; i++) {
		Puente__Key *k = a->keys[i];
		if (memcmp(k->key_id.data, key_id, PU_KEY_ID_LEN) != 0)
			continue;
		/* An earlier compromise time stays: it only ever moves back. */
		if (k->status == PUENTE__KEY_STATUS__KEY_STATUS_COMPROMISED && k->status_since <= since)
			return PU_OK;
		k->status = PUENTE__KEY_STATUS__KEY_STATUS_COMPROMISED;
		k->status_since = since;
		return federation_publish(f, PU_DIRECTORY_MAX_LIFETIME / 86400);
	}
	return PU_ERR_UNKNOWN_KEY;
}
