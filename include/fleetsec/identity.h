/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device identity: the one place that says what a device ID is and how it is
 * carried in a certificate (subject CN = ID, SAN URI urn:fleetsec:device:ID).
 * No other code parses subjects.
 */
#ifndef FLEETSEC_IDENTITY_H
#define FLEETSEC_IDENTITY_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "fleetsec/common.h"
#include "fleetsec/names.h"

#define FSEC_DEVID_URN_PREFIX "urn:fleetsec:device:"

/*
 * Extract the device ID from a fleetsec device certificate. The SAN URI is
 * authoritative; the subject CN must agree with it, and exactly one device
 * URI may be present. Writes a NUL-terminated ID into out.
 * Errors: NOTFOUND (no device URI), PARSE (several, or an invalid ID),
 * VERIFY (CN disagrees). Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_identity_from_cert(X509 *cert,
							char out[FSEC_DEVID_MAX + 1])
	FSEC_NONNULL(1, 2);

#endif
