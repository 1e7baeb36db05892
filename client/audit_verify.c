/* audit_verify.c - replaying and checking the audit log outside the gateway. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_verify.h"
#include "pb.h"
#include "pu_err.h"

/* ---- cases: last leaf index + 1 per case id ------------------------------------------ */

struct case_node {
	struct case_node *next;
	uint64_t last;			/* index + 1 of the case's newest leaf seen */
	char id[];
};

struct case_table {
	struct case_node **b;
	size_t n_buckets, count;
};

static uint64_t
case_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a: ids come from a signed log */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static void
cases_free(struct case_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_buckets; i++) {
		for (struct case_node *n = t->b[i], *next; n != NULL; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(t->b);
	free(t);
}

static int
cases_grow(struct case_table *t)
{
	size_t nb = t->n_buckets ? t->n_buckets * 2 : 1024;
	struct case_node **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return PU_ERR_NOMEM;
	for (size_t i = 0; i < t->n_buckets; i++) {
		for (struct case_node *n = t->b[i], *next; n != NULL; n = next) {
			next = n->next;
			n->next = b[case_hash(n->id) % nb];
			b[case_hash(n->id) % nb] = n;
		}
	}
	free(t->b);
	t->b = b;
	t->n_buckets = nb;
	return PU_OK;
}

/* The case's node, created (last = 0) when new; NULL when out of memory. */
static struct case_node *
case_get(struct case_table *t, const char *id)
{
	struct case_node *n;
	size_t len = strlen(id);

	if (t->count >= 2 * t->n_buckets && cases_grow(t) != PU_OK)
		return NULL;
	for (n = t->b[case_hash(id) % t->n_buckets]; n != NULL; n = n->next)
		if (strcmp(n->id, id) == 0)
			return n;
	if ((n = malloc(sizeof(*n) + len + 1)) == NULL)
		return NULL;
	memcpy(n->id, id, len + 1);
	n->last = 0;
	n->next = t->b[case_hash(id) % t->n_buckets];
	t->b[case_hash(id) % t->n_buckets] = n;
	t->count++;
	return n;
}

/* ---- verifier ---------------------------------------------------------------------- */

static int problem(struct averify *v, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
problem(struct averify *v, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
	va_end(ap);
	return rc;
}

int
averify_note_string(const struct note *n, char *out, size_t n_out)
{
	if (n->len + 1 > n_out)
		return PU_ERR_TOO_LARGE;
	memcpy(out, n->buf, n->len);
	out[n->len] = '\0';
	return PU_OK;
}

int
averify_checkpoint(const struct averify_log *log, const char *text, struct note *n)
{
	int rc, found;

	if ((rc = note_parse((const uint8_t *)text, strlen(text), n)) != PU_OK)
		return rc;
	if (n->origin_len != strlen(log->origin) || memcmp(n->buf, log->origin, n->origin_len) != 0)
		return PU_ERR_NOTE_OTHER_LOG;
	return note_verify(n, log->origin, log->public_key, &found);
}

void
averify_witnesses(struct averify_log *log, const struct directory *d, int64_t now)
{
	log->n_witnesses = 0;
	for (size_t i = 0; i < d->dir->n_witnesses && log->n_witnesses < AVERIFY_MAX_WITNESSES;
	    i++) {
		const Puente__Agency *w = directory_find_agency(d, d->dir->witnesses[i]);
		const Puente__Key *k = w != NULL ? directory_current_key(w,
		    PUENTE__KEY_PURPOSE__KEY_PURPOSE_CHECKPOINT, now) : NULL;
		if (k == NULL || k->public_key.len != 32)
			continue;
		struct averify_witness *x = &log->witnesses[log->n_witnesses++];
		snprintf(x->name, sizeof(x->name), "%s", w->id);
		memcpy(x->public_key, k->public_key.data, 32);
		x->counted = directory_agency_check(w) == PU_OK;
	}
}

static int
checkpoint_parse(struct averify *v, const char *text, struct note *n)
{
	int rc = averify_checkpoint(&v->log, text, n);

	if (rc == PU_ERR_NOTE_OTHER_LOG)
		return problem(v, rc, "a checkpoint is of another log than %s", v->log.origin);
	if (rc == PU_ERR_NOTE_UNSIGNED || rc == PU_ERR_NOTE_SIGNATURE)
		return problem(v, rc, "the checkpoint of size %" PRIu64 " is not signed by the "
		    "gateway's checkpoint key: %s", n->tree_size, pu_err_message(rc));
	if (rc != PU_OK)
		return problem(v, rc, "a checkpoint is malformed: %s", pu_err_message(rc));
	return PU_OK;
}

int
averify_init(struct averify *v, const struct averify_log *log, const char *trusted)
{
	int rc;

	memset(v, 0, sizeof(*v));
	v->log = *log;
	merkle_frontier_init(&v->tree);
	if ((v->cases = calloc(1, sizeof(*v->cases))) == NULL || cases_grow(v->cases) != PU_OK)
		return PU_ERR_NOMEM;
	if (trusted == NULL)
		return PU_OK;
	if ((rc = checkpoint_parse(v, trusted, &v->trusted)) != PU_OK)
		return problem(v, rc, "the trusted checkpoint in the state file is not valid: %s",
		    pu_err_message(rc));
	v->has_trusted = 1;
	return PU_OK;
}

void
averify_free(struct averify *v)
{
	cases_free(v->cases);
	v->cases = NULL;
}

/*
 * The answer's checkpoint: signed, and not behind or beside the trusted one. A larger
 * tree must come with a consistency proof from the trusted size when one is given.
 */
static int
answer_checkpoint(struct averify *v, const Puente__AuditAnswer *a, struct note *n)
{
	uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN];
	int rc;

	if ((rc = checkpoint_parse(v, a->checkpoint, n)) != PU_OK)
		return rc;
	if (v->has_newest && n->tree_size < v->newest.tree_size)
		return problem(v, PU_ERR_AUDIT_ROLLBACK, "the gateway went back from a checkpoint of "
		    "size %" PRIu64 " to one of size %" PRIu64, v->newest.tree_size, n->tree_size);
	if (!v->has_trusted)
		return PU_OK;
	if (n->tree_size < v->trusted.tree_size)
		return problem(v, PU_ERR_AUDIT_ROLLBACK, "the log holds %" PRIu64 " entries but a "
		    "checkpoint of %" PRIu64 " was trusted before: entries were removed",
		    n->tree_size, v->trusted.tree_size);
	if (n->tree_size == v->trusted.tree_size) {
		if (note_same_tree(n, &v->trusted) != PU_OK)
			return problem(v, PU_ERR_NOTE_FORK, "the gateway shows a different tree of "
			    "size %" PRIu64 " than the one trusted: the log was rewritten (fork)",
			    n->tree_size);
		return PU_OK;
	}
	if (a->n_consistency_proof > MERKLE_MAX_PROOF)
		return problem(v, PU_ERR_PROOF_LENGTH, "the consistency proof is too long");
	for (size_t i = 0; i < a->n_consistency_proof; i++) {
		if (a->consistency_proof[i].len != MERKLE_HASH_LEN)
			return problem(v, PU_ERR_PROOF_LENGTH, "a consistency proof hash is not 32 bytes");
		memcpy(proof + i * MERKLE_HASH_LEN, a->consistency_proof[i].data, MERKLE_HASH_LEN);
	}
	rc = merkle_verify_consistency(v->trusted.tree_size, n->tree_size, proof,
	    a->n_consistency_proof, v->trusted.root, n->root);
	if (rc != PU_OK)
		return problem(v, PU_ERR_NOTE_FORK, "the checkpoint of size %" PRIu64 " does not extend "
		    "the one trusted at size %" PRIu64 " (%s): the log was rewritten (fork)",
		    n->tree_size, v->trusted.tree_size, pu_err_message(rc));
	return PU_OK;
}

/* A leaf as an AuditEntry, checked against its case's chain. */
static int
leaf_check(struct averify *v, uint64_t index, const ProtobufCBinaryData *leaf,
    const char *want_case)
{
	ProtobufCMessage *m;
	Puente__AuditEntry *e;
	struct case_node *c;
	int rc;

	if ((rc = pb_decode(&puente__audit_entry__descriptor, leaf->data, leaf->len,
	    &pb_limits_wire, 4 * leaf->len + 65536, &m)) != PU_OK)
		return problem(v, PU_ERR_AUDIT_LEAF, "entry %" PRIu64 " is not a valid audit entry "
		    "(%s)", index, pu_err_message(rc));
	e = (Puente__AuditEntry *)m;
	rc = PU_OK;
	if (want_case != NULL && strcmp(e->case_id, want_case) != 0) {
		rc = problem(v, PU_ERR_AUDIT_CHAIN, "entry %" PRIu64 " is not of case %s", index,
		    want_case);
	} else if (e->case_id[0] == '\0') {
		if (e->prev_case_index != 0)
			rc = problem(v, PU_ERR_AUDIT_CHAIN, "entry %" PRIu64 " has no case but names "
			    "a previous entry", index);
	} else if ((c = case_get(v->cases, e->case_id)) == NULL) {
		rc = PU_ERR_NOMEM;
	} else if (e->prev_case_index != c->last) {
		/* prev_case_index and last are index + 1, 0 for none. */
		rc = problem(v, PU_ERR_AUDIT_CHAIN, "entry %" PRIu64 " of case %s follows %s%" PRIu64
		    " but the case's previous entry is %s%" PRIu64 ": the case's chain is broken",
		    index, e->case_id, e->prev_case_index ? "entry " : "nothing (",
		    e->prev_case_index ? e->prev_case_index - 1 : 0,
		    c->last ? "entry " : "none (", c->last ? c->last - 1 : 0);
	} else {
		c->last = index + 1;
	}
	if (rc == PU_OK && (unsigned)e->event < sizeof(v->events) / sizeof(v->events[0]))
		v->events[e->event]++;
	pb_free(e);
	return rc;
}

static int
root_matches(struct averify *v, const struct note *n, uint64_t from)
{
	uint8_t root[MERKLE_HASH_LEN];

	merkle_frontier_root(&v->tree, root);
	if (memcmp(root, n->root, MERKLE_HASH_LEN) == 0)
		return PU_OK;
	return problem(v, PU_ERR_AUDIT_LEAF, "entries %" PRIu64 " to %" PRIu64 " do not hash to "
	    "the checkpoint signed at size %" PRIu64 ": an entry in that range was changed, "
	    "inserted, removed or reordered", from, n->tree_size - 1, n->tree_size);
}

/*
 * The witnessed checkpoint an answer carries: the gateway's note with cosignature lines.
 * Every line by a listed witness must verify on this very note; one that does not means the
 * checkpoint was re-signed after the witness saw it - the gateway rewrote its log.
 */
static int
witnessed_take(struct averify *v, const char *text)
{
	struct note w;
	uint64_t ts;
	int rc, found;

	if (text == NULL || text[0] == '\0')
		return PU_OK;
	if ((rc = checkpoint_parse(v, text, &w)) != PU_OK)
		return rc;
	v->n_cosigners = 0;
	for (size_t i = 0; i < v->log.n_witnesses; i++) {
		const struct averify_witness *x = &v->log.witnesses[i];
		rc = note_verify_cosignature(&w, x->name, x->public_key, &found, &ts);
		if (rc == PU_OK) {
			if (x->counted)
				snprintf(v->cosigners[v->n_cosigners++], sizeof(v->cosigners[0]),
				    "%s", x->name);
		} else if (found) {
			return problem(v, PU_ERR_NOTE_FORK, "the cosignature of witness %s does not "
			    "verify on the gateway's checkpoint of size %" PRIu64 ": the checkpoint was "
			    "signed again after the witness saw it (the log was rewritten)", x->name,
			    w.tree_size);
		}
	}
	if (v->n_cosigners > 0) {
		v->witnessed = w;
		v->has_witnessed = 1;
	}
	return PU_OK;
}

int
averify_page(struct averify *v, const Puente__AuditAnswer *a)
{
	struct note newest, cp;
	size_t next_cp = 0;
	uint64_t batch_start = v->tree.size;
	int rc, cp_loaded = 0;

	if ((rc = answer_checkpoint(v, a, &newest)) != PU_OK)
		return rc;
	/* The witnessed checkpoint of the replay's first page is the one it must reach. */
	if (v->tree.size == 0 && (rc = witnessed_take(v, a->witnessed)) != PU_OK)
		return rc;
	for (size_t i = 0; i < a->n_records; i++) {
		const Puente__AuditRecord *r = a->records[i];
		uint8_t hash[MERKLE_HASH_LEN];

		if (r->index > v->tree.size)
			return problem(v, PU_ERR_AUDIT_GAP, "entries %" PRIu64 " to %" PRIu64
			    " are missing", v->tree.size, r->index - 1);
		if (r->index < v->tree.size)
			return problem(v, PU_ERR_AUDIT_GAP, "entry %" PRIu64 " comes again after "
			    "entry %" PRIu64, r->index, v->tree.size - 1);
		if ((rc = leaf_check(v, r->index, &r->entry, NULL)) != PU_OK)
			return rc;
		merkle_leaf_hash(hash, r->entry.data, r->entry.len);
		if ((rc = merkle_frontier_append(&v->tree, hash)) != PU_OK)
			return rc;
		/* The batches the gateway signed along the way, each checked where it ends. */
		while (next_cp < a->n_checkpoints) {
			if (!cp_loaded && (rc = checkpoint_parse(v, a->checkpoints[next_cp],
			    &cp)) != PU_OK)
				return rc;
			cp_loaded = 1;
			if (cp.tree_size > v->tree.size)
				break;
			if (cp.tree_size < v->tree.size)
				return problem(v, PU_ERR_AUDIT_GAP, "the checkpoint of size %" PRIu64
				    " lies before this page's entries", cp.tree_size);
			if ((rc = root_matches(v, &cp, batch_start)) != PU_OK)
				return rc;
			batch_start = v->tree.size;
			v->checkpoints++;
			next_cp++;
			cp_loaded = 0;
		}
		if (v->has_trusted && v->tree.size == v->trusted.tree_size &&
		    root_matches(v, &v->trusted, 0) != PU_OK)
			return problem(v, PU_ERR_NOTE_FORK, "the first %" PRIu64 " entries no longer hash "
			    "to the checkpoint trusted at that size: the log was rewritten",
			    v->trusted.tree_size);
		if (v->has_witnessed && v->tree.size == v->witnessed.tree_size &&
		    root_matches(v, &v->witnessed, 0) != PU_OK)
			return problem(v, PU_ERR_NOTE_FORK, "the first %" PRIu64 " entries no longer hash "
			    "to the checkpoint %s cosigned: the log was rewritten",
			    v->witnessed.tree_size, v->cosigners[0]);
	}
	if (next_cp < a->n_checkpoints)
		return problem(v, PU_ERR_AUDIT_GAP, "a checkpoint of this page has no entries to "
		    "match: entries are missing");
	if (a->next_index != v->tree.size && a->n_records > 0)
		return problem(v, PU_ERR_AUDIT_GAP, "the page ends at entry %" PRIu64 " but says the "
		    "next one is %" PRIu64, v->tree.size - 1, a->next_index);
	v->newest = newest;
	v->has_newest = 1;
	return PU_OK;
}

int
averify_finish(struct averify *v)
{
	if (!v->has_newest)
		return problem(v, PU_ERR_AUDIT_EXPORT, "no checkpoint was received");
	if (v->tree.size != v->newest.tree_size)
		return problem(v, PU_ERR_AUDIT_GAP, "the replay holds %" PRIu64 " entries but the "
		    "newest checkpoint covers %" PRIu64, v->tree.size, v->newest.tree_size);
	return root_matches(v, &v->newest, 0);
}

int
averify_answer(struct averify *v, const Puente__AuditAnswer *a, const char *case_id)
{
	uint8_t proof[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], hash[MERKLE_HASH_LEN];
	struct note n;
	int rc;

	if ((rc = answer_checkpoint(v, a, &n)) != PU_OK)
		return rc;
	for (size_t i = 0; i < a->n_records; i++) {
		const Puente__AuditRecord *r = a->records[i];

		if (r->n_inclusion_proof > MERKLE_MAX_PROOF)
			return problem(v, PU_ERR_PROOF_LENGTH, "entry %" PRIu64 ": proof too long",
			    r->index);
		for (size_t k = 0; k < r->n_inclusion_proof; k++) {
			if (r->inclusion_proof[k].len != MERKLE_HASH_LEN)
				return problem(v, PU_ERR_PROOF_LENGTH, "entry %" PRIu64 ": a proof "
				    "hash is not 32 bytes", r->index);
			memcpy(proof + k * MERKLE_HASH_LEN, r->inclusion_proof[k].data,
			    MERKLE_HASH_LEN);
		}
		merkle_leaf_hash(hash, r->entry.data, r->entry.len);
		if ((rc = merkle_verify_inclusion(hash, r->index, n.tree_size, proof,
		    r->n_inclusion_proof, n.root)) != PU_OK)
			return problem(v, PU_ERR_AUDIT_LEAF, "entry %" PRIu64 " is not in the log the "
			    "checkpoint of size %" PRIu64 " signs (%s)", r->index, n.tree_size,
			    pu_err_message(rc));
		if (case_id != NULL && (rc = leaf_check(v, r->index, &r->entry, case_id)) != PU_OK)
			return rc;
	}
	if (!v->has_newest || n.tree_size >= v->newest.tree_size) {
		v->newest = n;
		v->has_newest = 1;
	}
	return PU_OK;
}

int
averify_leaf_proof(const struct averify_log *log, const char *checkpoint, uint64_t index,
    const ProtobufCBinaryData *entry, const ProtobufCBinaryData *proof, size_t n_proof,
    struct note *out, Puente__AuditEntry **decoded)
{
	uint8_t flat[MERKLE_MAX_PROOF * MERKLE_HASH_LEN], hash[MERKLE_HASH_LEN];
	ProtobufCMessage *m;
	int rc;

	*decoded = NULL;
	if ((rc = averify_checkpoint(log, checkpoint, out)) != PU_OK)
		return rc;
	if (n_proof > MERKLE_MAX_PROOF)
		return PU_ERR_PROOF_LENGTH;
	for (size_t i = 0; i < n_proof; i++) {
		if (proof[i].len != MERKLE_HASH_LEN)
			return PU_ERR_PROOF_LENGTH;
		memcpy(flat + i * MERKLE_HASH_LEN, proof[i].data, MERKLE_HASH_LEN);
	}
	merkle_leaf_hash(hash, entry->data, entry->len);
	if ((rc = merkle_verify_inclusion(hash, index, out->tree_size, flat, n_proof,
	    out->root)) != PU_OK)
		return rc;
	if (pb_decode(&puente__audit_entry__descriptor, entry->data, entry->len, &pb_limits_wire,
	    4 * entry->len + 65536, &m) != PU_OK)
		return PU_ERR_AUDIT_LEAF;
	*decoded = (Puente__AuditEntry *)m;
	return PU_OK;
}

int
averify_gateway_receipt(const struct averify_log *log, const uint8_t *data, size_t len,
    const uint8_t msg_id[16], const uint8_t header_hash[32], const char *sender,
    struct note *n, Puente__GatewayReceipt **receipt, Puente__AuditEntry **entry)
{
	Puente__GatewayReceipt *g;
	Puente__AuditEntry *e = NULL;
	ProtobufCMessage *m;
	int rc;

	*receipt = NULL;
	*entry = NULL;
	if ((rc = pb_decode(&puente__gateway_receipt__descriptor, data, len, &pb_limits_wire,
	    4 * len + 65536, &m)) != PU_OK)
		return rc;
	g = (Puente__GatewayReceipt *)m;
	rc = averify_leaf_proof(log, g->checkpoint, g->audit_index, &g->audit_entry,
	    g->inclusion_proof, g->n_inclusion_proof, n, &e);
	if (rc == PU_OK && (e->event != PUENTE__AUDIT_EVENT__AUDIT_EVENT_STORE ||
	    e->msg_id.len != 16 || memcmp(e->msg_id.data, msg_id, 16) != 0 ||
	    e->header_hash.len != 32 || memcmp(e->header_hash.data, header_hash, 32) != 0 ||
	    strcmp(e->agency_id, sender) != 0 || strcmp(e->outcome, "ok") != 0))
		rc = PU_ERR_RECEIPT_MISMATCH;
	if (rc != PU_OK) {
		pb_free(e);
		pb_free(g);
		return rc;
	}
	*receipt = g;
	*entry = e;
	return PU_OK;
}
