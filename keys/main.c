/*
 * puente-keys - administer a Puente federation: its root, its X.509 CA, its agencies and
 * the signed directory that tells every gateway and client whom to trust.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sodium.h>

#include "crypto.h"
#include "directory.h"
#include "federation.h"
#include "fsutil.h"
#include "keyfile.h"
#include "ids.h"
#include "pu_err.h"
#include "x509.h"

#define PASSPHRASE_MAX 1024

struct opts {
	const char *dir, *name, *id, *role, *state, *address, *out, *root, *key_id;
	int days, cert_days, overlap_days, new_key, insecure, has_since;
	long long since, held_serial;
	int argc;
	char **argv;	/* operands after the options */
};

struct command {
	const char *name;
	int (*run)(struct opts *);
	const char *usage;
	const char *help;
};

static const char *cmd_name = "puente-keys";
static char passphrase_buf[PASSPHRASE_MAX];

static int
fail(const char *what, int rc, const char *hint)
{
	fprintf(stderr, "puente-keys: %s: %s%s%s\n", what, pu_err_message(rc),
	    hint ? "; " : "", hint ? hint : "");
	return pu_err_exit_code(rc);
}

/* The passphrase of the root and CA keys: PUENTE_PASSPHRASE, else asked on the terminal. */
static const char *
passphrase(int confirm)
{
	const char *env = getenv("PUENTE_PASSPHRASE");
	struct termios old, quiet;
	FILE *tty;
	char again[PASSPHRASE_MAX];

	if (env != NULL)
		return env;
	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return NULL;
	tcgetattr(fileno(tty), &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	fputs("federation passphrase: ", tty);
	fflush(tty);
	if (fgets(passphrase_buf, sizeof(passphrase_buf), tty) == NULL)
		passphrase_buf[0] = '\0';
	if (confirm) {
		fflush(tty);	/* a read then a write on one stream needs a flush between */
		fputs("\nagain: ", tty);
		fflush(tty);
		if (fgets(again, sizeof(again), tty) == NULL || strcmp(again, passphrase_buf) != 0)
			passphrase_buf[0] = '\0';
		sodium_memzero(again, sizeof(again));
	}
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fflush(tty);
	fputc('\n', tty);
	fclose(tty);
	passphrase_buf[strcspn(passphrase_buf, "\n")] = '\0';
	return passphrase_buf[0] ? passphrase_buf : NULL;
}

static int
need(const char *value, const char *option)
{
	if (value != NULL)
		return 1;
	fprintf(stderr, "puente-keys %s: missing %s (see puente-keys %s --help)\n", cmd_name,
	    option, cmd_name);
	return 0;
}


static void print_time(const char *label, int64_t t);

static int
open_federation(struct federation *f, struct opts *o)
{
	char path[4200];
	int rc;

	snprintf(path, sizeof(path), "%s/root.key", o->dir);
	rc = federation_open(f, o->dir, keyfile_is_sealed(path) ? passphrase(0) : NULL,
	    (int64_t)time(NULL));
	if (rc != PU_OK)
		return fail(o->dir, rc, rc == PU_ERR_NOT_FOUND ?
		    "is it a federation folder made by puente-keys init?" : NULL);
	return 0;
}

static int
done(struct federation *f, int rc, const char *what, const char *hint)
{
	int status = 0;

	if (rc != PU_OK)
		status = fail(what, rc, hint);
	else {
		printf("directory serial %llu, %zu agencies, ", (unsigned long long)f->d->serial,
		    f->d->n_agencies);
		print_time("expires ", f->d->expires_at);
		putchar('\n');
	}
	federation_close(f);
	return status;
}

static int
cmd_init(struct opts *o)
{
	const char *pass = NULL;
	int rc;

	if (!need(o->dir, "--dir") || !need(o->name, "--name"))
		return 64;
	if (!o->insecure && (pass = passphrase(1)) == NULL) {
		fprintf(stderr, "puente-keys init: no passphrase (set PUENTE_PASSPHRASE, type it "
		    "twice on a terminal, or --insecure-no-passphrase for a throw-away federation)\n");
		return 64;
	}
	rc = federation_init(o->dir, o->name, pass, (int64_t)time(NULL));
	if (rc != PU_OK)
		return fail(o->dir, rc, rc == PU_ERR_EXISTS ? "a federation is already there" : NULL);
	printf("created federation \"%s\" in %s: root key, CA, directory serial 1%s\n", o->name,
	    o->dir, pass ? "" : " (keys NOT protected by a passphrase)");
	return 0;
}

static int
parse_role(const char *s, Puente__Role *role)
{
	static const struct { const char *name; Puente__Role role; } roles[] = {
		{ "state", PUENTE__ROLE__ROLE_STATE }, { "federal", PUENTE__ROLE__ROLE_FEDERAL },
		{ "auditor", PUENTE__ROLE__ROLE_AUDITOR }, { "gateway", PUENTE__ROLE__ROLE_GATEWAY },
	};

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(s, roles[i].name) == 0) {
			*role = roles[i].role;
			return 1;
		}
	return 0;
}

