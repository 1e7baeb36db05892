/* inbox.c - puente_inbox: what waits at the gateway for this agency, never personal data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "frames.pb-c.h"
#include "ids.h"
#include "pb.h"
#include "pu_err.h"

#define INBOX_MAX 256

/* Only well-formed ids reach the caller: they are printed as they are. */
static int
entry_take(struct puente_client *c, const Puente__InboxEntry *e, struct puente_inbox_entry *out)
{
	struct puente_received r;
	size_t i;

	if (e->msg_id.len != PU_MSG_ID_LEN || agency_id_check(e->sender) != PU_OK ||
	    case_id_check(e->case_id) != PU_OK)
		return PU_ERR_PROTOCOL;
	for (i = 0; e->case_id[i] != '\0'; i++)
		;
	if (i >= sizeof(out->case_id))
		return PU_ERR_PROTOCOL;
	memset(out, 0, sizeof(*out));
	client_hex(out->msg_id, e->msg_id.data);
	snprintf(out->sender, sizeof(out->sender), "%s", e->sender);
	snprintf(out->case_id, sizeof(out->case_id), "%s", e->case_id);
	out->type = (int)e->type;
	out->created_at = e->created_at;
	out->respond_by = e->respond_by;
	out->content_length = e->content_length;
	out->fetched = outbox_received(&c->ob, e->msg_id.data, &r, NULL, NULL) == PU_OK;
	return PU_OK;
}

int
puente_inbox(struct puente_client *c, struct puente_inbox_entry **out, size_t *n)
{
	Puente__InboxRequest q = PUENTE__INBOX_REQUEST__INIT;
	ProtobufCMessage *m;
	Puente__Inbox *in;
	int rc;

	*out = NULL;
	*n = 0;
	c->detail[0] = '\0';
	if (!c->ready)
		return PU_ERR_ARG;
	q.limit = INBOX_MAX;
	if ((rc = client_connect(c)) != PU_OK)
		return rc;
	if ((rc = conn_send_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX_REQUEST, &q.base)) != PU_OK ||
	    (rc = conn_expect_msg(&c->conn, PUENTE__FRAME_TYPE__FRAME_TYPE_INBOX, &m)) != PU_OK) {
		client_disconnect(c);
		return client_conn_fail(c, rc);
	}
	in = (Puente__Inbox *)m;
	if (in->n_entries > 0 && (*out = calloc(in->n_entries, sizeof(**out))) == NULL)
		rc = PU_ERR_NOMEM;
	for (size_t i = 0; rc == PU_OK && i < in->n_entries; i++)
		if ((rc = entry_take(c, in->entries[i], &(*out)[i])) != PU_OK)
			client_fail(c, rc, "the gateway's inbox holds a malformed entry");
	if (rc == PU_OK)
		*n = in->n_entries;
	else {
		free(*out);
		*out = NULL;
	}
	pb_free(in);
	return rc;
}
