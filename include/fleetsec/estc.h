/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device's EST client (RFC 7030): zero-touch enrollment with the
 * factory bootstrap credential. The operational key is generated on the
 * device and never leaves it; only its CSR does.
 */
#ifndef FLEETSEC_ESTC_H
#define FLEETSEC_ESTC_H

#include <stdbool.h>
#include <stdint.h>

#include "fleetsec/common.h"
#include "fleetsec/identity.h"

struct fsec_estc_opts {
	const char *server;          /* https://HOST[:PORT], fleetsecd */
	const char *ca;              /* the fleet CA chain the server and the new
				      * certificate must chain to (no trust on first use);
				      * the root alone will do: the issuing CA then
				      * comes from the server's cacerts, untrusted */
	const char *ca_learned;      /* roots learned through a trust update
				      * (fsec_estc_learn_roots), trusted beside ca;
				      * NULL, or a file that need not exist yet */
	const char *bootstrap_cert;  /* the factory credential (PEM) */
	const char *bootstrap_key;   /* path or OpenSSL store URI */
	const char *key_out;         /* the new operational key (0600) */
	const char *cert_out;        /* the operational certificate (PEM) */
	const char *server_crl;      /* the fleet CRL's URL, the server checked against it
				      * (fsec_fetch_opts); NULL or "": no check */
	unsigned *retry_after;       /* out, may be NULL: on BUSY, when to ask again
				      * (the server's Retry-After, 1 s to 1 h) */
};

/*
 * Generate a P-256 key (kept in KEY_OUT.pending until the certificate
 * arrives, and reused by a retry), send its CSR to
 * SERVER/.well-known/est/simpleenroll authenticated by the bootstrap
 * credential, check the certificate that comes back (it chains to ca, is for
 * this key, names a device) and write the certificate, then move the key
 * into place; old ones are replaced only then. The
 * device ID is written to id. Errors: NET (with the server's reason for a
 * refusal), VERIFY (the answer is not a certificate for this key from the
 * fleet CA), PARSE, IO, CRYPTO, NOTFOUND (credential files), BUSY (the
 * server holds the request for the operator's approval: the pending key
 * stays, and the same request is to be sent again after *o->retry_after).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_estc_enroll(const struct fsec_estc_opts *o,
						 char id[FSEC_DEVID_MAX + 1]);

/*
 * Enrollment of a paired device (issue 18): a CSR for the key already at
 * KEY_OUT (the key an operator paired; it stays in place), sent to
 * simpleenroll over TLS authenticated by self_signed (a self-signed
 * certificate for that key, fsec_pair_selfsigned), so that the handshake
 * proves the paired key. The certificate is checked as fsec_estc_enroll
 * checks it, and written to CERT_OUT. Errors: as fsec_estc_enroll, less BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_estc_enroll_paired(const struct fsec_estc_opts *o,
							const char *self_signed,
							char id[FSEC_DEVID_MAX + 1]);

/*
 * Finish an enrollment or renewal cut between its two writes: when
 * KEY.pending holds the key cert is for, it becomes the key. Run before
 * anything loads the device's credential. A pending key the certificate is
 * not for (a request still unanswered) is left for the retry.
 * Errors: IO, PARSE.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_estc_finish(const char *key_out, const char *cert_out);

struct fsec_estc_renewal {
	bool renewed;
	bool reenrolled;  /* renewed through the bootstrap credential: it had expired */
	int64_t due;      /* when renewal falls due: 2/3 of the lifetime, less jitter */
	int64_t expires;  /* the (old) certificate's notAfter */
	char id[FSEC_DEVID_MAX + 1];
};

/*
 * Renew the operational certificate (cert_out, key_out) over
 * SERVER/.well-known/est/simplereenroll, authenticated by that certificate,
 * with a new P-256 key and the same subject, once two thirds of its lifetime
 * (less random jitter) have passed, or now if force or if a renewal is
 * pending (KEY_OUT.pending exists: an earlier request's answer was lost or
 * refused by check). The old certificate is superseded by the server; a
 * retry with it and the pending key gets the current certificate again.
 * A certificate that does not chain to ca alone (ca = the root only) is
 * checked with the server's cacerts as intermediates. Fills *out either way.
 *
 * A certificate that expired (by this device's clock) opens no TLS session,
 * so it cannot renew: the device re-enrols instead, once, with the bootstrap
 * credential (o->bootstrap_cert and o->bootstrap_key), which the server
 * accepts only from the credential that enrolled the device and only while
 * its certificate is expired. Without a bootstrap credential that is
 * POLICY, naming the date.
 * Errors: as fsec_estc_enroll; IO/PARSE for the current certificate; POLICY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_estc_renew(const struct fsec_estc_opts *o, bool force,
						struct fsec_estc_renewal *out);

struct fsec_estc_trust {
	unsigned offered;  /* self-signed roots in the server's cacerts */
	unsigned learned;  /* of them, newly trusted and written to ca_learned */
	char subject[256]; /* the last one learned: its subject, one line */
	char sha256[FSEC_SHA256_HEX_LEN]; /* and its certificate's SHA-256 */
};

/*
 * The trust update of a root rollover. Fetch SERVER/.well-known/est/cacerts
 * (over TLS verified against ca and ca_learned) and trust each self-signed
 * root in it that the device does not trust yet only when the same answer
 * holds a CA certificate with the root's subject and public key issued and
 * signed by a root the device already trusts, and valid now: the rollover's
 * NewWithOld cross certificate (RFC 4210), which only the old root's key
 * could have made. Those roots are added to o->ca_learned (written
 * atomically; expired ones are dropped), so that trust survives the old
 * root's expiry. Nothing else in the answer is trusted. Requires
 * o->ca_learned. Errors: NET, PARSE, IO, INVAL.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_estc_learn_roots(const struct fsec_estc_opts *o,
						      struct fsec_estc_trust *out);

#endif
