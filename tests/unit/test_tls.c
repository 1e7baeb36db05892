/*
 * test_tls.c - the TLS engine (gateway/tls.c) and THREATS.md group 13, all in memory: a client
 * tls_conn and a server tls_conn, with bytes pumped between their memory BIOs until neither
 * side makes progress.
 *
 * Usage: test_tls PATH/TO/puente-keys WORKDIR
 * WORKDIR is emptied and receives three certificate sets:
 *   fed/    a federation made by the real puente-keys (MX-TLA-PPNNA, gateway MX-CMX-GW01);
 *   other/  a second, unrelated federation made the same way (same agency ids, other CA);
 *   lab/    a CA and certificates made here with OpenSSL's API, for what puente-keys will
 *           never issue: an expired certificate, CN and SAN that disagree, two URI SANs, ...
 *
 * TLS 1.3 finishes the client's handshake before the server has judged its certificate: a
 * refused client sees the refusal on its first read (DESIGN.md §13), so those tests write,
 * then read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "directory.h"
#include "ids.h"
#include "pu_err.h"
#include "tls.h"

#define assert_err(rc, want) assert_string_equal(pu_err_name((int)(rc)), pu_err_name(want))

#define STATE_ID "MX-TLA-PPNNA"
#define GATEWAY_ID "MX-CMX-GW01"
#define MIB (1024 * 1024)

static const char *keys_bin;
static char work[512];

/* ---- files ----------------------------------------------------------------------------- */

static const char *
path(const char *rel)
{
	static char buf[8][1024];
	static unsigned next;
	char *p = buf[next++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", work, rel);
	return p;
}

/* fed/agencies/ID/NAME, other/agencies/ID/NAME */
static const char *
agency_file(const char *fed, const char *id, const char *name)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "%s/agencies/%s/%s", fed, id, name);
	return path(rel);
}

