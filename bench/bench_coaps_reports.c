/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_coaps_reports HTTPS_URL COAPS_URL CA CERT KEY N ROUNDS [FW_PATH SIZE]
 * (issue 17): status reports per second on an established session. One
 * device posts N reports (POST /v1/status) through one fsec_fetch per
 * transport, as the agent's daemon does: over CoAPs the DTLS session stays
 * up across the requests, over HTTPS libcurl keeps the TLS connection
 * alive. With FW_PATH (/v1/firmware/SHA256) and SIZE, also the image
 * fetched as the agent fetches it: 64 KiB ranges (fsec_fetch_range),
 * Block2 blocks of 1,024 bytes over CoAPs, Range requests over HTTPS.
 * Rounds alternate between the transports; each prints its figures, and
 * the last lines the medians and their ratios. Driven by
 * bench/bench_coaps.sh.
 */
#include <stdint.h>
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

static enum fsec_err count(const unsigned char *p, size_t n, void *ctx)
{
	(void)p;
	*(uint64_t *)ctx += n;
	return FSEC_OK;
}

/* SIZE bytes of base's path in 64 KiB ranges on one client; MiB/s, or -1. */
static double image(const char *base, const char *path, uint64_t size,
		    const struct fsec_fetch_opts *o)
{
	struct fsec_fetch *f = NULL;
	char url[1024];
	uint64_t got = 0;
	double t0;

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (fsec_fetch_new(o, &f) != FSEC_OK)
		return -1;
	t0 = now();
	for (uint64_t off = 0; off < size; off += 65536)
		if (fsec_fetch_range(f, url, off, size - off < 65536 ? size - off : 65536, count,
				     &got) != FSEC_OK) {
			fprintf(stderr, "bench_coaps_reports: %s: %s\n", url, fsec_err_detail());
			fsec_fetch_free(f);
			return -1;
		}
	fsec_fetch_free(f);
	return got == size ? (double)size / 1048576.0 / (now() - t0) : -1;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct fsec_fetch_opts o = {0};
	double c[64], h[64], fc[64], fh[64];
	unsigned long un, ur, usize = 0;
	long n, rounds;

	if ((argc != 8 && argc != 10) || !fsec_parse_ulong(argv[6], 1, 1000000, &un) ||
	    !fsec_parse_ulong(argv[7], 1, 64, &ur) ||
	    (argc == 10 && !fsec_parse_ulong(argv[9], 1, 1ul << 30, &usize))) {
		fprintf(stderr, "usage: bench_coaps_reports HTTPS_URL COAPS_URL CA CERT KEY N ROUNDS "
				"[FW_PATH SIZE] (ROUNDS 1-64)\n");
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
		if (usize > 0) {
			if ((fc[r] = image(argv[2], argv[8], usize, &o)) < 0 ||
			    (fh[r] = image(argv[1], argv[8], usize, &o)) < 0)
				return 1;
			printf("round %ld: firmware MiB/s, the agent's client (64 KiB ranges): coaps "
			       "%.2f https %.2f\n",
			       r + 1, fc[r], fh[r]);
		}
	}
	qsort(c, (size_t)rounds, sizeof(c[0]), cmp);
	qsort(h, (size_t)rounds, sizeof(h[0]), cmp);
	printf("median status reports/s: coaps %.0f, https %.0f, ratio %.2f\n", c[(rounds - 1) / 2],
	       h[(rounds - 1) / 2], c[(rounds - 1) / 2] / h[(rounds - 1) / 2]);
	if (usize > 0) {
		qsort(fc, (size_t)rounds, sizeof(fc[0]), cmp);
		qsort(fh, (size_t)rounds, sizeof(fh[0]), cmp);
		printf("median firmware MiB/s, the agent's client: coaps %.2f, https %.2f, ratio "
		       "%.3f\n",
		       fc[(rounds - 1) / 2], fh[(rounds - 1) / 2],
		       fc[(rounds - 1) / 2] / fh[(rounds - 1) / 2]);
	}
	return 0;
}
