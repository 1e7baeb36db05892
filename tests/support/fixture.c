/* fixture.c - an in-memory federation for tests (see fixture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "casefile.h"
#include "crypto.h"
#include "fixture.h"
#include "ids.h"
#include "pb.h"
#include "pu_err.h"

#define DIE(...) do { fprintf(stderr, "fixture: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static const struct { const char *id; Puente__Role role; } fx_members[] = {
	{ "MX-TLA-PPNNA", PUENTE__ROLE__ROLE_STATE },
	{ "MX-NLE-PPNNA", PUENTE__ROLE__ROLE_STATE },
	{ "MX-TAB-PPNNA", PUENTE__ROLE__ROLE_STATE },
	{ "MX-FED-PFPNNA", PUENTE__ROLE__ROLE_FEDERAL },
	{ "MX-FED-AUDITORIA", PUENTE__ROLE__ROLE_AUDITOR },
	{ "MX-CMX-GW01", PUENTE__ROLE__ROLE_GATEWAY },
};

void
fx_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	if (crypto_init() != PU_OK)
		DIE("crypto_init");
	f->now = FX_NOW;
	f->root_sk = secret_alloc(64);
	crypto_sign_keypair(f->root_pk, f->root_sk);
	for (size_t i = 0; i < sizeof(fx_members) / sizeof(fx_members[0]); i++) {
		struct fx_agency *a = &f->ag[f->n++];
		a->id = fx_members[i].id;
		a->role = fx_members[i].role;
		a->sign_sk = secret_alloc(64);
		a->enc_sk = secret_alloc(32);
		crypto_sign_keypair(a->sign_pk, a->sign_sk);
		crypto_box_keypair(a->enc_pk, a->enc_sk);
		key_id_compute(a->sign_kid, PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING, a->sign_pk);
		key_id_compute(a->enc_kid, PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION, a->enc_pk);
		a->sign_status = PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE;
		a->status = PUENTE__AGENCY_STATUS__AGENCY_STATUS_ACTIVE;
	}
	fx_publish(f);
}

void
fx_free(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++) {
		secret_free(f->ag[i].sign_sk);
		secret_free(f->ag[i].enc_sk);
	}
	secret_free(f->root_sk);
	directory_free(&f->dir);
	free(f->dir_bytes);
}

struct fx_agency *
fx_agency(struct fixture *f, const char *id)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->ag[i].id, id) == 0)
			return &f->ag[i];
	DIE("no agency %s", id);
}

static void
key_fill(Puente__Key *k, Puente__KeyPurpose purpose, const uint8_t *pk, uint8_t *kid,
    int64_t now)
{
	puente__key__init(k);
	key_id_compute(kid, purpose, pk);
	k->key_id.data = kid;
	k->key_id.len = 16;
	k->purpose = purpose;
	k->public_key.data = (uint8_t *)pk;
	k->public_key.len = 32;
	k->not_before = now - 86400;
	k->not_after = now + 365 * 86400;
	k->status = PUENTE__KEY_STATUS__KEY_STATUS_ACTIVE;
}

void
fx_publish(struct fixture *f)
{
	static Puente__MessageType all[19], state_send[18];
	Puente__Directory d = PUENTE__DIRECTORY__INIT;
	Puente__RolePolicy rp[2], *rpp[2] = { &rp[0], &rp[1] };
	Puente__Agency ag[FX_MAX_AGENCIES], *agp[FX_MAX_AGENCIES];
	Puente__Key keys[FX_MAX_AGENCIES][3], *keyp[FX_MAX_AGENCIES][3];
	uint8_t kid[FX_MAX_AGENCIES][3][16], ca[32] = { 0xca };
	char state[FX_MAX_AGENCIES][4];
	uint8_t *enc;
	size_t enc_len;

	/* States send every type but the federal decision, which is the last value. */
	for (int t = 1; t <= 19; t++) {
		all[t - 1] = t;
		if (t < PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_FEDERAL_DECISION)
			state_send[t - 1] = t;
	}
	puente__role_policy__init(&rp[0]);
	rp[0].role = PUENTE__ROLE__ROLE_STATE;
	rp[0].n_may_send = 18;
	rp[0].may_send = state_send;
	rp[0].n_may_receive = 19;
	rp[0].may_receive = all;
	puente__role_policy__init(&rp[1]);
	rp[1].role = PUENTE__ROLE__ROLE_FEDERAL;
	rp[1].n_may_send = 19;
	rp[1].may_send = all;
	rp[1].n_may_receive = 19;
	rp[1].may_receive = all;
	for (size_t i = 0; i < f->n; i++) {
		struct fx_agency *a = &f->ag[i];
		puente__agency__init(&ag[i]);
		agp[i] = &ag[i];
		ag[i].id = (char *)a->id;
		ag[i].role = a->role;
		memcpy(state[i], a->id + 3, 3);
		state[i][3] = '\0';
		ag[i].state = state[i];
		ag[i].name = "Procuraduria ficticia de prueba";
		ag[i].status = a->status;
		key_fill(&keys[i][0], PUENTE__KEY_PURPOSE__KEY_PURPOSE_SIGNING, a->sign_pk, kid[i][0], f->now);
		keys[i][0].status = a->sign_status;
		keys[i][0].status_since = a->sign_status_since;
		key_fill(&keys[i][1], PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION, a->enc_pk, kid[i][1], f->now);
		/* A gateway signs receipts with its own key; the fixture reuses the signing pair. */
		key_fill(&keys[i][2], PUENTE__KEY_PURPOSE__KEY_PURPOSE_RECEIPT, a->sign_pk, kid[i][2], f->now);
		for (int k = 0; k < 3; k++)
			keyp[i][k] = &keys[i][k];
		ag[i].n_keys = a->role == PUENTE__ROLE__ROLE_GATEWAY ? 3 : 2;
		ag[i].keys = keyp[i];
	}
	d.version = PU_DIRECTORY_VERSION;
	d.federation = "Federacion de prueba";
	d.serial = ++f->serial;
	d.issued_at = f->now - 60;
	d.expires_at = f->now + 20 * 86400;
	d.ca_cert_sha256.data = ca;
	d.ca_cert_sha256.len = 32;
	d.n_role_policies = 2;
	d.role_policies = rpp;
	d.n_agencies = f->n;
	d.agencies = agp;
	if (pb_encode(&d.base, &enc, &enc_len) != PU_OK)
		DIE("encode directory");
	free(f->dir_bytes);
	if (directory_sign(enc, enc_len, f->root_sk, f->root_pk, &f->dir_bytes, &f->dir_len) != PU_OK)
		DIE("sign directory");
	free(enc);
	directory_free(&f->dir);
	int rc = directory_load(&f->dir, f->dir_bytes, f->dir_len, f->root_pk, f->now, 0);
	if (rc != PU_OK)
		DIE("load directory: %s", pu_err_name(rc));
}