/* Runs a program (no shell), its stdout discarded; the exit status or -1. */
static int
run(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int
make_federation(const char *name)
{
	char dir[1024];
	char *init[] = { (char *)keys_bin, "init", "--dir", dir, "--name", (char *)name,
		"--insecure-no-passphrase", NULL };
	char *state[] = { (char *)keys_bin, "add-agency", "--dir", dir, "--id", STATE_ID,
		"--role", "state", "--name", "PPNNA Tlaxcala", NULL };
	char *gw[] = { (char *)keys_bin, "add-agency", "--dir", dir, "--id", GATEWAY_ID,
		"--role", "gateway", "--name", "Gateway CDMX", "--address", "127.0.0.1:7443", NULL };

	snprintf(dir, sizeof(dir), "%s", path(name));
	if (run(init) != 0 || run(state) != 0 || run(gw) != 0) {
		fprintf(stderr, "test_tls: puente-keys could not make %s\n", dir);
		return -1;
	}
	return 0;
}

/* SHA-256 of the certificate's DER SubjectPublicKeyInfo, as
 * `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum` computes it. */
static void
file_spki_sha256(const char *cert_file, uint8_t out[32])
{
	FILE *f = fopen(cert_file, "r");
	X509 *c;
	unsigned char *der = NULL;
	int len;

	assert_non_null(f);
	c = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(c);
	len = i2d_PUBKEY(X509_get0_pubkey(c), &der);
	assert_true(len > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
	X509_free(c);
}

static size_t
slurp(const char *file, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(file, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	assert_true(n < cap);
	return n;
}

/* The TLS pin the federation's directory lists for an agency. */
static void
directory_tls_pin(const char *fed, const char *id, uint8_t out[32])
{
	uint8_t dir[65536], root_pk[32];
	char rel[64], hex[128] = "";
	size_t n, pk_len = 0;
	struct directory d;
	const Puente__Agency *a;
	const Puente__Key *k;

	snprintf(rel, sizeof(rel), "%s/directory.pb", fed);
	n = slurp(path(rel), dir, sizeof(dir));
	snprintf(rel, sizeof(rel), "%s/root.pub", fed);
	slurp(path(rel), (uint8_t *)hex, sizeof(hex) - 1);
	assert_int_equal(sodium_hex2bin(root_pk, sizeof(root_pk), hex, strlen(hex), "\n", &pk_len,
	    NULL), 0);
	assert_int_equal(pk_len, 32);
	assert_err(directory_load_signed(&d, dir, n, root_pk), PU_OK);
	assert_non_null(a = directory_find_agency(&d, id));
	assert_non_null(k = directory_current_key(a, PUENTE__KEY_PURPOSE__KEY_PURPOSE_TLS,
	    (int64_t)time(NULL)));
	assert_int_equal(k->public_key.len, 32);
	memcpy(out, k->public_key.data, 32);
	directory_free(&d);
}

/* ---- a CA of our own (OpenSSL API) ---------------------------------------------------- */

struct lab_ca {
	EVP_PKEY *key;
	X509 *cert;
};

static int
lab_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, subject, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(subject, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * A certificate valid from now + from_days to now + to_days. san may be NULL (none); issuer
 * NULL makes a self-signed CA.
 */
static X509 *
lab_cert(const struct lab_ca *issuer, EVP_PKEY *key, const char *cn, const char *san,
    int server, long from_days, long to_days)
{
	static long serial = 1000;
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509 *icert;
	EVP_PKEY *ikey;
	int ok;

	assert_non_null(c);
	assert_non_null(name);
	ok = X509_set_version(c, X509_VERSION_3) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(c), serial++) &&
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"Laboratorio de pruebas", -1, -1, 0) &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
	    -1, 0) &&
	    X509_set_subject_name(c, name) &&
	    X509_gmtime_adj(X509_getm_notBefore(c), from_days * 86400) != NULL &&
	    X509_gmtime_adj(X509_getm_notAfter(c), to_days * 86400) != NULL &&
	    X509_set_pubkey(c, key);
	icert = issuer != NULL ? issuer->cert : c;
	ikey = issuer != NULL ? issuer->key : key;
	ok = ok && X509_set_issuer_name(c, X509_get_subject_name(icert));
	if (issuer == NULL) {
		ok = ok && lab_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
		    lab_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") &&
		    lab_ext(c, c, NID_subject_key_identifier, "hash") &&
		    lab_ext(c, c, NID_authority_key_identifier, "keyid:always");
	} else {
		ok = ok && lab_ext(icert, c, NID_basic_constraints, "critical,CA:FALSE") &&
		    lab_ext(icert, c, NID_key_usage, "critical,digitalSignature") &&
		    lab_ext(icert, c, NID_ext_key_usage,
		    server ? "clientAuth,serverAuth" : "clientAuth") &&
		    lab_ext(icert, c, NID_subject_key_identifier, "hash") &&
		    lab_ext(icert, c, NID_authority_key_identifier, "keyid:always") &&
		    (san == NULL || lab_ext(icert, c, NID_subject_alt_name, san));
	}
	ok = ok && X509_sign(c, ikey, EVP_sha256()) > 0;
	X509_NAME_free(name);
	assert_true(ok);
	return c;
}

static void
write_pem(const char *rel, X509 *cert, EVP_PKEY *key)
{
	char file[1024];
	FILE *f;

	snprintf(file, sizeof(file), "%s.crt", path(rel));
	assert_non_null(f = fopen(file, "w"));
	assert_int_equal(PEM_write_X509(f, cert), 1);
	fclose(f);
	if (key == NULL)
		return;
	snprintf(file, sizeof(file), "%s.key", path(rel));
	assert_non_null(f = fopen(file, "w"));
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void
lab_issue(const struct lab_ca *ca, const char *rel, const char *cn, const char *san, int server,
    long from_days, long to_days)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *c;

	assert_non_null(key);
	c = lab_cert(ca, key, cn, san, server, from_days, to_days);
	write_pem(rel, c, key);
	X509_free(c);
	EVP_PKEY_free(key);
}

#define URI(id) "URI:urn:puente:agency:" id

static void
make_lab(void)
{
	struct lab_ca ca;
	char *mkdir_lab[] = { "/bin/mkdir", "-p", (char *)path("lab"), NULL };

	assert_int_equal(run(mkdir_lab), 0);
	assert_non_null(ca.key = EVP_EC_gen("P-256"));
	ca.cert = lab_cert(NULL, ca.key, "Laboratorio CA", NULL, 0, -30, 365);
	write_pem("lab/ca", ca.cert, NULL);
	lab_issue(&ca, "lab/gw", GATEWAY_ID, URI(GATEWAY_ID), 1, -1, 30);
	lab_issue(&ca, "lab/fresh", STATE_ID, URI(STATE_ID), 0, -1, 30);
	lab_issue(&ca, "lab/expired", STATE_ID, URI(STATE_ID), 0, -30, -1);
	lab_issue(&ca, "lab/cn-mismatch", "MX-NLE-PPNNA", URI(STATE_ID), 0, -1, 30);
	lab_issue(&ca, "lab/two-uris", STATE_ID, URI(STATE_ID) "," URI("MX-NLE-PPNNA"), 0, -1, 30);
	lab_issue(&ca, "lab/no-san", STATE_ID, NULL, 0, -1, 30);
	lab_issue(&ca, "lab/bad-id", "mx-tla-ppnna", URI("mx-tla-ppnna"), 0, -1, 30);
	lab_issue(&ca, "lab/other-uri", STATE_ID, "URI:https://example.org/" STATE_ID, 0, -1, 30);
	lab_issue(&ca, "lab/dns-and-uri", STATE_ID, "DNS:tlaxcala.example," URI(STATE_ID), 0, -1,
	    30);
	X509_free(ca.cert);
	EVP_PKEY_free(ca.key);
}

static int
group_setup(void **state)
{
	char *rm[] = { "/bin/rm", "-rf", work, NULL };
	char *mk[] = { "/bin/mkdir", "-p", work, NULL };

	(void)state;
	if (run(rm) != 0 || run(mk) != 0)
		return -1;
	if (make_federation("fed") != 0 || make_federation("other") != 0)
		return -1;
	make_lab();
	return 0;
}

/* ---- a client and a server connected through memory -------------------------------------- */

struct pair {
	SSL_CTX *cctx, *sctx;
	struct tls_conn c, s;
	int crc, src;		/* last tls_conn_handshake() result of each side */
};

static SSL_CTX *
server_ctx(const char *cert, const char *key, const char *ca)
{
	char err[256] = "";
	SSL_CTX *ctx = tls_server_ctx(cert, key, ca, err, sizeof(err));

	if (ctx == NULL)
		fail_msg("tls_server_ctx: %s", err);
	return ctx;
}

static SSL_CTX *
client_ctx(const char *cert, const char *key, const char *ca)
{
	char err[256] = "";
	SSL_CTX *ctx = tls_client_ctx(cert, key, ca, err, sizeof(err));

	if (ctx == NULL)
		fail_msg("tls_client_ctx: %s", err);
	return ctx;
}

static SSL_CTX *
fed_server_ctx(void)
{
	return server_ctx(agency_file("fed", GATEWAY_ID, "tls.crt"),
	    agency_file("fed", GATEWAY_ID, "tls.key"), agency_file("fed", GATEWAY_ID, "ca.crt"));
}

static SSL_CTX *
fed_client_ctx(void)
{
	return client_ctx(agency_file("fed", STATE_ID, "tls.crt"),
	    agency_file("fed", STATE_ID, "tls.key"), agency_file("fed", STATE_ID, "ca.crt"));
}

/* What an attacker's or a misconfigured client could be: nothing of ours is used, and it
 * accepts any server so only the server's decision is tested. */
struct raw_client {
	const char *cert, *key;	/* NULL: no certificate */
	int tls12_only;
	const char *suites;	/* NULL: OpenSSL's TLS 1.3 default */
	const char *alpn;	/* wire format; NULL: no ALPN */
	size_t alpn_len;
};

static SSL_CTX *
raw_client_ctx(const struct raw_client *r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	SSL_CTX_set_security_level(ctx, 0);
	/* Trusts the gateway, so the engine's own checks of the server pass. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	assert_int_equal(SSL_CTX_load_verify_file(ctx, agency_file("fed", STATE_ID, "ca.crt")), 1);
	if (r->tls12_only)
		assert_int_equal(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION), 1);
	if (r->suites != NULL)
		assert_int_equal(SSL_CTX_set_ciphersuites(ctx, r->suites), 1);
	if (r->alpn != NULL)
		assert_int_equal(SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)r->alpn,
		    (unsigned int)r->alpn_len), 0);
	if (r->cert != NULL) {
		assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, r->cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, r->key, SSL_FILETYPE_PEM), 1);
	}
	return ctx;
}

#define ALPN_PUENTE "\x08puente/1"

static void
pair_open(struct pair *p, SSL_CTX *cctx, SSL_CTX *sctx)
{
	memset(p, 0, sizeof(*p));
	p->cctx = cctx;
	p->sctx = sctx;
	assert_err(tls_conn_init(&p->c, cctx, 0), PU_OK);
	assert_err(tls_conn_init(&p->s, sctx, 1), PU_OK);
	p->crc = p->src = PU_ERR_AGAIN;
}

static void
pair_close(struct pair *p)
{
	tls_conn_free(&p->c);
	tls_conn_free(&p->s);
	SSL_CTX_free(p->cctx);
	SSL_CTX_free(p->sctx);
	/* Nothing of ours may leave errors behind for the next connection on this thread. */
	assert_int_equal(ERR_peek_error(), 0);
}

/* Everything one side has for the network goes to the other; the byte count. */
static size_t
move(struct tls_conn *from, struct tls_conn *to)
{
	uint8_t buf[16384];
	size_t n, total = 0;

	while ((n = tls_conn_pending(from, buf, sizeof(buf))) > 0) {
		int rc = tls_conn_feed(to, buf, n);

		/* A side that already failed drops what arrives: so does a closed socket. */
		if (rc != PU_OK)
			assert_int_equal(to->closed, TLS_CONN_FAILED);
		total += n;
	}
	return total;
}

static size_t
pump(struct pair *p)
{
	size_t total = 0, n;

	while ((n = move(&p->c, &p->s) + move(&p->s, &p->c)) > 0)
		total += n;
	return total;
}

/* Both handshakes driven until neither side makes progress. */
static void
pair_handshake(struct pair *p)
{
	for (int round = 0; round < 64; round++) {
		if (p->crc == PU_ERR_AGAIN)
			p->crc = tls_conn_handshake(&p->c);
		if (p->src == PU_ERR_AGAIN)
			p->src = tls_conn_handshake(&p->s);
		if (pump(p) == 0)
			return;
	}
	fail_msg("handshake does not settle");
}

/* A fully good pair from the real federation. */
static void
pair_good(struct pair *p)
{
	pair_open(p, fed_client_ctx(), fed_server_ctx());
	pair_handshake(p);
	assert_err(p->crc, PU_OK);
	assert_err(p->src, PU_OK);
	assert_true(p->c.handshake_done && p->s.handshake_done);
}

/* Reads chunk by chunk until no plaintext is left (cap must exceed what is expected); the
 * count, and the last result (0 or an error) in *last. */
static size_t
read_all(struct tls_conn *c, uint8_t *buf, size_t cap, size_t chunk, long *last)
{
	size_t total = 0;
	long r;

	while ((r = tls_conn_read(c, buf + total, chunk < cap - total ? chunk : cap - total)) > 0) {
		total += (size_t)r;
		assert_true(total < cap);
	}
	*last = r;
	return total;
}

static void
send_text(struct pair *p, struct tls_conn *from, struct tls_conn *to, const char *text)
{
	uint8_t buf[256];
	long last;
	size_t n;

	assert_err(tls_conn_write(from, (const uint8_t *)text, strlen(text)), PU_OK);
	pump(p);
	n = read_all(to, buf, sizeof(buf), sizeof(buf), &last);
	assert_int_equal(last, 0);
	assert_int_equal(n, strlen(text));
	assert_memory_equal(buf, text, n);
}

/*
 * A client that the server refuses after the client's own handshake has finished: the
 * client writes, then reads, and only then learns why.
 */
static void
assert_refused_after_handshake(struct pair *p, const char *why)
{
	uint8_t buf[64];
	static const uint8_t hello[] = "HELLO";

	assert_err(p->src, PU_ERR_IO);
	assert_string_equal(tls_conn_error(&p->s), why);
	assert_int_equal(p->s.closed, TLS_CONN_FAILED);
	assert_false(p->s.handshake_done);
	assert_err(p->crc, PU_OK);
	assert_err(tls_conn_write(&p->c, hello, sizeof(hello)), PU_OK);
	pump(p);
	assert_err(tls_conn_read(&p->c, buf, sizeof(buf)), PU_ERR_IO);
	assert_string_equal(tls_conn_error(&p->c), why);
	assert_int_equal(p->c.closed, TLS_CONN_FAILED);
	/* And once failed, it stays failed. */
	assert_err(tls_conn_read(&p->c, buf, sizeof(buf)), PU_ERR_IO);
	assert_err(tls_conn_write(&p->c, hello, sizeof(hello)), PU_ERR_IO);
}

/* A handshake that fails on both sides, each with its reason. */
static void
assert_refused_in_handshake(struct pair *p, const char *server_why, const char *client_why)
{
	assert_err(p->src, PU_ERR_IO);
	assert_string_equal(tls_conn_error(&p->s), server_why);
	assert_err(p->crc, PU_ERR_IO);
	assert_string_equal(tls_conn_error(&p->c), client_why);
	assert_false(p->c.handshake_done || p->s.handshake_done);
}

static void
refused_raw_client(const struct raw_client *r, const char *server_why, const char *client_why,
    int after_handshake)
{
	struct pair p;

	pair_open(&p, raw_client_ctx(r), fed_server_ctx());
	pair_handshake(&p);
	if (after_handshake)
		assert_refused_after_handshake(&p, server_why);
	else
		assert_refused_in_handshake(&p, server_why, client_why);
	pair_close(&p);
}

/* ---- the good path --------------------------------------------------------------------- */

static void
good_handshake_is_tls13_aead_puente1(void **state)
{
	static const char *const allowed[] = { "TLS_AES_256_GCM_SHA384",
		"TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256" };
	struct pair p;
	struct tls_conn *side[2];
	const unsigned char *alpn;
	unsigned int alpn_len;

	(void)state;
	pair_good(&p);
	side[0] = &p.c;
	side[1] = &p.s;
	for (int i = 0; i < 2; i++) {
		const SSL_CIPHER *cipher = SSL_get_current_cipher(side[i]->ssl);
		int found = 0;

		assert_int_equal(SSL_version(side[i]->ssl), TLS1_3_VERSION);
		SSL_get0_alpn_selected(side[i]->ssl, &alpn, &alpn_len);
		assert_int_equal(alpn_len, strlen(PU_ALPN));
		assert_memory_equal(alpn, PU_ALPN, alpn_len);
		assert_non_null(cipher);
		assert_int_equal(SSL_CIPHER_is_aead(cipher), 1);
		for (size_t k = 0; k < sizeof(allowed) / sizeof(allowed[0]); k++)
			found |= strcmp(SSL_CIPHER_get_name(cipher), allowed[k]) == 0;
		assert_true(found);
		assert_int_equal(SSL_session_reused(side[i]->ssl), 0);
		assert_int_equal(SSL_get_max_early_data(side[i]->ssl), 0);
		assert_string_equal(tls_conn_error(side[i]), "none");
	}
	/* Our server prefers its own order: AES-256-GCM first. */
	assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(p.s.ssl)),
	    "TLS_AES_256_GCM_SHA384");
	send_text(&p, &p.c, &p.s, "HELLO desde Tlaxcala");
	send_text(&p, &p.s, &p.c, "HELLO desde la pasarela");
	/* No session ticket ever came: nothing to resume, nothing to replay as 0-RTT. */
	assert_int_equal(SSL_SESSION_is_resumable(SSL_get0_session(p.c.ssl)), 0);
	pair_close(&p);
}

