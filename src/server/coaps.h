/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's CoAPs listener (issue 17): libcoap 3 over OpenSSL, DTLS 1.2
 * with the HTTPS listener's certificate, cipher suites and trust stores,
 * on fleetsecd's libevent loop. Its resources and their policy are the
 * library's (fleetsec/coap.h over the route table).
 */
#ifndef FLEETSECD_COAPS_H
#define FLEETSECD_COAPS_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "fleetsec/est.h"
#include "fleetsec/fleet.h"
#include "fleetsec/metrics.h"
#include "fleetsec/routes.h"

/* The IANA port of coaps (RFC 7252 section 12.7). */
#define COAPS_DEFAULT_PORT 5684

struct coaps_opts {
	const char *host;          /* a numeric address to bind */
	unsigned port;
	SSL_CTX *tls;              /* fleetsecd's HTTPS context: key, chain, trust, suites */
	struct fsec_est *est;
	struct fsec_route_ctx *routes;
	unsigned long max_sessions;   /* sessions at most (the LRU idle one goes) */
	unsigned long max_per_source; /* sessions per address (or IPv6 /64) */
	unsigned long idle_timeout;   /* seconds before an idle session is dropped */
	struct fsec_metrics *metrics; /* each answer counted (GET /metrics) */
	bool quiet;
};

struct coaps;

/* Bind and serve on base. False with why (one line) if it cannot. */
bool coaps_start(const struct coaps_opts *o, struct event_base *base, struct coaps **out,
		 char *why, size_t cap);
/* Use tls (fleetsecd's new HTTPS context after SIGHUP) for new sessions. */
void coaps_set_tls(struct coaps *c, SSL_CTX *tls);
/* SIGTERM: from now on new DTLS sessions are refused at their first
 * flight (a device can go to another replica at once); established ones
 * are answered until fleetsecd's loop ends. NULL is a no-op. */
void coaps_drain(struct coaps *c);
/* NULL is a no-op. */
void coaps_free(struct coaps *c);

#endif
