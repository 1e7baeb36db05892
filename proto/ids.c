/* ids.c - agency and case identifiers. */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ids.h"
#include "pu_err.h"

static const char *const state_codes[] = {
	"AGU", "BCN", "BCS", "CAM", "CHH", "CHP", "CMX", "COA", "COL", "DUR", "FED",
	"GRO", "GUA", "HID", "JAL", "MEX", "MIC", "MOR", "NAY", "NLE", "OAX", "PUE",
	"QUE", "ROO", "SIN", "SLP", "SON", "TAB", "TAM", "TLA", "VER", "YUC", "ZAC",
};

static int
upper_or_digit(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
run_of(const char *s, size_t min, size_t max)
{
	size_t n = 0;

	while (s[n] != '\0' && upper_or_digit(s[n]))
		n++;
	return s[n] == '\0' && n >= min && n <= max;
}

int
agency_id_state(const char *id, char out[4])
{
	if (id == NULL || strncmp(id, "MX-", 3) != 0 || strlen(id) < 9 || id[6] != '-')
		return PU_ERR_AGENCY_ID;
	for (size_t i = 0; i < sizeof(state_codes) / sizeof(state_codes[0]); i++) {
		if (strncmp(id + 3, state_codes[i], 3) == 0) {
			if (!run_of(id + 7, 2, 32))
				return PU_ERR_AGENCY_ID;
			memcpy(out, state_codes[i], 4);
			return PU_OK;
		}
	}
	return PU_ERR_AGENCY_ID;
}

int
agency_id_check(const char *id)
{
	char state[4];

	return agency_id_state(id, state);
}

int
case_id_check(const char *id)
{
	if (id == NULL || strncmp(id, "MX-", 3) != 0 || strlen(id) < 12)
		return PU_ERR_CASE_ID;
	for (int i = 3; i < 7; i++)
		if (id[i] < '0' || id[i] > '9')
			return PU_ERR_CASE_ID;
	if (id[7] != '-' || !run_of(id + 8, 4, 16))
		return PU_ERR_CASE_ID;
	return PU_OK;
}

void
msg_id_at(uint8_t out[16], uint64_t ms)
{
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)(ms >> (8 * (5 - i)));
	randombytes_buf(out + 6, 10);
}

void
msg_id_new(uint8_t out[16])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	msg_id_at(out, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}
