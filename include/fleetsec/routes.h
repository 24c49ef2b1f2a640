/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's routes, without the HTTP: one table of {method, path, peer
 * kinds allowed, handler} decides what each kind of TLS peer may reach and
 * which handler answers, as a struct fsec_reply. fleetsecd looks a request
 * up, calls, and sends; its metrics name endpoints from the same table.
 *
 * Who may reach what:
 *  - GET /.well-known/est/cacerts, GET /crl: anyone, even with no client
 *    certificate or a refused one (a device must be able to fetch the CA and
 *    the CRL to find out why it is refused);
 *  - POST /.well-known/est/simpleenroll, GET /.well-known/est/csrattrs: a
 *    bootstrap or a device certificate (the EST policy in est.c then says
 *    which credential may do what, and logs its refusals);
 *  - POST /.well-known/est/simplereenroll: the same, and a superseded
 *    certificate: a renewal whose answer was lost is retried with the
 *    certificate it replaced, and may get the current one again for a CSR
 *    signed by the current key (fsec_est_enroll), never anything new;
 *  - POST /v1/status, GET /v1/update, GET /v1/firmware/SHA256: the device's
 *    current certificate only.
 * Everything else is refused: no certificate 401, a refused or superseded
 * one 403 with the reason fsec_est_peer gave, a bootstrap certificate 403
 * (the device API needs an operational certificate), an unknown path 404,
 * a known path with the other method 405.
 */
#ifndef FLEETSEC_ROUTES_H
#define FLEETSEC_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetsec/common.h"
#include "fleetsec/est.h"
#include "fleetsec/fleet.h"
#include "fleetsec/metrics.h"
#include "fleetsec/reply.h"

enum fsec_route_method {
	FSEC_ROUTE_GET = 1,
	FSEC_ROUTE_POST = 2,
	FSEC_ROUTE_OTHER = 3, /* any other method: never routed */
};

/* The peer kinds a route admits, as bits: fsec_est_peer's kinds, with a
 * superseded certificate told apart from other refused ones. */
enum fsec_route_peer {
	FSEC_ROUTE_PEER_NONE = 1u << 0,       /* no client certificate */
	FSEC_ROUTE_PEER_BOOTSTRAP = 1u << 1,  /* a manufacturer bootstrap certificate */
	FSEC_ROUTE_PEER_DEVICE = 1u << 2,     /* the device's current certificate */
	FSEC_ROUTE_PEER_SUPERSEDED = 1u << 3, /* a certificate a renewal replaced */
	FSEC_ROUTE_PEER_REFUSED = 1u << 4,    /* revoked, unknown, unusable */
	/* a trusted manufacturer's certificate whose serial was refused: it
	 * reaches simpleenroll only, so that the refusal is in the event log */
	FSEC_ROUTE_PEER_BAD_BOOTSTRAP = 1u << 5,
	/* a self-signed certificate for a paired key (issue 18): simpleenroll
	 * only */
	FSEC_ROUTE_PEER_PAIRED = 1u << 6,
	/* a broker's role certificate (`ca client-cert --role broker`): the
	 * EMQX endpoints only */
	FSEC_ROUTE_PEER_BROKER = 1u << 7,
	/* a backend's or operator's role certificate: an MQTT client's, with
	 * nothing to ask fleetsecd */
	FSEC_ROUTE_PEER_ROLE = 1u << 8,
};
#define FSEC_ROUTE_PEER_ANY                                                                       \
	(FSEC_ROUTE_PEER_NONE | FSEC_ROUTE_PEER_BOOTSTRAP | FSEC_ROUTE_PEER_DEVICE |              \
	 FSEC_ROUTE_PEER_SUPERSEDED | FSEC_ROUTE_PEER_REFUSED | FSEC_ROUTE_PEER_BAD_BOOTSTRAP |    \
	 FSEC_ROUTE_PEER_PAIRED | FSEC_ROUTE_PEER_BROKER | FSEC_ROUTE_PEER_ROLE)

/* The route kind of a classified peer (fsec_est_peer). Thread-safe. */
FSEC_API enum fsec_route_peer fsec_route_peer_of(const struct fsec_est_peer *peer);

/*
 * Whether peer may hold a connection at all: true if some route that is not
 * open to every peer (the CA, the CRL) admits its kind. False for a
 * revoked, unknown or unusable certificate, and for no certificate. A
 * listener whose every resource needs a certificate (CoAPs) refuses such a
 * peer at the handshake, from the same table that refuses its requests.
 * Thread-safe.
 */
FSEC_API bool fsec_route_peer_admitted(const struct fsec_est_peer *peer);

/* One request, as the server read it. */
struct fsec_route_request {
	enum fsec_route_method method;
	const char *path;          /* the URI's path, without the query */
	const char *range;         /* the Range header, or NULL */
	const unsigned char *body; /* POST body (at most FSEC_EST_BODY_MAX), or NULL */
	size_t len;
	const char *source;        /* the client's address, or NULL: for per-source limits */
};

/* The endpoint a path names, for the metrics (FSEC_EP_OTHER: none, or NULL),
 * whatever the method and the peer. Thread-safe. */
FSEC_API enum fsec_endpoint fsec_route_endpoint(const char *path);

/* The endpoint's name as a metrics label ("simpleenroll", ..., "other").
 * Never NULL. Thread-safe. */
