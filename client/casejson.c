/*
 * casejson.c - JSON case files <-> CaseMessage, walking the protobuf-c descriptors.
 *
 * Parsing goes: size cap, a nesting pre-scan (no JSON may nest deeper than the schema, so
 * jansson never recurses far), json_loadb with JSON_REJECT_DUPLICATES, the generic walker
 * (one JSON path kept as it descends, so every error names where it is), the path-keyed
 * rule table, the case message's own rules (type, case_id, payload), and finally the proof:
 * casefile_check, pb_encode and pb_decode with pb_limits_case - the caller gets the
 * message as a recipient will decode it, never the hand-built one.
 *
 * Error lines carry JSON paths, schema names and rule names only. Values from the input
 * are never quoted (a CURP or a name must not reach a terminal log); the one piece of
 * input that can reach a line is an unknown key, and it is sanitised to printable ASCII.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "casefile.h"
#include "casejson.h"
#include "header.h"
#include "ids.h"
#include "pb.h"
#include "pu_err.h"

/*
 * The code for input that is not a well-formed case file (syntax, shape, rules). pu_err.h
 * has no dedicated one yet; this one exits 65 (EX_DATAERR) like every refused input.
 */
#define ERR_DATA PU_ERR_CASE_JSON

#define PATH_MAX_LEN 256
#define KEY_SHOWN_MAX 32	/* an unknown key is shown up to this many bytes */
#define SUGGEST_MAX 64		/* keys longer than this get no "did you mean" */
#define SCAN_MAX_DEPTH 32	/* the schema must fit (checked at run time) */

struct ctx {
	char *err;
	size_t err_len;
	char path[PATH_MAX_LEN];
	size_t path_len;
	long today;		/* YYYYMMDD in UTC: no birth date may be later */
};

static int fail(struct ctx *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Only the first error is written: every caller returns at once after it. */
static int
fail(struct ctx *c, int rc, const char *fmt, ...)
{
	int n;

	if (c->err_len == 0)
		return rc;
	n = snprintf(c->err, c->err_len, "%s: ", c->path);
	if (n >= 0 && (size_t)n < c->err_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- the JSON path --------------------------------------------------------------------- */

/* Appends; a path too long for the buffer is cut, never overflowed. */
static void
path_append(char *path, size_t *len, const char *s, size_t n)
{
	if (n > PATH_MAX_LEN - 1 - *len)
		n = PATH_MAX_LEN - 1 - *len;
	memcpy(path + *len, s, n);
	*len += n;
	path[*len] = '\0';
}

static int
ident_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    ch == '_';
}

/*
 * A key from the input: ".key" when it looks like a field name, else ["..."] with every
 * byte that is not printable ASCII (and every quote and backslash) shown as '?', so the
 * error stays one line of plain text whatever the key holds.
 */
static void
path_append_key(char *path, size_t *len, const char *key, size_t n)
{
	char shown[KEY_SHOWN_MAX + 8];
	size_t i, k = 0;
	int plain = n > 0 && n <= KEY_SHOWN_MAX;

	for (i = 0; i < n && plain; i++)
		plain = ident_char((unsigned char)key[i]);
	if (plain) {
		path_append(path, len, ".", 1);
		path_append(path, len, key, n);
		return;
	}
	for (i = 0; i < n && i < KEY_SHOWN_MAX; i++) {
		unsigned char ch = (unsigned char)key[i];
		shown[k++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
	}
	if (n > KEY_SHOWN_MAX) {
		memcpy(shown + k, "...", 3);
		k += 3;
	}
	path_append(path, len, "[\"", 2);
	path_append(path, len, shown, k);
	path_append(path, len, "\"]", 2);
}

static void
path_append_index(char *path, size_t *len, size_t i)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "[%zu]", i);

	path_append(path, len, b, (size_t)n);
}

static size_t
path_push_field(struct ctx *c, const char *name)
{
	size_t mark = c->path_len;

	path_append(c->path, &c->path_len, ".", 1);
	path_append(c->path, &c->path_len, name, strlen(name));
	return mark;
}

static void
path_pop(struct ctx *c, size_t mark)
{
	c->path_len = mark;
	c->path[mark] = '\0';
}

/* The path with every index made "[]": what the rule table is keyed by. */
static void
path_pattern(const struct ctx *c, char out[PATH_MAX_LEN])
{
	size_t i, k = 0;

	for (i = 0; i < c->path_len; i++) {
		out[k++] = c->path[i];
		if (c->path[i] == '[')
			while (i + 1 < c->path_len && c->path[i + 1] >= '0' && c->path[i + 1] <= '9')
				i++;
	}
	out[k] = '\0';
}

/* ---- near misses ----------------------------------------------------------------------- */

static int
ascii_lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* Levenshtein distance, case-insensitive; b is at most SUGGEST_MAX bytes. */
static size_t
edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
	size_t row[SUGGEST_MAX + 1];

	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j];
			size_t cost = ascii_lower((unsigned char)a[i - 1]) ==
			    ascii_lower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}

