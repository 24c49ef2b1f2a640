/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's counters, in the Prometheus text exposition format (version
 * 0.0.4): connections, requests by endpoint and status (enrollments by
 * result, refusals by status), and a request latency histogram. Not
 * thread-safe: one per event loop.
 */
#ifndef FLEETSEC_METRICS_H
#define FLEETSEC_METRICS_H

#include <stddef.h>

#include "fleetsec/common.h"

enum fsec_endpoint {
	FSEC_EP_CACERTS,
	FSEC_EP_CRL,
	FSEC_EP_SIMPLEENROLL,
	FSEC_EP_SIMPLEREENROLL,
	FSEC_EP_CSRATTRS,
	FSEC_EP_UPDATE,
	FSEC_EP_FIRMWARE,
	FSEC_EP_STATUS,
	FSEC_EP_ROOTS,
	FSEC_EP_TAMPER,
	FSEC_EP_ENC_KEY,
	FSEC_EP_EMQX_AUTHN,
	FSEC_EP_EMQX_AUTHZ,
	FSEC_EP_OTHER,
	FSEC_EP_COUNT
};

struct fsec_metrics;

/* Errors: NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_metrics_new(struct fsec_metrics **out);
/* NULL is a no-op. */
FSEC_API void fsec_metrics_free(struct fsec_metrics *m);

/* A TLS connection accepted. */
FSEC_API void fsec_metrics_connection(struct fsec_metrics *m);

/* A request answered: endpoint, HTTP status (100-599; others are counted as
 * 599) and the time spent handling it. */
FSEC_API void fsec_metrics_request(struct fsec_metrics *m, enum fsec_endpoint ep, int status,
				   double seconds);

/* A CoAPs request answered (issue 17): endpoint, CoAP response code
 * (FSEC_COAP_CODE: class << 5 | detail; one not listed in metrics.c is
 * counted as 5.00) and the time spent handling it, which joins the same
 * latency histogram. Exposed as fleetsecd_coaps_requests_total{endpoint,
 * code="2.05"}. */
FSEC_API void fsec_metrics_coap_request(struct fsec_metrics *m, enum fsec_endpoint ep,
					unsigned code, double seconds);

/* The exposition text, a NUL-terminated string freed with free().
 * Errors: NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_metrics_text(const struct fsec_metrics *m, char **out,
						  size_t *len);

#endif
