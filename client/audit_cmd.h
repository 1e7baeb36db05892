/* audit_cmd.h - `puente audit verify` and `puente audit trace` (audit_cmd.c). */
#ifndef PU_CLIENT_AUDIT_CMD_H
#define PU_CLIENT_AUDIT_CMD_H

#define AUDIT_PAGE 1000		/* entries per query, the gateway's most */

/*
 * `puente audit ...`: argv[0] is "verify" or "trace", then its options. agency may be NULL
 * (then PUENTE_AGENCY). Returns the exit status; every failure is printed on stderr.
 */
int audit_main(int argc, char **argv, const char *agency, int json, int timeout_s);

#endif