/* Whether got is close enough to want to suggest it: a third of the letters may differ. */
static int
near_miss(const char *got, size_t n, const char *want, size_t *best)
{
	size_t nw = strlen(want), d;

	if (n > SUGGEST_MAX || nw > SUGGEST_MAX)
		return 0;
	d = edit_distance(got, n, want, nw);
	if (d == 0 || d * 3 > (n > nw ? n : nw) || d >= *best)
		return 0;
	*best = d;
	return 1;
}

/* ---- enums by name --------------------------------------------------------------------- */

/* "MessageType" -> "MESSAGE_TYPE_": the prefix every value name of the enum starts with. */
static size_t
enum_prefix(const ProtobufCEnumDescriptor *e, char *out, size_t size)
{
	size_t k = 0;

	for (const char *p = e->short_name; *p != '\0' && k + 3 < size; p++) {
		if (*p >= 'A' && *p <= 'Z' && p != e->short_name)
			out[k++] = '_';
		out[k++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	}
	out[k++] = '_';
	out[k] = '\0';
	return k;
}

/* The friendly name: SEX_FEMALE -> "female". */
static void
enum_short_name(const ProtobufCEnumDescriptor *e, const char *name, char *out, size_t size)
{
	char prefix[128];
	size_t plen = enum_prefix(e, prefix, sizeof(prefix)), k = 0;

	if (strncmp(name, prefix, plen) == 0 && name[plen] != '\0')
		name += plen;
	for (; *name != '\0' && k + 1 < size; name++)
		out[k++] = (char)ascii_lower((unsigned char)*name);
	out[k] = '\0';
}

static int
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static const ProtobufCEnumValue *
enum_lookup(const ProtobufCEnumDescriptor *e, const char *s)
{
	char short_name[128];

	for (unsigned i = 0; i < e->n_values; i++) {
		enum_short_name(e, e->values[i].name, short_name, sizeof(short_name));
		if (ascii_caseeq(s, e->values[i].name) || ascii_caseeq(s, short_name))
			return &e->values[i];
	}
	return NULL;
}

static int
fail_enum(struct ctx *c, const ProtobufCEnumDescriptor *e, const char *s, size_t n)
{
	char names[CASEJSON_ERR_MAX / 2], short_name[128];
	const char *suggest = NULL;
	size_t best = SIZE_MAX, k = 0;

	names[0] = '\0';
	for (unsigned i = 0; i < e->n_values; i++) {
		enum_short_name(e, e->values[i].name, short_name, sizeof(short_name));
		if (near_miss(s, n, short_name, &best))
			suggest = e->values[i].name;
		/* Value 0 is UNSPECIFIED, which nobody means to choose. */
		if (e->values[i].value == 0 || k >= sizeof(names))
			continue;
		/* A long list ends at a whole name: ", ..." always fits after one. */
		if (k + 2 + strlen(short_name) + 5 >= sizeof(names)) {
			snprintf(names + k, sizeof(names) - k, ", ...");
			k = sizeof(names);
			continue;
		}
		k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s", k ? ", " : "",
		    short_name);
	}
	if (suggest != NULL) {
		enum_short_name(e, suggest, short_name, sizeof(short_name));
		return fail(c, PU_ERR_PB_ENUM, "unknown value for %s (did you mean \"%s\"?)",
		    e->short_name, short_name);
	}
	return fail(c, PU_ERR_PB_ENUM, "unknown value for %s (one of: %s)", e->short_name, names);
}

/* ---- the rule table -------------------------------------------------------------------- */

static const char *const curp_states[] = {
	"AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR", "HG", "JC", "MC",
	"MN", "MS", "NT", "NL", "OC", "PL", "QT", "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ",
	"YN", "ZS", "NE",	/* NE: nacido en el extranjero */
};

static int
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int
is_upper(char ch)
{
	return ch >= 'A' && ch <= 'Z';
}

static int
date_real(int y, int m, int d)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (y < 1 || m < 1 || m > 12 || d < 1)
		return 0;
	return d <= days[m - 1] + (m == 2 && leap);
}

