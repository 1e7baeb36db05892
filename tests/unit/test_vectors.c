/*
 * test_vectors.c - deterministic test vectors (PROTOCOL.md §10).
 *
 * With the deterministic RNG of tests/support/testrng.c, the library produces exactly the
 * bytes recorded in tests/vectors/puente-v1.txt; this test recomputes them all and compares
 * line by line. `test_vectors --write FILE` regenerates the file after a deliberate change
 * of the protocol (which must also bump PROTOCOL.md). tests/vectors/check_vectors.py
 * verifies the same file independently, from the specification alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fixture.h"
#include "frame.h"
#include "frames.pb-c.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"
#include "testrng.h"

#define TLA "MX-TLA-PPNNA"
#define NLE "MX-NLE-PPNNA"
#define FED "MX-FED-PFPNNA"

static FILE *out;

static void
put_hex(const char *name, const uint8_t *p, size_t n)
{
	fprintf(out, "%s = ", name);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%02x", p[i]);
	fputc('\n', out);
}

static void
put_text(const char *name, const char *v)
{
	fprintf(out, "%s = %s\n", name, v);
}

static void
put_num(const char *name, long long v)
{
	fprintf(out, "%s = %lld\n", name, v);
}

static void
vectors_frame(void)
{
	Puente__Hello h = PUENTE__HELLO__INIT;
	uint8_t *body;
	size_t len;
	struct buf b;

	h.version = 1;
	h.directory_serial = 7;
	pb_encode(&h.base, &body, &len);
	buf_init(&b, PU_FRAME_MAX);
	frame_encode(&b, PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, body, len);
	put_hex("frame.hello", b.data, b.len);
	buf_free(&b);
	free(body);
}

static void
vectors_primitives(struct fixture *f)
{
	struct fx_agency *tla = fx_agency(f, TLA);
	struct field fl[2] = { { "core", 4 }, { "manifest", 8 } };
	uint8_t *in, sig[64], h[32];
	size_t in_len;

	put_hex("root.public_key", f->root_pk, 32);
	put_hex("tla.signing.seed", tla->sign_sk, 32);
	put_hex("tla.signing.public_key", tla->sign_pk, 32);
	put_hex("tla.signing.key_id", tla->sign_kid, 16);
	sig_input(PU_CTX_HEADER, fl, 2, &in, &in_len);
	put_hex("sig_input.header(core,manifest)", in, in_len);
	free(in);
	sig_sign(sig, tla->sign_sk, PU_CTX_HEADER, fl, 2);
	put_hex("sig.header(core,manifest)", sig, 64);
	hash_raw(h, PU_P_CHUNK, "chunk", 5);
	put_hex("blake2b.chunk(\"chunk\")", h, 32);
	hash_fields(h, PU_P_COMMIT, fl, 2);
	put_hex("blake2b.commit.fields(core,manifest)", h, 32);
}

static void
vectors_message(struct fixture *f)
{
	static const char *const to[] = { NLE, FED };
	struct fx_agency *nle = fx_agency(f, NLE);
	uint64_t att = 100;
	Puente__CaseMessage *cm = fx_case_new(PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER,
	    "MX-2026-7F3K9Q", &att, 1);
	struct fx_msg m;
	struct header h;
	uint8_t mac[32], *rr;
	size_t rr_len;
	uint8_t *enc;
	size_t enc_len;

	/*
	 * A new msg_id starts with the clock (msg_id_new): the vectors' one is 16 bytes of the
	 * deterministic generator, drawn where the seal drew them before it had an id to use.
	 */
	uint8_t msg_id[16];
	struct seal_params ov = { 0 };
	randombytes_buf(msg_id, sizeof(msg_id));
	ov.msg_id = msg_id;
	if (fx_seal_case(f, &m, TLA, to, 2, cm, &ov) != PU_OK)
		abort();
	pb_encode(&cm->base, &enc, &enc_len);
	put_hex("message.case_message", enc, enc_len);
	free(enc);
	put_hex("nle.encryption.secret_key", nle->enc_sk, 32);
	put_hex("nle.encryption.public_key", nle->enc_pk, 32);
	put_hex("nle.encryption.key_id", nle->enc_kid, 16);
	put_hex("nle.signing.public_key", nle->sign_pk, 32);
	put_hex("message.signed_header", m.sealed.header, m.sealed.header_len);
	header_decode(&h, m.sealed.header, m.sealed.header_len);
	put_hex("message.core_hash", h.core_hash, 32);
	put_hex("message.header_hash", m.sealed.header_hash, 32);
	put_num("message.chunk_count", m.n_chunks);
	for (uint32_t i = 0; i < m.n_chunks; i++) {
		char name[32];
		snprintf(name, sizeof(name), "message.chunk.%u", i);
		put_hex(name, m.chunk[i], m.chunk_len[i]);
	}
	put_hex("message.receipt_mac", m.sealed.receipt_mac, 32);
	if (fx_open(f, &m, NLE, NULL, mac) != PU_OK || memcmp(mac, m.sealed.receipt_mac, 32) != 0)
		abort();
	receipt_recipient_create(&h, NLE, PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED, mac,
	    FX_NOW + 60, nle->sign_kid, nle->sign_sk, &rr, &rr_len);
	put_hex("receipt.recipient.signed", rr, rr_len);
	free(rr);
	header_free(&h);
	fx_msg_free(&m);
	fx_case_free(cm);
}

static void
vectors_all(FILE *to)
{
	struct fixture f;

	out = to;
	put_text("seed", "puente/1 test vectors");
	put_num("now", FX_NOW);
	testrng_install("puente/1 test vectors");
	fx_init(&f);
	vectors_frame();
	vectors_primitives(&f);
	put_hex("directory.signed", f.dir_bytes, f.dir_len);
	vectors_message(&f);
	fx_free(&f);
}

int
main(int argc, char **argv)
{
	const char *path = PUENTE_VECTORS_FILE;
	char *mine = NULL, *theirs = NULL;
	size_t mine_len = 0, theirs_len = 0;
	FILE *mem, *ref;

	if (argc == 3 && strcmp(argv[1], "--write") == 0) {
		FILE *w = fopen(argv[2], "w");
		if (w == NULL) {
			perror(argv[2]);
			return 66;
		}
		vectors_all(w);
		return fclose(w) == 0 ? 0 : 74;
	}
	mem = open_memstream(&mine, &mine_len);
	vectors_all(mem);
	fclose(mem);
	if ((ref = fopen(path, "r")) == NULL) {
		perror(path);
		return 1;
	}
	mem = open_memstream(&theirs, &theirs_len);
	for (int c; (c = fgetc(ref)) != EOF; )
		fputc(c, mem);
	fclose(mem);
	fclose(ref);
	if (mine_len != theirs_len || memcmp(mine, theirs, mine_len) != 0) {
		/* name the first line that differs */
		size_t i = 0, line = 1;
		while (i < mine_len && i < theirs_len && mine[i] == theirs[i])
			line += mine[i++] == '\n';
		fprintf(stderr, "test_vectors: %s differs from the library at line %zu\n", path, line);
		free(mine);
		free(theirs);
		return 1;
	}
	printf("test_vectors: %zu bytes of vectors reproduced exactly\n", mine_len);
	free(mine);
	free(theirs);
	return 0;
}
