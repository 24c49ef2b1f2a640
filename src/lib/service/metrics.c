/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsecd's Prometheus counters and latency histogram (metrics.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf_int.h"
#include "err_int.h"
#include "fleetsec/metrics.h"
#include "fleetsec/routes.h"

/* The statuses fleetsecd answers with; anything else lands in the last. */
static const int statuses[] = {200, 202, 204, 206, 400, 401, 403, 404, 405,
			       409, 413, 416, 500, 503, 599};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
/* The CoAP codes fleetsecd answers with (class << 5 | detail); anything
 * else lands in the last, 5.00. */
static const unsigned coap_codes[] = {
	2 << 5 | 1,  2 << 5 | 4,  2 << 5 | 5,  4 << 5 | 0,  4 << 5 | 1,  4 << 5 | 3,
	4 << 5 | 4,  4 << 5 | 5,  4 << 5 | 6,  4 << 5 | 8,  4 << 5 | 9,  4 << 5 | 12,
	4 << 5 | 13, 4 << 5 | 15, 4 << 5 | 29, 5 << 5 | 1,  5 << 5 | 2,  5 << 5 | 3,
	5 << 5 | 4,  5 << 5 | 0};
#define NCOAP (sizeof(coap_codes) / sizeof(coap_codes[0]))
/* Latency buckets in seconds: a handshake-free request is well under a
 * millisecond, an enrollment is a signature and a durable commit. */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				 0.05,   0.1,   0.25,   0.5,   1.0};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct fsec_metrics {
	uint64_t connections;
	uint64_t requests[FSEC_EP_COUNT][NSTATUS];
	uint64_t coap[FSEC_EP_COUNT][NCOAP];
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

static void latency(struct fsec_metrics *m, double seconds)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		if (seconds <= buckets[i])
			m->le[i]++;
	m->count++;
	m->sum += seconds;
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
	latency(m, seconds);
}

FSEC_API void fsec_metrics_coap_request(struct fsec_metrics *m, enum fsec_endpoint ep,
					unsigned code, double seconds)
{
	size_t s = NCOAP - 1;

	if ((unsigned)ep >= FSEC_EP_COUNT)
		ep = FSEC_EP_OTHER;
	for (size_t i = 0; i < NCOAP; i++)
		if (coap_codes[i] == code)
			s = i;
	m->coap[ep][s]++;
	latency(m, seconds);
}

/* The whole exposition is a few KiB; the cap only bounds a bug. */
#define TEXT_MAX (1u << 20)

FSEC_API enum fsec_err fsec_metrics_text(const struct fsec_metrics *m, char **out, size_t *len)
{
	struct fsec_dynbuf t;

	/* Errors are sticky: the pieces are added unchecked, and
	 * fsec_dynbuf_take reports the first failure. */
	fsec_dynbuf_init(&t, TEXT_MAX);
	fsec_dynbuf_addf(&t,
	                 "# HELP fleetsecd_connections_total TLS connections accepted.\n"
	                 "# TYPE fleetsecd_connections_total counter\n"
	                 "fleetsecd_connections_total %llu\n",
	                 (unsigned long long)m->connections);
	fsec_dynbuf_addf(
	    &t, "# HELP fleetsecd_requests_total Requests answered, by endpoint and status "
	        "(enrollments by result; 4xx are refusals).\n"
	        "# TYPE fleetsecd_requests_total counter\n");
	for (size_t e = 0; e < FSEC_EP_COUNT; e++)
		for (size_t s = 0; s < NSTATUS; s++)
			if (m->requests[e][s] != 0)
				fsec_dynbuf_addf(
				    &t,
				    "fleetsecd_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
				    fsec_route_endpoint_name((enum fsec_endpoint)e), statuses[s],
				    (unsigned long long)m->requests[e][s]);
	fsec_dynbuf_addf(&t, "# HELP fleetsecd_coaps_requests_total CoAPs requests answered, by "
			     "endpoint and CoAP code.\n"
			     "# TYPE fleetsecd_coaps_requests_total counter\n");
	for (size_t e = 0; e < FSEC_EP_COUNT; e++)
		for (size_t s = 0; s < NCOAP; s++)
			if (m->coap[e][s] != 0)
				fsec_dynbuf_addf(
				    &t,
				    "fleetsecd_coaps_requests_total{endpoint=\"%s\",code=\"%u.%02u\"} "
				    "%llu\n",
				    fsec_route_endpoint_name((enum fsec_endpoint)e), coap_codes[s] >> 5,
				    coap_codes[s] & 31, (unsigned long long)m->coap[e][s]);
	fsec_dynbuf_addf(&t, "# HELP fleetsecd_request_seconds Time to handle a request "
			     "(HTTPS and CoAPs).\n"
	                     "# TYPE fleetsecd_request_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++)
		fsec_dynbuf_addf(&t, "fleetsecd_request_seconds_bucket{le=\"%g\"} %llu\n",
		                 buckets[i], (unsigned long long)m->le[i]);
	fsec_dynbuf_addf(&t,
	                 "fleetsecd_request_seconds_bucket{le=\"+Inf\"} %llu\n"
	                 "fleetsecd_request_seconds_sum %.6f\n"
	                 "fleetsecd_request_seconds_count %llu\n",
	                 (unsigned long long)m->count, m->sum, (unsigned long long)m->count);
	return fsec_dynbuf_take(&t, out, len);
}