static int
digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* 0 unless s is "YYYY-MM-DD" with digits where digits go. */
static int
date_parse(const char *s, int *y, int *m, int *d)
{
	static const char shape[] = "dddd-dd-dd";

	if (strlen(s) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
			return 0;
	*y = digits(s, 4);
	*m = digits(s + 5, 2);
	*d = digits(s + 8, 2);
	return 1;
}

/*
 * Instructivo Normativo para la Asignación de la CURP: '0'-'9' are 0-9, 'A'-'N' 10-23, 'Ñ'
 * 24 (never in ASCII text: RENAPO writes it as X), 'O'-'Z' 25-36.
 */
static int
curp_char_value(char ch)
{
	if (is_digit(ch))
		return ch - '0';
	return ch <= 'N' ? ch - 'A' + 10 : ch - 'A' + 11;
}

static const char *
rule_curp(const struct ctx *c, const char *s)
{
	int ok = strlen(s) == 18, sum = 0, year;

	(void)c;
	for (int i = 0; ok && i < 18; i++) {
		char ch = s[i];
		if (i < 4 || i == 11 || i == 12)
			ok = is_upper(ch);
		else if (i < 10 || i == 17)
			ok = is_digit(ch);
		else if (i == 10)
			ok = ch == 'H' || ch == 'M' || ch == 'X';
		else if (i < 16)
			ok = is_upper(ch) && strchr("AEIOU", ch) == NULL;
		else
			ok = is_upper(ch) || is_digit(ch);
	}
	if (!ok)
		return "not a valid CURP (format)";
	/* The differentiator (17th) is a digit for births up to 1999, a letter from 2000. */
	year = (is_digit(s[16]) ? 1900 : 2000) + digits(s + 4, 2);
	if (!date_real(year, digits(s + 6, 2), digits(s + 8, 2)))
		return "not a valid CURP (birth date)";
	ok = 0;
	for (size_t i = 0; i < sizeof(curp_states) / sizeof(curp_states[0]) && !ok; i++)
		ok = s[11] == curp_states[i][0] && s[12] == curp_states[i][1];
	if (!ok)
		return "not a valid CURP (state code)";
	for (int i = 0; i < 17; i++)
		sum += curp_char_value(s[i]) * (18 - i);
	if (s[17] - '0' != (10 - sum % 10) % 10)
		return "not a valid CURP (check digit)";
	return NULL;
}

static const char *
rule_date(const struct ctx *c, const char *s)
{
	int y, m, d;

	(void)c;
	if (!date_parse(s, &y, &m, &d))
		return "not a date (YYYY-MM-DD)";
	if (!date_real(y, m, d))
		return "not a real calendar date";
	return NULL;
}

/* Runs after rule_date (table order), so s is a real date. */
static const char *
rule_not_future(const struct ctx *c, const char *s)
{
	int y, m, d;

	if (date_parse(s, &y, &m, &d) && (long)y * 10000 + m * 100 + d > c->today)
		return "in the future";
	return NULL;
}

static const char *
rule_phone(const struct ctx *c, const char *s)
{
	size_t n = strlen(s);

	(void)c;
	if (n < 7 || n > 20 || strspn(s, "0123456789 +-") != n)
		return "not a valid phone number (7 to 20 digits, spaces, + or -)";
	return NULL;
}

static const char *
rule_case_id(const struct ctx *c, const char *s)
{
	(void)c;
	if (case_id_check(s) != PU_OK)
		return "not a valid case id (MX-, a year, -, 4 to 16 of A-Z and 0-9)";
	return NULL;
}

enum rule_kind {
	RULE_REFUSED,	/* the key may not appear in input at all */
	RULE_STRING,	/* a check on every non-empty string (every element of a list) */
};

struct rule {
	const char *pattern;	/* "$..." the whole path, else a suffix; indexes are "[]" */
	enum rule_kind kind;
	int rc;
	const char *(*check)(const struct ctx *c, const char *s);
	const char *why;	/* RULE_REFUSED */
};

/* casefile.proto names every date *_date (lists *_dates) and every CURP curp for this table. */
static const struct rule rules[] = {
	{ "$.attachments[].size", RULE_REFUSED, ERR_DATA, NULL,
	    "not allowed in input (puente fills it in from the file)" },
	{ "$.attachments[].blake2b", RULE_REFUSED, ERR_DATA, NULL,
	    "not allowed in input (puente fills it in from the file)" },
	{ "$.case_id", RULE_STRING, PU_ERR_CASE_ID, rule_case_id, NULL },
	{ ".curp", RULE_STRING, ERR_DATA, rule_curp, NULL },
	{ "_date", RULE_STRING, ERR_DATA, rule_date, NULL },
	{ "_dates[]", RULE_STRING, ERR_DATA, rule_date, NULL },
	{ ".birth_date", RULE_STRING, ERR_DATA, rule_not_future, NULL },
	{ ".phone", RULE_STRING, ERR_DATA, rule_phone, NULL },
};

static int
rule_matches(const struct rule *r, const char *pattern_path)
{
	size_t np = strlen(r->pattern), n = strlen(pattern_path);

	if (r->pattern[0] == '$')
		return strcmp(r->pattern, pattern_path) == 0;
	return n >= np && strcmp(pattern_path + n - np, r->pattern) == 0;
}

/* The rules of kind for the current path; s is the string for RULE_STRING. */
static int
rules_apply(struct ctx *c, enum rule_kind kind, const char *s)
{
	char pattern_path[PATH_MAX_LEN];

	path_pattern(c, pattern_path);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];
		const char *why;
		if (r->kind != kind || !rule_matches(r, pattern_path))
			continue;
		why = kind == RULE_REFUSED ? r->why : r->check(c, s);
		if (why != NULL)
			return fail(c, r->rc, "%s", why);
	}
	return PU_OK;
}

/* ---- limits ---------------------------------------------------------------------------- */

/*
 * pb.c's rows for the case message (PROTOCOL.md §3), repeated here so that an oversized
 * field is refused with its path; pb_decode checks the real table again at the end.
 */
static const struct {
	const char *message, *field;
	size_t max, count;
} case_limits[] = {
	{ "puente.CaseMessage", "summary", 64 * 1024, 0 },
	{ "puente.CaseMessage", "attachments", 0, 256 },
	{ "puente.Attachment", "name", 1024, 0 },
};

