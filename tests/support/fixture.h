/*
 * fixture.h - a throw-away federation in memory for tests: root key, agencies with their
 * keys, a signed directory, and helpers to seal and open messages through the real library.
 * All names and case data are generated and obviously fictional.
 */
#ifndef PU_TEST_FIXTURE_H
#define PU_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "casefile.pb-c.h"
#include "directory.h"
#include "envelope.h"
#include "header.h"

#define FX_MAX_AGENCIES 8
#define FX_NOW 1790000000	/* a fixed "now" (2026-09-21), so tests are repeatable */

struct fx_agency {
	const char *id;
	Puente__Role role;
	uint8_t sign_pk[32];
	uint8_t *sign_sk;	/* secret memory */
	uint8_t sign_kid[16];
	uint8_t enc_pk[32];
	uint8_t *enc_sk;	/* secret memory */
	uint8_t enc_kid[16];
	Puente__KeyStatus sign_status;
	int64_t sign_status_since;
	Puente__AgencyStatus status;
};

struct fixture {
	int64_t now;
	uint8_t root_pk[32];
	uint8_t *root_sk;
	struct fx_agency ag[FX_MAX_AGENCIES];
	size_t n;
	uint64_t serial;
	uint8_t *dir_bytes;
	size_t dir_len;
	struct directory dir;
};

/* A sealed message held in memory: header and every ciphertext chunk. */
struct fx_msg {
	struct sealed sealed;
	uint8_t **chunk;
	size_t *chunk_len;
	uint32_t n_chunks;
};

void fx_init(struct fixture *f);
void fx_free(struct fixture *f);
struct fx_agency *fx_agency(struct fixture *f, const char *id);
/* Re-sign and reload the directory from the fixture's current state (serial + 1). */
void fx_publish(struct fixture *f);

/* A minimal valid case message of the type, with the attachments' sizes and hashes. */
Puente__CaseMessage *fx_case_new(int type, const char *case_id, const uint64_t *att_sizes,
    size_t n_att);
void fx_case_free(Puente__CaseMessage *m);
/* Attachment i's byte at offset: a fixed pattern, so hashes are computable. */
uint8_t fx_att_byte(size_t i, uint64_t off);

/*
 * Seal from `from` to the listed recipients, a case message of the type with attachments
 * of those sizes. Returns the library's code.
 */
int fx_seal(struct fixture *f, struct fx_msg *m, const char *from, const char *const *to,
    size_t n_to, int type, const uint64_t *att_sizes, size_t n_att);
/* Seal an already built case message (encoded), attachments from the pattern. */
int fx_seal_case(struct fixture *f, struct fx_msg *m, const char *from, const char *const *to,
    size_t n_to, const Puente__CaseMessage *cm, const struct seal_params *overrides);
void fx_msg_free(struct fx_msg *m);
/* A chunk_sink_fn that appends each ciphertext chunk to the struct fx_msg given as arg. */
int fx_collect_chunk(void *arg, uint32_t index, const uint8_t *ct, size_t len);

/*
 * Decode, verify and open m as `me` through the real library; checks every attachment
 * byte against the pattern. *cm and mac are optional.
 */
int fx_open(struct fixture *f, const struct fx_msg *m, const char *me,
    Puente__CaseMessage **cm, uint8_t mac[32]);
/* Same with a header given as bytes (e.g. tampered). */
int fx_open_bytes(struct fixture *f, const uint8_t *hdr, size_t hdr_len, const struct fx_msg *m,
    const char *me, Puente__CaseMessage **cm, uint8_t mac[32]);

/*
 * The malicious sender: decode m's header, let edit change the core (and manifest), then
 * re-encode and sign it with signer's key. The new header replaces m's.
 */
typedef void (*fx_edit_fn)(Puente__HeaderCore *core, Puente__Manifest *man, void *arg);
void fx_resign(struct fixture *f, struct fx_msg *m, const char *signer, fx_edit_fn edit,
    void *arg);

#endif