uint8_t
fx_att_byte(size_t i, uint64_t off)
{
	return (uint8_t)(off * 131 + i * 17 + (off >> 20));
}

static void
att_hash(uint8_t out[32], size_t i, uint64_t size)
{
	crypto_generichash_blake2b_state st;
	uint8_t block[65536];
	uint64_t off = 0;

	hash_stream_init(&st, PU_P_ATTACH, NULL, 0);
	while (off < size) {
		size_t n = size - off < sizeof(block) ? (size_t)(size - off) : sizeof(block);
		for (size_t k = 0; k < n; k++)
			block[k] = fx_att_byte(i, off + k);
		crypto_generichash_blake2b_update(&st, block, n);
		off += n;
	}
	crypto_generichash_blake2b_final(&st, out, 32);
}

Puente__CaseMessage *
fx_case_new(int type, const char *case_id, const uint64_t *att_sizes, size_t n_att)
{
	Puente__CaseMessage *m = calloc(1, sizeof(*m));
	const ProtobufCFieldDescriptor *fd;

	puente__case_message__init(m);
	m->type = type;
	m->case_id = strdup(case_id);
	m->summary = strdup("Expediente ficticio generado para pruebas.");
	m->n_attachments = n_att;
	m->attachments = calloc(n_att ? n_att : 1, sizeof(*m->attachments));
	for (size_t i = 0; i < n_att; i++) {
		Puente__Attachment *a = calloc(1, sizeof(*a));
		puente__attachment__init(a);
		a->name = strdup("documento-ficticio.pdf");
		a->media_type = strdup("application/pdf");
		a->size = att_sizes[i];
		a->blake2b.data = malloc(32);
		a->blake2b.len = 32;
		att_hash(a->blake2b.data, i, att_sizes[i]);
		m->attachments[i] = a;
	}
	fd = casefile_payload_field(type);
	if (fd != NULL) {
		const ProtobufCMessageDescriptor *pd = fd->descriptor;
		ProtobufCMessage *p = calloc(1, pd->sizeof_message);
		protobuf_c_message_init(pd, p);
		memcpy((char *)m + fd->offset, &p, sizeof(p));
		m->payload_case = fd->id;
	}
	return m;
}