static void
field_limits(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
    size_t *max_len, size_t *max_count)
{
	*max_len = f->type == PROTOBUF_C_TYPE_STRING ? pb_limits_case.max_string :
	    pb_limits_case.max_bytes;
	*max_count = pb_limits_case.max_repeated;
	for (size_t i = 0; i < sizeof(case_limits) / sizeof(case_limits[0]); i++) {
		if (strcmp(case_limits[i].message, d->name) != 0 ||
		    strcmp(case_limits[i].field, f->name) != 0)
			continue;
		if (case_limits[i].max)
			*max_len = case_limits[i].max;
		if (case_limits[i].count)
			*max_count = case_limits[i].count;
	}
}

/* ---- JSON -> protobuf ------------------------------------------------------------------ */

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction or exponent";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "an unknown value";
}

static int
fail_type(struct ctx *c, const char *want, const json_t *v)
{
	return fail(c, ERR_DATA, "expected %s, got %s", want, json_kind(v));
}

static size_t
field_elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 0;	/* float and double: not in the schema, refused by map_value */
	}
}

static int map_message(struct ctx *c, json_t *obj, const ProtobufCMessageDescriptor *d,
    ProtobufCMessage **out);

static int
map_integer(struct ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v, void *slot)
{
	json_int_t x;
	long long lo, hi;

	if (!json_is_integer(v))
		return fail_type(c, "an integer", v);
	x = json_integer_value(v);
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		lo = 0, hi = UINT32_MAX;
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		lo = LLONG_MIN, hi = LLONG_MAX;
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		lo = 0, hi = LLONG_MAX;
		break;
	default:
		lo = INT32_MIN, hi = INT32_MAX;
	}
	if (x < lo || x > hi)
		return fail(c, PU_ERR_PB_LIMIT, "out of range (%lld to %lld)", lo, hi);
	if (field_elem_size(f) == 4) {
		/* int32 and uint32 alike: the same 4 bytes. */
		uint32_t u = (uint32_t)x;
		memcpy(slot, &u, sizeof(u));
	} else {
		uint64_t u = (uint64_t)x;
		memcpy(slot, &u, sizeof(u));
	}
	return PU_OK;
}

static int
map_string(struct ctx *c, const json_t *v, void *slot, size_t max_len, int in_list)
{
	const char *s;
	size_t n;
	char *copy;
	int rc;

	if (!json_is_string(v))
		return fail_type(c, "a string", v);
	s = json_string_value(v);
	n = json_string_length(v);
	/* jansson refuses \u0000 without JSON_ALLOW_NUL; this keeps that promise local. */
	if (memchr(s, '\0', n) != NULL)
		return fail(c, PU_ERR_PB_UTF8, "contains a NUL character");
	if (n > max_len)
		return fail(c, PU_ERR_PB_LIMIT, "longer than %zu bytes", max_len);
	if (!pb_utf8_valid((const uint8_t *)s, n))
		return fail(c, PU_ERR_PB_UTF8, "not valid UTF-8");
	/* proto3: an empty singular string is absent; a list keeps its empty elements. */
	if (n == 0 && !in_list)
		return PU_OK;
	if ((rc = rules_apply(c, RULE_STRING, s)) != PU_OK)
		return rc;
	if ((copy = malloc(n + 1)) == NULL)
		return fail(c, PU_ERR_NOMEM, "out of memory");
	memcpy(copy, s, n + 1);
	*(char **)slot = copy;
	return PU_OK;
}

static int
hex_value(char ch)
{
	if (is_digit(ch))
		return ch - '0';
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static int
map_bytes(struct ctx *c, const json_t *v, void *slot, size_t max_len)
{
	ProtobufCBinaryData bd = { 0, NULL };
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return fail_type(c, "a string of lowercase hex", v);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n % 2 != 0)
		return fail(c, ERR_DATA, "not lowercase hex");
	if (n / 2 > max_len)
		return fail(c, PU_ERR_PB_LIMIT, "longer than %zu bytes", max_len);
	if (n == 0)
		return PU_OK;
	if ((bd.data = malloc(n / 2)) == NULL)
		return fail(c, PU_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
		if (hi < 0 || lo < 0) {
			free(bd.data);
			return fail(c, ERR_DATA, "not lowercase hex");
		}
		bd.data[bd.len++] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(slot, &bd, sizeof(bd));
	return PU_OK;
}

static int
map_enum(struct ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v, void *slot)
{
	const ProtobufCEnumValue *ev;

	if (!json_is_string(v))
		return fail_type(c, "a name (string)", v);
	ev = enum_lookup(f->descriptor, json_string_value(v));
	if (ev == NULL)
		return fail_enum(c, f->descriptor, json_string_value(v), json_string_length(v));
	memcpy(slot, &ev->value, sizeof(ev->value));
	return PU_OK;
}

/* One value of field f into slot (the field itself, or an element of its array). */
static int
map_value(struct ctx *c, const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
    json_t *v, void *slot, int in_list)
{
	size_t max_len, max_count;

	field_limits(d, f, &max_len, &max_count);
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return map_string(c, v, slot, max_len, in_list);
	case PROTOBUF_C_TYPE_BYTES:
		return map_bytes(c, v, slot, max_len);
	case PROTOBUF_C_TYPE_ENUM:
		return map_enum(c, f, v, slot);
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean b;
		if (!json_is_boolean(v))
			return fail_type(c, "true or false", v);
		b = json_is_true(v);
		memcpy(slot, &b, sizeof(b));
		return PU_OK;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return map_message(c, v, f->descriptor, (ProtobufCMessage **)slot);
	case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE:
		return fail(c, PU_ERR_INTERNAL, "field type not supported by the JSON mapper");
	default:
		return map_integer(c, f, v, slot);
	}
}

