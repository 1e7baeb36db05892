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

int
pu_err_exit_code(int code)
{
	switch (code) {
	case PU_OK:
		return 0;
	case PU_ERR_USAGE:
	case PU_ERR_ARG:
	case PU_ERR_AGENCY_ID:
	case PU_ERR_CASE_ID:
		return 64;	/* EX_USAGE */
	case PU_ERR_NOT_FOUND:
		return 66;	/* EX_NOINPUT */
	case PU_ERR_EXISTS:
		return 73;	/* EX_CANTCREAT */
	case PU_ERR_IO:
	case PU_ERR_STORE_READONLY:
		return 74;
	case PU_ERR_STORE_FULL:
		return 75;	/* EX_TEMPFAIL */	/* EX_IOERR */
	case PU_ERR_PASSPHRASE:
	case PU_ERR_FILE_MODE:
	case PU_ERR_AUDIT_ROLE:
		return 77;	/* EX_NOPERM */
	case PU_ERR_UNKNOWN_MESSAGE:
		return 66;	/* EX_NOINPUT */
	case PU_ERR_LOCAL_DB:
		return 74;	/* EX_IOERR */
	case PU_ERR_UNAVAILABLE:
	case PU_ERR_BUSY:
	case PU_ERR_SHUTTING_DOWN:
	case PU_ERR_STORE:
	case PU_ERR_QUOTA:
		return 75;	/* EX_TEMPFAIL: nothing is lost, try again later */
	case PU_ERR_GATEWAY_IDENTITY:
	case PU_ERR_PROTOCOL:
		return 76;	/* EX_PROTOCOL */
	case PU_ERR_CONFIG:
		return 78;	/* EX_CONFIG */
	case PU_ERR_NOMEM:
	case PU_ERR_INTERNAL:
	case PU_ERR_CRYPTO:
	case PU_ERR_X509:
		return 70;	/* EX_SOFTWARE */
	default:
		return 65;	/* EX_DATAERR: the input was refused */
	}
}
