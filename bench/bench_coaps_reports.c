/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_coaps_reports HTTPS_URL COAPS_URL CA CERT KEY N ROUNDS (issue 17):
 * status reports per second on an established session. One device posts N
 * reports (POST /v1/status) through one fsec_fetch per transport, as the
 * agent's daemon does: over CoAPs the DTLS session stays up across the
 * requests, over HTTPS libcurl keeps the TLS connection alive. Rounds
 * alternate between the transports; each prints reports per second, and the
 * last line the medians and their ratio. Driven by bench/bench_coaps.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleetsec/fetch.h"
#include "fleetsec/text.h"

static const char REPORT[] =
	"{\"version\":\"1.0.0+0\",\"security_counter\":1,\"slot\":\"a\",\"update\":\"confirmed\"}";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* N reports to base's /v1/status on one client; reports per second, or -1. */
static double run(const char *base, const struct fsec_fetch_opts *o, long n)
{
	struct fsec_fetch *f = NULL;
	char url[1024];
	double t0, t1;

	snprintf(url, sizeof(url), "%s/v1/status", base);
	if (fsec_fetch_new(o, &f) != FSEC_OK) {
		fprintf(stderr, "bench_coaps_reports: %s\n", fsec_err_detail());
		return -1;
	}
	/* The first report opens the session; the figure is for the rest. */
	t0 = 0;
	for (long i = 0; i <= n; i++) {
		unsigned char *resp = NULL;
		size_t len = 0;

		if (i == 1)
			t0 = now();
		if (fsec_fetch_post(f, url, "application/json", REPORT, strlen(REPORT), 4096, &resp,
				    &len) != FSEC_OK) {
			fprintf(stderr, "bench_coaps_reports: %s: %s\n", url, fsec_err_detail());
			fsec_fetch_free(f);
			return -1;
		}
		free(resp);
	}
	t1 = now();
	fsec_fetch_free(f);
	return (double)n / (t1 - t0);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct fsec_fetch_opts o = {0};
	double c[64], h[64];
	unsigned long un, ur;
	long n, rounds;

	if (argc != 8 || !fsec_parse_ulong(argv[6], 1, 1000000, &un) ||
	    !fsec_parse_ulong(argv[7], 1, 64, &ur)) {
		fprintf(stderr, "usage: bench_coaps_reports HTTPS_URL COAPS_URL CA CERT KEY N ROUNDS "
				"(ROUNDS 1-64)\n");
		return 2;
	}
	n = (long)un;
	rounds = (long)ur;
	o.ca = argv[3];
	o.cert = argv[4];
	o.key = argv[5];
	for (long r = 0; r < rounds; r++) {
		if ((c[r] = run(argv[2], &o, n)) < 0 || (h[r] = run(argv[1], &o, n)) < 0)
			return 1;
		printf("round %ld: status reports/s on one session: coaps %.0f https %.0f\n", r + 1,
		       c[r], h[r]);
	}
	qsort(c, (size_t)rounds, sizeof(c[0]), cmp);
	qsort(h, (size_t)rounds, sizeof(h[0]), cmp);
	printf("median status reports/s: coaps %.0f, https %.0f, ratio %.2f\n", c[(rounds - 1) / 2],
	       h[(rounds - 1) / 2], c[(rounds - 1) / 2] / h[(rounds - 1) / 2]);
	return 0;
}
