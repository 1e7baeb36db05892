/*
 * make_corpus.c - writes the seed corpora of the fuzz targets:
 *
 *   puente-make-corpus tests/corpus
 *
 * fills OUTDIR/{header,chunk,directory,frame,note,proof,audit}/ with valid inputs made through
 * the real library and a few invalid ones, each named for what it holds. The federation is
 * the targets' own (testrng seeded with FUZZ_RNG_SEED, then fx_init), so the valid seeds
 * verify there, and a second run rewrites the same bytes. Files it does not name are left
 * alone: the regress-* reproducers live beside the seeds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "audit.pb-c.h"
#include "buf.h"
#include "crypto.h"
#include "fixture.h"
#include "frame.h"
#include "frames.pb-c.h"
#include "fuzz.h"
#include "merkle.h"
#include "note.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"
#include "testrng.h"

/* sysexits.h */
#define EX_USAGE 64
#define EX_SOFTWARE 70
#define EX_CANTCREAT 73

#define SEED_CAP (8u * 1024 * 1024)
#define TLA "MX-TLA-PPNNA"
#define NLE "MX-NLE-PPNNA"
#define FED "MX-FED-PFPNNA"
#define GW "MX-CMX-GW01"
#define DAY 86400
/* Byte 0 of a frame seed: how fuzz_frame.c cuts the stream into reads. */
#define CUT_NONE 0
#define CUT_BYTES 1
#define CUT_SMALL 7
/* Far above any type frames.proto will define, so the seed stays an unknown type. */
#define UNKNOWN_FRAME_TYPE 0xff
/* Byte 0 of a chunk seed (fuzz_chunk.c): bit 7 picks the two-chunk message. */
#define TWO_CHUNKS 0x80
/* A signed note as a checkpoint: the text matters to the decoder, not the signature. */
#define CHECKPOINT "mx-cmx-gw01.puente.example/log\n8\n" \
	"7Yw1dD2/Hs0m6fB0kqV8PZ3mJ1oWuYc5sN4xT9aLhEg=\n\n" \
	"\xe2\x80\x94 mx-cmx-gw01.puente.example/log Zm9vYmFyYmF6cXV4cXV1eGZyZWQ=\n"

struct corpus {
	const char *out;		/* the corpus root */
	struct fixture fx;
	struct fx_msg one;		/* fuzz_chunk.c's one-chunk message */
	struct header h;		/* its header, decoded */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("puente-make-corpus: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EX_SOFTWARE);
}

static void
check(int rc, const char *what)
{
	if (rc != PU_OK)
		die("%s: %s", what, pu_err_name(rc));
}

static void
seed_write(const struct corpus *c, const char *target, const char *name,
    const uint8_t *p, size_t n)
{
	char path[4096];
	size_t wrote;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", c->out, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s/%s", c->out, target, name);
	if ((fp = fopen(path, "wb")) == NULL)
		goto fail;
	wrote = n > 0 ? fwrite(p, 1, n, fp) : 0;
	if (fclose(fp) != 0 || wrote != n)
		goto fail;
	return;
fail:
	fprintf(stderr, "puente-make-corpus: cannot write %s: %s\n", path, strerror(errno));
	exit(EX_CANTCREAT);
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		die("out of memory");
	return d;
}

static void
put(struct buf *b, const void *p, size_t n)
{
	check(buf_append(b, p, n), "append");
}

static void
put_u8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void
put_varint(struct buf *b, uint64_t v)
{
	for (; v >= 0x80; v >>= 7)
		put_u8(b, (uint8_t)(v | 0x80));
	put_u8(b, (uint8_t)v);
}

/* A hand-made length-delimited field, for seeds that splice bytes into an encoding. */
static void
put_pb_bytes(struct buf *b, uint32_t field, const void *p, size_t n)
{
	put_varint(b, (uint64_t)field << 3 | 2);
	put_varint(b, n);
	put(b, p, n);
}

static void
put_message(struct buf *b, const ProtobufCMessage *m)
{
	uint8_t *enc;
	size_t len;

	check(pb_encode(m, &enc, &len), "encode");
	put(b, enc, len);
	free(enc);
}

static void
put_frame(struct buf *b, uint8_t type, const uint8_t *body, size_t len)
{
	check(frame_encode(b, type, body, len), "frame");
}

static void
put_frame_header(struct buf *b, uint32_t length, uint8_t type)
{
	check(buf_append_u32be(b, length), "append");
	put_u8(b, type);
}

/* --- header/ ------------------------------------------------------------------------- */

static void
seal_or_die(struct corpus *c, struct fx_msg *m, const char *const *to, size_t n_to,
    int type, uint64_t attachment)
{
	check(fx_seal(&c->fx, m, TLA, to, n_to, type, &attachment, attachment ? 1 : 0), "seal");
}

static void
header_write(const struct corpus *c, const char *name, const struct fx_msg *m)
{
	seed_write(c, "header", name, m->sealed.header, m->sealed.header_len);
}

/* fx_resign decodes with the default allocator: replaced strings are malloc'd, old freed. */
static void
edit_bad_utf8(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	free(core->case_id);
	core->case_id = xstrdup("MX-2026-\xc3(ABCD");	/* 0xc3 then not a continuation */
}

static void
edit_version(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	core->version = PU_VERSION + 1;
}

static void
edit_expired(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	core->created_at = FX_NOW - 10 * DAY;
	core->expires_at = FX_NOW - 8 * DAY;
}

static void
edit_unknown_recipient(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	free(core->recipients[0]->agency_id);
	core->recipients[0]->agency_id = xstrdup("MX-ZAC-PPNNA");
}

static void
edit_content_length(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	core->content_length += PU_CHUNK_SIZE;
}

static void
edit_no_recipients(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	for (size_t i = 0; i < core->n_recipients; i++)
		puente__recipient_stanza__free_unpacked(core->recipients[i], NULL);
	core->n_recipients = 0;
}

static void
edit_duplicate_recipient(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)man, (void)arg;
	free(core->recipients[1]->agency_id);
	core->recipients[1]->agency_id = xstrdup(core->recipients[0]->agency_id);
}

