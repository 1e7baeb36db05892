/*
 * seal_demo.c - the protocol library's part of `make demo`: the PPNNA of Tlaxcala seals a
 * fictional case transfer with three attachments for the PPNNA of Nuevo León (and PFPNNA),
 * we show what a gateway can see of it, and Nuevo León opens and verifies it.
 * Every name and identifier below is generated and fictional.
 *
 * Usage: puente-demo-seal OUTDIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "casefile.h"
#include "fixture.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

#define TLA "MX-TLA-PPNNA"
#define NLE "MX-NLE-PPNNA"
#define FED "MX-FED-PFPNNA"

static const char *outdir;

static void
die(const char *what, int rc)
{
	fprintf(stderr, "puente-demo-seal: %s: %s (%s)\n", what, pu_err_message(rc), pu_err_name(rc));
	exit(70);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) != 0) {
		fprintf(stderr, "puente-demo-seal: cannot write %s: %s\n", path, strerror(errno));
		exit(73);
	}
}

static Puente__CaseMessage *
fictional_case_transfer(void)
{
	static const uint64_t sizes[3] = { 180 * 1024, 1200 * 1024, 64 * 1024 };
	Puente__CaseMessage *cm = fx_case_new(PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER,
	    "MX-2026-7F3K9Q", sizes, 3);
	Puente__CaseTransfer *ct = cm->case_transfer;
	Puente__Expediente *e = malloc(sizeof(*e));
	Puente__Child *c = malloc(sizeof(*c));

	puente__expediente__init(e);
	puente__child__init(c);
	c->given_names = strdup("Ana Lucía (FICTICIA)");
	c->first_surname = strdup("Prueba");
	c->second_surname = strdup("Ejemplo");
	c->birth_date = strdup("2015-03-12");
	c->sex = PUENTE__SEX__SEX_FEMALE;
	c->nationality = strdup("MX");
	e->child = c;
	e->legal_status = PUENTE__LEGAL_STATUS__LEGAL_STATUS_UNDER_PROTECTION;
	e->responsible_agency = strdup(TLA);
	ct->expediente = e;
	ct->reason = strdup("La familia de acogida se muda a Nuevo León (caso ficticio).");
	ct->effective_date = strdup("2026-10-01");
	static const char *names[3] = { "acta-ficticia.pdf", "plan-restitucion.pdf", "foto.jpg" };
	for (int i = 0; i < 3; i++) {
		free(cm->attachments[i]->name);
		cm->attachments[i]->name = strdup(names[i]);
	}
	return cm;
}

static int
write_attachment(void *arg, uint32_t index, const uint8_t *p, size_t len)
{
	const char *dir = arg;
	char path[512];
	int fd;

	/* Never the sender's file name: it may carry personal data or "../". */
	snprintf(path, sizeof(path), "%s/attachment-%02u.bin.part", dir, index + 1);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0 || write(fd, p, len) != (ssize_t)len || close(fd) != 0)
		return PU_ERR_IO;
	return PU_OK;
}

int
main(int argc, char **argv)
{
	static const char *const to[] = { NLE, FED };
	struct fixture f;
	struct fx_msg m;
	struct header h;
	Puente__CaseMessage *cm, *got = NULL;
	struct opener *o;
	struct open_key key;
	char dir[512], path[600], hex[33];
	uint8_t mac[32];
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: puente-demo-seal OUTDIR\n");
		return 64;
	}
	outdir = argv[1];
	fx_init(&f);
	printf("== A throw-away federation: %zu agencies, directory serial %llu, signed by its root\n",
	    f.n, (unsigned long long)f.dir.dir->serial);

	cm = fictional_case_transfer();
	if ((rc = fx_seal_case(&f, &m, TLA, to, 2, cm, NULL)) != PU_OK)
		die("seal", rc);
	sodium_bin2hex(hex, sizeof(hex), m.sealed.msg_id, 16);
	printf("== %s seals case transfer %s for %s and %s: %u chunk(s), header %zu bytes\n",
	    TLA, hex, NLE, FED, m.n_chunks, m.sealed.header_len);
	snprintf(dir, sizeof(dir), "%s/outbox-%s", outdir, hex);
	mkdir(outdir, 0700);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/header.pb", dir);
	write_file(path, m.sealed.header, m.sealed.header_len);
	for (uint32_t i = 0; i < m.n_chunks; i++) {
		snprintf(path, sizeof(path), "%s/chunk-%04u.bin", dir, i);
		write_file(path, m.chunk[i], m.chunk_len[i]);
	}

	if ((rc = header_decode(&h, m.sealed.header, m.sealed.header_len)) != PU_OK ||
	    (rc = header_verify_signature(&h, &f.dir)) != PU_OK ||
	    (rc = header_check_keys(&h, &f.dir, f.now)) != PU_OK ||
	    (rc = header_check_time(&h, f.now)) != PU_OK)
		die("gateway checks", rc);
	for (uint32_t i = 0; i < m.n_chunks; i++)
		if ((rc = header_check_chunk(&h, i, m.chunk[i], m.chunk_len[i])) != PU_OK)
			die("gateway chunk check", rc);
	printf("== What a gateway sees (and verified without any key to the content):\n"
	    "   sender %s, type %s, case id %s, %zu recipients, %llu bytes of ciphertext\n"
	    "   header signature ok, keys active, times ok, every chunk matches the manifest\n",
	    h.core->sender,
	    protobuf_c_enum_descriptor_get_value(&puente__message_type__descriptor, h.core->type)->name,
	    h.core->case_id, h.core->n_recipients,
	    (unsigned long long)(h.core->content_length + 17ull * h.core->chunk_count));

	struct fx_agency *nle = fx_agency(&f, NLE);
	memcpy(key.key_id, nle->enc_kid, 16);
	memcpy(key.public_key, nle->enc_pk, 32);
	key.secret_key = nle->enc_sk;
	snprintf(dir, sizeof(dir), "%s/inbox-%s", outdir, hex);
	mkdir(dir, 0700);
	if ((rc = envelope_open_begin(&o, &h, &f.dir, NLE, &key, 1, write_attachment, dir)) != PU_OK)
		die("open", rc);
	for (uint32_t i = 0; i < m.n_chunks && rc == PU_OK; i++)
		rc = envelope_open_chunk(o, i, m.chunk[i], m.chunk_len[i]);
	if (rc == PU_OK)
		rc = envelope_open_finish(o, &got, mac);
	envelope_open_free(o);
	if (rc != PU_OK)
		die("open", rc);
	for (size_t i = 0; i < got->n_attachments; i++) {
		char part[600];
		snprintf(part, sizeof(part), "%s/attachment-%02zu.bin.part", dir, i + 1);
		snprintf(path, sizeof(path), "%s/attachment-%02zu.bin", dir, i + 1);
		if (rename(part, path) != 0)
			die("keep attachment", PU_ERR_IO);
	}
	printf("== %s opened it: key commitment, %u chunk(s), %zu attachment hashes and the\n"
	    "   sender's content signature verified; the expediente (the child's identity and\n"
	    "   legal status, readable only by the recipients) and attachments are under %s (0600)\n",
	    NLE, m.n_chunks, got->n_attachments, dir);
	printf("== Receipt MAC %s the sender's record: NLE decrypted exactly what TLA sent\n",
	    sodium_memcmp(mac, m.sealed.receipt_mac, 32) == 0 ? "matches" : "DOES NOT MATCH");

	pb_free(got);
	header_free(&h);
	fx_msg_free(&m);
	fx_case_free(cm);
	fx_free(&f);
	return 0;
}