static void
peer_identity_and_pin(void **state)
{
	struct pair p;
	char id[PU_AGENCY_ID_MAX + 1];
	uint8_t got[32], want[32], pin[32];

	(void)state;
	pair_good(&p);
	assert_err(tls_peer_agency(&p.s, id, sizeof(id)), PU_OK);
	assert_string_equal(id, STATE_ID);
	assert_err(tls_peer_agency(&p.c, id, sizeof(id)), PU_OK);
	assert_string_equal(id, GATEWAY_ID);
	/* Exactly long enough, and one byte short. */
	assert_err(tls_peer_agency(&p.c, id, strlen(GATEWAY_ID) + 1), PU_OK);
	assert_err(tls_peer_agency(&p.c, id, strlen(GATEWAY_ID)), PU_ERR_ARG);

	assert_err(tls_peer_spki_sha256(&p.s, got), PU_OK);
	file_spki_sha256(agency_file("fed", STATE_ID, "tls.crt"), want);
	assert_memory_equal(got, want, 32);
	directory_tls_pin("fed", STATE_ID, pin);
	assert_memory_equal(got, pin, 32);

	assert_err(tls_peer_spki_sha256(&p.c, got), PU_OK);
	file_spki_sha256(agency_file("fed", GATEWAY_ID, "tls.crt"), want);
	assert_memory_equal(got, want, 32);
	directory_tls_pin("fed", GATEWAY_ID, pin);
	assert_memory_equal(got, pin, 32);
	pair_close(&p);
}