/* PU_MAX_RECIPIENTS + 1 stanzas, copies of the first under distinct well-formed ids. */
static void
edit_too_many_recipients(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	size_t n = PU_MAX_RECIPIENTS + 1, len = puente__recipient_stanza__get_packed_size(
	    core->recipients[0]);
	uint8_t *enc = malloc(len);
	Puente__RecipientStanza **r = realloc(core->recipients, n * sizeof(*r));

	(void)man, (void)arg;
	if (enc == NULL || r == NULL)
		die("out of memory");
	core->recipients = r;
	puente__recipient_stanza__pack(r[0], enc);
	for (size_t i = core->n_recipients; i < n; i++) {
		char id[16];
		if ((r[i] = puente__recipient_stanza__unpack(NULL, len, enc)) == NULL)
			die("cannot copy a stanza");
		snprintf(id, sizeof(id), "MX-TLA-PPNNA%02zu", i);
		free(r[i]->agency_id);
		r[i]->agency_id = xstrdup(id);
		core->n_recipients = i + 1;
	}
	free(enc);
}

static void
edit_short_chunk_hash(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)core, (void)arg;
	man->chunk_hashes[0].len = PU_HASH_LEN - 1;
}

static void
edit_nothing(Puente__HeaderCore *core, Puente__Manifest *man, void *arg)
{
	(void)core, (void)man, (void)arg;
}

/* A fresh small message, its header re-signed by signer after edit. */
static void
header_resigned(struct corpus *c, const char *name, const char *signer, fx_edit_fn edit)
{
	static const char *const to[] = { NLE };
	struct fx_msg m;

	seal_or_die(c, &m, to, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_REFERRAL, 0);
	fx_resign(&c->fx, &m, signer, edit, NULL);
	header_write(c, name, &m);
	fx_msg_free(&m);
}

/* The encoded header again, its parts taken apart and put back with extra bytes. */
static void
header_rewrapped(struct corpus *c, const char *name, const uint8_t *core_extra,
    size_t core_extra_len, const uint8_t *outer_extra, size_t outer_extra_len)
{
	const Puente__SignedHeader *sh = c->h.signed_hdr;
	struct buf core, b;

	buf_init(&core, SEED_CAP);
	buf_init(&b, SEED_CAP);
	put(&core, sh->core.data, sh->core.len);
	put(&core, core_extra, core_extra_len);
	put_pb_bytes(&b, 1, core.data, core.len);
	put_pb_bytes(&b, 2, sh->manifest.data, sh->manifest.len);
	put_pb_bytes(&b, 3, sh->signature.data, sh->signature.len);
	put(&b, outer_extra, outer_extra_len);
	seed_write(c, "header", name, b.data, b.len);
	buf_free(&core);
	buf_free(&b);
}

static void
header_seeds(struct corpus *c)
{
	static const char *const to_one[] = { NLE }, *const to_two[] = { NLE, FED };
	/* HeaderCore field 12 (respond_by) holding an explicit zero: proto3 omits it. */
	static const uint8_t explicit_zero[] = { 12 << 3, 0 };
	/* SignedHeader has no field 4. */
	static const uint8_t unknown_field[] = { 4 << 3, 1 };
	const struct fx_msg *one = &c->one;
	struct fx_msg m;
	uint8_t *p;

	header_write(c, "valid-header", one);
	seal_or_die(c, &m, to_two, 2, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_REFERRAL, 0);
	header_write(c, "valid-header-two-recipients", &m);
	fx_msg_free(&m);
	seal_or_die(c, &m, to_one, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS, 1536 * 1024);
	header_write(c, "valid-header-two-chunks", &m);
	fx_msg_free(&m);

	seed_write(c, "header", "header-empty", NULL, 0);
	seed_write(c, "header", "header-truncated", one->sealed.header,
	    one->sealed.header_len - 10);
	if ((p = malloc(one->sealed.header_len)) == NULL)
		die("out of memory");
	memcpy(p, one->sealed.header, one->sealed.header_len);
	p[one->sealed.header_len - 1] ^= 0x01;	/* the signature is the last field */
	seed_write(c, "header", "header-signature-flipped", p, one->sealed.header_len);
	free(p);
	header_rewrapped(c, "header-core-explicit-zero", explicit_zero, sizeof(explicit_zero),
	    NULL, 0);
	header_rewrapped(c, "header-unknown-field", NULL, 0, unknown_field,
	    sizeof(unknown_field));
	header_resigned(c, "header-case-id-bad-utf8", TLA, edit_bad_utf8);
	header_resigned(c, "header-version-2", TLA, edit_version);
	header_resigned(c, "header-expired", TLA, edit_expired);
	header_resigned(c, "header-recipient-unknown", TLA, edit_unknown_recipient);
	header_resigned(c, "header-chunk-count-mismatch", TLA, edit_content_length);
	header_resigned(c, "header-signed-by-recipient", NLE, edit_nothing);
	header_resigned(c, "header-no-recipients", TLA, edit_no_recipients);
	header_resigned(c, "header-too-many-recipients", TLA, edit_too_many_recipients);
	header_resigned(c, "header-chunk-hash-short", TLA, edit_short_chunk_hash);
	seal_or_die(c, &m, to_two, 2, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_REFERRAL, 0);
	fx_resign(&c->fx, &m, TLA, edit_duplicate_recipient, NULL);
	header_write(c, "header-duplicate-recipient", &m);
	fx_msg_free(&m);
}

/* --- chunk/ -------------------------------------------------------------------------- */

static void
chunk_write(const struct corpus *c, const char *name, uint8_t selector, const uint8_t *ct,
    size_t len)
{
	struct buf b;

	buf_init(&b, SEED_CAP);
	put_u8(&b, selector);
	put(&b, ct, len);
	seed_write(c, "chunk", name, b.data, b.len);
	buf_free(&b);
}

static void
chunk_seeds(const struct corpus *c)
{
	const uint8_t *ct = c->one.chunk[0];
	size_t len = c->one.chunk_len[0];
	uint8_t *flipped = malloc(len);

	if (flipped == NULL)
		die("out of memory");
	memcpy(flipped, ct, len);
	flipped[len / 2] ^= 0x10;
	chunk_write(c, "valid-chunk", 0, ct, len);
	chunk_write(c, "chunk-flipped-bit", 0, flipped, len);
	chunk_write(c, "chunk-truncated", 0, ct, len - 1);
	chunk_write(c, "chunk-empty", 0, NULL, 0);
	chunk_write(c, "chunk-extra-after-final", 1, ct, len);
	chunk_write(c, "two-chunks-first-replaced", TWO_CHUNKS | 0, ct, len);
	chunk_write(c, "two-chunks-last-replaced", TWO_CHUNKS | 1, ct, len);
	chunk_write(c, "two-chunks-extra-after-final", TWO_CHUNKS | 2, ct, len);
	free(flipped);
}

/* --- directory/ ---------------------------------------------------------------------- */