static int
map_repeated(struct ctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v)
{
	char *base = (char *)m, *arr;
	size_t n, max_len, max_count, size = field_elem_size(f);

	if (!json_is_array(v))
		return fail_type(c, "an array", v);
	field_limits(m->descriptor, f, &max_len, &max_count);
	n = json_array_size(v);
	if (n > max_count)
		return fail(c, PU_ERR_PB_LIMIT, "more than %zu elements", max_count);
	if (n == 0)
		return PU_OK;
	if (size == 0)
		return fail(c, PU_ERR_INTERNAL, "field type not supported by the JSON mapper");
	/* Zeroed elements free cleanly, so the message owns the array before it is filled. */
	if ((arr = calloc(n, size)) == NULL)
		return fail(c, PU_ERR_NOMEM, "out of memory");
	memcpy(base + f->offset, &arr, sizeof(arr));
	memcpy(base + f->quantifier_offset, &n, sizeof(n));
	for (size_t i = 0; i < n; i++) {
		size_t mark = c->path_len;
		int rc;
		path_append_index(c->path, &c->path_len, i);
		rc = map_value(c, m->descriptor, f, json_array_get(v, i), arr + i * size, 1);
		if (rc != PU_OK)
			return rc;
		path_pop(c, mark);
	}
	return PU_OK;
}

static int
map_field(struct ctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v)
{
	char *base = (char *)m;
	int rc;

	if ((rc = rules_apply(c, RULE_REFUSED, NULL)) != PU_OK)
		return rc;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t which;
		memcpy(&which, base + f->quantifier_offset, sizeof(which));
		if (which != 0) {
			const ProtobufCFieldDescriptor *set =
			    protobuf_c_message_descriptor_get_field(m->descriptor, which);
			return fail(c, ERR_DATA, "only one of a oneof may be given (\"%s\" is too)",
			    set != NULL ? set->name : "?");
		}
		/* Selected before it is filled, so a half-built member is still freed. */
		memcpy(base + f->quantifier_offset, &f->id, sizeof(f->id));
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return map_repeated(c, m, f, v);
	return map_value(c, m->descriptor, f, v, base + f->offset, 0);
}

static int
fail_unknown(struct ctx *c, const ProtobufCMessageDescriptor *d, const char *key)
{
	const char *suggest = NULL;
	size_t best = SIZE_MAX, n = strlen(key);

	path_append_key(c->path, &c->path_len, key, n);
	for (unsigned i = 0; i < d->n_fields; i++)
		if (near_miss(key, n, d->fields[i].name, &best))
			suggest = d->fields[i].name;
	if (suggest != NULL)
		return fail(c, ERR_DATA, "unknown key (did you mean \"%s\"?)", suggest);
	return fail(c, ERR_DATA, "unknown key");
}

static int
map_message(struct ctx *c, json_t *obj, const ProtobufCMessageDescriptor *d,
    ProtobufCMessage **out)
{
	ProtobufCMessage *m;
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return fail_type(c, "an object", obj);
	if ((m = calloc(1, d->sizeof_message)) == NULL)
		return fail(c, PU_ERR_NOMEM, "out of memory");
	protobuf_c_message_init(d, m);
	/* The caller's tree owns it from here, half filled or not. */
	*out = m;
	json_object_foreach(obj, key, v) {
		const ProtobufCFieldDescriptor *f;
		size_t mark = c->path_len;
		int rc;

		f = protobuf_c_message_descriptor_get_field_by_name(d, key);
		if (f == NULL)
			return fail_unknown(c, d, key);
		path_push_field(c, f->name);
		if ((rc = map_field(c, m, f, v)) != PU_OK)
			return rc;
		path_pop(c, mark);
	}
	return PU_OK;
}

/* What the schema cannot say about the case message itself. */
static int
check_case(struct ctx *c, const Puente__CaseMessage *m)
{
	const ProtobufCFieldDescriptor *want;

	if (m->type == PUENTE__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED) {
		path_push_field(c, "type");
		return fail(c, PU_ERR_CASE_TYPE, "missing (required)");
	}
	if (m->case_id == NULL || m->case_id[0] == '\0') {
		path_push_field(c, "case_id");
		return fail(c, PU_ERR_CASE_ID, "missing (required)");
	}
	if ((want = casefile_payload_field((int)m->type)) == NULL) {
		path_push_field(c, "type");
		return fail(c, PU_ERR_CASE_TYPE, "has no payload in this version of the schema");
	}
	if (m->payload_case == PUENTE__CASE_MESSAGE__PAYLOAD__NOT_SET) {
		path_push_field(c, want->name);
		return fail(c, PU_ERR_CASE_TYPE, "missing (required by \"type\")");
	}
	if ((unsigned)m->payload_case != want->id) {
		const ProtobufCFieldDescriptor *got = protobuf_c_message_descriptor_get_field(
		    &puente__case_message__descriptor, (unsigned)m->payload_case);
		path_push_field(c, got != NULL ? got->name : "?");
		return fail(c, PU_ERR_CASE_TYPE, "does not match \"type\" (expected \"%s\")",
		    want->name);
	}
	return PU_OK;
}

