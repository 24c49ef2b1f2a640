/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device's CoAPs client (issue 17), behind fetch.h: fsec_fetch sends a
 * coaps:// URL here, so the agent and the EST client speak CoAPs with the
 * calls, keys and checks they use for HTTPS. Internal to transport/.
 */
#ifndef FLEETSEC_COAPC_INT_H
#define FLEETSEC_COAPC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fleetsec/common.h"

struct fsec_coapc;

struct fsec_coapc_opts {
	const char *host;  /* a DNS name or an IP literal (without brackets) */
	const char *port;  /* decimal */
	const char *ca;    /* the pinned anchors (required) */
	const char *ca_learned; /* NULL, or a file of learned roots that need not exist */
	const char *cert;  /* client certificate chain (PEM); NULL: none */
	EVP_PKEY *key;     /* its key, referenced; NULL with cert NULL */
	/* CRLs the server's certificate must pass (fetch.c's server_crl), or
	 * NULL; referenced while the client lives. */
	STACK_OF(X509_CRL) *crls;
	/* Seconds one exchange (a block, a handshake's first answer) may go
	 * unanswered before the request fails; 0: 30. */
	long stall;
};

/* A client for one server. No packet is sent until the first request.
 * Errors: INVAL (host), NOTFOUND (ca), CRYPTO, NET (resolution), NOMEM. */
enum fsec_err fsec_coapc_new(const struct fsec_coapc_opts *o, struct fsec_coapc **out);

/* NULL is a no-op. */
void fsec_coapc_free(struct fsec_coapc *c);

/* The outcome of a request: the response code, and for an error its
 * diagnostic payload's start; max_age is the Max-Age option, or -1. */
struct fsec_coapc_status {
	unsigned code;
	long max_age;
	char why[160];
};

/*
 * One request (method a CoAP method code) to path, with a payload of len
 * bytes (sent in Block1 blocks when larger than one) and its
 * content_format (-1: none), asking for accept (-1: any). The answer,
 * reassembled from Block2 blocks, goes to *buf (freed with free(), NUL
 * after the last byte) when its code is 2.xx; refusing more than max bytes.
 * deadline bounds the whole exchange (CLOCK_MONOTONIC seconds).
 * Errors: VERIFY (the server's certificate, name or CRL refused), NET (no
 * answer, a DTLS failure, a broken block sequence), TOO_LARGE, NOMEM. A 4.xx or 5.xx
 * answer is FSEC_OK with st->code set and *buf NULL.
 */
enum fsec_err fsec_coapc_request(struct fsec_coapc *c, unsigned method, const char *path,
				 int content_format, int accept, const unsigned char *data,
				 size_t len, size_t max, time_t deadline, unsigned char **buf,
				 size_t *blen, struct fsec_coapc_status *st);

/*
 * GET bytes [off, off + len) of path in Block2 blocks, from the block that
 * holds off (so a cut transfer resumes there), handing them to sink in
 * order. Every block must be 2.05, the one asked for; a body that ends
 * early is NET. Errors: as fsec_coapc_request, and whatever sink returns.
 */
enum fsec_err fsec_coapc_range(struct fsec_coapc *c, const char *path, uint64_t off,
			       uint64_t len, time_t deadline,
			       enum fsec_err (*sink)(const unsigned char *p, size_t n, void *ctx),
			       void *ctx, struct fsec_coapc_status *st);

#endif