/* The fixture's Directory, decoded with the default allocator so edits may free. */
static Puente__Directory *
dir_copy(const struct corpus *c)
{
	const Puente__SignedDirectory *sd = c->fx.dir.signed_dir;
	Puente__Directory *d = puente__directory__unpack(NULL, sd->directory.len,
	    sd->directory.data);

	if (d == NULL)
		die("cannot decode the fixture's directory");
	return d;
}

static void
dir_write(const struct corpus *c, const char *name, const uint8_t *body, size_t len, int sign)
{
	uint8_t *sd;
	size_t sd_len;

	if (!sign) {
		seed_write(c, "directory", name, body, len);
		return;
	}
	check(directory_sign(body, len, c->fx.root_sk, c->fx.root_pk, &sd, &sd_len), "sign");
	seed_write(c, "directory", name, sd, sd_len);
	free(sd);
}

/* Write d (signed by the root, or as a bare body for fuzz_directory's second load). */
static void
dir_emit(const struct corpus *c, const char *name, Puente__Directory *d, int sign)
{
	uint8_t *body;
	size_t len;

	check(pb_encode(&d->base, &body, &len), "encode directory");
	dir_write(c, name, body, len, sign);
	free(body);
	puente__directory__free_unpacked(d, NULL);
}

/* Every status and narrowing the queries distinguish, in a directory that loads. */
static void
dir_statuses(const struct corpus *c)
{
	Puente__Directory *d = dir_copy(c);
	Puente__Agency *tla = d->agencies[0], *aud = d->agencies[4];
	Puente__Key *wk, **keys;

	d->agencies[1]->status = PUENTE__AGENCY_STATUS__AGENCY_STATUS_SUSPENDED;
	d->agencies[2]->status = PUENTE__AGENCY_STATUS__AGENCY_STATUS_REVOKED;
	tla->keys[1]->status = PUENTE__KEY_STATUS__KEY_STATUS_RETIRED;
	tla->keys[1]->status_since = FX_NOW - 3600;
	d->agencies[3]->keys[0]->status = PUENTE__KEY_STATUS__KEY_STATUS_COMPROMISED;
	d->agencies[3]->keys[0]->status_since = FX_NOW - 60;
	if ((tla->may_send = malloc(2 * sizeof(*tla->may_send))) == NULL ||
	    (d->witnesses = malloc(sizeof(*d->witnesses))) == NULL)
		die("out of memory");
	d->witnesses[0] = xstrdup("MX-FED-AUDITORIA");
	/* A witness holds a CHECKPOINT key: the auditor's, copied from its signing key. */
	if ((wk = malloc(sizeof(*wk))) == NULL ||
	    (keys = realloc(aud->keys, (aud->n_keys + 1) * sizeof(*keys))) == NULL)
		die("out of memory");
	*wk = *aud->keys[0];
	wk->purpose = PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT;
	if ((wk->key_id.data = malloc(PU_KEY_ID_LEN)) == NULL ||
	    (wk->public_key.data = malloc(32)) == NULL)
		die("out of memory");
	memcpy(wk->public_key.data, aud->keys[0]->public_key.data, 32);
	key_id_compute(wk->key_id.data, wk->purpose, wk->public_key.data);
	keys[aud->n_keys++] = wk;
	aud->keys = keys;
	tla->n_may_send = 2;
	tla->may_send[0] = PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_REFERRAL;
	tla->may_send[1] = PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS;
	d->n_witnesses = 1;
	dir_emit(c, "valid-directory-statuses", d, 1);
}

/* serial 0 written out although proto3 omits it: field 3 goes right after field 2. */
static void
dir_explicit_zero(const struct corpus *c)
{
	Puente__Directory *d = dir_copy(c);
	Puente__Directory head = PUENTE__DIRECTORY__INIT;
	static const uint8_t zero_serial[] = { 3 << 3, 0 };
	uint8_t *body;
	size_t len, head_len;
	struct buf b;

	d->serial = 0;
	head.version = d->version;
	head.federation = d->federation;
	head_len = protobuf_c_message_get_packed_size(&head.base);
	check(pb_encode(&d->base, &body, &len), "encode directory");
	buf_init(&b, SEED_CAP);
	put(&b, body, head_len);
	put(&b, zero_serial, sizeof(zero_serial));
	put(&b, body + head_len, len - head_len);
	dir_write(c, "directory-explicit-zero", b.data, b.len, 1);
	buf_free(&b);
	free(body);
	puente__directory__free_unpacked(d, NULL);
}

/* MX-NLE-PPNNA's encryption key replaced by a point of order 8, its key id made to match. */
static void
dir_low_order_key(const struct corpus *c)
{
	static const uint8_t order8[32] = {
		0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
		0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
		0x5f, 0x49, 0xb8, 0x00,
	};
	Puente__Directory *d = dir_copy(c);
	Puente__Key *k = d->agencies[1]->keys[1];

	if (k->purpose != PUENTE__KEY_PURPOSE__KEY_PURPOSE_ENCRYPTION)
		die("fixture: MX-NLE-PPNNA's second key is not its encryption key");
	memcpy(k->public_key.data, order8, sizeof(order8));
	key_id_compute(k->key_id.data, k->purpose, k->public_key.data);
	dir_emit(c, "directory-low-order-key", d, 1);
}

static void
dir_content_seeds(const struct corpus *c)
{
	Puente__Directory *d;

	dir_statuses(c);
	dir_explicit_zero(c);
	dir_low_order_key(c);
	d = dir_copy(c);
	d->version = PU_DIRECTORY_VERSION + 1;
	dir_emit(c, "directory-version-2", d, 1);
	d = dir_copy(c);
	d->issued_at = FX_NOW - 40 * DAY;
	d->expires_at = FX_NOW - 20 * DAY;
	dir_emit(c, "directory-expired", d, 1);
	d = dir_copy(c);
	d->issued_at = FX_NOW + 3600;
	d->expires_at = FX_NOW + 10 * DAY;
	dir_emit(c, "directory-not-yet-valid", d, 1);
	d = dir_copy(c);
	d->expires_at = d->issued_at + PU_DIRECTORY_MAX_LIFETIME + 1;
	dir_emit(c, "directory-lifetime-too-long", d, 1);
	d = dir_copy(c);
	free(d->agencies[1]->id);
	d->agencies[1]->id = xstrdup(d->agencies[0]->id);
	dir_emit(c, "directory-duplicate-agency", d, 1);
	d = dir_copy(c);
	free(d->federation);
	d->federation = xstrdup("Federaci\xf3n");	/* Latin-1, not UTF-8 */
	dir_emit(c, "directory-body-bad-utf8", d, 0);
	d = dir_copy(c);
	d->agencies[0]->keys[0]->key_id.data[0] ^= 0x01;
	dir_emit(c, "directory-body-key-id-mismatch", d, 0);
}