static void
fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 131 + (i >> 11) + seed);
}

/* 1 MiB in one write, read back through a small buffer first: most of a record then waits
 * in SSL_pending() with nothing left in the input BIO, and must still come out. */
static void
one_mebibyte_client_to_server(void **state)
{
	struct pair p;
	uint8_t *msg = malloc(MIB), *got = malloc(MIB + 1);
	size_t total;
	long r, last;

	(void)state;
	assert_non_null(msg);
	assert_non_null(got);
	fill(msg, MIB, 1);
	pair_good(&p);
	assert_err(tls_conn_write(&p.c, msg, MIB), PU_OK);
	assert_true(BIO_ctrl_pending(p.c.net_out) > MIB);
	pump(&p);
	assert_int_equal(BIO_ctrl_pending(p.c.net_out), 0);

	r = tls_conn_read(&p.s, got, 1000);
	assert_int_equal(r, 1000);
	assert_true(SSL_pending(p.s.ssl) > 0);
	/* One call drains the pending record and goes on across records until p is full. */
	r = tls_conn_read(&p.s, got + 1000, 100003);
	assert_int_equal(r, 100003);
	total = 101003 + read_all(&p.s, got + 101003, MIB + 1 - 101003, 100003, &last);
	assert_int_equal(last, 0);
	assert_int_equal(total, MIB);
	assert_memory_equal(got, msg, MIB);
	assert_int_equal(SSL_pending(p.s.ssl), 0);
	pair_close(&p);
	free(msg);
	free(got);
}