void
fx_case_free(Puente__CaseMessage *m)
{
	/* Everything was allocated with malloc, as the default allocator expects. */
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

int
fx_collect_chunk(void *arg, uint32_t index, const uint8_t *ct, size_t len)
{
	struct fx_msg *m = arg;

	if (index != m->n_chunks)
		DIE("chunk %u out of order", index);
	m->chunk = realloc(m->chunk, (m->n_chunks + 1) * sizeof(*m->chunk));
	m->chunk_len = realloc(m->chunk_len, (m->n_chunks + 1) * sizeof(*m->chunk_len));
	m->chunk[m->n_chunks] = malloc(len);
	memcpy(m->chunk[m->n_chunks], ct, len);
	m->chunk_len[m->n_chunks] = len;
	m->n_chunks++;
	return PU_OK;
}

int
fx_seal_case(struct fixture *f, struct fx_msg *m, const char *from, const char *const *to,
    size_t n_to, const Puente__CaseMessage *cm, const struct seal_params *ov)
{
	struct fx_agency *s = fx_agency(f, from);
	struct seal_recipient r[32];
	struct seal_params p = { 0 };
	struct sealer *sl;
	uint8_t *enc, block[65536], msg_id[PU_MSG_ID_LEN];
	size_t enc_len;
	uint64_t att_total = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n_to && i < 32; i++) {
		struct fx_agency *a = fx_agency(f, to[i]);
		r[i].agency_id = a->id;
		memcpy(r[i].key_id, a->enc_kid, 16);
		memcpy(r[i].public_key, a->enc_pk, 32);
	}
	p.sender = s->id;
	memcpy(p.sender_key_id, s->sign_kid, 16);
	p.sender_sk = s->sign_sk;
	p.recipients = r;
	p.n_recipients = n_to;
	p.type = cm->type;
	p.case_id = cm->case_id;
	p.created_at = f->now;
	p.expires_at = f->now + 3 * 86400;
	if (ov != NULL) {
		if (ov->type) p.type = ov->type;
		if (ov->adoption_scope) p.adoption_scope = ov->adoption_scope;
		if (ov->created_at) p.created_at = ov->created_at;
		if (ov->expires_at) p.expires_at = ov->expires_at;
		if (ov->respond_by) p.respond_by = ov->respond_by;
		if (ov->in_reply_to) p.in_reply_to = ov->in_reply_to;
		if (ov->msg_id) p.msg_id = ov->msg_id;
	}
	if (p.msg_id == NULL) {
		/* Made at the fixture's clock: with testrng, the same id on every run (corpora). */
		msg_id_at(msg_id, (uint64_t)f->now * 1000u);
		p.msg_id = msg_id;
	}
	for (size_t i = 0; i < cm->n_attachments; i++)
		att_total += cm->attachments[i]->size;
	if (pb_encode(&cm->base, &enc, &enc_len) != PU_OK)
		DIE("encode case");
	rc = envelope_seal_begin(&sl, &p, enc, enc_len, att_total, fx_collect_chunk, m);
	free(enc);
	if (rc != PU_OK)
		return rc;
	for (size_t i = 0; i < cm->n_attachments && rc == PU_OK; i++) {
		for (uint64_t off = 0; off < cm->attachments[i]->size && rc == PU_OK; ) {
			uint64_t left = cm->attachments[i]->size - off;
			size_t n = left < sizeof(block) ? (size_t)left : sizeof(block);
			for (size_t k = 0; k < n; k++)
				block[k] = fx_att_byte(i, off + k);
			rc = envelope_seal_write(sl, block, n);
			off += n;
		}
	}
	if (rc == PU_OK)
		rc = envelope_seal_finish(sl, &m->sealed);
	envelope_seal_free(sl);
	return rc;
}

int
fx_seal(struct fixture *f, struct fx_msg *m, const char *from, const char *const *to,
    size_t n_to, int type, const uint64_t *att_sizes, size_t n_att)
{
	Puente__CaseMessage *cm = fx_case_new(type, "MX-2026-7F3K9Q", att_sizes, n_att);
	int rc = fx_seal_case(f, m, from, to, n_to, cm, NULL);

	fx_case_free(cm);
	return rc;
}