static void
directory_seeds(const struct corpus *c)
{
	const struct fixture *fx = &c->fx;
	const Puente__SignedDirectory *sd = fx->dir.signed_dir;
	static const uint8_t unknown_field[] = { 4 << 3, 1 };	/* SignedDirectory has no 4 */
	Puente__SignedDirectory *copy;
	struct buf b;

	seed_write(c, "directory", "valid-directory", fx->dir_bytes, fx->dir_len);
	dir_write(c, "valid-directory-body", sd->directory.data, sd->directory.len, 0);
	seed_write(c, "directory", "directory-empty", NULL, 0);
	seed_write(c, "directory", "directory-truncated", fx->dir_bytes, fx->dir_len - 20);
	buf_init(&b, SEED_CAP);
	put(&b, fx->dir_bytes, fx->dir_len);
	b.data[b.len - 1] ^= 0x01;	/* the signature is the last field */
	seed_write(c, "directory", "directory-signature-flipped", b.data, b.len);
	b.data[b.len - 1] ^= 0x01;
	put(&b, unknown_field, sizeof(unknown_field));
	seed_write(c, "directory", "directory-unknown-field", b.data, b.len);
	buf_free(&b);

	copy = puente__signed_directory__unpack(NULL, fx->dir_len, fx->dir_bytes);
	if (copy == NULL)
		die("cannot decode the fixture's signed directory");
	copy->root_key_id.data[0] ^= 0x01;
	buf_init(&b, SEED_CAP);
	put_message(&b, &copy->base);
	seed_write(c, "directory", "directory-wrong-root-key-id", b.data, b.len);
	buf_free(&b);
	puente__signed_directory__free_unpacked(copy, NULL);
	dir_content_seeds(c);
}

/* --- frame/ -------------------------------------------------------------------------- */

struct frame_body {
	const char *name;
	uint8_t type;
	struct buf body;
};

enum {
	F_HELLO, F_WELCOME, F_ERROR, F_SUBMIT, F_SUBMIT_CHUNK, F_GATEWAY_RECEIPT,
	F_INBOX_REQUEST, F_INBOX, F_FETCH, F_DELIVER, F_DELIVER_CHUNK, F_RECIPIENT_RECEIPT,
	F_OPEN_STATEMENT, F_NON_DELIVERY, F_ACK, F_RECEIPTS_REQUEST, F_RECEIPTS, F_NEW_MESSAGE,
	F_COUNT
};

static void
body_message(struct frame_body *f, const char *name, uint8_t type, const ProtobufCMessage *m)
{
	f->name = name;
	f->type = type;
	buf_init(&f->body, SEED_CAP);
	put_message(&f->body, m);
}

static void
body_bytes(struct frame_body *f, const char *name, uint8_t type, const uint8_t *p, size_t len)
{
	f->name = name;
	f->type = type;
	buf_init(&f->body, SEED_CAP);
	put(&f->body, p, len);
}

/* The frames of a session, between a client and the gateway. */
static void
bodies_session(const struct corpus *c, struct frame_body *f)
{
	Puente__Hello hello = PUENTE__HELLO__INIT;
	Puente__Welcome welcome = PUENTE__WELCOME__INIT;
	Puente__Error error = PUENTE__ERROR__INIT;
	Puente__InboxRequest ireq = PUENTE__INBOX_REQUEST__INIT;
	Puente__InboxEntry entry = PUENTE__INBOX_ENTRY__INIT, *entries[2] = { &entry, &entry };
	Puente__Inbox inbox = PUENTE__INBOX__INIT;
	Puente__Fetch fetch = PUENTE__FETCH__INIT;
	Puente__Ack ack = PUENTE__ACK__INIT;
	Puente__ReceiptsRequest rreq = PUENTE__RECEIPTS_REQUEST__INIT;
	ProtobufCBinaryData proof = { PU_HASH_LEN, (uint8_t *)c->h.header_hash };

	hello.version = PU_VERSION;
	hello.directory_serial = c->fx.serial;
	body_message(&f[F_HELLO], "frame-hello", PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, &hello.base);
	welcome.version = PU_VERSION;
	welcome.agency_id = TLA;
	welcome.directory_serial = c->fx.serial;
	welcome.directory.data = c->fx.dir_bytes;
	welcome.directory.len = c->fx.dir_len;
	welcome.checkpoint = CHECKPOINT;
	welcome.n_consistency_proof = 1;
	welcome.consistency_proof = &proof;
	welcome.now = FX_NOW;
	body_message(&f[F_WELCOME], "frame-welcome", PUENTE__FRAME_TYPE__FRAME_TYPE_WELCOME,
	    &welcome.base);
	error.code = (char *)pu_err_name(PU_ERR_SIGNATURE);
	error.message = (char *)pu_err_message(PU_ERR_SIGNATURE);
	error.msg_id = c->h.core->msg_id;
	body_message(&f[F_ERROR], "frame-error", PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR, &error.base);
	ireq.limit = 50;
	body_message(&f[F_INBOX_REQUEST], "frame-inbox-request",
	    PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &ireq.base);
	entry.msg_id = c->h.core->msg_id;
	entry.sender = TLA;
	entry.type = PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS;
	entry.case_id = c->h.core->case_id;
	entry.created_at = FX_NOW;
	entry.respond_by = FX_NOW + 5 * DAY;
	entry.content_length = c->h.core->content_length;
	inbox.n_entries = 2;
	inbox.entries = entries;
	body_message(&f[F_INBOX], "frame-inbox", PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX, &inbox.base);
	inbox.n_entries = 1;
	body_message(&f[F_NEW_MESSAGE], "frame-new-message", PUENTE__FRAME_TYPE__FRAME_TYPE_NEW_MESSAGE,
	    &inbox.base);
	fetch.msg_id = c->h.core->msg_id;
	body_message(&f[F_FETCH], "frame-fetch", PUENTE__FRAME_TYPE__FRAME_TYPE_FETCH, &fetch.base);
	ack.msg_id = c->h.core->msg_id;
	ack.audit_index = 8;
	body_message(&f[F_ACK], "frame-ack", PUENTE__FRAME_TYPE__FRAME_TYPE_ACK, &ack.base);
	rreq.msg_id = c->h.core->msg_id;
	body_message(&f[F_RECEIPTS_REQUEST], "frame-receipts-request",
	    PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS_REQUEST, &rreq.base);
}