/* ---- errors before the walk: nesting and jansson's own ---------------------------------- */

struct scan_frame {
	unsigned char is_array;
	unsigned char want_key;	/* object: the next string is a key */
	unsigned char has_key;
	size_t index;
	size_t key_off, key_len;
};

struct scan {
	struct scan_frame f[SCAN_MAX_DEPTH];
	size_t depth;
	size_t str_off;		/* opening quote of the last string met */
	int in_string;
};

/*
 * Follows the nesting of s[0..end) as a JSON tokenizer would, remembering the key or index
 * at each level: the path to the byte at end. Returns end, or the offset of the first
 * bracket nested deeper than max_depth (<= SCAN_MAX_DEPTH). Invalid JSON is not judged
 * here (jansson does that); it only has to not go wrong.
 */
static size_t
scan_json(struct scan *sc, const char *s, size_t end, size_t max_depth)
{
	size_t i = 0;

	sc->depth = 0;
	sc->str_off = 0;
	sc->in_string = 0;
	while (i < end) {
		struct scan_frame *top = sc->depth > 0 ? &sc->f[sc->depth - 1] : NULL;
		char ch = s[i];

		if (ch == '{' || ch == '[') {
			if (sc->depth >= max_depth)
				return i;
			top = &sc->f[sc->depth++];
			memset(top, 0, sizeof(*top));
			top->is_array = ch == '[';
			top->want_key = ch == '{';
		} else if ((ch == '}' || ch == ']') && top != NULL) {
			sc->depth--;
		} else if (ch == ',' && top != NULL) {
			top->index++;
			top->has_key = 0;
			top->want_key = !top->is_array;
		} else if (ch == '"') {
			size_t start = ++i;

			sc->str_off = start - 1;
			while (i < end && s[i] != '"')
				i += s[i] == '\\' ? 2 : 1;
			if (i >= end) {
				sc->in_string = 1;
				return end;
			}
			if (top != NULL && top->want_key) {
				top->want_key = 0;
				top->has_key = 1;
				top->key_off = start;
				top->key_len = i - start;
			}
		}
		i++;
	}
	return end;
}

static void
scan_path(struct ctx *c, const struct scan *sc, const char *s)
{
	for (size_t i = 0; i < sc->depth; i++) {
		const struct scan_frame *fr = &sc->f[i];
		if (fr->is_array)
			path_append_index(c->path, &c->path_len, fr->index);
		else if (fr->has_key)
			path_append_key(c->path, &c->path_len, s + fr->key_off, fr->key_len);
	}
}