static int
cmd_add_agency(struct opts *o)
{
	struct federation f;
	struct agency_spec spec = { 0 };
	char out[4200], state[4], what[128];
	int rc;

	if (!need(o->dir, "--dir") || !need(o->id, "--id") || !need(o->role, "--role") ||
	    !need(o->name, "--name"))
		return 64;
	if (!parse_role(o->role, &spec.role)) {
		fprintf(stderr, "puente-keys add-agency: unknown role \"%s\" "
		    "(state, federal, auditor or gateway)\n", o->role);
		return 64;
	}
	if (agency_id_state(o->id, state) != PU_OK)
		return fail(o->id, PU_ERR_AGENCY_ID, "e.g. MX-TLA-PPNNA, MX-FED-PFPNNA");
	if (o->state != NULL && strcmp(o->state, state) != 0) {
		fprintf(stderr, "puente-keys add-agency: --state %s disagrees with the id %s\n",
		    o->state, o->id);
		return 64;
	}
	if (spec.role == PUENTE__ROLE__ROLE_GATEWAY && o->address == NULL) {
		fprintf(stderr, "puente-keys add-agency: a gateway needs --address HOST:PORT\n");
		return 64;
	}
	spec.id = o->id;
	spec.name = o->name;
	spec.address = o->address;
	spec.out_dir = o->out;
	spec.cert_days = o->cert_days;
	if ((rc = open_federation(&f, o)) != 0)
		return rc;	/* its own exit status, already explained on stderr */
	rc = federation_add_agency(&f, &spec, out, sizeof(out));
	snprintf(what, sizeof(what), "cannot add %s", o->id);
	if (rc == PU_OK)
		printf("added %s (%s) with its keys in %s\n", o->id, o->role, out);
	return done(&f, rc, what, rc == PU_ERR_EXISTS ? "its folder is not empty" : NULL);
}

static int
cmd_renew_cert(struct opts *o)
{
	struct federation f;
	char what[128];
	int rc;

	if (!need(o->dir, "--dir") || !need(o->id, "--id"))
		return 64;
	if ((rc = open_federation(&f, o)) != 0)
		return rc;	/* its own exit status, already explained on stderr */
	rc = federation_renew_cert(&f, o->id, o->cert_days, o->new_key);
	snprintf(what, sizeof(what), "cannot renew the certificate of %s", o->id);
	if (rc == PU_OK)
		printf("renewed the TLS certificate of %s for %d days%s\n", o->id, o->cert_days,
		    o->new_key ? " with a new key (new pin in the directory)" : "");
	return done(&f, rc, what, NULL);
}