/* 1 MiB the other way, arriving in uneven pieces: reads stop at partial records and resume. */
static void
one_mebibyte_server_to_client_in_pieces(void **state)
{
	static const size_t pieces[] = { 1, 7, 1500, 16389, 65536, 3 };
	struct pair p;
	uint8_t *msg = malloc(MIB), *got = malloc(MIB), *wire = malloc(2 * MIB);
	size_t wire_len = 0, n, off = 0, total = 0, k = 0;
	int zero_reads = 0;

	(void)state;
	assert_non_null(msg);
	assert_non_null(got);
	assert_non_null(wire);
	fill(msg, MIB, 2);
	pair_good(&p);
	assert_err(tls_conn_write(&p.s, msg, MIB), PU_OK);
	while ((n = tls_conn_pending(&p.s, wire + wire_len, 2 * MIB - wire_len)) > 0)
		wire_len += n;
	assert_true(wire_len > MIB && wire_len < 2 * MIB);
	while (off < wire_len) {
		size_t piece = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
		long r;

		if (piece > wire_len - off)
			piece = wire_len - off;
		assert_err(tls_conn_feed(&p.c, wire + off, piece), PU_OK);
		off += piece;
		while ((r = tls_conn_read(&p.c, got + total, MIB - total > 4096 ? 4096 :
		    MIB - total)) > 0)
			total += (size_t)r;
		assert_int_equal(r, 0);
		zero_reads++;
	}
	assert_int_equal(total, MIB);
	assert_memory_equal(got, msg, MIB);
	assert_true(zero_reads > 64);
	pair_close(&p);
	free(msg);
	free(got);
	free(wire);
}

/* ---- clean close ----------------------------------------------------------------------- */

static void
assert_clean_close(struct tls_conn *c)
{
	uint8_t buf[16];

	assert_err(tls_conn_read(c, buf, sizeof(buf)), PU_ERR_IO);
	assert_int_equal(c->closed, TLS_CONN_PEER_CLOSED);
	assert_string_equal(tls_conn_error(c), "close notify");
	assert_true(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN);
}

static void
shutdown_client_first_is_clean(void **state)
{
	static const char last_words[] = "ultimo mensaje";
	struct pair p;
	uint8_t buf[64];
	long r;

	(void)state;
	pair_good(&p);
	assert_err(tls_conn_write(&p.c, (const uint8_t *)last_words, strlen(last_words)), PU_OK);
	tls_conn_shutdown(&p.c);
	tls_conn_shutdown(&p.c);	/* once is enough, twice is harmless */
	assert_err(tls_conn_write(&p.c, (const uint8_t *)"x", 1), PU_ERR_IO);
	pump(&p);
	/* What was written before the close_notify arrives before it. */
	r = tls_conn_read(&p.s, buf, sizeof(buf));
	assert_int_equal(r, (long)strlen(last_words));
	assert_memory_equal(buf, last_words, (size_t)r);
	assert_clean_close(&p.s);
	/* The server may still answer (TLS 1.3 half-close), then closes its side too. */
	send_text(&p, &p.s, &p.c, "adios");
	tls_conn_shutdown(&p.s);
	pump(&p);
	assert_clean_close(&p.c);
	pair_close(&p);
}