/* The frames that carry the sealed message itself. */
static void
bodies_message(const struct corpus *c, struct frame_body *f)
{
	Puente__Chunk chunk = PUENTE__CHUNK__INIT;

	body_bytes(&f[F_SUBMIT], "frame-submit", PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT,
	    c->one.sealed.header, c->one.sealed.header_len);
	body_bytes(&f[F_DELIVER], "frame-deliver", PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER,
	    c->one.sealed.header, c->one.sealed.header_len);
	chunk.msg_id = c->h.core->msg_id;
	chunk.data.data = c->one.chunk[0];
	chunk.data.len = c->one.chunk_len[0];
	body_message(&f[F_SUBMIT_CHUNK], "frame-submit-chunk",
	    PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK, &chunk.base);
	body_message(&f[F_DELIVER_CHUNK], "frame-deliver-chunk",
	    PUENTE__FRAME_TYPE__FRAME_TYPE_DELIVER_CHUNK, &chunk.base);
}

static void
body_signed(struct frame_body *f, const char *name, uint8_t type, const char *context,
    const ProtobufCMessage *m, const uint8_t key_id[PU_KEY_ID_LEN], const uint8_t *sk)
{
	uint8_t *p;
	size_t len;

	check(signed_create(context, m, key_id, sk, &p, &len), "sign statement");
	body_bytes(f, name, type, p, len);
	free(p);
}

/* The signed statements, each signed by the key its verifier expects. */
static void
bodies_signed(struct corpus *c, struct frame_body *f)
{
	struct fx_agency *gw = fx_agency(&c->fx, GW), *nle = fx_agency(&c->fx, NLE);
	Puente__GatewayReceipt gr = PUENTE__GATEWAY_RECEIPT__INIT;
	Puente__AuditEntry entry = PUENTE__AUDIT_ENTRY__INIT;
	Puente__OpenStatement os = PUENTE__OPEN_STATEMENT__INIT;
	Puente__NonDeliveryNotice nd = PUENTE__NON_DELIVERY_NOTICE__INIT;
	Puente__Receipts receipts = PUENTE__RECEIPTS__INIT;
	ProtobufCBinaryData receipt;
	ProtobufCBinaryData hash = { PU_HASH_LEN, c->h.header_hash }, proof[2] = { hash, hash };
	char *undelivered[1] = { NLE };
	uint8_t receipt_kid[PU_KEY_ID_LEN], *p;
	size_t len;

	key_id_compute(receipt_kid, PUENTE__KEY_PURPOSE__KEY_PURPOSE_RECEIPT, gw->sign_pk);
	entry.event = PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE;
	entry.at = FX_NOW;
	entry.agency_id = TLA;
	entry.msg_id = c->h.core->msg_id;
	entry.header_hash = hash;
	entry.directory_serial = c->fx.serial;
	entry.outcome = "ok";
	check(pb_encode(&entry.base, &gr.audit_entry.data, &gr.audit_entry.len), "audit entry");
	gr.audit_index = 7;
	gr.checkpoint = CHECKPOINT;
	gr.n_inclusion_proof = 2;
	gr.inclusion_proof = proof;
	body_message(&f[F_GATEWAY_RECEIPT], "frame-gateway-receipt",
	    PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT, &gr.base);
	free(gr.audit_entry.data);
	nd.gateway_id = GW;
	nd.msg_id = c->h.core->msg_id;
	nd.header_hash = hash;
	nd.n_undelivered = 1;
	nd.undelivered = undelivered;
	nd.at = FX_NOW + 3 * DAY;
	body_signed(&f[F_NON_DELIVERY], "frame-non-delivery",
	    PUENTE__FRAME_TYPE__FRAME_TYPE_NON_DELIVERY, PU_CTX_NON_DELIVERY, &nd.base,
	    receipt_kid, gw->sign_sk);
	os.agency_id = NLE;
	os.msg_id = c->h.core->msg_id;
	os.header_hash = hash;
	os.staff_id = "S-0042";
	os.purpose = "case-assessment";
	os.at = FX_NOW + 120;
	body_signed(&f[F_OPEN_STATEMENT], "frame-open-statement",
	    PUENTE__FRAME_TYPE__FRAME_TYPE_OPEN_STATEMENT, PU_CTX_OPEN, &os.base, nle->sign_kid,
	    nle->sign_sk);
	check(receipt_recipient_create(&c->h, NLE, PUENTE__RECEIPT_OUTCOME__RECEIPT_OUTCOME_OPENED,
	    c->one.sealed.receipt_mac, FX_NOW + 60, nle->sign_kid, nle->sign_sk, &p, &len),
	    "recipient receipt");
	body_bytes(&f[F_RECIPIENT_RECEIPT], "frame-recipient-receipt",
	    PUENTE__FRAME_TYPE__FRAME_TYPE_RECIPIENT_RECEIPT, p, len);
	receipts.msg_id = c->h.core->msg_id;
	receipts.n_receipts = 1;
	receipts.receipts = &receipt;
	receipt.data = p;
	receipt.len = len;
	body_message(&f[F_RECEIPTS], "frame-receipts", PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS,
	    &receipts.base);
	free(p);
}

/* A frame seed: the cut byte, then the frames of the listed bodies in order. */
static void
frames_write(const struct corpus *c, const char *name, uint8_t cut,
    const struct frame_body *f, const int *which, size_t n)
{
	struct buf b;

	buf_init(&b, SEED_CAP);
	put_u8(&b, cut);
	for (size_t i = 0; i < n; i++)
		put_frame(&b, f[which[i]].type, f[which[i]].body.data, f[which[i]].body.len);
	seed_write(c, "frame", name, b.data, b.len);
	buf_free(&b);
}

/* A HELLO, then a frame whose body is given raw, or only a header when body is NULL. */
static void
frame_invalid(const struct corpus *c, const char *name, const struct frame_body *hello,
    uint32_t length, uint8_t type, const uint8_t *body, size_t body_len)
{
	struct buf b;

	buf_init(&b, SEED_CAP);
	put_u8(&b, CUT_NONE);
	if (hello != NULL)
		put_frame(&b, hello->type, hello->body.data, hello->body.len);
	put_frame_header(&b, length, type);
	put(&b, body, body_len);
	seed_write(c, "frame", name, b.data, b.len);
	buf_free(&b);
}

