/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fleet CA's X.509 work: root and issuing CA certificates, device
 * certificates, CRLs. This module builds and signs; it keeps no state on disk
 * (see fleet.h for the home directory and the registry).
 */
#ifndef FLEETSEC_CA_H
#define FLEETSEC_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "fleetsec/common.h"

#define FSEC_FLEET_NAME_MAX 64

struct fsec_ca;

/* One revoked certificate, for fsec_ca_make_crl(). */
struct fsec_crl_entry {
	char serial[FSEC_SERIAL_HEX_LEN]; /* uppercase hex */
	time_t revoked_at;
	int reason; /* RFC 5280 CRLReason code */
};

/*
 * A fleet name is 1-64 printable characters (it becomes the subject O).
 * Errors: INVAL. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_name_check(const char *name) FSEC_NONNULL(1);

/* Self-signed root CA certificate for fleet, valid for days. generation 1
 * is the fleet's first root (CN "FLEET Root CA"); a rollover's root (`ca
 * rollover`) is "FLEET Root CA N". Caller owns *out.
 * Errors: INVAL, CRYPTO. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_make_root(EVP_PKEY *key, const char *fleet,
						  unsigned generation, int days, X509 **out)
	FSEC_NONNULL(1, 2, 5);

/* A cross certificate (RFC 4210 section 4.4): subject's name and public key,
 * as a CA, issued by signer and signed by signer_key, valid until the
 * earlier of the two certificates' expiry. For a root rollover: NewWithOld
 * (subject the new root, signer the old) and OldWithNew (the reverse).
 * Caller owns *out. Errors: VERIFY (signer_key is not signer's), CRYPTO. */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_make_cross(EVP_PKEY *signer_key, X509 *signer,
						   X509 *subject, X509 **out)
	FSEC_NONNULL(1, 2, 3, 4);

/* Issuing CA certificate (pathlen 0) for issuing_pub, signed by the root.
 * Its validity is clamped to the root's. generation 1 is the fleet's first
 * issuing CA (CN "FLEET Issuing CA"); a later one (`ca rotate`) gets
 * "FLEET Issuing CA N", so that no two CAs of a fleet share a subject,
 * which chain builders and CRL lookups match on. Caller owns *out.
 * Errors: INVAL, CRYPTO. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_make_issuing(EVP_PKEY *root_key, X509 *root,
						     EVP_PKEY *issuing_pub, const char *fleet,
						     unsigned generation, int days, X509 **out)
	FSEC_NONNULL(1, 2, 3, 4, 7);

/*
 * A CA that can issue: the issuing certificate and key, plus the root for the
 * chain. Takes its own references; the caller keeps (and frees) theirs. The
 * key must match the certificate. Errors: VERIFY (mismatch), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_new(X509 *issuing, EVP_PKEY *issuing_key, X509 *root,
					    const char *fleet, struct fsec_ca **out)
	FSEC_NONNULL(1, 2, 3, 4, 5);

/* NULL is a no-op. */
FSEC_API void fsec_ca_free(struct fsec_ca *ca);

/* Borrowed pointers, valid while ca lives. */
FSEC_API X509 *fsec_ca_get_issuing(const struct fsec_ca *ca) FSEC_NONNULL(1);
FSEC_API X509 *fsec_ca_get_root(const struct fsec_ca *ca) FSEC_NONNULL(1);

/* Fill serial with FSEC_SERIAL_LEN fresh random bytes (positive, non-zero).
 * Errors: CRYPTO. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_random_serial(unsigned char serial[FSEC_SERIAL_LEN])
	FSEC_NONNULL(1);

/*
 * A certificate as issued: its DER encoding plus the facts callers need,
 * so that nobody has to decode it again (on OpenSSL 3.0 decoding a public key
 * costs more than the ECDSA signature). Caller-owned: zero it, pass it to an
 * issuing function, release it with fsec_issued_cert_cleanup().
 */
struct fsec_issued_cert {
	unsigned char *der;
	size_t der_len;
	char serial[FSEC_SERIAL_HEX_LEN]; /* uppercase hex */
	char fingerprint[FSEC_SHA256_HEX_LEN];             /* SHA-256 of der, lowercase hex */
	int64_t not_before, not_after;    /* UNIX time */
};

/* Free what c holds and zero it. NULL is a no-op. */
FSEC_API void fsec_issued_cert_cleanup(struct fsec_issued_cert *c);