static void
shutdown_server_first_is_clean(void **state)
{
	struct pair p;

	(void)state;
	pair_good(&p);
	tls_conn_shutdown(&p.s);
	pump(&p);
	assert_clean_close(&p.c);
	tls_conn_shutdown(&p.c);
	pump(&p);
	assert_clean_close(&p.s);
	pair_close(&p);
}

/* ---- THREATS 13: refused clients ---------------------------------------------------------- */

static void
client_without_certificate(void **state)
{
	const struct raw_client r = { NULL, NULL, 0, NULL, ALPN_PUENTE, 9 };

	(void)state;
	refused_raw_client(&r, "certificate required", "certificate required", 1);
}

static void
client_certificate_from_other_federation(void **state)
{
	struct pair p;

	(void)state;
	/* Our own client code, the same agency id, a certificate from another CA. */
	pair_open(&p, client_ctx(agency_file("other", STATE_ID, "tls.crt"),
	    agency_file("other", STATE_ID, "tls.key"), agency_file("fed", STATE_ID, "ca.crt")),
	    fed_server_ctx());
	pair_handshake(&p);
	assert_refused_after_handshake(&p, "unknown ca");
	pair_close(&p);
}

static void
client_certificate_expired(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, client_ctx(path("lab/expired.crt"), path("lab/expired.key"),
	    path("lab/ca.crt")),
	    server_ctx(path("lab/gw.crt"), path("lab/gw.key"), path("lab/ca.crt")));
	pair_handshake(&p);
	assert_refused_after_handshake(&p, "certificate expired");
	pair_close(&p);
}

static void
client_tls12_only(void **state)
{
	const struct raw_client r = { agency_file("fed", STATE_ID, "tls.crt"),
		agency_file("fed", STATE_ID, "tls.key"), 1, NULL, ALPN_PUENTE, 9 };

	(void)state;
	refused_raw_client(&r, "unsupported protocol", "unsupported protocol", 0);
}

static void
client_tls12_only_without_alpn(void **state)
{
	const struct raw_client r = { agency_file("fed", STATE_ID, "tls.crt"),
		agency_file("fed", STATE_ID, "tls.key"), 1, NULL, NULL, 0 };

	(void)state;
	/* A TLS 1.2 scanner is logged as what it is, not as a missing ALPN. */
	refused_raw_client(&r, "unsupported protocol", "unsupported protocol", 0);
}

static void
client_ccm8_only(void **state)
{
	const struct raw_client r = { agency_file("fed", STATE_ID, "tls.crt"),
		agency_file("fed", STATE_ID, "tls.key"), 0, "TLS_AES_128_CCM_8_SHA256",
		ALPN_PUENTE, 9 };

	(void)state;
	refused_raw_client(&r, "no shared cipher", "handshake failure", 0);
}

static void
client_alpn_http11(void **state)
{
	const struct raw_client r = { agency_file("fed", STATE_ID, "tls.crt"),
		agency_file("fed", STATE_ID, "tls.key"), 0, NULL, "\x08http/1.1", 9 };

	(void)state;
	refused_raw_client(&r, "no application protocol", "no application protocol", 0);
}

static void
client_alpn_near_miss(void **state)
{
	/* "puente/10" and "puente/" are not "puente/1". */
	const struct raw_client r = { agency_file("fed", STATE_ID, "tls.crt"),
		agency_file("fed", STATE_ID, "tls.key"), 0, NULL, "\x09puente/10\x07puente/",
		18 };

	(void)state;
	refused_raw_client(&r, "no application protocol", "no application protocol", 0);
}

static void
client_without_alpn(void **state)
{
	const struct raw_client r = { agency_file("fed", STATE_ID, "tls.crt"),
		agency_file("fed", STATE_ID, "tls.key"), 0, NULL, NULL, 0 };

	(void)state;
	refused_raw_client(&r, "no application protocol", "no application protocol", 0);
}

static void
client_alpn_list_containing_puente1(void **state)
{
	const struct raw_client r = { agency_file("fed", STATE_ID, "tls.crt"),
		agency_file("fed", STATE_ID, "tls.key"), 0, NULL, "\x08http/1.1\x08puente/1", 18 };
	struct pair p;

	(void)state;
	pair_open(&p, raw_client_ctx(&r), fed_server_ctx());
	pair_handshake(&p);
	assert_err(p.src, PU_OK);
	assert_err(p.crc, PU_OK);
	send_text(&p, &p.c, &p.s, "HELLO");
	pair_close(&p);
}