void
fx_msg_free(struct fx_msg *m)
{
	for (uint32_t i = 0; i < m->n_chunks; i++)
		free(m->chunk[i]);
	free(m->chunk);
	free(m->chunk_len);
	sealed_free(&m->sealed);
	memset(m, 0, sizeof(*m));
}

struct att_check {
	uint64_t off[256];
	uint32_t last;
	int bad;
};

static int
check_attachment(void *arg, uint32_t index, const uint8_t *p, size_t len)
{
	struct att_check *c = arg;

	if (index >= 256 || index < c->last)
		c->bad = 1;
	c->last = index;
	for (size_t k = 0; k < len && !c->bad; k++)
		if (p[k] != fx_att_byte(index, c->off[index] + k))
			c->bad = 1;
	if (index < 256)
		c->off[index] += len;
	return PU_OK;
}

int
fx_open_bytes(struct fixture *f, const uint8_t *hdr, size_t hdr_len, const struct fx_msg *m,
    const char *me, Puente__CaseMessage **cm, uint8_t mac[32])
{
	struct fx_agency *a = fx_agency(f, me);
	struct open_key key;
	struct header h;
	struct opener *o = NULL;
	struct att_check *chk = calloc(1, sizeof(*chk));
	Puente__CaseMessage *got = NULL;
	uint8_t mac_buf[32];
	int rc;

	memcpy(key.key_id, a->enc_kid, 16);
	memcpy(key.public_key, a->enc_pk, 32);
	key.secret_key = a->enc_sk;
	if ((rc = header_decode(&h, hdr, hdr_len)) != PU_OK)
		goto out_nohdr;
	if ((rc = envelope_open_begin(&o, &h, &f->dir, me, &key, 1, check_attachment, chk)) != PU_OK)
		goto out;
	for (uint32_t i = 0; i < m->n_chunks && rc == PU_OK; i++)
		rc = envelope_open_chunk(o, i, m->chunk[i], m->chunk_len[i]);
	if (rc == PU_OK)
		rc = envelope_open_finish(o, &got, mac ? mac : mac_buf);
	if (rc == PU_OK && chk->bad)
		DIE("attachment bytes differ from what was sealed");
out:
	envelope_open_free(o);
	header_free(&h);
out_nohdr:
	free(chk);
	if (cm != NULL)
		*cm = got;
	else
		pb_free(got);
	return rc;
}

int
fx_open(struct fixture *f, const struct fx_msg *m, const char *me,
    Puente__CaseMessage **cm, uint8_t mac[32])
{
	return fx_open_bytes(f, m->sealed.header, m->sealed.header_len, m, me, cm, mac);
}

void
fx_resign(struct fixture *f, struct fx_msg *m, const char *signer, fx_edit_fn edit, void *arg)
{
	struct fx_agency *s = fx_agency(f, signer);
	Puente__SignedHeader *sh;
	Puente__HeaderCore *core;
	Puente__Manifest *man;
	uint8_t *c, *mn, sig[64];
	size_t c_len, mn_len;

	sh = puente__signed_header__unpack(NULL, m->sealed.header_len, m->sealed.header);
	if (sh == NULL)
		DIE("resign: cannot decode the signed header");
	core = puente__header_core__unpack(NULL, sh->core.len, sh->core.data);
	man = puente__manifest__unpack(NULL, sh->manifest.len, sh->manifest.data);
	if (!core || !man)
		DIE("resign: cannot decode core or manifest");
	edit(core, man, arg);
	pb_encode(&core->base, &c, &c_len);
	pb_encode(&man->base, &mn, &mn_len);
	struct field fl[2] = { { c, c_len }, { mn, mn_len } };
	sig_sign(sig, s->sign_sk, PU_CTX_HEADER, fl, 2);
	free(sh->core.data);
	free(sh->manifest.data);
	memcpy(sh->signature.data, sig, 64);
	sh->core.data = c;
	sh->core.len = c_len;
	sh->manifest.data = mn;
	sh->manifest.len = mn_len;
	free(m->sealed.header);
	pb_encode(&sh->base, &m->sealed.header, &m->sealed.header_len);
	header_hash_compute(m->sealed.header_hash, c, c_len, mn, mn_len);
	puente__manifest__free_unpacked(man, NULL);
	puente__header_core__free_unpacked(core, NULL);
	puente__signed_header__free_unpacked(sh, NULL);
}
