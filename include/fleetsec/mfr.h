/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small manufacturer CA, standing in for a chip vendor's: it issues the
 * IDevID-like bootstrap certificates that devices leave the factory with
 * and present, once, to enrol (EST). It is not the fleet CA and has no
 * registry: the operator trusts it for enrollment only.
 *
 * Directory layout: ca.pem (self-signed, O=NAME, CN="NAME Root CA") and
 * ca.key (0600).
 */
#ifndef FLEETSEC_MFR_H
#define FLEETSEC_MFR_H

#include "fleetsec/common.h"
#include "fleetsec/key.h"

/* Bootstrap certificates outlive the product (802.1AR IDevIDs do too). */
#define FSEC_MFR_DEVICE_DAYS 7300

/*
 * Create a manufacturer CA in dir (created if missing; a directory that
 * already holds one is refused). name: 1-64 printable characters. P-256.
 * Errors: EXISTS, INVAL, IO, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mfr_create(const char *dir, const char *name);

struct fsec_mfr_issue_opts {
	const char *serial;          /* the device serial: a valid device ID */
	const char *key_out;         /* the device's new key (0600), never overwritten */
	const char *cert_out;        /* the bootstrap certificate (PEM) */
	enum fsec_key_algo key_algo; /* 0 = P-256 */
	int days;                    /* 0 = FSEC_MFR_DEVICE_DAYS */
};

/*
 * Generate a device key and issue it a bootstrap certificate with the
 * serial in the subject's serialNumber and CN (fsec_ca_issue_idevid). Both
 * files appear, or neither. Errors: INVAL, EXISTS, NOTFOUND (no CA in dir),
 * IO, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mfr_issue(const char *dir,
					       const struct fsec_mfr_issue_opts *o);

#endif