static void
client_speaks_http(void **state)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: pasarela\r\n\r\n";
	struct pair p;
	uint8_t buf[64];

	(void)state;
	pair_open(&p, fed_client_ctx(), fed_server_ctx());
	assert_err(tls_conn_feed(&p.s, (const uint8_t *)get, strlen(get)), PU_OK);
	assert_err(tls_conn_handshake(&p.s), PU_ERR_IO);
	assert_string_equal(tls_conn_error(&p.s), "not tls");
	assert_err(tls_conn_feed(&p.s, (const uint8_t *)get, strlen(get)), PU_ERR_IO);
	assert_err(tls_conn_handshake(&p.s), PU_ERR_IO);
	while (tls_conn_pending(&p.s, buf, sizeof(buf)) > 0)
		;
	pair_close(&p);
}

/* ---- THREATS 13: refused servers ------------------------------------------------------- */

static void
server_certificate_from_other_federation(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, fed_client_ctx(),
	    server_ctx(agency_file("other", GATEWAY_ID, "tls.crt"),
	    agency_file("other", GATEWAY_ID, "tls.key"), agency_file("fed", GATEWAY_ID, "ca.crt")));
	pair_handshake(&p);
	assert_refused_in_handshake(&p, "unknown ca", "unknown ca");
	pair_close(&p);
}

static void
server_certificate_without_server_auth(void **state)
{
	struct pair p;

	(void)state;
	/* A state agency's certificate (clientAuth only) presented as a gateway. */
	pair_open(&p, fed_client_ctx(),
	    server_ctx(agency_file("fed", STATE_ID, "tls.crt"),
	    agency_file("fed", STATE_ID, "tls.key"), agency_file("fed", STATE_ID, "ca.crt")));
	pair_handshake(&p);
	assert_err(p.crc, PU_ERR_IO);
	assert_string_equal(tls_conn_error(&p.c), "wrong certificate purpose");
	assert_err(p.src, PU_ERR_IO);
	pair_close(&p);
}

static void
server_without_alpn(void **state)
{
	struct pair p;
	SSL_CTX *raw = SSL_CTX_new(TLS_server_method());

	(void)state;
	assert_non_null(raw);
	assert_int_equal(SSL_CTX_use_certificate_chain_file(raw,
	    agency_file("fed", GATEWAY_ID, "tls.crt")), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(raw, agency_file("fed", GATEWAY_ID,
	    "tls.key"), SSL_FILETYPE_PEM), 1);
	pair_open(&p, fed_client_ctx(), raw);
	pair_handshake(&p);
	assert_err(p.crc, PU_ERR_IO);
	assert_string_equal(tls_conn_error(&p.c), "no application protocol");
	assert_false(p.c.handshake_done);
	pair_close(&p);
}

/* ---- identity checks on valid certificates ------------------------------------------------ */

static void
peer_agency_of(const char *lab_name, int want_rc, const char *want_id)
{
	char crt[256], key[256], id[PU_AGENCY_ID_MAX + 1] = "";
	uint8_t pin[32], want[32];
	struct pair p;

	snprintf(crt, sizeof(crt), "lab/%s.crt", lab_name);
	snprintf(key, sizeof(key), "lab/%s.key", lab_name);
	pair_open(&p, client_ctx(path(crt), path(key), path("lab/ca.crt")),
	    server_ctx(path("lab/gw.crt"), path("lab/gw.key"), path("lab/ca.crt")));
	pair_handshake(&p);
	/* The certificate itself is valid: TLS accepts it, the identity check does not. */
	assert_err(p.src, PU_OK);
	assert_err(p.crc, PU_OK);
	assert_err(tls_peer_agency(&p.s, id, sizeof(id)), want_rc);
	if (want_id != NULL)
		assert_string_equal(id, want_id);
	assert_err(tls_peer_spki_sha256(&p.s, pin), PU_OK);
	file_spki_sha256(path(crt), want);
	assert_memory_equal(pin, want, 32);
	pair_close(&p);
}

static void
peer_agency_requires_one_uri_matching_cn(void **state)
{
	(void)state;
	peer_agency_of("fresh", PU_OK, STATE_ID);
	peer_agency_of("dns-and-uri", PU_OK, STATE_ID);
	peer_agency_of("cn-mismatch", PU_ERR_AGENCY_ID, NULL);
	peer_agency_of("two-uris", PU_ERR_AGENCY_ID, NULL);
	peer_agency_of("no-san", PU_ERR_AGENCY_ID, NULL);
	peer_agency_of("bad-id", PU_ERR_AGENCY_ID, NULL);
	peer_agency_of("other-uri", PU_ERR_AGENCY_ID, NULL);
}

/* ---- API edges --------------------------------------------------------------------------- */