static int
cmd_rotate(struct opts *o)
{
	struct federation f;
	char what[128];
	int rc;

	if (!need(o->dir, "--dir") || !need(o->id, "--id"))
		return 64;
	if ((rc = open_federation(&f, o)) != 0)
		return rc;	/* its own exit status, already explained on stderr */
	rc = federation_rotate(&f, o->id, o->overlap_days);
	snprintf(what, sizeof(what), "cannot rotate the keys of %s", o->id);
	if (rc == PU_OK)
		printf("rotated the keys of %s; the old ones stay valid for %d days\n", o->id,
		    o->overlap_days);
	return done(&f, rc, what, NULL);
}

static int
set_status(struct opts *o, Puente__AgencyStatus status, const char *verb)
{
	struct federation f;
	char what[128];
	int rc;

	if (!need(o->dir, "--dir") || !need(o->id, "--id"))
		return 64;
	if ((rc = open_federation(&f, o)) != 0)
		return rc;	/* its own exit status, already explained on stderr */
	rc = federation_set_status(&f, o->id, status);
	snprintf(what, sizeof(what), "cannot %s %s", verb, o->id);
	if (rc == PU_OK)
		printf("%s: %s\n", o->id, verb);
	return done(&f, rc, what, NULL);
}

static int
cmd_suspend(struct opts *o)
{
	return set_status(o, PUENTE__AGENCY_STATUS__AGENCY_STATUS_SUSPENDED, "suspend");
}

static int
cmd_reinstate(struct opts *o)
{
	return set_status(o, PUENTE__AGENCY_STATUS__AGENCY_STATUS_ACTIVE, "reinstate");
}

static int
cmd_revoke(struct opts *o)
{
	struct federation f;
	uint8_t kid[16];
	size_t kid_len;
	char what[160];
	int rc;

	if (o->key_id == NULL)
		return set_status(o, PUENTE__AGENCY_STATUS__AGENCY_STATUS_REVOKED, "revoke");
	if (!need(o->dir, "--dir") || !need(o->id, "--id"))
		return 64;
	if (sodium_hex2bin(kid, sizeof(kid), o->key_id, strlen(o->key_id), NULL, &kid_len,
	    NULL) != 0 || kid_len != 16) {
		fprintf(stderr, "puente-keys revoke: --key-id takes 32 hex digits (see show)\n");
		return 64;
	}
	if ((rc = open_federation(&f, o)) != 0)
		return rc;	/* its own exit status, already explained on stderr */
	rc = federation_compromise_key(&f, o->id, kid, o->has_since ? o->since : f.now);
	snprintf(what, sizeof(what), "cannot mark key %s of %s compromised", o->key_id, o->id);
	if (rc == PU_OK)
		printf("key %s of %s marked compromised since %lld\n", o->key_id, o->id,
		    o->has_since ? o->since : (long long)f.now);
	return done(&f, rc, what, NULL);
}

static int
cmd_sign_directory(struct opts *o)
{
	struct federation f;
	int rc;

	if (!need(o->dir, "--dir"))
		return 64;
	if ((rc = open_federation(&f, o)) != 0)
		return rc;	/* its own exit status, already explained on stderr */
	rc = federation_publish(&f, o->days);
	return done(&f, rc, "cannot sign the directory", NULL);
}

static void
print_time(const char *label, int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		printf("%s-", label);
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s%s", label, buf);
}

static const char *
enum_name(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);

	return e ? e->name : "?";
}