static void
frame_invalid_seeds(const struct corpus *c, const struct frame_body *f)
{
	/* Hello: version 1, then directory_serial as an explicit zero, or an unknown field 4. */
	static const uint8_t hello_zero[] = { 1 << 3, 1, 2 << 3, 0 };
	static const uint8_t hello_unknown[] = { 1 << 3, 1, 4 << 3, 1 };
	const struct frame_body *hello = &f[F_HELLO];
	struct buf b;

	frame_invalid(c, "frame-len0", NULL, 0, PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, NULL, 0);
	frame_invalid(c, "frame-oversize-hello", NULL, PU_FRAME_MAX_HELLO + 1,
	    PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, NULL, 0);
	frame_invalid(c, "frame-oversize-after-hello", hello, PU_FRAME_MAX + 1,
	    PUENTE__FRAME_TYPE__FRAME_TYPE_SUBMIT_CHUNK, NULL, 0);
	frame_invalid(c, "frame-unknown-type", hello, 1, UNKNOWN_FRAME_TYPE, NULL, 0);
	frame_invalid(c, "frame-type-zero", hello, 1, PUENTE__FRAME_TYPE__FRAME_TYPE_UNSPECIFIED,
	    NULL, 0);
	frame_invalid(c, "frame-hello-explicit-zero", NULL, 1 + sizeof(hello_zero),
	    PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, hello_zero, sizeof(hello_zero));
	frame_invalid(c, "frame-hello-unknown-field", NULL, 1 + sizeof(hello_unknown),
	    PUENTE__FRAME_TYPE__FRAME_TYPE_HELLO, hello_unknown, sizeof(hello_unknown));

	buf_init(&b, SEED_CAP);
	put_pb_bytes(&b, 1, "PU_ERR_\xc0\xafX", 10);	/* an overlong '/' */
	frame_invalid(c, "frame-error-bad-utf8", hello, 1 + (uint32_t)b.len,
	    PUENTE__FRAME_TYPE__FRAME_TYPE_ERROR, b.data, b.len);
	buf_free(&b);

	/* The HELLO cut off in its body, read three bytes at a time. */
	buf_init(&b, SEED_CAP);
	put_u8(&b, 3);
	put_frame(&b, hello->type, hello->body.data, hello->body.len);
	seed_write(c, "frame", "frame-truncated", b.data, b.len - 1);
	buf_free(&b);
}

static void
frame_seeds(struct corpus *c)
{
	static const int client[] = { F_HELLO, F_INBOX_REQUEST, F_FETCH, F_SUBMIT,
	    F_SUBMIT_CHUNK, F_RECIPIENT_RECEIPT, F_OPEN_STATEMENT, F_RECEIPTS_REQUEST };
	static const int gateway[] = { F_WELCOME, F_NEW_MESSAGE, F_INBOX, F_DELIVER,
	    F_DELIVER_CHUNK, F_GATEWAY_RECEIPT, F_ACK, F_RECEIPTS, F_NON_DELIVERY, F_ERROR };
	struct frame_body f[F_COUNT];

	bodies_session(c, f);
	bodies_message(c, f);
	bodies_signed(c, f);
	for (int i = 0; i < F_COUNT; i++)
		frames_write(c, f[i].name, CUT_NONE, f, &i, 1);
	frames_write(c, "frames-client-session", CUT_SMALL, f, client,
	    sizeof(client) / sizeof(client[0]));
	frames_write(c, "frames-gateway-session-bytewise", CUT_BYTES, f, gateway,
	    sizeof(gateway) / sizeof(gateway[0]));
	frame_invalid_seeds(c, f);
	for (int i = 0; i < F_COUNT; i++)
		buf_free(&f[i].body);
}

/* fuzz_note.c's key names; its keys are the fixture's gateway and auditor signing keys. */
#define NOTE_LOG "mx-cmx-gw01.puente.example/log"
#define NOTE_WITNESS "mx-fed-auditoria.puente.example/witness"
#define NOTE_FAKE_SIG "\xe2\x80\x94 " NOTE_LOG " AAAAAAAAAA==\n"

/* Checkpoint text of a tree of `size` leaves (the root only has to be well formed). */
static size_t
note_text(struct buf *b, uint64_t size, const char *extension)
{
	uint8_t root[MERKLE_HASH_LEN];

	merkle_leaf_hash(root, &size, sizeof(size));
	check(note_checkpoint_format(NOTE_LOG, size, root, b), "checkpoint");
	if (extension != NULL)
		put(b, extension, strlen(extension));
	return b->len;
}

/* Text, blank line, the log's signature, and the witness's cosignature when asked. */
static void
note_signed(struct corpus *c, struct buf *b, uint64_t size, const char *extension,
    int cosigned)
{
	const struct fx_agency *gw = fx_agency(&c->fx, GW);
	const struct fx_agency *aud = fx_agency(&c->fx, "MX-FED-AUDITORIA");
	size_t text_len;

	buf_init(b, NOTE_MAX_LEN);
	text_len = note_text(b, size, extension);
	put_u8(b, '\n');
	check(note_sign(b->data, text_len, NOTE_LOG, gw->sign_sk, gw->sign_pk, b), "sign");
	if (cosigned)
		check(note_cosign(b->data, text_len, NOTE_WITNESS, aud->sign_sk, aud->sign_pk,
		    FX_NOW, b), "cosign");
}

