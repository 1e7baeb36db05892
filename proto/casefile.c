/* casefile.c - type-to-payload mapping of the case message. */
#include "casefile.h"
#include "ids.h"
#include "pu_err.h"

const ProtobufCFieldDescriptor *
casefile_payload_field(int type)
{
	if (type <= 0 ||
	    protobuf_c_enum_descriptor_get_value(&puente__message_type__descriptor, type) == NULL)
		return NULL;
	return protobuf_c_message_descriptor_get_field(&puente__case_message__descriptor,
	    (unsigned)(PU_PAYLOAD_FIELD_BASE + type));
}

int
casefile_check(const Puente__CaseMessage *m)
{
	const ProtobufCFieldDescriptor *f = casefile_payload_field((int)m->type);

	if (f == NULL || (unsigned)m->payload_case != f->id)
		return PU_ERR_CASE_TYPE;
	if (case_id_check(m->case_id) != PU_OK)
		return PU_ERR_CASE_ID;
	return PU_OK;
}