static void
write_encrypted_key(const char *from, const char *to)
{
	FILE *f = fopen(from, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	assert_non_null(f = fopen(to, "w"));
	assert_int_equal(PEM_write_PKCS8PrivateKey(f, k, EVP_aes_256_cbc(), NULL, 0, NULL,
	    (void *)"frase de prueba"), 1);
	fclose(f);
	EVP_PKEY_free(k);
}

static void
ctx_errors_are_one_line(void **state)
{
	char err[512];
	SSL_CTX *ctx;

	(void)state;
	err[0] = '\0';
	ctx = tls_server_ctx(path("fed/nonexistent.crt"), agency_file("fed", GATEWAY_ID,
	    "tls.key"), agency_file("fed", GATEWAY_ID, "ca.crt"), err, sizeof(err));
	assert_null(ctx);
	assert_non_null(strstr(err, "cannot load certificate"));
	assert_non_null(strstr(err, "nonexistent.crt: No such file or directory"));
	assert_null(strchr(err, '\n'));

	err[0] = '\0';
	ctx = tls_client_ctx(agency_file("fed", GATEWAY_ID, "tls.crt"),
	    agency_file("fed", STATE_ID, "tls.key"), agency_file("fed", GATEWAY_ID, "ca.crt"),
	    err, sizeof(err));
	assert_null(ctx);
	if (strstr(err, "private key does not match certificate") == NULL)
		fail_msg("%s", err);

	err[0] = '\0';
	ctx = tls_server_ctx(agency_file("fed", GATEWAY_ID, "tls.crt"),
	    agency_file("fed", GATEWAY_ID, "tls.key"), path("fed/directory.pb"), err, sizeof(err));
	assert_null(ctx);
	assert_non_null(strstr(err, "cannot load CA certificate"));

	/* An encrypted key is refused, never a passphrase prompt on the terminal. */
	err[0] = '\0';
	write_encrypted_key(path("lab/gw.key"), path("lab/gw-encrypted.key"));
	ctx = tls_server_ctx(path("lab/gw.crt"), path("lab/gw-encrypted.key"), path("lab/ca.crt"),
	    err, sizeof(err));
	assert_null(ctx);
	assert_non_null(strstr(err, "cannot load private key"));

	err[0] = '\0';
	assert_null(tls_client_ctx(NULL, NULL, NULL, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	/* A tiny buffer is truncated, not overrun; no buffer at all is fine too. */
	assert_null(tls_client_ctx(NULL, NULL, NULL, err, 4));
	assert_int_equal(strlen(err), 3);
	assert_null(tls_client_ctx(NULL, NULL, NULL, NULL, 0));
	assert_int_equal(ERR_peek_error(), 0);
}

static void
calls_before_the_handshake(void **state)
{
	struct pair p;
	struct tls_conn spare;
	uint8_t buf[32];
	char id[PU_AGENCY_ID_MAX + 1];

	(void)state;
	pair_open(&p, fed_client_ctx(), fed_server_ctx());
	assert_err(tls_conn_read(&p.s, buf, sizeof(buf)), PU_ERR_ARG);
	assert_err(tls_conn_write(&p.c, buf, sizeof(buf)), PU_ERR_ARG);
	assert_err(tls_peer_spki_sha256(&p.s, buf), PU_ERR_ARG);
	assert_err(tls_peer_agency(&p.s, id, sizeof(id)), PU_ERR_ARG);
	assert_int_equal(tls_conn_pending(&p.s, buf, sizeof(buf)), 0);
	assert_err(tls_conn_handshake(&p.s), PU_ERR_AGAIN);	/* nothing arrived yet */
	assert_err(tls_conn_handshake(&p.c), PU_ERR_AGAIN);	/* ClientHello is pending */
	assert_true(BIO_ctrl_pending(p.c.net_out) > 0);
	tls_conn_shutdown(&p.c);	/* no handshake yet: nothing to close cleanly */
	assert_int_equal(p.c.closed, TLS_CONN_OPEN);
	pair_close(&p);
	assert_err(tls_conn_init(&spare, NULL, 1), PU_ERR_ARG);
	assert_null(spare.ssl);
	tls_conn_free(&spare);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_handshake_is_tls13_aead_puente1),
		cmocka_unit_test(peer_identity_and_pin),
		cmocka_unit_test(one_mebibyte_client_to_server),
		cmocka_unit_test(one_mebibyte_server_to_client_in_pieces),
		cmocka_unit_test(shutdown_client_first_is_clean),
		cmocka_unit_test(shutdown_server_first_is_clean),
		cmocka_unit_test(client_without_certificate),
		cmocka_unit_test(client_certificate_from_other_federation),
		cmocka_unit_test(client_certificate_expired),
		cmocka_unit_test(client_tls12_only),
		cmocka_unit_test(client_tls12_only_without_alpn),
		cmocka_unit_test(client_ccm8_only),
		cmocka_unit_test(client_alpn_http11),
		cmocka_unit_test(client_alpn_near_miss),
		cmocka_unit_test(client_without_alpn),
		cmocka_unit_test(client_alpn_list_containing_puente1),
		cmocka_unit_test(client_speaks_http),
		cmocka_unit_test(server_certificate_from_other_federation),
		cmocka_unit_test(server_certificate_without_server_auth),
		cmocka_unit_test(server_without_alpn),
		cmocka_unit_test(peer_agency_requires_one_uri_matching_cn),
		cmocka_unit_test(ctx_errors_are_one_line),
		cmocka_unit_test(calls_before_the_handshake),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: test_tls PATH/TO/puente-keys WORKDIR\n");
		return 2;
	}
	keys_bin = argv[1];
	if ((size_t)snprintf(work, sizeof(work), "%s", argv[2]) >= sizeof(work)) {
		fprintf(stderr, "test_tls: WORKDIR too long\n");
		return 2;
	}
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
