/*
 * receipts.c - puente_receipts and puente_status: the recipient receipts of a message sent
 * (asked of the gateway, each verified against the recipient's signing key and the MAC the
 * sender computed while sealing, then kept), and what the local records say of a message.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "frames.pb-c.h"
#include "pb.h"
#include "pu_err.h"
#include "receipt.h"

/* Ask the gateway for the receipts of a message sent; keep those that verify. */
static int
receipts_refresh(struct puente_client *c, const uint8_t id[16])
{
	Puente__ReceiptsRequest q = PUENTE__RECEIPTS_REQUEST__INIT;
	Puente__Receipts *list;
	ProtobufCMessage *m;
	struct puente_sent s;
	struct header h = { 0 };
	uint8_t *hdr = NULL, mac[PU_HASH_LEN];
	size_t hdr_len = 0;
	int rc, bad = PU_OK;

	if ((rc = outbox_sent(&c->ob, id, &s, &hdr, &hdr_len, mac)) != PU_OK ||
	    (rc = header_decode(&h, hdr, hdr_len)) != PU_OK) {
		free(hdr);
		return client_fail(c, rc, "cannot read the message from client.db");
	}
	free(hdr);
	q.msg_id.data = (uint8_t *)id;
	q.msg_id.len = PU_MSG_ID_LEN;
	if ((rc = client_connect(c)) != PU_OK)
		goto out;
	if ((rc = conn_send_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS_REQUEST,
	    &q.base)) != PU_OK ||
	    (rc = conn_expect_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_RECEIPTS, &m)) != PU_OK) {
		client_disconnect(c);
		rc = client_conn_fail(c, rc);
		goto out;
	}
	list = (Puente__Receipts *)m;
	for (size_t i = 0; i < list->n_receipts; i++) {
		Puente__RecipientReceipt *rr = NULL;
		int vrc = receipt_recipient_verify(list->receipts[i].data, list->receipts[i].len,
		    &c->ag.d, &h, mac, &rr);
		if (vrc == PU_OK)
			vrc = outbox_receipt_add(&c->ob, id, rr, list->receipts[i].data,
			    list->receipts[i].len);
		else
			bad = client_fail(c, vrc, "a receipt the gateway holds for %s does not "
			    "verify: %s", s.msg_id, pu_err_message(vrc));
		pb_free(rr);
	}
	pb_free(list);
	rc = bad;
out:
	header_free(&h);
	return rc;
}

int
puente_receipts(struct puente_client *c, const char *msg_id, struct puente_receipt **list,
    size_t *n)
{
	struct puente_sent s;
	struct puente_received r;
	uint8_t id[16];
	int rc, lrc;

	*list = NULL;
	*n = 0;
	c->detail[0] = '\0';
	if (!c->ready)
		return PU_ERR_ARG;
	if ((rc = client_msg_id(c, msg_id, id)) != PU_OK)
		return rc;
	if ((rc = outbox_sent(&c->ob, id, &s, NULL, NULL, NULL)) == PU_OK) {
		/* Only an accepted message can have receipts; the known ones are shown anyway. */
		if (s.state == PUENTE_ACCEPTED)
			rc = receipts_refresh(c, id);
		if ((lrc = outbox_receipts(&c->ob, id, list, n)) != PU_OK)
			return client_fail(c, lrc, "cannot read receipts from client.db");
		return rc;
	}
	if (rc != PU_ERR_UNKNOWN_MESSAGE)
		return client_fail(c, rc, "cannot read client.db");
	if ((rc = outbox_received(&c->ob, id, &r, NULL, NULL)) != PU_OK)
		return client_fail(c, rc, "%s: this agency neither sent nor fetched it", msg_id);
	/* A message received: the receipt this agency gave. */
	if ((*list = calloc(1, sizeof(**list))) == NULL)
		return PU_ERR_NOMEM;
	snprintf((*list)[0].recipient, sizeof((*list)[0].recipient), "%s", c->ag.id);
	(*list)[0].outcome = r.outcome;
	(*list)[0].at = r.fetched_at;
	*n = 1;
	return PU_OK;
}

int
puente_status(struct puente_client *c, const char *msg_id, int *direction,
    struct puente_sent *s, struct puente_received *r)
{
	uint8_t id[16];
	int rc;

	*direction = 0;
	c->detail[0] = '\0';
	if (!c->ready)
		return PU_ERR_ARG;
	if ((rc = client_msg_id(c, msg_id, id)) != PU_OK)
		return rc;
	if ((rc = outbox_sent(&c->ob, id, s, NULL, NULL, NULL)) == PU_OK) {
		*direction = PUENTE_DIRECTION_SENT;
		return PU_OK;
	}
	if (rc == PU_ERR_UNKNOWN_MESSAGE &&
	    (rc = outbox_received(&c->ob, id, r, NULL, NULL)) == PU_OK) {
		*direction = PUENTE_DIRECTION_RECEIVED;
		return PU_OK;
	}
	return client_fail(c, rc, rc == PU_ERR_UNKNOWN_MESSAGE ? "%s: this agency neither sent "
	    "nor fetched it" : "%s: cannot read client.db", msg_id);
}
