/* agency.c - an agency folder: configuration, keys, directory, gateway address. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "agency.h"
#include "fsutil.h"
#include "ids.h"
#include "pu_err.h"

#define CONF_MAX (64u * 1024)
#define PASSPHRASE_MAX 256

int
agency_path(const struct agency *a, const char *name, char *out, size_t n)
{
	int w = snprintf(out, n, "%s/%s", a->dir, name);

	return w >= 0 && (size_t)w < n ? PU_OK : PU_ERR_TOO_LARGE;
}

static int
fail(char *detail, size_t n, int rc, const char *what, const char *why)
{
	if (n > 0)
		snprintf(detail, n, "%s: %s", what, why != NULL ? why : pu_err_message(rc));
	return rc;
}

/* "host:port" or "[v6]:port" into the agency's gateway address. */
static int
parse_address(struct agency *a, const char *s)
{
	const char *colon = strrchr(s, ':'), *host = s;
	size_t host_len;

	if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= sizeof(a->gw_port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return PU_ERR_CONFIG;
	host_len = (size_t)(colon - s);
	if (host_len >= 2 && s[0] == '[' && s[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len >= sizeof(a->gw_host))
		return PU_ERR_CONFIG;
	memcpy(a->gw_host, host, host_len);
	a->gw_host[host_len] = '\0';
	snprintf(a->gw_port, sizeof(a->gw_port), "%s", colon + 1);
	return PU_OK;
}

/*
 * agency.conf: "key value" lines, # comments. puente-keys writes agency_id and role; an
 * operator may add "gateway HOST:PORT" to use another address than the directory's.
 */
static int
conf_load(struct agency *a, char *conf_id, size_t id_len, char *detail, size_t n)
{
	char path[AGENCY_PATH_MAX + 16], where[AGENCY_PATH_MAX + 64], *line, *save = NULL;
	uint8_t *text;
	size_t len;
	unsigned lineno = 0;
	int rc;

	if ((rc = agency_path(a, "agency.conf", path, sizeof(path))) != PU_OK ||
	    (rc = file_read_all(path, CONF_MAX, &text, &len)) != PU_OK)
		return fail(detail, n, rc == PU_ERR_NOT_FOUND ? PU_ERR_CONFIG : rc, path,
		    rc == PU_ERR_NOT_FOUND ? "missing (is this an agency folder?)" : NULL);
	text[len] = '\0';	/* file_read_all leaves room for it */
	rc = PU_OK;
	for (line = strtok_r((char *)text, "\n", &save); line != NULL && rc == PU_OK;
	    line = strtok_r(NULL, "\n", &save)) {
		char *key, *value, *end;
		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		key = line + strspn(line, " \t\r");
		if (*key == '#' || *key == '\0')
			continue;
		value = key + strcspn(key, " \t");
		if (*value != '\0')
			*value++ = '\0';
		value += strspn(value, " \t");
		end = value + strlen(value);
		while (end > value && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (strcmp(key, "agency_id") == 0)
			snprintf(conf_id, id_len, "%s", value);
		else if (strcmp(key, "role") == 0)
			continue;
		else if (strcmp(key, "gateway") == 0) {
			if (parse_address(a, value) != PU_OK)
				rc = fail(detail, n, PU_ERR_CONFIG, where,
				    "gateway: expected HOST:PORT");
		} else
			rc = fail(detail, n, PU_ERR_CONFIG, where, "unknown key (known: agency_id, "
			    "role, gateway)");
	}
	free(text);
	return rc;
}

/* Read a passphrase from the terminal without echo; never from a pipe. */
static int
prompt_passphrase(const char *what, char *out, size_t n)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), echo_off = 0;
	size_t len = 0;
	char ch;

	if (fd < 0)
		return PU_ERR_PASSPHRASE;
	dprintf(fd, "Passphrase for %s: ", what);
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	while (read(fd, &ch, 1) == 1 && ch != '\n' && ch != '\r')
		if (len + 1 < n)
			out[len++] = ch;
	out[len] = '\0';
	if (echo_off)
		tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	return PU_OK;
}

struct pass {
	const char *given;
	char *typed;		/* secret memory, once prompted */
};

static int
key_load(struct agency *a, const char *name, Puente__SecretKind kind, struct pass *p,
    struct secret_key *k, char *detail, size_t n)
{
	char path[AGENCY_PATH_MAX + 64];
	const char *pass = NULL;
	int rc;

	if ((rc = agency_path(a, name, path, sizeof(path))) != PU_OK)
		return fail(detail, n, rc, name, NULL);
	if (keyfile_is_sealed(path)) {
		pass = p->given != NULL ? p->given : getenv("PUENTE_PASSPHRASE");
		if (pass == NULL && p->typed == NULL) {
			if ((p->typed = secret_alloc(PASSPHRASE_MAX)) == NULL)
				return PU_ERR_NOMEM;
			if (prompt_passphrase(a->dir, p->typed, PASSPHRASE_MAX) != PU_OK)
				return fail(detail, n, PU_ERR_PASSPHRASE, path, "sealed: set "
				    "PUENTE_PASSPHRASE or run on a terminal");
		}
		if (pass == NULL)
			pass = p->typed;
	}
	if ((rc = keyfile_load(path, pass, kind, k)) != PU_OK)
		return fail(detail, n, rc, path, NULL);
	if (strcmp(k->agency_id, a->id) != 0)
		return fail(detail, n, PU_ERR_KEY_FILE, path, "belongs to another agency");
	return PU_OK;
}

/* The current encryption key, then rotated ones kept as encryption-KEYID.key. */
static int
enc_keys_load(struct agency *a, struct pass *p, char *detail, size_t n)
{
	DIR *dh;
	struct dirent *e;
	int rc;

	if ((rc = key_load(a, "encryption.key", PUENTE__SECRET_KIND__SECRET_KIND_X25519, p,
	    &a->enc[0], detail, n)) != PU_OK)
		return rc;
	a->n_enc = 1;
	if ((dh = opendir(a->dir)) == NULL)
		return fail(detail, n, PU_ERR_IO, a->dir, "cannot list");
	while ((e = readdir(dh)) != NULL && a->n_enc < AGENCY_MAX_ENC_KEYS) {
		size_t len = strlen(e->d_name);
		if (len <= 15 || strncmp(e->d_name, "encryption-", 11) != 0 ||
		    strcmp(e->d_name + len - 4, ".key") != 0)
			continue;
		if ((rc = key_load(a, e->d_name, PUENTE__SECRET_KIND__SECRET_KIND_X25519, p,
		    &a->enc[a->n_enc], detail, n)) != PU_OK)
			break;
		a->n_enc++;
	}
	closedir(dh);
	return rc;
}

static int
root_load(struct agency *a, char *detail, size_t n)
{
	char path[AGENCY_PATH_MAX + 16];
	uint8_t *text;
	size_t len, bin;
	int rc;

	if ((rc = agency_path(a, "root.pub", path, sizeof(path))) != PU_OK ||
	    (rc = file_read_all(path, 256, &text, &len)) != PU_OK)
		return fail(detail, n, rc, "root.pub", NULL);
	rc = sodium_hex2bin(a->root_pk, sizeof(a->root_pk), (const char *)text, len, " \r\n",
	    &bin, NULL) == 0 && bin == sizeof(a->root_pk) ? PU_OK : PU_ERR_KEY_FILE;
	free(text);
	return rc == PU_OK ? PU_OK : fail(detail, n, rc, path, "not a hex Ed25519 public key");
}

static int
directory_read(struct agency *a, int64_t now, char *detail, size_t n)
{
	char path[AGENCY_PATH_MAX + 16];
	uint8_t *data;
	size_t len;
	int rc;

	if ((rc = agency_path(a, "directory.pb", path, sizeof(path))) != PU_OK ||
	    (rc = file_read_all(path, AGENCY_DIRECTORY_MAX, &data, &len)) != PU_OK)
		return fail(detail, n, rc, "directory.pb", NULL);
	rc = directory_load(&a->d, data, len, a->root_pk, now, 0);
	/* Expired, but the root's: puente_open asks the gateway for a newer one with it. */
	if (rc == PU_ERR_DIR_EXPIRED && directory_load_signed(&a->d, data, len, a->root_pk) ==
	    PU_OK) {
		a->dir_expired = 1;
		rc = PU_OK;
	}
	free(data);
	return rc == PU_OK ? PU_OK : fail(detail, n, rc, path, NULL);
}

/* Without a "gateway" line: the first active gateway of the directory that has an address. */
static int
gateway_from_directory(struct agency *a, char *detail, size_t n)
{
	for (size_t i = 0; i < a->d.dir->n_agencies; i++) {
		const Puente__Agency *g = a->d.dir->agencies[i];
		if (g->role != PUENTE__ROLE__ROLE_GATEWAY || g->address[0] == '\0' ||
		    directory_agency_check(g) != PU_OK)
			continue;
		if (parse_address(a, g->address) != PU_OK)
			return fail(detail, n, PU_ERR_DIR_INVALID, g->id, "address is not HOST:PORT");
		return PU_OK;
	}
	return fail(detail, n, PU_ERR_CONFIG, "directory.pb", "lists no gateway address (add "
	    "\"gateway HOST:PORT\" to agency.conf)");
}

int
agency_load(struct agency *a, const char *dir, const char *passphrase, int64_t now,
    char *detail, size_t n)
{
	struct pass p = { passphrase, NULL };
	char conf_id[64] = "";
	const Puente__Agency *me;
	int rc;

	memset(a, 0, sizeof(*a));
	if (strlen(dir) >= sizeof(a->dir) - 64)
		return fail(detail, n, PU_ERR_TOO_LARGE, "agency folder", "path too long");
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	if ((rc = conf_load(a, conf_id, sizeof(conf_id), detail, n)) != PU_OK)
		goto fail;
	if (agency_id_check(conf_id) != PU_OK) {
		rc = fail(detail, n, PU_ERR_CONFIG, "agency.conf", "agency_id missing or malformed");
		goto fail;
	}
	snprintf(a->id, sizeof(a->id), "%s", conf_id);
	if ((rc = root_load(a, detail, n)) != PU_OK ||
	    (rc = directory_read(a, now, detail, n)) != PU_OK)
		goto fail;
	if ((me = directory_find_agency(&a->d, a->id)) == NULL) {
		rc = fail(detail, n, PU_ERR_AGENCY_UNKNOWN, a->id, "not in the directory");
		goto fail;
	}
	if (me->role != PUENTE__ROLE__ROLE_STATE && me->role != PUENTE__ROLE__ROLE_FEDERAL &&
	    me->role != PUENTE__ROLE__ROLE_AUDITOR) {
		rc = fail(detail, n, PU_ERR_POLICY, a->id, "only state and federal agencies and "
		    "auditors use the puente command");
		goto fail;
	}
	/* Auditors have no encryption key: they never receive case content. */
	a->role = me->role;
	if ((rc = key_load(a, "signing.key", PUENTE__SECRET_KIND__SECRET_KIND_ED25519, &p,
	    &a->sign, detail, n)) != PU_OK ||
	    (me->role != PUENTE__ROLE__ROLE_AUDITOR && (rc = enc_keys_load(a, &p, detail,
	    n)) != PU_OK))
		goto fail;
	if (a->gw_host[0] == '\0' && (rc = gateway_from_directory(a, detail, n)) != PU_OK)
		goto fail;
	secret_free(p.typed);
	return PU_OK;
fail:
	secret_free(p.typed);
	agency_free(a);
	return rc;
}

void
agency_free(struct agency *a)
{
	secret_key_clear(&a->sign);
	for (size_t i = 0; i < a->n_enc; i++)
		secret_key_clear(&a->enc[i]);
	a->n_enc = 0;
	directory_free(&a->d);
}

int
agency_update_directory(struct agency *a, const uint8_t *p, size_t n, int64_t now)
{
	struct directory fresh;
	char path[AGENCY_PATH_MAX + 16];
	int rc;

	if ((rc = directory_load(&fresh, p, n, a->root_pk, now, a->d.dir->serial)) != PU_OK)
		return rc;
	if (directory_find_agency(&fresh, a->id) == NULL) {
		directory_free(&fresh);
		return PU_ERR_AGENCY_UNKNOWN;
	}
	if ((rc = agency_path(a, "directory.pb", path, sizeof(path))) == PU_OK)
		rc = file_write_atomic(path, p, n, 0644, FILE_REPLACE);
	if (rc != PU_OK) {
		directory_free(&fresh);
		return rc;
	}
	directory_free(&a->d);
	a->d = fresh;
	a->dir_expired = 0;
	return PU_OK;
}

int
agency_gateway_pinned(const struct agency *a, const uint8_t pin[32], int64_t now)
{
	uint8_t id[PU_KEY_ID_LEN];

	key_id_compute(id, PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS, pin);
	for (size_t i = 0; i < a->d.dir->n_agencies; i++) {
		const Puente__Agency *g = a->d.dir->agencies[i];
		const Puente__Key *k;
		if (g->role != PUENTE__ROLE__ROLE_GATEWAY || directory_agency_check(g) != PU_OK)
			continue;
		k = directory_find_key(g, id, sizeof(id), PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS);
		if (k != NULL && k->public_key.len == 32 &&
		    sodium_memcmp(k->public_key.data, pin, 32) == 0 &&
		    directory_key_check(k, now) == PU_OK)
			return PU_OK;
	}
	return PU_ERR_GATEWAY_IDENTITY;
}

size_t
agency_open_keys(const struct agency *a, struct open_key *keys)
{
	for (size_t i = 0; i < a->n_enc; i++) {
		memcpy(keys[i].key_id, a->enc[i].key_id, PU_KEY_ID_LEN);
		memcpy(keys[i].public_key, a->enc[i].public_key, PU_PUBLIC_KEY_LEN);
		keys[i].secret_key = a->enc[i].secret;
	}
	return a->n_enc;
}
