/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS client for the device (libcurl): mutual TLS with the device key
 * (any key fsec_key_load_private can name, so a TPM key works the same),
 * TLS 1.2 or later against a pinned CA, low-speed timeouts against stalled
 * servers, and hard caps on how much a server may send.
 *
 * The same calls speak CoAPs (issue 17) to a coaps://HOST[:PORT]/PATH URL
 * (port 5684 by default), through libcoap: DTLS 1.2 with the same key,
 * anchors, server-name check and server CRL; block-wise transfer (RFC
 * 7959) in 1024-byte blocks. A 2.05 or 2.04 answer is what 200 is over
 * HTTPS, an empty 2.05 what 204 is, and 5.03 with Max-Age what 202 with
 * Retry-After is. A range is the Block2 blocks that hold it, so a cut
 * transfer resumes at its block. Request bodies are named by media type as
 * for HTTPS: application/json goes as Content-Format 50,
 * application/pkcs10 as 286 (its body DER, not base64), and
 * application/x-pem-file as 0.
 */
#ifndef FLEETSEC_FETCH_H
#define FLEETSEC_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

struct fsec_fetch;

struct fsec_fetch_opts {
	const char *ca;               /* CA file that must have signed the server (required) */
	/* Anchors learned since (fsec_estc_learn_roots), trusted beside ca;
	 * NULL, or a file that need not exist yet. */
	const char *ca_learned;
	const char *cert;             /* client certificate (PEM); NULL: no client auth */
	const char *key;              /* client key: path or OpenSSL URI */
	long low_speed_limit;         /* bytes/s; 0 = 1024 */
	long low_speed_time;          /* seconds below the limit before giving up; 0 = 30 */
	long connect_timeout;         /* seconds; 0 = 15 */
	/* Seconds each request may take in all, if less than its own deadline
	 * (its size at low_speed_limit, plus a minute); 0: that deadline. For
	 * a call that must not wait long: the tamper report before a wipe. */
	long timeout;
	/* The fleet CRL's https URL, or NULL: no revocation check of the
	 * server. Set, the client fetches it before its first request (over a
	 * connection verified against ca, never reused), requires it to be
	 * current (thisUpdate <= now < nextUpdate), and from then on every TLS
	 * handshake checks the server's certificate against it (OpenSSL's
	 * X509_V_FLAG_CRL_CHECK: the CRL's signature by the certificate's
	 * issuer, its dates, and the serial not listed), with TLS session
	 * resumption off so that no handshake skips the check. */
	const char *server_crl;
};

/* Set up a client. The key is loaded once, here. Errors: NOTFOUND (key,
 * cert), CRYPTO, NET (libcurl), NOMEM, INVAL (a server_crl that is not
 * https). Each request below may also fail, with server_crl, with VERIFY:
 * no CRL, one that is not current or does not verify, or the server's
 * certificate revoked. */
FSEC_API FSEC_WUR enum fsec_err fsec_fetch_new(const struct fsec_fetch_opts *o,
					       struct fsec_fetch **out);

/* NULL is a no-op. */
FSEC_API void fsec_fetch_free(struct fsec_fetch *f);

/*
 * GET url into a new buffer (freed with free()), refusing bodies over max
 * bytes as they arrive. Only 200 is success; 204 is NOTFOUND (nothing
 * there for this client).
 * Errors: NET (connection, TLS, timeout, HTTP status with the start of the
 * server's reason), NOTFOUND, TOO_LARGE, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fetch_get(struct fsec_fetch *f, const char *url, size_t max,
					       unsigned char **buf, size_t *len);

/*
 * POST len bytes of data (with the given Content-Type) to url and return the
 * 200 response's body as fsec_fetch_get does. Errors: as fsec_fetch_get; a
 * refusal's reason (the start of its body) is in the error detail; BUSY for
 * 202 Accepted (the server holds the request: send it again after
 * fsec_fetch_retry_after).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fetch_post(struct fsec_fetch *f, const char *url,
						const char *content_type, const void *data,
						size_t dlen, size_t max, unsigned char **buf,
						size_t *len);

/*
 * GET bytes [off, off + len) of url with an HTTP Range request and hand
 * them to sink in order. The server must answer 206 with exactly that
 * range; a server that sends more is cut off (endless-data attack), one
 * that sends less is an error. sink returns FSEC_OK to go on.
 * Errors: NET, TOO_LARGE (more than asked), whatever sink returns.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fetch_range(struct fsec_fetch *f, const char *url,
						 uint64_t off, uint64_t len,
						 enum fsec_err (*sink)(const unsigned char *p, size_t n,
								       void *ctx),
						 void *ctx);

/* True for a URL this client speaks: https:// or coaps://. Thread-safe. */
FSEC_API bool fsec_fetch_url_ok(const char *url) FSEC_NONNULL(1);

/* The Retry-After seconds of the last request's 202 answer; 0 if it had none. */
FSEC_API long fsec_fetch_retry_after(const struct fsec_fetch *f) FSEC_NONNULL(1);

#endif
