/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsecd's Prometheus counters and latency histogram (metrics.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/metrics.h"
#include "fleetsec/routes.h"

/* The statuses fleetsecd answers with; anything else lands in the last. */
static const int statuses[] = {200, 202, 204, 206, 400, 401, 403, 404, 405,
			       409, 413, 416, 500, 503, 599};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
/* Latency buckets in seconds: a handshake-free request is well under a
 * millisecond, an enrollment is a signature and a durable commit. */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				 0.05,   0.1,   0.25,   0.5,   1.0};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct fsec_metrics {
	uint64_t connections;
	uint64_t requests[FSEC_EP_COUNT][NSTATUS];
	uint64_t le[NBUCKETS]; /* cumulative, as Prometheus wants */
	uint64_t count;
	double sum;
};

FSEC_API enum fsec_err fsec_metrics_new(struct fsec_metrics **out)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	return FSEC_OK;
}

FSEC_API void fsec_metrics_free(struct fsec_metrics *m)
{
	free(m);
}

FSEC_API void fsec_metrics_connection(struct fsec_metrics *m)
{
	m->connections++;
}

FSEC_API void fsec_metrics_request(struct fsec_metrics *m, enum fsec_endpoint ep, int status,
				   double seconds)
{
	size_t s = NSTATUS - 1;

	if ((unsigned)ep >= FSEC_EP_COUNT)
		ep = FSEC_EP_OTHER;
	for (size_t i = 0; i < NSTATUS; i++)
		if (statuses[i] == status)
			s = i;
	m->requests[ep][s]++;
	for (size_t i = 0; i < NBUCKETS; i++)
		if (seconds <= buckets[i])
			m->le[i]++;
	m->count++;
	m->sum += seconds;
}

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t ncap = t->cap * 2 + (size_t)n;
			char *nb = realloc(t->buf, ncap);

			if (nb == NULL) {
				t->failed = true;
				return;
			}
			t->buf = nb;
			t->cap = ncap;
		}
	}
}

FSEC_API enum fsec_err fsec_metrics_text(const struct fsec_metrics *m, char **out, size_t *len)
{
	struct text t = {.cap = 4096};

	if ((t.buf = malloc(t.cap)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	t.buf[0] = '\0';
	put(&t, "# HELP fleetsecd_connections_total TLS connections accepted.\n"
		"# TYPE fleetsecd_connections_total counter\n"
		"fleetsecd_connections_total %llu\n",
	    (unsigned long long)m->connections);
	put(&t, "# HELP fleetsecd_requests_total Requests answered, by endpoint and status "
		"(enrollments by result; 4xx are refusals).\n"
		"# TYPE fleetsecd_requests_total counter\n");
	for (size_t e = 0; e < FSEC_EP_COUNT; e++)
		for (size_t s = 0; s < NSTATUS; s++)
			if (m->requests[e][s] != 0)
				put(&t, "fleetsecd_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
				    fsec_route_endpoint_name((enum fsec_endpoint)e), statuses[s],
				    (unsigned long long)m->requests[e][s]);
	put(&t, "# HELP fleetsecd_request_seconds Time to handle a request.\n"
		"# TYPE fleetsecd_request_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++)
		put(&t, "fleetsecd_request_seconds_bucket{le=\"%g\"} %llu\n", buckets[i],
		    (unsigned long long)m->le[i]);
	put(&t, "fleetsecd_request_seconds_bucket{le=\"+Inf\"} %llu\n"
		"fleetsecd_request_seconds_sum %.6f\n"
		"fleetsecd_request_seconds_count %llu\n",
	    (unsigned long long)m->count, m->sum, (unsigned long long)m->count);
	if (t.failed) {
		free(t.buf);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	*out = t.buf;
	*len = t.len;
	return FSEC_OK;
}
