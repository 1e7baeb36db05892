/*
 * casejson.h - case files as JSON: the caseworker's JSON <-> the CaseMessage protobuf
 * (proto/casefile.proto). The shape and every rule are in client/examples/README.md.
 *
 * The mapping is generic, driven by the protobuf-c descriptors: field names as keys,
 * objects for messages, arrays for repeated fields, enums by value name, bytes as
 * lowercase hex, the payload oneof as one key named after its field. On top of that, a
 * table keyed by JSON path holds the rules the schema cannot say (CURP, dates, phones,
 * fields the CLI fills in itself).
 */
#ifndef PU_CASEJSON_H
#define PU_CASEJSON_H

#include <stddef.h>

#include "casefile.pb-c.h"

/* Largest JSON text accepted: a case message encodes to at most 4 MiB (PU_MAX_CASE_MESSAGE). */
#define CASEJSON_MAX_INPUT (8u * 1024 * 1024)
/* An err buffer this long holds every message casejson_parse writes. */
#define CASEJSON_ERR_MAX 640

/*
 * Parse a JSON case file into a CaseMessage. On success *out is the message exactly as a
 * recipient decodes it (encoded, then decoded with pb_decode and pb_limits_case); free it
 * with pb_free(). Attachment size and blake2b are absent: the CLI fills them in from the
 * files. On error return a negative enum pu_err, set *out to NULL and write ONE line into
 * err (if err_len > 0): "$.child.curp: not a valid CURP (check digit)" - the JSON path, a
 * colon, the reason. The line never quotes a value from the input.
 */
int casejson_parse(const char *text, size_t len, Puente__CaseMessage **out, char *err,
    size_t err_len);

/*
 * The reverse, for `puente fetch --out DIR` writing case.json: indented by two spaces,
 * keys in schema order, enums by lowercase name, absent (zero) fields left out, ending in
 * a newline. *out is malloc'd (free()), *out_len its length without the final NUL.
 */
int casejson_write(const Puente__CaseMessage *m, char **out, size_t *out_len);

#endif
