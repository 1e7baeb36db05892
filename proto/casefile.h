/*
 * casefile.h - the case message payload (casefile.proto): each MessageType maps to the
 * payload in CaseMessage's oneof at field number 100 + the type's value.
 */
#ifndef PU_CASEFILE_H
#define PU_CASEFILE_H

#include "casefile.pb-c.h"

#define PU_PAYLOAD_FIELD_BASE 100

/* PU_OK, or PU_ERR_CASE_TYPE when the payload is absent or not the one of the type. */
int casefile_check(const Puente__CaseMessage *m);
/* The payload field for a type (e.g. "case_transfer"), or NULL for an unknown type. */
const ProtobufCFieldDescriptor *casefile_payload_field(int type);

#endif
