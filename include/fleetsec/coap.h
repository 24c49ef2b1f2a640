/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's CoAP resources (issue 17), without libcoap: what a CoAPs
 * request becomes on the route table (routes.h), and what the route's
 * answer becomes in CoAP. fleetsecd's listener (src/server/coaps.c) reads
 * the options and the payload, classifies the DTLS peer with fsec_est_peer
 * exactly as for HTTPS, calls fsec_coap_handle and sends the answer; the
 * policy (who may reach what, the EST rules) is the HTTPS one, called
 * through the same table.
 *
 * Resources:
 *  - EST-coaps (RFC 9148) under /.well-known/est: crts (GET; 281, or 287
 *    when asked), sen and sren (POST 286; 281, or 287 when asked), att
 *    (GET; 285). They answer what cacerts, simpleenroll, simplereenroll and
 *    csrattrs answer over HTTPS, in DER instead of base64;
 *  - the device API: /v1/status (POST, JSON), /v1/update (GET, JSON) and
 *    /v1/firmware/SHA256 (GET, 42: the image, for the listener to send in
 *    Block2; a device resumes a cut transfer by asking from a later block).
 */
#ifndef FLEETSEC_COAP_H
#define FLEETSEC_COAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"
#include "fleetsec/est.h"
#include "fleetsec/reply.h"
#include "fleetsec/routes.h"

/* Content-Format numbers (IANA CoAP registry; RFC 9148 section 8.3 for the
 * EST ones). libcoap 4.3.1 names none of the EST formats. */
#define FSEC_COAP_CF_NONE (-1) /* the option is absent */
#define FSEC_COAP_CF_TEXT 0    /* text/plain; charset=utf-8 */
#define FSEC_COAP_CF_LINK_FORMAT 40
#define FSEC_COAP_CF_OCTETS 42 /* application/octet-stream */
#define FSEC_COAP_CF_JSON 50
#define FSEC_COAP_CF_PKCS7_CERTS 281 /* application/pkcs7-mime; smime-type=certs-only */
#define FSEC_COAP_CF_CSRATTRS 285    /* application/csrattrs */
#define FSEC_COAP_CF_PKCS10 286      /* application/pkcs10 */
#define FSEC_COAP_CF_PKIX_CERT 287   /* application/pkix-cert */

/* A CoAP code: class.detail as one byte (RFC 7252 section 3). */
#define FSEC_COAP_CODE(cls, detail) ((unsigned)(((cls) << 5) | (detail)))
#define FSEC_COAP_GET 1u
#define FSEC_COAP_POST 2u

/* The largest payload a request may carry: a DER CSR, or a status report,
 * no larger than the HTTPS body cap allows once base64 (4 bytes for 3). */
#define FSEC_COAP_BODY_MAX (FSEC_EST_BODY_MAX / 4u * 3u)
#define FSEC_COAP_BODY_MAX_STR "12288" /* for messages; a unit test pins it */

/* One resource of the table, for the listener to register and for
 * /.well-known/core: its path (no leading slash, as libcoap names
 * resources), its rt and ct link attributes (quoted, or NULL). */
struct fsec_coap_resource {
	const char *path;
	const char *rt;
	const char *ct;
};

/* The resources a listener registers by name, in table order; *n receives
 * their count. /v1/firmware/SHA256 is not among them: its path varies, and
 * the listener hands any path it has no resource for to fsec_coap_handle,
 * which answers it or refuses it from the route table. Thread-safe. */
FSEC_API const struct fsec_coap_resource *fsec_coap_resources(size_t *n);

/* The endpoint (metrics.h) a CoAP resource path answers for: crts is
 * cacerts, sen simpleenroll, and so on; FSEC_EP_OTHER for a path the CoAP
 * table does not serve (even one HTTPS does, such as /crl). Thread-safe. */
FSEC_API enum fsec_endpoint fsec_coap_endpoint(const char *path);

/*
 * A uint option's value (RFC 7252 section 3.2: big-endian, 0 to 2 bytes
 * for Content-Format and Accept, whose numbers stop at 65535). False if
 * the value is longer than 2 bytes (the request is then answered 4.00).
 * Thread-safe.
 */
FSEC_API FSEC_WUR bool fsec_coap_uint_option(const unsigned char *v, size_t len, int *out);

struct fsec_coap_request {
	unsigned method;        /* CoAP method code: FSEC_COAP_GET, FSEC_COAP_POST, ... */
	const char *path;       /* the Uri-Path options joined by '/', with a leading '/' */
	int content_format;     /* FSEC_COAP_CF_NONE if absent */
	int accept;             /* FSEC_COAP_CF_NONE if absent */
	const unsigned char *body; /* the whole payload (Block1 reassembled), or NULL */
	size_t len;
	const char *source;     /* the client's address, for per-source limits */
};

struct fsec_coap_answer {
	unsigned code;          /* FSEC_COAP_CODE(...) */
	int content_format;     /* FSEC_COAP_CF_NONE: a diagnostic payload, or none */
	unsigned char *body;    /* malloc'd, may be NULL */
	size_t len;
	int max_age;            /* seconds for a Max-Age option, or -1 */
	/* The firmware: file_len bytes of the open file file_fd from
	 * file_off, instead of body (content_format 42). The answer owns the
	 * descriptor while has_file is set; a sender that takes it over
	 * clears has_file. */
	bool has_file;
	int file_fd;
	uint64_t file_off, file_len;
	char reason[FSEC_REPLY_REASON_MAX]; /* for the log: the route's reason, or "" */
};

/* Free the body, close a file still owned, and clear a. NULL is a no-op. */
FSEC_API void fsec_coap_answer_cleanup(struct fsec_coap_answer *a);

/*
 * Answer q from peer (classified by fsec_est_peer) through the route table
 * c: first whether the peer may reach the resource at all (refused: 4.01,
 * 4.03 with the route's reason, 4.04 for a path not in the table, 4.05),
 * then the request's formats (a Content-Format other than the resource
 * takes: 4.15; an Accept it cannot answer: 4.06; a payload past
 * FSEC_COAP_BODY_MAX: 4.13), then the route's handler. Its HTTP status
 * becomes the CoAP code of the same meaning (2.05 for a GET, 2.04 for a
 * POST; 202, an enrollment waiting for approval, and 503 become 5.03 with
 * Max-Age, RFC 9148 section 5); an error's reason is the diagnostic
 * payload. a is always filled. Returns the handler's failure, as
 * fsec_route_handle does (FSEC_OK for any answer, refusals included).
 * Not thread-safe (the route context is not).
 */
FSEC_API enum fsec_err fsec_coap_handle(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
					const struct fsec_coap_request *q,
					struct fsec_coap_answer *a);

#endif