/* Line and column (in characters, both from 1) of the byte at off. */
static void
text_position(const char *s, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (s[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)s[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static int
fail_at(struct ctx *c, int rc, const char *s, size_t off, const char *why)
{
	size_t line, col;

	text_position(s, off, &line, &col);
	return fail(c, rc, "%s (line %zu, column %zu)", why, line, col);
}

/* JSON nesting a value of message type d can need: its object, and lists and objects below. */
static size_t
schema_depth(const ProtobufCMessageDescriptor *d, unsigned guard)
{
	size_t max = 1;

	if (guard > SCAN_MAX_DEPTH)
		return SIZE_MAX / 2;	/* a recursive schema: refused by the caller */
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t below = f->type == PROTOBUF_C_TYPE_MESSAGE ?
		    schema_depth(f->descriptor, guard + 1) : 0;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			below++;
		if (1 + below > max)
			max = 1 + below;
	}
	return max;
}

static int
check_nesting(struct ctx *c, const char *s, size_t len)
{
	struct scan sc;
	size_t max = schema_depth(&puente__case_message__descriptor, 0), at;

	if (max > SCAN_MAX_DEPTH)
		return fail(c, PU_ERR_INTERNAL, "schema nests deeper than the JSON mapper follows");
	if ((at = scan_json(&sc, s, len, max)) == len)
		return PU_OK;
	scan_path(c, &sc, s);
	return fail_at(c, ERR_DATA, s, at, "nested deeper than the schema allows");
}

/* The first \u0000 escape in the string that starts at s[from], or from itself. */
static size_t
find_nul_escape(const char *s, size_t from, size_t end)
{
	for (size_t i = from + 1; i + 6 <= end && s[i] != '"'; i += s[i] == '\\' ? 2 : 1)
		if (s[i] == '\\' && memcmp(s + i + 1, "u0000", 5) == 0)
			return i;
	return from;
}

/* A case file is one object; anything else is refused here, where the words are ours. */
static int
check_top(struct ctx *c, const char *s, size_t len)
{
	size_t i = 0;

	/* The text need not end in a NUL: never read past len. */
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (i < len && s[i] == '{')
		return PU_OK;
	return fail_at(c, ERR_DATA, s, i, "expected an object");
}

/* jansson's error, with our own words and the path the scanner finds at its position. */
static int
fail_load(struct ctx *c, const char *s, size_t len, const json_error_t *je)
{
	struct scan sc;
	size_t pos = je->position > 0 ? (size_t)je->position : 0, at;
	const char *why = "not valid JSON";
	int rc = ERR_DATA;

	if (pos > len)
		pos = len;
	/*
	 * jansson's position is just past the last byte it read, usually the culprit; an
	 * invalid byte or a premature end is not read, so it sits at the position itself.
	 */
	at = pos > 0 ? pos - 1 : 0;
	scan_json(&sc, s, pos, SCAN_MAX_DEPTH);
	switch (json_error_code(je)) {
	case json_error_invalid_utf8:
		why = "invalid UTF-8", rc = PU_ERR_PB_UTF8, at = pos;
		break;
	case json_error_duplicate_key:
		/* Point at the second key itself, whose text jansson has just read. */
		why = "duplicate key";
		if (sc.depth > 0 && sc.f[sc.depth - 1].has_key)
			at = sc.f[sc.depth - 1].key_off - 1;
		break;
	case json_error_null_character:
		why = "NUL character (\\u0000) in a string", rc = PU_ERR_PB_UTF8;
		at = find_nul_escape(s, sc.str_off, pos);
		break;
	case json_error_numeric_overflow:
		why = "number out of range", rc = PU_ERR_PB_LIMIT;
		break;
	case json_error_premature_end_of_input:
		why = "unexpected end of input", at = pos;
		break;
	case json_error_end_of_input_expected:
		why = "unexpected data after the end of the object";
		break;
	case json_error_wrong_type:
		why = "expected an object";
		break;
	case json_error_out_of_memory:
		return fail(c, PU_ERR_NOMEM, "out of memory");
	case json_error_invalid_syntax:
		if (sc.in_string && pos < len && (unsigned char)s[pos] < 0x20) {
			why = s[pos] == '\0' ? "NUL byte in a string" :
			    "control character in a string (write it as an escape)";
			at = pos;
		}
		break;
	default:
		break;
	}
	scan_path(c, &sc, s);
	return fail_at(c, rc, s, at, why);
}

/* ---- the proof: what a recipient will decode ------------------------------------------ */

static int
prove(struct ctx *c, const Puente__CaseMessage *built, Puente__CaseMessage **out)
{
	ProtobufCMessage *decoded = NULL;
	uint8_t *enc = NULL;
	size_t len = 0;
	int rc;

	if ((rc = casefile_check(built)) != PU_OK)
		return fail(c, rc, "%s", pu_err_message(rc));
	if ((rc = pb_encode(&built->base, &enc, &len)) != PU_OK)
		return fail(c, rc, "%s", pu_err_message(rc));
	if (len > PU_MAX_CASE_MESSAGE) {
		rc = fail(c, PU_ERR_TOO_LARGE, "larger than %u bytes once encoded",
		    PU_MAX_CASE_MESSAGE);
		goto out;
	}
	/* The budget a recipient gives it (envelope_open.c). */
	rc = pb_decode(&puente__case_message__descriptor, enc, len, &pb_limits_case,
	    16 * len + 65536, &decoded);
	if (rc != PU_OK) {
		rc = fail(c, rc, "%s (%s)", pu_err_message(rc), pu_err_name(rc));
		goto out;
	}
	*out = (Puente__CaseMessage *)decoded;
out:
	free(enc);
	return rc;
}

static long
today_utc(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL)
		return 99991231;
	return (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

int
casejson_parse(const char *text, size_t len, Puente__CaseMessage **out, char *err,
    size_t err_len)
{
	struct ctx c;
	json_error_t je;
	json_t *root = NULL;
	ProtobufCMessage *built = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	c.err = err;
	c.err_len = err != NULL ? err_len : 0;
	if (c.err_len > 0)
		err[0] = '\0';
	c.path[0] = '$';
	c.path_len = 1;
	c.today = today_utc();
	if (out == NULL || (text == NULL && len > 0))
		return fail(&c, PU_ERR_ARG, "no input");
	*out = NULL;
	if (text == NULL)
		text = "";
	if (len > CASEJSON_MAX_INPUT)
		return fail(&c, PU_ERR_TOO_LARGE, "larger than %u bytes", CASEJSON_MAX_INPUT);
	/* Editors on Windows may start the file with a UTF-8 byte order mark; jansson won't. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		text += 3, len -= 3;
	if ((rc = check_top(&c, text, len)) != PU_OK || (rc = check_nesting(&c, text, len)) != PU_OK)
		return rc;
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return fail_load(&c, text, len, &je);
	rc = map_message(&c, root, &puente__case_message__descriptor, &built);
	if (rc == PU_OK)
		rc = check_case(&c, (Puente__CaseMessage *)built);
	if (rc == PU_OK)
		rc = prove(&c, (Puente__CaseMessage *)built, out);
	protobuf_c_message_free_unpacked(built, NULL);
	json_decref(root);
	return rc;
}

/* ---- protobuf -> JSON ------------------------------------------------------------------ */

static int write_message(const ProtobufCMessage *m, json_t **out);

static int
write_value(const ProtobufCFieldDescriptor *f, const void *slot, json_t **out)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s;
		memcpy(&s, slot, sizeof(s));
		if (s == NULL)
			s = "";
		if (!pb_utf8_valid((const uint8_t *)s, strlen(s)))
			return PU_ERR_PB_UTF8;
		*out = json_string(s);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		static const char hex[] = "0123456789abcdef";
		ProtobufCBinaryData bd;
		char *h;
		memcpy(&bd, slot, sizeof(bd));
		if ((h = malloc(2 * bd.len + 1)) == NULL)
			return PU_ERR_NOMEM;
		for (size_t i = 0; i < bd.len; i++) {
			h[2 * i] = hex[bd.data[i] >> 4];
			h[2 * i + 1] = hex[bd.data[i] & 15];
		}
		*out = json_stringn(h, 2 * bd.len);
		free(h);
		break;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev;
		char name[128];
		int32_t v;
		memcpy(&v, slot, sizeof(v));
		if ((ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v)) == NULL)
			return PU_ERR_PB_ENUM;
		enum_short_name(f->descriptor, ev->name, name, sizeof(name));
		*out = json_string(name);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean b;
		memcpy(&b, slot, sizeof(b));
		*out = json_boolean(b);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub;
		memcpy(&sub, slot, sizeof(sub));
		if (sub != NULL)
			return write_message(sub, out);
		/* Only a selected oneof member gets here empty: it is present, so {}. */
		*out = json_object();
		break;
	}
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32: {
		int32_t v;
		memcpy(&v, slot, sizeof(v));
		*out = json_integer(v);
		break;
	}
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t v;
		memcpy(&v, slot, sizeof(v));
		*out = json_integer(v);
		break;
	}
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t v;
		memcpy(&v, slot, sizeof(v));
		*out = json_integer(v);
		break;
	}
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v;
		memcpy(&v, slot, sizeof(v));
		/* jansson's integers are signed 64-bit; nothing in the schema comes near. */
		if (v > (uint64_t)LLONG_MAX)
			return PU_ERR_TOO_LARGE;
		*out = json_integer((json_int_t)v);
		break;
	}
	default:
		return PU_ERR_INTERNAL;
	}
	return *out != NULL ? PU_OK : PU_ERR_NOMEM;
}

