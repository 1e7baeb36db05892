/*
 * bench_seal.c - per-core throughput of sealing and opening (PROTOCOL.md §5), beside the
 * machine's own ceilings measured in the same run: Ed25519 signatures and verifications per
 * second, secretstream (XChaCha20-Poly1305) and BLAKE2b MB/s. Single-threaded: figures are
 * per core. Prints one machine-readable line per scenario.
 *
 * Usage: puente-bench-seal [SECONDS_PER_SCENARIO]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ceilings.h"
#include "fixture.h"
#include "pb.h"
#include "pu_err.h"

static double budget = 2.0;

struct sink {
	uint8_t **chunk;
	size_t *len;
	uint32_t n;
	int keep;
};

static int
sink_chunk(void *arg, uint32_t index, const uint8_t *ct, size_t len)
{
	struct sink *s = arg;

	if (s->keep) {
		s->chunk[index] = malloc(len);
		memcpy(s->chunk[index], ct, len);
		s->len[index] = len;
	}
	s->n = index + 1;
	return PU_OK;
}

static void
scenario(struct fixture *f, const char *name, size_t att_len, const struct ceilings *cl)
{
	static const char *const to[] = { "MX-NLE-PPNNA", "MX-FED-PFPNNA" };
	struct fx_agency *tla = fx_agency(f, "MX-TLA-PPNNA"), *nle = fx_agency(f, "MX-NLE-PPNNA");
	uint8_t *att = malloc(att_len ? att_len : 1), *enc;
	size_t enc_len, n;
	uint64_t sz = att_len;
	struct seal_recipient r[2];
	struct seal_params p = { 0 };
	struct sink s = { 0 };
	struct sealed sealed = { 0 };
	Puente__CaseMessage *cm;
	double t0, seal_s, open_s;

	randombytes_buf(att, att_len);
	cm = fx_case_new(PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS, "MX-2026-7F3K9Q", &sz, 1);
	hash_raw(cm->attachments[0]->blake2b.data, PU_P_ATTACH, att, att_len);
	pb_encode(&cm->base, &enc, &enc_len);
	for (int i = 0; i < 2; i++) {
		struct fx_agency *a = fx_agency(f, to[i]);
		r[i].agency_id = a->id;
		memcpy(r[i].key_id, a->enc_kid, 16);
		memcpy(r[i].public_key, a->enc_pk, 32);
	}
	p.sender = tla->id;
	memcpy(p.sender_key_id, tla->sign_kid, 16);
	p.sender_sk = tla->sign_sk;
	p.recipients = r;
	p.n_recipients = 2;
	p.type = cm->type;
	p.case_id = cm->case_id;
	p.created_at = f->now;
	p.expires_at = f->now + 86400;

	uint32_t chunks = (uint32_t)((att_len + enc_len + 68 + (1 << 20) - 1) >> 20);
	s.chunk = calloc(chunks, sizeof(*s.chunk));
	s.len = calloc(chunks, sizeof(*s.len));
	/* The first seal keeps its chunks and header for the open scenario. */
	for (n = 0, t0 = ceilings_now(); n == 0 || ceilings_now() - t0 < budget; n++) {
		struct sealer *sl;
		struct sealed other = { 0 };
		s.keep = n == 0;
		if (envelope_seal_begin(&sl, &p, enc, enc_len, att_len, sink_chunk, &s) != PU_OK ||
		    envelope_seal_write(sl, att, att_len) != PU_OK ||
		    envelope_seal_finish(sl, n == 0 ? &sealed : &other) != PU_OK)
			abort();
		sealed_free(&other);
		envelope_seal_free(sl);
	}
	seal_s = (ceilings_now() - t0) / n;

	struct open_key key;
	memcpy(key.key_id, nle->enc_kid, 16);
	memcpy(key.public_key, nle->enc_pk, 32);
	key.secret_key = nle->enc_sk;
	for (n = 0, t0 = ceilings_now(); n == 0 || ceilings_now() - t0 < budget; n++) {
		struct header h;
		struct opener *o;
		Puente__CaseMessage *got;
		uint8_t mac[32];
		if (header_decode(&h, sealed.header, sealed.header_len) != PU_OK ||
		    envelope_open_begin(&o, &h, &f->dir, nle->id, &key, 1, NULL, NULL) != PU_OK)
			abort();
		for (uint32_t i = 0; i < s.n; i++)
			if (envelope_open_chunk(o, i, s.chunk[i], s.len[i]) != PU_OK)
				abort();
		if (envelope_open_finish(o, &got, mac) != PU_OK)
			abort();
		pb_free(got);
		envelope_open_free(o);
		header_free(&h);
	}
	open_s = (ceilings_now() - t0) / n;

	double mb = (att_len + enc_len) / CEILING_MIB;
	/*
	 * What an open cannot avoid: 2 signature verifications, 1 X25519, the AEAD over every
	 * byte and 3 BLAKE2b passes (chunk hash, content digest, attachment hash).
	 */
	double open_ceiling = 1.0 / (2.0 / cl->verify_per_s + 1.0 / cl->x25519_per_s +
	    mb / cl->aead_mb_s + 3.0 * mb / cl->blake_mb_s);
	printf("%-10s seal %9.1f msgs/s %8.1f MB/s | open %9.1f msgs/s %8.1f MB/s | open/ceiling %.2f\n",
	    name, 1 / seal_s, mb / seal_s, 1 / open_s, mb / open_s, (1 / open_s) / open_ceiling);
	printf("scenario=%s seal_msgs_per_s=%.1f seal_mb_per_s=%.1f open_msgs_per_s=%.1f "
	    "open_mb_per_s=%.1f ratio=%.2f\n", name, 1 / seal_s, mb / seal_s, 1 / open_s,
	    mb / open_s, (1 / open_s) / open_ceiling);
	for (uint32_t i = 0; i < chunks; i++)
		free(s.chunk[i]);
	free(s.chunk);
	free(s.len);
	sealed_free(&sealed);
	free(enc);
	free(att);
	fx_case_free(cm);
}

int
main(int argc, char **argv)
{
	struct fixture f;
	struct ceilings cl;

	if (argc > 1)
		budget = atof(argv[1]) > 0 ? atof(argv[1]) : budget;
	fx_init(&f);
	ceilings_crypto(&cl, budget / 2);
	printf("ceilings (one core): Ed25519 verify %.0f/s, X25519 %.0f/s, secretstream %.0f MB/s, "
	    "BLAKE2b %.0f MB/s\n", cl.verify_per_s, cl.x25519_per_s, cl.aead_mb_s, cl.blake_mb_s);
	printf("scenario=ceilings verify_per_s=%.0f x25519_per_s=%.0f aead_mb_per_s=%.0f "
	    "blake2b_mb_per_s=%.0f\n", cl.verify_per_s, cl.x25519_per_s, cl.aead_mb_s,
	    cl.blake_mb_s);
	scenario(&f, "4KiB", 4096, &cl);
	scenario(&f, "64MiB", 64u << 20, &cl);
	fx_free(&f);
	return 0;
}
