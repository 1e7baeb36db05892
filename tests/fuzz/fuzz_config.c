/*
 * fuzz_config.c - the gateway.conf parser (gateway/config.h) on any bytes.
 *
 * Input: the text of a config file. Whatever it holds, the parser returns PU_OK or
 * PU_ERR_USAGE; an error is one line naming the file and leaves the configuration at its
 * defaults; an accepted file gives values within their documented bounds and prints as a
 * file that loads back to the same configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

#define NAME "fuzz/gateway.conf"

/* config_print is lossless: two configurations are equal when they print the same. */
static char *
printed(const struct gateway_config *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	FUZZ_ASSERT(f != NULL);
	config_print(c, f);
	FUZZ_ASSERT(fclose(f) == 0);
	return buf;
}

static void
bounds_check(const struct gateway_config *c)
{
	FUZZ_ASSERT(c->listen_host[0] != '\0' && c->listen_port != 0);
	FUZZ_ASSERT(c->metrics_host[0] != '\0' && c->metrics_port != 0);
	FUZZ_ASSERT(c->identity_dir[0] == '/' && c->data_dir[0] == '/');
	FUZZ_ASSERT(c->allow_remote_metrics == 0 || c->allow_remote_metrics == 1);
	FUZZ_ASSERT(c->max_sessions >= 1 && c->max_sessions <= 100000);
	FUZZ_ASSERT(c->handshake_timeout_ms >= 100 && c->handshake_timeout_ms <= 60000);
	FUZZ_ASSERT(c->idle_timeout_s >= 5 && c->idle_timeout_s <= 86400);
	FUZZ_ASSERT(c->max_inflight_per_agency >= 1 && c->max_inflight_per_agency <= 4096);
	FUZZ_ASSERT(c->sender_quota_bytes >= (1ull << 20) && c->sender_quota_bytes <= (16ull << 40));
	FUZZ_ASSERT(c->commit_batch_max >= 1 && c->commit_batch_max <= 4096);
	FUZZ_ASSERT(c->commit_delay_us <= 100000);
	FUZZ_ASSERT(c->retention_days >= 1 && c->retention_days <= 3650);
	FUZZ_ASSERT(c->witness_max_age_s >= 60 && c->witness_max_age_s <= 604800);
	FUZZ_ASSERT(c->wal_presize_bytes <= (1ull << 30));
	FUZZ_ASSERT(c->log_level >= LOG_ERROR && c->log_level <= LOG_DEBUG);
}

/* Every printed line within CONFIG_LINE_MAX: a resolved path may have grown past it. */
static int
lines_fit(const char *s)
{
	const char *nl;

	for (; (nl = strchr(s, '\n')) != NULL; s = nl + 1)
		if ((size_t)(nl - s) > CONFIG_LINE_MAX)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gateway_config c, again, defaults;
	char err[512], err2[512], *p1, *p2, *pd;
	size_t n1, n2, nd;
	int rc;

	memset(&c, 0x5a, sizeof(c));
	rc = config_parse_buffer(NAME, (const char *)data, size, &c, err, sizeof(err));
	FUZZ_ASSERT(rc == PU_OK || rc == PU_ERR_USAGE);
	p1 = printed(&c, &n1);
	if (rc != PU_OK) {
		FUZZ_ASSERT(strncmp(err, NAME ":", strlen(NAME ":")) == 0);
		FUZZ_ASSERT(strchr(err, '\n') == NULL);
		config_defaults(&defaults);
		pd = printed(&defaults, &nd);
		FUZZ_ASSERT(nd == n1 && memcmp(pd, p1, n1) == 0);
		free(pd);
		free(p1);
		return 0;
	}
	bounds_check(&c);
	if (lines_fit(p1)) {
		rc = config_parse_buffer(NAME, p1, n1, &again, err2, sizeof(err2));
		if (rc != PU_OK)
			fprintf(stderr, "reload: %s\n", err2);
		FUZZ_ASSERT(rc == PU_OK);
		p2 = printed(&again, &n2);
		FUZZ_ASSERT(n1 == n2 && memcmp(p1, p2, n1) == 0);
		free(p2);
	}
	free(p1);
	return 0;
}
