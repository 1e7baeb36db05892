/*
 * test_casejson.c - the JSON case file mapper (client/casejson.h): the example users start
 * from parses and round-trips, every message type's smallest file parses, and every kind of
 * refusal gives its exact error line - the JSON path, a colon, the reason, never a value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "casefile.h"
#include "casejson.h"
#include "pb.h"
#include "pu_err.h"

/* Compare names, so a failure reads "PU_OK" != "PU_ERR_CASE_TYPE". */
#define assert_err(rc, want) assert_string_equal(pu_err_name(rc), pu_err_name(want))

/* What casejson.c returns for malformed input and broken rules (see ERR_DATA there). */
#define ERR_DATA PU_ERR_CASE_JSON

#define CASE_ID "MX-2026-7F3K9Q"
#define HEAD "{\"type\": \"case_transfer\", \"case_id\": \"" CASE_ID "\", "
#define CT(x) HEAD "\"case_transfer\": {" x "}}"
#define EXP(x) CT("\"expediente\": {" x "}")
#define CHILD(x) EXP("\"child\": {" x "}")
#define FAMILY(x) EXP("\"family\": [{" x "}]")

/* The CURP of the example's child: fictional, format-valid, with its check digit. */
#define CHILD_CURP "PUEA150614MTLRJNA3"

