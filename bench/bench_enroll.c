/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_enroll SERVER CA MFR_DIR WORK N CONCURRENCY
 *
 * N simulated devices enrol zero-touch with fleetsecd through EST, at most
 * CONCURRENCY at a time, each exactly as fleetsec-agent enroll does it
 * (fsec_estc_enroll: its own TLS connection with its bootstrap credential,
 * a P-256 key generated on the "device", CSR, answer checked against the
 * fleet CA). Bootstrap credentials SN-1..SN-N are made first, untimed, with
 * the manufacturer CA in MFR_DIR. Prints enrollments per second; the caller
 * checks the registry afterwards (bench/bench_enroll.sh).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bench_util.h"
#include "fleetsec/estc.h"
#include "fleetsec/mfr.h"

struct job {
	const char *server, *ca, *work;
	unsigned long n;
	atomic_ulong next, ok, failed;
};

static void paths(const struct job *j, unsigned long i, char (*p)[4200])
{
	snprintf(p[0], sizeof(p[0]), "%s/b%lu.pem", j->work, i);
	snprintf(p[1], sizeof(p[1]), "%s/b%lu.key", j->work, i);
	snprintf(p[2], sizeof(p[2]), "%s/o%lu.pem", j->work, i);
	snprintf(p[3], sizeof(p[3]), "%s/o%lu.key", j->work, i);
}

static void *worker(void *arg)
{
	struct job *j = arg;
	unsigned long i;

	while ((i = atomic_fetch_add(&j->next, 1) + 1) <= j->n) {
		char p[4][4200], id[FSEC_DEVID_MAX + 1];
		struct fsec_estc_opts o = {.server = j->server, .ca = j->ca};

		paths(j, i, p);
		o.bootstrap_cert = p[0];
		o.bootstrap_key = p[1];
		o.cert_out = p[2];
		o.key_out = p[3];
		if (fsec_estc_enroll(&o, id) == FSEC_OK) {
			atomic_fetch_add(&j->ok, 1);
		} else {
			if (atomic_fetch_add(&j->failed, 1) < 5)
				fprintf(stderr, "device %lu: %s\n", i, fsec_err_detail());
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct job j = {0};
	pthread_t th[64];
	unsigned long conc;
	double t0, t1;

	if (argc != 7) {
		fprintf(stderr, "usage: %s SERVER CA MFR_DIR WORK N CONCURRENCY\n", argv[0]);
		return 2;
	}
	j.server = argv[1];
	j.ca = argv[2];
	j.work = argv[4];
	j.n = parse_count(argv[0], argv[5], 1000000, "N");
	conc = parse_count(argv[0], argv[6], 64, "CONCURRENCY");
	/* Once, before any thread: libcurl's global set-up is not for racing. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	t0 = now_s();
	for (unsigned long i = 1; i <= j.n; i++) {
		char p[4][4200], sn[32];
		struct fsec_mfr_issue_opts mo = {.serial = sn};

		paths(&j, i, p);
		snprintf(sn, sizeof(sn), "SN-%lu", i);
		mo.cert_out = p[0];
		mo.key_out = p[1];
		if (fsec_mfr_issue(argv[3], &mo) != FSEC_OK) {
			fprintf(stderr, "bootstrap %lu: %s\n", i, fsec_err_detail());
			return 1;
		}
	}
	printf("bootstrap credentials: %lu in %.2f s (untimed set-up)\n", j.n, now_s() - t0);
	t0 = now_s();
	for (unsigned long t = 0; t < conc; t++)
		if (pthread_create(&th[t], NULL, worker, &j) != 0)
			return 1;
	for (unsigned long t = 0; t < conc; t++)
		pthread_join(th[t], NULL);
	t1 = now_s();
	printf("enrolled %lu of %lu devices (%lu failed) in %.2f s with %lu in flight: %.1f "
	       "enrollments/s\n",
	       (unsigned long)j.ok, j.n, (unsigned long)j.failed, t1 - t0, conc,
	       (double)j.ok / (t1 - t0));
	curl_global_cleanup();
	return j.failed == 0 ? 0 : 1;
}