static void
show_directory(const Puente__Directory *d)
{
	char hex[65];

	printf("federation: %s\nserial: %llu\n", d->federation, (unsigned long long)d->serial);
	print_time("issued: ", d->issued_at);
	print_time("\nexpires: ", d->expires_at);
	sodium_bin2hex(hex, sizeof(hex), d->ca_cert_sha256.data, d->ca_cert_sha256.len);
	printf("\nCA certificate SHA-256: %s\nwitnesses:", hex);
	for (size_t i = 0; i < d->n_witnesses; i++)
		printf(" %s", d->witnesses[i]);
	printf("%s\n", d->n_witnesses ? "" : " -");
	for (size_t i = 0; i < d->n_role_policies; i++)
		printf("policy %s: may send %zu types, may receive %zu types\n",
		    role_name(d->role_policies[i]->role), d->role_policies[i]->n_may_send,
		    d->role_policies[i]->n_may_receive);
	for (size_t i = 0; i < d->n_agencies; i++) {
		const Puente__Agency *a = d->agencies[i];
		printf("\n%s  %s  %s  \"%s\"", a->id, role_name(a->role),
		    enum_name(&puente__agency_status__descriptor, a->status) + 14, a->name);
		if (a->address[0])
			printf("  address %s", a->address);
		putchar('\n');
		for (size_t k = 0; k < a->n_keys; k++) {
			const Puente__Key *key = a->keys[k];
			sodium_bin2hex(hex, sizeof(hex), key->key_id.data, key->key_id.len);
			printf("  %-10s %s  %-11s", enum_name(&puente__key_purpose__descriptor,
			    key->purpose) + 12, hex,
			    enum_name(&puente__key_status__descriptor, key->status) + 11);
			print_time(" valid ", key->not_before);
			print_time(" .. ", key->not_after);
			if (key->status_since)
				print_time(" since ", key->status_since);
			putchar('\n');
		}
	}
}

static int
read_root(const char *arg, uint8_t pk[32])
{
	uint8_t *text = NULL;
	size_t len, bin_len;
	const char *hex = arg;
	int ok;

	if (strlen(arg) != 64 && file_read_all(arg, 256, &text, &len) == PU_OK)
		hex = (const char *)text;
	ok = sodium_hex2bin(pk, 32, hex, strlen(hex), " \n", &bin_len, NULL) == 0 && bin_len == 32;
	free(text);
	return ok;
}

static int
load_file(struct opts *o, uint8_t **data, size_t *len)
{
	char path[4200];
	const char *file = o->argc > 0 ? o->argv[0] : NULL;
	int rc;

	if (file == NULL && o->dir != NULL) {
		snprintf(path, sizeof(path), "%s/directory.pb", o->dir);
		file = path;
	}
	if (file == NULL) {
		fprintf(stderr, "puente-keys %s: name a directory file (or --dir)\n", cmd_name);
		return 64;
	}
	if ((rc = file_read_all(file, 8u << 20, data, len)) != PU_OK)
		return fail(file, rc, NULL);
	return 0;
}

static int
cmd_show(struct opts *o)
{
	uint8_t *data, pk[32];
	size_t len;
	struct directory d;
	Puente__SignedDirectory *sd;
	Puente__Directory *dir;
	int rc;

	if ((rc = load_file(o, &data, &len)) != 0)
		return rc;
	if (o->root != NULL) {
		if (!read_root(o->root, pk)) {
			free(data);
			return fail(o->root, PU_ERR_KEY_FILE, "--root takes root.pub or 64 hex digits");
		}
		rc = directory_load_signed(&d, data, len, pk);
		free(data);
		if (rc != PU_OK)
			return fail("directory", rc, NULL);
		printf("signature: verified with the root key\n");
		show_directory(d.dir);
		directory_free(&d);
		return 0;
	}
	/* Without --root: show what the file says, and say it is unverified. */
	sd = puente__signed_directory__unpack(NULL, len, data);
	dir = sd ? puente__directory__unpack(NULL, sd->directory.len, sd->directory.data) : NULL;
	free(data);
	if (dir == NULL) {
		if (sd)
			puente__signed_directory__free_unpacked(sd, NULL);
		return fail("directory", PU_ERR_PB_DECODE, NULL);
	}
	printf("signature: NOT verified (give --root to verify)\n");
	show_directory(dir);
	puente__directory__free_unpacked(dir, NULL);
	puente__signed_directory__free_unpacked(sd, NULL);
	return 0;
}

