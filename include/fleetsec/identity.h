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
 * A backend, operator or broker client (issue 15): a certificate the fleet CA
 * issued with `fleetsec ca client-cert`, carrying SAN URI
 * urn:fleetsec:role:ROLE:NAME (and subject CN = NAME). The CA writes this
 * URI only there: a device certificate carries its device URI and nothing a
 * CSR asks for, so no device can hold a role.
 */
#define FSEC_ROLE_URN_PREFIX "urn:fleetsec:role:"
/* A role name: a device-ID-like name, short enough that "operator:NAME"
 * (the broker's username for it) fits where a device ID does. */
#define FSEC_ROLE_NAME_MAX 32
#define FSEC_ROLE_MAX 16 /* "backend", "operator", "broker", with NUL */

/* Is role one of the client roles ("backend", "operator", "broker")?
 * Thread-safe. */
FSEC_API bool fsec_role_valid(const char *role);

/* Is role one that connects to a broker as an MQTT client ("backend",
 * "operator")? A broker's certificate is what an EMQX cluster presents to
 * fleetsecd's authentication endpoints (routes.h), never an MQTT client's.
 * Thread-safe. */
FSEC_API bool fsec_role_mqtt_client(const char *role);

/*
 * The role and name of a role certificate: exactly one role URI, a known
 * role, a valid name (fsec_devid_valid, at most FSEC_ROLE_NAME_MAX), the
 * subject CN equal to the name, and no device URI beside it. Writes role
 * and name only on success.
 * Errors: NOTFOUND (no role URI), PARSE (several, an unknown role, a bad
 * name, a device URI too), VERIFY (CN disagrees). Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_identity_role_from_cert(X509 *cert, char role[FSEC_ROLE_MAX],
							     char name[FSEC_ROLE_NAME_MAX + 1])
	FSEC_NONNULL(1, 2, 3);

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

/*
 * The serial of a manufacturer (IDevID-like) bootstrap certificate, which
 * becomes the enrolled device's ID: the subject's serialNumber attribute
 * (X.520), read strictly, since the subject comes from outside the fleet.
 *  - exactly one serialNumber attribute in the whole subject (two could name
 *    two devices, and which one counts would depend on the reader);
 *  - a PrintableString (X.520's type for it) or a UTF8String (RFC 5280's
 *    DirectoryString default, which some vendors' tools write); IA5String,
 *    BMPString, T61String, UniversalString and the rest are refused whatever
 *    they hold, so no other encoding is ever reinterpreted as bytes;
 *  - a valid device ID (names.h): 1-64 characters of [A-Za-z0-9._-], hence
 *    printable ASCII, no NUL (which would cut "SN-77\0-evil" to "SN-77") and
 *    no control character; a longer value is refused, never truncated.
 * Writes the NUL-terminated serial into out only on success. The reason
 * never echoes the value's bytes.
 * Errors: NOTFOUND (no serialNumber), PARSE (any other refusal). Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_identity_bootstrap_serial(const X509_NAME *subject,
							       char out[FSEC_DEVID_MAX + 1])
	FSEC_NONNULL(1, 2);

#endif