static char *
read_example(size_t *len)
{
	FILE *fp = fopen(PUENTE_CASEJSON_EXAMPLE, "rb");
	char *text;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	text = malloc((size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
	text[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return text;
}

static int
parse_len(const char *json, size_t len, char err[CASEJSON_ERR_MAX])
{
	Puente__CaseMessage *m = (Puente__CaseMessage *)1;
	int rc = casejson_parse(json, len, &m, err, CASEJSON_ERR_MAX);

	if (rc == PU_OK) {
		assert_non_null(m);
		assert_string_equal(err, "");
	} else {
		assert_null(m);
		/* One line, whatever the input held. */
		assert_null(strchr(err, '\n'));
		assert_true(strncmp(err, "$", 1) == 0 && strstr(err, ": ") != NULL);
	}
	pb_free(m);
	return rc;
}

static void
assert_parses(const char *json)
{
	char err[CASEJSON_ERR_MAX];
	int rc = parse_len(json, strlen(json), err);

	if (rc != PU_OK)
		fail_msg("refused: %s", err);
}

static void
assert_refused_len(const char *json, size_t len, int want_rc, const char *want_line)
{
	char err[CASEJSON_ERR_MAX];
	int rc = parse_len(json, len, err);

	assert_string_equal(err, want_line);
	assert_err(rc, want_rc);
}

static void
assert_refused(const char *json, int want_rc, const char *want_line)
{
	assert_refused_len(json, strlen(json), want_rc, want_line);
}

static uint8_t *
encode(const Puente__CaseMessage *m, size_t *len)
{
	uint8_t *b;

	assert_err(pb_encode(&m->base, &b, len), PU_OK);
	return b;
}

/* ---- the example ----------------------------------------------------------------------- */

static void
example_parses(void **state)
{
	size_t len;
	char *text = read_example(&len), err[CASEJSON_ERR_MAX];
	Puente__CaseMessage *m = NULL;
	const Puente__Expediente *e;

	(void)state;
	assert_err(casejson_parse(text, len, &m, err, sizeof(err)), PU_OK);
	assert_string_equal(err, "");
	assert_int_equal(m->type, PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_CASE_TRANSFER);
	assert_int_equal(m->payload_case, PUENTE__CASE_MESSAGE__PAYLOAD_CASE_TRANSFER);
	assert_string_equal(m->case_id, CASE_ID);
	assert_err(casefile_check(m), PU_OK);
	e = m->case_transfer->expediente;
	assert_string_equal(e->child->curp, CHILD_CURP);
	assert_string_equal(e->child->given_names, "Ana Lucía");
	assert_int_equal(e->child->sex, PUENTE__SEX__SEX_FEMALE);
	assert_int_equal(e->n_family, 3);
	assert_int_equal(e->family[1]->contact, PUENTE__CONTACT_STATUS__CONTACT_STATUS_PROHIBITED);
	assert_int_equal(e->n_placements, 2);
	assert_int_equal(e->placements[1]->kind,
	    PUENTE__PLACEMENT_KIND__PLACEMENT_KIND_FOSTER_FAMILY);
	assert_int_equal(e->restitution_plan->version, 2);
	assert_int_equal(e->restitution_plan->rights[1]->violated_right,
	    PUENTE__CHILD_RIGHT__CHILD_RIGHT_FAMILY_LIFE);
	/* Attachments are described only; the CLI fills in size and digest from the files. */
	assert_int_equal(m->n_attachments, 3);
	assert_int_equal(m->attachments[0]->size, 0);
	assert_int_equal(m->attachments[0]->blake2b.len, 0);
	assert_string_equal(m->attachments[0]->media_type, "application/pdf");
	pb_free(m);
	free(text);
}

/* write -> parse gives the same protobuf bytes, and writing again the same text. */
static void
example_round_trips(void **state)
{
	size_t len, enc1_len, enc2_len, out_len, out2_len;
	char *text = read_example(&len), err[CASEJSON_ERR_MAX], *out, *out2;
	Puente__CaseMessage *m1 = NULL, *m2 = NULL;
	uint8_t *enc1, *enc2;

	(void)state;
	assert_err(casejson_parse(text, len, &m1, err, sizeof(err)), PU_OK);
	assert_err(casejson_write(m1, &out, &out_len), PU_OK);
	assert_int_equal(strlen(out), out_len);
	assert_err(casejson_parse(out, out_len, &m2, err, sizeof(err)), PU_OK);
	enc1 = encode(m1, &enc1_len);
	enc2 = encode(m2, &enc2_len);
	assert_int_equal(enc1_len, enc2_len);
	assert_memory_equal(enc1, enc2, enc1_len);
	assert_err(casejson_write(m2, &out2, &out2_len), PU_OK);
	assert_string_equal(out, out2);
	/* Indented, keys in schema order, enums by name, ending in a newline. */
	assert_true(strncmp(out, "{\n  \"type\": \"case_transfer\",\n  \"case_id\": \"" CASE_ID
	    "\",\n  \"summary\": ", 60) == 0);
	assert_non_null(strstr(out, "\"sex\": \"female\""));
	assert_non_null(strstr(out, "\"kind\": \"foster_family\""));
	assert_non_null(strstr(out, "Ana Lucía"));
	assert_int_equal(out[out_len - 1], '\n');
	free(enc1);
	free(enc2);
	free(out);
	free(out2);
	pb_free(m1);
	pb_free(m2);
	free(text);
}

/* A fetched message carries size and digest: written out, and refused as input. */
static void
written_digests_are_not_input(void **state)
{
	size_t len, out_len;
	char *text = read_example(&len), err[CASEJSON_ERR_MAX], *out;
	Puente__CaseMessage *m = NULL;
	Puente__Attachment *a;

	(void)state;
	assert_err(casejson_parse(text, len, &m, err, sizeof(err)), PU_OK);
	a = m->attachments[0];
	a->size = 123456;
	a->blake2b.len = 32;
	a->blake2b.data = malloc(32);
	assert_non_null(a->blake2b.data);
	for (int i = 0; i < 32; i++)
		a->blake2b.data[i] = (uint8_t)(i * 9);
	assert_err(casejson_write(m, &out, &out_len), PU_OK);
	assert_non_null(strstr(out, "\"size\": 123456"));
	assert_non_null(strstr(out, "\"blake2b\": \"0009121b242d363f48515a636c757e87"
	    "9099a2abb4bdc6cfd8e1eaf3fc050e17\""));
	assert_refused(out, ERR_DATA,
	    "$.attachments[0].size: not allowed in input (puente fills it in from the file)");
	free(out);
	pb_free(m);
	free(text);
}

/* Every message type, by its short and its full name, with an empty payload. */
static void
every_type_minimal_parses(void **state)
{
	(void)state;
	for (int t = 1; t <= 19; t++) {
		const ProtobufCFieldDescriptor *f = casefile_payload_field(t);
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(&puente__message_type__descriptor, t);
		char json[512], err[CASEJSON_ERR_MAX];
		Puente__CaseMessage *m = NULL;

		assert_non_null(f);
		assert_non_null(ev);
		snprintf(json, sizeof(json), "{\"type\": \"%s\", \"case_id\": \"%s\", \"%s\": {}}",
		    f->name, CASE_ID, f->name);
		if (casejson_parse(json, strlen(json), &m, err, sizeof(err)) != PU_OK)
			fail_msg("type %d: %s", t, err);
		assert_int_equal(m->type, t);
		assert_int_equal(m->payload_case, f->id);
		assert_err(casefile_check(m), PU_OK);
		pb_free(m);
		snprintf(json, sizeof(json), "{\"type\": \"%s\", \"case_id\": \"%s\", \"%s\": {}}",
		    ev->name, CASE_ID, f->name);
		assert_parses(json);
	}
}

/* The deepest place in the schema can be reached; one level more cannot. */
static void
deepest_schema_path_parses(void **state)
{
	(void)state;
	assert_parses(EXP("\"adoption\": {\"certificate\": {\"applicants\": "
	    "[{\"given_names\": \"Solicitante (FICTICIO)\", \"birth_date\": \"1980-01-01\"}]}}"));
	assert_refused(EXP("\"adoption\": {\"certificate\": {\"applicants\": "
	    "[{\"given_names\": [\"x\"]}]}}"), ERR_DATA,
	    "$.case_transfer.expediente.adoption.certificate.applicants[0].given_names: "
	    "nested deeper than the schema allows (line 1, column 149)");
}

/* ---- the rule table -------------------------------------------------------------------- */

static void
curp_rules(void **state)
{
	(void)state;
	assert_parses(CHILD("\"curp\": \"" CHILD_CURP "\""));
	/* The worked example of the Instructivo Normativo para la Asignación de la CURP. */
	assert_parses(FAMILY("\"curp\": \"SABC560626MDFLRN01\""));
	/* NE: born abroad; X: non-binary. Check digits computed by hand for these. */
	assert_parses(FAMILY("\"curp\": \"PUEA150614MNERJNA4\""));
	assert_parses(FAMILY("\"curp\": \"PUEA150614XTLRJNA7\""));
	assert_refused(CHILD("\"curp\": \"PUEA150614MTLRJNA4\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (check digit)");
	assert_refused(CHILD("\"curp\": \"puea150614mtlrjna3\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (format)");
	assert_refused(CHILD("\"curp\": \"PUEA150614MTLRJNA\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (format)");
	/* Vowels where the internal consonants go. */
	assert_refused(CHILD("\"curp\": \"PUEA150614MTLAJNA3\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (format)");
	assert_refused(CHILD("\"curp\": \"PUEA150614QTLRJNA3\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (format)");
	/* 2015 is no leap year; with a digit differentiator 00 is 1900, which was none either. */
	assert_refused(CHILD("\"curp\": \"PUEA150229MTLRJNA3\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (birth date)");
	assert_refused(CHILD("\"curp\": \"PUEA000229MTLRJN03\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (birth date)");
	assert_refused(CHILD("\"curp\": \"PUEA151314MTLRJNA3\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (birth date)");
	assert_refused(CHILD("\"curp\": \"PUEA150614MZZRJNA3\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curp: not a valid CURP (state code)");
	/* The rule follows the field name wherever it is. */
	assert_refused(FAMILY("\"curp\": \"SABC560626MDFLRN02\""), ERR_DATA,
	    "$.case_transfer.expediente.family[0].curp: not a valid CURP (check digit)");
	assert_refused("{\"type\": \"adoption_judgment_notice\", \"case_id\": \"" CASE_ID "\", "
	    "\"adoption_judgment_notice\": {\"adopters\": [{}, {\"curp\": \"X\"}]}}", ERR_DATA,
	    "$.adoption_judgment_notice.adopters[1].curp: not a valid CURP (format)");
	/* Absent is allowed: the child may have no CURP yet. */
	assert_parses(CHILD("\"curp\": \"\""));
}

static void
date_rules(void **state)
{
	(void)state;
	assert_parses(CT("\"effective_date\": \"2024-02-29\""));
	assert_parses(CT("\"effective_date\": \"2000-02-29\""));
	assert_refused(CT("\"effective_date\": \"2023-02-29\""), ERR_DATA,
	    "$.case_transfer.effective_date: not a real calendar date");
	assert_refused(CT("\"effective_date\": \"1900-02-29\""), ERR_DATA,
	    "$.case_transfer.effective_date: not a real calendar date");
	assert_refused(CT("\"effective_date\": \"2026-04-31\""), ERR_DATA,
	    "$.case_transfer.effective_date: not a real calendar date");
	assert_refused(CT("\"effective_date\": \"2026-13-01\""), ERR_DATA,
	    "$.case_transfer.effective_date: not a real calendar date");
	assert_refused(CT("\"effective_date\": \"0000-01-01\""), ERR_DATA,
	    "$.case_transfer.effective_date: not a real calendar date");
	assert_refused(CT("\"effective_date\": \"2023-2-28\""), ERR_DATA,
	    "$.case_transfer.effective_date: not a date (YYYY-MM-DD)");
	assert_refused(CT("\"effective_date\": \"28/02/2023\""), ERR_DATA,
	    "$.case_transfer.effective_date: not a date (YYYY-MM-DD)");
	assert_refused(CT("\"effective_date\": \"2023-02-28T00:00\""), ERR_DATA,
	    "$.case_transfer.effective_date: not a date (YYYY-MM-DD)");
	/* Lists named *_dates: each element, with its index. */
	assert_refused("{\"type\": \"home_study_result\", \"case_id\": \"" CASE_ID "\", "
	    "\"home_study_result\": {\"visit_dates\": [\"2026-01-05\", \"2026-02-30\"]}}", ERR_DATA,
	    "$.home_study_result.visit_dates[1]: not a real calendar date");
	assert_refused("{\"type\": \"home_study_result\", \"case_id\": \"" CASE_ID "\", "
	    "\"home_study_result\": {\"visit_dates\": [\"\"]}}", ERR_DATA,
	    "$.home_study_result.visit_dates[0]: not a date (YYYY-MM-DD)");
}

static void
future_birth_date_refused(void **state)
{
	time_t now = time(NULL);
	struct tm tm;
	char json[512], date[40];

	(void)state;
	assert_non_null(gmtime_r(&now, &tm));
	snprintf(date, sizeof(date), "%04d-01-01", tm.tm_year + 1900 + 1);
	snprintf(json, sizeof(json), CHILD("\"birth_date\": \"%s\""), date);
	assert_refused(json, ERR_DATA, "$.case_transfer.expediente.child.birth_date: in the future");
	snprintf(json, sizeof(json), FAMILY("\"birth_date\": \"%s\""), date);
	assert_refused(json, ERR_DATA, "$.case_transfer.expediente.family[0].birth_date: in the future");
	/* Other dates may be ahead: a transfer takes effect later. */
	snprintf(json, sizeof(json), CT("\"effective_date\": \"%s\""), date);
	assert_parses(json);
	snprintf(date, sizeof(date), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday);
	snprintf(json, sizeof(json), CHILD("\"birth_date\": \"%s\""), date);
	assert_parses(json);
}

static void
phone_rule(void **state)
{
	(void)state;
	assert_parses(FAMILY("\"phone\": \"+52 246-000-0101\""));
	assert_parses(FAMILY("\"phone\": \"2460000\""));
	assert_refused(FAMILY("\"phone\": \"246000\""), ERR_DATA,
	    "$.case_transfer.expediente.family[0].phone: "
	    "not a valid phone number (7 to 20 digits, spaces, + or -)");
	assert_refused(EXP("\"caseworker\": {\"phone\": \"(246) 000 0100\"}"), ERR_DATA,
	    "$.case_transfer.expediente.caseworker.phone: "
	    "not a valid phone number (7 to 20 digits, spaces, + or -)");
	assert_refused(FAMILY("\"phone\": \"+52 246 000 0101 ext 12\""), ERR_DATA,
	    "$.case_transfer.expediente.family[0].phone: "
	    "not a valid phone number (7 to 20 digits, spaces, + or -)");
}

/* ---- shape errors ---------------------------------------------------------------------- */

static void
unknown_keys(void **state)
{
	(void)state;
	assert_refused(CHILD("\"curpp\": \"" CHILD_CURP "\""), ERR_DATA,
	    "$.case_transfer.expediente.child.curpp: unknown key (did you mean \"curp\"?)");
	assert_refused(CHILD("\"birthdate\": \"2015-06-14\""), ERR_DATA,
	    "$.case_transfer.expediente.child.birthdate: unknown key (did you mean \"birth_date\"?)");
	assert_refused(HEAD "\"caseid\": \"x\"}", ERR_DATA,
	    "$.caseid: unknown key (did you mean \"case_id\"?)");
	assert_refused(HEAD "\"nombre\": \"x\"}", ERR_DATA, "$.nombre: unknown key");
	/* A key is shown as plain one-line ASCII whatever it holds. */
	assert_refused(HEAD "\"a b\\n\\\"é\": 1}", ERR_DATA, "$[\"a b??\?\?\"]: unknown key");
	assert_refused(HEAD "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": 1}",
	    ERR_DATA, "$[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"]: unknown key");
}

static void
wrong_types(void **state)
{
	(void)state;
	assert_refused(EXP("\"restitution_plan\": {\"version\": \"2\"}"), ERR_DATA,
	    "$.case_transfer.expediente.restitution_plan.version: expected an integer, got a string");
	assert_refused(EXP("\"restitution_plan\": {\"version\": 2.0}"), ERR_DATA,
	    "$.case_transfer.expediente.restitution_plan.version: "
	    "expected an integer, got a number with a fraction or exponent");
	assert_refused(EXP("\"restitution_plan\": {\"version\": 2e0}"), ERR_DATA,
	    "$.case_transfer.expediente.restitution_plan.version: "
	    "expected an integer, got a number with a fraction or exponent");
	assert_refused(EXP("\"restitution_plan\": {\"version\": -1}"), PU_ERR_PB_LIMIT,
	    "$.case_transfer.expediente.restitution_plan.version: out of range (0 to 4294967295)");
	assert_refused(EXP("\"restitution_plan\": {\"version\": 4294967296}"), PU_ERR_PB_LIMIT,
	    "$.case_transfer.expediente.restitution_plan.version: out of range (0 to 4294967295)");
	assert_parses(EXP("\"restitution_plan\": {\"version\": 4294967295}"));
	assert_refused(EXP("\"restitution_plan\": {\"version\": 99999999999999999999}"),
	    PU_ERR_PB_LIMIT, "$.case_transfer.expediente.restitution_plan.version: "
	    "number out of range (line 1, column 140)");
	assert_refused(CHILD("\"given_names\": {\"first\": \"Ana\"}"), ERR_DATA,
	    "$.case_transfer.expediente.child.given_names: expected a string, got an object");
	assert_refused(CHILD("\"given_names\": null"), ERR_DATA,
	    "$.case_transfer.expediente.child.given_names: expected a string, got null");
	assert_refused(CHILD("\"birth_registered\": 1"), ERR_DATA,
	    "$.case_transfer.expediente.child.birth_registered: expected true or false, got an integer");
	assert_refused(CHILD("\"birth_registered\": \"true\""), ERR_DATA,
	    "$.case_transfer.expediente.child.birth_registered: expected true or false, got a string");
	assert_refused(EXP("\"family\": {}"), ERR_DATA,
	    "$.case_transfer.expediente.family: expected an array, got an object");
	assert_refused(EXP("\"child\": []"), ERR_DATA,
	    "$.case_transfer.expediente.child: expected an object, got an array");
	assert_refused(CHILD("\"languages\": [\"spa\", 3]"), ERR_DATA,
	    "$.case_transfer.expediente.child.languages[1]: expected a string, got an integer");
	assert_refused("[]", ERR_DATA, "$: expected an object (line 1, column 1)");
	assert_refused("\"case\"", ERR_DATA, "$: expected an object (line 1, column 1)");
	assert_refused("  ", ERR_DATA, "$: expected an object (line 1, column 3)");
	assert_refused("", ERR_DATA, "$: expected an object (line 1, column 1)");
}

static void
enums_by_name(void **state)
{
	(void)state;
	assert_parses(CHILD("\"sex\": \"female\""));
	assert_parses(CHILD("\"sex\": \"SEX_FEMALE\""));
	assert_parses(CHILD("\"sex\": \"Non_Binary\""));
	assert_refused(CHILD("\"sex\": \"femal\""), PU_ERR_PB_ENUM,
	    "$.case_transfer.expediente.child.sex: unknown value for Sex (did you mean \"female\"?)");
	assert_refused(CHILD("\"sex\": \"mujer\""), PU_ERR_PB_ENUM,
	    "$.case_transfer.expediente.child.sex: unknown value for Sex "
	    "(one of: female, male, non_binary)");
	assert_refused(CHILD("\"sex\": 1"), ERR_DATA,
	    "$.case_transfer.expediente.child.sex: expected a name (string), got an integer");
	assert_refused(CHILD("\"disabilities\": [\"visual\", \"sight\"]"), PU_ERR_PB_ENUM,
	    "$.case_transfer.expediente.child.disabilities[1]: unknown value for DisabilityKind "
	    "(one of: physical, visual, hearing, intellectual, psychosocial)");
	/* A list too long for one line ends at a whole name. */
	assert_refused("{\"type\": \"transfer\"}", PU_ERR_PB_ENUM,
	    "$.type: unknown value for MessageType (one of: referral, case_transfer, "
	    "information_request, information_response, home_study_request, home_study_result, "
	    "protection_measure_notice, restitution_plan, placement_notice, follow_up_report, "
	    "periodic_review, documents, case_closure, adoption_suitability_certificate, "
	    "adoption_assignment_proposal, adoption_acceptance, ...)");
	assert_refused("{\"type\": \"case_transfr\"}", PU_ERR_PB_ENUM,
	    "$.type: unknown value for MessageType (did you mean \"case_transfer\"?)");
}

static void
duplicate_key(void **state)
{
	(void)state;
	assert_refused(HEAD "\n\"case_id\": \"" CASE_ID "\"}", ERR_DATA,
	    "$.case_id: duplicate key (line 2, column 1)");
	assert_refused(CHILD("\"given_names\": \"Ana\",\n \"given_names\": \"Ana\""), ERR_DATA,
	    "$.case_transfer.expediente.child.given_names: duplicate key (line 2, column 2)");
}

/* Sizes from pb_limits_case and pb.c's table, refused with the path before encoding. */
static void
oversized_strings(void **state)
{
	char *json = malloc(70000), *big = malloc(65538);

	(void)state;
	assert_non_null(json);
	assert_non_null(big);
	memset(big, 'a', 65537);
	big[65537] = '\0';
	snprintf(json, 70000, HEAD "\"summary\": \"%s\", \"case_transfer\": {}}", big);
	assert_refused(json, PU_ERR_PB_LIMIT, "$.summary: longer than 65536 bytes");
	big[65536] = '\0';
	snprintf(json, 70000, HEAD "\"summary\": \"%s\", \"case_transfer\": {}}", big);
	assert_parses(json);
	big[16385] = '\0';
	snprintf(json, 70000, CHILD("\"health_notes\": \"%s\""), big);
	assert_refused(json, PU_ERR_PB_LIMIT,
	    "$.case_transfer.expediente.child.health_notes: longer than 16384 bytes");
	big[16384] = '\0';
	snprintf(json, 70000, CHILD("\"health_notes\": \"%s\""), big);
	assert_parses(json);
	big[1025] = '\0';
	snprintf(json, 70000, HEAD "\"attachments\": [{\"name\": \"%s\"}], \"case_transfer\": {}}",
	    big);
	assert_refused(json, PU_ERR_PB_LIMIT, "$.attachments[0].name: longer than 1024 bytes");
	free(big);
	free(json);
}

static void
invalid_utf8(void **state)
{
	(void)state;
	assert_refused(HEAD "\n\"summary\":\n  \"Niña \xff\"}", PU_ERR_PB_UTF8,
	    "$.summary: invalid UTF-8 (line 3, column 9)");
	/* A truncated sequence, and an overlong one ("/" in two bytes). */
	assert_refused(CHILD("\"given_names\": \"Ana\xc3\""), PU_ERR_PB_UTF8,
	    "$.case_transfer.expediente.child.given_names: invalid UTF-8 (line 1, column 118)");
	assert_refused(CHILD("\"given_names\": \"\xc0\xaf\""), PU_ERR_PB_UTF8,
	    "$.case_transfer.expediente.child.given_names: invalid UTF-8 (line 1, column 115)");
	/* In a key: the path stops at the object holding it. */
	assert_refused(CHILD("\"given\xff\": \"Ana\""), PU_ERR_PB_UTF8,
	    "$.case_transfer.expediente.child: invalid UTF-8 (line 1, column 105)");
	/* A lone surrogate escape is no character either. */
	assert_refused(HEAD "\"summary\": \"\\ud800\"}", ERR_DATA,
	    "$.summary: not valid JSON (line 1, column 74)");
}

static void
nul_and_control_characters(void **state)
{
	static const char raw_nul[] = HEAD "\"summary\": \"a\0b\"}";

	(void)state;
	assert_refused(HEAD "\"summary\": \"a\\u0000b\"}", PU_ERR_PB_UTF8,
	    "$.summary: NUL character (\\u0000) in a string (line 1, column 69)");
	assert_refused_len(raw_nul, sizeof(raw_nul) - 1, ERR_DATA,
	    "$.summary: NUL byte in a string (line 1, column 69)");
	assert_refused(HEAD "\"summary\": \"a\tb\"}", ERR_DATA,
	    "$.summary: control character in a string (write it as an escape) (line 1, column 69)");
	assert_parses(HEAD "\"summary\": \"a\\tb\\n\", \"case_transfer\": {}}");
}

/* A byte order mark, as some editors write, is skipped; columns count from after it. */
static void
byte_order_mark(void **state)
{
	(void)state;
	assert_parses("\xef\xbb\xbf" HEAD "\"case_transfer\": {}}");
	assert_refused("\xef\xbb\xbf" HEAD "\"case_transfer\": {}} x", ERR_DATA,
	    "$: unexpected data after the end of the object (line 1, column 77)");
	assert_refused("\xef\xbb\xbf\xef\xbb\xbf{}", ERR_DATA,
	    "$: expected an object (line 1, column 1)");
}

static void
payload_and_type(void **state)
{
	(void)state;
	assert_refused("{\"type\": \"referral\", \"case_id\": \"" CASE_ID "\", "
	    "\"case_transfer\": {}}", PU_ERR_CASE_TYPE,
	    "$.case_transfer: does not match \"type\" (expected \"referral\")");
	assert_refused("{\"type\": \"referral\", \"case_id\": \"" CASE_ID "\"}", PU_ERR_CASE_TYPE,
	    "$.referral: missing (required by \"type\")");
	assert_refused("{\"type\": \"referral\", \"case_id\": \"" CASE_ID "\", "
	    "\"referral\": {}, \"case_transfer\": {}}", ERR_DATA,
	    "$.case_transfer: only one of a oneof may be given (\"referral\" is too)");
	assert_refused("{\"case_id\": \"" CASE_ID "\", \"referral\": {}}", PU_ERR_CASE_TYPE,
	    "$.type: missing (required)");
	assert_refused("{\"type\": \"unspecified\", \"case_id\": \"" CASE_ID "\", \"referral\": {}}",
	    PU_ERR_CASE_TYPE, "$.type: missing (required)");
	assert_refused("{\"type\": \"referral\", \"referral\": {}}", PU_ERR_CASE_ID,
	    "$.case_id: missing (required)");
	assert_refused("{\"type\": \"referral\", \"case_id\": \"MX-26-7F3K\", \"referral\": {}}",
	    PU_ERR_CASE_ID,
	    "$.case_id: not a valid case id (MX-, a year, -, 4 to 16 of A-Z and 0-9)");
	/* Order in the file does not matter: the payload may come first. */
	assert_parses("{\"referral\": {}, \"case_id\": \"" CASE_ID "\", \"type\": \"referral\"}");
	/* The payload must be an object, even an empty one. */
	assert_refused("{\"type\": \"referral\", \"case_id\": \"" CASE_ID "\", \"referral\": null}",
	    ERR_DATA, "$.referral: expected an object, got null");
}

static void
digests_not_in_input(void **state)
{
	(void)state;
	assert_refused(HEAD "\"attachments\": [{\"name\": \"a.pdf\", \"size\": 10}], "
	    "\"case_transfer\": {}}", ERR_DATA,
	    "$.attachments[0].size: not allowed in input (puente fills it in from the file)");
	assert_refused(HEAD "\"attachments\": [{\"name\": \"a.pdf\"}, {\"blake2b\": \"00\"}], "
	    "\"case_transfer\": {}}", ERR_DATA,
	    "$.attachments[1].blake2b: not allowed in input (puente fills it in from the file)");
	assert_parses(HEAD "\"attachments\": [{\"name\": \"a.pdf\", \"media_type\": "
	    "\"application/pdf\"}], \"case_transfer\": {}}");
}

static char *
list_json(const char *prefix, const char *elem, size_t n, const char *suffix)
{
	size_t cap = strlen(prefix) + n * (strlen(elem) + 2) + strlen(suffix) + 1, k;
	char *s = malloc(cap);

	assert_non_null(s);
	k = (size_t)snprintf(s, cap, "%s", prefix);
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(s + k, cap - k, "%s%s", i ? ", " : "", elem);
	snprintf(s + k, cap - k, "%s", suffix);
	return s;
}

static void
too_many_elements(void **state)
{
	char *json;

	(void)state;
	json = list_json(HEAD "\"case_transfer\": {\"expediente\": {\"child\": {\"languages\": [",
	    "\"spa\"", 1025, "]}}}}");
	assert_refused(json, PU_ERR_PB_LIMIT,
	    "$.case_transfer.expediente.child.languages: more than 1024 elements");
	free(json);
	json = list_json(HEAD "\"case_transfer\": {\"expediente\": {\"child\": {\"languages\": [",
	    "\"spa\"", 1024, "]}}}}");
	assert_parses(json);
	free(json);
	json = list_json(HEAD "\"case_transfer\": {}, \"attachments\": [", "{}", 257, "]}");
	assert_refused(json, PU_ERR_PB_LIMIT, "$.attachments: more than 256 elements");
	free(json);
}

static void
deep_nesting(void **state)
{
	size_t n = 200000, k;
	char *json = malloc(2 * n + 64);

	(void)state;
	assert_non_null(json);
	/* Deeper than the schema where a string belongs: refused before jansson reads it. */
	assert_refused(HEAD "\"summary\": [[[[[[[[\"x\"]]]]]]]]}", ERR_DATA,
	    "$.summary[0][0][0][0][0][0]: nested deeper than the schema allows "
	    "(line 1, column 73)");
	/* One level deeper than the schema anywhere is a type error first. */
	assert_refused(CHILD("\"given_names\": {\"a\": 1}"), ERR_DATA,
	    "$.case_transfer.expediente.child.given_names: expected a string, got an object");
	/* 200,000 levels: no recursion follows them. */
	k = (size_t)snprintf(json, 64, "{\"summary\": ");
	memset(json + k, '[', n);
	memset(json + k + n, ']', n);
	memcpy(json + k + 2 * n, "}", 2);
	assert_refused(json, ERR_DATA,
	    "$.summary[0][0][0][0][0][0]: nested deeper than the schema allows "
	    "(line 1, column 19)");
	free(json);
}

static void
syntax_errors(void **state)
{
	(void)state;
	assert_refused(HEAD "\"case_transfer\": {}} x", ERR_DATA,
	    "$: unexpected data after the end of the object (line 1, column 77)");
	assert_refused(HEAD "\"case_transfer\": {", ERR_DATA,
	    "$.case_transfer: unexpected end of input (line 1, column 74)");
	assert_refused(HEAD "\"summary\": \"abc", ERR_DATA,
	    "$.summary: unexpected end of input (line 1, column 71)");
	assert_refused(HEAD "\"summary\": nul}", ERR_DATA,
	    "$.summary: not valid JSON (line 1, column 69)");
	assert_refused(HEAD "\"summary\" \"x\"}", ERR_DATA, "$.summary: not valid JSON (line 1, column 68)");
}

/* ---- the contract ---------------------------------------------------------------------- */

static void
error_buffer_bounds(void **state)
{
	Puente__CaseMessage *m = NULL;
	char err[8];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_err(casejson_parse("{}", 2, &m, err, sizeof(err)), PU_ERR_CASE_TYPE);
	assert_string_equal(err, "$.type:");
	assert_err(casejson_parse("{}", 2, &m, NULL, 0), PU_ERR_CASE_TYPE);
	assert_null(m);
	assert_err(casejson_parse(NULL, 2, &m, err, sizeof(err)), PU_ERR_ARG);
	assert_err(casejson_parse("{}", 2, NULL, err, sizeof(err)), PU_ERR_ARG);
	assert_err(casejson_write(NULL, NULL, NULL), PU_ERR_ARG);
}

static void
input_size_cap(void **state)
{
	Puente__CaseMessage *m = NULL;
	char err[CASEJSON_ERR_MAX];

	(void)state;
	/* Refused on its length alone: the text is never read. */
	assert_err(casejson_parse("{}", CASEJSON_MAX_INPUT + 1, &m, err, sizeof(err)),
	    PU_ERR_TOO_LARGE);
	assert_string_equal(err, "$: larger than 8388608 bytes");
}

/*
 * The rule table is keyed by field names: every curp, phone and *_date field must be a
 * singular string and every *_dates field a list of strings, or a rule would never run.
 */
static void
check_rule_names(const ProtobufCMessageDescriptor *d, unsigned *n_checked)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t n = strlen(f->name);
		int is_list = f->label == PROTOBUF_C_LABEL_REPEATED;

		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			check_rule_names(f->descriptor, n_checked);
		if (strcmp(f->name, "curp") == 0 || strcmp(f->name, "phone") == 0 ||
		    (n > 5 && strcmp(f->name + n - 5, "_date") == 0)) {
			if (f->type != PROTOBUF_C_TYPE_STRING || is_list)
				fail_msg("%s.%s: rule field is not a string", d->name, f->name);
			(*n_checked)++;
		} else if (n > 6 && strcmp(f->name + n - 6, "_dates") == 0) {
			if (f->type != PROTOBUF_C_TYPE_STRING || !is_list)
				fail_msg("%s.%s: rule field is not a list of strings", d->name, f->name);
			(*n_checked)++;
		}
	}
}

static void
rule_fields_are_strings(void **state)
{
	unsigned n = 0;

	(void)state;
	check_rule_names(&puente__case_message__descriptor, &n);
	assert_true(n > 50);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(example_parses),
		cmocka_unit_test(example_round_trips),
		cmocka_unit_test(written_digests_are_not_input),
		cmocka_unit_test(every_type_minimal_parses),
		cmocka_unit_test(deepest_schema_path_parses),
		cmocka_unit_test(curp_rules),
		cmocka_unit_test(date_rules),
		cmocka_unit_test(future_birth_date_refused),
		cmocka_unit_test(phone_rule),
		cmocka_unit_test(unknown_keys),
		cmocka_unit_test(wrong_types),
		cmocka_unit_test(enums_by_name),
		cmocka_unit_test(duplicate_key),
		cmocka_unit_test(oversized_strings),
		cmocka_unit_test(invalid_utf8),
		cmocka_unit_test(nul_and_control_characters),
		cmocka_unit_test(byte_order_mark),
		cmocka_unit_test(payload_and_type),
		cmocka_unit_test(digests_not_in_input),
		cmocka_unit_test(too_many_elements),
		cmocka_unit_test(deep_nesting),
		cmocka_unit_test(syntax_errors),
		cmocka_unit_test(error_buffer_bounds),
		cmocka_unit_test(input_size_cap),
		cmocka_unit_test(rule_fields_are_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
