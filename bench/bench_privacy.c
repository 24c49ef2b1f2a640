/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_privacy [N] [RUNS] (issue 15): the privacy filter's cost per message,
 * beside what any JSON filter built on jansson pays at least: parsing the
 * payload (duplicate keys refused) and writing an object back, measured in
 * the same run. The payload is bench_mqtt.sh's 200-byte telemetry; the
 * policy keeps 7 of its 14 fields, rounds two and coarsens the location.
 * Prints the median microseconds per message of RUNS runs of N messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "fleetsec/privacy.h"

static const char policy[] = "[model thermo]\n"
			     "topic devices/%d/telemetry/#\n"
			     "allow humidity battery fw mode setpoint\n"
			     "precision temp 0.5\n"
			     "location lat lon 1200\n";
static const char payload[] =
	"{\"temp\":21.5,\"humidity\":40.2,\"battery\":87,\"rssi\":-61,\"fw\":\"2.1.0\","
	"\"lat\":48.858370,\"lon\":2.294481,\"uptime\":123456,\"errors\":0,\"mode\":\"heat\","
	"\"setpoint\":20.0,\"door\":\"closed\",\"note\":\"bench payload, 200 b\"}";

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct fsec_privacy_policy *p = NULL;
	const struct fsec_mqtt_subject who = {.id = "d-00001", .model = "thermo", .group = ""};
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
	double filt[64], base[64];

	if (n < 1 || runs < 1 || runs > 64 ||
	    fsec_privacy_parse(policy, sizeof(policy) - 1, "bench", &p) != FSEC_OK) {
		fprintf(stderr, "usage: bench_privacy [N] [RUNS (1-64)]\n");
		return 2;
	}
	for (long r = 0; r < runs; r++) {
		double t0 = now();

		for (long i = 0; i < n; i++) {
			struct fsec_privacy_result res;
			char *out = NULL;
			size_t len;

			if (fsec_privacy_filter(p, &who, "devices/d-00001/telemetry/t", payload,
						sizeof(payload) - 1, false, &out, &len, &res) != FSEC_OK ||
			    res.verdict != FSEC_PRIVACY_FILTERED)
				return 1;
			free(out);
		}
		filt[r] = (now() - t0) / (double)n * 1e6;
		t0 = now();
		for (long i = 0; i < n; i++) {
			json_t *j = json_loadb(payload, sizeof(payload) - 1, JSON_REJECT_DUPLICATES, NULL);
			char *out = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

			if (out == NULL)
				return 1;
			free(out);
			json_decref(j);
		}
		base[r] = (now() - t0) / (double)n * 1e6;
	}
	qsort(filt, (size_t)runs, sizeof(double), cmp);
	qsort(base, (size_t)runs, sizeof(double), cmp);
	printf("privacy filter            %6.2f us/message (median of %ld x %ld)\n", filt[runs / 2],
	       runs, n);
	printf("jansson parse + dump only %6.2f us/message\n", base[runs / 2]);
	printf("ratio                     %6.2f\n", filt[runs / 2] / base[runs / 2]);
	fsec_privacy_free(p);
	return 0;
}