static void
note_seeds(struct corpus *c)
{
	static const struct {
		const char *name, *text;
	} bad[] = {
		{ "note-cr", NOTE_LOG "\r\n8\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"
		    NOTE_FAKE_SIG },
		{ "note-size-leading-zero", NOTE_LOG "\n08\n"
		    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n" NOTE_FAKE_SIG },
		{ "note-root-unpadded", NOTE_LOG "\n8\n"
		    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n\n" NOTE_FAKE_SIG },
		{ "note-extra-blank-line", NOTE_LOG "\n8\n"
		    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\n" NOTE_FAKE_SIG },
		{ "note-no-signature", NOTE_LOG "\n8\n"
		    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n" },
		{ "note-key-name-plus", NOTE_LOG "\n8\n"
		    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"
		    "\xe2\x80\x94 log+1 AAAAAAAAAA==\n" },
		/* tlog-cosignature.md's example: well formed, by keys nobody here holds. */
		{ "c2sp-example", "example.com/behind-the-sofa\n20852163\n"
		    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
		    "\xe2\x80\x94 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+"
		    "ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
		    "\xe2\x80\x94 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcr"
		    "tPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n" },
	};
	const struct fx_agency *aud = fx_agency(&c->fx, "MX-FED-AUDITORIA");
	struct buf b;
	size_t text_len;

	note_signed(c, &b, 8, NULL, 0);
	seed_write(c, "note", "valid-checkpoint", b.data, b.len);
	/* One flipped bit in the signature, not in its last (padding-bound) digit. */
	b.data[b.len - 6] = b.data[b.len - 6] == 'A' ? 'B' : 'A';
	seed_write(c, "note", "note-bad-signature", b.data, b.len);
	buf_free(&b);
	note_signed(c, &b, 8, NULL, 1);
	seed_write(c, "note", "valid-cosigned", b.data, b.len);
	buf_free(&b);
	note_signed(c, &b, 0, NULL, 1);
	seed_write(c, "note", "valid-empty-tree", b.data, b.len);
	buf_free(&b);
	note_signed(c, &b, UINT64_MAX, "puente/1 extension\n", 1);
	seed_write(c, "note", "valid-extension-line", b.data, b.len);
	buf_free(&b);

	/* The log's name, the auditor's key: a signature by the wrong key. */
	buf_init(&b, NOTE_MAX_LEN);
	text_len = note_text(&b, 8, NULL);
	put_u8(&b, '\n');
	check(note_sign(b.data, text_len, NOTE_LOG, aud->sign_sk, aud->sign_pk, &b), "sign");
	seed_write(c, "note", "note-wrong-key", b.data, b.len);
	/* 101 signature lines, one over the cap. */
	for (int i = 0; i < NOTE_MAX_SIGS; i++)
		put(&b, "\xe2\x80\x94 k AAAAAAAAAA==\n", 19);
	seed_write(c, "note", "note-too-many-signatures", b.data, b.len);
	buf_free(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		seed_write(c, "note", bad[i].name, (const uint8_t *)bad[i].text,
		    strlen(bad[i].text));
}

/* fuzz_proof.c's fixed tree: leaf i is u64be(i). */
#define PROOF_TREE_LEAVES 64
#define PROOF_CONSISTENCY 0x01
#define PROOF_RAW 0x02

static int
proof_leaf(void *arg, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	const uint8_t *leaves = arg;

	memcpy(out, leaves + index * MERKLE_HASH_LEN, MERKLE_HASH_LEN);
	return PU_OK;
}

static void
proof_write(struct corpus *c, const char *name, uint8_t flags, uint64_t a, uint64_t b,
    const uint8_t *hashes, size_t n)
{
	struct buf out;

	buf_init(&out, SEED_CAP);
	put_u8(&out, flags);
	for (int k = 56; k >= 0; k -= 8)
		put_u8(&out, (uint8_t)(a >> k));
	for (int k = 56; k >= 0; k -= 8)
		put_u8(&out, (uint8_t)(b >> k));
	put(&out, hashes, n * MERKLE_HASH_LEN);
	seed_write(c, "proof", name, out.data, out.len);
	buf_free(&out);
}

/* The fixed tree's real proof, altered by `extra` hashes more (> 0) or fewer (< 0). */
static void
proof_tree_seed(struct corpus *c, uint8_t *leaves, uint8_t flags, uint64_t a, uint64_t b,
    int extra, const char *what)
{
	uint8_t proof[(MERKLE_MAX_PROOF + 1) * MERKLE_HASH_LEN] = { 0 };
	char name[128];
	size_t n;

	if (flags & PROOF_CONSISTENCY)
		check(merkle_consistency_proof(proof_leaf, leaves, a, b, proof, &n), "proof");
	else
		check(merkle_inclusion_proof(proof_leaf, leaves, a, b, proof, &n), "proof");
	snprintf(name, sizeof(name), "%s-%" PRIu64 "-%" PRIu64 "%s",
	    flags & PROOF_CONSISTENCY ? "consistency" : "inclusion", a, b, what);
	proof_write(c, name, flags, a, b, proof, extra >= 0 ? n + (size_t)extra :
	    n - (size_t)-extra);
}

static void
proof_seeds(struct corpus *c)
{
	static const uint64_t incl[][2] = { { 0, 1 }, { 0, 8 }, { 5, 8 }, { 2, 3 }, { 1, 5 },
	    { 13, 64 }, { 63, 64 }, { 30, 33 } };
	static const uint64_t cons[][2] = { { 1, 1 }, { 1, 8 }, { 6, 8 }, { 2, 5 }, { 6, 7 },
	    { 3, 64 }, { 31, 33 }, { 64, 64 } };
	/* transparency-dev/merkle testdata/inclusion/1/happy-path.json: leaf, root, proof. */
	static const char *const td[] = {
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	};
	static uint8_t leaves[PROOF_TREE_LEAVES * MERKLE_HASH_LEN];
	uint8_t raw[(MERKLE_MAX_PROOF + 2) * MERKLE_HASH_LEN] = { 0 }, in[8];

	for (uint64_t i = 0; i < PROOF_TREE_LEAVES; i++) {
		for (unsigned k = 0; k < 8; k++)
			in[k] = (uint8_t)(i >> (56 - 8 * k));
		merkle_leaf_hash(leaves + i * MERKLE_HASH_LEN, in, sizeof(in));
	}
	for (size_t i = 0; i < sizeof(incl) / sizeof(incl[0]); i++)
		proof_tree_seed(c, leaves, 0, incl[i][0], incl[i][1], 0, "");
	for (size_t i = 0; i < sizeof(cons) / sizeof(cons[0]); i++)
		proof_tree_seed(c, leaves, PROOF_CONSISTENCY, cons[i][0], cons[i][1], 0, "");
	proof_tree_seed(c, leaves, 0, 5, 8, 1, "-one-too-many");
	proof_tree_seed(c, leaves, PROOF_CONSISTENCY, 6, 8, -1, "-one-too-few");
	proof_write(c, "inclusion-index-past-size", 0, 8, 8, raw, 3);
	proof_write(c, "consistency-shrinks", PROOF_CONSISTENCY, 8, 6, raw, 2);
	proof_write(c, "consistency-from-empty", PROOF_CONSISTENCY, 0, 5, raw, 0);

	for (size_t i = 0; i < sizeof(td) / sizeof(td[0]); i++)
		if (sodium_hex2bin(raw + i * MERKLE_HASH_LEN, MERKLE_HASH_LEN, td[i], 64, NULL,
		    NULL, NULL) != 0)
			die("bad hex in the transparency-dev vector");
	proof_write(c, "raw-transparency-dev-inclusion", PROOF_RAW, 0, 8, raw, 5);
	/* Trees too big to build: the longest proofs, judged on length and hashed through. */
	memset(raw, 0, sizeof(raw));
	proof_write(c, "raw-inclusion-2^64-1", PROOF_RAW, 0, UINT64_MAX, raw, 2 + 64);
	proof_write(c, "raw-consistency-2^64-1", PROOF_RAW | PROOF_CONSISTENCY, 3, UINT64_MAX,
	    raw, 2 + MERKLE_MAX_PROOF);
}

/* ---- audit answers (fuzz_audit) --------------------------------------------------------- */

#define AUDIT_SEED_LEAVES 5

/* A checkpoint of the first size leaves, signed by fuzz_audit's key. */
static char *
audit_checkpoint(const uint8_t *hashes, uint64_t size, const uint8_t sk[64], const uint8_t pk[32])
{
	uint8_t root[MERKLE_HASH_LEN];
	struct buf note;
	char *out;

	merkle_root(root, hashes, size);
	buf_init(&note, NOTE_MAX_LEN);
	check(note_checkpoint_format(FUZZ_AUDIT_ORIGIN, size, root, &note), "checkpoint");
	put(&note, "\n", 1);
	check(note_sign(note.data, note.len - 1, FUZZ_AUDIT_ORIGIN, sk, pk, &note), "sign");
	if ((out = calloc(1, note.len + 1)) == NULL)
		die("out of memory");
	memcpy(out, note.data, note.len);
	buf_free(&note);
	return out;
}

static void
audit_answer_write(struct corpus *c, const char *name, Puente__AuditAnswer *a)
{
	uint8_t *body;
	size_t len;

	check(pb_encode(&a->base, &body, &len), "encode answer");
	seed_write(c, "audit", name, body, len);
	free(body);
}

static void
audit_seeds(struct corpus *c)
{
	static const Puente__AuditEvent events[AUDIT_SEED_LEAVES] = {
		PUENTE__AUDIT_EVENT__AUDIT_EVENT_SESSION_OPEN, PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE,
		PUENTE__AUDIT_EVENT__AUDIT_EVENT_FETCH, PUENTE__AUDIT_EVENT__AUDIT_EVENT_OPEN,
		PUENTE__AUDIT_EVENT__AUDIT_EVENT_AUDIT_QUERY,
	};
	uint8_t sk[64], pk[32], hashes[AUDIT_SEED_LEAVES * MERKLE_HASH_LEN];
	uint8_t proofs[AUDIT_SEED_LEAVES][MERKLE_MAX_PROOF * MERKLE_HASH_LEN];
	ProtobufCBinaryData proof_fields[AUDIT_SEED_LEAVES][MERKLE_MAX_PROOF];
	Puente__AuditRecord recs[AUDIT_SEED_LEAVES], *rp[AUDIT_SEED_LEAVES];
	Puente__AuditAnswer a = PUENTE__AUDIT_ANSWER__INIT;
	uint8_t *leaf[AUDIT_SEED_LEAVES];
	char *cps[2];
	uint64_t prev = 0;

	crypto_sign_seed_keypair(pk, sk, (const uint8_t *)FUZZ_AUDIT_KEY_SEED);
	for (unsigned i = 0; i < AUDIT_SEED_LEAVES; i++) {
		Puente__AuditEntry e = PUENTE__AUDIT_ENTRY__INIT;
		size_t len;

		e.event = events[i];
		e.at = 1764000000 + i;
		e.agency_id = i == 4 ? "MX-FED-AUDITORIA" : "MX-TLA-PPNNA";
		e.outcome = "ok";
		if (i > 0) {
			/* the case's chain: each leaf names the one before it (index + 1) */
			e.case_id = FUZZ_AUDIT_CASE;
			e.prev_case_index = prev;
			prev = i + 1;
		}
		check(pb_encode(&e.base, &leaf[i], &len), "encode entry");
		merkle_leaf_hash(hashes + i * MERKLE_HASH_LEN, leaf[i], len);
		puente__audit_record__init(&recs[i]);
		recs[i].index = i;
		recs[i].entry.data = leaf[i];
		recs[i].entry.len = len;
		rp[i] = &recs[i];
	}
	cps[0] = audit_checkpoint(hashes, 2, sk, pk);
	cps[1] = audit_checkpoint(hashes, AUDIT_SEED_LEAVES, sk, pk);
	/* a full replay's page: every leaf, the checkpoints of the two batches */
	a.checkpoint = cps[1];
	a.records = rp;
	a.n_records = AUDIT_SEED_LEAVES;
	a.next_index = AUDIT_SEED_LEAVES;
	a.query_index = AUDIT_SEED_LEAVES - 1;
	a.checkpoints = cps;
	a.n_checkpoints = 2;
	audit_answer_write(c, "replay-5", &a);
	/* the same with leaf 2 missing */
	rp[2] = rp[3];
	rp[3] = rp[4];
	a.n_records = AUDIT_SEED_LEAVES - 1;
	audit_answer_write(c, "replay-gap", &a);
	/* a case trace: the case's leaves with inclusion proofs */
	for (unsigned i = 1; i < AUDIT_SEED_LEAVES; i++) {
		size_t n;
		check(merkle_inclusion_proof(proof_leaf, hashes, i, AUDIT_SEED_LEAVES, proofs[i], &n),
		    "proof");
		for (size_t k = 0; k < n; k++) {
			proof_fields[i][k].data = proofs[i] + k * MERKLE_HASH_LEN;
			proof_fields[i][k].len = MERKLE_HASH_LEN;
		}
		recs[i].inclusion_proof = proof_fields[i];
		recs[i].n_inclusion_proof = n;
		rp[i - 1] = &recs[i];
	}
	a.n_records = AUDIT_SEED_LEAVES - 1;
	a.checkpoints = NULL;
	a.n_checkpoints = 0;
	audit_answer_write(c, "case-trace", &a);
	for (unsigned i = 0; i < AUDIT_SEED_LEAVES; i++)
		free(leaf[i]);
	free(cps[0]);
	free(cps[1]);
}

int
main(int argc, char **argv)
{
	static const char *const to[] = { NLE };
	static struct corpus c;
	uint64_t attachment = 1000;

	if (argc != 2) {
		fprintf(stderr, "usage: puente-make-corpus OUTDIR (e.g. tests/corpus)\n");
		return EX_USAGE;
	}
	c.out = argv[1];
	if (mkdir(c.out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "puente-make-corpus: cannot create %s: %s\n", c.out,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	/* Exactly fuzz_chunk.c's first steps, so its one-chunk message is this one. */
	testrng_install(FUZZ_RNG_SEED);
	fx_init(&c.fx);
	check(fx_seal(&c.fx, &c.one, TLA, to, 1, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_DOCUMENTS,
	    &attachment, 1), "seal");
	check(header_decode(&c.h, c.one.sealed.header, c.one.sealed.header_len), "decode header");
	chunk_seeds(&c);
	header_seeds(&c);
	directory_seeds(&c);
	frame_seeds(&c);
	note_seeds(&c);
	proof_seeds(&c);
	audit_seeds(&c);
	header_free(&c.h);
	fx_msg_free(&c.one);
	fx_free(&c.fx);
	return 0;
}