/* The certificate as a NUL-terminated PEM string the caller frees with
 * free(). Errors: CRYPTO, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_issued_cert_pem(const struct fsec_issued_cert *c,
						     char **pem) FSEC_NONNULL(1, 2);

/*
 * Issue a device certificate: subject CN=id, O=fleet; SAN URI
 * urn:fleetsec:device:<id>; keyUsage digitalSignature (critical); EKU
 * clientAuth; basicConstraints CA:FALSE (critical); SKI and AKI. Valid from
 * now (backdated a minute for clock skew) for days, clamped to the issuing
 * CA's expiry. The SubjectPublicKeyInfo is written in canonical form (EC:
 * named curve, uncompressed point). id must be valid (fsec_devid_check).
 * Fills *out only on success. Errors: INVAL, CRYPTO, NOMEM.
 * Not thread-safe on the same ca.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_issue_device(struct fsec_ca *ca, EVP_PKEY *pub,
						     const char *id, int days,
						     const unsigned char serial[FSEC_SERIAL_LEN],
						     struct fsec_issued_cert *out)
	FSEC_NONNULL(1, 2, 3, 5, 6);

/*
 * Issue a backend or operator client certificate (issue 15): as a device
 * certificate, but subject CN=name and SAN URI
 * urn:fleetsec:role:<role>:<name> (identity.h) in place of the device URI.
 * role is "backend" or "operator"; name a device-ID-like name of at most
 * FSEC_ROLE_NAME_MAX characters. Fills *out only on success.
 * Errors: INVAL, CRYPTO, NOMEM. Not thread-safe on the same ca.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_issue_role(struct fsec_ca *ca, EVP_PKEY *pub,
						   const char *role, const char *name, int days,
						   const unsigned char serial[FSEC_SERIAL_LEN],
						   struct fsec_issued_cert *out)
	FSEC_NONNULL(1, 2, 3, 4, 6, 7);

/*
 * Issue an IDevID-like bootstrap certificate, as a chip vendor's
 * manufacturer CA would: subject O=<ca's name>, serialNumber=sn, CN=sn;
 * keyUsage digitalSignature; EKU clientAuth; CA:FALSE. sn must be a valid
 * device ID (it becomes the enrolled device's ID). Fills *out only on
 * success. Errors: INVAL, CRYPTO, NOMEM. Not thread-safe on the same ca.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_issue_idevid(struct fsec_ca *ca, EVP_PKEY *pub,
						     const char *sn, int days,
						     const unsigned char serial[FSEC_SERIAL_LEN],
						     struct fsec_issued_cert *out)
	FSEC_NONNULL(1, 2, 3, 5, 6);

#define FSEC_SERVER_IPS_MAX 8
/* fleetsecd listens here unless told otherwise. */
#define FSEC_SERVER_DEFAULT_PORT 8443

struct fsec_server_cert_spec {
	const char *name;            /* DNS host name: CN and the first SAN */
	const char *const *ips;      /* IPv4/IPv6 addresses added to the SAN */
	size_t nips;                 /* at most FSEC_SERVER_IPS_MAX */
	const char *crl_url;         /* CRL distribution point, or NULL */
	int days;
};

/*
 * Issue a TLS server certificate: CN=name, O=fleet; SAN DNS:name plus each
 * address; keyUsage digitalSignature; EKU serverAuth; CA:FALSE; SKI, AKI and
 * the CRL distribution point if given. Fills *out only on success.
 * Errors: INVAL (name, address, URL or days), CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_issue_server(struct fsec_ca *ca, EVP_PKEY *pub,
						     const struct fsec_server_cert_spec *spec,
						     const unsigned char serial[FSEC_SERIAL_LEN],
						     struct fsec_issued_cert *out)
	FSEC_NONNULL(1, 2, 3, 4, 5);

/*
 * An X.509 v2 CRL signed by the issuing CA, listing entries with their reason
 * codes, with AKI and the CRL number, valid for days. Caller owns *out.
 * Errors: INVAL (bad serial hex), CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_ca_make_crl(struct fsec_ca *ca,
						 const struct fsec_crl_entry *entries, size_t n,
						 uint64_t number, int days, X509_CRL **out)
	FSEC_NONNULL(1, 6);

enum fsec_crl_form {
	FSEC_CRL_PEM,
	FSEC_CRL_DER,
};

/*
 * crl encoded as PEM or DER into a new buffer (*out, freed with free(); a
 * NUL follows the *len bytes, so PEM is also a string). The one encoder for
 * the CLI's `ca crl`, the home's crl.pem and fleetsecd's GET /crl.
 * Errors: CRYPTO, NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_crl_encode(X509_CRL *crl, enum fsec_crl_form form,
						unsigned char **out, size_t *len) FSEC_NONNULL(1, 3, 4);

/*
 * The CRLs of several issuing CAs, each as PEM, one after the other, in a
 * new NUL-terminated buffer (*out, freed with free(); *len without the NUL):
 * the form of the home's crl.pem, which OpenSSL's X509_load_crl_file and
 * Mosquitto's crlfile read whole. Errors: CRYPTO, NOMEM, TOO_LARGE.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_crl_set_pem(STACK_OF(X509_CRL) *crls, unsigned char **out,
						 size_t *len);

/* Parse an RFC 5280 reason name (keyCompromise, superseded, ...) that makes
 * sense for a device. Errors: INVAL. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_crl_reason_parse(const char *name, int *code)
	FSEC_NONNULL(1, 2);

/* The RFC 5280 name of a reason code, or "unknown". Thread-safe. */
FSEC_API const char *fsec_crl_reason_name(int code);

/* Uppercase hex of a certificate's serial into out. Errors: TOO_LARGE. */
FSEC_API FSEC_WUR enum fsec_err fsec_cert_serial_hex(X509 *cert, char out[FSEC_SERIAL_HEX_LEN])
	FSEC_NONNULL(1, 2);

/* SHA-256 fingerprint of the DER certificate, lowercase hex. Errors: CRYPTO. */
FSEC_API FSEC_WUR enum fsec_err fsec_cert_fingerprint(X509 *cert, char out[FSEC_SHA256_HEX_LEN])
	FSEC_NONNULL(1, 2);

/* The certificate as a NUL-terminated PEM string the caller frees with free().
 * Errors: CRYPTO, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_cert_pem(X509 *cert, char **out) FSEC_NONNULL(1, 2);

#endif
