/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enrollment over Secure Transport (RFC 7030) and the enrollment policy,
 * without the HTTP: fleetsecd hands in the TLS peer's certificate and the
 * request body and sends back what comes out.
 *
 * Zero-touch provisioning: a device leaves the factory with a bootstrap
 * certificate from a manufacturer CA (fleetsec mfr, or a chip vendor's). The
 * operator trusts that CA for enrollment only and allowlists serials
 * (fsec_est_allow). On first contact the device presents the bootstrap
 * certificate and a CSR for a key it generated; the policy checks the
 * allowlist, spends the bootstrap credential (replays refused), requires a
 * key new to the registry and issues the operational certificate, whose
 * device ID is the bootstrap serial.
 */
#ifndef FLEETSEC_EST_H
#define FLEETSEC_EST_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fleetsec/ca.h"
#include "fleetsec/common.h"
#include "fleetsec/fleet.h"
#include "fleetsec/identity.h"
#include "fleetsec/reply.h"
#include "fleetsec/servercfg.h"

/* EST request bodies are a base64 CSR: a few KiB at most. */
#define FSEC_EST_BODY_MAX (16u * 1024u)

/*
 * Trust the manufacturer CA in ca_pem (a file holding one CA certificate) for
 * enrollment and allow serials matching each of patterns (exact serials, or
 * fnmatch(3) patterns such as "SN-00*"), as devices of model (NULL or "":
 * unknown; it decides which published release they are served). One
 * transaction, logged. A pattern already
 * allowed under another model is refused (EXISTS) unless replace: re-running
 * allow never re-models devices silently.
 * Errors: NOTFOUND/IO (file), PARSE (not a certificate), POLICY (not a CA),
 * INVAL (bad pattern), EXISTS, DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_allow(struct fsec_fleet *f, const char *ca_pem,
					       const char *const *patterns, size_t n,
					       const char *model, bool replace,
					       const char *actor);

/*
 * Take patterns (n of them) off the allowlist of the manufacturer CA in
 * ca_pem; n == 0: stop trusting that CA for enrollment at all, with every
 * pattern it had (enroll disallow). Devices already enrolled keep their
 * certificates (revoke them with fsec_fleet_revoke_batch). cb (may be NULL)
 * sees each pattern removed with its model. One transaction, logged
 * ("enroll-remove", "enroll-disallow"); with dry_run, the same work rolled
 * back. fingerprint receives the CA's SHA-256.
 * Errors: as fsec_est_allow's for the file, NOTFOUND (a pattern not
 * allowed, or the CA not trusted), DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_remove(struct fsec_fleet *f, const char *ca_pem,
						const char *const *patterns, size_t n,
						bool dry_run, const char *actor,
						fsec_enroll_pattern_cb cb, void *ctx,
						char fingerprint[FSEC_SHA256_HEX_LEN]);

/*
 * Reject the enrollment device_id is waiting for (fleetsecd --approval
 * manual): forget the request and spend the bootstrap credential that
 * asked, so that it cannot ask again (a replay from then on). Logged
 * ("enroll-reject"); *out is the request. With dry_run, rolled back.
 * Errors: NOTFOUND (nothing waiting), EXISTS (already approved), INVAL,
 * DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_reject(struct fsec_fleet *f, const char *device_id,
						bool dry_run, const char *actor,
						struct fsec_enroll_pending_rec *out);

/* Approve the enrollment device_id is waiting for (fleetsecd --approval
 * manual), for the key the operator saw: key_sha256 is the SPKI SHA-256 that
 * `fleetsec enroll pending` shows, or at least its first 16 hex digits. Its
 * next request with that key gets its certificate. Logged.
 * Errors: NOTFOUND (nothing waiting for that key), INVAL, DB, BUSY. */
FSEC_API FSEC_WUR enum fsec_err fsec_est_approve(struct fsec_fleet *f, const char *device_id,
						 const char *key_sha256, const char *actor);

struct fsec_est;

/*
 * Server-side state for one fleet: the trust stores (fleet CA; manufacturer
 * CAs for bootstrap) and a cache of peer checks that is dropped whenever the
 * registry changes. Borrows f, which must outlive it. Not thread-safe: one
 * per event loop. Errors: IO, PARSE, DB, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_new(struct fsec_fleet *f, struct fsec_est **out);
FSEC_API void fsec_est_free(struct fsec_est *e);

/*
 * Catch up with the registry if another process committed since the last
 * call: drop cached peer checks and, when the manufacturer CAs changed
 * (fleetsec enroll allow), rebuild the trust stores and set *trust_changed:
 * the caller then installs the new fsec_est_tls_store and client CA names.
 * Cheap when nothing changed (one PRAGMA). Errors: DB, UNAVAILABLE, IO,
 * PARSE, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_refresh(struct fsec_est *e, bool *trust_changed);

/* Drop the cached peer checks after this process itself committed a change
 * to who may connect (a tamper report): fsec_est_refresh sees only other
 * processes' commits. */
FSEC_API void fsec_est_forget_peers(struct fsec_est *e) FSEC_NONNULL(1);

/*
 * Let a change feed (fsec_registry_feed: PostgreSQL's notifications) drive
 * fsec_est_refresh instead of asking fsec_registry_data_version at every
 * call. FSEC_EST_FEED_EVENT, at the first call and after each notification
 * (or a reconnection that replayed missed events): the next refresh drops
 * the cached peer checks and reloads the trust. FSEC_EST_FEED_LOST while
 * the feed is down: every refresh, hence every peer check, fails with
 * UNAVAILABLE rather than answer from a cache that may have missed a
 * revocation.
 */
enum fsec_est_feed_state { FSEC_EST_FEED_EVENT, FSEC_EST_FEED_LOST };
FSEC_API void fsec_est_feed(struct fsec_est *e, enum fsec_est_feed_state st) FSEC_NONNULL(1);

/* Manual approval: an enrollment that passes every check waits (202 with
 * Retry-After) until the operator approves it (fsec_est_approve). Off by
 * default. */
FSEC_API void fsec_est_set_manual_approval(struct fsec_est *e, bool manual);

/* What one credential can make the server write (issue 14). */
struct fsec_est_limits {
	/* A renewal before this share (0-60 %) of the current certificate's
	 * lifetime has passed is refused, unless the operator allowed one
	 * (fsec_fleet_allow_renew). */
	unsigned renew_after_percent;
	/* A renewal is refused once the device got this many certificates in
	 * the last 24 hours (an operator's allowance passes). */
	unsigned renewals_per_day;
	/* Refused requests from one source address written to the registry
	 * per minute; past it they are held in memory and counted with the
	 * source's next write. */
	unsigned refusals_per_minute;
};

/* Replace the limits (defaults: 50 %, 4 a day, 10 a minute). A value out of
 * range is clamped: renew_after_percent to FSEC_RENEW_AFTER_MAX (60), a 0
 * count to 1. */
FSEC_API void fsec_est_set_limits(struct fsec_est *e, const struct fsec_est_limits *l);

/* The TLS trust store (fleet CA and manufacturer CAs), for SSL_CTX; the
 * caller gets a reference. And the list of those CA names to send in the
 * CertificateRequest (caller frees with sk_X509_NAME_pop_free). */
FSEC_API X509_STORE *fsec_est_tls_store(struct fsec_est *e);
FSEC_API STACK_OF(X509_NAME) *fsec_est_client_ca_names(struct fsec_est *e);

/*
 * fsec_est_refresh, and when the manufacturer CAs changed, the new trust
 * store and client CA names installed in ctx: what a listener calls before
 * each new handshake (an HTTPS connection, a DTLS session), so that a CA
 * allowed a moment ago by another process is trusted already. Errors: as
 * fsec_est_refresh (ctx is then left as it was).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_refresh_tls(struct fsec_est *e, SSL_CTX *ctx);

enum fsec_est_peer_kind {
	FSEC_EST_PEER_NONE,      /* no client certificate */
	FSEC_EST_PEER_DEVICE,    /* a fleet operational certificate, currently valid */
	FSEC_EST_PEER_BOOTSTRAP, /* a manufacturer bootstrap certificate */
	FSEC_EST_PEER_REFUSED,   /* revoked, superseded, unknown: see reason */
	/* A self-signed certificate whose key an operator paired (issue 18),
	 * the pairing unused and unexpired: simpleenroll only. */
	FSEC_EST_PEER_PAIRED,
	/* A role certificate (identity.h: `fleetsec ca client-cert`) that the
	 * registry recorded as issued, unrevoked and unexpired: id is
	 * ROLE:NAME, role the role. */
	FSEC_EST_PEER_ROLE,
};

