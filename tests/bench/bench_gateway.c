/*
 * bench_gateway.c - throughput and acknowledgement latency of the real gateway on loopback.
 *
 * Usage: puente-bench-gateway FEDERATION_DIR PORT [IN_FLIGHT] [MESSAGES] [SIZE]
 * FEDERATION_DIR is a puente-keys folder holding MX-TLA-PPNNA, MX-NLE-PPNNA, MX-FED-PFPNNA,
 * and the gateway must be running. Messages are sealed before timing starts (2 recipients);
 * one session pipelines IN_FLIGHT submissions and measures each until its receipt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "frames.pb-c.h"
#include "pu_err.h"
#include "testclient.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static const char *const to[] = { "MX-NLE-PPNNA", "MX-FED-PFPNNA" };
	struct tc_agency tla;
	struct tc c;
	struct fx_msg *msgs;
	double *sent_at, *lat, t0, elapsed;
	char dir[1200];
	int port, in_flight, n;
	uint64_t size;
	size_t done = 0, next = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: puente-bench-gateway FEDERATION_DIR PORT [IN_FLIGHT] [MESSAGES] [SIZE]\n");
		return 64;
	}
	port = atoi(argv[2]);
	in_flight = argc > 3 ? atoi(argv[3]) : 1;
	n = argc > 4 ? atoi(argv[4]) : 2000;
	size = argc > 5 ? strtoull(argv[5], NULL, 10) : 4096;
	if (in_flight < 1 || n < 1 || crypto_init() != PU_OK)
		return 64;
	snprintf(dir, sizeof(dir), "%s/agencies/MX-TLA-PPNNA", argv[1]);
	if (tc_agency_load(&tla, dir) != PU_OK || tc_connect(&c, port, &tla) != PU_OK) {
		fprintf(stderr, "puente-bench-gateway: cannot connect as MX-TLA-PPNNA to port %d\n", port);
		return 69;
	}
	msgs = calloc((size_t)n, sizeof(*msgs));
	sent_at = calloc((size_t)n, sizeof(*sent_at));
	lat = calloc((size_t)n, sizeof(*lat));
	for (int i = 0; i < n; i++)
		if (tc_seal(&tla, &msgs[i], to, 2, 12, size - (size > 200 ? 200 : 0), NULL) != PU_OK)
			return 70;
	t0 = now_s();
	while (done < (size_t)n) {
		while (next < (size_t)n && next - done < (size_t)in_flight) {
			sent_at[next] = now_s();
			if (tc_send_message(&c, &msgs[next]) != PU_OK)
				return 74;
			next++;
		}
		char err[64];
		if (tc_expect(&c, PUENTE__FRAME_TYPE__FRAME_TYPE_GATEWAY_RECEIPT, NULL, err, sizeof(err)) != PU_OK) {
			fprintf(stderr, "puente-bench-gateway: message %zu refused: %s\n", done, err);
			return 65;
		}
		lat[done] = (now_s() - sent_at[done]) * 1000;
		done++;
	}
	elapsed = now_s() - t0;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("scenario=%lluB-x%d msgs_per_s=%.0f mb_per_s=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
	    (unsigned long long)size, in_flight, n / elapsed, n * (double)size / elapsed / 1e6,
	    lat[n / 2], lat[n * 9 / 10], lat[n * 99 / 100], lat[n - 1]);
	for (int i = 0; i < n; i++)
		fx_msg_free(&msgs[i]);
	free(msgs);
	free(sent_at);
	free(lat);
	tc_close(&c);
	tc_agency_free(&tla);
	return 0;
}