/* proto3: a field holding its zero value is absent, and so is left out of the JSON. */
static int
value_is_default(const ProtobufCFieldDescriptor *f, const void *slot)
{
	static const uint8_t zero[8];

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s;
		memcpy(&s, slot, sizeof(s));
		return s == NULL || s[0] == '\0';
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData bd;
		memcpy(&bd, slot, sizeof(bd));
		return bd.len == 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const void *p;
		memcpy(&p, slot, sizeof(p));
		return p == NULL;
	}
	default:
		return memcmp(slot, zero, field_elem_size(f)) == 0;
	}
}

static int
write_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t **out)
{
	const char *base = (const char *)m, *arr;
	size_t n, size = field_elem_size(f);
	json_t *a;

	*out = NULL;
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		/* A oneof member is present whenever it is selected, even holding zero. */
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && value_is_default(f, base + f->offset))
			return PU_OK;
		return write_value(f, base + f->offset, out);
	}
	memcpy(&n, base + f->quantifier_offset, sizeof(n));
	memcpy(&arr, base + f->offset, sizeof(arr));
	if (n == 0)
		return PU_OK;
	if (size == 0)
		return PU_ERR_INTERNAL;
	if ((a = json_array()) == NULL)
		return PU_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *e;
		int rc = write_value(f, arr + i * size, &e);

		/* json_array_append_new takes e even when it fails. */
		if (rc == PU_OK && json_array_append_new(a, e) != 0)
			rc = PU_ERR_NOMEM;
		if (rc != PU_OK) {
			json_decref(a);
			return rc;
		}
	}
	*out = a;
	return PU_OK;
}

static int
write_message(const ProtobufCMessage *m, json_t **out)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *obj = json_object();

	if (obj == NULL)
		return PU_ERR_NOMEM;
	/* Descriptor order is field-number order: the order of the .proto. */
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v;
		int rc;

		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which;
			memcpy(&which, (const char *)m + f->quantifier_offset, sizeof(which));
			if (which != f->id)
				continue;
		}
		if ((rc = write_field(m, f, &v)) != PU_OK) {
			json_decref(obj);
			return rc;
		}
		if (v != NULL && json_object_set_new(obj, f->name, v) != 0) {
			json_decref(obj);
			return PU_ERR_NOMEM;
		}
	}
	*out = obj;
	return PU_OK;
}

int
casejson_write(const Puente__CaseMessage *m, char **out, size_t *out_len)
{
	const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
	json_t *root = NULL;
	char *buf;
	size_t n;
	int rc;

	if (m == NULL || out == NULL || out_len == NULL)
		return PU_ERR_ARG;
	*out = NULL;
	*out_len = 0;
	if ((rc = write_message(&m->base, &root)) != PU_OK)
		return rc;
	/* json_dumpb tells the size first, so the text lands in our own malloc'd buffer. */
	n = json_dumpb(root, NULL, 0, flags);
	if (n == 0 || (buf = malloc(n + 2)) == NULL) {
		json_decref(root);
		return PU_ERR_NOMEM;
	}
	if (json_dumpb(root, buf, n, flags) != n) {
		free(buf);
		json_decref(root);
		return PU_ERR_INTERNAL;
	}
	json_decref(root);
	buf[n] = '\n';
	buf[n + 1] = '\0';
	*out = buf;
	*out_len = n + 1;
	return PU_OK;
}
