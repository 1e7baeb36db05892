/*
 * fuzz_casejson.c - the JSON case file mapper (client/casejson.h) on any bytes.
 *
 * Input: the text of a case file, as a caseworker's editor would save it. Whatever it is,
 * the mapper answers with a documented code and, on refusal, one line of printable ASCII
 * that starts with a JSON path; a shorter error buffer gets the same line cut short. A
 * file it accepts is a valid, canonical case message within pb_limits_case, and writing it
 * back to JSON and parsing that gives the same protobuf bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "casefile.h"
#include "casejson.h"
#include "fuzz.h"
#include "pb.h"
#include "pu_err.h"

static void
error_line_check(const char *err)
{
	FUZZ_ASSERT(err[0] == '$' && strstr(err, ": ") != NULL);
	/* One line of plain text: no newline, no control byte, no byte of the input's UTF-8. */
	for (const char *p = err; *p != '\0'; p++)
		FUZZ_ASSERT(*p >= 0x20 && *p < 0x7f);
}

static void
round_trip_check(const Puente__CaseMessage *m)
{
	char *text, err[CASEJSON_ERR_MAX];
	size_t text_len, a_len, b_len;
	uint8_t *a, *b;
	Puente__CaseMessage *again = NULL;
	int rc;

	FUZZ_ASSERT(casefile_check(m) == PU_OK);
	FUZZ_ASSERT(m->n_attachments == 0 || m->attachments[0]->blake2b.len == 0);
	FUZZ_ASSERT(pb_encode(&m->base, &a, &a_len) == PU_OK);
	FUZZ_ASSERT(casejson_write(m, &text, &text_len) == PU_OK);
	FUZZ_ASSERT(text_len == strlen(text) && text[text_len - 1] == '\n');
	rc = casejson_parse(text, text_len, &again, err, sizeof(err));
	if (rc != PU_OK) {
		fprintf(stderr, "written JSON refused: %s\n", err);
		FUZZ_ASSERT(rc == PU_OK);
	}
	FUZZ_ASSERT(pb_encode(&again->base, &b, &b_len) == PU_OK);
	FUZZ_ASSERT(a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0));
	free(a);
	free(b);
	free(text);
	pb_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Not NUL-terminated, as a file read into memory is not: the mapper must not care. */
	char *text = malloc(size ? size : 1), err[CASEJSON_ERR_MAX];
	Puente__CaseMessage *m = NULL;
	int rc;

	FUZZ_ASSERT(text != NULL);
	memcpy(text, data, size);
	rc = casejson_parse(text, size, &m, err, sizeof(err));
	FUZZ_ASSERT_CODE(rc);
	if (rc == PU_OK) {
		FUZZ_ASSERT(m != NULL && err[0] == '\0');
		round_trip_check(m);
		pb_free(m);
	} else {
		char shortened[12];
		Puente__CaseMessage *m2 = NULL;
		int rc2;

		FUZZ_ASSERT(m == NULL);
		error_line_check(err);
		rc2 = casejson_parse(text, size, &m2, shortened, sizeof(shortened));
		FUZZ_ASSERT(rc2 == rc && m2 == NULL);
		FUZZ_ASSERT(strlen(shortened) < sizeof(shortened) &&
		    strncmp(shortened, err, strlen(shortened)) == 0);
	}
	free(text);
	return 0;
}