static int
cmd_verify(struct opts *o)
{
	uint8_t *data, pk[32];
	size_t len;
	struct directory d;
	int rc;

	if (!need(o->root, "--root"))
		return 64;
	if (!read_root(o->root, pk))
		return fail(o->root, PU_ERR_KEY_FILE, "--root takes root.pub or 64 hex digits");
	if ((rc = load_file(o, &data, &len)) != 0)
		return rc;
	rc = directory_load(&d, data, len, pk, (int64_t)time(NULL), (uint64_t)o->held_serial);
	free(data);
	if (rc != PU_OK)
		return fail("directory", rc, NULL);
	printf("ok: directory serial %llu of \"%s\", %zu agencies, signed by the root, ",
	    (unsigned long long)d.dir->serial, d.dir->federation, d.dir->n_agencies);
	print_time("valid until ", d.dir->expires_at);
	putchar('\n');
	if (d.dir->expires_at - (int64_t)time(NULL) < PU_DIRECTORY_WARN_BEFORE)
		fprintf(stderr, "puente-keys: warning: the directory expires in less than 7 days; "
		    "run puente-keys sign-directory\n");
	directory_free(&d);
	return 0;
}

static int cmd_help(struct opts *o);

static const struct command commands[] = {
	{ "init", cmd_init, "--dir DIR --name TEXT [--insecure-no-passphrase]",
	  "create a federation: root key, X.509 CA and the first directory" },
	{ "add-agency", cmd_add_agency, "--dir DIR --id ID --role state|federal|auditor|gateway "
	  "--name TEXT [--state CODE] [--address HOST:PORT] [--out DIR] [--cert-days N]",
	  "add an agency or gateway: its keys, TLS certificate and folder" },
	{ "renew-cert", cmd_renew_cert, "--dir DIR --id ID [--cert-days N] [--new-key]",
	  "issue a new TLS certificate (same key and pin unless --new-key)" },
	{ "rotate", cmd_rotate, "--dir DIR --id ID [--overlap-days N]",
	  "new signing/encryption/witness (or receipt/checkpoint) keys; old ones valid N days more" },
	{ "suspend", cmd_suspend, "--dir DIR --id ID", "suspend an agency (reversible)" },
	{ "reinstate", cmd_reinstate, "--dir DIR --id ID", "end a suspension" },
	{ "revoke", cmd_revoke, "--dir DIR --id ID [--key-id HEX [--since UNIXTIME]]",
	  "revoke an agency for good, or mark one of its keys compromised since a time" },
	{ "sign-directory", cmd_sign_directory, "--dir DIR [--days N]",
	  "re-sign the directory with a new serial (at most 30 days)" },
	{ "show", cmd_show, "[FILE | --dir DIR] [--root PUB]",
	  "print a directory: agencies, roles, keys, validity, status, serial" },
	{ "verify", cmd_verify, "[FILE | --dir DIR] --root PUB [--held-serial N]",
	  "check a directory's signature, expiry and serial" },
	{ "help", cmd_help, "[COMMAND]", "this text" },
};

static const struct command *
command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: puente-keys COMMAND [OPTIONS]\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\nThe passphrase of the root and CA keys is read from PUENTE_PASSPHRASE or "
	    "asked on the terminal.\nRun puente-keys COMMAND --help for its options.\n");
}

static int
cmd_help(struct opts *o)
{
	const struct command *c = o->argc > 0 ? command_find(o->argv[0]) : NULL;

	if (c == NULL) {
		usage(stdout);
		return 0;
	}
	printf("usage: puente-keys %s %s\n  %s\n", c->name, c->usage, c->help);
	return 0;
}

static int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max)
		return 0;
	*out = v;
	return 1;
}