struct fsec_est_peer {
	enum fsec_est_peer_kind kind;
	char id[FSEC_DEVID_MAX + 1];   /* device ID, or the bootstrap serial */
	char fingerprint[FSEC_SHA256_HEX_LEN];          /* of the client certificate */
	char ca_fingerprint[FSEC_SHA256_HEX_LEN];       /* bootstrap: the manufacturer CA's */
	char serial[FSEC_SERIAL_HEX_LEN]; /* a fleet certificate's serial */
	bool superseded;               /* a fleet certificate replaced by a newer one */
	bool bad_bootstrap;            /* refused: a trusted manufacturer's certificate
					  whose serialNumber is unusable */
	int64_t not_after;             /* the certificate's expiry */
	char key_sha256[FSEC_SHA256_HEX_LEN]; /* paired: the key's fsec_key_spki_sha256 */
	char role[FSEC_ROLE_MAX];             /* role: "backend", "operator", "broker" */
	char reason[FSEC_REPLY_REASON_MAX];
};

/*
 * Classify a TLS client certificate (NULL: none) given with the chain the
 * client sent, and check it against the registry: a device certificate
 * must be its device's current one and the device active. Answers come from
 * a cache while the registry is unchanged (fsec_registry_data_version), so
 * a revocation committed by any process applies to the next request.
 * Errors: DB (the check could not be made; refuse the request).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_peer(struct fsec_est *e, X509 *cert,
					      STACK_OF(X509) *chain, struct fsec_est_peer *out);

/* GET /.well-known/est/cacerts: the issuing and root CA certificates as a
 * base64 certs-only CMS (application/pkcs7-mime). Errors: NOMEM, CRYPTO. */
