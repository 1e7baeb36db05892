/* pu_err.c - the table behind pu_err.h. */
#include <string.h>

#include "pu_err.h"

struct err_row {
	int code;
	const char *name;
	const char *message;
};

static const struct err_row err_table[] = {
#define PU_ERR_ROW(name, code, text) { code, #name, text },
	PU_ERRORS(PU_ERR_ROW)
#undef PU_ERR_ROW
};

static const struct err_row *
err_find(int code)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return &err_table[i];
	return NULL;
}

const char *
pu_err_name(int code)
{
	const struct err_row *r = err_find(code);
	return r ? r->name : "PU_ERR_UNKNOWN";
}

const char *
pu_err_message(int code)
{
	const struct err_row *r = err_find(code);
	return r ? r->message : "unknown error";
}

int
pu_err_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (strcmp(err_table[i].name, name) == 0)
			return err_table[i].code;
	return PU_ERR_INTERNAL;
}