int
main(int argc, char **argv)
{
	enum { O_DIR = 1, O_NAME, O_ID, O_ROLE, O_STATE, O_ADDRESS, O_OUT, O_ROOT, O_KEY_ID,
	    O_SINCE, O_DAYS, O_CERT_DAYS, O_OVERLAP, O_NEW_KEY, O_INSECURE, O_HELD, O_HELP };
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, O_DIR }, { "name", required_argument, NULL, O_NAME },
		{ "id", required_argument, NULL, O_ID }, { "role", required_argument, NULL, O_ROLE },
		{ "state", required_argument, NULL, O_STATE },
		{ "address", required_argument, NULL, O_ADDRESS },
		{ "out", required_argument, NULL, O_OUT }, { "root", required_argument, NULL, O_ROOT },
		{ "key-id", required_argument, NULL, O_KEY_ID },
		{ "since", required_argument, NULL, O_SINCE },
		{ "days", required_argument, NULL, O_DAYS },
		{ "cert-days", required_argument, NULL, O_CERT_DAYS },
		{ "overlap-days", required_argument, NULL, O_OVERLAP },
		{ "new-key", no_argument, NULL, O_NEW_KEY },
		{ "insecure-no-passphrase", no_argument, NULL, O_INSECURE },
		{ "held-serial", required_argument, NULL, O_HELD },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .days = 30, .cert_days = PU_DEFAULT_CERT_DAYS,
	    .overlap_days = PU_DEFAULT_OVERLAP_DAYS };
	const struct command *c;
	long long v;
	int ch, rc;

	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if ((c = command_find(argv[1])) == NULL) {
		fprintf(stderr, "puente-keys: unknown command \"%s\"\n", argv[1]);
		usage(stderr);
		return 64;
	}
	cmd_name = c->name;
	if (crypto_init() != PU_OK || CRYPTO_secure_malloc_init(65536, 32) == 0) {
		fprintf(stderr, "puente-keys: cannot initialise the cryptographic libraries\n");
		return 70;
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case O_DIR: o.dir = optarg; break;
		case O_NAME: o.name = optarg; break;
		case O_ID: o.id = optarg; break;
		case O_ROLE: o.role = optarg; break;
		case O_STATE: o.state = optarg; break;
		case O_ADDRESS: o.address = optarg; break;
		case O_OUT: o.out = optarg; break;
		case O_ROOT: o.root = optarg; break;
		case O_KEY_ID: o.key_id = optarg; break;
		case O_NEW_KEY: o.new_key = 1; break;
		case O_INSECURE: o.insecure = 1; break;
		case O_HELP:
			printf("usage: puente-keys %s %s\n  %s\n", c->name, c->usage, c->help);
			return 0;
		case O_SINCE:
		case O_DAYS:
		case O_CERT_DAYS:
		case O_OVERLAP:
		case O_HELD:
			if (!parse_int(optarg, 0, ch == O_SINCE || ch == O_HELD ? (1LL << 62) :
			    ch == O_CERT_DAYS ? PU_CERT_MAX_DAYS : ch == O_DAYS ? 30 : 90, &v) ||
			    (v == 0 && (ch == O_DAYS || ch == O_CERT_DAYS))) {
				fprintf(stderr, "puente-keys %s: bad value \"%s\" for --%s (days: "
				    "sign-directory 1..30, certificates 1..%d, overlap 0..90)\n", c->name,
				    optarg, longopts[ch - 1].name, PU_CERT_MAX_DAYS);
				return 64;
			}
			if (ch == O_SINCE) { o.since = v; o.has_since = 1; }
			else if (ch == O_DAYS) o.days = (int)v;
			else if (ch == O_CERT_DAYS) o.cert_days = (int)v;
			else if (ch == O_OVERLAP) o.overlap_days = (int)v;
			else o.held_serial = v;
			break;
		default:
			fprintf(stderr, "usage: puente-keys %s %s\n", c->name, c->usage);
			return 64;
		}
	}
	o.argc = argc - optind;
	o.argv = argv + optind;
	if (o.argc > (c->run == cmd_show || c->run == cmd_verify || c->run == cmd_help ? 1 : 0)) {
		fprintf(stderr, "puente-keys %s: unexpected argument \"%s\"\nusage: puente-keys %s %s\n",
		    c->name, o.argv[0], c->name, c->usage);
		return 64;
	}
	rc = c->run(&o);
	sodium_memzero(passphrase_buf, sizeof(passphrase_buf));
	return rc;
}