FSEC_API FSEC_WUR enum fsec_err fsec_est_cacerts(struct fsec_est *e, struct fsec_reply *r);

/* GET /.well-known/est/csrattrs: what the CA wants in a CSR (ECDSA with
 * SHA-256 over a P-256 key), base64 DER (application/csrattrs). */
FSEC_API FSEC_WUR enum fsec_err fsec_est_csrattrs(struct fsec_reply *r);

/*
 * POST /.well-known/est/simpleenroll (reenroll false) or simplereenroll
 * (true) from peer with body (base64 PKCS#10). Policy refusals are replies
 * (4xx with a reason, logged in the registry's event log), not errors:
 *  - enroll needs a bootstrap certificate whose serial is allowlisted for its
 *    manufacturer CA; each bootstrap certificate enrols once, and once more
 *    only to recover a device whose certificate expired (not revoked);
 *  - reenroll needs the device's current certificate, and a CSR whose subject
 *    is that certificate's; from the certificate it superseded (a retry
 *    whose answer was lost), the current certificate is sent again if the
 *    CSR is signed by the current key, and nothing is issued;
 *  - the CSR must verify, and its key be strong and new to the registry;
 *  - with manual approval, a bootstrap request waits (202) until approved;
 *  - a paired peer (a self-signed certificate for a key `fleetsec device
 *    pair` recorded) enrols once, as the pairing's serial, only with a CSR
 *    for that same key, and only while the pairing is unused and unexpired;
 *    the pairing is spent in the transaction that issues (the pairing is
 *    the operator's approval: it does not wait for another).
 * On success r holds the new certificate as a base64 certs-only CMS.
 * Errors (500): DB, IO, CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_enroll(struct fsec_est *e,
						const struct fsec_est_peer *peer, bool reenroll,
						const unsigned char *body, size_t len,
						struct fsec_reply *r);

/*
 * fsec_est_enroll from the address source (NULL: unknown), whose refused
 * requests are written to the registry at most refusals_per_minute times a
 * minute. A refusal is not one event row: it counts in the row of its
 * (credential, reason class) (fsec_registry_refusal_add). A renewal is also
 * refused (403) before renew_after_percent of the current certificate's
 * lifetime, and (429 with Retry-After) past renewals_per_day, unless the
 * device holds an early-renewal allowance, which the renewal then uses up.
 * A re-send to a superseded certificate is no renewal: neither applies.
 * Errors: as fsec_est_enroll.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_est_enroll_from(struct fsec_est *e,
						     const struct fsec_est_peer *peer,
						     bool reenroll, const char *source,
						     const unsigned char *body, size_t len,
						     struct fsec_reply *r);

#endif