FSEC_API const char *fsec_route_endpoint_name(enum fsec_endpoint ep);

/*
 * The decision alone: may peer's request for method and path reach its
 * handler? True with *ep set to the endpoint; false with refusal set (a
 * 401, 403, 404 or 405 with its reason). Reads nothing but the table.
 * Thread-safe.
 */
FSEC_API bool fsec_route_decide(enum fsec_route_method method, const char *path,
				const struct fsec_est_peer *peer, enum fsec_endpoint *ep,
				struct fsec_reply *refusal);

/*
 * The request's framing, checked before any route is chosen, so that this
 * server and any proxy in front of it agree on where a request ends
 * (request smuggling): one header at a time from the parsed request, in
 * order, then the verdict. Refused, as 400:
 *  - more than one Content-Length (even with equal values);
 *  - a Content-Length that is not plain decimal digits ("+31", "\t31",
 *    "0x1f", "31, 31", empty), or longer than 19 digits;
 *  - a Transfer-Encoding together with a Content-Length;
 *  - more than one Transfer-Encoding, or one that is not exactly "chunked"
 *    (in any case): this server reads no other coding;
 *  - a request target (the URI as sent) that is empty or holds a byte outside
 *    visible ASCII (controls, spaces, DEL, 0x80 and up), which RFC 3986 and
 *    curl percent-encode.
 * Header names compare case-insensitively. Pure, thread-safe; the struct is
 * the caller's.
 */
struct fsec_route_framing {
	unsigned content_lengths, transfer_encodings;
	const char *why; /* the first refusal, a constant string; NULL: none yet */
};

FSEC_API void fsec_route_framing_init(struct fsec_route_framing *f, const char *target);
FSEC_API void fsec_route_framing_header(struct fsec_route_framing *f, const char *name,
					const char *value);
/* True if the request may go on; false with refusal set (400 and why). */
FSEC_API bool fsec_route_framing_ok(const struct fsec_route_framing *f,
				    struct fsec_reply *refusal);

struct fsec_route_ctx;

/*
 * What the handlers need: the fleet (registry, home) and the EST server
 * state, both borrowed and outliving the context; the firmware directory
 * (HOME/firmware) and the CRL file (HOME/crl.pem), whose DER encoding is
 * cached while the file is unchanged. Not thread-safe: one per event loop.
 * Errors: NOMEM, INVAL (home path too long).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_route_ctx_new(struct fsec_fleet *f, struct fsec_est *e,
						   const char *home, struct fsec_route_ctx **out);
/* NULL is a no-op. */
FSEC_API void fsec_route_ctx_free(struct fsec_route_ctx *c);

/*
 * Apply cfg's bounds (servercfg.h): the EST server's renewal and refusal
 * limits (fsec_est_set_limits), and reports_per_hour, the status reports
 * stored per device per hour: past it, POST /v1/status is answered 429 with
 * Retry-After and nothing is written (defaults as fsec_servercfg_defaults).
 * The report budget is kept in memory, per process. And
 * enc_key_self_enroll: off makes POST /v1/enc-key a 403.
 */
FSEC_API void fsec_route_set_limits(struct fsec_route_ctx *c, const struct fsec_servercfg *cfg);

/* A client refused because the registry is unreachable comes back this
 * many seconds later: about what a PostgreSQL restart or failover takes. */
#define FSEC_ROUTE_UNAVAILABLE_RETRY_S 5

/*
 * Load the private key encrypted releases are made for (servercfg's
 * firmware_enc_key; "" turns key delivery off), which GET
 * /v1/firmware/SHA256/key unwraps each image key with before wrapping it
 * again for the asking device (fsec_devapi_firmware_key). Errors: those of
 * fsec_fw_enc_key_load; the previous key stays on error.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_route_set_fw_key(struct fsec_route_ctx *c, const char *path)
	FSEC_NONNULL(1, 2);

/* An endpoint answered from a folder above this one: arg as handed in, the
 * POST body (never NULL), the reply to fill. Errors become a 500 (503 for
 * BUSY and UNAVAILABLE), as a handler's do. */
typedef enum fsec_err (*fsec_route_body_fn)(void *arg, const void *body, size_t len,
					    struct fsec_reply *r);

/* Serve POST /v1/emqx/authn and /v1/emqx/authz with authn and authz
 * (mqtt/emqx.h: fsec_emqx_authn, fsec_emqx_authz, arg a struct fsec_emqx);
 * until set, both are 404. arg must outlive c's use of it. */
FSEC_API void fsec_route_set_emqx(struct fsec_route_ctx *c, fsec_route_body_fn authn,
				  fsec_route_body_fn authz, void *arg);

/*
 * Answer q from peer (classified by fsec_est_peer): the table's decision,
 * then the route's handler. r is always filled: the answer, a refusal, 503
 * with Retry-After when the registry is busy or unreachable (PostgreSQL
 * down: FSEC_ROUTE_UNAVAILABLE_RETRY_S), or 500 "internal error". The
 * return value is the handler's failure (FSEC_OK for any answer, refusals
 * included), with fsec_err_detail() for the server's log: BUSY, UNAVAILABLE, DB, IO,
 * CRYPTO, NOMEM. The caller cleans r up (fsec_reply_cleanup), which closes
 * a file body it did not take over.
 */
FSEC_API enum fsec_err fsec_route_handle(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
					 const struct fsec_route_request *q, struct fsec_reply *r);

#endif
