/* policy.c - the checks of DESIGN.md §6 on a verified header. */
#include <string.h>

#include "policy.h"
#include "pu_err.h"

static int
is_case_party(const Puente__Agency *a)
{
	return a->role == PUENTE__ROLE__ROLE_STATE || a->role == PUENTE__ROLE__ROLE_FEDERAL;
}

int
policy_needs_federal_review(const struct header *h)
{
	return h->core->adoption_scope == PUENTE__ADOPTION_SCOPE__ADOPTION_SCOPE_INTERNATIONAL;
}

int
policy_check(const struct directory *d, const struct header *h, const char **why)
{
	const Puente__HeaderCore *c = h->core;
	const Puente__Agency *sender = directory_find_agency(d, c->sender);
	int federal_recipient = 0;

	*why = NULL;
	if (sender == NULL)
		return PU_ERR_UNKNOWN_SENDER;
	if (!is_case_party(sender)) {
		*why = "auditors and gateways send no case messages";
		return PU_ERR_POLICY;
	}
	if (!directory_may_send(d, sender, c->type)) {
		*why = "the sender's role may not send this message type";
		return PU_ERR_POLICY;
	}
	for (size_t i = 0; i < c->n_recipients; i++) {
		const Puente__Agency *r = directory_find_agency(d, c->recipients[i]->agency_id);
		if (r == NULL)
			return PU_ERR_RECIPIENT_UNKNOWN;
		if (!is_case_party(r)) {
			*why = "auditors and gateways receive no case messages";
			return PU_ERR_POLICY;
		}
		if (strcmp(r->id, sender->id) == 0) {
			*why = "an agency does not send a message to itself";
			return PU_ERR_POLICY;
		}
		if (!directory_may_receive(d, r, c->type)) {
			*why = "a recipient may not receive this message type";
			return PU_ERR_POLICY;
		}
		if (r->role == PUENTE__ROLE__ROLE_FEDERAL)
			federal_recipient = 1;
	}
	if (policy_needs_federal_review(h) && !federal_recipient) {
		*why = "an international adoption must include the federal procuraduria";
		return PU_ERR_POLICY;
	}
	if (c->type == PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_INTL_ADOPTION_REVIEW_REQUEST &&
	    !federal_recipient) {
		*why = "a review request goes to the federal procuraduria";
		return PU_ERR_POLICY;
	}
	/* The hold follows the scope: a review request that is not international would skip it. */
	if (c->type == PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_INTL_ADOPTION_REVIEW_REQUEST &&
	    !policy_needs_federal_review(h)) {
		*why = "a review request is international: it is held for federal review";
		return PU_ERR_POLICY;
	}
	return PU_OK;
}
