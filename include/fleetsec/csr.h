/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate signing requests from devices: the parser of outside input that
 * stands between a factory line (or an EST client) and the fleet CA.
 */
#ifndef FLEETSEC_CSR_H
#define FLEETSEC_CSR_H

#include <stddef.h>

#include <openssl/x509.h>

#include "fleetsec/common.h"

/* A CSR is a few hundred bytes; 64 KiB leaves room for RSA-16384 and
 * attributes while bounding the work an attacker can ask for. */
#define FSEC_CSR_MAX (64u * 1024u)

/*
 * Parse a PKCS#10 request given as PEM ("CERTIFICATE REQUEST") or DER, check
 * its self-signature (proof of possession of the private key) and the key
 * strength policy (fsec_key_check_strength). Trailing bytes after the request
 * are refused. The caller owns *out (X509_REQ_free).
 * Errors: TOO_LARGE (len > FSEC_CSR_MAX), PARSE (not a request, a PEM of
 * another type, truncated), VERIFY (self-signature), POLICY (weak key).
 * Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_csr_parse(const unsigned char *buf, size_t len,
					       X509_REQ **out) FSEC_NONNULL(3);

/*
 * The verified public key of a PKCS#10 request, for callers that need only
 * the key (issuance, fsec_fleet_issue_batch): the same input, checks and
 * errors as fsec_csr_parse, at a fraction of its cost. The DER is walked
 * once; an EC (P-256/P-384) or Ed25519 key is built from its parameters
 * (EVP_PKEY_fromdata, which checks the point is on the curve) and the
 * self-signature is checked with EVP_DigestVerify over the encoded
 * CertificationRequestInfo as received, with no decode-and-re-encode.
 * Other keys (RSA) go through fsec_csr_parse. The caller owns *out
 * (EVP_PKEY_free). Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_csr_parse_key(const unsigned char *buf, size_t len,
						   EVP_PKEY **out) FSEC_NONNULL(3);

/*
 * A PKCS#10 request for key, signed by it (ECDSA with SHA-256, Ed25519
 * pure), with subject if given, else CN=cn. The key may live in a TPM: the
 * signature is made where the key is. The caller owns *out (X509_REQ_free).
 * Errors: INVAL (neither subject nor cn), CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_csr_make(EVP_PKEY *key, const X509_NAME *subject,
					      const char *cn, X509_REQ **out) FSEC_NONNULL(1, 4);

#endif
