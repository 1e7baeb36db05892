/*
 * policy.h - who may send what to whom (DESIGN.md §6), decided on the header alone from
 * the directory: policy is data, not code.
 */
#ifndef PU_POLICY_H
#define PU_POLICY_H

#include "directory.h"
#include "header.h"

/*
 * PU_OK or PU_ERR_POLICY: the sender's role (narrowed by its entry) allows the type; every
 * recipient is a STATE or FEDERAL agency that may receive it; an international adoption
 * names a FEDERAL recipient (it is then held for federal review).
 */
int policy_check(const struct directory *d, const struct header *h, const char **why);

/* 1 when the message must wait for PFPNNA's receipt before other recipients see it. */
int policy_needs_federal_review(const struct header *h);

#endif
